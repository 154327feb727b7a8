//! `[[mesh_rules]]`: Istio authorization rules, referencing namespaces and service accounts.

use super::*;

impl Cx {
    pub(super) fn mesh_rules(&mut self, env: &EnvSource, e: &Environment) -> Vec<MeshRule> {
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
            let workload = self.labels(f, &env.keys, &r.workload);
            if r.from.is_empty() {
                self.err(
                    "topology::empty-from",
                    f,
                    rule.span(),
                    "a mesh rule needs at least one `from` identity (namespace/serviceaccount)",
                )
                .hint = Some("from = [\"checkout/checkout-service\"]".into());
            }
            let mut from = Vec::new();
            for p in &r.from {
                let Some((pns, sa)) = p
                    .get_ref()
                    .split_once('/')
                    .filter(|(ns, sa)| !ns.is_empty() && !sa.is_empty())
                else {
                    let hint = if p.get_ref().contains('/') {
                        "both parts are needed, e.g. `checkout/checkout-service`".to_string()
                    } else {
                        format!(
                            "name the service account too: `{}/<serviceaccount>`",
                            p.get_ref()
                        )
                    };
                    self.err(
                        "topology::invalid-principal",
                        f,
                        p.span(),
                        format!("`{}` is not `namespace/serviceaccount`", p.get_ref()),
                    )
                    .hint = Some(hint);
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
                    )
                    .hint = (!s.starts_with('/') && !s.contains(char::is_whitespace))
                        .then(|| format!("write \"/{s}\""));
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
}
