//! Plain CSV output of flow rows (std only).
//!
//! Takes a [`Profile`] and [`FlowRecord`]s; gives the profile's header line
//! and one line per row, `\n`-terminated, numbers printed like Java
//! (`Int` cells as integers, `Float` cells with [`java_double`]). Text cells
//! are quoted only if they contain a comma, quote or line break (never the
//! case in the compat profiles).

use super::format::{Out, java_double};
use super::profile::Profile;
use super::record::{Cell, FlowRecord, PackedRecord, Value};
use std::io::{self, Write};

/// Bytes of formatted rows gathered before they go to the writer in one call.
const CHUNK: usize = 256 << 10;

/// Writes a header at creation, then rows; call [`CsvWriter::finish`] to flush.
/// Rows are gathered in chunks of about [`CHUNK`] bytes, so a write error may
/// only show at a later row or at [`CsvWriter::finish`].
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: W,
    chunk: Vec<u8>,
    rows: u64,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, profile: Profile) -> io::Result<CsvWriter<W>> {
        CsvWriter::with_header(out, profile.header())
    }

    /// A writer with its own header line (a profile's plus added columns).
    pub fn with_header(mut out: W, header: &str) -> io::Result<CsvWriter<W>> {
        out.write_all(header.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(CsvWriter {
            out,
            chunk: Vec::with_capacity(CHUNK + 4096),
            rows: 0,
        })
    }

    pub fn write(&mut self, r: &FlowRecord) -> io::Result<()> {
        let mut line = String::new();
        format_row(r, &mut line);
        self.chunk.extend_from_slice(line.as_bytes());
        self.chunk.push(b'\n');
        self.rows += 1;
        if self.chunk.len() >= CHUNK {
            self.out.write_all(&self.chunk)?;
            self.chunk.clear();
        }
        Ok(())
    }

    /// [`CsvWriter::write`] of the unpacked row, without unpacking it.
    pub fn write_packed(&mut self, r: &PackedRecord) -> io::Result<()> {
        if r.line {
            self.chunk.extend_from_slice(r.row.as_bytes());
        } else {
            r.row.write_csv(&mut self.chunk);
        }
        self.chunk.push(b'\n');
        self.rows += 1;
        if self.chunk.len() >= CHUNK {
            self.out.write_all(&self.chunk)?;
            self.chunk.clear();
        }
        Ok(())
    }

    /// [`CsvWriter::write_packed`] of each of `rows`. A run of CSV-line
    /// rows goes out from the rows' own memory in vectored writes (each line
    /// and a `\n`), not copied into the chunk first: the writer thread
    /// copied every byte of the output twice, the second time from memory no
    /// cache held.
    pub fn write_packed_all(&mut self, rows: &[PackedRecord]) -> io::Result<()> {
        /// Rows per vectored write: two slices each, within Linux's 1024.
        const PER_WRITE: usize = 512;
        /// Fewer rows than this are gathered in the chunk as before.
        const MIN_RUN: usize = 64;
        if rows.len() < MIN_RUN || !rows.iter().all(|r| r.line) {
            return rows.iter().try_for_each(|r| self.write_packed(r));
        }
        self.out.write_all(&self.chunk)?;
        self.chunk.clear();
        let mut slices = Vec::with_capacity(2 * PER_WRITE);
        for group in rows.chunks(PER_WRITE) {
            slices.clear();
            for r in group {
                slices.push(io::IoSlice::new(r.row.as_bytes()));
                slices.push(io::IoSlice::new(b"\n"));
            }
            let mut left = &mut slices[..];
            while !left.is_empty() {
                match self.out.write_vectored(left) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => io::IoSlice::advance_slices(&mut left, n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.rows += group.len() as u64;
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&self.chunk)?;
        self.chunk.clear();
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One row as CSV text, without line end.
pub fn format_row(r: &FlowRecord, line: &mut String) {
    for (i, v) in r.values.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_cell(
            match v {
                Value::Int(x) => Cell::Int(*x),
                Value::Float(x) => Cell::Float(*x),
                Value::Text(s) => Cell::Text(s),
            },
            line,
        );
    }
}

fn push_cell(c: Cell<'_>, line: &mut String) {
    match c {
        Cell::Int(x) => line.push_str(itoa::Buffer::new().format(x)),
        Cell::Float(x) => java_double(x, line),
        Cell::Text(s) => push_text(s, line),
    }
}

/// A text cell: quoted (quotes doubled) only if it holds a comma, quote or
/// line break.
pub fn push_text(s: &str, out: &mut impl Out) {
    if needs_quotes(s) {
        out.put_byte(b'"');
        out.put(&s.replace('"', "\"\""));
        out.put_byte(b'"');
    } else {
        out.put(s);
    }
}

/// A text cell that must be quoted: it holds a comma, quote or line break.
pub(crate) fn needs_quotes(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// The cells of one CSV line (RFC 4180 quoting, as [`push_text`] writes
/// it), unquoted.
pub fn split_line(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            (c, _) => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowKey;

    #[test]
    fn rows_use_java_numbers_and_quote_only_when_needed() {
        let key = FlowKey::canonical(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            1,
            2,
            6,
        );
        let r = FlowRecord {
            start_us: 0,
            key,
            values: vec![
                Value::Text("a".into()),
                Value::Int(-1),
                Value::Int(0),
                Value::Float(0.0),
                Value::Float(f64::INFINITY),
                Value::Float(2.0824295e7),
                Value::Text("x,\"y\"".into()),
            ],
        };
        let mut w = CsvWriter::new(Vec::new(), Profile::Cic2018).unwrap();
        w.write(&r).unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(Profile::Cic2018.header()));
        assert_eq!(
            lines.next(),
            Some("a,-1,0,0.0,Infinity,2.0824295E7,\"x,\"\"y\"\"\"")
        );
        assert!(text.ends_with('\n'));
    }

    /// Takes at most 7 bytes a call, so every vectored write is partial.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = b.len().min(7);
            self.0.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_batch_of_rows_is_written_as_row_by_row() {
        use crate::flow::record::Packer;
        let key = FlowKey::canonical(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            1,
            2,
            6,
        );
        let line = |i: usize| {
            let mut p = Packer::csv();
            p.text(&"x".repeat(i % 13));
            p.int(i as i64);
            p.float(i as f64 / 7.0);
            p.record(i as i64, key)
        };
        let cells = |i: usize| {
            PackedRecord::pack(FlowRecord {
                start_us: i as i64,
                key,
                values: vec![Value::Int(i as i64), Value::Float(0.5)],
            })
        };
        // Below and above the vectored run's minimum and one write's rows,
        // and a batch with a row of cells among lines.
        for n in [0, 3, 64, 513, 1100] {
            for mixed in [false, true] {
                let rows: Vec<PackedRecord> = (0..n)
                    .map(|i| {
                        if mixed && i == n / 2 {
                            cells(i)
                        } else {
                            line(i)
                        }
                    })
                    .collect();
                let mut all = CsvWriter::new(Trickle(Vec::new()), Profile::Corrected).unwrap();
                all.write_packed(&line(7)).unwrap();
                // A row before the batch, still in the chunk, stays first.
                let mut expect = CsvWriter::new(Vec::new(), Profile::Corrected).unwrap();
                expect.write_packed(&line(7)).unwrap();
                rows.iter().for_each(|r| expect.write_packed(r).unwrap());
                all.write_packed_all(&rows).unwrap();
                assert_eq!(all.rows(), expect.rows());
                assert_eq!(
                    all.finish().unwrap().0,
                    expect.finish().unwrap(),
                    "{n} {mixed}"
                );
            }
        }
    }
}
