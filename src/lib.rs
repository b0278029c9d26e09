//! maximus-sim: an offline, deterministic network-defence analyzer and simulator.
//!
//! Data flows one way: packets -> flows -> scores -> simulated events -> reports.
//! The modules follow that order; each imports only the stages before it and
//! only [`cli`] sees them all.
//!
//! - [`capture`]: pcap/pcapng files -> decoded packets and per-reason counts.
//! - [`flow`]: decoded packets -> bidirectional flows -> CICFlowMeter feature rows.
//! - [`dataset`]: feature tables and ground truth (`labels.csv` and its join).
//! - [`model`]: feature tables -> trained detectors, scores and evaluations.
//! - [`synth`]: a traffic spec -> a labelled capture (pcap + labels + timeline).
//! - [`hint`]: cache prefetch hints for the hot loops.
//! - [`rng`]: seeded, named random streams shared by the stages.
//! - [`cli`]: the `maximus-sim` command line and its exit codes.
//!
//! Reading a capture:
//!
//! ```
//! use maximus_sim::capture;
//! # let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/quickstart/sample.pcap");
//! let mut tcp = 0;
//! let outcome = capture::read_file(&path, |p| if p.protocol == 6 { tcp += 1 }).unwrap();
//! assert!(outcome.error.is_none());
//! assert_eq!(outcome.summary.stats.total(), outcome.summary.stats.records);
//! assert!(tcp > 0);
//! ```

pub mod capture;
pub mod cli;
pub mod config;
pub mod dataset;
pub mod flow;
pub mod hint;
pub mod model;
mod outfile;
pub mod rng;
pub mod synth;
