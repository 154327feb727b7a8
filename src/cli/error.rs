//! One error type at the CLI edge. Its kind decides the exit code.

use std::fmt;

use crate::diag::Diagnostic;

/// What kind of failure, and so which exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Invalid input or usage: exit 2.
    Input,
    /// A cluster, network or git failure: exit 3.
    External,
    /// A bug in segplan: exit 4.
    Internal,
}

/// An error ready to show to the user.
#[derive(Debug)]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
    pub hints: Vec<String>,
    /// Diagnostics with source snippets, rendered before the message.
    pub diagnostics: Vec<Diagnostic>,
    broken_pipe: bool,
}

impl CliError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hints: Vec::new(),
            diagnostics: Vec::new(),
            broken_pipe: false,
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }

    pub fn external(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::External, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Invalid topology: every diagnostic, then a count.
    pub fn diagnostics(diagnostics: Vec<Diagnostic>) -> Self {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let mut e = Self::input(format!(
            "topology is invalid: {errors} error{}",
            if errors == 1 { "" } else { "s" }
        ));
        e.diagnostics = diagnostics;
        e
    }

    /// A command of a later milestone.
    pub fn not_built(command: &str) -> Self {
        Self::input(format!("`segplan {command}` is not built yet"))
            .hint("see the project's issues for its status")
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Input => 2,
            ErrorKind::External => 3,
            ErrorKind::Internal => 4,
        }
    }

    pub fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }

    /// The text shown on stderr.
    pub fn render(&self, color: bool) -> String {
        let mut out = crate::diag::render(&self.diagnostics, color);
        out.push_str(&format!("error: {}\n", self.message));
        for h in &self.hints {
            out.push_str(&format!("  hint: {h}\n"));
        }
        out
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        let mut err = Self::external(format!("I/O error: {e}"));
        err.broken_pipe = e.kind() == std::io::ErrorKind::BrokenPipe;
        err
    }
}
