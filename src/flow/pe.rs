//! Engelen's fixed CICFlowMeter fork (profile `engelen`, spec PE, §2.3).
//!
//! Takes decoded packets (the reference runs time-sorted them first); gives
//! finished [`FlowRecord`]s with the fork's 94 columns:
//!
//! - Ethernet/IPv4 only, like every Java profile; protocol numbers ICMP 1,
//!   IGMP 2, TCP 6, UDP 17, SCTP 132, anything else 0 (ports, payload and
//!   header 0 except for TCP/UDP); ICMP type/code of the first packet;
//! - one flow per unordered 5-tuple; `Flow ID` and Src/Dst are the first
//!   packet's orientation, except that a flow whose first packet is a SYN-ACK
//!   is created reversed; later packets are forward iff their source IP is the
//!   flow's source IP. A flow that replaces a written one on the same 5-tuple
//!   keeps the old `Flow ID` (the fork's generator reuses the old map key,
//!   which is also the packet's cached id; read from the code, not covered by
//!   the reference pairs);
//! - TCP teardown state: first FIN, then a FIN once both directions sent one,
//!   then an ACK (without FIN/RST) → ready; any RST → ready. A ready flow keeps
//!   absorbing packets until a SYN on the same 5-tuple (which starts a new
//!   flow), the 120 s maximum age, or the end of the input;
//! - at the maximum age (or ready + SYN) the flow is written whatever its size.
//!   The next flow is oriented by the packet if the old one was ready and this
//!   is a SYN, if it is UDP more than 120 s after the old flow's last packet,
//!   or if it is neither TCP nor UDP; otherwise it continues the connection:
//!   same Src/Dst, the retransmission memory, and `Total Connection Flow Time`
//!   = previous total + the gap;
//! - ICMP: a packet whose type *and* code both differ from the flow's closes
//!   it and starts a new flow;
//! - features: per-packet flag counts in header order, per-direction
//!   PSH/URG/RST counts, first payload counted once, real Down/Up ratio, bulk
//!   (§3.5) and subflow (gaps > 1 s, 0 when none) as doubles, first non-zero
//!   backward window, `Fwd/Bwd Seg Size Min` stuck at 0 for the direction the
//!   first packet did not take (B26), −1 rates for zero-duration flows, UTC µs
//!   timestamps, retransmissions counted on (source IP, seq, ack, payload,
//!   window) repeats;
//! - every flow is written, one-packet flows included.
//!
//! Memory: as in [`super::v3`], a flow older than 120 s + the reorder slack
//! ([`REORDER_SLACK_US`] by default) behind the newest packet is written early and a
//! tombstone keeps what a continuation flow inherits (orientation, readiness,
//! last-seen time, connection time and the retransmission memory, bounded to
//! [`RETRANS_MEMORY`] entries per flow).

use super::format::push_pe_timestamp;
use super::key::{FixedState, FlowKey, FlowMap};
use super::queue::MinQueue;
use super::record::{Closed, PackedRecord, Packer};
use super::stats::Summary;
use super::v3::{ACTIVITY_TIMEOUT_US, FLOW_TIMEOUT_US, REORDER_SLACK_US};
use super::{CloseReason, FlowStats};
use crate::capture::{PacketRepr, TcpFlags, ip_proto, linktype};
use std::collections::HashSet;
use std::net::IpAddr;

/// Most (source, seq, ack, payload, window) tuples remembered per flow for
/// retransmission counting; beyond it new tuples are not remembered (counted
/// in `FlowStats::retrans_memory_full`).
pub const RETRANS_MEMORY: usize = 65_536;

/// The facts PE takes from a packet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct PePacket {
    pub(super) ts: i64,
    pub(super) src: IpAddr,
    pub(super) dst: IpAddr,
    pub(super) sport: u16,
    pub(super) dport: u16,
    pub(super) proto: u8,
    pub(super) payload: i64,
    pub(super) header: i64,
    pub(super) window: i32,
    pub(super) flags: u8,
    pub(super) seq: u32,
    pub(super) ack: u32,
    pub(super) icmp_type: i32,
    pub(super) icmp_code: i32,
}

impl PePacket {
    pub(super) fn from_repr(p: &PacketRepr) -> Result<PePacket, super::v3::V3Skip> {
        use super::v3::V3Skip;
        if u32::from(p.link_type) != linktype::ETHERNET {
            return Err(V3Skip::NotEthernet);
        }
        if p.ip_version != 4 {
            return Err(V3Skip::Ipv6);
        }
        let mut v = PePacket {
            ts: p.ts_ns.div_euclid(1000),
            src: p.src,
            dst: p.dst,
            sport: 0,
            dport: 0,
            proto: 0,
            payload: 0,
            header: 0,
            window: 0,
            flags: 0,
            seq: 0,
            ack: 0,
            icmp_type: -1,
            icmp_code: -1,
        };
        match p.protocol {
            ip_proto::ICMP => {
                v.proto = ip_proto::ICMP;
                v.icmp_type = i32::from(p.icmp_type);
                v.icmp_code = i32::from(p.icmp_code);
            }
            ip_proto::TCP | ip_proto::UDP => {
                v.proto = p.protocol;
                v.sport = p.src_port;
                v.dport = p.dst_port;
                v.payload = i64::from(p.payload_len);
                v.header = i64::from(p.transport_header_len);
                if p.protocol == ip_proto::TCP {
                    v.window = i32::from(p.tcp_window);
                    v.flags = p.tcp_flags.0;
                    v.seq = p.tcp_seq;
                    v.ack = p.tcp_ack;
                }
            }
            ip_proto::SCTP | ip_proto::IGMP => v.proto = p.protocol,
            _ => {}
        }
        Ok(v)
    }

    /// The corrected profile's view: any link type, IPv4 and IPv6, real
    /// protocol numbers, payload bounded by the IP length, transport header
    /// and payload of every protocol the decoder knows, window −1 without TCP.
    pub(super) fn corrected_from_repr(p: &PacketRepr) -> PePacket {
        let tcp = p.protocol == ip_proto::TCP;
        let icmp = p.protocol == ip_proto::ICMP || p.protocol == ip_proto::ICMPV6;
        PePacket {
            ts: p.ts_ns.div_euclid(1000),
            src: p.src,
            dst: p.dst,
            sport: p.src_port,
            dport: p.dst_port,
            proto: p.protocol,
            payload: i64::from(p.payload_len),
            header: i64::from(p.transport_header_len),
            window: if tcp { i32::from(p.tcp_window) } else { -1 },
            flags: if tcp { p.tcp_flags.0 } else { 0 },
            seq: p.tcp_seq,
            ack: p.tcp_ack,
            icmp_type: if icmp { i32::from(p.icmp_type) } else { -1 },
            icmp_code: if icmp { i32::from(p.icmp_code) } else { -1 },
        }
    }

    /// True when any bit of `mask` is set.
    pub(super) fn has(&self, mask: u8) -> bool {
        self.flags & mask != 0
    }

    pub(super) fn is_syn_ack(&self) -> bool {
        self.has(TcpFlags::SYN) && self.has(TcpFlags::ACK)
    }
}

/// What updating a flow reads of a packet, besides its direction: a
/// [`PePacket`], or (corrected profile) the [`PxPacket`] a shard gets,
/// read in place.
pub(super) trait Facts {
    fn ts(&self) -> i64;
    fn payload(&self) -> i64;
    fn header(&self) -> i64;
    /// −1 when the packet has none (not TCP).
    fn window(&self) -> i32;
    /// 0 when not TCP.
    fn flags(&self) -> u8;
    fn seq_ack(&self) -> u64;
    /// −1 when not ICMP/ICMPv6.
    fn icmp_type(&self) -> i32;
    fn icmp_code(&self) -> i32;

    /// True when any bit of `mask` is set.
    #[inline]
    fn has(&self, mask: u8) -> bool {
        self.flags() & mask != 0
    }
}

impl Facts for PePacket {
    #[inline]
    fn ts(&self) -> i64 {
        self.ts
    }
    #[inline]
    fn payload(&self) -> i64 {
        self.payload
    }
    #[inline]
    fn header(&self) -> i64 {
        self.header
    }
    #[inline]
    fn window(&self) -> i32 {
        self.window
    }
    #[inline]
    fn flags(&self) -> u8 {
        self.flags
    }
    #[inline]
    fn seq_ack(&self) -> u64 {
        (u64::from(self.seq) << 32) | u64::from(self.ack)
    }
    #[inline]
    fn icmp_type(&self) -> i32 {
        self.icmp_type
    }
    #[inline]
    fn icmp_code(&self) -> i32 {
        self.icmp_code
    }
}

/// A corrected-profile packet as the reading thread hands it to a shard:
/// its flow key and the key's [`FlowKey::hash64`] (the shard and the shard's
/// table both use it; it is computed once) and, besides the key, only what
/// [`PePacket`] takes from the packet, in 80 bytes (a `PePacket` and its
/// key are 128). Gives back the same `PePacket` as
/// [`PePacket::corrected_from_repr`], and reads as its [`Facts`] (tested).
#[derive(Debug, Clone, Copy)]
pub(super) struct PxPacket {
    pub(super) key: FlowKey,
    pub(super) hash: u64,
    ts: i64,
    seq: u32,
    ack: u32,
    payload: u32,
    window: u16,
    header: u16,
    flags: u8,
    icmp_type: u8,
    icmp_code: u8,
    /// The packet goes from the key's `a` side to its `b` side.
    pub(super) from_a: bool,
}

impl PxPacket {
    #[inline]
    pub(super) fn from_repr(p: &PacketRepr) -> PxPacket {
        let (key, from_a, hash) =
            FlowKey::canonical_side_hashed(p.src, p.dst, p.src_port, p.dst_port, p.protocol);
        PxPacket {
            hash,
            key,
            ts: p.ts_ns.div_euclid(1000),
            seq: p.tcp_seq,
            ack: p.tcp_ack,
            payload: p.payload_len,
            window: p.tcp_window,
            header: p.transport_header_len,
            flags: p.tcp_flags.0,
            icmp_type: p.icmp_type,
            icmp_code: p.icmp_code,
            from_a,
        }
    }

    /// The packet [`PePacket::corrected_from_repr`] makes of the original.
    #[inline]
    pub(super) fn packet(&self) -> PePacket {
        let k = &self.key;
        let (src, sport, dst, dport) = if self.from_a {
            (k.a, k.a_port, k.b, k.b_port)
        } else {
            (k.b, k.b_port, k.a, k.a_port)
        };
        let proto = k.protocol;
        let tcp = proto == ip_proto::TCP;
        let icmp = proto == ip_proto::ICMP || proto == ip_proto::ICMPV6;
        PePacket {
            ts: self.ts,
            src,
            dst,
            sport,
            dport,
            proto,
            payload: i64::from(self.payload),
            header: i64::from(self.header),
            window: if tcp { i32::from(self.window) } else { -1 },
            flags: if tcp { self.flags } else { 0 },
            seq: self.seq,
            ack: self.ack,
            icmp_type: if icmp { i32::from(self.icmp_type) } else { -1 },
            icmp_code: if icmp { i32::from(self.icmp_code) } else { -1 },
        }
    }
}

impl PxPacket {
    #[inline]
    fn is_tcp(&self) -> bool {
        self.key.protocol == ip_proto::TCP
    }

    #[inline]
    fn is_icmp(&self) -> bool {
        self.key.protocol == ip_proto::ICMP || self.key.protocol == ip_proto::ICMPV6
    }
}

/// As the fields of [`PxPacket::packet`].
impl Facts for PxPacket {
    #[inline]
    fn ts(&self) -> i64 {
        self.ts
    }
    #[inline]
    fn payload(&self) -> i64 {
        i64::from(self.payload)
    }
    #[inline]
    fn header(&self) -> i64 {
        i64::from(self.header)
    }
    #[inline]
    fn window(&self) -> i32 {
        if self.is_tcp() {
            i32::from(self.window)
        } else {
            -1
        }
    }
    #[inline]
    fn flags(&self) -> u8 {
        if self.is_tcp() { self.flags } else { 0 }
    }
    #[inline]
    fn seq_ack(&self) -> u64 {
        (u64::from(self.seq) << 32) | u64::from(self.ack)
    }
    #[inline]
    fn icmp_type(&self) -> i32 {
        if self.is_icmp() {
            i32::from(self.icmp_type)
        } else {
            -1
        }
    }
    #[inline]
    fn icmp_code(&self) -> i32 {
        if self.is_icmp() {
            i32::from(self.icmp_code)
        } else {
            -1
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Orientation {
    pub(super) src: IpAddr,
    pub(super) dst: IpAddr,
    pub(super) sport: u16,
    pub(super) dport: u16,
}

impl Orientation {
    pub(super) fn of(p: &PePacket) -> Orientation {
        Orientation {
            src: p.src,
            dst: p.dst,
            sport: p.sport,
            dport: p.dport,
        }
    }

    pub(super) fn reversed_of(p: &PePacket) -> Orientation {
        Orientation {
            src: p.dst,
            dst: p.src,
            sport: p.dport,
            dport: p.sport,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TcpState {
    Open,
    FirstFin,
    SecondFin,
    Ready,
}

/// Bulk state of one direction (§3.5).
#[derive(Debug, Clone, Copy, Default)]
struct Bulk {
    pub(super) start: i64,
    last: i64,
    cnt: i64,
    size: i64,
    bulks: i64,
    pkts: i64,
    bytes: i64,
    dur: i64,
}

impl Bulk {
    fn update(&mut self, ts: i64, payload: i64, last_other: i64) {
        if last_other > self.start {
            self.start = 0;
        }
        if payload <= 0 {
            return;
        }
        // `(ts - last) as f64 / 1e6 > 1.0` of the Java code, without the division.
        if self.start == 0 || ts - self.last > 1_000_000 {
            self.start = ts;
            self.last = ts;
            self.cnt = 1;
            self.size = payload;
            return;
        }
        self.cnt += 1;
        self.size += payload;
        if self.cnt == 4 {
            self.bulks += 1;
            self.pkts += self.cnt;
            self.bytes += self.size;
            self.dur += ts - self.start;
        } else if self.cnt > 4 {
            self.pkts += 1;
            self.bytes += payload;
            self.dur += ts - self.last;
        }
        self.last = ts;
    }

    fn bytes_per_bulk(&self) -> f64 {
        if self.bulks != 0 {
            self.bytes as f64 / self.bulks as f64
        } else {
            0.0
        }
    }

    fn packets_per_bulk(&self) -> f64 {
        if self.bulks != 0 {
            self.pkts as f64 / self.bulks as f64
        } else {
            0.0
        }
    }

    fn rate(&self) -> f64 {
        if self.dur != 0 {
            self.bytes as f64 / (self.dur as f64 / 1e6)
        } else {
            0.0
        }
    }
}

/// A TCP packet as the retransmission counter compares it: (source IP, seq,
/// ack, payload, window), in 16 bytes. The source is one of the flow key's
/// two addresses, kept as "is it the key's second address" (the same bit for
/// both when they are equal, as IP equality would say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct RetransKey {
    seq_ack: u64,
    /// Payload (a u32 length) in the high half; the side in bit 31; the
    /// window (a u16, or -1) plus one in the low 17 bits.
    payload_side_window: u64,
}

impl RetransKey {
    /// The tuple of `p`; `from_b`: its source is not the key's `a` IP.
    #[inline]
    fn of(p: &impl Facts, from_b: bool) -> RetransKey {
        RetransKey::new(p.seq_ack(), p.payload() as u32, p.window(), from_b)
    }

    fn new(seq_ack: u64, payload: u32, window: i32, from_b: bool) -> RetransKey {
        debug_assert!((-1..=65_535).contains(&window));
        let window = (window.wrapping_add(1) as u32) & 0x1_ffff;
        RetransKey {
            seq_ack,
            payload_side_window: (u64::from(payload) << 32)
                | (u64::from(from_b) << 31)
                | u64::from(window),
        }
    }
}

/// Tuples kept in a plain vector before the memory switches to a hash set.
const RETRANS_FEW: usize = 32;

/// The retransmission memory of a connection: a short vector searched
/// linearly (most flows are short), then a fixed-seed hash set. Never
/// iterated: only membership and size are used.
#[derive(Debug, Clone, Default)]
pub(super) struct RetransSet {
    few: Vec<RetransKey>,
    /// A bit per [`RetransKey::bit`] of the tuples in `few`: most packets
    /// are no retransmission, and their bit is clear, so `few` is searched
    /// only when it may hold the tuple.
    few_bits: u128,
    /// Boxed: most flows never need it, and every flow carries the field
    /// (a box is 8 bytes, an empty set 32).
    #[allow(clippy::box_collection)]
    many: Option<Box<HashSet<RetransKey, FixedState>>>,
}

impl RetransKey {
    /// One of 128 bits, from a multiplicative hash of the tuple.
    fn bit(&self) -> u128 {
        let x = self.seq_ack ^ self.payload_side_window.rotate_left(29);
        1 << (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57)
    }
}

impl RetransSet {
    fn len(&self) -> usize {
        self.few.len() + self.many.as_ref().map_or(0, |m| m.len())
    }

    fn few_contains(&self, k: &RetransKey) -> bool {
        self.few_bits & k.bit() != 0 && self.few.contains(k)
    }

    fn contains(&self, k: &RetransKey) -> bool {
        match &self.many {
            None => self.few_contains(k),
            Some(m) => m.contains(k),
        }
    }

    /// True when `k` was not yet remembered.
    fn insert(&mut self, k: RetransKey) -> bool {
        if self.many.is_none() {
            if self.few_contains(&k) {
                return false;
            }
            if self.few.len() < RETRANS_FEW {
                self.few_bits |= k.bit();
                if self.few.capacity() == 0 {
                    self.few.reserve_exact(RETRANS_FEW / 2);
                }
                self.few.push(k);
                return true;
            }
            let mut many =
                HashSet::with_capacity_and_hasher(2 * RETRANS_FEW, FixedState::default());
            many.extend(self.few.drain(..));
            self.few = Vec::new();
            self.few_bits = 0;
            self.many = Some(Box::new(many));
        }
        self.many.get_or_insert_default().insert(k)
    }
}

/// One open flow of the fork; `fixed` switches on the corrected profile's
/// fixes (see [`super::px`]).
#[derive(Debug, Clone)]
pub(super) struct PeFlow {
    /// Corrected-profile semantics instead of the fork's.
    pub(super) fixed: bool,
    pub(super) id: u64,
    pub(super) key: FlowKey,
    /// The forward direction goes from the key's `a` side (corrected
    /// profile: `o` is one of the key's sides, or both are the same).
    fwd_is_a: bool,
    /// The key's two IPs differ.
    b_ip_differs: bool,
    /// Orientation of the `Flow ID` text.
    pub(super) id_o: Orientation,
    pub(super) o: Orientation,
    pub(super) proto: u8,
    pub(super) start: i64,
    pub(super) last_seen: i64,
    pub(super) start_active: i64,
    pub(super) end_active: i64,
    pub(super) fwd_len: Summary,
    pub(super) bwd_len: Summary,
    pub(super) all_len: Summary,
    pub(super) flow_iat: Summary,
    pub(super) fwd_iat: Summary,
    pub(super) bwd_iat: Summary,
    pub(super) active: Summary,
    pub(super) idle: Summary,
    pub(super) fwd_bytes: i64,
    pub(super) bwd_bytes: i64,
    pub(super) fwd_last: i64,
    pub(super) bwd_last: i64,
    pub(super) fwd_header: i64,
    pub(super) bwd_header: i64,
    /// PSH, URG, RST, FIN per direction: [fwd, bwd].
    pub(super) psh: [i64; 2],
    pub(super) urg: [i64; 2],
    pub(super) rst: [i64; 2],
    pub(super) fin: [i64; 2],
    /// FIN, SYN, RST, PSH, ACK, URG, CWR, ECE.
    pub(super) flags: [i64; 8],
    pub(super) init_win_fwd: i32,
    pub(super) init_win_bwd: i32,
    pub(super) act_data: [i64; 2],
    pub(super) min_seg: [i64; 2],
    pub(super) sf_last: Option<i64>,
    pub(super) sf_count: i64,
    bulk: [Bulk; 2],
    pub(super) retrans_seen: RetransSet,
    pub(super) retrans: [i64; 2],
    pub(super) cumulative: i64,
    pub(super) state: TcpState,
    pub(super) icmp_type: i32,
    pub(super) icmp_code: i32,
}

const FLAG_ORDER: [u8; 8] = [
    TcpFlags::FIN,
    TcpFlags::SYN,
    TcpFlags::RST,
    TcpFlags::PSH,
    TcpFlags::ACK,
    TcpFlags::URG,
    TcpFlags::CWR,
    TcpFlags::ECE,
];

impl PeFlow {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        fixed: bool,
        id: u64,
        key: FlowKey,
        p: &PePacket,
        o: Orientation,
        id_o: Orientation,
        retrans_seen: RetransSet,
        stats: &mut FlowStats,
    ) -> PeFlow {
        let init_win = if fixed { -1 } else { 0 };
        let mut f = PeFlow {
            fixed,
            id,
            key,
            fwd_is_a: (o.src, o.sport) == (key.a, key.a_port),
            b_ip_differs: key.a != key.b,
            id_o,
            o,
            proto: p.proto,
            start: p.ts,
            last_seen: p.ts,
            start_active: p.ts,
            end_active: p.ts,
            fwd_len: Summary::new(),
            bwd_len: Summary::new(),
            all_len: Summary::new(),
            flow_iat: Summary::new(),
            fwd_iat: Summary::new(),
            bwd_iat: Summary::new(),
            active: Summary::new(),
            idle: Summary::new(),
            fwd_bytes: 0,
            bwd_bytes: 0,
            fwd_last: 0,
            bwd_last: 0,
            fwd_header: 0,
            bwd_header: 0,
            psh: [0; 2],
            urg: [0; 2],
            rst: [0; 2],
            fin: [0; 2],
            flags: [0; 8],
            init_win_fwd: init_win,
            init_win_bwd: init_win,
            act_data: [0; 2],
            min_seg: [0; 2],
            sf_last: None,
            sf_count: 0,
            bulk: [Bulk::default(); 2],
            retrans_seen,
            retrans: [0; 2],
            cumulative: 0,
            state: TcpState::Open,
            icmp_type: p.icmp_type,
            icmp_code: p.icmp_code,
        };
        // `firstPacket`: bulk, flags, subflow, then the packet itself.
        let d = f.dir(p);
        f.update_bulk(p, d);
        f.count_flags(p);
        f.update_subflows(p.ts);
        f.all_len.add(p.payload as f64);
        if d == 0 {
            f.init_win_fwd = p.window;
            f.fwd_len.add(p.payload as f64);
            f.fwd_header = p.header;
            f.fwd_last = p.ts;
            f.fwd_bytes = p.payload;
        } else {
            f.init_win_bwd = p.window;
            f.bwd_len.add(p.payload as f64);
            f.bwd_header = p.header;
            f.bwd_last = p.ts;
            f.bwd_bytes = p.payload;
        }
        f.min_seg[d] = p.header;
        f.count_direction_flags(p, d);
        f.check_retransmission(p, d, p.src != key.a, stats);
        f
    }

    /// 0 forward, 1 backward: source IP only, like the Java tool; the
    /// corrected profile compares (IP, port) (B22).
    fn dir(&self, p: &PePacket) -> usize {
        if self.fixed {
            usize::from((p.src, p.sport) != (self.o.src, self.o.sport))
        } else {
            usize::from(p.src != self.o.src)
        }
    }

    pub(super) fn packets(&self) -> u64 {
        self.fwd_len.n() + self.bwd_len.n()
    }

    fn update_bulk(&mut self, p: &impl Facts, d: usize) {
        let last_other = self.bulk[1 - d].last;
        self.bulk[d].update(p.ts(), p.payload(), last_other);
    }

    fn count_flags(&mut self, p: &impl Facts) {
        // Without branches: flags vary from packet to packet.
        for (n, flag) in self.flags.iter_mut().zip(FLAG_ORDER) {
            *n += i64::from(p.has(flag));
        }
    }

    fn count_direction_flags(&mut self, p: &impl Facts, d: usize) {
        self.act_data[d] += i64::from(p.payload() >= 1);
        self.psh[d] += i64::from(p.has(TcpFlags::PSH));
        self.urg[d] += i64::from(p.has(TcpFlags::URG));
        self.fin[d] += i64::from(p.has(TcpFlags::FIN));
        self.rst[d] += i64::from(p.has(TcpFlags::RST));
    }

    fn update_subflows(&mut self, ts: i64) {
        let last = *self.sf_last.get_or_insert(ts);
        // `(ts - last) / 1e6 > 1.0` in doubles: exactly "more than 1 s".
        if ts - last > 1_000_000 {
            self.sf_count += 1;
        }
        self.sf_last = Some(ts);
    }

    fn check_retransmission(
        &mut self,
        p: &impl Facts,
        d: usize,
        from_b: bool,
        stats: &mut FlowStats,
    ) {
        if self.proto != ip_proto::TCP {
            return;
        }
        let k = RetransKey::of(p, from_b);
        if self.retrans_seen.len() < RETRANS_MEMORY {
            if !self.retrans_seen.insert(k) {
                self.retrans[d] += 1;
            }
        } else if self.retrans_seen.contains(&k) {
            self.retrans[d] += 1;
        } else {
            stats.retrans_memory_full += 1;
        }
    }

    /// `addPacket`.
    pub(super) fn add(&mut self, p: &PePacket, stats: &mut FlowStats) {
        let d = self.dir(p);
        self.add_in(p, d, p.src != self.key.a, stats);
    }

    /// [`PeFlow::add`] of a corrected-profile packet as its shard gets it:
    /// the direction from its side of the key (tested against the addresses).
    #[inline]
    pub(super) fn add_px(&mut self, p: &PxPacket, stats: &mut FlowStats) {
        debug_assert!(self.fixed && p.key == self.key);
        let d = usize::from(p.from_a != self.fwd_is_a);
        self.add_in(p, d, !p.from_a && self.b_ip_differs, stats);
    }

    /// `addPacket` of `p` in direction `d`; `from_b`: its source is not the
    /// key's `a` IP.
    #[inline]
    fn add_in(&mut self, p: &impl Facts, d: usize, from_b: bool, stats: &mut FlowStats) {
        let (ts, payload, header) = (p.ts(), p.payload(), p.header());
        // Corrected: minimum header and init window from each direction's
        // first packet (B13, B26).
        let first_in_dir = [self.fwd_len.n(), self.bwd_len.n()][d] == 0;
        if self.fixed && first_in_dir {
            self.min_seg[d] = header;
            if d == 0 {
                self.init_win_fwd = p.window();
            } else {
                self.init_win_bwd = p.window();
            }
        }
        self.update_bulk(p, d);
        self.update_subflows(ts);
        self.count_flags(p);
        self.check_retransmission(p, d, from_b, stats);
        let len = payload as f64;
        self.all_len.add(len);
        if d == 0 {
            self.fwd_len.add(len);
            self.fwd_header += header;
            self.fwd_bytes += payload;
            if self.fwd_len.n() > 1 {
                self.fwd_iat.add((ts - self.fwd_last) as f64);
            }
            self.fwd_last = ts;
        } else {
            if !self.fixed && self.init_win_bwd == 0 {
                self.init_win_bwd = p.window();
            }
            self.bwd_len.add(len);
            self.bwd_header += header;
            self.bwd_bytes += payload;
            if self.bwd_len.n() > 1 {
                self.bwd_iat.add((ts - self.bwd_last) as f64);
            }
            self.bwd_last = ts;
        }
        self.min_seg[d] = self.min_seg[d].min(header);
        self.count_direction_flags(p, d);
        self.flow_iat.add((ts - self.last_seen) as f64);
        self.last_seen = ts;
    }

    /// TCP teardown state after packet `p` was added (spec §2.3).
    pub(super) fn update_teardown(&mut self, p: &impl Facts) {
        if p.has(TcpFlags::FIN) {
            if self.state == TcpState::Open {
                self.state = TcpState::FirstFin;
            } else if self.state == TcpState::FirstFin && self.fin[0] > 0 && self.fin[1] > 0 {
                self.state = TcpState::SecondFin;
            }
        } else if p.has(TcpFlags::RST)
            || (p.has(TcpFlags::ACK) && self.state == TcpState::SecondFin)
        {
            self.state = TcpState::Ready;
        }
    }

    /// An ICMP packet whose type and code both differ from the flow's.
    pub(super) fn is_icmp_change(&self, p: &impl Facts) -> bool {
        (self.proto == ip_proto::ICMP || self.proto == ip_proto::ICMPV6)
            && self.icmp_code != p.icmp_code()
            && self.icmp_type != p.icmp_type()
    }

    pub(super) fn update_active_idle(&mut self, ts: i64) {
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

    pub(super) fn duration(&self) -> i64 {
        self.last_seen - self.start
    }

    /// Connection time including this piece (TCP/UDP only).
    pub(super) fn cumulative_at_close(&self) -> i64 {
        if self.proto == ip_proto::TCP || self.proto == ip_proto::UDP {
            self.cumulative + self.duration()
        } else {
            self.cumulative
        }
    }

    /// The flow's row, packed with `v` (emptied again).
    pub(super) fn record(&self, v: &mut Packer) -> PackedRecord {
        let (n_fwd, n_bwd) = (self.fwd_len.n(), self.bwd_len.n());
        let duration = self.duration();
        let secs = duration as f64 / 1e6;
        let i = self.id_o;
        v.flow_endpoints(
            [(i.src, i.sport), (i.dst, i.dport)],
            self.proto,
            (self.o.src, self.o.sport),
            (self.o.dst, self.o.dport),
        );
        v.int(i64::from(self.proto));
        v.text_with(|s| push_pe_timestamp(s, self.start));
        v.int(duration);
        v.int(n_fwd as i64);
        v.int(n_bwd as i64);
        v.float(self.fwd_len.sum());
        v.float(self.bwd_len.sum());
        for s in [&self.fwd_len, &self.bwd_len] {
            if s.n() > 0 {
                v.floats([s.max(), s.min(), s.mean(), s.std()]);
            } else {
                v.zeros(4);
            }
        }
        if duration != 0 {
            v.float((self.fwd_bytes + self.bwd_bytes) as f64 / secs);
            v.float(self.packets() as f64 / secs);
        } else if self.fixed {
            // B18: no rate over an empty interval.
            v.floats([0.0; 2]);
        } else {
            v.int(-1);
            v.int(-1);
        }
        let f = &self.flow_iat;
        let nan0 = |x: f64| if x.is_nan() { 0.0 } else { x };
        v.floats([f.mean(), f.std(), f.max(), f.min()].map(nan0));
        for (n, s) in [(n_fwd, &self.fwd_iat), (n_bwd, &self.bwd_iat)] {
            if n > 1 {
                v.floats([s.sum(), s.mean(), s.std(), s.max(), s.min()]);
            } else {
                v.zeros(5);
            }
        }
        for x in [
            self.psh[0],
            self.psh[1],
            self.urg[0],
            self.urg[1],
            self.rst[0],
            self.rst[1],
            self.fwd_header,
            self.bwd_header,
        ] {
            v.int(x);
        }
        let per_sec = |n: u64| {
            if duration > 0 { n as f64 / secs } else { 0.0 }
        };
        v.float(per_sec(n_fwd));
        v.float(per_sec(n_bwd));
        let a = &self.all_len;
        if a.n() > 0 {
            v.floats([a.min(), a.max(), a.mean(), a.std(), a.variance()]);
        } else {
            v.zeros(5);
        }
        for x in self.flags {
            v.int(x);
        }
        v.float(if n_fwd > 0 {
            n_bwd as f64 / n_fwd as f64
        } else {
            0.0
        });
        let packets = self.packets();
        v.float(if packets > 0 {
            a.sum() / packets as f64
        } else {
            0.0
        });
        let seg = |s: &Summary| {
            if s.n() > 0 {
                s.sum() / s.n() as f64
            } else {
                0.0
            }
        };
        v.float(seg(&self.fwd_len));
        v.float(seg(&self.bwd_len));
        for b in &self.bulk {
            v.float(b.bytes_per_bulk());
            v.float(b.packets_per_bulk());
            v.float(b.rate());
        }
        // Corrected: subflows = gaps > 1 s plus one (B10).
        let subflows = self.sf_count + i64::from(self.fixed);
        let sf = |x: f64| {
            if subflows <= 0 {
                0.0
            } else {
                x / subflows as f64
            }
        };
        v.float(sf(n_fwd as f64));
        v.float(sf(self.fwd_bytes as f64));
        v.float(sf(n_bwd as f64));
        v.float(sf(self.bwd_bytes as f64));
        v.int(i64::from(self.init_win_fwd));
        v.int(i64::from(self.init_win_bwd));
        for x in self.act_data {
            v.int(x);
        }
        for x in self.min_seg {
            v.int(x);
        }
        // Corrected: the last active period counts too (B17).
        let mut active = self.active;
        if self.fixed && self.end_active - self.start_active > 0 {
            active.add((self.end_active - self.start_active) as f64);
        }
        for s in [&active, &self.idle] {
            if s.n() > 0 {
                v.floats([s.mean(), s.std(), s.max(), s.min()]);
            } else {
                v.zeros(4);
            }
        }
        v.int(i64::from(self.icmp_code));
        v.int(i64::from(self.icmp_type));
        v.int(self.retrans[0]);
        v.int(self.retrans[1]);
        v.int(self.retrans[0] + self.retrans[1]);
        v.int(self.cumulative_at_close());
        v.text("NeedManualLabel");
        v.record(self.start, self.key)
    }
}

/// What a continuation flow inherits from a flow written early.
#[derive(Debug)]
struct Tombstone {
    o: Orientation,
    id_o: Orientation,
    start: i64,
    last_seen: i64,
    ready: bool,
    proto: u8,
    cumulative: i64,
    retrans_seen: RetransSet,
}

#[derive(Debug)]
enum Slot {
    Open(Box<PeFlow>),
    Expired(Box<Tombstone>),
}

/// The PE flow table (`FlowGenerator` of the fork).
#[derive(Debug, Default)]
pub struct PeTable {
    flows: FlowMap<Slot>,
    by_start: MinQueue<(i64, u64, FlowKey)>,
    next_id: u64,
    max_ts: i64,
    slack: i64,
}

impl PeTable {
    pub fn new() -> PeTable {
        PeTable {
            max_ts: i64::MIN,
            slack: REORDER_SLACK_US,
            ..PeTable::default()
        }
    }

    /// See [`super::v3::V3Table::with_slack`].
    pub fn with_slack(mut self, slack_us: i64) -> PeTable {
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

    /// A new flow. `old_id`: the `Flow ID` orientation of the flow this one
    /// replaces (the fork's generator keeps the map key, and the packet's
    /// cached flow id, of the old flow); `inherit`: Src/Dst, retransmission
    /// memory and connection time of a continued connection.
    fn open(
        &mut self,
        key: FlowKey,
        p: &PePacket,
        old_id: Option<Orientation>,
        inherit: Option<(Orientation, RetransSet, i64)>,
        stats: &mut FlowStats,
    ) -> Box<PeFlow> {
        let id = self.next_id;
        self.next_id += 1;
        self.by_start.push((p.ts, id, key));
        let (o, seen, cumulative) = match inherit {
            Some(i) => i,
            None if p.is_syn_ack() => (Orientation::reversed_of(p), RetransSet::default(), 0),
            None => (Orientation::of(p), RetransSet::default(), 0),
        };
        let id_o = old_id.unwrap_or(o);
        let mut f = PeFlow::new(false, id, key, p, o, id_o, seen, stats);
        f.cumulative = cumulative;
        Box::new(f)
    }

    fn close(flow: &PeFlow, why: CloseReason, out: &mut Closed, stats: &mut FlowStats) {
        stats.count_written(why, flow.packets());
        out.rows.push(flow.record(&mut out.packer));
    }

    /// The flow after a written one (timeout or ready + SYN): fresh, or a
    /// continuation of the same connection.
    fn successor(
        &mut self,
        key: FlowKey,
        p: &PePacket,
        t: Tombstone,
        stats: &mut FlowStats,
    ) -> Box<PeFlow> {
        let udp_new_dialogue = t.proto == ip_proto::UDP && p.ts - t.last_seen > FLOW_TIMEOUT_US;
        let tcp_or_udp = p.proto == ip_proto::TCP || p.proto == ip_proto::UDP;
        if (t.ready && p.has(TcpFlags::SYN)) || udp_new_dialogue || !tcp_or_udp {
            self.open(key, p, Some(t.id_o), None, stats)
        } else {
            let cumulative = t.cumulative + (p.ts - t.last_seen);
            let inherit = Some((t.o, t.retrans_seen, cumulative));
            self.open(key, p, Some(t.id_o), inherit, stats)
        }
    }

    fn tombstone(flow: PeFlow) -> Tombstone {
        Tombstone {
            o: flow.o,
            id_o: flow.id_o,
            start: flow.start,
            last_seen: flow.last_seen,
            ready: flow.state == TcpState::Ready,
            proto: flow.proto,
            cumulative: flow.cumulative_at_close(),
            retrans_seen: flow.retrans_seen,
        }
    }

    /// Feed one decoded packet; flows it closes are appended to `out`.
    pub(crate) fn push(&mut self, repr: &PacketRepr, out: &mut Closed, stats: &mut FlowStats) {
        use super::v3::V3Skip;
        stats.packets += 1;
        // Capture time advances with every packet, used or not.
        self.max_ts = self.max_ts.max(repr.ts_ns.div_euclid(1000));
        let p = match PePacket::from_repr(repr) {
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
        let key = FlowKey::canonical(p.src, p.dst, p.sport, p.dport, p.proto);
        // Fast path: the packet joins its open flow.
        if let Some(Slot::Open(flow)) = self.flows.get_mut(&key)
            && p.ts - flow.start <= FLOW_TIMEOUT_US
            && !(flow.state == TcpState::Ready && p.has(TcpFlags::SYN))
            && !flow.is_icmp_change(&p)
        {
            flow.update_active_idle(p.ts);
            flow.add(&p, stats);
            flow.update_teardown(&p);
            self.expire(out, stats);
            return;
        }
        let next = match self.flows.remove(&key) {
            None => self.open(key, &p, None, None, stats),
            Some(Slot::Expired(t)) => {
                if p.ts - t.start <= FLOW_TIMEOUT_US && !(t.ready && p.has(TcpFlags::SYN)) {
                    stats.late_after_expiry += 1;
                }
                self.successor(key, &p, *t, stats)
            }
            Some(Slot::Open(mut flow)) => {
                let ready_syn = flow.state == TcpState::Ready && p.has(TcpFlags::SYN);
                if p.ts - flow.start > FLOW_TIMEOUT_US || ready_syn {
                    let why = if p.ts - flow.start > FLOW_TIMEOUT_US {
                        CloseReason::Timeout
                    } else {
                        CloseReason::NewSyn
                    };
                    Self::close(&flow, why, out, stats);
                    let t = Self::tombstone(*flow);
                    self.successor(key, &p, t, stats)
                } else if p.has(TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK) {
                    // FIN, then RST, then ACK branches of the fork: each adds
                    // the packet, then moves the teardown state.
                    flow.update_active_idle(p.ts);
                    flow.add(&p, stats);
                    flow.update_teardown(&p);
                    flow
                } else if flow.is_icmp_change(&p) {
                    Self::close(&flow, CloseReason::IcmpChange, out, stats);
                    self.open(key, &p, Some(flow.id_o), None, stats)
                } else {
                    flow.update_active_idle(p.ts);
                    flow.add(&p, stats);
                    flow
                }
            }
        };
        self.flows.insert(key, Slot::Open(next));
        self.expire(out, stats);
    }

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
                Self::close(&flow, CloseReason::Timeout, out, stats);
                let t = Self::tombstone(*flow);
                self.flows.insert(key, Slot::Expired(Box::new(t)));
            }
        }
    }

    /// See [`super::v3::V3Table::horizon`].
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
        let mut open: Vec<Box<PeFlow>> = self
            .flows
            .drain()
            .filter_map(|(_, s)| match s {
                Slot::Open(f) => Some(f),
                Slot::Expired(_) => None,
            })
            .collect();
        open.sort_by_key(|f| (f.start, f.key, f.id));
        for f in open {
            Self::close(&f, CloseReason::Eof, closed, stats);
            closed.rows.drain(..).for_each(&mut *emit);
        }
        self.by_start.clear();
    }
}

#[cfg(test)]
mod tests {
    //! Hand-built packet sequences for PE behaviours the two reference pairs
    //! do not exercise. Expected values follow from the spec (§2.3, §3.5,
    //! §3.7, §3.8), worked out by hand in the comments.

    use super::*;
    use crate::capture::{PacketRepr, TcpFlags};
    use crate::flow::csv::format_row;
    use crate::flow::{FlowRecord, Profile, TzOffset, Value, extract_all};

    const A: &str = "10.0.0.1";
    const B: &str = "10.0.0.2";
    const P: Profile = Profile::Engelen;
    const SYN: u8 = TcpFlags::SYN;
    const ACK: u8 = TcpFlags::ACK;
    const FIN_ACK: u8 = TcpFlags::FIN | TcpFlags::ACK;
    const RST_ACK: u8 = TcpFlags::RST | TcpFlags::ACK;

    // Decoded Ethernet/IPv4 packets: TCP header 20 bytes, UDP 8.
    use crate::flow::testutil::pkt;

    /// TCP between A:40000 and B:80; `fwd` means A -> B.
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

    fn icmp(ts_us: i64, fwd: bool, typ: u8, code: u8) -> PacketRepr {
        let (s, d) = if fwd {
            ((A, 0), (B, 0))
        } else {
            ((B, 0), (A, 0))
        };
        let mut p = pkt(ts_us, s, d, 1, 56);
        p.icmp_type = typ;
        p.icmp_code = code;
        p
    }

    fn run(pkts: &[PacketRepr]) -> (Vec<FlowRecord>, FlowStats) {
        let (rows, stats) = extract_all(P, TzOffset::UTC, pkts).unwrap();
        assert!(stats.is_balanced(), "{stats:?}");
        assert_eq!(stats.packets, pkts.len() as u64);
        (rows, stats)
    }

    fn cell<'a>(r: &'a FlowRecord, name: &str) -> &'a Value {
        let i = P
            .columns()
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        &r.values[i]
    }

    fn f(r: &FlowRecord, name: &str) -> f64 {
        match cell(r, name) {
            Value::Float(x) => *x,
            v => panic!("{name} is {v:?}, expected a double"),
        }
    }

    fn i(r: &FlowRecord, name: &str) -> i64 {
        match cell(r, name) {
            Value::Int(x) => *x,
            v => panic!("{name} is {v:?}, expected an integer"),
        }
    }

    fn text<'a>(r: &'a FlowRecord, name: &str) -> &'a str {
        match cell(r, name) {
            Value::Text(x) => x,
            v => panic!("{name} is {v:?}, expected text"),
        }
    }

    fn counts(r: &FlowRecord) -> (i64, i64) {
        (i(r, "Total Fwd Packet"), i(r, "Total Bwd packets"))
    }

    #[test]
    fn syn_ack_first_flow_is_reversed() {
        // B's SYN-ACK arrives before A's SYN was captured.
        let pkts = [
            tcp(0, false, SYN | ACK, 0, 500),
            tcp(10, true, ACK, 0, 100),
            tcp(20, false, ACK, 50, 600),
        ];
        let (rows, _) = run(&pkts);
        let r = &rows[0];
        assert_eq!(text(r, "Flow ID"), "10.0.0.1-10.0.0.2-40000-80-6");
        assert_eq!(text(r, "Src IP"), A);
        assert_eq!(i(r, "Src Port"), 40000);
        // The SYN-ACK is the first backward packet.
        assert_eq!(counts(r), (1, 2));
        assert_eq!(i(r, "FWD Init Win Bytes"), 0);
        assert_eq!(i(r, "Bwd Init Win Bytes"), 500);
        // B26: the forward minimum stays 0 when the first packet is backward.
        assert_eq!(i(r, "Fwd Seg Size Min"), 0);
        assert_eq!(i(r, "Bwd Seg Size Min"), 20);
        assert_eq!(i(r, "Bwd Act Data Pkts"), 1);
    }

    #[test]
    fn fin_fin_ack_teardown_then_new_syn_starts_a_new_flow() {
        let pkts = [
            tcp(0, true, SYN, 0, 1),
            tcp(10, false, SYN | ACK, 0, 1),
            tcp(20, true, ACK, 0, 1),
            tcp(30, true, FIN_ACK, 0, 1),  // first FIN
            tcp(40, false, FIN_ACK, 0, 1), // FIN from both sides
            tcp(50, true, ACK, 0, 1),      // last ACK: ready
            tcp(60, false, ACK, 0, 1),     // stray packet, still absorbed
            tcp(70, true, SYN, 0, 1),      // new connection on the same ports
            tcp(80, false, SYN | ACK, 0, 1),
        ];
        let (rows, stats) = run(&pkts);
        assert_eq!(rows.len(), 2);
        assert_eq!((stats.closed_by_new_syn, stats.closed_at_eof), (1, 1));
        let (old, new) = (&rows[0], &rows[1]);
        assert_eq!(counts(old), (4, 3));
        assert_eq!(i(old, "Flow Duration"), 60);
        // Per-packet flag counts in header order.
        assert_eq!(i(old, "FIN Flag Count"), 2);
        assert_eq!(i(old, "SYN Flag Count"), 2);
        assert_eq!(i(old, "ACK Flag Count"), 6);
        assert_eq!(i(old, "RST Flag Count"), 0);
        // TCP: connection time = the piece's duration.
        assert_eq!(i(old, "Total Connection Flow Time"), 60);
        assert_eq!(new.start_us, 70);
        assert_eq!(text(new, "Src IP"), A);
        assert_eq!(counts(new), (1, 1));
        assert_eq!(i(new, "Total Connection Flow Time"), 10);
    }

    #[test]
    fn rst_makes_the_flow_ready_but_later_packets_still_join() {
        let pkts = [
            tcp(0, true, SYN, 0, 1),
            tcp(10, false, RST_ACK, 0, 0),
            tcp(20, true, ACK, 0, 1),
        ];
        let (rows, _) = run(&pkts);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(counts(r), (2, 1));
        assert_eq!((i(r, "Fwd RST Flags"), i(r, "Bwd RST Flags")), (0, 1));
    }

    #[test]
    fn icmp_flow_splits_only_when_type_and_code_both_change() {
        let pkts = [
            icmp(0, true, 8, 0),   // echo request
            icmp(10, false, 0, 0), // echo reply: same code, stays
            icmp(20, false, 3, 1), // host unreachable: type and code differ
        ];
        let (rows, stats) = run(&pkts);
        assert_eq!(stats.closed_by_icmp_change, 1);
        assert_eq!(rows.len(), 2);
        let (echo, unreach) = (&rows[0], &rows[1]);
        assert_eq!(counts(echo), (1, 1));
        assert_eq!((i(echo, "ICMP Type"), i(echo, "ICMP Code")), (8, 0));
        assert_eq!(i(echo, "Protocol"), 1);
        // ICMP carries no payload or header bytes in PE, and no connection time.
        assert_eq!(f(echo, "Total Length of Fwd Packet"), 0.0);
        assert_eq!(i(echo, "Fwd Header Length"), 0);
        assert_eq!(i(echo, "Total Connection Flow Time"), 0);
        // The new flow is oriented by its first packet and written although
        // it has one packet.
        assert_eq!(text(unreach, "Src IP"), B);
        assert_eq!(text(unreach, "Flow ID"), text(echo, "Flow ID"));
        assert_eq!((i(unreach, "ICMP Type"), i(unreach, "ICMP Code")), (3, 1));
        assert_eq!(counts(unreach), (1, 0));
    }

    #[test]
    fn one_packet_flow_prints_minus_one_rates_and_zero_iat() {
        let (rows, _) = run(&[tcp(0, true, SYN, 0, 1024)]);
        let r = &rows[0];
        assert_eq!(cell(r, "Flow Bytes/s"), &Value::Int(-1));
        assert_eq!(cell(r, "Flow Packets/s"), &Value::Int(-1));
        assert_eq!(f(r, "Flow IAT Mean"), 0.0);
        assert_eq!(f(r, "Flow IAT Min"), 0.0);
        assert_eq!(i(r, "ICMP Type"), -1);
        let mut line = String::new();
        format_row(r, &mut line);
        assert!(line.contains(",0,-1,-1,0.0,0.0,0.0,0.0,"), "{line}");
    }

    #[test]
    fn retransmissions_repeat_source_seq_ack_payload_window() {
        let mut a = tcp(0, true, ACK, 10, 1000);
        a.tcp_seq = 100;
        a.tcp_ack = 5;
        let b = tcp(10, false, ACK, 0, 2000);
        let mut again = a.clone();
        again.ts_ns = 20_000;
        let mut other_seq = a.clone();
        other_seq.ts_ns = 30_000;
        other_seq.tcp_seq = 110;
        let (rows, _) = run(&[a, b, again, other_seq]);
        let r = &rows[0];
        assert_eq!(i(r, "Fwd TCP Retrans. Count"), 1);
        assert_eq!(i(r, "Bwd TCP Retrans. Count"), 0);
        assert_eq!(i(r, "Total TCP Retrans. Count"), 1);
    }

    #[test]
    fn a_flow_fits_the_allocator_class_of_a_kilobyte() {
        // Open flows are most of a table's memory, one box each; the next
        // size class up (1280 bytes) costs a quarter more memory, all of it
        // fresh pages the kernel zeroes.
        assert!(size_of::<PeFlow>() <= 1024, "{}", size_of::<PeFlow>());
    }

    /// Everything [`Facts`] reads of a packet.
    fn facts(p: &impl Facts) -> (i64, i64, i64, i32, u8, u64, i32, i32) {
        (
            p.ts(),
            p.payload(),
            p.header(),
            p.window(),
            p.flags(),
            p.seq_ack(),
            p.icmp_type(),
            p.icmp_code(),
        )
    }

    proptest::proptest! {
        /// The compact packet a shard gets gives back the packet and key
        /// the reading thread would have made: any protocol, v4 and v6,
        /// either order of the endpoints, and one endpoint on both sides.
        #[test]
        fn compact_packets_give_back_the_corrected_packet(
            ts in proptest::num::i64::ANY,
            (a, b, v6) in (proptest::num::u32::ANY, 0u32..4, proptest::bool::ANY),
            (sport, dport) in (0u16..4, 0u16..4),
            proto in proptest::sample::select(vec![1u8, 6, 17, 58, 47]),
            (seq, ack, payload, window, header) in (
                proptest::num::u32::ANY, proptest::num::u32::ANY, proptest::num::u32::ANY,
                proptest::num::u16::ANY, proptest::num::u16::ANY,
            ),
            (flags, icmp_type, icmp_code) in (proptest::num::u8::ANY, proptest::num::u8::ANY, proptest::num::u8::ANY),
        ) {
            let addr = |x: u32| -> IpAddr {
                if v6 {
                    std::net::Ipv6Addr::from(u128::from(x) << 64 | 7).into()
                } else {
                    std::net::Ipv4Addr::from(x).into()
                }
            };
            let r = PacketRepr {
                ts_ns: ts,
                src: addr(a),
                dst: addr(a.wrapping_add(b)),
                src_port: sport,
                dst_port: dport,
                protocol: proto,
                tcp_seq: seq,
                tcp_ack: ack,
                payload_len: payload,
                tcp_window: window,
                transport_header_len: header,
                tcp_flags: TcpFlags(flags),
                icmp_type,
                icmp_code,
                ..PacketRepr::default()
            };
            let want = PePacket::corrected_from_repr(&r);
            let px = PxPacket::from_repr(&r);
            proptest::prop_assert_eq!(px.packet(), want);
            proptest::prop_assert_eq!(
                px.key,
                FlowKey::canonical(want.src, want.dst, want.sport, want.dport, want.proto)
            );
            proptest::prop_assert_eq!(px.hash, px.key.hash64());
            // Read in place, it gives the facts of the packet it stands for.
            proptest::prop_assert_eq!(facts(&px), facts(&want));
        }

        /// A corrected flow fed compact packets (direction from their side of
        /// the key) ends up exactly as one fed the packets themselves
        /// (direction from their addresses): both directions, v4 and v6,
        /// same IP with two ports, one endpoint on both sides, a SYN-ACK
        /// first (reversed orientation), TCP and UDP.
        #[test]
        fn compact_packets_update_a_flow_like_the_packets(
            (a, b, v6) in (proptest::num::u32::ANY, 0u32..3, proptest::bool::ANY),
            (pa, pb) in (0u16..3, 0u16..3),
            tcp in proptest::bool::ANY,
            reversed in proptest::bool::ANY,
            packets in proptest::collection::vec(
                (proptest::bool::ANY, 0i64..3_000_000, 0u32..3, 0u32..2, 0u32..1500, proptest::num::u8::ANY),
                1..40,
            ),
        ) {
            let addr = |x: u32| -> IpAddr {
                if v6 {
                    std::net::Ipv6Addr::from(u128::from(x) << 64 | 7).into()
                } else {
                    std::net::Ipv4Addr::from(x).into()
                }
            };
            let ends = [(addr(a), pa), (addr(a.wrapping_add(b)), pb)];
            let mut ts = 1_700_000_000_000_000_000i64;
            let reprs: Vec<PacketRepr> = packets
                .iter()
                .map(|&(forward, gap, seq, ack, payload, flags)| {
                    ts += gap * 1000;
                    let (s, d) = if forward { (ends[0], ends[1]) } else { (ends[1], ends[0]) };
                    PacketRepr {
                        ts_ns: ts,
                        src: s.0,
                        dst: d.0,
                        src_port: s.1,
                        dst_port: d.1,
                        protocol: if tcp { 6 } else { 17 },
                        tcp_seq: seq,
                        tcp_ack: ack,
                        payload_len: payload,
                        tcp_window: 1000,
                        transport_header_len: 20,
                        tcp_flags: TcpFlags(flags),
                        ..PacketRepr::default()
                    }
                })
                .collect();
            let first = PePacket::corrected_from_repr(&reprs[0]);
            let key = FlowKey::canonical(first.src, first.dst, first.sport, first.dport, first.proto);
            let o = if reversed { Orientation::reversed_of(&first) } else { Orientation::of(&first) };
            let mut stats = FlowStats::default();
            let mut by_address =
                PeFlow::new(true, 0, key, &first, o, o, RetransSet::default(), &mut stats);
            let mut by_side =
                PeFlow::new(true, 0, key, &first, o, o, RetransSet::default(), &mut stats);
            for r in &reprs[1..] {
                by_address.add(&PePacket::corrected_from_repr(r), &mut stats);
                by_side.add_px(&PxPacket::from_repr(r), &mut stats);
            }
            proptest::prop_assert_eq!(format!("{by_side:?}"), format!("{by_address:?}"));
        }

        /// The retransmission memory answers like a plain set, before and
        /// after it outgrows its short vector (few distinct values, so that
        /// tuples repeat).
        #[test]
        fn retransmission_memory_is_a_set(
            keys in proptest::collection::vec(
                (
                    0u64..6,
                    proptest::sample::select(vec![0u32, 1, 2, u32::MAX]),
                    proptest::sample::select(vec![-1i32, 0, 1, 65_534, 65_535]),
                    proptest::bool::ANY,
                ),
                0..120,
            )
        ) {
            // The reference set holds the fields themselves, so that the
            // packed key must tell apart every tuple they do.
            let mut set = RetransSet::default();
            let mut want = HashSet::new();
            for t @ (seq_ack, payload, window, from_b) in keys {
                let k = RetransKey::new(seq_ack, payload, window, from_b);
                proptest::prop_assert_eq!(set.contains(&k), want.contains(&t));
                proptest::prop_assert_eq!(set.insert(k), want.insert(t));
                proptest::prop_assert!(set.contains(&k));
                proptest::prop_assert_eq!(set.len(), want.len());
            }
        }
    }

    #[test]
    fn forward_bulk_of_five_packets() {
        // Five 100-byte forward packets 100 µs apart: the 4th makes a bulk
        // (4 packets, 400 B, 300 µs), the 5th extends it (5, 500 B, 400 µs).
        // (Timestamps start at 1 s: the Java code uses 0 as "no candidate".)
        let t0 = 1_000_000;
        let pkts: Vec<_> = (0..5)
            .map(|k| tcp(t0 + k * 100, true, ACK, 100, 1))
            .collect();
        let (rows, _) = run(&pkts);
        let r = &rows[0];
        assert_eq!(f(r, "Fwd Bytes/Bulk Avg"), 500.0);
        assert_eq!(f(r, "Fwd Packet/Bulk Avg"), 5.0);
        assert_eq!(f(r, "Fwd Bulk Rate Avg"), 500.0 / 400e-6);
        assert_eq!(f(r, "Bwd Bytes/Bulk Avg"), 0.0);
        // A backward payload packet after the candidate began breaks it.
        let mut pkts: Vec<_> = (0..3)
            .map(|k| tcp(t0 + k * 100, true, ACK, 100, 1))
            .collect();
        pkts.push(tcp(t0 + 250, false, ACK, 7, 1));
        pkts.extend((3..5).map(|k| tcp(t0 + k * 100, true, ACK, 100, 1)));
        let (rows, _) = run(&pkts);
        assert_eq!(f(&rows[0], "Fwd Bytes/Bulk Avg"), 0.0);
    }

    #[test]
    fn subflows_count_gaps_over_one_second() {
        // Gaps 2 s, 0.5 s, 2.5 s: two subflow breaks.
        let s = 1_000_000;
        let pkts = [
            tcp(0, true, ACK, 10, 1),
            tcp(2 * s, false, ACK, 0, 1),
            tcp(2 * s + s / 2, true, ACK, 10, 1),
            tcp(5 * s, true, ACK, 10, 1),
        ];
        let (rows, _) = run(&pkts);
        let r = &rows[0];
        assert_eq!(f(r, "Subflow Fwd Packets"), 1.5);
        assert_eq!(f(r, "Subflow Fwd Bytes"), 15.0);
        assert_eq!(f(r, "Subflow Bwd Packets"), 0.5);
        // Down/Up is a real ratio: 1 / 3.
        assert_eq!(f(r, "Down/Up Ratio"), 1.0 / 3.0);
        // Without a gap > 1 s the subflow columns are 0.
        let (rows, _) = run(&pkts[..1]);
        assert_eq!(f(&rows[0], "Subflow Fwd Packets"), 0.0);
    }

    #[test]
    fn timeout_continuation_keeps_direction_and_adds_the_gap() {
        let t = FLOW_TIMEOUT_US;
        let pkts = [
            tcp(0, true, ACK, 0, 1),
            tcp(10, false, ACK, 0, 1),
            tcp(t + 100, false, ACK, 0, 1), // age > 120 s: split
            tcp(t + 200, true, ACK, 0, 1),
        ];
        let (rows, stats) = run(&pkts);
        assert_eq!(stats.closed_by_timeout, 1);
        let (first, cont) = (&rows[0], &rows[1]);
        assert_eq!(i(first, "Total Connection Flow Time"), 10);
        // B's packet stays backward in the continuation.
        assert_eq!(text(cont, "Src IP"), A);
        assert_eq!(counts(cont), (1, 1));
        // 10 (first piece) + gap (t + 100 - 10) + 100 (this piece).
        assert_eq!(i(cont, "Total Connection Flow Time"), t + 200);
    }

    #[test]
    fn udp_after_a_long_silence_starts_a_new_dialogue() {
        let t = FLOW_TIMEOUT_US;
        let udp = |ts, fwd: bool| {
            if fwd {
                pkt(ts, (A, 5000), (B, 53), 17, 20)
            } else {
                pkt(ts, (B, 53), (A, 5000), 17, 20)
            }
        };
        // Gap since the last packet > 120 s: oriented by the new packet.
        let (rows, _) = run(&[udp(0, true), udp(10, false), udp(t + 20, false)]);
        assert_eq!(text(&rows[1], "Src IP"), B);
        // The generator keeps the old map key, so the old Flow ID too.
        assert_eq!(text(&rows[1], "Flow ID"), "10.0.0.1-10.0.0.2-5000-53-17");
        assert_eq!(i(&rows[1], "Total Connection Flow Time"), 0);
        // Age > 120 s but gap ≤ 120 s: a continuation oriented from A.
        let s = 1_000_000;
        let (rows, _) = run(&[udp(0, true), udp(100 * s, true), udp(130 * s, false)]);
        assert_eq!(text(&rows[1], "Src IP"), A);
        assert_eq!(counts(&rows[1]), (0, 1));
        assert_eq!(i(&rows[1], "Total Connection Flow Time"), 130 * s);
    }
}
