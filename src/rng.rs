//! Seeded random streams (generator, models, simulator).
//!
//! Takes a run's seed; gives independent ChaCha8 streams named by the part
//! of the work that draws from them (`"benign/0"`, `"campaign/1/step/2"`,
//! `"tree/7"`, ...), so changing one consumer does not shift the numbers
//! any other draws. Every draw is integer or IEEE arithmetic on
//! ChaCha output plus `libm` functions: the same seed gives the same numbers
//! on every machine.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// FNV-1a over bytes, then SplitMix64 finalisation: a stable 64-bit name hash.
fn mix(seed: u64, name: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix(h)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One random stream.
#[derive(Debug, Clone)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// The stream `name` of run `seed`.
    pub fn stream(seed: u64, name: &str) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(mix(seed, name)))
    }

    /// A child stream: seeded by this stream's next output.
    pub fn fork(&mut self) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(self.u64()))
    }

    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub fn u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias (Lemire).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let n = n.max(1);
        loop {
            let m = u128::from(self.u64()) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in the open interval (0, 1): 53 random bits, never 0.
    pub fn unit(&mut self) -> f64 {
        ((self.u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal variate (Box-Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit();
        let v = self.unit();
        libm::sqrt(-2.0 * libm::log(u)) * libm::cos(std::f64::consts::TAU * v)
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Fill `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(7, "x").u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = Rng::stream(7, "x");
        let mut y = Rng::stream(7, "y");
        let mut z = Rng::stream(8, "x");
        let (x1, y1, z1) = (x.u64(), y.u64(), z.u64());
        assert_ne!(x1, y1);
        assert_ne!(x1, z1);
    }

    #[test]
    fn below_and_unit_stay_in_range() {
        let mut r = Rng::stream(1, "t");
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            let v = r.below(7) as usize;
            seen[v] += 1;
            let u = r.unit();
            assert!(u > 0.0 && u < 1.0);
        }
        // Every value drawn, none wildly over-represented.
        assert!(seen.iter().all(|&c| c > 800 && c < 1200), "{seen:?}");
        assert_eq!(r.range(5, 5), 5);
        let n: f64 = (0..20000).map(|_| r.normal()).sum::<f64>() / 20000.0;
        assert!(n.abs() < 0.05, "mean of normals {n}");
    }
}
