//! Kubernetes label selectors: `matchLabels` and `matchExpressions` with the operators
//! `In`, `NotIn`, `Exists` and `DoesNotExist`, with the API server's meaning:
//! every requirement must hold, `NotIn` and `DoesNotExist` hold when the label is absent,
//! and an empty selector (`{}`) selects everything.

use std::collections::BTreeMap;

/// Labels of a pod or namespace.
pub type Labels = BTreeMap<String, String>;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// The label has one of the values (`matchLabels` entries are `In` with one value).
    In(String, Vec<String>),
    /// The label is absent, or has none of the values.
    NotIn(String, Vec<String>),
    /// The label is present.
    Exists(String),
    /// The label is absent.
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A parsed label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    /// All must hold; none means "everything".
    pub requirements: Vec<Requirement>,
}

/// A selector that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// An operator other than the four Kubernetes knows.
    #[error("unknown selector operator `{0}` (expected In, NotIn, Exists or DoesNotExist)")]
    Operator(String),
    /// `In`/`NotIn` without values.
    #[error("selector operator `{0}` on key `{1}` needs at least one value")]
    NoValues(String, String),
    /// `Exists`/`DoesNotExist` with values.
    #[error("selector operator `{0}` on key `{1}` takes no values")]
    UnexpectedValues(String, String),
}

impl Selector {
    /// The selector that selects everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Builds a selector from `matchLabels` and `(key, operator, values)` expressions.
    pub fn new(
        match_labels: &BTreeMap<String, String>,
        expressions: &[(String, String, Vec<String>)],
    ) -> Result<Self, SelectorError> {
        let mut requirements: Vec<Requirement> = match_labels
            .iter()
            .map(|(k, v)| Requirement::In(k.clone(), vec![v.clone()]))
            .collect();
        for (key, op, values) in expressions {
            let needs_values = matches!(op.as_str(), "In" | "NotIn");
            if needs_values && values.is_empty() {
                return Err(SelectorError::NoValues(op.clone(), key.clone()));
            }
            if !needs_values
                && !values.is_empty()
                && matches!(op.as_str(), "Exists" | "DoesNotExist")
            {
                return Err(SelectorError::UnexpectedValues(op.clone(), key.clone()));
            }
            let mut values = values.clone();
            values.sort();
            values.dedup();
            requirements.push(match op.as_str() {
                "In" => Requirement::In(key.clone(), values),
                "NotIn" => Requirement::NotIn(key.clone(), values),
                "Exists" => Requirement::Exists(key.clone()),
                "DoesNotExist" => Requirement::DoesNotExist(key.clone()),
                other => return Err(SelectorError::Operator(other.to_string())),
            });
        }
        Ok(Self { requirements })
    }

    /// Whether the selector selects everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// An `In` requirement that narrows the candidates, if any: `(key, values)`.
    pub(crate) fn narrowing(&self) -> Option<(&str, &[String])> {
        self.requirements
            .iter()
            .filter_map(|r| match r {
                Requirement::In(k, vs) => Some((k.as_str(), vs.as_slice())),
                _ => None,
            })
            .min_by_key(|(_, vs)| vs.len())
    }
}

/// An inverted index `(key, value) -> items`, to evaluate selectors over many label sets
/// without testing each one.
#[derive(Debug, Default)]
pub(crate) struct LabelIndex {
    postings: std::collections::HashMap<(String, String), Vec<u32>>,
    len: u32,
}

impl LabelIndex {
    /// Indexes `labels[i]` for every item `i`.
    pub fn new<'a>(labels: impl IntoIterator<Item = &'a Labels>) -> Self {
        let mut idx = Self::default();
        for (i, l) in labels.into_iter().enumerate() {
            for (k, v) in l {
                idx.postings
                    .entry((k.clone(), v.clone()))
                    .or_default()
                    .push(i as u32);
            }
            idx.len = i as u32 + 1;
        }
        idx
    }

    /// The items whose labels match `sel`, in index order.
    pub fn select<'l>(&self, sel: &Selector, labels: impl Fn(u32) -> &'l Labels) -> Vec<u32> {
        match sel.narrowing() {
            Some((key, values)) => {
                let mut cands: Vec<u32> = Vec::new();
                for v in values {
                    if let Some(p) = self.postings.get(&(key.to_string(), v.clone())) {
                        cands.extend_from_slice(p);
                    }
                }
                cands.sort_unstable();
                cands.dedup();
                cands.retain(|&i| sel.matches(labels(i)));
                cands
            }
            None => (0..self.len).filter(|&i| sel.matches(labels(i))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> (String, String, Vec<String>) {
        (
            key.into(),
            op.into(),
            values.iter().map(|v| v.to_string()).collect(),
        )
    }

    #[test]
    fn match_expressions_follow_kubernetes() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let none = Labels::new();
        let t = |e: (String, String, Vec<String>), on: &Labels| {
            Selector::new(&BTreeMap::new(), &[e]).unwrap().matches(on)
        };
        assert!(t(expr("app", "In", &["web", "db"]), &l));
        assert!(!t(expr("app", "In", &["db"]), &l));
        assert!(!t(expr("app", "In", &["web"]), &none));
        assert!(!t(expr("app", "NotIn", &["web"]), &l));
        assert!(t(expr("app", "NotIn", &["db"]), &l));
        assert!(
            t(expr("app", "NotIn", &["web"]), &none),
            "NotIn holds when the label is absent"
        );
        assert!(t(expr("tier", "Exists", &[]), &l));
        assert!(!t(expr("tier", "Exists", &[]), &none));
        assert!(!t(expr("tier", "DoesNotExist", &[]), &l));
        assert!(t(expr("tier", "DoesNotExist", &[]), &none));
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let ml: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let s = Selector::new(&ml, &[expr("tier", "In", &["front"])]).unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(Selector::everything().matches(&Labels::new()));
    }

    #[test]
    fn invalid_selectors_are_rejected() {
        let e = Selector::new(&BTreeMap::new(), &[expr("a", "Like", &["x"])]).unwrap_err();
        assert_eq!(e, SelectorError::Operator("Like".into()));
        assert!(Selector::new(&BTreeMap::new(), &[expr("a", "In", &[])]).is_err());
        assert!(Selector::new(&BTreeMap::new(), &[expr("a", "Exists", &["x"])]).is_err());
    }

    #[test]
    fn index_selects_like_a_scan() {
        let sets = [
            labels(&[("zone", "a"), ("n", "1")]),
            labels(&[("zone", "b")]),
            labels(&[("zone", "a")]),
        ];
        let idx = LabelIndex::new(sets.iter());
        let sel = Selector::new(&BTreeMap::new(), &[expr("zone", "In", &["a"])]).unwrap();
        assert_eq!(idx.select(&sel, |i| &sets[i as usize]), vec![0, 2]);
        let sel = Selector::new(&BTreeMap::new(), &[expr("n", "DoesNotExist", &[])]).unwrap();
        assert_eq!(idx.select(&sel, |i| &sets[i as usize]), vec![1, 2]);
    }
}
