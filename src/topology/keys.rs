//! Where each key of a TOML file is, for diagnostics that point at a name (`[zones.Dmz]`,
//! `labels = { "Bad Key" = "x" }`) rather than at a value.
//!
//! serde gives spans of values only, and the maps of [`super::raw`] have plain `String` keys
//! (serde_ignored cannot see through spanned keys). One walk over the parsed document records
//! every key's span by its value's span, to pair a map entry with its key; [`key_paths`] maps
//! dotted paths to key spans, to place unknown keys (rare, so it parses the text again).

use std::collections::HashMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::raw;

/// One key: its value's span, a hash of its name and its own span.
#[derive(Debug, Clone)]
struct Entry {
    value: (usize, usize),
    name: u64,
    key: Range<usize>,
}

/// The span of every key of one file.
#[derive(Debug, Default, Clone)]
pub struct KeyIndex {
    /// Sorted by value span. More than one key may share a value span (an implicit table and
    /// its sub-table); the name tells them apart.
    entries: Vec<Entry>,
}

/// FNV-1a: names are compared by hash so indexing allocates nothing per key.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl KeyIndex {
    /// Indexes a parsed document.
    pub fn of(table: &DeTable<'_>) -> Self {
        let mut index = Self::default();
        index.walk_table(table);
        index.entries.sort_by_key(|e| e.value);
        index
    }

    fn walk_table(&mut self, table: &DeTable<'_>) {
        for (key, value) in table.iter() {
            let vspan = value.span();
            self.entries.push(Entry {
                value: (vspan.start, vspan.end),
                name: name_hash(key.get_ref()),
                key: key.span(),
            });
            self.walk_value(value.get_ref());
        }
    }

    fn walk_value(&mut self, value: &DeValue<'_>) {
        match value {
            DeValue::Table(t) => self.walk_table(t),
            DeValue::Array(items) => {
                for item in items.iter() {
                    self.walk_value(item.get_ref());
                }
            }
            _ => {}
        }
    }

    /// The span of key `key` whose value has span `value`.
    pub fn key_of(&self, value: Range<usize>, key: &str) -> Option<Range<usize>> {
        let at = (value.start, value.end);
        let first = self.entries.partition_point(|e| e.value < at);
        let name = name_hash(key);
        self.entries[first..]
            .iter()
            .take_while(|e| e.value == at)
            .find(|e| e.name == name)
            .map(|e| e.key.clone())
    }
}

/// Every key's span by its dotted path (`flows.1.from`, array indices as numbers), as
/// serde_ignored writes paths. Empty when the text does not parse.
pub fn key_paths(text: &str) -> HashMap<String, Range<usize>> {
    fn table(t: &DeTable<'_>, prefix: &str, out: &mut HashMap<String, Range<usize>>) {
        for (key, v) in t.iter() {
            let name: &str = key.get_ref();
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            out.entry(path.clone()).or_insert(key.span());
            value(v.get_ref(), &path, out);
        }
    }
    fn value(v: &DeValue<'_>, path: &str, out: &mut HashMap<String, Range<usize>>) {
        match v {
            DeValue::Table(t) => table(t, path, out),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    value(item.get_ref(), &format!("{path}.{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = HashMap::new();
    if let Ok(doc) = DeTable::parse(text) {
        table(doc.get_ref(), "", &mut out);
    }
    out
}

/// Pairs each key of a table with its span in the file (the value's start when the key
/// cannot be found, which only a file edited under our feet could cause).
pub fn keyed<'a, V>(
    keys: &KeyIndex,
    map: &'a std::collections::BTreeMap<String, raw::S<V>>,
) -> Vec<(raw::S<String>, &'a raw::S<V>)> {
    map.iter()
        .map(|(k, v)| {
            let span = keys
                .key_of(v.span(), k)
                .unwrap_or(v.span().start..v.span().start);
            (raw::S::new(span, k.clone()), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> KeyIndex {
        KeyIndex::of(DeTable::parse(text).unwrap().get_ref())
    }

    #[test]
    fn paths_follow_tables_and_arrays() {
        let text = "[zones.dmz]\ncolour = 1\n[[flows]]\nfrom='a'\n[[flows]]\nfrom='b'\nbogus=2\n";
        let paths = key_paths(text);
        assert_eq!(&text[paths["zones.dmz.colour"].clone()], "colour");
        assert_eq!(&text[paths["flows.1.bogus"].clone()], "bogus");
        assert!(!paths.contains_key("flows.7.bogus"));
        assert!(key_paths("[oops").is_empty());
    }

    #[test]
    fn map_keys_are_found_in_headers_dotted_keys_and_inline_tables() {
        #[derive(serde::Deserialize)]
        struct Doc {
            clusters: raw::Map<Cluster>,
        }
        #[derive(serde::Deserialize)]
        struct Cluster {
            #[serde(default)]
            node_pools: raw::Map<toml::Value>,
        }
        // `s` is both a cluster and a pool, and a substring of `clusters` and `node_pools`.
        let text = "[clusters.s.node_pools.p]\n[clusters.t]\nnode_pools.s.labels = {}\n[clusters.u]\nnode_pools = { s = {} }\n";
        let keys = index(text);
        let doc: Doc = toml::from_str(text).unwrap();
        let line_col = |span: Range<usize>| {
            let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
            (
                text[..span.start].matches('\n').count() + 1,
                span.start - line_start + 1,
            )
        };
        let mut found = Vec::new();
        for (name, cluster) in &keyed(&keys, &doc.clusters) {
            assert_eq!(&text[name.span()], name.get_ref());
            found.push((name.get_ref().clone(), String::new(), line_col(name.span())));
            for (pool, _) in keyed(&keys, &cluster.get_ref().node_pools) {
                assert_eq!(&text[pool.span()], pool.get_ref());
                found.push((
                    name.get_ref().clone(),
                    pool.get_ref().clone(),
                    line_col(pool.span()),
                ));
            }
        }
        let expected = [
            ("s", "", (1, 11)),
            ("s", "p", (1, 24)),
            ("t", "", (2, 11)),
            ("t", "s", (3, 12)),
            ("u", "", (4, 11)),
            ("u", "s", (5, 16)),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(c, p, at)| (c.to_string(), p.to_string(), *at))
            .collect();
        assert_eq!(found, expected);
    }
}
