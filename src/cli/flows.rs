//! `maximus-sim flows`: CICFlowMeter-compatible flow features as CSV.

use super::util::{byte_progress, expand_inputs};
use super::{CliError, exit};
use crate::capture::{
    CaptureError, CaptureReader, FileSummary, PacketRepr, ReadOptions, read_packets_with,
};
use crate::dataset::labels::{JoinStats, LabelSet};
use crate::flow::csv::CsvWriter;
use crate::flow::frame::ParquetFlowWriter;
use crate::flow::frame::{ColumnKind, column_kinds};
use crate::flow::reorder::Reorderer;
use crate::flow::{
    FlowError, FlowExtractor, FlowParams, FlowRecord, FlowStats, PackedRecord, Profile, TzOffset,
    Value,
};
use crate::flow::{record, shard};
use clap::Args;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

const PROFILE_HELP: &str = "\
Behaviour profile:
  cic2017    CICFlowMeter V3 as run for CIC-IDS2017 (85 columns with the
             CIC-IDS2017 names). Keeps every V3 quirk: flow closed at the
             first FIN (teardown packets form \"TCP appendix\" flows), RST
             ignored, 120 s maximum flow age from the first packet, one-packet
             flows not written, flag counts of the first packet only (in
             scrambled columns), first payload counted twice in the all-packet
             length statistics, integer Down/Up ratio, last backward window as
             Init_Win_bytes_backward, Ethernet padding counted as payload,
             Ethernet/IPv4 only, non-TCP/UDP as protocol 0, local 12-hour
             timestamps (see --tz)
  cic2018    the same V3 code as built from its repository (84 CSE-CIC-IDS2018
             columns); no padding quirk
  engelen    Engelen's fixed fork (94 columns): TCP flows end after FIN in
             both directions plus the last ACK, or after a RST (and are
             written when a new SYN, the 120 s maximum age or the end of input
             comes), a SYN-ACK-first flow is reversed, ICMP gets real protocol
             numbers and type/code, per-packet flag counts, real Down/Up ratio,
             bulk and subflow features, retransmission counts, one-packet
             flows written, UTC timestamps with microseconds. The reference
             runs time-sorted the packets first: use --sort=full to do the same
  corrected  the default: engelen's columns with every fixable bug fixed
             (spec 4.3): RST closes a flow, FIN both ways plus the final ACK
             closes it, idle and active timeouts (--idle-timeout,
             --active-timeout) expire flows as capture time advances, direction
             by (IP, port), any link type, IPv6, real protocol numbers,
             payload bounded by the IP length, first window of each direction
             (-1 when none), subflows = gaps > 1 s + 1, final active period
             recorded, rates 0 for zero-duration flows, one-packet flows
             written, UTC timestamps with microseconds";

#[derive(Debug, Args)]
pub struct FlowsArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed), directories
    /// (searched for captures), or `-` for stdin. Each file is its own flow
    /// table; files are processed in parallel and their rows written file by
    /// file in input order.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Behaviour profile: cic2017, cic2018, engelen, corrected.
    #[arg(long, default_value = "corrected", value_parser = parse_profile, long_help = PROFILE_HELP)]
    pub profile: Profile,
    /// Output file, or `-` for stdout (CSV). A file is written under a
    /// temporary name and renamed when complete. A name ending in `.parquet`
    /// writes Parquet unless --format says otherwise.
    #[arg(short, long, default_value = "-")]
    pub output: PathBuf,
    /// Output format: csv (Java number formatting, as the tool writes it) or
    /// parquet (typed columns: Int64, Float64, String; a repeated column name
    /// gets a `.1` suffix) [default: from the output name, else csv].
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Fixed UTC offset of the local-time Timestamp column of cic2017 and
    /// cic2018, ±HH:MM (the reference CSVs were written at -03:00; the other
    /// profiles write UTC).
    #[arg(long, default_value = "UTC", allow_hyphen_values = true, value_parser = parse_tz)]
    pub tz: TzOffset,
    /// Corrected profile: close a flow idle for longer than this many seconds
    /// [default: 120].
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<f64>,
    /// Corrected profile: cut a flow older than this many seconds; the
    /// connection continues in a new row [default: 3600].
    #[arg(long, value_name = "SECONDS")]
    pub active_timeout: Option<f64>,
    /// Stable time-sort the packets first: `full` (like reordercap; holds the
    /// whole capture in memory) or a reordering window in seconds (bounded
    /// memory; a packet later than the window is passed through and counted).
    /// `--sort` alone means a 10 s window. Off by default; the engelen
    /// reference CSVs were made from time-sorted captures.
    #[arg(long, value_name = "full|SECONDS", num_args = 0..=1, require_equals = true, default_missing_value = "10", value_parser = parse_sort)]
    pub sort: Option<SortMode>,
    /// Drop a frame whose bytes equal a frame at most this many seconds
    /// earlier (duplicates from mirrored ports, spec B6); `--dedup` alone
    /// means 0.0005 (500 µs). Dropped frames are counted in the decode
    /// buckets (`--stats`). Off by default in every profile.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true, default_missing_value = "0.0005", value_parser = parse_dedup)]
    pub dedup: Option<i64>,
    /// Flow-table threads per input, besides the one that reads and decodes
    /// (the packets of one flow always go to the same thread; the output is
    /// the same bytes for any count). Default: the number of cores, at most
    /// 8.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Memory (MiB) for finished rows waiting for their turn in output order
    /// (a long-lived flow holds back every row that starts after it); beyond
    /// it they go to sorted temporary files in the temporary directory
    /// (TMPDIR), deleted when done. The output is the same for any value
    /// (0 writes every waiting row to disk: slow, for testing).
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub spill_mb: u32,
    /// Print the decode buckets and flow counters of every input to stderr.
    #[arg(long)]
    pub stats: bool,
    /// Ground truth written by `maximus-sim synth` (labels.csv): the Label
    /// column gets each flow's true label (flows no label row covers get
    /// UNLABELLED) and three columns are added after it: Attack Technique,
    /// Campaign, Step. --stats counts unlabelled flows and label rows no
    /// flow matched.
    #[arg(long, value_name = "LABELS_CSV")]
    pub labels: Option<PathBuf>,
}

/// Columns `--labels` adds after the profile's.
pub const LABEL_COLUMNS: [&str; 3] = ["Attack Technique", "Campaign", "Step"];

/// Gives each flow row its ground-truth label (`--labels`).
struct Labeller {
    set: LabelSet,
    label_col: usize,
    duration_col: usize,
}

impl Labeller {
    fn new(set: LabelSet, profile: Profile) -> Labeller {
        let cols = profile.columns();
        let find = |name: &str| cols.iter().rposition(|c| c.trim() == name).unwrap_or(0);
        Labeller {
            set,
            label_col: find("Label"),
            duration_col: find("Flow Duration"),
        }
    }

    fn apply(&mut self, r: &mut FlowRecord) {
        let duration = r.number(self.duration_col).unwrap_or(0.0) as i64;
        let l = self
            .set
            .label_flow(&r.key, r.start_us, r.start_us + duration);
        if let Some(cell) = r.values.get_mut(self.label_col) {
            *cell = Value::Text(l.label);
        }
        r.values.push(Value::Text(l.technique));
        r.values.push(Value::Text(l.campaign));
        r.values.push(Value::Text(l.step));
    }
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse().map_err(|e: FlowError| e.to_string())
}

/// The `--format` of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Csv,
    Parquet,
}

/// The `--sort` pre-pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortMode {
    Full,
    /// Reordering window in nanoseconds.
    Window(i64),
}

fn parse_sort(s: &str) -> Result<SortMode, String> {
    if s.eq_ignore_ascii_case("full") {
        return Ok(SortMode::Full);
    }
    match s.parse::<f64>() {
        Ok(w) if w.is_finite() && w > 0.0 && w < 1e9 => {
            Ok(SortMode::Window((w * 1e9).round() as i64))
        }
        _ => Err(format!(
            "invalid sort window `{s}`: expected `full` or a positive number of seconds (e.g. --sort=10)"
        )),
    }
}

/// `--dedup` window in seconds -> nanoseconds.
pub(crate) fn parse_dedup(s: &str) -> Result<i64, String> {
    match s.parse::<f64>() {
        Ok(w) if w.is_finite() && w > 0.0 && w <= 60.0 => Ok(((w * 1e9).round() as i64).max(1)),
        _ => Err(format!(
            "invalid dedup window `{s}`: expected a number of seconds in (0, 60] (e.g. --dedup=0.0005)"
        )),
    }
}

fn parse_tz(s: &str) -> Result<TzOffset, String> {
    s.parse().map_err(|e: FlowError| e.to_string())
}

/// Where rows go: stdout, or a temporary file renamed on success (`tmp`;
/// `None`: the destination itself, see [`open_output`]).
enum Sink {
    Stdout(CsvWriter<BufWriter<io::Stdout>>),
    File {
        w: CsvWriter<BufWriter<File>>,
        tmp: Option<PathBuf>,
        dest: PathBuf,
    },
    Parquet {
        w: Box<ParquetFlowWriter<File>>,
        tmp: Option<PathBuf>,
        dest: PathBuf,
    },
}

/// The file rows are written to, and its temporary name: a temporary file
/// beside `dest`, given its name once complete (`outfile::publish`), or,
/// when `dest` exists and is not a regular file (`/dev/null`, a FIFO, a
/// terminal), `dest` itself: a rename would replace the device or pipe
/// with a plain file.
fn open_output(dest: &Path) -> Result<(File, Option<PathBuf>), CliError> {
    let tmp = crate::outfile::partial_path(dest);
    let at = tmp.as_deref().unwrap_or(dest);
    let file = crate::outfile::create(at, tmp.is_none()).map_err(|e| write_err(at, e))?;
    Ok((file, tmp))
}

impl Sink {
    /// Write one row: CSV formats it packed; a label join and Parquet
    /// need its cells.
    fn write_packed(&mut self, r: PackedRecord, labeller: Option<&mut Labeller>) -> io::Result<()> {
        match (self, labeller) {
            (Sink::Stdout(w), None) => w.write_packed(&r),
            (Sink::File { w, .. }, None) => w.write_packed(&r),
            (sink, labeller) => {
                let mut r = r.unpack();
                if let Some(l) = labeller {
                    l.apply(&mut r);
                }
                let res = sink.write(&r);
                record::recycle([r]);
                res
            }
        }
    }

    /// Write and drop every row of `batch` (CSV without a label join
    /// writes a batch at once).
    fn write_batch(
        &mut self,
        batch: &mut Vec<PackedRecord>,
        mut labeller: Option<&mut Labeller>,
    ) -> io::Result<()> {
        let res = match (&mut *self, labeller.is_some()) {
            (Sink::Stdout(w), false) => w.write_packed_all(batch),
            (Sink::File { w, .. }, false) => w.write_packed_all(batch),
            _ => batch
                .drain(..)
                .try_for_each(|r| self.write_packed(r, labeller.as_deref_mut())),
        };
        batch.clear();
        res
    }

    fn write(&mut self, r: &FlowRecord) -> io::Result<()> {
        match self {
            Sink::Stdout(w) => w.write(r),
            Sink::File { w, .. } => w.write(r),
            Sink::Parquet { w, .. } => w.write(r).map_err(|e| io::Error::other(e.to_string())),
        }
    }

    /// The temporary file, for a file sink.
    fn tmp(&self) -> Option<&Path> {
        match self {
            Sink::Stdout(_) => None,
            Sink::File { tmp, .. } | Sink::Parquet { tmp, .. } => tmp.as_deref(),
        }
    }
}

fn write_err(target: &Path, source: io::Error) -> CliError {
    let e = FlowError::Write {
        target: target.display().to_string(),
        source,
    };
    CliError::new(exit::IO_ERR, e.to_string())
}

/// A reader that closed stdout early (`| head`) is not an error.
fn sink_failed(target: &Path, e: io::Error, code: i32) -> Result<i32, CliError> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(code)
    } else {
        Err(write_err(target, e))
    }
}

/// A flow-layer error while extracting: temporary row files are I/O.
fn flow_err(e: FlowError) -> CliError {
    let code = match e {
        FlowError::Spill { .. } | FlowError::Write { .. } => exit::IO_ERR,
        _ => exit::USAGE,
    };
    CliError::new(code, e.to_string())
}

fn capture_code(e: &CaptureError) -> i32 {
    if e.is_missing_input() {
        exit::NO_INPUT
    } else if e.is_io() {
        exit::IO_ERR
    } else {
        exit::DATA_ERR
    }
}

fn params(args: &FlowsArgs) -> Result<FlowParams, CliError> {
    let usage = |m: String| CliError::new(exit::USAGE, m);
    if args.profile != Profile::Corrected
        && (args.idle_timeout.is_some() || args.active_timeout.is_some())
    {
        return Err(usage(format!(
            "--idle-timeout and --active-timeout apply to --profile corrected only; profile {} has its tool's fixed timeouts",
            args.profile
        )));
    }
    let defaults = FlowParams::new(args.profile);
    FlowParams::new(args.profile)
        .with_tz(args.tz)
        .with_spill_bytes(usize::try_from(u64::from(args.spill_mb) << 20).unwrap_or(usize::MAX))
        .with_timeouts(
            args.idle_timeout
                .unwrap_or(defaults.idle_timeout_us as f64 / 1e6),
            args.active_timeout
                .unwrap_or(defaults.active_timeout_us as f64 / 1e6),
        )
        .map_err(|e| usage(e.to_string()))
}

pub fn run(args: &FlowsArgs) -> Result<i32, CliError> {
    // Check the settings before touching inputs or outputs.
    let params = params(args)?;
    FlowExtractor::with_params(params).map_err(|e| CliError::new(exit::USAGE, e.to_string()))?;
    let inputs = expand_inputs(&args.inputs)?;
    let labeller = match &args.labels {
        Some(p) => {
            let set = LabelSet::read(p).map_err(|e| {
                let code = if e.is_missing_input() {
                    exit::NO_INPUT
                } else {
                    exit::DATA_ERR
                };
                CliError::new(code, e.to_string())
            })?;
            Some(Labeller::new(set, args.profile))
        }
        None => None,
    };
    let header = if labeller.is_some() {
        format!("{},{}", args.profile.header(), LABEL_COLUMNS.join(","))
    } else {
        args.profile.header().to_string()
    };
    let to_stdout = args.output.as_os_str() == "-";
    let format = args.format.unwrap_or(
        if args
            .output
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        {
            OutputFormat::Parquet
        } else {
            OutputFormat::Csv
        },
    );
    // A plain CSV output takes rows as CSV lines, formatted by the flow
    // tables' threads; a label join and Parquet need the cells.
    let params = params.with_csv_rows(format == OutputFormat::Csv && labeller.is_none());
    if to_stdout && format == OutputFormat::Parquet {
        return Err(CliError::new(
            exit::USAGE,
            "--format parquet needs an output file (-o flows.parquet): Parquet is not written to stdout",
        ));
    }
    let sink = if to_stdout {
        let w = CsvWriter::with_header(BufWriter::new(io::stdout()), &header)
            .map_err(|e| write_err(Path::new("stdout"), e))?;
        Sink::Stdout(w)
    } else {
        let dest = args.output.clone();
        let (file, tmp) = open_output(&dest)?;
        match format {
            OutputFormat::Csv => {
                let w = CsvWriter::with_header(BufWriter::new(file), &header)
                    .map_err(|e| write_err(tmp.as_deref().unwrap_or(&dest), e))?;
                Sink::File { w, tmp, dest }
            }
            OutputFormat::Parquet => {
                let names: Vec<&str> = header.split(',').collect();
                let mut kinds = column_kinds(args.profile);
                kinds.resize(names.len(), ColumnKind::Text);
                let w = Box::new(ParquetFlowWriter::with_columns(file, &names, &kinds));
                Sink::Parquet { w, tmp, dest }
            }
        }
    };
    let target = if to_stdout {
        PathBuf::from("stdout")
    } else {
        args.output.clone()
    };

    // Inputs are processed in parallel, each by one worker thread (read,
    // decode, flow table); one writer thread formats and writes the rows of
    // input 1, then input 2, ... as they arrive. A worker whose input is not
    // yet being written blocks once its channel is full, so memory stays
    // bounded, and the output is the same bytes as one thread would write.
    let n = inputs.len();
    let workers = std::thread::available_parallelism()
        .map_or(1, |w| w.get())
        .clamp(1, n.max(1));
    // Written rows are recycled (`record::recycle`) and their batch goes
    // back to its worker for reuse: allocating and freeing them kept the
    // allocator taking fresh pages, which the kernel zeroed (a quarter of
    // the run).
    let mut senders = Vec::with_capacity(n);
    let mut receivers = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = mpsc::sync_channel::<Vec<PackedRecord>>(8);
        let (back_tx, back_rx) = mpsc::channel::<Vec<PackedRecord>>();
        senders.push(Mutex::new(Some((tx, back_rx))));
        receivers.push((rx, back_tx));
    }
    let results: Vec<Mutex<Option<Result<FileResult, CliError>>>> =
        (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let show_progress = n == 1;
    let (sink, write_error, labeller) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut sink = sink;
            let mut labeller = labeller;
            for (rx, back) in receivers {
                for mut batch in rx {
                    if let Err(e) = sink.write_batch(&mut batch, labeller.as_mut()) {
                        // Dropping the receivers stops every worker.
                        return (sink, Some(e), labeller);
                    }
                    // The batch goes back to its worker (one that has
                    // finished drops it here).
                    let _ = back.send(batch);
                }
            }
            (sink, None, labeller)
        });
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let tx = senders[i].lock().ok().and_then(|mut t| t.take());
                    let Some(tx) = tx else { continue };
                    let (tx, back) = tx;
                    let res = run_file(args, params, &inputs[i], &tx, back, show_progress);
                    drop(tx);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(res);
                    }
                }
            });
        }
        match writer.join() {
            Ok(done) => done,
            // The panic hook has already reported it and exits 70.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    let mut code = exit::OK;
    let mut total = FlowStats::default();
    let mut report = String::new();
    for slot in results {
        let res = slot.into_inner().ok().flatten();
        let Some(res) = res else { continue };
        let f = match res {
            Ok(f) => f,
            Err(e) => {
                if let Some(tmp) = sink.tmp() {
                    // Best effort: do not leave half a file behind.
                    let _ = std::fs::remove_file(tmp);
                }
                return Err(e);
            }
        };
        for m in &f.messages {
            eprintln!("{m}");
        }
        code = code.max(f.code);
        report.push_str(&f.report);
        if let Some(st) = &f.stats {
            total.merge(st);
        }
    }
    if let Some(e) = write_error {
        if let Some(tmp) = sink.tmp() {
            // Best effort: do not leave half a file behind.
            let _ = std::fs::remove_file(tmp);
        }
        return sink_failed(&target, e, code);
    }
    match sink {
        Sink::Stdout(w) => {
            if let Err(e) = w.finish() {
                return sink_failed(&target, e, code);
            }
        }
        Sink::File { w, tmp, dest } => {
            w.finish()
                .and_then(|mut b| b.flush())
                .map_err(|e| write_err(tmp.as_deref().unwrap_or(&dest), e))?;
            if let Some(tmp) = tmp {
                crate::outfile::publish(&tmp, &dest).map_err(|e| write_err(&dest, e))?;
            }
        }
        Sink::Parquet { w, tmp, dest } => {
            if let Err(e) = w.finish() {
                if let Some(tmp) = &tmp {
                    let _ = std::fs::remove_file(tmp);
                }
                let at = tmp.as_deref().unwrap_or(&dest);
                return Err(write_err(at, io::Error::other(e.to_string())));
            }
            if let Some(tmp) = tmp {
                crate::outfile::publish(&tmp, &dest).map_err(|e| write_err(&dest, e))?;
            }
        }
    }
    let join = labeller.map(|l| l.set.stats());
    if args.stats {
        if inputs.len() > 1 {
            let _ = writeln!(report, "All inputs:");
            flow_counters(&mut report, &total);
        }
        if let Some(j) = &join {
            join_counters(&mut report, j);
        }
        eprint!("{report}");
    }
    if let Some(j) = &join
        && (j.unlabelled > 0 || j.rows_unmatched > 0)
    {
        eprintln!(
            "maximus-sim: warning: --labels: {} flows got no label, {} of {} label rows matched no flow (--stats shows the counts)",
            j.unlabelled, j.rows_unmatched, j.rows
        );
    }
    Ok(code)
}

/// What one input gave, reported in input order once all are done.
#[derive(Debug, Default)]
struct FileResult {
    code: i32,
    stats: Option<FlowStats>,
    report: String,
    /// Error and warning lines for stderr.
    messages: Vec<String>,
}

/// Rows go to the writer thread in batches of this many.
const BATCH: usize = 512;

/// Read one input and send its rows, in order, to `tx`; stops early when
/// the writer has stopped (it reports its own error).
fn run_file(
    args: &FlowsArgs,
    params: FlowParams,
    path: &Path,
    tx: &mpsc::SyncSender<Vec<PackedRecord>>,
    back: mpsc::Receiver<Vec<PackedRecord>>,
    show_progress: bool,
) -> Result<FileResult, CliError> {
    let mut res = FileResult::default();
    let mut reader = match CaptureReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            res.messages.push(format!("maximus-sim: error: {e}"));
            res.code = capture_code(&e);
            return Ok(res);
        }
    };
    let size = std::fs::metadata(path).ok().map(|m| m.len());
    let min_bytes = if show_progress { 64 << 20 } else { u64::MAX };
    let bar = byte_progress(size, min_bytes, &path.display().to_string());
    let mut reorder = args.sort.map(|m| {
        Reorderer::new(match m {
            SortMode::Full => None,
            SortMode::Window(w) => Some(w),
        })
    });
    // Read (and optionally sort) the packets into `sink`.
    let read = |sink: &mut dyn FnMut(&PacketRepr)| {
        let opts = ReadOptions {
            dedup_window_ns: args.dedup.unwrap_or(0),
        };
        let outcome = read_packets_with(
            &mut reader,
            opts,
            |p| match reorder.as_mut() {
                Some(r) => r.push(p, &mut *sink),
                None => sink(p),
            },
            |b| bar.set_position(b),
        );
        let too_late = match reorder.as_mut() {
            Some(r) => {
                r.finish(&mut *sink);
                r.too_late()
            }
            None => 0,
        };
        (outcome, too_late)
    };
    let mut out = Batcher::new(tx, back);
    // Reading and decoding run on this thread, the flow tables on
    // `--threads` others (one is a pipeline of two stages).
    let ((outcome, too_late), stats) =
        shard::extract_sharded_packed(params, flow_threads(args.threads), read, |r| out.push(r))
            .map_err(flow_err)?;
    out.flush();
    bar.finish_and_clear();
    if let Some(e) = &outcome.error {
        res.messages.push(format!("maximus-sim: error: {e}"));
        res.code = capture_code(e);
    }
    if let Some(t) = &outcome.summary.truncation {
        res.messages.push(format!(
            "maximus-sim: warning: {}: {t}",
            outcome.summary.path
        ));
    }
    if args.stats {
        stats_report(&mut res.report, &outcome.summary, &stats);
        if args.sort.is_some() {
            let _ = writeln!(
                res.report,
                "  {:<48} {too_late:>12}",
                "packets later than the --sort window"
            );
        }
    }
    res.stats = Some(stats);
    Ok(res)
}

/// Flow-table threads per input: `--threads`, or the number of cores, at
/// most 8 (the reading thread and the writer run beside them).
fn flow_threads(given: Option<u16>) -> usize {
    given.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        usize::from,
    )
}

/// Sends rows to the writer thread in batches; drops them once the writer
/// has stopped (it reports its own error). Written batches come back,
/// empty, on `back` and are reused.
struct Batcher<'a> {
    tx: &'a mpsc::SyncSender<Vec<PackedRecord>>,
    back: mpsc::Receiver<Vec<PackedRecord>>,
    rows: Vec<PackedRecord>,
    gone: bool,
}

impl<'a> Batcher<'a> {
    fn new(
        tx: &'a mpsc::SyncSender<Vec<PackedRecord>>,
        back: mpsc::Receiver<Vec<PackedRecord>>,
    ) -> Batcher<'a> {
        Batcher {
            tx,
            back,
            rows: Vec::with_capacity(BATCH),
            gone: false,
        }
    }

    /// An empty batch: a written one if any has come back.
    fn spare(&mut self) -> Vec<PackedRecord> {
        let mut spare = None;
        while let Ok(mut b) = self.back.try_recv() {
            b.clear();
            spare = Some(b);
        }
        spare.unwrap_or_else(|| Vec::with_capacity(BATCH))
    }

    fn push(&mut self, r: PackedRecord) {
        if self.gone {
            return;
        }
        self.rows.push(r);
        if self.rows.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.gone && !self.rows.is_empty() {
            let spare = self.spare();
            let rows = std::mem::replace(&mut self.rows, spare);
            self.gone = self.tx.send(rows).is_err();
        }
    }
}

fn stats_report(out: &mut String, s: &FileSummary, f: &FlowStats) {
    let st = &s.stats;
    let _ = writeln!(out, "File: {}", s.path);
    let _ = writeln!(
        out,
        "  packet records {:>12}  (decoded {}, non-IP {}, unsupported link {}, truncated {}, malformed {}, non-first fragments {}, duplicates dropped {})",
        st.records,
        st.decoded,
        st.non_ip.values().sum::<u64>(),
        st.unsupported_link.values().sum::<u64>(),
        st.truncated.values().sum::<u64>(),
        st.malformed.values().sum::<u64>(),
        st.non_first_fragment,
        st.duplicate
    );
    flow_counters(out, f);
}

fn join_counters(out: &mut String, j: &JoinStats) {
    let _ = writeln!(out, "Labels (--labels):");
    for (name, n) in [
        ("label rows read", j.rows),
        ("flows labelled", j.labelled),
        ("flows with no label row (UNLABELLED)", j.unlabelled),
        ("label rows no flow matched", j.rows_unmatched),
    ] {
        let _ = writeln!(out, "  {name:<48} {n:>12}");
    }
    for (label, n) in &j.per_label {
        let _ = writeln!(out, "    {label:<46} {n:>12}");
    }
}

fn flow_counters(out: &mut String, f: &FlowStats) {
    let rows = [
        ("decoded packets given to the flow table", f.packets),
        ("  in written flows", f.packets_in_written_flows),
        (
            "  in one-packet flows not written",
            f.single_packet_flows_not_written,
        ),
        (
            "  skipped: link type not used by profile",
            f.skipped_link_type,
        ),
        ("  skipped: IPv6 not used by profile", f.skipped_ipv6),
        ("flows written", f.flows_written),
        ("  closed by FIN", f.closed_by_fin),
        ("  closed by flow timeout (max age)", f.closed_by_timeout),
        ("  closed by RST", f.closed_by_rst),
        ("  closed by idle timeout", f.closed_by_idle),
        ("  cut by active timeout", f.closed_by_active_timeout),
        ("  closed by SYN after teardown", f.closed_by_new_syn),
        ("  closed by ICMP type/code change", f.closed_by_icmp_change),
        ("  open at end of input", f.closed_at_eof),
        (
            "late packets after early expiry (see docs)",
            f.late_after_expiry,
        ),
        (
            "packets beyond retransmission memory",
            f.retrans_memory_full,
        ),
        (
            "rows out of start order (input disorder > 1 s)",
            f.rows_out_of_order,
        ),
    ];
    for (name, n) in rows {
        let _ = writeln!(out, "  {name:<48} {n:>12}");
    }
    let _ = writeln!(
        out,
        "  {:<48} {:>12}",
        "packet conservation",
        if f.is_balanced() { "ok" } else { "VIOLATED" }
    );
}
