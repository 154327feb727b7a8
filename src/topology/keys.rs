//! Where each key of a TOML file is, for diagnostics that point at a name (`[zones.Dmz]`,
//! `labels = { "Bad Key" = "x" }`) rather than at a value.
//!
//! serde gives spans of values only, and the maps of [`super::raw`] have plain `String` keys
//! (serde_ignored cannot see through spanned keys). One walk over the parsed document records
//! every key's span twice: by its value's span, to pair a map entry with its key, and by its
//! dotted path, to place unknown keys.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::raw;

/// A key's name and span.
type KeyAt = (String, Range<usize>);

/// The span of every key of one file.
#[derive(Debug, Default, Clone)]
pub struct KeyIndex {
    /// Value span -> the keys that value has (more than one when an implicit table shares its
    /// span with a sub-table), each with the key's span.
    by_value: HashMap<(usize, usize), Vec<KeyAt>>,
    /// Dotted path (`flows.1.from`, array indices as numbers) -> key span.
    by_path: HashMap<String, Range<usize>>,
}

impl KeyIndex {
    /// Indexes a parsed document.
    pub fn of(table: &DeTable<'_>) -> Self {
        let mut index = Self::default();
        index.walk_table(table, "");
        index
    }

    fn walk_table(&mut self, table: &DeTable<'_>, prefix: &str) {
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            let vspan = value.span();
            self.by_value
                .entry((vspan.start, vspan.end))
                .or_default()
                .push((name.to_string(), key.span()));
            self.by_path.entry(path.clone()).or_insert(key.span());
            self.walk_value(value.get_ref(), &path);
        }
    }

    fn walk_value(&mut self, value: &DeValue<'_>, path: &str) {
        match value {
            DeValue::Table(t) => self.walk_table(t, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk_value(item.get_ref(), &format!("{path}.{i}"));
                }
            }
            _ => {}
        }
    }

    /// The span of the key at a dotted path, as serde_ignored writes paths.
    pub fn path(&self, path: &str) -> Option<Range<usize>> {
        self.by_path.get(path).cloned()
    }

    /// The span of key `key` whose value has span `value`.
    pub fn key_of(&self, value: Range<usize>, key: &str) -> Option<Range<usize>> {
        self.by_value
            .get(&(value.start, value.end))?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, span)| span.clone())
    }
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
        let keys = index(text);
        assert_eq!(&text[keys.path("zones.dmz.colour").unwrap()], "colour");
        assert_eq!(&text[keys.path("flows.1.bogus").unwrap()], "bogus");
        assert!(keys.path("flows.7.bogus").is_none());
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
