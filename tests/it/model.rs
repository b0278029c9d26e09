//! Models on real and generated flows: quality bars on seeded data (never
//! exact floats), reproducibility, and the train/eval/score commands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{self, bin};

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
    // Decision tree, stratified 80/20 with seed 0: the issue's bar.
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
    let train_rf = |out: &std::path::Path| {
        bin()
            .args(["train", "--model", "rf", "--param", "n_trees=20"])
            .args(["--seed", "3", "--data"])
            .arg(&data)
            .arg("-o")
            .arg(out)
            .assert()
            .success()
    };
    let a = train_rf(&m);
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
    train_rf(&m2);
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
    for svg in ["confusion.svg", "roc.svg", "pr.svg"] {
        let text = std::fs::read_to_string(rep.join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("BENIGN") == (svg == "confusion.svg"));
    }
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
        let mut c = bin();
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

#[test]
fn sweep_ranks_configurations_reproducibly_and_its_best_model_is_train_s() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let data = dir.join("cicids2017-sample-mth-ids/CICIDS2017_sample.csv");
    let tmp = tempfile::tempdir().unwrap();
    let grid = tmp.path().join("grid.toml");
    std::fs::write(
        &grid,
        format!(
            r#"data = "{}"
metric = "macro_f1"
seed = 1

[[search]]
model = "dt"
[search.params]
max_depth = [2, "none"]

[[search]]
model = "nb"

[[search]]
model = "kmeans"
random = 2
[search.params]
k = {{ min = 2, max = 6, int = true }}
fpr = [0.01, 0.05]
"#,
            data.display()
        ),
    )
    .unwrap();
    let run = |out: &std::path::Path, threads: &str| {
        bin()
            .env("RAYON_NUM_THREADS", threads)
            .args(["sweep", "--grid"])
            .arg(&grid)
            .arg("-o")
            .arg(out)
            .assert()
            .success();
    };
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(&a, "2");
    run(&b, "1");
    let csv = std::fs::read_to_string(a.join("sweep.csv")).unwrap();
    assert_eq!(csv, std::fs::read_to_string(b.join("sweep.csv")).unwrap());
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 5, "{csv}");
    let f1: Vec<f64> = rows.iter().map(|r| r[5].parse().unwrap()).collect();
    assert!(f1.windows(2).all(|w| w[0] >= w[1]), "not sorted: {csv}");
    // The unlimited tree beats the depth-2 stump.
    let pos = |p: &str| rows.iter().position(|r| r[3] == p).unwrap();
    assert!(pos("max_depth=none") < pos("max_depth=2"), "{csv}");
    // The baseline rows report their detection and false-positive rates.
    assert!(
        rows.iter()
            .filter(|r| r[2] == "kmeans")
            .all(|r| !r[10].is_empty())
    );
    assert!(
        std::fs::read_to_string(a.join("sweep.md"))
            .unwrap()
            .contains("| 1 | dt |")
    );
    // best-model.json is what `train` writes for that configuration.
    let best = tmp.path().join("best.json");
    bin()
        .args([
            "train",
            "--model",
            "dt",
            "--param",
            "max_depth=none",
            "--seed",
            "1",
            "--data",
        ])
        .arg(&data)
        .arg("-o")
        .arg(&best)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(a.join("best-model.json")).unwrap(),
        std::fs::read(&best).unwrap()
    );
    // A bad grid lists every problem with its line and key, and trains nothing.
    std::fs::write(
        &grid,
        "metric = \"f2\"\n[[search]]\nmodel = \"rf\"\n[search.params]\nn_trees = [0]\n",
    )
    .unwrap();
    let out = bin()
        .args(["sweep", "--data"])
        .arg(&data)
        .arg("--grid")
        .arg(&grid)
        .arg("-o")
        .arg(tmp.path().join("c"))
        .assert()
        .code(65);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("2 problems"), "{err}");
    assert!(err.contains("grid.toml:1:10: `metric`"), "{err}");
    assert!(
        err.contains("grid.toml:5:11: `search[0].params.n_trees`"),
        "{err}"
    );
    assert!(!tmp.path().join("c").exists());
}

#[test]
fn cross_validation_and_balancing_from_the_command_line() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let data = dir.join("cicids2017-sample-mth-ids/CICIDS2017_sample.csv");
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m.json");
    let out = bin()
        .args([
            "train",
            "--model",
            "dt",
            "--cv",
            "3",
            "--balance",
            "undersample",
            "--data",
        ])
        .arg(&data)
        .arg("-o")
        .arg(&m)
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("3-fold cross-validation"), "{err}");
    let mf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    let cv = &mf["cross_validation"];
    assert_eq!(cv["per_fold"].as_array().unwrap().len(), 3);
    let mean = cv["mean"]["macro_f1"].as_f64().unwrap();
    assert!(mean > 0.8, "{cv}");
    assert_eq!(mf["params"]["balance"], "undersample");
    // With --cv the final model learns every row.
    assert!(mf["validation"].is_null());
    assert_eq!(mf["training"]["validation_fraction"], 0.0);
}
