//! One environment file: `[environment]`, clusters, node pools and namespaces.

use super::*;

impl Cx {
    pub(super) fn environment(
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

        if r.clusters.is_empty() && r.namespaces.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "topology::empty-environment",
                    format!(
                        "environment `{}` has no clusters and no namespaces",
                        env.name
                    ),
                )
                .at(origin.location.clone())
                .hint(
                    "add `[clusters.<name>]` and `[namespaces.<name>]` tables, or delete the file",
                ),
            );
        } else if r.clusters.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "topology::empty-environment",
                    format!("environment `{}` has no clusters", env.name),
                )
                .at(origin.location.clone())
                .hint("add a `[clusters.<name>]` table, or delete the file"),
            );
        } else if r.namespaces.is_empty() {
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
        for (name, c) in &keyed(&env.keys, &r.clusters) {
            self.name(f, name, "cluster");
            let loc = self.loc(f, name);
            if let Some((other, other_loc)) = cluster_owner.get(name.get_ref()) {
                let msg = format!(
                    "cluster `{}` is already in environment `{other}` ({other_loc})",
                    name.get_ref()
                );
                self.err("topology::cluster-in-two-environments", f, name.span(), msg)
                    .hint = Some("a cluster belongs to exactly one environment; rename one of them, or remove it from one file".into());
            } else {
                cluster_owner.insert(name.get_ref().clone(), (env.name.clone(), loc.clone()));
            }
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
                        cx.err("topology::invalid-cidr", f, v.span(), format!("invalid CIDR: {msg}"))
                            .hint = Some("a CIDR is a network address and a prefix length: `10.10.0.0/16`, `fd00:10::/64`".into());
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
            for (pname, pool) in &keyed(&env.keys, &cr.node_pools) {
                self.name(f, pname, "node pool");
                let pr = pool.get_ref();
                let labels = self.labels(f, &env.keys, &pr.labels);
                if labels.is_empty() {
                    self.err("topology::pool-without-labels", f, pname.span(), format!("node pool `{}` has no labels, so pods cannot be pinned to it", pname.get_ref()))
                        .hint = Some("add the labels its nodes carry, e.g. `labels = { \"security-zone\" = \"pci\" }`".into());
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
        for (name, n) in &keyed(&env.keys, &r.namespaces) {
            self.name(f, name, "namespace");
            if RESERVED_NAMESPACES.contains(&name.get_ref().as_str()) {
                self.err("topology::reserved-namespace", f, name.span(), format!("namespace `{}` is reserved for the cluster itself", name.get_ref()))
                    .hint = Some("default-deny there would break the cluster; segplan manages application namespaces only".into());
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
                        "add `zone = \"...\"`: every namespace belongs to exactly one zone ({})",
                        zone_names.join(", ")
                    ));
                    // Keep the namespace so references to it do not cascade into more errors.
                    String::new()
                }
                Some(z) if !zones.contains_key(z.get_ref()) => {
                    // With no zones at all, `no-zones` already says it all.
                    if !zones.is_empty() {
                        self.unknown("topology::unknown-zone", f, z, "zone", &zone_names);
                    }
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
                        )
                        .hint = Some(format!(
                            "name at least one cluster ({}), or remove `clusters` to place it on all of them",
                            cluster_names.join(", ")
                        ));
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
            let labels = self.labels(f, &env.keys, &nr.labels);
            for (k, v) in &keyed(&env.keys, &nr.labels) {
                if k.get_ref().starts_with("segplan.io/")
                    || k.get_ref() == "app.kubernetes.io/managed-by"
                    || k.get_ref().starts_with("pod-security.kubernetes.io/")
                {
                    self.err("topology::reserved-label", f, k.span(), format!("label `{}` is set by segplan and cannot be overridden", k.get_ref()))
                        .hint = Some("segplan sets `segplan.io/*`, `app.kubernetes.io/managed-by` and `pod-security.kubernetes.io/*` itself; use a key of your own".into());
                }
                let _ = v;
            }
            let mut annotations = BTreeMap::new();
            for (k, v) in &keyed(&env.keys, &nr.annotations) {
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
}
