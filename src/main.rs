/// mimalloc, configured by [`segplan::alloc::configure_mimalloc`] (docs/performance.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    segplan::alloc::configure_mimalloc();
    segplan::cli::main()
}
