//! A min-queue for entries that mostly arrive in order: the flow tables'
//! expiry deadlines and flow starts, which follow capture time.
//!
//! Takes entries of any totally ordered `Copy` type; gives them back least
//! first, exactly as a min-heap would (tested against `BinaryHeap`). An
//! entry no less than the newest in-order one goes to the back of a FIFO
//! (O(1), memory read in order); any other goes to a binary heap, which
//! then holds only the stragglers (a deadline put back later than its flow
//! opened, a packet out of time order). The least entry is the lesser of
//! the FIFO's front and the heap's top.
//!
//! Why: the flow tables' heaps held one entry per open flow, and each pop
//! walked a heap of tens of thousands of entries (a cache miss a level).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// See the module documentation.
#[derive(Debug, Clone)]
pub(super) struct MinQueue<T: Ord> {
    /// Nondecreasing from front to back.
    fifo: VecDeque<T>,
    heap: BinaryHeap<Reverse<T>>,
}

impl<T: Ord> Default for MinQueue<T> {
    fn default() -> MinQueue<T> {
        MinQueue {
            fifo: VecDeque::new(),
            heap: BinaryHeap::new(),
        }
    }
}

impl<T: Ord + Copy> MinQueue<T> {
    pub(super) fn new() -> MinQueue<T> {
        MinQueue::default()
    }

    #[inline]
    pub(super) fn push(&mut self, x: T) {
        if self.fifo.back().is_none_or(|b| *b <= x) {
            self.fifo.push_back(x);
        } else {
            self.heap.push(Reverse(x));
        }
    }

    /// The least entry is the heap's top (else the FIFO's front).
    #[inline]
    fn heap_first(&self) -> bool {
        match (self.fifo.front(), self.heap.peek()) {
            (Some(f), Some(Reverse(h))) => h < f,
            (None, Some(_)) => true,
            _ => false,
        }
    }

    /// The least entry.
    #[inline]
    pub(super) fn peek(&self) -> Option<T> {
        if self.heap_first() {
            self.heap.peek().map(|r| r.0)
        } else {
            self.fifo.front().copied()
        }
    }

    /// Remove and return the least entry.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<T> {
        if self.heap_first() {
            self.heap.pop().map(|r| r.0)
        } else {
            self.fifo.pop_front()
        }
    }

    pub(super) fn clear(&mut self) {
        self.fifo.clear();
        self.heap.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.fifo.len() + self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any mix of pushes (mostly in order, some not, with ties) and
        /// pops gives what a min-heap gives, entry for entry.
        #[test]
        fn pops_what_a_min_heap_pops(ops in proptest::collection::vec((0u8..10, 0i64..50), 0..400)) {
            let mut q = MinQueue::new();
            let mut heap = BinaryHeap::new();
            let mut clock = 0i64;
            for (i, (op, step)) in ops.into_iter().enumerate() {
                match op {
                    // Mostly forward in time, as deadlines and starts are.
                    0..=4 => {
                        clock += step;
                        q.push((clock, i));
                        heap.push(Reverse((clock, i)));
                    }
                    // Earlier than the newest: a straggler.
                    5..=6 => {
                        let t = clock - step;
                        q.push((t, i));
                        heap.push(Reverse((t, i)));
                    }
                    // An equal time (ties go by the second field).
                    7 => {
                        q.push((clock, i));
                        heap.push(Reverse((clock, i)));
                    }
                    _ => {
                        prop_assert_eq!(q.peek(), heap.peek().map(|r| r.0));
                        prop_assert_eq!(q.pop(), heap.pop().map(|r| r.0));
                    }
                }
                prop_assert_eq!(q.len(), heap.len());
            }
            while let Some(Reverse(x)) = heap.pop() {
                prop_assert_eq!(q.pop(), Some(x));
            }
            prop_assert_eq!(q.pop(), None);
            prop_assert_eq!(q.peek(), None);
        }
    }

    #[test]
    fn in_order_entries_stay_out_of_the_heap() {
        let mut q = MinQueue::new();
        for t in [1, 2, 2, 5, 9] {
            q.push(t);
        }
        q.push(3);
        assert_eq!((q.fifo.len(), q.heap.len()), (5, 1));
        let got: Vec<i32> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(got, [1, 2, 2, 3, 5, 9]);
        q.push(4);
        q.clear();
        assert_eq!(q.peek(), None);
    }
}
