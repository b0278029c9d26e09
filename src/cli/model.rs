//! `maximus-sim train`, `score`, `eval`, `sweep`: models on flow features.

use super::{CliError, exit};
use crate::dataset::DatasetError;
use crate::dataset::table::{self, FeatureTable, NonFinite};
use crate::model::{self, Balance, ModelError, ModelFile, TrainOptions};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DATA_HELP: &str = "Flow features, CSV or Parquet (detected by content): `maximus-sim flows --labels` output (any profile), \
or a public CICFlowMeter CSV (CIC-IDS2017 names with leading spaces, CSE-CIC-IDS2018 short \
names). Headers are mapped to one canonical feature set. Identifier columns (Flow ID, \
addresses, ports, Timestamp) and the ground-truth metadata columns are never features: \
they identify the capture, not the behaviour, and leak the answer.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NonFiniteArg {
    Drop,
    Zero,
    Clip,
}

impl From<NonFiniteArg> for NonFinite {
    fn from(a: NonFiniteArg) -> NonFinite {
        match a {
            NonFiniteArg::Drop => NonFinite::Drop,
            NonFiniteArg::Zero => NonFinite::Zero,
            NonFiniteArg::Clip => NonFinite::Clip,
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[arg(long, long_help = DATA_HELP)]
    pub data: PathBuf,
    /// Labels from a `synth` labels.csv instead of the file's Label column:
    /// each flow gets the label of the conversation it was cut from (same
    /// join as `flows --labels`: bidirectional 5-tuple, first packet within
    /// the conversation's span); flows no row matches are left out and
    /// counted. Needs the µs UTC timestamps of the engelen and corrected
    /// profiles.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Algorithm: rf (random forest), dt (decision tree), lr (multinomial
    /// logistic regression, linfa), nb (Gaussian naive Bayes, linfa) or
    /// kmeans (anomaly baseline trained on BENIGN rows only, linfa k-means;
    /// its threshold leaves `fpr` of the held-out benign rows above it).
    #[arg(long, default_value = "rf")]
    pub model: String,
    /// Hyperparameter, repeatable. rf/dt: n_trees (rf, default 100),
    /// max_depth (none), min_samples_split (2), min_samples_leaf (1),
    /// max_features (sqrt for rf, all for dt; or a count). lr: alpha (L2,
    /// 1.0), max_iterations (200), log1p (true). nb: var_smoothing (1e-9),
    /// log1p (true). kmeans: k (8), fpr (0.01), log1p (true). Features are
    /// standardised on the training rows (after a sign-keeping log1p when
    /// log1p=true) for lr, nb and kmeans.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Seed of the split and of every tree; same data + seed = same model
    /// file, whatever the thread count.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stratified held-out fraction for validation metrics (0 = none).
    /// Default 0.2, or 0 with --cv (the model then learns every row), but
    /// kmeans always keeps a benign share to set its threshold on.
    #[arg(long)]
    pub validation: Option<f64>,
    /// Stratified k-fold cross-validation first: k models, each trained on
    /// k-1 folds and scored on the last; the per-fold scores, mean and
    /// standard deviation are printed and kept in the model file.
    #[arg(long, value_name = "K")]
    pub cv: Option<u32>,
    /// Class imbalance: none; undersample (classes above the median class
    /// size cut to it at random, seeded; any supervised model); weights
    /// (each class weighted inversely to its frequency; rf and dt).
    #[arg(long, value_enum, default_value = "none")]
    pub balance: BalanceArg,
    /// Infinity/NaN/empty cells: drop the row, zero them, or clip them to
    /// the column's finite range (NaN -> 0). The count is always reported.
    #[arg(long, value_enum, default_value = "clip")]
    pub nonfinite: NonFiniteArg,
    /// The model file (JSON).
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BalanceArg {
    None,
    Undersample,
    Weights,
}

impl From<BalanceArg> for Balance {
    fn from(b: BalanceArg) -> Balance {
        match b {
            BalanceArg::None => Balance::None,
            BalanceArg::Undersample => Balance::Undersample,
            BalanceArg::Weights => Balance::Weights,
        }
    }
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, long_help = DATA_HELP)]
    pub data: PathBuf,
    /// Labels from a `synth` labels.csv (see `train --labels`).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "clip")]
    pub nonfinite: NonFiniteArg,
    /// Output folder: metrics.json, metrics.md, and SVG plots:
    /// confusion.svg, and roc.svg and pr.svg when the data has BENIGN and
    /// attack rows.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Evaluate on a file with more feature columns than the model's (the
    /// extra ones are ignored) instead of refusing it.
    #[arg(long)]
    pub ignore_extra_columns: bool,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// Flow file to score, CSV or Parquet; read in batches, so it may be
    /// larger than memory.
    #[arg(long_help = DATA_HELP)]
    pub data: PathBuf,
    /// Non-finite cells: clip (the file's own finite range per column,
    /// found by reading it once first), zero, or drop (the row is written
    /// with empty score cells).
    #[arg(long, value_enum, default_value = "clip")]
    pub nonfinite: NonFiniteArg,
    /// Output, Parquet if it ends in .parquet, else CSV: every input
    /// column, then `predicted` (class), `confidence` (its probability)
    /// and `score` (the attack score: 1 - P(BENIGN); for kmeans
    /// d / (d + threshold) of the distance d to the nearest centroid, so
    /// above 0.5 past the threshold).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Score a file with more feature columns than the model's (the
    /// extra ones are ignored) instead of refusing it.
    #[arg(long)]
    pub ignore_extra_columns: bool,
    /// Rows read and scored at a time (memory is about this many rows).
    #[arg(long, default_value_t = 8_192)]
    pub batch_rows: usize,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
            Ok((k.trim().into(), v.trim().into()))
        }
        _ => Err(format!(
            "`{s}`: expected NAME=VALUE, e.g. --param n_trees=100"
        )),
    }
}

impl From<DatasetError> for CliError {
    fn from(e: DatasetError) -> CliError {
        data_err(e)
    }
}

fn data_err(e: DatasetError) -> CliError {
    let code = if e.is_missing_input() {
        exit::NO_INPUT
    } else if matches!(e, DatasetError::Write { .. }) {
        exit::IO_ERR
    } else {
        exit::DATA_ERR
    };
    CliError::new(code, e.to_string())
}

fn model_err(e: ModelError) -> CliError {
    let e = match e {
        ModelError::Dataset(d) => return data_err(d),
        e => e,
    };
    let code = match &e {
        ModelError::Dataset(_) => exit::DATA_ERR,
        ModelError::UnknownAlgorithm(_) | ModelError::Param { .. } => exit::USAGE,
        ModelError::Write { .. } => exit::IO_ERR,
        ModelError::Read { .. } => exit::NO_INPUT,
        ModelError::Data(_) | ModelError::Columns { .. } => exit::DATA_ERR,
    };
    CliError::new(code, e.to_string())
}

fn load(path: &Path, nf: NonFinite) -> Result<FeatureTable, CliError> {
    load_labelled(path, nf, None)
}

/// [`load`], with the labels from `labels` (a synth `labels.csv`) when
/// given instead of the file's own.
fn load_labelled(
    path: &Path,
    nf: NonFinite,
    labels: Option<&Path>,
) -> Result<FeatureTable, CliError> {
    let Some(lp) = labels else {
        let t = table::read(path, nf).map_err(data_err)?;
        report_load(&t.report, nf);
        return Ok(t);
    };
    let (t, j) = table::read_labelled(path, nf, lp).map_err(data_err)?;
    report_load(&t.report, nf);
    eprintln!(
        "{}: {} flows labelled from {}; {} flows no label row matched, left out; {} label rows matched no flow",
        path.display(),
        j.labelled,
        lp.display(),
        j.unlabelled,
        j.rows_unmatched
    );
    if t.labels.is_empty() {
        return Err(CliError::new(
            exit::DATA_ERR,
            format!(
                "{}: no flow matched a row of {}: are they from the same capture?",
                path.display(),
                lp.display()
            ),
        ));
    }
    Ok(t)
}

/// Say what reading did: non-finite cells handled, labels repaired.
fn report_load(r: &table::LoadReport, nf: NonFinite) {
    if r.rows_with_nonfinite > 0 {
        let cols: Vec<String> = r
            .nonfinite_cells
            .iter()
            .map(|(c, n)| format!("{c} ({n})"))
            .collect();
        let what = match nf {
            NonFinite::Drop => "dropped",
            NonFinite::Zero => "zeroed",
            NonFinite::Clip => "clipped",
        };
        eprintln!(
            "{}: {} of {} rows had Infinity/NaN/empty cells, {what}: {}",
            r.path,
            r.rows_with_nonfinite,
            r.rows_read,
            cols.join(", ")
        );
    }
    if r.labels_repaired > 0 {
        eprintln!(
            "{}: {} labels repaired (encoding, spacing, BENIGN case)",
            r.path, r.labels_repaired
        );
    }
}

pub fn train(a: &TrainArgs) -> Result<i32, CliError> {
    let validation = a
        .validation
        .unwrap_or_else(|| model::validation_fraction(&a.model, a.cv.is_some(), 0.2));
    if !(0.0..0.9).contains(&validation) {
        return Err(CliError::new(
            exit::USAGE,
            "--validation must be in [0, 0.9)",
        ));
    }
    let t = load_labelled(&a.data, a.nonfinite.into(), a.labels.as_deref())?;
    let params = a.params.iter().cloned().collect::<BTreeMap<_, _>>();
    // Fits to come: a forest's trees (or one model), per fold and once more.
    let per_fit = match (a.model.as_str(), params.get("n_trees")) {
        ("rf", Some(n)) => n.parse::<u64>().unwrap_or(100),
        ("rf", None) => 100,
        _ => 1,
    };
    let fits = per_fit * (1 + a.cv.unwrap_or(0) as u64);
    let bar = super::util::count_progress(fits, &format!("training {}", a.model), "fits");
    let ticker = bar.clone();
    let opts = TrainOptions {
        algorithm: a.model.clone(),
        params,
        seed: a.seed,
        validation,
        balance: a.balance.into(),
        progress: model::Progress::new(move |n| ticker.inc(n)),
    };
    let started = std::time::Instant::now();
    let cv = match a.cv {
        Some(k) => {
            let cv = model::cross_validate(&t, &opts, k).map_err(model_err)?;
            bar.suspend(|| eprint!("{}", cv.summary()));
            Some(cv)
        }
        None => None,
    };
    let mut m = model::train(&t, &opts).map_err(model_err)?;
    bar.finish_and_clear();
    m.cross_validation = cv;
    m.write(&a.output).map_err(model_err)?;
    eprintln!(
        "trained {} on {} rows x {} features, {} classes in {:.2} s -> {}",
        m.algorithm,
        t.rows(),
        t.features.len(),
        m.classes.len(),
        started.elapsed().as_secs_f64(),
        a.output.display()
    );
    if let Some(v) = &m.validation {
        eprintln!(
            "validation ({} rows): accuracy {:.4}, macro F1 {:.4}, weighted F1 {:.4}",
            v.rows, v.accuracy, v.macro_avg.f1, v.weighted_avg.f1
        );
    }
    Ok(exit::OK)
}

pub fn eval(a: &EvalArgs) -> Result<i32, CliError> {
    let m = ModelFile::read(&a.model).map_err(model_err)?;
    let t = load_labelled(&a.data, a.nonfinite.into(), a.labels.as_deref())?;
    m.check_columns(&t.report.path, &t.features, a.ignore_extra_columns)
        .map_err(model_err)?;
    let e = model::evaluate(&m, &t).map_err(model_err)?;
    let ioe = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| CliError::new(exit::IO_ERR, format!("cannot write {p}: {e}"))
    };
    std::fs::create_dir_all(&a.output).map_err(ioe(&a.output))?;
    let json = a.output.join("metrics.json");
    let md = a.output.join("metrics.md");
    let text = serde_json::to_string_pretty(&e)
        .map_err(|x| CliError::new(exit::INTERNAL, x.to_string()))?;
    std::fs::write(&json, text + "\n").map_err(ioe(&json))?;
    std::fs::write(
        &md,
        e.markdown(&format!("{} on {}", m.algorithm, a.data.display())),
    )
    .map_err(ioe(&md))?;
    let mut plots = vec![("confusion.svg", model::plot::confusion_svg(&e))];
    if let Some(b) = &e.attack_vs_benign {
        plots.push(("roc.svg", model::plot::roc_svg(b)));
        plots.push(("pr.svg", model::plot::pr_svg(b)));
    }
    for (name, svg) in plots {
        let svg = svg.map_err(|x| CliError::new(exit::INTERNAL, x))?;
        let p = a.output.join(name);
        std::fs::write(&p, svg).map_err(ioe(&p))?;
    }
    eprintln!(
        "{} rows: accuracy {:.4}, macro F1 {:.4} -> {}, {}",
        e.rows,
        e.accuracy,
        e.macro_avg.f1,
        json.display(),
        md.display()
    );
    Ok(exit::OK)
}

pub fn score(a: &ScoreArgs) -> Result<i32, CliError> {
    let m = ModelFile::read(&a.model).map_err(model_err)?;
    let nf: NonFinite = a.nonfinite.into();
    let bar = super::util::count_progress(0, "scoring", "rows");
    let o = model::ScoreOptions {
        nonfinite: nf,
        batch_rows: a.batch_rows,
        ignore_extra_columns: a.ignore_extra_columns,
    };
    let report = model::score_file(&m, &a.data, &a.output, &o, |rows| {
        bar.inc_length(rows);
        bar.inc(rows);
    })
    .map_err(model_err)?;
    bar.finish_and_clear();
    report_load(&report, nf);
    if report.rows_dropped > 0 {
        eprintln!(
            "{} rows not scored (non-finite features, --nonfinite drop): their score cells are empty",
            report.rows_dropped
        );
    }
    eprintln!("scored {} rows -> {}", report.rows_read, a.output.display());
    Ok(exit::OK)
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The grid file (TOML): data, test, metric, seed, validation, cv,
    /// balance, nonfinite, and one [[search]] per model with its
    /// [search.params] (a value, a list of values, or for random search a
    /// range { min, max, log, int }). See `maximus-sim sweep --help` and the
    /// README; every problem of the file is listed with line and key.
    #[arg(long)]
    pub grid: PathBuf,
    /// Training data (overrides the grid's `data`).
    #[arg(long, long_help = DATA_HELP)]
    pub data: Option<PathBuf>,
    /// Test data to score every configuration on (overrides the grid's
    /// `test`); without it, the held-out split or the folds are scored.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Output folder: sweep.csv, sweep.md, and best-model.json (the best
    /// configuration's model, trained again; the same bytes as in the sweep).
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn sweep(a: &SweepArgs) -> Result<i32, CliError> {
    use crate::model::sweep as sw;
    let text = std::fs::read_to_string(&a.grid).map_err(|e| {
        CliError::new(
            exit::NO_INPUT,
            format!("cannot read grid {}: {e}", a.grid.display()),
        )
    })?;
    let base = a.grid.parent().unwrap_or(Path::new("."));
    let mut spec = sw::parse(&text, base).map_err(|issues| {
        CliError::new(
            exit::DATA_ERR,
            crate::config::format_issues(&a.grid.display().to_string(), "sweep grid", &issues),
        )
    })?;
    if let Some(d) = &a.data {
        spec.data = Some(d.clone());
    }
    if let Some(t) = &a.test {
        spec.test = Some(t.clone());
    }
    let Some(data) = spec.data.clone() else {
        return Err(CliError::new(
            exit::USAGE,
            format!(
                "{}: no training data: set `data = \"flows.csv\"` in the grid or pass --data",
                a.grid.display()
            ),
        ));
    };
    let train = load(&data, spec.nonfinite)?;
    let test = match &spec.test {
        Some(t) => Some(load(t, spec.nonfinite)?),
        None => None,
    };
    let n = sw::configs(&spec).len();
    let bar = super::util::count_progress(n as u64, "sweep", "configurations");
    let started = std::time::Instant::now();
    let rows = sw::run(&spec, &train, test.as_ref(), &|| bar.inc(1));
    bar.finish_and_clear();
    let ioe = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| CliError::new(exit::IO_ERR, format!("cannot write {p}: {e}"))
    };
    std::fs::create_dir_all(&a.output).map_err(ioe(&a.output))?;
    let csv = a.output.join("sweep.csv");
    let md = a.output.join("sweep.md");
    std::fs::write(&csv, sw::csv(&rows)).map_err(ioe(&csv))?;
    std::fs::write(&md, sw::markdown(&spec, &rows, &data.display().to_string()))
        .map_err(ioe(&md))?;
    let failed: Vec<&sw::SweepRow> = rows.iter().filter(|r| r.error.is_some()).collect();
    eprintln!(
        "{n} configurations in {:.1} s -> {}, {}",
        started.elapsed().as_secs_f64(),
        csv.display(),
        md.display()
    );
    if let Some(best) = rows.first().filter(|r| r.error.is_none()) {
        let m = sw::train_config(&spec, &best.config, &train).map_err(model_err)?;
        let path = a.output.join("best-model.json");
        m.write(&path).map_err(model_err)?;
        eprintln!(
            "best by {}: {} {} ({:.4}) -> {}",
            spec.metric.name(),
            best.config.model,
            best.config.params_text(),
            best.metric_value(spec.metric),
            path.display()
        );
    }
    if !failed.is_empty() {
        let lines: Vec<String> = failed
            .iter()
            .map(|r| {
                format!(
                    "  configuration {} ({} {}): {}",
                    r.config.index,
                    r.config.model,
                    r.config.params_text(),
                    r.error.as_deref().unwrap_or("")
                )
            })
            .collect();
        return Err(CliError::new(
            exit::DATA_ERR,
            format!(
                "{} of {n} configurations failed (listed in {}):\n{}",
                failed.len(),
                csv.display(),
                lines.join("\n")
            ),
        ));
    }
    Ok(exit::OK)
}
