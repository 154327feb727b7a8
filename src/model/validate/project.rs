//! The project file: `[project]`, zones, flows, profiles and exemptions; then the whole model.

use super::*;

impl Cx {
    pub(super) fn model(&mut self, t: &Topology) -> Model {
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
                let parsed = self.labels(pf, &t.project_keys, labels.get_ref());
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
        // An item with an invalid name is reported and still kept, so references to it do not
        // cascade into "unknown" errors; the model is never returned while errors exist.
        for (name, z) in &keyed(&t.project_keys, &p.zones) {
            self.name(pf, name, "zone");
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
                    if !zones.is_empty() {
                        self.unknown("topology::unknown-zone", pf, end, "zone", &zone_names);
                    }
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
        for (name, prof) in &keyed(&t.project_keys, &p.profiles) {
            self.name(pf, name, "profile");
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
                self.err("topology::weak-justification", pf, er.justification.span(), "an exemption needs a written justification (at least a sentence)")
                    .hint = Some("say why the rule does not apply here and until when; the compliance report prints it".into());
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

        self.exemption_refs(pf, &p.exemptions, &environments);

        let cross_cluster_flows = raw_cross
            .into_iter()
            .filter_map(|(env, f)| self.cross_flow(env, f, &environments, &zones))
            .collect();

        // Self-flows already implied by same-namespace traffic (undecidable while an
        // environment is missing).
        for f in flows.iter().filter(|_| self.failed.is_empty()) {
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

    /// An exemption's `environment` and `namespace` must name things the topology defines.
    fn exemption_refs(
        &mut self,
        pf: &Arc<SourceFile>,
        exemptions: &[S<raw::Exemption>],
        environments: &BTreeMap<String, Environment>,
    ) {
        let env_names: Vec<&str> = environments.keys().map(String::as_str).collect();
        for e in exemptions {
            let er = e.get_ref();
            // A namespace may live in an environment whose file did not parse.
            let partial = !self.failed.is_empty();
            let scope: Vec<&Environment> = match &er.environment {
                Some(name) if self.failed.contains(name.get_ref()) => continue,
                Some(name) => match environments.get(name.get_ref()) {
                    Some(env) => vec![env],
                    None => {
                        self.unknown(
                            "topology::unknown-environment",
                            pf,
                            name,
                            "environment",
                            &env_names,
                        );
                        environments.values().collect()
                    }
                },
                None => environments.values().collect(),
            };
            if let Some(ns) = &er.namespace
                && (!partial
                    || er
                        .environment
                        .as_ref()
                        .is_some_and(|n| environments.contains_key(n.get_ref())))
                && !scope
                    .iter()
                    .any(|env| env.namespaces.contains_key(ns.get_ref()))
            {
                let known: BTreeSet<&str> = scope
                    .iter()
                    .flat_map(|env| env.namespaces.keys().map(String::as_str))
                    .collect();
                let known: Vec<&str> = known.into_iter().collect();
                self.unknown("topology::unknown-namespace", pf, ns, "namespace", &known);
            }
        }
    }
}
