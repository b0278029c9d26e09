//! `FlowRecord`: one finished flow as a row of typed cells.
//!
//! Takes nothing; gives the plain type the writers consume. Cells keep the
//! type the Java tool printed them with (`Int` for Java `int`/`long` and the
//! literal `0` placeholders, `Float` for `double`), so a writer can reproduce
//! `0` vs `0.0` exactly.
//!
//! Row buffers are recycled: a writer done with rows hands them to
//! [`recycle`], and the flow tables build new rows in those cell vectors and
//! text strings ([`SpareRow`]) instead of allocating. A row is about 3 KB;
//! allocating each and freeing it on the writer thread kept the allocator
//! taking fresh pages, which the kernel zeroed (a quarter of a `flows` run).
//! The pool only holds memory, never content: output does not depend on it.

use super::key::FlowKey;
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

/// A row's cells packed into one byte string (about a third of the size of
/// its `Vec<Value>`), for rows an extractor holds until they are final in
/// output order: that can be most of the rows of a capture. Cells are a tag
/// byte and the value: `i32`-sized `Int`s in 4 bytes, other `Int`s and
/// `Float` bits in 8, text as a 4-byte length and the bytes.
#[derive(Debug)]
pub(crate) struct PackedRow(Box<[u8]>);

const TAG_INT32: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_FLOAT: u8 = 2;
const TAG_TEXT: u8 = 3;

impl PackedRow {
    /// Pack the cells; their buffers are recycled for new rows.
    pub(crate) fn pack(mut values: Vec<Value>) -> PackedRow {
        // Room for every cell at its largest and the usual texts; shrinking
        // to the length afterwards is done in place by the allocator.
        let mut b = Vec::with_capacity(9 * values.len() + 160);
        let mut texts: [String; 8] = Default::default();
        let mut n = 0;
        for c in values.drain(..) {
            match c {
                Value::Int(x) => match i32::try_from(x) {
                    Ok(x) => {
                        b.push(TAG_INT32);
                        b.extend_from_slice(&x.to_le_bytes());
                    }
                    Err(_) => {
                        b.push(TAG_INT);
                        b.extend_from_slice(&x.to_le_bytes());
                    }
                },
                Value::Float(x) => {
                    b.push(TAG_FLOAT);
                    b.extend_from_slice(&x.to_bits().to_le_bytes());
                }
                Value::Text(s) => {
                    b.push(TAG_TEXT);
                    // A cell is far below 4 GiB (addresses, names, times).
                    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    b.extend_from_slice(s.as_bytes());
                    if n < texts.len() {
                        texts[n] = s;
                        n += 1;
                    }
                }
            }
        }
        // The emptied vector keeps the strings for the next row's texts.
        values.extend(texts.into_iter().take(n).map(Value::Text));
        recycle_values(values);
        PackedRow(b.into_boxed_slice())
    }

    /// The packed bytes (written to spill runs).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A row from bytes [`PackedRow::as_bytes`] gave.
    pub(crate) fn from_bytes(b: Box<[u8]>) -> PackedRow {
        PackedRow(b)
    }

    /// The row again, cell for cell, in recycled buffers.
    pub(crate) fn unpack(self, start_us: i64, key: FlowKey) -> FlowRecord {
        let b = &self.0;
        let mut spare = SpareRow::take(b.len() / 8);
        let mut values = std::mem::take(&mut spare.values);
        let mut i = 0;
        // Constant-size reads: the compiler makes them plain loads.
        let word4 = |at: usize| b.get(at..at + 4).and_then(|w| <[u8; 4]>::try_from(w).ok());
        let word8 = |at: usize| b.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok());
        while let Some(&tag) = b.get(i) {
            let cell = match tag {
                TAG_INT32 => word4(i + 1).map(|w| {
                    i += 5;
                    Value::Int(i64::from(i32::from_le_bytes(w)))
                }),
                TAG_INT => word8(i + 1).map(|w| {
                    i += 9;
                    Value::Int(i64::from_le_bytes(w))
                }),
                TAG_FLOAT => word8(i + 1).map(|w| {
                    i += 9;
                    Value::Float(f64::from_bits(u64::from_le_bytes(w)))
                }),
                _ => word4(i + 1).map(|w| {
                    let len = u32::from_le_bytes(w) as usize;
                    let bytes = b.get(i + 5..i + 5 + len).unwrap_or_default();
                    i += 5 + len;
                    let mut s = spare.text();
                    // Packed from a `String`: always UTF-8.
                    s.push_str(std::str::from_utf8(bytes).unwrap_or_default());
                    Value::Text(s)
                }),
            };
            let Some(cell) = cell else { break };
            values.push(cell);
        }
        FlowRecord {
            start_us,
            key,
            values,
        }
    }
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
    use super::{FlowKey, PackedRow, Value};

    #[test]
    fn packed_rows_unpack_cell_for_cell() {
        let key = FlowKey::canonical(
            "10.0.0.1".parse().unwrap(),
            "::1".parse().unwrap(),
            1,
            2,
            17,
        );
        let cells = vec![
            Value::Text("10.0.0.1-::1-1-2-17".into()),
            Value::Int(-1),
            Value::Int(i64::from(i32::MAX) + 1),
            Value::Int(i64::MIN),
            Value::Float(-0.0),
            Value::Float(f64::NAN),
            Value::Float(2.0824295e7),
            Value::Text(String::new()),
            Value::Text("déjà,\"vu\"".into()),
        ];
        for _ in 0..3 {
            let r = PackedRow::pack(cells.clone()).unpack(42, key);
            assert_eq!((r.start_us, r.key), (42, key));
            assert_eq!(r.values, cells);
            super::recycle([r]);
        }
        assert!(PackedRow::pack(Vec::new()).unpack(0, key).values.is_empty());
    }

    #[test]
    fn cells_are_equal_when_they_print_the_same() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
        assert_ne!(Value::Float(0.0), Value::Int(0));
        assert_eq!(Value::Float(1.5), Value::Float(1.5));
    }
}
