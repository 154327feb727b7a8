//! Argo CD and Flux objects that point every cluster of the topology at its folder, written under
//! `clusters/<mgmt>/gitops/` so the repository is ready to sync.
//!
//! ```text
//! gitops/argocd/applicationset.yaml       one ApplicationSet, a list generator with every cluster
//! gitops/argocd/kustomization.yaml
//! gitops/flux/gitrepository.yaml          the GitOps repository as a Flux source
//! gitops/flux/kustomization-<cluster>.yaml one Flux Kustomization per cluster
//! gitops/flux/kustomization.yaml
//! ```
//!
//! Apply one of the two folders on the management cluster (`kubectl apply -k .../gitops/argocd`).
//! Argo CD clusters must be registered under their segplan cluster name; Flux reads each remote
//! cluster's kubeconfig from the secret `<cluster>-kubeconfig` in `flux-system`. The management
//! cluster itself is the Argo CD `in-cluster` destination and needs no kubeconfig with Flux.
//!
//! Pure and deterministic; the YAML is written by hand with every string double-quoted.

use std::collections::BTreeMap;

use super::layout::{CLUSTERS_DIR, quote};
use crate::model::Model;

/// Namespace of the Argo CD objects.
pub const ARGOCD_NAMESPACE: &str = "argocd";
/// Namespace of the Flux objects.
pub const FLUX_NAMESPACE: &str = "flux-system";

/// The files of `gitops/` (relative path -> contents) for the management cluster `host`.
pub fn files(model: &Model, host: &str, repo_url: &str, branch: &str) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let clusters: Vec<(&str, &str)> = model
        .environments
        .values()
        .flat_map(|e| {
            e.clusters
                .values()
                .map(move |c| (e.name.as_str(), c.name.as_str()))
        })
        .collect();
    let name = format!("segplan-{}", model.project);

    let mut appset = format!(
        "apiVersion: argoproj.io/v1alpha1\n\
         kind: ApplicationSet\n\
         metadata:\n  name: {}\n  namespace: {ARGOCD_NAMESPACE}\n  labels:\n    app.kubernetes.io/managed-by: segplan\n\
         spec:\n  goTemplate: true\n  goTemplateOptions: [\"missingkey=error\"]\n  generators:\n  - list:\n      elements:\n",
        quote(&name)
    );
    for (env, cluster) in &clusters {
        let dest = if *cluster == host {
            "in-cluster"
        } else {
            cluster
        };
        appset.push_str(&format!(
            "      - cluster: {}\n        environment: {}\n        destination: {}\n",
            quote(cluster),
            quote(env),
            quote(dest)
        ));
    }
    appset.push_str(&format!(
        "  template:\n    metadata:\n      name: \"segplan-{{{{.cluster}}}}\"\n      labels:\n        \
         app.kubernetes.io/managed-by: segplan\n        segplan.io/environment: \"{{{{.environment}}}}\"\n    \
         spec:\n      project: default\n      source:\n        repoURL: {}\n        targetRevision: {}\n        \
         path: \"{CLUSTERS_DIR}/{{{{.cluster}}}}\"\n      destination:\n        name: \"{{{{.destination}}}}\"\n      \
         syncPolicy:\n        automated:\n          prune: true\n          selfHeal: true\n",
        quote(repo_url),
        quote(branch)
    ));
    files.insert("argocd/applicationset.yaml".to_string(), appset);
    files.insert(
        "argocd/kustomization.yaml".to_string(),
        kustomization(&["applicationset.yaml".to_string()]),
    );

    files.insert(
        "flux/gitrepository.yaml".to_string(),
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\n\
             kind: GitRepository\n\
             metadata:\n  name: {}\n  namespace: {FLUX_NAMESPACE}\n  labels:\n    app.kubernetes.io/managed-by: segplan\n\
             spec:\n  interval: 1m\n  url: {}\n  ref:\n    branch: {}\n",
            quote(&name),
            quote(repo_url),
            quote(branch)
        ),
    );
    let mut resources = vec!["gitrepository.yaml".to_string()];
    for (env, cluster) in &clusters {
        let mut k = format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\n\
             kind: Kustomization\n\
             metadata:\n  name: {}\n  namespace: {FLUX_NAMESPACE}\n  labels:\n    app.kubernetes.io/managed-by: segplan\n    segplan.io/environment: {}\n\
             spec:\n  interval: 10m\n  path: {}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: {}\n",
            quote(&format!("segplan-{cluster}")),
            quote(env),
            quote(&format!("./{CLUSTERS_DIR}/{cluster}")),
            quote(&name)
        );
        if *cluster != host {
            k.push_str(&format!(
                "  kubeConfig:\n    secretRef:\n      name: {}\n",
                quote(&format!("{cluster}-kubeconfig"))
            ));
        }
        let file = format!("kustomization-{cluster}.yaml");
        files.insert(format!("flux/{file}"), k);
        resources.push(file);
    }
    files.insert(
        "flux/kustomization.yaml".to_string(),
        kustomization(&resources),
    );
    files
}

fn kustomization(resources: &[String]) -> String {
    let mut k = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for r in resources {
        k.push_str(&format!("- {}\n", quote(r)));
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Model {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
        crate::model::load(&dir).expect("example is valid").0
    }

    #[test]
    fn every_cluster_is_pointed_at_its_folder() {
        let model = example();
        let files = files(
            &model,
            "mgmt-eu-1",
            "https://git.example/acme/gitops.git",
            "main",
        );
        let appset = &files["argocd/applicationset.yaml"];
        for c in ["mgmt-eu-1", "prod-eu-1", "prod-us-1", "staging-eu-1"] {
            assert!(appset.contains(&format!("cluster: \"{c}\"")), "{c} missing");
            assert!(files.contains_key(&format!("flux/kustomization-{c}.yaml")));
        }
        assert!(appset.contains("destination: \"in-cluster\""));
        let flux_mgmt = &files["flux/kustomization-mgmt-eu-1.yaml"];
        assert!(!flux_mgmt.contains("kubeConfig"));
        assert!(files["flux/kustomization-prod-eu-1.yaml"].contains("\"prod-eu-1-kubeconfig\""));
        // Every file is valid YAML with the kind it claims.
        for (path, text) in &files {
            let v: serde_json::Value =
                serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(v["kind"].is_string(), "{path}");
        }
        let v: serde_json::Value = serde_saphyr::from_str(appset).unwrap();
        assert_eq!(
            v["spec"]["template"]["spec"]["source"]["path"],
            "clusters/{{.cluster}}"
        );
        assert_eq!(
            v["spec"]["generators"][0]["list"]["elements"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
        insta::assert_snapshot!("applicationset", appset);
    }
}
