//! Streaming capture reader: a file, gzip stream or stdin -> packet records.
//!
//! Takes any `Read`; detects the container by its magic number (never by the
//! file name): legacy pcap in both byte orders with microsecond, nanosecond
//! and "modified" (Kuznetzov) magic, pcapng (several sections, several
//! interfaces with their own link types and time resolutions, EPB/SPB/OPB
//! blocks), and either of them gzip-compressed. Gives one [`Record`] at a time,
//! borrowed from a fixed buffer (256 KiB for pcap, 1 MiB for pcapng, grown
//! only for a legitimately large record, never beyond [`MAX_RECORD_LEN`]), so
//! memory stays flat whatever the file size.
//!
//! A legacy pcap in a regular file ([`CaptureReader::open`]) is parsed in
//! place from a read-only map of the file instead: no copy into a buffer,
//! the pages ahead mapped a window at a time and prefetched, the pages
//! behind handed back to the kernel in steps of 8 MiB (so memory stays flat
//! too). Past the end of the map the file is read on with `read`, so a file
//! that grew since it was opened is read to its new end. The one thing a map
//! cannot survive is another process cutting the file shorter while it is
//! read: the process then dies of SIGBUS instead of reporting a truncation
//! (stdin, `-`, reads such a file through the buffer).
//! The map and its release are `unsafe` code, allowed in this module only
//! (and in [`crate::hint`]).
//!
//! Damage: a file cut short ends the stream cleanly and leaves a
//! [`Truncation`] note with the byte offset; a corrupt record header (a length
//! no capture tool writes) is an error naming the byte offset and record
//! number, after every earlier record has been returned. Byte offsets of a
//! gzip-compressed capture are offsets in the decompressed stream.

use super::decode::RecordMeta;
use super::error::{CaptureError, Truncation};
use flate2::read::MultiGzDecoder;
use nom::IResult;
use pcap_parser::pcap::{
    LegacyPcapBlock, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified,
    parse_pcap_header,
};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, PcapNGReader};
use serde::Serialize;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Initial reader buffer.
const BUFFER_LEN: usize = 1 << 20;
/// Initial buffer of the legacy pcap loop, which grows it for a large
/// record: 256 KiB stays in the L2 cache between the read that fills it and
/// the decode that reads it (read + decode measured ~10% faster than 1 MiB).
const LEGACY_BUFFER_LEN: usize = 1 << 18;
/// Largest record or block we accept (Wireshark accepts 256 KiB for most link
/// types; we allow a larger snap length up to this).
pub const MAX_RECORD_LEN: usize = 16 << 20;
/// Records up to this size are always accepted, whatever the header's snaplen.
const STANDARD_MAX_RECORD: usize = 262_144;
/// Link type given to a pcapng packet whose interface was never described.
pub const NO_INTERFACE: u32 = u32::MAX;

/// The container format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Pcap {
        big_endian: bool,
        nanosecond: bool,
        modified: bool,
    },
    Pcapng,
}

impl Format {
    /// Short human description, e.g. `pcap (microsecond, little-endian)`.
    pub fn describe(&self) -> String {
        match self {
            Format::Pcap {
                big_endian,
                nanosecond,
                modified,
            } => format!(
                "pcap ({}{}, {})",
                if *modified { "modified libpcap, " } else { "" },
                if *nanosecond {
                    "nanosecond"
                } else {
                    "microsecond"
                },
                if *big_endian {
                    "big-endian"
                } else {
                    "little-endian"
                }
            ),
            Format::Pcapng => "pcapng".to_string(),
        }
    }
}

/// One packet record, borrowed from the reader's buffer until the next call.
#[derive(Debug)]
pub struct Record<'a> {
    pub meta: RecordMeta,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: u32,
    snaplen: u32,
    /// Time units per second.
    resolution: u64,
    /// Seconds added to every timestamp.
    offset_s: i64,
}

#[derive(Debug)]
enum Kind {
    Legacy {
        link_type: u32,
        snaplen: u32,
        nanosecond: bool,
        big_endian: bool,
        modified: bool,
    },
    Ng {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Legacy pcap: our own buffer loop around pcap-parser's header and frame
/// parsers. pcap-parser's `LegacyPcapReader` does the same through a boxed
/// iterator and a large block enum; this path is the hot one, and measured
/// about 100 instructions a record cheaper.
struct LegacySource {
    input: Box<dyn Read + Send>,
    buf: Buffer,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// Stream offset of `buf[0]`.
    base: u64,
    parse: LegacyParseFn,
    /// Record header length (16, or 24 for the modified format).
    hdr: usize,
    /// `buf` is prefetched up to here (see [`PREFETCH_AHEAD`]).
    prefetched: usize,
}

type LegacyParseFn =
    for<'a> fn(&'a [u8]) -> IResult<&'a [u8], LegacyPcapBlock<'a>, PcapError<&'a [u8]>>;

/// The bytes a legacy source parses: its own buffer, refilled by `read`,
/// or a read-only map of the file, parsed in place (no copy).
enum Buffer {
    Owned(Vec<u8>),
    Mapped(Mapping),
}

impl std::ops::Deref for Buffer {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Buffer::Owned(v) => v,
            Buffer::Mapped(m) => &m.map,
        }
    }
}

/// A map of a whole regular file as it was when opened.
struct Mapping {
    map: memmap2::Mmap,
    /// Pages before this offset were handed back to the kernel.
    released: usize,
}

/// The parser sees a mapped file in windows of this size: each window
/// end is a refill, which maps the next window's pages in one call and
/// releases the pages already parsed.
const MAP_WINDOW: usize = 4 << 20;
/// Parsed pages of a map are released in steps of at least this many bytes,
/// so that a mapped file adds at most about this much to the resident set.
const MAP_RELEASE: usize = 8 << 20;

/// Every line of a capture is prefetched this far ahead of its parse.
const PREFETCH_AHEAD: usize = 8192;

impl Mapping {
    /// Give back the pages wholly before `offset` once they make a step
    /// (they stay in the page cache; only this process's mapping goes).
    fn release_before(&mut self, offset: usize) {
        let upto = offset & !(MAP_RELEASE - 1);
        if upto <= self.released {
            return;
        }
        #[cfg(unix)]
        #[allow(unsafe_code)]
        // SAFETY: no slice into `[released, upto)` is alive: records are
        // borrowed from the reader only until its next call, and every
        // record before `offset` has been returned. The map is read-only
        // and file-backed, so a later access would read the file again.
        unsafe {
            let _ = self.map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                self.released,
                upto - self.released,
            );
        }
        self.released = upto;
    }

    /// Map `[from, to)` now, in one call instead of one fault per few pages.
    fn populate(&self, from: usize, to: usize) {
        #[cfg(target_os = "linux")]
        if to > from {
            let _ = self
                .map
                .advise_range(memmap2::Advice::PopulateRead, from, to - from);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (from, to);
    }
}

impl LegacySource {
    /// Parse the file header at the start of the buffer: set the record
    /// parser and skip the header.
    fn header(&mut self, name: &str) -> Result<Kind, CaptureError> {
        let header_err = |reason: String| CaptureError::Header {
            path: name.to_string(),
            format: "pcap",
            reason,
        };
        let h = match parse_pcap_header(&self.buf[..self.end]) {
            Ok((_, h)) => h,
            Err(nom::Err::Incomplete(_)) => {
                return Err(header_err(format!(
                    "the file ends inside the 24-byte header ({} bytes)",
                    self.end
                )));
            }
            Err(_) => return Err(header_err("header not recognised".into())),
        };
        self.start = h.size();
        if h.is_modified_format() {
            self.parse = parse_pcap_frame_modified;
            self.hdr = 24;
        } else if h.is_bigendian() {
            self.parse = parse_pcap_frame_be;
        }
        Ok(Kind::Legacy {
            // Bits 16-31 of the field carry FCS information, not the link type.
            link_type: (h.network.0 as u32) & 0xffff,
            snaplen: h.snaplen,
            nanosecond: h.is_nanosecond_precision(),
            big_endian: h.is_bigendian(),
            modified: h.is_modified_format(),
        })
    }

    /// Make room for at least `need` unread bytes and read more; sets `eof`
    /// when the stream gave nothing. A mapped source moves its window on;
    /// at the end of the map it goes on reading the file with `read` (the
    /// file may have grown since it was mapped, or end inside a record).
    fn refill(&mut self, need: usize) -> io::Result<()> {
        if let Buffer::Mapped(m) = &mut self.buf {
            let len = m.map.len();
            if self.end < len {
                m.release_before(self.start);
                let end = (self.end.max(self.start + need) + MAP_WINDOW).min(len);
                m.populate(self.end, end);
                self.end = end;
                return Ok(());
            }
            let mut rest = m.map[self.start..self.end].to_vec();
            rest.resize(rest.len().max(LEGACY_BUFFER_LEN), 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
            self.buf = Buffer::Owned(rest);
        }
        let Buffer::Owned(buf) = &mut self.buf else {
            return Ok(());
        };
        self.prefetched = 0;
        buf.copy_within(self.start..self.end, 0);
        self.base += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        if need > buf.len() {
            buf.resize(need, 0);
        }
        let n = self.input.read(&mut buf[self.end..])?;
        self.eof = n == 0;
        self.end += n;
        Ok(())
    }
}

enum Source {
    Legacy(LegacySource),
    Ng(Box<dyn PcapReaderIterator + Send>),
}

/// A streaming reader of pcap/pcapng records.
pub struct CaptureReader {
    name: String,
    source: Source,
    kind: Kind,
    /// Largest record accepted (from the snap length).
    max_record: usize,
    compressed: bool,
    io_error: Arc<Mutex<Option<io::Error>>>,
    /// Bytes of the record returned last, consumed at the next call.
    pending: usize,
    records: u64,
    truncation: Option<Truncation>,
    done: bool,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

/// Reads until `buf` is full or the source ends, so that pcap-parser's
/// "a read of 0 bytes means end of file" holds for pipes and decoders, and
/// keeps the last I/O error for the message.
struct FillReader<R> {
    inner: R,
    prefix: Vec<u8>,
    prefix_pos: usize,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl<R: Read> Read for FillReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        if self.prefix_pos < self.prefix.len() {
            let rest = &self.prefix[self.prefix_pos..];
            let k = rest.len().min(buf.len());
            buf[..k].copy_from_slice(&rest[..k]);
            self.prefix_pos += k;
            n = k;
        }
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if n > 0 {
                        // Report the bytes we have; the error comes back on the next read.
                        break;
                    }
                    let kind = e.kind();
                    let msg = e.to_string();
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(e);
                    }
                    return Err(io::Error::new(kind, msg));
                }
            }
        }
        Ok(n)
    }
}

/// Read up to 4 bytes; fewer only at end of stream.
fn read_magic(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match r.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(magic[..n].to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn pcap_err(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::Eof => "unexpected end of file".into(),
        PcapError::BufferTooSmall => "block larger than the read buffer".into(),
        PcapError::UnexpectedEof | PcapError::Incomplete(_) => "file ends inside the header".into(),
        PcapError::ReadError => "read error".into(),
        PcapError::HeaderNotRecognized => "header not recognised".into(),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("invalid structure ({kind:?})")
        }
    }
}

impl CaptureReader {
    /// Open a capture file, or standard input when `path` is `-`.
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        if path.as_os_str() == "-" {
            return CaptureReader::from_reader("<stdin>", io::stdin());
        }
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| CaptureError::Open {
            path: name.clone(),
            source,
        })?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(CaptureError::Open {
                path: name,
                source: io::Error::other("is a directory"),
            });
        }
        match CaptureReader::open_mapped(&name, file) {
            Ok(reader) => Ok(reader),
            Err(file) => CaptureReader::from_reader(&name, file),
        }
    }

    /// A legacy pcap in a regular file, parsed in place through a read-only
    /// map; gives the file back, unread, for anything else (pcapng, gzip,
    /// a damaged header: the stream path reads and reports those) or when
    /// the file cannot be mapped.
    #[allow(unsafe_code)]
    fn open_mapped(name: &str, mut file: File) -> Result<CaptureReader, File> {
        let len = match file.metadata() {
            Ok(m) if m.is_file() => m.len(),
            _ => return Err(file),
        };
        if len < 24 || usize::try_from(len).is_err() {
            return Err(file);
        }
        // SAFETY: the map is only read, as plain bytes. Another process
        // changing the file meanwhile changes what is read (as with
        // `read`); one cutting it shorter makes the pages past the new end
        // fault (SIGBUS), which the module documentation states.
        let Ok(map) = (unsafe { memmap2::Mmap::map(&file) }) else {
            return Err(file);
        };
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        let end = map.len().min(MAP_WINDOW);
        let mut src = LegacySource {
            input: Box::new(io::empty()),
            buf: Buffer::Mapped(Mapping { map, released: 0 }),
            start: 0,
            end,
            eof: false,
            base: 0,
            parse: parse_pcap_frame,
            hdr: 16,
            prefetched: 0,
        };
        let Ok(kind) = src.header(name) else {
            return Err(file);
        };
        if let Buffer::Mapped(m) = &src.buf {
            m.populate(0, end);
        }
        // Past the map, the file is read on (see `LegacySource::refill`).
        if file.seek(io::SeekFrom::Start(len)).is_err() {
            return Err(file);
        }
        let error = Arc::new(Mutex::new(None));
        src.input = Box::new(FillReader {
            inner: file,
            prefix: Vec::new(),
            prefix_pos: 0,
            error: Arc::clone(&error),
        });
        Ok(CaptureReader {
            name: name.to_string(),
            source: Source::Legacy(src),
            max_record: CaptureReader::max_record_for(&kind),
            kind,
            compressed: false,
            io_error: error,
            pending: 0,
            records: 0,
            truncation: None,
            done: false,
        })
    }

    /// Read a capture from any byte stream; `name` is used in messages.
    pub fn from_reader(
        name: &str,
        reader: impl Read + Send + 'static,
    ) -> Result<CaptureReader, CaptureError> {
        CaptureReader::detect(name, Box::new(reader), false)
    }

    fn detect(
        name: &str,
        mut reader: Box<dyn Read + Send>,
        compressed: bool,
    ) -> Result<CaptureReader, CaptureError> {
        let io_err = |source: io::Error| CaptureError::Io {
            path: name.to_string(),
            offset: 0,
            source,
        };
        let magic = read_magic(&mut reader).map_err(io_err)?;
        if magic.is_empty() {
            return Err(CaptureError::Empty {
                path: name.to_string(),
                compressed,
            });
        }
        if magic.starts_with(&[0x1f, 0x8b]) && !compressed {
            let stream = io::Cursor::new(magic).chain(reader);
            return CaptureReader::detect(name, Box::new(MultiGzDecoder::new(stream)), true);
        }
        let format = match magic.as_slice() {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] => "pcap",
            [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] => "pcap",
            [0x34, 0xcd, 0xb2, 0xa1] | [0xa1, 0xb2, 0xcd, 0x34] => "pcap",
            [0x0a, 0x0d, 0x0d, 0x0a] => "pcapng",
            _ => {
                return Err(CaptureError::NotCapture {
                    path: name.to_string(),
                    magic: hex(&magic),
                });
            }
        };
        let error = Arc::new(Mutex::new(None));
        let stream = FillReader {
            inner: reader,
            prefix: magic,
            prefix_pos: 0,
            error: Arc::clone(&error),
        };
        let header_err = |reason: String| CaptureError::Header {
            path: name.to_string(),
            format,
            reason,
        };
        let (source, kind) = if format == "pcapng" {
            let r = PcapNGReader::new(BUFFER_LEN, stream).map_err(|e| header_err(pcap_err(&e)))?;
            let kind = Kind::Ng {
                big_endian: false,
                interfaces: Vec::new(),
            };
            (Source::Ng(Box::new(r)), kind)
        } else {
            let mut src = LegacySource {
                input: Box::new(stream),
                buf: Buffer::Owned(vec![0; LEGACY_BUFFER_LEN]),
                start: 0,
                end: 0,
                eof: false,
                base: 0,
                parse: parse_pcap_frame,
                hdr: 16,
                prefetched: 0,
            };
            src.refill(0).map_err(|source| CaptureError::Io {
                path: name.to_string(),
                offset: 0,
                source,
            })?;
            let kind = src.header(name)?;
            (Source::Legacy(src), kind)
        };
        Ok(CaptureReader {
            name: name.to_string(),
            source,
            max_record: CaptureReader::max_record_for(&kind),
            kind,
            compressed,
            io_error: error,
            pending: 0,
            records: 0,
            truncation: None,
            done: false,
        })
    }

    /// Whether the records are parsed in place from a map of the file
    /// (a legacy pcap in a regular file) rather than read into a buffer.
    pub fn mapped(&self) -> bool {
        matches!(&self.source, Source::Legacy(s) if matches!(s.buf, Buffer::Mapped(_)))
    }

    /// Bytes at the start of a map already given back to the kernel.
    #[cfg(test)]
    fn map_released(&self) -> usize {
        match &self.source {
            Source::Legacy(LegacySource {
                buf: Buffer::Mapped(m),
                ..
            }) => m.released,
            _ => 0,
        }
    }

    /// The name used in messages (the path, or `<stdin>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The container format.
    pub fn format(&self) -> Format {
        match &self.kind {
            Kind::Legacy {
                nanosecond,
                big_endian,
                modified,
                ..
            } => Format::Pcap {
                big_endian: *big_endian,
                nanosecond: *nanosecond,
                modified: *modified,
            },
            Kind::Ng { .. } => Format::Pcapng,
        }
    }

    /// True when the stream was gzip-compressed.
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Bytes of the (decompressed) stream consumed so far.
    pub fn bytes_consumed(&self) -> u64 {
        let at = match &self.source {
            Source::Legacy(src) => src.base + src.start as u64,
            Source::Ng(ng) => ng.consumed() as u64,
        };
        at + self.pending as u64
    }

    /// Packet records returned so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Set when the file ended in the middle of a record.
    pub fn truncation(&self) -> Option<&Truncation> {
        self.truncation.as_ref()
    }

    fn max_record_for(kind: &Kind) -> usize {
        match kind {
            Kind::Legacy { snaplen, .. } => {
                (*snaplen as usize).clamp(STANDARD_MAX_RECORD, MAX_RECORD_LEN)
            }
            Kind::Ng { .. } => MAX_RECORD_LEN,
        }
    }

    /// The next packet record, `None` at the end of the stream (check
    /// [`CaptureReader::truncation`] then).
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, CaptureError> {
        if matches!(self.source, Source::Legacy(_)) {
            self.next_legacy()
        } else {
            self.next_ng()
        }
    }

    fn next_legacy(&mut self) -> Result<Option<Record<'_>>, CaptureError> {
        let Source::Legacy(src) = &mut self.source else {
            return Ok(None);
        };
        src.start += self.pending;
        self.pending = 0;
        if self.done {
            return Ok(None);
        }
        let Kind::Legacy {
            link_type,
            nanosecond,
            big_endian,
            ..
        } = self.kind
        else {
            return Ok(None);
        };
        loop {
            let avail = &src.buf[src.start..src.end];
            match (src.parse)(avail) {
                Ok((rest, b)) => {
                    let cap = b.caplen as usize;
                    let offset = src.base + src.start as u64;
                    if cap > self.max_record {
                        self.done = true;
                        let max = self.max_record;
                        return Err(corrupt(
                            &self.name,
                            self.records,
                            offset,
                            format!(
                                "its header claims a {cap}-byte packet, more than the {max}-byte limit"
                            ),
                        ));
                    }
                    let frac = i64::from(b.ts_usec);
                    let ts_ns = i64::from(b.ts_sec) * 1_000_000_000
                        + if nanosecond { frac } else { frac * 1000 };
                    let meta = RecordMeta {
                        ts_ns,
                        index: self.records,
                        interface: 0,
                        cap_len: b.caplen,
                        wire_len: b.origlen,
                        link_type,
                    };
                    self.pending = avail.len() - rest.len();
                    self.records += 1;
                    let from = src.start + src.hdr;
                    // Load a byte a page ahead, so that the first touch of
                    // each page of a map (a cache miss the hardware
                    // prefetcher leaves: it stops at page boundaries)
                    // overlaps this record's work instead of stalling a
                    // later parse.
                    let ahead = (from + PREFETCH_AHEAD).min(src.end);
                    while src.prefetched < ahead {
                        crate::hint::prefetch(src.buf.as_ptr().wrapping_add(src.prefetched));
                        src.prefetched += 64;
                    }
                    let data = src.buf.get(from..from + cap).unwrap_or(&[]);
                    return Ok(Some(Record { meta, data }));
                }
                Err(nom::Err::Incomplete(_)) => {
                    let offset = src.base + src.start as u64;
                    let word = avail.get(8..12).map(|w| {
                        let w = [w[0], w[1], w[2], w[3]];
                        if big_endian {
                            u32::from_be_bytes(w)
                        } else {
                            u32::from_le_bytes(w)
                        }
                    });
                    let need = word.map(|caplen| src.hdr + caplen as usize);
                    if let Some(caplen) = word
                        && caplen as usize > self.max_record
                    {
                        self.done = true;
                        let max = self.max_record;
                        return Err(corrupt(
                            &self.name,
                            self.records,
                            offset,
                            format!(
                                "its header claims a {caplen}-byte packet, more than the {max}-byte limit"
                            ),
                        ));
                    }
                    if src.eof {
                        self.done = true;
                        if !avail.is_empty() {
                            self.truncation = Some(Truncation {
                                offset,
                                record: self.records + 1,
                                have: avail.len() as u64,
                                need: need.map(|n| n as u64),
                            });
                        }
                        return Ok(None);
                    }
                    if let Err(source) = src.refill(need.unwrap_or(0)) {
                        self.done = true;
                        return Err(CaptureError::Io {
                            path: self.name.clone(),
                            offset,
                            source,
                        });
                    }
                }
                Err(_) => {
                    let offset = src.base + src.start as u64;
                    self.done = true;
                    return Err(corrupt(
                        &self.name,
                        self.records,
                        offset,
                        "invalid record header".into(),
                    ));
                }
            }
        }
    }

    fn next_ng(&mut self) -> Result<Option<Record<'_>>, CaptureError> {
        let Source::Ng(inner) = &mut self.source else {
            return Ok(None);
        };
        if self.pending > 0 {
            inner.consume_noshift(self.pending);
            self.pending = 0;
        }
        if self.done {
            return Ok(None);
        }
        let max_record = self.max_record;
        let mut stalls = 0u32;
        let (meta, start, len) = loop {
            let offset = inner.consumed() as u64;
            // pcap-parser computes `block_len - 12` unchecked for some block
            // types (an overflow panic in debug builds, found by fuzzing):
            // refuse a block length below the 12-byte minimum first.
            if let Kind::Ng { big_endian, .. } = &self.kind
                && let Some(b) = inner.data().get(0..8)
                && b[0..4] != [0x0a, 0x0d, 0x0d, 0x0a]
            {
                let w = [b[4], b[5], b[6], b[7]];
                let len = if *big_endian {
                    u32::from_be_bytes(w)
                } else {
                    u32::from_le_bytes(w)
                };
                if len < 12 {
                    self.done = true;
                    return Err(corrupt(
                        &self.name,
                        self.records,
                        offset,
                        format!("block length {len} is below the 12-byte minimum"),
                    ));
                }
            }
            match inner.next() {
                Ok((block_len, block)) => {
                    stalls = 0;
                    let index = self.records;
                    match (block, &mut self.kind) {
                        (
                            PcapBlockOwned::NG(block),
                            Kind::Ng {
                                big_endian,
                                interfaces,
                            },
                        ) => match block {
                            Block::SectionHeader(shb) => {
                                *big_endian = shb.big_endian();
                                interfaces.clear();
                                inner.consume_noshift(block_len);
                            }
                            Block::InterfaceDescription(idb) => {
                                interfaces.push(Interface {
                                    link_type: u32::from(idb.linktype.0 as u16),
                                    snaplen: idb.snaplen,
                                    resolution: idb
                                        .ts_resolution()
                                        .filter(|r| *r > 0)
                                        .unwrap_or(1_000_000),
                                    offset_s: idb.ts_offset(),
                                });
                                inner.consume_noshift(block_len);
                            }
                            Block::EnhancedPacket(epb) => {
                                let iface = interfaces.get(epb.if_id as usize).copied();
                                let cap = (epb.caplen as usize).min(epb.data.len());
                                let meta = ng_meta(
                                    iface,
                                    index,
                                    epb.if_id,
                                    epb.ts_high,
                                    epb.ts_low,
                                    cap,
                                    epb.origlen,
                                );
                                self.pending = block_len;
                                break (meta, 28, cap);
                            }
                            Block::SimplePacket(spb) => {
                                let iface = interfaces.first().copied();
                                let snap = iface.map_or(0, |i| i.snaplen as usize);
                                let mut cap = (spb.origlen as usize).min(spb.data.len());
                                if snap > 0 {
                                    cap = cap.min(snap);
                                }
                                let mut meta = ng_meta(iface, index, 0, 0, 0, cap, spb.origlen);
                                // SPBs carry no timestamp.
                                meta.ts_ns = 0;
                                self.pending = block_len;
                                break (meta, 12, cap);
                            }
                            Block::Unknown(ub)
                                if ub.block_type == 2 || ub.block_type == 0x0200_0000 =>
                            {
                                // Obsolete Packet Block: if_id(2) drops(2) ts_high(4) ts_low(4) caplen(4) len(4) data
                                let be = *big_endian;
                                let d = ub.data;
                                let u16_at = |at: usize| -> u16 {
                                    let b = [
                                        d.get(at).copied().unwrap_or(0),
                                        d.get(at + 1).copied().unwrap_or(0),
                                    ];
                                    if be {
                                        u16::from_be_bytes(b)
                                    } else {
                                        u16::from_le_bytes(b)
                                    }
                                };
                                let u32_at = |at: usize| -> u32 {
                                    let mut b = [0u8; 4];
                                    for (i, x) in b.iter_mut().enumerate() {
                                        *x = d.get(at + i).copied().unwrap_or(0);
                                    }
                                    if be {
                                        u32::from_be_bytes(b)
                                    } else {
                                        u32::from_le_bytes(b)
                                    }
                                };
                                if d.len() < 20 {
                                    self.done = true;
                                    return Err(corrupt(
                                        &self.name,
                                        self.records,
                                        offset,
                                        "obsolete packet block shorter than its header".into(),
                                    ));
                                }
                                let if_id = u32::from(u16_at(0));
                                let iface = interfaces.get(if_id as usize).copied();
                                let cap = (u32_at(12) as usize).min(d.len() - 20);
                                let meta = ng_meta(
                                    iface,
                                    index,
                                    if_id,
                                    u32_at(4),
                                    u32_at(8),
                                    cap,
                                    u32_at(16),
                                );
                                self.pending = block_len;
                                break (meta, 28, cap);
                            }
                            _ => inner.consume_noshift(block_len),
                        },
                        _ => {
                            self.done = true;
                            return Err(corrupt(
                                &self.name,
                                self.records,
                                offset,
                                "unexpected block for this file format".into(),
                            ));
                        }
                    }
                }
                Err(PcapError::Eof) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(PcapError::Incomplete(_)) => {
                    let before = inner.data().len();
                    if inner.refill().is_err() {
                        self.done = true;
                        return Err(read_error(&self.name, &self.io_error, offset));
                    }
                    if inner.data().len() == before && !inner.reader_exhausted() {
                        stalls += 1;
                        if stalls > 3 {
                            self.done = true;
                            return Err(corrupt(
                                &self.name,
                                self.records,
                                offset,
                                "reader made no progress".into(),
                            ));
                        }
                    }
                }
                Err(PcapError::UnexpectedEof) => {
                    self.done = true;
                    self.truncation = Some(Truncation {
                        offset,
                        record: self.records + 1,
                        have: inner.data().len() as u64,
                        need: peek_len(&self.kind, inner.data()).map(|(n, _)| n as u64),
                    });
                    return Ok(None);
                }
                Err(PcapError::BufferTooSmall) => {
                    let (need, claimed) =
                        peek_len(&self.kind, inner.data()).unwrap_or((usize::MAX, usize::MAX));
                    if need > max_record + 64 {
                        self.done = true;
                        return Err(corrupt(
                            &self.name,
                            self.records,
                            offset,
                            format!(
                                "its header claims a {claimed}-byte packet, more than the {max_record}-byte limit"
                            ),
                        ));
                    }
                    if !inner.grow(need + 4096) {
                        self.done = true;
                        return Err(corrupt(
                            &self.name,
                            self.records,
                            offset,
                            format!("cannot buffer a {need}-byte record"),
                        ));
                    }
                    if inner.refill().is_err() {
                        self.done = true;
                        return Err(read_error(&self.name, &self.io_error, offset));
                    }
                }
                Err(PcapError::ReadError) => {
                    self.done = true;
                    return Err(read_error(&self.name, &self.io_error, offset));
                }
                Err(e) => {
                    let reason = pcap_err(&e);
                    self.done = true;
                    return Err(corrupt(&self.name, self.records, offset, reason));
                }
            }
        };
        self.records += 1;
        let data = inner.data().get(start..start + len).unwrap_or(&[]);
        Ok(Some(Record { meta, data }))
    }
}

/// Length of the record or block at the front of the buffer, from its
/// header: (bytes the whole record takes, the length field's value).
fn peek_len(kind: &Kind, data: &[u8]) -> Option<(usize, usize)> {
    let word = |at: usize, be: bool| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    match kind {
        Kind::Legacy {
            big_endian,
            modified,
            ..
        } => {
            let hdr = if *modified { 24 } else { 16 };
            let caplen = word(8, *big_endian)? as usize;
            Some((hdr + caplen, caplen))
        }
        Kind::Ng { big_endian, .. } => {
            let len = word(4, *big_endian)? as usize;
            Some((len, len))
        }
    }
}

fn corrupt(name: &str, records: u64, offset: u64, reason: String) -> CaptureError {
    CaptureError::CorruptRecord {
        path: name.to_string(),
        offset,
        record: records + 1,
        reason,
    }
}

fn read_error(name: &str, slot: &Mutex<Option<io::Error>>, offset: u64) -> CaptureError {
    let source = slot
        .lock()
        .ok()
        .and_then(|mut slot| slot.take())
        .unwrap_or_else(|| io::Error::other("read failed"));
    CaptureError::Io {
        path: name.to_string(),
        offset,
        source,
    }
}

/// Record facts of a pcapng packet block; timestamps in the interface's units.
fn ng_meta(
    iface: Option<Interface>,
    index: u64,
    if_id: u32,
    ts_high: u32,
    ts_low: u32,
    cap: usize,
    origlen: u32,
) -> RecordMeta {
    let (link_type, ts_ns) = match iface {
        Some(i) => {
            let ts = (u64::from(ts_high) << 32) | u64::from(ts_low);
            let res = u128::from(i.resolution);
            let secs = i128::from(ts) / res as i128;
            let frac = u128::from(ts) % res;
            let ns = (secs + i128::from(i.offset_s)) * 1_000_000_000
                + (frac * 1_000_000_000 / res) as i128;
            (
                i.link_type,
                ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            )
        }
        None => (NO_INTERFACE, 0),
    };
    RecordMeta {
        ts_ns,
        index,
        interface: if_id,
        cap_len: u32::try_from(cap).unwrap_or(u32::MAX),
        wire_len: origlen,
        link_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureError;

    /// A minimal Ethernet/IPv4/UDP frame (46 bytes).
    fn frame(tag: u8) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, tag], [10, 0, 0, 99], 64)
            .udp(1000 + u16::from(tag), 53)
            .write(&mut v, &[tag; 4])
            .unwrap();
        v
    }

    fn u16b(v: u16, be: bool) -> [u8; 2] {
        if be { v.to_be_bytes() } else { v.to_le_bytes() }
    }
    fn u32b(v: u32, be: bool) -> [u8; 4] {
        if be { v.to_be_bytes() } else { v.to_le_bytes() }
    }

    /// Legacy pcap with the given magic (as a native u32) and byte order.
    fn pcap(magic: u32, be: bool, linktype: u32, recs: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let modified = magic == 0xa1b2_cd34;
        let mut v = Vec::new();
        v.extend_from_slice(&u32b(magic, be));
        v.extend_from_slice(&u16b(2, be));
        v.extend_from_slice(&u16b(4, be));
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&u32b(65535, be));
        v.extend_from_slice(&u32b(linktype, be));
        for (sec, frac, data) in recs {
            v.extend_from_slice(&u32b(*sec, be));
            v.extend_from_slice(&u32b(*frac, be));
            v.extend_from_slice(&u32b(data.len() as u32, be));
            v.extend_from_slice(&u32b(data.len() as u32 + 2, be));
            if modified {
                v.extend_from_slice(&[0; 8]);
            }
            v.extend_from_slice(data);
        }
        v
    }

    fn block(be: bool, ty: u32, body: &[u8]) -> Vec<u8> {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&u32b(ty, be));
        v.extend_from_slice(&u32b(len, be));
        v.extend_from_slice(body);
        v.extend_from_slice(&vec![0; pad]);
        v.extend_from_slice(&u32b(len, be));
        v
    }

    fn shb(be: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&u32b(0x1a2b_3c4d, be));
        b.extend_from_slice(&u16b(1, be));
        b.extend_from_slice(&u16b(0, be));
        b.extend_from_slice(&[0xff; 8]);
        block(be, 0x0a0d_0d0a, &b)
    }

    fn idb(be: bool, linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&u16b(linktype, be));
        b.extend_from_slice(&u16b(0, be));
        b.extend_from_slice(&u32b(0, be));
        if let Some(r) = tsresol {
            b.extend_from_slice(&u16b(9, be));
            b.extend_from_slice(&u16b(1, be));
            b.extend_from_slice(&[r, 0, 0, 0]);
            b.extend_from_slice(&[0; 4]); // opt_endofopt
        }
        block(be, 1, &b)
    }

    fn epb(be: bool, if_id: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&u32b(if_id, be));
        b.extend_from_slice(&u32b((ts >> 32) as u32, be));
        b.extend_from_slice(&u32b(ts as u32, be));
        b.extend_from_slice(&u32b(data.len() as u32, be));
        b.extend_from_slice(&u32b(data.len() as u32, be));
        b.extend_from_slice(data);
        block(be, 6, &b)
    }

    fn spb(be: bool, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&u32b(data.len() as u32, be));
        b.extend_from_slice(data);
        block(be, 3, &b)
    }

    fn opb(be: bool, if_id: u16, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&u16b(if_id, be));
        b.extend_from_slice(&u16b(0, be));
        b.extend_from_slice(&u32b((ts >> 32) as u32, be));
        b.extend_from_slice(&u32b(ts as u32, be));
        b.extend_from_slice(&u32b(data.len() as u32, be));
        b.extend_from_slice(&u32b(data.len() as u32, be));
        b.extend_from_slice(data);
        block(be, 2, &b)
    }

    type Records = Vec<(RecordMeta, Vec<u8>)>;

    /// Read every record: (meta, bytes), plus the reader for its notes.
    fn read_all(bytes: Vec<u8>) -> Result<(Records, CaptureReader), CaptureError> {
        let mut r = CaptureReader::from_reader("test", io::Cursor::new(bytes))?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push((rec.meta, rec.data.to_vec()));
        }
        Ok((out, r))
    }

    /// Read every record of a file through [`CaptureReader::open`], which
    /// maps a legacy pcap; also says whether it was mapped.
    fn read_path(path: &Path) -> Result<(Records, CaptureReader, bool), CaptureError> {
        let mut r = CaptureReader::open(path)?;
        let mapped = r.mapped();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push((rec.meta, rec.data.to_vec()));
        }
        Ok((out, r, mapped))
    }

    /// Records of 40..1600 bytes, each distinct.
    fn varied(n: u32) -> Vec<(u32, u32, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let len = 40 + (i as usize * 7919) % 1560;
                let data = (0..len).map(|j| (i as usize * 31 + j) as u8).collect();
                (1_600_000_000 + i / 1000, i % 1_000_000, data)
            })
            .collect()
    }

    #[test]
    fn mapped_files_read_like_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        // About 21 MB: records straddle several window ends and release steps.
        let big = varied(26_000);
        let small = varied(300);
        for (magic, be, recs) in [
            (0xa1b2_c3d4u32, false, &big),
            (0xa1b2_c3d4, true, &small),
            (0xa1b2_3c4d, false, &small),
            (0xa1b2_cd34, false, &small),
        ] {
            let raw = pcap(magic, be, 1, recs);
            std::fs::write(&path, &raw).unwrap();
            let (got, r, mapped) = read_path(&path).unwrap();
            assert!(mapped, "magic {magic:x} be {be}");
            let (want, _) = read_all(raw).unwrap();
            assert_eq!(got.len(), recs.len());
            assert!(got == want, "magic {magic:x} be {be}");
            assert_eq!(
                r.format(),
                CaptureReader::from_reader("t", io::Cursor::new(pcap(magic, be, 1, &[])))
                    .unwrap()
                    .format()
            );
            assert!(r.truncation().is_none());
        }
        // Parsed pages are given back as the reading goes on.
        std::fs::write(&path, pcap(0xa1b2_c3d4, false, 1, &big)).unwrap();
        let mut r = CaptureReader::open(&path).unwrap();
        let mut bytes = 0;
        while bytes < 17 << 20 {
            bytes += 16 + r.next_record().unwrap().unwrap().data.len();
        }
        assert!(r.map_released() >= MAP_RELEASE, "{}", r.map_released());
        // Not legacy pcap, or not a whole header: read as streams (pcapng,
        // gzip and the errors are the stream path's).
        let ng = [shb(false), idb(false, 1, None), epb(false, 0, 7, &frame(1))].concat();
        std::fs::write(&path, &ng).unwrap();
        let (got, _, mapped) = read_path(&path).unwrap();
        assert!(!mapped);
        assert_eq!(got.len(), 1);
        std::fs::write(&path, &pcap(0xa1b2_c3d4, false, 1, &[])[..20]).unwrap();
        let err = read_path(&path).unwrap_err().to_string();
        assert!(err.contains("24-byte header"), "{err}");
    }

    #[test]
    fn mapped_file_cut_short_is_noted_like_a_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        let raw = pcap(0xa1b2_c3d4, false, 1, &varied(6_000));
        // Cuts inside a record header and inside a record's bytes, past the
        // first map window.
        for cut in [raw.len() - 1, raw.len() - 30, raw.len() - 1590] {
            std::fs::write(&path, &raw[..cut]).unwrap();
            let (got, r, mapped) = read_path(&path).unwrap();
            assert!(mapped);
            let (want, s) = read_all(raw[..cut].to_vec()).unwrap();
            assert!(got == want, "cut {cut}");
            assert!(r.truncation().is_some(), "cut {cut}");
            assert_eq!(r.truncation(), s.truncation(), "cut {cut}");
        }
    }

    #[test]
    fn mapped_file_grown_after_opening_is_read_to_its_new_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        let recs = varied(5_000);
        let raw = pcap(0xa1b2_c3d4, false, 1, &recs);
        // Opened with 1000 whole records and half of the next one.
        let rec_end = |k: usize| 24 + recs[..k].iter().map(|r| 16 + r.2.len()).sum::<usize>();
        let first = rec_end(1000) + 20;
        std::fs::write(&path, &raw[..first]).unwrap();
        let mut r = CaptureReader::open(&path).unwrap();
        assert!(r.mapped());
        let mut got = Vec::new();
        while got.len() < 10 {
            let rec = r.next_record().unwrap().unwrap();
            got.push((rec.meta, rec.data.to_vec()));
        }
        // Another writer appends the rest, and half a record more.
        use std::io::Write;
        let mut more = raw[first..].to_vec();
        more.extend_from_slice(&raw[24..24 + 30]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&more)
            .unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            got.push((rec.meta, rec.data.to_vec()));
        }
        let (want, _) = read_all(raw.clone()).unwrap();
        assert_eq!(got.len(), recs.len());
        assert!(got == want);
        let t = r.truncation().unwrap();
        assert_eq!((t.offset, t.have), (raw.len() as u64, 30));
        assert_eq!(t.record, recs.len() as u64 + 1);
    }

    #[test]
    fn legacy_pcap_all_magics_and_byte_orders() {
        let recs = vec![
            (1_500_000_000, 250, frame(1)),
            (1_500_000_001, 999_999, frame(2)),
        ];
        for (magic, nanos) in [
            (0xa1b2_c3d4u32, false),
            (0xa1b2_3c4d, true),
            (0xa1b2_cd34, false),
        ] {
            for be in [false, true] {
                if magic == 0xa1b2_cd34 && be {
                    continue; // pcap-parser reads the modified format little-endian only
                }
                let (got, r) = read_all(pcap(magic, be, 1, &recs)).unwrap();
                assert_eq!(got.len(), 2, "magic {magic:x} be {be}");
                let scale = if nanos { 1 } else { 1000 };
                assert_eq!(got[0].0.ts_ns, 1_500_000_000 * 1_000_000_000 + 250 * scale);
                assert_eq!(
                    got[1].0.ts_ns,
                    1_500_000_001 * 1_000_000_000 + 999_999 * scale
                );
                assert_eq!(got[0].1, frame(1));
                assert_eq!(got[1].1, frame(2));
                assert_eq!(got[0].0.cap_len, 46);
                assert_eq!(got[0].0.wire_len, 48);
                assert_eq!((got[0].0.index, got[1].0.index), (0, 1));
                assert_eq!(got[0].0.link_type, 1);
                assert!(
                    matches!(r.format(), Format::Pcap { big_endian, nanosecond, modified }
                    if big_endian == be && nanosecond == nanos && modified == (magic == 0xa1b2_cd34))
                );
                assert!(r.truncation().is_none());
            }
        }
    }

    #[test]
    fn linktype_field_fcs_bits_are_masked() {
        let (got, _) =
            read_all(pcap(0xa1b2_c3d4, false, 0x3000_0001, &[(1, 0, frame(1))])).unwrap();
        assert_eq!(got[0].0.link_type, 1);
    }

    #[test]
    fn pcapng_sections_interfaces_resolutions_and_block_types() {
        for be in [false, true] {
            let mut f = shb(be);
            f.extend(idb(be, 1, None)); // if 0: Ethernet, microseconds
            f.extend(idb(be, 101, Some(9))); // if 1: raw IP, nanoseconds
            f.extend(epb(be, 0, 1_500_000_000_000_001, &frame(1)));
            f.extend(epb(be, 1, 1_500_000_000_000_000_002, &frame(2)[14..]));
            f.extend(spb(be, &frame(3)));
            f.extend(opb(be, 0, 1_600_000_000_000_000, &frame(4)));
            f.extend(block(be, 5, &[0; 16])); // interface statistics: skipped
            // A second section with its own interface table.
            f.extend(shb(be));
            f.extend(idb(be, 113, Some(3)));
            f.extend(epb(be, 0, 1_700_000_000_123, &[0; 20]));
            f.extend(epb(be, 3, 5, &frame(5))); // undefined interface
            let (got, r) = read_all(f).unwrap();
            assert_eq!(r.format(), Format::Pcapng);
            let lts: Vec<u32> = got.iter().map(|g| g.0.link_type).collect();
            assert_eq!(lts, vec![1, 101, 1, 1, 113, NO_INTERFACE], "be {be}");
            assert_eq!(got[0].0.ts_ns, 1_500_000_000_000_001_000);
            assert_eq!(got[1].0.ts_ns, 1_500_000_000_000_000_002);
            assert_eq!(got[1].1, frame(2)[14..].to_vec());
            assert_eq!(got[2].1, frame(3));
            assert_eq!(got[3].0.ts_ns, 1_600_000_000_000_000_000);
            assert_eq!(got[3].1, frame(4));
            assert_eq!(got[4].0.ts_ns, 1_700_000_000_123_000_000);
            assert_eq!(got[5].0.interface, 3);
            assert_eq!(r.records(), 6);
        }
    }

    #[test]
    fn gzip_is_read_transparently() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let raw = pcap(0xa1b2_c3d4, false, 1, &[(1, 2, frame(1)), (3, 4, frame(2))]);
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&raw).unwrap();
        let (got, r) = read_all(enc.finish().unwrap()).unwrap();
        assert!(r.compressed());
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, frame(2));
    }

    #[test]
    fn one_byte_reads_work_like_a_pipe() {
        struct Trickle(io::Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(1);
                self.0.read(&mut buf[..n])
            }
        }
        let raw = pcap(0xa1b2_c3d4, false, 1, &[(1, 2, frame(1)), (3, 4, frame(2))]);
        let mut r = CaptureReader::from_reader("pipe", Trickle(io::Cursor::new(raw))).unwrap();
        let mut n = 0;
        while r.next_record().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn cut_short_file_keeps_records_before_the_cut() {
        let raw = pcap(
            0xa1b2_c3d4,
            false,
            1,
            &[(1, 2, frame(1)), (3, 4, frame(2)), (5, 6, frame(3))],
        );
        let rec_len = 16 + frame(1).len();
        for cut in [1usize, 15, 16, 17, rec_len - 1] {
            let len = 24 + 2 * rec_len + cut;
            let (got, r) = read_all(raw[..len].to_vec()).unwrap();
            assert_eq!(got.len(), 2, "cut {cut}");
            let t = r.truncation().unwrap();
            assert_eq!(t.offset, (24 + 2 * rec_len) as u64);
            assert_eq!(t.record, 3);
            assert_eq!(t.have, cut as u64);
            assert_eq!(t.need, (cut >= 12).then_some(rec_len as u64));
            assert!(
                t.to_string()
                    .contains(&format!("byte offset {}", 24 + 2 * rec_len))
            );
        }
        // Cut exactly at a record boundary: not truncated.
        let (got, r) = read_all(raw[..24 + 2 * rec_len].to_vec()).unwrap();
        assert_eq!(got.len(), 2);
        assert!(r.truncation().is_none());
    }

    #[test]
    fn huge_record_length_is_an_error_after_earlier_records() {
        let mut raw = pcap(0xa1b2_c3d4, false, 1, &[(1, 2, frame(1)), (3, 4, frame(2))]);
        let at = 24 + 62 + 8;
        raw[at..at + 4].copy_from_slice(&4_325_376u32.to_le_bytes());
        let mut r = CaptureReader::from_reader("bad.pcap", io::Cursor::new(raw)).unwrap();
        assert!(r.next_record().unwrap().is_some());
        let err = r.next_record().unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                CaptureError::CorruptRecord {
                    offset: 86,
                    record: 2,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.contains("bad.pcap") && msg.contains("byte offset 86") && msg.contains("4325376"),
            "{msg}"
        );
        // After the error the reader stays at its end: no loop, no panic.
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn large_but_legal_record_grows_the_buffer() {
        let big = vec![0u8; 200_000];
        let mut raw = pcap(0xa1b2_c3d4, false, 1, &[(1, 2, frame(1))]);
        raw[16..20].copy_from_slice(&262_144u32.to_le_bytes()); // snaplen
        for _ in 0..12 {
            raw.extend_from_slice(&1u32.to_le_bytes());
            raw.extend_from_slice(&0u32.to_le_bytes());
            raw.extend_from_slice(&(big.len() as u32).to_le_bytes());
            raw.extend_from_slice(&(big.len() as u32).to_le_bytes());
            raw.extend_from_slice(&big);
        }
        let (got, r) = read_all(raw).unwrap();
        assert_eq!(got.len(), 13);
        assert!(got[1..].iter().all(|g| g.1.len() == 200_000));
        assert!(r.truncation().is_none());
    }

    #[test]
    fn empty_short_and_foreign_files_are_one_line_errors() {
        let e = CaptureReader::from_reader("empty.pcap", io::Cursor::new(Vec::new())).unwrap_err();
        assert!(matches!(e, CaptureError::Empty { .. }));
        assert!(e.to_string().contains("empty.pcap"));
        let e =
            CaptureReader::from_reader("x.pcap", io::Cursor::new(b"GET / HTTP/1.1\r\n".to_vec()))
                .unwrap_err();
        assert!(e.to_string().contains("47 45 54 20"), "{e}");
        let e =
            CaptureReader::from_reader("x.pcap", io::Cursor::new(vec![0xd4, 0xc3])).unwrap_err();
        assert!(e.to_string().contains("d4 c3"), "{e}");
        let e = CaptureReader::from_reader(
            "x.pcap",
            io::Cursor::new(vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
        )
        .unwrap_err();
        assert!(matches!(e, CaptureError::Header { .. }), "{e}");
        assert!(!e.to_string().contains('\n'));
        // A header-only pcap and an SHB-only pcapng are valid and empty.
        let (got, _) = read_all(pcap(0xa1b2_c3d4, false, 1, &[])).unwrap();
        assert!(got.is_empty());
        let (got, _) = read_all(shb(false)).unwrap();
        assert!(got.is_empty());
    }
}
