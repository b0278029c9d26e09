//! `sweep`: grid and random search over hyperparameters (and the anomaly
//! baseline's threshold, its `fpr`), every configuration trained and scored
//! in parallel, results sorted by a chosen metric.
//!
//! Takes a grid file (TOML, checked like every config: each problem with
//! line, column and key) and the feature tables; gives one [`SweepRow`] per
//! configuration and the table as CSV and Markdown. Deterministic: the
//! configurations, each model and each score depend only on the file and
//! the data, not on the thread count, and rows tie-break on their index.
//!
//! Grid file:
//!
//! ```toml
//! data = "train.csv"      # flow features (relative to this file); or --data
//! test = "test.csv"       # optional: score on this file, else on a held-out split
//! metric = "macro_f1"     # accuracy | macro_f1 | weighted_f1 | roc_auc | pr_auc | detection_rate
//! seed = 0                # split, folds, trees, random search
//! validation = 0.2        # held-out fraction when there is no test file and no cv
//! cv = 5                  # optional: score by stratified k-fold cross-validation
//! balance = "none"        # none | undersample | weights
//! nonfinite = "clip"      # drop | zero | clip
//!
//! [[search]]
//! model = "rf"
//! [search.params]
//! n_trees = [50, 100]      # a list: every value (grid) or one at random
//! max_depth = ["none", 20]
//! min_samples_leaf = 1     # one value
//!
//! [[search]]
//! model = "kmeans"
//! random = 8               # random search: 8 configurations
//! [search.params]
//! k = { min = 2, max = 32, log = true, int = true }   # a range (random search only)
//! fpr = [0.005, 0.01, 0.02]
//! ```

use super::{Balance, CrossValidation, ModelError, ModelFile, TrainOptions};
use crate::config::{ConfigIssue, Issues, parse_toml};
use crate::dataset::table::{FeatureTable, NonFinite};
use crate::rng::Rng;
use rayon::prelude::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The metric a sweep ranks by (higher is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Accuracy,
    MacroF1,
    WeightedF1,
    RocAuc,
    PrAuc,
    DetectionRate,
}

impl Metric {
    const ALL: [(&'static str, Metric); 6] = [
        ("accuracy", Metric::Accuracy),
        ("macro_f1", Metric::MacroF1),
        ("weighted_f1", Metric::WeightedF1),
        ("roc_auc", Metric::RocAuc),
        ("pr_auc", Metric::PrAuc),
        ("detection_rate", Metric::DetectionRate),
    ];

    pub fn name(self) -> &'static str {
        Metric::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("", |(n, _)| n)
    }
}

/// Where one parameter's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// Every value (grid search) or one of them (random search).
    Choices(Vec<String>),
    /// Uniform (or log-uniform) in [min, max], rounded when `int`.
    Range {
        min: f64,
        max: f64,
        log: bool,
        int: bool,
    },
}

/// One `[[search]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub model: String,
    /// Random search with this many configurations; `None` = the full grid.
    pub random: Option<u32>,
    pub params: BTreeMap<String, Space>,
}

/// A checked grid file.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub data: Option<PathBuf>,
    pub test: Option<PathBuf>,
    pub metric: Metric,
    pub seed: u64,
    pub validation: f64,
    pub cv: Option<u32>,
    pub balance: Balance,
    pub nonfinite: NonFinite,
    pub searches: Vec<Search>,
}

/// One configuration to train.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Position in the generated list (searches in file order).
    pub index: usize,
    pub model: String,
    pub params: BTreeMap<String, String>,
}

impl Config {
    /// `name=value` pairs, `;`-separated, in name order.
    pub fn params_text(&self) -> String {
        let v: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        v.join(";")
    }
}

/// The scores of one configuration (or why it failed).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    pub config: Config,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    pub roc_auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub detection_rate: Option<f64>,
    pub false_positive_rate: Option<f64>,
    pub error: Option<String>,
}

impl SweepRow {
    /// The row's value of `m`; -inf when it failed or lacks it.
    pub fn metric_value(&self, m: Metric) -> f64 {
        let v = match m {
            Metric::Accuracy => Some(self.accuracy),
            Metric::MacroF1 => Some(self.macro_f1),
            Metric::WeightedF1 => Some(self.weighted_f1),
            Metric::RocAuc => self.roc_auc,
            Metric::PrAuc => self.pr_auc,
            Metric::DetectionRate => self.detection_rate,
        };
        match (&self.error, v) {
            (None, Some(v)) if v.is_finite() => v,
            _ => f64::NEG_INFINITY,
        }
    }
}

// ------------------------------------------------------------------ parse

#[derive(Debug, Deserialize)]
struct RawSweep {
    data: Option<Spanned<String>>,
    test: Option<Spanned<String>>,
    metric: Option<Spanned<String>>,
    seed: Option<Spanned<i64>>,
    validation: Option<Spanned<f64>>,
    cv: Option<Spanned<i64>>,
    balance: Option<Spanned<String>>,
    nonfinite: Option<Spanned<String>>,
    #[serde(default)]
    search: Vec<Spanned<RawSearch>>,
}

#[derive(Debug, Deserialize)]
struct RawSearch {
    model: Option<Spanned<String>>,
    random: Option<Spanned<i64>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<RawSpace>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSpace {
    List(Vec<toml::Value>),
    Range(RawRange),
    One(toml::Value),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    min: f64,
    max: f64,
    #[serde(default)]
    log: bool,
    #[serde(default)]
    int: bool,
}

/// A parameter value as `--param` would take it.
fn value_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parse and check a grid file; `base` is the folder paths are relative to.
/// Every parameter value is checked against its model as `train` would.
pub fn parse(text: &str, base: &Path) -> Result<SweepSpec, Vec<ConfigIssue>> {
    let mut issues = Issues::new(text);
    let hint = "unknown key (a grid has data, test, metric, seed, validation, cv, balance, nonfinite and [[search]] tables of model, random and [search.params])";
    let Some(raw) = parse_toml::<RawSweep>(&mut issues, hint) else {
        return Err(issues.into_sorted());
    };
    let path = |s: &Option<Spanned<String>>| s.as_ref().map(|p| base.join(p.get_ref()));
    let mut spec = SweepSpec {
        data: path(&raw.data),
        test: path(&raw.test),
        metric: Metric::MacroF1,
        seed: 0,
        validation: 0.2,
        cv: None,
        balance: Balance::None,
        nonfinite: NonFinite::Clip,
        searches: Vec::new(),
    };
    if let Some(m) = &raw.metric {
        spec.metric = issues
            .choose(m, "metric", "metric", &Metric::ALL)
            .unwrap_or(spec.metric);
    }
    if let Some(s) = &raw.seed {
        match u64::try_from(*s.get_ref()) {
            Ok(v) => spec.seed = v,
            Err(_) => issues.at(s.span(), "seed", "expected a whole number >= 0"),
        }
    }
    if let Some(v) = &raw.validation {
        if (0.0..0.9).contains(v.get_ref()) {
            spec.validation = *v.get_ref();
        } else {
            issues.at(v.span(), "validation", "expected a fraction in [0, 0.9)");
        }
    }
    if let Some(c) = &raw.cv {
        match u32::try_from(*c.get_ref()) {
            Ok(k) if k >= 2 => spec.cv = Some(k),
            _ => issues.at(c.span(), "cv", "expected a number of folds >= 2"),
        }
    }
    if let Some(b) = &raw.balance {
        let all = Balance::ALL.map(|b| (b.name(), b));
        spec.balance = issues
            .choose(b, "balance", "balance", &all)
            .unwrap_or(spec.balance);
    }
    if let Some(n) = &raw.nonfinite {
        let all = NonFinite::ALL.map(|n| (n.name(), n));
        spec.nonfinite = issues
            .choose(n, "nonfinite", "nonfinite policy", &all)
            .unwrap_or(spec.nonfinite);
    }
    if raw.search.is_empty() {
        issues.at(
            0..0,
            "search",
            "no [[search]] table: add one with a model and its [search.params]",
        );
    }
    for (i, s) in raw.search.iter().enumerate() {
        if let Some(search) = parse_search(i, s, &spec, &mut issues) {
            spec.searches.push(search);
        }
    }
    if issues.is_empty() {
        Ok(spec)
    } else {
        Err(issues.into_sorted())
    }
}

/// Features assumed when checking values before the data is read (only
/// `max_features` depends on it; training checks it again).
const CHECK_FEATURES: usize = 1 << 16;

fn parse_search(
    i: usize,
    s: &Spanned<RawSearch>,
    spec: &SweepSpec,
    issues: &mut Issues<'_>,
) -> Option<Search> {
    let key = |k: &str| format!("search[{i}].{k}");
    let raw = s.get_ref();
    let Some(model) = &raw.model else {
        issues.at(
            s.span(),
            format!("search[{i}]"),
            "no `model`: e.g. model = \"rf\"",
        );
        return None;
    };
    let random = match &raw.random {
        None => None,
        Some(r) => match u32::try_from(*r.get_ref()) {
            Ok(n) if (1..=100_000).contains(&n) => Some(n),
            _ => {
                issues.at(r.span(), key("random"), "expected a count in 1..=100000");
                None
            }
        },
    };
    let mut params = BTreeMap::new();
    let mut ok = true;
    for (name, v) in &raw.params {
        let k = key(&format!("params.{name}"));
        let space = match v.get_ref() {
            RawSpace::List(items) => {
                let texts: Option<Vec<String>> = items.iter().map(value_text).collect();
                match texts {
                    Some(t) if !t.is_empty() => Space::Choices(t),
                    _ => {
                        issues.at(
                            v.span(),
                            k,
                            "expected a non-empty list of numbers, strings or booleans",
                        );
                        ok = false;
                        continue;
                    }
                }
            }
            RawSpace::Range(r) => {
                let bad = !(r.min.is_finite() && r.max.is_finite() && r.min <= r.max)
                    || (r.log && r.min <= 0.0);
                if bad {
                    issues.at(
                        v.span(),
                        k,
                        "a range needs finite min <= max (and min > 0 with log = true)",
                    );
                    ok = false;
                    continue;
                }
                if raw.random.is_none() {
                    issues.at(
                        v.span(),
                        k,
                        "a range is for random search: set `random = N` in this [[search]], or give a list",
                    );
                    ok = false;
                    continue;
                }
                Space::Range {
                    min: r.min,
                    max: r.max,
                    log: r.log,
                    int: r.int,
                }
            }
            RawSpace::One(val) => match value_text(val) {
                Some(t) => Space::Choices(vec![t]),
                None => {
                    issues.at(
                        v.span(),
                        k,
                        "expected a value, a list of values, or a range { min, max, log, int }",
                    );
                    ok = false;
                    continue;
                }
            },
        };
        params.insert(name.clone(), space);
    }
    if !ok {
        return None;
    }
    let search = Search {
        model: model.get_ref().clone(),
        random,
        params,
    };
    // Check every value against the model now, before any training, one
    // parameter at a time (so that one bad name hides no bad value): the
    // first problem of each parameter, at that parameter.
    let mut reported = false;
    let mut probes: Vec<(Option<&String>, Vec<String>)> = vec![(None, vec![String::new()])];
    for (name, sp) in &search.params {
        let values = match sp {
            Space::Choices(v) => v.clone(),
            Space::Range { min, max, int, .. } => {
                vec![range_value(*min, *int), range_value(*max, *int)]
            }
        };
        probes.push((Some(name), values));
    }
    for (name, values) in probes {
        for v in values {
            let c = Config {
                index: 0,
                model: search.model.clone(),
                params: name
                    .map(|n| BTreeMap::from([(n.clone(), v.clone())]))
                    .unwrap_or_default(),
            };
            let err = match super::check_options(&options(spec, &c), CHECK_FEATURES) {
                Ok(()) => continue,
                Err(e) => e,
            };
            match (err, name) {
                (ModelError::UnknownAlgorithm(_), _) => {
                    issues.at(
                        model.span(),
                        key("model"),
                        format!(
                            "unknown model `{}`: expected rf, dt, lr, nb or kmeans",
                            model.get_ref()
                        ),
                    );
                    return None;
                }
                (ModelError::Param { name: n, message }, _) if n == "balance" => {
                    issues.at(model.span(), key("model"), message);
                    return None;
                }
                (e, Some(n)) => {
                    let span = raw.params.get(n).map_or(model.span(), |v| v.span());
                    let message = match e {
                        ModelError::Param { message, .. } => message,
                        other => other.to_string(),
                    };
                    issues.at(span, key(&format!("params.{n}")), message);
                    reported = true;
                    break;
                }
                (e, None) => {
                    issues.at(model.span(), key("model"), e.to_string());
                    return None;
                }
            }
        }
    }
    (!reported).then_some(search)
}

// ------------------------------------------------------------------ configs

/// A value drawn from a range, as a parameter takes it.
fn range_value(x: f64, int: bool) -> String {
    if int {
        (x.round() as i64).to_string()
    } else {
        format!("{x:.6e}")
    }
}

/// The configurations of one search, numbered from `first`.
fn configs_of(s: &Search, first: usize, seed: u64, search_index: usize) -> Vec<Config> {
    let names: Vec<&String> = s.params.keys().collect();
    let mk = |n: usize, values: Vec<String>| Config {
        index: first + n,
        model: s.model.clone(),
        params: names.iter().map(|k| (*k).clone()).zip(values).collect(),
    };
    let choices = |sp: &Space| match sp {
        Space::Choices(v) => v.len(),
        Space::Range { .. } => 0,
    };
    let all_choices = s.params.values().all(|sp| choices(sp) > 0);
    // The full product (grid search, or random search that asks for all of it).
    let product = || -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = vec![Vec::new()];
        for sp in s.params.values() {
            let Space::Choices(vals) = sp else {
                continue;
            };
            out = out
                .into_iter()
                .flat_map(|prefix| {
                    vals.iter().map(move |v| {
                        let mut p = prefix.clone();
                        p.push(v.clone());
                        p
                    })
                })
                .collect();
        }
        out
    };
    let mut rng = Rng::stream(seed, &format!("sweep/{search_index}"));
    let rows: Vec<Vec<String>> = match s.random {
        None => product(),
        Some(n) if all_choices => {
            let size: usize = s.params.values().map(choices).product();
            let mut all = product();
            if (n as usize) < size {
                // Distinct configurations, without replacement.
                for i in 0..n as usize {
                    let j = i + rng.below((size - i) as u64) as usize;
                    all.swap(i, j);
                }
                all.truncate(n as usize);
            }
            all
        }
        Some(n) => (0..n)
            .map(|_| {
                s.params
                    .values()
                    .map(|sp| match sp {
                        Space::Choices(v) => v[rng.below(v.len() as u64) as usize].clone(),
                        Space::Range { min, max, log, int } => {
                            let u = rng.unit();
                            let x = if *log {
                                (min.ln() + u * (max.ln() - min.ln())).exp()
                            } else {
                                min + u * (max - min)
                            };
                            range_value(x, *int)
                        }
                    })
                    .collect()
            })
            .collect(),
    };
    rows.into_iter()
        .enumerate()
        .map(|(n, v)| mk(n, v))
        .collect()
}

/// Every configuration of the spec, searches in file order.
pub fn configs(spec: &SweepSpec) -> Vec<Config> {
    let mut out = Vec::new();
    for (i, s) in spec.searches.iter().enumerate() {
        let c = configs_of(s, out.len(), spec.seed, i);
        out.extend(c);
    }
    out
}

fn options(spec: &SweepSpec, c: &Config) -> TrainOptions {
    TrainOptions {
        algorithm: c.model.clone(),
        params: c.params.clone(),
        seed: spec.seed,
        validation: super::validation_fraction(&c.model, spec.cv.is_some(), spec.validation),
        balance: spec.balance,
        progress: super::Progress::default(),
    }
}

// ------------------------------------------------------------------ run

/// Train and score one configuration.
fn run_one(
    spec: &SweepSpec,
    c: &Config,
    train: &FeatureTable,
    test: Option<&FeatureTable>,
) -> SweepRow {
    let mut row = SweepRow {
        config: c.clone(),
        accuracy: 0.0,
        macro_f1: 0.0,
        weighted_f1: 0.0,
        roc_auc: None,
        pr_auc: None,
        detection_rate: None,
        false_positive_rate: None,
        error: None,
    };
    let o = options(spec, c);
    if let Some(k) = spec.cv {
        match super::cross_validate(train, &o, k) {
            Ok(CrossValidation { mean, .. }) => {
                row.accuracy = mean.accuracy;
                row.macro_f1 = mean.macro_f1;
                row.weighted_f1 = mean.weighted_f1;
                row.roc_auc = mean.roc_auc;
                row.pr_auc = mean.pr_auc;
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        return row;
    }
    let m = match super::train(train, &o) {
        Ok(m) => m,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    let e = match test {
        Some(t) => super::evaluate(&m, t),
        None => m.validation.clone().ok_or_else(|| {
            ModelError::Data("no test file and validation = 0: nothing to score on".into())
        }),
    };
    match e {
        Ok(e) => {
            row.accuracy = e.accuracy;
            row.macro_f1 = e.macro_avg.f1;
            row.weighted_f1 = e.weighted_avg.f1;
            if let Some(b) = &e.attack_vs_benign {
                row.roc_auc = Some(b.roc_auc);
                row.pr_auc = Some(b.pr_auc);
                row.detection_rate = Some(b.detection_rate);
                row.false_positive_rate = Some(b.false_positive_rate);
            }
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    row
}

/// Run every configuration (in parallel), calling `done` after each; rows
/// sorted by the spec's metric, best first, ties by configuration index.
pub fn run(
    spec: &SweepSpec,
    train: &FeatureTable,
    test: Option<&FeatureTable>,
    done: &(dyn Fn() + Sync),
) -> Vec<SweepRow> {
    let mut rows: Vec<SweepRow> = configs(spec)
        .par_iter()
        .map(|c| {
            let row = run_one(spec, c, train, test);
            done();
            row
        })
        .collect();
    let m = spec.metric;
    rows.sort_by(|a, b| {
        b.metric_value(m)
            .total_cmp(&a.metric_value(m))
            .then(a.config.index.cmp(&b.config.index))
    });
    rows
}

/// The model of a configuration, trained again on the whole training table
/// (with the spec's validation split): the same bytes as during the sweep.
pub fn train_config(
    spec: &SweepSpec,
    c: &Config,
    train: &FeatureTable,
) -> Result<ModelFile, ModelError> {
    super::train(train, &options(spec, c))
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.6}"))
}

/// The table as CSV: rank, configuration, metrics, error.
pub fn csv(rows: &[SweepRow]) -> String {
    let mut s = String::from(
        "rank,config,model,params,accuracy,macro_f1,weighted_f1,roc_auc,pr_auc,detection_rate,false_positive_rate,error\n",
    );
    for (i, r) in rows.iter().enumerate() {
        let quote = |t: &str| {
            if t.contains([',', '"', '\n']) {
                format!("\"{}\"", t.replace('"', "\"\""))
            } else {
                t.to_string()
            }
        };
        let _ = writeln!(
            s,
            "{},{},{},{},{:.6},{:.6},{:.6},{},{},{},{},{}",
            i + 1,
            r.config.index,
            r.config.model,
            quote(&r.config.params_text()),
            r.accuracy,
            r.macro_f1,
            r.weighted_f1,
            opt(r.roc_auc),
            opt(r.pr_auc),
            opt(r.detection_rate),
            opt(r.false_positive_rate),
            quote(r.error.as_deref().unwrap_or("")),
        );
    }
    s
}

/// The table as Markdown, with the metric it is sorted by.
pub fn markdown(spec: &SweepSpec, rows: &[SweepRow], source: &str) -> String {
    let how = match (spec.cv, &spec.test) {
        (Some(k), _) => format!("mean of {k}-fold stratified cross-validation"),
        (None, Some(t)) => format!("scored on {}", t.display()),
        (None, None) => format!(
            "scored on a stratified {:.0} % validation split",
            100.0 * spec.validation
        ),
    };
    let mut s = format!(
        "# Sweep: {} configurations on {source}\n\nSorted by {} ({how}), seed {}.\n\n\
         | rank | model | params | accuracy | macro F1 | weighted F1 | ROC AUC | PR AUC | detection | false pos. |\n\
         |---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
        rows.len(),
        spec.metric.name(),
        spec.seed
    );
    let f4 = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    for (i, r) in rows.iter().enumerate() {
        if let Some(e) = &r.error {
            let _ = writeln!(
                s,
                "| {} | {} | `{}` | failed: {} | | | | | | |",
                i + 1,
                r.config.model,
                r.config.params_text(),
                e.replace('|', "\\|")
            );
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {} | `{}` | {:.4} | {:.4} | {:.4} | {} | {} | {} | {} |",
            i + 1,
            r.config.model,
            r.config.params_text(),
            r.accuracy,
            r.macro_f1,
            r.weighted_f1,
            f4(r.roc_auc),
            f4(r.pr_auc),
            f4(r.detection_rate),
            f4(r.false_positive_rate)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: &str = r#"
metric = "macro_f1"
seed = 3

[[search]]
model = "rf"
[search.params]
n_trees = [5, 10]
max_depth = ["none", 4]

[[search]]
model = "kmeans"
random = 3
[search.params]
k = { min = 2, max = 16, log = true, int = true }
fpr = [0.01, 0.05]
"#;

    #[test]
    fn a_grid_expands_to_its_product_and_random_search_is_seeded() {
        let spec = parse(GRID, Path::new(".")).unwrap();
        let c = configs(&spec);
        assert_eq!(c.len(), 4 + 3);
        let rf: Vec<String> = c[..4].iter().map(Config::params_text).collect();
        assert_eq!(
            rf,
            [
                "max_depth=none;n_trees=5",
                "max_depth=none;n_trees=10",
                "max_depth=4;n_trees=5",
                "max_depth=4;n_trees=10"
            ]
        );
        for k in &c[4..] {
            let v: i64 = k.params["k"].parse().unwrap();
            assert!((2..=16).contains(&v), "{k:?}");
        }
        assert_eq!(configs(&parse(GRID, Path::new(".")).unwrap()), c);
        let other = parse(&GRID.replace("seed = 3", "seed = 4"), Path::new(".")).unwrap();
        assert_ne!(configs(&other)[4..], c[4..]);
        // Random search over a list samples distinct configurations.
        let g = "[[search]]\nmodel = \"dt\"\nrandom = 3\n[search.params]\nmax_depth = [1, 2, 3, 4, 5]\n";
        let c = configs(&parse(g, Path::new(".")).unwrap());
        let mut d: Vec<String> = c.iter().map(|c| c.params["max_depth"].clone()).collect();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn every_problem_of_a_grid_is_listed_with_line_and_key() {
        let bad = r#"metric = "f2"
cv = 1
colour = "red"

[[search]]
model = "rf"
[search.params]
n_trees = [10, 0]
max_dpth = [3]

[[search]]
model = "svm"

[[search]]
model = "kmeans"
[search.params]
k = { min = 2, max = 8 }
"#;
        let issues = parse(bad, Path::new(".")).unwrap_err();
        let got: Vec<(usize, &str)> = issues.iter().map(|i| (i.line, i.key.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "metric"),
                (2, "cv"),
                (3, "colour"),
                (8, "search[0].params.n_trees"),
                (9, "search[0].params.max_dpth"),
                (12, "search[1].model"),
                (17, "search[2].params.k"),
            ],
            "{issues:#?}"
        );
        assert!(issues[3].message.contains("`0`"), "{}", issues[3]);
        assert!(issues[6].message.contains("random"), "{}", issues[6]);
    }
}
