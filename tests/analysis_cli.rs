//! `segplan connectivity` on bad input and its flags (the conformance suite covers output).

use assert_cmd::Command;
use predicates::prelude::*;

fn segplan() -> Command {
    let mut c = Command::cargo_bin("segplan").unwrap();
    c.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("SEGPLAN_LOG");
    c
}

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn missing_directory_is_invalid_input() {
    segplan()
        .args(["connectivity", "--dir", "/nonexistent/manifests"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "/nonexistent/manifests is not a directory",
        ));
}

#[test]
fn yaml_errors_name_the_file() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "broken.yaml",
        "kind: NetworkPolicy\nmetadata: {name: [\n",
    );
    segplan()
        .args(["connectivity", "--dir", d.path().to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("broken.yaml"));
}

#[test]
fn invalid_policies_name_file_object_and_field() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "np.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web, namespace: shop}\n\
         spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/33}\n",
    );
    segplan()
        .args(["connectivity", "--dir", d.path().to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("np.yaml")
                .and(predicate::str::contains("NetworkPolicy shop/web"))
                .and(predicate::str::contains(
                    "spec.ingress[0].from[0].ipBlock: invalid CIDR `10.0.0.0/33`",
                )),
        );
}

#[test]
fn representatives_flag_and_diff_exit_code() {
    let old = tempfile::tempdir().unwrap();
    let new = tempfile::tempdir().unwrap();
    let nss = "kind: Namespace\nmetadata: {name: a}\n---\nkind: Namespace\nmetadata: {name: b}\n";
    write(old.path(), "ns.yaml", nss);
    write(new.path(), "ns.yaml", nss);
    write(
        new.path(),
        "np.yaml",
        "kind: NetworkPolicy\nmetadata: {name: deny, namespace: b}\nspec: {podSelector: {}}\n",
    );
    let out = segplan()
        .args(["connectivity", "--dir", new.path().to_str().unwrap()])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("b/*[Namespace] => a/*[Namespace] : All Connections"),
        "{out}"
    );
    assert!(!out.contains("=> b/*"), "b denies all ingress: {out}");
    segplan()
        .args([
            "connectivity",
            "--dir",
            new.path().to_str().unwrap(),
            "--representatives",
            "never",
        ])
        .assert()
        .success()
        .stdout("");
    segplan()
        .args([
            "connectivity",
            "--dir",
            new.path().to_str().unwrap(),
            "--base",
            old.path().to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "diff-type: removed, source: a/*[Namespace], destination: b/*[Namespace], ref1: All Connections, ref2: No Connections",
        ));
    segplan()
        .args([
            "connectivity",
            "--dir",
            old.path().to_str().unwrap(),
            "--base",
            old.path().to_str().unwrap(),
            "-o",
            "dot",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--base prints a diff"));
}
