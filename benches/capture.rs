//! Capture-layer throughput: read + decode of a generated 1.2 M-packet
//! capture (mixed IPv4/IPv6, TCP/UDP, VLAN-tagged share, payloads 0-1400 B)
//! from the page cache, and decode alone on in-memory frames.
//!
//! `cargo bench --bench capture`. The capture is written once to
//! `$TMPDIR/maximus-bench-capture.pcap` (its path is printed) so that the
//! same file can be timed with `maximus-sim inspect`, `cat` and `capinfos`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::PacketBuilder;
use maximus_sim::capture::writer::PcapWriter;
use maximus_sim::capture::{CaptureReader, RecordMeta, decode, read_packets};
use std::hint::black_box;
use std::io::BufWriter;
use std::path::PathBuf;

const PACKETS: usize = 1_200_000;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// One packet of a random flow among 100 k.
fn frame(rng: &mut Rng, buf: &mut Vec<u8>) {
    buf.clear();
    let r = rng.next();
    let flow = (r % 100_000) as u32;
    let v6 = flow.is_multiple_of(5);
    let tcp = !flow.is_multiple_of(3);
    let plen = [0usize, 0, 40, 120, 512, 1400][(r >> 20) as usize % 6];
    let payload = [0x5au8; 1400];
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let a = flow.to_be_bytes();
    let sport = 1024 + (flow % 60_000) as u16;
    let dport = [80u16, 443, 53, 22, 8080][flow as usize % 5];
    macro_rules! l4 {
        ($ip:expr) => {
            if tcp {
                $ip.tcp(sport, dport, r as u32, 64_240)
                    .ack((r >> 32) as u32)
                    .psh()
                    .write(buf, &payload[..plen])
                    .unwrap()
            } else {
                $ip.udp(sport, dport).write(buf, &payload[..plen]).unwrap()
            }
        };
    }
    if v6 {
        let mut s = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        s[12..].copy_from_slice(&a);
        let d = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        l4!(eth.ipv6(s, d, 64));
    } else if flow.is_multiple_of(7) {
        l4!(eth
            .single_vlan(etherparse::VlanId::try_new(42).unwrap())
            .ipv4([10, a[1], a[2], a[3]], [192, 168, 0, 1], 64));
    } else {
        l4!(eth.ipv4([10, a[1], a[2], a[3]], [192, 168, 0, 1], 64));
    }
}

fn capture_path() -> PathBuf {
    let path = std::env::temp_dir().join("maximus-bench-capture.pcap");
    if !path.exists() {
        let tmp = path.with_extension("tmp");
        let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
        let mut w = PcapWriter::new(out, 1, 65_535, false).unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut buf = Vec::with_capacity(1600);
        for i in 0..PACKETS {
            frame(&mut rng, &mut buf);
            w.write_packet(
                1_700_000_000_000_000_000 + i as i64 * 10_000,
                &buf,
                buf.len() as u32,
            )
            .unwrap();
        }
        w.finish().unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    eprintln!("bench capture: {} ({} packets)", path.display(), PACKETS);
    path
}

fn read_decode(c: &mut Criterion) {
    let path = capture_path();
    let mut g = c.benchmark_group("capture");
    g.sample_size(10);
    g.throughput(Throughput::Elements(PACKETS as u64));
    g.bench_function("read_decode_1.2M_pkts", |b| {
        b.iter(|| {
            let mut r = CaptureReader::open(&path).unwrap();
            let mut bytes = 0u64;
            let o = read_packets(&mut r, |p| bytes += u64::from(p.payload_len), |_| {});
            assert_eq!(o.summary.stats.decoded, PACKETS as u64);
            black_box(bytes)
        })
    });
    g.bench_function("read_only_1.2M_records", |b| {
        b.iter(|| {
            let mut r = CaptureReader::open(&path).unwrap();
            let mut n = 0u64;
            while let Some(rec) = r.next_record().unwrap() {
                n += u64::from(rec.meta.cap_len);
            }
            black_box(n)
        })
    });

    let mut rng = Rng(7);
    // 2,000 distinct frames (~1 MB, cache-resident) decoded 50 times each:
    // the decoder's cost without the memory traffic of a file.
    let frames: Vec<Vec<u8>> = (0..2_000)
        .map(|_| {
            let mut v = Vec::new();
            frame(&mut rng, &mut v);
            v
        })
        .collect();
    g.throughput(Throughput::Elements(50 * frames.len() as u64));
    g.bench_function("decode_only_100k_frames", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for (i, f) in frames.iter().cycle().take(50 * frames.len()).enumerate() {
                let meta = RecordMeta {
                    ts_ns: i as i64,
                    index: i as u64,
                    interface: 0,
                    cap_len: f.len() as u32,
                    wire_len: f.len() as u32,
                    link_type: 1,
                };
                if let Ok(p) = decode(&meta, f) {
                    n += u64::from(p.src_port);
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, read_decode);
criterion_main!(benches);
