//! `segplan completions SHELL` and `segplan manpage`.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CliError};

/// Arguments of `segplan completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Prints the completions of `args.shell` on stdout.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "segplan", &mut out);
    crate::cli::output::print(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the man page (roff) on stdout.
pub fn manpage() -> Result<ExitCode, CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| CliError::internal(format!("cannot render man page: {e}")))?;
    crate::cli::output::print(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}
