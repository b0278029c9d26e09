//! `maximus-sim flows` through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{self, bin, reference_pcap};
use std::path::Path;

#[test]
fn writes_a_csv_file_and_stats() {
    let Some(pcap) = reference_pcap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.csv");
    let assert = bin()
        .args([
            "flows",
            "--profile",
            "cic2018",
            "--tz",
            "-03:00",
            "--stats",
            "-o",
        ])
        .arg(&out)
        .arg(&pcap)
        .assert()
        .success();
    let stderr = common::stderr(&assert);
    assert!(stderr.contains("flows written"), "{stderr}");
    assert!(stderr.contains("packet conservation"), "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 97);
    assert!(text.starts_with("Flow ID,Src IP,Src Port,"));
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// An output that is not a regular file (a FIFO here; `/dev/null` alike) is
/// written in place: renaming a finished temporary file over it would
/// replace the pipe or device node with a plain file.
#[cfg(unix)]
#[test]
fn a_pipe_or_device_output_is_written_in_place() {
    let Some(pcap) = reference_pcap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some(piped) = common::through_fifo(dir.path(), "rows", |fifo| {
        bin()
            .args(["flows", "-o"])
            .arg(fifo)
            .arg(&pcap)
            .assert()
            .success();
    }) else {
        return;
    };
    let file = dir.path().join("rows.csv");
    bin()
        .args(["flows", "-o"])
        .arg(&file)
        .arg(&pcap)
        .assert()
        .success();
    assert_eq!(piped, std::fs::read(&file).unwrap());
    // Neither left a temporary file behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn stdout_output_is_deterministic() {
    let Some(pcap) = reference_pcap() else { return };
    let run = || {
        bin()
            .args(["flows", "--profile", "cic2017", "-o", "-"])
            .arg(&pcap)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    let text = String::from_utf8(a).unwrap();
    assert_eq!(text.lines().count(), 97);
}

#[test]
fn default_profile_is_corrected_with_engelen_columns() {
    let Some(pcap) = reference_pcap() else { return };
    let out = bin()
        .args(["flows", "-o", "-"])
        .arg(&pcap)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text.lines().next(),
        Some(maximus_sim::flow::Profile::Engelen.header())
    );
    assert!(text.lines().count() > 1);
}

#[test]
fn usage_errors_exit_2_and_missing_input_66() {
    let Some(pcap) = reference_pcap() else { return };
    let a = bin()
        .args(["flows", "--profile", "cic2017", "--idle-timeout", "10"])
        .arg(&pcap)
        .assert()
        .code(2);
    let err = common::stderr(&a);
    assert!(err.contains("--profile corrected only"), "{err}");
    bin()
        .args(["flows", "--active-timeout", "0"])
        .arg(&pcap)
        .assert()
        .code(2);
    bin()
        .args(["flows", "--profile", "cic2018", "--tz", "+25:00"])
        .arg(&pcap)
        .assert()
        .code(2);
    bin()
        .args(["flows", "--profile", "cic2019"])
        .arg(&pcap)
        .assert()
        .code(2);
    bin()
        .args(["flows", "--profile", "cic2018", "/no/such/file.pcap"])
        .assert()
        .code(66);
}

#[test]
fn engelen_with_full_sort_reproduces_the_nmap_reference_through_the_binary() {
    let Some(pcap) = reference_pcap() else { return };
    let dir = pcap
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("engelen-fixed/nmap-ss");
    let out = bin()
        .args(["flows", "--profile", "engelen", "--sort=full", "-o", "-"])
        .arg(dir.join("dump.pcap"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    // Rows as text without the Label and labeller columns, order-free.
    let rows = |t: &str| {
        let mut v: Vec<String> = t
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(93).collect::<Vec<_>>().join(","))
            .collect();
        v.sort();
        v
    };
    let theirs = std::fs::read_to_string(dir.join("cicflowmeter.csv")).unwrap();
    assert_eq!(rows(&String::from_utf8(out).unwrap()), rows(&theirs));
    bin()
        .args(["flows", "--profile", "engelen", "--sort=soon", "-o", "-"])
        .arg(dir.join("dump.pcap"))
        .assert()
        .code(2);
}

#[test]
fn stdin_and_directories_are_inputs_with_one_header() {
    let Some(pcap) = reference_pcap() else { return };
    let bytes = std::fs::read(&pcap).unwrap();
    let from_stdin = bin()
        .args(["flows", "--profile", "cic2018", "-"])
        .write_stdin(bytes.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let from_file = bin()
        .args(["flows", "--profile", "cic2018"])
        .arg(&pcap)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(from_stdin, from_file);
    // A directory with the capture twice: one header, rows file by file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.pcap"), &bytes).unwrap();
    std::fs::write(dir.path().join("b.pcap"), &bytes).unwrap();
    let both = bin()
        .args(["flows", "--profile", "cic2018"])
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(both).unwrap();
    let one = String::from_utf8(from_file).unwrap();
    let rows_once: Vec<&str> = one.lines().skip(1).collect();
    let expected: Vec<&str> = std::iter::once(one.lines().next().unwrap())
        .chain(rows_once.iter().copied())
        .chain(rows_once.iter().copied())
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn a_truncated_capture_still_yields_the_flows_before_the_cut() {
    let Some(pcap) = reference_pcap() else { return };
    let bytes = std::fs::read(&pcap).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let a = bin()
        .args(["flows", "--profile", "cic2018", "--stats"])
        .arg(&cut)
        .assert();
    let out = a.get_output();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(text.lines().count() > 1, "{err}");
    assert!(
        err.contains("packet conservation") && err.contains("ok"),
        "{err}"
    );
}

#[test]
fn the_two_thread_cli_writes_the_same_bytes_as_the_library_on_one_thread() {
    use maximus_sim::capture::{CaptureReader, read_packets};
    use maximus_sim::flow::csv::CsvWriter;
    use maximus_sim::flow::{FlowExtractor, Profile, TzOffset};
    let Some(pcap) = reference_pcap() else { return };
    for profile in Profile::ALL {
        let mut reader = CaptureReader::open(&pcap).unwrap();
        let mut x = FlowExtractor::new(profile, TzOffset::UTC).unwrap();
        let mut rows = Vec::new();
        read_packets(&mut reader, |p| x.push(p), |_| {});
        x.finish(&mut rows);
        let mut w = CsvWriter::new(Vec::new(), profile).unwrap();
        for r in &rows {
            w.write(r).unwrap();
        }
        let lib = w.finish().unwrap();
        let cli = bin()
            .args(["flows", "--profile", profile.name()])
            .arg(&pcap)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert!(
            lib == cli,
            "{profile}: CLI output differs from the library's"
        );
    }
}

#[test]
fn parallel_inputs_equal_the_inputs_run_one_by_one() {
    let Some(pcap) = reference_pcap() else { return };
    let datasets = pcap
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap();
    let dir = datasets.join("zeek");
    if !dir.is_dir() {
        eprintln!("skipping: {} not found", dir.display());
        return;
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 1, "{files:?}");
    let run = |args: &[&Path]| {
        let mut c = bin();
        c.args(["flows", "--profile", "corrected"]);
        for a in args {
            c.arg(a);
        }
        String::from_utf8(c.assert().get_output().stdout.clone()).unwrap()
    };
    let all = run(&files.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    let mut expected = String::new();
    for (i, f) in files.iter().enumerate() {
        let one = run(&[f.as_path()]);
        let skip = usize::from(i > 0);
        for line in one.lines().skip(skip) {
            expected.push_str(line);
            expected.push('\n');
        }
    }
    assert!(all == expected, "parallel output differs from sequential");
}

#[test]
fn threads_do_not_change_the_output() {
    let Some(pcap) = reference_pcap() else { return };
    for profile in ["cic2017", "engelen", "corrected"] {
        let run = |threads: &str| {
            bin()
                .args(["flows", "--profile", profile, "--threads", threads])
                .arg(&pcap)
                .assert()
                .success()
                .get_output()
                .stdout
                .clone()
        };
        let one = run("1");
        assert!(one == run("3"), "{profile}: --threads 3 differs");
        assert!(one == run("2"), "{profile}: --threads 2 differs");
    }
}

#[test]
fn an_unwritable_output_exits_74_with_a_hint() {
    let Some(pcap) = reference_pcap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no/such/dir/flows.csv");
    let a = bin()
        .args(["flows", "--profile", "cic2018", "-o"])
        .arg(&out)
        .arg(&pcap)
        .assert()
        .code(74);
    let err = common::stderr(&a);
    assert!(
        err.contains("cannot write flows") && err.contains("writable"),
        "{err}"
    );
}
