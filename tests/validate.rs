//! `segplan validate` on the topology corpus, with the real binary.
//!
//! * `tests/topologies/invalid/<case>/`: each case is a complete small topology with one kind of
//!   mistake (or, in `many-errors`, several in several files). Validation exits 2 and its stderr
//!   is an insta snapshot; every diagnostic must name a file of the case and, where it has one,
//!   the line and column.
//! * `tests/topologies/valid/<case>/` and the bundled `environments/`: validation exits 0.
//! * Problems only a file system can make (a missing directory, a 100 MB file, a directory
//!   where a file belongs, a dangling link) are built in temporary directories here.
//!
//! Runs happen from the repository root with a relative `--topology`, so the paths in the
//! snapshots are the same on every machine.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `segplan` run from the repository root, without the caller's environment leaking in.
fn segplan() -> Command {
    let mut cmd = Command::cargo_bin("segplan").expect("the segplan binary is built");
    cmd.current_dir(ROOT)
        .env_remove("SEGPLAN_TOPOLOGY")
        .env_remove("SEGPLAN_LOG")
        .env("NO_COLOR", "1");
    cmd
}

fn validate(dir: &str) -> Output {
    segplan()
        .args(["--color", "never", "--topology", dir, "validate"])
        .output()
        .expect("segplan runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// Every diagnostic (`  × ...`) names a file under `dir`: on its own line (file-level
/// problems) or in the snippet header below it as `[dir/file:line:col]`.
fn assert_located(stderr: &str, dir: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    let mut seen = 0;
    for (i, line) in lines.iter().enumerate() {
        if !line.trim_start().starts_with('×') {
            continue;
        }
        seen += 1;
        if line.contains(&format!("{dir}/")) || line.contains(&format!("{dir}:")) {
            continue;
        }
        let header = lines.get(i + 1).copied().unwrap_or_default();
        let located = header
            .split_once(&format!("╭─[{dir}/"))
            .and_then(|(_, rest)| rest.strip_suffix(']'))
            .and_then(|at| {
                let mut parts = at.rsplitn(3, ':');
                let col = parts.next()?.parse::<usize>().ok()?;
                let line = parts.next()?.parse::<usize>().ok()?;
                Some(line >= 1 && col >= 1)
            })
            .unwrap_or(false);
        assert!(
            located,
            "diagnostic {line:?} does not name a file of {dir} with line and column; next line: {header:?}\n{stderr}"
        );
    }
    assert!(seen > 0, "no diagnostic in stderr:\n{stderr}");
}

/// Validates an invalid case: exit 2, nothing on stdout, every diagnostic located.
fn invalid(case: &str) -> String {
    let dir = format!("tests/topologies/invalid/{case}");
    let out = validate(&dir);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{case}: stderr:\n{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{case}: stdout: {}",
        text(&out.stdout)
    );
    assert_located(&stderr, &dir);
    assert!(
        stderr
            .trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("error: topology is invalid: "),
        "{case}: stderr ends with the count:\n{stderr}"
    );
    stderr
}

macro_rules! invalid_cases {
    ($($test:ident => $case:literal,)*) => {
        $(
            #[test]
            fn $test() {
                insta::assert_snapshot!($case, invalid($case));
            }
        )*
        /// Every case above, to check that none of the corpus's directories is left out.
        const INVALID_CASES: &[&str] = &[$($case),*];
    };
}

invalid_cases! {
    cluster_in_two_environments => "cluster-in-two-environments",
    cross_flow_missing_pod_cidr => "cross-flow-missing-pod-cidr",
    cross_flow_overlapping_pod_cidrs => "cross-flow-overlapping-pod-cidrs",
    cross_flow_same_cluster => "cross-flow-same-cluster",
    cross_flow_unknown_cluster => "cross-flow-unknown-cluster",
    cross_flow_unknown_environment => "cross-flow-unknown-environment",
    cross_flow_unknown_zone => "cross-flow-unknown-zone",
    cross_flow_without_ports => "cross-flow-without-ports",
    duplicate_context => "duplicate-context",
    duplicate_flow => "duplicate-flow",
    duplicate_key => "duplicate-key",
    duplicate_namespace => "duplicate-namespace",
    duplicate_port => "duplicate-port",
    duplicate_zone => "duplicate-zone",
    empty_environment => "empty-environment",
    env_file_name_underscore => "env-file-name-underscore",
    env_file_name_uppercase => "env-file-name-uppercase",
    exemption_unknown_references => "exemption-unknown-references",
    implied_self_flow => "implied-self-flow",
    invalid_api_server => "invalid-api-server",
    invalid_cidr_host_bits => "invalid-cidr-host-bits",
    invalid_cidr_prefix => "invalid-cidr-prefix",
    invalid_cluster_name => "invalid-cluster-name",
    invalid_env_kind => "invalid-env-kind",
    invalid_label => "invalid-label",
    invalid_mesh => "invalid-mesh",
    invalid_namespace_name => "invalid-namespace-name",
    invalid_port_number => "invalid-port-number",
    invalid_port_protocol => "invalid-port-protocol",
    invalid_port_range => "invalid-port-range",
    invalid_port_unknown_protocol => "invalid-port-unknown-protocol",
    invalid_port_zero => "invalid-port-zero",
    invalid_project_name => "invalid-project-name",
    invalid_sensitivity => "invalid-sensitivity",
    invalid_service_account_name => "invalid-service-account-name",
    invalid_taint_effect => "invalid-taint-effect",
    invalid_zone_name => "invalid-zone-name",
    malformed_toml => "malformed-toml",
    malformed_toml_several => "malformed-toml-several",
    malformed_toml_string => "malformed-toml-string",
    many_errors => "many-errors",
    mesh_rule_empty => "mesh-rule-empty",
    mesh_rule_unknown_namespace => "mesh-rule-unknown-namespace",
    mesh_rule_unknown_principal_namespace => "mesh-rule-unknown-principal-namespace",
    mesh_rule_unknown_service_account => "mesh-rule-unknown-service-account",
    mesh_rule_without_istio => "mesh-rule-without-istio",
    missing_environment_table => "missing-environment-table",
    missing_field_flow_to => "missing-field-flow-to",
    missing_project_file => "missing-project-file",
    missing_project_table => "missing-project-table",
    namespace_on_no_cluster => "namespace-on-no-cluster",
    namespace_without_zone => "namespace-without-zone",
    no_environment_files => "no-environment-files",
    no_zones => "no-zones",
    node_pool_missing_on_one_cluster => "node-pool-missing-on-one-cluster",
    node_pool_without_labels => "node-pool-without-labels",
    not_utf8 => "not-utf8",
    port_without_protocol => "port-without-protocol",
    redefined_builtin_profile => "redefined-builtin-profile",
    reserved_label => "reserved-label",
    reserved_namespace => "reserved-namespace",
    syntax_error_and_other_errors => "syntax-error-and-other-errors",
    unknown_cluster_in_namespace => "unknown-cluster-in-namespace",
    unknown_compliance_tag => "unknown-compliance-tag",
    unknown_compliance_tag_namespace => "unknown-compliance-tag-namespace",
    unknown_extended_profile => "unknown-extended-profile",
    unknown_key_cluster => "unknown-key-cluster",
    unknown_key_inline_table => "unknown-key-inline-table",
    unknown_key_top_level => "unknown-key-top-level",
    unknown_key_zone => "unknown-key-zone",
    unknown_node_pool => "unknown-node-pool",
    unknown_zone_in_flow => "unknown-zone-in-flow",
    unknown_zone_in_namespace => "unknown-zone-in-namespace",
    weak_exemption_justification => "weak-exemption-justification",
    wrong_type_bool => "wrong-type-bool",
    wrong_type_ports => "wrong-type-ports",
}

fn case_dirs(kind: &str) -> Vec<String> {
    let mut cases: Vec<String> =
        std::fs::read_dir(Path::new(ROOT).join("tests/topologies").join(kind))
            .expect("the corpus directory exists")
            .map(|e| e.expect("readable entry"))
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
    cases.sort();
    cases
}

#[test]
fn every_invalid_case_has_a_test() {
    let mut listed: Vec<&str> = INVALID_CASES.to_vec();
    listed.sort();
    assert_eq!(case_dirs("invalid"), listed);
    assert!(listed.len() >= 30, "only {} invalid cases", listed.len());
}

#[test]
fn many_errors_are_reported_at_once_across_files() {
    let stderr = invalid("many-errors");
    for file in ["segplan.toml", "prod.toml", "staging.toml"] {
        assert!(
            stderr.contains(&format!("tests/topologies/invalid/many-errors/{file}:")),
            "no diagnostic in {file}:\n{stderr}"
        );
    }
    let count = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with('×'))
        .count();
    assert!(count >= 10, "{count} diagnostics:\n{stderr}");
    assert!(stderr.contains(&format!("error: topology is invalid: {count} errors")));
}

#[test]
fn the_bundled_example_is_valid() {
    let out = validate("environments");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    insta::assert_snapshot!("valid-environments", text(&out.stdout));
}

#[test]
fn the_valid_corpus_is_valid() {
    let cases = case_dirs("valid");
    assert!(cases.len() >= 3, "{cases:?}");
    for case in cases {
        let out = validate(&format!("tests/topologies/valid/{case}"));
        assert_eq!(out.status.code(), Some(0), "{case}: {}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{case}: {}", text(&out.stderr));
        insta::assert_snapshot!(format!("valid-{case}"), text(&out.stdout));
    }
}

#[test]
fn env_filter_limits_the_report() {
    let out = segplan()
        .args(["--topology", "environments", "validate", "--env", "prod"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("environment `prod`"), "{stdout}");
    assert!(!stdout.contains("environment `staging`"), "{stdout}");
}

#[test]
fn unknown_env_filter_is_an_input_error() {
    let out = segplan()
        .args([
            "--color",
            "never",
            "--topology",
            "environments",
            "validate",
            "--env",
            "prd",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    insta::assert_snapshot!("unknown-env-filter", text(&out.stderr));
}

#[test]
fn missing_directory() {
    let out = validate("tests/topologies/does-not-exist");
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("missing-directory", text(&out.stderr));
}

#[test]
fn topology_that_is_a_file() {
    let out = validate("tests/topologies/valid/minimal/segplan.toml");
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("topology-is-a-file", text(&out.stderr));
}

/// A temporary copy of the minimal valid topology, for file-system cases.
fn temp_topology() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["segplan.toml", "prod.toml"] {
        std::fs::copy(
            Path::new(ROOT)
                .join("tests/topologies/valid/minimal")
                .join(f),
            tmp.path().join(f),
        )
        .unwrap();
    }
    tmp
}

/// Validates a temporary topology; its path becomes `[TMP]` in the returned stderr.
fn validate_temp(tmp: &tempfile::TempDir) -> (Option<i32>, String) {
    let dir = tmp.path().to_str().expect("UTF-8 temp path");
    let out = validate(dir);
    let code = out.status.code();
    if code != Some(0) {
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    }
    (code, text(&out.stderr).replace(dir, "[TMP]"))
}

#[test]
fn a_100_mb_file_is_refused_without_reading_it() {
    let tmp = temp_topology();
    let big = std::fs::File::create(tmp.path().join("huge.toml")).unwrap();
    big.set_len(100 * 1024 * 1024).unwrap();
    let (code, stderr) = validate_temp(&tmp);
    assert_eq!(code, Some(2));
    insta::assert_snapshot!("file-of-100-mb", stderr);
}

#[test]
fn a_directory_named_like_an_environment_file() {
    let tmp = temp_topology();
    std::fs::create_dir(tmp.path().join("staging.toml")).unwrap();
    let (code, stderr) = validate_temp(&tmp);
    assert_eq!(code, Some(2));
    insta::assert_snapshot!("directory-as-file", stderr);
}

#[cfg(unix)]
#[test]
fn a_dangling_symbolic_link() {
    let tmp = temp_topology();
    std::os::unix::fs::symlink("gone.toml", tmp.path().join("staging.toml")).unwrap();
    let (code, stderr) = validate_temp(&tmp);
    assert_eq!(code, Some(2));
    insta::assert_snapshot!("dangling-link", stderr);
}

#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = temp_topology();
    let name = std::ffi::OsStr::from_bytes(b"st\xffging.toml");
    std::fs::copy(tmp.path().join("prod.toml"), tmp.path().join(name)).unwrap();
    let (code, stderr) = validate_temp(&tmp);
    assert_eq!(code, Some(2));
    insta::assert_snapshot!("file-name-not-utf8", stderr);
}

#[test]
fn other_files_in_the_directory_are_ignored() {
    let tmp = temp_topology();
    std::fs::write(tmp.path().join("README.md"), "notes").unwrap();
    std::fs::write(tmp.path().join(".hidden.toml"), "not toml [").unwrap();
    std::fs::create_dir(tmp.path().join("templates")).unwrap();
    let (code, stderr) = validate_temp(&tmp);
    assert_eq!(code, Some(0), "{stderr}");
}

/// Copies a corpus case into a temporary directory with CRLF line endings.
fn crlf_copy(case: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(Path::new(ROOT).join("tests/topologies").join(case)).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            tmp.path().join(path.file_name().unwrap()),
            text.replace('\n', "\r\n"),
        )
        .unwrap();
    }
    tmp
}

#[test]
fn crlf_line_endings() {
    let (code, stderr) = validate_temp(&crlf_copy("valid/full"));
    assert_eq!(code, Some(0), "{stderr}");

    // The same diagnostics at the same lines and columns as with LF endings.
    let lf = invalid("many-errors").replace("tests/topologies/invalid/many-errors", "[TMP]");
    let (code, crlf) = validate_temp(&crlf_copy("invalid/many-errors"));
    assert_eq!(code, Some(2));
    let headers = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("╭─[") || l.trim_start().starts_with('×'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(headers(&crlf), headers(&lf));
}
