//! `segplan check`.

use std::process::ExitCode;

use crate::cli::{CliError, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment(s) to work on.
    #[arg(long = "env")]
    pub env: Vec<String>,
}

pub fn run(_args: Args, _s: &Settings) -> Result<ExitCode, CliError> {
    Err(CliError::not_built("check"))
}
