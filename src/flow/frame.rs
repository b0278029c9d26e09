//! Parquet output of flow rows, through polars. The only module of the flow
//! stage that sees polars: it takes [`FlowRecord`]s and gives a Parquet file
//! with typed columns (`Int64` for integer cells, `Float64` for doubles,
//! `String` for text), written in row groups of [`ROW_GROUP`] rows as flows
//! close, so memory stays bounded by one row group.
//!
//! Column types are declared per profile ([`column_kinds`]), not inferred:
//! the Java tool prints an integer `0` placeholder in some rows of columns
//! that are doubles in others (e.g. `Active Mean` of a flow with no active
//! period), so such columns are `Float64` and integer cells in them are
//! widened. A float or text cell in an integer column is an error (a test
//! runs every profile over every shared capture to keep the lists right).
//! Parquet column
//! names must be unique: a repeated name (P17's second `Fwd Header Length`)
//! gets a `.1` suffix, as pandas does when it reads the CSV. Output bytes
//! depend only on the rows (no timestamps in the metadata), so they are the
//! same whatever the thread count.

use super::error::FlowError;
use super::profile::Profile;
use super::record::{FlowRecord, Value};
use polars::prelude::*;
use std::io::Write;

/// Rows per Parquet row group.
pub const ROW_GROUP: usize = 65_536;

/// The Parquet type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Int,
    Float,
}

/// Columns printed as text in every profile (names without leading spaces).
const TEXT_COLUMNS: &[&str] = &[
    "Flow ID",
    "Src IP",
    "Source IP",
    "Dst IP",
    "Destination IP",
    "Timestamp",
    "Label",
];

/// Integer (Java `int`/`long`) columns of the V3 profiles, long and short names.
const V3_INT_COLUMNS: &[&str] = &[
    "Source Port",
    "Destination Port",
    "Src Port",
    "Dst Port",
    "Protocol",
    "Flow Duration",
    "Total Fwd Packets",
    "Total Backward Packets",
    "Tot Fwd Pkts",
    "Tot Bwd Pkts",
    "Fwd PSH Flags",
    "Bwd PSH Flags",
    "Fwd URG Flags",
    "Bwd URG Flags",
    "Fwd Header Length",
    "Bwd Header Length",
    "Fwd Header Len",
    "Bwd Header Len",
    "FIN Flag Count",
    "SYN Flag Count",
    "RST Flag Count",
    "PSH Flag Count",
    "ACK Flag Count",
    "URG Flag Count",
    "CWE Flag Count",
    "ECE Flag Count",
    "FIN Flag Cnt",
    "SYN Flag Cnt",
    "RST Flag Cnt",
    "PSH Flag Cnt",
    "ACK Flag Cnt",
    "URG Flag Cnt",
    "ECE Flag Cnt",
    "Fwd Avg Bytes/Bulk",
    "Fwd Avg Packets/Bulk",
    "Fwd Avg Bulk Rate",
    "Bwd Avg Bytes/Bulk",
    "Bwd Avg Packets/Bulk",
    "Bwd Avg Bulk Rate",
    "Fwd Byts/b Avg",
    "Fwd Pkts/b Avg",
    "Fwd Blk Rate Avg",
    "Bwd Byts/b Avg",
    "Bwd Pkts/b Avg",
    "Bwd Blk Rate Avg",
    "Subflow Fwd Packets",
    "Subflow Fwd Bytes",
    "Subflow Bwd Packets",
    "Subflow Bwd Bytes",
    "Subflow Fwd Pkts",
    "Subflow Fwd Byts",
    "Subflow Bwd Pkts",
    "Subflow Bwd Byts",
    "Init_Win_bytes_forward",
    "Init_Win_bytes_backward",
    "Init Fwd Win Byts",
    "Init Bwd Win Byts",
    "act_data_pkt_fwd",
    "min_seg_size_forward",
    "Fwd Act Data Pkts",
    "Fwd Seg Size Min",
];

/// Integer columns of the engelen and corrected profiles.
const PE_INT_COLUMNS: &[&str] = &[
    "Src Port",
    "Dst Port",
    "Protocol",
    "Flow Duration",
    "Total Fwd Packet",
    "Total Bwd packets",
    "Fwd PSH Flags",
    "Bwd PSH Flags",
    "Fwd URG Flags",
    "Bwd URG Flags",
    "Fwd RST Flags",
    "Bwd RST Flags",
    "Fwd Header Length",
    "Bwd Header Length",
    "FIN Flag Count",
    "SYN Flag Count",
    "RST Flag Count",
    "PSH Flag Count",
    "ACK Flag Count",
    "URG Flag Count",
    "CWR Flag Count",
    "ECE Flag Count",
    "FWD Init Win Bytes",
    "Bwd Init Win Bytes",
    "Fwd Act Data Pkts",
    "Bwd Act Data Pkts",
    "Fwd Seg Size Min",
    "Bwd Seg Size Min",
    "ICMP Code",
    "ICMP Type",
    "Fwd TCP Retrans. Count",
    "Bwd TCP Retrans. Count",
    "Total TCP Retrans. Count",
    "Total Connection Flow Time",
];

/// The Parquet type of each column of `profile`, in column order.
pub fn column_kinds(profile: Profile) -> Vec<ColumnKind> {
    let ints = match profile {
        Profile::Cic2017 | Profile::Cic2018 => V3_INT_COLUMNS,
        Profile::Engelen | Profile::Corrected => PE_INT_COLUMNS,
    };
    profile
        .columns()
        .iter()
        .map(|name| {
            let name = name.trim();
            if TEXT_COLUMNS.contains(&name) {
                ColumnKind::Text
            } else if ints.contains(&name) {
                ColumnKind::Int
            } else {
                ColumnKind::Float
            }
        })
        .collect()
}

enum Col {
    Text(Vec<String>),
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl Col {
    fn of(kind: ColumnKind) -> Col {
        match kind {
            ColumnKind::Text => Col::Text(Vec::with_capacity(ROW_GROUP)),
            ColumnKind::Int => Col::Int(Vec::with_capacity(ROW_GROUP)),
            ColumnKind::Float => Col::Float(Vec::with_capacity(ROW_GROUP)),
        }
    }
}

/// Writes flow rows to Parquet.
pub struct ParquetFlowWriter<W: Write> {
    out: Option<W>,
    writer: Option<BatchedWriter<W>>,
    names: Vec<PlSmallStr>,
    cols: Vec<Col>,
    buffered: usize,
    rows: u64,
}

impl<W: Write> std::fmt::Debug for ParquetFlowWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetFlowWriter")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

fn unique_names(header: &[&str]) -> Vec<PlSmallStr> {
    let mut seen: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    header
        .iter()
        .map(|name| {
            let n = seen.entry(name).or_insert(0);
            let out = if *n == 0 {
                name.to_string()
            } else {
                format!("{name}.{n}")
            };
            *n += 1;
            PlSmallStr::from(out)
        })
        .collect()
}

fn polars_err(e: PolarsError) -> FlowError {
    FlowError::Parquet(e.to_string())
}

impl<W: Write> ParquetFlowWriter<W> {
    /// A writer for the rows of `profile`.
    pub fn new(out: W, profile: Profile) -> ParquetFlowWriter<W> {
        ParquetFlowWriter::with_columns(out, &profile.columns(), &column_kinds(profile))
    }

    /// A writer for rows with these column names and types (in order).
    pub fn with_columns(out: W, header: &[&str], kinds: &[ColumnKind]) -> ParquetFlowWriter<W> {
        ParquetFlowWriter {
            out: Some(out),
            writer: None,
            names: unique_names(header),
            cols: kinds.iter().map(|k| Col::of(*k)).collect(),
            buffered: 0,
            rows: 0,
        }
    }

    /// Buffer one row; a full row group is written out.
    pub fn write(&mut self, r: &FlowRecord) -> Result<(), FlowError> {
        if r.values.len() != self.names.len() {
            return Err(FlowError::Parquet(format!(
                "row has {} cells but the header has {} columns",
                r.values.len(),
                self.names.len()
            )));
        }
        for (i, (col, v)) in self.cols.iter_mut().zip(&r.values).enumerate() {
            let fits = match (&mut *col, v) {
                (Col::Text(c), Value::Text(s)) => {
                    c.push(s.clone());
                    true
                }
                (Col::Int(c), Value::Int(x)) => {
                    c.push(*x);
                    true
                }
                (Col::Float(c), Value::Float(x)) => {
                    c.push(*x);
                    true
                }
                // The tool's integer `0` placeholders in double columns.
                (Col::Float(c), Value::Int(x)) => {
                    c.push(*x as f64);
                    true
                }
                _ => false,
            };
            if !fits {
                let declared = match col {
                    Col::Text(_) => "text",
                    Col::Int(_) => "integer",
                    Col::Float(_) => "float",
                };
                return Err(FlowError::Parquet(format!(
                    "column {:?} is declared {declared} but row {} has {v:?}",
                    self.names[i], self.rows
                )));
            }
        }
        self.buffered += 1;
        self.rows += 1;
        if self.buffered == ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn frame(&mut self) -> Result<DataFrame, FlowError> {
        let height = self.buffered;
        let columns: Vec<Column> = if self.cols.is_empty() {
            self.names
                .iter()
                .map(|n| Column::new(n.clone(), Vec::<String>::new()))
                .collect()
        } else {
            self.names
                .iter()
                .zip(self.cols.iter_mut())
                .map(|(n, c)| match c {
                    Col::Text(v) => Column::new(n.clone(), std::mem::take(v)),
                    Col::Int(v) => Column::new(n.clone(), std::mem::take(v)),
                    Col::Float(v) => Column::new(n.clone(), std::mem::take(v)),
                })
                .collect()
        };
        self.buffered = 0;
        DataFrame::new(height, columns).map_err(polars_err)
    }

    fn flush(&mut self) -> Result<(), FlowError> {
        let df = self.frame()?;
        if self.writer.is_none() {
            let out = self
                .out
                .take()
                .ok_or_else(|| FlowError::Parquet("writer already finished".into()))?;
            let w = ParquetWriter::new(out)
                .with_compression(ParquetCompression::Zstd(None))
                .with_statistics(StatisticsOptions::full())
                .batched(df.schema())
                .map_err(polars_err)?;
            self.writer = Some(w);
        }
        if df.height() > 0
            && let Some(w) = &mut self.writer
        {
            w.write_batch(&df).map_err(polars_err)?;
        }
        Ok(())
    }

    /// Write what is buffered and the file footer; returns the rows written.
    pub fn finish(mut self) -> Result<u64, FlowError> {
        self.flush()?;
        if let Some(w) = &self.writer {
            w.finish().map_err(polars_err)?;
        }
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::FlowKey;

    fn row(vals: Vec<Value>) -> FlowRecord {
        FlowRecord {
            start_us: 0,
            key: FlowKey {
                a: std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
                b: std::net::Ipv4Addr::new(10, 0, 0, 2).into(),
                a_port: 1,
                b_port: 2,
                protocol: 6,
            },
            values: vals,
        }
    }

    fn read(bytes: Vec<u8>) -> DataFrame {
        ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .unwrap()
    }

    #[test]
    fn every_profile_declares_a_kind_per_column() {
        for p in [
            Profile::Cic2017,
            Profile::Cic2018,
            Profile::Engelen,
            Profile::Corrected,
        ] {
            let kinds = column_kinds(p);
            assert_eq!(kinds.len(), p.columns().len());
            assert_eq!(
                kinds.iter().filter(|k| **k == ColumnKind::Text).count(),
                5,
                "{p}"
            );
            assert!(
                kinds.iter().filter(|k| **k == ColumnKind::Int).count() >= 30,
                "{p}"
            );
        }
    }

    #[test]
    fn repeated_names_get_suffixes() {
        let n = unique_names(&["a", "b", "a", "a"]);
        assert_eq!(n, vec!["a", "b", "a.1", "a.2"]);
    }

    #[test]
    fn typed_columns_round_trip_across_row_groups() {
        use ColumnKind::{Float, Int, Text};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let file = std::fs::File::create(&path).unwrap();
        let mut w =
            ParquetFlowWriter::with_columns(file, &["id", "n", "x", "n"], &[Text, Int, Float, Int]);
        let rows = ROW_GROUP + 10;
        for i in 0..rows {
            let x = match i {
                3 => Value::Float(f64::NAN),
                4 => Value::Float(f64::INFINITY),
                5 => Value::Int(0),
                _ => Value::Float(i as f64 / 4.0),
            };
            let vals = vec![
                Value::Text(format!("f{i}")),
                Value::Int(i as i64),
                x,
                Value::Int(-(i as i64)),
            ];
            w.write(&row(vals)).unwrap();
        }
        assert_eq!(w.finish().unwrap(), rows as u64);
        let df = read(std::fs::read(&path).unwrap());
        assert_eq!(df.height(), rows);
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(names, vec!["id", "n", "x", "n.1"]);
        assert_eq!(df.column("id").unwrap().dtype(), &DataType::String);
        assert_eq!(df.column("n").unwrap().dtype(), &DataType::Int64);
        assert_eq!(df.column("x").unwrap().dtype(), &DataType::Float64);
        let n = df.column("n.1").unwrap().i64().unwrap().get(rows - 1);
        assert_eq!(n, Some(-((rows - 1) as i64)));
        let x = df.column("x").unwrap().f64().unwrap();
        assert!(x.get(3).unwrap().is_nan());
        assert_eq!(x.get(4), Some(f64::INFINITY));
        assert_eq!(x.get(5), Some(0.0));
        assert_eq!(x.get(8), Some(2.0));
        let id = df
            .column("id")
            .unwrap()
            .str()
            .unwrap()
            .get(ROW_GROUP + 1)
            .map(str::to_string);
        assert_eq!(id, Some(format!("f{}", ROW_GROUP + 1)));
    }

    #[test]
    fn ints_widen_into_float_columns_and_other_mismatches_are_errors() {
        use ColumnKind::{Float, Int};
        let mut w = ParquetFlowWriter::with_columns(Vec::new(), &["x", "n"], &[Float, Int]);
        w.write(&row(vec![Value::Float(0.5), Value::Int(1)]))
            .unwrap();
        w.write(&row(vec![Value::Int(2), Value::Int(1)])).unwrap();
        let err = w
            .write(&row(vec![Value::Float(1.0), Value::Float(1.5)]))
            .unwrap_err();
        assert!(
            err.to_string().contains("\"n\" is declared integer"),
            "{err}"
        );
        let err = ParquetFlowWriter::with_columns(Vec::new(), &["a", "b"], &[Int, Int])
            .write(&row(vec![Value::Int(1)]))
            .unwrap_err();
        assert!(
            err.to_string().contains("1 cells but the header has 2"),
            "{err}"
        );
    }

    #[test]
    fn empty_output_is_a_valid_file_with_typed_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.parquet");
        let w = ParquetFlowWriter::new(std::fs::File::create(&path).unwrap(), Profile::Engelen);
        assert_eq!(w.finish().unwrap(), 0);
        let df = read(std::fs::read(&path).unwrap());
        assert_eq!(df.height(), 0);
        assert_eq!(df.width(), 94);
        assert_eq!(
            df.column("Flow Duration").unwrap().dtype(),
            &DataType::Int64
        );
        assert_eq!(
            df.column("Flow Bytes/s").unwrap().dtype(),
            &DataType::Float64
        );
        assert_eq!(df.column("Src IP").unwrap().dtype(), &DataType::String);
    }
}
