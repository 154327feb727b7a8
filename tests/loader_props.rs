//! Property tests of the topology loader and validator: whatever the bytes, loading never
//! panics, and every diagnostic points inside a file of the topology (a span within the text,
//! on character boundaries) or names one of its files or the directory.
//!
//! Inputs: random bytes, TOML-shaped random text, and random mutations of the bundled example
//! (byte flips and insertions, line deletions, duplications and swaps, key renames, value
//! replacements, truncation).

use std::path::Path;

use proptest::prelude::*;
use segplan::diag::Diagnostic;

const DIR: &str = "topo";

type Files = Vec<(String, Vec<u8>)>;

fn example() -> Files {
    segplan::example::FILES
        .iter()
        .map(|(name, text)| (name.to_string(), text.as_bytes().to_vec()))
        .collect()
}

/// Checks one diagnostic: a location inside one of `files`, or a path naming one of them
/// (or the directory).
fn check_located(d: &Diagnostic, files: &Files) -> Result<(), TestCaseError> {
    // The files given, and segplan.toml, which a diagnostic names when it is missing.
    let mut names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    names.push(segplan::topology::PROJECT_FILE);
    let in_topology = |p: &Path| {
        p == Path::new(DIR)
            || p.strip_prefix(DIR)
                .ok()
                .and_then(|rest| rest.to_str())
                .is_some_and(|rest| names.contains(&rest))
    };
    match (&d.location, &d.path) {
        (Some(loc), _) => {
            let text = &loc.file.text;
            prop_assert!(in_topology(&loc.file.path), "{d}: {:?}", loc.file.path);
            prop_assert!(
                loc.span.start <= loc.span.end && loc.span.end <= text.len(),
                "{d}: span {:?} outside a text of {} bytes",
                loc.span,
                text.len()
            );
            prop_assert!(
                text.is_char_boundary(loc.span.start) && text.is_char_boundary(loc.span.end),
                "{d}: span {:?} splits a character",
                loc.span
            );
            let (line, col) = loc.file.line_col(loc.span.start);
            prop_assert!(line >= 1 && col >= 1);
            prop_assert!(line <= text.split('\n').count(), "{d}: line {line}");
        }
        (None, Some(p)) => prop_assert!(in_topology(p), "{d}: {p:?}"),
        (None, None) => prop_assert!(false, "diagnostic without a place: {d}"),
    }
    Ok(())
}

/// Loads `files` in memory and checks the outcome; returns whether they were valid.
fn check(files: &Files) -> Result<bool, TestCaseError> {
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    match segplan::model::load_files(Path::new(DIR), &refs) {
        Ok((_model, warnings)) => {
            for w in &warnings {
                prop_assert!(!w.is_error(), "an error among the warnings: {w}");
                check_located(w, files)?;
            }
            Ok(true)
        }
        Err(diags) => {
            prop_assert!(
                diags.iter().any(Diagnostic::is_error),
                "Err without an error"
            );
            for d in &diags {
                check_located(d, files)?;
            }
            // Rendering the snippets must not panic either, and shows every diagnostic.
            let shown = segplan::diag::render(&diags, false);
            prop_assert!(shown.matches('×').count() >= diags.len(), "{shown}");
            Ok(false)
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte { at: usize, xor: u8 },
    InsertByte { at: usize, byte: u8 },
    DeleteLine { line: usize },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    RenameKey { nth: usize, to: String },
    ReplaceValue { nth: usize, with: String },
    Truncate { at: usize },
}

/// Keys of both file kinds, so renames often produce a key that is valid elsewhere.
const KEYS: &[&str] = &[
    "project",
    "name",
    "zones",
    "flows",
    "from",
    "to",
    "ports",
    "reason",
    "zone",
    "clusters",
    "namespaces",
    "environment",
    "kind",
    "compliance",
    "context",
    "pod_cidr",
    "node_pools",
    "labels",
    "taints",
    "effect",
    "node_pool",
    "mesh",
    "mesh_rules",
    "cross_cluster_flows",
    "service_accounts",
    "sensitivity",
    "internet_egress",
    "profiles",
    "exemptions",
];

/// Values that break one check or another.
const VALUES: &[&str] = &[
    "",
    "Prod",
    "prod-eu-1",
    "../etc",
    "kube-system",
    "10.10.0.0/16",
    "10.0.0.1/8",
    "fd00::/8",
    "443/TCP",
    "0/TCP",
    "8000-7000/UDP",
    "443/tcp",
    "app",
    "dmz",
    "data",
    "ops",
    "pci",
    "pci-dss",
    "istio",
    "linkerd",
    "NoSchedule",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "ünïcödé",
    "a\"b",
    "checkout/checkout-service",
    "https://",
    "management",
    "production",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let key = prop_oneof![
        proptest::sample::select(KEYS).prop_map(str::to_string),
        "[a-z_]{1,12}",
        "[A-Za-z0-9.\"\\-]{1,8}",
    ];
    let value = prop_oneof![
        proptest::sample::select(VALUES).prop_map(str::to_string),
        "[ -~]{0,16}",
        any::<String>(),
    ];
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::FlipByte { at, xor }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::InsertByte { at, byte }),
        any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        (any::<usize>(), key).prop_map(|(nth, to)| Mutation::RenameKey { nth, to }),
        (any::<usize>(), value).prop_map(|(nth, with)| Mutation::ReplaceValue { nth, with }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// Byte ranges of the keys in a TOML text: the word before `=` at a line's start, and the
/// dotted segments of `[table]` headers.
fn key_spans(text: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    for line in text.split(|&b| b == b'\n') {
        let indent = line.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let rest = &line[indent..];
        if rest.first() == Some(&b'[') {
            let mut i = indent;
            while i < line.len() {
                if line[i].is_ascii_alphanumeric() || line[i] == b'_' || line[i] == b'-' {
                    let s = i;
                    while i < line.len()
                        && (line[i].is_ascii_alphanumeric() || matches!(line[i], b'_' | b'-'))
                    {
                        i += 1;
                    }
                    spans.push(start + s..start + i);
                } else {
                    i += 1;
                }
            }
        } else if let Some(eq) = rest.iter().position(|&b| b == b'=') {
            let key_len = rest[..eq]
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map_or(0, |p| p + 1);
            if key_len > 0 {
                spans.push(start + indent..start + indent + key_len);
            }
        }
        start += line.len() + 1;
    }
    spans
}

/// Byte ranges of the insides of `"..."` strings (no escapes in the example).
fn value_spans(text: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut open = None;
    for (i, &b) in text.iter().enumerate() {
        match (b, open) {
            (b'"', None) => open = Some(i + 1),
            (b'"', Some(s)) => {
                spans.push(s..i);
                open = None;
            }
            (b'\n', Some(_)) => open = None,
            _ => {}
        }
    }
    spans
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let lines = |bytes: &Vec<u8>| -> Vec<Vec<u8>> {
        bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
    };
    match m {
        Mutation::FlipByte { at, xor } => {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] ^= xor;
            }
        }
        Mutation::InsertByte { at, byte } => {
            let i = at % (bytes.len() + 1);
            bytes.insert(i, *byte);
        }
        Mutation::DeleteLine { line } => {
            let mut ls = lines(bytes);
            let i = line % ls.len();
            ls.remove(i);
            *bytes = ls.join(&b'\n');
        }
        Mutation::DuplicateLine { line } => {
            let mut ls = lines(bytes);
            let i = line % ls.len();
            let l = ls[i].clone();
            ls.insert(i, l);
            *bytes = ls.join(&b'\n');
        }
        Mutation::SwapLines { a, b } => {
            let mut ls = lines(bytes);
            let (a, b) = (a % ls.len(), b % ls.len());
            ls.swap(a, b);
            *bytes = ls.join(&b'\n');
        }
        Mutation::RenameKey { nth, to } => {
            let spans = key_spans(bytes);
            if !spans.is_empty() {
                let s = spans[nth % spans.len()].clone();
                bytes.splice(s, to.bytes());
            }
        }
        Mutation::ReplaceValue { nth, with } => {
            let spans = value_spans(bytes);
            if !spans.is_empty() {
                let s = spans[nth % spans.len()].clone();
                bytes.splice(s, with.bytes());
            }
        }
        Mutation::Truncate { at } => {
            let i = at % (bytes.len() + 1);
            bytes.truncate(i);
        }
    }
}

#[test]
fn the_unmutated_example_is_valid() {
    assert!(
        check(&example()).unwrap(),
        "the bundled example must validate"
    );
}

#[test]
fn mutation_helpers_find_keys_and_values() {
    let text = b"[zones.dmz]\ninternet_ingress = [\"443/TCP\"]\n";
    let keys: Vec<&[u8]> = key_spans(text).into_iter().map(|s| &text[s]).collect();
    assert_eq!(keys, [&b"zones"[..], b"dmz", b"internet_ingress"]);
    let values: Vec<&[u8]> = value_spans(text).into_iter().map(|s| &text[s]).collect();
    assert_eq!(values, [&b"443/TCP"[..]]);
    let mut bytes = text.to_vec();
    apply(
        &mut bytes,
        &Mutation::RenameKey {
            nth: 1,
            to: "Dmz".into(),
        },
    );
    assert!(bytes.starts_with(b"[zones.Dmz]\n"));
}

#[test]
fn a_known_mutation_is_reported_in_its_file() {
    let mut files = example();
    let prod = files.iter_mut().find(|(n, _)| n == "prod.toml").unwrap();
    apply(
        &mut prod.1,
        &Mutation::ReplaceValue {
            nth: 0,
            with: "prod".into(),
        },
    );
    assert!(!check(&files).unwrap(), "kind = \"prod\" must be rejected");
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let diags = segplan::model::load_files(Path::new(DIR), &refs).unwrap_err();
    let loc = diags[0].location.as_ref().expect("located");
    assert_eq!(loc.file.path, Path::new(DIR).join("prod.toml"));
    assert_eq!(&loc.file.text[loc.span.clone()], "\"prod\"");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_example_never_panics(
        mutations in proptest::collection::vec((0..4usize, mutation()), 1..6),
    ) {
        let mut files = example();
        for (file, m) in &mutations {
            apply(&mut files[*file % 4].1, m);
        }
        check(&files)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(
        which in 0..4usize,
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut files = example();
        files[which].1 = bytes;
        check(&files)?;
    }

    #[test]
    fn toml_shaped_text_never_panics(
        which in 0..4usize,
        text in "(\\[{1,2}[a-z_.\\-]{0,20}\\]{1,2}\n|[a-z_\\-]{1,12} = (\"[ -~]{0,12}\"|[0-9]{1,6}|true|\\[\\]|\\[\"[ -~]{0,8}\"\\]|\\{ [a-z]{1,5} = \"[a-z]{0,5}\" \\})\n){0,24}",
    ) {
        let mut files = example();
        files[which].1 = text.into_bytes();
        check(&files)?;
    }

    #[test]
    fn random_file_sets_never_panic(
        names in proptest::collection::vec("[a-zA-Z_.\\-]{0,10}(\\.toml)?", 0..4),
        keep_project in any::<bool>(),
    ) {
        let mut files: Files = names.into_iter().map(|n| (n, b"[environment]\nkind = \"production\"\n".to_vec())).collect();
        files.sort();
        files.dedup_by(|a, b| a.0 == b.0);
        if keep_project {
            files.retain(|(n, _)| n != "segplan.toml");
            files.push(example().into_iter().find(|(n, _)| n == "segplan.toml").unwrap());
        }
        check(&files)?;
    }
}

proptest! {
    // Through the file system too: fewer cases, as each writes a directory.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn mutated_example_on_disk_never_panics(
        mutations in proptest::collection::vec((0..4usize, mutation()), 1..4),
    ) {
        let mut files = example();
        for (file, m) in &mutations {
            apply(&mut files[*file % 4].1, m);
        }
        let tmp = tempfile::tempdir().unwrap();
        for (name, bytes) in &files {
            std::fs::write(tmp.path().join(name), bytes).unwrap();
        }
        let from_memory = {
            let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
            segplan::model::load_files(tmp.path(), &refs)
        };
        let from_disk = segplan::model::load(tmp.path());
        // The two loaders agree on validity and on what they report.
        let messages = |r: &Result<(segplan::model::Model, Vec<Diagnostic>), Vec<Diagnostic>>| match r {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        };
        prop_assert_eq!(from_memory.is_ok(), from_disk.is_ok());
        prop_assert_eq!(messages(&from_memory), messages(&from_disk));
    }
}
