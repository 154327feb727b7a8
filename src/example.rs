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
