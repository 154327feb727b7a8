//! A minimal version of kube-apiserver's validation for the served kinds:
//! object names, label keys/values, and the rules of NetworkPolicy,
//! ValidatingAdmissionPolicy(Binding) and the workload kinds that a
//! segmentation tool can get wrong. Failures are 422 `Invalid` with causes.

use std::net::IpAddr;

use serde_json::Value;

use super::resources::ResourceDef;
use super::status::Cause;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Whether `s` is an RFC 1123 DNS label.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` is an RFC 1123 DNS subdomain.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

struct Errors(Vec<Cause>);

impl Errors {
    fn invalid(&mut self, field: &str, value: &Value, detail: &str) {
        self.0.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value}: {detail}"),
            field: field.into(),
        });
    }
    fn required(&mut self, field: &str, detail: &str) {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        self.0.push(Cause {
            reason: "FieldValueRequired".into(),
            message,
            field: field.into(),
        });
    }
    fn not_supported(&mut self, field: &str, value: &Value, supported: &[&str]) {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        self.0.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
            field: field.into(),
        });
    }
    fn forbidden(&mut self, field: &str, detail: &str) {
        self.0.push(Cause {
            reason: "FieldValueForbidden".into(),
            message: format!("Forbidden: {detail}"),
            field: field.into(),
        });
    }
}

/// Validates an object about to be stored; an empty result means valid.
pub fn validate(res: &ResourceDef, obj: &Value) -> Vec<Cause> {
    let mut e = Errors(Vec::new());
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        e.required("metadata.name", "name or generateName is required");
    } else if res.kind == "Namespace" {
        if !is_dns_label(name) {
            e.invalid("metadata.name", &Value::from(name), LABEL_MSG);
        }
    } else if !is_dns_subdomain(name) {
        e.invalid("metadata.name", &Value::from(name), SUBDOMAIN_MSG);
    }
    if let Some(labels) = obj.pointer("/metadata/labels") {
        label_map(&mut e, "metadata.labels", labels);
    }
    match res.kind {
        "NetworkPolicy" => network_policy(&mut e, obj),
        "ValidatingAdmissionPolicy" => admission_policy(&mut e, obj),
        "ValidatingAdmissionPolicyBinding" => binding(&mut e, obj),
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            selector_and_template(&mut e, obj);
        }
        "Pod" => containers(&mut e, "spec", obj.get("spec")),
        _ => {}
    }
    e.0
}

fn label_map(e: &mut Errors, field: &str, labels: &Value) {
    let Some(m) = labels.as_object() else {
        e.invalid(field, labels, "must be a map of strings");
        return;
    };
    for (k, v) in m {
        let (prefix, key_name) = match k.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, k.as_str()),
        };
        let name_ok = !key_name.is_empty() && key_name.len() <= 63 && is_label_value(key_name);
        if !name_ok || prefix.is_some_and(|p| !is_dns_subdomain(p)) {
            e.invalid(field, &Value::from(k.as_str()), QUALIFIED_MSG);
        }
        match v.as_str() {
            Some(s) if is_label_value(s) => {}
            _ => e.invalid(field, v, LABEL_VALUE_MSG),
        }
    }
}

fn selector(e: &mut Errors, field: &str, sel: Option<&Value>) {
    let Some(sel) = sel else { return };
    if let Some(ml) = sel.get("matchLabels") {
        label_map(e, &format!("{field}.matchLabels"), ml);
    }
    for (i, expr) in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = format!("{field}.matchExpressions[{i}]");
        let op = expr.get("operator").cloned().unwrap_or(Value::Null);
        let values = expr
            .get("values")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        match op.as_str() {
            Some("In" | "NotIn") if values == 0 => e.required(
                &format!("{f}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            ),
            Some("Exists" | "DoesNotExist") if values > 0 => e.forbidden(
                &format!("{f}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            Some("In" | "NotIn" | "Exists" | "DoesNotExist") => {}
            _ => e.invalid(
                &format!("{f}.operator"),
                &op,
                "not a valid selector operator",
            ),
        }
    }
}

fn valid_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let (Ok(ip), Ok(bits)) = (ip.parse::<IpAddr>(), bits.parse::<u8>()) else {
        return false;
    };
    bits <= if ip.is_ipv4() { 32 } else { 128 }
}

fn network_policy(e: &mut Errors, obj: &Value) {
    let spec = obj.get("spec");
    selector(
        e,
        "spec.podSelector",
        spec.and_then(|s| s.get("podSelector")),
    );
    for (i, t) in spec
        .and_then(|s| s.get("policyTypes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !matches!(t.as_str(), Some("Ingress" | "Egress")) {
            e.not_supported(&format!("spec.policyTypes[{i}]"), t, &["Ingress", "Egress"]);
        }
    }
    for (dir, peers_key) in [("ingress", "from"), ("egress", "to")] {
        let rules = spec.and_then(|s| s.get(dir)).and_then(Value::as_array);
        for (i, rule) in rules.into_iter().flatten().enumerate() {
            let base = format!("spec.{dir}[{i}]");
            for (j, port) in rule
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                np_port(e, &format!("{base}.ports[{j}]"), port);
            }
            for (j, peer) in rule
                .get(peers_key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                np_peer(e, &format!("{base}.{peers_key}[{j}]"), peer);
            }
        }
    }
}

fn np_port(e: &mut Errors, f: &str, port: &Value) {
    if let Some(proto) = port.get("protocol")
        && !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP"))
    {
        e.not_supported(&format!("{f}.protocol"), proto, &["SCTP", "TCP", "UDP"]);
    }
    match port.get("port") {
        Some(Value::Number(n)) => {
            let p = n.as_i64().unwrap_or(-1);
            if !(1..=65535).contains(&p) {
                e.invalid(
                    &format!("{f}.port"),
                    &port["port"],
                    "must be between 1 and 65535, inclusive",
                );
            }
            if let Some(end) = port.get("endPort")
                && end.as_i64().is_none_or(|x| x < p || x > 65535)
            {
                e.invalid(
                    &format!("{f}.endPort"),
                    end,
                    "must be greater than or equal to `port`",
                );
            }
        }
        Some(Value::String(s)) => {
            let ok = !s.is_empty()
                && s.len() <= 15
                && s.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && s.bytes().any(|c| c.is_ascii_lowercase());
            if !ok {
                e.invalid(
                    &format!("{f}.port"),
                    &port["port"],
                    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                );
            }
            if port.get("endPort").is_some() {
                e.forbidden(
                    &format!("{f}.endPort"),
                    "may not be specified when `port` is non-numeric",
                );
            }
        }
        Some(other) => e.invalid(
            &format!("{f}.port"),
            other,
            "must be an integer or a string",
        ),
        None => {
            if port.get("endPort").is_some() {
                e.forbidden(
                    &format!("{f}.endPort"),
                    "may not be specified when `port` is not specified",
                );
            }
        }
    }
}

fn np_peer(e: &mut Errors, f: &str, peer: &Value) {
    let has = |k: &str| peer.get(k).is_some();
    let count = ["podSelector", "namespaceSelector", "ipBlock"]
        .iter()
        .filter(|k| has(k))
        .count();
    if count == 0 {
        e.required(f, "must specify a peer");
    } else if has("ipBlock") && count > 1 {
        e.forbidden(f, "may not specify both ipBlock and another peer");
    }
    selector(e, &format!("{f}.podSelector"), peer.get("podSelector"));
    selector(
        e,
        &format!("{f}.namespaceSelector"),
        peer.get("namespaceSelector"),
    );
    if let Some(block) = peer.get("ipBlock") {
        let cidr = block
            .get("cidr")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if cidr.is_empty() {
            e.required(&format!("{f}.ipBlock.cidr"), "");
        } else if !valid_cidr(cidr) {
            e.invalid(
                &format!("{f}.ipBlock.cidr"),
                &block["cidr"],
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            );
        }
        for (k, ex) in block
            .get("except")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if !ex.as_str().is_some_and(valid_cidr) {
                e.invalid(
                    &format!("{f}.ipBlock.except[{k}]"),
                    ex,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                );
            }
        }
    }
}

fn admission_policy(e: &mut Errors, obj: &Value) {
    let spec = obj.get("spec");
    let get = |k: &str| spec.and_then(|s| s.get(k));
    match get("matchConstraints") {
        None => e.required("spec.matchConstraints", ""),
        Some(mc) => {
            if mc
                .get("resourceRules")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                e.required("spec.matchConstraints.resourceRules", "");
            }
        }
    }
    let validations = get("validations").and_then(Value::as_array);
    let audits = get("auditAnnotations").and_then(Value::as_array);
    if validations.is_none_or(Vec::is_empty) && audits.is_none_or(Vec::is_empty) {
        e.required(
            "spec.validations",
            "validations or auditAnnotations must contain at least one item",
        );
    }
    for (i, v) in validations.into_iter().flatten().enumerate() {
        if v.get("expression")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            e.required(
                &format!("spec.validations[{i}].expression"),
                "expression is not specified",
            );
        }
    }
    if let Some(fp) = get("failurePolicy")
        && !matches!(fp.as_str(), Some("Fail" | "Ignore"))
    {
        e.not_supported("spec.failurePolicy", fp, &["Fail", "Ignore"]);
    }
}

fn binding(e: &mut Errors, obj: &Value) {
    let spec = obj.get("spec");
    if spec
        .and_then(|s| s.get("policyName"))
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        e.required("spec.policyName", "");
    }
    let actions = spec
        .and_then(|s| s.get("validationActions"))
        .and_then(Value::as_array);
    match actions {
        None => e.required("spec.validationActions", ""),
        Some(a) if a.is_empty() => e.required("spec.validationActions", ""),
        Some(a) => {
            for (i, act) in a.iter().enumerate() {
                if !matches!(act.as_str(), Some("Deny" | "Warn" | "Audit")) {
                    e.not_supported(
                        &format!("spec.validationActions[{i}]"),
                        act,
                        &["Audit", "Deny", "Warn"],
                    );
                }
            }
            if a.contains(&Value::from("Deny")) && a.contains(&Value::from("Warn")) {
                e.invalid("spec.validationActions", &Value::Array(a.clone()), "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)");
            }
        }
    }
    if let Some(pr) = spec.and_then(|s| s.get("paramRef"))
        && pr.get("parameterNotFoundAction").is_none()
    {
        e.required("spec.paramRef.parameterNotFoundAction", "");
    }
}

fn selector_and_template(e: &mut Errors, obj: &Value) {
    let spec = obj.get("spec");
    let sel = spec.and_then(|s| s.get("selector"));
    match sel {
        None => e.required("spec.selector", ""),
        Some(sel) => {
            selector(e, "spec.selector", Some(sel));
            let labels = spec.and_then(|s| s.pointer("/template/metadata/labels"));
            let wanted = sel.get("matchLabels").and_then(Value::as_object);
            let ok = wanted
                .into_iter()
                .flatten()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
            if !ok {
                e.invalid(
                    "spec.template.metadata.labels",
                    labels.unwrap_or(&Value::Null),
                    "`selector` does not match template `labels`",
                );
            }
        }
    }
    containers(
        e,
        "spec.template.spec",
        spec.and_then(|s| s.pointer("/template/spec")),
    );
}

fn containers(e: &mut Errors, base: &str, pod_spec: Option<&Value>) {
    let list = pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match list {
        None => e.required(&format!("{base}.containers"), ""),
        Some(l) if l.is_empty() => e.required(&format!("{base}.containers"), ""),
        Some(l) => {
            for (i, c) in l.iter().enumerate() {
                if c.get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    e.required(&format!("{base}.containers[{i}].name"), "");
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    e.required(&format!("{base}.containers[{i}].image"), "");
                }
            }
        }
    }
}
