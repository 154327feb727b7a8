//! The bundled example topology (`environments/`), embedded in the binary for `segplan init`.

use std::path::{Path, PathBuf};

/// The example's files, by name.
pub const FILES: &[(&str, &str)] = &[
    ("segplan.toml", include_str!("../environments/segplan.toml")),
    ("prod.toml", include_str!("../environments/prod.toml")),
    ("staging.toml", include_str!("../environments/staging.toml")),
    (
        "management.toml",
        include_str!("../environments/management.toml"),
    ),
];

/// Why the example could not be written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A file of the example is already there; nothing was written.
    #[error("{} already exists; segplan init never overwrites files", .0.display())]
    Exists(PathBuf),
    /// The target exists and is not a directory.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// Creating the directory or writing a file failed.
    #[error("cannot write {}: {error}", path.display())]
    Io {
        /// The file or directory that could not be written, and why.
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Writes the example into `dir` (created if missing), refusing if any of its files already
/// exists. Returns the paths written, in [`FILES`] order.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    if dir.exists() && !dir.is_dir() {
        return Err(InitError::NotADirectory(dir.to_path_buf()));
    }
    for (name, _) in FILES {
        let p = dir.join(name);
        if p.exists() || p.is_symlink() {
            return Err(InitError::Exists(p));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| InitError::Io {
        path: dir.to_path_buf(),
        error: e,
    })?;
    let mut written = Vec::new();
    for (name, text) in FILES {
        let p = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    InitError::Exists(p.clone())
                } else {
                    InitError::Io {
                        path: p.clone(),
                        error: e,
                    }
                }
            })?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| InitError::Io {
            path: p.clone(),
            error: e,
        })?;
        written.push(p);
    }
    Ok(written)
}

/// Writes a generated topology for benchmarks: the example's zones and flows, and one
/// environment `prod` with `clusters` clusters of `namespaces` namespaces each (zones in turn;
/// every other cluster runs Istio, every tenth namespace is PCI on a dedicated pool).
pub fn write_large(dir: &Path, clusters: usize, namespaces: usize) -> std::io::Result<()> {
    use std::fmt::Write;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("segplan.toml"), FILES[0].1)?;
    let mut env =
        String::from("[environment]\nkind = \"production\"\ncompliance = [\"pci-dss\"]\n\n");
    for c in 0..clusters {
        let _ = write!(
            env,
            "[clusters.c{c:02}]\npod_cidr = \"10.{}.0.0/16\"\nnode_cidr = \"172.16.{}.0/24\"\nmesh = \"{}\"\n\n[clusters.c{c:02}.node_pools.pci]\nlabels = {{ \"security-zone\" = \"pci\" }}\ntaints = [{{ key = \"security-zone\", value = \"pci\", effect = \"NoSchedule\" }}]\n\n",
            100 + c,
            c,
            if c % 2 == 0 { "istio" } else { "none" }
        );
    }
    let zones = ["dmz", "app", "app", "data"];
    for c in 0..clusters {
        for n in 0..namespaces {
            let zone = zones[n % zones.len()];
            let _ = write!(
                env,
                "[namespaces.c{c:02}-ns{n:04}]\nzone = \"{zone}\"\nteam = \"team-{}\"\nclusters = [\"c{c:02}\"]\n",
                n % 17
            );
            if zone == "data" && n % 10 == 3 {
                env.push_str("compliance = [\"pci-dss\"]\nnode_pool = \"pci\"\n");
            }
            env.push('\n');
        }
    }
    std::fs::write(dir.join("prod.toml"), env)
}
