//! The git index (`<git dir>/index`), read and rewritten by segplan itself in the formats git
//! writes by default, so a small commit does not pay for libgit2 loading tens of thousands of
//! entries into a hash map (and hashing the file twice with collision detection).
//!
//! Handled here: versions 2 and 3 (extended flags), whole (not split), with optional
//! extensions. Anything else (version 4's compressed paths, a split or sparse index, a required
//! extension segplan does not know, a bad checksum) is left to libgit2: [`IndexFile::read`]
//! returns `None` and the caller goes through `git2::Index`, which also reports corruption in
//! its own words.
//!
//! A rewrite ([`IndexFile::rewrite`]) follows git's protocol: take `index.lock` (created
//! exclusively: another writer makes it fail), read the index again if it changed since it was
//! read, replace only the entries of the changed paths, copy every other entry byte for byte,
//! write the lock file and rename it over the index. Entries that were racily clean (git's
//! term: a file changed in the same clock tick as the index was written keeps its stat data)
//! are checked against their file and, when it changed, smudged (size 0) as git does, so the
//! newer index file cannot hide that change. Extensions: the resolve-undo record (`REUC`) is
//! kept; the cache tree (`TREE`), untracked cache (`UNTR`), fsmonitor state (`FSMN`) and entry
//! offset tables (`EOIE`, `IEOT`) describe the old entries and are dropped; git rebuilds them
//! when it needs them.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid};
use sha1::{Digest, Sha1};

use super::GitopsError;
use super::tree::{BLOB, object_id};

const SIGNATURE: &[u8; 4] = b"DIRC";
/// ctime, mtime, dev, ino, mode, uid, gid, size (4 bytes each, times 8), id, flags.
const FIXED: usize = 40 + 20 + 2;
const EXTENDED: u16 = 0x4000;
const HEADER: usize = 12;
const TRAILER: usize = 20;

/// What identifies one version of the index file: a rewrite changes at least one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, u32),
    size: u64,
    ino: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Option<Stamp>> {
        match std::fs::metadata(path) {
            Ok(m) => {
                let mtime = m
                    .modified()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Ok(Some(Stamp {
                    mtime: (mtime.as_secs() as i64, mtime.subsec_nanos()),
                    size: m.len(),
                    ino: inode(&m),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The index, as read from disk.
pub struct IndexFile {
    path: PathBuf,
    data: Vec<u8>,
    version: u32,
    /// Where each entry starts, and its path's length; in file order (path, then stage).
    entries: Vec<(u32, u32)>,
    /// Extensions kept on rewrite, as byte ranges of `data` (signature and size included).
    kept: Vec<Range<usize>>,
    /// The file read (`None`: there was no index file, an empty index).
    pub stamp: Option<Stamp>,
}

/// One entry of the index, borrowed from it.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    raw: &'a [u8],
    pub path: &'a [u8],
}

impl EntryRef<'_> {
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.raw[at..at + 4].try_into().expect("4 bytes"))
    }
    pub fn mtime(&self) -> (i32, u32) {
        (self.u32_at(8) as i32, self.u32_at(12))
    }
    pub fn mode(&self) -> u32 {
        self.u32_at(24)
    }
    pub fn size(&self) -> u32 {
        self.u32_at(36)
    }
    pub fn id(&self) -> Oid {
        Oid::from_bytes(&self.raw[40..60]).expect("20 bytes")
    }
    fn flags(&self) -> u16 {
        u16::from_be_bytes([self.raw[60], self.raw[61]])
    }
    pub fn stage(&self) -> u16 {
        (self.flags() >> 12) & 0x3
    }
}

/// Stat data of a file written into the working tree, for its new index entry.
pub struct Written<'a> {
    pub path: &'a str,
    pub id: Oid,
    pub meta: std::fs::Metadata,
}

impl IndexFile {
    /// Reads the index of the repository whose git dir is `git_dir`; `None` when its format is
    /// one segplan leaves to libgit2. The stamp is taken before the file is read: a rewrite in
    /// between can only make more entries look racily clean, never fewer.
    pub fn read(git_dir: &Path) -> Result<Option<IndexFile>, GitopsError> {
        let path = git_dir.join("index");
        let io = |source| GitopsError::Io {
            path: path.clone(),
            source,
        };
        let stamp = Stamp::of(&path).map_err(io)?;
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some(IndexFile {
                    path,
                    data: Vec::new(),
                    version: 2,
                    entries: Vec::new(),
                    kept: Vec::new(),
                    stamp: None,
                }));
            }
            Err(e) => return Err(io(e)),
        };
        Ok(parse(&data).map(|(version, entries, kept)| IndexFile {
            path,
            data,
            version,
            entries,
            kept,
            stamp,
        }))
    }

    /// Every entry, in the index's order (path as bytes, then stage).
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.entries.iter().map(|&(at, len)| self.entry(at, len))
    }

    fn entry(&self, at: u32, path_len: u32) -> EntryRef<'_> {
        let at = at as usize;
        let fixed = if u16::from_be_bytes([self.data[at + 60], self.data[at + 61]]) & EXTENDED != 0
        {
            FIXED + 2
        } else {
            FIXED
        };
        EntryRef {
            raw: &self.data[at..at + fixed],
            path: &self.data[at + fixed..at + fixed + path_len as usize],
        }
    }

    /// The blob id of `path` at stage 0, if the index has it.
    pub fn id_of(&self, path: &[u8]) -> Option<Oid> {
        let i = self
            .entries
            .partition_point(|&(at, len)| self.entry(at, len).path < path);
        self.entries
            .get(i..)?
            .iter()
            .map(|&(at, len)| self.entry(at, len))
            .take_while(|e| e.path == path)
            .find(|e| e.stage() == 0)
            .map(|e| e.id())
    }

    /// This index again if the file did not change since it was read, else the file as it
    /// is now (`None`: in a format left to libgit2).
    pub fn current(self) -> Result<Option<IndexFile>, GitopsError> {
        let now = Stamp::of(&self.path).map_err(|source| GitopsError::Io {
            path: self.path.clone(),
            source,
        })?;
        if now == self.stamp {
            return Ok(Some(self));
        }
        let git_dir = self.path.parent().expect("the index is in the git dir");
        IndexFile::read(git_dir)
    }

    /// Replaces the entries of `removed` and `written` (paths in the working tree `workdir`)
    /// under the index lock, keeping everything else. Returns `Ok(None)` when the index turned
    /// out, under the lock, to be in a format left to libgit2 (nothing was written).
    pub fn rewrite(
        self,
        workdir: &Path,
        removed: &[&str],
        written: &[Written<'_>],
    ) -> Result<Option<()>, GitopsError> {
        let lock = self.path.with_file_name("index.lock");
        let mut file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(GitopsError::IndexLocked { path: lock });
            }
            Err(source) => return Err(GitopsError::Io { path: lock, source }),
        };
        let result = (|| {
            // Under the lock, the index can only change by a writer that ignores it.
            let Some(index) = self.current()? else {
                return Ok(None);
            };
            let bytes = index.rewritten(workdir, removed, written);
            let io = |source| GitopsError::Io {
                path: lock.clone(),
                source,
            };
            file.write_all(&bytes).map_err(io)?;
            drop(file);
            std::fs::rename(&lock, &index.path).map_err(io)?;
            Ok(Some(()))
        })();
        if !matches!(result, Ok(Some(()))) {
            let _ = std::fs::remove_file(&lock);
        }
        result
    }

    /// The bytes of the rewritten index.
    fn rewritten(&self, workdir: &Path, removed: &[&str], written: &[Written<'_>]) -> Vec<u8> {
        let mut changed: Vec<(&[u8], Option<&Written<'_>>)> = removed
            .iter()
            .map(|p| (p.as_bytes(), None))
            .chain(written.iter().map(|w| (w.path.as_bytes(), Some(w))))
            .collect();
        // A path both removed and written (a folder became a file) ends up written: the
        // written one sorts first and `dedup_by` keeps the first.
        changed.sort_by(|a, b| a.0.cmp(b.0).then(b.1.is_some().cmp(&a.1.is_some())));
        changed.dedup_by(|a, b| a.0 == b.0);

        let mut out = Vec::with_capacity(self.data.len() + written.len() * 128);
        out.extend_from_slice(SIGNATURE);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&[0; 4]); // the entry count, set below
        let mut count: u32 = 0;
        let mut old = self.entries.iter().peekable();
        let mut new = changed.iter().peekable();
        loop {
            let next_old = old.peek().map(|&&(at, len)| self.entry(at, len));
            let take_old = match (next_old, new.peek()) {
                (None, None) => break,
                (Some(o), Some(n)) => o.path < n.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if take_old {
                let &(at, len) = old.next().expect("peeked");
                let e = self.entry(at, len);
                let start = out.len();
                out.extend_from_slice(self.raw_entry(at, len));
                if self.racily_changed(workdir, &e) {
                    out[start + 36..start + 40].copy_from_slice(&[0; 4]); // smudge the size
                }
                count += 1;
                continue;
            }
            let &(path, w) = new.next().expect("peeked");
            // Every entry of this path (all stages) gives way.
            while old
                .peek()
                .is_some_and(|&&(at, len)| self.entry(at, len).path == path)
            {
                old.next();
            }
            if let Some(w) = w {
                push_entry(&mut out, w);
                count += 1;
            }
        }
        out[8..12].copy_from_slice(&count.to_be_bytes());
        for r in &self.kept {
            out.extend_from_slice(&self.data[r.clone()]);
        }
        let sum = Sha1::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    fn raw_entry(&self, at: u32, path_len: u32) -> &[u8] {
        let e = self.entry(at, path_len);
        let len = entry_len(e.raw.len(), e.path.len());
        &self.data[at as usize..at as usize + len]
    }

    /// Whether `e` was racily clean when this index was written (its file's mtime is not older
    /// than the index) and its file no longer matches it although the stat data still does:
    /// git's rule for smudging an entry on write.
    fn racily_changed(&self, workdir: &Path, e: &EntryRef<'_>) -> bool {
        let Some(stamp) = self.stamp else {
            return false;
        };
        let (secs, nanos) = e.mtime();
        if e.stage() != 0 || (i64::from(secs), nanos) < stamp.mtime {
            return false;
        }
        let Ok(rel) = std::str::from_utf8(e.path) else {
            return true;
        };
        let full = workdir.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&full) else {
            return false; // gone: its stat data no longer matches
        };
        if !meta.is_file() || meta.len() != u64::from(e.size()) || mtime(&meta) != e.mtime() {
            return false; // the stat data tells already
        }
        std::fs::read(&full).map_or(true, |b| object_id(ObjectType::Blob, &b) != e.id())
    }
}

/// Git's length of an entry on disk: fixed part and path, NUL-padded to a multiple of 8 bytes
/// (one NUL at least).
fn entry_len(fixed: usize, path_len: usize) -> usize {
    (fixed + path_len + 8) & !7
}

/// Parses an index in a format segplan handles: (version, entries, kept extensions).
#[allow(clippy::type_complexity)]
fn parse(data: &[u8]) -> Option<(u32, Vec<(u32, u32)>, Vec<Range<usize>>)> {
    if data.len() < HEADER + TRAILER || &data[..4] != SIGNATURE || data.len() > u32::MAX as usize {
        return None;
    }
    let be32 = |at: usize| u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"));
    let version = be32(4);
    if !(2..=3).contains(&version) {
        return None;
    }
    let body = data.len() - TRAILER;
    let trailer = &data[body..];
    // `index.skipHash` writes a zero trailer, which git accepts.
    if trailer != [0; TRAILER] && Sha1::digest(&data[..body]).as_slice() != trailer {
        return None;
    }
    let count = be32(8) as usize;
    let mut entries = Vec::with_capacity(count.min(body / FIXED));
    let mut at = HEADER;
    let mut previous: Option<(&[u8], u16)> = None;
    for _ in 0..count {
        if at + FIXED > body {
            return None;
        }
        let flags = u16::from_be_bytes([data[at + 60], data[at + 61]]);
        let fixed = if flags & EXTENDED != 0 {
            if version < 3 {
                return None;
            }
            FIXED + 2
        } else {
            FIXED
        };
        let name = at + fixed;
        let path_len = data.get(name..body)?.iter().position(|b| *b == 0)?;
        let name_field = usize::from(flags & 0x0fff);
        if name_field != path_len.min(0x0fff) {
            return None;
        }
        let path = &data[name..name + path_len];
        let key = (path, (flags >> 12) & 0x3);
        if previous.is_some_and(|p| p >= key) {
            return None; // unsorted or duplicated: libgit2 decides
        }
        previous = Some(key);
        entries.push((at as u32, path_len as u32));
        at += entry_len(fixed, path_len);
        if at > body {
            return None;
        }
    }
    let mut kept = Vec::new();
    while at < body {
        if at + 8 > body {
            return None;
        }
        let signature = &data[at..at + 4];
        let end = at + 8 + be32(at + 4) as usize;
        if end > body {
            return None;
        }
        match signature {
            b"REUC" => kept.push(at..end),
            b"link" | b"sdir" => return None,
            s if s[0].is_ascii_uppercase() => {} // optional, describing the old entries: dropped
            _ => return None,                    // required and unknown
        }
        at = end;
    }
    Some((version, entries, kept))
}

/// Appends a version 2 entry (no extended flags) for a file segplan wrote.
fn push_entry(out: &mut Vec<u8>, w: &Written<'_>) {
    let start = out.len();
    let stat = stat_fields(&w.meta);
    for v in stat {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(w.id.as_bytes());
    let name_len = w.path.len().min(0x0fff) as u16;
    out.extend_from_slice(&name_len.to_be_bytes());
    out.extend_from_slice(w.path.as_bytes());
    let len = entry_len(FIXED, w.path.len());
    out.resize(start + len, 0);
}

/// ctime (s, ns), mtime (s, ns), dev, ino, mode, uid, gid, size: truncated to 32 bits, as git
/// stores them.
#[cfg(unix)]
fn stat_fields(meta: &std::fs::Metadata) -> [u32; 10] {
    use std::os::unix::fs::MetadataExt;
    [
        meta.ctime() as u32,
        meta.ctime_nsec() as u32,
        meta.mtime() as u32,
        meta.mtime_nsec() as u32,
        meta.dev() as u32,
        meta.ino() as u32,
        BLOB as u32,
        meta.uid(),
        meta.gid(),
        meta.len() as u32,
    ]
}

#[cfg(not(unix))]
fn stat_fields(meta: &std::fs::Metadata) -> [u32; 10] {
    let (secs, nanos) = mtime(meta);
    [
        secs as u32,
        nanos,
        secs as u32,
        nanos,
        0,
        0,
        BLOB as u32,
        0,
        0,
        meta.len() as u32,
    ]
}

/// A file's mtime as the index stores it.
pub(crate) fn mtime(meta: &std::fs::Metadata) -> (i32, u32) {
    let d = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    (d.as_secs() as i32, d.subsec_nanos())
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    fn repo_with_files() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q"]);
        for (p, t) in [("a.txt", "a\n"), ("d/b.txt", "b\n"), ("d/c.txt", "c\n")] {
            let full = tmp.path().join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, t).unwrap();
        }
        git(tmp.path(), &["add", "-A"]);
        tmp
    }

    #[test]
    fn reads_what_git_writes_and_declines_what_it_cannot_rewrite() {
        let tmp = repo_with_files();
        let git_dir = tmp.path().join(".git");
        let index = IndexFile::read(&git_dir).unwrap().expect("version 2");
        let paths: Vec<&[u8]> = index.entries().map(|e| e.path).collect();
        assert_eq!(paths, [&b"a.txt"[..], b"d/b.txt", b"d/c.txt"]);
        let id = index.id_of(b"d/b.txt").unwrap();
        assert_eq!(id, Oid::hash_object(ObjectType::Blob, b"b\n").unwrap());
        assert_eq!(index.id_of(b"d"), None);
        let good = std::fs::read(git_dir.join("index")).unwrap();
        // Any damage, and formats left to libgit2: declined, never misread.
        let mut damaged = vec![good[..good.len() - 1].to_vec(), good[..40].to_vec()];
        let mut flipped = good.clone();
        flipped[HEADER + 70] ^= 1;
        damaged.push(flipped);
        let mut v4 = good.clone();
        v4[7] = 4;
        damaged.push(v4);
        for bytes in damaged {
            assert!(parse(&bytes).is_none());
        }
    }

    #[test]
    fn a_path_both_removed_and_written_ends_up_written() {
        let tmp = repo_with_files();
        let git_dir = tmp.path().join(".git");
        std::fs::write(tmp.path().join("a.txt"), "a2\n").unwrap();
        let written = [Written {
            path: "a.txt",
            id: object_id(ObjectType::Blob, b"a2\n"),
            meta: std::fs::metadata(tmp.path().join("a.txt")).unwrap(),
        }];
        let index = IndexFile::read(&git_dir).unwrap().unwrap();
        index
            .rewrite(tmp.path(), &["a.txt", "d/b.txt"], &written)
            .unwrap()
            .unwrap();
        let after = IndexFile::read(&git_dir).unwrap().unwrap();
        let paths: Vec<&[u8]> = after.entries().map(|e| e.path).collect();
        assert_eq!(paths, [&b"a.txt"[..], b"d/c.txt"]);
        assert_eq!(after.id_of(b"a.txt"), Some(written[0].id));
    }

    #[test]
    fn a_held_lock_is_reported_and_left_in_place() {
        let tmp = repo_with_files();
        let git_dir = tmp.path().join(".git");
        let lock = git_dir.join("index.lock");
        std::fs::write(&lock, "another writer").unwrap();
        let index = IndexFile::read(&git_dir).unwrap().unwrap();
        let err = index.rewrite(tmp.path(), &["a.txt"], &[]).unwrap_err();
        assert!(matches!(err, GitopsError::IndexLocked { .. }), "{err:?}");
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), "another writer");
        let index = IndexFile::read(&git_dir).unwrap().unwrap();
        assert_eq!(index.entries().count(), 3, "nothing was written");
    }

    #[test]
    fn a_rewrite_replaces_only_the_changed_entries_under_the_lock() {
        let tmp = repo_with_files();
        let git_dir = tmp.path().join(".git");
        let index = IndexFile::read(&git_dir).unwrap().unwrap();
        let before: Vec<Vec<u8>> = index.entries().map(|e| [e.raw, e.path].concat()).collect();
        std::fs::write(tmp.path().join("d/c.txt"), "c2\n").unwrap();
        std::fs::remove_file(tmp.path().join("a.txt")).unwrap();
        let written = [Written {
            path: "d/c.txt",
            id: object_id(ObjectType::Blob, b"c2\n"),
            meta: std::fs::metadata(tmp.path().join("d/c.txt")).unwrap(),
        }];
        index
            .rewrite(tmp.path(), &["a.txt"], &written)
            .unwrap()
            .unwrap();
        assert!(!git_dir.join("index.lock").exists());
        let after = IndexFile::read(&git_dir).unwrap().expect("still version 2");
        let entries: Vec<EntryRef<'_>> = after.entries().collect();
        assert_eq!(entries.len(), 2);
        assert_eq!([entries[0].raw, entries[0].path].concat(), before[1]);
        assert_eq!(entries[1].path, b"d/c.txt");
        assert_eq!(entries[1].id(), written[0].id);
        assert_eq!(entries[1].size(), 3);
        // git agrees: both files staged as they are in the working tree, nothing modified.
        let out = std::process::Command::new("git")
            .current_dir(tmp.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["status", "--porcelain"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "A  d/b.txt\nA  d/c.txt\n"
        );
    }
}
