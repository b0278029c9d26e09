//! The `maximus-sim` binary: everything lives in the library's `cli` module.

/// mimalloc: the flow table allocates a flow and a row per flow and the
/// writer thread frees the rows; glibc malloc spent a tenth of the run there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Small pages: see the function (a refusal costs only speed).
    let _ = maximus_sim::hint::small_pages_only();
    std::process::exit(maximus_sim::cli::main());
}
