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

#[derive(Debug)]
pub enum InitError {
    Exists(PathBuf),
    Io(PathBuf, std::io::Error),
}

/// Writes the example into `dir`, refusing if any of its files already exists.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    for (name, _) in FILES {
        let p = dir.join(name);
        if p.exists() {
            return Err(InitError::Exists(p));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| InitError::Io(dir.to_path_buf(), e))?;
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
                    InitError::Io(p.clone(), e)
                }
            })?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .map_err(|e| InitError::Io(p.clone(), e))?;
        written.push(p);
    }
    Ok(written)
}
