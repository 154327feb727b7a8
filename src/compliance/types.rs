//! The results of `segplan check`: rules, findings and the report that holds them.

use serde::Serialize;

/// How bad a finding is. Error-level findings fail `segplan check` (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    /// Parses `error`, `warning` or `note`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "error" => Some(Self::Error),
            "warning" => Some(Self::Warning),
            "note" => Some(Self::Note),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Note => "note",
        }
    }
}

/// A rule as it ran: a built-in one, or a user rule wrapping a built-in check.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// Stable id, e.g. `pci-dss.no-internet-egress`.
    pub id: String,
    /// The profile it belongs to (`baseline`, `pci-dss`, ..., or a user profile).
    pub profile: String,
    /// The built-in check it runs (equal to `id` for built-in rules).
    pub check: String,
    /// The control it evidences, e.g. `PCI DSS v4.0 1.3.2`.
    pub control: String,
    pub severity: Severity,
    /// One line: what must hold.
    pub title: String,
}

/// A place in the topology: file relative to the topology directory, 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRef {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The exemption that switched a finding off.
#[derive(Debug, Clone, Serialize)]
pub struct Exempted {
    pub justification: String,
    pub source: SourceRef,
}

/// One rule failing on one object.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: String,
    pub profile: String,
    pub control: String,
    pub severity: Severity,
    pub environment: Option<String>,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    /// What is wrong, e.g. `namespace prod/payments` or `flow dmz -> app`.
    pub object: String,
    pub message: String,
    /// Policy names, the path found, the values compared.
    pub evidence: Vec<String>,
    /// Where to fix it.
    pub source: Option<SourceRef>,
    /// Set when an exemption switched this finding off.
    pub exempted: Option<Exempted>,
}

impl Finding {
    /// Whether this finding counts (not exempted).
    pub fn is_active(&self) -> bool {
        self.exempted.is_none()
    }
}

/// How a rule came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Nothing found.
    Pass,
    /// At least one active finding.
    Fail,
    /// Findings, all of them exempted.
    Exempted,
}

/// One rule's outcome with its findings.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    pub rule: RuleInfo,
    pub outcome: Outcome,
    pub findings: Vec<Finding>,
}

/// An exemption that matched no finding.
#[derive(Debug, Clone, Serialize)]
pub struct UnusedExemption {
    pub rule: String,
    pub source: SourceRef,
}

/// Everything `segplan check` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The environments checked, in name order.
    pub environments: Vec<String>,
    /// The topology directory as given, for locations relative to the repository root.
    pub topology_dir: String,
    /// One entry per rule that ran, in catalogue order.
    pub results: Vec<RuleResult>,
    pub unused_exemptions: Vec<UnusedExemption>,
}

impl Report {
    /// Every finding, exempted ones included.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.results.iter().flat_map(|r| r.findings.iter())
    }

    /// Active findings of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings()
            .filter(|f| f.is_active() && f.severity == severity)
            .count()
    }

    /// Whether any error-level finding remains.
    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    /// The path of a topology file relative to the repository root (`environments/prod.toml`).
    pub fn repo_path(&self, file: &str) -> String {
        if self.topology_dir.is_empty() || self.topology_dir == "." {
            file.to_string()
        } else {
            format!("{}/{file}", self.topology_dir.trim_end_matches('/'))
        }
    }
}
