//! `metav1.Status` errors, worded like kube-apiserver's `k8s.io/apimachinery/pkg/api/errors`.

use serde_json::{Map, Value, json};

use super::resources::ResourceDef;

/// One `details.causes` entry of a Status.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// Machine-readable cause (`FieldValueInvalid`, `FieldValueRequired`, `FieldManagerConflict`, ...).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// Field path, e.g. `spec.ingress[0].ports[0].port`.
    pub field: String,
}

/// An API error that becomes a `metav1.Status` response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Status `reason`.
    pub reason: &'static str,
    /// Status `message`.
    pub message: String,
    /// Status `details`, when the real server sets them.
    pub details: Option<Value>,
}

fn details(res: &ResourceDef, name: &str, kind: &str) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !res.group.is_empty() {
        d.insert("group".into(), json!(res.group));
    }
    d.insert("kind".into(), json!(kind));
    Value::Object(d)
}

fn causes_json(causes: &[Cause]) -> Value {
    Value::Array(
        causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect(),
    )
}

impl ApiError {
    fn new(
        code: u16,
        reason: &'static str,
        message: impl Into<String>,
        details: Option<Value>,
    ) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details,
        }
    }

    /// 404 `<resource> "<name>" not found`.
    pub fn not_found(res: &ResourceDef, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", res.qualified_resource()),
            Some(details(res, name, res.plural)),
        )
    }

    /// 404 for a path the server does not route (`the server could not find the requested resource`).
    pub fn resource_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({})),
        )
    }

    /// 409 `<resource> "<name>" already exists`.
    pub fn already_exists(res: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", res.qualified_resource()),
            Some(details(res, name, res.plural)),
        )
    }

    /// 409 optimistic-concurrency conflict on a stale resourceVersion.
    pub fn stale(res: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                res.qualified_resource()
            ),
            Some(details(res, name, res.plural)),
        )
    }

    /// 409 server-side apply conflict (`Apply failed with N conflict(s): ...`).
    pub fn apply_conflict(message: String, causes: &[Cause]) -> Self {
        Self::new(
            409,
            "Conflict",
            message,
            Some(json!({"causes": causes_json(causes)})),
        )
    }

    /// 422 `<Kind>.<group> "<name>" is invalid: ...`.
    pub fn invalid(res: &ResourceDef, name: &str, causes: &[Cause]) -> Self {
        Self::invalid_kind(&res.qualified_kind(), res.group, res.kind, name, causes)
    }

    /// 422 for a kind outside the resource table (e.g. `PatchOptions.meta.k8s.io`).
    pub fn invalid_kind(
        qualified: &str,
        group: &str,
        kind: &str,
        name: &str,
        causes: &[Cause],
    ) -> Self {
        let parts: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let summary = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        let mut d = Map::new();
        if !name.is_empty() {
            d.insert("name".into(), json!(name));
        }
        if !group.is_empty() {
            d.insert("group".into(), json!(group));
        }
        d.insert("kind".into(), json!(kind));
        d.insert("causes".into(), causes_json(causes));
        Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {summary}"),
            Some(Value::Object(d)),
        )
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message, None)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized", None)
    }

    /// 403 Forbidden, worded like the RBAC authorizer.
    pub fn forbidden(
        res: &ResourceDef,
        name: &str,
        user: &str,
        verb: &str,
        namespace: Option<&str>,
    ) -> Self {
        let subject = if name.is_empty() {
            res.qualified_resource()
        } else {
            format!("{} \"{name}\"", res.qualified_resource())
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        Self::new(
            403,
            "Forbidden",
            format!(
                "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
                res.plural, res.group
            ),
            Some(details(res, name, res.plural)),
        )
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        )
    }

    /// 410 Expired continue token.
    pub fn expired() -> Self {
        Self::new(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            None,
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - the segplan test API server accepts application/apply-patch+yaml and application/merge-patch+json (got {content_type:?})"
            ),
            None,
        )
    }

    /// 500 InternalError.
    pub fn internal(message: &str) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
            Some(json!({"causes": [{"message": message}]})),
        )
    }

    /// An injected 5xx (or any code) with the reason kube-apiserver uses for it.
    pub fn injected(code: u16) -> Self {
        match code {
            500 => Self::internal("injected fault"),
            503 => Self::new(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request (injected fault)",
                None,
            ),
            504 => Self::new(
                504,
                "Timeout",
                "the server was unable to return a response in the time allotted (injected fault)",
                None,
            ),
            429 => Self::new(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later (injected fault)",
                None,
            ),
            _ => Self::new(
                code,
                "InternalError",
                format!("injected fault (HTTP {code})"),
                None,
            ),
        }
    }

    /// The `metav1.Status` JSON body.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v["code"] = json!(self.code);
        v
    }
}
