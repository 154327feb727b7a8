//! Label selectors (`labelSelector=`) with the grammar of
//! k8s.io/apimachinery/pkg/labels: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
//! `k notin (a,b)`, `k`, `!k`, `k>n`, `k<n`, comma-separated (AND); and the
//! generic field selectors `metadata.name` / `metadata.namespace`.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value` (also matches objects without the key).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also matches objects without the key).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
    /// `key>n`.
    Gt(String, i64),
    /// `key<n`.
    Lt(String, i64),
}

/// A parsed label selector (the AND of its requirements).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector(pub Vec<Requirement>);

fn split_top_level(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    parts.push(cur);
    parts
}

fn valid_key(k: &str) -> bool {
    let name = k.rsplit_once('/').map_or(k, |(_, n)| n);
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

fn valid_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && v.as_bytes()[0].is_ascii_alphanumeric()
            && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric())
}

fn key(k: &str) -> Result<String, String> {
    let k = k.trim();
    if valid_key(k) {
        Ok(k.to_string())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label key \"{k}\""
        ))
    }
}

fn value(v: &str) -> Result<String, String> {
    let v = v.trim();
    if valid_value(v) {
        Ok(v.to_string())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label value: \"{v}\""
        ))
    }
}

fn set_values(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("unable to parse requirement: found '{rest}', expected: '('"))?;
    inner.split(',').map(value).collect()
}

/// Finds ` in ` / ` notin ` as a whole word after a key.
fn split_set_op<'a>(part: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let idx = part
        .find(&format!(" {op} "))
        .or_else(|| part.find(&format!(" {op}(")))?;
    Some((&part[..idx], &part[idx + op.len() + 1..]))
}

impl Selector {
    /// Parses a `labelSelector` query value; errors are worded for a 400 BadRequest.
    pub fn parse(s: &str) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(Selector(reqs));
        }
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                return Err("unable to parse requirement: found '', expected: identifier".into());
            }
            let req = if let Some(k) = part.strip_prefix('!') {
                Requirement::DoesNotExist(key(k)?)
            } else if let Some((k, rest)) = split_set_op(part, "notin") {
                Requirement::NotIn(key(k)?, set_values(rest)?)
            } else if let Some((k, rest)) = split_set_op(part, "in") {
                Requirement::In(key(k)?, set_values(rest)?)
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(key(k)?, value(v)?)
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement::Equals(key(k)?, value(v)?)
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement::Equals(key(k)?, value(v)?)
            } else if let Some((k, v)) = part.split_once('>') {
                let n = v.trim().parse().map_err(|_| format!("unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer (got \"{}\")", v.trim()))?;
                Requirement::Gt(key(k)?, n)
            } else if let Some((k, v)) = part.split_once('<') {
                let n = v.trim().parse().map_err(|_| format!("unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer (got \"{}\")", v.trim()))?;
                Requirement::Lt(key(k)?, n)
            } else {
                Requirement::Exists(key(part)?)
            };
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
            Requirement::Gt(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Requirement::Lt(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }
}

/// A parsed field selector: `(field, value, equal)` triples over `metadata.name` / `metadata.namespace`.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    /// Parses a `fieldSelector` query value.
    pub fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value, eq) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, true)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" {
                return Err(format!(
                    "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                ));
            }
            out.push((field.to_string(), value.trim().to_string(), eq));
        }
        Ok(FieldSelector(out))
    }

    /// Whether an object satisfies the selector.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, value, eq)| {
            let ptr = if field == "metadata.name" {
                "/metadata/name"
            } else {
                "/metadata/namespace"
            };
            let actual = obj.pointer(ptr).and_then(Value::as_str).unwrap_or_default();
            (actual == value) == *eq
        })
    }
}
