//! Bidirectional flow keys.
//!
//! Takes a packet's addresses, ports and protocol; gives a [`FlowKey`] that
//! is the same for both directions of a conversation, plus its `Flow ID` text.
//! Two orderings exist:
//! - [`FlowKey::cic_v3`]: CICFlowMeter V3's own order (IPv4 octets compared as
//!   signed Java bytes, lower first; equal IPs keep the packet's orientation, so
//!   hairpin traffic between two ports of one host is *not* symmetric, exactly
//!   like the Java tool);
//! - [`FlowKey::canonical`]: (address, port) pairs in natural order, fully
//!   symmetric (for the corrected profile).
//!
//! Flow tables keep keys in a [`FlowMap`]: a hash map over
//! [`FlowKey::hash64`], a fixed mix of the key (fast, and the same on every
//! run and machine). Nothing iterates such a map on a path to output
//! without sorting first.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

/// A fixed-seed general hasher (for sets of other keys).
pub type FixedState = foldhash::fast::FixedState;

/// A hash map of the flow tables keyed by [`FlowKey`] (never iterated on a
/// path to output without sorting).
pub type FlowMap<V> = HashMap<FlowKey, V, FlowKeyState>;

/// A hash map keyed by [`HashedKey`]: for a table whose packets come with
/// their key's hash already computed (never iterated on a path to output
/// without sorting).
pub type HashedMap<V> = HashMap<HashedKey, V, FlowKeyState>;

/// A [`FlowKey`] and its [`FlowKey::hash64`], which is its hash in a
/// [`HashedMap`] (not computed again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashedKey {
    pub hash: u64,
    pub key: FlowKey,
}

impl HashedKey {
    pub fn new(key: FlowKey) -> HashedKey {
        HashedKey {
            hash: key.hash64(),
            key,
        }
    }
}

/// Writes the stored hash, one word.
impl Hash for HashedKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

/// An empty [`HashedMap`].
pub fn hashed_map<V>() -> HashedMap<V> {
    HashMap::with_hasher(FlowKeyState)
}

/// An empty [`FlowMap`].
pub fn flow_map<V>() -> FlowMap<V> {
    HashMap::with_hasher(FlowKeyState)
}

/// The hasher of a [`FlowMap`]: a [`FlowKey`] writes its [`FlowKey::hash64`]
/// as one word, which is the hash (no second mixing).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowKeyState;

impl BuildHasher for FlowKeyState {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

/// See [`FlowKeyState`]; words written after the first are mixed in, bytes
/// too (FlowKey writes neither).
#[derive(Debug, Clone, Copy, Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = folded_multiply(self.0, MIX[0]) ^ x;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Fixed odd constants (digits of pi) of the key mix.
const MIX: [u64; 3] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
];

/// The 128-bit product's halves, xored: every input bit reaches most
/// output bits.
fn folded_multiply(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Endpoint `a` is the first in the key's order; ports belong to their address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub a: IpAddr,
    pub b: IpAddr,
    pub a_port: u16,
    pub b_port: u16,
    pub protocol: u8,
}

/// Writes [`FlowKey::hash64`], one word.
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash64());
    }
}

/// Compare two addresses the way V3's `generateFlowId` does: octet by octet
/// as signed bytes (so 192.x < 104.x), first difference decides.
fn java_signed_cmp(x: &IpAddr, y: &IpAddr) -> Ordering {
    match (x, y) {
        (IpAddr::V4(a), IpAddr::V4(b)) => signed_bytes_cmp(&a.octets(), &b.octets()),
        (IpAddr::V6(a), IpAddr::V6(b)) => signed_bytes_cmp(&a.octets(), &b.octets()),
        // Mixed families never share a flow; any fixed order will do.
        _ => x.cmp(y),
    }
}

fn signed_bytes_cmp(xs: &[u8], ys: &[u8]) -> Ordering {
    for (p, q) in xs.iter().zip(ys) {
        let (p, q) = (*p as i8, *q as i8);
        if p != q {
            return p.cmp(&q);
        }
    }
    Ordering::Equal
}

/// The IPv4 side rule of [`FlowKey::canonical_side`], one integer
/// comparison: the source is side `a` unless `(dst, dport)` sorts first.
#[inline]
fn v4_from_a(s: u32, d: u32, sport: u16, dport: u16) -> bool {
    (u64::from(d) << 16 | u64::from(dport)) >= (u64::from(s) << 16 | u64::from(sport))
}

/// The word [`FlowKey::hash64`] mixes for a key's ports and protocol.
#[inline]
fn hash_words(a_port: u16, b_port: u16, protocol: u8) -> u64 {
    (u64::from(a_port) << 24) | (u64::from(b_port) << 8) | u64::from(protocol)
}

/// The word [`FlowKey::hash64`] mixes for an IPv4 pair `a`, `b`.
#[inline]
fn v4_pair_word(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

impl FlowKey {
    /// A fixed 64-bit hash of the key, well mixed in its low and high bits
    /// (a flow table uses the low ones, the shard choice the high ones).
    pub fn hash64(&self) -> u64 {
        let ports = hash_words(self.a_port, self.b_port, self.protocol);
        let (addrs, ports) = match (self.a, self.b) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (v4_pair_word(a.to_bits(), b.to_bits()), ports),
            (a, b) => {
                let bits = |x: IpAddr| match x {
                    IpAddr::V4(v) => u128::from(v.to_bits()),
                    IpAddr::V6(v) => v.to_bits(),
                };
                let (a, b) = (bits(a), bits(b));
                let a = folded_multiply(a as u64 ^ MIX[1], (a >> 64) as u64 ^ MIX[2]);
                let b = folded_multiply(b as u64 ^ MIX[2], (b >> 64) as u64 ^ MIX[1]);
                // Not a possible IPv4 `ports` word: the families differ.
                (
                    folded_multiply(a, MIX[0]) ^ b,
                    ports | (u64::from(self.a.is_ipv6()) << 41) | (1 << 40),
                )
            }
        };
        folded_multiply(addrs ^ MIX[0], ports ^ MIX[1])
    }

    /// V3 key of a packet `src:sport -> dst:dport`.
    pub fn cic_v3(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, protocol: u8) -> FlowKey {
        if java_signed_cmp(&src, &dst) == Ordering::Greater {
            FlowKey {
                a: dst,
                b: src,
                a_port: dport,
                b_port: sport,
                protocol,
            }
        } else {
            FlowKey {
                a: src,
                b: dst,
                a_port: sport,
                b_port: dport,
                protocol,
            }
        }
    }

    /// Symmetric key: the smaller (address, port) pair first.
    pub fn canonical(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, protocol: u8) -> FlowKey {
        Self::canonical_side(src, dst, sport, dport, protocol).0
    }

    /// [`FlowKey::canonical`], and whether the source is the key's `a`
    /// side (also when both sides are the same endpoint).
    #[inline]
    pub fn canonical_side(
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        protocol: u8,
    ) -> (FlowKey, bool) {
        // IPv4 pairs (most packets) as one integer comparison: the order of
        // `(address, port)` tuples.
        let swap = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => !v4_from_a(s.to_bits(), d.to_bits(), sport, dport),
            _ => (dst, dport) < (src, sport),
        };
        let key = if swap {
            FlowKey {
                a: dst,
                b: src,
                a_port: dport,
                b_port: sport,
                protocol,
            }
        } else {
            FlowKey {
                a: src,
                b: dst,
                a_port: sport,
                b_port: dport,
                protocol,
            }
        };
        (key, !swap)
    }

    /// [`FlowKey::canonical_side`] and the key's [`FlowKey::hash64`] (the
    /// same three values, tested), an IPv4 pair in one pass over its bits:
    /// a shard's packet needs all three.
    #[inline]
    pub fn canonical_side_hashed(
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        protocol: u8,
    ) -> (FlowKey, bool, u64) {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
            let (key, from_a) = Self::canonical_side(src, dst, sport, dport, protocol);
            return (key, from_a, key.hash64());
        };
        let (s_bits, d_bits) = (s.to_bits(), d.to_bits());
        let from_a = v4_from_a(s_bits, d_bits, sport, dport);
        let (a, b, a_port, b_port) = if from_a {
            (s_bits, d_bits, sport, dport)
        } else {
            (d_bits, s_bits, dport, sport)
        };
        let (addrs, ports) = (v4_pair_word(a, b), hash_words(a_port, b_port, protocol));
        let key = FlowKey {
            a: IpAddr::V4(std::net::Ipv4Addr::from_bits(a)),
            b: IpAddr::V4(std::net::Ipv4Addr::from_bits(b)),
            a_port,
            b_port,
            protocol,
        };
        (key, from_a, folded_multiply(addrs ^ MIX[0], ports ^ MIX[1]))
    }
}

/// The `Flow ID` cell: `A-B-portA-portB-protocol`.
impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}-{}-{}",
            self.a, self.b, self.a_port, self.b_port, self.protocol
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v3_orders_octets_as_signed_bytes() {
        // Examples from the spec (§2.1): 192.x < 104.x, 188.x < 10.x.
        let k = FlowKey::cic_v3(ip("10.200.2.252"), ip("188.120.225.17"), 61559, 8080, 6);
        assert_eq!(k.to_string(), "188.120.225.17-10.200.2.252-8080-61559-6");
        let r = FlowKey::cic_v3(ip("188.120.225.17"), ip("10.200.2.252"), 8080, 61559, 6);
        assert_eq!(k, r);
        let k = FlowKey::cic_v3(ip("104.16.207.165"), ip("192.168.10.5"), 443, 5000, 6);
        assert_eq!(k.to_string(), "192.168.10.5-104.16.207.165-5000-443-6");
        // Only the first differing octet decides: 10.0.0.200 (-56) < 10.0.0.1.
        let k = FlowKey::cic_v3(ip("10.0.0.1"), ip("10.0.0.200"), 1, 2, 17);
        assert_eq!(k.to_string(), "10.0.0.200-10.0.0.1-2-1-17");
    }

    #[test]
    fn v3_equal_addresses_keep_packet_orientation() {
        let h = ip("127.0.0.1");
        let k1 = FlowKey::cic_v3(h, h, 1000, 80, 6);
        let k2 = FlowKey::cic_v3(h, h, 80, 1000, 6);
        assert_eq!(k1.to_string(), "127.0.0.1-127.0.0.1-1000-80-6");
        assert_ne!(k1, k2);
    }

    #[test]
    fn canonical_is_symmetric_including_hairpin() {
        let h = ip("127.0.0.1");
        assert_eq!(
            FlowKey::canonical(h, h, 1000, 80, 6),
            FlowKey::canonical(h, h, 80, 1000, 6)
        );
        let (x, y) = (ip("2001:db8::1"), ip("10.0.0.1"));
        assert_eq!(
            FlowKey::canonical(x, y, 5, 6, 17),
            FlowKey::canonical(y, x, 6, 5, 17)
        );
    }

    proptest::proptest! {
        #[test]
        fn the_hashed_canonical_side_is_the_side_and_its_hash(
            s in proptest::prelude::any::<u32>(),
            d in proptest::prelude::any::<u32>(),
            same in proptest::prelude::any::<bool>(),
            sport in 0u16..4,
            dport in 0u16..4,
            proto in proptest::prelude::any::<u8>(),
            v6 in proptest::prelude::any::<bool>(),
        ) {
            // Few ports and, half the time, one address on both sides: the
            // ties the side rule has to break.
            let d = if same { s } else { d };
            let addr = |x: u32| if v6 {
                IpAddr::from(std::net::Ipv6Addr::from_bits(u128::from(x) << 64 | 1))
            } else {
                IpAddr::from(std::net::Ipv4Addr::from_bits(x))
            };
            let (src, dst) = (addr(s), addr(d));
            let (key, from_a) = FlowKey::canonical_side(src, dst, sport, dport, proto);
            let got = FlowKey::canonical_side_hashed(src, dst, sport, dport, proto);
            proptest::prop_assert_eq!(got, (key, from_a, key.hash64()));
        }
    }

    #[test]
    fn hash64_spreads_similar_keys_in_low_and_high_bits() {
        // Neighbouring addresses and ports, as in real captures.
        let mut keys = Vec::new();
        for i in 0..4096u32 {
            let a = IpAddr::from(std::net::Ipv4Addr::from_bits(0x0a00_0000 | i));
            let b = ip("192.168.0.1");
            keys.push(FlowKey::canonical(a, b, 40_000 + (i % 7) as u16, 443, 6));
            let v6 = IpAddr::from(std::net::Ipv6Addr::from_bits(
                0x2001_0db8 << 96 | u128::from(i),
            ));
            keys.push(FlowKey::canonical(v6, ip("2001:db8::1"), 5353, 5353, 17));
        }
        let hashes: Vec<u64> = keys.iter().map(FlowKey::hash64).collect();
        let mut distinct = hashes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), hashes.len());
        // 8192 keys in 256 buckets: 32 expected per bucket.
        for bucket in [
            |h: u64| h & 0xff,
            |h: u64| h >> 56,
            |h: u64| (h >> 32) & 0xff,
        ] {
            let mut n = [0u32; 256];
            hashes.iter().for_each(|&h| n[bucket(h) as usize] += 1);
            assert!(n.iter().all(|&c| (10..=60).contains(&c)), "{n:?}");
        }
    }

    proptest::proptest! {
        /// The IPv4 fast path orders endpoints as `(IpAddr, port)` tuples do
        /// (few addresses and ports, so that ties and near-ties occur).
        #[test]
        fn canonical_puts_the_smaller_endpoint_first(
            s in 0u32..4, d in 0u32..4, sport in 0u16..3, dport in 0u16..3, high in proptest::bool::ANY
        ) {
            let v4 = |x: u32| IpAddr::from(std::net::Ipv4Addr::from_bits(if high { x << 24 | 7 } else { x }));
            let (src, dst) = (v4(s), v4(d));
            let k = FlowKey::canonical(src, dst, sport, dport, 6);
            let (first, second) = if (dst, dport) < (src, sport) {
                ((dst, dport), (src, sport))
            } else {
                ((src, sport), (dst, dport))
            };
            proptest::prop_assert_eq!(((k.a, k.a_port), (k.b, k.b_port)), (first, second));
        }
    }
}
