//! Flow-layer throughput on a generated capture of 1.5 M packets in 100 k
//! flows (70 % TCP, 30 % UDP, IPv4 over Ethernet, 200 s of traffic):
//!
//! - `flow_table/<profile>`: the flow table alone, fed pre-decoded
//!   `PacketRepr`s from memory, rows packed but not formatted;
//! - `csv_format/<profile>`: the packed rows of that run formatted as CSV
//!   (to `io::sink`);
//! - `end_to_end/<profile>/threads=<n>`: `maximus-sim flows` as the binary
//!   runs it (read + decode + flow table + CSV to a file in `$TMPDIR`).
//!
//! Throughput is in packets (elements), rows/s for `csv_format`.
//!
//! `cargo bench --bench flows [-- FILTER]`. The capture is generated once,
//! from a fixed seed, to `$TMPDIR/maximus-bench-flows.pcap` (its path is
//! printed) so that the same file can be timed with the binary, `perf` or
//! `valgrind --tool=callgrind`.
//!
//! The traffic: every flow has its own client (10.x.y.z, ephemeral port) and
//! one of 512 servers (192.168.x.y); flows start uniformly over the capture.
//! TCP flows: SYN, SYN-ACK, ACK, a request, then server segments with a client
//! ACK after every second one, then FIN-ACK / ACK / FIN-ACK / ACK; 85 % answer
//! within a round trip of 0.2-50 ms, 15 % think for 0.3-8 s between exchanges
//! (active/idle periods, subflows). UDP flows: 1-8 request/response pairs
//! (DNS-like single pairs most often) a few seconds apart; they never close,
//! so they end by timeout or at the end of the input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::PacketBuilder;
use maximus_sim::capture::writer::PcapWriter;
use maximus_sim::capture::{CaptureReader, PacketRepr, read_packets};
use maximus_sim::cli::{Cli, Command};
use maximus_sim::flow::csv::CsvWriter;
use maximus_sim::flow::{FlowExtractor, PackedRecord, Profile, TzOffset};
use std::hint::black_box;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// The binary's allocator, so that `end_to_end` measures what it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PACKETS: usize = 1_500_000;
const FLOWS: usize = 100_000;
/// Share of TCP flows, per mille.
const TCP_PER_MILLE: u64 = 700;
/// Flows start uniformly over this many µs.
const SPAN_US: i64 = 200_000_000;
const BASE_US: i64 = 1_700_000_000_000_000;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// What one flow sends, decided before any packet is written.
struct Plan {
    tcp: bool,
    client: [u8; 4],
    server: [u8; 4],
    sport: u16,
    dport: u16,
    /// TCP: data packets between handshake and teardown; UDP: packet count (even).
    n: u32,
    start_us: i64,
    rtt_us: i64,
    /// Pause between request/response exchanges (µs).
    think_us: i64,
}

impl Plan {
    fn packets(&self) -> u32 {
        if self.tcp { 3 + self.n + 4 } else { self.n }
    }
}

fn plans(rng: &mut Rng) -> Vec<Plan> {
    let mut plans: Vec<Plan> = (0..FLOWS)
        .map(|i| {
            let tcp = rng.range(0, 1000) < TCP_PER_MILLE;
            let c = i as u32 + 1;
            let client = [10, (c >> 16) as u8, (c >> 8) as u8, c as u8];
            let s = rng.range(0, 512) as u16;
            let server = [192, 168, (s >> 8) as u8, s as u8];
            let sport = rng.range(32_768, 61_000) as u16;
            let rtt_us = rng.range(200, 50_000) as i64;
            let (n, dport, think_us) = if tcp {
                let slow = rng.range(0, 100) < 15;
                let think = if slow {
                    rng.range(300_000, 8_000_000) as i64
                } else {
                    0
                };
                (
                    rng.range(2, 28) as u32,
                    [80, 443, 443, 22, 8080][rng.range(0, 5) as usize],
                    think,
                )
            } else {
                let pairs = if rng.range(0, 100) < 60 {
                    1
                } else {
                    rng.range(2, 9) as u32
                };
                (
                    2 * pairs,
                    [53, 53, 123, 443, 5353][rng.range(0, 5) as usize],
                    rng.range(100_000, 4_000_000) as i64,
                )
            };
            Plan {
                tcp,
                client,
                server,
                sport,
                dport,
                n,
                start_us: rng.range(0, SPAN_US as u64) as i64,
                rtt_us,
                think_us,
            }
        })
        .collect();
    // Adjust TCP data packets one at a time until the total is exact.
    let mut total: i64 = plans.iter().map(|p| i64::from(p.packets())).sum();
    let mut i = 0;
    while total != PACKETS as i64 {
        let p = &mut plans[i % FLOWS];
        if p.tcp {
            if total < PACKETS as i64 {
                p.n += 1;
                total += 1;
            } else if p.n > 2 {
                p.n -= 1;
                total -= 1;
            }
        }
        i += 1;
    }
    plans
}

/// A 64-bit mix of (flow, packet index), for per-packet sizes and gaps.
fn mix(flow: u32, k: u32) -> u64 {
    let mut x = (u64::from(flow) << 32 | u64::from(k)) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

/// Direction, TCP flags and payload of packet `k` of a flow. `true` = client
/// to server.
fn shape(p: &Plan, flow: u32, k: u32) -> (bool, u8, usize) {
    const FIN: u8 = 1;
    const SYN: u8 = 2;
    const PSH: u8 = 8;
    const ACK: u8 = 16;
    let h = mix(flow, k);
    if !p.tcp {
        let req = k.is_multiple_of(2);
        let len = if req {
            [32, 40, 48, 64, 120][h as usize % 5]
        } else {
            [48, 96, 180, 300, 512, 1200][h as usize % 6]
        };
        return (req, 0, len);
    }
    let data_end = 3 + p.n;
    match k {
        0 => (true, SYN, 0),
        1 => (false, SYN | ACK, 0),
        2 => (true, ACK, 0),
        k if k < data_end => {
            let j = k - 3;
            if j == 0 || (p.think_us > 0 && j.is_multiple_of(6)) {
                (true, PSH | ACK, [80, 200, 350, 600][h as usize % 4])
            } else if j % 3 == 2 {
                (true, ACK, 0)
            } else {
                (
                    false,
                    ACK | if j % 3 == 1 { PSH } else { 0 },
                    [100, 536, 1000, 1448, 1448][h as usize % 5],
                )
            }
        }
        k if k == data_end => (true, FIN | ACK, 0),
        k if k == data_end + 1 => (false, ACK, 0),
        k if k == data_end + 2 => (false, FIN | ACK, 0),
        _ => (true, ACK, 0),
    }
}

/// Gap (µs) before packet `k` (k > 0) of a flow.
fn gap(p: &Plan, flow: u32, k: u32) -> i64 {
    let h = mix(flow, k ^ 0x8000_0000);
    let half = (p.rtt_us / 2).max(1);
    if !p.tcp {
        return if k.is_multiple_of(2) {
            p.think_us + (h % 1000) as i64
        } else {
            p.rtt_us
        };
    }
    if k <= 3 || k > 3 + p.n {
        return half;
    }
    let j = k - 3;
    if p.think_us > 0 && j.is_multiple_of(6) {
        p.think_us + (h % 10_000) as i64
    } else {
        // Server segments back to back, ACKs half a round trip later.
        1 + (h % half as u64) as i64
    }
}

/// Write the capture to `path`.
fn generate(path: &Path) {
    let mut rng = Rng(0x5eed_f10e_2026_0001);
    let plans = plans(&mut rng);
    // (timestamp, flow, packet index), sorted: the capture order.
    let mut order: Vec<(i64, u32, u32)> = Vec::with_capacity(PACKETS);
    for (f, p) in plans.iter().enumerate() {
        let mut ts = p.start_us;
        for k in 0..p.packets() {
            if k > 0 {
                ts += gap(p, f as u32, k);
            }
            order.push((ts, f as u32, k));
        }
    }
    assert_eq!(order.len(), PACKETS);
    order.sort_unstable();
    let tmp = path.with_extension("tmp");
    let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
    let mut w = PcapWriter::new(out, 1, 65_535, false).unwrap();
    // Next sequence number of each side.
    let mut seq: Vec<[u32; 2]> = (0..FLOWS)
        .map(|f| [mix(f as u32, 0xffff) as u32, mix(f as u32, 0xfffe) as u32])
        .collect();
    let payload = [0x5au8; 1448];
    let mut buf = Vec::with_capacity(1600);
    for &(ts, f, k) in &order {
        let p = &plans[f as usize];
        let (c2s, flags, len) = shape(p, f, k);
        let (src, dst, sp, dp) = if c2s {
            (p.client, p.server, p.sport, p.dport)
        } else {
            (p.server, p.client, p.dport, p.sport)
        };
        buf.clear();
        let ip =
            PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(src, dst, 64);
        if p.tcp {
            let me = usize::from(!c2s);
            let s = &mut seq[f as usize];
            let mut t = ip.tcp(sp, dp, s[me], 64_240 - (f % 1024) as u16);
            if flags & 2 != 0 {
                t = t.syn();
            }
            if flags & 16 != 0 {
                t = t.ack(s[1 - me]);
            }
            if flags & 8 != 0 {
                t = t.psh();
            }
            if flags & 1 != 0 {
                t = t.fin();
            }
            t.write(&mut buf, &payload[..len]).unwrap();
            let consumed = len as u32 + u32::from(flags & 3 != 0);
            s[me] = s[me].wrapping_add(consumed);
        } else {
            ip.udp(sp, dp).write(&mut buf, &payload[..len]).unwrap();
        }
        w.write_packet((BASE_US + ts) * 1000, &buf, buf.len() as u32)
            .unwrap();
    }
    w.finish().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn capture_path() -> PathBuf {
    let path = std::env::temp_dir().join("maximus-bench-flows.pcap");
    if !path.exists() {
        generate(&path);
    }
    eprintln!(
        "bench capture: {} ({PACKETS} packets, {FLOWS} flows)",
        path.display()
    );
    path
}

fn decoded(path: &Path) -> Vec<PacketRepr> {
    let mut r = CaptureReader::open(path).unwrap();
    let mut v = Vec::with_capacity(PACKETS);
    let o = read_packets(&mut r, |p| v.push(p.clone()), |_| {});
    assert!(o.error.is_none());
    assert_eq!(v.len(), PACKETS);
    v
}

/// The flow table over `pkts`, taking rows as the binary does (packed).
fn extract(profile: Profile, pkts: &[PacketRepr]) -> Vec<PackedRecord> {
    let mut x = FlowExtractor::new(profile, TzOffset::UTC).unwrap();
    let mut rows = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        x.push(p);
        if i % 256 == 255 {
            x.take_ready_packed(|r| rows.push(r));
        }
    }
    let stats = x.finish_packed(|r| rows.push(r)).unwrap();
    assert!(stats.is_balanced());
    rows
}

fn flows(c: &mut Criterion) {
    let path = capture_path();
    let pkts = decoded(&path);

    let mut g = c.benchmark_group("flow_table");
    g.sample_size(10);
    g.throughput(Throughput::Elements(PACKETS as u64));
    for profile in Profile::ALL {
        g.bench_function(profile.name(), |b| {
            b.iter(|| black_box(extract(profile, &pkts).len()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("csv_format");
    g.sample_size(10);
    for profile in Profile::ALL {
        let rows = extract(profile, &pkts);
        g.throughput(Throughput::Elements(rows.len() as u64));
        g.bench_function(profile.name(), |b| {
            b.iter(|| {
                let mut w = CsvWriter::new(std::io::sink(), profile).unwrap();
                for r in &rows {
                    w.write_packed(r).unwrap();
                }
                black_box(w.rows())
            })
        });
    }
    g.finish();
    drop(pkts);

    let out = std::env::temp_dir().join("maximus-bench-flows.csv");
    let mut g = c.benchmark_group("end_to_end");
    g.sample_size(10);
    g.throughput(Throughput::Elements(PACKETS as u64));
    for profile in Profile::ALL {
        for threads in ["1", "2"] {
            let argv = [
                "maximus-sim".as_ref(),
                "flows".as_ref(),
                "--profile".as_ref(),
                profile.name().as_ref(),
                "--threads".as_ref(),
                threads.as_ref(),
                "-o".as_ref(),
                out.as_os_str(),
                path.as_os_str(),
            ];
            let Command::Flows(args) = Cli::try_parse_from(argv).unwrap().command else {
                unreachable!("a flows command line");
            };
            let name = format!("{}/threads={threads}", profile.name());
            g.bench_function(name, |b| {
                b.iter(|| assert_eq!(maximus_sim::cli::flows::run(&args).unwrap(), 0))
            });
        }
    }
    g.finish();
    let _ = std::fs::remove_file(&out);
}

criterion_group!(benches, flows);
criterion_main!(benches);
