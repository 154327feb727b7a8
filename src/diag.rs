//! Diagnostics: one type for every problem segplan reports about its input, with the file, the
//! byte span, a message and an optional hint, and a renderer that shows a source snippet.
//!
//! Every stage that reads user input (topology, model, templates) returns *all* of its
//! diagnostics at once, so a user fixes a topology in one pass instead of one error per run.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A source file segplan read, kept for snippets and line numbers.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as shown to the user (the topology directory joined with the file name).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A file as read, shown to the user as `path`.
    pub fn new(path: PathBuf, text: String) -> Arc<Self> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Arc::new(Self {
            path,
            text,
            line_starts,
        })
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self.text[start..offset].chars().count() + 1;
        (line + 1, col)
    }
}

/// A place in a topology file: which file, and which bytes.
#[derive(Debug, Clone)]
pub struct Location {
    pub file: Arc<SourceFile>,
    pub span: Range<usize>,
}

impl Location {
    /// A span of `file`.
    pub fn new(file: &Arc<SourceFile>, span: Range<usize>) -> Self {
        Self {
            file: Arc::clone(file),
            span,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The 1-based line of the span's start.
    pub fn line(&self) -> usize {
        self.file.line_col(self.span.start).0
    }

    /// The 1-based column (in characters) of the span's start.
    pub fn column(&self) -> usize {
        self.file.line_col(self.span.start).1
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = self.file.line_col(self.span.start);
        write!(f, "{}:{line}:{col}", self.file.path.display())
    }
}

/// One problem found in the input.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable identifier, e.g. `topology::unknown-zone`.
    pub code: &'static str,
    pub message: String,
    /// Where the problem is; `None` for problems without a place (a missing directory).
    pub location: Option<Location>,
    /// A label shown under the snippet.
    pub label: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
    /// A file path for problems that have a file but no span (an unreadable file).
    pub path: Option<PathBuf>,
}

impl Diagnostic {
    /// An error (validation fails) with a stable code and a message.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            location: None,
            label: None,
            hint: None,
            path: None,
        }
    }

    /// A warning: shown, but validation passes.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    /// Places the diagnostic at a span of a file.
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Places the diagnostic, if a location is known.
    pub fn at_opt(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    /// Names the file, for problems without a span.
    pub fn in_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The text under the snippet's marker.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// What to do about it (`help:`).
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A hint, if there is one.
    pub fn hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// Whether this is an error rather than a warning.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` or the bare path, for one-line output.
    pub fn where_(&self) -> Option<String> {
        match (&self.location, &self.path) {
            (Some(loc), _) => Some(loc.to_string()),
            (None, Some(p)) => Some(p.display().to_string()),
            (None, None) => None,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(w) = self.where_() {
            write!(f, "{w}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// Collects diagnostics while a stage runs.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Adds a diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Pushes and returns the diagnostic, to add a hint or label in place.
    pub fn push_mut(&mut self, d: Diagnostic) -> &mut Diagnostic {
        self.items.push(d);
        self.items.last_mut().expect("just pushed")
    }

    /// Adds several.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    /// Whether any of them is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The diagnostics, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Sorted by file, then position, then message, so output is stable.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            let ka = (
                a.location
                    .as_ref()
                    .map(|l| l.file.path.clone())
                    .or(a.path.clone()),
                a.location.as_ref().map(|l| l.span.start),
            );
            let kb = (
                b.location
                    .as_ref()
                    .map(|l| l.file.path.clone())
                    .or(b.path.clone()),
                b.location.as_ref().map(|l| l.span.start),
            );
            ka.cmp(&kb).then_with(|| a.message.cmp(&b.message))
        });
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// The closest candidate to `name` within a small edit distance, for "did you mean" hints;
/// failing that, the shortest candidate that `name` (three characters or more) begins
/// (`prod` -> `production`, `pci` -> `pci-dss`).
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let close = candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), *c))
        .filter(|(d, c)| *d <= 2.max(name.len() / 3) && *d < c.len().max(name.len()))
        .min_by_key(|(d, c)| (*d, c.to_string()));
    if let Some((_, c)) = close {
        return Some(c.to_string());
    }
    if name.chars().count() < 3 {
        return None;
    }
    candidates
        .iter()
        .filter(|c| c.len() > name.len() && c.starts_with(name))
        .min_by_key(|c| (c.len(), c.to_string()))
        .map(|c| c.to_string())
}

/// Renders diagnostics as miette reports with source snippets.
pub fn render(diags: &[Diagnostic], color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // No wrapping: a message stays on one line, so names and paths are never split and the
    // output can be searched; the terminal wraps long lines itself.
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_wrap_lines(false)
        .with_links(false);
    let mut out = String::new();
    for d in diags {
        let report = MietteDiag(d);
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&d.to_string());
            out.push('\n');
        }
        // A blank line between reports.
        out.push('\n');
    }
    out
}

/// A source file shows its path in the snippet header (`╭─[prod.toml:12:8]`).
impl miette::SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.path.display().to_string(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

struct MietteDiag<'a>(&'a Diagnostic);

impl fmt::Debug for MietteDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for MietteDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // With a location, the snippet's header names `file:line:col`; without one, the
        // message itself names the file.
        let d = self.0;
        match (&d.location, &d.path) {
            (Some(_), _) => write!(f, "{}", d.message),
            (None, Some(p)) => write!(f, "{}: {}", p.display(), d.message),
            _ => write!(f, "{}", d.message),
        }
    }
}

impl std::error::Error for MietteDiag<'_> {}

impl miette::Diagnostic for MietteDiag<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.0.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.0.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0
            .hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0
            .location
            .as_ref()
            .map(|l| &*l.file as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let loc = self.0.location.as_ref()?;
        let len = loc.span.end.saturating_sub(loc.span.start);
        let span = miette::LabeledSpan::new(self.0.label.clone(), loc.span.start, len);
        Some(Box::new(std::iter::once(span)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let f = SourceFile::new("a.toml".into(), "ab\ncd\n\nx".into());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(1), (1, 2));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(7), (4, 1));
        assert_eq!(f.line_col(100), (4, 2));
    }

    #[test]
    fn did_you_mean_finds_close_names() {
        let zones = ["dmz", "app", "database"];
        assert_eq!(did_you_mean("databse", zones), Some("database".into()));
        assert_eq!(did_you_mean("ap", zones), Some("app".into()));
        assert_eq!(did_you_mean("payments", zones), None);
        assert_eq!(
            did_you_mean("prod", ["production", "management"]),
            Some("production".into())
        );
        assert_eq!(
            did_you_mean("pci", ["pci-dss", "hipaa", "soc2"]),
            Some("pci-dss".into())
        );
        assert_eq!(did_you_mean("pc", ["pci-dss"]), None);
    }
}
