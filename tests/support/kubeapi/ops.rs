//! The write verbs: create (POST), update (PUT, optimistic concurrency),
//! server-side apply (PATCH `application/apply-patch+yaml`) and JSON merge
//! patch, each with kube-apiserver's order of steps: decode and check the
//! body, merge / track ownership, reset status, default, validate, store
//! (or not, on `dryRun=All`).

use serde_json::{Value, json};

use super::defaults::prepare;
use super::resources::{RESOURCES, ResId, ResourceDef};
use super::ssa::{self, Manager, Operation, parse_managers, strip_managed, update_managers};
use super::status::{ApiError, Cause};
use super::store::State;
use super::unknown::prune_unknown;
use super::validation::validate;

/// `fieldValidation`: what to do with fields the schema does not declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and say so in `Warning` headers (the server default).
    #[default]
    Warn,
    /// Reject the request (400).
    Strict,
}

/// Options common to every write.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// Field manager (already resolved from `fieldManager` or the User-Agent).
    pub manager: String,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `force=true` (apply only).
    pub force: bool,
}

/// Server-populated metadata a client may not set (dropped before merging).
const SERVER_META: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

fn check_identity(
    def: &ResourceDef,
    body: &Value,
    ns: Option<&str>,
    name: Option<&str>,
    apply: bool,
) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    }
    let api_version = body.get("apiVersion").and_then(Value::as_str);
    let kind = body.get("kind").and_then(Value::as_str);
    if apply {
        match api_version {
            Some(v) if v == def.api_version() => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "Incorrect version specified in apply patch. Specified patch version: {}, expected: {}",
                    other.unwrap_or_default(),
                    def.api_version()
                )));
            }
        }
        match kind {
            Some(k) if k == def.kind => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "Incorrect kind specified in apply patch. Specified patch kind: {}, expected: {}",
                    other.unwrap_or_default(),
                    def.kind
                )));
            }
        }
    } else {
        if let Some(v) = api_version
            && v != def.api_version()
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                def.api_version()
            )));
        }
        if let Some(k) = kind
            && k != def.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                def.kind
            )));
        }
    }
    if let Some(meta) = body.get("metadata")
        && !meta.is_object()
    {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    // Like Go's decoder: YAML 1.1 turns `name: y` or `name: on` into a boolean.
    for field in ["name", "namespace"] {
        if let Some(v) = body.pointer(&format!("/metadata/{field}"))
            && !v.is_string()
        {
            let ty = match v {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                _ => "null",
            };
            return Err(ApiError::bad_request(format!(
                "json: cannot unmarshal {ty} into Go struct field ObjectMeta.metadata.{field} of type string"
            )));
        }
    }
    if def.namespaced
        && let Some(body_ns) = body.pointer("/metadata/namespace").and_then(Value::as_str)
        && Some(body_ns) != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if let Some(url_name) = name {
        let body_name = body.pointer("/metadata/name").and_then(Value::as_str);
        if body_name.is_some_and(|b| b != url_name) || (apply && body_name.is_none()) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({url_name})",
                body_name.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Drops undeclared fields per `fieldValidation`; warnings go to `state.warnings`.
fn unknown_fields(
    state: &mut State,
    def: &ResourceDef,
    body: &mut Value,
    o: &WriteOpts,
    apply: bool,
) -> Result<(), ApiError> {
    let unknown = prune_unknown(def.kind, body);
    if unknown.is_empty() {
        return Ok(());
    }
    match o.field_validation {
        FieldValidation::Ignore => Ok(()),
        FieldValidation::Warn => {
            state
                .warnings
                .extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")));
            Ok(())
        }
        FieldValidation::Strict if apply => Err(ApiError::bad_request(
            unknown
                .iter()
                .map(|f| format!(".{f}: field not declared in schema"))
                .collect::<Vec<_>>()
                .join(", "),
        )),
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn ensure_meta(body: &mut Value, ns: Option<&str>, def: &ResourceDef) {
    if !body.get("metadata").is_some_and(Value::is_object) {
        body["metadata"] = json!({});
    }
    if def.namespaced
        && let Some(ns) = ns
    {
        body["metadata"]["namespace"] = json!(ns);
    }
}

fn finish(
    state: &mut State,
    res: ResId,
    ns: Option<&str>,
    old: Option<&Value>,
    mut obj: Value,
    managers: Vec<Manager>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let def = &RESOURCES[res];
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let causes: Vec<Cause> = validate(def, &obj);
    if !causes.is_empty() {
        return Err(ApiError::invalid(def, &name, &causes));
    }
    strip_managed(&mut obj);
    Ok(state.finish_write(res, ns, old, obj, &managers, dry_run))
}

/// The managers to start from for a non-apply write: the ones in the body when
/// the client sent a different, non-empty list (kube-apiserver honours it),
/// else the stored ones.
fn incoming_managers(body: &Value, old: Option<&Value>) -> Vec<Manager> {
    let sent = body
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array);
    let stored = old.and_then(|o| o.pointer("/metadata/managedFields"));
    match sent {
        Some(list) if !list.is_empty() && Some(&Value::Array(list.clone())) != stored => {
            parse_managers(body)
        }
        _ => old.map(parse_managers).unwrap_or_default(),
    }
}

/// POST: create an object.
pub fn create(
    state: &mut State,
    res: ResId,
    ns: Option<&str>,
    mut body: Value,
    o: &WriteOpts,
) -> Result<Value, ApiError> {
    let def = &RESOURCES[res];
    check_identity(def, &body, ns, None, false)?;
    unknown_fields(state, def, &mut body, o, false)?;
    if body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    ensure_meta(&mut body, ns, def);
    state.require_namespace(def, ns)?;
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !name.is_empty() && state.lookup(res, ns, &name).is_some() {
        return Err(ApiError::already_exists(def, &name));
    }
    let managers = incoming_managers(&body, None);
    for k in SERVER_META {
        body["metadata"].as_object_mut().unwrap().remove(*k);
    }
    prepare(def, &mut body, None);
    let now = state.now();
    let mut managers = update_managers(def, None, &body, managers, &o.manager, &now);
    ssa::touch_writer(&mut managers, &o.manager, Operation::Update, true, &now);
    finish(state, res, ns, None, body, managers, o.dry_run)
}

/// PUT: replace an object (409 when `metadata.resourceVersion` is stale).
pub fn update(
    state: &mut State,
    res: ResId,
    ns: Option<&str>,
    name: &str,
    mut body: Value,
    o: &WriteOpts,
) -> Result<Value, ApiError> {
    let def = &RESOURCES[res];
    check_identity(def, &body, ns, Some(name), false)?;
    unknown_fields(state, def, &mut body, o, false)?;
    ensure_meta(&mut body, ns, def);
    if body.pointer("/metadata/name").is_none() {
        body["metadata"]["name"] = json!(name);
    }
    let old = state
        .lookup(res, ns, name)
        .ok_or_else(|| ApiError::not_found(def, name))?;
    if let Some(rv) = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && !rv.is_empty()
        && old["metadata"]["resourceVersion"] != rv
    {
        return Err(ApiError::stale(def, name));
    }
    if let Some(uid) = body.pointer("/metadata/uid").and_then(Value::as_str)
        && !uid.is_empty()
        && old["metadata"]["uid"] != uid
    {
        return Err(ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {}, UID in object meta: {uid}",
                def.qualified_resource(),
                old["metadata"]["uid"].as_str().unwrap_or_default()
            ),
            details: Some(json!({"name": name, "group": def.group, "kind": def.plural})),
        });
    }
    let managers = incoming_managers(&body, Some(&old));
    for k in SERVER_META {
        body["metadata"].as_object_mut().unwrap().remove(*k);
    }
    prepare(def, &mut body, Some(&old));
    let now = state.now();
    let mut managers = update_managers(def, Some(&old), &body, managers, &o.manager, &now);
    let changed = ssa::content_changed(Some(&old), &body);
    ssa::touch_writer(&mut managers, &o.manager, Operation::Update, changed, &now);
    finish(state, res, ns, Some(&old), body, managers, o.dry_run)
}

/// Server-side apply. Returns the object and whether it was created.
pub fn apply(
    state: &mut State,
    res: ResId,
    ns: Option<&str>,
    name: &str,
    mut config: Value,
    o: &WriteOpts,
) -> Result<(Value, bool), ApiError> {
    let def = &RESOURCES[res];
    check_identity(def, &config, ns, Some(name), true)?;
    unknown_fields(state, def, &mut config, o, true)?;
    if config.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let old = state.lookup(res, ns, name);
    if let Some(rv) = config
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && !rv.is_empty()
        && old
            .as_ref()
            .is_none_or(|o| o["metadata"]["resourceVersion"] != rv)
    {
        return Err(ApiError::stale(def, name));
    }
    if old.is_none() {
        state.require_namespace(def, ns)?;
    }
    ensure_meta(&mut config, ns, def);
    for k in SERVER_META {
        config["metadata"].as_object_mut().unwrap().remove(*k);
    }
    if let Some(m) = config.as_object_mut() {
        m.remove("status");
    }
    let shell = {
        let mut s =
            json!({"apiVersion": def.api_version(), "kind": def.kind, "metadata": {"name": name}});
        if def.namespaced {
            s["metadata"]["namespace"] = json!(ns.unwrap_or_default());
        }
        s
    };
    let live = old.as_deref().cloned().unwrap_or(shell);
    let now = state.now();
    let applied = ssa::apply(def, &live, &config, &o.manager, o.force, &now)?;
    let mut obj = applied.object;
    prepare(def, &mut obj, old.as_deref());
    let mut managers = applied.managers;
    let changed = ssa::content_changed(old.as_deref(), &obj);
    ssa::touch_writer(&mut managers, &o.manager, Operation::Apply, changed, &now);
    let created = old.is_none();
    let out = finish(state, res, ns, old.as_deref(), obj, managers, o.dry_run)?;
    Ok((out, created))
}

/// RFC 7386 JSON merge patch.
fn merge_patch_value(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch_value(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// PATCH `application/merge-patch+json`: an Update by the given manager.
pub fn merge_patch(
    state: &mut State,
    res: ResId,
    ns: Option<&str>,
    name: &str,
    patch: &Value,
    o: &WriteOpts,
) -> Result<Value, ApiError> {
    let def = &RESOURCES[res];
    let old = state
        .lookup(res, ns, name)
        .ok_or_else(|| ApiError::not_found(def, name))?;
    let mut body = (*old).clone();
    merge_patch_value(&mut body, patch);
    update(state, res, ns, name, body, o)
}
