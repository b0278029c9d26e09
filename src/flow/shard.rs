//! One input on several threads: the reading thread prepares packets, flow-
//! table shards (by a symmetric hash of the flow key) run on their own
//! threads, and a merger puts their rows back in a fixed order.
//!
//! Takes [`FlowParams`], a shard count (1 or more: one shard is a two-stage
//! pipeline), a function that feeds packets in file order and a row sink;
//! gives the same rows, in the same order, with the same counters, as one
//! [`FlowExtractor`] fed the same packets (tested), except
//! `rows_out_of_order`, which each shard counts for its own rows.
//!
//! How: the calling thread feeds; it decodes each packet for the profile's
//! table and derives its flow key once ([`Prepared`]), and sends it, with the
//! input's capture time so far, to the shard of its flow (every packet of a
//! flow lands in the same shard, so each shard is an ordinary extractor), in
//! batches of [`BATCH`] that come back empty for reuse. Shards build their
//! rows (as CSV lines with [`FlowParams::csv_rows`], so formatting is spread
//! over the shards) and hand final rows and their horizon to a merger
//! thread, which writes a row once every shard's horizon has passed its
//! start. Rows tie on (start, key) only within one shard, where they keep
//! their order.
//!
//! Memory: the shards and the merger each hold their waiting rows in a
//! [`super::spill::SpillBuffer`] with an equal share of
//! [`FlowParams::spill_bytes`]; a shard sends its final rows in batches of
//! at most [`ROW_BATCH`] (a long-lived flow that ends, and the end of the
//! input, make many final at once), each with the start of its last row as
//! horizon (a shard's rows come out in order), so that the merger can write
//! them as they come.

use super::key::FixedState;
use super::spill::SpillBuffer;
use super::{
    FlowError, FlowExtractor, FlowKey, FlowParams, FlowRecord, FlowStats, PackedRecord, Prepared,
    Profile,
};
use crate::capture::PacketRepr;
use std::hash::BuildHasher;
use std::sync::mpsc;

/// Packets per message to a shard (each message may wake its thread).
const BATCH: usize = 4096;

/// Rows per message to the merger at most.
const ROW_BATCH: usize = 1024;

/// The shard of a packet: a hash of its flow key as `profile` sees it
/// (direction-free; the same for every packet of a flow).
pub fn shard_of(profile: Profile, p: &PacketRepr, shards: usize) -> usize {
    shard_of_prepared(profile, &Prepared::new(profile, p), shards)
}

fn shard_of_prepared(profile: Profile, p: &Prepared, shards: usize) -> usize {
    let Some(key) = p.shard_key(profile) else {
        return 0;
    };
    // A fixed-seed hash: the same shard on every run and machine.
    (FixedState::default().hash_one(key) % shards.max(1) as u64) as usize
}

/// Packets for a shard, each with the input's capture time just before it.
struct Batch {
    packets: Vec<(Prepared, i64)>,
    /// Capture time at the end of the input (last batch only).
    end_clock: Option<i64>,
}

/// A message from a shard to the merger.
struct Ready {
    shard: usize,
    /// Packed: the merger may hold them a while.
    rows: Vec<PackedRecord>,
    /// No later row of this shard starts before this.
    horizon: i64,
}

/// Run `params` on `shards` threads. `feed` is called once with a sink for
/// the input's packets in file order and returns what it likes (e.g. the
/// capture summary); `emit` receives the rows in order, on another thread.
pub fn extract_sharded<E>(
    params: FlowParams,
    shards: usize,
    feed: impl FnOnce(&mut dyn FnMut(&PacketRepr)) -> E,
    mut emit: impl FnMut(FlowRecord) + Send,
) -> Result<(E, FlowStats), FlowError> {
    extract_sharded_packed(params, shards, feed, move |r| emit(r.unpack()))
}

/// [`extract_sharded`], the rows packed (see [`PackedRecord`]).
pub fn extract_sharded_packed<E>(
    params: FlowParams,
    shards: usize,
    feed: impl FnOnce(&mut dyn FnMut(&PacketRepr)) -> E,
    emit: impl FnMut(PackedRecord) + Send,
) -> Result<(E, FlowStats), FlowError> {
    let shards = shards.max(1);
    // The shards and the merger share the memory budget.
    let share = match params.spill_bytes {
        usize::MAX => usize::MAX,
        b => b / (shards + 1),
    };
    let extractors = (0..shards)
        .map(|_| FlowExtractor::with_params(params.with_spill_bytes(share)))
        .collect::<Result<Vec<_>, _>>()?;
    let (to_merger, merger_rx) = mpsc::sync_channel::<Ready>(4 * shards);
    std::thread::scope(|scope| {
        let line = params.csv_rows;
        let merger = scope.spawn(move || merge(shards, share, line, merger_rx, emit));
        let mut inputs = Vec::with_capacity(shards);
        let mut workers = Vec::with_capacity(shards);
        for (shard, mut x) in extractors.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Batch>(4);
            // Emptied batches go back to the feeder for reuse: allocated on
            // one thread and freed on another, they kept the allocator
            // taking fresh pages, which the kernel zeroed (a third of the
            // feeder's time).
            let (back_tx, back_rx) = mpsc::channel::<Vec<(Prepared, i64)>>();
            let to_merger = to_merger.clone();
            inputs.push((tx, back_rx));
            workers.push(scope.spawn(move || {
                let mut rows = Vec::new();
                for mut batch in rx {
                    for (p, clock) in &batch.packets {
                        x.push_prepared_at(p, *clock);
                    }
                    batch.packets.clear();
                    let _ = back_tx.send(std::mem::take(&mut batch.packets));
                    if let Some(clock) = batch.end_clock {
                        x.tick(clock);
                    }
                    // In batches: when a long-lived flow ends, the rows it
                    // held back are all final at once. They come out in
                    // order, so the last one's start is a horizon.
                    x.take_ready_packed(|r| {
                        let start = r.start_us;
                        rows.push(r);
                        if rows.len() >= ROW_BATCH {
                            let _ = to_merger.send(Ready {
                                shard,
                                rows: std::mem::take(&mut rows),
                                horizon: start,
                            });
                        }
                    });
                    let horizon = x.horizon();
                    let rows = std::mem::take(&mut rows);
                    // A send fails only if the merger is gone (it panicked).
                    let _ = to_merger.send(Ready {
                        shard,
                        rows,
                        horizon,
                    });
                }
                // The last rows, in order, in batches: they may be most of
                // the shard's rows (spilled), too many to collect.
                let stats = x.finish_packed(|r| {
                    let start = r.start_us;
                    rows.push(r);
                    if rows.len() >= ROW_BATCH {
                        let _ = to_merger.send(Ready {
                            shard,
                            rows: std::mem::take(&mut rows),
                            horizon: start,
                        });
                    }
                });
                let _ = to_merger.send(Ready {
                    shard,
                    rows,
                    horizon: i64::MAX,
                });
                stats
            }));
        }
        drop(to_merger);
        let mut batches: Vec<Vec<(Prepared, i64)>> =
            (0..shards).map(|_| Vec::with_capacity(BATCH)).collect();
        let mut clock = i64::MIN;
        let profile = params.profile;
        let out = feed(&mut |p: &PacketRepr| {
            let ts = p.ts_ns;
            let p = Prepared::new(profile, p);
            let i = shard_of_prepared(profile, &p, shards);
            batches[i].push((p, clock));
            clock = clock.max(ts);
            if batches[i].len() >= BATCH {
                let (tx, back) = &inputs[i];
                let spare = back
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                let packets = std::mem::replace(&mut batches[i], spare);
                let _ = tx.send(Batch {
                    packets,
                    end_clock: None,
                });
            }
        });
        // Every shard learns where the input ended: the flows that time
        // expires there are closed as they are with one thread.
        for (i, packets) in batches.into_iter().enumerate() {
            let end_clock = (clock != i64::MIN).then_some(clock);
            let _ = inputs[i].0.send(Batch { packets, end_clock });
        }
        drop(inputs);
        let mut total = FlowStats::default();
        let mut error = None;
        for w in workers {
            match w.join() {
                Ok(Ok(stats)) => total.merge(&stats),
                Ok(Err(e)) => {
                    error.get_or_insert(e);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        match merger.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error.get_or_insert(e);
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
        match error {
            Some(e) => Err(e),
            None => Ok((out, total)),
        }
    })
}

/// Write rows once no shard can still produce an earlier one; at most about
/// `budget` bytes of held rows in memory.
fn merge(
    shards: usize,
    budget: usize,
    line: bool,
    rx: mpsc::Receiver<Ready>,
    mut emit: impl FnMut(PackedRecord),
) -> Result<(), FlowError> {
    let mut horizons = vec![i64::MIN; shards];
    let mut held: SpillBuffer<(i64, FlowKey, usize, u64)> = SpillBuffer::new(budget);
    let mut seq = 0u64;
    for m in rx {
        for r in m.rows {
            held.insert((r.start_us, r.key, m.shard, seq), r.row);
            seq += 1;
        }
        horizons[m.shard] = m.horizon;
        let h = horizons.iter().copied().min().unwrap_or(i64::MAX);
        while held.first_key().is_some_and(|k| k.0 < h) {
            let Some(((start_us, key, _, _), row)) = held.pop_first() else {
                break;
            };
            emit(PackedRecord {
                start_us,
                key,
                line,
                row,
            });
        }
    }
    while let Some(((start_us, key, _, _), row)) = held.pop_first() {
        emit(PackedRecord {
            start_us,
            key,
            line,
            row,
        });
    }
    held.take_error().map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testutil::{pkt, tcp};

    #[test]
    fn every_packet_of_a_flow_lands_in_one_shard() {
        for profile in Profile::ALL {
            for shards in [1, 2, 3, 7] {
                let a = tcp(0, true, 0, 0, 0);
                let b = tcp(1, false, 0, 0, 0);
                assert_eq!(shard_of(profile, &a, shards), shard_of(profile, &b, shards));
                let u = pkt(0, ("10.1.1.1", 9), ("10.2.2.2", 8), 17, 0);
                let v = pkt(0, ("10.2.2.2", 8), ("10.1.1.1", 9), 17, 0);
                assert_eq!(shard_of(profile, &u, shards), shard_of(profile, &v, shards));
                assert!(shard_of(profile, &u, shards) < shards);
            }
        }
    }
}
