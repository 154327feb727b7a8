//! `[[cross_cluster_flows]]`: flows between clusters, checked for CIDRs that ipBlock rules need.

use super::*;

impl Cx {
    pub(super) fn cross_flow(
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
            // The zone first: it is known even when the environment is not.
            let zone_ok = zones.contains_key(er.zone.get_ref());
            if !zone_ok && !zones.is_empty() {
                cx.unknown("topology::unknown-zone", f, &er.zone, "zone", &zone_names);
            }
            let Some(e) = environments.get(&env_name) else {
                if let Some(en) = &er.environment
                    && !cx.failed.contains(en.get_ref())
                {
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
            if !zone_ok {
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
                    .hint = Some(format!(
                        "add `pod_cidr` to `[clusters.{}]`: ipBlock rules are built from the other cluster's pod_cidr and node_cidr",
                        c.name
                    ));
                }
            }
        }
        // A cluster paired with itself is skipped (traffic inside a cluster is what `[[flows]]`
        // are for); a flow whose every pair is such a pair connects nothing.
        let distinct = from_clusters
            .iter()
            .any(|a| to_clusters.iter().any(|b| b.name != a.name));
        if !distinct && !from_clusters.is_empty() && !to_clusters.is_empty() {
            let list = from_clusters
                .iter()
                .map(|c| format!("`{}`", c.name))
                .collect::<Vec<_>>()
                .join(", ");
            self.err(
                "topology::same-cluster",
                f,
                flow.span(),
                format!("cross-cluster flow connects cluster {list} only to itself"),
            )
            .hint = Some("name another cluster or environment on one of its ends; traffic inside a cluster is a `[[flows]]` entry in segplan.toml".into());
        }
        for a in &from_clusters {
            for b in &to_clusters {
                if a.name == b.name {
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
