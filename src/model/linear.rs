//! linfa models: multinomial logistic regression (linfa-logistic), Gaussian
//! naive Bayes (linfa-bayes) and the k-means behavioural baseline
//! (linfa-clustering), with the preprocessing they need.
//!
//! Takes the training matrix and class ids; gives plain parameter structs
//! (no linfa or ndarray type leaves this file): standardisation means and
//! scales (fitted on the training rows only), optional sign-preserving
//! `log1p` for heavy-tailed counts, logistic weights and intercepts, k-means
//! centroids and the anomaly threshold. Scoring is plain arithmetic on those
//! parameters, so a model file gives the same scores on any machine.

use crate::rng::Rng;
use linfa::prelude::*;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// Feature scaling fitted on training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub log1p: bool,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

fn slog1p(v: f64) -> f64 {
    v.signum() * v.abs().ln_1p()
}

impl Scaler {
    /// Fit on `rows` of the row-major matrix `x` (width `d`).
    pub fn fit(x: &[f64], d: usize, rows: &[u32], log1p: bool) -> Scaler {
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; d];
        let mut m2 = vec![0.0; d];
        for (k, &r) in rows.iter().enumerate() {
            let row = &x[r as usize * d..(r as usize + 1) * d];
            for j in 0..d {
                let v = if log1p { slog1p(row[j]) } else { row[j] };
                let delta = v - mean[j];
                mean[j] += delta / (k + 1) as f64;
                m2[j] += delta * (v - mean[j]);
            }
        }
        let scale = m2
            .iter()
            .map(|s| (s / n).sqrt())
            .map(|s| if s > 1e-12 { s } else { 1.0 })
            .collect();
        Scaler { log1p, mean, scale }
    }

    pub fn apply(&self, row: &[f64], out: &mut Vec<f64>) {
        out.clear();
        for (j, &v) in row.iter().enumerate() {
            let v = if self.log1p { slog1p(v) } else { v };
            out.push((v - self.mean[j]) / self.scale[j]);
        }
    }

    fn matrix(&self, x: &[f64], d: usize, rows: &[u32]) -> Array2<f64> {
        let mut buf = Vec::with_capacity(d);
        let mut m = Array2::zeros((rows.len(), d));
        for (i, &r) in rows.iter().enumerate() {
            self.apply(&x[r as usize * d..(r as usize + 1) * d], &mut buf);
            for (j, v) in buf.iter().enumerate() {
                m[[i, j]] = *v;
            }
        }
        m
    }
}

/// Probabilities from per-class scores `z` (log-sum-exp), written at our
/// class id of each score; every other class gets 0.
fn softmax_into(z: &[f64], classes: &[u32], out: &mut [f64]) {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = z.iter().map(|v| (v - m).exp()).sum();
    out.iter_mut().for_each(|o| *o = 0.0);
    for (k, v) in z.iter().enumerate() {
        out[classes[k] as usize] = (v - m).exp() / sum;
    }
}

/// A fitted multinomial logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub scaler: Scaler,
    /// Our class id of each output column.
    pub classes: Vec<u32>,
    /// `d x columns`, row-major.
    pub weights: Vec<f64>,
    pub intercept: Vec<f64>,
}

impl Logistic {
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        x: &[f64],
        d: usize,
        y: &[u32],
        rows: &[u32],
        log1p: bool,
        alpha: f64,
        max_iter: u64,
    ) -> Result<Logistic, String> {
        let scaler = Scaler::fit(x, d, rows, log1p);
        let xs = scaler.matrix(x, d, rows);
        let ys: Array1<u32> = rows.iter().map(|&r| y[r as usize]).collect();
        let ds = Dataset::new(xs, ys);
        let m = linfa_logistic::MultiLogisticRegression::default()
            .alpha(alpha)
            .max_iterations(max_iter)
            .fit(&ds)
            .map_err(|e| format!("logistic regression did not fit: {e}"))?;
        let p = m.params();
        Ok(Logistic {
            scaler,
            classes: m.classes().to_vec(),
            weights: p.iter().copied().collect(),
            intercept: m.intercept().to_vec(),
        })
    }

    /// Class probabilities (indexed by our class ids) into `out`.
    pub fn proba(&self, row: &[f64], scratch: &mut Vec<f64>, out: &mut [f64]) {
        self.scaler.apply(row, scratch);
        let c = self.classes.len();
        let mut z = vec![0.0; c];
        for (k, zk) in z.iter_mut().enumerate() {
            let mut s = self.intercept[k];
            for (j, v) in scratch.iter().enumerate() {
                s += v * self.weights[j * c + k];
            }
            *zk = s;
        }
        softmax_into(&z, &self.classes, out);
    }
}

/// The behavioural baseline: k-means on benign rows; a row's anomaly is its
/// distance to the nearest centroid over the threshold that leaves
/// `target_fpr` of held-out benign rows above it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub scaler: Scaler,
    /// `k x d`, row-major.
    pub centroids: Vec<f64>,
    pub threshold: f64,
    pub target_fpr: f64,
}

impl Baseline {
    /// Fit on the benign `train` rows; choose the threshold on the benign
    /// `calibrate` rows.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        x: &[f64],
        d: usize,
        train: &[u32],
        calibrate: &[u32],
        k: usize,
        target_fpr: f64,
        log1p: bool,
        seed: u64,
    ) -> Result<Baseline, String> {
        if train.len() < k.max(2) {
            return Err(format!(
                "the baseline needs at least {} benign rows to train on, got {}",
                k.max(2),
                train.len()
            ));
        }
        let scaler = Scaler::fit(x, d, train, log1p);
        let xs = scaler.matrix(x, d, train);
        let ds = DatasetBase::from(xs);
        let rng = rand_chacha::ChaCha8Rng::from_seed_u64(seed);
        let m = linfa_clustering::KMeans::params_with_rng(k, rng)
            .n_runs(3)
            .max_n_iterations(200)
            .tolerance(1e-5)
            .fit(&ds)
            .map_err(|e| format!("k-means did not fit: {e}"))?;
        let mut b = Baseline {
            scaler,
            centroids: m.centroids().iter().copied().collect(),
            threshold: 1.0,
            target_fpr,
        };
        let cal = if calibrate.is_empty() {
            train
        } else {
            calibrate
        };
        let mut scratch = Vec::new();
        let mut dist: Vec<f64> = cal
            .iter()
            .map(|&r| b.distance(&x[r as usize * d..(r as usize + 1) * d], &mut scratch))
            .collect();
        dist.sort_by(f64::total_cmp);
        let q = ((1.0 - target_fpr) * dist.len() as f64).ceil() as usize;
        b.threshold = dist[q.clamp(1, dist.len()) - 1].max(1e-12);
        Ok(b)
    }

    /// Distance (in scaled units) to the nearest centroid.
    pub fn distance(&self, row: &[f64], scratch: &mut Vec<f64>) -> f64 {
        self.scaler.apply(row, scratch);
        let d = scratch.len();
        self.centroids
            .chunks(d.max(1))
            .map(|c| {
                c.iter()
                    .zip(scratch.iter())
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min)
            .sqrt()
    }

    /// (P(benign), P(anomaly)): anomaly = a / (1 + a), a = distance / threshold.
    pub fn proba(&self, row: &[f64], scratch: &mut Vec<f64>, out: &mut [f64]) {
        let a = self.distance(row, scratch) / self.threshold;
        let p = a / (1.0 + a);
        out[0] = 1.0 - p;
        out[1] = p;
    }
}

/// A fitted Gaussian naive Bayes (linfa-bayes): per class a prior and a
/// mean and variance per (scaled) feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bayes {
    pub scaler: Scaler,
    /// Our class id of each fitted class, ascending.
    pub classes: Vec<u32>,
    pub log_prior: Vec<f64>,
    /// `classes x d`, row-major.
    pub theta: Vec<f64>,
    /// Variances (smoothed), `classes x d`.
    pub sigma: Vec<f64>,
}

/// linfa-bayes' model as serde sees it (its fields are private): the
/// parameters are read back from its serialised form, class by class.
#[derive(Deserialize)]
struct LinfaNb {
    class_info: std::collections::BTreeMap<usize, LinfaNbClass>,
}

#[derive(Deserialize)]
struct LinfaNbClass {
    prior: f64,
    theta: LinfaArray,
    sigma: LinfaArray,
}

#[derive(Deserialize)]
struct LinfaArray {
    data: Vec<f64>,
}

impl Bayes {
    pub fn fit(
        x: &[f64],
        d: usize,
        y: &[u32],
        rows: &[u32],
        log1p: bool,
        var_smoothing: f64,
    ) -> Result<Bayes, String> {
        let scaler = Scaler::fit(x, d, rows, log1p);
        let xs = scaler.matrix(x, d, rows);
        let ys: Array1<usize> = rows.iter().map(|&r| y[r as usize] as usize).collect();
        let ds = Dataset::new(xs, ys);
        let m = linfa_bayes::GaussianNb::params()
            .var_smoothing(var_smoothing)
            .fit(&ds)
            .map_err(|e| format!("naive Bayes did not fit: {e}"))?;
        let value = serde_json::to_value(&m).map_err(|e| e.to_string())?;
        let nb: LinfaNb = serde_json::from_value(value)
            .map_err(|e| format!("linfa-bayes model not understood: {e}"))?;
        let mut b = Bayes {
            scaler,
            classes: Vec::new(),
            log_prior: Vec::new(),
            theta: Vec::new(),
            sigma: Vec::new(),
        };
        for (c, info) in nb.class_info {
            if info.theta.data.len() != d || info.sigma.data.len() != d {
                return Err("linfa-bayes gave parameters of the wrong width".into());
            }
            b.classes.push(c as u32);
            b.log_prior.push(info.prior.ln());
            b.theta.extend(info.theta.data);
            b.sigma.extend(info.sigma.data);
        }
        Ok(b)
    }

    /// Class probabilities (indexed by our class ids) into `out`: the
    /// joint log-likelihood of each class, normalised (log-sum-exp).
    pub fn proba(&self, row: &[f64], scratch: &mut Vec<f64>, out: &mut [f64]) {
        self.scaler.apply(row, scratch);
        let d = scratch.len();
        let mut z = Vec::with_capacity(self.classes.len());
        for k in 0..self.classes.len() {
            let th = &self.theta[k * d..(k + 1) * d];
            let sg = &self.sigma[k * d..(k + 1) * d];
            let mut s = self.log_prior[k];
            for j in 0..d {
                let diff = scratch[j] - th[j];
                s -= 0.5 * ((2.0 * std::f64::consts::PI * sg[j]).ln() + diff * diff / sg[j]);
            }
            z.push(s);
        }
        softmax_into(&z, &self.classes, out);
    }
}

/// ChaCha8 seeded from a u64 for linfa's rand-0.8 APIs.
trait FromSeedU64 {
    fn from_seed_u64(seed: u64) -> Self;
}

impl FromSeedU64 for rand_chacha::ChaCha8Rng {
    fn from_seed_u64(seed: u64) -> Self {
        use rand_chacha::rand_core::SeedableRng;
        let mut r = Rng::stream(seed, "kmeans");
        rand_chacha::ChaCha8Rng::seed_from_u64(r.u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaler_centres_and_scales() {
        let x = [1.0, 10.0, 3.0, 10.0, 5.0, 10.0];
        let s = Scaler::fit(&x, 2, &[0, 1, 2], false);
        assert!((s.mean[0] - 3.0).abs() < 1e-12);
        assert!((s.scale[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.scale[1], 1.0, "constant columns are not divided by zero");
        let mut out = Vec::new();
        s.apply(&[3.0, 10.0], &mut out);
        assert_eq!(out, vec![0.0, 0.0]);
    }

    #[test]
    fn baseline_flags_far_rows_at_the_target_rate() {
        let mut r = Rng::stream(1, "b");
        let mut x = Vec::new();
        for _ in 0..2000 {
            x.extend([r.normal(), r.normal()]);
        }
        let train: Vec<u32> = (0..1000).collect();
        let cal: Vec<u32> = (1000..2000).collect();
        let b = Baseline::fit(&x, 2, &train, &cal, 4, 0.05, false, 3).unwrap();
        let mut s = Vec::new();
        let mut p = [0.0; 2];
        let flagged = cal
            .iter()
            .filter(|&&i| {
                b.proba(&x[i as usize * 2..i as usize * 2 + 2], &mut s, &mut p);
                p[1] > 0.5
            })
            .count();
        assert!(
            flagged <= 50,
            "{flagged} of 1000 benign rows over the 5 % threshold"
        );
        b.proba(&[8.0, 8.0], &mut s, &mut p);
        assert!(p[1] > 0.5);
        let again = Baseline::fit(&x, 2, &train, &cal, 4, 0.05, false, 3).unwrap();
        assert_eq!(b, again);
    }

    #[test]
    fn naive_bayes_gives_linfa_bayes_probabilities() {
        use linfa_bayes::NaiveBayes;
        let mut r = Rng::stream(2, "nb");
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..600u32 {
            let c = i % 3;
            x.extend([
                f64::from(c) * 2.0 + r.normal(),
                r.normal() * f64::from(c + 1),
            ]);
            y.push(c * 2); // class ids need not be contiguous
        }
        let rows: Vec<u32> = (0..600).collect();
        let b = Bayes::fit(&x, 2, &y, &rows, false, 1e-9).unwrap();
        assert_eq!(b.classes, [0, 2, 4]);
        // linfa-bayes itself on the same scaled rows.
        let xs = b.scaler.matrix(&x, 2, &rows);
        let ys: Array1<usize> = y.iter().map(|&c| c as usize).collect();
        let m = linfa_bayes::GaussianNb::params()
            .fit(&Dataset::new(xs.clone(), ys))
            .unwrap();
        let (want, order) = m.predict_proba(xs.view());
        assert_eq!(order, [&0usize, &2, &4]);
        let (mut s, mut p) = (Vec::new(), [0.0; 5]);
        let mut right = 0;
        for i in 0..600usize {
            b.proba(&x[i * 2..i * 2 + 2], &mut s, &mut p);
            for (k, c) in [0usize, 2, 4].iter().enumerate() {
                assert!((p[*c] - want[[i, k]]).abs() < 1e-9, "row {i} class {c}");
            }
            right += usize::from(super::super::argmax(&p) as u32 == y[i]);
        }
        assert!(right > 450, "{right} of 600 right");
    }
}
