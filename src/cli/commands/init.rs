//! `segplan init DIR`: write the bundled example topology.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{CliError, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the example into (created if missing).
    pub dir: PathBuf,
}

pub fn run(args: Args, _s: &Settings) -> Result<ExitCode, CliError> {
    let written = crate::example::write(&args.dir).map_err(|e| match e {
        crate::example::InitError::Exists(p) => CliError::input(format!(
            "{} already exists; segplan init never overwrites files",
            p.display()
        ))
        .hint("choose an empty directory, or move the file away"),
        crate::example::InitError::Io(p, e) => {
            CliError::external(format!("cannot write {}: {e}", p.display()))
        }
    })?;
    for p in &written {
        eprintln!("wrote {}", p.display());
    }
    eprintln!("next: segplan --topology {} validate", args.dir.display());
    Ok(ExitCode::SUCCESS)
}
