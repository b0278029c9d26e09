//! `FlowError`: what can go wrong configuring the flow extractor or writing its output.

use std::io;
use thiserror::Error;

/// Errors of the flow layer. Bad packets are never errors here: they are
/// counted by reason in [`super::FlowStats`].
#[derive(Debug, Error)]
pub enum FlowError {
    #[error("unknown flow profile `{given}`: expected one of cic2017, cic2018, engelen, corrected")]
    UnknownProfile { given: String },

    #[error(
        "flow profile `{profile}` is not implemented yet: use --profile cic2017, cic2018 or engelen"
    )]
    ProfileNotImplemented { profile: &'static str },

    #[error(
        "invalid time-zone offset `{given}`: expected a fixed UTC offset ±HH:MM between -23:59 and +23:59 (e.g. -03:00, +05:30) or UTC"
    )]
    BadTimezone { given: String },

    #[error("invalid {name} {value}: expected a positive number of seconds (e.g. {name} 120)")]
    BadTimeout { name: &'static str, value: f64 },

    #[error(
        "cannot write flows to {target}: {source}; check that the destination is writable and the disk is not full"
    )]
    Write {
        target: String,
        #[source]
        source: io::Error,
    },

    #[error(
        "cannot use the temporary row file {path}: {source}; check that the temporary directory (TMPDIR) is writable and has room, or raise --spill-mb"
    )]
    Spill {
        path: String,
        #[source]
        source: io::Error,
    },

    #[error("cannot write Parquet: {0}")]
    Parquet(String),
}
