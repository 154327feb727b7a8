//! Schema-aware walks over JSON objects, mirroring structured-merge-diff:
//! the field set an applied configuration states (`ToFieldSet`), the
//! comparison of two objects (added / modified / removed paths), the merge of
//! an applied configuration into a live object, and removal of a path.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement};
use super::resources::ResourceDef;
use super::schema::{Shape, child_pattern, item_pattern, shape};

/// Paths never tracked in managed fields (structured-merge-diff's stripped
/// metadata plus `status`, which main-resource writes reset).
const IGNORED: &[&str] = &[
    "apiVersion",
    "kind",
    "status",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.resourceVersion",
    "metadata.generation",
    "metadata.creationTimestamp",
    "metadata.managedFields",
    "metadata.selfLink",
    "metadata.deletionTimestamp",
    "metadata.deletionGracePeriodSeconds",
];

/// Struct fields that a Go zero value already holds (`metadata: {}`, `spec: {}`, ...),
/// so an Update that first sets them does not own the container itself.
const ZERO_PRESENT: &[&str] = &[
    "metadata",
    "spec",
    "spec.podSelector",
    "spec.template",
    "spec.template.metadata",
    "spec.template.spec",
    "spec.template.spec.containers",
    "spec.containers",
    "spec.jobTemplate",
    "spec.jobTemplate.spec",
    "spec.jobTemplate.spec.template",
    "spec.jobTemplate.spec.template.spec",
];

fn ignored(pattern: &str) -> bool {
    IGNORED.contains(&pattern)
}

/// The key path element of an associative-list item.
pub fn key_element(item: &Value, keys: &[&str]) -> PathElement {
    let mut m = Map::new();
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    for k in sorted {
        match item.get(k) {
            Some(v) => {
                m.insert(k.to_string(), v.clone());
            }
            // Key fields with a schema default (container ports' protocol) use it.
            None if k == "protocol" => {
                m.insert(k.to_string(), Value::from("TCP"));
            }
            None => {}
        }
    }
    PathElement::Key(Value::Object(m).to_string())
}

/// The value path element of a set element.
pub fn value_element(item: &Value) -> PathElement {
    PathElement::Value(item.to_string())
}

/// The field set an applied configuration states (structured-merge-diff `ToFieldSet`).
pub fn apply_set(res: &ResourceDef, obj: &Value) -> FieldSet {
    let mut set = FieldSet::default();
    to_field_set(res, "", obj, &mut Vec::new(), &mut set);
    set
}

fn to_field_set(res: &ResourceDef, pattern: &str, v: &Value, path: &mut Path, set: &mut FieldSet) {
    match shape(res, pattern, v) {
        Shape::Leaf | Shape::AtomicMap | Shape::AtomicList => set.insert(path),
        Shape::Granular => {
            for (k, child) in v.as_object().into_iter().flatten() {
                let cp = child_pattern(pattern, k);
                if ignored(&cp) {
                    continue;
                }
                path.push(PathElement::Field(k.clone()));
                to_field_set(res, &cp, child, path, set);
                if child.is_null() || child.as_object().is_some_and(Map::is_empty) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Shape::AssocList(keys) => {
            let ip = item_pattern(pattern);
            for item in v.as_array().into_iter().flatten() {
                path.push(key_element(item, keys));
                to_field_set(res, &ip, item, path, set);
                set.insert(path);
                path.pop();
            }
        }
        Shape::SetList => {
            for item in v.as_array().into_iter().flatten() {
                path.push(value_element(item));
                set.insert(path);
                path.pop();
            }
        }
    }
}

/// Paths added, modified and removed between two objects.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Present only in the new object.
    pub added: FieldSet,
    /// Present in both with different values.
    pub modified: FieldSet,
    /// Present only in the old object.
    pub removed: FieldSet,
}

/// Compares two objects field by field (structured-merge-diff `Compare`).
pub fn compare(res: &ResourceDef, old: &Value, new: &Value) -> Comparison {
    let mut c = Comparison::default();
    cmp(res, "", Some(old), Some(new), &mut Vec::new(), &mut c);
    c
}

fn subtree(res: &ResourceDef, pattern: &str, v: &Value, path: &mut Path, set: &mut FieldSet) {
    match shape(res, pattern, v) {
        Shape::Granular => {
            for (k, child) in v.as_object().into_iter().flatten() {
                let cp = child_pattern(pattern, k);
                if ignored(&cp) {
                    continue;
                }
                path.push(PathElement::Field(k.clone()));
                if !ZERO_PRESENT.contains(&cp.as_str()) {
                    set.insert(path);
                }
                subtree(res, &cp, child, path, set);
                path.pop();
            }
        }
        Shape::AssocList(keys) => {
            let ip = item_pattern(pattern);
            for item in v.as_array().into_iter().flatten() {
                path.push(key_element(item, keys));
                set.insert(path);
                subtree(res, &ip, item, path, set);
                path.pop();
            }
        }
        Shape::SetList => {
            for item in v.as_array().into_iter().flatten() {
                path.push(value_element(item));
                set.insert(path);
                path.pop();
            }
        }
        Shape::Leaf | Shape::AtomicMap | Shape::AtomicList => {}
    }
}

fn items_by_key<'a>(v: &'a Value, keys: &[&str]) -> BTreeMap<PathElement, &'a Value> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|item| (key_element(item, keys), item))
        .collect()
}

fn cmp(
    res: &ResourceDef,
    pattern: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    path: &mut Path,
    c: &mut Comparison,
) {
    match (old, new) {
        (None, None) => {}
        (None, Some(n)) => {
            if !ZERO_PRESENT.contains(&pattern) {
                c.added.insert(path);
            }
            subtree(res, pattern, n, path, &mut c.added);
        }
        (Some(o), None) => {
            c.removed.insert(path);
            subtree(res, pattern, o, path, &mut c.removed);
        }
        (Some(o), Some(n)) => {
            let (so, sn) = (shape(res, pattern, o), shape(res, pattern, n));
            if so != sn {
                c.modified.insert(path);
                return;
            }
            match sn {
                Shape::Leaf | Shape::AtomicMap | Shape::AtomicList => {
                    if o != n {
                        c.modified.insert(path);
                    }
                }
                Shape::Granular => {
                    let (om, nm) = (o.as_object().unwrap(), n.as_object().unwrap());
                    let mut keys: Vec<&String> = om.keys().chain(nm.keys()).collect();
                    keys.sort_unstable();
                    keys.dedup();
                    for k in keys {
                        let cp = child_pattern(pattern, k);
                        if ignored(&cp) {
                            continue;
                        }
                        path.push(PathElement::Field(k.clone()));
                        cmp(res, &cp, om.get(k), nm.get(k), path, c);
                        path.pop();
                    }
                }
                Shape::AssocList(keys) => {
                    let (oi, ni) = (items_by_key(o, keys), items_by_key(n, keys));
                    let ip = item_pattern(pattern);
                    let mut all: Vec<&PathElement> = oi.keys().chain(ni.keys()).collect();
                    all.sort_unstable();
                    all.dedup();
                    for pe in all {
                        path.push(pe.clone());
                        match (oi.get(pe), ni.get(pe)) {
                            (None, Some(n)) => {
                                c.added.insert(path);
                                subtree(res, &ip, n, path, &mut c.added);
                            }
                            (o, n) => cmp(res, &ip, o.copied(), n.copied(), path, c),
                        }
                        path.pop();
                    }
                }
                Shape::SetList => {
                    let ov: Vec<&Value> = o.as_array().into_iter().flatten().collect();
                    let nv: Vec<&Value> = n.as_array().into_iter().flatten().collect();
                    for v in &nv {
                        if !ov.contains(v) {
                            path.push(value_element(v));
                            c.added.insert(path);
                            path.pop();
                        }
                    }
                    for v in &ov {
                        if !nv.contains(v) {
                            path.push(value_element(v));
                            c.removed.insert(path);
                            path.pop();
                        }
                    }
                }
            }
        }
    }
}

/// Merges an applied configuration into a live object (structured-merge-diff `Merge`).
pub fn merge(res: &ResourceDef, pattern: &str, live: &Value, config: &Value) -> Value {
    match shape(res, pattern, config) {
        Shape::Granular if live.is_object() => {
            let mut out = live.as_object().unwrap().clone();
            for (k, cv) in config.as_object().unwrap() {
                let cp = child_pattern(pattern, k);
                let merged = match out.get(k) {
                    Some(lv) => merge(res, &cp, lv, cv),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        Shape::AssocList(keys) if live.is_array() => {
            let ip = item_pattern(pattern);
            let mut out: Vec<Value> = live.as_array().unwrap().clone();
            for item in config.as_array().unwrap() {
                let k = key_element(item, keys);
                match out.iter().position(|l| key_element(l, keys) == k) {
                    Some(i) => out[i] = merge(res, &ip, &out[i], item),
                    None => out.push(item.clone()),
                }
            }
            Value::Array(out)
        }
        Shape::SetList if live.is_array() => {
            let mut out: Vec<Value> = live.as_array().unwrap().clone();
            for item in config.as_array().unwrap() {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Value::Array(out)
        }
        _ => config.clone(),
    }
}

/// Removes the value at `path` from `obj`; a missing path is ignored.
pub fn remove_path(res: &ResourceDef, obj: &mut Value, path: &[PathElement]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut node = obj;
    let mut pattern = String::new();
    for pe in parent_path {
        let next = match pe {
            PathElement::Field(f) => {
                pattern = child_pattern(&pattern, f);
                node.get_mut(f.as_str())
            }
            PathElement::Key(_) => {
                let keys = match shape(res, &pattern, node) {
                    Shape::AssocList(keys) => keys,
                    _ => return,
                };
                pattern = item_pattern(&pattern);
                node.as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| &key_element(i, keys) == pe))
            }
            PathElement::Value(_) => return,
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    match last {
        PathElement::Field(f) => {
            if let Some(m) = node.as_object_mut() {
                m.remove(f);
            }
        }
        PathElement::Key(_) => {
            if let Shape::AssocList(keys) = shape(res, &pattern, node)
                && let Some(a) = node.as_array_mut()
            {
                a.retain(|i| &key_element(i, keys) != last);
            }
        }
        PathElement::Value(_) => {
            if let Some(a) = node.as_array_mut() {
                a.retain(|i| &value_element(i) != last);
            }
        }
    }
}
