//! The fast YAML reader (`segplan::render::fast_yaml`) against serde-saphyr, the reference.
//!
//! The reader may decline any document (`None`, serde-saphyr then decides), but a document it
//! accepts must mean exactly what serde-saphyr reads: same JSON value, and never a document
//! serde-saphyr rejects. These tests feed it every rendered example document, generated
//! documents in many YAML styles, and mutated copies of both.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use segplan::render::fast_yaml;
use serde_json::Value;

/// Whether the fast reader accepted `doc`; panics if it disagrees with serde-saphyr.
fn agrees(doc: &str) -> bool {
    let Some(fast) = fast_yaml::parse(doc) else {
        return false;
    };
    let slow: Vec<Value> = serde_saphyr::from_multiple(doc)
        .unwrap_or_else(|e| panic!("accepted a document serde-saphyr rejects ({e}):\n{doc}"));
    assert_eq!(
        slow.len(),
        1,
        "accepted {} documents as one:\n{doc}",
        slow.len()
    );
    assert_eq!(slow[0], fast, "read differently from serde-saphyr:\n{doc}");
    true
}

fn example_documents() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
    let (model, _) = segplan::model::load(&dir).expect("the example is valid");
    let mut docs = Vec::new();
    for env in model.environments.keys() {
        let r = segplan::render::render(&model, env, &Default::default()).expect("renders");
        for c in &r.clusters {
            docs.extend(c.manifests.iter().map(|m| m.yaml().to_string()));
        }
    }
    docs
}

fn generated_documents() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    segplan::example::write_large(dir.path(), 2, 40).unwrap();
    let (model, _) = segplan::model::load(dir.path()).expect("the generated topology is valid");
    let r = segplan::render::render(&model, "prod", &Default::default()).expect("renders");
    r.clusters
        .iter()
        .flat_map(|c| c.manifests.iter().map(|m| m.yaml().to_string()))
        .collect()
}

#[test]
fn every_rendered_document_takes_the_fast_path_and_reads_the_same() {
    let mut docs = example_documents();
    docs.extend(generated_documents());
    assert!(docs.len() > 500, "only {} documents", docs.len());
    let declined: Vec<&String> = docs.iter().filter(|d| !agrees(d)).collect();
    // The speed of `segplan render` depends on this: the default templates stay in the subset.
    assert!(
        declined.is_empty(),
        "{} rendered documents left to serde-saphyr, e.g.:\n{}",
        declined.len(),
        declined[0]
    );
}

#[test]
fn a_label_value_with_a_newline_and_colon_reads_back_as_the_string() {
    let doc = "metadata:\n  labels:\n    team: \"a\\nb: c\"\n  name: x\n";
    assert!(agrees(doc));
    assert_eq!(
        fast_yaml::parse(doc).unwrap()["metadata"]["labels"]["team"],
        "a\nb: c"
    );
}

/// Plain scalars YAML versions disagree on, or that look like numbers, booleans or nulls.
const TRICKY: &[&str] = &[
    "yes",
    "Yes",
    "NO",
    "on",
    "Off",
    "y",
    "N",
    "true",
    "True",
    "FALSE",
    "null",
    "Null",
    "~",
    "nan",
    "NaN",
    ".inf",
    "-.inf",
    ".NaN",
    "0",
    "00",
    "007",
    "0o17",
    "0x1F",
    "0b11",
    "1_000",
    "1e3",
    "1.5",
    "+5",
    "-5",
    "-0",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678",
    "1234567890123456789",
    "2001-12-14",
    "1:20",
    "190:20:30",
    "None",
    "nil",
    "<<",
    "=",
    "a b",
    "a:b",
    "a: b",
    "a #b",
    "#x",
    "@x",
    "`x",
    "%x",
    "!x",
    "&x",
    "*x",
    "|",
    ">",
    "?",
    "- x",
    "-",
    "[x]",
    "{x}",
    "{}",
    "[]",
    "[ ]",
    "\"x\"",
    "'x'",
    "x'",
    "x\"",
    "k8s-app",
    "segplan.io/zone",
    "_x",
    "a.b",
    "a/b",
    "a-b",
];

/// A YAML scalar token as written in a document.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(TRICKY).prop_map(str::to_string),
        3 => "[a-z0-9._/+~:-]{1,6}",
        2 => "[a-zA-Z_][a-zA-Z0-9._/-]{0,8}",
        2 => any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => proptest::collection::vec(
            prop_oneof![
                Just("\\x41".to_string()),
                Just("\\u00e9".to_string()),
                Just("\\u0007".to_string()),
                Just("\\U0001F600".to_string()),
                Just("\\ud83d\\ude00".to_string()),
                Just("\\0".to_string()),
                Just("\\e".to_string()),
                Just("\\/".to_string()),
                Just("\\ ".to_string()),
                Just("\\N".to_string()),
                Just("\\q".to_string()),
                Just("'".to_string()),
                "[a-z ]{0,3}",
            ],
            0..4
        )
        .prop_map(|parts| format!("\"{}\"", parts.concat())),
        1 => proptest::collection::vec("[a-z0-9]{1,3}|\"[a-z]{0,2}\"", 0..4)
            .prop_map(|items| format!("[{}]", items.join(", "))),
    ]
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(String),
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

fn node() -> impl Strategy<Value = Node> {
    token()
        .prop_map(Node::Leaf)
        .prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec((token(), inner.clone()), 1..5).prop_map(Node::Map),
                proptest::collection::vec(inner, 1..5).prop_map(Node::Seq),
            ]
        })
}

/// How a tree is written: indentation step, sequences under a key indented or not, and
/// whether a mapping in a sequence starts on the dash's line.
#[derive(Debug, Clone, Copy)]
struct Style {
    step: usize,
    indent_seq: bool,
    compact: bool,
}

fn emit(node: &Node, indent: usize, style: Style, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Node::Leaf(t) => {
            out.push_str(&pad);
            out.push_str(t);
            out.push('\n');
        }
        Node::Map(entries) => {
            for (k, v) in entries {
                match v {
                    Node::Leaf(t) => out.push_str(&format!("{pad}{k}: {t}\n")),
                    Node::Map(_) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        emit(v, indent + style.step, style, out);
                    }
                    Node::Seq(_) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        let at = if style.indent_seq {
                            indent + style.step
                        } else {
                            indent
                        };
                        emit(v, at, style, out);
                    }
                }
            }
        }
        Node::Seq(items) => {
            for item in items {
                match item {
                    Node::Leaf(t) => out.push_str(&format!("{pad}- {t}\n")),
                    Node::Map(_) if style.compact => {
                        let mut inner = String::new();
                        emit(item, indent + 2, style, &mut inner);
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&inner[indent + 2..]);
                    }
                    _ => {
                        out.push_str(&format!("{pad}-\n"));
                        emit(item, indent + style.step, style, out);
                    }
                }
            }
        }
    }
}

fn style() -> impl Strategy<Value = Style> {
    (1usize..5, any::<bool>(), any::<bool>()).prop_map(|(step, indent_seq, compact)| Style {
        step,
        indent_seq,
        compact,
    })
}

/// One edit of a document: insert a character, delete one, or re-indent a line.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Indent(usize, bool),
    DuplicateLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let chars = proptest::sample::select(vec![
        ' ', ':', '-', '#', '"', '\'', '\\', 'y', '0', '\t', '\n', '[', ']', '{', '}', ',', '&',
        '*', '!', '|', '>', '?', 'é', '\r',
    ]);
    prop_oneof![
        (any::<usize>(), chars).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), any::<bool>()).prop_map(|(i, more)| Edit::Indent(i, more)),
        any::<usize>().prop_map(Edit::DuplicateLine),
    ]
}

fn apply(doc: &str, edit: &Edit) -> String {
    let mut s = doc.to_string();
    let at = |i: usize, s: &str| {
        let mut i = i % (s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match *edit {
        Edit::Insert(i, c) => {
            let i = at(i, &s);
            s.insert(i, c);
        }
        Edit::Delete(i) if !s.is_empty() => {
            let i = at(i, &s).min(s.len() - 1);
            let i = (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0);
            s.remove(i);
        }
        Edit::Delete(_) => {}
        Edit::Indent(i, _) | Edit::DuplicateLine(i) if !s.is_empty() => {
            let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
            let n = i % lines.len();
            match *edit {
                Edit::DuplicateLine(_) => {
                    let line = lines[n].clone();
                    lines.insert(n, line);
                }
                Edit::Indent(_, true) => lines[n].insert(0, ' '),
                _ => {
                    if lines[n].starts_with(' ') {
                        lines[n].remove(0);
                    }
                }
            }
            s = lines.join("\n") + "\n";
        }
        _ => {}
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_read_as_serde_saphyr_reads_them(
        tree in node(),
        style in style(),
        edits in proptest::collection::vec(edit(), 0..3),
    ) {
        let mut doc = String::new();
        emit(&tree, 0, style, &mut doc);
        agrees(&doc);
        for e in &edits {
            doc = apply(&doc, e);
            agrees(&doc);
        }
    }
}

/// `n` copies of random `docs`, each with a random number of edits in `edits` (deterministic).
fn mutated_documents(docs: &[String], n: usize, edits: std::ops::Range<usize>) -> Vec<String> {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (0..docs.len(), proptest::collection::vec(edit(), edits));
    (0..n)
        .map(|_| {
            let (i, edits) = strategy.new_tree(&mut runner).unwrap().current();
            edits.iter().fold(docs[i].clone(), |doc, e| apply(&doc, e))
        })
        .collect()
}

#[test]
fn mutated_rendered_documents_read_as_serde_saphyr_reads_them() {
    let mut accepted = 0;
    for doc in mutated_documents(&example_documents(), 4000, 1..4) {
        if agrees(&doc) {
            accepted += 1;
        }
    }
    // Many edits keep a document valid (a changed scalar, one more space before a value):
    // the comparison above must have had accepted documents to compare.
    assert!(
        accepted > 400,
        "only {accepted} of 4000 mutated documents accepted"
    );
}

#[test]
fn documents_in_the_subset_are_accepted_in_every_style() {
    // Guards against a vacuous comparison: with scalars of the subset only (strings that can
    // only be strings, integers, booleans, JSON strings, flow lists), documents written in
    // every generated style are read by the fast reader, and read as serde-saphyr reads them.
    let subset_token = prop_oneof![
        "[a-z_][a-z0-9._/-]{5,8}",
        "[1-9][0-9]{0,5}",
        Just("true".to_string()),
        // Any ASCII text, controls included, as `escape_yaml` quotes it.
        proptest::collection::vec(proptest::char::range('\0', '~'), 0..12)
            .prop_map(|cs| serde_json::to_string(&cs.into_iter().collect::<String>()).unwrap()),
        proptest::collection::vec("[a-z]{6}|[1-9]|\"[a-z:# ]{0,4}\"", 0..4)
            .prop_map(|items| format!("[{}]", items.join(", "))),
    ];
    let key = "[a-z][a-z0-9./-]{5,9}";
    let tree = subset_token
        .prop_map(Node::Leaf)
        .prop_recursive(4, 40, 5, move |inner| {
            prop_oneof![
                proptest::collection::btree_map(key, inner.clone(), 1..5)
                    .prop_map(|m| Node::Map(m.into_iter().collect())),
                proptest::collection::vec(inner, 1..5).prop_map(Node::Seq),
            ]
        });
    let strategy = (
        proptest::collection::btree_map(key, tree, 1..5)
            .prop_map(|m| Node::Map(m.into_iter().collect())),
        style(),
    );
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut declined = Vec::new();
    for _ in 0..2000 {
        let (tree, style) = strategy.new_tree(&mut runner).unwrap().current();
        let mut doc = String::new();
        emit(&tree, 0, style, &mut doc);
        if !agrees(&doc) {
            declined.push(doc);
        }
    }
    assert!(
        declined.is_empty(),
        "{} of 2000 documents declined, e.g.:\n{}",
        declined.len(),
        declined[0]
    );
}

/// Deserializes `doc` as `T` from the fast reader's tree and from its JSON; both must give
/// the same object or the same error. Returns whether the tree was available.
fn typed_agrees<T>(doc: &str) -> bool
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let Some(tree) = fast_yaml::parse_tree(doc) else {
        return false;
    };
    let from_tree = T::deserialize(&tree).map_err(|e| e.to_string());
    let from_json = T::deserialize(tree.to_value()).map_err(|e| e.to_string());
    assert_eq!(from_tree, from_json, "{doc}");
    true
}

fn typed_agrees_as_kind(doc: &str) -> bool {
    use k8s_openapi::api::admissionregistration::v1 as adm;
    match fast_yaml::parse(doc).and_then(|v| v["kind"].as_str().map(str::to_string)) {
        Some(k) if k == "Namespace" => typed_agrees::<k8s_openapi::api::core::v1::Namespace>(doc),
        Some(k) if k == "ValidatingAdmissionPolicy" => {
            typed_agrees::<adm::ValidatingAdmissionPolicy>(doc)
        }
        Some(k) if k == "ValidatingAdmissionPolicyBinding" => {
            typed_agrees::<adm::ValidatingAdmissionPolicyBinding>(doc)
        }
        // Everything else as a NetworkPolicy: most mismatches are then errors to compare.
        Some(_) => typed_agrees::<k8s_openapi::api::networking::v1::NetworkPolicy>(doc),
        None => false,
    }
}

#[test]
fn k8s_types_read_from_the_tree_as_from_json() {
    let docs = example_documents();
    let mut kinds = std::collections::BTreeSet::new();
    for d in &docs {
        assert!(typed_agrees_as_kind(d), "declined:\n{d}");
        kinds.insert(fast_yaml::parse(d).unwrap()["kind"].to_string());
    }
    assert!(kinds.len() >= 6, "kinds compared: {kinds:?}");
    // Mutated documents: changed scalars and structure make many of them fail to
    // deserialize; the errors must be the same too.
    let (mut compared, mut errors) = (0, 0);
    for doc in mutated_documents(&docs, 3000, 1..3) {
        if typed_agrees_as_kind(&doc) {
            compared += 1;
            let tree = fast_yaml::parse_tree(&doc).unwrap();
            use serde::Deserialize;
            if k8s_openapi::api::networking::v1::NetworkPolicy::deserialize(&tree).is_err() {
                errors += 1;
            }
        }
    }
    assert!(
        compared > 300 && errors > 30,
        "{compared} compared, {errors} errors"
    );
}
