//! The command-line interface: clap definitions, settings, exit codes and the only place that
//! prints. Each command lives in `commands/<name>.rs` with its arguments and its function.

pub mod commands;
mod error;
pub mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use error::{CliError, ErrorKind};

/// Environment variables segplan reads, each documented once.
pub mod env_vars {
    /// The topology directory (same as `--topology`).
    pub const SEGPLAN_TOPOLOGY: &str = "SEGPLAN_TOPOLOGY";
    /// A tracing filter for logs on stderr, e.g. `segplan=debug`.
    pub const SEGPLAN_LOG: &str = "SEGPLAN_LOG";
    /// The kubeconfig path(s), as kubectl reads them.
    pub const KUBECONFIG: &str = "KUBECONFIG";
}

/// Plan and enforce network segmentation across many Kubernetes clusters.
#[derive(Debug, Parser)]
#[command(name = "segplan", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The topology directory holding segplan.toml and one <env>.toml per environment.
    #[arg(long, global = true, env = env_vars::SEGPLAN_TOPOLOGY, default_value = "environments", value_name = "DIR")]
    pub topology: PathBuf,

    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// More logging on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the bundled example topology into a directory.
    Init(commands::init::Args),
    /// Validate the topology and report every problem at once.
    Validate(commands::validate::Args),
    /// Render per-cluster manifests.
    Render(commands::render::Args),
    /// Commit rendered manifests into a GitOps repository.
    Commit(commands::commit::Args),
    /// Compare the plan with the live clusters.
    Diff(commands::diff::Args),
    /// Bring the live clusters to the plan.
    Apply(commands::apply::Args),
    /// Run compliance checks (PCI DSS, HIPAA, SOC 2).
    Check(commands::check::Args),
    /// Prove that reachability matches the topology's intent.
    Verify(commands::verify::Args),
    /// Review the connectivity change between two GitOps revisions.
    Review(commands::review::Args),
    /// Draw the zone graph computed from the policies.
    Graph(commands::graph::Args),
    /// Reachability analysis of a directory of manifests.
    Connectivity(commands::connectivity::Args),
    /// Print shell completions.
    Completions(commands::completions::Args),
    /// Print the man page.
    #[command(name = "manpage")]
    Manpage,
}

/// Global settings resolved once, before any command runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub topology: PathBuf,
    /// Colour on stdout.
    pub color: bool,
    /// Colour on stderr (diagnostics): `--color always` forces it, `auto` needs a terminal.
    pub color_stderr: bool,
    pub stdout_is_terminal: bool,
    pub stderr_is_terminal: bool,
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let settings = settings(&cli);
    init_tracing(&cli, settings.color_stderr);
    match run(cli.command, &settings) {
        Ok(code) => code,
        Err(e) => {
            if e.is_broken_pipe() {
                return ExitCode::SUCCESS;
            }
            eprint!("{}", e.render(settings.color_stderr));
            ExitCode::from(e.exit_code())
        }
    }
}

fn settings(cli: &Cli) -> Settings {
    use std::io::IsTerminal;
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout_is_terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    let color_stderr = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stderr_is_terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    Settings {
        topology: cli.topology.clone(),
        color,
        color_stderr,
        stdout_is_terminal,
        stderr_is_terminal,
    }
}

fn init_tracing(cli: &Cli, ansi: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if cli.quiet {
        "error"
    } else {
        match cli.verbose {
            0 => "warn",
            1 => "segplan=info",
            2 => "segplan=debug",
            _ => "segplan=trace",
        }
    };
    let filter =
        EnvFilter::try_from_env(env_vars::SEGPLAN_LOG).unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Runs one command. The result's exit code is 0 clean, 1 differences or findings.
pub fn run(command: Command, s: &Settings) -> Result<ExitCode, CliError> {
    match command {
        Command::Init(a) => commands::init::run(a, s),
        Command::Validate(a) => commands::validate::run(a, s),
        Command::Render(a) => commands::render::run(a, s),
        Command::Commit(a) => commands::commit::run(a, s),
        Command::Diff(a) => commands::diff::run(a, s),
        Command::Apply(a) => commands::apply::run(a, s),
        Command::Check(a) => commands::check::run(a, s),
        Command::Verify(a) => commands::verify::run(a, s),
        Command::Review(a) => commands::review::run(a, s),
        Command::Graph(a) => commands::graph::run(a, s),
        Command::Connectivity(a) => commands::connectivity::run(a, s),
        Command::Completions(a) => commands::completions::run(a),
        Command::Manpage => commands::completions::manpage(),
    }
}
