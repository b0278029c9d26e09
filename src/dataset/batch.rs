//! Flow files batch by batch, and scored rows out: the streaming side of
//! `maximus-sim score`, for files larger than memory.
//!
//! Takes a flow file, CSV or Parquet as [`super::table::read`] accepts it,
//! and gives it back as [`Batch`]es of at most `rows` rows: each holds the
//! batch's [`FeatureTable`] (canonical features, non-finite cells handled)
//! and the input rows themselves. [`ScoredWriter`] writes every input
//! column, then `predicted`, `confidence` and `score`, as CSV or Parquet
//! (by the output's extension). Memory holds one batch, not the file.
//!
//! The `clip` policy needs each column's finite range over the whole file
//! (so that a batch is clipped exactly as the whole table would be):
//! [`Batches::open`] then reads the file once before the first batch.
//! With `drop`, a dropped row is still written, with empty scores.
//!
//! Output columns: CSV keeps the input's header and cells byte for byte.
//! Parquet from Parquet keeps the input's columns and types; Parquet from
//! CSV types the feature columns `Float64` (as read: `Infinity` stays
//! infinite) and every other column `String`; a repeated name (CIC-IDS2017's
//! second `Fwd Header Length`) gets a `.1` suffix.

use super::DatasetError;
use super::table::{
    LoadReport, NonFinite, TableBuilder, header_kind, is_parquet, parse_cell, push_frame,
    text_column,
};
use crate::dataset::table::FeatureTable;
use polars::prelude::*;
use rayon::prelude::*;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

/// The columns the scorer adds, in order.
pub const SCORED_COLUMNS: [&str; 3] = ["predicted", "confidence", "score"];

/// One row's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored<'a> {
    pub predicted: &'a str,
    pub confidence: f64,
    pub score: f64,
}

/// Up to `rows` rows of a flow file.
#[derive(Debug)]
pub struct Batch {
    pub table: FeatureTable,
    /// Per input row of the batch: in `table` (false: dropped by `drop`).
    pub kept: Vec<bool>,
    rows: Rows,
}

#[derive(Debug)]
enum Rows {
    /// The records, their feature cells as read (rows x features, before
    /// the non-finite policy), and which columns those are.
    Csv(Records, Vec<f64>, Vec<usize>),
    Frame(DataFrame),
}

impl Batch {
    /// Input rows in the batch (kept or not).
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

/// CSV records packed into one buffer (a `ByteRecord` per row costs
/// kilobytes of capacity): every field's bytes, and where each ends.
#[derive(Debug, Default)]
struct Records {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    width: usize,
}

impl Records {
    fn push(&mut self, r: &csv::ByteRecord) {
        for f in r {
            self.bytes.extend_from_slice(f);
            self.ends.push(self.bytes.len());
        }
    }

    fn len(&self) -> usize {
        self.ends.len() / self.width.max(1)
    }

    fn field(&self, row: usize, col: usize) -> &[u8] {
        let i = row * self.width + col;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn row(&self, row: usize) -> impl Iterator<Item = &[u8]> {
        (0..self.width).map(move |c| self.field(row, c))
    }
}

#[derive(Debug)]
enum Source {
    Csv {
        rdr: csv::Reader<BufReader<std::fs::File>>,
        line: usize,
    },
    Parquet {
        path: PathBuf,
        metadata: Arc<FileMetadata>,
        /// (first row, rows) of each read still to do.
        slices: Vec<(usize, usize)>,
        next: usize,
    },
}

/// A flow file read batch by batch.
#[derive(Debug)]
pub struct Batches {
    name: String,
    header: Vec<String>,
    kind: &'static str,
    policy: NonFinite,
    clip: Option<Vec<(f64, f64)>>,
    rows: usize,
    src: Source,
    total: LoadReport,
}

impl Batches {
    /// Open `path` (Parquet by its `PAR1` magic, else CSV) to read `rows`
    /// rows at a time; with `clip`, first read it once for the ranges.
    pub fn open(path: &Path, policy: NonFinite, rows: usize) -> Result<Batches, DatasetError> {
        let mut b = Batches::open_raw(path, policy, rows)?;
        if policy == NonFinite::Clip {
            let mut scan = Batches::open_raw(path, NonFinite::Zero, rows)?;
            let mut bounds: Option<Vec<(f64, f64)>> = None;
            while let Some((builder, _)) = scan.next_builder()? {
                let got = builder.bounds();
                bounds = Some(match bounds {
                    None => got,
                    Some(had) => had
                        .iter()
                        .zip(&got)
                        .map(|(a, b)| (a.0.min(b.0), a.1.max(b.1)))
                        .collect(),
                });
            }
            b.clip = Some(bounds.unwrap_or_default());
        }
        Ok(b)
    }

    fn open_raw(path: &Path, policy: NonFinite, rows: usize) -> Result<Batches, DatasetError> {
        let name = path.display().to_string();
        let open = |p: &Path| {
            std::fs::File::open(p).map_err(|e| DatasetError::Open {
                path: name.clone(),
                source: e,
            })
        };
        let bad = |line: usize, message: String| DatasetError::Labels {
            path: name.clone(),
            line,
            message,
        };
        // Missing or unreadable: say so now, not as "not a flow file".
        drop(open(path)?);
        let (header, src) = if is_parquet(path) {
            let mut reader = ParquetReader::new(open(path)?);
            let schema = reader
                .schema()
                .map_err(|e| bad(0, format!("not a readable Parquet file: {e}")))?;
            let header: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
            let metadata = reader
                .get_metadata()
                .map_err(|e| bad(0, format!("not a readable Parquet file: {e}")))?
                .clone();
            // Row groups, split or joined into reads of about `rows` rows.
            let total: usize = metadata.row_groups.iter().map(|g| g.num_rows()).sum();
            let step = rows.max(1);
            let slices = (0..total)
                .step_by(step)
                .map(|at| (at, step.min(total - at)))
                .collect();
            let src = Source::Parquet {
                path: path.to_path_buf(),
                metadata,
                slices,
                next: 0,
            };
            (header, src)
        } else {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(false)
                .from_reader(BufReader::with_capacity(1 << 20, open(path)?));
            let header: Vec<String> = rdr
                .byte_headers()
                .map_err(|e| bad(1, format!("cannot read the header: {e}")))?
                .iter()
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .collect();
            (header, Source::Csv { rdr, line: 1 })
        };
        let trimmed: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
        let kind = header_kind(&trimmed);
        let b = Batches {
            total: LoadReport {
                path: name.clone(),
                header: kind.into(),
                policy: Some(policy),
                ..LoadReport::default()
            },
            name,
            header,
            kind,
            policy,
            clip: None,
            rows: rows.max(1),
            src,
        };
        // Classify the columns once now, so that a file with no features
        // fails before anything is written.
        b.builder()?;
        Ok(b)
    }

    /// The header as in the file.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The canonical feature columns, in file order.
    pub fn features(&self) -> Result<Vec<String>, DatasetError> {
        Ok(self
            .builder()?
            .feature_cols
            .into_iter()
            .map(|(_, n)| n)
            .collect())
    }

    /// What reading did so far, summed over the batches.
    pub fn report(&self) -> &LoadReport {
        &self.total
    }

    fn builder(&self) -> Result<TableBuilder, DatasetError> {
        let trimmed: Vec<String> = self.header.iter().map(|h| h.trim().to_string()).collect();
        let report = LoadReport {
            path: self.name.clone(),
            header: self.kind.into(),
            policy: Some(self.policy),
            ..LoadReport::default()
        };
        TableBuilder::new(&trimmed, report, self.policy).map_err(|m| DatasetError::Labels {
            path: self.name.clone(),
            line: 1,
            message: m,
        })
    }

    /// The next batch, `None` at the end of the file.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, DatasetError> {
        let Some((builder, rows)) = self.next_builder()? else {
            return Ok(None);
        };
        let kept = builder.kept.clone();
        let table = builder.finish_with(self.clip.as_deref());
        let r = &table.report;
        let t = &mut self.total;
        t.rows_read += r.rows_read;
        t.rows_kept += r.rows_kept;
        t.rows_with_nonfinite += r.rows_with_nonfinite;
        t.rows_dropped += r.rows_dropped;
        t.labels_repaired += r.labels_repaired;
        for (c, n) in &r.nonfinite_cells {
            *t.nonfinite_cells.entry(c.clone()).or_insert(0) += n;
        }
        t.excluded.clone_from(&r.excluded);
        Ok(Some(Batch { table, kept, rows }))
    }

    /// Call `f` with every batch in order, reading the next batch on
    /// another thread meanwhile; gives what reading did.
    pub fn for_each<E: From<DatasetError>>(
        mut self,
        mut f: impl FnMut(Batch) -> Result<(), E>,
    ) -> Result<LoadReport, E> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Batch, DatasetError>>(1);
        std::thread::scope(|s| {
            let reader = s.spawn(move || {
                loop {
                    let next = match self.next_batch() {
                        Ok(Some(b)) => Ok(b),
                        Ok(None) => break,
                        Err(e) => Err(e),
                    };
                    let failed = next.is_err();
                    // A closed channel: the consumer stopped on an error.
                    if tx.send(next).is_err() || failed {
                        break;
                    }
                }
                self.total
            });
            let mut result = Ok(());
            for b in &rx {
                if let Err(e) = b.map_err(E::from).and_then(&mut f) {
                    result = Err(e);
                    break;
                }
            }
            drop(rx);
            let total = reader
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            result.map(|()| total)
        })
    }

    fn next_builder(&mut self) -> Result<Option<(TableBuilder, Rows)>, DatasetError> {
        let mut b = self.builder()?;
        let name = self.name.clone();
        match &mut self.src {
            Source::Csv { rdr, line } => {
                let width = self.header.len();
                let mut records = Records {
                    width,
                    ..Records::default()
                };
                let mut rec = csv::ByteRecord::new();
                while records.len() < self.rows {
                    match rdr.read_byte_record(&mut rec) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            let l = e.position().map_or(*line + 1, |p| p.line() as usize);
                            return Err(DatasetError::Labels {
                                path: name,
                                line: l,
                                message: e.to_string(),
                            });
                        }
                    }
                    *line += 1;
                    // The reader is not flexible: every record is `width` wide.
                    records.push(&rec);
                }
                let rows = records.len();
                if rows == 0 {
                    return Ok(None);
                }
                // Numbers parsed on every core, rows pushed in order.
                let cols: Vec<usize> = b.feature_cols.iter().map(|(c, _)| *c).collect();
                let d = cols.len();
                let recs = &records;
                let values: Vec<f64> = (0..rows)
                    .into_par_iter()
                    .with_min_len(1024)
                    .flat_map_iter(|r| cols.iter().map(move |&c| parse_cell(recs.field(r, c))))
                    .collect();
                let mut position = vec![0usize; width];
                for (k, &c) in cols.iter().enumerate() {
                    position[c] = k;
                }
                for r in 0..rows {
                    let row = &values[r * d..(r + 1) * d];
                    let label = b.label_col.map(|c| records.field(r, c));
                    b.push_row(|col| row[position[col]], label);
                }
                Ok(Some((b, Rows::Csv(records, values, cols))))
            }
            Source::Parquet {
                path,
                metadata,
                slices,
                next,
            } => {
                let Some(&(at, len)) = slices.get(*next) else {
                    return Ok(None);
                };
                *next += 1;
                let bad = |m: String| DatasetError::Labels {
                    path: name.clone(),
                    line: 0,
                    message: m,
                };
                let file = std::fs::File::open(&*path).map_err(|e| DatasetError::Open {
                    path: name.clone(),
                    source: e,
                })?;
                let mut reader = ParquetReader::new(file).with_slice(Some((at, len)));
                reader.set_metadata(metadata.clone());
                let df = reader
                    .finish()
                    .map_err(|e| bad(format!("rows {at}..{}: {e}", at + len)))?;
                push_frame(&mut b, &df, &self.header).map_err(bad)?;
                Ok(Some((b, Rows::Frame(df))))
            }
        }
    }
}

/// Where scored rows go: CSV, or Parquet when the path ends in `.parquet`.
pub struct ScoredWriter {
    path: PathBuf,
    /// Written to, renamed to `path` when complete (`None`: `path` is a
    /// device or a pipe, written in place; see `crate::outfile`).
    partial: Option<PathBuf>,
    header: Vec<String>,
    out: Out,
    rows: u64,
}

impl std::fmt::Debug for ScoredWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScoredWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

enum Out {
    Csv(Box<csv::Writer<BufWriter<std::fs::File>>>),
    /// Created with the first batch, whose columns give the schema.
    Parquet(Option<Box<BatchedWriter<std::fs::File>>>),
}

/// Open the file a [`ScoredWriter`] writes: create it, or (`in_place`, a
/// device or a pipe) open it for writing.
fn open_target(target: &Path, in_place: bool) -> Result<std::fs::File, DatasetError> {
    crate::outfile::create(target, in_place).map_err(|e| write_err(target, e))
}

impl ScoredWriter {
    /// The file being written.
    fn target(&self) -> PathBuf {
        self.partial.clone().unwrap_or_else(|| self.path.clone())
    }

    /// Write to `path` (through `path.partial`, renamed by
    /// [`ScoredWriter::finish`]) rows of a file with `header`.
    pub fn create(path: &Path, header: &[String]) -> Result<ScoredWriter, DatasetError> {
        let partial = crate::outfile::partial_path(path);
        let target = partial.clone().unwrap_or_else(|| path.to_path_buf());
        let file = open_target(&target, partial.is_none())?;
        let parquet = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        let out = if parquet {
            drop(file);
            Out::Parquet(None)
        } else {
            let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
            w.write_record(header.iter().map(String::as_str).chain(SCORED_COLUMNS))
                .map_err(|e| write_err(&target, e.into()))?;
            Out::Csv(Box::new(w))
        };
        Ok(ScoredWriter {
            path: path.to_path_buf(),
            partial,
            header: header.to_vec(),
            out,
            rows: 0,
        })
    }

    /// Append a batch; `scored` has one entry per input row (`None` for a
    /// row the `drop` policy left out).
    pub fn write(&mut self, b: &Batch, scored: &[Option<Scored<'_>>]) -> Result<(), DatasetError> {
        let partial = self.target();
        let werr = |e: std::io::Error| write_err(&partial, e);
        let perr = |e: PolarsError| write_err(&partial, std::io::Error::other(e));
        match (&mut self.out, &b.rows) {
            (Out::Csv(w), rows) => {
                let mut ryu = ryu::Buffer::new();
                let mut ryu2 = ryu::Buffer::new();
                let frame_text = match rows {
                    Rows::Frame(df) => {
                        Some(frame_as_text(df).map_err(|m| werr(std::io::Error::other(m)))?)
                    }
                    Rows::Csv(..) => None,
                };
                for (r, s) in scored.iter().enumerate() {
                    match (rows, &frame_text) {
                        (Rows::Csv(recs, ..), _) => {
                            for cell in recs.row(r) {
                                w.write_field(cell).map_err(|e| werr(e.into()))?;
                            }
                        }
                        (Rows::Frame(_), Some(cols)) => {
                            for c in cols {
                                w.write_field(c[r].as_deref().unwrap_or(""))
                                    .map_err(|e| werr(e.into()))?;
                            }
                        }
                        (Rows::Frame(_), None) => {}
                    }
                    match s {
                        Some(s) => {
                            w.write_field(s.predicted).map_err(|e| werr(e.into()))?;
                            w.write_field(ryu.format(s.confidence))
                                .map_err(|e| werr(e.into()))?;
                            w.write_field(ryu2.format(s.score))
                                .map_err(|e| werr(e.into()))?;
                        }
                        None => {
                            for _ in SCORED_COLUMNS {
                                w.write_field("").map_err(|e| werr(e.into()))?;
                            }
                        }
                    }
                    w.write_record(None::<&[u8]>).map_err(|e| werr(e.into()))?;
                }
            }
            (Out::Parquet(w), rows) => {
                let mut df = match rows {
                    Rows::Frame(df) => df.clone(),
                    Rows::Csv(recs, values, features) => {
                        csv_frame(&self.header, recs, values, features).map_err(perr)?
                    }
                };
                let n = scored.len();
                let predicted: Vec<Option<&str>> =
                    scored.iter().map(|s| s.map(|s| s.predicted)).collect();
                let confidence: Vec<Option<f64>> =
                    scored.iter().map(|s| s.map(|s| s.confidence)).collect();
                let score: Vec<Option<f64>> = scored.iter().map(|s| s.map(|s| s.score)).collect();
                debug_assert_eq!(df.height(), n);
                df.with_column(Column::new(SCORED_COLUMNS[0].into(), predicted))
                    .map_err(perr)?;
                df.with_column(Column::new(SCORED_COLUMNS[1].into(), confidence))
                    .map_err(perr)?;
                df.with_column(Column::new(SCORED_COLUMNS[2].into(), score))
                    .map_err(perr)?;
                if w.is_none() {
                    let file = open_target(&partial, self.partial.is_none())?;
                    *w = Some(Box::new(
                        ParquetWriter::new(file)
                            .batched(df.schema())
                            .map_err(perr)?,
                    ));
                }
                if let Some(w) = w {
                    w.write_batch(&df).map_err(perr)?;
                }
            }
        }
        self.rows += scored.len() as u64;
        Ok(())
    }

    /// Give up: remove the partial file.
    pub fn discard(self) {
        drop(self.out);
        if let Some(partial) = &self.partial {
            let _ = std::fs::remove_file(partial);
        }
    }

    /// Flush, and rename the partial file to its name; returns the rows
    /// written.
    pub fn finish(self) -> Result<u64, DatasetError> {
        let partial = self.target();
        let werr = |e: std::io::Error| write_err(&partial, e);
        match self.out {
            Out::Csv(w) => {
                let inner = w.into_inner().map_err(|e| werr(e.into_error()))?;
                let file = inner.into_inner().map_err(|e| werr(e.into_error()))?;
                // On disk before the rename; a pipe or device has nothing
                // to sync (and refuses the call).
                if self.partial.is_some() {
                    file.sync_all().map_err(werr)?;
                }
            }
            Out::Parquet(Some(w)) => {
                w.finish().map_err(|e| werr(std::io::Error::other(e)))?;
            }
            Out::Parquet(None) => {
                // No rows: an empty table with the input's columns as text.
                let names = unique_names(&self.header);
                let mut cols: Vec<Column> = names
                    .iter()
                    .map(|n| Column::new(n.as_str().into(), Vec::<Option<String>>::new()))
                    .collect();
                cols.push(Column::new(
                    SCORED_COLUMNS[0].into(),
                    Vec::<Option<String>>::new(),
                ));
                cols.push(Column::new(
                    SCORED_COLUMNS[1].into(),
                    Vec::<Option<f64>>::new(),
                ));
                cols.push(Column::new(
                    SCORED_COLUMNS[2].into(),
                    Vec::<Option<f64>>::new(),
                ));
                let mut df = DataFrame::new(0, cols).map_err(|e| werr(std::io::Error::other(e)))?;
                let file = open_target(&partial, self.partial.is_none())?;
                ParquetWriter::new(file)
                    .finish(&mut df)
                    .map_err(|e| werr(std::io::Error::other(e)))?;
            }
        }
        if let Some(partial) = &self.partial {
            crate::outfile::publish(partial, &self.path).map_err(werr)?;
        }
        Ok(self.rows)
    }
}

/// Refuse to score a file that already has the scorer's columns (`path`
/// names the input in the message).
pub fn check_input_header(path: &str, header: &[String]) -> Result<(), DatasetError> {
    match header.iter().find(|h| SCORED_COLUMNS.contains(&h.trim())) {
        Some(c) => Err(DatasetError::Labels {
            path: path.to_string(),
            line: 1,
            message: format!(
                "the input already has a `{}` column (is it a scored file?); score the flow file instead",
                c.trim()
            ),
        }),
        None => Ok(()),
    }
}

fn write_err(path: &Path, e: std::io::Error) -> DatasetError {
    DatasetError::Write {
        path: path.display().to_string(),
        source: e,
    }
}

/// Header names made unique (`name`, `name.1`, ...), as Parquet needs.
fn unique_names(header: &[String]) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    header
        .iter()
        .map(|name| {
            let n = seen.entry(name.as_str()).or_insert(0);
            let out = if *n == 0 {
                name.clone()
            } else {
                format!("{name}.{n}")
            };
            *n += 1;
            out
        })
        .collect()
}

/// A CSV batch as a frame: the `features` columns as read (`Float64`, from
/// `values`, rows x features), the others as text.
fn csv_frame(
    header: &[String],
    recs: &Records,
    values: &[f64],
    features: &[usize],
) -> PolarsResult<DataFrame> {
    let names = unique_names(header);
    let d = features.len();
    let cols: Vec<Column> = names
        .iter()
        .enumerate()
        .map(|(i, n)| match features.iter().position(|&c| c == i) {
            Some(k) => {
                let v: Vec<f64> = values.iter().skip(k).step_by(d).copied().collect();
                Column::new(n.as_str().into(), v)
            }
            None => {
                let v: Vec<String> = (0..recs.len())
                    .map(|r| String::from_utf8_lossy(recs.field(r, i)).into_owned())
                    .collect();
                Column::new(n.as_str().into(), v)
            }
        })
        .collect();
    DataFrame::new(recs.len(), cols)
}

/// Every column of a frame as text (null -> `None`).
fn frame_as_text(df: &DataFrame) -> Result<Vec<Vec<Option<String>>>, String> {
    df.columns().iter().map(text_column).collect()
}
