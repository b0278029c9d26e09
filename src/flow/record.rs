//! `FlowRecord`: one finished flow as a row of typed cells.
//!
//! Takes nothing; gives the plain type the writers consume. Cells keep the
//! type the Java tool printed them with (`Int` for Java `int`/`long` and the
//! literal `0` placeholders, `Float` for `double`), so a writer can reproduce
//! `0` vs `0.0` exactly.

use super::key::FlowKey;

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
    use super::Value;

    #[test]
    fn cells_are_equal_when_they_print_the_same() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
        assert_ne!(Value::Float(0.0), Value::Int(0));
        assert_eq!(Value::Float(1.5), Value::Float(1.5));
    }
}
