//! One input on several threads: the reading thread prepares packets, flow-
//! table shards (by a symmetric hash of the flow key) run on their own
//! threads, and a merger puts their rows back in a fixed order.
//!
//! Takes [`FlowParams`], a shard count (1 or more: one shard is a two-stage
//! pipeline), a function that feeds packets in file order and a row sink;
//! gives the same rows, in the same order, with the same counters, as one
//! [`FlowExtractor`] fed the same packets (tested), except
//! `rows_out_of_order`, which counts the merged output's rows that sort
//! before the row written just before them.
//!
//! How: the calling thread feeds; it decodes each packet for the profile's
//! table and derives its flow key once (`Prepared`), and sends it, with the
//! input's capture time so far, to the shard of its flow (every packet of a
//! flow lands in the same shard, so each shard is an ordinary flow table).
//! The input goes out in rounds of 8192 packets: every shard gets one
//! batch per round (an empty one too) ending with the round's capture time,
//! and batches come back empty for reuse. After each round a shard hands
//! the rows it closed, in closing order (as CSV lines with
//! [`FlowParams::csv_rows`], so formatting is spread over the shards), and
//! its horizon (no later row of it starts earlier) to a merger thread. The
//! merger takes round k of every shard, in shard order, then writes the
//! rows every shard's round-k horizon has passed, in (start, key, shard,
//! arrival) order: what is written when depends only on the input, never on
//! which thread ran ahead, also for rows that come after their turn in an
//! input out of order by more than the reorder slack (tested: 1, 2 and 3
//! shards give the same rows). Rows tie on (start, key) only within one
//! shard, where they keep their order. After its last round a shard
//! flushes its open flows in start order, each message with the horizon
//! its last row sets; once every shard's rounds are all taken, the merger
//! writes behind the least of those as they come (no later row can sort
//! before them), so writing the held rows overlaps the shards' formatting.
//!
//! Memory: only the merger holds waiting rows, in a spill buffer
//! ([`super::spill`]) with all of [`FlowParams::spill_bytes`] (each row is
//! sorted once); a shard sends its rows in batches of at most 1024 (the end
//! of the input closes every open flow at once).

use super::spill::SpillBuffer;
use super::{
    FlowError, FlowExtractor, FlowKey, FlowParams, FlowRecord, FlowStats, PackedRecord, Prepared,
    Profile, pe,
};
use crate::capture::PacketRepr;
use std::collections::VecDeque;
use std::sync::mpsc;

/// Input packets per round: every shard gets one batch per round (each
/// message may wake its thread).
const ROUND: usize = 8192;

/// Batches waiting for a shard at most. Rounds differ in work between
/// shards (a round where one shard closes many flows formats many rows);
/// with room for only two the reader waited for the busy shard while the
/// other one idled (measured: 8 runs 10% faster than 2 on the bench
/// capture, with the same peak memory).
const BATCHES_QUEUED: usize = 8;

/// Rows per message to the merger at most.
const ROW_BATCH: usize = 1024;

/// The shard of a packet: a hash of its flow key as `profile` sees it
/// (direction-free; the same for every packet of a flow).
pub fn shard_of(profile: Profile, p: &PacketRepr, shards: usize) -> usize {
    match profile {
        Profile::Corrected => shard_of_prepared(profile, &pe::PxPacket::new(p), shards),
        _ => shard_of_prepared(profile, p, shards),
    }
}

fn shard_of_prepared(profile: Profile, p: &impl Prepared, shards: usize) -> usize {
    let Some(hash) = p.shard_hash(profile) else {
        return 0;
    };
    // A fixed-seed hash: the same shard on every run and machine. Its high
    // half picks the shard (multiply-shift, no division), so the low bits
    // a shard's own hash table uses stay evenly spread.
    let h = hash >> 32;
    ((h * shards.max(1) as u64) >> 32) as usize
}

/// Packets for a shard in one round, each with the input's capture time
/// just before it.
struct Batch<P> {
    packets: Vec<(P, i64)>,
    /// Capture time at the end of the round (`i64::MIN`: no packet yet).
    end_clock: i64,
}

/// A message from a shard to the merger.
struct Ready {
    shard: usize,
    /// Packed: the merger may hold them a while.
    rows: Vec<PackedRecord>,
    /// The shard's last message of a round: `horizon` holds.
    round_end: bool,
    /// A message of the shard's final flush, after its last round (the
    /// open flows' rows, in start order): `horizon` holds.
    flush: bool,
    /// No later row of this shard starts before this (unless the input is
    /// out of order by more than the reorder slack; never in a flush).
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
    extract_in_rounds(params, shards, ROUND, ROW_BATCH, feed, emit)
}

/// [`extract_sharded_packed`] with rounds of `round` input packets and
/// messages of `row_batch` rows (tests use small ones to cross many).
pub(crate) fn extract_in_rounds<E>(
    params: FlowParams,
    shards: usize,
    round: usize,
    row_batch: usize,
    feed: impl FnOnce(&mut dyn FnMut(&PacketRepr)) -> E,
    emit: impl FnMut(PackedRecord) + Send,
) -> Result<(E, FlowStats), FlowError> {
    let job = Job {
        params,
        shards: shards.max(1),
        round: round.max(1),
        row_batch: row_batch.max(1),
    };
    // Batches hold the profile's prepared packet type by value.
    match params.profile {
        Profile::Corrected => rounds::<pe::PxPacket, E>(job, feed, emit),
        _ => rounds::<PacketRepr, E>(job, feed, emit),
    }
}

/// What [`extract_in_rounds`] was asked for, the counts at least 1.
#[derive(Clone, Copy)]
struct Job {
    params: FlowParams,
    shards: usize,
    round: usize,
    row_batch: usize,
}

/// [`extract_in_rounds`] with packets prepared as `P`.
fn rounds<P: Prepared, E>(
    job: Job,
    feed: impl FnOnce(&mut dyn FnMut(&PacketRepr)) -> E,
    emit: impl FnMut(PackedRecord) + Send,
) -> Result<(E, FlowStats), FlowError> {
    let Job {
        params,
        shards,
        round,
        row_batch,
    } = job;
    // Shards hold no rows: the merger has the whole memory budget.
    let budget = params.spill_bytes;
    let extractors = (0..shards)
        .map(|_| FlowExtractor::with_params(params).map(FlowExtractor::unsorted))
        .collect::<Result<Vec<_>, _>>()?;
    let (to_merger, merger_rx) = mpsc::sync_channel::<Ready>(4 * shards);
    std::thread::scope(|scope| {
        let line = params.csv_rows;
        let merger = scope.spawn(move || merge(shards, budget, line, merger_rx, emit));
        let mut inputs = Vec::with_capacity(shards);
        let mut workers = Vec::with_capacity(shards);
        for (shard, mut x) in extractors.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Batch<P>>(BATCHES_QUEUED);
            // Emptied batches go back to the feeder for reuse: allocated on
            // one thread and freed on another, they kept the allocator
            // taking fresh pages, which the kernel zeroed (a third of the
            // feeder's time).
            let (back_tx, back_rx) = mpsc::channel::<Vec<(P, i64)>>();
            let to_merger = to_merger.clone();
            inputs.push((tx, back_rx));
            workers.push(scope.spawn(move || {
                let mut rows = Vec::new();
                let mut horizon = i64::MIN;
                // Rows in messages of at most `row_batch`: when a long-lived
                // flow ends, the rows it held back are all final at once.
                let send = |rows: &mut Vec<PackedRecord>, round_end: bool, flush: bool, horizon| {
                    // A send fails only if the merger is gone (it panicked).
                    let _ = to_merger.send(Ready {
                        shard,
                        rows: std::mem::replace(rows, Vec::with_capacity(row_batch)),
                        round_end,
                        flush,
                        horizon,
                    });
                };
                for mut batch in rx {
                    for (p, clock) in &batch.packets {
                        p.push_to(&mut x, *clock);
                    }
                    batch.packets.clear();
                    let _ = back_tx.send(std::mem::take(&mut batch.packets));
                    // Every shard learns where the round ended: the flows
                    // that time expires there close as with one thread.
                    if batch.end_clock != i64::MIN {
                        x.tick(batch.end_clock);
                    }
                    x.take_closed(|r| {
                        rows.push(r);
                        if rows.len() >= row_batch {
                            send(&mut rows, false, false, i64::MIN);
                        }
                    });
                    horizon = x.horizon();
                    send(&mut rows, true, false, horizon);
                }
                // The open flows' rows, in batches: they may be many, and
                // they come in start order, so that each batch moves the
                // horizon on and the merger writes while the shards format.
                let stats = x.finish_unsorted(|r, in_order| {
                    if in_order {
                        horizon = horizon.max(r.start_us);
                    }
                    rows.push(r);
                    if rows.len() >= row_batch {
                        send(&mut rows, false, true, horizon);
                    }
                });
                send(&mut rows, false, true, i64::MAX);
                stats
            }));
        }
        drop(to_merger);
        // A shard's share of a round, and some room: batches are reused, and
        // one that needs more grows once.
        let capacity = round / shards + round / 8;
        let mut batches: Vec<Vec<(P, i64)>> =
            (0..shards).map(|_| Vec::with_capacity(capacity)).collect();
        let mut clock = i64::MIN;
        let mut fed = 0usize;
        let profile = params.profile;
        // Every shard gets a batch every ROUND packets of the input (an
        // empty one too): a round is the same stretch of input on every
        // shard, which is what makes the merged order independent of
        // thread timing.
        let send_round = |batches: &mut Vec<Vec<(P, i64)>>, clock: i64| {
            for (i, (tx, back)) in inputs.iter().enumerate() {
                let spare = back
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(capacity));
                let packets = std::mem::replace(&mut batches[i], spare);
                let _ = tx.send(Batch {
                    packets,
                    end_clock: clock,
                });
            }
        };
        let out = feed(&mut |p: &PacketRepr| {
            let ts = p.ts_ns;
            let p = P::new(p);
            let i = shard_of_prepared(profile, &p, shards);
            batches[i].push((p, clock));
            clock = clock.max(ts);
            fed += 1;
            if fed == round {
                fed = 0;
                send_round(&mut batches, clock);
            }
        });
        if fed > 0 {
            send_round(&mut batches, clock);
        }
        drop(inputs);
        let mut total = FlowStats::default();
        for w in workers {
            match w.join() {
                Ok(stats) => total.merge(&stats),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        // Only the merger can fail (its spill files).
        match merger.join() {
            Ok(late) => total.rows_out_of_order += late?,
            Err(panic) => std::panic::resume_unwind(panic),
        }
        Ok((out, total))
    })
}

/// Write rows once no shard can still produce an earlier one; at most about
/// `budget` bytes of held rows in memory.
///
/// Messages are taken round by round: round k's rows of every shard, in
/// shard order, then the rows every shard's round-k horizon has passed, in
/// (start, key, shard, arrival) order. What is written when depends only on
/// the input, never on which shard thread ran ahead, also for rows that
/// arrive after their turn (input out of order by more than the slack).
fn merge(
    shards: usize,
    budget: usize,
    line: bool,
    rx: mpsc::Receiver<Ready>,
    mut emit: impl FnMut(PackedRecord),
) -> Result<u64, FlowError> {
    let mut waiting: Vec<VecDeque<Ready>> = (0..shards).map(|_| VecDeque::new()).collect();
    let mut rounds_in = vec![0usize; shards];
    let mut horizons = vec![i64::MIN; shards];
    let mut held: SpillBuffer<(i64, FlowKey, usize, u64)> = SpillBuffer::new(budget);
    let mut seq = 0u64;
    let mut last: Option<(i64, FlowKey)> = None;
    let mut late = 0u64;
    // A message's rows wait under (start, key, shard, arrival).
    let hold = |held: &mut SpillBuffer<(i64, FlowKey, usize, u64)>, seq: &mut u64, m: Ready| {
        for r in m.rows {
            held.insert((r.start_us, r.key, m.shard, *seq), r.row);
            *seq += 1;
        }
    };
    let mut out = |held: &mut SpillBuffer<(i64, FlowKey, usize, u64)>, below: i64| {
        while held.first_key().is_some_and(|k| k.0 < below) {
            let Some(((start_us, key, _, _), row)) = held.pop_first() else {
                break;
            };
            super::note_order(&mut last, &mut late, (start_us, key));
            emit(PackedRecord {
                start_us,
                key,
                line,
                row,
            });
        }
    };
    // Set once every shard's rounds are all taken: from then on each
    // message is a flush message, final as it comes.
    let mut flushing = false;
    for m in rx {
        let s = m.shard;
        rounds_in[s] += usize::from(m.round_end);
        waiting[s].push_back(m);
        while !flushing && rounds_in.iter().all(|&n| n > 0) {
            for (s, queue) in waiting.iter_mut().enumerate() {
                while let Some(m) = queue.pop_front() {
                    let round_end = m.round_end.then_some(m.horizon);
                    hold(&mut held, &mut seq, m);
                    if let Some(h) = round_end {
                        horizons[s] = h;
                        break;
                    }
                }
                rounds_in[s] -= 1;
            }
            out(
                &mut held,
                horizons.iter().copied().min().unwrap_or(i64::MAX),
            );
        }
        // Every shard has the same rounds; once all are taken, the rest is
        // each shard's final flush. Its rows come in start order and never
        // start before the shard's last horizon, so no later row sorts
        // before one written now: the output is the same whenever the
        // flush messages come.
        flushing = flushing
            || (rounds_in.iter().all(|&n| n == 0)
                && waiting.iter().all(|q| q.front().is_some_and(|m| m.flush)));
        if flushing {
            for (s, queue) in waiting.iter_mut().enumerate() {
                for m in queue.drain(..) {
                    horizons[s] = horizons[s].max(m.horizon);
                    hold(&mut held, &mut seq, m);
                }
            }
            out(
                &mut held,
                horizons.iter().copied().min().unwrap_or(i64::MAX),
            );
        }
    }
    // Only after a shard panicked (the panic is raised again): the rest.
    for queue in &mut waiting {
        for m in queue.drain(..) {
            hold(&mut held, &mut seq, m);
        }
    }
    out(&mut held, i64::MAX);
    held.take_error().map_or(Ok(late), Err)
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
