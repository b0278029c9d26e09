//! The traffic-spec parser never panics: any text is a spec or a list of issues.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maximus_sim::synth::{Overrides, spec};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = spec::parse("fuzz.toml", text, Overrides::default());
    }
});
