//! Capture layer: pcap/pcapng files -> decoded [`PacketRepr`]s + [`DecodeStats`].
//!
//! Takes a path (or `-` for stdin, or any `Read`); gives a stream of owned
//! `PacketRepr`s and, per file, a [`FileSummary`] in which every packet record
//! landed in exactly one `DecodeStats` bucket (decoded, non-IP, unsupported
//! link type, truncated, malformed, non-first fragment), so that
//! `stats.total() == stats.records`.
//!
//! - [`reader`]: container formats, streaming with a fixed buffer.
//! - [`decode`]: link, IP and transport headers -> `PacketRepr` or a drop reason.
//! - [`stats`]: the buckets.
//! - [`writer`]: pcap and pcapng writers (for tests, benches and `synth`).
//! - [`dedup`]: optional duplicate-frame filter (identical bytes within a window).
//!
//! Invariants: no input makes this module panic, loop forever or allocate
//! more than [`reader::MAX_RECORD_LEN`] for one record.

pub mod decode;
pub mod dedup;
pub mod error;
pub mod packet;
pub mod reader;
pub mod stats;
pub mod writer;

pub use decode::{RecordMeta, decode, linktype};
pub use dedup::Dedup;
pub use error::{CaptureError, Truncation};
pub use packet::{FragmentInfo, PacketRepr, TcpFlags, ip_proto};
pub use reader::{CaptureReader, Format, Record};
pub use stats::{DecodeStats, Drop, Layer};

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What reading one capture found.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub path: String,
    pub format: Format,
    pub compressed: bool,
    /// Records by LINKTYPE_* number.
    pub link_types: BTreeMap<u32, u64>,
    pub stats: DecodeStats,
    /// Sum of captured lengths of all records.
    pub captured_bytes: u64,
    /// Sum of on-the-wire lengths of all records.
    pub wire_bytes: u64,
    /// Earliest and latest record timestamps (ns since the epoch); records
    /// without a timestamp (pcapng SPB) are left out.
    pub first_ts_ns: Option<i64>,
    pub last_ts_ns: Option<i64>,
    /// Records whose timestamp is earlier than the one before.
    pub out_of_order: u64,
    /// Set when the file ended inside a record.
    pub truncation: Option<Truncation>,
    /// Bytes of the (decompressed) stream read.
    pub stream_bytes: u64,
}

impl FileSummary {
    fn new(reader: &CaptureReader) -> FileSummary {
        FileSummary {
            path: reader.name().to_string(),
            format: reader.format(),
            compressed: reader.compressed(),
            link_types: BTreeMap::new(),
            stats: DecodeStats::default(),
            captured_bytes: 0,
            wire_bytes: 0,
            first_ts_ns: None,
            last_ts_ns: None,
            out_of_order: 0,
            truncation: None,
            stream_bytes: 0,
        }
    }

    /// Duration between first and last timestamp, in nanoseconds.
    pub fn duration_ns(&self) -> Option<i64> {
        Some(self.last_ts_ns?.saturating_sub(self.first_ts_ns?))
    }
}

/// The result of reading a capture to its end or to its first fatal error.
#[derive(Debug)]
pub struct ReadOutcome {
    pub summary: FileSummary,
    /// A fatal error that stopped reading; `summary` covers every record before it.
    pub error: Option<CaptureError>,
}

/// Options of [`read_packets_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Drop a record whose bytes equal a record at most this many
    /// nanoseconds earlier, counting it in `DecodeStats::duplicate`; 0 = off.
    pub dedup_window_ns: i64,
}

/// Read every record of `reader`, decode it, count it, and hand each decoded
/// packet to `on_packet`. `on_progress` is called every 64 Ki records with the
/// bytes consumed so far.
pub fn read_packets(
    reader: &mut CaptureReader,
    on_packet: impl FnMut(&PacketRepr),
    on_progress: impl FnMut(u64),
) -> ReadOutcome {
    read_packets_with(reader, ReadOptions::default(), on_packet, on_progress)
}

/// [`read_packets`] with options (the duplicate filter).
pub fn read_packets_with(
    reader: &mut CaptureReader,
    opts: ReadOptions,
    mut on_packet: impl FnMut(&PacketRepr),
    mut on_progress: impl FnMut(u64),
) -> ReadOutcome {
    let mut dedup = (opts.dedup_window_ns > 0).then(|| Dedup::new(opts.dedup_window_ns));
    let mut s = FileSummary::new(reader);
    let mut last_lt = u32::MAX;
    let mut lt_count = 0u64;
    let mut prev_ts = i64::MIN;
    let error = loop {
        let rec = match reader.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        let m = rec.meta;
        s.captured_bytes += u64::from(m.cap_len);
        s.wire_bytes += u64::from(m.wire_len);
        if m.link_type != last_lt {
            if lt_count > 0 {
                *s.link_types.entry(last_lt).or_default() += lt_count;
            }
            last_lt = m.link_type;
            lt_count = 0;
        }
        lt_count += 1;
        {
            if m.ts_ns < prev_ts {
                s.out_of_order += 1;
            }
            prev_ts = m.ts_ns;
            s.first_ts_ns = Some(s.first_ts_ns.map_or(m.ts_ns, |f| f.min(m.ts_ns)));
            s.last_ts_ns = Some(s.last_ts_ns.map_or(m.ts_ns, |l| l.max(m.ts_ns)));
        }
        if let Some(d) = &mut dedup
            && d.is_duplicate(m.ts_ns, rec.data)
        {
            s.stats.record(Err(Drop::Duplicate));
            continue;
        }
        let outcome = if m.link_type == reader::NO_INTERFACE {
            Err(Drop::Malformed(
                Layer::Record,
                "packet refers to an undefined interface",
            ))
        } else {
            decode(&m, rec.data)
        };
        match outcome {
            Ok(p) => {
                s.stats.record(Ok((p.ip_version, p.protocol)));
                on_packet(&p);
            }
            Err(d) => s.stats.record(Err(d)),
        }
        if m.index & 0xffff == 0xffff {
            on_progress(reader.bytes_consumed());
        }
    };
    if lt_count > 0 {
        *s.link_types.entry(last_lt).or_default() += lt_count;
    }
    s.truncation = reader.truncation().cloned();
    s.stream_bytes = reader.bytes_consumed();
    ReadOutcome { summary: s, error }
}

/// Open `path` and read it with [`read_packets`]; an error opening the file
/// is returned as is.
pub fn read_file(
    path: &Path,
    on_packet: impl FnMut(&PacketRepr),
) -> Result<ReadOutcome, CaptureError> {
    let mut reader = CaptureReader::open(path)?;
    Ok(read_packets(&mut reader, on_packet, |_| {}))
}
