//! Injected faults (error statuses, delays, dropped connections, "fail the Nth
//! write") and the record of every request the server received.

use std::time::Duration;

use serde_json::Value;

/// What a fault does to a request it hits.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP status and a matching `metav1.Status` body.
    Status(u16),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Close the connection without any response.
    Drop,
}

/// A fault rule. By default it hits every request, forever; narrow it with the builder methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// What happens to a request it hits.
    pub action: FaultAction,
    /// Only requests with this HTTP method (`GET`, `PATCH`, ...).
    pub method: Option<String>,
    /// Only requests whose path starts with this.
    pub path_prefix: Option<String>,
    /// Only write requests (POST, PUT, PATCH, DELETE).
    pub writes_only: bool,
    /// Let this many matching requests through before hitting.
    pub skip: usize,
    /// Hit this many requests, then stop (`None`: forever).
    pub times: Option<usize>,
}

impl Fault {
    fn new(action: FaultAction) -> Self {
        Fault {
            action,
            method: None,
            path_prefix: None,
            writes_only: false,
            skip: 0,
            times: None,
        }
    }

    /// Answer with `code` (500, 503, 504, 429, ...). Note that kube-rs retries 429/503/504 by default.
    pub fn status(code: u16) -> Self {
        Fault::new(FaultAction::Status(code))
    }

    /// Delay responses.
    pub fn delay(d: Duration) -> Self {
        Fault::new(FaultAction::Delay(d))
    }

    /// Close the connection without answering.
    pub fn drop_connection() -> Self {
        Fault::new(FaultAction::Drop)
    }

    /// Answer the `n`th write request (1-based, counted from injection) with a 500, once.
    pub fn fail_nth_write(n: usize) -> Self {
        Fault::status(500)
            .writes_only()
            .after(n.saturating_sub(1))
            .times(1)
    }

    /// Hit only `n` requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    /// Let `n` matching requests through first.
    pub fn after(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }

    /// Only requests with this method.
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_ascii_uppercase());
        self
    }

    /// Only requests whose path starts with `p`.
    pub fn path_prefix(mut self, p: &str) -> Self {
        self.path_prefix = Some(p.to_string());
        self
    }

    /// Only write requests.
    pub fn writes_only(mut self) -> Self {
        self.writes_only = true;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
            && (!self.writes_only || is_write_method(method))
    }
}

/// Whether a method writes.
pub fn is_write_method(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// Decides what the active faults do to a request, consuming their counters.
/// Returns the total delay and, if any, the terminal action (status or drop).
pub fn decide(faults: &mut [Fault], method: &str, path: &str) -> (Duration, Option<FaultAction>) {
    let mut delay = Duration::ZERO;
    for f in faults.iter_mut() {
        if f.times == Some(0) || !f.matches(method, path) {
            continue;
        }
        if f.skip > 0 {
            f.skip -= 1;
            continue;
        }
        if let Some(t) = f.times.as_mut() {
            *t -= 1;
        }
        match &f.action {
            FaultAction::Delay(d) => delay += *d,
            other => return (delay, Some(other.clone())),
        }
    }
    (delay, None)
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// `fieldManager` query parameter.
    pub field_manager: Option<String>,
    /// `dryRun=All` was set.
    pub dry_run: bool,
    /// `force=true` was set.
    pub force: bool,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// Authenticated user name (`None`: no or bad token).
    pub user: Option<String>,
    /// Response status (`None`: the connection was dropped or the response is pending).
    pub status: Option<u16>,
    /// Request body as text.
    pub body: String,
}

impl RecordedRequest {
    /// POST, PUT, PATCH or DELETE.
    pub fn is_write(&self) -> bool {
        is_write_method(&self.method)
    }

    /// A decoded query parameter.
    pub fn query_param(&self, key: &str) -> Option<String> {
        super::handlers::parse_query(&self.query).remove(key)
    }

    /// The body parsed as JSON (or YAML for apply patches), if it parses.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_str(&self.body)
            .ok()
            .or_else(|| serde_saphyr::from_str(&self.body).ok())
    }
}
