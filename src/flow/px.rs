//! The corrected profile (`corrected`, spec §4.3 "PX"): the fork's feature
//! set and columns with every fixable bug fixed.
//!
//! Takes decoded packets of any link type the capture layer reads, IPv4 and
//! IPv6; gives [`FlowRecord`]s in the `engelen` column layout. Differences
//! from `engelen` (bug ids of spec §4.1):
//!
//! - lifecycle: a RST closes the flow (the RST included, B2); FIN from both
//!   sides followed by an ACK closes it (the ACK included, B1); a flow idle for
//!   more than `idle_timeout` (default 120 s) or older than `active_timeout`
//!   (default 3600 s) is closed as soon as capture time (the newest timestamp
//!   seen) passes that point, not when its next packet arrives (B3); a piece
//!   cut by the active timeout is continued by a flow with the same Src/Dst,
//!   retransmission memory and connection time; one-packet flows are written
//!   (B4);
//! - orientation: first packet, except a SYN-ACK first (B5); direction by
//!   (IP, port), not IP alone (B22);
//! - decoding: real protocol numbers, ICMP/ICMPv6 type and code, payload
//!   bounded by the IP length (B20), header and payload of ICMP and other
//!   decoded transports counted, any link type, IPv6 (B21); window −1 when
//!   absent;
//! - features: `Init Win Bytes` of the first packet of each direction, −1
//!   when none (B13); `Fwd/Bwd Seg Size Min` from each direction's packets
//!   (B26); subflows = gaps > 1 s plus one (B10); the last active period is
//!   recorded at close (B17); a zero-duration flow has rates 0, not −1 or
//!   `Infinity` (B18); UTC µs timestamps (B23). Kept from the fork: per-packet
//!   flags (B7, B8), bulk (B9), first payload once (B11), real Down/Up (B12),
//!   first-packet `Fwd Act Data Pkts` (B14), ICMP split on type+code change.
//!
//! Packets a tool would need to reorder are processed in file order (use a
//! sort pre-pass for badly ordered captures).

use super::key::FlowKey;
use super::pe::{Orientation, PeFlow, PePacket, RetransKey, TcpState};
use super::record::FlowRecord;
use super::v3::REORDER_SLACK_US;
use super::{CloseReason, FlowStats};
use crate::capture::{PacketRepr, TcpFlags};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// Default idle timeout (µs).
pub const DEFAULT_IDLE_TIMEOUT_US: i64 = 120_000_000;
/// Default active timeout (µs).
pub const DEFAULT_ACTIVE_TIMEOUT_US: i64 = 3_600_000_000;

/// What continues a connection cut by the active timeout.
#[derive(Debug)]
struct Continuation {
    id: u64,
    o: Orientation,
    last_seen: i64,
    cumulative: i64,
    retrans_seen: HashSet<RetransKey>,
}

#[derive(Debug)]
enum Slot {
    Open(Box<PeFlow>),
    Cut(Box<Continuation>),
}

/// The corrected flow table.
#[derive(Debug)]
pub struct PxTable {
    idle: i64,
    active: i64,
    flows: HashMap<FlowKey, Slot>,
    /// (deadline, id, key): the earliest time the entry may expire; checked
    /// and re-queued lazily.
    deadlines: BinaryHeap<Reverse<(i64, u64, FlowKey)>>,
    by_start: BinaryHeap<Reverse<(i64, u64, FlowKey)>>,
    next_id: u64,
    clock: i64,
}

impl PxTable {
    /// Timeouts in µs; both must be positive (checked by the caller).
    pub fn new(idle_timeout_us: i64, active_timeout_us: i64) -> PxTable {
        PxTable {
            idle: idle_timeout_us,
            active: active_timeout_us,
            flows: HashMap::new(),
            deadlines: BinaryHeap::new(),
            by_start: BinaryHeap::new(),
            next_id: 0,
            clock: i64::MIN,
        }
    }

    fn deadline_of(&self, f: &PeFlow) -> i64 {
        f.last_seen
            .max(f.start)
            .saturating_add(self.idle)
            .min(f.start.saturating_add(self.active))
    }

    fn open(
        &mut self,
        key: FlowKey,
        p: &PePacket,
        inherit: Option<Continuation>,
        stats: &mut FlowStats,
    ) -> Box<PeFlow> {
        let id = self.next_id;
        self.next_id += 1;
        let own = Orientation::of(p);
        let flow = match inherit {
            Some(c) => {
                let mut f = PeFlow::new(true, id, key, p, c.o, own, c.retrans_seen, stats);
                f.cumulative = c.cumulative + (p.ts - c.last_seen);
                f
            }
            None if p.is_syn_ack() => {
                let r = Orientation::reversed_of(p);
                PeFlow::new(true, id, key, p, r, r, HashSet::new(), stats)
            }
            None => PeFlow::new(true, id, key, p, own, own, HashSet::new(), stats),
        };
        self.by_start.push(Reverse((flow.start, id, key)));
        self.deadlines
            .push(Reverse((self.deadline_of(&flow), id, key)));
        Box::new(flow)
    }

    fn close(flow: &PeFlow, why: CloseReason, out: &mut Vec<FlowRecord>, stats: &mut FlowStats) {
        stats.count_written(why, flow.packets());
        out.push(flow.record());
    }

    /// Feed one decoded packet; flows it closes are appended to `out`.
    pub fn push(&mut self, repr: &PacketRepr, out: &mut Vec<FlowRecord>, stats: &mut FlowStats) {
        stats.packets += 1;
        let p = PePacket::corrected_from_repr(repr);
        self.clock = self.clock.max(p.ts);
        self.expire(out, stats);
        let key = FlowKey::canonical(p.src, p.dst, p.sport, p.dport, p.proto);
        let mut flow = match self.flows.remove(&key) {
            None => self.open(key, &p, None, stats),
            Some(Slot::Cut(c)) => self.open(key, &p, Some(*c), stats),
            Some(Slot::Open(flow)) => {
                if flow.is_icmp_change(&p) {
                    Self::close(&flow, CloseReason::IcmpChange, out, stats);
                    self.open(key, &p, None, stats)
                } else {
                    let mut flow = flow;
                    flow.update_active_idle(p.ts);
                    flow.add(&p, stats);
                    flow
                }
            }
        };
        flow.update_teardown(&p);
        if p.has(TcpFlags::RST) {
            Self::close(&flow, CloseReason::Rst, out, stats);
        } else if flow.state == TcpState::Ready {
            Self::close(&flow, CloseReason::Fin, out, stats);
        } else {
            self.flows.insert(key, Slot::Open(flow));
        }
    }

    /// Close (idle) or cut (active) every flow whose deadline the clock passed;
    /// drop continuations idle for longer than the idle timeout.
    fn expire(&mut self, out: &mut Vec<FlowRecord>, stats: &mut FlowStats) {
        while let Some(Reverse((deadline, id, key))) = self.deadlines.peek().copied() {
            if deadline >= self.clock {
                break;
            }
            self.deadlines.pop();
            match self.flows.get(&key) {
                Some(Slot::Open(f)) if f.id == id => {
                    let actual = self.deadline_of(f);
                    if actual >= self.clock {
                        self.deadlines.push(Reverse((actual, id, key)));
                        continue;
                    }
                }
                Some(Slot::Cut(c)) if c.id == id => {
                    let actual = c.last_seen.saturating_add(self.idle);
                    if actual >= self.clock {
                        self.deadlines.push(Reverse((actual, id, key)));
                    } else {
                        self.flows.remove(&key);
                    }
                    continue;
                }
                _ => continue,
            }
            let Some(Slot::Open(flow)) = self.flows.remove(&key) else {
                continue;
            };
            let idle_expired = self.clock - flow.last_seen.max(flow.start) > self.idle;
            if idle_expired {
                Self::close(&flow, CloseReason::Idle, out, stats);
            } else {
                Self::close(&flow, CloseReason::ActiveTimeout, out, stats);
                let cumulative = flow.cumulative_at_close();
                let c = Continuation {
                    id,
                    o: flow.o,
                    last_seen: flow.last_seen,
                    cumulative,
                    retrans_seen: flow.retrans_seen,
                };
                let deadline = c.last_seen.saturating_add(self.idle);
                self.deadlines.push(Reverse((deadline, id, key)));
                self.flows.insert(key, Slot::Cut(Box::new(c)));
            }
        }
    }

    /// See [`super::v3::V3Table::horizon`].
    pub fn horizon(&mut self) -> i64 {
        let watermark = self.clock.saturating_sub(REORDER_SLACK_US);
        while let Some(Reverse((start, id, key))) = self.by_start.peek().copied() {
            let live = matches!(self.flows.get(&key), Some(Slot::Open(f)) if f.id == id);
            if live {
                return start.min(watermark);
            }
            self.by_start.pop();
        }
        watermark
    }

    /// End of input: write every open flow.
    pub fn finish(&mut self, out: &mut Vec<FlowRecord>, stats: &mut FlowStats) {
        let mut open: Vec<Box<PeFlow>> = self
            .flows
            .drain()
            .filter_map(|(_, s)| match s {
                Slot::Open(f) => Some(f),
                Slot::Cut(_) => None,
            })
            .collect();
        open.sort_by_key(|f| (f.start, f.key, f.id));
        for f in &open {
            Self::close(f, CloseReason::Eof, out, stats);
        }
        self.by_start.clear();
        self.deadlines.clear();
    }
}
