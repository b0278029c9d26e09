//! Damage real captures (cut them anywhere, flip bits, overwrite bytes) and
//! read them: never a panic or an endless loop, buckets always sum to the
//! records read, and a file cut at byte n yields exactly the complete records
//! before n. This is the in-suite stand-in for the `fuzz/` target.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use maximus_sim::capture::{CaptureReader, read_packets};
use proptest::prelude::*;
use std::sync::OnceLock;

/// Small real captures of every container kind (empty when the datasets are absent).
fn corpus() -> &'static Vec<(String, Vec<u8>)> {
    static CORPUS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let Some(dir) = common::data_dir() else {
            return Vec::new();
        };
        [
            "suricata-verify/benign/ssh_handshake.pcap",
            "zeek/linktypes/pcapng_multi_interface.pcapng",
            "tcpdump/linktypes/nanosecond_pcap_tcp_handshake.pcap",
            "suricata-verify/linktypes/pppoe_session_http.pcap",
            "pcapng-test-generator/output_be/basic/test010.pcapng",
            "pcapng-test-generator/output_le/basic/test013.pcapng",
            "suricata-verify/malformed/ipv6_malformed_fragments_1.pcap",
            "tcpreplay/benign/tcpreplay_test_mixed.pcap",
        ]
        .iter()
        .filter_map(|rel| Some((rel.to_string(), std::fs::read(dir.join(rel)).ok()?)))
        .collect()
    })
}

/// Read `bytes` fully; returns (records, decoded, had_error).
fn read(bytes: Vec<u8>) -> Option<(u64, u64, bool)> {
    let mut r = CaptureReader::from_reader("damaged", std::io::Cursor::new(bytes)).ok()?;
    let o = read_packets(&mut r, |_| {}, |_| {});
    assert_eq!(o.summary.stats.total(), o.summary.stats.records);
    Some((
        o.summary.stats.records,
        o.summary.stats.decoded,
        o.error.is_some(),
    ))
}

/// Byte offsets at which each record of an intact capture ends.
fn record_ends(bytes: &[u8]) -> Vec<u64> {
    let mut r = CaptureReader::from_reader("intact", std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut ends = Vec::new();
    while r.next_record().unwrap().is_some() {
        ends.push(r.bytes_consumed());
    }
    ends
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_cut_yields_the_complete_records_before_it(pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>()) {
        let corpus = corpus();
        if corpus.is_empty() { return Ok(()); }
        let (name, bytes) = &corpus[pick.index(corpus.len())];
        let cut = at.index(bytes.len() + 1);
        let ends = record_ends(bytes);
        let complete = ends.iter().filter(|e| **e <= cut as u64).count() as u64;
        // A pcapng cut may also drop non-packet blocks; records are what we count.
        if let Some((records, _, err)) = read(bytes[..cut].to_vec()) {
            prop_assert!(!err, "{name} cut at {cut} gave an error");
            prop_assert_eq!(records, complete, "{} cut at {}", name, cut);
        }
    }

    #[test]
    fn bit_flips_and_overwrites_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 1..16),
    ) {
        let corpus = corpus();
        if corpus.is_empty() { return Ok(()); }
        let (_, bytes) = &corpus[pick.index(corpus.len())];
        let mut b = bytes.clone();
        for (at, val, flip) in edits {
            let i = at.index(b.len());
            if flip { b[i] ^= 1 << (val % 8) } else { b[i] = val }
        }
        let _ = read(b);
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        ng in any::<bool>(),
        tail in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut b = if ng {
            let corpus = corpus();
            match corpus.iter().find(|(n, _)| n.ends_with(".pcapng")) {
                Some((_, bytes)) => bytes[..28].to_vec(),
                None => return Ok(()),
            }
        } else {
            let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
            h.extend_from_slice(&[0; 8]);
            h.extend_from_slice(&65535u32.to_le_bytes());
            h.extend_from_slice(&1u32.to_le_bytes());
            h
        };
        b.extend_from_slice(&tail);
        let _ = read(b);
    }
}

/// Inputs that once crashed the fuzz target (`tests/fixtures/regressions/`).
#[test]
fn fuzz_regressions_read_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = read(bytes);
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}
