//! The labels.csv and feature-table readers never panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maximus_sim::dataset::labels::LabelSet;
use maximus_sim::dataset::table::{NonFinite, read_csv_from};

fuzz_target!(|data: &[u8]| {
    let _ = LabelSet::from_reader(data, "fuzz.csv");
    for p in [NonFinite::Drop, NonFinite::Zero, NonFinite::Clip] {
        let _ = read_csv_from(data, "fuzz.csv", p);
    }
});
