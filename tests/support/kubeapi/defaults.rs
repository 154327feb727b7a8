//! What kube-apiserver does to an object between decoding and storage: Go's
//! JSON round trip (nulls and empty `omitempty` lists/maps disappear), the
//! registry strategies (status is reset on main-resource writes; Namespace
//! finalizers and phase) and the defaulting functions of each kind
//! (`SetDefaults_*` in k8s.io/kubernetes/pkg/apis/*/v1).

use serde_json::{Map, Value, json};

use super::resources::ResourceDef;

/// Go map fields (`omitempty`) that vanish when empty. Empty struct pointers
/// such as `namespaceSelector: {}` are kept.
const EMPTY_MAPS_DROPPED: &[&str] = &["labels", "annotations", "matchLabels", "nodeSelector"];

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Drops empty lists (every optional list of the built-in kinds is `omitempty`)
/// and empty Go maps.
fn drop_empty(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.values_mut().for_each(drop_empty);
            m.retain(|k, c| match c {
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !(o.is_empty() && EMPTY_MAPS_DROPPED.contains(&k.as_str())),
                _ => true,
            });
        }
        Value::Array(a) => a.iter_mut().for_each(drop_empty),
        _ => {}
    }
}

fn drop_empty_metadata(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|k, c| match c {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !(o.is_empty() && (k == "labels" || k == "annotations")),
            _ => true,
        });
    }
}

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    v[key].as_object_mut().unwrap()
}

fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if !m.contains_key(key) {
        m.insert(key.to_string(), value);
    }
}

/// Prepares an object for storage: `old` is the stored object on update, `None` on create.
pub fn prepare(res: &ResourceDef, obj: &mut Value, old: Option<&Value>) {
    drop_nulls(obj);
    if res.crd {
        drop_empty_metadata(obj);
    } else {
        drop_empty(obj);
    }
    // Main-resource writes never change status.
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
        if let Some(status) = old.and_then(|o| o.get("status")) {
            m.insert("status".into(), status.clone());
        }
    }
    match res.kind {
        "Namespace" => namespace(obj, old),
        "NetworkPolicy" => network_policy(obj),
        "ValidatingAdmissionPolicy" => {
            let spec = obj_mut(obj, "spec");
            set_default(spec, "failurePolicy", json!("Fail"));
            if let Some(mc) = spec.get_mut("matchConstraints") {
                match_resources(mc);
            }
        }
        "ValidatingAdmissionPolicyBinding" => {
            if let Some(mr) = obj.pointer_mut("/spec/matchResources") {
                match_resources(mr);
            }
        }
        "Pod" => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec(spec);
            }
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" => {
            workload(res.kind, obj)
        }
        "CronJob" => {
            let spec = obj_mut(obj, "spec");
            set_default(spec, "concurrencyPolicy", json!("Allow"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "successfulJobsHistoryLimit", json!(3));
            set_default(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(ps) = obj.pointer_mut("/spec/jobTemplate/spec/template/spec") {
                pod_spec(ps);
            }
        }
        _ => {}
    }
}

fn namespace(obj: &mut Value, old: Option<&Value>) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let meta = obj_mut(obj, "metadata");
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    labels["kubernetes.io/metadata.name"] = json!(name);
    match old {
        // PrepareForUpdate: finalizers only change through /finalize, status through /status.
        Some(old) => {
            let spec = obj_mut(obj, "spec");
            spec.remove("finalizers");
            if let Some(f) = old.pointer("/spec/finalizers") {
                spec.insert("finalizers".into(), f.clone());
            }
            if spec.is_empty() {
                obj.as_object_mut().unwrap().remove("spec");
            }
        }
        None => {
            let spec = obj_mut(obj, "spec");
            let finalizers = spec.entry("finalizers").or_insert_with(|| json!([]));
            if !finalizers
                .as_array()
                .is_some_and(|a| a.contains(&json!("kubernetes")))
            {
                finalizers.as_array_mut().unwrap().push(json!("kubernetes"));
            }
            obj["status"] = json!({"phase": "Active"});
        }
    }
}

fn network_policy(obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    set_default(spec, "podSelector", json!({}));
    if !spec.contains_key("policyTypes") {
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
    for dir in ["ingress", "egress"] {
        for rule in spec
            .get_mut(dir)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for port in rule
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(p) = port.as_object_mut() {
                    set_default(p, "protocol", json!("TCP"));
                }
            }
        }
    }
}

/// `SetDefaults_MatchResources` and `SetDefaults_Rule` (scope `*`).
fn match_resources(mr: &mut Value) {
    let Some(m) = mr.as_object_mut() else { return };
    set_default(m, "matchPolicy", json!("Equivalent"));
    set_default(m, "namespaceSelector", json!({}));
    set_default(m, "objectSelector", json!({}));
    for key in ["resourceRules", "excludeResourceRules"] {
        for rule in m
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(r) = rule.as_object_mut() {
                set_default(r, "scope", json!("*"));
            }
        }
    }
}

fn workload(kind: &str, obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    match kind {
        "Deployment" => {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
        }
        "ReplicaSet" => set_default(spec, "replicas", json!(1)),
        "StatefulSet" => {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
        }
        "DaemonSet" => {
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
        }
        "Job" => {
            set_default(spec, "parallelism", json!(1));
            set_default(spec, "completions", json!(1));
            set_default(spec, "backoffLimit", json!(6));
            set_default(spec, "completionMode", json!("NonIndexed"));
            set_default(spec, "suspend", json!(false));
        }
        _ => {}
    }
    if let Some(ps) = obj.pointer_mut("/spec/template/spec") {
        pod_spec(ps);
    }
}

/// The common PodSpec defaults (`SetDefaults_PodSpec`, `SetDefaults_Container`).
fn pod_spec(spec: &mut Value) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    set_default(s, "restartPolicy", json!("Always"));
    set_default(s, "terminationGracePeriodSeconds", json!(30));
    set_default(s, "dnsPolicy", json!("ClusterFirst"));
    set_default(s, "securityContext", json!({}));
    set_default(s, "schedulerName", json!("default-scheduler"));
    for key in ["containers", "initContainers"] {
        for c in s
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(c) = c.as_object_mut() else { continue };
            set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
            set_default(c, "terminationMessagePolicy", json!("File"));
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let last = image.rsplit('/').next().unwrap_or_default();
            let latest = !last.contains(':') || last.ends_with(":latest");
            let policy = if latest && !image.contains('@') {
                "Always"
            } else {
                "IfNotPresent"
            };
            set_default(c, "imagePullPolicy", json!(policy));
            for p in c
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(p) = p.as_object_mut() {
                    set_default(p, "protocol", json!("TCP"));
                }
            }
        }
    }
}
