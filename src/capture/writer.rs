//! Capture writers: packets -> legacy pcap or pcapng bytes.
//!
//! Takes frames with a timestamp (ns) and the length they had on the wire;
//! gives a file any tool reads. File headers and pcapng blocks are built by
//! pcap-parser's serializer; the 16-byte legacy record header is written
//! directly, because the serializer allocates a vector per record and this is
//! the hot path of `synth`. Writers buffer nothing themselves: wrap the sink
//! in a `BufWriter`.

use pcap_parser::pcapng::{EnhancedPacketBlock, InterfaceDescriptionBlock, SectionHeaderBlock};
use pcap_parser::{Linktype, PcapHeader, ToVec};
use std::io::{self, Write};

fn gen_err(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("cannot serialise capture block: {e:?}"))
}

/// Writes a little-endian legacy pcap (microsecond or nanosecond magic).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    nanosecond: bool,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header.
    pub fn new(mut out: W, link_type: u32, snaplen: u32, nanosecond: bool) -> io::Result<Self> {
        let mut h = PcapHeader {
            magic_number: if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 },
            version_major: 2,
            version_minor: 4,
            thiszone: 0,
            sigfigs: 0,
            snaplen,
            network: Linktype(link_type as i32),
        };
        out.write_all(&h.to_vec().map_err(gen_err)?)?;
        Ok(PcapWriter {
            out,
            nanosecond,
            snaplen,
        })
    }

    /// Write one record; `frame` is cut to the snap length, `wire_len` is
    /// at least the frame's length.
    pub fn write_packet(&mut self, ts_ns: i64, frame: &[u8], wire_len: u32) -> io::Result<()> {
        let cap = frame.len().min(self.snaplen as usize);
        let secs = ts_ns.div_euclid(1_000_000_000);
        let frac = ts_ns.rem_euclid(1_000_000_000);
        let frac = if self.nanosecond { frac } else { frac / 1000 };
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&(secs as u32).to_le_bytes());
        hdr[4..8].copy_from_slice(&(frac as u32).to_le_bytes());
        hdr[8..12].copy_from_slice(&(cap as u32).to_le_bytes());
        hdr[12..16].copy_from_slice(&wire_len.max(frame.len() as u32).to_le_bytes());
        self.out.write_all(&hdr)?;
        self.out.write_all(&frame[..cap])
    }

    /// Flush and give back the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a little-endian pcapng: one section, interfaces added on demand.
#[derive(Debug)]
pub struct PcapNgWriter<W: Write> {
    out: W,
    /// Per interface: time units per second.
    resolutions: Vec<u64>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Write the section header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut shb = SectionHeaderBlock {
            block_type: 0,
            block_len1: 0,
            bom: 0,
            major_version: 1,
            minor_version: 0,
            section_len: -1,
            options: Vec::new(),
            block_len2: 0,
        };
        out.write_all(&shb.to_vec().map_err(gen_err)?)?;
        Ok(PcapNgWriter {
            out,
            resolutions: Vec::new(),
        })
    }

    /// Describe an interface; `tsresol` is the pcapng if_tsresol byte (6 = µs,
    /// 9 = ns). Returns its interface id.
    pub fn add_interface(&mut self, link_type: u32, snaplen: u32, tsresol: u8) -> io::Result<u32> {
        let mut idb = InterfaceDescriptionBlock {
            block_type: 0,
            block_len1: 0,
            linktype: Linktype(link_type as i32),
            reserved: 0,
            snaplen,
            options: Vec::new(),
            block_len2: 0,
            if_tsresol: tsresol,
            if_tsoffset: 0,
        };
        self.out.write_all(&idb.to_vec().map_err(gen_err)?)?;
        let res = pcap_parser::pcapng::build_ts_resolution(tsresol)
            .ok_or_else(|| io::Error::other(format!("invalid if_tsresol {tsresol}")))?;
        self.resolutions.push(res);
        Ok((self.resolutions.len() - 1) as u32)
    }

    /// Write one Enhanced Packet Block on interface `if_id`.
    pub fn write_packet(
        &mut self,
        if_id: u32,
        ts_ns: i64,
        frame: &[u8],
        wire_len: u32,
    ) -> io::Result<()> {
        let res = *self
            .resolutions
            .get(if_id as usize)
            .ok_or_else(|| io::Error::other(format!("interface {if_id} was not added")))?;
        let ns = u128::try_from(ts_ns).unwrap_or(0);
        let units = (ns * u128::from(res) / 1_000_000_000) as u64;
        let mut epb = EnhancedPacketBlock {
            block_type: 0,
            block_len1: 0,
            if_id,
            ts_high: (units >> 32) as u32,
            ts_low: units as u32,
            caplen: frame.len() as u32,
            origlen: wire_len.max(frame.len() as u32),
            data: frame,
            options: Vec::new(),
            block_len2: 0,
        };
        self.out.write_all(&epb.to_vec().map_err(gen_err)?)
    }

    /// Flush and give back the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
