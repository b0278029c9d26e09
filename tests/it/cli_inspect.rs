//! `maximus-sim inspect` through the real binary: output, JSON, exit codes,
//! warnings and errors for damaged or foreign input, stdin and gzip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::bin;
use std::io::Write;
use std::path::PathBuf;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/quickstart/sample.pcap")
}

#[test]
fn table_lists_format_counts_and_buckets() {
    let out = bin()
        .arg("inspect")
        .arg(sample())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for want in [
        "Format:           pcap (microsecond, little-endian)",
        "Packets:          102",
        "Ethernet (1): 102",
        "First packet:     2023-11-14T22:13:20.000000000Z",
        "Duration:         0.401000000 s",
        "TCP (6): 93",
        "non-IP, EtherType 0x0806 (ARP)",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn json_is_machine_readable_and_consistent() {
    let out = bin()
        .args(["inspect", "--json"])
        .arg(sample())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["schema_version"], 1);
    let f = &v["files"][0];
    assert_eq!(f["stats"]["records"], 102);
    assert_eq!(f["stats"]["decoded"], 101);
    assert_eq!(f["stats"]["non_ip"]["0x0806"], 1);
    assert_eq!(f["stats"]["protocols"]["6"], 93);
    assert_eq!(f["link_types"]["1"], 102);
    assert_eq!(f["duration_ns"], 401_000_000);
    assert!(f["error"].is_null());
}

#[test]
fn stdin_and_gzip_give_the_same_counts() {
    let raw = std::fs::read(sample()).unwrap();
    let out = bin()
        .args(["inspect", "--json", "-"])
        .write_stdin(raw.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["files"][0]["stats"]["records"], 102);

    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("sample.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&raw).unwrap();
    enc.finish().unwrap();
    let out = bin()
        .args(["inspect", "--json"])
        .arg(&gz)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["files"][0]["stats"]["records"], 102);
    assert_eq!(v["files"][0]["compressed"], true);
}

/// `inspect <path>` exits with `code` and says `needle` on stderr.
fn inspect_fails(path: &std::path::Path, code: i32, needle: &'static str) {
    bin()
        .arg("inspect")
        .arg(path)
        .assert()
        .code(code)
        .stderr(predicates_str(needle));
}

#[test]
fn missing_file_exits_66_and_foreign_file_exits_65_naming_its_magic() {
    inspect_fails(
        std::path::Path::new("/nonexistent/x.pcap"),
        66,
        "no such file",
    );
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("notes.pcap");
    std::fs::write(&txt, "hello world").unwrap();
    inspect_fails(&txt, 65, "68 65 6c 6c");
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, "").unwrap();
    inspect_fails(&empty, 65, "empty file");
}

#[test]
fn cut_short_file_warns_with_offset_and_exits_0() {
    let raw = std::fs::read(sample()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &raw[..raw.len() - 10]).unwrap();
    let a = bin()
        .args(["inspect", "--json"])
        .arg(&cut)
        .assert()
        .success();
    let out = a.get_output();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["stats"]["records"], 101);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("cut short at byte offset"),
        "{err}"
    );
}

#[test]
fn corrupt_record_header_reports_offset_record_and_exits_65() {
    let mut raw = std::fs::read(sample()).unwrap();
    // Third record's caplen (records are 16-byte header + frame).
    let mut off = 24;
    for _ in 0..2 {
        let cap = u32::from_le_bytes(raw[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + cap;
    }
    raw[off + 8..off + 12].copy_from_slice(&(64u32 << 20).to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pcap");
    std::fs::write(&bad, &raw).unwrap();
    let a = bin().args(["inspect"]).arg(&bad).assert().code(65);
    let out = a.get_output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("byte offset {off}")) && err.contains("record #3"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Packets:          2"), "{text}");
}

#[test]
fn directories_are_expanded_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(sample(), dir.path().join("b.pcap")).unwrap();
    std::fs::copy(sample(), dir.path().join("a.pcap")).unwrap();
    std::fs::write(dir.path().join("readme.txt"), "not a capture").unwrap();
    let out = bin()
        .args(["inspect", "--json"])
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(files[0]["path"].as_str().unwrap().ends_with("a.pcap"));
}

#[test]
fn a_panic_is_reported_as_an_internal_error_with_exit_70() {
    bin()
        .arg("debug-panic")
        .assert()
        .code(70)
        .stderr(predicates_str("internal error"))
        .stderr(predicates_str("this is a bug"));
}

#[test]
fn usage_errors_exit_2() {
    bin().arg("inspect").assert().code(2);
    bin().arg("frobnicate").assert().code(2);
}

fn predicates_str(needle: &'static str) -> predicates::str::ContainsPredicate {
    predicates::str::contains(needle)
}
