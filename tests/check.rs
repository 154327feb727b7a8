//! `segplan check`: the bundled example passes every built-in rule; each topology under
//! `tests/topologies/check/<rule id>/` breaks exactly that rule; every output format is
//! snapshot-tested, SARIF validates against the SARIF 2.1.0 schema and JUnit parses back.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `segplan --topology DIR check ARGS` from the repository root.
fn check(topology: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("segplan")
        .unwrap()
        .current_dir(root())
        .env_remove("SEGPLAN_TOPOLOGY")
        .env("NO_COLOR", "1")
        .args(["--color", "never", "--topology", topology, "check"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn case_dir(name: &str) -> String {
    format!("tests/topologies/check/{name}")
}

fn json(topology: &str) -> (i32, Value) {
    let (code, out, err) = check(topology, &["-o", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"));
    (code, v)
}

fn builtin_ids() -> Vec<&'static str> {
    segplan::compliance::rules::BUILTINS
        .iter()
        .map(|b| b.id)
        .collect()
}

/// Every case named after a built-in rule.
fn rule_cases() -> Vec<&'static str> {
    let ids = builtin_ids();
    for id in &ids {
        assert!(
            root().join(case_dir(id)).is_dir(),
            "no test topology for rule {id}"
        );
    }
    ids
}

fn failing_rules(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "fail")
        .map(|r| r["rule"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn bundled_example_passes_every_builtin_rule() {
    let (code, v) = json("environments");
    assert_eq!(code, 0, "{v:#}");
    let results = v["results"].as_array().unwrap();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["rule"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, builtin_ids());
    for r in results {
        assert_eq!(r["outcome"], "pass", "{r:#}");
    }
    assert_eq!(
        v["environments"],
        serde_json::json!(["management", "prod", "staging"])
    );
    let (code, out, _) = check("environments", &["--env", "prod"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("bundled_prod_text", out);
}

#[test]
fn clean_test_topology_passes() {
    let (code, v) = json(&case_dir("clean"));
    assert_eq!(code, 0, "{v:#}");
    assert!(failing_rules(&v).is_empty());
}

#[test]
fn each_rule_topology_breaks_exactly_that_rule() {
    for id in rule_cases() {
        let dir = case_dir(id);
        let (code, v) = json(&dir);
        assert_eq!(code, 1, "{id}: exit code");
        assert_eq!(failing_rules(&v), [id], "{id}: failing rules");
        let result = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"]["id"] == id)
            .unwrap();
        let findings = result["findings"].as_array().unwrap();
        assert!(!findings.is_empty(), "{id}");
        for f in findings {
            assert_eq!(f["severity"], "error", "{id}");
            assert!(f["exempted"].is_null(), "{id}");
            let src = &f["source"];
            let file = root().join(&dir).join(src["file"].as_str().unwrap());
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            let line = src["line"].as_u64().unwrap() as usize;
            assert!(line >= 1 && line <= lines, "{id}: {file:?}:{line}");
        }
        let (_, text, _) = check(&dir, &[]);
        insta::assert_snapshot!(format!("text_{id}"), text);
    }
}

#[test]
fn exemptions_are_shown_with_their_justification() {
    for (case, exempted) in [
        ("soc2.default-deny", "baseline.default-deny"),
        (
            "soc2.prod-nonprod-separation",
            "multi-cluster.one-environment",
        ),
    ] {
        let (_, v) = json(&case_dir(case));
        let r = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"]["id"] == exempted)
            .unwrap();
        assert_eq!(r["outcome"], "exempted");
        let f = &r["findings"][0];
        assert!(
            f["exempted"]["justification"]
                .as_str()
                .unwrap()
                .contains("switched off"),
            "{f:#}"
        );
        assert_eq!(f["exempted"]["source"]["file"], "segplan.toml");
    }
}

const FORMAT_CASES: [&str; 4] = [
    "pci-dss.no-internet-path",
    "soc2.default-deny",
    "multi-cluster.mgmt-unreachable",
    "pci-dss.declared-ingress",
];

#[test]
fn all_formats_snapshot() {
    for case in FORMAT_CASES {
        for format in ["json", "markdown", "sarif", "junit"] {
            let (code, out, _) = check(&case_dir(case), &["-o", format]);
            assert_eq!(code, 1, "{case} {format}");
            insta::assert_snapshot!(format!("{format}_{case}"), out);
        }
    }
}

fn sarif_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/sarif/sarif-2.1.0-subset.schema.json"))
            .unwrap(),
    )
    .unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn sarif_validates_and_points_at_topology_lines() {
    let validator = sarif_validator();
    let mut cases: Vec<String> = rule_cases().iter().map(|c| case_dir(c)).collect();
    cases.push("environments".into());
    cases.push(case_dir("profile-user-rule"));
    for dir in cases {
        let (_, out, _) = check(&dir, &["-o", "sarif"]);
        let log: Value = serde_json::from_str(&out).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{dir}: {errors:#?}");
        let (_, v) = json(&dir);
        let findings: Vec<&Value> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["findings"].as_array().unwrap())
            .collect();
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), findings.len(), "{dir}");
        for (r, f) in results.iter().zip(&findings) {
            assert_eq!(r["ruleId"], f["rule"]);
            let loc = &r["locations"][0]["physicalLocation"];
            let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
            assert_eq!(
                uri,
                format!("{dir}/{}", f["source"]["file"].as_str().unwrap())
            );
            assert!(
                !Path::new(uri).is_absolute() && root().join(uri).is_file(),
                "{uri}"
            );
            assert_eq!(loc["region"]["startLine"], f["source"]["line"]);
            let rule_index = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(
                log["runs"][0]["tool"]["driver"]["rules"][rule_index]["id"],
                r["ruleId"]
            );
        }
    }
    // The validator does reject a broken log.
    let (_, out, _) = check(&case_dir("pci-dss.no-internet-path"), &["-o", "sarif"]);
    let mut log: Value = serde_json::from_str(&out).unwrap();
    log["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&log));
    log["runs"][0]["results"][0]["level"] = "error".into();
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        0.into();
    assert!(!validator.is_valid(&log));
}

/// Counts of a JUnit document read back with a real XML parser.
#[derive(Debug, Default, PartialEq)]
struct Junit {
    suites: usize,
    cases: usize,
    failures: usize,
    skipped: usize,
    declared_tests: usize,
    declared_failures: usize,
    failed_cases: Vec<String>,
}

fn parse_junit(xml: &str) -> Junit {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut j = Junit::default();
    let mut current = String::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &str| {
                    e.attributes()
                        .map(|a| a.unwrap())
                        .find(|a| a.key.as_ref() == name)
                        .map(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .unwrap()
                                .to_string()
                        })
                };
                match e.name().as_ref() {
                    "testsuites" => {
                        j.declared_tests = attr("tests").unwrap().parse().unwrap();
                        j.declared_failures = attr("failures").unwrap().parse().unwrap();
                    }
                    "testsuite" => j.suites += 1,
                    "testcase" => {
                        j.cases += 1;
                        current = attr("name").unwrap();
                    }
                    "failure" => {
                        j.failures += 1;
                        j.failed_cases.push(current.clone());
                    }
                    "skipped" => j.skipped += 1,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    j
}

#[test]
fn junit_reads_back() {
    let n = builtin_ids().len();
    let (_, out, _) = check("environments", &["-o", "junit"]);
    let j = parse_junit(&out);
    assert_eq!((j.suites, j.cases, j.failures, j.skipped), (5, n, 0, 0));
    assert_eq!((j.declared_tests, j.declared_failures), (n, 0));
    for id in [
        "pci-dss.no-internet-path",
        "hipaa.strict-mtls",
        "baseline.flow-reason",
    ] {
        let (_, out, _) = check(&case_dir(id), &["-o", "junit"]);
        let j = parse_junit(&out);
        assert_eq!(j.cases, n);
        assert_eq!(j.failed_cases, [id]);
        assert_eq!(j.declared_failures, 1);
    }
    let (_, out, _) = check(&case_dir("soc2.default-deny"), &["-o", "junit"]);
    let j = parse_junit(&out);
    assert_eq!((j.failures, j.skipped), (1, 1));
    assert_eq!(j.failed_cases, ["soc2.default-deny"]);
}

#[test]
fn user_profiles_run_builtin_checks_with_their_own_control_and_severity() {
    let (code, v) = json(&case_dir("profile-user-rule"));
    assert_eq!(code, 1);
    // `acme` extends pci-dss, so its tagged namespace is in PCI scope too.
    assert_eq!(
        failing_rules(&v),
        ["pci-dss.no-internet-egress", "acme.no-egress"]
    );
    let user = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"]["id"] == "acme.no-egress")
        .unwrap();
    assert_eq!(user["rule"]["control"], "ACME-SEC-7");
    assert_eq!(user["rule"]["check"], "pci-dss.no-internet-egress");
    assert_eq!(user["rule"]["profile"], "acme");
    assert_eq!(user["findings"][0]["severity"], "warning");
    assert_eq!(user["findings"][0]["namespace"], "builds");
    assert_eq!(v["summary"]["warnings"], 1);
}

#[test]
fn unknown_check_is_an_input_error_naming_the_line() {
    let (code, out, err) = check(&case_dir("profile-unknown-check"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("segplan.toml:30:33"), "{err}");
    assert!(
        err.contains("unknown check `pci-dss.no-internet-egres`"),
        "{err}"
    );
    assert!(
        err.contains("did you mean `pci-dss.no-internet-egress`?"),
        "{err}"
    );
}

#[test]
fn bad_input_exits_2() {
    let (code, _, err) = check("environments", &["--env", "prdo"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `prod`?"), "{err}");
    // A kubeconfig that cannot be read: every cluster is reported, exit 3.
    let (code, _, err) = check(
        "environments",
        &["--live", "--kubeconfig", "/nonexistent/kubeconfig"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("cluster prod-eu-1") && err.contains("cluster mgmt-eu-1"),
        "{err}"
    );
    assert!(err.contains("kubeconfig"), "{err}");
    let (code, _, _) = check("environments", &["-o", "yaml"]);
    assert_eq!(code, 2);
}

#[test]
fn env_selection_limits_the_report() {
    let (code, v) = json(&case_dir("multi-cluster.mgmt-unreachable"));
    assert_eq!(code, 1);
    assert_eq!(v["summary"]["errors"], 1);
    // The finding is on the management side: checking only prod passes.
    let (code, out, _) = check(
        &case_dir("multi-cluster.mgmt-unreachable"),
        &["--env", "prod", "-o", "json"],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["environments"], serde_json::json!(["prod"]));
}

#[test]
fn internet_path_through_another_cluster_is_found() {
    let dir = case_dir("pci-dss.no-internet-path-cross-cluster");
    let (code, v) = json(&dir);
    assert_eq!(code, 1);
    assert_eq!(failing_rules(&v), ["pci-dss.no-internet-path"]);
    let (_, text, _) = check(&dir, &[]);
    assert!(
        text.contains("internet -> management-1/status -> cards"),
        "{text}"
    );
    insta::assert_snapshot!("text_pci-dss.no-internet-path-cross-cluster", text);
}

#[test]
fn exemption_problems() {
    let (code, out, _) = check(&case_dir("exemption-unused"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("note: the exemption of `hipaa.strict-mtls` at tests/topologies/check/exemption-unused/segplan.toml:27 matched no finding"),
        "{out}"
    );
    let (_, v) = json(&case_dir("exemption-unused"));
    assert_eq!(v["unused_exemptions"][0]["rule"], "hipaa.strict-mtls");
    let (code, out, err) = check(&case_dir("exemption-unknown-rule"), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("exemption of unknown rule") && err.contains("`pci-dss.strict-mtsl`"),
        "{err}"
    );
    assert!(
        err.contains("exemption-unknown-rule/segplan.toml:27"),
        "{err}"
    );
    assert!(err.contains("did you mean `pci-dss.strict-mtls`?"), "{err}");
}
