//! `FlowRecord`: one finished flow as a row of typed cells.
//!
//! Takes nothing; gives the plain type the writers consume. Cells keep the
//! type the Java tool printed them with (`Int` for Java `int`/`long` and the
//! literal `0` placeholders, `Float` for `double`), so a writer can reproduce
//! `0` vs `0.0` exactly.

use super::key::FlowKey;

/// One cell of a flow row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Float(f64),
}

/// A finished flow: its sort key and its cells in the profile's column order.
#[derive(Debug, Clone, PartialEq)]
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
