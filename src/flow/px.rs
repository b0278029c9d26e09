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
//!   (IP, port), not IP alone (B22); `Flow ID` always follows Src/Dst;
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
//!   `Fwd Act Data Pkts` including the first packet (B14), ICMP split on type+code change.
//!
//! Packets a tool would need to reorder are processed in file order (use a
//! sort pre-pass for badly ordered captures).

use super::key::{FlowKey, HashedKey, HashedMap, hashed_map};
use super::pe::{Facts, Orientation, PeFlow, PePacket, PxPacket, RetransSet, TcpState};
use super::queue::MinQueue;
use super::record::{Closed, PackedRecord};
use super::v3::REORDER_SLACK_US;
use super::{CloseReason, FlowStats};
use crate::capture::{PacketRepr, TcpFlags};
use std::collections::VecDeque;

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
    retrans_seen: RetransSet,
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
    /// Keyed with the hash the reading thread computed.
    flows: HashedMap<Slot>,
    /// (deadline, id, key): the earliest time the entry may expire; checked
    /// and re-queued lazily (re-queued ones are the queue's stragglers).
    deadlines: MinQueue<(i64, u64, FlowKey)>,
    /// (start, id) of the open flows, and of closed ones not yet popped:
    /// its least open entry is the horizon.
    by_start: MinQueue<(i64, u64)>,
    /// Which ids are open, for the ids from the oldest open one on.
    live: LiveIds,
    next_id: u64,
    clock: i64,
    /// Only delays output ordering here (see [`super::FlowParams`]).
    slack: i64,
    /// Boxes of closed flows, reused for new ones (memory only, never
    /// content: a new flow overwrites the whole box). Boxes, not flows: the
    /// point is to reuse their memory.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<PeFlow>>,
}

/// The open flows' ids, as a window from the oldest open id to the newest
/// id: ids are handed out in order, so the window moves on as the oldest
/// ones close (a byte per id in it).
#[derive(Debug, Default)]
struct LiveIds {
    base: u64,
    open: VecDeque<bool>,
}

impl LiveIds {
    /// `id` (the next one: the ids of a table count up from 0) opened.
    fn open(&mut self, id: u64) {
        debug_assert_eq!(id, self.base + self.open.len() as u64);
        if self.open.is_empty() {
            self.base = id;
        }
        self.open.push_back(true);
    }

    fn close(&mut self, id: u64) {
        if let Some(x) = id
            .checked_sub(self.base)
            .and_then(|i| self.open.get_mut(i as usize))
        {
            *x = false;
        }
        while self.open.front() == Some(&false) {
            self.open.pop_front();
            self.base += 1;
        }
    }

    fn is_open(&self, id: u64) -> bool {
        id.checked_sub(self.base)
            .and_then(|i| self.open.get(i as usize))
            .is_some_and(|&x| x)
    }
}

/// Closed flows' boxes kept for reuse at most.
const SPARE_FLOWS: usize = 1024;

impl PxTable {
    /// Timeouts in µs; both must be positive (checked by the caller).
    pub fn new(idle_timeout_us: i64, active_timeout_us: i64) -> PxTable {
        PxTable {
            idle: idle_timeout_us,
            active: active_timeout_us,
            flows: hashed_map(),
            deadlines: MinQueue::new(),
            by_start: MinQueue::new(),
            live: LiveIds::default(),
            next_id: 0,
            clock: i64::MIN,
            slack: REORDER_SLACK_US,
            spare: Vec::new(),
        }
    }

    /// Forget a closed flow; keep its box for the next flow.
    fn retire(&mut self, flow: Box<PeFlow>) {
        self.live.close(flow.id);
        if self.spare.len() < SPARE_FLOWS {
            self.spare.push(flow);
        }
    }

    /// See [`super::FlowParams::reorder_slack_us`].
    pub fn with_slack(mut self, slack_us: i64) -> PxTable {
        self.slack = slack_us.max(0);
        self
    }

    /// See [`super::v3::V3Table::observe`].
    pub fn observe(&mut self, ts_us: i64) {
        self.clock = self.clock.max(ts_us);
    }

    /// Advance capture time to `ts_us` and write what that expires.
    pub(crate) fn tick(&mut self, ts_us: i64, out: &mut Closed, stats: &mut FlowStats) {
        self.observe(ts_us);
        self.expire(out, stats);
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
                let mut f = PeFlow::new(true, id, key, p, c.o, c.o, c.retrans_seen, stats);
                f.cumulative = c.cumulative + (p.ts - c.last_seen);
                f
            }
            None if p.is_syn_ack() => {
                let r = Orientation::reversed_of(p);
                PeFlow::new(true, id, key, p, r, r, RetransSet::default(), stats)
            }
            None => PeFlow::new(true, id, key, p, own, own, RetransSet::default(), stats),
        };
        self.by_start.push((flow.start, id));
        self.live.open(id);
        self.deadlines.push((self.deadline_of(&flow), id, key));
        match self.spare.pop() {
            Some(mut b) => {
                *b = flow;
                b
            }
            None => Box::new(flow),
        }
    }

    fn close(flow: &PeFlow, why: CloseReason, out: &mut Closed, stats: &mut FlowStats) {
        stats.count_written(why, flow.packets());
        out.rows.push(flow.record(&mut out.packer));
    }

    /// Feed one decoded packet; flows it closes are appended to `out`.
    pub(crate) fn push(&mut self, repr: &PacketRepr, out: &mut Closed, stats: &mut FlowStats) {
        self.push_px(&PxPacket::from_repr(repr), out, stats);
    }

    /// [`PxTable::push`] of a packet as a shard gets it.
    pub(super) fn push_px(&mut self, p: &PxPacket, out: &mut Closed, stats: &mut FlowStats) {
        stats.packets += 1;
        let ts = p.ts();
        self.clock = self.clock.max(ts);
        self.expire(out, stats);
        let hk = HashedKey {
            hash: p.hash,
            key: p.key,
        };
        // Fast path: the packet joins its open flow, which stays open.
        if let Some(Slot::Open(flow)) = self.flows.get_mut(&hk)
            && !flow.is_icmp_change(p)
        {
            flow.update_active_idle(ts);
            flow.add_px(p, stats);
            flow.update_teardown(p);
            if !p.has(TcpFlags::RST) && flow.state != TcpState::Ready {
                return;
            }
            if let Some(Slot::Open(flow)) = self.flows.remove(&hk) {
                let why = if p.has(TcpFlags::RST) {
                    CloseReason::Rst
                } else {
                    CloseReason::Fin
                };
                Self::close(&flow, why, out, stats);
                self.retire(flow);
            }
            return;
        }
        // Otherwise the packet starts a flow: a new one, the continuation of
        // a cut one, or (an ICMP type and code change) the successor of one.
        let pe = p.packet();
        let key = p.key;
        let mut flow = match self.flows.remove(&hk) {
            None => self.open(key, &pe, None, stats),
            Some(Slot::Cut(c)) => self.open(key, &pe, Some(*c), stats),
            Some(Slot::Open(old)) => {
                Self::close(&old, CloseReason::IcmpChange, out, stats);
                self.retire(old);
                self.open(key, &pe, None, stats)
            }
        };
        flow.update_teardown(p);
        if p.has(TcpFlags::RST) {
            Self::close(&flow, CloseReason::Rst, out, stats);
            self.retire(flow);
        } else if flow.state == TcpState::Ready {
            Self::close(&flow, CloseReason::Fin, out, stats);
            self.retire(flow);
        } else {
            self.flows.insert(hk, Slot::Open(flow));
        }
    }

    /// Close (idle) or cut (active) every flow whose deadline the clock passed;
    /// drop continuations idle for longer than the idle timeout.
    #[inline]
    fn expire(&mut self, out: &mut Closed, stats: &mut FlowStats) {
        // Most packets expire nothing: one comparison, no call.
        if self
            .deadlines
            .peek()
            .is_some_and(|(deadline, _, _)| deadline < self.clock)
        {
            self.expire_due(out, stats);
        }
    }

    #[inline(never)]
    fn expire_due(&mut self, out: &mut Closed, stats: &mut FlowStats) {
        while let Some((deadline, id, key)) = self.deadlines.peek() {
            if deadline >= self.clock {
                break;
            }
            self.deadlines.pop();
            let hk = HashedKey::new(key);
            match self.flows.get(&hk) {
                Some(Slot::Open(f)) if f.id == id => {
                    let actual = self.deadline_of(f);
                    if actual >= self.clock {
                        self.deadlines.push((actual, id, key));
                        continue;
                    }
                }
                Some(Slot::Cut(c)) if c.id == id => {
                    let actual = c.last_seen.saturating_add(self.idle);
                    if actual >= self.clock {
                        self.deadlines.push((actual, id, key));
                    } else {
                        self.flows.remove(&hk);
                    }
                    continue;
                }
                _ => continue,
            }
            let Some(Slot::Open(mut flow)) = self.flows.remove(&hk) else {
                continue;
            };
            let idle_expired = self.clock - flow.last_seen.max(flow.start) > self.idle;
            if idle_expired {
                Self::close(&flow, CloseReason::Idle, out, stats);
                self.retire(flow);
            } else {
                Self::close(&flow, CloseReason::ActiveTimeout, out, stats);
                let cumulative = flow.cumulative_at_close();
                let c = Continuation {
                    id,
                    o: flow.o,
                    last_seen: flow.last_seen,
                    cumulative,
                    retrans_seen: std::mem::take(&mut flow.retrans_seen),
                };
                self.retire(flow);
                let deadline = c.last_seen.saturating_add(self.idle);
                self.deadlines.push((deadline, id, key));
                self.flows.insert(hk, Slot::Cut(Box::new(c)));
            }
        }
    }

    /// See [`super::v3::V3Table::horizon`].
    pub fn horizon(&mut self) -> i64 {
        let watermark = self.clock.saturating_sub(self.slack);
        while let Some((start, id)) = self.by_start.peek() {
            if self.live.is_open(id) {
                return start.min(watermark);
            }
            self.by_start.pop();
        }
        watermark
    }

    /// End of input: hand the rows of the open flows the profile writes to
    /// `emit`, in (start, key,
    /// creation) order; each flow is dropped as soon as its row is made.
    pub(crate) fn finish(
        &mut self,
        closed: &mut Closed,
        emit: &mut dyn FnMut(PackedRecord),
        stats: &mut FlowStats,
    ) {
        let mut open: Vec<Box<PeFlow>> = self
            .flows
            .drain()
            .filter_map(|(_, s)| match s {
                Slot::Open(f) => Some(f),
                Slot::Cut(_) => None,
            })
            .collect();
        open.sort_by_key(|f| (f.start, f.key, f.id));
        for f in open {
            Self::close(&f, CloseReason::Eof, closed, stats);
            closed.rows.drain(..).for_each(&mut *emit);
        }
        self.by_start.clear();
        self.live = LiveIds::default();
        self.deadlines.clear();
    }
}

#[cfg(test)]
mod tests {
    //! Hand-built sequences for the corrected profile; expected values follow
    //! from spec §4.3 and the module doc, worked out in the comments.

    use super::*;
    use crate::capture::TcpFlags;
    use crate::flow::testutil::{A, B, Cells, pkt, run_with, tcp};
    use crate::flow::{FlowParams, FlowRecord, Profile, Value};

    const C: Cells = Cells(Profile::Corrected);
    const SYN: u8 = TcpFlags::SYN;
    const ACK: u8 = TcpFlags::ACK;
    const FIN_ACK: u8 = TcpFlags::FIN | TcpFlags::ACK;
    const S: i64 = 1_000_000;
    /// Realistic base time (the bulk logic treats 0 as "unset").
    const T0: i64 = 1_700_000_000 * S;

    fn params() -> FlowParams {
        FlowParams::new(Profile::Corrected)
    }

    fn counts(r: &FlowRecord) -> (i64, i64) {
        (C.i(r, "Total Fwd Packet"), C.i(r, "Total Bwd packets"))
    }

    #[test]
    fn rst_closes_the_flow_including_the_rst() {
        let pkts = [
            tcp(T0, true, SYN, 0, 1),
            tcp(T0 + 10, false, TcpFlags::RST | ACK, 0, 0),
            tcp(T0 + 20, true, ACK, 0, 1),
        ];
        let (rows, stats) = run_with(params(), &pkts);
        assert_eq!((stats.closed_by_rst, stats.closed_at_eof), (1, 1));
        assert_eq!(counts(&rows[0]), (1, 1));
        assert_eq!(C.i(&rows[0], "Bwd RST Flags"), 1);
        // The stray ACK is a one-packet flow, written.
        assert_eq!(counts(&rows[1]), (1, 0));
    }

    #[test]
    fn fin_both_ways_then_ack_closes_including_the_ack() {
        let pkts = [
            tcp(T0, true, SYN, 0, 1),
            tcp(T0 + 10, false, SYN | ACK, 0, 1),
            tcp(T0 + 20, true, ACK, 0, 1),
            tcp(T0 + 30, true, FIN_ACK, 0, 1),
            tcp(T0 + 40, false, FIN_ACK, 0, 1),
            tcp(T0 + 50, true, ACK, 0, 1),
        ];
        let (rows, stats) = run_with(params(), &pkts);
        assert_eq!(rows.len(), 1);
        assert_eq!(stats.closed_by_fin, 1);
        assert_eq!(counts(&rows[0]), (4, 2));
        assert_eq!(C.i(&rows[0], "Flow Duration"), 50);
        assert_eq!(C.i(&rows[0], "Total Connection Flow Time"), 50);
    }

    #[test]
    fn idle_timeout_expires_with_capture_time_not_the_next_packet() {
        let idle = DEFAULT_IDLE_TIMEOUT_US;
        let other = |ts| pkt(ts, ("10.9.9.9", 1), ("10.9.9.8", 2), 17, 1);
        let pkts = [
            tcp(T0, true, ACK, 0, 1),
            tcp(T0 + 10, false, ACK, 0, 1),
            other(T0 + 10 + idle + 1),
            tcp(T0 + 10 + idle + 2, false, ACK, 0, 1),
        ];
        let mut x = crate::flow::FlowExtractor::with_params(params()).unwrap();
        let mut rows = Vec::new();
        for p in &pkts[..3] {
            x.push(p);
            x.take_ready(&mut rows);
        }
        // The first flow is written before the input ends.
        assert_eq!(rows.len(), 1);
        assert_eq!(C.i(&rows[0], "Flow Duration"), 10);
        x.push(&pkts[3]);
        let stats = x.finish(&mut rows);
        assert_eq!(stats.closed_by_idle, 1);
        // B's late packet opens a new flow oriented from B.
        let last = rows
            .iter()
            .find(|r| r.start_us == T0 + 10 + idle + 2)
            .unwrap();
        assert_eq!(C.text(last, "Src IP"), B);
        // Exactly `idle` after the last packet is not yet idle.
        let pkts = [
            tcp(T0, true, ACK, 0, 1),
            tcp(T0 + 10, false, ACK, 0, 1),
            tcp(T0 + 10 + idle, false, ACK, 0, 1),
        ];
        let (rows, _) = run_with(params(), &pkts);
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn active_timeout_cuts_and_the_connection_continues() {
        // Active timeout 25 s, a packet every 10 s: the clock passes 25 s at
        // the packet of 30 s, which goes to a continuation piece.
        let p = params().with_timeouts(120.0, 25.0).unwrap();
        let pkts = [
            tcp(T0, true, ACK, 0, 1),
            tcp(T0 + 10 * S, true, ACK, 0, 1),
            tcp(T0 + 20 * S, true, ACK, 0, 1),
            tcp(T0 + 30 * S, false, ACK, 0, 1),
            tcp(T0 + 40 * S, true, ACK, 0, 1),
        ];
        let (rows, stats) = run_with(p, &pkts);
        assert_eq!(stats.closed_by_active_timeout, 1);
        assert_eq!(rows.len(), 2);
        assert_eq!(C.i(&rows[0], "Flow Duration"), 20 * S);
        assert_eq!(C.i(&rows[0], "Total Connection Flow Time"), 20 * S);
        let cont = &rows[1];
        assert_eq!(C.text(cont, "Src IP"), A);
        assert_eq!(counts(cont), (1, 1));
        // 20 s (first piece) + 10 s gap + 10 s (this piece).
        assert_eq!(C.i(cont, "Total Connection Flow Time"), 40 * S);
    }

    #[test]
    fn direction_uses_ports_too() {
        let h = "127.0.0.1";
        let pkts = [
            pkt(T0, (h, 1000), (h, 80), 17, 5),
            pkt(T0 + 1, (h, 80), (h, 1000), 17, 7),
        ];
        let (rows, _) = run_with(params(), &pkts);
        assert_eq!(rows.len(), 1);
        assert_eq!(counts(&rows[0]), (1, 1));
        assert_eq!(C.f(&rows[0], "Total Length of Bwd Packet"), 7.0);
    }

    #[test]
    fn init_windows_and_header_minima_per_direction() {
        let mut synack = tcp(T0 + 10, false, SYN | ACK, 0, 0);
        synack.transport_header_len = 24;
        let pkts = [
            tcp(T0, true, SYN, 0, 100),
            synack,
            tcp(T0 + 20, false, ACK, 0, 300),
        ];
        let (rows, _) = run_with(params(), &pkts);
        let r = &rows[0];
        // First backward window, even if 0 (the fork takes the first non-zero).
        assert_eq!(C.i(r, "FWD Init Win Bytes"), 100);
        assert_eq!(C.i(r, "Bwd Init Win Bytes"), 0);
        assert_eq!(C.i(r, "Fwd Seg Size Min"), 20);
        assert_eq!(C.i(r, "Bwd Seg Size Min"), 20);
        // No TCP, no backward packet: both windows absent (-1).
        let (rows, _) = run_with(params(), &[pkt(T0, (A, 1), (B, 2), 17, 3)]);
        assert_eq!(C.i(&rows[0], "FWD Init Win Bytes"), -1);
        assert_eq!(C.i(&rows[0], "Bwd Init Win Bytes"), -1);
    }

    #[test]
    fn one_packet_flow_has_zero_rates() {
        let (rows, _) = run_with(params(), &[tcp(T0, true, SYN, 0, 1)]);
        let r = &rows[0];
        assert_eq!(C.cell(r, "Flow Bytes/s"), &Value::Float(0.0));
        assert_eq!(C.cell(r, "Flow Packets/s"), &Value::Float(0.0));
        assert_eq!(C.i(r, "Flow Duration"), 0);
    }

    #[test]
    fn subflows_are_gaps_plus_one_and_last_active_period_counts() {
        // 0, 2 s, 8 s, 9 s: one active period of 2 s closed by a 6 s idle
        // gap, the final one (1 s) recorded at close; gaps > 1 s: 2 s, 6 s
        // -> 3 subflows.
        let pkts = [
            tcp(T0, true, ACK, 10, 1),
            tcp(T0 + 2 * S, true, ACK, 10, 1),
            tcp(T0 + 8 * S, true, ACK, 10, 1),
            tcp(T0 + 9 * S, false, ACK, 0, 1),
        ];
        let (rows, _) = run_with(params(), &pkts);
        let r = &rows[0];
        assert_eq!(C.f(r, "Subflow Fwd Packets"), 1.0);
        assert_eq!(C.f(r, "Subflow Fwd Bytes"), 10.0);
        assert_eq!(C.f(r, "Active Mean"), 1.5e6);
        assert_eq!(C.f(r, "Active Max"), 2e6);
        assert_eq!(C.f(r, "Active Min"), 1e6);
        assert_eq!(C.f(r, "Idle Mean"), 6e6);
    }

    #[test]
    fn ipv6_any_link_type_and_icmp_bytes() {
        let mut v6 = pkt(T0, ("2001:db8::1", 5353), ("2001:db8::2", 53), 17, 30);
        v6.link_type = 113; // Linux SLL
        let mut echo = pkt(T0 + 5, (A, 0), (B, 0), 1, 56);
        echo.icmp_type = 8;
        let (rows, stats) = run_with(params(), &[v6, echo]);
        assert_eq!((stats.skipped_ipv6, stats.skipped_link_type), (0, 0));
        let (r6, ri) = (&rows[0], &rows[1]);
        assert_eq!(C.text(r6, "Flow ID"), "2001:db8::1-2001:db8::2-5353-53-17");
        assert_eq!(C.f(r6, "Total Length of Fwd Packet"), 30.0);
        assert_eq!(C.i(ri, "Protocol"), 1);
        assert_eq!(C.i(ri, "ICMP Type"), 8);
        assert_eq!(C.f(ri, "Total Length of Fwd Packet"), 56.0);
        assert_eq!(C.i(ri, "Fwd Header Length"), 8);
    }
}
