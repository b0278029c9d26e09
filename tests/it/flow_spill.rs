//! Rows held back for output order spill to temporary files beyond the
//! memory budget (`FlowParams::spill_bytes`, `flows --spill-mb`) without
//! changing a byte of the output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{self, bin, reference_pcap};
use maximus_sim::capture::{CaptureReader, read_packets};
use maximus_sim::flow::csv::CsvWriter;
use maximus_sim::flow::{FlowExtractor, FlowParams, Profile, shard};
use std::path::Path;

/// CSV bytes of `pcap` through the library with `params` on `threads`.
fn csv(pcap: &Path, params: FlowParams, threads: usize) -> Vec<u8> {
    let mut w = CsvWriter::new(Vec::new(), params.profile).unwrap();
    let mut reader = CaptureReader::open(pcap).unwrap();
    if threads > 1 {
        let mut rows = Vec::new();
        shard::extract_sharded(
            params,
            threads,
            |sink| read_packets(&mut reader, sink, |_| {}),
            |r| rows.push(r),
        )
        .unwrap();
        rows.iter().for_each(|r| w.write(r).unwrap());
    } else {
        let mut x = FlowExtractor::with_params(params).unwrap();
        let mut rows = Vec::new();
        read_packets(
            &mut reader,
            |p| {
                x.push(p);
                x.take_ready(&mut rows);
            },
            |_| {},
        );
        x.finish_each(|r| rows.push(r)).unwrap();
        rows.iter().for_each(|r| w.write(r).unwrap());
    }
    w.finish().unwrap()
}

#[test]
fn a_tiny_budget_gives_the_bytes_of_the_default_on_a_real_capture() {
    let Some(pcap) = reference_pcap() else { return };
    for profile in Profile::ALL {
        let params = FlowParams::new(profile);
        let want = csv(&pcap, params, 1);
        assert!(want.len() > 10_000, "{profile}: {} bytes", want.len());
        for bytes in [0, 3000, 64 << 10] {
            for threads in [1, 3] {
                let got = csv(&pcap, params.with_spill_bytes(bytes), threads);
                assert!(
                    got == want,
                    "{profile}: budget {bytes} on {threads} threads differs"
                );
            }
        }
    }
}

#[test]
fn spill_mb_0_writes_the_bytes_of_the_default_run() {
    let Some(pcap) = reference_pcap() else { return };
    for profile in ["cic2017", "engelen", "corrected"] {
        let run = |extra: &[&str]| {
            bin()
                .args(["flows", "--profile", profile])
                .args(extra)
                .arg(&pcap)
                .assert()
                .success()
                .get_output()
                .stdout
                .clone()
        };
        let want = run(&[]);
        assert!(want == run(&["--spill-mb", "0"]), "{profile}: --spill-mb 0");
        assert!(
            want == run(&["--spill-mb", "0", "--threads", "2"]),
            "{profile}: --spill-mb 0 --threads 2"
        );
        assert!(want == run(&["--spill-mb", "1"]), "{profile}: --spill-mb 1");
    }
}

#[test]
fn an_unusable_temporary_directory_exits_74_with_the_path() {
    let Some(pcap) = reference_pcap() else { return };
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let out = dir.path().join("flows.csv");
    for threads in ["1", "2"] {
        let a = bin()
            .env("TMPDIR", &missing)
            .args(["flows", "--spill-mb", "0", "--threads", threads, "-o"])
            .arg(&out)
            .arg(&pcap)
            .assert()
            .code(74);
        let err = common::stderr(&a);
        assert!(
            err.contains(&missing.display().to_string()) && err.contains("TMPDIR"),
            "{err}"
        );
        // Neither the output nor its partial file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
