//! Validation and lowering: from the parsed topology to the [`Model`] every later stage uses.
//!
//! [`build`] checks names, references, ports, CIDRs and cross-file rules and returns *all*
//! diagnostics at once. It is pure: it reads nothing but the parsed topology.

pub mod names;
mod types;
mod validate;

pub use types::*;
pub use validate::build;

/// Compliance profiles segplan ships.
pub const BUILTIN_PROFILES: [&str; 3] = ["pci-dss", "hipaa", "soc2"];

/// Namespaces segplan refuses to manage: default-deny there breaks the cluster.
pub const RESERVED_NAMESPACES: [&str; 4] =
    ["kube-system", "kube-public", "kube-node-lease", "default"];

/// Loads and validates a topology directory in one step.
pub fn load(
    dir: &std::path::Path,
) -> Result<(Model, Vec<crate::diag::Diagnostic>), Vec<crate::diag::Diagnostic>> {
    let (topology, parse_diags) = crate::topology::load(dir).map_err(|d| d.into_sorted())?;
    let result = build(&topology, parse_diags);
    match &result {
        Ok((model, _)) => tracing::info!(
            "topology `{}` is valid: {} environment(s), {} zone(s)",
            model.project,
            model.environments.len(),
            model.zones.len()
        ),
        Err(diags) => tracing::debug!("topology is invalid: {} diagnostic(s)", diags.len()),
    }
    result
}

/// Parses and validates a topology given as in-memory files (`(file name, bytes)`), as
/// [`load`] would a directory `dir` holding them. Handy for tests that build topologies.
pub fn load_files(
    dir: &std::path::Path,
    files: &[(&str, &[u8])],
) -> Result<(Model, Vec<crate::diag::Diagnostic>), Vec<crate::diag::Diagnostic>> {
    let (topology, parse_diags) =
        crate::topology::load_files(dir, files).map_err(|d| d.into_sorted())?;
    build(&topology, parse_diags)
}
