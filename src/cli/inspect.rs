//! `maximus-sim inspect`: capinfos-like facts plus our decode buckets.

use super::util::{byte_progress, expand_inputs, format_ts};
use super::{CliError, exit};
use crate::capture::stats::{ethertype_name, linktype_name, protocol_name};
use crate::capture::{CaptureError, CaptureReader, FileSummary, ReadOptions, read_packets_with};
use clap::Args;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed; format found by
    /// magic number), directories (searched for *.pcap, *.pcapng, *.cap, also
    /// .gz), or `-` for stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Print JSON (schema_version 1) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Count (and leave out) frames whose bytes equal a frame at most this
    /// many seconds earlier; `--dedup` alone means 0.0005 (500 µs).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true, default_missing_value = "0.0005", value_parser = super::flows::parse_dedup)]
    pub dedup: Option<i64>,
}

/// JSON document printed by `inspect --json`.
#[derive(Debug, Serialize)]
struct InspectReport<'a> {
    schema_version: u32,
    files: Vec<FileReport<'a>>,
}

#[derive(Debug, Serialize)]
struct FileReport<'a> {
    #[serde(flatten)]
    summary: &'a FileSummary,
    duration_ns: Option<i64>,
    error: Option<String>,
}

pub fn run(args: &InspectArgs) -> Result<i32, CliError> {
    let inputs = expand_inputs(&args.inputs)?;
    let mut results: Vec<(
        PathBuf,
        Result<FileSummary, CaptureError>,
        Option<CaptureError>,
    )> = Vec::new();
    for path in &inputs {
        let mut reader = match CaptureReader::open(path) {
            Ok(r) => r,
            Err(e) => {
                results.push((path.clone(), Err(e), None));
                continue;
            }
        };
        let size = std::fs::metadata(path).ok().map(|m| m.len());
        let bar = byte_progress(size, 64 << 20, &path.display().to_string());
        let opts = ReadOptions {
            dedup_window_ns: args.dedup.unwrap_or(0),
        };
        let outcome = read_packets_with(&mut reader, opts, |_| {}, |b| bar.set_position(b));
        bar.finish_and_clear();
        results.push((path.clone(), Ok(outcome.summary), outcome.error));
    }

    let mut code = exit::OK;
    let mut worsen = |e: &CaptureError| {
        let c = if e.is_missing_input() {
            exit::NO_INPUT
        } else if e.is_io() {
            exit::IO_ERR
        } else {
            exit::DATA_ERR
        };
        code = code.max(c);
    };
    if args.json {
        let mut files = Vec::new();
        for (_, res, err) in &results {
            match res {
                Ok(s) => files.push(FileReport {
                    summary: s,
                    duration_ns: s.duration_ns(),
                    error: err.as_ref().map(|e| e.to_string()),
                }),
                Err(e) => eprintln!("maximus-sim: error: {e}"),
            }
        }
        let doc = InspectReport {
            schema_version: 1,
            files,
        };
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| CliError::new(exit::INTERNAL, format!("cannot serialise report: {e}")))?;
        println!("{text}");
    } else {
        let mut out = String::new();
        for (i, (_, res, err)) in results.iter().enumerate() {
            if let Ok(s) = res {
                if i > 0 {
                    out.push('\n');
                }
                human(&mut out, s);
            }
            if let Some(e) = err.as_ref().or(res.as_ref().err()) {
                eprintln!("maximus-sim: error: {e}");
            }
        }
        print!("{out}");
    }
    for (_, res, err) in &results {
        if let Ok(s) = res
            && let Some(t) = &s.truncation
        {
            eprintln!("maximus-sim: warning: {}: {t}", s.path);
        }
        if let Err(e) = res {
            worsen(e);
        }
        if let Some(e) = err {
            worsen(e);
        }
    }
    Ok(code)
}

fn human(out: &mut String, s: &FileSummary) {
    let st = &s.stats;
    let _ = writeln!(out, "File:             {}", s.path);
    let _ = writeln!(
        out,
        "Format:           {}{}",
        s.format.describe(),
        if s.compressed {
            ", gzip-compressed"
        } else {
            ""
        }
    );
    let lts: Vec<String> = s
        .link_types
        .iter()
        .map(|(lt, n)| format!("{} ({lt}): {n}", linktype_name(*lt)))
        .collect();
    let _ = writeln!(
        out,
        "Link types:       {}",
        if lts.is_empty() {
            "-".into()
        } else {
            lts.join(", ")
        }
    );
    let _ = writeln!(out, "Packets:          {}", st.records);
    let _ = writeln!(out, "Captured bytes:   {}", s.captured_bytes);
    let _ = writeln!(out, "Wire bytes:       {}", s.wire_bytes);
    let ts = |t: Option<i64>| t.map_or("-".to_string(), format_ts);
    let _ = writeln!(out, "First packet:     {}", ts(s.first_ts_ns));
    let _ = writeln!(out, "Last packet:      {}", ts(s.last_ts_ns));
    let dur = s.duration_ns().map_or("-".to_string(), |d| {
        format!(
            "{}.{:09} s",
            d.div_euclid(1_000_000_000),
            d.rem_euclid(1_000_000_000)
        )
    });
    let _ = writeln!(out, "Duration:         {dur}");
    let _ = writeln!(out, "Out of order:     {}", s.out_of_order);
    let _ = writeln!(out, "IP versions:      IPv4 {}, IPv6 {}", st.ipv4, st.ipv6);
    let protos: Vec<String> = st
        .protocols
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(p, n)| format!("{} ({p}): {n}", protocol_name(p as u8)))
        .collect();
    let _ = writeln!(
        out,
        "Protocols:        {}",
        if protos.is_empty() {
            "-".into()
        } else {
            protos.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "Decode buckets (they sum to the packet count, {}):",
        st.total()
    );
    let _ = writeln!(out, "  {:<58} {:>10}", "decoded", st.decoded);
    for (et, n) in &st.non_ip {
        let _ = writeln!(
            out,
            "  {:<58} {n:>10}",
            format!("non-IP, EtherType 0x{et:04x} ({})", ethertype_name(*et))
        );
    }
    for (lt, n) in &st.unsupported_link {
        let _ = writeln!(
            out,
            "  {:<58} {n:>10}",
            format!("unsupported link type {lt} ({})", linktype_name(*lt))
        );
    }
    for (layer, n) in &st.truncated {
        let _ = writeln!(
            out,
            "  {:<58} {n:>10}",
            format!("truncated by snaplen at {layer}")
        );
    }
    for ((layer, why), n) in &st.malformed {
        let _ = writeln!(
            out,
            "  {:<58} {n:>10}",
            format!("malformed at {layer}: {why}")
        );
    }
    let _ = writeln!(
        out,
        "  {:<58} {:>10}",
        "non-first IP fragment", st.non_first_fragment
    );
}
