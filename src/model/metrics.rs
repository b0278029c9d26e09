//! Evaluation: confusion matrix, per-class precision/recall/F1, averages,
//! and attack-vs-benign ROC and precision-recall curves.
//!
//! Takes true and predicted class ids (and an attack score per row); gives
//! an [`Evaluation`] that serialises to the JSON report (`schema_version` 1)
//! and renders as Markdown. Conventions: a class never predicted has
//! precision 0, never present has recall 0 (and is left out of the macro
//! average only if it has no support *and* no predictions); micro F1 equals
//! accuracy for single-label data.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

/// An averaged precision/recall/F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Average {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// A curve point: (x, y) with the score threshold that gives it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub threshold: f64,
}

/// Attack (any non-benign class) vs benign, by the attack score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binary {
    /// ROC: x = false-positive rate, y = true-positive rate.
    pub roc: Vec<Point>,
    pub roc_auc: f64,
    /// PR: x = recall, y = precision.
    pub pr: Vec<Point>,
    /// Average precision (area under the step PR curve).
    pub pr_auc: f64,
    pub positives: u64,
    pub negatives: u64,
    /// Share of attack rows the model's own decision calls non-benign.
    #[serde(default)]
    pub detection_rate: f64,
    /// Share of benign rows the model's own decision calls non-benign.
    #[serde(default)]
    pub false_positive_rate: f64,
}

/// Everything `eval` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub schema_version: u32,
    pub classes: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    pub per_class: Vec<ClassMetrics>,
    pub macro_avg: Average,
    pub weighted_avg: Average,
    pub micro_avg: Average,
    pub accuracy: f64,
    pub rows: u64,
    /// Present when the classes include `BENIGN` and another class.
    pub attack_vs_benign: Option<Binary>,
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// Evaluate predictions; `score[i]` is row i's attack score (e.g. 1 -
/// P(benign)) and `benign` the benign class id, if any.
pub fn evaluate(
    classes: &[String],
    truth: &[u32],
    pred: &[u32],
    score: &[f64],
    benign: Option<u32>,
) -> Evaluation {
    let k = classes.len();
    let mut cm = vec![vec![0u64; k]; k];
    for (&t, &p) in truth.iter().zip(pred) {
        cm[t as usize][p as usize] += 1;
    }
    let n = truth.len() as u64;
    let mut per_class = Vec::with_capacity(k);
    let mut macro_sum = (0.0, 0.0, 0.0, 0usize);
    let mut weighted = (0.0, 0.0, 0.0);
    let mut correct = 0u64;
    for c in 0..k {
        let tp = cm[c][c];
        correct += tp;
        let support: u64 = cm[c].iter().sum();
        let predicted: u64 = (0..k).map(|t| cm[t][c]).sum();
        let precision = if predicted > 0 {
            tp as f64 / predicted as f64
        } else {
            0.0
        };
        let recall = if support > 0 {
            tp as f64 / support as f64
        } else {
            0.0
        };
        let f = f1(precision, recall);
        if support > 0 || predicted > 0 {
            macro_sum.0 += precision;
            macro_sum.1 += recall;
            macro_sum.2 += f;
            macro_sum.3 += 1;
        }
        let w = support as f64 / n.max(1) as f64;
        weighted.0 += w * precision;
        weighted.1 += w * recall;
        weighted.2 += w * f;
        per_class.push(ClassMetrics {
            class: classes[c].clone(),
            precision,
            recall,
            f1: f,
            support,
        });
    }
    let m = macro_sum.3.max(1) as f64;
    let accuracy = correct as f64 / n.max(1) as f64;
    let attack_vs_benign = benign
        .filter(|_| k > 1)
        .map(|b| binary(truth, pred, score, b));
    Evaluation {
        schema_version: 1,
        classes: classes.to_vec(),
        confusion: cm,
        per_class,
        macro_avg: Average {
            precision: macro_sum.0 / m,
            recall: macro_sum.1 / m,
            f1: macro_sum.2 / m,
        },
        weighted_avg: Average {
            precision: weighted.0,
            recall: weighted.1,
            f1: weighted.2,
        },
        micro_avg: Average {
            precision: accuracy,
            recall: accuracy,
            f1: accuracy,
        },
        accuracy,
        rows: n,
        attack_vs_benign,
    }
}

/// ROC and PR of "attack" (truth != benign) by score, thresholds from high
/// to low, ties taken together.
fn binary(truth: &[u32], pred: &[u32], score: &[f64], benign: u32) -> Binary {
    let mut order: Vec<usize> = (0..truth.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    let pos = truth.iter().filter(|&&t| t != benign).count() as u64;
    let neg = truth.len() as u64 - pos;
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut roc = vec![Point {
        x: 0.0,
        y: 0.0,
        // Above every score (finite, so that JSON keeps it).
        threshold: f64::MAX,
    }];
    let mut pr = Vec::new();
    let mut auc = 0.0;
    let mut ap = 0.0;
    let mut last_recall = 0.0;
    let mut i = 0;
    while i < order.len() {
        let s = score[order[i]];
        while i < order.len() && score[order[i]] == s {
            if truth[order[i]] != benign {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let tpr = if pos > 0 { tp as f64 / pos as f64 } else { 0.0 };
        let fpr = if neg > 0 { fp as f64 / neg as f64 } else { 0.0 };
        let prev = roc[roc.len() - 1];
        auc += (fpr - prev.x) * (tpr + prev.y) / 2.0;
        roc.push(Point {
            x: fpr,
            y: tpr,
            threshold: s,
        });
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (tpr - last_recall) * precision;
        last_recall = tpr;
        pr.push(Point {
            x: tpr,
            y: precision,
            threshold: s,
        });
    }
    let flagged = |attack: bool| {
        truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| (**t != benign) == attack && **p != benign)
            .count() as f64
    };
    Binary {
        roc,
        roc_auc: auc,
        pr,
        pr_auc: ap,
        positives: pos,
        negatives: neg,
        detection_rate: flagged(true) / pos.max(1) as f64,
        false_positive_rate: flagged(false) / neg.max(1) as f64,
    }
}

impl Evaluation {
    /// The report as Markdown.
    pub fn markdown(&self, title: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {title}\n");
        let _ = writeln!(
            s,
            "{} rows, accuracy {:.4}, macro F1 {:.4}, weighted F1 {:.4}\n",
            self.rows, self.accuracy, self.macro_avg.f1, self.weighted_avg.f1
        );
        let _ = writeln!(
            s,
            "| class | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|"
        );
        for c in &self.per_class {
            let _ = writeln!(
                s,
                "| {} | {:.4} | {:.4} | {:.4} | {} |",
                c.class, c.precision, c.recall, c.f1, c.support
            );
        }
        for (name, a) in [
            ("macro avg", self.macro_avg),
            ("weighted avg", self.weighted_avg),
            ("micro avg", self.micro_avg),
        ] {
            let _ = writeln!(
                s,
                "| *{name}* | {:.4} | {:.4} | {:.4} | {} |",
                a.precision, a.recall, a.f1, self.rows
            );
        }
        let _ = writeln!(
            s,
            "\n## Confusion matrix (rows: true, columns: predicted)\n"
        );
        let _ = write!(s, "| |");
        for c in &self.classes {
            let _ = write!(s, " {c} |");
        }
        let _ = write!(s, "\n|---|");
        for _ in &self.classes {
            let _ = write!(s, "---:|");
        }
        s.push('\n');
        for (c, row) in self.classes.iter().zip(&self.confusion) {
            let _ = write!(s, "| **{c}** |");
            for v in row {
                let _ = write!(s, " {v} |");
            }
            s.push('\n');
        }
        if let Some(b) = &self.attack_vs_benign {
            let _ = writeln!(
                s,
                "\n## Attack vs benign\n\nROC AUC {:.4}, PR AUC (average precision) {:.4}; {} attack rows, {} benign rows.\nAt the model's decision: {:.2} % of attack rows detected, {:.2} % of benign rows flagged.",
                b.roc_auc,
                b.pr_auc,
                b.positives,
                b.negatives,
                100.0 * b.detection_rate,
                100.0 * b.false_positive_rate
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_and_average_metrics_match_hand_counts() {
        let classes: Vec<String> = ["BENIGN", "A", "B"].iter().map(|s| s.to_string()).collect();
        // truth:  0 0 0 0 1 1 1 2 2 2
        // pred:   0 0 0 1 1 1 2 2 2 0
        let t = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
        let p = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0];
        let score: Vec<f64> = p.iter().map(|&c| if c == 0 { 0.1 } else { 0.9 }).collect();
        let e = evaluate(&classes, &t, &p, &score, Some(0));
        assert_eq!(
            e.confusion,
            vec![vec![3, 1, 0], vec![0, 2, 1], vec![1, 0, 2]]
        );
        let b = &e.per_class[0];
        assert!((b.precision - 0.75).abs() < 1e-12 && (b.recall - 0.75).abs() < 1e-12);
        let a = &e.per_class[1];
        assert!((a.precision - 2.0 / 3.0).abs() < 1e-12 && (a.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((e.accuracy - 0.7).abs() < 1e-12);
        assert_eq!(e.micro_avg.f1, e.accuracy);
        let macro_f1 = (0.75 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0;
        assert!((e.macro_avg.f1 - macro_f1).abs() < 1e-12);
        let bin = e.attack_vs_benign.clone().unwrap();
        assert_eq!((bin.positives, bin.negatives), (6, 4));
        // Two score levels: (fpr, tpr) = (0,0) -> (1/4, 5/6) -> (1, 1).
        assert_eq!(bin.roc.len(), 3);
        assert!((bin.roc[1].x - 0.25).abs() < 1e-12 && (bin.roc[1].y - 5.0 / 6.0).abs() < 1e-12);
        let auc = 0.25 * (5.0 / 6.0) / 2.0 + 0.75 * (5.0 / 6.0 + 1.0) / 2.0;
        assert!((bin.roc_auc - auc).abs() < 1e-12);
        assert!(e.markdown("t").contains("| BENIGN | 0.7500 | 0.7500 |"));
    }

    #[test]
    fn a_perfect_ranking_has_unit_areas() {
        let classes: Vec<String> = ["BENIGN", "X"].iter().map(|s| s.to_string()).collect();
        let t = [0, 1, 0, 1];
        let s = [0.1, 0.8, 0.2, 0.9];
        let e = evaluate(&classes, &t, &t, &s, Some(0));
        let b = e.attack_vs_benign.unwrap();
        assert!((b.roc_auc - 1.0).abs() < 1e-12);
        assert!((b.pr_auc - 1.0).abs() < 1e-12);
        assert_eq!(e.macro_avg.f1, 1.0);
        assert_eq!((b.detection_rate, b.false_positive_rate), (1.0, 0.0));
        // One of two attacks missed, one of three benign rows flagged.
        let t = [0, 1, 0, 1, 0];
        let p = [0, 0, 1, 1, 0];
        let b = evaluate(&classes, &t, &p, &[0.0; 5], Some(0))
            .attack_vs_benign
            .unwrap();
        assert_eq!(b.detection_rate, 0.5);
        assert!((b.false_positive_rate - 1.0 / 3.0).abs() < 1e-12);
    }
}
