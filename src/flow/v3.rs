//! CICFlowMeter V3 flows: profiles `cic2017` (P17) and `cic2018` (P18).
//!
//! Takes decoded packets in file order; gives finished [`FlowRecord`]s with
//! the Java tool's exact lifecycle and quirks (spec §1–§3):
//!
//! - only Ethernet/IPv4 packets are used (other link types and IPv6 are
//!   counted, not flowed); protocols other than TCP/UDP become protocol 0 with
//!   ports, payload and header 0 and window −1;
//! - key: the V3 `Flow ID` ([`FlowKey::cic_v3`]); the first packet is forward,
//!   later packets are forward iff their source IP is the flow's source IP;
//! - per packet of an existing flow: age > 120 s since the flow's first packet
//!   → the flow closes and this packet starts a new flow that inherits the old
//!   Src/Dst (the packet itself is counted forward); else a FIN → the packet is
//!   added and the flow closes ("TCP appendices" follow); else Active/Idle is
//!   updated and the packet added. RST and SYN have no effect;
//! - flows with one packet are never written (counted instead);
//! - quirks: flag counts and PSH/URG of the first packet only, with the flag
//!   columns in Java `HashMap` order; the first payload enters the all-packet
//!   length statistics twice; integer Down/Up ratio; `Init_Win_bytes_backward`
//!   is the last backward window; `act_data_pkt_fwd` skips the first packet;
//!   bulk columns 0; subflow columns equal the totals; P17 counts Ethernet
//!   padding of plain Ethernet/IPv4 frames as payload.
//!
//! Memory: the Java tool keeps every flow until its next packet or the end of
//! the file. Here a flow whose age already exceeds 120 s + the reorder slack
//! ([`REORDER_SLACK_US`] by default, `FlowParams::reorder_slack_us`) relative
//! to the newest packet seen is written at once (its row can no longer change)
//! and only a small tombstone with its orientation stays, so that a later
//! packet on the same key starts the continuation flow exactly as the Java
//! tool would (tested against a run that keeps flows like the tool does). A
//! packet more than the slack out of order that would have joined such a
//! flow is counted in `late_after_expiry`. Tombstones are kept until the end
//! of the input: one small entry per timed-out 5-tuple.

use super::format::{TzOffset, v3_timestamp};
use super::key::{FlowKey, FlowMap, flow_map};
use super::queue::MinQueue;
use super::record::{Cell, Closed, PackedRecord, Packer};
use super::stats::Summary;
use super::{CloseReason, FlowStats};
use crate::capture::{PacketRepr, TcpFlags, ip_proto, linktype};
use std::net::IpAddr;

/// `flowTimeout`: maximum flow age, measured from the first packet (µs).
pub const FLOW_TIMEOUT_US: i64 = 120_000_000;
/// `activityTimeout`: gap that ends an active period (µs).
pub const ACTIVITY_TIMEOUT_US: i64 = 5_000_000;
/// How far behind the newest packet a packet may be and still be handled
/// exactly like the Java tool after early expiry (µs).
pub const REORDER_SLACK_US: i64 = 1_000_000;

/// The facts V3 takes from a packet (its `BasicPacketInfo`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct V3Packet {
    pub ts: i64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// 6, 17 or 0.
    pub proto: u8,
    pub payload: i64,
    pub header: i64,
    /// Raw TCP window; −1 without a TCP header.
    pub window: i32,
    pub flags: u8,
}

/// Why V3 does not see a decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V3Skip {
    /// The capture's link type is not Ethernet (jNetPcap scans from an
    /// Ethernet header; SLL, raw IP and NULL captures yield nothing).
    NotEthernet,
    /// IPv6 (the V3 command line reads IPv4 only).
    Ipv6,
}

impl V3Packet {
    /// The V3 view of a decoded packet; `padding_quirk` selects P17's payload
    /// (to the end of the captured frame on plain Ethernet/IPv4 frames).
    pub fn from_repr(p: &PacketRepr, padding_quirk: bool) -> Result<V3Packet, V3Skip> {
        if u32::from(p.link_type) != linktype::ETHERNET {
            return Err(V3Skip::NotEthernet);
        }
        if p.ip_version != 4 {
            return Err(V3Skip::Ipv6);
        }
        let ts = p.ts_ns.div_euclid(1000);
        let mut v = V3Packet {
            ts,
            src: p.src,
            dst: p.dst,
            sport: 0,
            dport: 0,
            proto: 0,
            payload: 0,
            header: 0,
            window: -1,
            flags: 0,
        };
        if p.protocol == ip_proto::TCP || p.protocol == ip_proto::UDP {
            let plain_ethernet = p.vlan.is_none() && p.l3_offset == 14;
            v.payload = i64::from(if padding_quirk && plain_ethernet {
                p.frame_payload_len
            } else {
                p.payload_len
            });
            v.header = i64::from(p.transport_header_len);
            v.sport = p.src_port;
            v.dport = p.dst_port;
            v.proto = p.protocol;
            if p.protocol == ip_proto::TCP {
                v.window = i32::from(p.tcp_window);
                v.flags = p.tcp_flags.0;
            }
        }
        Ok(v)
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Src/Dst of a flow, inherited by its continuation after a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Orientation {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
}

/// One open V3 flow (`BasicFlow`), O(1) in the number of its packets.
#[derive(Debug, Clone)]
struct V3Flow {
    id: u64,
    key: FlowKey,
    o: Orientation,
    proto: u8,
    start: i64,
    last_seen: i64,
    start_active: i64,
    end_active: i64,
    fwd_len: Summary,
    bwd_len: Summary,
    all_len: Summary,
    flow_iat: Summary,
    fwd_iat: Summary,
    bwd_iat: Summary,
    active: Summary,
    idle: Summary,
    fwd_bytes: i64,
    bwd_bytes: i64,
    fwd_last: i64,
    bwd_last: i64,
    fwd_header: i64,
    bwd_header: i64,
    first_flags: u8,
    init_win_fwd: i32,
    init_win_bwd: i32,
    act_data_fwd: i64,
    min_seg_fwd: i64,
}

impl V3Flow {
    /// `BasicFlow` constructor + `firstPacket`: the packet is forward; with
    /// `inherit`, Src/Dst are then overwritten by the previous flow's.
    fn new(id: u64, key: FlowKey, p: &V3Packet, inherit: Option<Orientation>) -> V3Flow {
        let mut all_len = Summary::new();
        all_len.add(p.payload as f64);
        all_len.add(p.payload as f64);
        let mut fwd_len = Summary::new();
        fwd_len.add(p.payload as f64);
        V3Flow {
            id,
            key,
            o: inherit.unwrap_or(Orientation {
                src: p.src,
                dst: p.dst,
                sport: p.sport,
                dport: p.dport,
            }),
            proto: p.proto,
            start: p.ts,
            last_seen: p.ts,
            start_active: p.ts,
            end_active: p.ts,
            fwd_len,
            bwd_len: Summary::new(),
            all_len,
            flow_iat: Summary::new(),
            fwd_iat: Summary::new(),
            bwd_iat: Summary::new(),
            active: Summary::new(),
            idle: Summary::new(),
            fwd_bytes: p.payload,
            bwd_bytes: 0,
            fwd_last: p.ts,
            bwd_last: 0,
            fwd_header: p.header,
            bwd_header: 0,
            first_flags: p.flags,
            init_win_fwd: p.window,
            init_win_bwd: -1,
            act_data_fwd: 0,
            min_seg_fwd: p.header,
        }
    }

    fn packets(&self) -> u64 {
        self.fwd_len.n() + self.bwd_len.n()
    }

    /// `BasicFlow.addPacket` (V3: no flag, bulk or subflow update).
    fn add(&mut self, p: &V3Packet) {
        let len = p.payload as f64;
        self.all_len.add(len);
        if p.src == self.o.src {
            if p.payload >= 1 {
                self.act_data_fwd += 1;
            }
            self.fwd_len.add(len);
            self.fwd_header += p.header;
            self.fwd_bytes += p.payload;
            if self.fwd_len.n() > 1 {
                self.fwd_iat.add((p.ts - self.fwd_last) as f64);
            }
            self.fwd_last = p.ts;
            self.min_seg_fwd = self.min_seg_fwd.min(p.header);
        } else {
            self.bwd_len.add(len);
            self.init_win_bwd = p.window;
            self.bwd_header += p.header;
            self.bwd_bytes += p.payload;
            if self.bwd_len.n() > 1 {
                self.bwd_iat.add((p.ts - self.bwd_last) as f64);
            }
            self.bwd_last = p.ts;
        }
        self.flow_iat.add((p.ts - self.last_seen) as f64);
        self.last_seen = p.ts;
    }

    /// `updateActiveIdleTime(ts, activityTimeout)`.
    fn update_active_idle(&mut self, ts: i64) {
        if ts - self.end_active > ACTIVITY_TIMEOUT_US {
            if self.end_active - self.start_active > 0 {
                self.active
                    .add((self.end_active - self.start_active) as f64);
            }
            self.idle.add((ts - self.end_active) as f64);
            self.start_active = ts;
            self.end_active = ts;
        } else {
            self.end_active = ts;
        }
    }

    /// `dumpFlowBasedFeaturesEx`, in P18 order; P17 repeats the forward header
    /// length after `Avg Bwd Segment Size`.
    fn record(&self, p17: bool, tz: TzOffset, v: &mut Packer) -> PackedRecord {
        use Cell::{Float, Int};
        let count = |s: &Summary| s.n() as i64;
        let (n_fwd, n_bwd) = (self.fwd_len.n(), self.bwd_len.n());
        let duration = self.last_seen - self.start;
        let secs = duration as f64 / 1e6;
        let k = &self.key;
        v.flow_endpoints(
            [(k.a, k.a_port), (k.b, k.b_port)],
            k.protocol,
            (self.o.src, self.o.sport),
            (self.o.dst, self.o.dport),
        );
        v.push(Int(i64::from(self.proto)));
        v.text(&v3_timestamp(self.start, tz));
        v.push(Int(duration));
        v.push(Int(count(&self.fwd_len)));
        v.push(Int(count(&self.bwd_len)));
        v.push(Float(self.fwd_len.sum()));
        v.push(Float(self.bwd_len.sum()));
        for s in [&self.fwd_len, &self.bwd_len] {
            if s.n() > 0 {
                v.extend([s.max(), s.min(), s.mean(), s.std()].map(Float));
            } else {
                v.extend([0; 4].map(Int));
            }
        }
        v.push(Float((self.fwd_bytes + self.bwd_bytes) as f64 / secs));
        v.push(Float(self.packets() as f64 / secs));
        let f = &self.flow_iat;
        v.extend([f.mean(), f.std(), f.max(), f.min()].map(Float));
        for (n, s) in [(n_fwd, &self.fwd_iat), (n_bwd, &self.bwd_iat)] {
            if n > 1 {
                v.extend([s.sum(), s.mean(), s.std(), s.max(), s.min()].map(Float));
            } else {
                v.extend([0; 5].map(Int));
            }
        }
        let first = |flag: u8| Int(i64::from(self.first_flags & flag != 0));
        v.push(first(TcpFlags::PSH));
        v.push(Int(0));
        v.push(first(TcpFlags::URG));
        v.push(Int(0));
        v.push(Int(self.fwd_header));
        v.push(Int(self.bwd_header));
        let per_sec = |n: u64| {
            if duration > 0 { n as f64 / secs } else { 0.0 }
        };
        v.push(Float(per_sec(n_fwd)));
        v.push(Float(per_sec(n_bwd)));
        let a = &self.all_len;
        v.extend([a.min(), a.max(), a.mean(), a.std(), a.variance()].map(Float));
        // HashMap iteration order of the flag names (spec §3.3).
        for flag in [
            TcpFlags::RST,
            TcpFlags::PSH,
            TcpFlags::ECE,
            TcpFlags::SYN,
            TcpFlags::ACK,
            TcpFlags::FIN,
            TcpFlags::URG,
            TcpFlags::CWR,
        ] {
            v.push(first(flag));
        }
        // Integer division, then widened (0 without forward packets).
        v.push(Float(n_bwd.checked_div(n_fwd).unwrap_or(0) as f64));
        let packets = self.packets();
        v.push(Float(if packets > 0 {
            a.sum() / packets as f64
        } else {
            0.0
        }));
        let seg = |s: &Summary| {
            if s.n() > 0 {
                s.sum() / s.n() as f64
            } else {
                0.0
            }
        };
        v.push(Float(seg(&self.fwd_len)));
        v.push(Float(seg(&self.bwd_len)));
        if p17 {
            v.push(Int(self.fwd_header));
        }
        v.extend([0; 6].map(Int));
        v.push(Int(n_fwd as i64));
        v.push(Int(self.fwd_bytes));
        v.push(Int(n_bwd as i64));
        v.push(Int(self.bwd_bytes));
        v.push(Int(i64::from(self.init_win_fwd)));
        v.push(Int(i64::from(self.init_win_bwd)));
        v.push(Int(self.act_data_fwd));
        v.push(Int(self.min_seg_fwd));
        for s in [&self.active, &self.idle] {
            if s.n() > 0 {
                v.extend([s.mean(), s.std(), s.max(), s.min()].map(Float));
            } else {
                v.extend([0; 4].map(Int));
            }
        }
        v.text("No Label");
        v.record(self.start, self.key)
    }
}

#[derive(Debug)]
enum Slot {
    Open(Box<V3Flow>),
    /// Written early by age; keeps what a continuation flow inherits.
    Expired {
        o: Orientation,
        start: i64,
    },
}

/// The V3 flow table (`FlowGenerator`).
#[derive(Debug)]
pub struct V3Table {
    p17: bool,
    tz: TzOffset,
    flows: FlowMap<Slot>,
    /// Open flows by (start, id); entries of closed flows are skipped lazily.
    by_start: MinQueue<(i64, u64, FlowKey)>,
    next_id: u64,
    max_ts: i64,
    /// Reorder slack (µs), see the module doc.
    slack: i64,
}

impl V3Table {
    /// `p17` selects the CIC-IDS2017 variant (padding quirk, duplicate column).
    pub fn new(p17: bool, tz: TzOffset) -> V3Table {
        V3Table {
            p17,
            tz,
            flows: flow_map(),
            by_start: MinQueue::new(),
            next_id: 0,
            max_ts: i64::MIN,
            slack: REORDER_SLACK_US,
        }
    }

    /// Set the reorder slack (µs); `i64::MAX` keeps every flow until its next
    /// packet or the end of the input, exactly like the Java tool.
    pub fn with_slack(mut self, slack_us: i64) -> V3Table {
        self.slack = slack_us.max(0);
        self
    }

    /// Advance capture time to at least `ts_us` (a sharded run passes the
    /// time of the whole input, so every shard expires flows alike).
    pub fn observe(&mut self, ts_us: i64) {
        self.max_ts = self.max_ts.max(ts_us);
    }

    /// Advance capture time to `ts_us` and write what that expires.
    pub(crate) fn tick(&mut self, ts_us: i64, out: &mut Closed, stats: &mut FlowStats) {
        self.observe(ts_us);
        self.expire(out, stats);
    }

    fn open(&mut self, key: FlowKey, p: &V3Packet, inherit: Option<Orientation>) -> Box<V3Flow> {
        let id = self.next_id;
        self.next_id += 1;
        self.by_start.push((p.ts, id, key));
        Box::new(V3Flow::new(id, key, p, inherit))
    }

    fn close(&self, flow: &V3Flow, why: CloseReason, out: &mut Closed, stats: &mut FlowStats) {
        let n = flow.packets();
        if n > 1 {
            stats.count_written(why, n);
            out.rows
                .push(flow.record(self.p17, self.tz, &mut out.packer));
        } else {
            stats.single_packet_flows_not_written += n;
        }
    }

    /// Feed one decoded packet; flows it closes are appended to `out`.
    pub(crate) fn push(&mut self, repr: &PacketRepr, out: &mut Closed, stats: &mut FlowStats) {
        stats.packets += 1;
        // Capture time advances with every packet, used or not.
        self.max_ts = self.max_ts.max(repr.ts_ns.div_euclid(1000));
        let p = match V3Packet::from_repr(repr, self.p17) {
            Ok(p) => p,
            Err(V3Skip::NotEthernet) => {
                stats.skipped_link_type += 1;
                return;
            }
            Err(V3Skip::Ipv6) => {
                stats.skipped_ipv6 += 1;
                return;
            }
        };
        let key = FlowKey::cic_v3(p.src, p.dst, p.sport, p.dport, p.proto);
        // Fast path: the packet joins its open flow.
        if let Some(Slot::Open(flow)) = self.flows.get_mut(&key)
            && p.ts - flow.start <= FLOW_TIMEOUT_US
            && !p.has(TcpFlags::FIN)
        {
            flow.update_active_idle(p.ts);
            flow.add(&p);
            self.expire(out, stats);
            return;
        }
        match self.flows.remove(&key) {
            Some(Slot::Open(mut flow)) => {
                if p.ts - flow.start > FLOW_TIMEOUT_US {
                    let next = self.open(key, &p, Some(flow.o));
                    self.flows.insert(key, Slot::Open(next));
                    self.close(&flow, CloseReason::Timeout, out, stats);
                } else if p.has(TcpFlags::FIN) {
                    flow.add(&p);
                    self.close(&flow, CloseReason::Fin, out, stats);
                } else {
                    flow.update_active_idle(p.ts);
                    flow.add(&p);
                    self.flows.insert(key, Slot::Open(flow));
                }
            }
            Some(Slot::Expired { o, start }) => {
                if p.ts - start <= FLOW_TIMEOUT_US {
                    stats.late_after_expiry += 1;
                }
                let next = self.open(key, &p, Some(o));
                self.flows.insert(key, Slot::Open(next));
            }
            None => {
                let next = self.open(key, &p, None);
                self.flows.insert(key, Slot::Open(next));
            }
        }
        self.expire(out, stats);
    }

    /// Write flows too old to change any more (see the module doc).
    fn expire(&mut self, out: &mut Closed, stats: &mut FlowStats) {
        let watermark = self.max_ts.saturating_sub(self.slack);
        while let Some((start, id, key)) = self.by_start.peek() {
            if start.saturating_add(FLOW_TIMEOUT_US) >= watermark {
                break;
            }
            self.by_start.pop();
            let live = matches!(self.flows.get(&key), Some(Slot::Open(f)) if f.id == id);
            if !live {
                continue;
            }
            if let Some(Slot::Open(flow)) = self.flows.remove(&key) {
                self.flows.insert(
                    key,
                    Slot::Expired {
                        o: flow.o,
                        start: flow.start,
                    },
                );
                self.close(&flow, CloseReason::Timeout, out, stats);
            }
        }
    }

    /// No flow written later can start before this (µs): the oldest open
    /// flow's start, or the reorder watermark if earlier.
    pub fn horizon(&mut self) -> i64 {
        let watermark = self.max_ts.saturating_sub(self.slack);
        while let Some((start, id, key)) = self.by_start.peek() {
            let live = matches!(self.flows.get(&key), Some(Slot::Open(f)) if f.id == id);
            if live {
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
        let mut open: Vec<Box<V3Flow>> = self
            .flows
            .drain()
            .filter_map(|(_, s)| match s {
                Slot::Open(f) => Some(f),
                Slot::Expired { .. } => None,
            })
            .collect();
        open.sort_by_key(|f| (f.start, f.key, f.id));
        for f in open {
            self.close(&f, CloseReason::Eof, closed, stats);
            closed.rows.drain(..).for_each(&mut *emit);
        }
        self.by_start.clear();
    }
}

#[cfg(test)]
mod tests {
    //! Hand-built packet sequences for behaviours the reference pcap does not
    //! exercise. Expected values follow from the spec's definitions (§2.1,
    //! §3), worked out by hand in the comments.

    use super::*;
    use crate::capture::{PacketRepr, TcpFlags};
    use crate::flow::{FlowRecord, Profile, Value, extract_all};
    use std::net::IpAddr;

    const A: &str = "10.0.0.1";
    const B: &str = "10.0.0.2";
    const SYN: u8 = TcpFlags::SYN;
    const ACK: u8 = TcpFlags::ACK;
    const FIN_ACK: u8 = TcpFlags::FIN | TcpFlags::ACK;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // Decoded Ethernet/IPv4 packets: TCP header 20 bytes, UDP 8.
    use crate::flow::testutil::pkt;

    fn tcp(ts_us: i64, fwd: bool, flags: u8, payload: u32, window: u16) -> PacketRepr {
        let (s, d) = if fwd {
            ((A, 40000), (B, 80))
        } else {
            ((B, 80), (A, 40000))
        };
        let mut p = pkt(ts_us, s, d, 6, payload);
        p.tcp_flags = TcpFlags(flags);
        p.tcp_window = window;
        p
    }

    fn run(profile: Profile, pkts: &[PacketRepr]) -> (Vec<FlowRecord>, FlowStats) {
        let tz = TzOffset::UTC;
        let (rows, stats) = extract_all(profile, tz, pkts).unwrap();
        assert!(stats.is_balanced(), "{stats:?}");
        assert_eq!(stats.packets, pkts.len() as u64);
        (rows, stats)
    }

    fn cell<'a>(profile: Profile, r: &'a FlowRecord, name: &str) -> &'a Value {
        let i = profile
            .columns()
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        &r.values[i]
    }

    fn f(profile: Profile, r: &FlowRecord, name: &str) -> f64 {
        match cell(profile, r, name) {
            Value::Float(x) => *x,
            v => panic!("{name} is {v:?}, expected a double"),
        }
    }

    fn i(profile: Profile, r: &FlowRecord, name: &str) -> i64 {
        match cell(profile, r, name) {
            Value::Int(x) => *x,
            v => panic!("{name} is {v:?}, expected an integer"),
        }
    }

    fn text<'a>(profile: Profile, r: &'a FlowRecord, name: &str) -> &'a str {
        match cell(profile, r, name) {
            Value::Text(x) => x,
            v => panic!("{name} is {v:?}, expected text"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    const P: Profile = Profile::Cic2018;

    #[test]
    fn udp_flow_features() {
        // A->B 100 B at 0, B->A 50 B at 1000 µs, A->B 10 B at 3000 µs; no FIN,
        // so the flow is written at EOF.
        let pkts = [
            pkt(0, (A, 5000), (B, 53), 17, 100),
            pkt(1000, (B, 53), (A, 5000), 17, 50),
            pkt(3000, (A, 5000), (B, 53), 17, 10),
        ];
        let (rows, stats) = run(P, &pkts);
        assert_eq!((rows.len(), stats.closed_at_eof), (1, 1));
        let r = &rows[0];
        assert_eq!(text(P, r, "Flow ID"), "10.0.0.1-10.0.0.2-5000-53-17");
        assert_eq!(text(P, r, "Src IP"), A);
        assert_eq!(i(P, r, "Protocol"), 17);
        assert_eq!(i(P, r, "Flow Duration"), 3000);
        assert_eq!((i(P, r, "Tot Fwd Pkts"), i(P, r, "Tot Bwd Pkts")), (2, 1));
        assert_eq!(f(P, r, "TotLen Fwd Pkts"), 110.0);
        assert_eq!(f(P, r, "TotLen Bwd Pkts"), 50.0);
        assert_eq!(f(P, r, "Fwd Pkt Len Max"), 100.0);
        assert_eq!(f(P, r, "Fwd Pkt Len Min"), 10.0);
        assert_eq!(f(P, r, "Fwd Pkt Len Mean"), 55.0);
        // sample std of {100, 10}: sqrt(2 * 45^2 / 1)
        assert!(close(
            f(P, r, "Fwd Pkt Len Std"),
            (2.0f64 * 45.0 * 45.0).sqrt()
        ));
        assert_eq!(f(P, r, "Bwd Pkt Len Std"), 0.0);
        // 160 bytes and 3 packets in 3 ms.
        assert!(close(f(P, r, "Flow Byts/s"), 160.0 / 0.003));
        assert!(close(f(P, r, "Flow Pkts/s"), 1000.0));
        // Flow IATs {1000, 2000}.
        assert_eq!(f(P, r, "Flow IAT Mean"), 1500.0);
        assert!(close(
            f(P, r, "Flow IAT Std"),
            (2.0f64 * 500.0 * 500.0).sqrt()
        ));
        assert_eq!(
            (f(P, r, "Flow IAT Max"), f(P, r, "Flow IAT Min")),
            (2000.0, 1000.0)
        );
        // One forward gap of 3000; a single backward packet has no gap -> 0.
        assert_eq!(f(P, r, "Fwd IAT Tot"), 3000.0);
        assert_eq!(f(P, r, "Fwd IAT Std"), 0.0);
        assert_eq!(cell(P, r, "Bwd IAT Tot"), &Value::Int(0));
        assert_eq!(
            (i(P, r, "Fwd Header Len"), i(P, r, "Bwd Header Len")),
            (16, 8)
        );
        // Fwd/Bwd packets per second over 3 ms.
        assert!(close(f(P, r, "Fwd Pkts/s"), 2.0 / 0.003));
        // All-packet lengths {100 (twice: first packet), 50, 10}: mean 65,
        // variance (35² + 35² + 15² + 55²) / 3 = 1900.
        assert_eq!(f(P, r, "Pkt Len Min"), 10.0);
        assert_eq!(f(P, r, "Pkt Len Mean"), 65.0);
        assert!(close(f(P, r, "Pkt Len Var"), 1900.0));
        // Down/Up = 1 / 2 in integer division.
        assert_eq!(f(P, r, "Down/Up Ratio"), 0.0);
        // (260 incl. the doubled first payload) / 3 packets.
        assert!(close(f(P, r, "Pkt Size Avg"), 260.0 / 3.0));
        assert_eq!(f(P, r, "Fwd Seg Size Avg"), 55.0);
        // No TCP: windows -1; act_data skips the first packet.
        assert_eq!(i(P, r, "Init Fwd Win Byts"), -1);
        assert_eq!(i(P, r, "Init Bwd Win Byts"), -1);
        assert_eq!(i(P, r, "Fwd Act Data Pkts"), 1);
        assert_eq!(i(P, r, "Fwd Seg Size Min"), 8);
        assert_eq!(i(P, r, "Subflow Fwd Byts"), 110);
        for flag in [
            "FIN Flag Cnt",
            "SYN Flag Cnt",
            "ACK Flag Cnt",
            "Fwd PSH Flags",
        ] {
            assert_eq!(i(P, r, flag), 0);
        }
        assert_eq!(cell(P, r, "Active Mean"), &Value::Int(0));
    }

    #[test]
    fn max_age_splits_and_continuation_inherits_orientation() {
        // Start at 0; a packet exactly 120 s later still joins; one 120 s + 1 µs
        // after the start closes the flow and starts a new one that keeps
        // Src = A although its first packet comes from B (counted forward).
        let t = FLOW_TIMEOUT_US;
        let pkts = [
            tcp(0, true, SYN, 0, 100),
            tcp(10, false, SYN | ACK, 0, 200),
            tcp(t, true, ACK, 0, 300),
            tcp(t + 1, false, ACK, 7, 400),
            tcp(t + 2, true, ACK, 0, 500),
        ];
        let (rows, stats) = run(P, &pkts);
        assert_eq!(rows.len(), 2);
        assert_eq!((stats.closed_by_timeout, stats.closed_at_eof), (1, 1));
        let (old, new) = (&rows[0], &rows[1]);
        assert_eq!(i(P, old, "Flow Duration"), t);
        assert_eq!(
            (i(P, old, "Tot Fwd Pkts"), i(P, old, "Tot Bwd Pkts")),
            (2, 1)
        );
        assert_eq!(new.start_us, t + 1);
        assert_eq!(text(P, new, "Src IP"), A);
        assert_eq!(i(P, new, "Src Port"), 40000);
        assert_eq!(
            (i(P, new, "Tot Fwd Pkts"), i(P, new, "Tot Bwd Pkts")),
            (2, 0)
        );
        assert_eq!(f(P, new, "TotLen Fwd Pkts"), 7.0);
        // The forward init window is that of B's packet.
        assert_eq!(i(P, new, "Init Fwd Win Byts"), 400);
        assert_eq!(i(P, new, "Init Bwd Win Byts"), -1);
        assert_eq!(i(P, new, "Flow Duration"), 1);
    }

    #[test]
    fn single_packet_remnants_are_counted_not_written() {
        let t = FLOW_TIMEOUT_US;
        let pkts = [
            tcp(0, true, SYN, 0, 1),
            tcp(t + 1, true, ACK, 0, 1),
            tcp(2 * t + 2, true, ACK, 0, 1),
        ];
        let (rows, stats) = run(P, &pkts);
        assert!(rows.is_empty());
        assert_eq!(stats.single_packet_flows_not_written, 3);
    }

    #[test]
    fn zero_duration_flows_print_infinity_and_nan() {
        // Two packets in the same microsecond.
        let with_bytes = [tcp(5, true, ACK, 10, 1), tcp(5, false, ACK, 0, 1)];
        let (rows, _) = run(P, &with_bytes);
        let r = &rows[0];
        assert_eq!(i(P, r, "Flow Duration"), 0);
        assert_eq!(f(P, r, "Flow Byts/s"), f64::INFINITY);
        assert_eq!(f(P, r, "Flow Pkts/s"), f64::INFINITY);
        // Per-direction rates are 0 when the duration is not positive.
        assert_eq!(f(P, r, "Fwd Pkts/s"), 0.0);
        assert_eq!(f(P, r, "Flow IAT Mean"), 0.0);
        let no_bytes = [tcp(5, true, ACK, 0, 1), tcp(5, false, ACK, 0, 1)];
        let (rows, _) = run(P, &no_bytes);
        assert!(f(P, &rows[0], "Flow Byts/s").is_nan());
    }

    #[test]
    fn p17_counts_ethernet_padding_as_payload_p18_does_not() {
        // Pure ACKs in 60-byte frames: 6 bytes of trailer after the TCP header.
        let mut a = tcp(0, true, ACK, 0, 1);
        let mut b = tcp(100, false, ACK, 0, 1);
        a.frame_payload_len = 6;
        b.frame_payload_len = 6;
        let (r17, _) = run(Profile::Cic2017, &[a.clone(), b.clone()]);
        let (r18, _) = run(Profile::Cic2018, &[a, b]);
        let p17 = Profile::Cic2017;
        assert_eq!(f(p17, &r17[0], "Total Length of Fwd Packets"), 6.0);
        assert_eq!(f(p17, &r17[0], " Total Length of Bwd Packets"), 6.0);
        assert_eq!(f(p17, &r17[0], " Max Packet Length"), 6.0);
        assert_eq!(f(P, &r18[0], "TotLen Fwd Pkts"), 0.0);
        assert_eq!(f(P, &r18[0], "Pkt Len Max"), 0.0);
        // P17 also repeats Fwd Header Length at column 62.
        assert_eq!(r17[0].values[61], Value::Int(20));
        assert_eq!(r17[0].values.len(), 85);
        assert_eq!(r18[0].values.len(), 84);
    }

    #[test]
    fn vlan_frames_flow_normally_and_keep_their_padding_out_of_p17_payload() {
        // Inferred from spec §1.3: jNetPcap 1.3 trims the trailer when more
        // than one header precedes
        // IPv4, which an 802.1Q tag makes true, so P17 uses the IP length.
        let mut a = tcp(0, true, ACK, 0, 1);
        let mut b = tcp(100, false, ACK, 0, 1);
        for p in [&mut a, &mut b] {
            p.vlan = Some(10);
            p.l3_offset = 18;
            p.frame_payload_len = 2;
        }
        let p17 = Profile::Cic2017;
        let (rows, stats) = run(p17, &[a, b]);
        assert_eq!(stats.flows_written, 1);
        assert_eq!(f(p17, &rows[0], "Total Length of Fwd Packets"), 0.0);
        assert_eq!(i(p17, &rows[0], " Total Backward Packets"), 1);
    }

    #[test]
    fn out_of_order_packets_give_negative_iat_and_duration() {
        // File order 1000, 400: duration 400 - 1000 = -600 µs.
        let pkts = [tcp(1000, true, ACK, 10, 1), tcp(400, false, ACK, 20, 1)];
        let (rows, _) = run(P, &pkts);
        let r = &rows[0];
        assert_eq!(i(P, r, "Flow Duration"), -600);
        assert_eq!(f(P, r, "Flow IAT Min"), -600.0);
        assert!(close(f(P, r, "Flow Byts/s"), 30.0 / -0.0006));
        assert!(close(f(P, r, "Flow Pkts/s"), 2.0 / -0.0006));
        assert_eq!(f(P, r, "Fwd Pkts/s"), 0.0);
        // Duration is last-added minus first, not max minus min.
        let pkts = [
            tcp(1000, true, ACK, 0, 1),
            tcp(500, false, ACK, 0, 1),
            tcp(2000, true, ACK, 0, 1),
        ];
        let (rows, _) = run(P, &pkts);
        let r = &rows[0];
        assert_eq!(i(P, r, "Flow Duration"), 1000);
        assert_eq!(f(P, r, "Flow IAT Mean"), 500.0);
        assert_eq!(f(P, r, "Flow IAT Max"), 1500.0);
    }

    #[test]
    fn first_fin_closes_and_teardown_makes_an_appendix() {
        let pkts = [
            tcp(0, true, SYN, 0, 1000),
            tcp(10, false, SYN | ACK, 0, 2000),
            tcp(20, true, TcpFlags::RST | ACK, 5, 1000), // RST: no effect
            tcp(30, true, FIN_ACK, 0, 1000),
            tcp(40, false, ACK, 0, 2100),
            tcp(50, false, FIN_ACK, 0, 2200),
            tcp(60, true, ACK, 0, 1000),
        ];
        let (rows, stats) = run(P, &pkts);
        assert_eq!(rows.len(), 2);
        assert_eq!(stats.closed_by_fin, 2);
        assert_eq!(stats.single_packet_flows_not_written, 1);
        let (conn, appendix) = (&rows[0], &rows[1]);
        assert_eq!(
            (i(P, conn, "Tot Fwd Pkts"), i(P, conn, "Tot Bwd Pkts")),
            (3, 1)
        );
        assert_eq!(i(P, conn, "Flow Duration"), 30);
        // First packet a bare SYN: only the column labelled PSH says 1 (§3.3).
        for (name, want) in [
            ("FIN Flag Cnt", 0),
            ("SYN Flag Cnt", 0),
            ("RST Flag Cnt", 0),
            ("PSH Flag Cnt", 1),
            ("ACK Flag Cnt", 0),
            ("URG Flag Cnt", 0),
            ("CWE Flag Count", 0),
            ("ECE Flag Cnt", 0),
        ] {
            assert_eq!(i(P, conn, name), want, "{name}");
        }
        assert_eq!(i(P, conn, "Init Fwd Win Byts"), 1000);
        assert_eq!(i(P, conn, "Init Bwd Win Byts"), 2000);
        // The appendix starts with B's ACK, so it is oriented from B.
        assert_eq!(text(P, appendix, "Src IP"), B);
        assert_eq!(text(P, appendix, "Flow ID"), text(P, conn, "Flow ID"));
        assert_eq!(
            (
                i(P, appendix, "Tot Fwd Pkts"),
                i(P, appendix, "Tot Bwd Pkts")
            ),
            (2, 0)
        );
        assert_eq!(i(P, appendix, "ACK Flag Cnt"), 1);
        assert_eq!(i(P, appendix, "PSH Flag Cnt"), 0);
    }

    #[test]
    fn first_packet_only_psh_urg_and_last_backward_window() {
        let psh_urg = TcpFlags::PSH | TcpFlags::URG | ACK;
        let pkts = [
            tcp(0, true, ACK, 3, 10),
            tcp(1, true, psh_urg, 4, 11),
            tcp(2, false, psh_urg, 5, 100),
            tcp(3, false, ACK, 0, 200),
        ];
        let (rows, _) = run(P, &pkts);
        let r = &rows[0];
        for name in [
            "Fwd PSH Flags",
            "Bwd PSH Flags",
            "Fwd URG Flags",
            "Bwd URG Flags",
        ] {
            assert_eq!(i(P, r, name), 0, "{name}");
        }
        assert_eq!(i(P, r, "Init Bwd Win Byts"), 200);
        // Forward payload packets after the first: one (4 bytes).
        assert_eq!(i(P, r, "Fwd Act Data Pkts"), 1);
        // The first packet's PSH/URG are counted.
        let first = [tcp(0, true, psh_urg, 0, 1), tcp(1, false, ACK, 0, 1)];
        let (rows, _) = run(P, &first);
        assert_eq!(i(P, &rows[0], "Fwd PSH Flags"), 1);
        assert_eq!(i(P, &rows[0], "Fwd URG Flags"), 1);
        assert_eq!(i(P, &rows[0], "Bwd PSH Flags"), 0);
        // Its URG lands in "CWE Flag Count", its PSH in "SYN Flag Cnt".
        assert_eq!(i(P, &rows[0], "CWE Flag Count"), 1);
        assert_eq!(i(P, &rows[0], "SYN Flag Cnt"), 1);
    }

    #[test]
    fn active_and_idle_periods() {
        // 0, 1 s, then 6 s of silence (> 5 s), 7 s, 8 s: Active 1 s, Idle 6 s.
        let s = 1_000_000;
        let pkts = [
            tcp(0, true, ACK, 0, 1),
            tcp(s, false, ACK, 0, 1),
            tcp(7 * s, true, ACK, 0, 1),
            tcp(8 * s, false, ACK, 0, 1),
        ];
        let (rows, _) = run(P, &pkts);
        let r = &rows[0];
        assert_eq!(f(P, r, "Active Mean"), 1e6);
        assert_eq!(f(P, r, "Active Std"), 0.0);
        assert_eq!(f(P, r, "Idle Max"), 6e6);
        assert_eq!(f(P, r, "Idle Min"), 6e6);
    }

    #[test]
    fn early_expiry_matches_lazy_timeout_and_counts_late_packets() {
        let t = FLOW_TIMEOUT_US;
        let other = |ts| pkt(ts, ("10.9.9.9", 1), ("10.9.9.8", 2), 17, 1);
        // Flow X: 2 packets, then silence while another flow runs far past
        // X's 120 s, then B->A on X: a continuation oriented from A.
        let pkts = [
            tcp(0, true, SYN, 0, 1),
            tcp(1_000, false, SYN | ACK, 0, 1),
            other(2 * t),
            other(2 * t + 1),
            tcp(3 * t, false, ACK, 0, 1),
            tcp(3 * t + 5, true, ACK, 0, 1),
        ];
        let mut x = crate::flow::FlowExtractor::new(P, TzOffset::UTC).unwrap();
        let mut early = Vec::new();
        for p in &pkts[..3] {
            x.push(p);
            x.take_ready(&mut early);
        }
        // X was written while reading, before the end of the input.
        assert_eq!(early.len(), 1);
        assert_eq!(early[0].start_us, 0);
        for p in &pkts[3..] {
            x.push(p);
            x.take_ready(&mut early);
        }
        let mut rest = Vec::new();
        let stats = x.finish(&mut rest);
        let all: Vec<_> = early.into_iter().chain(rest).collect();
        assert_eq!(all.len(), 3);
        let starts: Vec<i64> = all.iter().map(|r| r.start_us).collect();
        assert_eq!(starts, vec![0, 2 * t, 3 * t]);
        let cont = &all[2];
        assert_eq!(text(P, cont, "Src IP"), A);
        assert_eq!(
            (i(P, cont, "Tot Fwd Pkts"), i(P, cont, "Tot Bwd Pkts")),
            (2, 0)
        );
        assert_eq!(stats.late_after_expiry, 0);
        assert!(stats.is_balanced());

        // A packet far out of order that Java would have added to X.
        let pkts = [
            tcp(0, true, SYN, 0, 1),
            tcp(1_000, false, SYN | ACK, 0, 1),
            other(2 * t),
            tcp(t / 2, false, ACK, 0, 1),
        ];
        let (_, stats) = run(P, &pkts);
        assert_eq!(stats.late_after_expiry, 1);
    }

    #[test]
    fn non_tcp_udp_is_protocol_zero_and_ipv6_or_sll_is_skipped() {
        let mut icmp = pkt(0, (A, 0), (B, 0), 1, 56);
        icmp.icmp_type = 8;
        let mut reply = pkt(10, (B, 0), (A, 0), 1, 56);
        reply.icmp_type = 0;
        let mut v6 = pkt(20, (A, 1), (B, 2), 17, 1);
        v6.ip_version = 6;
        v6.src = ip("2001:db8::1");
        v6.dst = ip("2001:db8::2");
        let mut sll = pkt(30, (A, 1), (B, 2), 17, 1);
        sll.link_type = 113;
        let (rows, stats) = run(P, &[icmp, reply, v6, sll]);
        assert_eq!((stats.skipped_ipv6, stats.skipped_link_type), (1, 1));
        let r = &rows[0];
        assert_eq!(text(P, r, "Flow ID"), "10.0.0.1-10.0.0.2-0-0-0");
        assert_eq!(i(P, r, "Protocol"), 0);
        assert_eq!(f(P, r, "TotLen Fwd Pkts"), 0.0);
        assert_eq!(i(P, r, "Fwd Header Len"), 0);
        assert_eq!(i(P, r, "Init Fwd Win Byts"), -1);
    }
}
