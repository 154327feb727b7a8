fn main() -> std::process::ExitCode {
    segplan::cli::main()
}
