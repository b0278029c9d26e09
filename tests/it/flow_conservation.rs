//! Conservation on every shared capture: each decoded packet is counted once
//! in `FlowStats` (written flow, unwritten one-packet flow, or skipped by
//! reason), the written rows carry exactly the packets the counters say, and
//! rows come out in flow-start order; three flow-table threads give the same
//! rows and counters as one.
//!
//! The data folder is `$MAXIMUS_DATA_DIR` or `<crate>/../shared/datasets`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::data_dir;
use maximus_sim::capture::{CaptureReader, read_packets};
use maximus_sim::flow::{FlowExtractor, FlowParams, Profile, TzOffset, shard};
use std::path::{Path, PathBuf};

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            captures(&p, out);
        } else if [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz"]
            .iter()
            .any(|e| name.ends_with(e))
        {
            out.push(p);
        }
    }
}

#[test]
fn every_packet_is_counted_once_on_every_shared_capture() {
    let Some(dir) = data_dir() else { return };
    let mut files = Vec::new();
    captures(&dir, &mut files);
    assert!(!files.is_empty());
    let mut checked = 0;
    for path in &files {
        for profile in Profile::ALL {
            let Ok(mut reader) = CaptureReader::open(path) else {
                continue;
            };
            let mut x = FlowExtractor::new(profile, TzOffset::UTC).unwrap();
            let mut rows = Vec::new();
            let outcome = read_packets(
                &mut reader,
                |p| {
                    x.push(p);
                    x.take_ready(&mut rows);
                },
                |_| {},
            );
            let stats = x.finish(&mut rows);
            let name = path.display();
            assert_eq!(stats.packets, outcome.summary.stats.decoded, "{name}");
            assert!(stats.is_balanced(), "{name}: {stats:?}");
            assert_eq!(rows.len() as u64, stats.flows_written, "{name}");
            // Tot Fwd Pkts + Tot Bwd Pkts (columns 9 and 10) over all rows.
            let in_rows: f64 = rows
                .iter()
                .map(|r| r.number(8).unwrap() + r.number(9).unwrap())
                .sum();
            assert_eq!(in_rows as u64, stats.packets_in_written_flows, "{name}");
            if outcome.summary.out_of_order == 0 {
                assert!(
                    rows.windows(2).all(|w| w[0].start_us <= w[1].start_us),
                    "{name}: rows out of start order"
                );
                assert_eq!(stats.late_after_expiry, 0, "{name}");
            }
            // Three flow-table threads: the same rows and counters.
            let mut packets = Vec::new();
            if let Ok(mut reader) = CaptureReader::open(path) {
                read_packets(&mut reader, |p| packets.push(p.clone()), |_| {});
            }
            let mut sharded = Vec::new();
            let params = FlowParams::new(profile);
            let ((), sharded_stats) = shard::extract_sharded(
                params,
                3,
                |sink| packets.iter().for_each(sink),
                |r| sharded.push(r),
            )
            .unwrap();
            let mut a = stats.clone();
            let mut b = sharded_stats;
            a.rows_out_of_order = 0;
            b.rows_out_of_order = 0;
            assert_eq!(a, b, "{name}: sharded counters differ");
            if stats.rows_out_of_order == 0 && sharded != rows {
                let i = rows.iter().zip(&sharded).position(|(x, y)| x != y);
                panic!(
                    "{name} {profile}: sharded rows differ ({} vs {} rows, first at {i:?}: {:?} vs {:?})",
                    rows.len(),
                    sharded.len(),
                    i.map(|i| (&rows[i].values, rows[i].start_us)),
                    i.map(|i| (&sharded[i].values, sharded[i].start_us)),
                );
            }
            checked += 1;
        }
    }
    eprintln!("checked {checked} (capture, profile) pairs");
    assert!(checked > 0);
}
