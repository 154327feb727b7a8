//! Compliance profiles and checks: PCI DSS, HIPAA, SOC 2, the baseline every environment
//! gets, and multi-cluster separation.
//!
//! [`check`] renders every environment, computes each cluster's reachability view from the
//! rendered NetworkPolicies through the analysis engine ([`reach`], [`engine_reach`]; the
//! independent evaluator [`planreach`] cross-checks it in tests), runs every rule of the built-in
//! catalogue ([`rules::BUILTINS`]) and of the user's profiles on it, applies the
//! `[[exemptions]]`, and returns a [`Report`] with one result per rule and its findings
//! (one per rule and object). Formatting lives in [`crate::report`].
//!
//! Which objects a rule looks at depends on its profile: `baseline` and `multi-cluster`
//! apply everywhere; a tagged profile (`pci-dss`, `hipaa`, `soc2`, or a user profile) to the
//! namespaces carrying its tag (namespace-level data rules such as PCI's) or to every
//! namespace of an environment carrying it (environment-level rules such as SOC 2's). A user
//! profile that `extends` a built-in one puts its tagged objects in that profile's scope.
//! `docs/compliance.md` lists every rule, its control and exactly what it checks.

pub mod checks;
pub mod context;
pub mod engine_reach;
pub mod net;
pub mod planreach;
pub mod reach;
pub mod rules;
mod types;

use std::collections::{BTreeMap, BTreeSet};

pub use types::*;

use crate::diag::{Diagnostic, did_you_mean};
use crate::model::Model;
use context::{Cx, Scope};
use reach::Reachability;

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Environments to report on; empty means all.
    pub environments: Vec<String>,
    /// The topology directory as the user gave it (for repository-relative locations).
    pub topology_dir: String,
    /// Live objects by cluster: when set, those clusters are checked as they are live (every
    /// object, whoever owns it) instead of as rendered.
    pub live: Option<BTreeMap<String, Vec<serde_json::Value>>>,
}

/// Why the checks could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Profiles or exemptions reference something that does not exist.
    #[error("invalid compliance configuration: {} problem(s)", .0.len())]
    Config(Vec<Diagnostic>),
    #[error("unknown environment `{0}`")]
    UnknownEnvironment(String),
    #[error(transparent)]
    Render(Box<crate::render::RenderError>),
    #[error(transparent)]
    Reach(#[from] reach::ReachError),
}

/// A rule ready to run.
struct Planned {
    info: RuleInfo,
    scope: Scope,
    check: rules::CheckFn,
}

/// Checks user profiles and exemptions against the catalogue: unknown `check` ids, rule ids
/// that shadow built-in ones, exemptions of unknown rules, environments or namespaces.
pub fn validate_config(model: &Model) -> Vec<Diagnostic> {
    let builtin_ids: Vec<&str> = rules::BUILTINS.iter().map(|b| b.id).collect();
    let mut diags = Vec::new();
    let mut rule_ids: Vec<String> = builtin_ids.iter().map(|s| s.to_string()).collect();
    for p in model.profiles.values() {
        for r in &p.rules {
            if rules::builtin(&r.check).is_none() {
                let hint = did_you_mean(&r.check, builtin_ids.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "`check` names a built-in rule; `segplan check` lists them, docs/compliance.md documents them".into());
                diags.push(
                    Diagnostic::error(
                        "compliance::unknown-check",
                        format!(
                            "profile `{}` rule `{}`: unknown check `{}`",
                            p.name, r.id, r.check
                        ),
                    )
                    .at(r.origin.location.clone())
                    .hint(hint),
                );
            }
            if builtin_ids.contains(&r.id.as_str()) {
                diags.push(
                    Diagnostic::error(
                        "compliance::shadowed-rule",
                        format!(
                            "profile `{}`: rule id `{}` is a built-in rule's id",
                            p.name, r.id
                        ),
                    )
                    .at(r.origin.location.clone())
                    .hint("give the rule an id of your own, e.g. prefixed with the profile name"),
                );
            }
            rule_ids.push(r.id.clone());
        }
    }
    for e in &model.exemptions {
        if !rule_ids.contains(&e.rule) {
            let hint = did_you_mean(&e.rule, rule_ids.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| "exemptions name a rule id as `segplan check` prints it".into());
            diags.push(
                Diagnostic::error(
                    "compliance::unknown-rule",
                    format!("exemption of unknown rule `{}`", e.rule),
                )
                .at(e.origin.location.clone())
                .hint(hint),
            );
        }
        if let Some(env) = &e.environment
            && !model.environments.contains_key(env)
        {
            diags.push(
                Diagnostic::error(
                    "compliance::unknown-environment",
                    format!("exemption for unknown environment `{env}`"),
                )
                .at(e.origin.location.clone()),
            );
        }
        if let Some(ns) = &e.namespace
            && !model.environments.values().any(|env| {
                e.environment.as_ref().is_none_or(|n| *n == env.name)
                    && env.namespaces.contains_key(ns)
            })
        {
            diags.push(
                Diagnostic::error(
                    "compliance::unknown-namespace",
                    format!("exemption for unknown namespace `{ns}`"),
                )
                .at(e.origin.location.clone()),
            );
        }
    }
    diags
}

fn plan_rules(model: &Model) -> Vec<Planned> {
    let mut out = Vec::new();
    for b in rules::BUILTINS {
        let scope = if rules::ALWAYS_ON.contains(&b.profile) {
            Scope::all()
        } else {
            let mut tags = vec![b.profile.to_string()];
            tags.extend(
                model
                    .profiles
                    .values()
                    .filter(|p| p.extends.iter().any(|e| e == b.profile))
                    .map(|p| p.name.clone()),
            );
            Scope::tagged(tags)
        };
        out.push(Planned {
            info: RuleInfo {
                id: b.id.into(),
                profile: b.profile.into(),
                check: b.id.into(),
                control: b.control.into(),
                severity: Severity::Error,
                title: b.title.into(),
            },
            scope,
            check: b.check,
        });
    }
    for p in model.profiles.values() {
        for r in &p.rules {
            let Some(b) = rules::builtin(&r.check) else {
                continue;
            };
            out.push(Planned {
                info: RuleInfo {
                    id: r.id.clone(),
                    profile: p.name.clone(),
                    check: b.id.into(),
                    control: r.control.clone().unwrap_or_else(|| b.control.into()),
                    severity: r
                        .severity
                        .as_deref()
                        .and_then(Severity::parse)
                        .unwrap_or(Severity::Error),
                    title: r.description.clone().unwrap_or_else(|| b.title.into()),
                },
                scope: Scope::tagged([p.name.clone()]),
                check: b.check,
            });
        }
    }
    out
}

/// Runs every rule on the plan of the selected environments.
pub fn check(model: &Model, opts: &CheckOptions) -> Result<Report, CheckError> {
    let diags = validate_config(model);
    if !diags.is_empty() {
        return Err(CheckError::Config(diags));
    }
    for e in &opts.environments {
        if !model.environments.contains_key(e) {
            return Err(CheckError::UnknownEnvironment(e.clone()));
        }
    }
    let selected: BTreeSet<String> = if opts.environments.is_empty() {
        model.environments.keys().cloned().collect()
    } else {
        opts.environments.iter().cloned().collect()
    };
    let mut rendered = BTreeMap::new();
    for env in model.environments.keys() {
        let r = crate::render::render(model, env, &crate::render::RenderOptions::default())
            .map_err(|e| CheckError::Render(Box::new(e)))?;
        rendered.insert(env.clone(), r);
    }
    if let Some(live) = &opts.live {
        for r in rendered.values_mut() {
            for c in &mut r.clusters {
                if let Some(objects) = live.get(&c.name) {
                    c.manifests = objects.iter().filter_map(live_manifest).collect();
                }
            }
        }
    }
    let mut cx = Cx {
        model,
        selected,
        rendered,
        views: BTreeMap::new(),
    };
    let cuts = cx.cuts();
    let engine = engine_reach::EngineReach {
        dns_pod_labels: model.dns_pod_labels.clone(),
    };
    let mut views = BTreeMap::new();
    for r in cx.rendered.values() {
        for c in &r.clusters {
            views.insert(c.name.clone(), engine.view(c, &cuts)?);
        }
    }
    cx.views = views;
    Ok(run_rules(&cx, model, &opts.topology_dir))
}

/// A live object in the shape of a rendered one (no YAML text: nothing prints it).
fn live_manifest(v: &serde_json::Value) -> Option<crate::render::Manifest> {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    Some(crate::render::Manifest::from_value(
        s("/apiVersion")?,
        s("/kind")?,
        s("/metadata/name")?,
        s("/metadata/namespace"),
        String::new(),
        v.clone(),
    ))
}

fn run_rules(cx: &Cx, model: &Model, topology_dir: &str) -> Report {
    let mut used = vec![false; model.exemptions.len()];
    let mut results = Vec::new();
    for planned in plan_rules(model) {
        let mut findings: Vec<Finding> = (planned.check)(cx, &planned.scope)
            .into_iter()
            .map(|h| Finding {
                rule: planned.info.id.clone(),
                profile: planned.info.profile.clone(),
                control: planned.info.control.clone(),
                severity: planned.info.severity,
                environment: h.environment,
                cluster: h.cluster,
                namespace: h.namespace,
                object: h.object,
                message: h.message,
                evidence: h.evidence,
                source: h.source,
                exempted: None,
            })
            .collect();
        findings.sort_by(|a, b| {
            (&a.environment, &a.cluster, &a.object, &a.message).cmp(&(
                &b.environment,
                &b.cluster,
                &b.object,
                &b.message,
            ))
        });
        findings.dedup_by(|a, b| {
            a.cluster == b.cluster && a.object == b.object && a.message == b.message
        });
        for f in &mut findings {
            for (i, e) in model.exemptions.iter().enumerate() {
                let matches = e.rule == f.rule
                    && e.environment
                        .as_ref()
                        .is_none_or(|x| f.environment.as_ref() == Some(x))
                    && e.namespace
                        .as_ref()
                        .is_none_or(|x| f.namespace.as_ref() == Some(x));
                if matches {
                    used[i] = true;
                    f.exempted = Some(Exempted {
                        justification: e.justification.clone(),
                        source: context::src(&e.origin),
                    });
                    break;
                }
            }
        }
        let outcome = if findings.is_empty() {
            Outcome::Pass
        } else if findings.iter().any(Finding::is_active) {
            Outcome::Fail
        } else {
            Outcome::Exempted
        };
        results.push(RuleResult {
            rule: planned.info,
            outcome,
            findings,
        });
    }
    let unused_exemptions = model
        .exemptions
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(e, _)| UnusedExemption {
            rule: e.rule.clone(),
            source: context::src(&e.origin),
        })
        .collect();
    Report {
        environments: cx.selected.iter().cloned().collect(),
        topology_dir: topology_dir.to_string(),
        results,
        unused_exemptions,
    }
}
