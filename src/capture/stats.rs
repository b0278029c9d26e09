//! `DecodeStats`: where every packet record of a capture went.
//!
//! Takes the outcome of decoding each record; gives counters in which every
//! record lands in exactly one bucket, so `total() == records`. Maps are
//! `BTreeMap`s so that printing and JSON are in a fixed order.

use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// The protocol layer at which decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// The capture record itself (interface id, lengths).
    Record,
    Ethernet,
    LinuxSll,
    LinuxSll2,
    Null,
    Vlan,
    Pppoe,
    Mpls,
    /// The IP version nibble, before IPv4 or IPv6 is known.
    Ip,
    Ipv4,
    Ipv6,
    Ipv6Ext,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Igmp,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Record => "record",
            Layer::Ethernet => "ethernet",
            Layer::LinuxSll => "linux-sll",
            Layer::LinuxSll2 => "linux-sll2",
            Layer::Null => "null",
            Layer::Vlan => "vlan",
            Layer::Pppoe => "pppoe",
            Layer::Mpls => "mpls",
            Layer::Ip => "ip",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Ipv6Ext => "ipv6-ext",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Icmp => "icmp",
            Layer::Icmpv6 => "icmpv6",
            Layer::Igmp => "igmp",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Layer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Why a record did not become a [`crate::capture::PacketRepr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// A link frame carrying something other than IP (ARP, LLDP, ...), by EtherType.
    /// 802.3 length-field frames use 0; PPPoE/MPLS payloads that are not IP use
    /// their own EtherType.
    NonIp(u16),
    /// A link type we do not decode, by LINKTYPE_* number.
    UnsupportedLink(u32),
    /// The capture's snap length cut the packet before this layer's header ended.
    Truncated(Layer),
    /// A header that is inconsistent or impossible, with the reason.
    Malformed(Layer, &'static str),
    /// An IP fragment other than the first: it carries no transport header.
    NonFirstFragment,
    /// A byte-identical copy of a recent record, dropped by the optional
    /// duplicate filter.
    Duplicate,
}

/// Counters of a capture's records, one bucket each, plus the decoded protocol mix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecodeStats {
    /// Packet records read from the file.
    pub records: u64,
    /// Records decoded into a `PacketRepr`.
    pub decoded: u64,
    /// Non-IP frames by EtherType.
    #[serde(serialize_with = "hex_keys")]
    pub non_ip: BTreeMap<u16, u64>,
    /// Records of unsupported link types by LINKTYPE_* number.
    pub unsupported_link: BTreeMap<u32, u64>,
    /// Records cut by the snap length, by the layer that was cut.
    pub truncated: BTreeMap<Layer, u64>,
    /// Malformed records by layer and reason.
    #[serde(serialize_with = "pair_keys")]
    pub malformed: BTreeMap<(Layer, &'static str), u64>,
    /// Non-first IP fragments.
    pub non_first_fragment: u64,
    /// Byte-identical copies dropped by the duplicate filter (0 when it is off).
    pub duplicate: u64,
    /// Decoded IPv4 packets; not a bucket.
    pub ipv4: u64,
    /// Decoded IPv6 packets; not a bucket.
    pub ipv6: u64,
    /// Decoded packets by IP protocol number (an array: this is the hot path); not a bucket.
    #[serde(serialize_with = "nonzero_protocols")]
    pub protocols: [u64; 256],
}

impl Default for DecodeStats {
    fn default() -> Self {
        DecodeStats {
            records: 0,
            decoded: 0,
            non_ip: BTreeMap::new(),
            unsupported_link: BTreeMap::new(),
            truncated: BTreeMap::new(),
            malformed: BTreeMap::new(),
            non_first_fragment: 0,
            duplicate: 0,
            ipv4: 0,
            ipv6: 0,
            protocols: [0; 256],
        }
    }
}

fn nonzero_protocols<S: Serializer>(p: &[u64; 256], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        p.iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.to_string(), n)),
    )
}

fn hex_keys<S: Serializer>(m: &BTreeMap<u16, u64>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().map(|(k, v)| (format!("0x{k:04x}"), v)))
}

fn pair_keys<S: Serializer>(
    m: &BTreeMap<(Layer, &'static str), u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().map(|((l, r), v)| (format!("{l}: {r}"), v)))
}

impl DecodeStats {
    /// Count one record's outcome.
    #[inline]
    pub fn record(&mut self, outcome: Result<(u8, u8), Drop>) {
        match outcome {
            Ok((version, proto)) => {
                self.records += 1;
                self.decoded += 1;
                if version == 6 {
                    self.ipv6 += 1;
                } else {
                    self.ipv4 += 1;
                }
                self.protocols[usize::from(proto)] += 1;
            }
            Err(d) => self.record_drop(d),
        }
    }

    /// [`DecodeStats::record`] of a packet not decoded (the rare case, out
    /// of line).
    #[cold]
    fn record_drop(&mut self, d: Drop) {
        self.records += 1;
        match d {
            Drop::NonIp(et) => *self.non_ip.entry(et).or_default() += 1,
            Drop::UnsupportedLink(lt) => *self.unsupported_link.entry(lt).or_default() += 1,
            Drop::Truncated(layer) => *self.truncated.entry(layer).or_default() += 1,
            Drop::Malformed(layer, why) => *self.malformed.entry((layer, why)).or_default() += 1,
            Drop::NonFirstFragment => self.non_first_fragment += 1,
            Drop::Duplicate => self.duplicate += 1,
        }
    }

    /// Sum of all buckets; equals `records` by construction.
    pub fn total(&self) -> u64 {
        self.decoded
            + self.non_ip.values().sum::<u64>()
            + self.unsupported_link.values().sum::<u64>()
            + self.truncated.values().sum::<u64>()
            + self.malformed.values().sum::<u64>()
            + self.non_first_fragment
            + self.duplicate
    }

    /// Add another file's counters into this one.
    pub fn merge(&mut self, other: &DecodeStats) {
        self.records += other.records;
        self.decoded += other.decoded;
        self.non_first_fragment += other.non_first_fragment;
        self.duplicate += other.duplicate;
        self.ipv4 += other.ipv4;
        self.ipv6 += other.ipv6;
        for (mine, theirs) in self.protocols.iter_mut().zip(other.protocols.iter()) {
            *mine += theirs;
        }
        for (k, v) in &other.non_ip {
            *self.non_ip.entry(*k).or_default() += v;
        }
        for (k, v) in &other.unsupported_link {
            *self.unsupported_link.entry(*k).or_default() += v;
        }
        for (k, v) in &other.truncated {
            *self.truncated.entry(*k).or_default() += v;
        }
        for (k, v) in &other.malformed {
            *self.malformed.entry(*k).or_default() += v;
        }
    }
}

/// Human name of an EtherType for reports.
pub fn ethertype_name(et: u16) -> &'static str {
    match et {
        0x0000 => "802.3/LLC",
        0x0800 => "IPv4",
        0x0806 => "ARP",
        0x8035 => "RARP",
        0x86dd => "IPv6",
        0x8100 => "802.1Q",
        0x88a8 => "802.1ad",
        0x8847 => "MPLS",
        0x8848 => "MPLS multicast",
        0x8863 => "PPPoE discovery",
        0x8864 => "PPPoE session (non-IP)",
        0x888e => "EAPOL",
        0x88cc => "LLDP",
        0x88e5 => "MACsec",
        0x88f7 => "PTP",
        0x9000 => "loopback",
        0x893a => "IEEE 1905",
        _ => "other",
    }
}

/// Human name of an IP protocol number for reports.
pub fn protocol_name(p: u8) -> &'static str {
    match p {
        0 => "HOPOPT",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPv4-in-IP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6-in-IP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMPv6",
        59 => "IPv6-NoNxt",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        132 => "SCTP",
        _ => "other",
    }
}

/// Human name of a LINKTYPE_* number.
pub fn linktype_name(lt: u32) -> &'static str {
    match lt {
        0 => "NULL (BSD loopback)",
        1 => "Ethernet",
        12 | 14 | 101 => "raw IP",
        104 => "Cisco HDLC",
        105 => "IEEE 802.11",
        108 => "OpenBSD loopback",
        113 => "Linux SLL",
        127 => "802.11 radiotap",
        228 => "raw IPv4",
        229 => "raw IPv6",
        239 => "NFLOG",
        276 => "Linux SLL2",
        _ => "other",
    }
}
