//! Stable time-sort pre-pass for captures with out-of-order packets.
//!
//! Takes packets in file order; gives them back in (timestamp, file order)
//! order. With a window `w`, a packet is held until a packet more than `w`
//! newer has been seen, so memory is bounded by the packets of one window;
//! a packet older than one already released cannot be put in place and is
//! released at once (counted in [`Reorderer::too_late`]). With no window
//! (full sort) every packet is held until [`Reorderer::finish`], which is
//! what `reordercap` does.

use crate::capture::PacketRepr;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Held packet ordered by (timestamp, arrival).
#[derive(Debug)]
struct Held {
    ts: i64,
    seq: u64,
    p: PacketRepr,
}

impl PartialEq for Held {
    fn eq(&self, o: &Held) -> bool {
        (self.ts, self.seq) == (o.ts, o.seq)
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Held) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Held {
    fn cmp(&self, o: &Held) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(o.ts, o.seq))
    }
}

/// A bounded (or full) stable reordering buffer.
#[derive(Debug)]
pub struct Reorderer {
    window_ns: Option<i64>,
    heap: BinaryHeap<Reverse<Held>>,
    seq: u64,
    max_ts: i64,
    released_ts: i64,
    too_late: u64,
}

impl Reorderer {
    /// `window_ns: None` sorts the whole input.
    pub fn new(window_ns: Option<i64>) -> Reorderer {
        Reorderer {
            window_ns,
            heap: BinaryHeap::new(),
            seq: 0,
            max_ts: i64::MIN,
            released_ts: i64::MIN,
            too_late: 0,
        }
    }

    /// Packets that arrived after a newer packet had already been released.
    pub fn too_late(&self) -> u64 {
        self.too_late
    }

    /// Offer one packet; packets now in order are passed to `out`.
    pub fn push(&mut self, p: &PacketRepr, mut out: impl FnMut(&PacketRepr)) {
        if p.ts_ns < self.released_ts {
            self.too_late += 1;
            out(p);
            return;
        }
        self.max_ts = self.max_ts.max(p.ts_ns);
        self.heap.push(Reverse(Held {
            ts: p.ts_ns,
            seq: self.seq,
            p: p.clone(),
        }));
        self.seq += 1;
        let Some(w) = self.window_ns else { return };
        let limit = self.max_ts.saturating_sub(w);
        while let Some(Reverse(h)) = self.heap.peek() {
            if h.ts >= limit {
                break;
            }
            if let Some(Reverse(h)) = self.heap.pop() {
                self.released_ts = h.ts;
                out(&h.p);
            }
        }
    }

    /// Release everything still held, in order.
    pub fn finish(&mut self, mut out: impl FnMut(&PacketRepr)) {
        while let Some(Reverse(h)) = self.heap.pop() {
            self.released_ts = h.ts;
            out(&h.p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testutil::tcp;

    fn order(window_ns: Option<i64>, ts_us: &[i64]) -> (Vec<(i64, u32)>, u64) {
        let mut r = Reorderer::new(window_ns);
        let mut got = Vec::new();
        for (i, &t) in ts_us.iter().enumerate() {
            let mut p = tcp(t, true, 0, i as u32, 0);
            p.payload_len = i as u32;
            r.push(&p, |q| got.push((q.ts_ns / 1000, q.payload_len)));
        }
        r.finish(|q| got.push((q.ts_ns / 1000, q.payload_len)));
        (got, r.too_late())
    }

    #[test]
    fn full_sort_is_stable() {
        let (got, late) = order(None, &[5, 3, 5, 1, 3]);
        // Equal timestamps keep file order (payload_len = file index).
        assert_eq!(got, vec![(1, 3), (3, 1), (3, 4), (5, 0), (5, 2)]);
        assert_eq!(late, 0);
    }

    #[test]
    fn window_sorts_within_and_passes_through_beyond() {
        // Window 10 µs: 12 arrives after 20 (within 10 µs) and is placed;
        // 1 arrives after 20 and 30 were released -> too late, passed through.
        let (got, late) = order(Some(10_000), &[10, 20, 12, 30, 45, 1]);
        let ts: Vec<i64> = got.iter().map(|g| g.0).collect();
        assert_eq!(ts, vec![10, 12, 20, 30, 1, 45]);
        assert_eq!(late, 1);
    }
}
