//! An in-memory [`ClusterApi`] for unit tests of the diff and apply logic: objects in a map,
//! server-side apply approximated (the applied object replaces segplan's fields, its
//! `managedFields` entry lists every field it states), a request log, injected failures.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::api::{ApiError, ApplyOptions, ClusterApi};
use super::kinds::{FIELD_MANAGER, KindSpec};

type Key = (String, Option<String>, String);

/// The in-memory cluster.
#[derive(Default)]
pub struct MemoryCluster {
    pub objects: Mutex<BTreeMap<Key, Value>>,
    /// Whether security.istio.io/v1 is served.
    pub istio: bool,
    /// Every request, like `APPLY networkpolicies app/allow` or `LIST namespaces`.
    pub log: Mutex<Vec<String>>,
    /// Objects (by name) whose apply fails with a conflict naming this manager unless forced.
    pub conflicts: Mutex<BTreeMap<String, String>>,
    /// Object names whose write fails with a 500.
    pub fail_writes: Mutex<Vec<String>>,
    rv: Mutex<u64>,
}

impl MemoryCluster {
    /// A cluster; `istio` decides whether the mesh CRDs are served.
    pub fn new(istio: bool) -> Self {
        Self {
            istio,
            ..Default::default()
        }
    }

    /// Stores an object as if someone else created it (manager `kubectl`).
    pub fn seed(&self, kind: &KindSpec, mut obj: Value, manager: &str) {
        let key = key_of(kind, &obj);
        let rv = self.next_rv();
        let fields = fields_v1(&obj);
        let meta = obj["metadata"].as_object_mut().unwrap();
        meta.insert("resourceVersion".into(), json!(rv));
        meta.insert(
            "managedFields".into(),
            json!([{"manager": manager, "operation": "Update", "fieldsV1": fields}]),
        );
        self.objects.lock().unwrap().insert(key, obj);
    }

    /// The stored object.
    pub fn get(&self, kind: &KindSpec, ns: Option<&str>, name: &str) -> Option<Value> {
        self.objects
            .lock()
            .unwrap()
            .get(&(
                kind.plural.to_string(),
                ns.map(str::to_string),
                name.to_string(),
            ))
            .cloned()
    }

    /// Write requests in order.
    pub fn writes(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| {
                !l.starts_with("LIST") && !l.starts_with("DISCOVER") && !l.contains("dry-run")
            })
            .cloned()
            .collect()
    }

    fn next_rv(&self) -> String {
        let mut rv = self.rv.lock().unwrap();
        *rv += 1;
        rv.to_string()
    }
}

fn key_of(kind: &KindSpec, obj: &Value) -> Key {
    (
        kind.plural.to_string(),
        if kind.namespaced {
            obj.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string)
        } else {
            None
        },
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    )
}

/// A `fieldsV1` set naming every field of `obj` (lists atomic), except identity metadata.
pub fn fields_v1(obj: &Value) -> Value {
    fn walk(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (format!("f:{k}"), walk(v)))
                    .collect::<Map<_, _>>(),
            ),
            _ => json!({}),
        }
    }
    let mut f = walk(obj);
    if let Some(m) = f.as_object_mut() {
        m.remove("f:apiVersion");
        m.remove("f:kind");
        if let Some(meta) = m.get_mut("f:metadata").and_then(Value::as_object_mut) {
            meta.remove("f:name");
            meta.remove("f:namespace");
        }
    }
    f
}

fn status(code: u16, reason: &str, message: String) -> ApiError {
    ApiError::Status {
        code,
        reason: reason.into(),
        message,
        managers: Vec::new(),
    }
}

impl ClusterApi for MemoryCluster {
    async fn resources(&self, api_version: &str) -> Result<Option<Vec<String>>, ApiError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("DISCOVER {api_version}"));
        Ok((self.istio && api_version == "security.istio.io/v1")
            .then(|| vec!["authorizationpolicies".into(), "peerauthentications".into()]))
    }

    async fn list(
        &self,
        kind: &KindSpec,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        self.log.lock().unwrap().push(format!(
            "LIST {}{}",
            kind.plural,
            namespace.map(|n| format!(" ns={n}")).unwrap_or_default()
        ));
        let wanted: Vec<(&str, &str)> = selector
            .map(|s| s.split(',').filter_map(|p| p.split_once('=')).collect())
            .unwrap_or_default();
        Ok(self
            .objects
            .lock()
            .unwrap()
            .iter()
            .filter(|((p, ns, _), _)| {
                p == kind.plural && (namespace.is_none() || ns.as_deref() == namespace)
            })
            .filter(|(_, v)| {
                wanted.iter().all(|(k, val)| {
                    v.pointer("/metadata/labels")
                        .and_then(|l| l.get(*k))
                        .and_then(Value::as_str)
                        == Some(*val)
                })
            })
            .map(|(_, v)| v.clone())
            .collect())
    }

    async fn apply(
        &self,
        kind: &KindSpec,
        object: &Value,
        options: ApplyOptions,
    ) -> Result<Value, ApiError> {
        let key = key_of(kind, object);
        let what = format!(
            "APPLY {} {}{}{}",
            kind.plural,
            key.1.as_ref().map(|n| format!("{n}/")).unwrap_or_default(),
            key.2,
            if options.dry_run { " dry-run" } else { "" }
        );
        self.log.lock().unwrap().push(what);
        if self.fail_writes.lock().unwrap().contains(&key.2) {
            return Err(status(500, "InternalError", "injected".into()));
        }
        if let Some(ns) = &key.1
            && !self
                .objects
                .lock()
                .unwrap()
                .contains_key(&("namespaces".into(), None, ns.clone()))
        {
            return Err(status(
                404,
                "NotFound",
                format!("namespaces \"{ns}\" not found"),
            ));
        }
        if !options.force
            && let Some(m) = self.conflicts.lock().unwrap().get(&key.2)
        {
            return Err(ApiError::Status {
                code: 409,
                reason: "Conflict".into(),
                message: format!("Apply failed with 1 conflict: conflict with \"{m}\": .spec"),
                managers: vec![m.clone()],
            });
        }
        let mut obj = object.clone();
        if kind.kind == "NetworkPolicy" {
            // a server default segplan does not state
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.entry("policyTypes").or_insert(json!(["Ingress"]));
            }
        }
        let existing = self.objects.lock().unwrap().get(&key).cloned();
        let rv = match (&existing, options.dry_run) {
            (Some(e), true) => e["metadata"]["resourceVersion"].clone(),
            _ => json!(self.next_rv()),
        };
        let fields = fields_v1(object);
        let meta = obj["metadata"].as_object_mut().unwrap();
        meta.insert("resourceVersion".into(), rv);
        meta.insert(
            "managedFields".into(),
            json!([{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": fields}]),
        );
        if !options.dry_run {
            self.conflicts.lock().unwrap().remove(&key.2);
            self.objects.lock().unwrap().insert(key, obj.clone());
        }
        Ok(obj)
    }

    async fn delete(
        &self,
        kind: &KindSpec,
        namespace: Option<&str>,
        name: &str,
        resource_version: Option<&str>,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        self.log.lock().unwrap().push(format!(
            "DELETE {} {}{}{}",
            kind.plural,
            namespace.map(|n| format!("{n}/")).unwrap_or_default(),
            name,
            if dry_run { " dry-run" } else { "" }
        ));
        let key = (
            kind.plural.to_string(),
            namespace.map(str::to_string),
            name.to_string(),
        );
        let mut objects = self.objects.lock().unwrap();
        let Some(existing) = objects.get(&key) else {
            return Err(status(404, "NotFound", format!("{name} not found")));
        };
        if let Some(rv) = resource_version
            && existing["metadata"]["resourceVersion"].as_str() != Some(rv)
        {
            return Err(status(
                409,
                "Conflict",
                "resourceVersion precondition failed".into(),
            ));
        }
        if !dry_run {
            objects.remove(&key);
        }
        Ok(())
    }
}
