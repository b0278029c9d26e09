//! Fuzz the capture reader and decoder: any bytes, read as a capture file.
//! Invariants: no panic, no hang, and every record lands in one bucket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maximus_sim::capture::{CaptureReader, read_packets};

fuzz_target!(|data: &[u8]| {
    if let Ok(mut reader) = CaptureReader::from_reader("fuzz", std::io::Cursor::new(data.to_vec())) {
        let outcome = read_packets(&mut reader, |_| {}, |_| {});
        assert_eq!(outcome.summary.stats.total(), outcome.summary.stats.records);
    }
});
