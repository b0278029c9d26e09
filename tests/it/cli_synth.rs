//! `maximus-sim synth` and `flows --labels` through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use assert_cmd::Command;
use std::path::Path;

const QUICK: &str = "datasets/quickstart/spec.toml";

fn bin() -> Command {
    let mut c = common::bin();
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn writes_capture_labels_and_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let a = bin()
        .args(["synth", QUICK, "-o"])
        .arg(dir.path())
        .assert()
        .success();
    let err = common::stderr(&a);
    assert!(err.contains("PortScan") && err.contains("BENIGN"), "{err}");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["labels.csv", "timeline.json", "traffic.pcap"]);
    let tl = common::read_json(&dir.path().join("timeline.json"));
    assert_eq!(tl["schema_version"], 1);
    let steps = tl["campaigns"][0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    for s in steps {
        let (start, end) = (
            s["start_us"].as_i64().unwrap(),
            s["end_us"].as_i64().unwrap(),
        );
        assert!(
            start >= s["planned_start_us"].as_i64().unwrap() && end >= start,
            "{s}"
        );
        assert!(s["flows"].as_u64().unwrap() > 0);
    }
    // The capture is what inspect reads, packet for packet.
    let out = bin()
        .args(["inspect", "--json"])
        .arg(dir.path().join("traffic.pcap"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"][0]["stats"]["records"], tl["packets"]);
    assert_eq!(v["files"][0]["stats"]["decoded"], tl["packets"]);
}

#[test]
fn pcapng_holds_the_same_packets() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    bin()
        .args(["synth", QUICK, "-q", "-o"])
        .arg(&a)
        .assert()
        .success();
    bin()
        .args(["synth", QUICK, "-q", "--format", "pcapng", "-o"])
        .arg(&b)
        .assert()
        .success();
    let flows = |cap: &Path| {
        let out = bin().args(["flows", "-o", "-"]).arg(cap).output().unwrap();
        assert!(out.status.success());
        out.stdout
    };
    assert!(
        std::fs::read(b.join("traffic.pcapng"))
            .unwrap()
            .starts_with(&[0x0a, 0x0d, 0x0d, 0x0a])
    );
    assert!(flows(&a.join("traffic.pcap")) == flows(&b.join("traffic.pcapng")));
    assert_eq!(
        std::fs::read(a.join("labels.csv")).unwrap(),
        std::fs::read(b.join("labels.csv")).unwrap()
    );
}

#[test]
fn a_bad_spec_lists_every_problem_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(QUICK)).unwrap();
    let bad = text
        .replace("hosts = 8", "hosts = 8\nfavourite_colour = \"blue\"")
        .replace("rate = 200 ", "rate = -5 ")
        .replace("targets = \"servers-1\"", "targets = \"servers-9\"");
    let spec = dir.path().join("bad.toml");
    std::fs::write(&spec, &bad).unwrap();
    let a = bin()
        .arg("synth")
        .arg(&spec)
        .arg("-o")
        .arg(dir.path().join("out"))
        .assert()
        .code(65);
    let err = common::stderr(&a);
    assert!(err.contains("3 problems"), "{err}");
    let line_of = |needle: &str| bad.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (needle, key) in [
        ("favourite_colour", "subnet[0].favourite_colour"),
        ("rate = -5", "campaign[0].step[0].rate"),
        ("servers-9", "campaign[0].step[1].targets"),
    ] {
        let want = format!("bad.toml:{}:", line_of(needle));
        assert!(
            err.lines().any(|l| l.contains(&want) && l.contains(key)),
            "no `{want}` line for {key}:\n{err}"
        );
    }
    assert!(
        !dir.path().join("out").exists(),
        "nothing written for a bad spec"
    );
}

#[test]
fn missing_spec_and_unwritable_output_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let a = bin()
        .args(["synth", "no/such/spec.toml", "-o"])
        .arg(dir.path())
        .assert()
        .code(66);
    assert!(common::stderr(&a).contains("no/such/spec.toml"));
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let a = bin()
        .args(["synth", QUICK, "-o"])
        .arg(&file)
        .assert()
        .code(74);
    assert!(
        common::stderr(&a).contains("plain-file"),
        "{}",
        common::stderr(&a)
    );
}

#[test]
fn flows_labels_adds_the_truth_to_every_row() {
    let dir = tempfile::tempdir().unwrap();
    bin()
        .args(["synth", QUICK, "-q", "-o"])
        .arg(dir.path())
        .assert()
        .success();
    let out = dir.path().join("flows.csv");
    let a = bin()
        .args(["flows", "--stats", "--labels"])
        .arg(dir.path().join("labels.csv"))
        .arg("-o")
        .arg(&out)
        .arg(dir.path().join("traffic.pcap"))
        .assert()
        .success();
    let err = common::stderr(&a);
    assert!(!err.contains("warning"), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[header.len() - 4..],
        ["Label", "Attack Technique", "Campaign", "Step"]
    );
    let mut counts = std::collections::BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), header.len());
        let (label, tech) = (f[f.len() - 4], f[f.len() - 3]);
        match label {
            "BENIGN" => assert_eq!(tech, ""),
            "PortScan" => assert_eq!(tech, "T1046"),
            "SSH Brute Force" => assert_eq!(tech, "T1110.001"),
            "C2 HTTPS Beacon" => assert_eq!(tech, "T1071.001"),
            other => panic!("unexpected label {other}"),
        }
        *counts.entry(label.to_string()).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 4, "{counts:?}");
    let labels_rows = std::fs::read_to_string(dir.path().join("labels.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(counts.values().sum::<usize>(), labels_rows);
    assert!(
        err.contains("flows with no label row (UNLABELLED)"),
        "{err}"
    );
    // Parquet gets the same columns, typed as text.
    let pq = dir.path().join("flows.parquet");
    bin()
        .args(["flows", "--labels"])
        .arg(dir.path().join("labels.csv"))
        .arg("-o")
        .arg(&pq)
        .arg(dir.path().join("traffic.pcap"))
        .assert()
        .success();
    assert!(std::fs::metadata(&pq).unwrap().len() > 1000);
}

#[test]
fn flows_labels_reports_bad_label_files() {
    let dir = tempfile::tempdir().unwrap();
    let cap = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/quickstart/sample.pcap");
    let a = bin()
        .args(["flows", "--labels", "missing.csv", "-o", "-"])
        .arg(&cap)
        .assert()
        .code(66);
    assert!(common::stderr(&a).contains("missing.csv"));
    let bad = dir.path().join("labels.csv");
    std::fs::write(
        &bad,
        format!(
            "{}\n1,6,10.0.0.1,1,not-an-ip,2,5,9,1,1,A,,,\n",
            maximus_sim::dataset::labels::HEADER
        ),
    )
    .unwrap();
    let a = bin()
        .args(["flows", "--labels"])
        .arg(&bad)
        .args(["-o", "-"])
        .arg(&cap)
        .assert()
        .code(65);
    let err = common::stderr(&a);
    assert!(err.contains("line 2") && err.contains("dst_ip"), "{err}");
    // Labels that cover nothing: every flow is UNLABELLED and a warning says so.
    let empty = dir.path().join("empty.csv");
    std::fs::write(
        &empty,
        format!("{}\n", maximus_sim::dataset::labels::HEADER),
    )
    .unwrap();
    let a = bin()
        .args(["flows", "--labels"])
        .arg(&empty)
        .args(["-o", "-"])
        .arg(&cap)
        .assert()
        .success();
    assert!(
        common::stderr(&a).contains("flows got no label"),
        "{}",
        common::stderr(&a)
    );
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.lines().skip(1).all(|l| l.contains(",UNLABELLED,")),
        "{out}"
    );
}
