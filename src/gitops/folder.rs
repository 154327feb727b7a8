//! Folders of the working tree, listed and stat'ed relative to an open folder: the working-tree
//! check reads ten thousand of them, and a path resolved from the root for every folder and a
//! directory stream set up for it (`std::fs::read_dir`) cost more than the listing itself.
//!
//! On unix each folder is an open file descriptor (`openat`, `getdents`, `fstatat` through
//! `rustix`), so every call resolves one path component. Elsewhere the same interface works on
//! paths through `std::fs`.

use std::io;
use std::path::Path;

/// What the check needs of a file.
#[derive(Debug, Clone, Copy)]
pub struct FileStat {
    /// A regular file (not a folder, symlink or special file).
    pub is_file: bool,
    pub len: u64,
    /// Modification time (seconds, nanoseconds), as the index stores it.
    pub mtime: (i32, u32),
}

/// One entry of a folder: its name and whether it is a folder (not following symlinks).
pub type Item = (Vec<u8>, bool);

#[cfg(unix)]
pub use unix::Folder;

#[cfg(not(unix))]
pub use portable::Folder;

#[cfg(unix)]
mod unix {
    use std::ffi::CString;

    use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

    use super::{FileStat, Item, Path, io};

    const OPEN: OFlags = OFlags::RDONLY
        .union(OFlags::DIRECTORY)
        .union(OFlags::CLOEXEC)
        .union(OFlags::NOFOLLOW);

    /// An open folder (its descriptor also serves the relative `openat` and `fstatat`).
    pub struct Folder(Dir);

    fn name(bytes: &[u8]) -> io::Result<CString> {
        CString::new(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    }

    impl Folder {
        pub fn open(path: &Path) -> io::Result<Folder> {
            Ok(Folder(Dir::new(rustix::fs::open(
                path,
                OPEN,
                Mode::empty(),
            )?)?))
        }

        /// The sub-folder `name` (refusing to follow a symlink).
        pub fn sub(&self, name_bytes: &[u8]) -> io::Result<Folder> {
            let fd = rustix::fs::openat(self.0.fd()?, &name(name_bytes)?, OPEN, Mode::empty())?;
            Ok(Folder(Dir::new(fd)?))
        }

        /// Every entry but `.` and `..`, in the order the file system returns them. Once.
        pub fn list(&mut self) -> io::Result<Vec<Item>> {
            let mut items = Vec::new();
            while let Some(entry) = self.0.read() {
                let entry = entry?;
                let bytes = entry.file_name().to_bytes();
                if bytes == b"." || bytes == b".." {
                    continue;
                }
                let is_dir = match entry.file_type() {
                    FileType::Directory => true,
                    // The file system does not say: ask.
                    FileType::Unknown => self.stat_raw(bytes)?.0 == FileType::Directory,
                    _ => false,
                };
                items.push((bytes.to_vec(), is_dir));
            }
            Ok(items)
        }

        fn stat_raw(&self, name_bytes: &[u8]) -> io::Result<(FileType, rustix::fs::Stat)> {
            let fd = self.0.fd()?;
            let st = rustix::fs::statat(fd, &name(name_bytes)?, AtFlags::SYMLINK_NOFOLLOW)?;
            Ok((FileType::from_raw_mode(st.st_mode as _), st))
        }

        /// The entry `name`, not following a symlink.
        pub fn stat(&self, name_bytes: &[u8]) -> io::Result<FileStat> {
            let (kind, st) = self.stat_raw(name_bytes)?;
            Ok(FileStat {
                is_file: kind == FileType::RegularFile,
                len: st.st_size as u64,
                mtime: (st.st_mtime as i32, st.st_mtime_nsec as u32),
            })
        }
    }
}

#[cfg(not(unix))]
mod portable {
    use std::path::PathBuf;

    use super::{FileStat, Item, Path, io};

    /// A folder, by path.
    pub struct Folder(PathBuf);

    fn os(name: &[u8]) -> io::Result<&std::ffi::OsStr> {
        std::str::from_utf8(name)
            .map(std::ffi::OsStr::new)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    }

    impl Folder {
        pub fn open(path: &Path) -> io::Result<Folder> {
            Ok(Folder(path.to_path_buf()))
        }

        pub fn sub(&self, name: &[u8]) -> io::Result<Folder> {
            Ok(Folder(self.0.join(os(name)?)))
        }

        pub fn list(&mut self) -> io::Result<Vec<Item>> {
            let mut items = Vec::new();
            for e in std::fs::read_dir(&self.0)? {
                let e = e?;
                let is_dir = e.file_type()?.is_dir();
                let name = e
                    .file_name()
                    .into_string()
                    .map_err(|_| io::ErrorKind::InvalidData)?;
                items.push((name.into_bytes(), is_dir));
            }
            Ok(items)
        }

        pub fn stat(&self, name: &[u8]) -> io::Result<FileStat> {
            let meta = std::fs::symlink_metadata(self.0.join(os(name)?))?;
            Ok(FileStat {
                is_file: meta.is_file(),
                len: meta.len(),
                mtime: crate::gitops::index::mtime(&meta),
            })
        }
    }
}
