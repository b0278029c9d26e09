//! The `maximus-sim` binary: everything lives in the library's `cli` module.

fn main() {
    std::process::exit(maximus_sim::cli::main());
}
