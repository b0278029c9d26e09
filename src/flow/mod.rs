//! Flow layer: decoded packets -> bidirectional flows -> CICFlowMeter feature rows.
//!
//! Takes [`PacketRepr`]s in capture order (from [`crate::capture`]) and a
//! [`Profile`]; gives [`FlowRecord`]s (typed cells in the profile's column
//! order) and [`FlowStats`] (where every packet went), plus a plain CSV
//! writer ([`csv::CsvWriter`]) with Java number formatting.
//!
//! - [`key`]: bidirectional flow keys and the `Flow ID` text.
//! - [`stats`]: O(1) streaming statistics (count/sum/min/max/Welford) with
//!   commons-math arithmetic.
//! - [`v3`]: the CICFlowMeter V3 flow table (profiles `cic2017`, `cic2018`).
//! - [`pe`]: Engelen's fixed fork (profile `engelen`).
//! - [`px`]: the corrected profile (`corrected`, the default).
//! - [`format`]: Java `Double.toString`, V3 timestamps, `--tz` offsets.
//! - [`reorder`]: optional stable time-sort pre-pass.
//! - [`profile`], [`record`], [`csv`].
//!
//! Invariants:
//! - per-flow state is O(1) in the flow's packets; flows are written as soon
//!   as their row can no longer change, so memory follows the flows open at
//!   one time (plus a small tombstone per timed-out key in the compat
//!   profiles, which the Java lifecycle needs);
//! - conservation: every packet given to [`FlowExtractor::push`] is counted
//!   once in [`FlowStats`]: in a written flow, in an unwritten one-packet
//!   flow, or as skipped by reason ([`FlowStats::is_balanced`]);
//! - output order is deterministic: (flow start, key, creation order), and
//!   never depends on `HashMap` iteration. It is exact when the input is out
//!   of order by at most [`v3::REORDER_SLACK_US`].

pub mod csv;
pub mod error;
pub mod format;
pub mod key;
pub mod pe;
pub mod profile;
pub mod px;
pub mod record;
pub mod reorder;
pub mod stats;
#[cfg(test)]
mod testutil;
pub mod v3;

pub use error::FlowError;
pub use format::TzOffset;
pub use key::FlowKey;
pub use profile::Profile;
pub use record::{FlowRecord, Value};

use crate::capture::PacketRepr;
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Written flows closed by the maximum flow age.
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
}

impl FlowParams {
    /// `profile` with UTC and the default timeouts (120 s idle, 3600 s active).
    pub fn new(profile: Profile) -> FlowParams {
        FlowParams {
            profile,
            tz: TzOffset::UTC,
            idle_timeout_us: px::DEFAULT_IDLE_TIMEOUT_US,
            active_timeout_us: px::DEFAULT_ACTIVE_TIMEOUT_US,
        }
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
    closed: Vec<FlowRecord>,
    pending: BTreeMap<(i64, FlowKey, u64), FlowRecord>,
    seq: u64,
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
            Profile::Cic2017 => Engine::V3(v3::V3Table::new(true, tz)),
            Profile::Cic2018 => Engine::V3(v3::V3Table::new(false, tz)),
            Profile::Engelen => Engine::Pe(pe::PeTable::new()),
            Profile::Corrected => Engine::Px(px::PxTable::new(
                params.idle_timeout_us,
                params.active_timeout_us,
            )),
        };
        Ok(FlowExtractor {
            profile,
            engine,
            stats: FlowStats::default(),
            closed: Vec::new(),
            pending: BTreeMap::new(),
            seq: 0,
        })
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    pub fn stats(&self) -> &FlowStats {
        &self.stats
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

    fn stash(&mut self) {
        for r in self.closed.drain(..) {
            self.pending.insert((r.start_us, r.key, self.seq), r);
            self.seq += 1;
        }
    }

    /// Move the rows that are final in output order to `out`.
    pub fn take_ready(&mut self, out: &mut Vec<FlowRecord>) {
        if self.pending.is_empty() {
            return;
        }
        let horizon = match &mut self.engine {
            Engine::V3(t) => t.horizon(),
            Engine::Pe(t) => t.horizon(),
            Engine::Px(t) => t.horizon(),
        };
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 >= horizon {
                break;
            }
            out.push(entry.remove());
        }
    }

    /// End of input: every remaining row, in order, and the counters.
    pub fn finish(self, out: &mut Vec<FlowRecord>) -> FlowStats {
        self.finish_each(|r| out.push(r))
    }

    /// End of input, streaming: every remaining row, in order, to `emit`,
    /// without first collecting them all; then the counters.
    pub fn finish_each(mut self, mut emit: impl FnMut(FlowRecord)) -> FlowStats {
        self.stash();
        let mut pending = std::mem::take(&mut self.pending);
        {
            // Rows already closed go first when they sort before (or tie with)
            // a row made now.
            let mut merge = |r: FlowRecord| {
                while let Some(e) = pending.first_entry() {
                    if (e.key().0, e.key().1) <= (r.start_us, r.key) {
                        emit(e.remove());
                    } else {
                        break;
                    }
                }
                emit(r);
            };
            match &mut self.engine {
                Engine::V3(t) => t.finish(&mut merge, &mut self.stats),
                Engine::Pe(t) => t.finish(&mut merge, &mut self.stats),
                Engine::Px(t) => t.finish(&mut merge, &mut self.stats),
            }
        }
        pending.into_values().for_each(emit);
        self.stats
    }
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
