//! Generator throughput: `synth` on the bench spec (`datasets/bench/spec.toml`,
//! a 40 s slice of it) written to memory and to a file in `$TMPDIR`, one
//! thread. Throughput is in packets.
//!
//! `cargo bench --bench synth`. For a multi-GB capture use the binary:
//! `maximus-sim synth datasets/bench/spec.toml --scale 20 -o /tmp/bench-gen`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use maximus_sim::synth::{self, Overrides, SynthSpec};
use std::io::{self, Write};
use std::path::Path;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Counts bytes, keeps nothing.
struct Count(u64);
impl Write for Count {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn spec() -> SynthSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/bench/spec.toml");
    let mut s = synth::load_spec(&path, Overrides::default()).unwrap();
    s.duration_us = s.duration_us.min(40_000_000);
    s
}

fn bench(c: &mut Criterion) {
    let s = spec();
    let (_, _, tl) =
        synth::generate_to(&s, Count(0), Count(0), &mut |_t: i64, _n: u64| {}).unwrap();
    eprintln!(
        "bench synth: {} packets, {} bytes, {} flows",
        tl.total.packets, tl.total.bytes, tl.total.flows
    );
    let mut g = c.benchmark_group("synth");
    g.sample_size(10);
    g.throughput(Throughput::Elements(tl.total.packets));
    g.bench_function("generate_to_memory", |b| {
        b.iter(|| {
            synth::generate_to(&s, Count(0), Count(0), &mut |_t: i64, _n: u64| {})
                .unwrap()
                .0
                .0
        })
    });
    let dir = std::env::temp_dir().join("maximus-bench-synth");
    g.bench_function("generate_to_file", |b| {
        b.iter(|| {
            synth::generate(&s, &dir, &mut |_t: i64, _n: u64| {})
                .unwrap()
                .1
                .total
                .packets
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
