//! Rows closed but not yet final in output order, held within a memory
//! budget: the excess goes to sorted runs in temporary files.
//!
//! Takes packed rows under a sort key (`(start, key, creation order)` in an
//! extractor, `(start, key, shard, arrival order)` in the sharded merger) and
//! a byte budget ([`super::FlowParams::spill_bytes`], default
//! [`DEFAULT_SPILL_BYTES`]); gives them back smallest key first, exactly as
//! an in-memory `BTreeMap` would (tested: any budget gives the same rows and
//! bytes).
//!
//! Why: a row may leave only once no open flow can still make an earlier
//! one (the watermark: the oldest open flow's start). One long-lived flow
//! therefore holds back every row closed after it started, which is most of
//! a capture's rows; held in memory they made RSS grow with the file.
//!
//! How:
//! - rows wait in a `BTreeMap`; when their packed bytes (plus a per-entry
//!   overhead) exceed the budget, the map is written in key order to a new
//!   *run* (a temporary file in [`std::env::temp_dir`], so `TMPDIR` chooses
//!   where) and emptied;
//! - the smallest held row is the smallest of the map's first row and each
//!   run's head (the one row read ahead per run): taking rows is a k-way
//!   merge of the runs and the map, so they leave in exactly the order the
//!   map alone would give them, whenever the watermark lets them go and at
//!   the end of the input;
//! - a run whose rows are all taken is closed and deleted; once
//!   [`MAX_RUNS`] runs exist, the next spill merges them and the map into one
//!   run, which bounds open files and the read-ahead memory (one buffer per
//!   run);
//! - run files are deleted when their run is dropped: when used up, on an
//!   error, and when the extractor is dropped (a killed process leaves them
//!   in the temporary directory, named `maximus-sim-rows-<pid>-<n>.tmp`);
//! - an I/O error on a run is kept (the first one, with the file's path, as
//!   [`FlowError::Spill`]) and reported by the owner's `finish`; no further
//!   run is written after it, so the rows stay in memory.
//!
//! File format (private to one process): per row the key, the packed row's
//! length (`u32`, little-endian) and its bytes; the reader knows how many
//! rows a run has, so a short file is an error, not a silent end.

use super::FlowError;
use super::key::FlowKey;
use super::record::PackedRow;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Default budget of held rows per buffer: 64 MiB.
pub const DEFAULT_SPILL_BYTES: usize = 64 << 20;

/// Runs at most before they are merged into one.
pub const MAX_RUNS: usize = 32;

/// Read-ahead buffer per run.
const READ_BUF: usize = 64 << 10;

/// Write buffer of a new run.
const WRITE_BUF: usize = 256 << 10;

/// Distinguishes the run files of one process.
static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

/// A sort key that can be written to a run and read back.
pub(crate) trait SpillKey: Ord + Copy {
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(r: &mut impl Read) -> io::Result<Self>;
}

fn encode_ip(ip: &IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v) => {
            out.push(4);
            out.extend_from_slice(&v.octets());
        }
        IpAddr::V6(v) => {
            out.push(6);
            out.extend_from_slice(&v.octets());
        }
    }
}

fn read_array<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn decode_ip(r: &mut impl Read) -> io::Result<IpAddr> {
    match read_array::<1>(r)? {
        [4] => Ok(IpAddr::V4(Ipv4Addr::from(read_array::<4>(r)?))),
        [6] => Ok(IpAddr::V6(Ipv6Addr::from(read_array::<16>(r)?))),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "damaged row file (bad address tag)",
        )),
    }
}

fn encode_key(k: &FlowKey, out: &mut Vec<u8>) {
    encode_ip(&k.a, out);
    encode_ip(&k.b, out);
    out.extend_from_slice(&k.a_port.to_le_bytes());
    out.extend_from_slice(&k.b_port.to_le_bytes());
    out.push(k.protocol);
}

fn decode_key(r: &mut impl Read) -> io::Result<FlowKey> {
    let a = decode_ip(r)?;
    let b = decode_ip(r)?;
    let a_port = u16::from_le_bytes(read_array(r)?);
    let b_port = u16::from_le_bytes(read_array(r)?);
    let [protocol] = read_array(r)?;
    Ok(FlowKey {
        a,
        b,
        a_port,
        b_port,
        protocol,
    })
}

/// (start, key, creation order): an extractor's rows.
impl SpillKey for (i64, FlowKey, u64) {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        encode_key(&self.1, out);
        out.extend_from_slice(&self.2.to_le_bytes());
    }

    fn decode(r: &mut impl Read) -> io::Result<Self> {
        let start = i64::from_le_bytes(read_array(r)?);
        let key = decode_key(r)?;
        let seq = u64::from_le_bytes(read_array(r)?);
        Ok((start, key, seq))
    }
}

/// (start, key, shard, arrival order): the sharded merger's rows.
impl SpillKey for (i64, FlowKey, usize, u64) {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        encode_key(&self.1, out);
        out.extend_from_slice(&(self.2 as u64).to_le_bytes());
        out.extend_from_slice(&self.3.to_le_bytes());
    }

    fn decode(r: &mut impl Read) -> io::Result<Self> {
        let start = i64::from_le_bytes(read_array(r)?);
        let key = decode_key(r)?;
        let shard = u64::from_le_bytes(read_array(r)?);
        let shard = usize::try_from(shard).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "damaged row file (bad shard)")
        })?;
        let seq = u64::from_le_bytes(read_array(r)?);
        Ok((start, key, shard, seq))
    }
}

/// A temporary file, deleted on drop.
#[derive(Debug)]
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        // Best effort: the file may already be gone.
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spill_err(path: &Path, source: io::Error) -> FlowError {
    FlowError::Spill {
        path: path.display().to_string(),
        source,
    }
}

/// One sorted run on disk, with its next row read ahead.
#[derive(Debug)]
struct Run<K> {
    /// Declared before `path`: the file is closed before it is deleted.
    reader: BufReader<File>,
    head: Option<(K, PackedRow)>,
    /// Rows in the file after `head`.
    left: u64,
    path: TempPath,
}

impl<K: SpillKey> Run<K> {
    /// Read the next row into `head` (`None` when the run is used up).
    fn advance(&mut self) -> Result<(), FlowError> {
        if self.left == 0 {
            self.head = None;
            return Ok(());
        }
        let row = (|| {
            let k = K::decode(&mut self.reader)?;
            let len = u32::from_le_bytes(read_array(&mut self.reader)?) as usize;
            let mut b = vec![0u8; len];
            self.reader.read_exact(&mut b)?;
            Ok((k, PackedRow::from_bytes(b.into_boxed_slice())))
        })()
        .map_err(|e| spill_err(&self.path.0, e))?;
        self.left -= 1;
        self.head = Some(row);
        Ok(())
    }
}

/// Writes one run.
struct RunWriter {
    w: BufWriter<File>,
    path: TempPath,
    rows: u64,
    scratch: Vec<u8>,
}

impl RunWriter {
    fn create() -> Result<RunWriter, FlowError> {
        let n = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("maximus-sim-rows-{}-{n}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| spill_err(&path, e))?;
        Ok(RunWriter {
            w: BufWriter::with_capacity(WRITE_BUF, file),
            path: TempPath(path),
            rows: 0,
            scratch: Vec::with_capacity(64),
        })
    }

    fn write<K: SpillKey>(&mut self, k: &K, row: &PackedRow) -> Result<(), FlowError> {
        self.scratch.clear();
        k.encode(&mut self.scratch);
        let bytes = row.as_bytes();
        // A packed row is a few KB at most.
        self.scratch
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        let r = self
            .w
            .write_all(&self.scratch)
            .and_then(|()| self.w.write_all(bytes));
        r.map_err(|e| spill_err(&self.path.0, e))?;
        self.rows += 1;
        Ok(())
    }

    /// The finished run, positioned at its first row.
    fn finish<K: SpillKey>(self) -> Result<Run<K>, FlowError> {
        let RunWriter { w, path, rows, .. } = self;
        let mut file = w
            .into_inner()
            .map_err(|e| spill_err(&path.0, e.into_error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| spill_err(&path.0, e))?;
        let mut run = Run {
            reader: BufReader::with_capacity(READ_BUF, file),
            head: None,
            left: rows,
            path,
        };
        run.advance()?;
        Ok(run)
    }
}

/// Rows under sort keys `K`, at most about `budget` bytes of them in memory.
#[derive(Debug)]
pub(crate) struct SpillBuffer<K> {
    mem: BTreeMap<K, PackedRow>,
    /// Packed bytes of `mem` plus [`SpillBuffer::ENTRY`] per row.
    mem_bytes: usize,
    budget: usize,
    runs: Vec<Run<K>>,
    /// The first I/O error; no run is written after it.
    error: Option<FlowError>,
    /// Runs written so far (tests).
    spills: u64,
}

impl<K: SpillKey> SpillBuffer<K> {
    /// Memory per held row besides its packed bytes (map slot, allocation).
    const ENTRY: usize = size_of::<(K, PackedRow)>() + 16;

    /// An empty buffer; `usize::MAX` never spills.
    pub(crate) fn new(budget: usize) -> SpillBuffer<K> {
        SpillBuffer {
            mem: BTreeMap::new(),
            mem_bytes: 0,
            budget,
            runs: Vec::new(),
            error: None,
            spills: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.mem.is_empty() && self.runs.is_empty()
    }

    /// Runs written so far.
    #[cfg(test)]
    pub(crate) fn spills(&self) -> u64 {
        self.spills
    }

    /// Hold `row` under `k` (keys are unique).
    pub(crate) fn insert(&mut self, k: K, row: PackedRow) {
        self.mem_bytes += row.as_bytes().len() + Self::ENTRY;
        self.mem.insert(k, row);
        if self.mem_bytes > self.budget && self.error.is_none() {
            self.spill();
        }
    }

    /// Where the smallest row is: `None` for the map, `Some(i)` for run `i`.
    fn smallest(&self) -> Option<(Option<usize>, &K)> {
        let mut best = self.mem.first_key_value().map(|(k, _)| (None, k));
        for (i, run) in self.runs.iter().enumerate() {
            if let Some((k, _)) = &run.head
                && best.is_none_or(|(_, b)| k < b)
            {
                best = Some((Some(i), k));
            }
        }
        best
    }

    /// The smallest key held.
    pub(crate) fn first_key(&self) -> Option<&K> {
        self.smallest().map(|(_, k)| k)
    }

    /// Take the smallest row.
    pub(crate) fn pop_first(&mut self) -> Option<(K, PackedRow)> {
        match self.smallest()?.0 {
            None => {
                let (k, row) = self.mem.pop_first()?;
                self.mem_bytes = self
                    .mem_bytes
                    .saturating_sub(row.as_bytes().len() + Self::ENTRY);
                Some((k, row))
            }
            Some(i) => {
                let run = &mut self.runs[i];
                let head = run.head.take();
                if let Err(e) = run.advance() {
                    self.error.get_or_insert(e);
                }
                if run.head.is_none() {
                    // Used up (or unreadable): close and delete it.
                    self.runs.swap_remove(i);
                }
                head
            }
        }
    }

    /// Write the map (and, once there are [`MAX_RUNS`] runs, every run too)
    /// to a new run.
    fn spill(&mut self) {
        if let Err(e) = self.try_spill() {
            self.error.get_or_insert(e);
        }
    }

    fn try_spill(&mut self) -> Result<(), FlowError> {
        let mut w = RunWriter::create()?;
        if self.runs.len() >= MAX_RUNS {
            while let Some((k, row)) = self.pop_first() {
                w.write(&k, &row)?;
            }
        } else {
            // Written before the map is emptied: a failed run loses nothing.
            for (k, row) in &self.mem {
                w.write(k, row)?;
            }
            self.mem.clear();
            self.mem_bytes = 0;
        }
        let run = w.finish()?;
        if run.head.is_some() {
            self.runs.push(run);
        }
        self.spills += 1;
        Ok(())
    }

    /// The first I/O error, if any (the rows of an unreadable run are lost).
    pub(crate) fn take_error(&mut self) -> Option<FlowError> {
        self.error.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Value;
    use proptest::prelude::*;

    fn key(i: u8) -> FlowKey {
        FlowKey::canonical(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
            "2001:db8::7".parse().unwrap(),
            u16::from(i),
            80,
            6,
        )
    }

    fn row(n: i64) -> PackedRow {
        PackedRow::pack(vec![Value::Int(n), Value::Text(format!("row {n}"))])
    }

    proptest! {
        /// Any budget gives the rows of an unbounded map, in its order,
        /// with inserts and takes interleaved.
        #[test]
        fn spilled_rows_come_back_in_map_order(
            ops in proptest::collection::vec((any::<bool>(), -5i64..5, 0u8..4), 1..400),
            budget in prop_oneof![Just(0usize), 1usize..2000],
        ) {
            let mut seq = 0u64;
            let mut model: BTreeMap<(i64, FlowKey, u64), i64> = BTreeMap::new();
            let mut buf: SpillBuffer<(i64, FlowKey, u64)> = SpillBuffer::new(budget);
            for (take, start, k) in ops {
                if take {
                    let got = buf.pop_first().map(|(k, r)| (k, r.unpack(0, k.1).values));
                    let want = model.pop_first().map(|(k, n)| (k, row(n).unpack(0, k.1).values));
                    prop_assert_eq!(got, want);
                } else {
                    model.insert((start, key(k), seq), seq as i64);
                    buf.insert((start, key(k), seq), row(seq as i64));
                    seq += 1;
                }
                prop_assert_eq!(buf.first_key(), model.first_key_value().map(|(k, _)| k));
                prop_assert!(buf.runs.len() <= MAX_RUNS);
            }
            while let Some((k, n)) = model.pop_first() {
                let (got, r) = buf.pop_first().unwrap();
                prop_assert_eq!(got, k);
                prop_assert_eq!(r.unpack(0, k.1).values, row(n).unpack(0, k.1).values);
            }
            prop_assert!(buf.pop_first().is_none());
            prop_assert!(buf.is_empty());
            prop_assert!(buf.take_error().is_none());
        }
    }

    #[test]
    fn run_files_are_deleted_when_used_up_and_on_drop() {
        let mut buf = SpillBuffer::new(0);
        for i in 0..3u64 {
            buf.insert((i as i64, key(1), i), row(i as i64));
        }
        assert_eq!(buf.spills(), 3);
        let paths: Vec<PathBuf> = buf.runs.iter().map(|r| r.path.0.clone()).collect();
        assert!(paths.iter().all(|p| p.exists()));
        buf.pop_first();
        assert!(!paths[0].exists());
        assert!(paths[1].exists());
        drop(buf);
        assert!(paths.iter().all(|p| !p.exists()));
    }

    #[test]
    fn shard_keys_round_trip() {
        let k = (-7i64, key(200), 3usize, u64::MAX);
        let mut b = Vec::new();
        k.encode(&mut b);
        assert_eq!(
            <(i64, FlowKey, usize, u64)>::decode(&mut &b[..]).unwrap(),
            k
        );
        let k = (i64::MIN, key(0), 0u64);
        let mut b = Vec::new();
        k.encode(&mut b);
        assert_eq!(<(i64, FlowKey, u64)>::decode(&mut &b[..]).unwrap(), k);
    }

    #[test]
    fn a_damaged_run_is_an_error_with_its_path() {
        let mut buf: SpillBuffer<(i64, FlowKey, u64)> = SpillBuffer::new(0);
        buf.insert((0i64, key(1), 0u64), row(0));
        buf.insert((1i64, key(1), 1u64), row(1));
        buf.spill();
        // Cut the second run short after its first row was read ahead.
        let run = &mut buf.runs[1];
        run.left += 1;
        let path = run.path.0.clone();
        while buf.pop_first().is_some() {}
        let e = buf.take_error().expect("an error");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(!path.exists());
    }
}
