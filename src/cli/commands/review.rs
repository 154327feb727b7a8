//! `segplan review --repo PATH --from REV --to REV [-o markdown|json|text]`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{CliError, Settings, output};
use crate::review::ReviewError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Json,
    Text,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The GitOps repository written by `segplan commit`.
    #[arg(long, value_name = "PATH")]
    pub repo: PathBuf,
    /// The base revision.
    #[arg(long, value_name = "REV")]
    pub from: String,
    /// The revision under review.
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub to: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
}

pub fn run(args: Args, _s: &Settings) -> Result<ExitCode, CliError> {
    let review = crate::review::review(&args.repo, &args.from, &args.to).map_err(|e| match e {
        ReviewError::Revision { .. } | ReviewError::Parse { .. } => CliError::input(e.to_string()),
        ReviewError::Analysis { .. } => CliError::input(e.to_string()),
        ReviewError::Open { .. } | ReviewError::Git(_) => CliError::external(e.to_string()),
    })?;
    let text = match args.format {
        Format::Markdown => review.markdown(),
        Format::Text => review.text(),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&review).unwrap_or_default();
            s.push('\n');
            s
        }
    };
    output::print(&text)?;
    Ok(if review.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
