//! `segplan render` on the bundled example: golden snapshots, determinism, layout, injection,
//! broken templates.

use std::path::Path;

use assert_cmd::Command;

fn segplan() -> Command {
    let mut c = Command::cargo_bin("segplan").unwrap();
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SEGPLAN_TOPOLOGY")
        .env("NO_COLOR", "1");
    c
}

fn render(args: &[&str]) -> String {
    let out = segplan().arg("render").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "render {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn golden_every_cluster_of_the_example() {
    for (env, cluster) in [
        ("prod", "prod-eu-1"),
        ("prod", "prod-us-1"),
        ("staging", "staging-eu-1"),
        ("management", "mgmt-eu-1"),
    ] {
        let yaml = render(&["--env", env, "--cluster", cluster]);
        insta::assert_snapshot!(format!("render_{cluster}"), yaml);
    }
}

#[test]
fn same_topology_same_bytes() {
    let a = render(&["--env", "prod"]);
    let b = render(&["--env", "prod"]);
    assert_eq!(a, b);
    assert!(a.len() > 10_000);
}

/// Copies the example, swapping key order inside tables (line numbers of the tables stay).
fn reordered_example(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let mut out: Vec<String> = Vec::new();
        let mut block: Vec<String> = Vec::new();
        let flush = |block: &mut Vec<String>, out: &mut Vec<String>| {
            block.reverse();
            out.append(block);
        };
        for line in text.lines() {
            let is_kv = line.contains(" = ") && !line.starts_with('#') && !line.starts_with('[');
            if is_kv {
                block.push(line.to_string());
            } else {
                flush(&mut block, &mut out);
                out.push(line.to_string());
            }
        }
        flush(&mut block, &mut out);
        assert_ne!(out.join("\n") + "\n", text, "{} should change", p.display());
        std::fs::write(dir.join(p.file_name().unwrap()), out.join("\n") + "\n").unwrap();
    }
}

#[test]
fn reordering_keys_gives_identical_output() {
    let tmp = tempfile::tempdir().unwrap();
    reordered_example(tmp.path());
    for env in ["prod", "staging", "management"] {
        let original = render(&["--env", env]);
        let reordered = render(&["--topology", tmp.path().to_str().unwrap(), "--env", env]);
        assert_eq!(original, reordered, "env {env}");
    }
}

#[test]
fn out_dir_layout_and_foreign_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("prod-eu-1")).unwrap();
    std::fs::write(out.join("prod-eu-1/NOTES.md"), "mine").unwrap();
    let run = || {
        segplan()
            .args(["render", "--env", "prod", "--out"])
            .arg(&out)
            .assert()
            .success();
    };
    run();
    let k = std::fs::read_to_string(out.join("prod-eu-1/kustomization.yaml")).unwrap();
    assert!(
        k.contains("- payments/networkpolicy-default-deny.yaml"),
        "{k}"
    );
    assert!(k.contains("- _cluster/namespace-payments.yaml"), "{k}");
    assert!(
        out.join("prod-us-1/checkout/networkpolicy-egress-to-data.yaml")
            .is_file()
    );
    assert!(
        !out.join("prod-us-1/payments").exists(),
        "payments is only on prod-eu-1"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("prod-eu-1/NOTES.md")).unwrap(),
        "mine"
    );
    // Each file is one of the stream's documents, byte for byte.
    let stream = render(&["--env", "prod", "--cluster", "prod-eu-1"]);
    let doc = std::fs::read_to_string(
        out.join("prod-eu-1/payments/authorizationpolicy-payment-access.yaml"),
    )
    .unwrap();
    assert!(stream.contains(&format!("---\n{doc}")));
    // A second run rewrites nothing and leaves no temp files.
    let before = std::fs::metadata(out.join("prod-eu-1/kustomization.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    run();
    let after = std::fs::metadata(out.join("prod-eu-1/kustomization.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    let tmp_files = walk(&out)
        .into_iter()
        .filter(|p| p.contains("segplan-tmp"))
        .count();
    assert_eq!(tmp_files, 0);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p.display().to_string());
        }
    }
    v
}

#[test]
fn stale_files_segplan_wrote_are_removed_others_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let topo = tmp.path().join("topo");
    std::fs::create_dir_all(&topo).unwrap();
    for f in ["segplan.toml", "staging.toml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("environments")
                .join(f),
            topo.join(f),
        )
        .unwrap();
    }
    let out = tmp.path().join("out");
    let run = || {
        segplan()
            .arg("--topology")
            .arg(&topo)
            .args(["render", "--env", "staging", "--out"])
            .arg(&out)
            .assert()
            .success();
    };
    run();
    assert!(
        out.join("staging-eu-1/data/networkpolicy-default-deny.yaml")
            .is_file()
    );
    std::fs::write(
        out.join("staging-eu-1/data/hand-written.yaml"),
        "kind: ConfigMap\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(topo.join("staging.toml")).unwrap();
    let cut = text.find("[namespaces.data]").unwrap();
    std::fs::write(topo.join("staging.toml"), &text[..cut]).unwrap();
    run();
    assert!(
        !out.join("staging-eu-1/data/networkpolicy-default-deny.yaml")
            .exists()
    );
    assert!(out.join("staging-eu-1/data/hand-written.yaml").is_file());
}

#[test]
fn json_output_is_a_list_of_the_same_objects() {
    let json = render(&["--env", "staging", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kind"], "List");
    let yaml = render(&["--env", "staging"]);
    assert_eq!(
        v["items"].as_array().unwrap().len(),
        yaml.matches("---\n").count()
    );
}

fn topology_with(dir: &Path, edit: impl Fn(&str, String) -> String) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(dir.join(&name), edit(&name, text)).unwrap();
    }
}

#[test]
fn user_strings_cannot_inject_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let evil = "x\nevil: injected\n---\nkind: Secret";
    topology_with(tmp.path(), |name, text| match name {
        "staging.toml" => text.replace(
            "[namespaces.data]\n",
            &format!(
                "[namespaces.data]\nannotations = {{ note = {} }}\n",
                serde_json::to_string(evil).unwrap()
            ),
        ),
        "segplan.toml" => text.replace(
            "reason = \"PostgreSQL and Redis\"",
            "reason = \"PostgreSQL\\n  - to: []\\nkey: on\"",
        ),
        _ => text,
    });
    let items = staging_items(tmp.path());
    let items = items.as_slice();
    let ns = items
        .iter()
        .find(|o| o["kind"] == "Namespace" && o["metadata"]["name"] == "data")
        .unwrap();
    assert_eq!(ns["metadata"]["annotations"]["note"], evil);
    assert!(ns["metadata"].get("evil").is_none());
    assert!(items.iter().all(|o| o["kind"] != "Secret"));
    // The flow reason is a comment: the egress rules stay exactly the planned ones.
    let egress = items
        .iter()
        .find(|o| {
            o["metadata"]["name"] == "egress-to-data" && o["metadata"]["namespace"] == "frontend"
        })
        .unwrap();
    assert_eq!(egress["spec"]["egress"].as_array().unwrap().len(), 2);
    assert!(egress.get("key").is_none());
}

#[test]
fn broken_template_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(
        tpl.join("peerauthentication.yaml"),
        "apiVersion: v1\nkind: X\n{% if %}\n",
    )
    .unwrap();
    let out = segplan()
        .args(["render", "--env", "prod", "--templates"])
        .arg(&tpl)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("peerauthentication.yaml"), "{err}");
    assert!(err.contains(":3:"), "line 3 must be named: {err}");
}

#[test]
fn template_producing_the_wrong_object_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(
        tpl.join("namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n",
    )
    .unwrap();
    let out = segplan()
        .args(["render", "--env", "staging", "--templates"])
        .arg(&tpl)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("namespace.yaml"), "{err}");
    assert!(
        err.contains("metadata.name must be `data`") || err.contains("metadata.name must be"),
        "{err}"
    );
    assert!(err.contains("name: other"), "shows what it produced: {err}");
}

#[test]
fn the_safe_filter_is_disabled() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    let ns = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/_metadata.yaml"),
    )
    .unwrap();
    std::fs::write(
        tpl.join("_metadata.yaml"),
        ns.replace("{{ meta.name }}", "{{ meta.name | safe }}"),
    )
    .unwrap();
    let out = segplan()
        .args(["render", "--env", "staging", "--templates"])
        .arg(&tpl)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`safe` filter is disabled"));
}

#[test]
fn user_template_overrides_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    let orig = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/peerauthentication.yaml"),
    )
    .unwrap();
    std::fs::write(
        tpl.join("peerauthentication.yaml"),
        orig.replace("spec:", "# reviewed by security\nspec:"),
    )
    .unwrap();
    let yaml = render(&[
        "--env",
        "prod",
        "--cluster",
        "prod-eu-1",
        "--templates",
        tpl.to_str().unwrap(),
    ]);
    assert_eq!(
        yaml.matches("# reviewed by security").count(),
        yaml.matches("kind: PeerAuthentication").count()
    );
    assert!(yaml.matches("kind: PeerAuthentication").count() >= 1);
    assert_eq!(
        yaml.replace("# reviewed by security\n", ""),
        render(&["--env", "prod", "--cluster", "prod-eu-1"])
    );
}

#[test]
fn unknown_cluster_and_env_are_usage_errors() {
    segplan()
        .args(["render", "--env", "prd"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("did you mean `prod`"));
    segplan()
        .args(["render", "--env", "prod", "--cluster", "nope"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("prod-eu-1"));
}

#[test]
fn internet_egress_excludes_private_link_local_and_cluster_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    topology_with(tmp.path(), |name, text| match name {
        "segplan.toml" => text.replace("[zones.app]\n", "[zones.app]\ninternet_egress = true\n"),
        "staging.toml" => text.replace(
            "pod_cidr = \"10.20.0.0/16\"",
            "pod_cidr = \"203.0.113.0/24\"",
        ),
        _ => text,
    });
    let items = staging_items(tmp.path());
    let items = items.as_slice();
    let np = items
        .iter()
        .find(|o| {
            o["metadata"]["name"] == "egress-to-internet"
                && o["metadata"]["namespace"] == "frontend"
        })
        .expect("app namespaces get internet egress");
    let to = &np["spec"]["egress"][0]["to"];
    assert_eq!(to[0]["ipBlock"]["cidr"], "0.0.0.0/0");
    let except: Vec<&str> = to[0]["ipBlock"]["except"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for range in [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "203.0.113.0/24",
    ] {
        assert!(except.contains(&range), "{range} missing from {except:?}");
    }
    assert!(
        !except.contains(&"10.1.0.0/20"),
        "node CIDR is inside 10.0.0.0/8 already"
    );
    assert_eq!(to[1]["ipBlock"]["cidr"], "::/0");
    assert!(np["spec"]["egress"][0].get("ports").is_none());
    // Zones without internet_egress get none.
    assert!(
        items
            .iter()
            .all(|o| !(o["metadata"]["name"] == "egress-to-internet"
                && o["metadata"]["namespace"] == "data"))
    );
}

#[test]
fn all_envs_renders_every_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    segplan()
        .args(["render", "--all-envs", "--out"])
        .arg(tmp.path())
        .assert()
        .success();
    for c in ["prod-eu-1", "prod-us-1", "staging-eu-1", "mgmt-eu-1"] {
        assert!(
            tmp.path().join(c).join("kustomization.yaml").is_file(),
            "{c}"
        );
    }
    segplan().args(["render"]).assert().code(2);
    segplan()
        .args(["render", "--all-envs", "--cluster", "prod-eu-1"])
        .assert()
        .code(2);
}

/// The staging environment of a topology directory, rendered as JSON objects.
fn staging_items(topology: &Path) -> Vec<serde_json::Value> {
    let out = segplan()
        .arg("--topology")
        .arg(topology)
        .args(["render", "--env", "staging", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    match v["items"].take() {
        serde_json::Value::Array(items) => items,
        other => panic!("not a List: {other}"),
    }
}
