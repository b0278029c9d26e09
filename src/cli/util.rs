//! Helpers shared by subcommands: input expansion, time formatting, progress bars.

use super::{CliError, exit};
use crate::flow::format::civil_from_days;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Expand directories into the files below them (sorted, recursive); keep
/// files and `-` as given. A missing path is an error (exit 66).
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    for p in inputs {
        if p.as_os_str() == "-" {
            out.push(p.clone());
        } else if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found)?;
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(CliError::new(
                exit::NO_INPUT,
                format!("{}: no such file or directory", p.display()),
            ));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError::new(
            exit::NO_INPUT,
            format!("{}: cannot list directory: {e}", dir.display()),
        )
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let is_capture = [
                ".pcap",
                ".pcapng",
                ".cap",
                ".pcap.gz",
                ".pcapng.gz",
                ".cap.gz",
            ]
            .iter()
            .any(|ext| name.ends_with(ext));
            if is_capture {
                found.push(path);
            }
        }
    }
    Ok(())
}

/// `2017-07-03T13:55:58.123456789Z` from nanoseconds since the epoch (UTC).
pub fn format_ts(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// A byte progress bar on stderr when it is a terminal and the input is at
/// least `min_bytes`; a hidden bar otherwise.
pub fn byte_progress(total: Option<u64>, min_bytes: u64, label: &str) -> ProgressBar {
    let show = std::io::stderr().is_terminal() && total.is_none_or(|t| t >= min_bytes);
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    let style = ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label.to_string());
    bar
}

/// A progress bar over `n` items on stderr when it is a terminal; a hidden
/// bar otherwise.
pub fn count_progress(n: u64, label: &str, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n);
    let template =
        format!("{{msg}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} (ETA {{eta}})");
    let style =
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_utc() {
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000000000Z");
        // 2017-07-07T12:00:00Z = 1499428800
        assert_eq!(
            format_ts(1_499_428_800_000_000_001),
            "2017-07-07T12:00:00.000000001Z"
        );
        assert_eq!(format_ts(-1), "1969-12-31T23:59:59.999999999Z");
        // leap day
        assert_eq!(
            format_ts(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }
}
