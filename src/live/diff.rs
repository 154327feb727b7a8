//! Computing one cluster's diff: the rendered plan against what the API server holds.
//!
//! Live objects are listed once per kind with segplan's ownership selector (paginated), plus
//! every NetworkPolicy (and, with a mesh, AuthorizationPolicy) in the namespaces segplan
//! manages. Each desired object is compared with its live counterpart through
//! [`super::compare`]; objects that differ are confirmed with a server-side apply dry run, and
//! that result is what the diff shows. Unchanged objects cost no request of their own.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::LiveError;
use super::api::{ApiError, ApplyOptions, ClusterApi};
use super::compare::{FieldDiff, compare, removals, strip_server_fields};
use super::kinds::{
    self, ISTIO_SECURITY, KINDS, KindSpec, ObjectKey, has_ownership_labels, managed_by_segplan,
    ownership_selector, resource_version,
};
use crate::render::RenderedCluster;

/// One object segplan wants in a cluster.
#[derive(Debug, Clone)]
pub struct DesiredObject {
    pub key: ObjectKey,
    pub spec: KindSpec,
    /// The manifest as rendered (JSON).
    pub value: Value,
}

/// One cluster's rendered plan, ready to compare.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    pub cluster: String,
    pub environment: String,
    /// Whether the cluster runs Istio (its mesh kinds are listed and expected).
    pub mesh: bool,
    pub objects: Vec<DesiredObject>,
}

impl ClusterPlan {
    /// Builds a plan from rendered manifests; an unknown kind is an error.
    pub fn from_rendered(rendered: &RenderedCluster, mesh: bool) -> Result<Self, LiveError> {
        let mut objects = Vec::with_capacity(rendered.manifests.len());
        for m in &rendered.manifests {
            let spec = kinds::kind_spec(&m.api_version, &m.kind).ok_or_else(|| {
                LiveError::UnknownKind {
                    api_version: m.api_version.clone(),
                    kind: m.kind.clone(),
                    name: m.name.clone(),
                }
            })?;
            objects.push(DesiredObject {
                key: ObjectKey {
                    api_version: m.api_version.clone(),
                    kind: m.kind.clone(),
                    namespace: if spec.namespaced {
                        m.namespace.clone()
                    } else {
                        None
                    },
                    name: m.name.clone(),
                },
                spec,
                value: m.value().clone(),
            });
        }
        Ok(Self {
            cluster: rendered.name.clone(),
            environment: rendered.environment.clone(),
            mesh,
            objects,
        })
    }

    /// The namespaces segplan manages on this cluster (planned Namespaces and every namespace
    /// a planned object lives in).
    pub fn namespaces(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for o in &self.objects {
            if o.spec == kinds::NAMESPACE {
                out.insert(o.key.name.clone());
            }
            if let Some(ns) = &o.key.namespace {
                out.insert(ns.clone());
            }
        }
        out
    }
}

/// What kind of difference an object shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Planned, missing live.
    Added,
    /// Planned and live, but different (drift).
    Changed,
    /// Owned by segplan live, no longer planned.
    Removed,
    /// A NetworkPolicy/AuthorizationPolicy in a managed namespace that segplan does not own.
    Unmanaged,
}

impl Change {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
            Change::Unmanaged => "unmanaged",
        }
    }
}

/// Whether a difference widens or narrows access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Live allows connections the plan does not.
    Widens,
    /// Live allows fewer connections than the plan.
    Narrows,
    /// Both: some connections opened, others closed.
    Mixed,
    /// No connection changes.
    None,
    /// Not analysed (mesh and admission kinds).
    Unknown,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Widens => "widens",
            Effect::Narrows => "narrows",
            Effect::Mixed => "mixed",
            Effect::None => "none",
            Effect::Unknown => "unknown",
        }
    }
}

/// One object that differs.
#[derive(Debug, Clone)]
pub struct ObjectDiff {
    pub key: ObjectKey,
    pub change: Change,
    /// For Changed and Unmanaged: the access effect.
    pub effect: Option<Effect>,
    /// Field-level differences (Changed).
    pub fields: Vec<FieldDiff>,
    /// The live object without server-populated fields (Changed, Removed, Unmanaged).
    pub before: Option<Value>,
    /// What the object becomes: the server's dry-run result, or the plan when the server could
    /// not say (Added, Changed).
    pub after: Option<Value>,
    /// The manifest apply sends (Added, Changed).
    pub desired: Option<Value>,
    /// The live `resourceVersion` (what the user approved).
    pub resource_version: Option<String>,
    /// Live object carries segplan's ownership labels for this environment and cluster.
    pub owner_labels: bool,
    /// Live object lists segplan's field manager.
    pub owner_manager: bool,
    /// Something the reader should know (dry run refused, namespace not created yet, ...).
    pub note: Option<String>,
    /// Field managers that would conflict on apply.
    pub conflicts: Vec<String>,
}

/// The diff of one cluster.
#[derive(Debug, Clone)]
pub struct ClusterDiff {
    pub cluster: String,
    pub environment: String,
    /// Differing objects, sorted by change then key.
    pub objects: Vec<ObjectDiff>,
    /// Planned objects that match live.
    pub unchanged: Vec<ObjectKey>,
    /// Cluster-level findings (missing CRDs, refused dry runs).
    pub findings: Vec<String>,
    /// Live objects segplan owns here (labels and field manager), for the mass-prune check.
    pub owned_live: usize,
    /// Kinds the server does not serve.
    pub missing_kinds: Vec<String>,
}

impl ClusterDiff {
    /// Whether the cluster matches the plan.
    pub fn in_sync(&self) -> bool {
        self.objects.is_empty() && self.findings.is_empty()
    }

    /// How many objects show a change.
    pub fn count(&self, change: Change) -> usize {
        self.objects.iter().filter(|o| o.change == change).count()
    }
}

/// What a diff confirms with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffOptions {
    /// Dry-run objects missing live too (the diff command: the server validates and defaults
    /// them). Apply skips this, since it is about to send them anyway; changed objects are always
    /// confirmed.
    pub dry_run_added: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            dry_run_added: true,
        }
    }
}

/// How many dry runs one cluster runs at a time.
const DRY_RUN_CONCURRENCY: usize = 8;

/// Computes one cluster's diff.
pub async fn diff_cluster<A: ClusterApi>(
    api: Arc<A>,
    plan: &ClusterPlan,
    options: DiffOptions,
) -> Result<ClusterDiff, LiveError> {
    let mut findings = Vec::new();
    let mut missing_kinds = Vec::new();
    let needs_crds = plan.mesh || plan.objects.iter().any(|o| o.spec.crd);
    let mut served: Vec<KindSpec> = KINDS.iter().copied().filter(|k| !k.crd).collect();
    if needs_crds {
        let resources = api
            .resources(ISTIO_SECURITY)
            .await
            .map_err(|e| LiveError::api(format!("discovering {ISTIO_SECURITY}"), e))?;
        let crd_kinds = KINDS.iter().copied().filter(|k| k.crd);
        match resources {
            Some(res) => {
                for k in crd_kinds {
                    if res.iter().any(|r| r == k.plural) {
                        served.push(k);
                    } else {
                        missing_kinds.push(format!("{} {}", k.api_version(), k.kind));
                    }
                }
            }
            None => {
                missing_kinds.extend(crd_kinds.map(|k| format!("{} {}", k.api_version(), k.kind)))
            }
        }
        if !missing_kinds.is_empty() {
            let blocked = plan
                .objects
                .iter()
                .filter(|o| !served.contains(&o.spec))
                .count();
            findings.push(format!(
                "Istio CRDs are not installed ({} not served): {blocked} planned mesh object{} cannot be applied",
                missing_kinds.join(", "),
                if blocked == 1 { "" } else { "s" }
            ));
        }
    }

    // Live: owned objects by label, once per kind.
    let selector = ownership_selector(&plan.environment, &plan.cluster);
    let mut live: BTreeMap<ObjectKey, Value> = BTreeMap::new();
    for kind in &served {
        let started = std::time::Instant::now();
        let items = api.list(kind, None, Some(&selector)).await.map_err(|e| {
            LiveError::api(format!("listing {} (owned by segplan)", kind.plural), e)
        })?;
        tracing::debug!(
            cluster = %plan.cluster,
            kind = kind.plural,
            items = items.len(),
            ms = started.elapsed().as_millis() as u64,
            "listed owned objects"
        );
        insert_all(&mut live, kind, items);
    }
    // Every NetworkPolicy / AuthorizationPolicy in the namespaces segplan manages.
    let mut namespaces = plan.namespaces();
    namespaces.extend(
        live.keys()
            .filter(|k| k.kind == "Namespace")
            .map(|k| k.name.clone()),
    );
    for kind in served.iter().filter(|k| k.reports_unmanaged()) {
        if kind.crd && !plan.mesh {
            continue;
        }
        for ns in &namespaces {
            let items = api.list(kind, Some(ns), None).await.map_err(|e| {
                LiveError::api(format!("listing {} in namespace {ns}", kind.plural), e)
            })?;
            insert_all(&mut live, kind, items);
        }
    }
    // The reachability inputs, for the access effect of differing policies.
    let analysis_input: Vec<(ObjectKey, Value)> = live
        .iter()
        .filter(|(k, _)| k.kind == "Namespace" || k.kind == "NetworkPolicy")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let live_namespaces: BTreeSet<String> = live
        .keys()
        .filter(|k| k.kind == "Namespace")
        .map(|k| k.name.clone())
        .collect();

    let owned_live = live
        .values()
        .filter(|v| {
            has_ownership_labels(v, &plan.environment, &plan.cluster) && managed_by_segplan(v)
        })
        .count();

    let mut objects = Vec::new();
    let mut unchanged = Vec::new();
    let mut to_confirm = Vec::new();
    for d in &plan.objects {
        let Some(l) = live.remove(&d.key) else {
            let blocked = !served.contains(&d.spec);
            objects.push(ObjectDiff {
                after: Some(d.value.clone()),
                note: blocked
                    .then(|| format!("{} is not served by this cluster", d.spec.api_version())),
                ..ObjectDiff::new(d.key.clone(), Change::Added, Some(d.value.clone()))
            });
            if !blocked && options.dry_run_added {
                to_confirm.push(objects.len() - 1);
            }
            continue;
        };
        let mut fields = compare(d.spec.kind, &d.value, &l);
        fields.extend(removals(&d.value, &l));
        if fields.is_empty() {
            unchanged.push(d.key.clone());
            continue;
        }
        objects.push(ObjectDiff {
            effect: Some(Effect::Unknown),
            fields,
            before: Some(strip_server_fields(&l)),
            resource_version: resource_version(&l).map(str::to_string),
            owner_labels: has_ownership_labels(&l, &plan.environment, &plan.cluster),
            owner_manager: managed_by_segplan(&l),
            ..ObjectDiff::new(d.key.clone(), Change::Changed, Some(d.value.clone()))
        });
        to_confirm.push(objects.len() - 1);
    }
    for (key, l) in live {
        let labels = has_ownership_labels(&l, &plan.environment, &plan.cluster);
        let manager = managed_by_segplan(&l);
        let (change, note) = if labels && manager {
            (Change::Removed, None)
        } else if labels {
            (
                Change::Unmanaged,
                Some(
                    "carries segplan's labels but segplan's field manager never applied it"
                        .to_string(),
                ),
            )
        } else {
            (Change::Unmanaged, None)
        };
        objects.push(ObjectDiff {
            effect: (change == Change::Unmanaged).then_some(Effect::Unknown),
            before: Some(strip_server_fields(&l)),
            resource_version: resource_version(&l).map(str::to_string),
            owner_labels: labels,
            owner_manager: manager,
            note,
            ..ObjectDiff::new(key, change, None)
        });
    }

    confirm(
        &api,
        &mut objects,
        &to_confirm,
        &live_namespaces,
        &mut findings,
    )
    .await?;

    // Changes the server says are no-ops are not changes.
    let mut kept = Vec::with_capacity(objects.len());
    for o in objects {
        if o.change == Change::Changed && o.after.is_some() && o.after == o.before {
            unchanged.push(o.key);
        } else {
            kept.push(o);
        }
    }
    let mut objects = kept;
    for o in objects.iter_mut().filter(|o| o.effect.is_some()) {
        o.effect = Some(super::effect::effect(&analysis_input, o));
    }
    objects.sort_by(|a, b| (a.change, &a.key).cmp(&(b.change, &b.key)));
    unchanged.sort();
    Ok(ClusterDiff {
        cluster: plan.cluster.clone(),
        environment: plan.environment.clone(),
        objects,
        unchanged,
        findings,
        owned_live,
        missing_kinds,
    })
}

impl ObjectDiff {
    fn new(key: ObjectKey, change: Change, desired: Option<Value>) -> Self {
        Self {
            key,
            change,
            effect: None,
            fields: Vec::new(),
            before: None,
            after: None,
            desired,
            resource_version: None,
            owner_labels: false,
            owner_manager: false,
            note: None,
            conflicts: Vec::new(),
        }
    }
}

fn insert_all(live: &mut BTreeMap<ObjectKey, Value>, kind: &KindSpec, items: Vec<Value>) {
    for mut item in items {
        // List items may omit apiVersion/kind; the key comes from the kind listed.
        if let Some(m) = item.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(kind.api_version()));
            m.insert("kind".into(), Value::String(kind.kind.to_string()));
        }
        if let Some(key) = ObjectKey::of(kind, &item) {
            live.entry(key).or_insert(item);
        }
    }
}

/// Runs a server-side apply dry run for each object to confirm, and records what it says.
async fn confirm<A: ClusterApi>(
    api: &Arc<A>,
    objects: &mut [ObjectDiff],
    indices: &[usize],
    live_namespaces: &BTreeSet<String>,
    findings: &mut Vec<String>,
) -> Result<(), LiveError> {
    let sem = Arc::new(Semaphore::new(DRY_RUN_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for &i in indices {
        let o = &objects[i];
        let (Some(spec), Some(desired)) = (o.key.spec(), o.desired.clone()) else {
            continue;
        };
        let api = Arc::clone(api);
        let sem = Arc::clone(&sem);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = api
                .apply(
                    &spec,
                    &desired,
                    ApplyOptions {
                        dry_run: true,
                        force: false,
                    },
                )
                .await;
            (i, r)
        });
    }
    let mut forbidden = 0usize;
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        results.push(r.map_err(|e| LiveError::Internal(format!("dry run task failed: {e}")))?);
    }
    results.sort_by_key(|(i, _)| *i);
    for (i, r) in results {
        let o = &mut objects[i];
        match r {
            Ok(v) => o.after = Some(strip_server_fields(&v)),
            Err(e)
                if e.is_not_found()
                    && o.change == Change::Added
                    && o.key
                        .namespace
                        .as_ref()
                        .is_some_and(|ns| !live_namespaces.contains(ns)) =>
            {
                o.after = o.desired.clone();
                o.note = Some(format!(
                    "namespace {} does not exist yet; shown as planned",
                    o.key.namespace.as_deref().unwrap_or_default()
                ));
            }
            Err(ApiError::Status {
                code: 409,
                managers,
                message,
                ..
            }) => {
                o.after = Some(overlay(o.before.as_ref(), o.desired.as_ref()));
                o.note = Some(if managers.is_empty() {
                    format!("apply would conflict: {message}")
                } else {
                    format!(
                        "apply would conflict with {}; use --force-conflicts to take ownership",
                        super::api::field_managers(&managers)
                    )
                });
                o.conflicts = managers;
            }
            Err(
                e @ ApiError::Status {
                    code: 403 | 422, ..
                },
            ) => {
                o.after = Some(overlay(o.before.as_ref(), o.desired.as_ref()));
                if e.code() == Some(403) {
                    forbidden += 1;
                    o.note = Some(
                        "dry run forbidden; showing the plan laid over the live object".into(),
                    );
                } else {
                    o.note = Some(format!("the server rejects this object: {e}"));
                    findings.push(format!("{} is rejected by the server: {e}", o.key));
                }
            }
            Err(e) => return Err(LiveError::api(format!("dry-run apply of {}", o.key), e)),
        }
    }
    if forbidden > 0 {
        findings.push(format!(
            "dry runs were forbidden for {forbidden} object{}: the diff shows the plan, not the server's result",
            if forbidden == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

/// The desired object laid over the live one (maps merged, everything else replaced): an
/// approximation of apply's result when the server cannot compute it.
pub fn overlay(live: Option<&Value>, desired: Option<&Value>) -> Value {
    fn merge(base: &mut Value, top: &Value) {
        match (base, top) {
            (Value::Object(b), Value::Object(t)) => {
                for (k, v) in t {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (b, t) => *b = t.clone(),
        }
    }
    let mut out = live.cloned().unwrap_or(Value::Null);
    if let Some(d) = desired {
        merge(&mut out, d);
    }
    out
}

#[cfg(test)]
#[path = "diff_tests.rs"]
pub(crate) mod tests;
