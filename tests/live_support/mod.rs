//! Shared set-up of the live end-to-end tests: two test API servers standing in for the bundled
//! example's prod clusters (prod-eu-1 with Istio, prod-us-1 without), a copy of the topology
//! whose `api_server`s point at them, a kubeconfig, and the `segplan` binary run hermetically.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};

#[path = "../support/kubeapi/mod.rs"]
#[allow(clippy::all)] // linted in its own test crate (tests/kubeapi_server.rs)
pub mod kubeapi;

#[allow(unused_imports)] // each test crate uses a different part
pub use kubeapi::{ADMIN_TOKEN, Fault, KubeApi, Kubeconfig, Options, Rule, User};

/// Server timestamps are fixed so output is deterministic.
pub const TIME: &str = "2026-01-01T00:00:00Z";

/// The test world.
pub struct World {
    pub dir: tempfile::TempDir,
    pub eu: KubeApi,
    pub us: KubeApi,
}

impl World {
    /// Two TLS servers; prod-eu-1 serves the Istio CRDs when `istio`.
    pub fn new(istio: bool) -> Self {
        let eu_opts = Options::default().with_tls().fixed_time(TIME);
        let eu = KubeApi::start(if istio { eu_opts.with_istio() } else { eu_opts });
        let us = KubeApi::start(
            Options::default()
                .with_tls()
                .fixed_time(TIME)
                .user(User::restricted("viewer", "viewer-token").allow(Rule::read_only())),
        );
        let dir = tempfile::tempdir().unwrap();
        let topo = dir.path().join("topology");
        std::fs::create_dir_all(&topo).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            let mut text = std::fs::read_to_string(entry.path()).unwrap();
            if entry.file_name() == "prod.toml" {
                text = text
                    .replace("https://prod-eu-1.example.internal:6443", eu.url())
                    .replace("https://prod-us-1.example.internal:6443", us.url());
            }
            std::fs::write(topo.join(entry.file_name()), text).unwrap();
        }
        let w = World { dir, eu, us };
        w.kubeconfig(
            Kubeconfig::new()
                .context("prod-eu-1", &w.eu, ADMIN_TOKEN)
                .context("prod-us-1", &w.us, ADMIN_TOKEN),
        );
        w
    }

    /// Replaces the kubeconfig.
    pub fn kubeconfig(&self, k: Kubeconfig) {
        k.write(&self.kubeconfig_path()).unwrap();
    }

    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `segplan <args>` against this world, hermetic.
    pub fn segplan(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("segplan").unwrap();
        c.current_dir(self.dir.path())
            .env_remove("KUBECONFIG")
            .env_remove("SEGPLAN_LOG")
            .env_remove("SEGPLAN_TOPOLOGY")
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .arg("--topology")
            .arg(self.dir.path().join("topology"))
            .args(args)
            .arg("--kubeconfig")
            .arg(self.kubeconfig_path());
        c
    }

    /// Runs segplan; returns (exit code, stdout, stderr) with ports and paths redacted.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.segplan(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            self.redact(&String::from_utf8_lossy(&out.stdout)),
            self.redact(&String::from_utf8_lossy(&out.stderr)),
        )
    }

    /// Applies the whole plan and checks it worked.
    pub fn apply_all(&self) {
        let (code, out, err) = self.run(&["apply", "--env", "prod", "--yes"]);
        assert_eq!(code, 0, "apply failed\n{out}\n{err}");
    }

    pub fn redact(&self, s: &str) -> String {
        let mut s = s
            .replace(self.eu.url(), "<eu-server>")
            .replace(self.us.url(), "<us-server>")
            .replace(&self.dir.path().display().to_string(), "<tmp>");
        for key in [
            "\"resourceVersion\": \"",
            "plan hash: ",
            "Plan hash: `",
            "\"plan_hash\": \"",
        ] {
            s = redact_after(&s, key);
        }
        s
    }

    /// The server of a cluster.
    pub fn server(&self, cluster: &str) -> &KubeApi {
        match cluster {
            "prod-eu-1" => &self.eu,
            _ => &self.us,
        }
    }
}

/// Replaces what follows each `key` up to the next quote, backquote or newline with `<redacted>`.
pub fn redact_after(s: &str, key: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let end = rest.find(['"', '`', '\n']).unwrap_or(rest.len());
        out.push_str("<redacted>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// segplan's ownership labels for a prod cluster.
pub fn labels(cluster: &str) -> Value {
    json!({"app.kubernetes.io/managed-by": "segplan", "segplan.io/environment": "prod",
           "segplan.io/cluster": cluster})
}

/// A NetworkPolicy that opens a namespace to everything.
pub fn widening_policy(ns: &str, name: &str, labels: Option<Value>) -> Value {
    let mut meta = json!({"name": name, "namespace": ns});
    if let Some(l) = labels {
        meta["labels"] = l;
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
           "spec": {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}})
}

/// Parses JSON output.
pub fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}
