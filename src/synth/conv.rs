//! Conversations: one generated flow as a script of operations, played out
//! into timed packets with correct TCP state.
//!
//! Takes the two endpoints, their round-trip times to the capture point and
//! a list of [`Op`]s (connect, send a message, close, probe, ...); gives
//! [`Pkt`]s in time order, a few at a time, and renders each to a frame. A
//! packet of one side is seen at the capture point when it passes; the other
//! side's reaction is seen one round trip (capture point <-> that side) later.
//!
//! TCP is played honestly: random initial sequence numbers, SYN options
//! (MSS, window scale, SACK) by operating system, sequence and
//! acknowledgement numbers that advance with every byte and flag, messages
//! cut into MSS-sized segments, the receiver acknowledging every second
//! segment and the last one (or piggybacking on its reply), at most one
//! receive window in flight, FIN/FIN/ACK or RST teardown. Memory per
//! conversation is bounded: a message is expanded one window at a time.

use super::proto::Content;
use super::rng::Rng;
use super::spec::Os;
use super::wire::{self, Endpoint, TcpFields, flags};
use etherparse::TcpOptionElement;
use std::collections::VecDeque;

/// One side of a conversation.
#[derive(Debug, Clone)]
pub struct Side {
    pub ep: Endpoint,
    pub port: u16,
    pub os: Os,
    isn: u32,
    nxt: u32,
    ip_id: u16,
    /// Window field after the handshake (scaled).
    pub window: u16,
}

impl Side {
    pub fn new(ep: Endpoint, port: u16, os: Os, rng: &mut Rng) -> Side {
        let isn = rng.u32();
        Side {
            ep,
            port,
            os,
            isn,
            nxt: isn,
            ip_id: rng.u32() as u16,
            window: match os {
                Os::Windows => 1026,
                Os::Linux => 501,
            },
        }
    }

    fn syn_window(&self) -> u16 {
        64_240
    }

    fn window_bytes(&self) -> u32 {
        match self.os {
            Os::Windows => u32::from(self.window) << 8,
            Os::Linux => u32::from(self.window) << 7,
        }
    }

    fn syn_options(&self) -> &'static [TcpOptionElement] {
        use TcpOptionElement::*;
        match self.os {
            Os::Windows => &[
                MaximumSegmentSize(1460),
                Noop,
                WindowScale(8),
                Noop,
                Noop,
                SelectiveAcknowledgementPermitted,
            ],
            Os::Linux => &[
                MaximumSegmentSize(1460),
                Noop,
                Noop,
                SelectiveAcknowledgementPermitted,
                Noop,
                WindowScale(7),
            ],
        }
    }

    fn next_ip_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        self.ip_id
    }
}

/// Maximum segment payload.
const MSS: u32 = 1460;

/// One step of a conversation's script.
#[derive(Debug, Clone)]
pub enum Op {
    /// SYN, SYN-ACK, ACK.
    Connect,
    /// SYN answered by RST-ACK (closed port).
    Refused,
    /// SYN never answered, retransmitted `retries` times (1 s, then 2 s).
    SynOnly { retries: u8 },
    /// SYN, SYN-ACK, then RST from the client (a SYN scan of an open port).
    HalfOpen,
    /// SYN answered by SYN-ACK, never completed (a spoofed SYN), the
    /// SYN-ACK retransmitted `retries` times.
    SynAckOnly { retries: u8 },
    /// A lone segment with these flags (FIN/NULL/XMAS probes), answered by
    /// RST-ACK when `rst`.
    Probe { flags: u8, rst: bool },
    /// A message from one side after `delay_us` of think time; `paced`
    /// sends it in segments of `size` bytes every `gap_us` (slow read).
    Send {
        from_c: bool,
        delay_us: i64,
        content: Content,
        paced: Option<(u32, i64)>,
    },
    /// A UDP datagram; `unreachable` makes the other side answer with ICMP
    /// port unreachable.
    Datagram {
        from_c: bool,
        delay_us: i64,
        content: Content,
        unreachable: bool,
    },
    /// An ICMP echo request, answered when `reply`; `data` carries a
    /// ping-style 56-byte payload (nmap's discovery probes carry none).
    Echo {
        delay_us: i64,
        id: u16,
        seq: u16,
        reply: bool,
        data: bool,
    },
    /// FIN from one side, FIN-ACK from the other, final ACK.
    Close { by_c: bool, delay_us: i64 },
    /// RST-ACK from one side.
    Reset { by_c: bool, delay_us: i64 },
}

/// What a packet is, enough to render it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PktKind {
    Tcp {
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        syn_opts: bool,
        /// Payload: bytes `off..off + len` of op `op`'s content.
        op: u32,
        off: u32,
        len: u32,
    },
    Udp {
        op: u32,
    },
    Echo {
        request: bool,
        id: u16,
        seq: u16,
        data: bool,
    },
    /// ICMP port unreachable quoting the datagram of op `op`.
    Unreachable {
        op: u32,
    },
}

/// A planned packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pkt {
    /// Capture time, µs since the epoch.
    pub t: i64,
    pub from_c: bool,
    pub kind: PktKind,
}

/// IP protocol numbers.
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;

/// A conversation being played.
#[derive(Debug)]
pub struct Conv {
    pub proto: u8,
    pub c: Side,
    pub s: Side,
    /// Round trips capture point <-> client and <-> server, µs.
    rtt_c: i64,
    rtt_s: i64,
    /// Serialisation time of one byte, µs.
    us_per_byte: f64,
    ops: Vec<Op>,
    next_op: usize,
    /// Bytes of the current `Send` already cut into segments.
    op_off: u32,
    queue: VecDeque<Pkt>,
    c_ready: i64,
    s_ready: i64,
    last_t: i64,
    fill_seed: u32,
    /// xorshift state of the per-packet network jitter.
    jitter: u64,
    closed: bool,
    scratch: Vec<Pkt>,
}

impl Conv {
    /// A conversation starting at `t_us`; `rtt_c`/`rtt_s` are the round
    /// trips between the capture point and the client/server (µs), `mbps`
    /// the path's rate.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        proto: u8,
        c: Side,
        s: Side,
        t_us: i64,
        rtt_c: i64,
        rtt_s: i64,
        mbps: f64,
        ops: Vec<Op>,
        rng: &mut Rng,
    ) -> Conv {
        Conv {
            proto,
            c,
            s,
            rtt_c: rtt_c.max(1),
            rtt_s: rtt_s.max(1),
            us_per_byte: 8.0 / mbps.max(0.01),
            ops,
            next_op: 0,
            op_off: 0,
            queue: VecDeque::new(),
            c_ready: t_us,
            s_ready: t_us,
            last_t: t_us,
            fill_seed: rng.u32(),
            jitter: rng.u64() | 1,
            closed: false,
            scratch: Vec::new(),
        }
    }

    /// Time of the next packet, expanding the script as needed; `None`
    /// when the conversation is over.
    pub fn next_time(&mut self) -> Option<i64> {
        while self.queue.is_empty() {
            if self.closed || self.next_op >= self.ops.len() {
                return None;
            }
            self.expand();
        }
        self.queue.front().map(|p| p.t)
    }

    /// The next packet (after [`Conv::next_time`] said there is one).
    pub fn pop(&mut self) -> Option<Pkt> {
        self.queue.pop_front()
    }

    fn push(&mut self, mut p: Pkt) {
        p.t = p.t.max(self.last_t);
        self.last_t = p.t;
        self.scratch.push(p);
    }

    /// Move the packets planned by one expansion into the queue in time order.
    fn commit(&mut self) {
        self.scratch.sort_by_key(|p| p.t);
        self.queue.extend(self.scratch.drain(..));
        if let Some(p) = self.queue.back() {
            self.last_t = self.last_t.max(p.t);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seg(
        &mut self,
        t: i64,
        from_c: bool,
        flags: u8,
        syn_opts: bool,
        op: u32,
        off: u32,
        len: u32,
    ) {
        let (me, other) = if from_c {
            (&self.c, &self.s)
        } else {
            (&self.s, &self.c)
        };
        let window = if flags & flags::SYN != 0 {
            me.syn_window()
        } else if flags & flags::RST != 0 && flags & flags::ACK == 0 {
            0
        } else {
            me.window
        };
        let kind = PktKind::Tcp {
            seq: me.nxt,
            ack: if flags & flags::ACK != 0 {
                other.nxt
            } else {
                0
            },
            flags,
            window,
            syn_opts,
            op,
            off,
            len,
        };
        self.push(Pkt { t, from_c, kind });
    }

    /// The ready time of the other side after a packet of `from_c` at `t`.
    fn reaction(&mut self, from_c: bool, t: i64) -> i64 {
        t + self.trip(!from_c)
    }

    /// One round trip capture point <-> server (`to_server`) or client, with
    /// the network's jitter: 85-115 % of the base time, drawn per packet.
    fn trip(&mut self, to_server: bool) -> i64 {
        let base = if to_server { self.rtt_s } else { self.rtt_c };
        let mut x = self.jitter;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter = x;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        ((base as f64) * (0.85 + 0.3 * u)).round().max(1.0) as i64
    }

    fn ready(&self, from_c: bool) -> i64 {
        if from_c { self.c_ready } else { self.s_ready }
    }

    fn set_ready(&mut self, from_c: bool, t: i64) {
        if from_c {
            self.c_ready = self.c_ready.max(t);
        } else {
            self.s_ready = self.s_ready.max(t);
        }
    }

    /// After a packet of `from_c` at `t`: the sender may go on at `t`, the
    /// other side once the packet has reached it.
    fn sent(&mut self, from_c: bool, t: i64) {
        self.set_ready(from_c, t);
        let r = self.reaction(from_c, t);
        self.set_ready(!from_c, r);
    }

    fn side(&mut self, from_c: bool) -> &mut Side {
        if from_c { &mut self.c } else { &mut self.s }
    }

    fn expand(&mut self) {
        let i = self.next_op;
        // Borrow the op out of the script while it is played (no copy of
        // its content); it goes back before rendering needs it.
        let op = std::mem::replace(&mut self.ops[i], Op::Connect);
        self.play(i, &op);
        self.ops[i] = op;
        self.commit();
    }

    #[allow(clippy::too_many_lines)]
    fn play(&mut self, i: usize, op: &Op) {
        let op_idx = i as u32;
        match op {
            Op::Connect
            | Op::Refused
            | Op::SynOnly { .. }
            | Op::HalfOpen
            | Op::SynAckOnly { .. } => {
                let t0 = self.c_ready.max(self.last_t);
                self.seg(t0, true, flags::SYN, true, 0, 0, 0);
                self.c.nxt = self.c.isn.wrapping_add(1);
                let t1 = t0 + self.trip(true);
                match op {
                    Op::Connect => {
                        self.seg(t1, false, flags::SYN | flags::ACK, true, 0, 0, 0);
                        self.s.nxt = self.s.isn.wrapping_add(1);
                        let t2 = t1 + self.trip(false);
                        self.seg(t2, true, flags::ACK, false, 0, 0, 0);
                        self.c_ready = t2;
                        self.s_ready = t2 + self.trip(true);
                    }
                    Op::Refused => {
                        self.s.nxt = 0;
                        self.seg(t1, false, flags::RST | flags::ACK, false, 0, 0, 0);
                        self.closed = true;
                    }
                    &Op::SynOnly { retries } => {
                        let mut t = t0;
                        let mut gap = 1_000_000;
                        for _ in 0..retries {
                            t += gap;
                            gap *= 2;
                            self.c.nxt = self.c.isn;
                            self.seg(t, true, flags::SYN, true, 0, 0, 0);
                        }
                        self.c.nxt = self.c.isn.wrapping_add(1);
                        self.closed = true;
                    }
                    Op::HalfOpen => {
                        self.seg(t1, false, flags::SYN | flags::ACK, true, 0, 0, 0);
                        self.s.nxt = self.s.isn.wrapping_add(1);
                        let t2 = t1 + self.trip(false);
                        self.seg(t2, true, flags::RST, false, 0, 0, 0);
                        self.closed = true;
                    }
                    &Op::SynAckOnly { retries } => {
                        let mut t = t1;
                        let mut gap = 1_000_000;
                        for k in 0..=retries {
                            if k > 0 {
                                t += gap;
                                gap *= 2;
                            }
                            self.s.nxt = self.s.isn;
                            self.seg(t, false, flags::SYN | flags::ACK, true, 0, 0, 0);
                        }
                        self.s.nxt = self.s.isn.wrapping_add(1);
                        self.closed = true;
                    }
                    _ => {}
                }
                self.next_op += 1;
            }
            &Op::Probe { flags: f, rst } => {
                let t0 = self.c_ready.max(self.last_t);
                self.seg(t0, true, f, false, 0, 0, 0);
                if rst {
                    let consumed = u32::from(f & (flags::FIN | flags::SYN) != 0);
                    self.c.nxt = self.c.isn.wrapping_add(consumed);
                    self.s.nxt = 0;
                    let t1 = t0 + self.trip(true);
                    self.seg(t1, false, flags::RST | flags::ACK, false, 0, 0, 0);
                }
                self.closed = true;
                self.next_op += 1;
            }
            &Op::Send {
                from_c,
                delay_us,
                ref content,
                paced,
            } => {
                let total = content.len();
                if total == 0 {
                    self.next_op += 1;
                    return;
                }
                let first = self.op_off == 0;
                let mut t = if first {
                    self.ready(from_c) + delay_us
                } else {
                    self.ready(from_c)
                };
                t = t.max(self.last_t);
                let receiver_window = if from_c {
                    self.s.window_bytes()
                } else {
                    self.c.window_bytes()
                };
                let (seg_size, gap) = match paced {
                    Some((size, gap)) => (size.clamp(1, MSS), Some(gap)),
                    None => (MSS, None),
                };
                let budget = if gap.is_some() {
                    seg_size
                } else {
                    receiver_window.max(MSS)
                };
                let mut sent = 0u32;
                let mut segs = 0u32;
                let mut last_seg_t = t;
                let mut last_ack_t = t;
                let mut acked_last = false;
                while self.op_off < total && sent < budget {
                    let len = (total - self.op_off).min(seg_size);
                    let last = self.op_off + len == total;
                    let fl = flags::ACK | if last { flags::PSH } else { 0 };
                    self.seg(t, from_c, fl, false, op_idx, self.op_off, len);
                    let seq_after = {
                        let me = self.side(from_c);
                        me.nxt = me.nxt.wrapping_add(len);
                        me.nxt
                    };
                    self.op_off += len;
                    sent += len;
                    segs += 1;
                    last_seg_t = t;
                    // The receiver acknowledges every second segment, and a
                    // paced (tiny-window) segment at once.
                    acked_last = false;
                    if segs.is_multiple_of(2) || gap.is_some() {
                        // ACKs travel in order: jitter never reorders them.
                        let at = self.reaction(from_c, t).max(last_ack_t);
                        self.ack_from(!from_c, at, seq_after);
                        last_ack_t = at;
                        acked_last = true;
                    }
                    t += match gap {
                        Some(g) => g,
                        None => ((f64::from(len) + 54.0) * self.us_per_byte).ceil().max(1.0) as i64,
                    };
                }
                let done = self.op_off >= total;
                if done && !acked_last {
                    // The last segment: piggybacked on a prompt reply, or
                    // acknowledged on its own.
                    let piggyback = matches!(self.ops.get(i + 1),
                        Some(Op::Send { from_c: f, delay_us: d, .. }) | Some(Op::Close { by_c: f, delay_us: d })
                            if *f != from_c && *d < 5_000);
                    if !piggyback {
                        let at = self.reaction(from_c, last_seg_t).max(last_ack_t);
                        let seq = self.side(from_c).nxt;
                        self.ack_from(!from_c, at, seq);
                        last_ack_t = at;
                    }
                }
                self.sent(from_c, last_seg_t);
                if !done {
                    // The window is full: go on once the ACK is back.
                    let back = last_ack_t + self.trip(!from_c);
                    self.set_ready(from_c, back);
                }
                if done {
                    self.op_off = 0;
                    self.next_op += 1;
                }
            }
            &Op::Datagram {
                from_c,
                delay_us,
                unreachable,
                ..
            } => {
                let t = (self.ready(from_c) + delay_us).max(self.last_t);
                self.push(Pkt {
                    t,
                    from_c,
                    kind: PktKind::Udp { op: op_idx },
                });
                self.sent(from_c, t);
                if unreachable {
                    let at = self.reaction(from_c, t);
                    self.push(Pkt {
                        t: at,
                        from_c: !from_c,
                        kind: PktKind::Unreachable { op: op_idx },
                    });
                    self.sent(!from_c, at);
                }
                self.next_op += 1;
            }
            &Op::Echo {
                delay_us,
                id,
                seq,
                reply,
                data,
            } => {
                let t = (self.c_ready + delay_us).max(self.last_t);
                self.push(Pkt {
                    t,
                    from_c: true,
                    kind: PktKind::Echo {
                        request: true,
                        id,
                        seq,
                        data,
                    },
                });
                self.sent(true, t);
                if reply {
                    let at = t + self.trip(true);
                    self.push(Pkt {
                        t: at,
                        from_c: false,
                        kind: PktKind::Echo {
                            request: false,
                            id,
                            seq,
                            data,
                        },
                    });
                    self.sent(false, at);
                }
                self.next_op += 1;
            }
            &Op::Close { by_c, delay_us } => {
                let t0 = (self.ready(by_c) + delay_us).max(self.last_t);
                self.seg(t0, by_c, flags::FIN | flags::ACK, false, 0, 0, 0);
                let me = self.side(by_c);
                me.nxt = me.nxt.wrapping_add(1);
                let t1 = self.reaction(by_c, t0);
                self.seg(t1, !by_c, flags::FIN | flags::ACK, false, 0, 0, 0);
                let other = self.side(!by_c);
                other.nxt = other.nxt.wrapping_add(1);
                let t2 = self.reaction(!by_c, t1);
                self.seg(t2, by_c, flags::ACK, false, 0, 0, 0);
                self.closed = true;
                self.next_op += 1;
            }
            &Op::Reset { by_c, delay_us } => {
                let t0 = (self.ready(by_c) + delay_us).max(self.last_t);
                self.seg(t0, by_c, flags::RST | flags::ACK, false, 0, 0, 0);
                self.closed = true;
                self.next_op += 1;
            }
        }
    }

    /// A pure ACK from `from_c` acknowledging up to `ack` (the other side's
    /// sequence number after the acknowledged segment).
    fn ack_from(&mut self, from_c: bool, t: i64, ack: u32) {
        let me = if from_c { &self.c } else { &self.s };
        let kind = PktKind::Tcp {
            seq: me.nxt,
            ack,
            flags: flags::ACK,
            window: me.window,
            syn_opts: false,
            op: 0,
            off: 0,
            len: 0,
        };
        // Acks of the other side's data may come after later segments of
        // it: push without the running-time clamp, `commit` sorts.
        let t = t.max(self.last_t);
        self.scratch.push(Pkt { t, from_c, kind });
    }

    /// Render `p` into `frame` (`scratch` holds its payload meanwhile).
    pub fn render(&mut self, p: &Pkt, scratch: &mut Vec<u8>, frame: &mut Vec<u8>) {
        scratch.clear();
        let seed = self.fill_seed;
        let (src, dst) = if p.from_c {
            (&mut self.c, &mut self.s)
        } else {
            (&mut self.s, &mut self.c)
        };
        let ip_id = src.next_ip_id();
        match p.kind {
            PktKind::Tcp {
                seq,
                ack,
                flags,
                window,
                syn_opts,
                op,
                off,
                len,
            } => {
                let content = match self.ops.get(op as usize) {
                    Some(Op::Send { content, .. }) if len > 0 => Some(content),
                    _ => None,
                };
                let f = TcpFields {
                    sport: src.port,
                    dport: dst.port,
                    seq,
                    ack,
                    flags,
                    window,
                };
                let opts = if syn_opts { src.syn_options() } else { &[] };
                let n = if content.is_some() { len as usize } else { 0 };
                wire::tcp_with(frame, &src.ep, &dst.ep, ip_id, f, opts, n, |b| {
                    if let Some(c) = content {
                        c.copy_into(off, len, seed, b);
                    }
                });
            }
            PktKind::Udp { op } => {
                if let Some(Op::Datagram { content, .. }) = self.ops.get(op as usize) {
                    content.copy_into(0, content.len(), seed, scratch);
                }
                wire::udp(frame, &src.ep, &dst.ep, ip_id, src.port, dst.port, scratch);
            }
            PktKind::Echo {
                request,
                id,
                seq,
                data,
            } => {
                if data {
                    // Linux ping: 8 bytes of time, then 0x10, 0x11, ...
                    scratch.extend_from_slice(&(p.t as u64).to_le_bytes());
                    scratch.extend((0x10u8..0x38).take(48));
                }
                wire::icmp_echo(frame, &src.ep, &dst.ep, ip_id, request, id, seq, scratch);
            }
            PktKind::Unreachable { op } => {
                // The quoted datagram as the other side sent it.
                let mut quoted = Vec::new();
                if let Some(Op::Datagram { content, .. }) = self.ops.get(op as usize) {
                    content.copy_into(0, content.len().min(512), seed, scratch);
                }
                wire::udp(
                    &mut quoted,
                    &dst.ep,
                    &src.ep,
                    ip_id.wrapping_sub(1),
                    dst.port,
                    src.port,
                    scratch,
                );
                wire::icmp_port_unreachable(
                    frame,
                    &src.ep,
                    &dst.ep,
                    ip_id,
                    quoted.get(14..).unwrap_or(&[]),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::proto::Part;
    use etherparse::{SlicedPacket, TransportSlice};
    use std::net::Ipv4Addr;

    fn conv(ops: Vec<Op>) -> Conv {
        let mut rng = Rng::stream(1, "conv");
        let ep = |d: u8| Endpoint {
            ip: Ipv4Addr::new(10, 0, 0, d),
            mac: [2, 0, 0, 0, 0, d],
            ttl: 64,
        };
        let c = Side::new(ep(1), 50000, Os::Linux, &mut rng);
        let s = Side::new(ep(2), 80, Os::Windows, &mut rng);
        Conv::new(TCP, c, s, 1_000_000, 50, 10_000, 100.0, ops, &mut rng)
    }

    /// (t, from_c, seq, ack, flags, payload len) of every packet.
    fn play(mut c: Conv) -> Vec<(i64, bool, u32, u32, u8, usize)> {
        let mut out = Vec::new();
        let (mut scratch, mut frame) = (Vec::new(), Vec::new());
        while c.next_time().is_some() {
            let p = c.pop().unwrap();
            c.render(&p, &mut scratch, &mut frame);
            let s = SlicedPacket::from_ethernet(&frame).unwrap();
            let Some(TransportSlice::Tcp(t)) = s.transport else {
                panic!("not tcp")
            };
            let fl = (t.fin() as u8)
                | (t.syn() as u8) << 1
                | (t.rst() as u8) << 2
                | (t.psh() as u8) << 3
                | (t.ack() as u8) << 4;
            out.push((
                p.t,
                p.from_c,
                t.sequence_number(),
                t.acknowledgment_number(),
                fl,
                t.payload().len(),
            ));
        }
        out
    }

    #[test]
    fn a_tcp_exchange_has_consistent_sequence_numbers_and_order() {
        let req = Content::bytes(vec![b'q'; 300]);
        let resp = Content::new().then(Part::Fill(5000));
        let pk = play(conv(vec![
            Op::Connect,
            Op::Send {
                from_c: true,
                delay_us: 0,
                content: req,
                paced: None,
            },
            Op::Send {
                from_c: false,
                delay_us: 2000,
                content: resp,
                paced: None,
            },
            Op::Close {
                by_c: true,
                delay_us: 100_000,
            },
        ]));
        // Time never goes back.
        assert!(pk.windows(2).all(|w| w[0].0 <= w[1].0));
        // Handshake.
        assert_eq!(pk[0].4, flags::SYN);
        assert_eq!(pk[1].4, flags::SYN | flags::ACK);
        assert_eq!(pk[1].3, pk[0].2.wrapping_add(1));
        let rtt = pk[1].0 - pk[0].0;
        assert!((8_500..=11_500).contains(&rtt), "{rtt}");
        // Every byte each side sent is acknowledged by the other's last packet,
        // and each side's sequence numbers advance by exactly what it sent.
        let mut next = [None::<u32>, None];
        for &(_, from_c, seq, _, fl, len) in &pk {
            let i = usize::from(from_c);
            if let Some(n) = next[i] {
                assert_eq!(seq, n, "{pk:?}");
            }
            let used = len as u32 + u32::from(fl & (flags::SYN | flags::FIN) != 0);
            next[i] = Some(seq.wrapping_add(used));
        }
        let sent_by_server: usize = pk.iter().filter(|p| !p.1).map(|p| p.5).sum();
        assert_eq!(sent_by_server, 5000);
        // Response segments are at most one MSS; FIN/FIN-ACK/ACK close it.
        assert!(pk.iter().all(|p| p.5 <= 1460));
        let n = pk.len();
        assert_eq!(pk[n - 3].4, flags::FIN | flags::ACK);
        assert!(pk[n - 3].1);
        assert_eq!(pk[n - 2].4, flags::FIN | flags::ACK);
        assert_eq!(pk[n - 1].4, flags::ACK);
        assert_eq!(pk[n - 1].3, pk[n - 2].2.wrapping_add(1));
    }

    #[test]
    fn large_messages_are_sent_a_window_at_a_time_with_acks_in_time_order() {
        let up = Content::fill(2_000_000);
        let pk = play(conv(vec![
            Op::Connect,
            Op::Send {
                from_c: true,
                delay_us: 0,
                content: up,
                paced: None,
            },
            Op::Reset {
                by_c: true,
                delay_us: 0,
            },
        ]));
        assert!(pk.windows(2).all(|w| w[0].0 <= w[1].0));
        let data: usize = pk.iter().filter(|p| p.1).map(|p| p.5).sum();
        assert_eq!(data, 2_000_000);
        // The server acknowledges; no ACK acknowledges bytes not yet seen.
        let mut highest = 0u64;
        let base = pk[0].2.wrapping_add(1);
        for &(_, from_c, seq, ack, fl, len) in &pk[3..] {
            if from_c {
                highest = highest.max(u64::from(seq.wrapping_sub(base)) + len as u64);
            } else if fl & flags::ACK != 0 {
                assert!(u64::from(ack.wrapping_sub(base)) <= highest);
            }
        }
        // Window of the Windows server: 1026 << 8 bytes in flight at most,
        // so the upload takes several round trips.
        let dur = pk.last().unwrap().0 - pk[0].0;
        assert!(dur > 7 * 10_000, "{dur}");
        assert_eq!(pk.last().unwrap().4, flags::RST | flags::ACK);
    }

    #[test]
    fn probes_and_refusals() {
        let pk = play(conv(vec![Op::Refused]));
        assert_eq!(pk.len(), 2);
        assert_eq!(pk[1].4, flags::RST | flags::ACK);
        assert_eq!(pk[1].3, pk[0].2.wrapping_add(1));
        let pk = play(conv(vec![Op::HalfOpen]));
        assert_eq!(
            pk.iter().map(|p| p.4).collect::<Vec<_>>(),
            vec![flags::SYN, flags::SYN | flags::ACK, flags::RST]
        );
        let pk = play(conv(vec![Op::SynOnly { retries: 2 }]));
        assert_eq!(pk.len(), 3);
        assert_eq!(pk[2].0 - pk[0].0, 3_000_000);
        assert!(pk.iter().all(|p| p.2 == pk[0].2));
        let pk = play(conv(vec![Op::Probe {
            flags: flags::FIN,
            rst: true,
        }]));
        assert_eq!(pk[1].3, pk[0].2.wrapping_add(1));
    }
}
