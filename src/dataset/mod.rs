//! Datasets: feature tables and their ground truth.
//!
//! Takes flow rows from [`crate::flow`], flow CSVs (ours and the public
//! CIC ones) and label files; gives labelled rows and feature tables.
//!
//! - [`labels`]: the `labels.csv` format `synth` writes and the join that
//!   labels extracted flows;
//! - [`table`]: flow CSVs -> canonical feature matrix + labels, with a
//!   report of every non-finite cell and repaired label;
//! - [`batch`]: the same, batch by batch, and scored rows out (CSV or
//!   Parquet) for files larger than memory.

pub mod batch;
pub mod labels;
pub mod table;

/// Errors reading datasets and label files.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Labels {
        path: String,
        line: usize,
        message: String,
    },
}

impl DatasetError {
    /// True when the file is missing or unreadable (exit 66), not malformed.
    pub fn is_missing_input(&self) -> bool {
        matches!(self, DatasetError::Open { .. })
    }
}
