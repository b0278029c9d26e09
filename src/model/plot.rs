//! SVG plots of an evaluation (plotters, SVG backend, no system fonts: the
//! text is SVG `<text>` the viewer renders): the confusion matrix as a
//! heatmap (row-normalised colour, counts printed), and the ROC and PR
//! curves of attack vs benign.
//!
//! Takes a [`metrics::Evaluation`]; gives SVG documents as strings (the
//! same bytes for the same evaluation).

use super::metrics::{self, Point};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Plot size in pixels.
const SIZE: (u32, u32) = (720, 560);

fn err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// The confusion matrix: rows are the true class, columns the predicted
/// one; the colour is the share of the row, the label the count.
pub fn confusion_svg(e: &metrics::Evaluation) -> Result<String, String> {
    let k = e.classes.len();
    let mut out = String::new();
    {
        let side = (SIZE.0).max(120 + 44 * k as u32);
        let root = SVGBackend::with_string(&mut out, (side, side)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Confusion matrix (rows: true class)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(150)
            .y_label_area_size(170)
            // Segments 0..=k-1: one per class.
            .build_cartesian_2d(
                (0..k as i32 - 1).into_segmented(),
                (0..k as i32 - 1).into_segmented(),
            )
            .map_err(err)?;
        // Labels sit at the centre of each cell's segment.
        let class = |i: i32| {
            usize::try_from(i)
                .ok()
                .and_then(|i| e.classes.get(i))
                .cloned()
                .unwrap_or_default()
        };
        // Rows from the top: the y axis runs upwards, so row i sits at k-1-i.
        let yname = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => class(k as i32 - 1 - *i),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(k)
            .x_label_formatter(&|_| String::new())
            .y_labels(k)
            .y_label_formatter(&yname)
            .x_desc("predicted")
            .y_desc("true")
            .y_label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        // Predicted-class names under the columns, reading downwards from
        // the axis (the mesh would centre them on the tick, over the axis).
        let below = ("sans-serif", 12)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for p in 0..k as i32 {
            let (x, y) = chart.backend_coord(&(SegmentValue::CenterOf(p), SegmentValue::Exact(0)));
            root.draw(&Text::new(class(p), (x, y + 8), below.clone()))
                .map_err(err)?;
        }
        for (t, row) in e.confusion.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (p, &n) in row.iter().enumerate() {
                let share = if total > 0 {
                    n as f64 / total as f64
                } else {
                    0.0
                };
                // White (0) to dark blue (1).
                let c = RGBColor(
                    (255.0 * (1.0 - 0.85 * share)) as u8,
                    (255.0 * (1.0 - 0.65 * share)) as u8,
                    255,
                );
                let (x, y) = (p as i32, k as i32 - 1 - t as i32);
                let corner = |a: i32, b: i32| (SegmentValue::Exact(a), SegmentValue::Exact(b));
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [corner(x, y), corner(x + 1, y + 1)],
                        c.filled(),
                    )))
                    .map_err(err)?;
                let ink = if share > 0.55 { WHITE } else { BLACK };
                let style = ("sans-serif", 13)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                let centre =
                    chart.backend_coord(&(SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)));
                root.draw(&Text::new(n.to_string(), centre, style))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// A curve of `points` (x, y in [0, 1]) with a caption and axis names; the
/// chance line when `diagonal`.
fn curve_svg(
    points: &[Point],
    caption: &str,
    x_desc: &str,
    y_desc: &str,
    diagonal: bool,
) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..1.0, 0.0..1.02)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(6)
            .y_labels(6)
            .draw()
            .map_err(err)?;
        if diagonal {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, 0.0), (1.0, 1.0)],
                    BLACK.mix(0.3).stroke_width(1),
                ))
                .map_err(err)?;
        }
        // Thousands of points draw the same line as a few hundred: keep at
        // most ~2000, always the first and last.
        let step = (points.len() / 2000).max(1);
        let mut pts: Vec<(f64, f64)> = points.iter().step_by(step).map(|p| (p.x, p.y)).collect();
        if let Some(last) = points.last()
            && pts.last() != Some(&(last.x, last.y))
        {
            pts.push((last.x, last.y));
        }
        chart
            .draw_series(LineSeries::new(pts, BLUE.stroke_width(2)))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// The ROC curve (false-positive rate, true-positive rate) with its AUC.
pub fn roc_svg(b: &metrics::Binary) -> Result<String, String> {
    curve_svg(
        &b.roc,
        &format!("ROC, attack vs benign (AUC {:.4})", b.roc_auc),
        "false-positive rate",
        "true-positive rate (detection)",
        true,
    )
}

/// The precision-recall curve with its average precision.
pub fn pr_svg(b: &metrics::Binary) -> Result<String, String> {
    curve_svg(
        &b.pr,
        &format!("Precision-recall, attack vs benign (AP {:.4})", b.pr_auc),
        "recall",
        "precision",
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval() -> metrics::Evaluation {
        let classes: Vec<String> = ["BENIGN", "DoS", "PortScan"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let truth = [0, 0, 0, 1, 1, 2, 2, 2];
        let pred = [0, 0, 1, 1, 1, 2, 0, 2];
        let score = [0.1, 0.2, 0.7, 0.9, 0.8, 0.95, 0.3, 0.6];
        metrics::evaluate(&classes, &truth, &pred, &score, Some(0))
    }

    #[test]
    fn plots_are_svg_with_their_labels_and_the_same_bytes_twice() {
        let e = eval();
        let cm = confusion_svg(&e).unwrap();
        assert!(cm.starts_with("<svg"), "{}", &cm[..80.min(cm.len())]);
        for label in ["BENIGN", "DoS", "PortScan", "predicted"] {
            assert!(cm.contains(label), "{label} missing");
        }
        // One filled cell per (true, predicted) pair, besides the background.
        assert_eq!(cm.matches("<rect").count(), 1 + 9);
        // Each cell's count is printed: the diagonal 2, 2, 2 and three 1s.
        let count = |n: &str| cm.matches(&format!(">\n{n}\n</text>")).count();
        assert_eq!((count("2"), count("1"), count("0")), (3, 2, 4), "{cm}");
        assert_eq!(cm, confusion_svg(&e).unwrap());
        let b = e.attack_vs_benign.as_ref().unwrap();
        let roc = roc_svg(b).unwrap();
        assert!(roc.contains(&format!("AUC {:.4}", b.roc_auc)));
        assert!(roc.contains("<polyline"));
        let pr = pr_svg(b).unwrap();
        assert!(pr.contains("AP "));
        assert!(pr.contains("<polyline"));
    }
}
