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
//! the file. Here a flow whose age already exceeds 120 s + [`REORDER_SLACK_US`]
//! relative to the newest packet seen is written at once (its row can no
//! longer change) and only a small tombstone with its orientation stays, so
//! that a later packet on the same key starts the continuation flow exactly as
//! the Java tool would. A packet more than the slack out of order that would
//! have joined such a flow is counted in `late_after_expiry`.

use super::FlowStats;
use super::format::{TzOffset, v3_timestamp};
use super::key::FlowKey;
use super::record::{FlowRecord, Value};
use super::stats::Summary;
use crate::capture::{PacketRepr, TcpFlags, ip_proto, linktype};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
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
    fn record(&self, p17: bool, tz: TzOffset) -> FlowRecord {
        use Value::{Float, Int, Text};
        let mut v = Vec::with_capacity(85);
        let count = |s: &Summary| s.n() as i64;
        let (n_fwd, n_bwd) = (self.fwd_len.n(), self.bwd_len.n());
        let duration = self.last_seen - self.start;
        let secs = duration as f64 / 1e6;
        v.push(Text(self.key.to_string()));
        v.push(Text(self.o.src.to_string()));
        v.push(Int(i64::from(self.o.sport)));
        v.push(Text(self.o.dst.to_string()));
        v.push(Int(i64::from(self.o.dport)));
        v.push(Int(i64::from(self.proto)));
        v.push(Text(v3_timestamp(self.start, tz)));
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
        v.push(Text("No Label".to_string()));
        FlowRecord {
            start_us: self.start,
            key: self.key,
            values: v,
        }
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

/// How a written flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    Fin,
    Timeout,
    Eof,
}

/// The V3 flow table (`FlowGenerator`).
#[derive(Debug)]
pub struct V3Table {
    p17: bool,
    tz: TzOffset,
    flows: HashMap<FlowKey, Slot>,
    /// Open flows by (start, id); entries of closed flows are skipped lazily.
    by_start: BinaryHeap<Reverse<(i64, u64, FlowKey)>>,
    next_id: u64,
    max_ts: i64,
}

impl V3Table {
    /// `p17` selects the CIC-IDS2017 variant (padding quirk, duplicate column).
    pub fn new(p17: bool, tz: TzOffset) -> V3Table {
        V3Table {
            p17,
            tz,
            flows: HashMap::new(),
            by_start: BinaryHeap::new(),
            next_id: 0,
            max_ts: i64::MIN,
        }
    }

    fn open(&mut self, key: FlowKey, p: &V3Packet, inherit: Option<Orientation>) -> Box<V3Flow> {
        let id = self.next_id;
        self.next_id += 1;
        self.by_start.push(Reverse((p.ts, id, key)));
        Box::new(V3Flow::new(id, key, p, inherit))
    }

    fn close(&self, flow: &V3Flow, why: Close, out: &mut Vec<FlowRecord>, stats: &mut FlowStats) {
        let n = flow.packets();
        if n > 1 {
            stats.flows_written += 1;
            stats.packets_in_written_flows += n;
            match why {
                Close::Fin => stats.closed_by_fin += 1,
                Close::Timeout => stats.closed_by_timeout += 1,
                Close::Eof => stats.closed_at_eof += 1,
            }
            out.push(flow.record(self.p17, self.tz));
        } else {
            stats.single_packet_flows_not_written += n;
        }
    }

    /// Feed one decoded packet; flows it closes are appended to `out`.
    pub fn push(&mut self, repr: &PacketRepr, out: &mut Vec<FlowRecord>, stats: &mut FlowStats) {
        stats.packets += 1;
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
        self.max_ts = self.max_ts.max(p.ts);
        let key = FlowKey::cic_v3(p.src, p.dst, p.sport, p.dport, p.proto);
        match self.flows.remove(&key) {
            Some(Slot::Open(mut flow)) => {
                if p.ts - flow.start > FLOW_TIMEOUT_US {
                    let next = self.open(key, &p, Some(flow.o));
                    self.flows.insert(key, Slot::Open(next));
                    self.close(&flow, Close::Timeout, out, stats);
                } else if p.has(TcpFlags::FIN) {
                    flow.add(&p);
                    self.close(&flow, Close::Fin, out, stats);
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
    fn expire(&mut self, out: &mut Vec<FlowRecord>, stats: &mut FlowStats) {
        let watermark = self.max_ts.saturating_sub(REORDER_SLACK_US);
        while let Some(Reverse((start, id, key))) = self.by_start.peek().copied() {
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
                self.close(&flow, Close::Timeout, out, stats);
            }
        }
    }

    /// No flow written later can start before this (µs): the oldest open
    /// flow's start, or the reorder watermark if earlier.
    pub fn horizon(&mut self) -> i64 {
        let watermark = self.max_ts.saturating_sub(REORDER_SLACK_US);
        while let Some(Reverse((start, id, key))) = self.by_start.peek().copied() {
            let live = matches!(self.flows.get(&key), Some(Slot::Open(f)) if f.id == id);
            if live {
                return start.min(watermark);
            }
            self.by_start.pop();
        }
        watermark
    }

    /// End of input: write every open flow with more than one packet, in
    /// (start, key, creation) order.
    pub fn finish(&mut self, out: &mut Vec<FlowRecord>, stats: &mut FlowStats) {
        let mut open: Vec<Box<V3Flow>> = self
            .flows
            .drain()
            .filter_map(|(_, s)| match s {
                Slot::Open(f) => Some(f),
                Slot::Expired { .. } => None,
            })
            .collect();
        open.sort_by_key(|f| (f.start, f.key, f.id));
        for f in &open {
            self.close(f, Close::Eof, out, stats);
        }
        self.by_start.clear();
    }
}
