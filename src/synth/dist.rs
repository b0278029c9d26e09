//! Named distributions for sizes and times in a traffic spec.
//!
//! Takes a validated [`Dist`] and a [`Rng`]; gives samples (bytes or
//! seconds, as the field says). Sampling is by inverse CDF or Box-Muller on
//! `libm` functions, so a seed gives the same values on every machine.
//! Heavy tails come from `pareto`, `lognormal` and `weibull` (shape < 1).

use super::rng::Rng;

/// The family of a distribution and its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Family {
    /// Always `value`.
    Constant { value: f64 },
    /// Uniform in `[min, max)`.
    Uniform { min: f64, max: f64 },
    /// Exponential with this mean.
    Exponential { mean: f64 },
    /// Pareto type I: `scale` is the minimum, `shape` the tail index
    /// (mean finite only for shape > 1).
    Pareto { scale: f64, shape: f64 },
    /// Log-normal with this median (`e^mu`) and log-space sigma.
    LogNormal { median: f64, sigma: f64 },
    /// Weibull with this scale and shape (shape < 1: heavy tail).
    Weibull { scale: f64, shape: f64 },
    /// Normal with this mean and standard deviation.
    Normal { mean: f64, sd: f64 },
}

/// A family plus optional clamps applied to every sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dist {
    pub family: Family,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Dist {
    pub fn constant(value: f64) -> Dist {
        Dist::of(Family::Constant { value })
    }

    pub fn of(family: Family) -> Dist {
        Dist {
            family,
            min: None,
            max: None,
        }
    }

    /// The family's mean before clamping (`inf` when it has none).
    pub fn mean(&self) -> f64 {
        match self.family {
            Family::Constant { value } => value,
            Family::Uniform { min, max } => (min + max) / 2.0,
            Family::Exponential { mean } => mean,
            Family::Pareto { scale, shape } => {
                if shape > 1.0 {
                    shape * scale / (shape - 1.0)
                } else {
                    f64::INFINITY
                }
            }
            Family::LogNormal { median, sigma } => median * libm::exp(sigma * sigma / 2.0),
            Family::Weibull { scale, shape } => scale * libm::tgamma(1.0 + 1.0 / shape),
            Family::Normal { mean, .. } => mean,
        }
    }

    /// One sample, clamped to `[min, max]`.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let x = match self.family {
            Family::Constant { value } => value,
            Family::Uniform { min, max } => min + (max - min) * rng.unit(),
            Family::Exponential { mean } => -mean * libm::log(rng.unit()),
            Family::Pareto { scale, shape } => scale / libm::pow(rng.unit(), 1.0 / shape),
            Family::LogNormal { median, sigma } => median * libm::exp(sigma * rng.normal()),
            Family::Weibull { scale, shape } => {
                scale * libm::pow(-libm::log(rng.unit()), 1.0 / shape)
            }
            Family::Normal { mean, sd } => mean + sd * rng.normal(),
        };
        self.clamp(x)
    }

    /// A sample of the same shape rescaled so that the family's mean is
    /// `mean` (inter-arrival times: the spec gives the shape, the rate
    /// gives the mean). Families without a finite mean use their scale.
    pub fn sample_with_mean(&self, rng: &mut Rng, mean: f64) -> f64 {
        let m = self.mean();
        let raw = Dist::of(self.family).sample(rng);
        let x = if m.is_finite() && m > 0.0 {
            raw * mean / m
        } else {
            raw * mean
        };
        self.clamp(x)
    }

    fn clamp(&self, mut x: f64) -> f64 {
        if let Some(lo) = self.min {
            x = x.max(lo);
        }
        if let Some(hi) = self.max {
            x = x.min(hi);
        }
        if x.is_nan() { 0.0 } else { x }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_of(d: Dist, n: usize) -> f64 {
        let mut r = Rng::stream(3, "dist");
        (0..n).map(|_| d.sample(&mut r)).sum::<f64>() / n as f64
    }

    #[test]
    fn sample_means_follow_the_parameters() {
        let cases = [
            Dist::of(Family::Exponential { mean: 2.0 }),
            Dist::of(Family::Uniform { min: 1.0, max: 3.0 }),
            Dist::of(Family::Pareto {
                scale: 1.0,
                shape: 3.0,
            }),
            Dist::of(Family::LogNormal {
                median: 1.0,
                sigma: 0.5,
            }),
            Dist::of(Family::Weibull {
                scale: 2.0,
                shape: 1.5,
            }),
            Dist::of(Family::Normal { mean: 5.0, sd: 1.0 }),
        ];
        for d in cases {
            let m = mean_of(d, 200_000);
            let want = d.mean();
            assert!((m - want).abs() / want < 0.03, "{d:?}: {m} vs {want}");
        }
    }

    #[test]
    fn clamps_and_rescaling() {
        let mut d = Dist::of(Family::Pareto {
            scale: 100.0,
            shape: 0.8,
        });
        d.max = Some(1000.0);
        let mut r = Rng::stream(1, "c");
        for _ in 0..1000 {
            let x = d.sample(&mut r);
            assert!((100.0..=1000.0).contains(&x), "{x}");
        }
        let e = Dist::of(Family::Weibull {
            scale: 1.0,
            shape: 0.7,
        });
        let m = (0..200_000)
            .map(|_| e.sample_with_mean(&mut r, 0.25))
            .sum::<f64>()
            / 200_000.0;
        assert!((m - 0.25).abs() < 0.01, "{m}");
    }
}
