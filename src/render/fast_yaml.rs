//! A fast reader for the plain block-style YAML that segplan's templates produce.
//!
//! Parsing every rendered document back is what lets segplan refuse a broken template before
//! anything uses its output, and with serde-saphyr it was most of the render time (about 200 ns
//! per byte). Nearly every document is written in a small, regular subset of YAML: block
//! mappings and sequences indented with spaces, full-line comments, JSON-quoted strings, plain
//! scalars that cannot mean anything but a string, decimal integers, `true`/`false`, `{}`, and
//! one-line flow sequences of such scalars.
//!
//! [`parse`] reads exactly that subset and answers `None` for anything else (anchors, tags,
//! block scalars, single quotes, multi-line scalars, YAML 1.1 words such as `on` or `yes`,
//! numbers with leading zeros, duplicate keys, syntax errors, non-ASCII text, ...). The caller
//! then parses the document with serde-saphyr, which stays the reference for meaning and for
//! error messages. A `Some` is therefore a promise: it is the value serde-saphyr would give.
//! `tests/fast_yaml.rs` holds the reader to that promise against serde-saphyr on the rendered
//! examples and on generated and mutated documents.
//!
//! The reader builds a [`Node`] tree that borrows its strings from the document (a quoted
//! string with escapes is the only copy), and a `&Node` is a serde `Deserializer`: the render
//! check deserializes k8s-openapi types straight from it, without building JSON first.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

/// A parsed YAML node. Mappings keep their keys in document order (no duplicates).
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Seq(Vec<Node<'a>>),
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// The document as JSON, when it is in the subset; `None` to let serde-saphyr decide.
pub fn parse(doc: &str) -> Option<Value> {
    parse_tree(doc).map(|n| n.to_value())
}

/// The document as a [`Node`] tree, when it is in the subset; `None` to let serde-saphyr decide.
pub fn parse_tree(doc: &str) -> Option<Node<'_>> {
    // Printable ASCII and newlines only: YAML also breaks lines at `\r` (even inside a
    // comment), and tabs and other controls have rules of their own.
    if doc.bytes().any(|b| (b < 0x20 && b != b'\n') || b >= 0x7f) {
        return None;
    }
    let mut lines = Vec::with_capacity(doc.len() / 24);
    for raw in doc.split('\n') {
        let indent = raw.bytes().take_while(|&b| b == b' ').count();
        let text = &raw[indent..];
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if text.ends_with(' ') {
            return None;
        }
        if indent == 0 && (text.starts_with("---") || text.starts_with("...")) {
            return None;
        }
        lines.push(Line { indent, text });
    }
    match lines.first() {
        Some(first) if first.indent == 0 => {}
        _ => return None,
    }
    let mut p = Parser { lines, pos: 0 };
    let value = p.node(0)?;
    (p.pos == p.lines.len()).then_some(value)
}

#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    /// The line after its indentation: never empty, never a comment.
    text: &'a str,
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

impl<'a> Parser<'a> {
    /// The block node starting at the current line, which is at `indent`.
    fn node(&mut self, indent: usize) -> Option<Node<'a>> {
        if is_seq_item(self.lines[self.pos].text) {
            self.seq(indent)
        } else {
            self.map(indent)
        }
    }

    fn map(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut map: Vec<(Cow<'a, str>, Node<'a>)> = Vec::new();
        while let Some(line) = self.lines.get(self.pos).copied() {
            if line.indent < indent || (line.indent == indent && is_seq_item(line.text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let (key, rest) = split_key(line.text)?;
            self.pos += 1;
            let value = if rest.is_empty() {
                self.block_value(indent)?
            } else {
                scalar(rest)?
            };
            if map.iter().any(|(k, _)| *k == key) {
                return None;
            }
            map.push((key, value));
        }
        Some(Node::Map(map))
    }

    /// The value of a `key:` at `indent` whose value is on the following lines: a more indented
    /// node, or a sequence at the key's own indentation.
    fn block_value(&mut self, indent: usize) -> Option<Node<'a>> {
        let next = *self.lines.get(self.pos)?;
        if next.indent > indent {
            self.node(next.indent)
        } else if next.indent == indent && is_seq_item(next.text) {
            self.seq(indent)
        } else {
            None
        }
    }

    fn seq(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.pos).copied() {
            if line.indent < indent || (line.indent == indent && !is_seq_item(line.text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            if line.text == "-" {
                self.pos += 1;
                let next = *self.lines.get(self.pos)?;
                if next.indent <= indent {
                    return None;
                }
                items.push(self.node(next.indent)?);
                continue;
            }
            let after = &line.text[1..];
            let rest = after.trim_start_matches(' ');
            let inner = indent + 1 + (after.len() - rest.len());
            if rest.starts_with('-') {
                return None;
            }
            if split_key(rest).is_some() {
                // A compact mapping: its first key sits on the item's line.
                self.lines[self.pos] = Line {
                    indent: inner,
                    text: rest,
                };
                items.push(self.map(inner)?);
            } else {
                self.pos += 1;
                items.push(scalar(rest)?);
            }
        }
        Some(Node::Seq(items))
    }
}

/// `key: rest` or `key:` (rest empty), with a plain string key or a JSON-quoted one.
fn split_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = if text.starts_with('"') {
        let (key, used) = quoted(text)?;
        (key, &text[used..])
    } else {
        let end = text
            .bytes()
            .position(|b| !is_plain_byte(b))
            .unwrap_or(text.len());
        let key = &text[..end];
        if !is_plain_string(key) {
            return None;
        }
        (Cow::Borrowed(key), &text[end..])
    };
    let after = after.strip_prefix(':')?;
    if after.is_empty() {
        return Some((key, ""));
    }
    let rest = after.strip_prefix(' ')?.trim_start_matches(' ');
    Some((key, rest))
}

/// A scalar, `{}`, or a one-line flow sequence of scalars, filling the rest of a line.
fn scalar(text: &str) -> Option<Node<'_>> {
    match text.as_bytes()[0] {
        b'"' => {
            let (s, used) = quoted(text)?;
            (used == text.len()).then_some(Node::String(s))
        }
        b'{' => (text == "{}").then(|| Node::Map(Vec::new())),
        b'[' => flow_seq(text),
        _ => plain(text),
    }
}

fn flow_seq(text: &str) -> Option<Node<'_>> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    let mut items = Vec::new();
    let mut rest = inner.trim_matches(' ');
    while !rest.is_empty() {
        let (item, used) = if rest.starts_with('"') {
            let (s, used) = quoted(rest)?;
            (Node::String(s), used)
        } else {
            let end = rest
                .bytes()
                .position(|b| !is_plain_byte(b))
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            (plain(&rest[..end])?, end)
        };
        items.push(item);
        rest = rest[used..].trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        rest = rest.strip_prefix(',')?.trim_start_matches(' ');
        if rest.is_empty() {
            return None;
        }
    }
    Some(Node::Seq(items))
}

/// A plain scalar: `true`, `false`, a decimal integer without leading zeros, or a string that
/// no YAML version could read as anything else.
fn plain(text: &str) -> Option<Node<'_>> {
    match text {
        "true" => return Some(Node::Bool(true)),
        "false" => return Some(Node::Bool(false)),
        _ => {}
    }
    let bytes = text.as_bytes();
    if bytes[0].is_ascii_digit() {
        let digits_only = bytes.iter().all(u8::is_ascii_digit);
        let canonical = bytes[0] != b'0' || bytes.len() == 1;
        if digits_only && canonical && bytes.len() <= 18 {
            return text.parse::<u64>().ok().map(|n| Node::Number(n.into()));
        }
        return None;
    }
    is_plain_string(text).then_some(Node::String(Cow::Borrowed(text)))
}

fn is_plain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-')
}

/// Starts with a letter or `_`, holds only letters, digits and `._/-`, and is none of the
/// words YAML 1.1 reads as a boolean or null (in any case): a plain scalar no YAML version can
/// read as anything but this string. The escape function writes exactly these plain.
pub(crate) fn is_plain_string(s: &str) -> bool {
    const SPECIAL: [&str; 11] = [
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "nil", "none",
    ];
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes.iter().all(|&b| is_plain_byte(b))
        && (s.len() > 5 || !SPECIAL.iter().any(|w| w.eq_ignore_ascii_case(s)))
}

/// A double-quoted string at the start of `text` with JSON escapes only (what `escape_yaml` and
/// the `json` filter write); returns the string and the bytes used, quotes included.
fn quoted(text: &str) -> Option<(Cow<'_, str>, usize)> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    let mut start = 1;
    loop {
        match *bytes.get(i)? {
            b'"' if start == 1 => return Some((Cow::Borrowed(&text[1..i]), i + 1)),
            b'"' => {
                out.push_str(&text[start..i]);
                return Some((Cow::Owned(out), i + 1));
            }
            b'\\' => {
                out.push_str(&text[start..i]);
                let c = match *bytes.get(i + 1)? {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        let hex = text.get(i + 2..i + 6)?;
                        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return None;
                        }
                        let code = u32::from_str_radix(hex, 16).ok()?;
                        // Control characters only (serde_json writes the rest raw); leave
                        // anything else to serde-saphyr.
                        if code >= 0x20 {
                            return None;
                        }
                        i += 4;
                        char::from_u32(code)?
                    }
                    _ => return None,
                };
                out.push(c);
                i += 2;
                start = i;
            }
            _ => i += 1,
        }
    }
}

impl<'a> Node<'a> {
    /// The node as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.to_string()),
            Node::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.insert(k.to_string(), v.to_value());
                }
                Value::Object(map)
            }
        }
    }

    /// A JSON value as a tree borrowing its strings.
    pub fn from_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::String(Cow::Borrowed(s)),
            Value::Array(items) => Node::Seq(items.iter().map(Node::from_value).collect()),
            Value::Object(map) => Node::Map(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    fn unexpected(&self) -> serde::de::Unexpected<'_> {
        use serde::de::Unexpected;
        match self {
            Node::Null => Unexpected::Unit,
            Node::Bool(b) => Unexpected::Bool(*b),
            Node::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => Unexpected::Unsigned(u),
                (_, Some(i), _) => Unexpected::Signed(i),
                (_, _, f) => Unexpected::Float(f.unwrap_or(f64::NAN)),
            },
            Node::String(s) => Unexpected::Str(s),
            Node::Seq(_) => Unexpected::Seq,
            Node::Map(_) => Unexpected::Map,
        }
    }
}

/// A `&Node` deserializes like the `&serde_json::Value` it stands for (same visits, same
/// errors), so a type read from either is the same; `tests/fast_yaml.rs` compares the two.
impl<'de, 'a: 'de> serde::Deserializer<'de> for &'de Node<'a> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        use serde::de::value::{MapDeserializer, SeqDeserializer};
        match self {
            Node::Null => v.visit_unit(),
            Node::Bool(b) => v.visit_bool(*b),
            Node::Number(n) => serde::Deserializer::deserialize_any(n, v),
            Node::String(s) => v.visit_borrowed_str(s),
            Node::Seq(items) => {
                let mut seq = SeqDeserializer::new(items.iter());
                let out = v.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Node::Map(entries) => {
                let mut map = MapDeserializer::new(entries.iter().map(|(k, v)| (Key(k), v)));
                let out = v.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self {
            Node::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        use serde::de::IntoDeserializer;
        match self {
            Node::String(s) => v.visit_enum(s.as_ref().into_deserializer()),
            _ => Err(serde::de::Error::invalid_type(self.unexpected(), &"string")),
        }
    }

    fn deserialize_ignored_any<V: serde::de::Visitor<'de>>(
        self,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

impl<'de, 'a: 'de> serde::de::IntoDeserializer<'de, serde_json::Error> for &'de Node<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// A mapping key: deserializes as a borrowed string.
struct Key<'de>(&'de str);

impl<'de> serde::de::IntoDeserializer<'de, serde_json::Error> for Key<'de> {
    type Deserializer = serde::de::value::BorrowedStrDeserializer<'de, serde_json::Error>;
    fn into_deserializer(self) -> Self::Deserializer {
        serde::de::value::BorrowedStrDeserializer::new(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn reads_the_subset() {
        let doc = "a: 1\nb:\n  c: \"x\\ny\"\n  d: [\"p\", q, 7]\nlist:\n- k: v\n  l:\n  - m\n# note\n- {}\ne: {}\nf: true\n";
        assert_eq!(
            parse(doc),
            Some(json!({"a": 1, "b": {"c": "x\ny", "d": ["p", "q", 7]},
                "list": [{"k": "v", "l": ["m"]}, {}], "e": {}, "f": true}))
        );
    }

    #[test]
    fn leaves_everything_else_to_serde_saphyr() {
        for doc in [
            "a: yes\n",
            "a: 012\n",
            "a: 'x'\n",
            "a: &x 1\n",
            "a: |\n  x\n",
            "a: b # c\n",
            "a: 1\na: 2\n",
            "a:\n",
            "a: 1\n- b\n",
            "  a: 1\n",
            "a: \"\\x41\"\n",
            "a: \"caf\u{e9}\"\n",
            "a: [\"x\",]\n",
            "a:\tb\n",
            "a: b \n",
            "---\na: 1\n",
            "a: 1\n  b: 2\n",
        ] {
            assert_eq!(parse(doc), None, "{doc:?}");
        }
    }
}
