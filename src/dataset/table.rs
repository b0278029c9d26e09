//! Feature tables: flow CSVs in (ours, CIC-IDS2017, CSE-CIC-IDS2018), one
//! canonical numeric matrix with labels out.
//!
//! Takes a CSV as the tools really write it: CIC-IDS2017 names with leading
//! spaces and the duplicated `Fwd Header Length` (or pandas' `.1` copy of
//! it), CSE-CIC-IDS2018 short names, our `engelen`/`corrected` names;
//! `Infinity`, `NaN` and empty cells; mis-encoded bytes in labels (the
//! CIC-IDS2017 web-attack labels carry a cp1252 dash). Gives a
//! [`FeatureTable`]: canonical feature names (the CIC-IDS2017 names, trimmed;
//! columns only our profiles have keep their names), a row-major `f64`
//! matrix, normalised labels, and a [`LoadReport`] that says what was done:
//! non-finite cells per column and the [`NonFinite`] policy applied, rows
//! dropped, labels repaired, columns excluded.
//!
//! Identifier columns (`Flow ID`, addresses, ports, `Timestamp`) and the
//! ground-truth metadata columns of `flows --labels` are excluded from the
//! features: they identify the capture, not the behaviour, and a model that
//! learns them does not generalise.

use super::DatasetError;
use crate::flow::profile::{P17_HEADER, P18_HEADER, PE_HEADER};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Columns that identify a flow rather than describe it (canonical names).
pub const IDENTIFIERS: [&str; 6] = [
    "Flow ID",
    "Source IP",
    "Source Port",
    "Destination IP",
    "Destination Port",
    "Timestamp",
];

/// Ground-truth metadata columns `flows --labels` adds.
pub const METADATA: [&str; 3] = ["Attack Technique", "Campaign", "Step"];

/// The label column.
pub const LABEL: &str = "Label";

/// What to do with `Infinity`, `NaN` and empty cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NonFinite {
    /// Drop every row that has one.
    Drop,
    /// Replace them by 0.
    Zero,
    /// +inf -> the column's largest finite value, -inf -> its smallest,
    /// NaN and empty -> 0.
    Clip,
}

impl NonFinite {
    pub const ALL: [NonFinite; 3] = [NonFinite::Drop, NonFinite::Zero, NonFinite::Clip];

    /// As written on the command line and in config files.
    pub fn name(self) -> &'static str {
        match self {
            NonFinite::Drop => "drop",
            NonFinite::Zero => "zero",
            NonFinite::Clip => "clip",
        }
    }
}

/// What loading did to the data.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    pub path: String,
    /// `cic2017`, `cic2018` or `maximus` (our engelen/corrected names).
    pub header: String,
    pub rows_read: u64,
    pub rows_kept: u64,
    /// Rows with at least one non-finite feature cell.
    pub rows_with_nonfinite: u64,
    /// Non-finite cells per canonical column.
    pub nonfinite_cells: BTreeMap<String, u64>,
    pub policy: Option<NonFinite>,
    /// Rows dropped by the `drop` policy.
    pub rows_dropped: u64,
    /// Labels whose text was repaired (encoding, spacing, case of BENIGN).
    pub labels_repaired: u64,
    /// Columns not used as features (identifiers, metadata, duplicates).
    pub excluded: Vec<String>,
}

/// A numeric feature matrix with labels.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    /// Canonical feature names, in column order.
    pub features: Vec<String>,
    /// Row-major values, `rows() * features.len()`.
    pub x: Vec<f64>,
    /// One label per row (empty when the file has none).
    pub labels: Vec<String>,
    pub report: LoadReport,
}

impl FeatureTable {
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        let d = self.features.len();
        &self.x[i * d..(i + 1) * d]
    }

    /// Rows per label, sorted by label.
    pub fn class_counts(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for l in &self.labels {
            *m.entry(l.clone()).or_insert(0) += 1;
        }
        m
    }

    /// The columns `names` in that order; `Err` names the missing ones.
    pub fn select(&self, names: &[String]) -> Result<FeatureTable, Vec<String>> {
        let idx: Vec<Option<usize>> = names
            .iter()
            .map(|n| self.features.iter().position(|f| f == n))
            .collect();
        let missing: Vec<String> = names
            .iter()
            .zip(&idx)
            .filter(|(_, i)| i.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let idx: Vec<usize> = idx.into_iter().flatten().collect();
        let mut x = Vec::with_capacity(self.rows() * idx.len());
        for r in 0..self.rows() {
            let row = self.row(r);
            x.extend(idx.iter().map(|&i| row[i]));
        }
        Ok(FeatureTable {
            features: names.to_vec(),
            x,
            labels: self.labels.clone(),
            report: self.report.clone(),
        })
    }
}

/// Our engelen/corrected names that differ from the CIC-IDS2017 ones.
const PE_TO_CANONICAL: [(&str, &str); 24] = [
    ("Src IP", "Source IP"),
    ("Src Port", "Source Port"),
    ("Dst IP", "Destination IP"),
    ("Dst Port", "Destination Port"),
    ("Total Fwd Packet", "Total Fwd Packets"),
    ("Total Bwd packets", "Total Backward Packets"),
    ("Total Length of Fwd Packet", "Total Length of Fwd Packets"),
    ("Total Length of Bwd Packet", "Total Length of Bwd Packets"),
    ("Packet Length Min", "Min Packet Length"),
    ("Packet Length Max", "Max Packet Length"),
    ("CWR Flag Count", "CWE Flag Count"),
    ("Fwd Segment Size Avg", "Avg Fwd Segment Size"),
    ("Bwd Segment Size Avg", "Avg Bwd Segment Size"),
    ("Fwd Bytes/Bulk Avg", "Fwd Avg Bytes/Bulk"),
    ("Fwd Packet/Bulk Avg", "Fwd Avg Packets/Bulk"),
    ("Fwd Bulk Rate Avg", "Fwd Avg Bulk Rate"),
    ("Bwd Bytes/Bulk Avg", "Bwd Avg Bytes/Bulk"),
    ("Bwd Packet/Bulk Avg", "Bwd Avg Packets/Bulk"),
    ("Bwd Bulk Rate Avg", "Bwd Avg Bulk Rate"),
    ("FWD Init Win Bytes", "Init_Win_bytes_forward"),
    ("Bwd Init Win Bytes", "Init_Win_bytes_backward"),
    ("Fwd Act Data Pkts", "act_data_pkt_fwd"),
    ("Fwd Seg Size Min", "min_seg_size_forward"),
    ("Fwd Header Length.1", "Fwd Header Length.1"),
];

/// Header variant -> canonical name, for every name any profile writes.
fn canonical_names() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let p17: Vec<&str> = P17_HEADER.split(',').map(str::trim).collect();
    // P17 without its duplicated Fwd Header Length lines up with P18.
    let mut p17_single = p17.clone();
    p17_single.remove(61);
    for n in &p17 {
        m.insert((*n).to_string(), (*n).to_string());
    }
    for (short, long) in P18_HEADER.split(',').zip(&p17_single) {
        m.insert(short.trim().to_string(), (*long).to_string());
    }
    for n in PE_HEADER.split(',') {
        m.entry(n.to_string()).or_insert_with(|| n.to_string());
    }
    for (pe, canon) in PE_TO_CANONICAL {
        m.insert(pe.to_string(), canon.to_string());
    }
    m
}

/// The canonical name of a header cell (trimmed; unknown names kept).
pub fn canonical(name: &str) -> String {
    let n = name.trim();
    canonical_names()
        .get(n)
        .cloned()
        .unwrap_or_else(|| n.to_string())
}

/// Repair a label: lossy UTF-8 (mis-encoded dashes become `-`), spacing
/// collapsed, `benign` in any case -> `BENIGN`.
fn repair_label(raw: &[u8]) -> (String, bool) {
    let s = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = match c {
            '\u{fffd}' | '\u{2013}' | '\u{2014}' | '\u{96}' => '-',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with(' ') {
        out.pop();
    }
    if out.eq_ignore_ascii_case("benign") {
        out = "BENIGN".into();
    }
    let changed = out.as_bytes() != raw;
    (out, changed)
}

pub(super) fn parse_cell(b: &[u8]) -> f64 {
    let t = b.trim_ascii();
    if t.is_empty() {
        return f64::NAN;
    }
    // Correctly rounded, like `str::parse`, straight from the bytes; also
    // reads `Infinity`, `inf` and `NaN` in any case.
    fast_float2::parse(t).unwrap_or(f64::NAN)
}

/// Read a flow CSV. `policy` handles non-finite cells.
pub fn read_csv(path: &Path, policy: NonFinite) -> Result<FeatureTable, DatasetError> {
    read_csv_ids(path, policy, false).map(|(t, _)| t)
}

fn read_csv_ids(
    path: &Path,
    policy: NonFinite,
    ids: bool,
) -> Result<(FeatureTable, Identities), DatasetError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| DatasetError::Open {
        path: name.clone(),
        source: e,
    })?;
    read_csv_from_ids(
        std::io::BufReader::with_capacity(1 << 20, file),
        &name,
        policy,
        ids,
    )
}

/// [`read_csv`] from any reader; `name` is used in messages.
pub fn read_csv_from(
    r: impl std::io::Read,
    name: &str,
    policy: NonFinite,
) -> Result<FeatureTable, DatasetError> {
    read_csv_from_ids(r, name, policy, false).map(|(t, _)| t)
}

fn read_csv_from_ids(
    r: impl std::io::Read,
    name: &str,
    policy: NonFinite,
    ids: bool,
) -> Result<(FeatureTable, Identities), DatasetError> {
    let bad = |line: usize, message: String| DatasetError::Labels {
        path: name.to_string(),
        line,
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(r);
    let header = rdr
        .byte_headers()
        .map_err(|e| bad(1, format!("cannot read the header: {e}")))?
        .clone();
    let raw: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let report = LoadReport {
        path: name.to_string(),
        header: header_kind(&raw).into(),
        policy: Some(policy),
        ..LoadReport::default()
    };
    let mut b = TableBuilder::new(&raw, report, policy).map_err(|m| bad(1, m))?;
    let id_cols = if ids {
        Some(IdColumns::find(&raw).map_err(|m| bad(1, m))?)
    } else {
        None
    };
    let mut identities = Vec::new();
    let mut rec = csv::ByteRecord::new();
    let mut line = 1usize;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let l = e.position().map_or(line + 1, |p| p.line() as usize);
                return Err(bad(l, format!("{e}")));
            }
        }
        line += 1;
        let label = b.label_col.map(|c| rec.get(c).unwrap_or(b"").to_vec());
        let kept = b.push_row(
            |col| parse_cell(rec.get(col).unwrap_or(b"")),
            label.as_deref(),
        );
        if let (true, Some(ic)) = (kept, &id_cols) {
            identities.push(
                ic.identity(|c| std::str::from_utf8(rec.get(c).unwrap_or(b"")).unwrap_or(""))
                    .map_err(|m| (line, m)),
            );
        }
    }
    Ok((b.finish(), identities))
}

/// Column classification, row accumulation and the non-finite policy,
/// shared by the CSV and Parquet readers.
pub(super) struct TableBuilder {
    pub(super) feature_cols: Vec<(usize, String)>,
    pub(super) label_col: Option<usize>,
    /// Per row read: kept (not dropped by the `drop` policy).
    pub(super) kept: Vec<bool>,
    x: Vec<f64>,
    labels: Vec<String>,
    nonfinite: Vec<u64>,
    report: LoadReport,
    policy: NonFinite,
}

impl TableBuilder {
    pub(super) fn new(
        raw: &[String],
        mut report: LoadReport,
        policy: NonFinite,
    ) -> Result<TableBuilder, String> {
        let names = canonical_names();
        let mut label_col = None;
        let mut feature_cols: Vec<(usize, String)> = Vec::new();
        let mut seen: BTreeMap<String, ()> = BTreeMap::new();
        for (i, h) in raw.iter().enumerate() {
            let canon = names.get(h).cloned().unwrap_or_else(|| h.clone());
            if canon == LABEL {
                label_col = Some(i);
                continue;
            }
            let duplicate =
                seen.insert(canon.clone(), ()).is_some() || canon == "Fwd Header Length.1";
            if duplicate
                || IDENTIFIERS.contains(&canon.as_str())
                || METADATA.contains(&canon.as_str())
            {
                report.excluded.push(h.clone());
                continue;
            }
            feature_cols.push((i, canon));
        }
        if feature_cols.is_empty() {
            return Err("no feature columns: is this a flow file?".into());
        }
        let d = feature_cols.len();
        Ok(TableBuilder {
            feature_cols,
            label_col,
            kept: Vec::new(),
            x: Vec::new(),
            labels: Vec::new(),
            nonfinite: vec![0; d],
            report,
            policy,
        })
    }

    /// One row: `cell(column index)` gives each value, `label` the raw label.
    /// Returns whether the row was kept.
    pub(super) fn push_row(&mut self, cell: impl Fn(usize) -> f64, label: Option<&[u8]>) -> bool {
        let d = self.feature_cols.len();
        self.report.rows_read += 1;
        let mut any = false;
        for (k, (col, _)) in self.feature_cols.iter().enumerate() {
            let v = cell(*col);
            if !v.is_finite() {
                self.nonfinite[k] += 1;
                any = true;
            }
            self.x.push(v);
        }
        if any {
            self.report.rows_with_nonfinite += 1;
        }
        let label = match label {
            Some(raw) => {
                let (l, changed) = repair_label(raw);
                if changed {
                    self.report.labels_repaired += 1;
                }
                l
            }
            None => String::new(),
        };
        let drop = any && self.policy == NonFinite::Drop;
        self.kept.push(!drop);
        if drop {
            self.x.truncate(self.x.len() - d);
            self.report.rows_dropped += 1;
            return false;
        }
        self.labels.push(label);
        true
    }

    fn finish(self) -> FeatureTable {
        self.finish_with(None)
    }

    /// The finite (smallest, largest) of each feature column so far
    /// ((+inf, -inf) for a column without a finite value).
    pub(super) fn bounds(&self) -> Vec<(f64, f64)> {
        let d = self.feature_cols.len();
        let mut b = vec![(f64::INFINITY, f64::NEG_INFINITY); d];
        for row in self.x.chunks_exact(d.max(1)) {
            for (b, &v) in b.iter_mut().zip(row) {
                if v.is_finite() {
                    *b = (b.0.min(v), b.1.max(v));
                }
            }
        }
        b
    }

    /// The table; `clip` replaces the table's own column ranges for the
    /// `clip` policy (a batch clips to the whole file's ranges).
    pub(super) fn finish_with(self, clip: Option<&[(f64, f64)]>) -> FeatureTable {
        let own = match (self.policy, clip) {
            (NonFinite::Clip, None) => Some(self.bounds()),
            _ => None,
        };
        let TableBuilder {
            feature_cols,
            mut x,
            labels,
            nonfinite,
            mut report,
            policy,
            ..
        } = self;
        let d = feature_cols.len();
        let features: Vec<String> = feature_cols.into_iter().map(|(_, n)| n).collect();
        for (k, n) in nonfinite.iter().enumerate() {
            if *n > 0 {
                report.nonfinite_cells.insert(features[k].clone(), *n);
            }
        }
        match policy {
            NonFinite::Drop => {}
            NonFinite::Zero => x
                .iter_mut()
                .filter(|v| !v.is_finite())
                .for_each(|v| *v = 0.0),
            NonFinite::Clip => {
                let bounds = clip.or(own.as_deref()).unwrap_or(&[]);
                for (k, &(lo, hi)) in bounds.iter().enumerate().take(d) {
                    let (lo, hi) = if lo > hi { (0.0, 0.0) } else { (lo, hi) };
                    for v in x.iter_mut().skip(k).step_by(d) {
                        if v.is_nan() {
                            *v = 0.0;
                        } else if *v == f64::INFINITY {
                            *v = hi;
                        } else if *v == f64::NEG_INFINITY {
                            *v = lo;
                        }
                    }
                }
            }
        }
        report.rows_kept = labels.len() as u64;
        FeatureTable {
            features,
            x,
            labels,
            report,
        }
    }
}

/// Read a flow file: Parquet (by its `PAR1` magic) or CSV.
pub fn read(path: &Path, policy: NonFinite) -> Result<FeatureTable, DatasetError> {
    let name = path.display().to_string();
    if is_parquet(path) {
        read_parquet(path, policy)
    } else {
        read_csv(path, policy).map_err(|e| match e {
            DatasetError::Labels { line, message, .. } => DatasetError::Labels {
                path: name,
                line,
                message,
            },
            other => other,
        })
    }
}

/// Read a Parquet flow file (as `maximus-sim flows -o x.parquet` writes it).
pub fn read_parquet(path: &Path, policy: NonFinite) -> Result<FeatureTable, DatasetError> {
    read_parquet_ids(path, policy, false).map(|(t, _)| t)
}

fn read_parquet_ids(
    path: &Path,
    policy: NonFinite,
    ids: bool,
) -> Result<(FeatureTable, Identities), DatasetError> {
    use polars::prelude::*;
    let name = path.display().to_string();
    let bad = |message: String| DatasetError::Labels {
        path: name.clone(),
        line: 0,
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| DatasetError::Open {
        path: name.clone(),
        source: e,
    })?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let raw: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.trim().to_string())
        .collect();
    let report = LoadReport {
        path: name.clone(),
        header: header_kind(&raw).into(),
        policy: Some(policy),
        ..LoadReport::default()
    };
    let mut b = TableBuilder::new(&raw, report, policy).map_err(bad)?;
    push_frame(&mut b, &df, &raw).map_err(bad)?;
    let mut identities = Vec::new();
    if ids {
        let ic = IdColumns::find(&raw).map_err(bad)?;
        let cols = df.columns();
        let mut text: BTreeMap<usize, Vec<Option<String>>> = BTreeMap::new();
        for c in ic.columns() {
            text.insert(c, text_column(&cols[c]).map_err(bad)?);
        }
        for r in (0..df.height()).filter(|&r| b.kept[r]) {
            identities.push(
                ic.identity(|c| text.get(&c).and_then(|v| v[r].as_deref()).unwrap_or(""))
                    .map_err(|m| (0, format!("row {}: {m}", r + 1))),
            );
        }
    }
    Ok((b.finish(), identities))
}

/// Every row of a frame into the builder: feature columns as `Float64`
/// (null -> NaN), the label column as text; `header` names the columns in
/// messages.
pub(super) fn push_frame(
    b: &mut TableBuilder,
    df: &polars::prelude::DataFrame,
    header: &[String],
) -> Result<(), String> {
    use polars::prelude::*;
    let cols = df.columns();
    let mut numeric: Vec<(usize, Vec<f64>)> = Vec::new();
    for (i, _) in &b.feature_cols {
        let c = cols[*i]
            .cast(&DataType::Float64)
            .map_err(|e| format!("column `{}` is not numeric: {e}", header[*i]))?;
        let ca = c.f64().map_err(|e| e.to_string())?;
        numeric.push((*i, ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect()));
    }
    let labels = b.label_col.map(|i| text_column(&cols[i])).transpose()?;
    // Column index -> its values.
    let mut of_col: Vec<Option<&[f64]>> = vec![None; cols.len()];
    for (c, v) in &numeric {
        of_col[*c] = Some(v);
    }
    for r in 0..df.height() {
        let label = labels.as_ref().map(|l| l[r].as_deref().unwrap_or(""));
        b.push_row(
            |col| {
                of_col
                    .get(col)
                    .copied()
                    .flatten()
                    .map_or(f64::NAN, |v| v[r])
            },
            label.map(str::as_bytes),
        );
    }
    Ok(())
}

/// A column as text (null -> `None`).
pub(super) fn text_column(c: &polars::prelude::Column) -> Result<Vec<Option<String>>, String> {
    let s = c
        .cast(&polars::prelude::DataType::String)
        .map_err(|e| e.to_string())?;
    let ca = s.str().map_err(|e| e.to_string())?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

/// Each kept row's identity, or (line, why not) for a row whose identity
/// columns do not parse.
type Identities = Vec<Result<FlowIdentity, (usize, String)>>;

/// Where a flow's identity is in a file's columns: what joining
/// `labels.csv` needs.
struct IdColumns {
    protocol: usize,
    src: usize,
    sport: usize,
    dst: usize,
    dport: usize,
    timestamp: usize,
    duration: usize,
}

/// A flow's 5-tuple and span, as its row gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowIdentity {
    pub key: crate::flow::FlowKey,
    pub start_us: i64,
    pub end_us: i64,
}

impl IdColumns {
    /// Find the columns by canonical name in the trimmed header `raw`.
    fn find(raw: &[String]) -> Result<IdColumns, String> {
        let at = |name: &str| {
            raw.iter()
                .position(|h| canonical(h) == name)
                .ok_or(format!("no `{name}` column to join labels on"))
        };
        Ok(IdColumns {
            protocol: at("Protocol")?,
            src: at("Source IP")?,
            sport: at("Source Port")?,
            dst: at("Destination IP")?,
            dport: at("Destination Port")?,
            timestamp: at("Timestamp")?,
            duration: at("Flow Duration")?,
        })
    }

    fn columns(&self) -> [usize; 7] {
        [
            self.protocol,
            self.src,
            self.sport,
            self.dst,
            self.dport,
            self.timestamp,
            self.duration,
        ]
    }

    /// The identity from the row's text cells.
    fn identity<'a>(&self, cell: impl Fn(usize) -> &'a str) -> Result<FlowIdentity, String> {
        let num = |c: usize, what: &str| {
            let t = cell(c).trim();
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or(format!("{what} `{t}` is not a number"))
        };
        let ip = |c: usize, what: &str| {
            let t = cell(c).trim();
            t.parse::<std::net::IpAddr>()
                .map_err(|_| format!("{what} `{t}` is not an IP address"))
        };
        let ts = cell(self.timestamp).trim();
        let start_us = parse_utc_us(ts).ok_or(format!(
            "Timestamp `{ts}` is not a UTC date and time with microseconds \
             (engelen or corrected profile); the CIC V3 profiles write 12-hour \
             local times to the second, which cannot be joined: label those at \
             extraction with `flows --labels`"
        ))?;
        let duration = num(self.duration, "Flow Duration")? as i64;
        Ok(FlowIdentity {
            key: crate::flow::FlowKey {
                a: ip(self.src, "Source IP")?,
                b: ip(self.dst, "Destination IP")?,
                a_port: num(self.sport, "Source Port")? as u16,
                b_port: num(self.dport, "Destination Port")? as u16,
                protocol: num(self.protocol, "Protocol")? as u8,
            },
            start_us,
            end_us: start_us + duration,
        })
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fff[fff]]` (UTC, as the engelen and corrected
/// profiles write it) in µs since the epoch.
fn parse_utc_us(t: &str) -> Option<i64> {
    if t.len() < 19 || t.as_bytes().get(4) != Some(&b'-') || t.as_bytes().get(10) != Some(&b' ') {
        return None;
    }
    let st = humantime::parse_rfc3339_weak(t).ok()?;
    let d = st.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_micros()).ok()
}

/// A flow file whose labels come from `labels` (a `labels.csv` written by
/// `synth`), joined as `flows --labels` does; flows no label row matches
/// are left out of the table and counted in the [`JoinStats`].
pub fn read_labelled(
    path: &Path,
    policy: NonFinite,
    labels: &Path,
) -> Result<(FeatureTable, super::labels::JoinStats), DatasetError> {
    let name = path.display().to_string();
    let (mut t, ids) = if is_parquet(path) {
        read_parquet_ids(path, policy, true)?
    } else {
        read_csv_ids(path, policy, true)?
    };
    let mut set = super::labels::LabelSet::read(labels)?;
    let d = t.features.len();
    let mut x = Vec::with_capacity(t.x.len());
    let mut out_labels = Vec::with_capacity(t.labels.len());
    for (r, id) in ids.iter().enumerate() {
        let id = id.as_ref().map_err(|(line, m)| DatasetError::Labels {
            path: name.clone(),
            line: *line,
            message: m.clone(),
        })?;
        let l = set.label_flow(&id.key, id.start_us, id.end_us);
        if l.label == super::labels::UNLABELLED {
            continue;
        }
        x.extend_from_slice(&t.x[r * d..(r + 1) * d]);
        out_labels.push(l.label);
    }
    t.x = x;
    t.labels = out_labels;
    t.report.rows_kept = t.labels.len() as u64;
    Ok((t, set.stats()))
}

/// Which tool generation wrote a (trimmed) header: `cic2018` (short
/// names), `maximus` (our engelen/corrected names) or `cic2017`.
pub(super) fn header_kind(trimmed: &[String]) -> &'static str {
    if trimmed.iter().any(|h| h == "Tot Fwd Pkts") {
        "cic2018"
    } else if trimmed.iter().any(|h| h == "Total Fwd Packet") {
        "maximus"
    } else {
        "cic2017"
    }
}

/// A Parquet file, by its `PAR1` magic.
pub(super) fn is_parquet(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"PAR1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_variant_maps_to_the_cic2017_names() {
        assert_eq!(canonical(" Total Fwd Packets"), "Total Fwd Packets");
        assert_eq!(canonical("Tot Fwd Pkts"), "Total Fwd Packets");
        assert_eq!(canonical("Total Fwd Packet"), "Total Fwd Packets");
        assert_eq!(canonical("Init Bwd Win Byts"), "Init_Win_bytes_backward");
        assert_eq!(canonical("Bwd Init Win Bytes"), "Init_Win_bytes_backward");
        assert_eq!(canonical("Dst Port"), "Destination Port");
        assert_eq!(canonical("CWE Flag Count"), "CWE Flag Count");
        assert_eq!(canonical("ICMP Type"), "ICMP Type");
        // The three headers give the same canonical set (PE adds its extras).
        let set = |h: &str| {
            h.split(',')
                .map(canonical)
                .collect::<std::collections::BTreeSet<_>>()
        };
        let (a, b, c) = (set(P17_HEADER), set(P18_HEADER), set(PE_HEADER));
        assert_eq!(a, b);
        assert!(
            a.is_subset(&c),
            "{:?}",
            a.difference(&c).collect::<Vec<_>>()
        );
    }

    #[test]
    fn labels_are_repaired_and_counted() {
        assert_eq!(
            repair_label(b"Web Attack \x96 Brute Force"),
            ("Web Attack - Brute Force".into(), true)
        );
        assert_eq!(repair_label(b" benign "), ("BENIGN".into(), true));
        assert_eq!(repair_label(b"DoS Hulk"), ("DoS Hulk".into(), false));
    }

    const CSV: &str = " Destination Port, Flow Duration, Fwd Header Length, Flow Bytes/s, Fwd Header Length, Label\n\
80,100,20,Infinity,20,BENIGN\n\
443,200,40,NaN,40,benign\n\
22,300,60,5.5,60,SSH-Patator\n\
21,,80,-Infinity,80,FTP-Patator\n";

    #[test]
    fn non_finite_cells_are_reported_and_handled_by_policy() {
        let t = read_csv_from(CSV.as_bytes(), "t.csv", NonFinite::Clip).unwrap();
        assert_eq!(
            t.features,
            ["Flow Duration", "Fwd Header Length", "Flow Bytes/s"]
        );
        assert_eq!(t.report.excluded, ["Destination Port", "Fwd Header Length"]);
        assert_eq!(t.report.rows_with_nonfinite, 3);
        assert_eq!(t.report.nonfinite_cells["Flow Bytes/s"], 3);
        assert_eq!(t.report.nonfinite_cells["Flow Duration"], 1);
        assert_eq!(t.row(0), [100.0, 20.0, 5.5]);
        assert_eq!(t.row(1), [200.0, 40.0, 0.0]);
        assert_eq!(t.row(3), [0.0, 80.0, 5.5]);
        assert_eq!(t.labels, ["BENIGN", "BENIGN", "SSH-Patator", "FTP-Patator"]);
        assert_eq!(t.report.labels_repaired, 1);
        let z = read_csv_from(CSV.as_bytes(), "t.csv", NonFinite::Zero).unwrap();
        assert_eq!(z.row(0), [100.0, 20.0, 0.0]);
        let d = read_csv_from(CSV.as_bytes(), "t.csv", NonFinite::Drop).unwrap();
        assert_eq!(
            (d.rows(), d.report.rows_dropped, d.report.rows_read),
            (1, 3, 4)
        );
        assert_eq!(d.labels, ["SSH-Patator"]);
    }

    #[test]
    fn utc_timestamps_parse_to_microseconds_and_v3_ones_do_not() {
        // 2025-03-11T15:28:45Z = 1741706925.
        assert_eq!(
            parse_utc_us("2025-03-11 15:28:45"),
            Some(1_741_706_925_000_000)
        );
        assert_eq!(
            parse_utc_us("2025-03-11 15:28:45.5"),
            Some(1_741_706_925_500_000)
        );
        assert_eq!(
            parse_utc_us("2025-03-11 15:28:45.000123"),
            Some(1_741_706_925_000_123)
        );
        assert_eq!(parse_utc_us("11/03/2025 03:28:45"), None);
        assert_eq!(parse_utc_us(""), None);
    }

    #[test]
    fn a_ragged_row_names_its_line() {
        let e = read_csv_from(
            "a,b,Label\n1,2,X\n1,2\n".as_bytes(),
            "r.csv",
            NonFinite::Zero,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("r.csv") && e.contains("line 3"), "{e}");
    }
}
