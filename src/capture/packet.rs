//! `PacketRepr`: the small owned summary of one decoded packet.
//!
//! Takes nothing; gives the plain type every later stage (flows, synth checks)
//! consumes. It owns all its fields: nothing borrowed from the capture buffer
//! escapes the reader. Every field is plain data, so no accessor can panic.

use serde::Serialize;
use std::net::IpAddr;

/// TCP flag bits as they appear in byte 13 of the TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    /// True when every bit of `mask` is set.
    #[inline]
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// IP fragmentation facts of a packet (IPv4 header fields or the IPv6 fragment header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize)]
pub struct FragmentInfo {
    /// IPv4 identification (16 bit) or IPv6 fragment identification (32 bit).
    pub id: u32,
    /// Fragment offset in bytes.
    pub offset: u32,
    /// The "more fragments" flag.
    pub more: bool,
}

/// One decoded IP packet, owned.
///
/// Lengths: `wire_len` is the packet's length on the wire, `cap_len` what the
/// capture kept. `ip_header_len` covers the IPv4 header with options, or the
/// IPv6 fixed header plus its extension headers. `payload_len` is the transport
/// payload as the IP header declares it (total length minus IP and transport
/// headers), so it does not include link-layer padding; `frame_payload_len`
/// is what follows the transport header up to the end of the captured frame,
/// padding included (what jNetPcap 1.3 reported, kept for the `cic2017` flow
/// profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketRepr {
    /// Capture timestamp in nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Index of the record in its file (0-based, counting every packet record).
    pub index: u64,
    /// pcapng interface id (0 for legacy pcap).
    pub interface: u32,
    pub cap_len: u32,
    pub wire_len: u32,
    /// LINKTYPE_* number of the record.
    pub link_type: u16,
    /// Outermost 802.1Q/802.1ad VLAN id, if any.
    pub vlan: Option<u16>,
    /// Bytes before the IP header (link header, VLAN tags, PPPoE, MPLS).
    pub l3_offset: u16,
    /// 4 or 6.
    pub ip_version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub protocol: u8,
    pub ttl: u8,
    pub ip_header_len: u16,
    /// TCP header with options (4 * data offset), 8 for UDP, the ICMP header
    /// length, 0 for protocols we do not decode.
    pub transport_header_len: u16,
    pub payload_len: u32,
    pub frame_payload_len: u32,
    /// 0 when the protocol has no ports.
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: TcpFlags,
    pub tcp_window: u16,
    pub tcp_seq: u32,
    pub tcp_ack: u32,
    /// ICMP/ICMPv6 type and code (0 otherwise).
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Present when the packet is the first fragment of a fragmented datagram.
    pub fragment: Option<FragmentInfo>,
}

/// All zero with unspecified IPv4 addresses: a base for struct update
/// (`PacketRepr { src, dst, ..PacketRepr::default() }`), not a packet.
impl Default for PacketRepr {
    fn default() -> PacketRepr {
        PacketRepr {
            ts_ns: 0,
            index: 0,
            interface: 0,
            cap_len: 0,
            wire_len: 0,
            link_type: 0,
            vlan: None,
            l3_offset: 0,
            ip_version: 0,
            src: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            protocol: 0,
            ttl: 0,
            ip_header_len: 0,
            transport_header_len: 0,
            payload_len: 0,
            frame_payload_len: 0,
            src_port: 0,
            dst_port: 0,
            tcp_flags: TcpFlags(0),
            tcp_window: 0,
            tcp_seq: 0,
            tcp_ack: 0,
            icmp_type: 0,
            icmp_code: 0,
            fragment: None,
        }
    }
}

/// IP protocol numbers used across the crate.
pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}
