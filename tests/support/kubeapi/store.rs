//! The object store and the read/delete verbs: objects keyed by
//! (resource, namespace, name), one global resourceVersion counter (like an
//! etcd revision), server-set metadata, consistent paginated lists (a page
//! sequence reads the snapshot taken by its first page, with opaque continue
//! tokens), and deletion (namespaces take their contents with them).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Map, Value, json};

use super::auth::User;
use super::faults::{Fault, RecordedRequest};
use super::resources::{RESOURCES, ResId, ResourceDef};
use super::selectors::{FieldSelector, Selector};
use super::ssa::{Manager, encode_managers};
use super::status::ApiError;

/// Key of a stored object: resource, namespace (`""` when cluster-scoped), name.
pub type Key = (ResId, String, String);

struct Snapshot {
    id: u64,
    res: ResId,
    namespace: Option<String>,
    rv: u64,
    items: Vec<Arc<Value>>,
}

const MAX_SNAPSHOTS: usize = 64;

/// Everything the server holds; guarded by one mutex.
pub struct State {
    pub(crate) objects: BTreeMap<Key, Arc<Value>>,
    /// Last resourceVersion handed out.
    pub rv: u64,
    uid_seq: u64,
    server_no: u64,
    /// Whether the Istio CRDs are installed.
    pub crds: bool,
    snapshots: VecDeque<Snapshot>,
    snap_seq: u64,
    /// Requests received, in arrival order.
    pub records: Vec<RecordedRequest>,
    /// Active faults, checked in order.
    pub faults: Vec<Fault>,
    /// Accepted users.
    pub users: Vec<User>,
    /// Fixed timestamp for creationTimestamp/managedFields time, if set.
    pub fixed_time: Option<String>,
    /// Answer unrouted paths with a JSON Status instead of the plain-text `404 page not found`.
    pub json_404: bool,
    /// `Warning` header values produced by the request being handled.
    pub warnings: Vec<String>,
}

/// RFC 3339 UTC timestamp, second precision.
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

const META_ORDER: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Orders top-level and metadata fields as Go's encoder writes them.
pub fn canonical(obj: Value) -> Value {
    let Value::Object(mut m) = obj else {
        return obj;
    };
    let mut out = Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = m.remove(k) {
            out.insert(k.into(), v);
        }
    }
    if let Some(Value::Object(mut meta)) = m.remove("metadata") {
        let mut om = Map::new();
        for k in META_ORDER {
            if let Some(v) = meta.remove(*k) {
                om.insert((*k).into(), v);
            }
        }
        om.extend(meta);
        out.insert("metadata".into(), Value::Object(om));
    }
    let status = m.remove("status");
    out.extend(m);
    if let Some(s) = status {
        out.insert("status".into(), s);
    }
    Value::Object(out)
}

fn ns_key(res: &ResourceDef, ns: Option<&str>) -> String {
    if res.namespaced {
        ns.unwrap_or_default().to_string()
    } else {
        String::new()
    }
}

/// Parameters of a list request.
#[derive(Debug, Default)]
pub struct ListParams {
    /// Parsed `labelSelector`.
    pub labels: Selector,
    /// Parsed `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0: none).
    pub limit: usize,
    /// `continue` token.
    pub continue_token: Option<String>,
    /// Whether a label or field selector was given (suppresses remainingItemCount).
    pub filtered: bool,
}

impl State {
    /// A fresh, empty store.
    pub fn new(server_no: u64, crds: bool, users: Vec<User>) -> Self {
        State {
            objects: BTreeMap::new(),
            rv: 1000,
            uid_seq: 0,
            server_no,
            crds,
            snapshots: VecDeque::new(),
            snap_seq: 0,
            records: Vec::new(),
            faults: Vec::new(),
            users,
            fixed_time: None,
            json_404: false,
            warnings: Vec::new(),
        }
    }

    /// The current time as kube-apiserver writes it.
    pub fn now(&self) -> String {
        if let Some(t) = &self.fixed_time {
            return t.clone();
        }
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        rfc3339(secs)
    }

    fn next_uid(&mut self) -> String {
        self.uid_seq += 1;
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            self.server_no, self.uid_seq
        )
    }

    /// The stored object, if any.
    pub fn lookup(&self, res: ResId, ns: Option<&str>, name: &str) -> Option<Arc<Value>> {
        let def = &RESOURCES[res];
        self.objects
            .get(&(res, ns_key(def, ns), name.to_string()))
            .cloned()
    }

    /// Whether a namespace object exists.
    pub fn namespace_exists(&self, ns: &str) -> bool {
        let ns_res = RESOURCES
            .iter()
            .position(|r| r.kind == "Namespace")
            .unwrap();
        self.objects
            .contains_key(&(ns_res, String::new(), ns.to_string()))
    }

    /// 404 unless the namespace of a namespaced request exists.
    pub fn require_namespace(&self, res: &ResourceDef, ns: Option<&str>) -> Result<(), ApiError> {
        match ns {
            Some(ns) if res.namespaced && !self.namespace_exists(ns) => {
                let ns_def = RESOURCES.iter().find(|r| r.kind == "Namespace").unwrap();
                Err(ApiError::not_found(ns_def, ns))
            }
            _ => Ok(()),
        }
    }

    /// GET one object.
    pub fn get(&self, res: ResId, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.lookup(res, ns, name)
            .map(|v| (*v).clone())
            .ok_or_else(|| ApiError::not_found(&RESOURCES[res], name))
    }

    /// LIST objects of a resource (`ns = None`: all namespaces / cluster-scoped).
    pub fn list(
        &mut self,
        res: ResId,
        ns: Option<&str>,
        p: &ListParams,
    ) -> Result<Value, ApiError> {
        let def = &RESOURCES[res];
        let (snap_id, rv, offset, items) = match &p.continue_token {
            Some(tok) => {
                let (id, offset) = decode_continue(tok)
                    .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
                let snap = self
                    .snapshots
                    .iter()
                    .find(|s| s.id == id)
                    .ok_or_else(ApiError::expired)?;
                if snap.res != res || snap.namespace.as_deref() != ns {
                    return Err(ApiError::bad_request(
                        "continue key is not valid: the token belongs to another list",
                    ));
                }
                (id, snap.rv, offset, snap.items.clone())
            }
            None => {
                let items: Vec<Arc<Value>> = self
                    .objects
                    .range(
                        (res, String::new(), String::new())
                            ..(res + 1, String::new(), String::new()),
                    )
                    .filter(|((_, k_ns, _), _)| {
                        ns.is_none() || !def.namespaced || Some(k_ns.as_str()) == ns
                    })
                    .filter(|(_, v)| p.labels.matches(v) && p.fields.matches(v))
                    .map(|(_, v)| v.clone())
                    .collect();
                (0, self.rv, 0, items)
            }
        };
        let end = if p.limit > 0 {
            (offset + p.limit).min(items.len())
        } else {
            items.len()
        };
        let page: Vec<Value> = items[offset.min(items.len())..end]
            .iter()
            .map(|v| {
                let mut item = (**v).clone();
                if !def.crd
                    && let Some(m) = item.as_object_mut()
                {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
                item
            })
            .collect();
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if end < items.len() {
            let id = if snap_id != 0 {
                snap_id
            } else {
                self.snap_seq += 1;
                let id = self.snap_seq;
                self.snapshots.push_back(Snapshot {
                    id,
                    res,
                    namespace: ns.map(String::from),
                    rv,
                    items: items.clone(),
                });
                while self.snapshots.len() > MAX_SNAPSHOTS {
                    self.snapshots.pop_front();
                }
                id
            };
            meta["continue"] = json!(encode_continue(id, rv, end));
            if !p.filtered {
                meta["remainingItemCount"] = json!(items.len() - end);
            }
        }
        Ok(json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": meta,
            "items": page,
        }))
    }

    /// Forgets every pagination snapshot, so outstanding continue tokens get 410 Expired.
    pub fn expire_snapshots(&mut self) {
        self.snapshots.clear();
    }

    /// Stamps server metadata on `new` and stores it (unless `dry_run`).
    /// Returns the stored object; an unchanged object is not rewritten and
    /// keeps its resourceVersion.
    pub fn finish_write(
        &mut self,
        res: ResId,
        ns: Option<&str>,
        old: Option<&Value>,
        mut new: Value,
        managers: &[Manager],
        dry_run: bool,
    ) -> Value {
        let def = &RESOURCES[res];
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let now = self.now();
        new["apiVersion"] = json!(def.api_version());
        new["kind"] = json!(def.kind);
        let meta = new["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        if def.namespaced {
            meta.insert("namespace".into(), json!(ns.unwrap_or_default()));
        } else {
            meta.remove("namespace");
        }
        for k in [
            "uid",
            "creationTimestamp",
            "resourceVersion",
            "generation",
            "selfLink",
            "deletionTimestamp",
        ] {
            meta.remove(k);
        }
        let managed = encode_managers(managers);
        if managed.as_array().is_some_and(|a| !a.is_empty()) {
            meta.insert("managedFields".into(), managed);
        } else {
            meta.remove("managedFields");
        }
        let (uid, created, generation) = match old {
            Some(o) => {
                let g = o
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let spec_changed = if def.crd {
                    strip_meta_status(o) != strip_meta_status(&new)
                } else {
                    o.get("spec") != new.get("spec")
                };
                (
                    o.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                    o.pointer("/metadata/creationTimestamp")
                        .cloned()
                        .unwrap_or(Value::Null),
                    if spec_changed { g + 1 } else { g },
                )
            }
            None => (json!(self.next_uid()), json!(now), 1),
        };
        let meta = new["metadata"].as_object_mut().unwrap();
        meta.insert("uid".into(), uid);
        meta.insert("creationTimestamp".into(), created);
        if def.has_generation {
            meta.insert("generation".into(), json!(generation));
        }
        if let Some(o) = old {
            meta.insert(
                "resourceVersion".into(),
                o["metadata"]["resourceVersion"].clone(),
            );
            let candidate = canonical(new);
            if &candidate == o {
                return candidate;
            }
            new = candidate;
        } else {
            new = canonical(new);
        }
        if dry_run {
            if old.is_none()
                && let Some(m) = new["metadata"].as_object_mut()
            {
                m.remove("resourceVersion");
            }
            return new;
        }
        self.rv += 1;
        new["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let new = canonical(new);
        self.objects
            .insert((res, ns_key(def, ns), name), Arc::new(new.clone()));
        new
    }

    /// DELETE one object. Returns the response body (the object for pods and
    /// namespaces, a Success Status otherwise).
    pub fn delete(
        &mut self,
        res: ResId,
        ns: Option<&str>,
        name: &str,
        preconditions: Option<&Value>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let def = &RESOURCES[res];
        let obj = self
            .lookup(res, ns, name)
            .ok_or_else(|| ApiError::not_found(def, name))?;
        if let Some(pre) = preconditions {
            let rv_ok = pre
                .get("resourceVersion")
                .and_then(Value::as_str)
                .is_none_or(|rv| obj["metadata"]["resourceVersion"] == rv);
            let uid_ok = pre
                .get("uid")
                .and_then(Value::as_str)
                .is_none_or(|u| obj["metadata"]["uid"] == u);
            if !rv_ok || !uid_ok {
                return Err(ApiError::stale(def, name));
            }
        }
        let now = self.now();
        let mut response = (*obj).clone();
        if def.kind == "Namespace" {
            response["metadata"]["deletionTimestamp"] = json!(now);
            response["status"] = json!({"phase": "Terminating"});
        } else if def.kind == "Pod" {
            response["metadata"]["deletionTimestamp"] = json!(now);
            response["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        }
        let body = if matches!(def.kind, "Namespace" | "Pod") {
            canonical(response)
        } else {
            let mut details =
                json!({"name": name, "kind": def.plural, "uid": obj["metadata"]["uid"]});
            if !def.group.is_empty() {
                details["group"] = json!(def.group);
            }
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
        };
        if dry_run {
            return Ok(body);
        }
        if def.kind == "Namespace" {
            // The namespace controller, run instantly: contents first, then the namespace.
            let doomed: Vec<Key> = self
                .objects
                .keys()
                .filter(|(r, k_ns, _)| RESOURCES[*r].namespaced && k_ns == name)
                .cloned()
                .collect();
            for k in doomed {
                self.objects.remove(&k);
                self.rv += 1;
            }
        }
        self.objects
            .remove(&(res, ns_key(def, ns), name.to_string()));
        self.rv += 1;
        Ok(body)
    }

    /// DELETE a collection (label/field selectors); returns the deleted objects as a list.
    pub fn delete_collection(
        &mut self,
        res: ResId,
        ns: Option<&str>,
        p: &ListParams,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut list = self.list(
            res,
            ns,
            &ListParams {
                limit: 0,
                continue_token: None,
                ..clone_params(p)
            },
        )?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        for item in &items {
            let name = item
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let item_ns = item.pointer("/metadata/namespace").and_then(Value::as_str);
            self.delete(res, item_ns, name, None, dry_run)?;
        }
        list["metadata"] = json!({"resourceVersion": self.rv.to_string()});
        Ok(list)
    }

    /// All stored objects of one resource, in key order.
    pub fn all_of(&self, res: ResId) -> Vec<Value> {
        self.objects
            .range((res, String::new(), String::new())..(res + 1, String::new(), String::new()))
            .map(|(_, v)| (**v).clone())
            .collect()
    }

    /// Removes every object of the CRD-backed resources (uninstalling the CRDs).
    pub fn drop_crd_objects(&mut self) {
        let before = self.objects.len();
        self.objects.retain(|(r, _, _), _| !RESOURCES[*r].crd);
        self.rv += (before - self.objects.len()) as u64;
    }
}

fn clone_params(p: &ListParams) -> ListParams {
    ListParams {
        labels: p.labels.clone(),
        fields: p.fields.clone(),
        limit: p.limit,
        continue_token: p.continue_token.clone(),
        filtered: p.filtered,
    }
}

fn strip_meta_status(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

fn encode_continue(id: u64, rv: u64, offset: usize) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "snap": id, "start": offset}).to_string();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn decode_continue(tok: &str) -> Option<(u64, usize)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(tok).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Some((v.get("snap")?.as_u64()?, v.get("start")?.as_u64()? as usize))
}
