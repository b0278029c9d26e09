//! Models: feature tables in, trained detectors, scores and evaluations out.
//!
//! Takes [`FeatureTable`]s from [`crate::dataset`]; gives [`ModelFile`]s
//! (versioned JSON), per-row predictions and [`metrics::Evaluation`]s.
//! Everything a model needs to score travels in its file: algorithm and
//! hyperparameters, the ordered feature list, the label map, the training
//! data's fingerprint and class counts, and validation metrics.
//!
//! Algorithms: `dt` (one CART tree) and `rf` (a random forest of CART trees
//! on bootstrap samples with a random feature subset per split, trained in
//! parallel with rayon and averaged by probability; trees are our own
//! deterministic learner, [`cart`] says why not linfa-trees), `lr`
//! (multinomial logistic regression), `nb` (Gaussian naive Bayes) and
//! `kmeans` (the benign-only anomaly baseline), the last three through
//! linfa ([`linear`]). Training can hold out a stratified validation split,
//! cross-validate on stratified folds ([`cross_validate`]) and balance
//! classes ([`Balance`]); [`sweep`] searches hyperparameters.
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
pub mod plot;
pub mod sweep;

use crate::dataset::labels::BENIGN;
use crate::dataset::table::{FeatureTable, NonFinite};
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
        "unknown model `{0}`: expected rf (random forest), dt (decision tree), lr (logistic regression), nb (Gaussian naive Bayes) or kmeans (anomaly baseline)"
    )]
    UnknownAlgorithm(String),
    #[error("parameter `{name}`: {message}")]
    Param { name: String, message: String },
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("{path}: the columns do not match the model's: {detail}")]
    Columns { path: String, detail: String },
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
    Bayes { nb: linear::Bayes },
    Baseline { baseline: linear::Baseline },
}

impl Detector for Fitted {
    fn classes(&self) -> usize {
        match self {
            Fitted::Tree { tree } => tree.classes as usize,
            Fitted::Forest { trees } => trees.first().map_or(0, |t| t.classes as usize),
            Fitted::Logistic { lr } => lr.classes.iter().max().map_or(0, |m| *m as usize + 1),
            Fitted::Bayes { nb } => nb.classes.iter().max().map_or(0, |m| *m as usize + 1),
            Fitted::Baseline { .. } => 2,
        }
    }

    fn predict_proba(&self, row: &[f64], out: &mut [f64]) {
        self.predict_proba_with(row, &mut Vec::with_capacity(row.len()), out);
    }
}

impl Fitted {
    /// [`Detector::predict_proba`] with a reusable scratch row.
    fn predict_proba_with(&self, row: &[f64], scratch: &mut Vec<f64>, out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        match self {
            Fitted::Tree { tree } => tree.add_proba(row, 1.0, out),
            Fitted::Forest { trees } => {
                let w = 1.0 / trees.len().max(1) as f64;
                for t in trees {
                    t.add_proba(row, w, out);
                }
            }
            Fitted::Logistic { lr } => lr.proba(row, scratch, out),
            Fitted::Bayes { nb } => nb.proba(row, scratch, out),
            Fitted::Baseline { baseline } => baseline.proba(row, scratch, out),
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
    /// `train --cv k`: scores of k models trained on k-1 folds each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CrossValidation>,
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
        m.check().map_err(err)?;
        Ok(m)
    }

    /// Why this model cannot score rows, if it cannot: its parts disagree
    /// on the number of features or classes (a hand-edited or truncated
    /// file), so that scoring never indexes out of range.
    fn check(&self) -> Result<(), String> {
        let d = self.features.len();
        let k = self.classes.len();
        if d == 0 || k == 0 {
            return Err("the model has no features or no classes".into());
        }
        if self.benign.is_some_and(|b| b as usize >= k) {
            return Err("`benign` is not one of the classes".into());
        }
        let trees = match &self.model {
            Fitted::Tree { tree } => std::slice::from_ref(tree),
            Fitted::Forest { trees } if trees.is_empty() => {
                return Err("the forest has no trees".into());
            }
            Fitted::Forest { trees } => trees,
            _ => &[],
        };
        for (i, t) in trees.iter().enumerate() {
            if t.classes as usize != k {
                return Err(format!("tree {i} has {} classes, the model {k}", t.classes));
            }
            t.check(d).map_err(|e| format!("tree {i}: {e}"))?;
        }
        let sized = |what: &str, len: usize, want: usize| {
            if len == want {
                Ok(())
            } else {
                Err(format!("{what}: {len} values, {want} expected"))
            }
        };
        let scaler = |sc: &linear::Scaler| {
            sized("the scaler's mean", sc.mean.len(), d)?;
            sized("the scaler's scale", sc.scale.len(), d)
        };
        match &self.model {
            Fitted::Logistic { lr } => {
                scaler(&lr.scaler)?;
                let c = lr.classes.len();
                sized("the weights", lr.weights.len(), d * c)?;
                sized("the intercepts", lr.intercept.len(), c)?;
            }
            Fitted::Bayes { nb } => {
                scaler(&nb.scaler)?;
                let c = nb.classes.len();
                sized("the priors", nb.log_prior.len(), c)?;
                sized("the means", nb.theta.len(), d * c)?;
                sized("the variances", nb.sigma.len(), d * c)?;
            }
            Fitted::Baseline { baseline } => {
                scaler(&baseline.scaler)?;
                if baseline.centroids.is_empty() || baseline.centroids.len() % d != 0 {
                    return Err(format!(
                        "the centroids hold {} values, not a multiple of {d}",
                        baseline.centroids.len()
                    ));
                }
            }
            Fitted::Tree { .. } | Fitted::Forest { .. } => {}
        }
        if self.model.classes() > k {
            return Err(format!(
                "the fitted model knows {} classes, the class list {k}",
                self.model.classes()
            ));
        }
        Ok(())
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

    /// Refuse a file whose feature columns (`features`, canonical names)
    /// are not the model's: names the missing ones, and the extra ones
    /// unless `allow_extra` (they are then ignored).
    pub fn check_columns(
        &self,
        path: &str,
        features: &[String],
        allow_extra: bool,
    ) -> Result<(), ModelError> {
        let missing: Vec<&str> = self
            .features
            .iter()
            .filter(|f| !features.contains(f))
            .map(String::as_str)
            .collect();
        let extra: Vec<&str> = features
            .iter()
            .filter(|f| !self.features.contains(f))
            .map(String::as_str)
            .collect();
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing {}", missing.join(", ")));
        }
        if !extra.is_empty() && (!allow_extra || !missing.is_empty()) {
            parts.push(format!("extra {}", extra.join(", ")));
        }
        if parts.is_empty() {
            return Ok(());
        }
        let fix = if missing.is_empty() {
            "pass --ignore-extra-columns to score on the model's columns only"
        } else {
            "extract flows with the profile the model was trained on"
        };
        Err(ModelError::Columns {
            path: path.to_string(),
            detail: format!("{} ({fix})", parts.join("; ")),
        })
    }

    /// Predict every row of `t` (whose columns must include the model's):
    /// (class id, confidence, attack score) per row, blocks of rows in
    /// parallel.
    pub fn predict(&self, t: &FeatureTable) -> Result<Vec<(u32, f64, f64)>, ModelError> {
        let selected;
        let t = if t.features == self.features {
            t
        } else {
            selected = t
                .select(&self.features)
                .map_err(|missing| ModelError::Columns {
                    path: t.report.path.clone(),
                    detail: format!(
                        "missing {} (extract flows with the profile the model was trained on)",
                        missing.join(", ")
                    ),
                })?;
            &selected
        };
        let d = self.features.len();
        if d == 0 {
            return Err(ModelError::Data("the model has no features".into()));
        }
        let scorer = self.model.scorer();
        Ok(t.x
            .par_chunks(PREDICT_BLOCK * d.max(1))
            .flat_map_iter(|block| scorer.predict_block(self.classes.len(), self.benign, block, d))
            .collect())
    }
}

/// A fitted model made ready to score blocks of rows: trees are
/// flattened ([`cart::Flat`]) once, other models are used as they are.
enum Scorer<'a> {
    Trees(cart::Flat),
    Rows(&'a Fitted),
}

impl Fitted {
    fn scorer(&self) -> Scorer<'_> {
        match self {
            Fitted::Tree { tree } => {
                Scorer::Trees(cart::Flat::new(std::slice::from_ref(tree), 1.0))
            }
            Fitted::Forest { trees } => {
                Scorer::Trees(cart::Flat::new(trees, 1.0 / trees.len().max(1) as f64))
            }
            model => Scorer::Rows(model),
        }
    }
}

impl Scorer<'_> {
    /// (class id, confidence, attack score) of each row of a row-major
    /// block `d` wide, for `k` classes with `benign` the benign class.
    fn predict_block(
        &self,
        k: usize,
        benign: Option<u32>,
        block: &[f64],
        d: usize,
    ) -> Vec<(u32, f64, f64)> {
        let rows = block.len() / d.max(1);
        let mut p = vec![0.0; rows * k];
        match self {
            // Tree by tree over the block: each tree's nodes stay in cache
            // while every row of the block walks it.
            Scorer::Trees(flat) => flat.add_proba_block(block, d, &mut p),
            Scorer::Rows(model) => {
                let mut scratch = Vec::with_capacity(d);
                for (row, out) in block.chunks_exact(d).zip(p.chunks_exact_mut(k)) {
                    model.predict_proba_with(row, &mut scratch, out);
                }
            }
        }
        p.chunks_exact(k)
            .map(|p| {
                let best = argmax(p);
                let attack = match benign {
                    Some(b) => 1.0 - p[b as usize],
                    None => 1.0,
                };
                (best as u32, p[best], attack)
            })
            .collect()
    }
}

/// Rows scored together (by one thread, tree by tree for a forest).
const PREDICT_BLOCK: usize = 64;

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
    pub balance: Balance,
    /// Told of each fit done: a tree of a forest, or a whole model.
    pub progress: Progress,
}

/// A callback told how many fits finished (from any thread); the default
/// does nothing. Options that differ only by it are equal.
#[derive(Clone, Default)]
pub struct Progress(Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>);

impl Progress {
    pub fn new(f: impl Fn(u64) + Send + Sync + 'static) -> Progress {
        Progress(Some(std::sync::Arc::new(f)))
    }

    fn tick(&self, n: u64) {
        if let Some(f) = &self.0 {
            f(n);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(on)"
        } else {
            "Progress(off)"
        })
    }
}

impl PartialEq for Progress {
    fn eq(&self, _: &Progress) -> bool {
        true
    }
}

/// The held-out fraction to train `algorithm` with: `given`, or none when
/// cross-validation already scores it (but the anomaly baseline always
/// keeps its benign share to set the threshold on).
pub fn validation_fraction(algorithm: &str, cross_validated: bool, given: f64) -> f64 {
    if cross_validated && !is_anomaly(algorithm) {
        0.0
    } else {
        given
    }
}

/// How class imbalance is handled in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Every training row counts once.
    #[default]
    None,
    /// Classes with more training rows than the median class are cut, at
    /// random (seeded), to the median class's count. Any supervised model.
    Undersample,
    /// Each class weighted inversely to its frequency (trees only).
    Weights,
}

impl Balance {
    pub const ALL: [Balance; 3] = [Balance::None, Balance::Undersample, Balance::Weights];

    pub fn name(self) -> &'static str {
        match self {
            Balance::None => "none",
            Balance::Undersample => "undersample",
            Balance::Weights => "weights",
        }
    }
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

/// A labelled table's classes, as training sees them.
struct Prepared {
    classes: Vec<String>,
    benign: Option<u32>,
    /// Class id of each row.
    y: Vec<u32>,
    counts: BTreeMap<String, u64>,
}

fn prepare(t: &FeatureTable) -> Result<Prepared, ModelError> {
    if t.rows() == 0 {
        return Err(ModelError::Data(format!(
            "{}: no rows to train on",
            t.report.path
        )));
    }
    if t.features.is_empty() {
        return Err(ModelError::Data(format!(
            "{}: no feature columns to train on",
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
    Ok(Prepared {
        classes,
        benign,
        y,
        counts,
    })
}

/// True for the unsupervised anomaly baseline.
fn is_anomaly(algorithm: &str) -> bool {
    algorithm == "kmeans"
}

/// The balancing `o` asks for is one its algorithm allows.
fn check_balance(o: &TrainOptions) -> Result<(), ModelError> {
    let bad = match (o.balance, o.algorithm.as_str()) {
        (Balance::None, _) => None,
        (Balance::Weights, "rf" | "dt") => None,
        (Balance::Undersample, "rf" | "dt" | "lr" | "nb") => None,
        (Balance::Weights, "lr" | "nb") => Some("class weights are for rf and dt; use undersample"),
        (_, "kmeans") => Some("the anomaly baseline learns benign rows only: nothing to balance"),
        _ => None,
    };
    match bad {
        Some(m) => Err(ModelError::Param {
            name: "balance".into(),
            message: format!("`{}` with `{}`: {m}", o.balance.name(), o.algorithm),
        }),
        None => Ok(()),
    }
}

/// Cut every class above the median class count down to it, at random.
fn undersample(y: &[u32], classes: usize, rows: &[u32], seed: u64) -> Vec<u32> {
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); classes];
    for &r in rows {
        by_class[y[r as usize] as usize].push(r);
    }
    let mut sizes: Vec<usize> = by_class.iter().map(Vec::len).filter(|&n| n > 0).collect();
    sizes.sort_unstable();
    let cap = sizes.get(sizes.len() / 2).copied().unwrap_or(0).max(1);
    let mut out = Vec::with_capacity(rows.len());
    for (c, mut rs) in by_class.into_iter().enumerate() {
        if rs.len() > cap {
            let mut rng = Rng::stream(seed, &format!("undersample/{c}"));
            for i in 0..cap {
                let j = i + rng.below((rs.len() - i) as u64) as usize;
                rs.swap(i, j);
            }
            rs.truncate(cap);
        }
        out.extend(rs);
    }
    out.sort_unstable();
    out
}

/// Fit `o`'s algorithm on `train_rows` (`calibrate`: held-out rows the
/// anomaly baseline sets its threshold on).
fn fit_rows(
    t: &FeatureTable,
    o: &TrainOptions,
    p: &Prepared,
    train_rows: &[u32],
    calibrate: &[u32],
) -> Result<Fit, ModelError> {
    check_balance(o)?;
    let sampled;
    let train_rows = if o.balance == Balance::Undersample {
        sampled = undersample(&p.y, p.classes.len(), train_rows, o.seed);
        &sampled[..]
    } else {
        train_rows
    };
    let mut fit = match o.algorithm.as_str() {
        "rf" | "dt" => {
            let (m, params) = fit_trees(t, o, &p.y, &p.classes, train_rows)?;
            (m, params, p.classes.clone(), p.benign, false)
        }
        "lr" | "kmeans" | "nb" => {
            let fit = fit_linear(
                t,
                o,
                &p.y,
                p.classes.clone(),
                p.benign,
                train_rows,
                calibrate,
            )?;
            o.progress.tick(1);
            fit
        }
        other => return Err(ModelError::UnknownAlgorithm(other.into())),
    };
    fit.1.insert("balance".into(), o.balance.name().into());
    Ok(fit)
}

/// Class ids as the fitted model sees them: an anomaly model knows benign
/// (0) and anything else (1).
fn model_y(p: &Prepared, labels: &[String], anomaly: bool) -> Vec<u32> {
    if anomaly {
        let b = benign_of(labels, &p.y);
        p.y.iter().map(|&c| u32::from(Some(c) != b)).collect()
    } else {
        p.y.clone()
    }
}

/// Evaluate a fitted model on `rows` of the training table.
fn evaluate_rows(
    model: &Fitted,
    t: &FeatureTable,
    y: &[u32],
    rows: &[u32],
    classes: &[String],
    benign: Option<u32>,
) -> metrics::Evaluation {
    let d = t.features.len();
    let scorer = model.scorer();
    let out: Vec<(u32, f64, f64)> = rows
        .par_chunks(PREDICT_BLOCK)
        .flat_map_iter(|chunk| {
            let mut block = Vec::with_capacity(chunk.len() * d);
            for &r in chunk {
                block.extend_from_slice(t.row(r as usize));
            }
            scorer.predict_block(classes.len(), benign, &block, d)
        })
        .collect();
    let truth: Vec<u32> = rows.iter().map(|&r| y[r as usize]).collect();
    let pred: Vec<u32> = out.iter().map(|o| o.0).collect();
    let score: Vec<f64> = out.iter().map(|o| o.2).collect();
    metrics::evaluate(classes, &truth, &pred, &score, benign)
}

/// How [`score_file`] reads its input.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreOptions {
    pub nonfinite: NonFinite,
    /// Rows read and scored at a time.
    pub batch_rows: usize,
    /// Score a file with more feature columns than the model's.
    pub ignore_extra_columns: bool,
}

/// Score the flow file `input` into `output` batch by batch (see
/// [`crate::dataset::batch`]): every input row, with `predicted`,
/// `confidence` and `score`. `progress` is told the rows of each batch
/// written. Gives what reading did.
pub fn score_file(
    model: &ModelFile,
    input: &Path,
    output: &Path,
    o: &ScoreOptions,
    mut progress: impl FnMut(u64),
) -> Result<crate::dataset::table::LoadReport, ModelError> {
    use crate::dataset::batch::{self, Batches, Scored, ScoredWriter};
    let name = input.display().to_string();
    let batches = Batches::open(input, o.nonfinite, o.batch_rows.max(1))?;
    batch::check_input_header(&name, batches.header())?;
    model.check_columns(&name, &batches.features()?, o.ignore_extra_columns)?;
    let mut out = ScoredWriter::create(output, batches.header())?;
    let report = batches.for_each(|b| -> Result<(), ModelError> {
        let pred = model.predict(&b.table)?;
        let mut it = pred.iter();
        let scored: Vec<Option<Scored<'_>>> = b
            .kept
            .iter()
            .map(|&kept| {
                kept.then(|| it.next())
                    .flatten()
                    .map(|&(c, confidence, score)| Scored {
                        predicted: &model.classes[c as usize],
                        confidence,
                        score,
                    })
            })
            .collect();
        out.write(&b, &scored)?;
        progress(b.len() as u64);
        Ok(())
    });
    match report {
        Ok(report) => {
            out.finish()?;
            Ok(report)
        }
        Err(e) => {
            // Nothing half-written is left behind.
            out.discard();
            Err(e)
        }
    }
}

/// Train a model on a labelled table.
pub fn train(t: &FeatureTable, o: &TrainOptions) -> Result<ModelFile, ModelError> {
    let p = prepare(t)?;
    let (train_rows, val_rows) = stratified_split(&p.y, p.classes.len(), o.validation, o.seed);
    let (model, params, classes, benign, anomaly) = fit_rows(t, o, &p, &train_rows, &val_rows)?;
    let y = model_y(&p, &t.labels, anomaly);
    let validation =
        (!val_rows.is_empty()).then(|| evaluate_rows(&model, t, &y, &val_rows, &classes, benign));
    Ok(ModelFile {
        schema_version: 1,
        algorithm: o.algorithm.clone(),
        params,
        features: t.features.clone(),
        classes,
        benign,
        anomaly,
        training: TrainingInfo {
            fingerprint: fingerprint(t),
            rows: t.rows() as u64,
            per_class: p.counts,
            seed: o.seed,
            source: t.report.path.clone(),
            nonfinite: t.report.policy.map_or("zero".into(), |p| p.name().into()),
            validation_fraction: o.validation,
        },
        validation,
        cross_validation: None,
        model,
    })
}

/// Stratified folds: the fold of each row (0..k), every class spread as
/// evenly as its count allows, shuffled with `seed`.
pub fn stratified_folds(y: &[u32], classes: usize, k: u32, seed: u64) -> Vec<u32> {
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); classes];
    for (i, &c) in y.iter().enumerate() {
        by_class[c as usize].push(i as u32);
    }
    let mut fold = vec![0u32; y.len()];
    // Classes continue where the previous one stopped, so that small
    // classes do not all land in fold 0.
    let mut next = 0u32;
    for (c, mut rows) in by_class.into_iter().enumerate() {
        let mut rng = Rng::stream(seed, &format!("cv/{c}"));
        for i in (1..rows.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            rows.swap(i, j);
        }
        for r in rows {
            fold[r as usize] = next;
            next = (next + 1) % k;
        }
    }
    fold
}

/// Scores of one cross-validation fold (or their mean or deviation).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FoldScore {
    pub rows: u64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    /// Attack vs benign, when the data has both.
    pub roc_auc: Option<f64>,
    pub pr_auc: Option<f64>,
}

impl FoldScore {
    fn of(e: &metrics::Evaluation) -> FoldScore {
        FoldScore {
            rows: e.rows,
            accuracy: e.accuracy,
            macro_f1: e.macro_avg.f1,
            weighted_f1: e.weighted_avg.f1,
            roc_auc: e.attack_vs_benign.as_ref().map(|b| b.roc_auc),
            pr_auc: e.attack_vs_benign.as_ref().map(|b| b.pr_auc),
        }
    }
}

/// `--cv k`: each fold's scores, their mean and standard deviation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    pub folds: u32,
    pub seed: u64,
    pub per_fold: Vec<FoldScore>,
    pub mean: FoldScore,
    pub std: FoldScore,
}

impl CrossValidation {
    /// One line per fold, then mean and standard deviation.
    pub fn summary(&self) -> String {
        let auc = |v: Option<f64>| v.map_or("-".to_string(), |a| format!("{a:.4}"));
        let mut s = format!(
            "{}-fold cross-validation (seed {}):\n  fold   rows  accuracy  macro F1  weighted F1  ROC AUC\n",
            self.folds, self.seed
        );
        let line = |name: &str, f: &FoldScore| {
            format!(
                "  {name:>4} {:>6}  {:.4}    {:.4}    {:.4}       {}\n",
                f.rows,
                f.accuracy,
                f.macro_f1,
                f.weighted_f1,
                auc(f.roc_auc)
            )
        };
        for (i, f) in self.per_fold.iter().enumerate() {
            s += &line(&i.to_string(), f);
        }
        s += &line("mean", &self.mean);
        s += &line("std", &self.std);
        s
    }
}

/// Stratified k-fold cross-validation of `o` on `t`: k models, each trained
/// on k-1 folds and scored on the last (the anomaly baseline sets its
/// threshold on a stratified fifth of its k-1 folds, never on the scored
/// fold). Folds are trained in parallel; the result does not depend on
/// the thread count.
pub fn cross_validate(
    t: &FeatureTable,
    o: &TrainOptions,
    k: u32,
) -> Result<CrossValidation, ModelError> {
    let p = prepare(t)?;
    if k < 2 || k as usize > t.rows() {
        return Err(ModelError::Param {
            name: "cv".into(),
            message: format!("{k} folds: expected 2 to the number of rows ({})", t.rows()),
        });
    }
    let fold = stratified_folds(&p.y, p.classes.len(), k, o.seed);
    let anomaly = is_anomaly(&o.algorithm);
    // Class ids as every fold's model sees them.
    let y = model_y(&p, &t.labels, anomaly);
    let scores: Vec<FoldScore> = (0..k)
        .into_par_iter()
        .map(|f| {
            let (rest, test): (Vec<u32>, Vec<u32>) =
                (0..t.rows() as u32).partition(|&r| fold[r as usize] != f);
            let (train_rows, calibrate) = if anomaly {
                let ry: Vec<u32> = rest.iter().map(|&r| p.y[r as usize]).collect();
                let (a, b) = stratified_split(&ry, p.classes.len(), 0.2, o.seed);
                let pick = |ix: Vec<u32>| ix.into_iter().map(|i| rest[i as usize]).collect();
                (pick(a), pick(b))
            } else {
                (rest, Vec::new())
            };
            let (model, _, classes, benign, _) = fit_rows(t, o, &p, &train_rows, &calibrate)?;
            Ok(FoldScore::of(&evaluate_rows(
                &model, t, &y, &test, &classes, benign,
            )))
        })
        .collect::<Result<_, ModelError>>()?;
    // Mean and (population) standard deviation of one score over the folds.
    let n = f64::from(k);
    let stat = |f: &dyn Fn(&FoldScore) -> f64| {
        let m = scores.iter().map(f).sum::<f64>() / n;
        let sd = (scores.iter().map(|s| (f(s) - m).powi(2)).sum::<f64>() / n).sqrt();
        (m, sd)
    };
    let stat_opt = |f: fn(&FoldScore) -> Option<f64>| {
        if scores.iter().all(|s| f(s).is_some()) {
            let (m, sd) = stat(&|s| f(s).unwrap_or(0.0));
            (Some(m), Some(sd))
        } else {
            (None, None)
        }
    };
    let (accuracy, macro_f1, weighted_f1) = (
        stat(&|s| s.accuracy),
        stat(&|s| s.macro_f1),
        stat(&|s| s.weighted_f1),
    );
    let (roc_auc, pr_auc) = (stat_opt(|s| s.roc_auc), stat_opt(|s| s.pr_auc));
    let mean = FoldScore {
        rows: scores.iter().map(|s| s.rows).sum::<u64>() / u64::from(k),
        accuracy: accuracy.0,
        macro_f1: macro_f1.0,
        weighted_f1: weighted_f1.0,
        roc_auc: roc_auc.0,
        pr_auc: pr_auc.0,
    };
    let std = FoldScore {
        rows: 0,
        accuracy: accuracy.1,
        macro_f1: macro_f1.1,
        weighted_f1: weighted_f1.1,
        roc_auc: roc_auc.1,
        pr_auc: pr_auc.1,
    };
    Ok(CrossValidation {
        folds: k,
        seed: o.seed,
        mean,
        std,
        per_fold: scores,
    })
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

/// Hyperparameters of the linfa models, validated.
#[derive(Debug, Clone, Copy)]
struct LinearParams {
    log1p: bool,
    alpha: f64,
    max_iterations: u64,
    var_smoothing: f64,
    k: usize,
    fpr: f64,
}

fn linear_params(o: &TrainOptions) -> Result<(LinearParams, BTreeMap<String, String>), ModelError> {
    let allowed: &[&str] = match o.algorithm.as_str() {
        "lr" => &["alpha", "max_iterations", "log1p"],
        "nb" => &["var_smoothing", "log1p"],
        _ => &["k", "fpr", "log1p"],
    };
    check_params(o, allowed)?;
    let log1p = param_bool(o, "log1p", true)?;
    let mut used = BTreeMap::from([("log1p".to_string(), log1p.to_string())]);
    let mut p = LinearParams {
        log1p,
        alpha: 1.0,
        max_iterations: 200,
        var_smoothing: 1e-9,
        k: 8,
        fpr: 0.01,
    };
    match o.algorithm.as_str() {
        "lr" => {
            p.alpha = param_f64(o, "alpha", 1.0, 0.0, 1e6)?;
            p.max_iterations = param_f64(o, "max_iterations", 200.0, 1.0, 100_000.0)? as u64;
            used.insert("alpha".into(), p.alpha.to_string());
            used.insert("max_iterations".into(), p.max_iterations.to_string());
        }
        "nb" => {
            p.var_smoothing = param_f64(o, "var_smoothing", 1e-9, 0.0, 1.0)?;
            used.insert("var_smoothing".into(), p.var_smoothing.to_string());
        }
        _ => {
            p.k = param_f64(o, "k", 8.0, 1.0, 1000.0)? as usize;
            p.fpr = param_f64(o, "fpr", 0.01, 0.0001, 0.5)?;
            used.insert("k".into(), p.k.to_string());
            used.insert("fpr".into(), p.fpr.to_string());
        }
    }
    Ok((p, used))
}

/// Check `o` (algorithm, parameters, balancing) without training, for a
/// table of `d` features.
pub fn check_options(o: &TrainOptions, d: usize) -> Result<(), ModelError> {
    check_balance(o)?;
    match o.algorithm.as_str() {
        "rf" | "dt" => hyper(o, d).map(|_| ()),
        "lr" | "nb" | "kmeans" => linear_params(o).map(|_| ()),
        other => Err(ModelError::UnknownAlgorithm(other.into())),
    }
}

/// Logistic regression, naive Bayes or the k-means baseline (linfa).
fn fit_linear(
    t: &FeatureTable,
    o: &TrainOptions,
    y: &[u32],
    classes: Vec<String>,
    benign: Option<u32>,
    train_rows: &[u32],
    val_rows: &[u32],
) -> Result<Fit, ModelError> {
    let (p, used) = linear_params(o)?;
    let d = t.features.len();
    if o.algorithm == "lr" {
        let lr = linear::Logistic::fit(&t.x, d, y, train_rows, p.log1p, p.alpha, p.max_iterations)
            .map_err(ModelError::Data)?;
        return Ok((Fitted::Logistic { lr }, used, classes, benign, false));
    }
    if o.algorithm == "nb" {
        let nb = linear::Bayes::fit(&t.x, d, y, train_rows, p.log1p, p.var_smoothing)
            .map_err(ModelError::Data)?;
        return Ok((Fitted::Bayes { nb }, used, classes, benign, false));
    }
    let Some(b) = benign else {
        return Err(ModelError::Data(format!(
            "{}: the anomaly baseline learns benign traffic, and there is no BENIGN row",
            t.report.path
        )));
    };
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
        p.k,
        p.fpr,
        p.log1p,
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
    let weights: Vec<f64> = if o.balance == Balance::Weights {
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
        let tree = cart::fit(data, train_rows.to_vec(), p, Rng::stream(o.seed, "tree/0"));
        o.progress.tick(1);
        Fitted::Tree { tree }
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
                let tree = cart::fit(data, sample, p, rng);
                o.progress.tick(1);
                tree
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
            balance: Balance::None,
            progress: Progress::default(),
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
    fn progress_hears_of_every_fit() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let t = table(300, 1);
        for (alg, cv, want) in [
            ("rf", None, 7),
            ("rf", Some(3), 28),
            ("dt", None, 1),
            ("nb", Some(2), 3),
        ] {
            let done = std::sync::Arc::new(AtomicU64::new(0));
            let seen = done.clone();
            let mut o = opts(alg);
            o.params.retain(|k, _| k != "n_trees");
            if alg == "rf" {
                o.params.insert("n_trees".into(), "7".into());
            }
            o.progress = Progress::new(move |n| {
                seen.fetch_add(n, Ordering::Relaxed);
            });
            if let Some(k) = cv {
                o.validation = 0.0;
                cross_validate(&t, &o, k).unwrap();
            }
            let quiet = TrainOptions {
                progress: Progress::default(),
                ..o.clone()
            };
            assert_eq!(train(&t, &o).unwrap(), train(&t, &quiet).unwrap());
            assert_eq!(done.load(Ordering::Relaxed), want, "{alg} cv {cv:?}");
        }
    }

    #[test]
    fn a_model_file_whose_parts_disagree_is_refused_on_read() {
        let t = table(400, 1);
        let mut o = opts("rf");
        o.params.insert("n_trees".into(), "3".into());
        let good = serde_json::to_value(train(&t, &o).unwrap()).unwrap();
        let lr = serde_json::to_value(train(&t, &opts("lr")).unwrap()).unwrap();
        let dir = std::env::temp_dir().join(format!("maximus-model-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let edits: [(&serde_json::Value, &str, serde_json::Value, &str); 4] = [
            (
                &good,
                "/model/trees/1/nodes/0/feature",
                99.into(),
                "tree 1: node 0 splits on feature 99",
            ),
            (
                &good,
                "/model/trees/0/nodes/0/right",
                100000.into(),
                "does not exist",
            ),
            (
                &good,
                "/benign",
                7.into(),
                "`benign` is not one of the classes",
            ),
            (
                &lr,
                "/model/lr/intercept",
                serde_json::json!([0.0]),
                "the intercepts: 1 values, 3 expected",
            ),
        ];
        for (i, (base, pointer, value, want)) in edits.into_iter().enumerate() {
            let mut v = base.clone();
            *v.pointer_mut(pointer).unwrap() = value;
            let path = dir.join(format!("{i}.json"));
            std::fs::write(&path, v.to_string()).unwrap();
            let e = ModelFile::read(&path).unwrap_err().to_string();
            assert!(e.contains(want), "{pointer}: {e}");
        }
        let path = dir.join("good.json");
        std::fs::write(&path, good.to_string()).unwrap();
        ModelFile::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
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
        assert!(e.contains("missing b ("), "{e}");
        let e = m
            .check_columns("f.csv", &other.features, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("f.csv: ") && e.contains("missing b; extra renamed"),
            "{e}"
        );
        let mut more = m.features.clone();
        more.push("new".into());
        let e = m
            .check_columns("f.csv", &more, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("extra new (pass --ignore-extra-columns"), "{e}");
        m.check_columns("f.csv", &more, true).unwrap();
        m.check_columns("f.csv", &m.features, false).unwrap();
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

    #[test]
    fn naive_bayes_trains_through_the_common_path() {
        let t = table(1500, 6);
        let nb = train(&t, &opts("nb")).unwrap();
        assert!(matches!(nb.model, Fitted::Bayes { .. }));
        let v = nb.validation.as_ref().unwrap();
        assert!(v.macro_avg.f1 > 0.7, "{}", v.markdown("nb"));
        let again = train(&t, &opts("nb")).unwrap();
        assert_eq!(
            serde_json::to_string(&nb).unwrap(),
            serde_json::to_string(&again).unwrap()
        );
        let mut o = opts("nb");
        o.params.insert("alpha".into(), "1".into());
        assert!(train(&t, &o).unwrap_err().to_string().contains("alpha"));
    }

    #[test]
    fn undersampling_cuts_big_classes_to_the_median_and_weights_are_trees_only() {
        // Class sizes 100, 30, 10: the median is 30.
        let y: Vec<u32> = (0..140u32)
            .map(|i| match i {
                0..100 => 0,
                100..130 => 1,
                _ => 2,
            })
            .collect();
        let rows: Vec<u32> = (0..140).collect();
        let kept = undersample(&y, 3, &rows, 4);
        let count = |c| kept.iter().filter(|&&r| y[r as usize] == c).count();
        assert_eq!((count(0), count(1), count(2)), (30, 30, 10));
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(kept, undersample(&y, 3, &rows, 4));
        assert_ne!(kept, undersample(&y, 3, &rows, 5));

        let t = table(600, 7);
        let mut o = opts("lr");
        o.balance = Balance::Weights;
        let e = train(&t, &o).unwrap_err().to_string();
        assert!(e.contains("balance") && e.contains("undersample"), "{e}");
        o.balance = Balance::Undersample;
        let m = train(&t, &o).unwrap();
        assert_eq!(m.params["balance"], "undersample");
        let mut o = opts("kmeans");
        o.balance = Balance::Undersample;
        assert!(train(&t, &o).unwrap_err().to_string().contains("balance"));
    }

    #[test]
    fn cross_validation_is_stratified_and_the_same_on_any_thread_count() {
        let y: Vec<u32> = (0..103).map(|i| u32::from(i % 10 == 0)).collect();
        let folds = stratified_folds(&y, 2, 5, 3);
        for f in 0..5 {
            let n = folds.iter().filter(|&&x| x == f).count();
            let pos = (0..103).filter(|&i| folds[i] == f && y[i] == 1).count();
            assert!((20..=21).contains(&n), "fold {f}: {n} rows");
            assert!((2..=3).contains(&pos), "fold {f}: {pos} positives");
        }
        let t = table(1000, 8);
        let o = opts("rf");
        let cv = cross_validate(&t, &o, 4).unwrap();
        assert_eq!(cv.per_fold.len(), 4);
        assert_eq!(cv.per_fold.iter().map(|f| f.rows).sum::<u64>(), 1000);
        assert!(cv.mean.macro_f1 > 0.95, "{}", cv.summary());
        assert!(cv.std.macro_f1 < 0.05);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(one.install(|| cross_validate(&t, &o, 4).unwrap()), cv);
        // The baseline's threshold is set inside the training folds.
        let km = cross_validate(&t, &opts("kmeans"), 3).unwrap();
        assert!(km.mean.roc_auc.unwrap() > 0.8, "{}", km.summary());
        assert!(cross_validate(&t, &o, 1).is_err());
    }
}
