//! Streaming capture reader: a file, gzip stream or stdin -> packet records.
//!
//! Takes any `Read`; detects the container by its magic number (never by the
//! file name): legacy pcap in both byte orders with microsecond, nanosecond
//! and "modified" (Kuznetzov) magic, pcapng (several sections, several
//! interfaces with their own link types and time resolutions, EPB/SPB/OPB
//! blocks), and either of them gzip-compressed. Gives one [`Record`] at a time,
//! borrowed from a fixed buffer (1 MiB, grown only for a legitimately large
//! record, never beyond [`MAX_RECORD_LEN`]), so memory stays flat whatever the
//! file size.
//!
//! Damage: a file cut short ends the stream cleanly and leaves a
//! [`Truncation`] note with the byte offset; a corrupt record header (a length
//! no capture tool writes) is an error naming the byte offset and record
//! number, after every earlier record has been returned. Byte offsets of a
//! gzip-compressed capture are offsets in the decompressed stream.

use super::decode::RecordMeta;
use super::error::{CaptureError, Truncation};
use flate2::read::MultiGzDecoder;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};
use serde::Serialize;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Initial reader buffer.
const BUFFER_LEN: usize = 1 << 20;
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

/// A streaming reader of pcap/pcapng records.
pub struct CaptureReader {
    name: String,
    inner: Box<dyn PcapReaderIterator + Send>,
    kind: Kind,
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
        CaptureReader::from_reader(&name, file)
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
        let (inner, kind): (Box<dyn PcapReaderIterator + Send>, Kind) = if format == "pcapng" {
            let r = PcapNGReader::new(BUFFER_LEN, stream).map_err(|e| header_err(pcap_err(&e)))?;
            let kind = Kind::Ng {
                big_endian: false,
                interfaces: Vec::new(),
            };
            (Box::new(r), kind)
        } else {
            let mut r =
                LegacyPcapReader::new(BUFFER_LEN, stream).map_err(|e| header_err(pcap_err(&e)))?;
            let (len, kind) = match r.next() {
                Ok((len, PcapBlockOwned::LegacyHeader(h))) => (
                    len,
                    Kind::Legacy {
                        // Bits 16-31 of the field carry FCS information, not the link type.
                        link_type: (h.network.0 as u32) & 0xffff,
                        snaplen: h.snaplen,
                        nanosecond: h.is_nanosecond_precision(),
                        big_endian: h.is_bigendian(),
                        modified: h.is_modified_format(),
                    },
                ),
                Ok(_) => return Err(header_err("no file header".into())),
                Err(e) => return Err(header_err(pcap_err(&e))),
            };
            r.consume(len);
            (Box::new(r), kind)
        };
        Ok(CaptureReader {
            name: name.to_string(),
            inner,
            kind,
            compressed,
            io_error: error,
            pending: 0,
            records: 0,
            truncation: None,
            done: false,
        })
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
        (self.inner.consumed() + self.pending) as u64
    }

    /// Packet records returned so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Set when the file ended in the middle of a record.
    pub fn truncation(&self) -> Option<&Truncation> {
        self.truncation.as_ref()
    }

    fn corrupt(&self, offset: u64, reason: String) -> CaptureError {
        CaptureError::CorruptRecord {
            path: self.name.clone(),
            offset,
            record: self.records + 1,
            reason,
        }
    }

    fn read_error(&self, offset: u64) -> CaptureError {
        let source = self
            .io_error
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_else(|| io::Error::other("read failed"));
        CaptureError::Io {
            path: self.name.clone(),
            offset,
            source,
        }
    }

    /// Length of the record or block at the front of the buffer, from its header.
    fn peek_len(&self) -> Option<usize> {
        let data = self.inner.data();
        let word = |at: usize, be: bool| -> Option<u32> {
            let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
            Some(if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        match &self.kind {
            Kind::Legacy {
                big_endian,
                modified,
                ..
            } => {
                let hdr = if *modified { 24 } else { 16 };
                Some(hdr + word(8, *big_endian)? as usize)
            }
            Kind::Ng { big_endian, .. } => Some(word(4, *big_endian)? as usize),
        }
    }

    fn max_record(&self) -> usize {
        match &self.kind {
            Kind::Legacy { snaplen, .. } => {
                (*snaplen as usize).clamp(STANDARD_MAX_RECORD, MAX_RECORD_LEN)
            }
            Kind::Ng { .. } => MAX_RECORD_LEN,
        }
    }

    /// The next packet record, `None` at the end of the stream (check
    /// [`CaptureReader::truncation`] then).
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, CaptureError> {
        if self.pending > 0 {
            self.inner.consume(self.pending);
            self.pending = 0;
        }
        if self.done {
            return Ok(None);
        }
        let max_record = self.max_record();
        let mut stalls = 0u32;
        let (meta, start, len) = loop {
            let offset = self.inner.consumed() as u64;
            let before = self.inner.data().len();
            match self.inner.next() {
                Ok((block_len, block)) => {
                    stalls = 0;
                    let index = self.records;
                    match (block, &mut self.kind) {
                        (
                            PcapBlockOwned::Legacy(b),
                            Kind::Legacy {
                                link_type,
                                nanosecond,
                                modified,
                                ..
                            },
                        ) => {
                            let cap = b.caplen as usize;
                            if cap > max_record {
                                self.done = true;
                                return Err(self.corrupt(
                                    offset,
                                    format!("record claims {cap} captured bytes, more than the {max_record}-byte limit"),
                                ));
                            }
                            let frac = i64::from(b.ts_usec);
                            let ns = i64::from(b.ts_sec) * 1_000_000_000
                                + if *nanosecond { frac } else { frac * 1000 };
                            let meta = RecordMeta {
                                ts_ns: ns,
                                index,
                                interface: 0,
                                cap_len: b.caplen,
                                wire_len: b.origlen,
                                link_type: *link_type,
                            };
                            let hdr = if *modified { 24 } else { 16 };
                            self.pending = block_len;
                            break (meta, hdr, cap);
                        }
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
                                self.inner.consume(block_len);
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
                                self.inner.consume(block_len);
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
                                    return Err(self.corrupt(
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
                            _ => self.inner.consume(block_len),
                        },
                        _ => {
                            self.done = true;
                            return Err(self
                                .corrupt(offset, "unexpected block for this file format".into()));
                        }
                    }
                }
                Err(PcapError::Eof) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(PcapError::Incomplete(_)) => {
                    if self.inner.refill().is_err() {
                        self.done = true;
                        return Err(self.read_error(offset));
                    }
                    if self.inner.data().len() == before && !self.inner.reader_exhausted() {
                        stalls += 1;
                        if stalls > 3 {
                            self.done = true;
                            return Err(self.corrupt(offset, "reader made no progress".into()));
                        }
                    }
                }
                Err(PcapError::UnexpectedEof) => {
                    self.done = true;
                    self.truncation = Some(Truncation {
                        offset,
                        record: self.records + 1,
                        have: self.inner.data().len() as u64,
                        need: self.peek_len().map(|n| n as u64),
                    });
                    return Ok(None);
                }
                Err(PcapError::BufferTooSmall) => {
                    let need = self.peek_len().unwrap_or(usize::MAX);
                    if need > max_record.max(STANDARD_MAX_RECORD) + 64 {
                        self.done = true;
                        return Err(self.corrupt(
                            offset,
                            format!("record header claims {need} bytes, more than the {max_record}-byte limit"),
                        ));
                    }
                    if !self.inner.grow(need + 4096) {
                        self.done = true;
                        return Err(
                            self.corrupt(offset, format!("cannot buffer a {need}-byte record"))
                        );
                    }
                    if self.inner.refill().is_err() {
                        self.done = true;
                        return Err(self.read_error(offset));
                    }
                }
                Err(PcapError::ReadError) => {
                    self.done = true;
                    return Err(self.read_error(offset));
                }
                Err(e) => {
                    let reason = pcap_err(&e);
                    self.done = true;
                    return Err(self.corrupt(offset, reason));
                }
            }
        };
        self.records += 1;
        let data = self.inner.data().get(start..start + len).unwrap_or(&[]);
        Ok(Some(Record { meta, data }))
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
