//! Round trip: random TCP/UDP packets built with etherparse (IPv4/IPv6, VLAN
//! tags, any flags, payload sizes) are written to pcap and to pcapng by our
//! writers, read back and decoded, and must equal what was built, field by field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Expect, build_frame};
use maximus_sim::capture::writer::{PcapNgWriter, PcapWriter};
use maximus_sim::capture::{CaptureReader, PacketRepr, read_packets};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Pkt {
    frame: Vec<u8>,
    expect: Expect,
    ts_ns: i64,
}

fn pkt_strategy() -> impl Strategy<Value = Pkt> {
    (
        any::<bool>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<bool>(),
        any::<(u16, u16)>(),
        any::<u8>(),
        any::<(u32, u32, u16)>(),
        1u8..=255,
        prop::collection::vec(0u16..4095, 0..=2),
        0usize..1500,
        0i64..4_000_000_000_000_000_000,
    )
        .prop_map(
            |(ipv6, src, dst, tcp, ports, flags, saw, ttl, vlans, plen, ts)| {
                let payload: Vec<u8> = (0..plen).map(|i| (i * 7) as u8).collect();
                let (frame, expect) = build_frame(
                    ipv6, src, dst, tcp, ports, flags, saw, ttl, &vlans, &payload,
                );
                Pkt {
                    frame,
                    expect,
                    ts_ns: ts,
                }
            },
        )
}

fn check(p: &PacketRepr, e: &Pkt, index: u64, ts_ns: i64) {
    let x = &e.expect;
    assert_eq!(p.index, index);
    assert_eq!(p.ts_ns, ts_ns);
    assert_eq!(p.cap_len as usize, e.frame.len());
    assert_eq!(p.wire_len as usize, e.frame.len());
    assert_eq!(p.link_type, 1);
    assert_eq!(p.ip_version, if x.ipv6 { 6 } else { 4 });
    assert_eq!((p.src, p.dst), (x.src, x.dst));
    assert_eq!(p.protocol, x.protocol);
    assert_eq!((p.src_port, p.dst_port), (x.src_port, x.dst_port));
    assert_eq!(p.tcp_flags.0, x.flags);
    assert_eq!(
        (p.tcp_seq, p.tcp_ack, p.tcp_window),
        (x.seq, x.ack, x.window)
    );
    assert_eq!(p.ttl, x.ttl);
    assert_eq!(p.vlan, x.vlan);
    assert_eq!(p.l3_offset, x.l3_offset);
    assert_eq!(p.ip_header_len, if x.ipv6 { 40 } else { 20 });
    assert_eq!(p.transport_header_len, x.transport_header_len);
    assert_eq!(p.payload_len, x.payload_len);
    assert_eq!(p.frame_payload_len, x.payload_len);
    assert_eq!(p.fragment, None);
}

fn read_back(bytes: Vec<u8>) -> Vec<PacketRepr> {
    let mut r = CaptureReader::from_reader("roundtrip", std::io::Cursor::new(bytes)).unwrap();
    let mut got = Vec::new();
    let o = read_packets(&mut r, |p| got.push(p.clone()), |_| {});
    assert!(o.error.is_none());
    assert_eq!(o.summary.stats.total(), o.summary.stats.records);
    got
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pcap_round_trip(pkts in prop::collection::vec(pkt_strategy(), 1..40), nanos in any::<bool>()) {
        let mut w = PcapWriter::new(Vec::new(), 1, 65535, nanos).unwrap();
        for p in &pkts {
            w.write_packet(p.ts_ns, &p.frame, p.frame.len() as u32).unwrap();
        }
        let got = read_back(w.finish().unwrap());
        prop_assert_eq!(got.len(), pkts.len());
        for (i, (g, e)) in got.iter().zip(&pkts).enumerate() {
            let ts = if nanos { e.ts_ns } else { e.ts_ns / 1000 * 1000 };
            check(g, e, i as u64, ts);
        }
    }

    #[test]
    fn pcapng_round_trip(pkts in prop::collection::vec(pkt_strategy(), 1..40)) {
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        let us = w.add_interface(1, 0, 6).unwrap();
        let ns = w.add_interface(1, 0, 9).unwrap();
        for (i, p) in pkts.iter().enumerate() {
            let iface = if i % 2 == 0 { us } else { ns };
            w.write_packet(iface, p.ts_ns, &p.frame, p.frame.len() as u32).unwrap();
        }
        let got = read_back(w.finish().unwrap());
        prop_assert_eq!(got.len(), pkts.len());
        for (i, (g, e)) in got.iter().zip(&pkts).enumerate() {
            let ts = if i % 2 == 0 { e.ts_ns / 1000 * 1000 } else { e.ts_ns };
            prop_assert_eq!(g.interface, (i % 2) as u32);
            check(g, e, i as u64, ts);
        }
    }
}
