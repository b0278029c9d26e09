//! All integration tests in one binary (one link instead of one per file:
//! each test binary links polars, so this saves minutes and gigabytes).
//! `cargo test --test it <module>` runs one file's tests.

mod capture_datasets;
mod capture_robustness;
mod capture_roundtrip;
mod cli_dedup;
mod cli_flows;
mod cli_inspect;
mod cli_synth;
mod common;
mod flow_conservation;
mod flow_parquet;
mod flow_reference;
mod flow_spill;
mod model;
mod quickstart_sample;
mod readme;
mod synth;
