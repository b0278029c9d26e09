//! `flows -o x.parquet`: the same rows as the CSV, with typed columns, and
//! the same bytes for any thread count.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use polars::prelude::*;
use std::path::{Path, PathBuf};

/// Run `flows`; exit 0, or 65 when a shared capture in a folder is corrupt
/// (its rows before the damage are still written).
fn flows(input: &Path, out: &Path, extra: &[&str]) {
    let o = common::bin()
        .arg("flows")
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let code = o.status.code();
    let allowed = code == Some(0) || (code == Some(65) && input.is_dir());
    assert!(
        allowed,
        "exit {code:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.is_file(), "{} not written", out.display());
}

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

/// Every Parquet cell equals the CSV cell: text as is, numbers parsed from
/// the CSV text and compared by bits (so NaN == NaN, 0.0 != -0.0).
fn assert_same_rows(csv: &Path, parquet: &Path) {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let df = read_parquet(parquet);
    assert_eq!(
        df.height(),
        rows.len(),
        "row count of {}",
        parquet.display()
    );
    assert_eq!(df.width(), header.len(), "column count");
    let number = |cell: &str| -> f64 {
        match cell {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            c => c.parse().unwrap(),
        }
    };
    for (j, col) in df.columns().iter().enumerate() {
        let at = |i: usize| rows[i][j];
        match col.dtype() {
            DataType::String => {
                let c = col.str().unwrap();
                for i in 0..rows.len() {
                    assert_eq!(c.get(i), Some(at(i)), "row {i} col {}", header[j]);
                }
            }
            DataType::Int64 => {
                let c = col.i64().unwrap().rechunk();
                let c = c.cont_slice().unwrap();
                for (i, got) in c.iter().enumerate() {
                    assert_eq!(
                        *got,
                        at(i).parse::<i64>().unwrap(),
                        "row {i} col {}",
                        header[j]
                    );
                }
            }
            DataType::Float64 => {
                let c = col.f64().unwrap().rechunk();
                let c = c.cont_slice().unwrap();
                for (i, got) in c.iter().enumerate() {
                    let (got, want) = (*got, number(at(i)));
                    // CSV prints every NaN as `NaN`; Parquet keeps its sign bit.
                    let same = if want.is_nan() {
                        got.is_nan()
                    } else {
                        got.to_bits() == want.to_bits()
                    };
                    assert!(same, "row {i} col {}: {got} vs {}", header[j], at(i));
                }
            }
            other => panic!("unexpected dtype {other:?} for {}", header[j]),
        }
    }
}

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/quickstart/sample.pcap")
}

/// Every profile over every shared capture (one run over the folder): the
/// Parquet rows equal the CSV rows and no cell contradicts its column's
/// declared type (the writer would fail).
#[test]
fn parquet_holds_the_csv_rows_with_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::data_dir().unwrap_or_else(sample);
    for profile in ["corrected", "cic2017", "cic2018", "engelen"] {
        let csv = dir.path().join(format!("{profile}.csv"));
        let pq = dir.path().join(format!("{profile}.parquet"));
        flows(&input, &csv, &["--profile", profile]);
        flows(&input, &pq, &["--profile", profile]);
        assert_same_rows(&csv, &pq);
    }
    // Typed columns where a researcher expects them.
    let pq = dir.path().join("corrected.parquet");
    flows(&sample(), &pq, &[]);
    let df = read_parquet(&pq);
    assert!(df.height() > 0);
    assert_eq!(df.column("Src IP").unwrap().dtype(), &DataType::String);
    assert_eq!(
        df.column("Flow Duration").unwrap().dtype(),
        &DataType::Int64
    );
    assert_eq!(
        df.column("Flow Bytes/s").unwrap().dtype(),
        &DataType::Float64
    );
}

#[test]
fn cic2017_duplicate_column_gets_a_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("f.parquet");
    flows(&sample(), &pq, &["--profile", "cic2017"]);
    let df = read_parquet(&pq);
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| n.as_str() == " Fwd Header Length")
            .count(),
        1
    );
    assert!(
        names.iter().any(|n| n == " Fwd Header Length.1"),
        "{names:?}"
    );
    assert_eq!(names.len(), 85);
}

#[test]
fn parquet_bytes_do_not_depend_on_threads_or_runs() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::data_dir()
        .map(|d| d.join("stopddos-packet-captures/ddos/tcp_syn_flood_spoofed.pcap"))
        .unwrap_or_else(sample);
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    let c = dir.path().join("c.parquet");
    flows(&input, &a, &["--threads", "1"]);
    flows(&input, &b, &["--threads", "2"]);
    flows(&input, &c, &["--threads", "1"]);
    let a = std::fs::read(a).unwrap();
    assert!(a == std::fs::read(b).unwrap(), "1 vs 2 threads differ");
    assert!(a == std::fs::read(c).unwrap(), "two runs differ");
}

#[test]
fn parquet_to_stdout_is_a_usage_error() {
    common::bin()
        .args(["flows", "--format", "parquet", "-o", "-"])
        .arg(sample())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("needs an output file"));
}
