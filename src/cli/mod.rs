//! Command line: argument parsing (clap), one file per subcommand, exit codes.
//!
//! Takes `std::env::args`; gives an exit code from [`exit`]. The only module
//! that sees every stage. A panic anywhere is reported as an internal error
//! and exits with [`exit::INTERNAL`].

pub mod exit;
pub mod flows;
pub mod inspect;
pub mod model;
pub mod synth;
mod util;

use clap::{Parser, Subcommand};
use std::fmt;

/// maximus-sim: offline, deterministic network-defence analyzer and simulator.
#[derive(Debug, Parser)]
#[command(name = "maximus-sim", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe captures (like capinfos) and show where every packet record went.
    Inspect(inspect::InspectArgs),
    /// Extract CICFlowMeter-compatible bidirectional flow features as CSV.
    Flows(flows::FlowsArgs),
    /// Generate labelled traffic from a spec: a capture, labels.csv, timeline.json.
    Synth(synth::SynthArgs),
    /// Train a detector (rf, dt, lr, nb, or the kmeans anomaly baseline) on labelled flow features.
    Train(model::TrainArgs),
    /// Evaluate a model on labelled flow features: metrics.json + metrics.md.
    Eval(model::EvalArgs),
    /// Grid or random search over hyperparameters: a table sorted by a metric.
    Sweep(model::SweepArgs),
    /// Score flow features with a model: predicted class, confidence, attack score.
    Score(model::ScoreArgs),
    /// Panic on purpose, to test the internal-error path (exit 70).
    #[command(hide = true, name = "debug-panic")]
    DebugPanic,
}

/// An error with its exit code, printed once by [`main`].
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Install the panic hook that reports a bug and exits 70.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("maximus-sim: internal error{location}: {payload}");
        eprintln!("this is a bug in maximus-sim; please report it with the command line and input");
        std::process::exit(exit::INTERNAL);
    }));
}

/// Parse arguments, run the subcommand, return the process exit code.
pub fn main() -> i32 {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("maximus-sim: error: {e}");
            e.code
        }
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Flows(args) => flows::run(&args),
        Command::Synth(args) => synth::run(&args),
        Command::Train(args) => model::train(&args),
        Command::Eval(args) => model::eval(&args),
        Command::Score(args) => model::score(&args),
        Command::Sweep(args) => model::sweep(&args),
        Command::DebugPanic => panic!("debug-panic requested"),
    }
}
