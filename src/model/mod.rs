//! Models: feature tables in, trained detectors, scores and evaluations out.
//!
//! Takes [`FeatureTable`]s from [`crate::dataset`]; gives [`ModelFile`]s
//! (versioned JSON), per-row predictions and [`metrics::Evaluation`]s.
//! Everything a model needs to score travels in its file: algorithm and
//! hyperparameters, the ordered feature list, the label map, the training
//! data's fingerprint and class counts, and validation metrics.
//!
//! Algorithms today: `dt` (one CART tree) and `rf` (a random forest of
//! CART trees on bootstrap samples with a random feature subset per split,
//! trained in parallel with rayon and averaged by probability). Trees are
//! our own deterministic learner ([`cart`], which says why not linfa-trees).
//! Same data, parameters and seed give the same model file and the same
//! scores whatever the thread count: each tree draws from its own named
//! stream and the trees are collected in index order.
//!
//! Model file (`schema_version` 1): `algorithm`, `params` (name -> value as
//! given or defaulted), `features` (names, in the order scoring expects),
//! `classes` (label of each class id), `benign` (its class id, if present),
//! `training` (`fingerprint`: FNV-1a of the training matrix and labels,
//! `rows`, `per_class`, `seed`, `source`, `nonfinite`), `validation` (the
//! evaluation on the held-out split, if any) and `model` (the trees).

pub mod cart;
pub mod linear;
pub mod metrics;

use crate::dataset::labels::BENIGN;
use crate::dataset::table::FeatureTable;
use crate::rng::Rng;
use cart::{Data, Tree, TreeParams};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Errors of the model stage.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "unknown model `{0}`: expected rf (random forest), dt (decision tree), lr (logistic regression) or kmeans (anomaly baseline)"
    )]
    UnknownAlgorithm(String),
    #[error("parameter `{name}`: {message}")]
    Param { name: String, message: String },
    #[error("{0}")]
    Data(String),
    #[error(
        "{path}: the data lacks columns the model was trained on: {missing} (extract flows with the profile the model was trained on)"
    )]
    MissingColumns { path: String, missing: String },
    #[error("cannot read model {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Anything that gives class probabilities for a feature row.
pub trait Detector: Send + Sync {
    /// Number of classes.
    fn classes(&self) -> usize;
    /// Class probabilities of `row` into `out` (length [`Detector::classes`]).
    fn predict_proba(&self, row: &[f64], out: &mut [f64]);
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fitted {
    Tree { tree: Tree },
    Forest { trees: Vec<Tree> },
    Logistic { lr: linear::Logistic },
    Baseline { baseline: linear::Baseline },
}

impl Detector for Fitted {
    fn classes(&self) -> usize {
        match self {
            Fitted::Tree { tree } => tree.classes as usize,
            Fitted::Forest { trees } => trees.first().map_or(0, |t| t.classes as usize),
            Fitted::Logistic { lr } => lr.classes.iter().max().map_or(0, |m| *m as usize + 1),
            Fitted::Baseline { .. } => 2,
        }
    }

    fn predict_proba(&self, row: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        match self {
            Fitted::Tree { tree } => tree.add_proba(row, 1.0, out),
            Fitted::Forest { trees } => {
                let w = 1.0 / trees.len().max(1) as f64;
                for t in trees {
                    t.add_proba(row, w, out);
                }
            }
            Fitted::Logistic { lr } => lr.proba(row, &mut Vec::with_capacity(row.len()), out),
            Fitted::Baseline { baseline } => {
                baseline.proba(row, &mut Vec::with_capacity(row.len()), out)
            }
        }
    }
}

/// Where the training data came from and what it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub fingerprint: String,
    pub rows: u64,
    pub per_class: BTreeMap<String, u64>,
    pub seed: u64,
    pub source: String,
    pub nonfinite: String,
    pub validation_fraction: f64,
}

/// A model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub schema_version: u32,
    pub algorithm: String,
    pub params: BTreeMap<String, String>,
    pub features: Vec<String>,
    pub classes: Vec<String>,
    pub benign: Option<u32>,
    /// An anomaly baseline: classes are BENIGN and ANOMALY, and every
    /// non-benign label counts as ANOMALY when it is evaluated.
    #[serde(default)]
    pub anomaly: bool,
    pub training: TrainingInfo,
    pub validation: Option<metrics::Evaluation>,
    pub model: Fitted,
}

impl ModelFile {
    pub fn read(path: &Path) -> Result<ModelFile, ModelError> {
        let err = |m: String| ModelError::Read {
            path: path.display().to_string(),
            message: m,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let m: ModelFile = serde_json::from_str(&text).map_err(|e| {
            err(format!(
                "{e} (is it a model written by `maximus-sim train`?)"
            ))
        })?;
        if m.schema_version != 1 {
            return Err(err(format!(
                "schema_version {} is not supported (this build reads 1)",
                m.schema_version
            )));
        }
        Ok(m)
    }

    pub fn write(&self, path: &Path) -> Result<(), ModelError> {
        let text = serde_json::to_string(self).map_err(|e| ModelError::Write {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(path, text + "\n").map_err(|e| ModelError::Write {
            path: path.display().to_string(),
            source: e,
        })
    }

    /// Predict every row of `t` (whose columns must include the model's):
    /// (class id, confidence, attack score) per row, rows in parallel.
    pub fn predict(&self, t: &FeatureTable) -> Result<Vec<(u32, f64, f64)>, ModelError> {
        let t = t
            .select(&self.features)
            .map_err(|missing| ModelError::MissingColumns {
                path: t.report.path.clone(),
                missing: missing.join(", "),
            })?;
        let k = self.classes.len();
        let benign = self.benign;
        let out = (0..t.rows())
            .into_par_iter()
            .with_min_len(1024)
            .map_init(
                || vec![0.0; k],
                |p, i| {
                    self.model.predict_proba(t.row(i), p);
                    let best = argmax(p);
                    let attack = match benign {
                        Some(b) => 1.0 - p[b as usize],
                        None => 1.0,
                    };
                    (best as u32, p[best], attack)
                },
            )
            .collect();
        Ok(out)
    }
}

/// Index of the largest value, the lowest index on ties.
pub fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// Training options.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub algorithm: String,
    pub params: BTreeMap<String, String>,
    pub seed: u64,
    /// Held-out fraction for validation (stratified); 0 trains on all.
    pub validation: f64,
    /// Weight classes inversely to their frequency.
    pub balance: bool,
}

/// Validated hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hyper {
    tree: TreeParams,
    n_trees: u32,
    /// Features per split: a count, or 0 for sqrt(d).
    max_features: u32,
}

fn hyper(o: &TrainOptions, d: usize) -> Result<(Hyper, BTreeMap<String, String>), ModelError> {
    let forest = match o.algorithm.as_str() {
        "rf" => true,
        "dt" => false,
        other => return Err(ModelError::UnknownAlgorithm(other.into())),
    };
    let allowed: &[&str] = if forest {
        &[
            "n_trees",
            "max_depth",
            "min_samples_split",
            "min_samples_leaf",
            "max_features",
        ]
    } else {
        &[
            "max_depth",
            "min_samples_split",
            "min_samples_leaf",
            "max_features",
        ]
    };
    check_params(o, allowed)?;
    let num = |name: &str, def: u32, lo: u32, hi: u32| -> Result<u32, ModelError> {
        match o.params.get(name) {
            None => Ok(def),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|x| (lo..=hi).contains(x))
                .ok_or_else(|| ModelError::Param {
                    name: name.into(),
                    message: format!("`{v}` is not a whole number in {lo}..={hi}"),
                }),
        }
    };
    let max_depth = match o.params.get("max_depth").map(String::as_str) {
        None | Some("none") => None,
        Some(_) => Some(num("max_depth", 0, 1, 1000)?),
    };
    let max_features = match o.params.get("max_features").map(String::as_str) {
        None => {
            if forest {
                0
            } else {
                d as u32
            }
        }
        Some("sqrt") => 0,
        Some("all") => d as u32,
        Some(_) => num("max_features", 1, 1, d as u32)?,
    };
    let h = Hyper {
        tree: TreeParams {
            max_depth,
            min_samples_split: num("min_samples_split", 2, 2, 1_000_000)?,
            min_samples_leaf: num("min_samples_leaf", 1, 1, 1_000_000)?,
            max_features: None,
        },
        n_trees: if forest {
            num("n_trees", 100, 1, 10_000)?
        } else {
            1
        },
        max_features,
    };
    let mut used = BTreeMap::new();
    used.insert(
        "max_depth".into(),
        max_depth.map_or("none".into(), |v| v.to_string()),
    );
    used.insert(
        "min_samples_split".into(),
        h.tree.min_samples_split.to_string(),
    );
    used.insert(
        "min_samples_leaf".into(),
        h.tree.min_samples_leaf.to_string(),
    );
    used.insert(
        "max_features".into(),
        if max_features == 0 {
            "sqrt".into()
        } else {
            max_features.to_string()
        },
    );
    if forest {
        used.insert("n_trees".into(), h.n_trees.to_string());
    }
    used.insert("balance".into(), o.balance.to_string());
    Ok((h, used))
}

/// FNV-1a over the matrix bits and the labels.
fn fingerprint(t: &FeatureTable) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in &t.features {
        eat(f.as_bytes());
    }
    for v in &t.x {
        eat(&v.to_bits().to_le_bytes());
    }
    for l in &t.labels {
        eat(l.as_bytes());
        eat(&[0]);
    }
    format!("fnv1a64:{h:016x}")
}

/// Stratified split: (train rows, validation rows), each sorted. Every
/// class with at least two rows has at least one on each side.
pub fn stratified_split(
    y: &[u32],
    classes: usize,
    fraction: f64,
    seed: u64,
) -> (Vec<u32>, Vec<u32>) {
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); classes];
    for (i, &c) in y.iter().enumerate() {
        by_class[c as usize].push(i as u32);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (c, mut rows) in by_class.into_iter().enumerate() {
        let mut rng = Rng::stream(seed, &format!("split/{c}"));
        for i in (1..rows.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            rows.swap(i, j);
        }
        let mut nv = (rows.len() as f64 * fraction).round() as usize;
        if fraction > 0.0 && rows.len() >= 2 {
            nv = nv.clamp(1, rows.len() - 1);
        }
        val.extend_from_slice(&rows[..nv]);
        train.extend_from_slice(&rows[nv..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// Class ids of `labels` against `classes` (unknown labels -> `None`).
pub fn class_ids(labels: &[String], classes: &[String]) -> Vec<Option<u32>> {
    let map: BTreeMap<&str, u32> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    labels
        .iter()
        .map(|l| map.get(l.as_str()).copied())
        .collect()
}

/// Train a model on a labelled table.
pub fn train(t: &FeatureTable, o: &TrainOptions) -> Result<ModelFile, ModelError> {
    if t.rows() == 0 {
        return Err(ModelError::Data(format!(
            "{}: no rows to train on",
            t.report.path
        )));
    }
    if t.labels.iter().any(String::is_empty) {
        return Err(ModelError::Data(format!(
            "{}: rows without a label: give the flows a Label column (maximus-sim flows --labels labels.csv)",
            t.report.path
        )));
    }
    let counts = t.class_counts();
    if counts.len() < 2 {
        return Err(ModelError::Data(format!(
            "{}: only one class ({}): a classifier needs at least two",
            t.report.path,
            counts.keys().next().map_or("", |s| s.as_str())
        )));
    }
    let classes: Vec<String> = counts.keys().cloned().collect();
    let benign = classes.iter().position(|c| c == BENIGN).map(|i| i as u32);
    let y: Vec<u32> = class_ids(&t.labels, &classes)
        .into_iter()
        .map(|c| c.unwrap_or(0))
        .collect();
    let (train_rows, val_rows) = stratified_split(&y, classes.len(), o.validation, o.seed);
    let (model, params, classes, benign, anomaly) = match o.algorithm.as_str() {
        "rf" | "dt" => {
            let (m, p) = fit_trees(t, o, &y, &classes, &train_rows)?;
            (m, p, classes, benign, false)
        }
        "lr" | "kmeans" => fit_linear(t, o, &y, classes, benign, &train_rows, &val_rows)?,
        other => return Err(ModelError::UnknownAlgorithm(other.into())),
    };
    // An anomaly model is judged on benign vs anything else.
    let y: Vec<u32> = if anomaly {
        let b = benign_of(&t.labels, &y);
        y.iter().map(|&c| u32::from(Some(c) != b)).collect()
    } else {
        y
    };
    let benign = if anomaly { Some(0) } else { benign };
    let mut file = ModelFile {
        schema_version: 1,
        algorithm: o.algorithm.clone(),
        params,
        features: t.features.clone(),
        classes: classes.clone(),
        benign,
        anomaly,
        training: TrainingInfo {
            fingerprint: fingerprint(t),
            rows: t.rows() as u64,
            per_class: counts,
            seed: o.seed,
            source: t.report.path.clone(),
            nonfinite: t
                .report
                .policy
                .map_or("zero".into(), |p| format!("{p:?}").to_lowercase()),
            validation_fraction: o.validation,
        },
        validation: None,
        model,
    };
    if !val_rows.is_empty() {
        let mut p = vec![0.0; classes.len()];
        let (mut truth, mut pred, mut score) = (Vec::new(), Vec::new(), Vec::new());
        for &r in &val_rows {
            file.model.predict_proba(t.row(r as usize), &mut p);
            truth.push(y[r as usize]);
            pred.push(argmax(&p) as u32);
            score.push(benign.map_or(1.0, |b| 1.0 - p[b as usize]));
        }
        file.validation = Some(metrics::evaluate(&classes, &truth, &pred, &score, benign));
    }
    Ok(file)
}

/// The class id of BENIGN in `y` (from the labels), if any row has it.
fn benign_of(labels: &[String], y: &[u32]) -> Option<u32> {
    labels
        .iter()
        .zip(y)
        .find(|(l, _)| l.as_str() == BENIGN)
        .map(|(_, c)| *c)
}

type Fit = (
    Fitted,
    BTreeMap<String, String>,
    Vec<String>,
    Option<u32>,
    bool,
);

/// Every given parameter is one the algorithm takes.
fn check_params(o: &TrainOptions, allowed: &[&str]) -> Result<(), ModelError> {
    match o.params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ModelError::Param {
            name: k.clone(),
            message: format!(
                "not a parameter of `{}` (it takes {})",
                o.algorithm,
                allowed.join(", ")
            ),
        }),
        None => Ok(()),
    }
}

fn param_f64(o: &TrainOptions, name: &str, def: f64, lo: f64, hi: f64) -> Result<f64, ModelError> {
    match o.params.get(name) {
        None => Ok(def),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|x| (lo..=hi).contains(x))
            .ok_or_else(|| ModelError::Param {
                name: name.into(),
                message: format!("`{v}` is not a number in [{lo}, {hi}]"),
            }),
    }
}

fn param_bool(o: &TrainOptions, name: &str, def: bool) -> Result<bool, ModelError> {
    match o.params.get(name).map(String::as_str) {
        None => Ok(def),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(ModelError::Param {
            name: name.into(),
            message: format!("`{v}`: expected true or false"),
        }),
    }
}

/// Logistic regression or the k-means baseline (linfa).
fn fit_linear(
    t: &FeatureTable,
    o: &TrainOptions,
    y: &[u32],
    classes: Vec<String>,
    benign: Option<u32>,
    train_rows: &[u32],
    val_rows: &[u32],
) -> Result<Fit, ModelError> {
    let allowed: &[&str] = if o.algorithm == "lr" {
        &["alpha", "max_iterations", "log1p"]
    } else {
        &["k", "fpr", "log1p"]
    };
    check_params(o, allowed)?;
    let d = t.features.len();
    let log1p = param_bool(o, "log1p", true)?;
    let mut used = BTreeMap::from([("log1p".to_string(), log1p.to_string())]);
    if o.algorithm == "lr" {
        let alpha = param_f64(o, "alpha", 1.0, 0.0, 1e6)?;
        let iters = param_f64(o, "max_iterations", 200.0, 1.0, 100_000.0)? as u64;
        used.insert("alpha".into(), alpha.to_string());
        used.insert("max_iterations".into(), iters.to_string());
        let lr = linear::Logistic::fit(&t.x, d, y, train_rows, log1p, alpha, iters)
            .map_err(ModelError::Data)?;
        return Ok((Fitted::Logistic { lr }, used, classes, benign, false));
    }
    let Some(b) = benign else {
        return Err(ModelError::Data(format!(
            "{}: the anomaly baseline learns benign traffic, and there is no BENIGN row",
            t.report.path
        )));
    };
    let k = param_f64(o, "k", 8.0, 1.0, 1000.0)? as usize;
    let fpr = param_f64(o, "fpr", 0.01, 0.0001, 0.5)?;
    used.insert("k".into(), k.to_string());
    used.insert("fpr".into(), fpr.to_string());
    let benign_rows = |rows: &[u32]| -> Vec<u32> {
        rows.iter()
            .copied()
            .filter(|&r| y[r as usize] == b)
            .collect()
    };
    let baseline = linear::Baseline::fit(
        &t.x,
        d,
        &benign_rows(train_rows),
        &benign_rows(val_rows),
        k,
        fpr,
        log1p,
        o.seed,
    )
    .map_err(ModelError::Data)?;
    Ok((
        Fitted::Baseline { baseline },
        used,
        vec![BENIGN.to_string(), "ANOMALY".to_string()],
        Some(0),
        true,
    ))
}

/// A decision tree or a random forest (our CART).
fn fit_trees(
    t: &FeatureTable,
    o: &TrainOptions,
    y: &[u32],
    classes: &[String],
    train_rows: &[u32],
) -> Result<(Fitted, BTreeMap<String, String>), ModelError> {
    let d = t.features.len();
    let (h, params) = hyper(o, d)?;
    let weights: Vec<f64> = if o.balance {
        let mut n = vec![0u64; classes.len()];
        for &r in train_rows {
            n[y[r as usize] as usize] += 1;
        }
        let total = train_rows.len() as f64;
        n.iter()
            .map(|&c| {
                if c > 0 {
                    total / (classes.len() as f64 * c as f64)
                } else {
                    1.0
                }
            })
            .collect()
    } else {
        vec![1.0; classes.len()]
    };
    let data = Data {
        x: &t.x,
        d,
        y,
        classes: classes.len() as u32,
        class_weight: &weights,
    };
    let max_features = if h.max_features == 0 {
        ((d as f64).sqrt().round() as u32).max(1)
    } else {
        h.max_features
    };
    let model = if o.algorithm == "dt" {
        let p = TreeParams {
            max_features: Some(max_features),
            ..h.tree
        };
        Fitted::Tree {
            tree: cart::fit(data, train_rows.to_vec(), p, Rng::stream(o.seed, "tree/0")),
        }
    } else {
        let p = TreeParams {
            max_features: Some(max_features),
            ..h.tree
        };
        let trees = (0..h.n_trees)
            .into_par_iter()
            .map(|i| {
                let mut rng = Rng::stream(o.seed, &format!("tree/{i}"));
                let n = train_rows.len() as u64;
                let sample: Vec<u32> = (0..n).map(|_| train_rows[rng.below(n) as usize]).collect();
                cart::fit(data, sample, p, rng)
            })
            .collect();
        Fitted::Forest { trees }
    };
    Ok((model, params))
}

/// Evaluate `model` on a labelled table; rows whose label the model does
/// not know are counted as an extra class it can never predict.
pub fn evaluate(model: &ModelFile, t: &FeatureTable) -> Result<metrics::Evaluation, ModelError> {
    let pred = model.predict(t)?;
    let mut classes = model.classes.clone();
    let labels: Vec<String> = if model.anomaly {
        t.labels
            .iter()
            .map(|l| {
                if l == BENIGN {
                    l.clone()
                } else {
                    "ANOMALY".into()
                }
            })
            .collect()
    } else {
        t.labels.clone()
    };
    for l in &labels {
        if !classes.contains(l) {
            classes.push(l.clone());
        }
    }
    let truth: Vec<u32> = class_ids(&labels, &classes)
        .into_iter()
        .map(|c| c.unwrap_or(0))
        .collect();
    let p: Vec<u32> = pred.iter().map(|x| x.0).collect();
    let s: Vec<f64> = pred.iter().map(|x| x.2).collect();
    Ok(metrics::evaluate(&classes, &truth, &p, &s, model.benign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::table::LoadReport;

    fn table(n: usize, seed: u64) -> FeatureTable {
        let mut r = Rng::stream(seed, "t");
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let a = r.unit() * 10.0;
            let b = r.unit();
            x.extend([a, b, r.unit()]);
            labels.push(
                if a < 3.0 {
                    "BENIGN"
                } else if b < 0.5 {
                    "DoS"
                } else {
                    "Scan"
                }
                .to_string(),
            );
        }
        FeatureTable {
            features: vec!["a".into(), "b".into(), "noise".into()],
            x,
            labels,
            report: LoadReport {
                path: "mem".into(),
                ..LoadReport::default()
            },
        }
    }

    fn opts(alg: &str) -> TrainOptions {
        TrainOptions {
            algorithm: alg.into(),
            params: BTreeMap::from([("n_trees".to_string(), "20".to_string())])
                .into_iter()
                .filter(|_| alg == "rf")
                .collect(),
            seed: 5,
            validation: 0.2,
            balance: false,
        }
    }

    #[test]
    fn forests_and_trees_learn_and_are_reproducible_across_thread_counts() {
        let t = table(2000, 1);
        let a = train(&t, &opts("rf")).unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = one.install(|| train(&t, &opts("rf")).unwrap());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let v = a.validation.as_ref().unwrap();
        assert!(v.macro_avg.f1 > 0.97, "{}", v.markdown("rf"));
        let dt = train(&t, &opts("dt")).unwrap();
        assert!(dt.validation.unwrap().macro_avg.f1 > 0.95);
        // Unseen data from the same rule.
        let e = evaluate(&a, &table(500, 2)).unwrap();
        assert!(e.macro_avg.f1 > 0.95, "{}", e.markdown("rf"));
        // A round trip through JSON keeps every prediction.
        let back: ModelFile = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back.predict(&t).unwrap(), a.predict(&t).unwrap());
    }

    #[test]
    fn logistic_regression_and_the_baseline_fit_through_linfa() {
        let t = table(1500, 4);
        let lr = train(&t, &opts("lr")).unwrap();
        let v = lr.validation.as_ref().unwrap();
        assert!(v.macro_avg.f1 > 0.8, "{}", v.markdown("lr"));
        assert_eq!(
            serde_json::to_string(&lr).unwrap(),
            serde_json::to_string(&train(&t, &opts("lr")).unwrap()).unwrap()
        );
        // The baseline learns benign rows (a < 3) only; attacks (a >= 3) are far.
        let mut o = opts("kmeans");
        o.params = BTreeMap::from([
            ("k".to_string(), "3".to_string()),
            ("fpr".to_string(), "0.05".to_string()),
        ]);
        let km = train(&t, &o).unwrap();
        assert!(km.anomaly);
        assert_eq!(km.classes, ["BENIGN", "ANOMALY"]);
        let e = evaluate(&km, &table(1000, 5)).unwrap();
        let b = e.attack_vs_benign.as_ref().unwrap();
        assert!(b.roc_auc > 0.9, "{}", e.markdown("km"));
        assert_eq!(e.per_class.len(), 2);
    }

    #[test]
    fn bad_parameters_and_missing_columns_are_explained() {
        let t = table(100, 1);
        let mut o = opts("rf");
        o.params.insert("n_tres".into(), "5".into());
        assert!(train(&t, &o).unwrap_err().to_string().contains("n_tres"));
        let mut o = opts("dt");
        o.params.insert("max_depth".into(), "-3".into());
        assert!(train(&t, &o).unwrap_err().to_string().contains("max_depth"));
        assert!(
            train(&t, &opts("svm"))
                .unwrap_err()
                .to_string()
                .contains("unknown model")
        );
        let m = train(&t, &opts("dt")).unwrap();
        let mut other = table(10, 3);
        other.features[1] = "renamed".into();
        let e = m.predict(&other).unwrap_err().to_string();
        assert!(e.contains("`b`") || e.contains(": b"), "{e}");
    }

    #[test]
    fn stratified_split_keeps_every_class_on_both_sides() {
        let y: Vec<u32> = (0..103)
            .map(|i| if i < 3 { 2 } else { (i % 2) as u32 })
            .collect();
        let (tr, va) = stratified_split(&y, 3, 0.2, 1);
        assert_eq!(tr.len() + va.len(), 103);
        for c in 0..3 {
            assert!(tr.iter().any(|&r| y[r as usize] == c));
            assert!(va.iter().any(|&r| y[r as usize] == c));
        }
        assert_eq!(stratified_split(&y, 3, 0.2, 1), (tr, va));
    }
}
