//! Flow layer: decoded packets -> bidirectional flows -> CICFlowMeter feature rows.
//!
//! Takes [`PacketRepr`]s in capture order (from [`crate::capture`]) and a
//! [`Profile`]; gives [`FlowRecord`]s (typed cells in the profile's column
//! order) or [`PackedRecord`]s (the same rows packed, or as CSV lines: the
//! fast path) and [`FlowStats`] (where every packet went), plus a plain CSV
//! writer ([`csv::CsvWriter`]) with Java number formatting.
//!
//! - [`key`]: bidirectional flow keys and the `Flow ID` text.
//! - [`stats`]: O(1) streaming statistics (count/sum/min/max/Welford) with
//!   commons-math arithmetic.
//! - [`v3`]: the CICFlowMeter V3 flow table (profiles `cic2017`, `cic2018`).
//! - [`pe`]: Engelen's fixed fork (profile `engelen`).
//! - [`px`]: the corrected profile (`corrected`, the default).
//! - [`format`](mod@format): Java `Double.toString`, V3 timestamps, `--tz` offsets.
//! - [`reorder`]: optional stable time-sort pre-pass.
//! - [`shard`]: one input on several threads, same rows as one thread.
//! - [`spill`]: rows waiting for their turn in output order, held within a
//!   memory budget (sorted runs in temporary files beyond it).
//! - [`profile`], [`record`], [`csv`], [`frame`] (Parquet through polars).
//!
//! Invariants:
//! - per-flow state is O(1) in the flow's packets (the `engelen`/`corrected`
//!   retransmission memory is bounded per flow); flows are written as soon
//!   as their row can no longer change and every earlier-starting flow is
//!   written, so memory follows the flows open at one time (plus a small
//!   tombstone per timed-out key in the compat profiles, which the Java
//!   lifecycle needs); the rows a long-lived flow holds back stay within
//!   [`FlowParams::spill_bytes`] of memory and go to temporary files beyond
//!   ([`spill`]);
//! - conservation: every packet given to [`FlowExtractor::push`] is counted
//!   once in [`FlowStats`]: in a written flow, in an unwritten one-packet
//!   flow, or as skipped by reason ([`FlowStats::is_balanced`]);
//! - output order is deterministic: (flow start, key, creation order), and
//!   never depends on `HashMap` iteration. It is exact when the input is out
//!   of order by at most [`FlowParams::reorder_slack_us`] (default 1 s);
//!   beyond that, rows are counted in [`FlowStats::rows_out_of_order`].

pub mod csv;
pub mod error;
pub mod format;
pub mod frame;
pub mod key;
pub mod pe;
pub mod profile;
pub mod px;
mod queue;
pub mod record;
pub mod reorder;
pub mod shard;
pub mod spill;
pub mod stats;
#[cfg(test)]
mod testutil;
pub mod v3;

pub use error::FlowError;
pub use format::TzOffset;
pub use key::FlowKey;
pub use profile::Profile;
pub use record::{FlowRecord, PackedRecord, Value};

use crate::capture::PacketRepr;
use serde::Serialize;
use spill::SpillBuffer;

/// Where the packets given to a [`FlowExtractor`] went, and how flows ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlowStats {
    /// Packets offered.
    pub packets: u64,
    /// Packets counted in a written flow.
    pub packets_in_written_flows: u64,
    /// One-packet flows the profile does not write (P17/P18: all of them).
    pub single_packet_flows_not_written: u64,
    /// Packets of a link type the profile ignores (P17/P18: not Ethernet).
    pub skipped_link_type: u64,
    /// IPv6 packets the profile ignores (P17/P18).
    pub skipped_ipv6: u64,
    /// Flows written.
    pub flows_written: u64,
    /// Written flows closed by a FIN.
    pub closed_by_fin: u64,
    /// Written flows closed by the maximum flow age, including flows written
    /// early because their age already exceeds it (the Java tool writes those
    /// at their next packet or at the end of the input).
    pub closed_by_timeout: u64,
    /// Written flows still open at the end of the input.
    pub closed_at_eof: u64,
    /// Written flows closed by a RST (`corrected`).
    pub closed_by_rst: u64,
    /// Written flows closed by the idle timeout (`corrected`).
    pub closed_by_idle: u64,
    /// Written flows cut by the active timeout (`corrected`).
    pub closed_by_active_timeout: u64,
    /// Written flows closed by a SYN after their teardown (`engelen`).
    pub closed_by_new_syn: u64,
    /// Written ICMP flows closed by a packet of another type and code (`engelen`).
    pub closed_by_icmp_change: u64,
    /// TCP packets not remembered for retransmission counting because their
    /// flow's memory was full (`engelen`; see `pe::RETRANS_MEMORY`).
    pub retrans_memory_full: u64,
    /// Packets that arrived so late (more than the reorder slack behind the
    /// newest packet) that the flow they belonged to was already written;
    /// they started a continuation flow instead.
    pub late_after_expiry: u64,
    /// Rows written after a row that sorts later (only when the input is out
    /// of order by more than the reorder slack): the output is then not fully
    /// sorted by (start, key); use a sort pre-pass.
    pub rows_out_of_order: u64,
}

impl FlowStats {
    /// True when every offered packet is accounted for exactly once.
    pub fn is_balanced(&self) -> bool {
        self.packets
            == self.packets_in_written_flows
                + self.single_packet_flows_not_written
                + self.skipped_link_type
                + self.skipped_ipv6
    }

    /// Add another file's counters.
    pub fn merge(&mut self, o: &FlowStats) {
        self.packets += o.packets;
        self.packets_in_written_flows += o.packets_in_written_flows;
        self.single_packet_flows_not_written += o.single_packet_flows_not_written;
        self.skipped_link_type += o.skipped_link_type;
        self.skipped_ipv6 += o.skipped_ipv6;
        self.flows_written += o.flows_written;
        self.closed_by_fin += o.closed_by_fin;
        self.closed_by_timeout += o.closed_by_timeout;
        self.closed_at_eof += o.closed_at_eof;
        self.late_after_expiry += o.late_after_expiry;
        self.rows_out_of_order += o.rows_out_of_order;
        self.closed_by_new_syn += o.closed_by_new_syn;
        self.closed_by_rst += o.closed_by_rst;
        self.closed_by_idle += o.closed_by_idle;
        self.closed_by_active_timeout += o.closed_by_active_timeout;
        self.closed_by_icmp_change += o.closed_by_icmp_change;
        self.retrans_memory_full += o.retrans_memory_full;
    }

    /// Count a written flow of `packets` packets closed for `why`.
    pub fn count_written(&mut self, why: CloseReason, packets: u64) {
        self.flows_written += 1;
        self.packets_in_written_flows += packets;
        match why {
            CloseReason::Fin => self.closed_by_fin += 1,
            CloseReason::Timeout => self.closed_by_timeout += 1,
            CloseReason::Eof => self.closed_at_eof += 1,
            CloseReason::NewSyn => self.closed_by_new_syn += 1,
            CloseReason::IcmpChange => self.closed_by_icmp_change += 1,
            CloseReason::Rst => self.closed_by_rst += 1,
            CloseReason::Idle => self.closed_by_idle += 1,
            CloseReason::ActiveTimeout => self.closed_by_active_timeout += 1,
        }
    }
}

/// Why a flow was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A FIN (V3: the first one; corrected: the ACK after FINs both ways).
    Fin,
    /// The maximum flow age of the compat profiles.
    Timeout,
    /// A RST (`corrected`).
    Rst,
    /// The idle timeout (`corrected`).
    Idle,
    /// The active timeout (`corrected`).
    ActiveTimeout,
    /// End of input.
    Eof,
    /// A SYN on a torn-down connection (`engelen`).
    NewSyn,
    /// An ICMP packet of another type and code (`engelen`).
    IcmpChange,
}

#[derive(Debug)]
enum Engine {
    V3(v3::V3Table),
    Pe(pe::PeTable),
    Px(px::PxTable),
}

/// Extractor settings. Timeouts apply to the corrected profile only (the
/// compat profiles have their tools' fixed rules).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowParams {
    pub profile: Profile,
    /// Fixed offset of the `cic2017`/`cic2018` local-time `Timestamp`.
    pub tz: TzOffset,
    /// Close a flow idle for longer than this (µs).
    pub idle_timeout_us: i64,
    /// Cut a flow older than this (µs); the connection continues in a new flow.
    pub active_timeout_us: i64,
    /// How far (µs) packets may come out of order while rows still come out
    /// sorted and the compat profiles still write flows early exactly as the
    /// tool would (default 1 s). `i64::MAX` holds every row until the end of
    /// the input and keeps compat flows open like the Java tool does.
    pub reorder_slack_us: i64,
    /// Memory (bytes of packed rows) for the rows closed but not yet final in
    /// output order; beyond it they go to sorted runs in temporary files
    /// ([`spill`]). A sharded run gives it to its merger (its shards hold no rows).
    /// Output does not depend on it. `usize::MAX`: never spill.
    pub spill_bytes: usize,
    /// Rows leave as their CSV lines ([`PackedRecord`]), formatted on the
    /// flow table's thread as they close: for a CSV writer, which then
    /// only copies them (default: tagged cells, formatted by the writer).
    pub csv_rows: bool,
}

impl FlowParams {
    /// `profile` with UTC and the default timeouts (120 s idle, 3600 s active).
    pub fn new(profile: Profile) -> FlowParams {
        FlowParams {
            profile,
            tz: TzOffset::UTC,
            idle_timeout_us: px::DEFAULT_IDLE_TIMEOUT_US,
            active_timeout_us: px::DEFAULT_ACTIVE_TIMEOUT_US,
            reorder_slack_us: v3::REORDER_SLACK_US,
            spill_bytes: spill::DEFAULT_SPILL_BYTES,
            csv_rows: false,
        }
    }

    /// Rows as CSV lines ([`FlowParams::csv_rows`]).
    pub fn with_csv_rows(mut self, csv: bool) -> FlowParams {
        self.csv_rows = csv;
        self
    }

    /// Hold at most `bytes` of waiting rows in memory ([`FlowParams::spill_bytes`]).
    pub fn with_spill_bytes(mut self, bytes: usize) -> FlowParams {
        self.spill_bytes = bytes;
        self
    }

    pub fn with_reorder_slack(mut self, slack_us: i64) -> FlowParams {
        self.reorder_slack_us = slack_us;
        self
    }

    pub fn with_tz(mut self, tz: TzOffset) -> FlowParams {
        self.tz = tz;
        self
    }

    /// Timeouts in seconds; each must be positive and finite.
    pub fn with_timeouts(mut self, idle_s: f64, active_s: f64) -> Result<FlowParams, FlowError> {
        let to_us = |name: &'static str, s: f64| {
            if s.is_finite() && s > 0.0 && s * 1e6 < i64::MAX as f64 {
                Ok((s * 1e6).round() as i64)
            } else {
                Err(FlowError::BadTimeout { name, value: s })
            }
        };
        self.idle_timeout_us = to_us("--idle-timeout", idle_s)?;
        self.active_timeout_us = to_us("--active-timeout", active_s)?;
        Ok(self)
    }
}

/// Streaming extractor for one capture: push packets in file order, take
/// finished rows with [`FlowExtractor::take_ready`], end with
/// [`FlowExtractor::finish`].
#[derive(Debug)]
pub struct FlowExtractor {
    profile: Profile,
    engine: Engine,
    stats: FlowStats,
    closed: record::Closed,
    /// Rows are CSV lines ([`FlowParams::csv_rows`]).
    line: bool,
    /// Rows closed but not yet final in output order, packed (they can be
    /// most of the capture's rows while an old flow stays open, hence the
    /// memory budget).
    pending: SpillBuffer<(i64, FlowKey, u64)>,
    seq: u64,
    /// (start, key) of the last row handed out.
    last_out: Option<(i64, FlowKey)>,
    /// Hold closed rows until final in output order (`false`: a shard of a
    /// sharded run, whose merger does that, takes them as they close).
    sort: bool,
}

impl FlowExtractor {
    /// An extractor for `profile`; `tz` is the fixed offset of the compat
    /// profiles' local-time `Timestamp` column.
    pub fn new(profile: Profile, tz: TzOffset) -> Result<FlowExtractor, FlowError> {
        FlowExtractor::with_params(FlowParams::new(profile).with_tz(tz))
    }

    /// An extractor with explicit settings.
    pub fn with_params(params: FlowParams) -> Result<FlowExtractor, FlowError> {
        let FlowParams { profile, tz, .. } = params;
        let slack = params.reorder_slack_us;
        if params.idle_timeout_us <= 0 {
            return Err(FlowError::BadTimeout {
                name: "--idle-timeout",
                value: params.idle_timeout_us as f64 / 1e6,
            });
        }
        if params.active_timeout_us <= 0 {
            return Err(FlowError::BadTimeout {
                name: "--active-timeout",
                value: params.active_timeout_us as f64 / 1e6,
            });
        }
        let engine = match profile {
            Profile::Cic2017 => Engine::V3(v3::V3Table::new(true, tz).with_slack(slack)),
            Profile::Cic2018 => Engine::V3(v3::V3Table::new(false, tz).with_slack(slack)),
            Profile::Engelen => Engine::Pe(pe::PeTable::new().with_slack(slack)),
            Profile::Corrected => Engine::Px(
                px::PxTable::new(params.idle_timeout_us, params.active_timeout_us)
                    .with_slack(slack),
            ),
        };
        Ok(FlowExtractor {
            profile,
            engine,
            stats: FlowStats::default(),
            closed: record::Closed::new(params.csv_rows),
            line: params.csv_rows,
            pending: SpillBuffer::new(params.spill_bytes),
            seq: 0,
            last_out: None,
            sort: true,
        })
    }

    /// An extractor that hands rows out as they close, in closing order
    /// ([`FlowExtractor::take_closed`]), for a merger that sorts them.
    pub(crate) fn unsorted(mut self) -> FlowExtractor {
        self.sort = false;
        self
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Runs of waiting rows written to temporary files so far.
    #[cfg(test)]
    pub(crate) fn spills(&self) -> u64 {
        self.pending.spills()
    }

    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// Feed one decoded packet, the input having reached capture time
    /// `clock_before_ns` before it (a sharded run, where a shard sees only
    /// some packets, passes the whole input's time so that every shard
    /// expires flows exactly when one extractor would).
    pub fn push_at(&mut self, p: &PacketRepr, clock_before_ns: i64) {
        if clock_before_ns != i64::MIN {
            self.tick(clock_before_ns);
        }
        self.push(p);
    }

    /// Advance capture time to `clock_ns` without a packet (a sharded run
    /// tells every shard where the input ended) and close what that expires.
    pub fn tick(&mut self, clock_ns: i64) {
        let us = clock_ns.div_euclid(1000);
        match &mut self.engine {
            Engine::V3(t) => t.tick(us, &mut self.closed, &mut self.stats),
            Engine::Pe(t) => t.tick(us, &mut self.closed, &mut self.stats),
            Engine::Px(t) => t.tick(us, &mut self.closed, &mut self.stats),
        }
        self.stash();
    }

    /// The earliest start a row not yet handed out by
    /// [`FlowExtractor::take_ready`] can have.
    pub fn horizon(&mut self) -> i64 {
        let engine = match &mut self.engine {
            Engine::V3(t) => t.horizon(),
            Engine::Pe(t) => t.horizon(),
            Engine::Px(t) => t.horizon(),
        };
        self.pending.first_key().map_or(engine, |k| k.0.min(engine))
    }

    /// [`FlowExtractor::push_at`] of a corrected-profile packet prepared
    /// by [`Prepared::new`].
    fn push_px_at(&mut self, p: &pe::PxPacket, clock_before_ns: i64) {
        if clock_before_ns != i64::MIN {
            self.tick(clock_before_ns);
        }
        if let Engine::Px(t) = &mut self.engine {
            t.push_px(p, &mut self.closed, &mut self.stats);
            self.stash();
        } else {
            // Prepared for another profile: a caller's mistake (the
            // sharded path prepares with its shards' profile). Counted as
            // offered only, so the counters do not balance.
            debug_assert!(false, "a packet prepared for another profile");
            self.stats.packets += 1;
        }
    }

    /// Feed one decoded packet.
    pub fn push(&mut self, p: &PacketRepr) {
        match &mut self.engine {
            Engine::V3(t) => t.push(p, &mut self.closed, &mut self.stats),
            Engine::Pe(t) => t.push(p, &mut self.closed, &mut self.stats),
            Engine::Px(t) => t.push(p, &mut self.closed, &mut self.stats),
        }
        self.stash();
    }

    #[inline]
    fn stash(&mut self) {
        if self.sort && !self.closed.rows.is_empty() {
            self.stash_closed();
        }
    }

    fn stash_closed(&mut self) {
        for r in self.closed.rows.drain(..) {
            self.pending.insert((r.start_us, r.key, self.seq), r.row);
            self.seq += 1;
        }
    }

    /// Move the rows that are final in output order to `out`.
    pub fn take_ready(&mut self, out: &mut Vec<FlowRecord>) {
        self.take_ready_each(|r| out.push(r));
    }

    /// Give the rows that are final in output order to `emit`, one by one:
    /// when a long-lived flow ends, the rows it held back are all final at
    /// once (possibly most of the capture), too many to collect unpacked.
    pub fn take_ready_each(&mut self, mut emit: impl FnMut(FlowRecord)) {
        self.take_ready_packed(|r| emit(r.unpack()));
    }

    /// [`FlowExtractor::take_ready_each`], the rows packed (the CSV writer
    /// formats them as they are; a sharded run holds them again until every
    /// shard is past them).
    pub fn take_ready_packed(&mut self, mut out: impl FnMut(PackedRecord)) {
        if self.pending.is_empty() {
            return;
        }
        let horizon = match &mut self.engine {
            Engine::V3(t) => t.horizon(),
            Engine::Pe(t) => t.horizon(),
            Engine::Px(t) => t.horizon(),
        };
        while self.pending.first_key().is_some_and(|k| k.0 < horizon) {
            let Some(((start_us, key, _), row)) = self.pending.pop_first() else {
                break;
            };
            note_order(
                &mut self.last_out,
                &mut self.stats.rows_out_of_order,
                (start_us, key),
            );
            out(PackedRecord {
                start_us,
                key,
                line: self.line,
                row,
            });
        }
    }

    /// An [`FlowExtractor::unsorted`] extractor's rows closed since the last
    /// call, in closing order (rows tie on (start, key) only within one
    /// table, where they keep this order).
    pub(crate) fn take_closed(&mut self, out: impl FnMut(PackedRecord)) {
        debug_assert!(!self.sort);
        self.closed.rows.drain(..).for_each(out);
    }

    /// End of input for an [`FlowExtractor::unsorted`] extractor: the rows
    /// closed before, then the open flows' rows in (start, key, creation)
    /// order, and the counters. `emit`'s flag is true for the open flows'
    /// rows: no row after one of them starts earlier than it.
    pub(crate) fn finish_unsorted(mut self, mut emit: impl FnMut(PackedRecord, bool)) -> FlowStats {
        debug_assert!(!self.sort);
        self.closed.rows.drain(..).for_each(|r| emit(r, false));
        self.finish_tables(&mut |r| emit(r, true));
        debug_assert!(self.closed.rows.is_empty());
        self.closed.rows.drain(..).for_each(|r| emit(r, false));
        self.stats
    }

    /// End of input for the flow table: its open flows' rows, in (start,
    /// key, creation) order, to `emit`.
    fn finish_tables(&mut self, emit: &mut dyn FnMut(PackedRecord)) {
        match &mut self.engine {
            Engine::V3(t) => t.finish(&mut self.closed, emit, &mut self.stats),
            Engine::Pe(t) => t.finish(&mut self.closed, emit, &mut self.stats),
            Engine::Px(t) => t.finish(&mut self.closed, emit, &mut self.stats),
        }
    }

    /// End of input: every remaining row, in order, and the counters.
    ///
    /// For inputs whose waiting rows fit [`FlowParams::spill_bytes`] (tests,
    /// small captures): a temporary-file error, possible only beyond it,
    /// would go unreported here (rows missing); use
    /// [`FlowExtractor::finish_each`], which reports it.
    pub fn finish(self, out: &mut Vec<FlowRecord>) -> FlowStats {
        self.finish_stats(|r| out.push(r.unpack())).0
    }

    /// End of input, streaming: every remaining row, in order, to `emit`,
    /// without first collecting them all; then the counters, or the first
    /// error of the temporary row files ([`spill`]), after which rows are
    /// missing.
    pub fn finish_each(self, mut emit: impl FnMut(FlowRecord)) -> Result<FlowStats, FlowError> {
        self.finish_packed(|r| emit(r.unpack()))
    }

    /// [`FlowExtractor::finish_each`], the rows packed.
    pub fn finish_packed(self, emit: impl FnMut(PackedRecord)) -> Result<FlowStats, FlowError> {
        match self.finish_stats(emit) {
            (_, Some(e)) => Err(e),
            (stats, None) => Ok(stats),
        }
    }

    fn finish_stats(
        mut self,
        mut emit: impl FnMut(PackedRecord),
    ) -> (FlowStats, Option<FlowError>) {
        self.stash();
        let mut pending = std::mem::replace(&mut self.pending, SpillBuffer::new(usize::MAX));
        let line = self.line;
        let mut last_out = self.last_out;
        let mut late_rows = 0;
        let mut emit = |r: PackedRecord| {
            note_order(&mut last_out, &mut late_rows, (r.start_us, r.key));
            emit(r);
        };
        {
            // Rows already closed go first when they sort before (or tie with)
            // a row made now.
            let mut merge = |r: PackedRecord| {
                while pending
                    .first_key()
                    .is_some_and(|k| (k.0, k.1) <= (r.start_us, r.key))
                {
                    let Some(((start_us, key, _), row)) = pending.pop_first() else {
                        break;
                    };
                    emit(PackedRecord {
                        start_us,
                        key,
                        line,
                        row,
                    });
                }
                emit(r);
            };
            self.finish_tables(&mut merge);
        }
        while let Some(((start_us, key, _), row)) = pending.pop_first() {
            emit(PackedRecord {
                start_us,
                key,
                line,
                row,
            });
        }
        self.stats.rows_out_of_order += late_rows;
        (self.stats, pending.take_error())
    }
}

/// A packet made ready, off the flow table's thread, for the tables of one
/// profile ([`Prepared::new`]): for `corrected`, [`pe::PxPacket`], decoded
/// into the table's packet type with its flow key; for the compat profiles,
/// whose tables decode it themselves, the [`PacketRepr`] as it is. A sharded
/// run prepares packets on the reading thread, with its shards' profile,
/// and sends them by value in batches of one type (no allocation per
/// packet: a boxed packet, allocated on the reading thread and freed on a
/// shard's, cost the compat profiles a seventh of their time in the
/// allocator).
pub(crate) trait Prepared: Send + Sized + 'static {
    /// `repr` prepared (the type is chosen by the profile).
    fn new(repr: &PacketRepr) -> Self;

    /// [`FlowKey::hash64`] of the packet's flow key as `profile` sees it,
    /// direction-free (the same for every packet of a flow; computed once
    /// for a corrected-profile packet); `None` for a packet the profile
    /// skips.
    fn shard_hash(&self, profile: Profile) -> Option<u64>;

    /// [`FlowExtractor::push_at`] of the packet.
    fn push_to(&self, x: &mut FlowExtractor, clock_before_ns: i64);
}

impl Prepared for pe::PxPacket {
    #[inline]
    fn new(repr: &PacketRepr) -> pe::PxPacket {
        pe::PxPacket::from_repr(repr)
    }

    #[inline]
    fn shard_hash(&self, _: Profile) -> Option<u64> {
        Some(self.hash)
    }

    #[inline]
    fn push_to(&self, x: &mut FlowExtractor, clock_before_ns: i64) {
        x.push_px_at(self, clock_before_ns);
    }
}

impl Prepared for PacketRepr {
    #[inline]
    fn new(repr: &PacketRepr) -> PacketRepr {
        repr.clone()
    }

    #[inline]
    fn shard_hash(&self, profile: Profile) -> Option<u64> {
        raw_shard_key(profile, self).map(|k| k.hash64())
    }

    #[inline]
    fn push_to(&self, x: &mut FlowExtractor, clock_before_ns: i64) {
        x.push_at(self, clock_before_ns);
    }
}

/// The flow key of `p` as `profile` sees it, direction-free.
fn raw_shard_key(profile: Profile, p: &PacketRepr) -> Option<FlowKey> {
    match profile {
        Profile::Cic2017 | Profile::Cic2018 => v3::V3Packet::from_repr(p, false)
            .ok()
            .map(|v| FlowKey::canonical(v.src, v.dst, v.sport, v.dport, v.proto)),
        Profile::Engelen => pe::PePacket::from_repr(p)
            .ok()
            .map(|v| FlowKey::canonical(v.src, v.dst, v.sport, v.dport, v.proto)),
        Profile::Corrected => {
            let v = pe::PePacket::corrected_from_repr(p);
            Some(FlowKey::canonical(v.src, v.dst, v.sport, v.dport, v.proto))
        }
    }
}

/// Count row `k` (start, key) in `late` if it sorts before the previous row
/// handed out.
pub(crate) fn note_order(last: &mut Option<(i64, FlowKey)>, late: &mut u64, k: (i64, FlowKey)) {
    if last.is_some_and(|l| k < l) {
        *late += 1;
    }
    *last = Some(k);
}

/// Run a whole slice of packets through a fresh extractor (tests, small inputs).
pub fn extract_all(
    profile: Profile,
    tz: TzOffset,
    packets: &[PacketRepr],
) -> Result<(Vec<FlowRecord>, FlowStats), FlowError> {
    let mut x = FlowExtractor::new(profile, tz)?;
    let mut out = Vec::new();
    for p in packets {
        x.push(p);
        x.take_ready(&mut out);
    }
    let stats = x.finish(&mut out);
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    //! Invariants of every profile on random packet sequences.

    use super::testutil::pkt;
    use super::*;
    use crate::capture::TcpFlags;
    use proptest::prelude::*;

    /// A random packet among 3 hosts, 2 ports each, TCP/UDP/ICMP, with
    /// random TCP flags, advancing time by a random step that is sometimes
    /// large (timeouts) and sometimes negative (reordering).
    fn packets() -> impl Strategy<Value = Vec<PacketRepr>> {
        let one = (
            0usize..3,
            0usize..3,
            0u16..2,
            0u16..2,
            prop_oneof![Just(6u8), Just(17u8), Just(1u8)],
            any::<u8>(),
            0u32..1500,
            prop_oneof![
                8 => 0i64..2_000_000,
                1 => 100_000_000i64..400_000_000,
                1 => -3_000_000i64..0,
            ],
        );
        proptest::collection::vec(one, 1..120).prop_map(|v| {
            let hosts = ["10.0.0.1", "10.0.0.2", "192.168.1.9"];
            let mut ts = 1_600_000_000_000_000i64;
            v.into_iter()
                .map(|(s, d, sp, dp, proto, flags, len, step)| {
                    ts += step;
                    let mut p = pkt(ts, (hosts[s], 1000 + sp), (hosts[d], 80 + dp), proto, len);
                    if proto == 6 {
                        p.tcp_flags = TcpFlags(flags);
                    } else if proto == 1 {
                        p.src_port = 0;
                        p.dst_port = 0;
                        p.icmp_type = flags % 4;
                        p.icmp_code = flags % 3;
                    }
                    p
                })
                .collect()
        })
    }

    fn extract_with(params: FlowParams, pkts: &[PacketRepr]) -> (Vec<FlowRecord>, FlowStats) {
        let mut x = FlowExtractor::with_params(params).unwrap();
        let mut rows = Vec::new();
        for p in pkts {
            x.push(p);
            x.take_ready(&mut rows);
        }
        let stats = x.finish(&mut rows);
        (rows, stats)
    }

    fn run(profile: Profile, pkts: &[PacketRepr], stream: bool) -> (Vec<FlowRecord>, FlowStats) {
        let params = FlowParams::new(profile).with_timeouts(60.0, 200.0).unwrap();
        let mut x = FlowExtractor::with_params(params).unwrap();
        let mut rows = Vec::new();
        for p in pkts {
            x.push(p);
            if stream {
                x.take_ready(&mut rows);
            }
        }
        let stats = x.finish(&mut rows);
        (rows, stats)
    }

    /// How far (ns) the input goes back behind its newest packet.
    fn disorder_ns(pkts: &[PacketRepr]) -> i64 {
        let mut max = i64::MIN;
        let mut worst = 0;
        for p in pkts {
            worst = worst.max(max.saturating_sub(p.ts_ns));
            max = max.max(p.ts_ns);
        }
        worst
    }

    /// Rows and counters with `params`, streaming, and the runs spilled.
    fn extract_spilling(
        params: FlowParams,
        pkts: &[PacketRepr],
    ) -> (Vec<FlowRecord>, FlowStats, u64) {
        let mut x = FlowExtractor::with_params(params).unwrap();
        let mut rows = Vec::new();
        for (i, p) in pkts.iter().enumerate() {
            x.push(p);
            if i % 3 == 0 {
                x.take_ready(&mut rows);
            }
        }
        let spills = x.spills();
        let stats = x.finish_each(|r| rows.push(r)).unwrap();
        (rows, stats, spills)
    }

    /// One long-lived flow holds back every later row: with a small budget
    /// they go to many runs (merged once there are too many), and come back
    /// as the rows of no budget, on one thread and on two.
    #[test]
    fn rows_held_back_by_a_long_flow_spill_and_come_back_in_order() {
        let mut pkts = Vec::new();
        for i in 0..3000i64 {
            let t = i * 100_000;
            if i % 10 == 0 {
                // The long flow: a packet a second for 300 s.
                pkts.push(pkt(t, ("10.0.0.1", 5000), ("10.0.0.2", 53), 17, 10));
            }
            // Short TCP flows: SYN, FIN both ways, last ACK.
            let port = 1024 + (i % 4000) as u16;
            let (c, s) = (("10.0.0.3", port), ("10.0.0.4", 80));
            for (j, (fwd, flags, len)) in [
                (true, 0x02, 0),
                (false, 0x11, 300),
                (true, 0x11, 0),
                (false, 0x10, 0),
            ]
            .into_iter()
            .enumerate()
            {
                let (src, dst) = if fwd { (c, s) } else { (s, c) };
                let mut p = pkt(t + 10 * j as i64, src, dst, 6, len);
                p.tcp_flags = TcpFlags(flags);
                pkts.push(p);
            }
        }
        pkts.sort_by_key(|p| p.ts_ns);
        for profile in [Profile::Corrected, Profile::Cic2017] {
            let params = FlowParams::new(profile).with_timeouts(2.0, 3600.0).unwrap();
            let (want, want_stats, none) =
                extract_spilling(params.with_spill_bytes(usize::MAX), &pkts);
            assert_eq!(none, 0);
            assert!(want.len() > 2000, "{}", want.len());
            let (got, got_stats, spills) = extract_spilling(params.with_spill_bytes(20_000), &pkts);
            assert!(spills > spill::MAX_RUNS as u64, "{profile}: {spills} runs");
            assert_eq!(got_stats, want_stats);
            assert!(got == want, "{profile}: rows differ");
            let mut sharded = Vec::new();
            let ((), stats) = shard::extract_sharded(
                params.with_spill_bytes(30_000),
                2,
                |sink| pkts.iter().for_each(sink),
                |r| sharded.push(r),
            )
            .unwrap();
            assert_eq!(stats.flows_written, want_stats.flows_written);
            assert!(sharded == want, "{profile}: sharded rows differ");
        }
    }

    proptest! {
        // Each case runs every profile 16 times, spilling to files: fewer
        // cases than the default 256 keep the suite quick.
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A tiny memory budget (every held row spills, runs get merged)
        /// gives the rows, order and counters of no budget, on one thread
        /// and on three.
        #[test]
        fn spilling_changes_nothing(pkts in packets(), budget in prop_oneof![Just(0usize), 1usize..4000]) {
            for profile in Profile::ALL {
                for slack in [v3::REORDER_SLACK_US, i64::MAX] {
                    let params = FlowParams::new(profile)
                        .with_timeouts(60.0, 200.0)
                        .unwrap()
                        .with_reorder_slack(slack);
                    let (want, want_stats, none) =
                        extract_spilling(params.with_spill_bytes(usize::MAX), &pkts);
                    prop_assert_eq!(none, 0);
                    let (got, got_stats, _) =
                        extract_spilling(params.with_spill_bytes(budget), &pkts);
                    prop_assert_eq!(&got, &want);
                    prop_assert_eq!(&got_stats, &want_stats);
                    let sharded = |bytes: usize| {
                        let mut rows = Vec::new();
                        let ((), stats) = shard::extract_sharded(
                            params.with_spill_bytes(bytes),
                            3,
                            |sink| pkts.iter().for_each(sink),
                            |r| rows.push(r),
                        )
                        .unwrap();
                        (rows, stats)
                    };
                    let (a, a_stats) = sharded(usize::MAX);
                    let (b, b_stats) = sharded(budget);
                    prop_assert_eq!(&a, &b);
                    prop_assert_eq!(&a_stats, &b_stats);
                }
            }
        }

    }

    proptest! {
        #[test]
        fn conservation_order_and_streaming_equivalence(pkts in packets()) {
            let in_order = pkts.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns);
            let within_slack = disorder_ns(&pkts) <= v3::REORDER_SLACK_US * 1000;
            for profile in Profile::ALL {
                let (rows, stats) = run(profile, &pkts, true);
                prop_assert!(stats.is_balanced(), "{:?}", stats);
                prop_assert_eq!(stats.packets, pkts.len() as u64);
                prop_assert_eq!(rows.len() as u64, stats.flows_written);
                let in_rows: f64 = rows
                    .iter()
                    .map(|r| r.number(8).unwrap_or(0.0) + r.number(9).unwrap_or(0.0))
                    .sum();
                prop_assert_eq!(in_rows as u64, stats.packets_in_written_flows);
                for r in &rows {
                    prop_assert_eq!(r.values.len(), profile.columns().len());
                }
                if in_order {
                    prop_assert!(rows.windows(2).all(|w| (w[0].start_us, w[0].key) <= (w[1].start_us, w[1].key)));
                    prop_assert_eq!(stats.late_after_expiry, 0);
                }
                // Taking rows early changes nothing but when they come out;
                // their order too when the disorder stays within the slack.
                let (batch, batch_stats) = run(profile, &pkts, false);
                prop_assert_eq!(batch_stats.rows_out_of_order, 0);
                if within_slack {
                    prop_assert_eq!(stats.rows_out_of_order, 0);
                    prop_assert_eq!(&rows, &batch);
                } else {
                    let mut sorted = rows.clone();
                    sorted.sort_by_key(|r| (r.start_us, r.key));
                    prop_assert_eq!(&sorted, &batch);
                }
                let mut a = stats.clone();
                a.rows_out_of_order = 0;
                prop_assert_eq!(&a, &batch_stats);
                // Three shards on three threads give the same rows.
                let params = FlowParams::new(profile).with_timeouts(60.0, 200.0).unwrap();
                let mut sharded = Vec::new();
                let ((), sharded_stats) = shard::extract_sharded(
                    params,
                    3,
                    |sink| pkts.iter().for_each(sink),
                    |r| sharded.push(r),
                )
                .unwrap();
                let mut b = sharded_stats.clone();
                b.rows_out_of_order = 0;
                prop_assert_eq!(&a, &b);
                if within_slack {
                    prop_assert_eq!(&sharded, &rows);
                } else {
                    sharded.sort_by_key(|r| (r.start_us, r.key));
                    prop_assert_eq!(&sharded, &batch);
                }
                // Rounds of a few packets, many of them: one shard and three
                // give the same rows in the same order, also for rows that
                // come after their turn (disorder beyond the slack), and so
                // does every run (the merge does not follow thread timing).
                let rounds = |shards: usize| {
                    let mut rows = Vec::new();
                    shard::extract_in_rounds(params, shards, 5, 2, |sink| pkts.iter().for_each(sink), |r| {
                        rows.push(r.unpack())
                    })
                    .unwrap();
                    rows
                };
                let mut one = rounds(1);
                prop_assert_eq!(&rounds(3), &one);
                prop_assert_eq!(&rounds(2), &one);
                // Also in the order of one extractor: the final flush's
                // horizons (two rows a message) let no row out early.
                if !within_slack {
                    one.sort_by_key(|r| (r.start_us, r.key));
                }
                prop_assert_eq!(&one, if within_slack { &rows } else { &batch });
                // Rows as CSV lines, on one thread and on two: the bytes of
                // the cells formatted, and they read back as the cells.
                let csv_of = |rows: &[FlowRecord]| {
                    let mut w = csv::CsvWriter::new(Vec::new(), profile).unwrap();
                    rows.iter().for_each(|r| w.write(r).unwrap());
                    w.finish().unwrap()
                };
                let lines_of = |rows: Vec<PackedRecord>| {
                    let mut w = csv::CsvWriter::new(Vec::new(), profile).unwrap();
                    rows.iter().for_each(|r| w.write_packed(r).unwrap());
                    let cells: Vec<FlowRecord> = rows.into_iter().map(PackedRecord::unpack).collect();
                    (w.finish().unwrap(), cells)
                };
                let lines = params.with_csv_rows(true);
                let mut x = FlowExtractor::with_params(lines).unwrap();
                let mut packed = Vec::new();
                for p in &pkts {
                    x.push(p);
                    x.take_ready_packed(|r| packed.push(r));
                }
                x.finish_packed(|r| packed.push(r)).unwrap();
                prop_assert!(packed.iter().all(|r| r.line));
                let (text, cells) = lines_of(packed);
                prop_assert_eq!(&text, &csv_of(&rows));
                // Every NaN prints as `NaN`: a line keeps no NaN sign.
                let nan_sign_aside = |rows: &[FlowRecord]| -> Vec<Vec<Value>> {
                    rows.iter()
                        .map(|r| {
                            r.values
                                .iter()
                                .map(|c| match c {
                                    Value::Float(x) if x.is_nan() => Value::Float(f64::NAN),
                                    c => c.clone(),
                                })
                                .collect()
                        })
                        .collect()
                };
                prop_assert_eq!(nan_sign_aside(&cells), nan_sign_aside(&rows));
                let mut packed = Vec::new();
                shard::extract_sharded_packed(
                    lines,
                    2,
                    |sink| pkts.iter().for_each(sink),
                    |r| packed.push(r),
                )
                .unwrap();
                let (text, _) = lines_of(packed);
                let mut sharded = Vec::new();
                shard::extract_sharded(params, 2, |sink| pkts.iter().for_each(sink), |r| sharded.push(r))
                    .unwrap();
                prop_assert_eq!(&text, &csv_of(&sharded));
                // Compat profiles: writing old flows early gives the rows of
                // the Java lifecycle, which keeps them until their next packet.
                if in_order && profile != Profile::Corrected {
                    let lazy = FlowParams::new(profile).with_reorder_slack(i64::MAX);
                    let (lazy_rows, lazy_stats) = extract_with(lazy, &pkts);
                    prop_assert_eq!(&lazy_rows, &rows);
                    // A flow written early counts as timed out; the Java
                    // lifecycle may only write it at the end of the input.
                    let mut a = stats.clone();
                    let mut b = lazy_stats.clone();
                    for s in [&mut a, &mut b] {
                        s.closed_at_eof += s.closed_by_timeout;
                        s.closed_by_timeout = 0;
                    }
                    prop_assert_eq!(a, b);
                }
            }
        }
    }
}
