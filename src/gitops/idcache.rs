//! A content-addressed cache of tree ids, so an unchanged folder costs one SHA-256 of its
//! rendered bytes instead of a SHA-1 of every file and a read of its old tree.
//!
//! Each entry maps the SHA-256 key of a folder's desired content ([`super::tree::Dir::key`]:
//! every name, every file's bytes, every sub-folder's key) to the git tree id that content has.
//! An entry is a fact about bytes, true in any repository, so it never goes stale; it is used
//! only when it names the very tree the branch tip already has at that path, an object that is
//! in the object database with everything below it. Any other hit is ignored and the folder is
//! built the slow way.
//!
//! The file is `<git dir>/segplan/tree-ids`: a header, the entries, and a SHA-256 of everything
//! before it. It is replaced atomically (written to a temporary file, then renamed) after the
//! commit point, and holds exactly the folders of the last commit. A missing, truncated,
//! corrupt or foreign file is ignored (and rewritten by the next commit); failing to write it
//! only costs time on the next run.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::Oid;
use sha2::{Digest, Sha256};

/// The key of a folder's content.
pub type Key = [u8; 32];

const MAGIC: &[u8; 16] = b"segplan-tree-ids";
const VERSION: u32 = 1;
const HEADER: usize = 16 + 4 + 4;
const RECORD: usize = 32 + 20;
const TRAILER: usize = 32;

/// The keys are SHA-256 output already: their first bytes are a fine hash.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*b) << (8 * i);
        }
    }
}

type Map = HashMap<Key, Oid, BuildHasherDefault<KeyHasher>>;

/// The cache read at the start of a commit, and the entries of the folders of this commit.
#[derive(Default)]
pub struct IdCache {
    loaded: Map,
    current: Map,
}

/// The cache file of a repository (`git_dir` is `Repository::path`).
pub fn path(git_dir: &Path) -> PathBuf {
    git_dir.join("segplan").join("tree-ids")
}

impl IdCache {
    /// Reads the cache of the repository whose git directory is `git_dir`; empty when the file
    /// is missing or not a valid cache.
    pub fn load(git_dir: &Path) -> IdCache {
        let file = path(git_dir);
        let loaded = match std::fs::read(&file) {
            Ok(bytes) => parse(&bytes).unwrap_or_else(|| {
                tracing::warn!("ignoring the invalid cache {}", file.display());
                Map::default()
            }),
            Err(_) => Map::default(),
        };
        IdCache {
            loaded,
            current: Map::default(),
        }
    }

    /// The tree id recorded for `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Oid> {
        self.loaded.get(key).copied()
    }

    /// Records that the folder content `key` has the tree id `id`.
    pub fn record(&mut self, key: Key, id: Oid) {
        self.current.insert(key, id);
    }

    /// Entries read from the file (0 when it was missing or invalid).
    pub fn loaded(&self) -> usize {
        self.loaded.len()
    }

    /// Entries recorded in this commit.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    /// Replaces the cache file with this commit's entries (when they differ from the file's).
    /// Never fails: a cache that cannot be written only costs time later.
    pub fn save(&self, git_dir: &Path) {
        if self.current == self.loaded {
            return;
        }
        let file = path(git_dir);
        if let Err(e) = write_atomically(&file, &serialize(&self.current)) {
            tracing::warn!("cannot write the cache {}: {e}", file.display());
        }
    }
}

fn serialize(map: &Map) -> Vec<u8> {
    let mut entries: Vec<(&Key, &Oid)> = map.iter().collect();
    entries.sort_unstable();
    let mut buf = Vec::with_capacity(HEADER + entries.len() * RECORD + TRAILER);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&VERSION.to_le_bytes());
    buf.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (key, id) in entries {
        buf.extend_from_slice(key);
        buf.extend_from_slice(id.as_bytes());
    }
    let sum = Sha256::digest(&buf);
    buf.extend_from_slice(&sum);
    buf
}

fn parse(bytes: &[u8]) -> Option<Map> {
    let body = bytes.get(..bytes.len().checked_sub(TRAILER)?)?;
    if Sha256::digest(body).as_slice() != &bytes[body.len()..] {
        return None;
    }
    if body.get(..16)? != MAGIC || u32::from_le_bytes(body.get(16..20)?.try_into().ok()?) != VERSION
    {
        return None;
    }
    let count = u32::from_le_bytes(body.get(20..24)?.try_into().ok()?) as usize;
    let records = &body[HEADER..];
    if records.len() != count.checked_mul(RECORD)? {
        return None;
    }
    let mut map = Map::default();
    map.reserve(count);
    for r in records.chunks_exact(RECORD) {
        let key: Key = r[..32].try_into().ok()?;
        map.insert(key, Oid::from_bytes(&r[32..]).ok()?);
    }
    Some(map)
}

/// Writes `bytes` to a temporary file next to `file`, then renames it over `file`.
fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().expect("the cache file has a folder");
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".tree-ids-{}-{nanos}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        // No fsync: a file cut short by a power loss fails its checksum and is ignored.
        std::fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        let mut k = [0u8; 32];
        k[0] = n;
        k[31] = n.wrapping_mul(7);
        k
    }

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    #[test]
    fn round_trips_and_rejects_any_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = IdCache::load(tmp.path());
        assert!(c.get(&key(1)).is_none(), "missing file: empty cache");
        c.record(key(1), oid(1));
        c.record(key(2), oid(2));
        c.save(tmp.path());
        let c = IdCache::load(tmp.path());
        assert_eq!(c.get(&key(1)), Some(oid(1)));
        assert_eq!(c.get(&key(2)), Some(oid(2)));
        assert_eq!(c.get(&key(3)), None);

        let good = std::fs::read(path(tmp.path())).unwrap();
        assert_eq!(good.len(), HEADER + 2 * RECORD + TRAILER);
        let mut damaged: Vec<Vec<u8>> = vec![
            Vec::new(),
            good[..good.len() - 1].to_vec(),
            good[..HEADER].to_vec(),
            [good.as_slice(), b"x"].concat(),
        ];
        for at in [0, 17, 21, HEADER, HEADER + 40, good.len() - 1] {
            let mut d = good.clone();
            d[at] ^= 0x01;
            damaged.push(d);
        }
        for d in damaged {
            std::fs::write(path(tmp.path()), &d).unwrap();
            let c = IdCache::load(tmp.path());
            assert_eq!(c.get(&key(1)), None, "{} bytes accepted", d.len());
        }
    }

    #[test]
    fn save_keeps_only_this_commits_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = IdCache::load(tmp.path());
        c.record(key(1), oid(1));
        c.save(tmp.path());
        let mut c = IdCache::load(tmp.path());
        c.record(key(2), oid(2));
        c.save(tmp.path());
        let c = IdCache::load(tmp.path());
        assert_eq!((c.get(&key(1)), c.get(&key(2))), (None, Some(oid(2))));
    }
}
