//! Model throughput on 100 k rows x 76 features resampled (seeded) from the
//! real CIC-IDS2017 sample in the shared datasets:
//!
//! - `model/train_rf_100_trees_100k_rows`: a 100-tree random forest, as
//!   `train` fits it (80/20 stratified split, validation scored);
//! - `model/score_rf_100_trees`: `ModelFile::predict` of that forest over
//!   the 100 k rows (rows/s, rayon across the cores);
//! - `model/score_kmeans`: the anomaly baseline's scoring over the same rows;
//! - `model/score_file_csv_rf` and `model/score_file_parquet_out_rf`:
//!   `score_file` (what `maximus-sim score` runs) from those rows as a CSV
//!   to a scored CSV / Parquet file: batches read, parsed, clipped (two
//!   reads), scored and written.
//!
//! `cargo bench --bench model`. Skips, saying why, when the shared datasets
//! are absent (`$MAXIMUS_DATA_DIR`, default `../shared/datasets`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use maximus_sim::dataset::table::{self, FeatureTable, NonFinite};
use maximus_sim::model::{self, Balance, TrainOptions};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

const ROWS: usize = 100_000;

fn table_100k() -> Option<FeatureTable> {
    let dir = std::env::var_os("MAXIMUS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"));
    let path = dir.join("cicids2017-sample-mth-ids/CICIDS2017_sample.csv");
    if !path.is_file() {
        eprintln!(
            "skipping the model benches: {} not found (set MAXIMUS_DATA_DIR)",
            path.display()
        );
        return None;
    }
    let t = table::read_csv(&path, NonFinite::Clip).unwrap();
    let d = t.features.len();
    let mut out = FeatureTable {
        features: t.features.clone(),
        x: Vec::with_capacity(ROWS * d),
        labels: Vec::with_capacity(ROWS),
        report: t.report.clone(),
    };
    let mut rng = maximus_sim::rng::Rng::stream(1, "bench/rows");
    for _ in 0..ROWS {
        let r = rng.below(t.rows() as u64) as usize;
        out.x.extend_from_slice(t.row(r));
        out.labels.push(t.labels[r].clone());
    }
    Some(out)
}

/// The table as a flow CSV (features, then Label).
fn write_csv(t: &FeatureTable, path: &std::path::Path) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(t.features.iter().map(String::as_str).chain(["Label"]))
        .unwrap();
    for r in 0..t.rows() {
        let cells: Vec<String> = t.row(r).iter().map(|v| v.to_string()).collect();
        w.write_record(
            cells
                .iter()
                .map(String::as_str)
                .chain([t.labels[r].as_str()]),
        )
        .unwrap();
    }
    w.flush().unwrap();
}

fn opts(algorithm: &str, params: &[(&str, &str)]) -> TrainOptions {
    TrainOptions {
        algorithm: algorithm.into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        seed: 0,
        validation: 0.2,
        balance: Balance::None,
        progress: model::Progress::default(),
    }
}

fn models(c: &mut Criterion) {
    let Some(t) = table_100k() else {
        return;
    };
    eprintln!(
        "bench table: {} rows x {} features",
        t.rows(),
        t.features.len()
    );
    let mut g = c.benchmark_group("model");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(60));
    let rf_opts = opts("rf", &[("n_trees", "100")]);
    g.bench_function("train_rf_100_trees_100k_rows", |b| {
        b.iter(|| black_box(model::train(&t, &rf_opts).unwrap().classes.len()))
    });
    let rf = model::train(&t, &rf_opts).unwrap();
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(t.rows() as u64));
    g.bench_function("score_rf_100_trees", |b| {
        b.iter(|| black_box(rf.predict(&t).unwrap().len()))
    });
    let km = model::train(&t, &opts("kmeans", &[("k", "8")])).unwrap();
    g.bench_function("score_kmeans", |b| {
        b.iter(|| black_box(km.predict(&t).unwrap().len()))
    });
    let dir = std::env::temp_dir().join(format!("maximus-bench-score-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("rows.csv");
    write_csv(&t, &input);
    let so = model::ScoreOptions {
        nonfinite: NonFinite::Clip,
        batch_rows: 8192,
        ignore_extra_columns: false,
    };
    for (name, out) in [
        ("score_file_csv_rf", dir.join("scored.csv")),
        ("score_file_parquet_out_rf", dir.join("scored.parquet")),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    model::score_file(&rf, &input, &out, &so, |_| {})
                        .unwrap()
                        .rows_read,
                )
            })
        });
    }
    std::fs::remove_dir_all(&dir).unwrap();
    g.finish();
}

criterion_group!(benches, models);
criterion_main!(benches);
