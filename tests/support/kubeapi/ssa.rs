//! Server-side apply and managed-fields bookkeeping: the `Apply` operation
//! (merge, prune of fields the manager stopped stating, conflicts with other
//! managers, `force`) and the ownership update of a plain `Update` (PUT/POST).

use serde_json::{Value, json};

use super::fieldset::{FieldSet, path_string};
use super::resources::ResourceDef;
use super::status::{ApiError, Cause};
use super::walk::{apply_set, compare, merge, remove_path};

/// `managedFields[].operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Manager {
    /// Field manager name.
    pub name: String,
    /// Apply or Update.
    pub operation: Operation,
    /// API version the fields were written in.
    pub api_version: String,
    /// Last time the manager's set changed (RFC 3339).
    pub time: String,
    /// Owned fields.
    pub set: FieldSet,
}

impl Manager {
    /// How kube-apiserver names this manager in conflict messages.
    fn describe(&self) -> String {
        match self.operation {
            Operation::Apply => format!("{:?}", self.name),
            Operation::Update => format!("{:?} using {}", self.name, self.api_version),
        }
    }
}

/// Reads `metadata.managedFields` (entries that do not parse are dropped).
pub fn parse_managers(obj: &Value) -> Vec<Manager> {
    let Some(entries) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let operation = match e.get("operation")?.as_str()? {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                _ => return None,
            };
            Some(Manager {
                name: e
                    .get("manager")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                operation,
                api_version: e
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                time: e
                    .get("time")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                set: FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&json!({})))?,
            })
        })
        .collect()
}

/// Encodes managers as `metadata.managedFields`, sorted like kube-apiserver
/// (operation, then time, then API version, then manager).
pub fn encode_managers(managers: &[Manager]) -> Value {
    let mut sorted: Vec<&Manager> = managers.iter().filter(|m| !m.set.is_empty()).collect();
    sorted.sort_by(|a, b| {
        (a.operation, &a.time, &a.api_version, &a.name).cmp(&(
            b.operation,
            &b.time,
            &b.api_version,
            &b.name,
        ))
    });
    Value::Array(
        sorted
            .into_iter()
            .map(|m| {
                let mut e = json!({
                    "manager": m.name,
                    "operation": m.operation.as_str(),
                    "apiVersion": m.api_version,
                    "time": m.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": m.set.to_fields_v1(),
                });
                if m.name.is_empty() {
                    // `manager` is omitempty in metav1.ManagedFieldsEntry.
                    e.as_object_mut().unwrap().remove("manager");
                }
                e
            })
            .collect(),
    )
}

fn set_manager(
    managers: &mut Vec<Manager>,
    name: &str,
    op: Operation,
    api_version: &str,
    set: FieldSet,
    now: &str,
) {
    match managers
        .iter_mut()
        .find(|m| m.name == name && m.operation == op)
    {
        Some(m) => {
            if m.set != set || m.api_version != api_version {
                m.time = now.to_string();
            }
            m.set = set;
            m.api_version = api_version.to_string();
        }
        None => managers.push(Manager {
            name: name.to_string(),
            operation: op,
            api_version: api_version.to_string(),
            time: now.to_string(),
            set,
        }),
    }
}

/// Removes `fields` from every manager other than (`name`, `op`); a manager
/// whose set changes gets a new timestamp, an empty one disappears.
fn take_from_others(
    managers: &mut Vec<Manager>,
    name: &str,
    op: Operation,
    fields: &FieldSet,
    now: &str,
) {
    for m in managers.iter_mut() {
        if m.name == name && m.operation == op {
            continue;
        }
        // Losing fields does not touch the loser's timestamp.
        m.set = m.set.difference(fields);
    }
    let _ = now;
    managers.retain(|m| !m.set.is_empty());
}

/// kube-apiserver's timestamp rule: the writer's entry gets a new `time` when
/// the write changed the object (its set changing already did that); a write
/// that changes nothing keeps every timestamp, so it is not stored at all.
pub fn touch_writer(
    managers: &mut [Manager],
    name: &str,
    op: Operation,
    object_changed: bool,
    now: &str,
) {
    if !object_changed {
        return;
    }
    if let Some(m) = managers
        .iter_mut()
        .find(|m| m.name == name && m.operation == op)
    {
        m.time = now.to_string();
    }
}

/// Whether two objects differ outside server-populated metadata.
pub fn content_changed(old: Option<&Value>, new: &Value) -> bool {
    let Some(old) = old else { return true };
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "managedFields",
                "resourceVersion",
                "uid",
                "generation",
                "creationTimestamp",
                "selfLink",
            ] {
                m.remove(k);
            }
        }
        if let Some(m) = v.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        v
    };
    strip(old) != strip(new)
}

fn union_all(managers: &[Manager]) -> FieldSet {
    managers
        .iter()
        .fold(FieldSet::default(), |acc, m| acc.union(&m.set))
}

/// Builds the conflict error kube-apiserver returns (`Apply failed with N conflict(s): ...`).
fn conflict_error(conflicts: &[(&Manager, Vec<String>)]) -> ApiError {
    let total: usize = conflicts.iter().map(|(_, p)| p.len()).sum();
    let mut causes = Vec::new();
    for (m, paths) in conflicts {
        for p in paths {
            causes.push(Cause {
                reason: "FieldManagerConflict".into(),
                message: format!("conflict with {}", m.describe()),
                field: p.clone(),
            });
        }
    }
    let message = if total == 1 {
        let (m, paths) = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            m.describe(),
            paths[0]
        )
    } else {
        let mut lines = Vec::new();
        for (m, paths) in conflicts {
            lines.push(format!("conflicts with {}:", m.describe()));
            for p in paths {
                lines.push(format!("- {p}"));
            }
        }
        format!("Apply failed with {total} conflicts: {}", lines.join("\n"))
    };
    ApiError::apply_conflict(message, &causes)
}

/// The outcome of an apply: the merged object (not yet defaulted) and the new managers.
pub struct Applied {
    /// Live object with the configuration merged in and dropped fields pruned.
    pub object: Value,
    /// Managed fields after the apply.
    pub managers: Vec<Manager>,
}

/// Server-side apply of `config` by `manager` onto `live` (an empty object
/// shell when creating). `live` must carry its managed fields.
pub fn apply(
    res: &ResourceDef,
    live: &Value,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Applied, ApiError> {
    let api_version = res.api_version();
    let mut managers = parse_managers(live);
    let mut live_plain = live.clone();
    strip_managed(&mut live_plain);

    let mut merged = merge(res, "", &live_plain, config);
    let new_set = apply_set(res, config);
    let last_set = managers
        .iter()
        .find(|m| m.name == manager && m.operation == Operation::Apply)
        .map(|m| m.set.clone());
    set_manager(
        &mut managers,
        manager,
        Operation::Apply,
        &api_version,
        new_set,
        now,
    );

    if let Some(last) = last_set {
        let owned = union_all(&managers);
        for path in last.difference(&owned).paths() {
            if !owned.has_member_at_or_under(&path) {
                remove_path(res, &mut merged, &path);
            }
        }
    }

    let c = compare(res, &live_plain, &merged);
    let changed = c.modified.union(&c.added);
    let mut conflicts: Vec<(&Manager, Vec<String>)> = Vec::new();
    for m in &managers {
        if m.name == manager && m.operation == Operation::Apply {
            continue;
        }
        let hit = m.set.intersection(&changed);
        if !hit.is_empty() {
            conflicts.push((m, hit.paths().iter().map(|p| path_string(p)).collect()));
        }
    }
    if !conflicts.is_empty() {
        if !force {
            conflicts.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            return Err(conflict_error(&conflicts));
        }
        take_from_others(&mut managers, manager, Operation::Apply, &changed, now);
    }
    Ok(Applied {
        object: merged,
        managers,
    })
}

/// Ownership after a non-apply write of `new` (already defaulted) over `old`
/// (`None` on create) by `manager`: the manager gains every added or modified
/// field, other managers lose them, and removed fields leave the writer's set.
pub fn update_managers(
    res: &ResourceDef,
    old: Option<&Value>,
    new: &Value,
    mut managers: Vec<Manager>,
    manager: &str,
    now: &str,
) -> Vec<Manager> {
    let empty = json!({});
    let mut old_plain = old.cloned().unwrap_or(empty);
    strip_managed(&mut old_plain);
    let mut new_plain = new.clone();
    strip_managed(&mut new_plain);
    let c = compare(res, &old_plain, &new_plain);
    let changed = c.modified.union(&c.added);
    take_from_others(&mut managers, manager, Operation::Update, &changed, now);
    let mine = managers
        .iter()
        .find(|m| m.name == manager && m.operation == Operation::Update)
        .map(|m| m.set.clone())
        .unwrap_or_default();
    let set = mine.union(&changed).difference(&c.removed);
    if set.is_empty() {
        managers.retain(|m| !(m.name == manager && m.operation == Operation::Update));
    } else {
        set_manager(
            &mut managers,
            manager,
            Operation::Update,
            &res.api_version(),
            set,
            now,
        );
    }
    managers
}

/// Removes `metadata.managedFields` from an object.
pub fn strip_managed(obj: &mut Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
}
