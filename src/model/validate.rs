//! The checks that turn a parsed [`Topology`] into a [`Model`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::names::{dns_label_problem, is_dns_label, is_label_key, is_label_value};
use super::*;
use crate::diag::{Diagnostic, Diagnostics, Location, SourceFile, did_you_mean};
use crate::topology::raw::{self, S};
use crate::topology::{EnvSource, Topology, keyed};

/// Validates the topology. `Ok` carries the model and any warnings; `Err` every diagnostic.
/// `earlier` carries diagnostics of the parsing stage that did not stop it (unknown keys).
pub fn build(
    topology: &Topology,
    earlier: Diagnostics,
) -> Result<(Model, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut cx = Cx {
        diags: earlier,
        dir: topology.dir.clone(),
    };
    let model = cx.model(topology);
    let diags = cx.diags;
    if diags.has_errors() {
        Err(diags.into_sorted())
    } else {
        Ok((model, diags.into_sorted()))
    }
}

struct Cx {
    diags: Diagnostics,
    dir: std::path::PathBuf,
}

impl Cx {
    fn loc<T>(&self, file: &Arc<SourceFile>, s: &S<T>) -> Location {
        Location::new(file, s.span())
    }

    fn origin<T>(&self, file: &Arc<SourceFile>, s: &S<T>) -> Origin {
        let location = self.loc(file, s);
        let file_name = file
            .path
            .strip_prefix(&self.dir)
            .unwrap_or(&file.path)
            .display()
            .to_string();
        Origin {
            file: file_name,
            line: location.line(),
            location,
        }
    }

    fn err(
        &mut self,
        code: &'static str,
        file: &Arc<SourceFile>,
        span: std::ops::Range<usize>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diags
            .push_mut(Diagnostic::error(code, msg).at(Location::new(file, span)))
    }

    fn name(&mut self, file: &Arc<SourceFile>, name: &S<String>, what: &str) -> bool {
        if is_dns_label(name.get_ref()) {
            true
        } else {
            let problem = dns_label_problem(name.get_ref());
            let suggestion = name
                .get_ref()
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
            let suggestion = suggestion.trim_matches('-').to_string();
            let d = self.err(
                "topology::invalid-name",
                file,
                name.span(),
                format!("invalid {what} name: {problem}"),
            );
            d.label = Some("not a DNS-1123 label".into());
            if is_dns_label(&suggestion) {
                d.hint = Some(format!("try `{suggestion}`"));
            }
            false
        }
    }

    fn ports(&mut self, file: &Arc<SourceFile>, ports: &[S<String>]) -> Vec<PortSpec> {
        let mut out = Vec::new();
        for p in ports {
            match p.get_ref().parse::<PortSpec>() {
                Ok(spec) => {
                    if out.contains(&spec) {
                        self.err(
                            "topology::duplicate-port",
                            file,
                            p.span(),
                            format!("port `{spec}` is listed twice"),
                        );
                    } else {
                        out.push(spec);
                    }
                }
                Err(e) => {
                    let hint = match &e {
                        PortError::Protocol(pr)
                            if ["TCP", "UDP", "SCTP"].contains(&pr.to_uppercase().as_str()) =>
                        {
                            Some(format!(
                                "protocols are upper case: `{}`",
                                p.get_ref().to_uppercase()
                            ))
                        }
                        PortError::MissingProtocol => Some(format!("write `{}/TCP`", p.get_ref())),
                        _ => Some("ports look like `443/TCP` or `8000-8100/TCP`".into()),
                    };
                    self.err(
                        "topology::invalid-port",
                        file,
                        p.span(),
                        format!("invalid port `{}`: {e}", p.get_ref()),
                    )
                    .hint = hint;
                }
            }
        }
        out
    }

    fn labels(
        &mut self,
        file: &Arc<SourceFile>,
        labels: &BTreeMap<String, S<String>>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, v) in &keyed(file, labels) {
            if !is_label_key(k.get_ref()) {
                self.err(
                    "topology::invalid-label",
                    file,
                    k.span(),
                    format!("`{}` is not a valid label key", k.get_ref()),
                );
            }
            if !is_label_value(v.get_ref()) {
                self.err(
                    "topology::invalid-label",
                    file,
                    v.span(),
                    format!("{:?} is not a valid label value (at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends)", v.get_ref()),
                );
            }
            out.insert(k.get_ref().clone(), v.get_ref().clone());
        }
        out
    }

    fn unknown(
        &mut self,
        code: &'static str,
        file: &Arc<SourceFile>,
        name: &S<String>,
        what: &str,
        known: &[&str],
    ) {
        let hint = did_you_mean(name.get_ref(), known.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| {
                (!known.is_empty()).then(|| format!("known {what}s: {}", known.join(", ")))
            });
        let d = self.err(
            code,
            file,
            name.span(),
            format!("unknown {what} `{}`", name.get_ref()),
        );
        d.hint = hint;
        d.label = Some(format!("no such {what}"));
    }

    fn model(&mut self, t: &Topology) -> Model {
        let pf = &t.project_file;
        let p = &t.project;

        // [project]
        let mut project = String::new();
        let mut templates = None;
        let mut dns_pod_labels = BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]);
        match &p.project {
            None => {
                self.diags.push(
                    Diagnostic::error(
                        "topology::missing-project",
                        "missing `[project]` table with a `name`",
                    )
                    .at(Location::new(pf, 0..0))
                    .hint("add `[project]` and `name = \"acme\"` at the top of segplan.toml"),
                );
            }
            Some(sec) => match &sec.get_ref().name {
                None => {
                    self.err(
                        "topology::missing-key",
                        pf,
                        sec.span(),
                        "`[project]` needs a `name`",
                    );
                }
                Some(n) => {
                    if self.name(pf, n, "project") {
                        project = n.get_ref().clone();
                    }
                }
            },
        }
        if let Some(sec) = &p.project {
            if let Some(dir) = &sec.get_ref().templates {
                let path = t.dir.join(dir.get_ref());
                if !path.is_dir() {
                    self.err(
                        "topology::missing-templates",
                        pf,
                        dir.span(),
                        format!("template directory `{}` does not exist", path.display()),
                    );
                }
                templates = Some(path);
            }
            if let Some(labels) = &sec.get_ref().dns_pod_labels {
                let parsed = self.labels(pf, labels.get_ref());
                if parsed.is_empty() {
                    self.err("topology::empty-selector", pf, labels.span(), "`dns_pod_labels` cannot be empty: it would select every pod in kube-system");
                } else {
                    dns_pod_labels = parsed;
                }
            }
        }

        // [zones]
        let mut zones = BTreeMap::new();
        if p.zones.is_empty() {
            self.diags.push(
                Diagnostic::error("topology::no-zones", "the project defines no zones")
                    .at(Location::new(pf, 0..0))
                    .hint("add at least one `[zones.<name>]` table"),
            );
        }
        for (name, z) in &keyed(pf, &p.zones) {
            if !self.name(pf, name, "zone") {
                continue;
            }
            let zr = z.get_ref();
            let sensitivity = match &zr.sensitivity {
                None => Sensitivity::Internal,
                Some(s) => match Sensitivity::parse(s.get_ref()) {
                    Some(v) => v,
                    None => {
                        self.unknown(
                            "topology::invalid-sensitivity",
                            pf,
                            s,
                            "sensitivity",
                            &Sensitivity::NAMES,
                        );
                        Sensitivity::Internal
                    }
                },
            };
            let internet_ingress = self.ports(pf, &zr.internet_ingress);
            zones.insert(
                name.get_ref().clone(),
                Zone {
                    name: name.get_ref().clone(),
                    description: zr.description.as_ref().map(|d| d.get_ref().clone()),
                    sensitivity,
                    internet_ingress,
                    internet_egress: zr.internet_egress.as_ref().is_some_and(|b| *b.get_ref()),
                    same_namespace: zr.same_namespace.as_ref().is_none_or(|b| *b.get_ref()),
                    origin: self.origin(pf, name),
                },
            );
        }
        let zone_names: Vec<&str> = p.zones.keys().map(String::as_str).collect();

        // [[flows]]
        let mut flows: Vec<Flow> = Vec::new();
        for f in &p.flows {
            let fr = f.get_ref();
            let mut ok = true;
            for end in [&fr.from, &fr.to] {
                if !zones.contains_key(end.get_ref()) {
                    self.unknown("topology::unknown-zone", pf, end, "zone", &zone_names);
                    ok = false;
                }
            }
            let ports = self.ports(pf, &fr.ports);
            ok &= ports.len() == fr.ports.len();
            if let Some(r) = &fr.reason
                && r.get_ref().trim().is_empty()
            {
                self.err(
                    "topology::empty-reason",
                    pf,
                    r.span(),
                    "a flow's `reason` cannot be empty",
                );
            }
            if !ok {
                continue;
            }
            if let Some(prev) = flows.iter().find(|g| {
                g.from == *fr.from.get_ref()
                    && g.to == *fr.to.get_ref()
                    && (g.ports.is_empty()
                        || ports.is_empty()
                        || g.ports.iter().any(|p| ports.contains(p)))
            }) {
                let line = prev.origin.line;
                self.err(
                    "topology::duplicate-flow",
                    pf,
                    f.span(),
                    format!(
                        "flow {} -> {} repeats ports of the flow at line {line}",
                        fr.from.get_ref(),
                        fr.to.get_ref()
                    ),
                )
                .hint = Some("merge the ports into one flow".into());
                continue;
            }
            flows.push(Flow {
                from: fr.from.get_ref().clone(),
                to: fr.to.get_ref().clone(),
                ports,
                reason: fr.reason.as_ref().map(|r| r.get_ref().clone()),
                origin: self.origin(pf, f),
            });
        }

        // [profiles] and [[exemptions]]
        let mut profiles = BTreeMap::new();
        for (name, prof) in &keyed(pf, &p.profiles) {
            if !self.name(pf, name, "profile") {
                continue;
            }
            if BUILTIN_PROFILES.contains(&name.get_ref().as_str()) {
                self.err(
                    "topology::builtin-profile",
                    pf,
                    name.span(),
                    format!(
                        "`{}` is a built-in profile and cannot be redefined",
                        name.get_ref()
                    ),
                )
                .hint =
                    Some("give your profile its own name and `extends` the built-in one".into());
                continue;
            }
            let pr = prof.get_ref();
            let mut extends = Vec::new();
            for e in &pr.extends {
                if !BUILTIN_PROFILES.contains(&e.get_ref().as_str()) {
                    self.unknown(
                        "topology::unknown-profile",
                        pf,
                        e,
                        "built-in profile",
                        &BUILTIN_PROFILES,
                    );
                } else {
                    extends.push(e.get_ref().clone());
                }
            }
            let mut rules = Vec::new();
            let mut ids = BTreeSet::new();
            for r in &pr.rules {
                let rr = r.get_ref();
                if !ids.insert(rr.id.get_ref().clone()) {
                    self.err(
                        "topology::duplicate-rule",
                        pf,
                        rr.id.span(),
                        format!(
                            "rule id `{}` is used twice in profile `{}`",
                            rr.id.get_ref(),
                            name.get_ref()
                        ),
                    );
                }
                if let Some(sev) = &rr.severity
                    && !["error", "warning", "note"].contains(&sev.get_ref().as_str())
                {
                    self.unknown(
                        "topology::invalid-severity",
                        pf,
                        sev,
                        "severity",
                        &["error", "warning", "note"],
                    );
                }
                rules.push(ProfileRule {
                    id: rr.id.get_ref().clone(),
                    check: rr.check.get_ref().clone(),
                    control: rr.control.as_ref().map(|c| c.get_ref().clone()),
                    severity: rr.severity.as_ref().map(|c| c.get_ref().clone()),
                    description: rr.description.as_ref().map(|c| c.get_ref().clone()),
                    origin: self.origin(pf, &rr.check),
                });
            }
            profiles.insert(
                name.get_ref().clone(),
                Profile {
                    name: name.get_ref().clone(),
                    description: pr.description.as_ref().map(|d| d.get_ref().clone()),
                    extends,
                    rules,
                    origin: self.origin(pf, name),
                },
            );
        }
        let mut known_tags: Vec<String> = BUILTIN_PROFILES.iter().map(|s| s.to_string()).collect();
        known_tags.extend(profiles.keys().cloned());
        let mut exemptions = Vec::new();
        for e in &p.exemptions {
            let er = e.get_ref();
            if er.justification.get_ref().trim().len() < 10 {
                self.err(
                    "topology::weak-justification",
                    pf,
                    er.justification.span(),
                    "an exemption needs a written justification (at least a sentence)",
                );
            }
            exemptions.push(Exemption {
                rule: er.rule.get_ref().clone(),
                justification: er.justification.get_ref().trim().to_string(),
                namespace: er.namespace.as_ref().map(|n| n.get_ref().clone()),
                environment: er.environment.as_ref().map(|n| n.get_ref().clone()),
                origin: self.origin(pf, e),
            });
        }

        // Environments.
        let mut environments = BTreeMap::new();
        let mut cluster_owner: HashMap<String, (String, Location)> = HashMap::new();
        let mut contexts: HashMap<String, (String, Location)> = HashMap::new();
        let mut raw_cross: Vec<(&EnvSource, &S<raw::CrossClusterFlow>)> = Vec::new();
        for env in &t.environments {
            if let Some(e) =
                self.environment(env, &zones, &known_tags, &mut cluster_owner, &mut contexts)
            {
                environments.insert(e.name.clone(), e);
            }
            raw_cross.extend(env.raw.cross_cluster_flows.iter().map(|f| (env, f)));
        }

        // Mesh rules reference namespaces and service accounts.
        for env in &t.environments {
            if let Some(e) = environments.get(&env.name) {
                let rules = self.mesh_rules(env, e);
                environments
                    .get_mut(&env.name)
                    .expect("just read")
                    .mesh_rules = rules;
            }
        }

        let cross_cluster_flows = raw_cross
            .into_iter()
            .filter_map(|(env, f)| self.cross_flow(env, f, &environments, &zones))
            .collect();

        // Self-flows already implied by same-namespace traffic.
        for f in &flows {
            if f.from != f.to {
                continue;
            }
            let Some(zone) = zones.get(&f.from) else {
                continue;
            };
            let lonely = environments.values().all(|e| {
                e.clusters
                    .keys()
                    .all(|c| e.namespaces_on(c).filter(|n| n.zone == f.from).count() <= 1)
            });
            if zone.same_namespace && lonely {
                self.diags.push(
                    Diagnostic::error(
                        "topology::implied-flow",
                        format!("flow {0} -> {0} is already implied: zone `{0}` allows same-namespace traffic and no cluster has two of its namespaces", f.from),
                    )
                    .at(f.origin.location.clone())
                    .hint("remove this flow"),
                );
            }
        }

        let mut hasher = Sha256::new();
        for file in t.files() {
            hasher.update(
                file.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            hasher.update([0]);
            hasher.update(&file.text);
            hasher.update([0]);
        }
        let topology_hash = hex(&hasher.finalize());

        Model {
            project,
            templates,
            dns_pod_labels,
            zones,
            flows,
            environments,
            cross_cluster_flows,
            profiles,
            exemptions,
            topology_hash,
            dir: t.dir.clone(),
        }
    }

    fn environment(
        &mut self,
        env: &EnvSource,
        zones: &BTreeMap<String, Zone>,
        known_tags: &[String],
        cluster_owner: &mut HashMap<String, (String, Location)>,
        contexts: &mut HashMap<String, (String, Location)>,
    ) -> Option<Environment> {
        let f = &env.file;
        let r = &env.raw;
        if !is_dns_label(&env.name) {
            self.diags.push(
                Diagnostic::error(
                    "topology::invalid-name",
                    format!("invalid environment name: {}", dns_label_problem(&env.name)),
                )
                .in_file(&f.path)
                .hint("the environment's name is its file name without `.toml`; rename the file"),
            );
            return None;
        }
        let tags: Vec<&str> = known_tags.iter().map(String::as_str).collect();
        let check_tags = |cx: &mut Self, list: &[S<String>]| -> Vec<String> {
            let mut out = Vec::new();
            for tag in list {
                if tags.contains(&tag.get_ref().as_str()) {
                    out.push(tag.get_ref().clone());
                } else {
                    cx.unknown(
                        "topology::unknown-compliance",
                        f,
                        tag,
                        "compliance profile",
                        &tags,
                    );
                }
            }
            out
        };
        let (kind, compliance, description, origin) = match &r.environment {
            None => {
                self.diags.push(
                    Diagnostic::error("topology::missing-environment", "missing `[environment]` table")
                        .at(Location::new(f, 0..0))
                        .hint("add `[environment]` with `kind = \"production\"`, `\"non-production\"` or `\"management\"`"),
                );
                return None;
            }
            Some(sec) => {
                let s = sec.get_ref();
                let kind = match &s.kind {
                    None => {
                        self.err(
                            "topology::missing-key",
                            f,
                            sec.span(),
                            "`[environment]` needs a `kind`",
                        )
                        .hint = Some(
                            "kind = \"production\" | \"non-production\" | \"management\"".into(),
                        );
                        EnvKind::NonProduction
                    }
                    Some(k) => EnvKind::parse(k.get_ref()).unwrap_or_else(|| {
                        self.unknown(
                            "topology::invalid-kind",
                            f,
                            k,
                            "environment kind",
                            &EnvKind::NAMES,
                        );
                        EnvKind::NonProduction
                    }),
                };
                let compliance = check_tags(self, &s.compliance);
                (
                    kind,
                    compliance,
                    s.description.as_ref().map(|d| d.get_ref().clone()),
                    self.origin(f, sec),
                )
            }
        };

        if r.clusters.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "topology::empty-environment",
                    format!("environment `{}` has no clusters", env.name),
                )
                .at(origin.location.clone())
                .hint("add a `[clusters.<name>]` table, or delete the file"),
            );
        }
        if r.namespaces.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "topology::empty-environment",
                    format!("environment `{}` has no namespaces", env.name),
                )
                .at(origin.location.clone())
                .hint("add a `[namespaces.<name>]` table with a `zone`"),
            );
        }

        // Clusters.
        let mut clusters = BTreeMap::new();
        for (name, c) in &keyed(f, &r.clusters) {
            if !self.name(f, name, "cluster") {
                continue;
            }
            let loc = self.loc(f, name);
            if let Some((other, other_loc)) = cluster_owner.get(name.get_ref()) {
                let msg = format!(
                    "cluster `{}` is already in environment `{other}` ({other_loc})",
                    name.get_ref()
                );
                self.err("topology::cluster-in-two-environments", f, name.span(), msg)
                    .hint = Some("a cluster belongs to exactly one environment".into());
                continue;
            }
            cluster_owner.insert(name.get_ref().clone(), (env.name.clone(), loc.clone()));
            let cr = c.get_ref();
            let context = cr
                .context
                .as_ref()
                .map(|c| c.get_ref().clone())
                .unwrap_or_else(|| name.get_ref().clone());
            let ctx_span = cr.context.as_ref().map(|c| c.span()).unwrap_or(name.span());
            if let Some((other, other_loc)) = contexts.get(&context) {
                let msg = format!(
                    "clusters `{}` and `{other}` use the same kubeconfig context `{context}` ({other_loc})",
                    name.get_ref()
                );
                self.err("topology::duplicate-context", f, ctx_span, msg)
                    .hint = Some("each cluster needs its own context, or diff and apply would reach the wrong cluster".into());
            } else {
                contexts.insert(
                    context.clone(),
                    (name.get_ref().clone(), Location::new(f, ctx_span)),
                );
            }
            if let Some(url) = &cr.api_server
                && !(url.get_ref().starts_with("https://")
                    && url.get_ref().len() > "https://".len())
            {
                self.err("topology::invalid-api-server", f, url.span(), format!("`{}` is not an https:// URL", url.get_ref()))
                    .hint = Some("api_server pins the cluster's identity; it must be the https URL in the kubeconfig".into());
            }
            let cidr = |cx: &mut Self, v: &Option<S<String>>| -> Option<ipnet::IpNet> {
                let v = v.as_ref()?;
                match parse_cidr(v.get_ref()) {
                    Ok(n) => Some(n),
                    Err(msg) => {
                        cx.err(
                            "topology::invalid-cidr",
                            f,
                            v.span(),
                            format!("invalid CIDR: {msg}"),
                        );
                        None
                    }
                }
            };
            let pod_cidr = cidr(self, &cr.pod_cidr);
            let node_cidr = cidr(self, &cr.node_cidr);
            let service_cidr = cidr(self, &cr.service_cidr);
            let mesh = match &cr.mesh {
                None => Mesh::None,
                Some(m) => match m.get_ref().as_str() {
                    "none" => Mesh::None,
                    "istio" => Mesh::Istio,
                    _ => {
                        self.unknown("topology::invalid-mesh", f, m, "mesh", &["none", "istio"]);
                        Mesh::None
                    }
                },
            };
            let mut node_pools = BTreeMap::new();
            for (pname, pool) in &keyed(f, &cr.node_pools) {
                if !self.name(f, pname, "node pool") {
                    continue;
                }
                let pr = pool.get_ref();
                let labels = self.labels(f, &pr.labels);
                if labels.is_empty() {
                    self.err(
                        "topology::pool-without-labels",
                        f,
                        pname.span(),
                        format!(
                            "node pool `{}` has no labels, so pods cannot be pinned to it",
                            pname.get_ref()
                        ),
                    );
                }
                let mut taints = Vec::new();
                for t in &pr.taints {
                    let tr = t.get_ref();
                    if !is_label_key(tr.key.get_ref()) {
                        self.err(
                            "topology::invalid-label",
                            f,
                            tr.key.span(),
                            format!("`{}` is not a valid taint key", tr.key.get_ref()),
                        );
                    }
                    if let Some(v) = &tr.value
                        && !is_label_value(v.get_ref())
                    {
                        self.err(
                            "topology::invalid-label",
                            f,
                            v.span(),
                            format!("{:?} is not a valid taint value", v.get_ref()),
                        );
                    }
                    const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
                    if !EFFECTS.contains(&tr.effect.get_ref().as_str()) {
                        self.unknown(
                            "topology::invalid-taint-effect",
                            f,
                            &tr.effect,
                            "taint effect",
                            &EFFECTS,
                        );
                    }
                    taints.push(Taint {
                        key: tr.key.get_ref().clone(),
                        value: tr.value.as_ref().map(|v| v.get_ref().clone()),
                        effect: tr.effect.get_ref().clone(),
                    });
                }
                node_pools.insert(
                    pname.get_ref().clone(),
                    NodePool {
                        name: pname.get_ref().clone(),
                        labels,
                        taints,
                        origin: self.origin(f, pname),
                    },
                );
            }
            clusters.insert(
                name.get_ref().clone(),
                Cluster {
                    name: name.get_ref().clone(),
                    environment: env.name.clone(),
                    context,
                    api_server: cr.api_server.as_ref().map(|u| u.get_ref().clone()),
                    pod_cidr,
                    node_cidr,
                    service_cidr,
                    mesh,
                    node_pools,
                    origin: self.origin(f, name),
                },
            );
        }
        let cluster_names: Vec<&str> = clusters.keys().map(String::as_str).collect();
        let zone_names: Vec<&str> = zones.keys().map(String::as_str).collect();

        // Namespaces.
        let mut namespaces = BTreeMap::new();
        for (name, n) in &keyed(f, &r.namespaces) {
            if !self.name(f, name, "namespace") {
                continue;
            }
            if RESERVED_NAMESPACES.contains(&name.get_ref().as_str()) {
                self.err("topology::reserved-namespace", f, name.span(), format!("namespace `{}` is reserved for the cluster itself", name.get_ref()))
                    .hint = Some("default-deny there would break the cluster; segplan manages application namespaces only".into());
                continue;
            }
            let nr = n.get_ref();
            let zone = match &nr.zone {
                None => {
                    self.err(
                        "topology::missing-zone",
                        f,
                        name.span(),
                        format!("namespace `{}` has no `zone`", name.get_ref()),
                    )
                    .hint = Some(format!(
                        "every namespace belongs to exactly one zone: {}",
                        zone_names.join(", ")
                    ));
                    continue;
                }
                Some(z) if !zones.contains_key(z.get_ref()) => {
                    // Keep the namespace so references to it do not cascade into more errors.
                    self.unknown("topology::unknown-zone", f, z, "zone", &zone_names);
                    z.get_ref().clone()
                }
                Some(z) => z.get_ref().clone(),
            };
            if let Some(team) = &nr.team
                && !is_label_value(team.get_ref())
            {
                self.err(
                    "topology::invalid-label",
                    f,
                    team.span(),
                    format!("team {:?} is not a valid label value", team.get_ref()),
                );
            }
            let mut compliance = check_tags(self, &nr.compliance);
            compliance.sort();
            compliance.dedup();
            let placed: Vec<String> = match &nr.clusters {
                None => clusters.keys().cloned().collect(),
                Some(list) => {
                    if list.get_ref().is_empty() {
                        self.err(
                            "topology::no-clusters",
                            f,
                            list.span(),
                            format!("namespace `{}` is placed on no cluster", name.get_ref()),
                        );
                    }
                    let mut v = Vec::new();
                    for c in list.get_ref() {
                        if !r.clusters.contains_key(c.get_ref().as_str()) {
                            self.unknown(
                                "topology::unknown-cluster",
                                f,
                                c,
                                "cluster",
                                &cluster_names,
                            );
                        } else if v.contains(c.get_ref()) {
                            self.err(
                                "topology::duplicate-cluster",
                                f,
                                c.span(),
                                format!("cluster `{}` is listed twice", c.get_ref()),
                            );
                        } else {
                            v.push(c.get_ref().clone());
                        }
                    }
                    v.sort();
                    v
                }
            };
            if let Some(pool) = &nr.node_pool {
                let mut known_pools: BTreeSet<&str> = BTreeSet::new();
                for c in clusters.values() {
                    known_pools.extend(c.node_pools.keys().map(String::as_str));
                }
                for c in &placed {
                    let Some(cl) = clusters.get(c) else { continue };
                    if !cl.node_pools.contains_key(pool.get_ref()) {
                        let known: Vec<&str> = cl.node_pools.keys().map(String::as_str).collect();
                        let hint = did_you_mean(pool.get_ref(), known_pools.iter().copied())
                            .filter(|s| s != pool.get_ref())
                            .map(|s| format!("did you mean `{s}`?"))
                            .unwrap_or_else(|| {
                                format!("add `[clusters.{c}.node_pools.{}]`, or limit the namespace's `clusters`", pool.get_ref())
                            });
                        let d = self.err(
                            "topology::unknown-node-pool",
                            f,
                            pool.span(),
                            format!("namespace `{}` is pinned to node pool `{}`, which cluster `{c}` lacks{}", name.get_ref(), pool.get_ref(),
                                if known.is_empty() { String::new() } else { format!(" (it has {})", known.join(", ")) }),
                        );
                        d.hint = Some(hint);
                    }
                }
            }
            let mut service_accounts = Vec::new();
            for sa in &nr.service_accounts {
                if self.name(f, sa, "service account") {
                    service_accounts.push(sa.get_ref().clone());
                }
            }
            let labels = self.labels(f, &nr.labels);
            for (k, v) in &keyed(f, &nr.labels) {
                if k.get_ref().starts_with("segplan.io/")
                    || k.get_ref() == "app.kubernetes.io/managed-by"
                    || k.get_ref().starts_with("pod-security.kubernetes.io/")
                {
                    self.err(
                        "topology::reserved-label",
                        f,
                        k.span(),
                        format!(
                            "label `{}` is set by segplan and cannot be overridden",
                            k.get_ref()
                        ),
                    );
                }
                let _ = v;
            }
            let mut annotations = BTreeMap::new();
            for (k, v) in &keyed(f, &nr.annotations) {
                if !is_label_key(k.get_ref()) {
                    self.err(
                        "topology::invalid-label",
                        f,
                        k.span(),
                        format!("`{}` is not a valid annotation key", k.get_ref()),
                    );
                }
                annotations.insert(k.get_ref().clone(), v.get_ref().clone());
            }
            namespaces.insert(
                name.get_ref().clone(),
                Namespace {
                    name: name.get_ref().clone(),
                    zone,
                    team: nr.team.as_ref().map(|t| t.get_ref().clone()),
                    compliance,
                    node_pool: nr.node_pool.as_ref().map(|p| p.get_ref().clone()),
                    clusters: placed,
                    service_accounts,
                    labels,
                    annotations,
                    origin: self.origin(f, name),
                },
            );
        }

        Some(Environment {
            name: env.name.clone(),
            kind,
            compliance,
            description,
            clusters,
            namespaces,
            mesh_rules: Vec::new(),
            origin,
        })
    }

    fn mesh_rules(&mut self, env: &EnvSource, e: &Environment) -> Vec<MeshRule> {
        let f = &env.file;
        let ns_names: Vec<&str> = e.namespaces.keys().map(String::as_str).collect();
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        for (i, rule) in env.raw.mesh_rules.iter().enumerate() {
            let r = rule.get_ref();
            let Some(ns) = e.namespaces.get(r.namespace.get_ref()) else {
                self.unknown(
                    "topology::unknown-namespace",
                    f,
                    &r.namespace,
                    "namespace",
                    &ns_names,
                );
                continue;
            };
            if !ns
                .clusters
                .iter()
                .any(|c| e.clusters.get(c).is_some_and(|c| c.mesh == Mesh::Istio))
            {
                self.err("topology::mesh-rule-without-mesh", f, r.namespace.span(), format!("mesh rule for namespace `{}`, but none of its clusters has `mesh = \"istio\"`", ns.name))
                    .hint = Some("set `mesh = \"istio\"` on the cluster, or remove the rule".into());
            }
            let name = match &r.name {
                Some(n) => {
                    self.name(f, n, "mesh rule");
                    n.get_ref().clone()
                }
                None => format!("mesh-rule-{}", i + 1),
            };
            if !names.insert((ns.name.clone(), name.clone())) {
                let span = r.name.as_ref().map(|n| n.span()).unwrap_or(rule.span());
                self.err(
                    "topology::duplicate-mesh-rule",
                    f,
                    span,
                    format!("two mesh rules named `{name}` in namespace `{}`", ns.name),
                );
            }
            if r.workload.is_empty() {
                self.err("topology::empty-workload", f, rule.span(), "a mesh rule needs `workload` labels; an empty selector would apply to every workload")
                    .hint = Some("workload = { app = \"payment-api\" }".into());
            }
            let workload = self.labels(f, &r.workload);
            if r.from.is_empty() {
                self.err(
                    "topology::empty-from",
                    f,
                    rule.span(),
                    "a mesh rule needs at least one `from` identity (namespace/serviceaccount)",
                );
            }
            let mut from = Vec::new();
            for p in &r.from {
                let Some((pns, sa)) = p.get_ref().split_once('/') else {
                    self.err(
                        "topology::invalid-principal",
                        f,
                        p.span(),
                        format!("`{}` is not `namespace/serviceaccount`", p.get_ref()),
                    );
                    continue;
                };
                match e.namespaces.get(pns) {
                    None => {
                        let hint = did_you_mean(pns, ns_names.iter().copied())
                            .map(|s| format!("did you mean `{s}/{sa}`?"));
                        self.err(
                            "topology::unknown-namespace",
                            f,
                            p.span(),
                            format!("unknown namespace `{pns}` in `{}`", p.get_ref()),
                        )
                        .hint = hint;
                    }
                    Some(src) if !src.service_accounts.iter().any(|s| s == sa) => {
                        let hint = did_you_mean(sa, src.service_accounts.iter().map(String::as_str))
                            .map(|s| format!("did you mean `{pns}/{s}`?"))
                            .unwrap_or_else(|| format!("declare it: `service_accounts = [\"{sa}\"]` in `[namespaces.{pns}]`"));
                        self.err(
                            "topology::unknown-service-account",
                            f,
                            p.span(),
                            format!("namespace `{pns}` declares no service account `{sa}`"),
                        )
                        .hint = Some(hint);
                    }
                    Some(_) => from.push(Principal {
                        namespace: pns.to_string(),
                        service_account: sa.to_string(),
                    }),
                }
            }
            const METHODS: [&str; 9] = [
                "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
            ];
            for m in &r.methods {
                if !METHODS.contains(&m.get_ref().as_str()) {
                    self.unknown("topology::invalid-method", f, m, "HTTP method", &METHODS);
                }
            }
            for p in &r.paths {
                let s = p.get_ref();
                if !(s.starts_with('/') || s.starts_with('*'))
                    || s.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    self.err(
                        "topology::invalid-path",
                        f,
                        p.span(),
                        format!(
                            "{s:?} is not an HTTP path (it starts with `/` or `*`, without spaces)"
                        ),
                    );
                }
            }
            let ports = self.ports(f, &r.ports);
            out.push(MeshRule {
                name,
                namespace: ns.name.clone(),
                workload,
                from,
                methods: r.methods.iter().map(|m| m.get_ref().clone()).collect(),
                paths: r.paths.iter().map(|m| m.get_ref().clone()).collect(),
                ports,
                origin: self.origin(f, rule),
            });
        }
        out
    }

    fn cross_flow(
        &mut self,
        env: &EnvSource,
        flow: &S<raw::CrossClusterFlow>,
        environments: &BTreeMap<String, Environment>,
        zones: &BTreeMap<String, Zone>,
    ) -> Option<CrossClusterFlow> {
        let f = &env.file;
        let r = flow.get_ref();
        let env_names: Vec<&str> = environments.keys().map(String::as_str).collect();
        let zone_names: Vec<&str> = zones.keys().map(String::as_str).collect();
        let resolve = |cx: &mut Self, end: &S<raw::Endpoint>| -> Option<(CrossEnd, Vec<Cluster>)> {
            let er = end.get_ref();
            let env_name = er
                .environment
                .as_ref()
                .map(|e| e.get_ref().clone())
                .unwrap_or(env.name.clone());
            let Some(e) = environments.get(&env_name) else {
                if let Some(en) = &er.environment {
                    cx.unknown(
                        "topology::unknown-environment",
                        f,
                        en,
                        "environment",
                        &env_names,
                    );
                }
                return None;
            };
            if !zones.contains_key(er.zone.get_ref()) {
                cx.unknown("topology::unknown-zone", f, &er.zone, "zone", &zone_names);
                return None;
            }
            let clusters: Vec<Cluster> = match &er.cluster {
                Some(c) => match e.clusters.get(c.get_ref()) {
                    Some(cl) => vec![cl.clone()],
                    None => {
                        let names: Vec<&str> = e.clusters.keys().map(String::as_str).collect();
                        cx.unknown("topology::unknown-cluster", f, c, "cluster", &names);
                        return None;
                    }
                },
                None => e.clusters.values().cloned().collect(),
            };
            Some((
                CrossEnd {
                    environment: env_name,
                    cluster: er.cluster.as_ref().map(|c| c.get_ref().clone()),
                    zone: er.zone.get_ref().clone(),
                },
                clusters,
            ))
        };
        let from = resolve(self, &r.from);
        let to = resolve(self, &r.to);
        let ports = self.ports(f, &r.ports);
        if r.ports.is_empty() {
            self.err(
                "topology::no-ports",
                f,
                flow.span(),
                "a cross-cluster flow needs `ports`",
            )
            .hint =
                Some("ipBlock rules without ports would open every port between clusters".into());
        }
        let ((from, from_clusters), (to, to_clusters)) = (from?, to?);
        // Every cluster on either side needs CIDRs, and the two sides must not overlap.
        for (side, list) in [("from", &from_clusters), ("to", &to_clusters)] {
            for c in list {
                if c.pod_cidr.is_none() {
                    let span = if side == "from" {
                        r.from.span()
                    } else {
                        r.to.span()
                    };
                    self.err(
                        "topology::missing-cidr",
                        f,
                        span,
                        format!(
                            "cross-cluster flow needs `pod_cidr` on cluster `{}` ({})",
                            c.name, c.origin
                        ),
                    )
                    .hint = Some(
                        "ipBlock rules are built from the other cluster's pod_cidr and node_cidr"
                            .into(),
                    );
                }
            }
        }
        for a in &from_clusters {
            for b in &to_clusters {
                if a.name == b.name {
                    self.err("topology::same-cluster", f, flow.span(), format!("cross-cluster flow from cluster `{}` to itself; use a `[[flows]]` entry in segplan.toml", a.name));
                    continue;
                }
                for na in a.cidrs() {
                    for nb in b.cidrs() {
                        if overlaps(&na, &nb) {
                            self.err(
                                "topology::overlapping-cidrs",
                                f,
                                flow.span(),
                                format!("clusters `{}` ({na}) and `{}` ({nb}) have overlapping CIDRs, so ipBlock rules between them cannot tell them apart", a.name, b.name),
                            )
                            .hint = Some(format!("give the clusters disjoint address ranges ({} and {})", a.origin, b.origin));
                        }
                    }
                }
            }
        }
        Some(CrossClusterFlow {
            from,
            to,
            ports,
            reason: r.reason.as_ref().map(|s| s.get_ref().clone()),
            declared_in: env.name.clone(),
            origin: self.origin(f, flow),
        })
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
