//! The capture layer against every real capture in the shared datasets:
//! record counts equal capinfos' (MANIFEST.json), buckets sum to the record
//! count, and the damaged/odd files give their documented outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use maximus_sim::capture::{self, CaptureError, Drop, Layer};
use std::collections::BTreeMap;

#[test]
fn every_shared_capture_matches_capinfos_and_buckets_add_up() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let entries = common::manifest_captures(&dir);
    assert!(
        entries.len() > 100,
        "manifest lists {} captures",
        entries.len()
    );
    let mut failures = Vec::new();
    for e in &entries {
        let outcome = match capture::read_file(&e.path, |_| {}) {
            Ok(o) => o,
            Err(err) => {
                failures.push(format!("{}: cannot open: {err}", e.rel));
                continue;
            }
        };
        let s = &outcome.summary;
        if s.stats.records != e.pkts {
            failures.push(format!(
                "{}: read {} records, capinfos says {}",
                e.rel, s.stats.records, e.pkts
            ));
        }
        if s.stats.total() != s.stats.records {
            failures.push(format!(
                "{}: buckets sum to {} of {} records",
                e.rel,
                s.stats.total(),
                s.stats.records
            ));
        }
        let expect_error = e.rel == "suricata-verify/malformed/file_corrupt_record_header.pcap";
        if outcome.error.is_some() != expect_error {
            failures.push(format!(
                "{}: unexpected error state {:?}",
                e.rel, outcome.error
            ));
        }
        let expected_format = match e.ftype.as_str() {
            "pcapng" => "pcapng",
            _ => "pcap",
        };
        if !s.format.describe().starts_with(expected_format) {
            failures.push(format!(
                "{}: format {} but manifest says {}",
                e.rel,
                s.format.describe(),
                e.ftype
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn read(rel: &str) -> Option<capture::ReadOutcome> {
    let dir = common::data_dir()?;
    Some(capture::read_file(&dir.join(rel), |_| {}).unwrap())
}

fn malformed(o: &capture::ReadOutcome) -> BTreeMap<(Layer, &'static str), u64> {
    o.summary.stats.malformed.clone()
}

#[test]
fn corrupt_record_header_keeps_the_six_records_before_it() {
    let Some(o) = read("suricata-verify/malformed/file_corrupt_record_header.pcap") else {
        return;
    };
    assert_eq!(o.summary.stats.records, 6);
    assert_eq!(o.summary.stats.decoded, 6);
    let err = o.error.unwrap();
    let msg = err.to_string();
    assert!(
        matches!(err, CaptureError::CorruptRecord { record: 7, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("4325376") && msg.contains("byte offset"),
        "{msg}"
    );
}

#[test]
fn documented_outcomes_of_malformed_and_odd_link_type_files() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let get = |rel: &str| capture::read_file(&dir.join(rel), |_| {}).unwrap().summary;

    // Headers cut or lying.
    let s = get("zeek/malformed/ip4_trunc.pcap");
    assert_eq!(s.stats.truncated.get(&Layer::Ipv4), Some(&1));
    let s = get("tcpdump/malformed/ipv4_invalid_hdr_length.pcap");
    assert_eq!(
        s.stats
            .malformed
            .get(&(Layer::Ipv4, "header length (IHL) below 5")),
        Some(&1)
    );
    let s = get("suricata-verify/malformed/tcp_udp_too_small.pcap");
    let tcp: u64 = s
        .stats
        .malformed
        .iter()
        .filter(|((l, _), _)| *l == Layer::Tcp)
        .map(|(_, n)| n)
        .sum();
    let udp: u64 = s
        .stats
        .malformed
        .iter()
        .filter(|((l, _), _)| *l == Layer::Udp)
        .map(|(_, n)| n)
        .sum();
    assert_eq!((tcp, udp), (2, 4));
    let s = get("zeek/malformed/tcp_truncated_header.pcap");
    assert_eq!(s.stats.truncated.get(&Layer::Tcp), Some(&1));
    assert_eq!(s.stats.decoded, 23);
    let s = get("tcpdump/malformed/LINKTYPE_IPV4_invalid.pcap");
    assert_eq!(
        s.stats
            .malformed
            .get(&(Layer::Ipv4, "version field is not 4")),
        Some(&1)
    );
    // BIG TCP: IPv4 total length 0 with a >64 KB frame is decoded.
    let s = get("tcpdump/malformed/bigtcp_ipv4_jumbo.pcap");
    assert_eq!(s.stats.decoded, 1);
    // Bad checksums are not our business: decoded.
    assert_eq!(
        get("zeek/malformed/ip4_tcp_bad_checksum.pcap")
            .stats
            .decoded,
        1
    );
    // The header-only files are empty and fine.
    assert_eq!(
        get("suricata-verify/malformed/empty_header_only.pcap")
            .stats
            .records,
        0
    );
    assert_eq!(get("tcpdump/malformed/empty.pcapng").stats.records, 0);
    // IPv6 fragments: later fragments are their own bucket.
    assert!(
        get("zeek/benign/ipv6_fragmented_dns.pcap")
            .stats
            .non_first_fragment
            > 0
    );

    // Link types we decode.
    for (rel, lt) in [
        (
            "suricata-verify/linktypes/linktype228_raw_ipv4.pcap",
            228u32,
        ),
        ("suricata-verify/linktypes/linux_sll2_small.pcap", 276),
        ("tcpdump/linktypes/LINKTYPE_RAW_ipv6.pcap", 101),
        ("tcpdump/linktypes/null_bsd_loopback_quic.pcap", 0),
        ("tcpdump/linktypes/linux_sll_mptcp.pcap", 113),
        ("tcpdump/linktypes/nanosecond_pcap_tcp_handshake.pcap", 113),
        ("suricata-verify/linktypes/pppoe_session_http.pcap", 1),
        ("suricata-verify/linktypes/vlan_triple_tagged_icmp.pcap", 1),
        ("zeek/linktypes/qinq.pcap", 1),
        ("zeek/linktypes/http_vlan0.pcap", 1),
    ] {
        let s = get(rel);
        assert_eq!(
            s.link_types.keys().copied().collect::<Vec<_>>(),
            vec![lt],
            "{rel}"
        );
        assert!(s.stats.decoded > 0, "{rel}: nothing decoded: {:?}", s.stats);
        assert!(
            s.stats.malformed.is_empty() && s.stats.truncated.is_empty(),
            "{rel}: {:?}",
            s.stats
        );
    }
    // PPPoE and the triple VLAN stack decode every packet.
    let s = get("suricata-verify/linktypes/pppoe_session_http.pcap");
    assert_eq!(s.stats.decoded, s.stats.records);
    let s = get("suricata-verify/linktypes/vlan_triple_tagged_icmp.pcap");
    assert_eq!(s.stats.decoded, 2);
    // Link types we count but do not decode.
    for (rel, lt) in [
        ("zeek/linktypes/nflog_http.pcap", 239u32),
        ("zeek/linktypes/radiotap_80211.pcap", 127),
        ("tcpdump/linktypes/cisco_hdlc.pcap", 104),
    ] {
        let s = get(rel);
        assert_eq!(
            s.stats.unsupported_link.get(&lt),
            Some(&s.stats.records),
            "{rel}"
        );
    }
    // ARP-only capture: everything is non-IP 0x0806.
    let s = get("zeek/linktypes/linux_sll_arp.pcap");
    assert_eq!(s.stats.non_ip.get(&0x0806), Some(&12));
    // Ethernet loopback test frames.
    let s = get("tcpdump/linktypes/loopback_ether.pcap");
    assert_eq!(s.stats.non_ip.get(&0x9000), Some(&6));
    // Nanosecond timestamps keep their nanoseconds.
    let s = get("tcpdump/linktypes/nanosecond_pcap_tcp_handshake.pcap");
    assert_ne!(s.first_ts_ns.unwrap() % 1000, 0);
    // Several pcapng interfaces.
    let s = get("zeek/linktypes/pcapng_multi_interface.pcapng");
    assert_eq!(s.stats.records, 6);
    // A pcapng file named .pcap and a modified-libpcap file.
    let s = get("doh-tunnel-onetwogleb/doh_tunnel_benign_and_malicious.pcap");
    assert!(matches!(
        s.format,
        capture::Format::Pcap { modified: true, .. }
    ));
    let _ = malformed;
    let _ = Drop::NonFirstFragment;
}
