//! `CaptureError` (fatal: the file cannot be read further) and `Truncation`
//! (a note: the file ended inside a record; everything before it was read).

use serde::Serialize;
use std::fmt;
use std::io;

/// Why a capture could not be opened or read to its end.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: cannot open: {source}")]
    Open { path: String, source: io::Error },

    #[error("{path}: empty {}file (0 bytes): expected a pcap or pcapng capture", if *.compressed { "gzip-decompressed " } else { "" })]
    Empty { path: String, compressed: bool },

    #[error(
        "{path}: not a capture file: it starts with bytes {magic}; expected pcap (d4 c3 b2 a1, 4d 3c b2 a1, 34 cd b2 a1 or reversed), pcapng (0a 0d 0d 0a) or gzip (1f 8b)"
    )]
    NotCapture { path: String, magic: String },

    #[error("{path}: bad {format} file header: {reason}")]
    Header {
        path: String,
        format: &'static str,
        reason: String,
    },

    #[error(
        "{path}: corrupt record at byte offset {offset} (record #{record}): {reason}; the {} records before it were read", .record - 1
    )]
    CorruptRecord {
        path: String,
        offset: u64,
        /// 1-based number of the bad record.
        record: u64,
        reason: String,
    },

    #[error("{path}: read error at byte offset {offset}: {source}")]
    Io {
        path: String,
        offset: u64,
        source: io::Error,
    },
}

impl CaptureError {
    /// True when the input could not be found or opened (exit code 66).
    pub fn is_missing_input(&self) -> bool {
        matches!(self, CaptureError::Open { .. })
    }

    /// True for an I/O failure while reading (exit code 74).
    pub fn is_io(&self) -> bool {
        matches!(self, CaptureError::Io { .. })
    }
}

/// The file ended in the middle of a record: every record before it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Truncation {
    /// Byte offset where the incomplete record starts.
    pub offset: u64,
    /// 1-based number of the incomplete record.
    pub record: u64,
    /// Bytes of it present in the file.
    pub have: u64,
    /// Bytes its header claims, when the header itself was complete.
    pub need: Option<u64>,
}

impl fmt::Display for Truncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "file cut short at byte offset {}: record #{} has only {} bytes",
            self.offset, self.record, self.have
        )?;
        if let Some(need) = self.need {
            write!(f, " of {need}")?;
        }
        write!(f, "; the {} records before it were read", self.record - 1)
    }
}
