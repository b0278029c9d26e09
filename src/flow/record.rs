//! Finished flows as rows: [`FlowRecord`] (typed cells) and
//! [`PackedRecord`] (the same cells in one byte string, or the row's CSV
//! line), the form rows travel in from a flow table to a writer.
//!
//! Takes cells from the flow tables ([`Packer`]); gives the types the writers
//! consume. Cells keep the type the Java tool printed them with (`Int` for
//! Java `int`/`long` and the literal `0` placeholders, `Float` for `double`),
//! so a writer can reproduce `0` vs `0.0` exactly; a packed row or a CSV
//! line unpacks to exactly the cells it was made from (tested).
//!
//! Flow tables pack each row as it closes, straight from their counters
//! (no cell vector): tagged cells by default, which the CSV writer formats
//! without unpacking; or, for a plain CSV output, the CSV line itself, so
//! that the formatting runs on the flow-table threads. Only a label join and
//! Parquet unpack rows into [`FlowRecord`]s, whose buffers are recycled
//! ([`recycle`], [`SpareRow`]): the pool only holds memory, never content.

use super::csv::push_text;
use super::format::{
    Out, RowBuf, java_double_bytes, java_double_then, push_flow_id, push_ip, put_i64,
};
use super::key::FlowKey;
use std::net::IpAddr;
use std::sync::Mutex;

/// Rows kept for reuse at most (about 3 KB each).
const SPARE_ROWS: usize = 8192;

/// Cell vectors of written rows, holding only their text cells.
static SPARE: Mutex<Vec<Vec<Value>>> = Mutex::new(Vec::new());

/// Give one row's cell vector back for reuse.
fn recycle_values(mut v: Vec<Value>) {
    v.retain(|c| matches!(c, Value::Text(_)));
    if let Ok(mut pool) = SPARE.lock()
        && pool.len() < SPARE_ROWS
    {
        pool.push(v);
    }
}

/// Give written rows back for reuse (any thread).
pub fn recycle(rows: impl IntoIterator<Item = FlowRecord>) {
    let mut spare: Vec<Vec<Value>> = rows
        .into_iter()
        .map(|r| {
            let mut v = r.values;
            v.retain(|c| matches!(c, Value::Text(_)));
            v
        })
        .collect();
    if let Ok(mut pool) = SPARE.lock() {
        let room = SPARE_ROWS.saturating_sub(pool.len());
        spare.truncate(room);
        pool.append(&mut spare);
    }
}

/// Buffers for one new row: an empty cell vector and cleared strings.
#[derive(Debug, Default)]
pub struct SpareRow {
    pub values: Vec<Value>,
    /// Strings of the recycled row's text cells, in column order, so that
    /// each cell gets a string of about its size.
    texts: [String; 8],
    n: usize,
    next: usize,
}

impl SpareRow {
    /// A recycled row if there is one, else new buffers for `cells` cells.
    pub fn take(cells: usize) -> SpareRow {
        let spare = SPARE.lock().ok().and_then(|mut p| p.pop());
        let Some(mut values) = spare else {
            return SpareRow {
                values: Vec::with_capacity(cells),
                ..SpareRow::default()
            };
        };
        let mut row = SpareRow::default();
        for c in values.drain(..) {
            if let Value::Text(mut s) = c
                && row.n < row.texts.len()
            {
                s.clear();
                row.texts[row.n] = s;
                row.n += 1;
            }
        }
        values.reserve(cells);
        row.values = values;
        row
    }

    /// An empty string, reused when there is one.
    pub fn text(&mut self) -> String {
        if self.next >= self.n {
            return String::with_capacity(48);
        }
        self.next += 1;
        std::mem::take(&mut self.texts[self.next - 1])
    }
}

/// One cell of a flow row. Equality is "prints the same": floats compare by
/// bits, so `NaN == NaN` and `0.0 != -0.0`.
#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    Int(i64),
    Float(f64),
}

impl PartialEq for Value {
    fn eq(&self, o: &Value) -> bool {
        match (self, o) {
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl Eq for Value {}

/// A row's cells packed into one byte string, the form rows travel in from a
/// flow table to the writer: an extractor holds rows until they are final in
/// output order (that can be most of the rows of a capture), so they are
/// small. Each cell is a tag byte and the fewest bytes that keep it exact:
/// `Int`s in 0, 1, 2, 4 or 8 bytes; `Float`s `+0.0` in 0 bytes, integral
/// ones below 2^16 in 2, others as their 8 bits; text as a 1- or 4-byte
/// length and the bytes. About a sixth of the size of its `Vec<Value>`.
#[derive(Debug)]
pub(crate) struct PackedRow(Box<[u8]>);

const TAG_INT0: u8 = 0;
const TAG_INT8: u8 = 1;
const TAG_INT16: u8 = 2;
const TAG_INT32: u8 = 3;
const TAG_INT64: u8 = 4;
const TAG_FLOAT0: u8 = 5;
const TAG_FLOAT16: u8 = 6;
const TAG_FLOAT64: u8 = 7;
const TAG_TEXT8: u8 = 8;
const TAG_TEXT32: u8 = 9;

/// Builds a [`PackedRow`] cell by cell: tagged cells, or (made with
/// [`Packer::csv`]) the row's CSV line itself. Cells are written into a
/// [`RowBuf`]; a CSV cell is followed by its comma, and the row's last
/// comma is dropped when the row is finished.
#[derive(Debug, Default)]
pub(crate) struct Packer {
    b: RowBuf,
    /// Write the CSV line instead of tagged cells.
    csv: bool,
}

impl Packer {
    /// A packer with room for about `cells` cells.
    pub(crate) fn new(cells: usize) -> Packer {
        Packer {
            b: RowBuf::with_capacity(4 * cells + 96),
            csv: false,
        }
    }

    /// A packer that writes each row as its CSV line (no line end): the
    /// text [`super::csv::format_row`] gives for the row's cells.
    pub(crate) fn csv() -> Packer {
        Packer {
            b: RowBuf::with_capacity(4096),
            csv: true,
        }
    }

    /// Inline where a row is written: the one-digit cell (most counters)
    /// costs a few instructions, not a call.
    #[inline(always)]
    pub(crate) fn int(&mut self, x: i64) {
        if self.csv
            && let Ok(d @ 0..10) = u8::try_from(x)
        {
            // One digit and its comma in one copy.
            let mut t = [0; 16];
            t[0] = b'0' + d;
            t[1] = b',';
            self.b.put_fixed(&t, 2);
        } else {
            self.int_other(x);
        }
    }

    #[inline(never)]
    fn int_other(&mut self, x: i64) {
        let b = &mut self.b;
        if self.csv {
            put_i64(b, x);
            b.push(b',');
        } else if x == 0 {
            b.push(TAG_INT0);
        } else if let Ok(x) = i8::try_from(x) {
            b.push(TAG_INT8);
            b.extend_from_slice(&x.to_le_bytes());
        } else if let Ok(x) = i16::try_from(x) {
            b.push(TAG_INT16);
            b.extend_from_slice(&x.to_le_bytes());
        } else if let Ok(x) = i32::try_from(x) {
            b.push(TAG_INT32);
            b.extend_from_slice(&x.to_le_bytes());
        } else {
            b.push(TAG_INT64);
            b.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// Inline where a row is written: the CSV cell of `+0.0` costs one
    /// copy, not a call.
    #[inline(always)]
    pub(crate) fn float(&mut self, x: f64) {
        if self.csv && x.to_bits() == 0 {
            self.b.put_fixed(b"0.0,\0\0\0\0\0\0\0\0\0\0\0\0", 4);
        } else {
            self.float_other(x);
        }
    }

    #[inline(never)]
    fn float_other(&mut self, x: f64) {
        let b = &mut self.b;
        if self.csv {
            java_double_then::<true>(x, b);
        } else if x.to_bits() == 0 {
            // `+0.0` only: `-0.0` prints differently and keeps its bits.
            b.push(TAG_FLOAT0);
        } else if x > 0.0 && x < 65536.0 && x.fract() == 0.0 {
            b.push(TAG_FLOAT16);
            b.extend_from_slice(&(x as u16).to_le_bytes());
        } else {
            b.push(TAG_FLOAT64);
            b.extend_from_slice(&x.to_bits().to_le_bytes());
        }
    }

    /// [`Packer::float`] of each of `xs`.
    #[inline]
    pub(crate) fn floats<const N: usize>(&mut self, xs: [f64; N]) {
        for x in xs {
            self.float(x);
        }
    }

    /// `n` cells `Int(0)`.
    #[inline]
    pub(crate) fn zeros(&mut self, n: usize) {
        for _ in 0..n {
            self.int(0);
        }
    }

    pub(crate) fn text(&mut self, s: &str) {
        let b = &mut self.b;
        if self.csv {
            push_text(s, b);
            b.push(b',');
            return;
        }
        match u8::try_from(s.len()) {
            Ok(n) => {
                b.push(TAG_TEXT8);
                b.push(n);
            }
            Err(_) => {
                b.push(TAG_TEXT32);
                // A cell is far below 4 GiB (addresses, names, times).
                b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            }
        }
        b.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn push(&mut self, c: Cell<'_>) {
        match c {
            Cell::Int(x) => self.int(x),
            Cell::Float(x) => self.float(x),
            Cell::Text(s) => self.text(s),
        }
    }

    pub(crate) fn extend<'a>(&mut self, cells: impl IntoIterator<Item = Cell<'a>>) {
        for c in cells {
            self.push(c);
        }
    }

    /// A text cell that `write` writes: generated ASCII text (addresses,
    /// times, flow ids) that never needs CSV quoting, written in place.
    pub(crate) fn text_with(&mut self, write: impl FnOnce(&mut RowBuf)) {
        let b = &mut self.b;
        if self.csv {
            let start = b.len();
            write(b);
            debug_assert!(
                std::str::from_utf8(&b.as_slice()[start..])
                    .is_ok_and(|t| !super::csv::needs_quotes(t))
            );
            b.push(b',');
            return;
        }
        b.push(TAG_TEXT8);
        let at = b.len();
        b.push(0);
        write(b);
        debug_assert!(b.as_slice()[at + 1..].is_ascii());
        let n = b.len() - at - 1;
        match u8::try_from(n) {
            Ok(n) => b.set(at, n),
            Err(_) => {
                // Longer than any generated cell; kept exact all the same.
                b.set(at - 1, TAG_TEXT32);
                b.insert(at, &[0; 3]);
                for (i, x) in (n as u32).to_le_bytes().into_iter().enumerate() {
                    b.set(at + i, x);
                }
            }
        }
    }

    /// The first five cells of a row: `Flow ID` of the endpoints `id` (in
    /// the id's order) and `protocol`, then `Src IP`, `Src Port`, `Dst IP`,
    /// `Dst Port`. The address cells copy the flow id's text of the same
    /// address (positions in the row: a flow id is far below 256 bytes, so
    /// its cell header never grows after it is written).
    pub(crate) fn flow_endpoints(
        &mut self,
        id: [(IpAddr, u16); 2],
        protocol: u8,
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
    ) {
        let [(a, a_port), (b, b_port)] = id;
        let mut at = (0..0, 0..0);
        self.text_with(|s| at = push_flow_id(s, a, b, a_port, b_port, protocol));
        for (ip, port) in [src, dst] {
            self.text_with(|s| {
                if ip == a {
                    s.extend_from_within(at.0.clone());
                } else if ip == b {
                    s.extend_from_within(at.1.clone());
                } else {
                    push_ip(s, ip);
                }
            });
            self.int(i64::from(port));
        }
    }

    /// The row so far; the packer is empty again.
    pub(crate) fn finish(&mut self) -> PackedRow {
        if self.csv {
            // The comma after the last cell.
            self.b.truncate(self.b.len().saturating_sub(1));
        }
        let row = PackedRow(self.b.as_slice().into());
        self.b.clear();
        row
    }

    /// The row so far as the record of a flow; the packer is empty again.
    pub(crate) fn record(&mut self, start_us: i64, key: FlowKey) -> PackedRecord {
        PackedRecord {
            start_us,
            key,
            line: self.csv,
            row: self.finish(),
        }
    }
}

/// Rows a flow table closed, packed as they close, and the packer's
/// buffers for the next ones.
#[derive(Debug, Default)]
pub(crate) struct Closed {
    pub(crate) rows: Vec<PackedRecord>,
    pub(crate) packer: Packer,
}

impl Closed {
    /// Rows as tagged cells, or as CSV lines.
    pub(crate) fn new(csv: bool) -> Closed {
        Closed {
            rows: Vec::new(),
            packer: if csv { Packer::csv() } else { Packer::new(96) },
        }
    }
}

/// One cell of a packed row, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Int(i64),
    Float(f64),
    Text(&'a str),
}

/// The cells of a [`PackedRow`], in order; stops at the first malformed
/// cell (packed rows come from [`Packer`], so there are none).
pub(crate) struct Cells<'a> {
    b: &'a [u8],
}

impl<'a> Cells<'a> {
    fn word<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.b.split_first_chunk::<N>()?;
        self.b = rest;
        Some(*head)
    }

    fn text(&mut self, len: usize) -> Option<Cell<'a>> {
        let (bytes, rest) = self.b.split_at_checked(len)?;
        self.b = rest;
        // Packed from a `str`: always UTF-8.
        std::str::from_utf8(bytes).ok().map(Cell::Text)
    }
}

impl<'a> Iterator for Cells<'a> {
    type Item = Cell<'a>;

    fn next(&mut self) -> Option<Cell<'a>> {
        let [tag] = self.word::<1>()?;
        let cell = match tag {
            TAG_INT0 => Cell::Int(0),
            TAG_INT8 => Cell::Int(i64::from(i8::from_le_bytes(self.word()?))),
            TAG_INT16 => Cell::Int(i64::from(i16::from_le_bytes(self.word()?))),
            TAG_INT32 => Cell::Int(i64::from(i32::from_le_bytes(self.word()?))),
            TAG_INT64 => Cell::Int(i64::from_le_bytes(self.word()?)),
            TAG_FLOAT0 => Cell::Float(0.0),
            TAG_FLOAT16 => Cell::Float(f64::from(u16::from_le_bytes(self.word()?))),
            TAG_FLOAT64 => Cell::Float(f64::from_bits(u64::from_le_bytes(self.word()?))),
            TAG_TEXT8 => {
                let [n] = self.word::<1>()?;
                return self.text(usize::from(n));
            }
            TAG_TEXT32 => {
                let n = u32::from_le_bytes(self.word()?);
                return self.text(n as usize);
            }
            _ => return None,
        };
        Some(cell)
    }
}

impl PackedRow {
    /// Pack the cells; their buffers are recycled for new rows.
    pub(crate) fn pack(values: Vec<Value>) -> PackedRow {
        let mut p = Packer::new(values.len());
        for c in &values {
            match c {
                Value::Int(x) => p.int(*x),
                Value::Float(x) => p.float(*x),
                Value::Text(s) => p.text(s),
            }
        }
        recycle_values(values);
        p.finish()
    }

    /// The packed bytes (written to spill runs).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A row from bytes [`PackedRow::as_bytes`] gave.
    pub(crate) fn from_bytes(b: Box<[u8]>) -> PackedRow {
        PackedRow(b)
    }

    pub(crate) fn cells(&self) -> Cells<'_> {
        Cells { b: &self.0 }
    }

    /// The row as a CSV line without line end, appended to `out`: the text
    /// [`super::csv::format_row`] gives for the unpacked row. Reads the tags
    /// directly (the writer's hot loop): small cells print without a
    /// number formatter.
    pub(crate) fn write_csv(&self, out: &mut Vec<u8>) {
        let mut c = Cells { b: &self.0 };
        let mut first = true;
        let mut ints = itoa::Buffer::new();
        while let Some(&tag) = c.b.first() {
            if !first {
                out.push(b',');
            }
            first = false;
            match tag {
                TAG_INT0 => {
                    c.b = &c.b[1..];
                    out.push(b'0');
                }
                TAG_FLOAT0 => {
                    c.b = &c.b[1..];
                    out.extend_from_slice(b"0.0");
                }
                TAG_FLOAT16 => {
                    c.b = &c.b[1..];
                    let Some(x) = c.word::<2>() else { return };
                    out.extend_from_slice(ints.format(u16::from_le_bytes(x)).as_bytes());
                    out.extend_from_slice(b".0");
                }
                _ => match c.next() {
                    Some(Cell::Int(x)) => out.extend_from_slice(ints.format(x).as_bytes()),
                    Some(Cell::Float(x)) => java_double_bytes(x, out),
                    Some(Cell::Text(t)) => push_text(t, out),
                    None => return,
                },
            }
        }
    }

    /// The row again, cell for cell, in recycled buffers.
    pub(crate) fn unpack(self, start_us: i64, key: FlowKey) -> FlowRecord {
        let mut spare = SpareRow::take(self.0.len() / 4);
        let mut values = std::mem::take(&mut spare.values);
        values.extend(self.cells().map(|c| match c {
            Cell::Int(x) => Value::Int(x),
            Cell::Float(x) => Value::Float(x),
            Cell::Text(t) => {
                let mut s = spare.text();
                s.push_str(t);
                Value::Text(s)
            }
        }));
        FlowRecord {
            start_us,
            key,
            values,
        }
    }
}

/// A finished flow as it leaves an extractor on the fast path: its sort key
/// and its cells packed. The CSV writer formats it as is
/// ([`super::csv::CsvWriter::write_packed`]); anything else unpacks it.
#[derive(Debug)]
pub struct PackedRecord {
    /// Timestamp of the flow's first packet, µs since the epoch.
    pub start_us: i64,
    pub key: FlowKey,
    /// `row` holds the CSV line, not tagged cells (an extractor made with
    /// [`super::FlowParams::with_csv_rows`]).
    pub(crate) line: bool,
    pub(crate) row: PackedRow,
}

impl PackedRecord {
    /// The row as typed cells. A CSV-line row is read back by the form of
    /// each cell, which is exact for the rows flow tables make (a `Float`
    /// always prints with a `.`, an exponent, `NaN` or `Infinity`, an `Int`
    /// as digits, and no text cell of a profile is a number), except that a
    /// NaN comes back positive: CSV prints every NaN as `NaN`.
    pub fn unpack(self) -> FlowRecord {
        if !self.line {
            return self.row.unpack(self.start_us, self.key);
        }
        let line = String::from_utf8_lossy(self.row.as_bytes());
        FlowRecord {
            start_us: self.start_us,
            key: self.key,
            values: super::csv::split_line(&line)
                .into_iter()
                .map(typed_cell)
                .collect(),
        }
    }

    /// Pack a row.
    pub fn pack(r: FlowRecord) -> PackedRecord {
        PackedRecord {
            start_us: r.start_us,
            key: r.key,
            line: false,
            row: PackedRow::pack(r.values),
        }
    }
}

/// A printed cell's value: `Int` for digits, `Float` for a Java double's
/// text, `Text` otherwise.
fn typed_cell(s: String) -> Value {
    let unsigned = s.strip_prefix('-').unwrap_or(&s);
    let digits = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
    let float = matches!(unsigned, "NaN" | "Infinity")
        || (unsigned.contains('.') && unsigned.bytes().next().is_some_and(|b| b.is_ascii_digit()));
    if digits && let Ok(x) = s.parse() {
        return Value::Int(x);
    }
    if float && let Ok(x) = s.replace('E', "e").parse::<f64>() {
        return Value::Float(x);
    }
    Value::Text(s)
}

/// A finished flow: its sort key and its cells in the profile's column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// Timestamp of the flow's first packet, µs since the epoch.
    pub start_us: i64,
    pub key: FlowKey,
    pub values: Vec<Value>,
}

impl FlowRecord {
    /// The cell of column `i`, if any.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i)
    }

    /// The cell of column `i` as a number (`Int` widened), if numeric.
    pub fn number(&self, i: usize) -> Option<f64> {
        match self.values.get(i)? {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Text(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FlowKey, FlowRecord, PackedRow, Value};

    #[test]
    fn packed_rows_unpack_cell_for_cell() {
        let key = FlowKey::canonical(
            "10.0.0.1".parse().unwrap(),
            "::1".parse().unwrap(),
            1,
            2,
            17,
        );
        // Every cell size and each side of its bounds.
        let mut cells = vec![
            Value::Text("10.0.0.1-::1-1-2-17".into()),
            Value::Text(String::new()),
            Value::Text("déjà,\"vu\"".into()),
            Value::Text("x".repeat(255)),
            Value::Text("y".repeat(256)),
            Value::Text("z".repeat(70_000)),
        ];
        for x in [
            0, 1, 9, 10, -1, -9, 127, 128, -128, -129, 32767, 32768, -32768, -32769,
        ] {
            cells.push(Value::Int(x));
        }
        let (i32_max, i32_min) = (i64::from(i32::MAX), i64::from(i32::MIN));
        for x in [
            i32_max,
            i32_max + 1,
            i32_min,
            i32_min - 1,
            i64::MIN,
            i64::MAX,
        ] {
            cells.push(Value::Int(x));
        }
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            9_999_999.0,
            -10.0,
            0.5,
            65535.0,
            65536.0,
            65535.5,
            1e-300,
            f64::MIN_POSITIVE / 2.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            2.0824295e7,
        ] {
            cells.push(Value::Float(x));
        }
        let mut want = String::new();
        let whole = FlowRecord {
            start_us: 42,
            key,
            values: cells.clone(),
        };
        crate::flow::csv::format_row(&whole, &mut want);
        let mut got = Vec::new();
        PackedRow::pack(cells.clone()).write_csv(&mut got);
        assert_eq!(String::from_utf8(got).unwrap(), want);
        // The CSV-line packer writes that text, and it reads back as the cells.
        let mut csv = super::Packer::csv();
        for c in &cells {
            match c {
                Value::Int(x) => csv.int(*x),
                Value::Float(x) => csv.float(*x),
                Value::Text(t) => csv.text(t),
            }
        }
        let line = csv.record(42, key);
        assert_eq!(String::from_utf8_lossy(line.row.as_bytes()), want);
        // Every NaN prints as `NaN`, so a line cannot keep a NaN's sign.
        let nan_sign_aside = |v: &[Value]| -> Vec<Value> {
            v.iter()
                .map(|c| match c {
                    Value::Float(x) if x.is_nan() => Value::Float(f64::NAN),
                    c => c.clone(),
                })
                .collect()
        };
        assert_eq!(
            nan_sign_aside(&line.unpack().values),
            nan_sign_aside(&cells)
        );
        for _ in 0..3 {
            let r = PackedRow::pack(cells.clone()).unpack(42, key);
            assert_eq!((r.start_us, r.key), (42, key));
            assert_eq!(r.values, cells);
            super::recycle([r]);
        }
        assert!(PackedRow::pack(Vec::new()).unpack(0, key).values.is_empty());
        // Small cells take few bytes: 11 ints of at most 16 bits, 2 zeros.
        let small: Vec<Value> = (0..11)
            .map(Value::Int)
            .chain([Value::Float(0.0), Value::Float(0.0)])
            .collect();
        assert_eq!(PackedRow::pack(small).as_bytes().len(), 1 + 10 * 2 + 2);
    }

    #[test]
    fn texts_written_in_place_pack_as_text_cells() {
        let key = FlowKey::canonical(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            1,
            2,
            6,
        );
        let texts = [
            "",
            "10.0.0.1",
            &"a".repeat(255),
            &"b".repeat(256),
            &"c".repeat(70_000),
        ];
        for csv in [false, true] {
            let new = || {
                if csv {
                    super::Packer::csv()
                } else {
                    super::Packer::new(8)
                }
            };
            let (mut by_text, mut in_place) = (new(), new());
            for t in texts {
                by_text.text(t);
                by_text.int(7);
                in_place.text_with(|b| b.extend_from_slice(t.as_bytes()));
                in_place.int(7);
            }
            let (a, b) = (by_text.record(1, key), in_place.record(1, key));
            assert_eq!(a.row.as_bytes(), b.row.as_bytes(), "csv {csv}");
            let cells = b.unpack().values;
            assert_eq!(cells.len(), 2 * texts.len());
            for (i, t) in texts.iter().enumerate() {
                assert_eq!(cells[2 * i], Value::Text(t.to_string()));
            }
        }
    }

    #[test]
    fn packed_rows_print_as_their_cells_do() {
        let key = FlowKey::canonical(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            1,
            2,
            6,
        );
        let values = vec![
            Value::Text("a,\"b\"".into()),
            Value::Int(-70_000),
            Value::Float(-0.0),
            Value::Float(12.0),
            Value::Float(1e7),
            Value::Float(0.1),
            Value::Float(f64::NAN),
            Value::Text("c".into()),
            Value::Int(0),
            Value::Float(0.0),
            Value::Float(65535.0),
            Value::Float(65536.0),
        ];
        let r = FlowRecord {
            start_us: 5,
            key,
            values: values.clone(),
        };
        let mut want = String::new();
        crate::flow::csv::format_row(&r, &mut want);
        assert_eq!(
            want,
            "\"a,\"\"b\"\"\",-70000,-0.0,12.0,1.0E7,0.1,NaN,c,0,0.0,65535.0,65536.0"
        );
        let mut got = Vec::new();
        PackedRow::pack(values).write_csv(&mut got);
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn cells_are_equal_when_they_print_the_same() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
        assert_ne!(Value::Float(0.0), Value::Int(0));
        assert_eq!(Value::Float(1.5), Value::Float(1.5));
    }
}
