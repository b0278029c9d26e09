//! `--dedup`: a capture in which every frame appears twice (a mirrored port)
//! gives exactly the flows of the original with `--dedup`, and the copies are
//! counted in the decode buckets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use maximus_sim::capture::CaptureReader;
use maximus_sim::capture::writer::PcapWriter;
use std::path::{Path, PathBuf};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/quickstart/sample.pcap")
}

/// Every record of `src` plus a copy `delay_ns` later, written in time
/// order (stable: an original before a copy with the same time), as a
/// mirrored port would record them.
fn doubled(src: &Path, dst: &Path, delay_ns: i64) -> u64 {
    let mut r = CaptureReader::open(src).unwrap();
    let mut frames: Vec<(i64, Vec<u8>, u32)> = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        frames.push((rec.meta.ts_ns, rec.data.to_vec(), rec.meta.wire_len));
    }
    let n = frames.len() as u64;
    let copies: Vec<_> = frames
        .iter()
        .map(|(t, b, l)| (t + delay_ns, b.clone(), *l))
        .collect();
    frames.extend(copies);
    frames.sort_by_key(|f| f.0);
    let mut w = PcapWriter::new(std::fs::File::create(dst).unwrap(), 1, 262_144, true).unwrap();
    for (t, b, l) in &frames {
        w.write_packet(*t, b, *l).unwrap();
    }
    w.finish().unwrap();
    n
}

fn run(args: &[&str], input: &Path) -> Vec<u8> {
    let out = common::bin().args(args).arg(input).assert().success();
    out.get_output().stdout.clone()
}

#[test]
fn dedup_restores_the_original_flows_and_counts_the_copies() {
    let dir = tempfile::tempdir().unwrap();
    let twice = dir.path().join("twice.pcap");
    let n = doubled(&sample(), &twice, 100_000);
    for profile in ["corrected", "cic2017"] {
        let original = run(&["flows", "--profile", profile, "-o", "-"], &sample());
        let deduped = run(
            &["flows", "--profile", profile, "--dedup", "-o", "-"],
            &twice,
        );
        let raw = run(&["flows", "--profile", profile, "-o", "-"], &twice);
        assert!(
            original == deduped,
            "{profile}: --dedup does not restore the original flows"
        );
        assert!(
            original != raw,
            "{profile}: the copies should change the flows without --dedup"
        );
    }
    let out = common::bin()
        .args(["flows", "--dedup", "--stats", "-o", "-"])
        .arg(&twice)
        .assert()
        .success();
    let err = common::stderr(&out);
    assert!(err.contains(&format!("duplicates dropped {n})")), "{err}");
    let json = run(&["inspect", "--json", "--dedup"], &twice);
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let st = &v["files"][0]["stats"];
    assert_eq!(st["records"], 2 * n);
    assert_eq!(st["duplicate"], n);
    let json = run(&["inspect", "--json"], &twice);
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["files"][0]["stats"]["duplicate"], 0);
}

/// Brute-force oracle: a frame is a duplicate when an earlier *kept* frame
/// has the same bytes and is at most `window` older.
fn expected_duplicates(path: &Path, window: i64) -> u64 {
    let mut r = CaptureReader::open(path).unwrap();
    let mut kept: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut dups = 0;
    while let Some(rec) = r.next_record().unwrap() {
        let t = rec.meta.ts_ns;
        if kept
            .iter()
            .any(|(k, b)| b.as_slice() == rec.data && (0..=window).contains(&(t - k)))
        {
            dups += 1;
        } else {
            kept.push((t, rec.data.to_vec()));
        }
    }
    dups
}

#[test]
fn duplicate_counts_match_a_brute_force_oracle() {
    let dir = tempfile::tempdir().unwrap();
    for delay_us in [100i64, 499, 500, 501, 600, 1500] {
        let f = dir.path().join(format!("d{delay_us}.pcap"));
        doubled(&sample(), &f, delay_us * 1000);
        for (flag, window) in [("--dedup", 500_000i64), ("--dedup=0.001", 1_000_000)] {
            let json = run(&["inspect", "--json", flag], &f);
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            let got = v["files"][0]["stats"]["duplicate"].as_u64().unwrap();
            assert_eq!(
                got,
                expected_duplicates(&f, window),
                "delay {delay_us} us, {flag}"
            );
        }
    }
}

#[test]
fn bad_window_is_a_usage_error() {
    common::bin()
        .args(["flows", "--dedup=-1"])
        .arg(sample())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("invalid dedup window"));
}
