//! Frames on the wire: Ethernet + IPv4 + TCP/UDP/ICMP, built by etherparse.
//!
//! Takes an [`Endpoint`] pair (address, MAC and TTL as seen at the capture
//! point), header fields and a payload; gives the frame bytes with valid
//! IPv4, TCP, UDP and ICMP checksums, in a buffer the caller reuses.

use etherparse::{
    EtherType, Ethernet2Header, IcmpEchoHeader, Icmpv4Type, IpHeaders, Ipv4Header, PacketBuilder,
    TcpHeader, TcpOptionElement, icmpv4::DestUnreachableHeader,
};
use std::net::Ipv4Addr;

/// One side of a packet as the capture point sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    /// TTL of the packets it sends, as they arrive at the capture point.
    pub ttl: u8,
}

/// TCP header fields of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFields {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
}

/// TCP flag bits, the capture layer's values under short names.
pub mod flags {
    use crate::capture::TcpFlags;
    pub const FIN: u8 = TcpFlags::FIN;
    pub const SYN: u8 = TcpFlags::SYN;
    pub const RST: u8 = TcpFlags::RST;
    pub const PSH: u8 = TcpFlags::PSH;
    pub const ACK: u8 = TcpFlags::ACK;
    pub const URG: u8 = TcpFlags::URG;
}

fn ip_header(
    src: &Endpoint,
    dst: &Endpoint,
    ip_id: u16,
    proto: etherparse::IpNumber,
    df: bool,
) -> IpHeaders {
    let mut h =
        Ipv4Header::new(0, src.ttl, proto, src.ip.octets(), dst.ip.octets()).unwrap_or_default();
    h.identification = ip_id;
    h.dont_fragment = df;
    IpHeaders::Ipv4(h, Default::default())
}

fn built<E: std::fmt::Debug>(r: Result<(), E>, buf: &mut Vec<u8>) {
    // Building into a Vec cannot fail for the sizes used here; should it,
    // the frame is left empty and the caller writes nothing.
    if r.is_err() {
        buf.clear();
    }
}

/// A TCP segment; `options` go on SYN segments.
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    buf: &mut Vec<u8>,
    src: &Endpoint,
    dst: &Endpoint,
    ip_id: u16,
    f: TcpFields,
    options: &[TcpOptionElement],
    payload: &[u8],
) {
    tcp_with(buf, src, dst, ip_id, f, options, payload.len(), |b| {
        b.extend_from_slice(payload)
    });
}

/// [`tcp`] whose `payload_len` payload bytes `fill` appends to the frame
/// itself (no intermediate copy); the checksum is computed over them after.
#[allow(clippy::too_many_arguments)]
pub fn tcp_with(
    buf: &mut Vec<u8>,
    src: &Endpoint,
    dst: &Endpoint,
    ip_id: u16,
    f: TcpFields,
    options: &[TcpOptionElement],
    payload_len: usize,
    fill: impl FnOnce(&mut Vec<u8>),
) {
    buf.clear();
    let mut h = TcpHeader::new(f.sport, f.dport, f.seq, f.window);
    h.fin = f.flags & flags::FIN != 0;
    h.syn = f.flags & flags::SYN != 0;
    h.rst = f.flags & flags::RST != 0;
    h.psh = f.flags & flags::PSH != 0;
    h.ack = f.flags & flags::ACK != 0;
    h.urg = f.flags & flags::URG != 0;
    if h.ack {
        h.acknowledgment_number = f.ack;
    }
    if !options.is_empty() && h.set_options(options).is_err() {
        return;
    }
    let ip_len = h.header_len() + payload_len;
    let Ok(ip_len) = u16::try_from(ip_len) else {
        return;
    };
    let Ok(mut ip) = Ipv4Header::new(
        ip_len,
        src.ttl,
        etherparse::IpNumber::TCP,
        src.ip.octets(),
        dst.ip.octets(),
    ) else {
        return;
    };
    ip.identification = ip_id;
    ip.dont_fragment = true;
    let eth = Ethernet2Header {
        source: src.mac,
        destination: dst.mac,
        ether_type: EtherType::IPV4,
    };
    if eth.write(buf).is_err() || ip.write(buf).is_err() {
        buf.clear();
        return;
    }
    let tcp_at = buf.len();
    if h.write(buf).is_err() {
        buf.clear();
        return;
    }
    let pay_at = buf.len();
    fill(buf);
    if buf.len() != pay_at + payload_len {
        buf.clear();
        return;
    }
    match h.calc_checksum_ipv4(&ip, &buf[pay_at..]) {
        Ok(c) => buf[tcp_at + 16..tcp_at + 18].copy_from_slice(&c.to_be_bytes()),
        Err(_) => buf.clear(),
    }
}

/// A UDP datagram.
pub fn udp(
    buf: &mut Vec<u8>,
    src: &Endpoint,
    dst: &Endpoint,
    ip_id: u16,
    sport: u16,
    dport: u16,
    payload: &[u8],
) {
    buf.clear();
    let b = PacketBuilder::ethernet2(src.mac, dst.mac)
        .ip(ip_header(src, dst, ip_id, etherparse::IpNumber::UDP, false))
        .udp(sport, dport);
    built(b.write(buf, payload), buf);
}

/// An ICMP echo request or reply.
#[allow(clippy::too_many_arguments)]
pub fn icmp_echo(
    buf: &mut Vec<u8>,
    src: &Endpoint,
    dst: &Endpoint,
    ip_id: u16,
    request: bool,
    id: u16,
    seq: u16,
    payload: &[u8],
) {
    buf.clear();
    let echo = IcmpEchoHeader { id, seq };
    let t = if request {
        Icmpv4Type::EchoRequest(echo)
    } else {
        Icmpv4Type::EchoReply(echo)
    };
    let b = PacketBuilder::ethernet2(src.mac, dst.mac)
        .ip(ip_header(
            src,
            dst,
            ip_id,
            etherparse::IpNumber::ICMP,
            false,
        ))
        .icmpv4(t);
    built(b.write(buf, payload), buf);
}

/// An ICMP port unreachable quoting `original` (the offending IP datagram,
/// from its IP header on).
pub fn icmp_port_unreachable(
    buf: &mut Vec<u8>,
    src: &Endpoint,
    dst: &Endpoint,
    ip_id: u16,
    original: &[u8],
) {
    buf.clear();
    let b = PacketBuilder::ethernet2(src.mac, dst.mac)
        .ip(ip_header(
            src,
            dst,
            ip_id,
            etherparse::IpNumber::ICMP,
            false,
        ))
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            DestUnreachableHeader::Port,
        ));
    built(b.write(buf, original), buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn ep(last: u8, ttl: u8) -> Endpoint {
        Endpoint {
            ip: Ipv4Addr::new(10, 0, 0, last),
            mac: [2, 0, 0, 0, 0, last],
            ttl,
        }
    }

    #[test]
    fn tcp_frames_carry_the_fields_and_valid_checksums() {
        let mut buf = Vec::new();
        let f = TcpFields {
            sport: 50000,
            dport: 443,
            seq: 7,
            ack: 9,
            flags: flags::SYN | flags::ACK,
            window: 64240,
        };
        let opts = [
            TcpOptionElement::MaximumSegmentSize(1460),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(8),
        ];
        tcp(&mut buf, &ep(1, 128), &ep(2, 64), 77, f, &opts, b"abc");
        let p = SlicedPacket::from_ethernet(&buf).unwrap();
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!()
        };
        assert_eq!(ip.header().ttl(), 128);
        assert_eq!(ip.header().identification(), 77);
        assert!(ip.header().dont_fragment());
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!()
        };
        assert!(t.syn() && t.ack() && !t.fin());
        assert_eq!((t.sequence_number(), t.acknowledgment_number()), (7, 9));
        assert_eq!(t.payload(), b"abc");
        let want = t.to_header().calc_checksum_ipv4(&h, b"abc").unwrap();
        assert_eq!(t.checksum(), want);
    }

    #[test]
    fn icmp_unreachable_quotes_the_probe() {
        let mut probe = Vec::new();
        udp(&mut probe, &ep(1, 64), &ep(2, 64), 1, 40000, 161, &[]);
        let mut buf = Vec::new();
        icmp_port_unreachable(&mut buf, &ep(2, 64), &ep(1, 64), 2, &probe[14..]);
        let p = SlicedPacket::from_ethernet(&buf).unwrap();
        let Some(TransportSlice::Icmpv4(i)) = p.transport else {
            panic!()
        };
        assert_eq!(i.type_u8(), 3);
        assert_eq!(i.code_u8(), 3);
        assert_eq!(i.payload(), &probe[14..]);
    }
}
