//! Streaming statistics with the exact arithmetic of Apache commons-math
//! `SummaryStatistics`, which CICFlowMeter uses for every statistic.
//!
//! Takes values one at a time; gives count, sum, min, max, mean and the
//! sample (n-1) variance and standard deviation in O(1) memory. The mean is
//! the incremental first moment (`m1 += (x - m1) / n`, Welford), not `sum / n`:
//! the two differ in the last bits (`3.7187499999999996` vs `3.71875`) and the
//! reference CSVs print the former.

/// count/sum/min/max/Welford accumulator; 48 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    m1: f64,
    m2: f64,
}

impl Summary {
    pub fn new() -> Summary {
        Summary::default()
    }

    /// Add one value (commons-math `FirstMoment`/`SecondMoment.increment`).
    #[inline]
    pub fn add(&mut self, x: f64) {
        if self.n == 0 {
            self.min = x;
            self.max = x;
            self.m1 = 0.0;
            self.m2 = 0.0;
        } else {
            if x < self.min {
                self.min = x;
            }
            if x > self.max {
                self.max = x;
            }
        }
        self.n += 1;
        let n = self.n as f64;
        let dev = x - self.m1;
        let ndev = dev / n;
        self.m1 += ndev;
        self.m2 += (n - 1.0) * dev * ndev;
        self.sum += x;
    }

    pub fn n(&self) -> u64 {
        self.n
    }

    /// Sum of the values; 0 when empty.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// NaN when empty.
    pub fn min(&self) -> f64 {
        if self.n == 0 { f64::NAN } else { self.min }
    }

    /// NaN when empty.
    pub fn max(&self) -> f64 {
        if self.n == 0 { f64::NAN } else { self.max }
    }

    /// Incremental mean; NaN when empty.
    pub fn mean(&self) -> f64 {
        if self.n == 0 { f64::NAN } else { self.m1 }
    }

    /// Sample variance (n-1); 0 for one value, NaN when empty.
    pub fn variance(&self) -> f64 {
        match self.n {
            0 => f64::NAN,
            1 => 0.0,
            n => self.m2 / (n as f64 - 1.0),
        }
    }

    /// Sample standard deviation; 0 for one value, NaN when empty.
    pub fn std(&self) -> f64 {
        match self.n {
            0 => f64::NAN,
            1 => 0.0,
            _ => self.variance().sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_single_and_known_values() {
        let mut s = Summary::new();
        assert!(s.mean().is_nan() && s.min().is_nan() && s.std().is_nan());
        assert_eq!(s.sum(), 0.0);
        s.add(5.0);
        assert_eq!((s.n(), s.mean(), s.std(), s.variance()), (1, 5.0, 0.0, 0.0));
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 7.0, 9.0] {
            s.add(x);
        }
        // values 5,2,4,4,4,5,7,9: sum 40, mean 5, squared deviations sum 32.
        assert_eq!((s.n(), s.sum(), s.min(), s.max()), (8, 40.0, 2.0, 9.0));
        assert!((s.mean() - 5.0).abs() < 1e-12);
        assert!((s.variance() - 32.0 / 7.0).abs() < 1e-12);
        assert!((s.std() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }
}
