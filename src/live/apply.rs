//! Applying one cluster's diff safely.
//!
//! [`plan_apply`] is pure: it orders the writes so that no step cuts allowed traffic
//! (Namespaces, then allow rules, then default-deny policies, then admission policies, then
//! mesh policies), orders deletions the other way round (deny policies go before the allow
//! rules they relied on), and applies the prune rules: only objects with segplan's ownership
//! labels for this environment and cluster *and* segplan's field manager, Namespaces only when
//! asked, and never more than half of what segplan owns unless asked.
//!
//! [`execute`] runs the plan phase by phase over a [`ClusterApi`]; a failure stops the later
//! phases (a deny policy is never applied when the allow rules before it failed).

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::api::{ApiError, ApplyOptions, ClusterApi};
use super::diff::{Change, ClusterDiff};
use super::kinds::{KindSpec, ObjectKey};

/// What the user asked apply to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplySettings {
    /// Send every request with `dryRun=All`.
    pub dry_run: bool,
    /// Delete objects segplan owns that are no longer planned.
    pub prune: bool,
    /// Also prune Namespaces.
    pub prune_namespaces: bool,
    /// Allow pruning more than half (or all) of what segplan owns in a cluster.
    pub allow_mass_prune: bool,
    /// Take ownership of fields another manager holds.
    pub force_conflicts: bool,
}

/// The order class of an object: lower phases are applied first and deleted last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Namespace,
    AllowPolicy,
    DenyPolicy,
    AdmissionPolicy,
    AdmissionBinding,
    MeshAllow,
    MeshDeny,
    MeshPeerAuthentication,
}

/// The phase of an object, from its kind and content.
pub fn phase(key: &ObjectKey, value: &Value) -> Phase {
    match key.kind.as_str() {
        "Namespace" => Phase::Namespace,
        "NetworkPolicy" if is_default_deny(key, value) => Phase::DenyPolicy,
        "NetworkPolicy" => Phase::AllowPolicy,
        "ValidatingAdmissionPolicy" => Phase::AdmissionPolicy,
        "ValidatingAdmissionPolicyBinding" => Phase::AdmissionBinding,
        "AuthorizationPolicy" => {
            let action = value
                .pointer("/spec/action")
                .and_then(Value::as_str)
                .unwrap_or("ALLOW");
            let rules = value
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty());
            if action == "DENY" || (action == "ALLOW" && !rules) {
                Phase::MeshDeny
            } else {
                Phase::MeshAllow
            }
        }
        _ => Phase::MeshPeerAuthentication,
    }
}

/// A NetworkPolicy that selects every pod of its namespace and allows nothing.
pub fn is_default_deny(key: &ObjectKey, value: &Value) -> bool {
    let spec = value.get("spec");
    let empty_selector = spec
        .and_then(|s| s.get("podSelector"))
        .and_then(Value::as_object)
        .is_none_or(|sel| {
            sel.values().all(|v| match v {
                Value::Object(m) => m.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Null => true,
                _ => false,
            })
        });
    let no_rules = |k: &str| {
        spec.and_then(|s| s.get(k))
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    };
    (empty_selector && no_rules("ingress") && no_rules("egress"))
        || key.name.starts_with("default-deny")
}

/// One write or delete.
#[derive(Debug, Clone)]
pub struct Step {
    pub key: ObjectKey,
    pub phase: Phase,
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Server-side apply; `create` when the object is missing live.
    Apply { object: Value, create: bool },
    /// Delete, preconditioned on the resourceVersion the diff saw.
    Delete { resource_version: Option<String> },
    /// Cannot run (the kind is not served).
    Blocked(String),
}

/// One cluster's ordered work.
#[derive(Debug, Clone)]
pub struct ApplyPlan {
    pub cluster: String,
    /// Writes in phase order.
    pub writes: Vec<Step>,
    /// Deletions in reverse phase order (after every write).
    pub deletes: Vec<Step>,
    /// Removed objects apply keeps, with the reason.
    pub kept: Vec<(ObjectKey, String)>,
    /// Planned objects that already match.
    pub unchanged: usize,
}

impl ApplyPlan {
    /// Whether there is nothing to send.
    pub fn is_noop(&self) -> bool {
        self.writes.is_empty() && self.deletes.is_empty()
    }
}

/// A prune that would delete too much.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cluster {cluster}: pruning would delete {deleting} of the {owned} objects segplan owns there; refusing without --allow-mass-prune"
)]
pub struct MassPrune {
    pub cluster: String,
    pub deleting: usize,
    pub owned: usize,
}

/// Orders a cluster's diff into steps and applies the prune rules.
pub fn plan_apply(diff: &ClusterDiff, s: &ApplySettings) -> Result<ApplyPlan, MassPrune> {
    let mut writes = Vec::new();
    let mut deletes = Vec::new();
    let mut kept = Vec::new();
    for o in &diff.objects {
        match o.change {
            Change::Added | Change::Changed => {
                let Some(object) = o.desired.clone() else {
                    continue;
                };
                let phase = phase(&o.key, &object);
                let action = match &o.note {
                    Some(n) if n.contains("is not served") => Action::Blocked(n.clone()),
                    _ => Action::Apply {
                        object,
                        create: o.change == Change::Added,
                    },
                };
                writes.push(Step {
                    key: o.key.clone(),
                    phase,
                    action,
                });
            }
            Change::Removed => {
                let reason = if !o.owner_labels || !o.owner_manager {
                    Some("not owned by segplan (labels and field manager)")
                } else if !s.prune {
                    Some("no longer planned; kept without --prune")
                } else if o.key.kind == "Namespace" && !s.prune_namespaces {
                    Some("Namespace no longer planned; kept without --prune-namespaces")
                } else {
                    None
                };
                match reason {
                    Some(r) => kept.push((o.key.clone(), r.to_string())),
                    None => deletes.push(Step {
                        key: o.key.clone(),
                        phase: phase(&o.key, o.before.as_ref().unwrap_or(&Value::Null)),
                        action: Action::Delete {
                            resource_version: o.resource_version.clone(),
                        },
                    }),
                }
            }
            Change::Unmanaged => {}
        }
    }
    if !deletes.is_empty() && !s.allow_mass_prune {
        let owned = diff.owned_live;
        if deletes.len() * 2 > owned || deletes.len() >= owned {
            return Err(MassPrune {
                cluster: diff.cluster.clone(),
                deleting: deletes.len(),
                owned,
            });
        }
    }
    writes.sort_by(|a, b| (a.phase, &a.key).cmp(&(b.phase, &b.key)));
    deletes.sort_by(|a, b| (b.phase, &a.key).cmp(&(a.phase, &b.key)));
    Ok(ApplyPlan {
        cluster: diff.cluster.clone(),
        writes,
        deletes,
        kept,
        unchanged: diff.unchanged.len(),
    })
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "result", content = "detail")]
pub enum Outcome {
    Created,
    Updated,
    Deleted,
    Failed(String),
    /// Not attempted because an earlier phase failed.
    Skipped(String),
}

/// One cluster's apply result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub cluster: String,
    pub dry_run: bool,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Objects that failed or were skipped, with why, in plan order.
    pub problems: Vec<(String, Outcome)>,
    /// Removed objects kept, with why.
    pub kept: Vec<(String, String)>,
}

impl ApplyReport {
    /// Whether every step succeeded.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.skipped == 0
    }

    fn record(&mut self, key: &ObjectKey, outcome: Outcome) {
        match &outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Deleted => self.deleted += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Skipped(_) => self.skipped += 1,
        }
        if matches!(outcome, Outcome::Failed(_) | Outcome::Skipped(_)) {
            self.problems.push((key.to_string(), outcome));
        }
    }
}

/// Called after every step: (steps done, steps total, what was just done).
pub type ProgressFn = Arc<dyn Fn(usize, usize, &str) + Send + Sync>;

/// How many writes of one phase run at a time.
const WRITE_CONCURRENCY: usize = 8;

/// Runs one cluster's plan.
pub async fn execute<A: ClusterApi>(
    api: Arc<A>,
    plan: &ApplyPlan,
    s: &ApplySettings,
    progress: Option<ProgressFn>,
) -> ApplyReport {
    let mut report = ApplyReport {
        cluster: plan.cluster.clone(),
        dry_run: s.dry_run,
        unchanged: plan.unchanged,
        kept: plan
            .kept
            .iter()
            .map(|(k, r)| (k.to_string(), r.clone()))
            .collect(),
        ..Default::default()
    };
    let total = plan.writes.len() + plan.deletes.len();
    let mut done = 0usize;
    let mut failed_phase: Option<Phase> = None;
    // In a dry run nothing is persisted, so objects in namespaces the same run creates get a
    // 404 from the server; that is the expected answer, not a failure.
    let created_namespaces: Arc<Vec<String>> = Arc::new(
        plan.writes
            .iter()
            .filter(|w| {
                w.key.kind == "Namespace" && matches!(w.action, Action::Apply { create: true, .. })
            })
            .map(|w| w.key.name.clone())
            .collect(),
    );
    let writes = group_by_phase(&plan.writes);
    let deletes = group_by_phase(&plan.deletes);
    let groups = writes
        .into_iter()
        .map(|g| (false, g))
        .chain(deletes.into_iter().map(|g| (true, g)));
    for (is_delete, group) in groups {
        let results = match failed_phase {
            Some(p) => group
                .iter()
                .map(|step| {
                    let why = if is_delete {
                        format!("not deleted: a {} step failed", phase_name(p))
                    } else {
                        format!("not applied: a {} step before it failed", phase_name(p))
                    };
                    (step, Outcome::Skipped(why))
                })
                .collect(),
            None => run_group(&api, group, s, &created_namespaces).await,
        };
        for (step, outcome) in results {
            done += 1;
            if let Some(p) = &progress {
                p(done, total, &format!("{} {}", verb(&outcome), step.key));
            }
            if matches!(outcome, Outcome::Failed(_)) {
                failed_phase.get_or_insert(step.phase);
            }
            report.record(&step.key, outcome);
        }
    }
    report
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Namespace => "Namespace",
        Phase::AllowPolicy => "allow-policy",
        Phase::DenyPolicy => "default-deny",
        Phase::AdmissionPolicy | Phase::AdmissionBinding => "admission-policy",
        Phase::MeshAllow | Phase::MeshDeny | Phase::MeshPeerAuthentication => "mesh-policy",
    }
}

fn verb(o: &Outcome) -> &'static str {
    match o {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Deleted => "deleted",
        Outcome::Failed(_) => "failed",
        Outcome::Skipped(_) => "skipped",
    }
}

fn group_by_phase(steps: &[Step]) -> Vec<&[Step]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=steps.len() {
        if i == steps.len() || steps[i].phase != steps[start].phase {
            if start < i {
                out.push(&steps[start..i]);
            }
            start = i;
        }
    }
    out
}

async fn run_group<'a, A: ClusterApi>(
    api: &Arc<A>,
    group: &'a [Step],
    s: &ApplySettings,
    created_namespaces: &Arc<Vec<String>>,
) -> Vec<(&'a Step, Outcome)> {
    let sem = Arc::new(Semaphore::new(WRITE_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (i, step) in group.iter().enumerate() {
        let api = Arc::clone(api);
        let sem = Arc::clone(&sem);
        let key = step.key.clone();
        let action = step.action.clone();
        let s = *s;
        let created = Arc::clone(created_namespaces);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, run_step(&*api, &key, action, &s, &created).await)
        });
    }
    let mut results: Vec<(usize, Outcome)> = Vec::with_capacity(group.len());
    while let Some(r) = set.join_next().await {
        match r {
            Ok(r) => results.push(r),
            Err(e) => results.push((usize::MAX, Outcome::Failed(format!("task failed: {e}")))),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results
        .into_iter()
        .filter(|(i, _)| *i < group.len())
        .map(|(i, o)| (&group[i], o))
        .collect()
}

async fn run_step<A: ClusterApi>(
    api: &A,
    key: &ObjectKey,
    action: Action,
    s: &ApplySettings,
    created_namespaces: &[String],
) -> Outcome {
    let Some(spec): Option<KindSpec> = key.spec() else {
        return Outcome::Failed(format!("unknown kind {}", key.kind));
    };
    match action {
        Action::Blocked(why) => Outcome::Failed(why),
        Action::Apply { object, create } => {
            let opts = ApplyOptions {
                dry_run: s.dry_run,
                force: s.force_conflicts,
            };
            match api.apply(&spec, &object, opts).await {
                Ok(_) if create => Outcome::Created,
                Ok(_) => Outcome::Updated,
                Err(e)
                    if s.dry_run
                        && create
                        && e.is_not_found()
                        && key
                            .namespace
                            .as_ref()
                            .is_some_and(|n| created_namespaces.contains(n)) =>
                {
                    Outcome::Created
                }
                Err(e) => Outcome::Failed(describe(&e)),
            }
        }
        Action::Delete { resource_version } => {
            match api
                .delete(
                    &spec,
                    key.namespace.as_deref(),
                    &key.name,
                    resource_version.as_deref(),
                    s.dry_run,
                )
                .await
            {
                Ok(()) => Outcome::Deleted,
                Err(e) if e.is_conflict() => Outcome::Failed(format!(
                    "changed since the diff (resourceVersion precondition failed); not deleted: {e}"
                )),
                Err(e) => Outcome::Failed(describe(&e)),
            }
        }
    }
}

fn describe(e: &ApiError) -> String {
    match e {
        ApiError::Status {
            code: 409,
            managers,
            ..
        } if !managers.is_empty() => format!(
            "conflict with {}: another manager owns fields segplan sets; re-run with --force-conflicts to take ownership",
            super::api::field_managers(managers)
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
