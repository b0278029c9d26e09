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
        progress: model::Progress::default(),
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
    // over split seeds; benches/compare/models.sh), so the bar is on the
    // mean of six splits, with the features per split a sweep picks (20 of
    // 76 rather than sqrt's 8).
    let mut sum = 0.0;
    for seed in 0..6 {
        let mut o = opts("rf", seed);
        o.params.insert("max_features".into(), "20".into());
        let rf = model::train(&t, &o).unwrap();
        let v = rf.validation.unwrap();
        assert!(v.accuracy >= 0.97, "seed {seed}: accuracy {}", v.accuracy);
        sum += v.macro_avg.f1;
    }
    let mean = sum / 6.0;
    assert!(mean >= 0.95, "random forest mean macro F1 {mean}");
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
    let err = common::stderr(&a);
    assert!(
        err.contains("11 of 5050 rows had Infinity/NaN/empty cells"),
        "{err}"
    );
    let mf = common::read_json(&m);
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
    let e = common::read_json(&rep.join("metrics.json"));
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
    let input_header = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(text.starts_with(&format!("{input_header},predicted,confidence,score\n")));
    // A pipe (or /dev/null) as the output is written in place, not replaced
    // by a renamed file.
    #[cfg(unix)]
    if let Some(piped) = common::through_fifo(tmp.path(), "scored.pipe", |fifo| {
        bin()
            .args(["score", "--model"])
            .arg(&m)
            .arg(&data)
            .arg("-o")
            .arg(fifo)
            .assert()
            .success();
    }) {
        assert_eq!(piped, text.as_bytes());
    }
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
    let err = common::stderr(&a);
    assert!(err.contains("missing Total Fwd Packets"), "{err}");
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
    let model = common::read_json(&m);
    assert_eq!(model["classes"].as_array().unwrap().len(), 4);
    // Unlabelled flows + labels.csv at training time: the same rows and
    // labels as flows --labels gave, so the same per-class counts and model.
    let plain = tmp.path().join("plain.csv");
    bin()
        .args(["flows", "datasets/quickstart/traffic.pcap", "-o"])
        .arg(&plain)
        .assert()
        .success();
    let m2 = tmp.path().join("m2.json");
    let out = bin()
        .args([
            "train",
            "--model",
            "dt",
            "--labels",
            "datasets/quickstart/labels.csv",
            "--data",
        ])
        .arg(&plain)
        .arg("-o")
        .arg(&m2)
        .assert()
        .success();
    let err = common::stderr(&out);
    assert!(err.contains("0 flows no label row matched"), "{err}");
    let model2 = common::read_json(&m2);
    assert_eq!(
        model2["training"]["per_class"],
        model["training"]["per_class"]
    );
    assert_eq!(model2["model"], model["model"]);
    // The V3 profiles' 12-hour second-resolution times cannot be joined.
    let v3 = tmp.path().join("v3.csv");
    bin()
        .args([
            "flows",
            "--profile",
            "cic2017",
            "datasets/quickstart/traffic.pcap",
            "-o",
        ])
        .arg(&v3)
        .assert()
        .success();
    let out = bin()
        .args([
            "train",
            "--labels",
            "datasets/quickstart/labels.csv",
            "--data",
        ])
        .arg(&v3)
        .arg("-o")
        .arg(tmp.path().join("m3.json"))
        .assert()
        .code(65);
    let err = common::stderr(&out);
    assert!(
        err.contains("v3.csv: line 2: Timestamp") && err.contains("flows --labels"),
        "{err}"
    );
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
    let err = common::stderr(&out);
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
    let err = common::stderr(&out);
    assert!(err.contains("3-fold cross-validation"), "{err}");
    let mf = common::read_json(&m);
    let cv = &mf["cross_validation"];
    assert_eq!(cv["per_fold"].as_array().unwrap().len(), 3);
    let mean = cv["mean"]["macro_f1"].as_f64().unwrap();
    assert!(mean > 0.8, "{cv}");
    assert_eq!(mf["params"]["balance"], "undersample");
    // With --cv the final model learns every row.
    assert!(mf["validation"].is_null());
    assert_eq!(mf["training"]["validation_fraction"], 0.0);
}

/// The scored CSV's rows: (input cells, predicted, confidence, score).
fn scored_csv(path: &std::path::Path) -> Vec<(Vec<String>, String, String, String)> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let n = rec.len();
            let cells: Vec<String> = rec.iter().take(n - 3).map(str::to_string).collect();
            (
                cells,
                rec[n - 3].into(),
                rec[n - 2].into(),
                rec[n - 1].into(),
            )
        })
        .collect()
}

#[test]
fn score_streams_any_file_in_batches_to_csv_or_parquet_and_keeps_every_row() {
    use polars::prelude::*;
    let Some(dir) = common::data_dir() else {
        return;
    };
    let data = dir.join("cicids2017-sample-mth-ids/CICIDS2017_sample.csv");
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m.json");
    bin()
        .args(["train", "--model", "rf", "--param", "n_trees=10", "--data"])
        .arg(&data)
        .arg("-o")
        .arg(&m)
        .assert()
        .success();
    let score = |input: &std::path::Path, out: &std::path::Path, extra: &[&str]| {
        bin()
            .args(["score", "--model"])
            .arg(&m)
            .arg(input)
            .arg("-o")
            .arg(out)
            .args(extra)
            .assert()
    };
    // Batches of 700 rows (the 11 rows with Infinity fall in different
    // batches) give the bytes of one batch: clip uses the file's ranges.
    let (small, whole) = (tmp.path().join("small.csv"), tmp.path().join("whole.csv"));
    score(&data, &small, &["--batch-rows", "700"]).success();
    score(&data, &whole, &["--batch-rows", "100000"]).success();
    assert_eq!(
        std::fs::read(&small).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    // Every input row is there, its cells unchanged, and the scores are
    // the model's on the whole table.
    let rows = scored_csv(&small);
    let mut input = csv::Reader::from_path(&data).unwrap();
    let input_header: Vec<String> = input
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let input: Vec<Vec<String>> = input
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), input.len());
    let model = model::ModelFile::read(&m).unwrap();
    let t = table::read(&data, NonFinite::Clip).unwrap();
    let want = model.predict(&t).unwrap();
    for (i, ((cells, predicted, confidence, score), (c, conf, sc))) in
        rows.iter().zip(&want).enumerate()
    {
        assert_eq!(cells, &input[i], "row {i}");
        assert_eq!(predicted, &model.classes[*c as usize], "row {i}");
        assert_eq!(confidence.parse::<f64>().unwrap(), *conf, "row {i}");
        assert_eq!(score.parse::<f64>().unwrap(), *sc, "row {i}");
    }
    // drop: the rows with Infinity are still written, with empty scores.
    let dropped = tmp.path().join("dropped.csv");
    let a = score(
        &data,
        &dropped,
        &["--nonfinite", "drop", "--batch-rows", "999"],
    )
    .success();
    let err = common::stderr(&a);
    assert!(err.contains("11 rows not scored"), "{err}");
    let rows = scored_csv(&dropped);
    assert_eq!(rows.len(), 5050);
    let empty = rows
        .iter()
        .filter(|r| r.1.is_empty() && r.3.is_empty())
        .count();
    assert_eq!(empty, 11);
    // Parquet out: typed columns, the repeated Fwd Header Length renamed,
    // the same predictions as the CSV.
    let pq = tmp.path().join("scored.parquet");
    score(&data, &pq, &["--batch-rows", "1000"]).success();
    let df = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), 5050);
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names.len(), input[0].len() + 3);
    assert_eq!(names[..names.len() - 3], input_header[..]);
    assert_eq!(
        df.column("Flow Duration").unwrap().dtype(),
        &DataType::Float64
    );
    assert_eq!(df.column("Label").unwrap().dtype(), &DataType::String);
    let csv_rows = scored_csv(&whole);
    let predicted = df.column("predicted").unwrap().str().unwrap().clone();
    let scores = df.column("score").unwrap().f64().unwrap().clone();
    for (i, r) in csv_rows.iter().enumerate() {
        assert_eq!(predicted.get(i), Some(r.1.as_str()), "row {i}");
        assert_eq!(scores.get(i), Some(r.3.parse::<f64>().unwrap()), "row {i}");
    }
    // Parquet in, CSV out: the same predictions again.
    let back = tmp.path().join("from-parquet.csv");
    let flows_pq = tmp.path().join("flows.parquet");
    std::fs::rename(&pq, &flows_pq).unwrap();
    // (a scored file is refused: it already has the output columns)
    let a = score(&flows_pq, &back, &[]).code(65);
    let err = common::stderr(&a);
    assert!(err.contains("already has a `predicted` column"), "{err}");
    let mut plain = df.drop_many(["predicted", "confidence", "score"]);
    ParquetWriter::new(std::fs::File::create(&flows_pq).unwrap())
        .with_row_group_size(Some(600))
        .finish(&mut plain)
        .unwrap();
    score(&flows_pq, &back, &["--batch-rows", "1500"]).success();
    let from_pq = scored_csv(&back);
    assert_eq!(from_pq.len(), 5050);
    for (i, (a, b)) in from_pq.iter().zip(&csv_rows).enumerate() {
        assert_eq!((&a.1, &a.3), (&b.1, &b.3), "row {i}");
    }
    // A ragged row after some batches were written: exit 65 naming its
    // line, and no output or partial file is left.
    let ragged = tmp.path().join("ragged.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    let mut cut: String = text.lines().take(1201).map(|l| format!("{l}\n")).collect();
    cut.push_str("1,2,3\n");
    std::fs::write(&ragged, cut).unwrap();
    let out = tmp.path().join("ragged-scored.csv");
    let a = score(
        &ragged,
        &out,
        &["--nonfinite", "zero", "--batch-rows", "500"],
    )
    .code(65);
    let err = common::stderr(&a);
    assert!(err.contains("ragged.csv: line 1202"), "{err}");
    assert!(!out.exists() && !tmp.path().join("ragged-scored.csv.partial").exists());
    // An output that cannot be written: exit 74, naming it.
    let nowhere = tmp.path().join("no-such-dir").join("s.csv");
    let a = score(&data, &nowhere, &[]).code(74);
    let err = common::stderr(&a);
    assert!(
        err.contains("cannot write") && err.contains("no-such-dir"),
        "{err}"
    );
    // A file with a feature column the model lacks is refused, naming it,
    // unless asked to ignore it.
    let extra = tmp.path().join("extra.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{},Extra Feature\n", lines.next().unwrap());
    for l in lines {
        out.push_str(l);
        out.push_str(",1\n");
    }
    std::fs::write(&extra, out).unwrap();
    let x = tmp.path().join("x.csv");
    let a = score(&extra, &x, &[]).code(65);
    let err = common::stderr(&a);
    assert!(
        err.contains("extra Extra Feature") && err.contains("--ignore-extra-columns"),
        "{err}"
    );
    assert!(!x.exists());
    score(&extra, &x, &["--ignore-extra-columns"]).success();
    let with_extra = scored_csv(&x);
    for (i, (a, b)) in with_extra.iter().zip(&csv_rows).enumerate() {
        assert_eq!((&a.1, &a.3), (&b.1, &b.3), "row {i}");
    }
}

/// `synth` then `flows --labels` for one of the bundled model datasets.
fn synth_flows(name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join(name);
    bin()
        .arg("synth")
        .arg(root.join(format!("datasets/{name}/spec.toml")))
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let flows = out.join("flows.parquet");
    bin()
        .arg("flows")
        .arg(out.join("traffic.pcap"))
        .arg("--labels")
        .arg(out.join("labels.csv"))
        .arg("-o")
        .arg(&flows)
        .assert()
        .success();
    flows
}

#[test]
fn models_trained_on_synth_train_generalise_to_synth_test() {
    // Other seed, day, hosts, addresses, rates and C2 servers: traffic the
    // model has not seen (datasets/test/spec.toml).
    let tmp = tempfile::tempdir().unwrap();
    let train = table::read(&synth_flows("train", tmp.path()), NonFinite::Clip).unwrap();
    let test = table::read(&synth_flows("test", tmp.path()), NonFinite::Clip).unwrap();
    assert_eq!(train.class_counts().len(), 11);
    assert_eq!(
        train.class_counts().keys().collect::<Vec<_>>(),
        test.class_counts().keys().collect::<Vec<_>>()
    );
    let rf = model::train(&train, &opts("rf", 0)).unwrap();
    let e = model::evaluate(&rf, &test).unwrap();
    assert!(e.macro_avg.f1 >= 0.95, "{}", e.markdown("rf on test"));
    // The behavioural baseline learns benign train flows only; its
    // operating point: 16 clusters, threshold at 0.5% of held-out benign
    // train flows (a margin for the other hosts of the test day).
    let mut o = opts("kmeans", 0);
    o.params = BTreeMap::from([
        ("k".to_string(), "16".to_string()),
        ("fpr".to_string(), "0.005".to_string()),
    ]);
    let km = model::train(&train, &o).unwrap();
    let e = model::evaluate(&km, &test).unwrap();
    let b = e.attack_vs_benign.as_ref().unwrap();
    assert!(
        b.detection_rate >= 0.90 && b.false_positive_rate <= 0.01,
        "detection {} at false positives {}",
        b.detection_rate,
        b.false_positive_rate
    );
}
