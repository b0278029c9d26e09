//! `maximus-sim synth`: a traffic spec -> capture + labels + timeline.

use super::{CliError, exit};
use crate::synth::{self, CaptureFormat, Overrides, SynthError};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// The traffic spec (TOML): hosts and subnets, benign background,
    /// attack campaigns. `datasets/quickstart/spec.toml` documents every key.
    pub spec: PathBuf,
    /// Output folder: gets traffic.pcap (or .pcapng), labels.csv and
    /// timeline.json.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Seed of every random choice [default: the spec's capture.seed, else 0].
    /// Same spec and seed give byte-identical files.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Multiply subnet host counts, benign rates and attack rates/counts:
    /// the same spec makes a 10 MB or a 10 GB capture.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub scale: Option<u32>,
    /// Capture format [default: the spec's capture.format, else pcap].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Pcap,
    Pcapng,
}

pub fn run(args: &SynthArgs) -> Result<i32, CliError> {
    let ov = Overrides {
        seed: args.seed,
        scale: args.scale,
        format: args.format.map(|f| match f {
            FormatArg::Pcap => CaptureFormat::Pcap,
            FormatArg::Pcapng => CaptureFormat::PcapNg,
        }),
    };
    let code = |e: &SynthError| match e {
        SynthError::Read { .. } => exit::NO_INPUT,
        SynthError::Spec { .. } => exit::DATA_ERR,
        SynthError::Write { .. } => exit::IO_ERR,
    };
    let spec =
        synth::load_spec(&args.spec, ov).map_err(|e| CliError::new(code(&e), e.to_string()))?;
    let bar = if !args.quiet && std::io::stderr().is_terminal() {
        let b = ProgressBar::new(spec.duration_us.max(1) as u64);
        let style = ProgressStyle::with_template(
            "synth [{elapsed_precise}] {wide_bar} capture time {percent}% {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        b.set_style(style);
        b
    } else {
        ProgressBar::hidden()
    };
    let t0 = spec.start_us;
    let started = std::time::Instant::now();
    let mut progress = |t: i64, packets: u64| {
        bar.set_position((t - t0).max(0) as u64);
        bar.set_message(format!("{packets} packets"));
    };
    let (paths, tl) = synth::generate(&spec, &args.output, &mut progress)
        .map_err(|e| CliError::new(code(&e), e.to_string()))?;
    bar.finish_and_clear();
    if !args.quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "wrote {} ({} packets, {} bytes), {} ({} flows), {} in {secs:.2} s",
            paths.capture.display(),
            tl.total.packets,
            tl.total.bytes,
            paths.labels.display(),
            tl.total.flows,
            paths.timeline.display()
        );
        eprintln!(
            "  {:<28} {:>10} {:>12} {:>14}",
            "label", "flows", "packets", "bytes"
        );
        for (label, c) in &tl.labels {
            eprintln!(
                "  {label:<28} {:>10} {:>12} {:>14}",
                c.flows, c.packets, c.bytes
            );
        }
    }
    Ok(exit::OK)
}
