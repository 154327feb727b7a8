//! HTTP routing: parses kube-apiserver URLs (`/api/v1/namespaces/{ns}/{res}/{name}`,
//! `/apis/{group}/{version}/...`), authenticates and authorizes, reads the
//! query options and body, calls the verbs and turns results and errors into
//! responses.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Shared;
use super::auth::{authenticate, authorize};
use super::ops::{self, FieldValidation, WriteOpts};
use super::resources::{self, RESOURCES, ResId};
use super::selectors::{FieldSelector, Selector};
use super::status::{ApiError, Cause};
use super::store::ListParams;

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 2;
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a query string into its parameters (last value wins).
pub fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn json_response(code: u16, body: &Value) -> Response {
    let mut resp = (
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        body.to_string(),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    resp
}

/// Turns an API error into its `metav1.Status` response.
pub fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

fn plain_404() -> Response {
    let mut resp = (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().unwrap(),
    );
    resp
}

/// A parsed resource URL.
struct Target {
    res: ResId,
    namespace: Option<String>,
    name: Option<String>,
}

enum Route {
    Version,
    CoreVersions,
    Groups,
    ResourceList(String, String),
    Resource(Target),
    Unrouted,
    UnknownResource,
}

fn route(path: &str, crds: bool) -> Route {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["api"] => return Route::CoreVersions,
        ["apis"] => return Route::Groups,
        ["api", v, rest @ ..] => ("", v, rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return Route::Unrouted,
    };
    if !resources::group_version_served(group, version, crds) {
        return Route::Unrouted;
    }
    let find = |plural: &str| resources::find(group, version, plural, crds);
    let target = match rest {
        [] => return Route::ResourceList(group.into(), version.into()),
        ["namespaces", ns, plural] if find(plural).is_some_and(|r| RESOURCES[r].namespaced) => {
            Target {
                res: find(plural).unwrap(),
                namespace: Some((*ns).into()),
                name: None,
            }
        }
        ["namespaces", ns, plural, name]
            if find(plural).is_some_and(|r| RESOURCES[r].namespaced) =>
        {
            Target {
                res: find(plural).unwrap(),
                namespace: Some((*ns).into()),
                name: Some((*name).into()),
            }
        }
        [plural] if find(plural).is_some() => Target {
            res: find(plural).unwrap(),
            namespace: None,
            name: None,
        },
        [plural, name] if find(plural).is_some_and(|r| !RESOURCES[r].namespaced) => Target {
            res: find(plural).unwrap(),
            namespace: None,
            name: Some((*name).into()),
        },
        _ => return Route::UnknownResource,
    };
    Route::Resource(target)
}

fn options_invalid(kind: &str, field: &str, message: String) -> ApiError {
    ApiError::invalid_kind(
        &format!("{kind}.meta.k8s.io"),
        "meta.k8s.io",
        kind,
        "",
        &[Cause {
            reason: "FieldValueInvalid".into(),
            message,
            field: field.into(),
        }],
    )
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    serde_json::from_str(text)
        .or_else(|_| serde_saphyr::from_str::<Value>(text))
        .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
}

/// The axum handler for every path.
pub async fn dispatch(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = shared.state.lock().unwrap();
    let auth_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let user = authenticate(&state.users, auth_header).cloned();
    // Health endpoints are open (system:public-info-viewer) unless a bad token was presented.
    if method == Method::GET
        && matches!(uri.path(), "/healthz" | "/livez" | "/readyz")
        && (user.is_some() || auth_header.is_none())
    {
        return (StatusCode::OK, "ok").into_response();
    }
    let Some(user) = user else {
        return error_response(&ApiError::unauthorized());
    };
    let query = parse_query(uri.query().unwrap_or_default());
    let crds = state.crds;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let route = route(uri.path(), crds);
    if !matches!(route, Route::Resource(_)) && method != Method::GET {
        return match route {
            Route::Unrouted if !state.json_404 => plain_404(),
            _ => error_response(&ApiError::method_not_allowed()),
        };
    }
    let target = match route {
        Route::Version => return json_response(200, &resources::version()),
        Route::CoreVersions | Route::Groups if resources::wants_aggregated(accept) => {
            let mut resp = json_response(
                200,
                &resources::aggregated(matches!(route, Route::CoreVersions), crds),
            );
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                resources::AGGREGATED_CONTENT_TYPE.parse().unwrap(),
            );
            return resp;
        }
        Route::CoreVersions => {
            return json_response(200, &resources::core_versions(&shared.address));
        }
        Route::Groups => return json_response(200, &resources::group_list(crds)),
        Route::ResourceList(g, v) => {
            return json_response(200, &resources::resource_list(&g, &v, crds));
        }
        Route::Unrouted if !state.json_404 => return plain_404(),
        Route::Unrouted | Route::UnknownResource => {
            return error_response(&ApiError::resource_not_found());
        }
        Route::Resource(t) => t,
    };
    let def = &RESOURCES[target.res];
    let ns = target.namespace.as_deref();
    let name = target.name.as_deref();
    let verb = match (&method, name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            "watch"
        }
        (&Method::GET, None) => "list",
        (&Method::POST, None) => "create",
        (&Method::PUT, Some(_)) => "update",
        (&Method::PATCH, Some(_)) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        _ => return error_response(&ApiError::method_not_allowed()),
    };
    // Namespaced collections across all namespaces only serve list and watch.
    if def.namespaced && ns.is_none() && matches!(verb, "create" | "deletecollection") {
        return error_response(&ApiError::method_not_allowed());
    }
    let authz_ns = if def.kind == "Namespace" { name } else { ns };
    if !authorize(&user, verb, def.plural, authz_ns) {
        return error_response(&ApiError::forbidden(
            def,
            name.unwrap_or_default(),
            &user.name,
            verb,
            authz_ns,
        ));
    }
    if verb == "watch" {
        return error_response(&ApiError::bad_request(
            "watch is not supported by the segplan test API server",
        ));
    }

    let options_kind = match verb {
        "create" => "CreateOptions",
        "update" => "UpdateOptions",
        "patch" => "PatchOptions",
        _ => "DeleteOptions",
    };
    let dry_run = match query.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return error_response(&options_invalid(
                options_kind,
                "dryRun",
                format!("Unsupported value: \"{other}\": supported values: \"All\""),
            ));
        }
    };
    let field_manager = query.get("fieldManager").cloned().unwrap_or_default();
    if field_manager.len() > 128 {
        return error_response(&options_invalid(
            options_kind,
            "fieldManager",
            "Too long: may not be more than 128 bytes".into(),
        ));
    }
    let force = query.get("force").is_some_and(|f| f == "true");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let is_apply = verb == "patch" && media == "application/apply-patch+yaml";
    if force && !is_apply {
        return error_response(&options_invalid(
            "PatchOptions",
            "force",
            "Forbidden: may not be specified for non-apply patch".into(),
        ));
    }
    // kube-apiserver's managerOrUserAgent: the User-Agent up to its first '/'
    // (kube-rs sends none, which gives an entry without a manager name).
    let manager = if !field_manager.is_empty() {
        field_manager.clone()
    } else {
        let ua = headers
            .get(header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        ua.split('/').next().unwrap_or_default().to_string()
    };
    let field_validation = match query.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return error_response(&ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\": got {other:?}"
            )));
        }
    };
    state.warnings.clear();
    let opts = WriteOpts {
        field_validation,
        manager,
        dry_run,
        force,
    };

    let result: Result<(u16, Value), ApiError> = (|| match verb {
        "get" => state.get(target.res, ns, name.unwrap()).map(|v| (200, v)),
        "list" | "deletecollection" => {
            let labels = Selector::parse(query.get("labelSelector").map_or("", String::as_str))
                .map_err(ApiError::bad_request)?;
            let fields =
                FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))
                    .map_err(ApiError::bad_request)?;
            let limit = match query.get("limit") {
                None => 0,
                Some(l) => l
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?
                    .max(0) as usize,
            };
            let p = ListParams {
                filtered: query.get("labelSelector").is_some_and(|s| !s.is_empty())
                    || query.get("fieldSelector").is_some_and(|s| !s.is_empty()),
                labels,
                fields,
                limit,
                continue_token: query.get("continue").filter(|c| !c.is_empty()).cloned(),
            };
            if verb == "list" {
                state.list(target.res, ns, &p).map(|v| (200, v))
            } else {
                state
                    .delete_collection(target.res, ns, &p, dry_run)
                    .map(|v| (200, v))
            }
        }
        "create" => {
            ops::create(&mut state, target.res, ns, parse_body(&body)?, &opts).map(|v| (201, v))
        }
        "update" => ops::update(
            &mut state,
            target.res,
            ns,
            name.unwrap(),
            parse_body(&body)?,
            &opts,
        )
        .map(|v| (200, v)),
        "patch" => match media.as_str() {
            "application/apply-patch+yaml" => {
                if field_manager.is_empty() {
                    return Err(ApiError::invalid_kind(
                        "PatchOptions.meta.k8s.io",
                        "meta.k8s.io",
                        "PatchOptions",
                        "",
                        &[Cause {
                            reason: "FieldValueRequired".into(),
                            message: "Required value: is required for apply patch".into(),
                            field: "fieldManager".into(),
                        }],
                    ));
                }
                let (v, created) = ops::apply(
                    &mut state,
                    target.res,
                    ns,
                    name.unwrap(),
                    parse_body(&body)?,
                    &opts,
                )?;
                Ok((if created { 201 } else { 200 }, v))
            }
            "application/merge-patch+json" => ops::merge_patch(
                &mut state,
                target.res,
                ns,
                name.unwrap(),
                &parse_body(&body)?,
                &opts,
            )
            .map(|v| (200, v)),
            other => Err(ApiError::unsupported_media_type(other)),
        },
        "delete" => {
            let options = if body.is_empty() {
                None
            } else {
                parse_body(&body).ok()
            };
            let pre = options.as_ref().and_then(|o| o.get("preconditions"));
            let body_dry = options
                .as_ref()
                .and_then(|o| o.get("dryRun"))
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "All"));
            state
                .delete(target.res, ns, name.unwrap(), pre, dry_run || body_dry)
                .map(|v| (200, v))
        }
        _ => Err(ApiError::method_not_allowed()),
    })();
    let mut resp = match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    };
    for w in state.warnings.drain(..) {
        let value = format!("299 - {}", serde_json::Value::from(w));
        if let Ok(h) = value.parse() {
            resp.headers_mut().append(header::WARNING, h);
        }
    }
    resp
}
