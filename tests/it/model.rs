//! Models on real and generated flows: quality bars on seeded data (never
//! exact floats), reproducibility, and the train/eval/score commands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use assert_cmd::Command;
use maximus_sim::dataset::table::{self, NonFinite};
use maximus_sim::model::{self, Balance, TrainOptions};
use std::collections::BTreeMap;

fn opts(alg: &str, seed: u64) -> TrainOptions {
    TrainOptions {
        algorithm: alg.into(),
        params: BTreeMap::new(),
        seed,
        validation: 0.2,
        balance: Balance::None,
    }
}

#[test]
fn cic_ids2017_sample_quality() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let path = dir.join("cicids2017-sample-mth-ids/CICIDS2017_sample.csv");
    let t = table::read_csv(&path, NonFinite::Clip).unwrap();
    assert_eq!(t.rows(), 5050);
    assert_eq!(
        t.features.len(),
        76,
        "77 features less the duplicated Fwd Header Length"
    );
    assert_eq!(t.report.rows_with_nonfinite, 11);
    assert_eq!(t.class_counts().len(), 7);
    // Decision tree, stratified 80/20 with seed 0: the bar.
    let dt = model::train(&t, &opts("dt", 0)).unwrap();
    let f = dt.validation.as_ref().unwrap().macro_avg.f1;
    assert!(f >= 0.90, "decision tree macro F1 {f}");
    // Random forest: the class with 29 rows (6 held out) moves macro F1 by
    // ~0.02 per split, for scikit-learn's forest as for ours (0.92-0.98
    // over split seeds), so the bar is on the mean of six splits.
    let mut sum = 0.0;
    for seed in 0..6 {
        let rf = model::train(&t, &opts("rf", seed)).unwrap();
        let v = rf.validation.unwrap();
        assert!(v.accuracy >= 0.97, "seed {seed}: accuracy {}", v.accuracy);
        sum += v.macro_avg.f1;
    }
    let mean = sum / 6.0;
    assert!(mean >= 0.94, "random forest mean macro F1 {mean}");
}

#[test]
fn train_eval_score_commands() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let data = dir.join("cicids2017-sample-mth-ids/CICIDS2017_sample.csv");
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m.json");
    let bin = || Command::cargo_bin("maximus-sim").unwrap();
    let a = bin()
        .args([
            "train",
            "--model",
            "rf",
            "--param",
            "n_trees=20",
            "--seed",
            "3",
            "--data",
        ])
        .arg(&data)
        .arg("-o")
        .arg(&m)
        .assert()
        .success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("11 of 5050 rows had Infinity/NaN/empty cells"),
        "{err}"
    );
    let mf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    assert_eq!(mf["schema_version"], 1);
    assert_eq!(mf["features"].as_array().unwrap().len(), 76);
    assert_eq!(mf["training"]["rows"], 5050);
    assert!(
        mf["training"]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("fnv1a64:")
    );
    // Same seed, same bytes.
    let m2 = tmp.path().join("m2.json");
    bin()
        .args([
            "train",
            "--model",
            "rf",
            "--param",
            "n_trees=20",
            "--seed",
            "3",
            "--data",
        ])
        .arg(&data)
        .arg("-o")
        .arg(&m2)
        .assert()
        .success();
    assert_eq!(std::fs::read(&m).unwrap(), std::fs::read(&m2).unwrap());
    // eval writes JSON and Markdown.
    let rep = tmp.path().join("report");
    bin()
        .args(["eval", "--model"])
        .arg(&m)
        .arg("--data")
        .arg(&data)
        .arg("-o")
        .arg(&rep)
        .assert()
        .success();
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rep.join("metrics.json")).unwrap()).unwrap();
    assert!(e["macro_avg"]["f1"].as_f64().unwrap() > 0.9);
    assert!(e["attack_vs_benign"]["roc_auc"].as_f64().unwrap() > 0.9);
    assert!(
        std::fs::read_to_string(rep.join("metrics.md"))
            .unwrap()
            .contains("| BENIGN |")
    );
    // score adds predicted/confidence/score to every row.
    let out = tmp.path().join("scored.csv");
    bin()
        .args(["score", "--model"])
        .arg(&m)
        .arg(&data)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 5051);
    assert!(text.starts_with("row,label,predicted,confidence,score\n"));
    // A file without the model's columns is refused, naming them.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "Flow Duration,Label\n5,BENIGN\n").unwrap();
    let a = bin()
        .args(["score", "--model"])
        .arg(&m)
        .arg(&bad)
        .arg("-o")
        .arg(tmp.path().join("x.csv"))
        .assert()
        .code(65);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("Total Fwd Packets"), "{err}");
    // Unknown parameters are usage errors.
    bin()
        .args(["train", "--param", "n_tres=5", "--data"])
        .arg(&data)
        .arg("-o")
        .arg(tmp.path().join("y.json"))
        .assert()
        .code(2);
}

#[test]
fn parquet_and_csv_flows_give_the_same_table_and_models_train_on_synth_flows() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = || {
        let mut c = Command::cargo_bin("maximus-sim").unwrap();
        c.current_dir(env!("CARGO_MANIFEST_DIR"));
        c
    };
    let (csv, pq) = (tmp.path().join("f.csv"), tmp.path().join("f.parquet"));
    for out in [&csv, &pq] {
        bin()
            .args([
                "flows",
                "datasets/quickstart/traffic.pcap",
                "--labels",
                "datasets/quickstart/labels.csv",
                "-o",
            ])
            .arg(out)
            .assert()
            .success();
    }
    let a = table::read(&csv, NonFinite::Clip).unwrap();
    let b = table::read(&pq, NonFinite::Clip).unwrap();
    assert_eq!(a.features, b.features);
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.x.len(), b.x.len());
    for (x, y) in a.x.iter().zip(&b.x) {
        assert!(
            x == y || (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            "{x} vs {y}"
        );
    }
    assert_eq!(a.report.header, "maximus");
    assert!(
        !a.features
            .iter()
            .any(|f| f.contains("IP") || f == "Timestamp" || f == "Step")
    );
    assert_eq!(a.class_counts().len(), 4);
    let m = tmp.path().join("m.json");
    bin()
        .args(["train", "--model", "dt", "--data"])
        .arg(&pq)
        .arg("-o")
        .arg(&m)
        .assert()
        .success();
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    assert_eq!(model["classes"].as_array().unwrap().len(), 4);
}
