//! The command-line contract, with the real binary: global flags and environment variables,
//! every command's name, exit codes, data on stdout and diagnostics on stderr, `init`,
//! completions and the man page.
//!
//! Commands that other work is building right now are only checked to exist (`<cmd> --help`).

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VALID: &str = "tests/topologies/valid/minimal";
const INVALID: &str = "tests/topologies/invalid/unknown-zone-in-flow";

/// Every command of the contract.
const COMMANDS: &[&str] = &[
    "init",
    "validate",
    "render",
    "commit",
    "diff",
    "apply",
    "check",
    "verify",
    "review",
    "graph",
    "connectivity",
];

/// `segplan` run from the repository root, without the caller's environment leaking in.
fn segplan() -> Command {
    let mut cmd = Command::cargo_bin("segplan").expect("the segplan binary is built");
    cmd.current_dir(ROOT)
        .env_remove("SEGPLAN_TOPOLOGY")
        .env_remove("SEGPLAN_LOG")
        .env_remove("NO_COLOR");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("segplan runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

fn has_ansi(s: &str) -> bool {
    s.contains('\u{1b}')
}

// ---- help, version and command names ----

#[test]
fn help_lists_every_command_and_exits_0() {
    for flag in ["--help", "-h", "help"] {
        let o = run(segplan().arg(flag));
        assert_eq!(o.status.code(), Some(0), "{flag}");
        let out = stdout(&o);
        for cmd in COMMANDS.iter().chain(&["completions", "manpage"]) {
            assert!(
                out.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
                "`{cmd}` missing from {flag}:\n{out}"
            );
        }
        for global in ["--topology", "--color", "--verbose", "--quiet"] {
            assert!(out.contains(global), "{global} missing from {flag}");
        }
        assert!(o.stderr.is_empty());
    }
}

#[test]
fn every_command_has_help() {
    for cmd in COMMANDS.iter().chain(&["completions", "manpage"]) {
        let o = run(segplan().args([cmd, "--help"]));
        assert_eq!(o.status.code(), Some(0), "{cmd} --help: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("Usage: segplan"), "{cmd}: {out}");
        // The global flags work after the command too.
        assert!(out.contains("--topology <DIR>"), "{cmd}: {out}");
    }
}

#[test]
fn version() {
    let o = run(segplan().arg("--version"));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o).trim(),
        format!("segplan {}", env!("CARGO_PKG_VERSION"))
    );
}

// ---- usage errors exit 2, on stderr ----

#[test]
fn usage_errors_exit_2_with_help_on_stderr() {
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["validate", "--no-such-flag"],
        &["--color", "sometimes", "validate"],
        &["-v", "-q", "validate"],
        &["init"],
        &["completions", "nosh"],
        &["validate", "extra-argument"],
        &["--topology"],
    ];
    for args in cases {
        let o = run(segplan().args(*args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}: stdout {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains("Usage:") || err.contains("try '--help'"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_near_miss_command_gets_a_suggestion() {
    let o = run(segplan().arg("valdate"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("validate"), "{}", stderr(&o));
}

// ---- --topology, SEGPLAN_TOPOLOGY and the default ----

#[test]
fn topology_flag_env_and_default() {
    let by_flag = run(segplan().args(["--topology", VALID, "validate"]));
    assert_eq!(by_flag.status.code(), Some(0), "{}", stderr(&by_flag));
    assert!(
        stdout(&by_flag).contains("1 environment"),
        "{}",
        stdout(&by_flag)
    );

    let by_env = run(segplan().env("SEGPLAN_TOPOLOGY", VALID).arg("validate"));
    assert_eq!(by_env.status.code(), Some(0));
    assert_eq!(stdout(&by_env), stdout(&by_flag));

    // The flag wins over the environment variable.
    let both =
        run(segplan()
            .env("SEGPLAN_TOPOLOGY", INVALID)
            .args(["--topology", VALID, "validate"]));
    assert_eq!(both.status.code(), Some(0), "{}", stderr(&both));
    let env_only = run(segplan().env("SEGPLAN_TOPOLOGY", INVALID).arg("validate"));
    assert_eq!(env_only.status.code(), Some(2));

    // The default is ./environments: the bundled example, from the repository root.
    let default = run(segplan().arg("validate"));
    assert_eq!(default.status.code(), Some(0), "{}", stderr(&default));
    assert!(
        stdout(&default).contains("3 environments"),
        "{}",
        stdout(&default)
    );

    // The flag may follow the command.
    let after = run(segplan().args(["validate", "--topology", VALID]));
    assert_eq!(stdout(&after), stdout(&by_flag));
}

#[test]
fn the_default_topology_missing_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(segplan()
        .current_dir(tmp.path())
        .args(["--color", "never", "validate"]));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("environments: cannot read topology directory"),
        "{err}"
    );
    assert!(err.contains("SEGPLAN_TOPOLOGY"), "{err}");
    assert!(o.stdout.is_empty());
}

// ---- stdout is data, stderr is diagnostics and logs ----

#[test]
fn data_on_stdout_diagnostics_on_stderr() {
    let ok = run(segplan().args(["--topology", VALID, "validate"]));
    assert_eq!(ok.status.code(), Some(0));
    assert!(stdout(&ok).contains("is valid"));
    assert!(ok.stderr.is_empty(), "{}", stderr(&ok));

    let bad = run(segplan().args(["--color", "never", "--topology", INVALID, "validate"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty(), "{}", stdout(&bad));
    assert!(
        stderr(&bad).contains("unknown zone `dta`"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn verbosity_adds_logs_on_stderr_only() {
    let quiet = run(segplan().args(["-q", "--topology", VALID, "validate"]));
    let normal = run(segplan().args(["--topology", VALID, "validate"]));
    let info = run(segplan().args(["-v", "--topology", VALID, "validate"]));
    let debug = run(segplan().args(["-vv", "--topology", VALID, "validate"]));
    for o in [&quiet, &normal, &info, &debug] {
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(stdout(o), stdout(&normal), "logs never go to stdout");
    }
    assert!(quiet.stderr.is_empty() && normal.stderr.is_empty());
    assert!(stderr(&info).contains("INFO"), "{}", stderr(&info));
    assert!(!stderr(&info).contains("DEBUG"), "{}", stderr(&info));
    assert!(stderr(&debug).contains("DEBUG"), "{}", stderr(&debug));
    assert!(
        stderr(&debug).contains("segplan.toml"),
        "{}",
        stderr(&debug)
    );
    // Not a terminal: no colour codes in logs.
    assert!(!has_ansi(&stderr(&debug)), "{}", stderr(&debug));
}

#[test]
fn quiet_still_shows_errors() {
    let o = run(segplan().args(["-q", "--color", "never", "--topology", INVALID, "validate"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown zone `dta`"));
}

#[test]
fn segplan_log_sets_the_filter() {
    let o =
        run(segplan()
            .env("SEGPLAN_LOG", "segplan=debug")
            .args(["--topology", VALID, "validate"]));
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("DEBUG"), "{}", stderr(&o));
    assert!(stdout(&o).contains("is valid"));

    let off =
        run(segplan()
            .env("SEGPLAN_LOG", "off")
            .args(["-vv", "--topology", VALID, "validate"]));
    assert_eq!(off.status.code(), Some(0));
    assert!(off.stderr.is_empty(), "{}", stderr(&off));

    // A filter that does not parse falls back to the flags' level instead of failing.
    let bad =
        run(segplan()
            .env("SEGPLAN_LOG", "segplan=[[[")
            .args(["--topology", VALID, "validate"]));
    assert_eq!(bad.status.code(), Some(0), "{}", stderr(&bad));
    assert_eq!(stdout(&bad), stdout(&o));
}

#[test]
fn color_flag() {
    let never = run(segplan().args(["--color", "never", "--topology", INVALID, "validate"]));
    assert!(!has_ansi(&stderr(&never)), "{}", stderr(&never));
    let always = run(segplan().args(["--color", "always", "--topology", INVALID, "validate"]));
    assert!(has_ansi(&stderr(&always)), "{}", stderr(&always));
    assert_eq!(always.status.code(), Some(2));
    // auto: stderr is not a terminal here.
    let auto = run(segplan().args(["--topology", INVALID, "validate"]));
    assert!(!has_ansi(&stderr(&auto)), "{}", stderr(&auto));
    // NO_COLOR does not override an explicit `always`... and `auto` stays plain.
    let no_color = run(segplan().env("NO_COLOR", "1").args([
        "--color",
        "auto",
        "--topology",
        INVALID,
        "validate",
    ]));
    assert!(!has_ansi(&stderr(&no_color)));
    assert_eq!(
        strip_ansi(&stderr(&always)),
        stderr(&never),
        "colour changes nothing but colour"
    );
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---- init ----

#[test]
fn init_writes_the_example_which_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new/topology");
    let o = run(segplan().arg("init").arg(&dir));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "{}", stdout(&o));
    for (name, text) in segplan::example::FILES {
        let written = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(&written, text, "{name}");
        let bundled = std::fs::read_to_string(Path::new(ROOT).join("environments").join(name));
        assert_eq!(&written, &bundled.unwrap(), "{name} is the bundled example");
        assert!(stderr(&o).contains(name), "{}", stderr(&o));
    }
    assert!(stderr(&o).contains("validate"), "init says what to do next");

    let v = run(segplan().arg("--topology").arg(&dir).arg("validate"));
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    let example = run(segplan().args(["--topology", "environments", "validate"]));
    assert_eq!(stdout(&v), stdout(&example));
}

#[test]
fn init_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("prod.toml"), "# mine\n").unwrap();
    let o = run(segplan().args(["--color", "never", "init"]).arg(dir));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("prod.toml already exists"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("prod.toml")).unwrap(),
        "# mine\n"
    );
    // Nothing else was written either.
    let entries: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert_eq!(entries.len(), 1, "{entries:?}");

    // A second init over a complete example is refused too.
    let full = tmp.path().join("full");
    assert_eq!(run(segplan().arg("init").arg(&full)).status.code(), Some(0));
    let before = std::fs::read(full.join("segplan.toml")).unwrap();
    let again = run(segplan().arg("init").arg(&full));
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read(full.join("segplan.toml")).unwrap(), before);
}

#[test]
fn init_into_a_file_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = run(segplan().args(["--color", "never", "init"]).arg(&file));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a-file is not a directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

// ---- completions and man page ----

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_segplan()"),
        ("zsh", "#compdef segplan"),
        ("fish", "complete -c segplan"),
        ("elvish", "segplan"),
        ("powershell", "segplan"),
    ] {
        let o = run(segplan().args(["completions", shell]));
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains(marker),
            "{shell}: {}",
            &out[..out.len().min(300)]
        );
        for cmd in COMMANDS {
            assert!(out.contains(cmd), "{shell} completions lack {cmd}");
        }
    }
}

#[test]
fn manpage() {
    let o = run(segplan().arg("manpage"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(".ie") || out.contains(".TH segplan"),
        "{}",
        &out[..out.len().min(300)]
    );
    for text in ["topology", "validate", "SEGPLAN_TOPOLOGY"] {
        assert!(out.contains(text), "man page lacks {text}");
    }
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    use std::process::Stdio;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("segplan"))
        .current_dir(ROOT)
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("error"), "{}", stderr(&o));
}

#[test]
fn docs_cli_md_covers_every_command_and_variable() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/cli.md")).unwrap();
    for cmd in COMMANDS.iter().chain(&["completions", "manpage"]) {
        assert!(
            doc.contains(&format!("### `segplan {cmd}")) || doc.contains(&format!("`{cmd}`")),
            "docs/cli.md does not describe `{cmd}`"
        );
    }
    for name in [
        "SEGPLAN_TOPOLOGY",
        "SEGPLAN_LOG",
        "KUBECONFIG",
        "NO_COLOR",
        "--topology",
        "--color",
        "--verbose",
        "--quiet",
    ] {
        assert!(
            doc.contains(&format!("`{name}")),
            "docs/cli.md does not describe {name}"
        );
    }
}
