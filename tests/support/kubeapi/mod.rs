//! A Kubernetes-API-compatible test server for segplan's end-to-end tests.
//!
//! No kube-apiserver can run on the build machines, so tests start this
//! server on 127.0.0.1 and point the real `segplan` binary (kube-rs over real
//! HTTP) at it through a kubeconfig they write. It follows kube-apiserver's
//! semantics where segplan depends on them: discovery (legacy and aggregated,
//! with or without the Istio CRDs), get/list (label selectors, pagination with
//! opaque continue tokens)/create/update/delete, server-side apply with
//! `managedFields` in the real `FieldsV1` format and conflicts, `dryRun=All`,
//! defaulting, validation, `metav1.Status` errors, bearer tokens with
//! per-user rules, and injected faults. `docs/testing.md` lists what it covers
//! and what it does not.
//!
//! Include it from a test file with `#[path = "support/kubeapi/mod.rs"] mod kubeapi;`.
//! [`KubeApi`] is synchronous: it owns its thread and tokio runtime, so plain
//! `#[test]` functions and benches can use it.
#![allow(dead_code)]

mod auth;
mod defaults;
mod faults;
mod fieldset;
mod handlers;
mod kubeconfig;
mod ops;
mod resources;
mod schema;
mod selectors;
mod ssa;
mod status;
mod store;
mod tls;
mod unknown;
mod validation;
mod walk;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::oneshot;
use tower::ServiceExt;

#[allow(unused_imports)]
pub use auth::{Rule, User};
#[allow(unused_imports)]
pub use faults::{Fault, FaultAction, RecordedRequest};
#[allow(unused_imports)]
pub use kubeconfig::Kubeconfig;
#[allow(unused_imports)]
pub use status::{ApiError, Cause};

/// The token of the default admin user.
pub const ADMIN_TOKEN: &str = "admin-token";

/// How to start a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Serve the Istio CRDs (`security.istio.io/v1` authorizationpolicies, peerauthentications).
    pub istio_crds: bool,
    /// Accepted users; default: one admin, `admin` with [`ADMIN_TOKEN`].
    pub users: Vec<User>,
    /// Fixed timestamp for `creationTimestamp` and `managedFields[].time` (deterministic output).
    pub fixed_time: Option<String>,
    /// Answer unrouted paths (unknown group/version) with a JSON Status 404
    /// instead of kube-apiserver 1.33's plain-text `404 page not found`.
    pub json_404: bool,
    /// Serve HTTPS with a freshly generated CA (written into kubeconfigs as
    /// `certificate-authority-data`).
    pub tls: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            istio_crds: false,
            users: vec![User::admin("admin", ADMIN_TOKEN)],
            fixed_time: None,
            json_404: false,
            tls: false,
        }
    }
}

impl Options {
    /// Turns the Istio CRDs on.
    pub fn with_istio(mut self) -> Self {
        self.istio_crds = true;
        self
    }

    /// Adds a user.
    pub fn user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    /// Serves HTTPS.
    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Fixes every server timestamp.
    pub fn fixed_time(mut self, t: &str) -> Self {
        self.fixed_time = Some(t.to_string());
        self
    }
}

/// State shared between the handle and the server thread.
pub(crate) struct Shared {
    pub(crate) state: Mutex<store::State>,
    pub(crate) address: String,
}

static SERVERS: AtomicU64 = AtomicU64::new(0);

/// A running test API server. Dropping it stops the server.
pub struct KubeApi {
    shared: Arc<Shared>,
    url: String,
    ca_pem: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DropConnection {}

async fn handle(
    shared: Arc<Shared>,
    router: Router,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, DropConnection> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(Body::new(body), 64 << 20)
        .await
        .map_err(|_| DropConnection)?;
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or_default().to_string();
    let params = handlers::parse_query(&query);
    let (index, delay, action) = {
        let mut st = shared.state.lock().unwrap();
        let auth = parts
            .headers
            .get("authorization")
            .and_then(|h| h.to_str().ok());
        let user = auth::authenticate(&st.users, auth).map(|u| u.name.clone());
        st.records.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            field_manager: params.get("fieldManager").cloned(),
            // DeleteOptions carry dryRun in the body (kube-rs sends it there).
            dry_run: params.get("dryRun").is_some_and(|d| d == "All")
                || serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .is_some_and(|b| {
                        b.get("dryRun")
                            .and_then(Value::as_array)
                            .is_some_and(|a| a.iter().any(|v| v == "All"))
                    }),
            force: params.get("force").is_some_and(|f| f == "true"),
            content_type: parts
                .headers
                .get("content-type")
                .and_then(|h| h.to_str().ok())
                .map(String::from),
            user,
            status: None,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        });
        let index = st.records.len() - 1;
        let (delay, action) = faults::decide(&mut st.faults, &method, &path);
        (index, delay, action)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let resp = match action {
        Some(FaultAction::Drop) => return Err(DropConnection),
        Some(FaultAction::Status(code)) => {
            let mut r = handlers::error_response(&ApiError::injected(code));
            if code == 429 || code == 503 {
                r.headers_mut().insert("retry-after", "1".parse().unwrap());
            }
            r
        }
        Some(FaultAction::Delay(_)) | None => {
            let req = axum::http::Request::from_parts(parts, Body::from(bytes));
            router.oneshot(req).await.unwrap_or_else(|e| match e {})
        }
    };
    if let Some(r) = shared.state.lock().unwrap().records.get_mut(index) {
        r.status = Some(resp.status().as_u16());
    }
    Ok(resp)
}

async fn serve_connection<S>(stream: S, shared: Arc<Shared>, router: Router)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| handle(shared.clone(), router.clone(), req));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<tls::Acceptor>,
    mut shutdown: oneshot::Receiver<()>,
) {
    // The body was already read (and capped) in `handle`.
    let router = Router::new()
        .fallback(handlers::dispatch)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(shared.clone());
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (shared, router, tls) = (shared.clone(), router.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                serve_connection(s, shared, router).await;
                            }
                        }
                        None => serve_connection(stream, shared, router).await,
                    }
                });
            }
        }
    }
}

fn kind_of(obj: &Value) -> Result<resources::ResId, ApiError> {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    resources::find_kind(api_version, kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "no resource for apiVersion {api_version:?} kind {kind:?}"
        ))
    })
}

fn ns_of(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(String::from)
}

impl KubeApi {
    /// Starts a server on 127.0.0.1 (random port) in its own thread and runtime.
    pub fn start(options: Options) -> KubeApi {
        let server_no = SERVERS.fetch_add(1, Ordering::Relaxed) + 1;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        std_listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = std_listener.local_addr().unwrap();
        let (tls, ca_pem) = if options.tls {
            let (acceptor, ca) = tls::generate();
            (Some(acceptor), Some(ca))
        } else {
            (None, None)
        };
        let scheme = if options.tls { "https" } else { "http" };
        let url = format!("{scheme}://{addr}");
        let mut state = store::State::new(server_no, options.istio_crds, options.users.clone());
        state.fixed_time = options.fixed_time.clone();
        state.json_404 = options.json_404;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            address: addr.to_string(),
        });
        let (tx, rx) = oneshot::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kubeapi-{server_no}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                    accept_loop(listener, thread_shared, tls, rx).await;
                });
            })
            .expect("spawn server thread");
        KubeApi {
            shared,
            url,
            ca_pem,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// A URL on 127.0.0.1 where nothing listens (connection refused): an unreachable cluster.
    pub fn unreachable_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("https://{addr}")
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// PEM of the CA that signed the server certificate (TLS servers only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Writes a kubeconfig with one context `context` for this server, using `token`.
    pub fn write_kubeconfig(
        &self,
        path: &std::path::Path,
        context: &str,
        token: &str,
    ) -> std::io::Result<()> {
        Kubeconfig::new().context(context, self, token).write(path)
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut store::State) -> T) -> T {
        let mut st = self.shared.state.lock().unwrap();
        let out = f(&mut st);
        st.warnings.clear();
        out
    }

    /// Creates an object as field manager `kubectl-create` (an Update entry, like
    /// `kubectl create`) with defaulting and validation; panics on error.
    pub fn seed(&self, obj: Value) -> Value {
        self.create_as("kubectl-create", obj)
            .unwrap_or_else(|e| panic!("seed failed: {}", e.message))
    }

    /// Creates an object (POST semantics) with the given field manager.
    pub fn create_as(&self, manager: &str, obj: Value) -> Result<Value, ApiError> {
        let res = kind_of(&obj)?;
        let ns = ns_of(&obj);
        let o = ops::WriteOpts {
            manager: manager.into(),
            ..Default::default()
        };
        self.with_state(|st| ops::create(st, res, ns.as_deref(), obj, &o))
    }

    /// Replaces an object (PUT semantics) with the given field manager.
    pub fn update_as(&self, manager: &str, obj: Value) -> Result<Value, ApiError> {
        let res = kind_of(&obj)?;
        let ns = ns_of(&obj);
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let o = ops::WriteOpts {
            manager: manager.into(),
            ..Default::default()
        };
        self.with_state(|st| ops::update(st, res, ns.as_deref(), &name, obj, &o))
    }

    /// Server-side applies an object as `manager`.
    pub fn apply_as(&self, manager: &str, obj: Value, force: bool) -> Result<Value, ApiError> {
        let res = kind_of(&obj)?;
        let ns = ns_of(&obj);
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let o = ops::WriteOpts {
            manager: manager.into(),
            force,
            ..Default::default()
        };
        self.with_state(|st| ops::apply(st, res, ns.as_deref(), &name, obj, &o).map(|(v, _)| v))
    }

    /// Deletes an object.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ApiError> {
        let res = resources::find_kind(api_version, kind)
            .ok_or_else(|| ApiError::bad_request("unknown kind"))?;
        self.with_state(|st| st.delete(res, namespace, name, None, false).map(|_| ()))
    }

    /// Reads one stored object.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let res = resources::find_kind(api_version, kind)?;
        self.with_state(|st| st.lookup(res, namespace, name).map(|v| (*v).clone()))
    }

    /// Every stored object of a kind (all namespaces when `namespace` is `None`).
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(res) = resources::find_kind(api_version, kind) else {
            return Vec::new();
        };
        self.with_state(|st| st.all_of(res))
            .into_iter()
            .filter(|o| namespace.is_none() || ns_of(o).as_deref() == namespace)
            .collect()
    }

    /// Number of stored objects of every kind.
    pub fn object_count(&self) -> usize {
        self.with_state(|st| st.objects.len())
    }

    /// The current (last issued) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.with_state(|st| st.rv)
    }

    /// Every request received since start or the last [`KubeApi::clear_requests`].
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with_state(|st| st.records.clone())
    }

    /// The write requests (POST/PUT/PATCH/DELETE) among [`KubeApi::requests`].
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_write)
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.with_state(|st| st.records.clear());
    }

    /// Adds a fault (checked after those already injected).
    pub fn inject(&self, fault: Fault) {
        self.with_state(|st| st.faults.push(fault));
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.with_state(|st| st.faults.clear());
    }

    /// Installs or uninstalls the Istio CRDs; uninstalling deletes their objects.
    pub fn set_istio_crds(&self, on: bool) {
        self.with_state(|st| {
            st.crds = on;
            if !on {
                st.drop_crd_objects();
            }
        });
    }

    /// Replaces the accepted users (e.g. to revoke a token mid-test).
    pub fn set_users(&self, users: Vec<User>) {
        self.with_state(|st| st.users = users);
    }

    /// Fixes the server clock (`None`: real time) for timestamps written from now on.
    pub fn set_time(&self, t: Option<&str>) {
        self.with_state(|st| st.fixed_time = t.map(String::from));
    }

    /// Makes every outstanding continue token expire (410 Expired on use).
    pub fn expire_continue_tokens(&self) {
        self.with_state(store::State::expire_snapshots);
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
