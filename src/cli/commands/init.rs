//! `segplan init DIR`: write the bundled example topology.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{CliError, Settings};

/// Arguments of `segplan init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the example into (created if missing).
    pub dir: PathBuf,
}

/// Writes the example; every failure is invalid input (exit 2): the directory given.
pub fn run(args: Args, _s: &Settings) -> Result<ExitCode, CliError> {
    use crate::example::InitError;
    let written = crate::example::write(&args.dir).map_err(|e| {
        let hint = match &e {
            InitError::Exists(_) => "choose an empty directory, or move the file away",
            InitError::NotADirectory(_) => "give the path of a directory to create or fill",
            InitError::Io { .. } => "check that the directory is writable",
        };
        CliError::input(e.to_string()).hint(hint)
    })?;
    for p in &written {
        eprintln!("wrote {}", p.display());
    }
    eprintln!("next: segplan --topology {} validate", args.dir.display());
    Ok(ExitCode::SUCCESS)
}
