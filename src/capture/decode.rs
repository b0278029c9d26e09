//! Packet decoding: one capture record's bytes -> [`PacketRepr`] or a [`Drop`] reason.
//!
//! Takes the record's link type, lengths and bytes (borrowed from the reader's
//! buffer); gives an owned `PacketRepr`, or says in which `DecodeStats` bucket
//! the record belongs. Never panics and never allocates.
//!
//! Link layers: Ethernet (1), BSD NULL (0), OpenBSD LOOP (108), raw IP (12, 14,
//! 101), raw IPv4 (228), raw IPv6 (229), Linux SLL (113) and SLL2 (276); then any
//! stack of 802.1Q/802.1ad tags, PPPoE session and MPLS labels. IP and the
//! transport are sliced by etherparse's lax slicer, which keeps what it could
//! read of a packet cut by the snap length.
//!
//! A header that ends past the captured bytes is *truncated* when the capture
//! cut the packet (`cap_len < wire_len`) and *malformed* otherwise (the packet
//! itself is shorter than its headers claim).

use super::packet::{FragmentInfo, PacketRepr, TcpFlags, ip_proto};
use super::stats::{Drop, Layer};
use etherparse::LenSource;
use etherparse::err;
use etherparse::{
    Ethernet2HeaderSlice, Icmpv4Slice, Icmpv6Slice, Ipv6ExtensionSlice, LaxIpPayloadSlice,
    LaxIpv4Slice, LaxIpv6Slice, LinuxSllHeaderSlice, SingleVlanHeaderSlice, TcpHeaderSlice,
    UdpHeaderSlice,
};
use std::net::{IpAddr, Ipv4Addr};

/// Facts about one capture record, besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    pub ts_ns: i64,
    pub index: u64,
    pub interface: u32,
    pub cap_len: u32,
    pub wire_len: u32,
    pub link_type: u32,
}

/// LINKTYPE_* numbers we decode.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW_OPENBSD: u32 = 12;
    pub const RAW_BSDOS: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;

    /// True for link types [`super::decode`] understands.
    pub fn is_supported(lt: u32) -> bool {
        matches!(
            lt,
            NULL | ETHERNET
                | RAW_OPENBSD
                | RAW_BSDOS
                | RAW
                | LOOP
                | LINUX_SLL
                | IPV4
                | IPV6
                | LINUX_SLL2
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IpHint {
    V4,
    V6,
    Any,
}

struct L3<'a> {
    ip: &'a [u8],
    offset: usize,
    vlan: Option<u16>,
    hint: IpHint,
}

/// Decoding context: whether the capture cut this packet short.
#[derive(Clone, Copy)]
struct Ctx {
    snap_cut: bool,
}

impl Ctx {
    /// A header ran past the available bytes.
    #[inline]
    fn short(self, layer: Layer, source: LenSource) -> Drop {
        if self.snap_cut && source == LenSource::Slice {
            Drop::Truncated(layer)
        } else if source == LenSource::Slice {
            Drop::Malformed(layer, "frame shorter than the header")
        } else {
            Drop::Malformed(
                layer,
                "header longer than the enclosing length field allows",
            )
        }
    }
}

#[inline]
fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

#[inline]
fn tail(data: &[u8], from: usize) -> &[u8] {
    data.get(from..).unwrap_or(&[])
}

/// Decode one record. `data` holds the `cap_len` captured bytes.
pub fn decode(meta: &RecordMeta, data: &[u8]) -> Result<PacketRepr, Drop> {
    if meta.link_type == linktype::ETHERNET
        && let Some(p) = plain_ipv4(meta, data)
    {
        return Ok(p);
    }
    decode_general(meta, data)
}

/// The bulk of real traffic, decoded without the general layer walk:
/// Ethernet II, IPv4 whose total length fits the frame and is not a
/// fragment, and a complete TCP or UDP header. `None` for anything else,
/// which [`decode_general`] decodes (or drops with its reason). Gives
/// exactly the [`PacketRepr`] `decode_general` gives (tested on every
/// shared capture and on mutated frames).
fn plain_ipv4(meta: &RecordMeta, data: &[u8]) -> Option<PacketRepr> {
    let ip = data.get(14..)?;
    if be16(data, 12)? != 0x0800 || ip.first()? >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2)?);
    let frag = be16(ip, 6)?;
    // Total length 0 (TSO), options cut off, a short total length, a
    // fragment (MF or an offset): the general path.
    if ihl < 20 || total < ihl || total > ip.len() || frag & 0x3fff != 0 {
        return None;
    }
    let protocol = ip[9];
    let l4 = ip.get(ihl..total)?;
    let word = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let (sport, dport) = (be16(l4, 0)?, be16(l4, 2)?);
    let mut p = ip_repr(
        meta,
        14,
        None,
        IpPart {
            version: 4,
            src: IpAddr::V4(Ipv4Addr::from(word(ip, 12)?)),
            dst: IpAddr::V4(Ipv4Addr::from(word(ip, 16)?)),
            protocol,
            ttl: ip[8],
            header_len: ihl as u16,
            fragment: None,
        },
    );
    p.src_port = sport;
    p.dst_port = dport;
    let thl = match protocol {
        ip_proto::TCP => {
            let thl = usize::from(*l4.get(12)? >> 4) * 4;
            if thl < 20 || thl > l4.len() {
                return None;
            }
            p.tcp_seq = word(l4, 4)?;
            p.tcp_ack = word(l4, 8)?;
            p.tcp_flags = TcpFlags(l4[13]);
            p.tcp_window = be16(l4, 14)?;
            thl
        }
        ip_proto::UDP if l4.len() >= 8 => 8,
        _ => return None,
    };
    p.transport_header_len = thl as u16;
    p.payload_len = (l4.len() - thl) as u32;
    p.frame_payload_len = (meta.cap_len as usize).saturating_sub(14 + ihl + thl) as u32;
    Some(p)
}

/// The IP layer of a packet, as both decode paths find it.
struct IpPart {
    version: u8,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    ttl: u8,
    header_len: u16,
    fragment: Option<FragmentInfo>,
}

/// A packet of `meta` with its link and IP fields; the transport fields are
/// zero until the transport header is read.
fn ip_repr(meta: &RecordMeta, l3_offset: u16, vlan: Option<u16>, ip: IpPart) -> PacketRepr {
    PacketRepr {
        ts_ns: meta.ts_ns,
        index: meta.index,
        interface: meta.interface,
        cap_len: meta.cap_len,
        wire_len: meta.wire_len,
        link_type: u16::try_from(meta.link_type).unwrap_or(u16::MAX),
        vlan,
        l3_offset,
        ip_version: ip.version,
        src: ip.src,
        dst: ip.dst,
        protocol: ip.protocol,
        ttl: ip.ttl,
        ip_header_len: ip.header_len,
        fragment: ip.fragment,
        ..PacketRepr::default()
    }
}

/// [`decode`] through the general layer walk (every link type, VLAN,
/// PPPoE, MPLS, IPv6 and its extensions, fragments, TSO lengths, and the
/// drop reasons).
fn decode_general(meta: &RecordMeta, data: &[u8]) -> Result<PacketRepr, Drop> {
    let ctx = Ctx {
        snap_cut: meta.cap_len < meta.wire_len,
    };
    let l3 = link(ctx, meta.link_type, data)?;
    ip(ctx, meta, l3)
}

fn link(ctx: Ctx, lt: u32, data: &[u8]) -> Result<L3<'_>, Drop> {
    use linktype::*;
    match lt {
        ETHERNET => {
            let eth = Ethernet2HeaderSlice::from_slice(data)
                .map_err(|_| ctx.short(Layer::Ethernet, LenSource::Slice))?;
            ether_payload(ctx, eth.ether_type().0, data, eth.slice().len())
        }
        LINUX_SLL => match LinuxSllHeaderSlice::from_slice(data) {
            Ok(sll) => {
                let proto = be16(sll.slice(), 14).unwrap_or(0);
                ether_payload(ctx, proto, data, sll.slice().len())
            }
            Err(err::linux_sll::HeaderSliceError::Len(_)) => {
                Err(ctx.short(Layer::LinuxSll, LenSource::Slice))
            }
            Err(err::linux_sll::HeaderSliceError::Content(
                err::linux_sll::HeaderError::UnsupportedPacketTypeField { .. },
            )) => Err(Drop::Malformed(
                Layer::LinuxSll,
                "unknown packet type field",
            )),
            // ARPHRD types etherparse does not know (e.g. PPP, 512) still carry
            // an EtherType in the protocol field when it is >= 0x0600.
            Err(err::linux_sll::HeaderSliceError::Content(_)) => match be16(data, 14) {
                Some(proto) if proto >= 0x0600 => ether_payload(ctx, proto, data, 16),
                _ => Err(Drop::NonIp(0)),
            },
        },
        LINUX_SLL2 => {
            // SLL2: protocol(2) reserved(2) ifindex(4) arphrd(2) pkttype(1) addrlen(1) addr(8)
            if data.len() < 20 {
                return Err(ctx.short(Layer::LinuxSll2, LenSource::Slice));
            }
            let proto = be16(data, 0).unwrap_or(0);
            ether_payload(ctx, proto, data, 20)
        }
        NULL | LOOP => {
            let Some(b) = data.get(0..4) else {
                return Err(ctx.short(Layer::Null, LenSource::Slice));
            };
            let raw = [b[0], b[1], b[2], b[3]];
            // NULL is in the capturing host's byte order; LOOP is always big-endian.
            let family = if lt == LOOP {
                u32::from_be_bytes(raw)
            } else {
                let le = u32::from_le_bytes(raw);
                if le > 0xffff {
                    u32::from_be_bytes(raw)
                } else {
                    le
                }
            };
            let hint = match family {
                2 => IpHint::V4,
                10 | 24 | 28 | 30 => IpHint::V6,
                _ => return Err(Drop::NonIp(0)),
            };
            Ok(L3 {
                ip: tail(data, 4),
                offset: 4,
                vlan: None,
                hint,
            })
        }
        RAW | RAW_OPENBSD | RAW_BSDOS | IPV4 | IPV6 => Ok(L3 {
            ip: data,
            offset: 0,
            vlan: None,
            hint: match lt {
                IPV4 => IpHint::V4,
                IPV6 => IpHint::V6,
                _ => IpHint::Any,
            },
        }),
        other => Err(Drop::UnsupportedLink(other)),
    }
}

/// Walk VLAN tags, PPPoE session and MPLS labels after an EtherType field.
fn ether_payload(ctx: Ctx, mut et: u16, data: &[u8], mut off: usize) -> Result<L3<'_>, Drop> {
    let mut vlan = None;
    loop {
        let hint = match et {
            0x0800 => IpHint::V4,
            0x86dd => IpHint::V6,
            0x8100 | 0x88a8 | 0x9100 | 0x9200 => {
                let tag = SingleVlanHeaderSlice::from_slice(tail(data, off))
                    .map_err(|_| ctx.short(Layer::Vlan, LenSource::Slice))?;
                vlan.get_or_insert(tag.vlan_identifier().value());
                et = tag.ether_type().0;
                off += tag.slice().len();
                continue;
            }
            0x8864 => {
                // PPPoE session header (6 bytes) then the PPP protocol field:
                // 2 bytes, or 1 byte when compressed (an odd first byte, RFC 1661 PFC).
                let Some(h) = data.get(off..off + 7) else {
                    return Err(ctx.short(Layer::Pppoe, LenSource::Slice));
                };
                if h[0] != 0x11 {
                    return Err(Drop::Malformed(Layer::Pppoe, "version/type is not 1/1"));
                }
                let proto = if h[6] & 1 == 1 {
                    off += 7;
                    u16::from(h[6])
                } else {
                    let Some(p) = be16(data, off + 6) else {
                        return Err(ctx.short(Layer::Pppoe, LenSource::Slice));
                    };
                    off += 8;
                    p
                };
                match proto {
                    0x0021 => IpHint::V4,
                    0x0057 => IpHint::V6,
                    _ => return Err(Drop::NonIp(0x8864)),
                }
            }
            0x8847 | 0x8848 => {
                loop {
                    let Some(label) = data.get(off..off + 4) else {
                        return Err(ctx.short(Layer::Mpls, LenSource::Slice));
                    };
                    off += 4;
                    if label[2] & 1 == 1 {
                        break;
                    }
                }
                match data.get(off).map(|b| b >> 4) {
                    Some(4) => IpHint::V4,
                    Some(6) => IpHint::V6,
                    // Ethernet pseudowire (RFC 4448): control word, then a frame.
                    Some(0) => {
                        let inner = tail(data, off + 4);
                        let eth = Ethernet2HeaderSlice::from_slice(inner)
                            .map_err(|_| ctx.short(Layer::Mpls, LenSource::Slice))?;
                        et = eth.ether_type().0;
                        off += 4 + eth.slice().len();
                        continue;
                    }
                    None => return Err(ctx.short(Layer::Mpls, LenSource::Slice)),
                    Some(_) => return Err(Drop::NonIp(et)),
                }
            }
            x if x < 0x0600 => return Err(Drop::NonIp(0)),
            x => return Err(Drop::NonIp(x)),
        };
        return Ok(L3 {
            ip: tail(data, off),
            offset: off,
            vlan,
            hint,
        });
    }
}

fn ip_layer(hint: IpHint) -> Layer {
    match hint {
        IpHint::V6 => Layer::Ipv6,
        _ => Layer::Ipv4,
    }
}

/// Decode the IP header (IPv4 or IPv6 by the version nibble), then the transport.
fn ip(ctx: Ctx, meta: &RecordMeta, l3: L3<'_>) -> Result<PacketRepr, Drop> {
    let bytes = l3.ip;
    let Some(first) = bytes.first() else {
        return Err(ctx.short(ip_layer(l3.hint), LenSource::Slice));
    };
    let version = first >> 4;
    match (l3.hint, version) {
        (IpHint::V4, v) if v != 4 => {
            return Err(Drop::Malformed(Layer::Ipv4, "version field is not 4"));
        }
        (IpHint::V6, v) if v != 6 => {
            return Err(Drop::Malformed(Layer::Ipv6, "version field is not 6"));
        }
        (IpHint::Any, v) if v != 4 && v != 6 => {
            return Err(Drop::Malformed(
                Layer::Ip,
                "version field is neither 4 nor 6",
            ));
        }
        _ => {}
    }
    let (ip_version, src, dst, ttl, ip_header_len, l4_len, fragment, payload) = if version == 4 {
        let (v4, auth_err) = LaxIpv4Slice::from_slice(bytes).map_err(|e| match e {
            err::ipv4::HeaderSliceError::Len(l) => ctx.short(Layer::Ipv4, l.len_source),
            err::ipv4::HeaderSliceError::Content(_) => {
                Drop::Malformed(Layer::Ipv4, "header length (IHL) below 5")
            }
        })?;
        let h = v4.header();
        let offset = u32::from(h.fragments_offset().value()) * 8;
        if offset > 0 {
            return Err(Drop::NonFirstFragment);
        }
        match auth_err {
            Some(err::ip_auth::HeaderSliceError::Len(l)) => {
                return Err(ctx.short(Layer::Ipv4, l.len_source));
            }
            Some(err::ip_auth::HeaderSliceError::Content(_)) => {
                return Err(Drop::Malformed(
                    Layer::Ipv4,
                    "invalid authentication header",
                ));
            }
            None => {}
        }
        let ihl = usize::from(h.ihl()) * 4;
        let auth = v4.extensions().auth.map_or(0, |a| a.slice().len());
        let payload = v4.payload().clone();
        let total = usize::from(h.total_len());
        let l4_len = if total == 0 {
            // TSO / Linux BIG TCP: total length 0, the frame gives the length.
            payload.payload.len()
        } else if total < ihl + auth {
            return Err(Drop::Malformed(
                Layer::Ipv4,
                "total length shorter than the header",
            ));
        } else {
            total - ihl - auth
        };
        if payload.incomplete && !ctx.snap_cut {
            return Err(Drop::Malformed(
                Layer::Ipv4,
                "total length exceeds the frame",
            ));
        }
        let fragment = h.more_fragments().then_some(FragmentInfo {
            id: u32::from(h.identification()),
            offset,
            more: true,
        });
        (
            4u8,
            IpAddr::V4(h.source_addr()),
            IpAddr::V4(h.destination_addr()),
            h.ttl(),
            ihl + auth,
            l4_len,
            fragment,
            payload,
        )
    } else {
        let (v6, ext_err) = LaxIpv6Slice::from_slice(bytes).map_err(|e| match e {
            err::ipv6::HeaderSliceError::Len(l) => ctx.short(Layer::Ipv6, l.len_source),
            err::ipv6::HeaderSliceError::Content(_) => {
                Drop::Malformed(Layer::Ipv6, "version field is not 6")
            }
        })?;
        let h = v6.header();
        let exts = v6.extensions();
        // Check the lax parser's error first: etherparse's extension iterator
        // follows the next-header chain past a header that failed to parse
        // (undefined behaviour found by our fuzz target), so only iterate a
        // chain that parsed completely.
        match ext_err {
            Some((err::ipv6_exts::HeaderSliceError::Len(l), _)) => {
                return Err(ctx.short(Layer::Ipv6Ext, l.len_source));
            }
            Some((
                err::ipv6_exts::HeaderSliceError::Content(
                    err::ipv6_exts::HeaderError::HopByHopNotAtStart,
                ),
                _,
            )) => {
                return Err(Drop::Malformed(
                    Layer::Ipv6Ext,
                    "hop-by-hop header not first",
                ));
            }
            Some((err::ipv6_exts::HeaderSliceError::Content(_), _)) => {
                return Err(Drop::Malformed(
                    Layer::Ipv6Ext,
                    "invalid authentication header",
                ));
            }
            None => {}
        }
        let mut fragment = None;
        if !exts.is_empty() {
            for ext in exts.clone() {
                if let Ipv6ExtensionSlice::Fragment(f) = ext {
                    let offset = u32::from(f.fragment_offset().value()) * 8;
                    if offset > 0 {
                        return Err(Drop::NonFirstFragment);
                    }
                    if f.more_fragments() {
                        fragment = Some(FragmentInfo {
                            id: f.identification(),
                            offset,
                            more: true,
                        });
                    }
                }
            }
        }
        let ext_len = exts.slice().len();
        let payload = v6.payload().clone();
        let declared = usize::from(h.payload_length());
        let l4_len = if declared == 0 {
            // Jumbogram or TSO: the frame gives the length.
            payload.payload.len()
        } else if declared < ext_len {
            return Err(Drop::Malformed(
                Layer::Ipv6,
                "payload length shorter than its extension headers",
            ));
        } else {
            declared - ext_len
        };
        if payload.incomplete && !ctx.snap_cut {
            return Err(Drop::Malformed(
                Layer::Ipv6,
                "payload length exceeds the frame",
            ));
        }
        (
            6u8,
            IpAddr::V6(h.source_addr()),
            IpAddr::V6(h.destination_addr()),
            h.hop_limit(),
            40 + ext_len,
            l4_len,
            fragment,
            payload,
        )
    };

    let mut repr = ip_repr(
        meta,
        u16::try_from(l3.offset).unwrap_or(u16::MAX),
        l3.vlan,
        IpPart {
            version: ip_version,
            src,
            dst,
            protocol: payload.ip_number.0,
            ttl,
            header_len: u16::try_from(ip_header_len).unwrap_or(u16::MAX),
            fragment,
        },
    );
    let thl = transport(ctx, &mut repr, &payload)?;
    repr.transport_header_len = u16::try_from(thl).unwrap_or(u16::MAX);
    repr.payload_len = u32::try_from(l4_len.saturating_sub(thl)).unwrap_or(u32::MAX);
    let before_payload = l3.offset + ip_header_len + thl;
    repr.frame_payload_len =
        u32::try_from((meta.cap_len as usize).saturating_sub(before_payload)).unwrap_or(u32::MAX);
    Ok(repr)
}

/// Read the transport header (also of a first fragment, which carries it);
/// returns its length, 0 for protocols we do not decode.
fn transport(
    ctx: Ctx,
    repr: &mut PacketRepr,
    payload: &LaxIpPayloadSlice<'_>,
) -> Result<usize, Drop> {
    let src = payload.len_source;
    let data = payload.payload;
    match repr.protocol {
        ip_proto::TCP => {
            let t = TcpHeaderSlice::from_slice(data).map_err(|e| match e {
                err::tcp::HeaderSliceError::Len(_) => ctx.short(Layer::Tcp, src),
                err::tcp::HeaderSliceError::Content(_) => {
                    Drop::Malformed(Layer::Tcp, "data offset below 5")
                }
            })?;
            repr.src_port = t.source_port();
            repr.dst_port = t.destination_port();
            repr.tcp_seq = t.sequence_number();
            repr.tcp_ack = t.acknowledgment_number();
            repr.tcp_window = t.window_size();
            repr.tcp_flags = TcpFlags(t.slice().get(13).copied().unwrap_or(0));
            Ok(t.slice().len())
        }
        ip_proto::UDP => {
            let u = UdpHeaderSlice::from_slice(data).map_err(|_| ctx.short(Layer::Udp, src))?;
            repr.src_port = u.source_port();
            repr.dst_port = u.destination_port();
            Ok(u.slice().len())
        }
        ip_proto::ICMP => {
            let i = Icmpv4Slice::from_slice(data).map_err(|_| ctx.short(Layer::Icmp, src))?;
            repr.icmp_type = i.type_u8();
            repr.icmp_code = i.code_u8();
            Ok(i.header_len())
        }
        ip_proto::ICMPV6 => {
            let i = Icmpv6Slice::from_slice(data).map_err(|_| ctx.short(Layer::Icmpv6, src))?;
            repr.icmp_type = i.type_u8();
            repr.icmp_code = i.code_u8();
            Ok(i.header_len())
        }
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    /// The fast path, where it answers, says what the general walk says.
    fn check_plain(meta: &RecordMeta, data: &[u8]) -> bool {
        match plain_ipv4(meta, data) {
            Some(p) => {
                assert_eq!(Ok(&p), decode_general(meta, data).as_ref(), "{data:02x?}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn the_plain_ipv4_path_agrees_with_the_general_one_on_every_shared_capture() {
        let dir = std::env::var_os("MAXIMUS_DATA_DIR").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"),
            std::path::PathBuf::from,
        );
        if !dir.is_dir() {
            eprintln!(
                "skipped: no data folder at {} (MAXIMUS_DATA_DIR)",
                dir.display()
            );
            return;
        }
        let mut stack = vec![dir];
        let (mut plain, mut records) = (0u64, 0u64);
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let Ok(mut r) = super::super::CaptureReader::open(&p) else {
                    continue;
                };
                while let Ok(Some(rec)) = r.next_record() {
                    records += 1;
                    plain += u64::from(check_plain(&rec.meta, rec.data));
                }
            }
        }
        // Most shared traffic is plain Ethernet IPv4 TCP/UDP.
        assert!(plain * 2 > records, "{plain} of {records}");
    }

    /// Plain frames of every kind the fast path takes, and some it leaves.
    fn frames() -> Vec<Vec<u8>> {
        let mut v = vec![eth(0x0800, &ipv4_tcp())];
        let udp = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(SRC4, DST4, 9)
            .udp(53, 5353);
        let mut u = Vec::new();
        udp.write(&mut u, &[7u8; 30]).unwrap();
        v.push(u);
        let opts = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ip(etherparse::IpHeaders::Ipv4(
                etherparse::Ipv4Header {
                    options: [1u8, 1, 1, 0].as_slice().try_into().unwrap(),
                    ..etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::TCP, SRC4, DST4)
                        .unwrap()
                },
                Default::default(),
            ))
            .tcp(1, 2, 3, 4)
            .psh();
        let mut o = Vec::new();
        opts.write(&mut o, b"data").unwrap();
        v.push(o);
        v
    }

    proptest! {
        /// Mutated and cut frames: wherever the fast path answers, it gives
        /// the general walk's packet (lengths, flags, fragments, protocols,
        /// header lengths, snap cuts all flipped at random).
        #[test]
        fn the_plain_ipv4_path_agrees_on_mutated_frames(
            which in 0usize..3,
            edits in proptest::collection::vec((0usize..80, any::<u8>()), 0..4),
            cut in 0usize..120,
            pad in 0usize..20,
            snap in any::<bool>(),
        ) {
            let mut f = frames().swap_remove(which);
            f.extend(std::iter::repeat_n(0u8, pad));
            for (at, b) in edits {
                if let Some(x) = f.get_mut(at) {
                    *x = b;
                }
            }
            let wire = f.len() as u32;
            f.truncate(f.len().saturating_sub(cut % 40));
            let mut m = meta(linktype::ETHERNET, f.len());
            if snap {
                m.wire_len = wire;
            }
            check_plain(&m, &f);
        }
    }

    #[test]
    fn plain_frames_take_the_fast_path() {
        for f in frames() {
            assert!(check_plain(&meta(linktype::ETHERNET, f.len()), &f));
        }
    }

    const SRC4: [u8; 4] = [10, 0, 0, 1];
    const DST4: [u8; 4] = [192, 168, 1, 2];

    /// IPv4/TCP SYN+ACK, 20-byte header + 4 bytes of options, 5-byte payload.
    fn ipv4_tcp() -> Vec<u8> {
        let b = PacketBuilder::ipv4(SRC4, DST4, 63)
            .tcp(40000, 443, 1000, 29200)
            .syn()
            .ack(77)
            .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)])
            .unwrap();
        let mut v = Vec::new();
        b.write(&mut v, b"hello").unwrap();
        v
    }

    fn ipv6_udp() -> Vec<u8> {
        let b = PacketBuilder::ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(5353, 53);
        let mut v = Vec::new();
        b.write(&mut v, &[0u8; 12]).unwrap();
        v
    }

    fn meta(link_type: u32, len: usize) -> RecordMeta {
        RecordMeta {
            ts_ns: 1_500_000_000_123_456_789,
            index: 7,
            interface: 0,
            cap_len: len as u32,
            wire_len: len as u32,
            link_type,
        }
    }

    fn run(link_type: u32, frame: &[u8]) -> Result<PacketRepr, Drop> {
        decode(&meta(link_type, frame.len()), frame)
    }

    fn eth(et: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        v.extend_from_slice(&et.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn assert_tcp(p: &PacketRepr, l3_offset: u16) {
        assert_eq!(p.ip_version, 4);
        assert_eq!(p.src, IpAddr::V4(Ipv4Addr::from(SRC4)));
        assert_eq!(p.dst, IpAddr::V4(Ipv4Addr::from(DST4)));
        assert_eq!(p.protocol, 6);
        assert_eq!((p.src_port, p.dst_port), (40000, 443));
        assert_eq!(p.tcp_flags, TcpFlags(TcpFlags::SYN | TcpFlags::ACK));
        assert_eq!((p.tcp_seq, p.tcp_ack, p.tcp_window), (1000, 77, 29200));
        assert_eq!(p.ttl, 63);
        assert_eq!(p.ip_header_len, 20);
        assert_eq!(p.transport_header_len, 24);
        assert_eq!(p.payload_len, 5);
        assert_eq!(p.l3_offset, l3_offset);
        assert_eq!(p.ts_ns, 1_500_000_000_123_456_789);
        assert_eq!(p.index, 7);
        assert_eq!(p.fragment, None);
    }

    #[test]
    fn ethernet_ipv4_tcp_fields() {
        let f = eth(0x0800, &ipv4_tcp());
        let p = run(linktype::ETHERNET, &f).unwrap();
        assert_tcp(&p, 14);
        assert_eq!(p.vlan, None);
        assert_eq!(p.frame_payload_len, 5);
    }

    #[test]
    fn ethernet_padding_is_not_payload_but_is_frame_payload() {
        // A pure ACK padded to the 60-byte Ethernet minimum.
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(SRC4, DST4, 64)
            .tcp(1, 2, 3, 4)
            .ack(5);
        let mut f = Vec::new();
        b.write(&mut f, &[]).unwrap();
        assert_eq!(f.len(), 54);
        f.resize(60, 0);
        let p = run(linktype::ETHERNET, &f).unwrap();
        assert_eq!(p.payload_len, 0);
        assert_eq!(p.frame_payload_len, 6);
    }

    #[test]
    fn vlan_stacks_of_any_depth() {
        for depth in 1..=5usize {
            let mut inner = Vec::new();
            for i in 0..depth {
                let vid = 100 + i as u16;
                inner.extend_from_slice(&vid.to_be_bytes());
                let next: u16 = if i + 1 == depth { 0x0800 } else { 0x8100 };
                inner.extend_from_slice(&next.to_be_bytes());
            }
            inner.extend_from_slice(&ipv4_tcp());
            let f = eth(if depth > 1 { 0x88a8 } else { 0x8100 }, &inner);
            let p = run(linktype::ETHERNET, &f).unwrap();
            assert_tcp(&p, 14 + 4 * depth as u16);
            assert_eq!(p.vlan, Some(100), "outermost VLAN id at depth {depth}");
        }
    }

    #[test]
    fn pppoe_session_ipv4_and_non_ip() {
        let ip = ipv4_tcp();
        let mut s = vec![0x11, 0x00, 0x12, 0x34];
        s.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(&0x0021u16.to_be_bytes());
        s.extend_from_slice(&ip);
        let p = run(linktype::ETHERNET, &eth(0x8864, &s)).unwrap();
        assert_tcp(&p, 22);
        // LCP inside PPPoE is not IP.
        let mut lcp = s.clone();
        lcp[6..8].copy_from_slice(&0xc021u16.to_be_bytes());
        assert_eq!(
            run(linktype::ETHERNET, &eth(0x8864, &lcp)),
            Err(Drop::NonIp(0x8864))
        );
        // Wrong version/type.
        // Compressed 1-byte protocol field.
        let mut pfc = vec![0x11, 0x00, 0x12, 0x34];
        pfc.extend_from_slice(&((ip.len() + 1) as u16).to_be_bytes());
        pfc.push(0x21);
        pfc.extend_from_slice(&ip);
        assert_tcp(&run(linktype::ETHERNET, &eth(0x8864, &pfc)).unwrap(), 21);
        let mut bad = s.clone();
        bad[0] = 0x21;
        assert!(matches!(
            run(linktype::ETHERNET, &eth(0x8864, &bad)),
            Err(Drop::Malformed(Layer::Pppoe, _))
        ));
    }

    #[test]
    fn mpls_label_stack() {
        let mut m = vec![0, 0, 0x10, 64, 0, 0, 0x21, 64]; // two labels, second has S bit
        m.extend_from_slice(&ipv4_tcp());
        let p = run(linktype::ETHERNET, &eth(0x8847, &m)).unwrap();
        assert_tcp(&p, 22);
        // Ethernet pseudowire: one label, control word, inner Ethernet frame.
        let mut pw = vec![0, 0, 0x11, 64, 0, 0, 0, 0];
        pw.extend_from_slice(&eth(0x0800, &ipv4_tcp()));
        assert_tcp(
            &run(linktype::ETHERNET, &eth(0x8847, &pw)).unwrap(),
            14 + 8 + 14,
        );
        pw[8 + 12..8 + 14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(
            run(linktype::ETHERNET, &eth(0x8847, &pw)),
            Err(Drop::NonIp(0x0806))
        );
    }

    #[test]
    fn non_ip_is_counted_by_ethertype() {
        assert_eq!(
            run(linktype::ETHERNET, &eth(0x0806, &[0; 28])),
            Err(Drop::NonIp(0x0806))
        );
        assert_eq!(
            run(linktype::ETHERNET, &eth(0x88cc, &[0; 28])),
            Err(Drop::NonIp(0x88cc))
        );
        assert_eq!(
            run(linktype::ETHERNET, &eth(0x0026, &[0; 38])),
            Err(Drop::NonIp(0))
        );
    }

    #[test]
    fn null_loopback_both_byte_orders_and_loop() {
        let ip = ipv4_tcp();
        for hdr in [[2u8, 0, 0, 0], [0, 0, 0, 2]] {
            let mut f = hdr.to_vec();
            f.extend_from_slice(&ip);
            assert_tcp(&run(linktype::NULL, &f).unwrap(), 4);
        }
        let mut f = vec![0, 0, 0, 2];
        f.extend_from_slice(&ip);
        assert_tcp(&run(linktype::LOOP, &f).unwrap(), 4);
        for fam in [10u8, 24, 28, 30] {
            let mut f = vec![fam, 0, 0, 0];
            f.extend_from_slice(&ipv6_udp());
            assert_eq!(
                run(linktype::NULL, &f).unwrap().ip_version,
                6,
                "family {fam}"
            );
        }
        let mut f = vec![7u8, 0, 0, 0];
        f.extend_from_slice(&ip);
        assert_eq!(run(linktype::NULL, &f), Err(Drop::NonIp(0)));
    }

    #[test]
    fn raw_ip_link_types() {
        assert_tcp(&run(linktype::RAW, &ipv4_tcp()).unwrap(), 0);
        assert_tcp(&run(linktype::IPV4, &ipv4_tcp()).unwrap(), 0);
        let p = run(linktype::RAW, &ipv6_udp()).unwrap();
        assert_eq!(
            (p.ip_version, p.protocol, p.src_port, p.dst_port),
            (6, 17, 5353, 53)
        );
        assert_eq!(
            p.src,
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
        );
        assert_eq!(
            (p.transport_header_len, p.payload_len, p.ip_header_len),
            (8, 12, 40)
        );
        assert_eq!(run(linktype::IPV6, &ipv6_udp()).unwrap().ip_version, 6);
        assert!(matches!(
            run(linktype::IPV4, &ipv6_udp()),
            Err(Drop::Malformed(Layer::Ipv4, _))
        ));
        assert!(matches!(
            run(linktype::IPV6, &ipv4_tcp()),
            Err(Drop::Malformed(Layer::Ipv6, _))
        ));
        let mut junk = ipv4_tcp();
        junk[0] = 0x55;
        assert!(matches!(
            run(linktype::RAW, &junk),
            Err(Drop::Malformed(Layer::Ip, _))
        ));
    }

    #[test]
    fn linux_sll_and_sll2() {
        let ip = ipv4_tcp();
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ip);
        assert_tcp(&run(linktype::LINUX_SLL, &sll).unwrap(), 16);
        let mut arp = sll.clone();
        arp[14..16].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(run(linktype::LINUX_SLL, &arp), Err(Drop::NonIp(0x0806)));
        // ARPHRD_PPP (512), unknown to etherparse, with an IPv4 EtherType.
        let mut ppp = sll.clone();
        ppp[2..4].copy_from_slice(&512u16.to_be_bytes());
        assert_tcp(&run(linktype::LINUX_SLL, &ppp).unwrap(), 16);

        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        assert_tcp(&run(linktype::LINUX_SLL2, &sll2).unwrap(), 20);
        assert_eq!(
            run(linktype::LINUX_SLL2, &sll2[..10]),
            Err(Drop::Malformed(
                Layer::LinuxSll2,
                "frame shorter than the header"
            ))
        );
    }

    #[test]
    fn unsupported_link_type_is_counted() {
        assert_eq!(run(127, &[0; 40]), Err(Drop::UnsupportedLink(127)));
    }

    #[test]
    fn snaplen_cut_is_truncated_and_short_frame_is_malformed() {
        let f = eth(0x0800, &ipv4_tcp());
        // Cut inside the TCP header by the capture: truncated at tcp.
        let mut m = meta(linktype::ETHERNET, 44);
        m.wire_len = f.len() as u32;
        assert_eq!(decode(&m, &f[..44]), Err(Drop::Truncated(Layer::Tcp)));
        // Cut inside the IPv4 header.
        m.cap_len = 20;
        assert_eq!(decode(&m, &f[..20]), Err(Drop::Truncated(Layer::Ipv4)));
        // Cut after the headers: still decoded, payload from the IP header.
        m.cap_len = 60;
        let p = decode(&m, &f[..60]).unwrap();
        assert_eq!(p.payload_len, 5);
        assert_eq!(p.frame_payload_len, 2);
        // The same short bytes without a snaplen cut are malformed.
        assert!(matches!(
            run(linktype::ETHERNET, &f[..20]),
            Err(Drop::Malformed(Layer::Ipv4, _))
        ));
        assert!(matches!(
            run(linktype::ETHERNET, &f[..10]),
            Err(Drop::Malformed(Layer::Ethernet, _))
        ));
    }

    #[test]
    fn malformed_ip_headers() {
        let mut ip = ipv4_tcp();
        ip[0] = 0x43; // IHL 3
        assert_eq!(
            run(linktype::RAW, &ip),
            Err(Drop::Malformed(Layer::Ipv4, "header length (IHL) below 5"))
        );
        let mut ip = ipv4_tcp();
        ip[2..4].copy_from_slice(&200u16.to_be_bytes()); // total length beyond the frame
        assert_eq!(
            run(linktype::RAW, &ip),
            Err(Drop::Malformed(
                Layer::Ipv4,
                "total length exceeds the frame"
            ))
        );
        let mut ip = ipv4_tcp();
        ip[2..4].copy_from_slice(&30u16.to_be_bytes()); // leaves 10 bytes for a 24-byte TCP header
        assert!(matches!(
            run(linktype::RAW, &ip),
            Err(Drop::Malformed(Layer::Tcp, _))
        ));
        let mut ip = ipv4_tcp();
        ip[20 + 12] = 0x30; // TCP data offset 3
        assert_eq!(
            run(linktype::RAW, &ip),
            Err(Drop::Malformed(Layer::Tcp, "data offset below 5"))
        );
    }

    #[test]
    fn ipv4_total_length_zero_is_tso() {
        let mut ip = ipv4_tcp();
        ip[2..4].copy_from_slice(&0u16.to_be_bytes());
        let p = run(linktype::RAW, &ip).unwrap();
        assert_eq!(p.payload_len, 5);
    }

    #[test]
    fn ipv4_fragments() {
        let mut ip = ipv4_tcp();
        // First fragment: MF set, offset 0 -> decoded with ports and fragment info.
        ip[6] = 0x20;
        let p = run(linktype::RAW, &ip).unwrap();
        assert_eq!((p.src_port, p.dst_port), (40000, 443));
        let frag = p.fragment.unwrap();
        assert!(frag.more);
        assert_eq!(frag.offset, 0);
        // Non-first fragment.
        ip[6] = 0x00;
        ip[7] = 0x10;
        assert_eq!(run(linktype::RAW, &ip), Err(Drop::NonFirstFragment));
    }

    #[test]
    fn ipv6_extension_headers_and_fragments() {
        use etherparse::{IpNumber, Ipv6FragmentHeader, Ipv6RawExtHeader};
        let src = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        let dst = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10];
        let udp = {
            let mut v = Vec::new();
            PacketBuilder::ipv6(src, dst, 64)
                .udp(1000, 2000)
                .write(&mut v, &[7; 16])
                .unwrap();
            v[40..].to_vec()
        };
        let build = |frag: Option<Ipv6FragmentHeader>| {
            let hop = Ipv6RawExtHeader::new_raw(
                if frag.is_some() {
                    IpNumber(44)
                } else {
                    IpNumber(17)
                },
                &[0; 6],
            )
            .unwrap();
            let mut body = hop.to_bytes().to_vec();
            if let Some(f) = frag {
                body.extend_from_slice(&f.to_bytes());
            }
            body.extend_from_slice(&udp);
            let mut v = vec![0x60, 0, 0, 0];
            v.extend_from_slice(&(body.len() as u16).to_be_bytes());
            v.push(0); // hop-by-hop
            v.push(64);
            v.extend_from_slice(&src);
            v.extend_from_slice(&dst);
            v.extend_from_slice(&body);
            v
        };
        let p = run(linktype::RAW, &build(None)).unwrap();
        assert_eq!(
            (
                p.protocol,
                p.src_port,
                p.dst_port,
                p.ip_header_len,
                p.payload_len
            ),
            (17, 1000, 2000, 48, 16)
        );
        let first =
            Ipv6FragmentHeader::new(IpNumber(17), etherparse::IpFragOffset::ZERO, true, 0xabcdef);
        let p = run(linktype::RAW, &build(Some(first))).unwrap();
        assert_eq!(
            p.fragment,
            Some(FragmentInfo {
                id: 0xabcdef,
                offset: 0,
                more: true
            })
        );
        assert_eq!(p.src_port, 1000);
        let later = Ipv6FragmentHeader::new(
            IpNumber(17),
            etherparse::IpFragOffset::try_new(8).unwrap(),
            false,
            0xabcdef,
        );
        assert_eq!(
            run(linktype::RAW, &build(Some(later))),
            Err(Drop::NonFirstFragment)
        );
    }

    #[test]
    fn icmp_and_icmpv6_type_code() {
        let mut v = Vec::new();
        PacketBuilder::ipv4(SRC4, DST4, 64)
            .icmpv4_echo_request(1, 2)
            .write(&mut v, &[0; 8])
            .unwrap();
        let p = run(linktype::RAW, &v).unwrap();
        assert_eq!(
            (
                p.protocol,
                p.icmp_type,
                p.icmp_code,
                p.transport_header_len,
                p.payload_len
            ),
            (1, 8, 0, 8, 8)
        );
        let mut v = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64)
            .icmpv6_echo_reply(1, 2)
            .write(&mut v, &[0; 4])
            .unwrap();
        let p = run(linktype::RAW, &v).unwrap();
        assert_eq!((p.protocol, p.icmp_type, p.icmp_code), (58, 129, 0));
    }

    #[test]
    fn other_ip_protocols_are_decoded_without_ports() {
        let mut ip = ipv4_tcp();
        ip[9] = 47; // GRE
        // fix nothing else: the checksum is not verified
        let p = run(linktype::RAW, &ip).unwrap();
        assert_eq!(
            (p.protocol, p.src_port, p.dst_port, p.transport_header_len),
            (47, 0, 0, 0)
        );
        assert_eq!(p.payload_len, (ip.len() - 20) as u32);
    }
}
