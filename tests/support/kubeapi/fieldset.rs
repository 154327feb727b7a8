//! Field sets as structured-merge-diff models them: a trie of path elements
//! (`f:` field, `k:` associative-list key, `v:` set value), serialised in the
//! `FieldsV1` format of `managedFields` (`.` marks a node that is itself a
//! member and also has children).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One step of a field path. The variant order is structured-merge-diff's
/// ordering (field names before keys before values).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or map key: `f:name`.
    Field(String),
    /// An associative list item, by the compact JSON of its key fields: `k:{"name":"x"}`.
    Key(String),
    /// A set element, by its JSON value: `v:"x"`.
    Value(String),
}

impl PathElement {
    fn encode(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
        }
    }

    fn decode(s: &str) -> Option<Self> {
        let (prefix, rest) = s.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_string())),
            "k:" => Some(PathElement::Key(rest.to_string())),
            "v:" => Some(PathElement::Value(rest.to_string())),
            _ => None,
        }
    }
}

/// A path from the object root.
pub type Path = Vec<PathElement>;

/// Formats a path like structured-merge-diff's `Path.String()`: `.spec.podSelector`,
/// `.spec.containers[name="app"].image`, `.metadata.finalizers[="x"]`.
pub fn path_string(path: &[PathElement]) -> String {
    let mut out = String::new();
    for pe in path {
        match pe {
            PathElement::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            PathElement::Key(k) => {
                let parsed: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let parts: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            PathElement::Value(v) => out.push_str(&format!("[={v}]")),
        }
    }
    out
}

/// A set of field paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the path leading to this node is itself in the set.
    pub member: bool,
    /// Child nodes.
    pub children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds `path` to the set.
    pub fn insert(&mut self, path: &[PathElement]) {
        let mut node = self;
        for pe in path {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.member = true;
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.node(path).is_some_and(|n| n.member)
    }

    /// The node at `path`, if any.
    pub fn node(&self, path: &[PathElement]) -> Option<&FieldSet> {
        let mut node = self;
        for pe in path {
            node = node.children.get(pe)?;
        }
        Some(node)
    }

    /// Whether `path` or anything below it is a member.
    pub fn has_member_at_or_under(&self, path: &[PathElement]) -> bool {
        self.node(path).is_some_and(|n| !n.is_empty())
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    fn prune(&mut self) {
        self.children.retain(|_, c| {
            c.prune();
            !c.is_empty()
        });
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Paths of `self` that are not members of `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => child.difference(o),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), d);
        }
        out.prune();
        out
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(o) = other.children.get(pe) {
                out.children.insert(pe.clone(), child.intersection(o));
            }
        }
        out.prune();
        out
    }

    /// The `FieldsV1` JSON form.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        for (pe, child) in &self.children {
            if child.is_empty() {
                continue;
            }
            m.insert(pe.encode(), child.to_fields_v1_node());
        }
        Value::Object(m)
    }

    fn to_fields_v1_node(&self) -> Value {
        let mut m = Map::new();
        let has_children = self.children.values().any(|c| !c.is_empty());
        if self.member && has_children {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (pe, child) in &self.children {
            if child.is_empty() {
                continue;
            }
            m.insert(pe.encode(), child.to_fields_v1_node());
        }
        Value::Object(m)
    }

    /// Parses the `FieldsV1` JSON form.
    pub fn from_fields_v1(v: &Value) -> Option<FieldSet> {
        let obj = v.as_object()?;
        let mut set = FieldSet::default();
        for (k, child) in obj {
            if k == "." {
                set.member = true;
                continue;
            }
            let pe = PathElement::decode(k)?;
            let mut node = FieldSet::from_fields_v1(child)?;
            if child.as_object().is_some_and(Map::is_empty) {
                node.member = true;
            }
            set.children.insert(pe, node);
        }
        Some(set)
    }
}
