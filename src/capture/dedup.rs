//! Duplicate-frame filter: drop a record whose bytes equal a record seen at
//! most `window` earlier (the "Lanvin" dedup of CICFlowMeter spec §4.3, like
//! `editcap -w 0.0005`), for captures taken on mirrored ports.
//!
//! Takes each record's timestamp and bytes, in file order (before any
//! `--sort`); says whether it is a duplicate. A frame is compared with the
//! frames kept before it in the file: the input is assumed to be in time
//! order within the window (a mirrored port records it so).
//! State is bounded by the records of one window: a queue of (time, digest)
//! in arrival order plus a map digest -> latest time, trimmed as time
//! advances. The digest is 64-bit SipHash with fixed keys over the bytes and
//! their length (deterministic across runs; a false match has odds of about
//! 2^-64 per pair). The map is never iterated, so output order cannot depend
//! on it.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, DefaultHasher, Hasher};

/// The spec's default window: 500 µs.
pub const DEFAULT_WINDOW_NS: i64 = 500_000;

/// Remembers recent frames to spot byte-identical repeats.
#[derive(Debug)]
pub struct Dedup {
    window_ns: i64,
    recent: VecDeque<(i64, u64)>,
    latest: HashMap<u64, i64, BuildHasherDefault<DefaultHasher>>,
}

fn digest(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write_usize(data.len());
    h.write(data);
    h.finish()
}

impl Dedup {
    /// A filter with the given window (nanoseconds, > 0).
    pub fn new(window_ns: i64) -> Dedup {
        Dedup {
            window_ns,
            recent: VecDeque::new(),
            latest: HashMap::default(),
        }
    }

    /// True when `data` repeats a frame seen within the window before `ts_ns`.
    /// A duplicate is not remembered itself: a run of copies is measured from
    /// the original.
    pub fn is_duplicate(&mut self, ts_ns: i64, data: &[u8]) -> bool {
        while let Some(&(t, d)) = self.recent.front() {
            if ts_ns.saturating_sub(t) <= self.window_ns {
                break;
            }
            self.recent.pop_front();
            if self.latest.get(&d) == Some(&t) {
                self.latest.remove(&d);
            }
        }
        let d = digest(data);
        if let Some(&t) = self.latest.get(&d)
            && (0..=self.window_ns).contains(&ts_ns.saturating_sub(t))
        {
            return true;
        }
        self.latest.insert(d, ts_ns);
        self.recent.push_back((ts_ns, d));
        false
    }

    /// Frames remembered now (bounded by one window of traffic).
    pub fn remembered(&self) -> usize {
        self.recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_within_the_window_are_duplicates() {
        let mut d = Dedup::new(DEFAULT_WINDOW_NS);
        assert!(!d.is_duplicate(1_000_000, b"frame-a"));
        assert!(d.is_duplicate(1_000_000, b"frame-a"), "same time");
        assert!(
            d.is_duplicate(1_500_000, b"frame-a"),
            "exactly 500 us later"
        );
        assert!(!d.is_duplicate(1_500_000, b"frame-b"), "other bytes");
        assert!(
            !d.is_duplicate(1_500_001, b"frame-a"),
            "501 us after the original"
        );
        assert!(
            !d.is_duplicate(3_000_000, b"frame-a"),
            "long after the new original"
        );
        assert!(!d.is_duplicate(3_000_000, b"frame-a2"));
        assert!(
            !d.is_duplicate(3_000_000, b"frame-"),
            "a prefix is not a copy"
        );
    }

    #[test]
    fn memory_is_bounded_by_one_window() {
        let mut d = Dedup::new(1_000);
        for i in 0..100_000i64 {
            assert!(!d.is_duplicate(i * 100, &i.to_le_bytes()));
            assert!(d.remembered() <= 11, "{} at {i}", d.remembered());
        }
    }

    #[test]
    fn an_earlier_timestamp_is_not_matched_backwards() {
        let mut d = Dedup::new(DEFAULT_WINDOW_NS);
        assert!(!d.is_duplicate(2_000_000, b"x"));
        // Out of order by more than nothing: the copy claims to come first.
        assert!(!d.is_duplicate(1_900_000, b"x"));
    }
}
