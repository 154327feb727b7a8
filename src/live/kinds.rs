//! The kinds segplan renders and how the live layer addresses them: group, version, plural,
//! scope, and whether they need a service mesh. Also [`ObjectKey`], the identity of one object.

use std::fmt;

use serde_json::Value;

/// Label every segplan object carries: `app.kubernetes.io/managed-by: segplan`.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Label naming the environment that rendered an object.
pub const LABEL_ENVIRONMENT: &str = "segplan.io/environment";
/// Label naming the cluster an object was rendered for.
pub const LABEL_CLUSTER: &str = "segplan.io/cluster";
/// The field manager segplan applies with.
pub const FIELD_MANAGER: &str = "segplan";

/// The API group/version of Istio's security CRDs.
pub const ISTIO_SECURITY: &str = "security.istio.io/v1";

/// One kind segplan renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindSpec {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lowercase plural resource name used in URLs.
    pub plural: &'static str,
    pub namespaced: bool,
    /// Served by a CRD that a service mesh installs (may be missing).
    pub crd: bool,
}

impl KindSpec {
    /// `apiVersion` as written in manifests: `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether segplan reports objects of this kind it does not own (security-relevant).
    pub fn reports_unmanaged(&self) -> bool {
        matches!(self.kind, "NetworkPolicy" | "AuthorizationPolicy")
    }
}

/// Core Namespace.
pub const NAMESPACE: KindSpec = KindSpec {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    namespaced: false,
    crd: false,
};
/// networking.k8s.io/v1 NetworkPolicy.
pub const NETWORK_POLICY: KindSpec = KindSpec {
    group: "networking.k8s.io",
    version: "v1",
    kind: "NetworkPolicy",
    plural: "networkpolicies",
    namespaced: true,
    crd: false,
};
/// admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy.
pub const ADMISSION_POLICY: KindSpec = KindSpec {
    group: "admissionregistration.k8s.io",
    version: "v1",
    kind: "ValidatingAdmissionPolicy",
    plural: "validatingadmissionpolicies",
    namespaced: false,
    crd: false,
};
/// admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding.
pub const ADMISSION_BINDING: KindSpec = KindSpec {
    group: "admissionregistration.k8s.io",
    version: "v1",
    kind: "ValidatingAdmissionPolicyBinding",
    plural: "validatingadmissionpolicybindings",
    namespaced: false,
    crd: false,
};
/// security.istio.io/v1 AuthorizationPolicy.
pub const AUTHORIZATION_POLICY: KindSpec = KindSpec {
    group: "security.istio.io",
    version: "v1",
    kind: "AuthorizationPolicy",
    plural: "authorizationpolicies",
    namespaced: true,
    crd: true,
};
/// security.istio.io/v1 PeerAuthentication.
pub const PEER_AUTHENTICATION: KindSpec = KindSpec {
    group: "security.istio.io",
    version: "v1",
    kind: "PeerAuthentication",
    plural: "peerauthentications",
    namespaced: true,
    crd: true,
};

/// Every kind segplan renders, in apply phase order.
pub const KINDS: [KindSpec; 6] = [
    NAMESPACE,
    NETWORK_POLICY,
    ADMISSION_POLICY,
    ADMISSION_BINDING,
    AUTHORIZATION_POLICY,
    PEER_AUTHENTICATION,
];

/// The kind spec for an `apiVersion` and `kind`, if segplan manages it.
pub fn kind_spec(api_version: &str, kind: &str) -> Option<KindSpec> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.kind == kind && k.api_version() == api_version)
}

/// The identity of one object in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// Builds a key from a kind and an object's `metadata`.
    pub fn of(kind: &KindSpec, obj: &Value) -> Option<Self> {
        let meta = obj.get("metadata")?;
        let name = meta.get("name")?.as_str()?.to_string();
        let namespace = if kind.namespaced {
            meta.get("namespace")
                .and_then(Value::as_str)
                .map(str::to_string)
        } else {
            None
        };
        Some(Self {
            api_version: kind.api_version(),
            kind: kind.kind.to_string(),
            namespace,
            name,
        })
    }

    /// The kind spec of this key (always known for keys segplan builds).
    pub fn spec(&self) -> Option<KindSpec> {
        kind_spec(&self.api_version, &self.kind)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The label selector that finds the objects segplan owns in one environment and cluster.
pub fn ownership_selector(environment: &str, cluster: &str) -> String {
    format!(
        "{LABEL_MANAGED_BY}=segplan,{LABEL_ENVIRONMENT}={environment},{LABEL_CLUSTER}={cluster}"
    )
}

/// Whether an object's labels name segplan, this environment and this cluster.
pub fn has_ownership_labels(obj: &Value, environment: &str, cluster: &str) -> bool {
    let labels = obj.pointer("/metadata/labels");
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    get(LABEL_MANAGED_BY) == Some("segplan")
        && get(LABEL_ENVIRONMENT) == Some(environment)
        && get(LABEL_CLUSTER) == Some(cluster)
}

/// Whether `managedFields` lists segplan's field manager (any operation).
pub fn managed_by_segplan(obj: &Value) -> bool {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|m| {
            m.iter()
                .any(|e| e.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER))
        })
}

/// The object's `metadata.resourceVersion`.
pub fn resource_version(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_specs() {
        assert_eq!(NETWORK_POLICY.api_version(), "networking.k8s.io/v1");
        assert_eq!(NAMESPACE.api_version(), "v1");
        assert_eq!(kind_spec("v1", "Namespace"), Some(NAMESPACE));
        assert_eq!(
            kind_spec("networking.k8s.io/v1beta1", "NetworkPolicy"),
            None
        );
        let obj = json!({"metadata": {"name": "a", "namespace": "ns"}});
        let key = ObjectKey::of(&NETWORK_POLICY, &obj).unwrap();
        assert_eq!(key.to_string(), "NetworkPolicy ns/a");
        // cluster-scoped kinds drop a stray namespace
        let key = ObjectKey::of(&NAMESPACE, &obj).unwrap();
        assert_eq!(key.to_string(), "Namespace a");
    }

    #[test]
    fn ownership() {
        let obj = json!({"metadata": {"labels": {
            LABEL_MANAGED_BY: "segplan", LABEL_ENVIRONMENT: "prod", LABEL_CLUSTER: "c1"},
            "managedFields": [{"manager": "kubectl"}, {"manager": "segplan"}]}});
        assert!(has_ownership_labels(&obj, "prod", "c1"));
        assert!(!has_ownership_labels(&obj, "prod", "c2"));
        assert!(managed_by_segplan(&obj));
        let other = json!({"metadata": {"managedFields": [{"manager": "kubectl"}]}});
        assert!(!managed_by_segplan(&other));
        assert_eq!(
            ownership_selector("prod", "c1"),
            "app.kubernetes.io/managed-by=segplan,segplan.io/environment=prod,segplan.io/cluster=c1"
        );
    }
}
