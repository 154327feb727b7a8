//! Comparing two connectivity results: which connections were opened, closed or changed.
//!
//! Peers are matched by display name. External ranges may be cut differently in the two
//! results (each is split at the CIDRs its own policies mention), so both are first refined
//! to the common pieces, compared piece by piece, and touching pieces with the same before
//! and after are merged back into maximal ranges, as the outside judge does.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::engine::{Connectivity, Peer};
use super::ip::{self, Family, IpRange};
use super::ports::ConnSet;

/// How a connection changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// Allowed before and after, with different ports.
    Changed,
    /// Not allowed before, allowed after.
    Added,
    /// Allowed before, not after.
    Removed,
}

impl ChangeKind {
    /// `changed`, `added` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Changed => "changed",
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
        }
    }
}

/// One changed connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// How it changed.
    pub kind: ChangeKind,
    /// The source's display name.
    pub src: String,
    /// The destination's display name.
    pub dst: String,
    /// The source's namespace (`None` for an external range).
    pub src_namespace: Option<String>,
    /// The destination's namespace (`None` for an external range).
    pub dst_namespace: Option<String>,
    /// What was allowed before (empty if nothing).
    pub before: ConnSet,
    /// What is allowed after (empty if nothing).
    pub after: ConnSet,
    /// The source workload exists only on one side (added with the connection, or removed).
    pub src_workload_changed: bool,
    /// The destination workload exists only on one side.
    pub dst_workload_changed: bool,
}

impl Change {
    /// What is allowed now and was not before.
    pub fn opened(&self) -> ConnSet {
        self.after.minus(&self.before)
    }

    /// What was allowed before and is not now.
    pub fn closed(&self) -> ConnSet {
        self.before.minus(&self.after)
    }

    /// Whether the change allows anything new.
    pub fn widens(&self) -> bool {
        !self.opened().is_empty()
    }

    /// Whether the change takes anything away.
    pub fn narrows(&self) -> bool {
        !self.closed().is_empty()
    }

    /// `workload a and b added` style note for workloads that appear or disappear.
    pub fn workloads_info(&self) -> String {
        let mut parts = Vec::new();
        if self.src_workload_changed {
            parts.push(self.src.as_str());
        }
        if self.dst_workload_changed {
            parts.push(self.dst.as_str());
        }
        if parts.is_empty() {
            return String::new();
        }
        format!("workload {} {}", parts.join(" and "), self.kind.as_str())
    }
}

/// The changes from a base result to a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectivityDiff {
    /// Every change, sorted by kind, then source and destination name.
    pub changes: Vec<Change>,
}

impl ConnectivityDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The changes that allow something new.
    pub fn widening(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.widens())
    }

    /// The changes that take something away.
    pub fn narrowing(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.narrows())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Name(String),
    Ip(IpRange),
}

struct Named {
    src: Key,
    dst: Key,
    conns: ConnSet,
}

fn named(c: &Connectivity) -> (Vec<Named>, HashMap<String, String>) {
    let mut ns = HashMap::new();
    let key = |p: &Peer, ns: &mut HashMap<String, String>| match p {
        Peer::External(r) => Key::Ip(*r),
        Peer::Endpoint(_) => {
            let name = c.peer_name(p);
            if let Some(n) = c.peer_namespace(p) {
                ns.insert(name.clone(), n.to_string());
            }
            Key::Name(name)
        }
    };
    let list = c
        .connections
        .iter()
        .map(|x| Named {
            src: key(&x.src, &mut ns),
            dst: key(&x.dst, &mut ns),
            conns: x.conns.clone(),
        })
        .collect();
    (list, ns)
}

/// Compares `before` (the base) with `after`.
pub fn compare(before: &Connectivity, after: &Connectivity) -> ConnectivityDiff {
    let (b, mut namespaces) = named(before);
    let (a, ns_after) = named(after);
    namespaces.extend(ns_after);
    let names = |c: &Connectivity| -> BTreeSet<String> {
        c.endpoints.iter().map(|e| e.display_name()).collect()
    };
    let (names_before, names_after) = (names(before), names(after));

    // The common refinement of every external range either side mentions.
    let ranges: Vec<IpRange> = b
        .iter()
        .chain(a.iter())
        .flat_map(|n| [&n.src, &n.dst])
        .filter_map(|k| match k {
            Key::Ip(r) => Some(*r),
            Key::Name(_) => None,
        })
        .collect();
    let pieces = ip::atoms(&[Family::V4, Family::V6], &ranges);
    let refine = |k: &Key| -> Vec<Key> {
        match k {
            Key::Name(_) => vec![k.clone()],
            Key::Ip(r) => pieces
                .iter()
                .filter(|p| r.contains(p))
                .map(|p| Key::Ip(*p))
                .collect(),
        }
    };

    type Pair = (Option<ConnSet>, Option<ConnSet>);
    let mut pairs: BTreeMap<(Key, Key), Pair> = BTreeMap::new();
    for (list, first) in [(&b, true), (&a, false)] {
        for n in list {
            for s in refine(&n.src) {
                for d in refine(&n.dst) {
                    let e = pairs.entry((s.clone(), d)).or_default();
                    let slot = if first { &mut e.0 } else { &mut e.1 };
                    *slot = Some(n.conns.clone());
                }
            }
        }
    }

    // Merge touching pieces that changed the same way with the same other end.
    let mut merged: Vec<(Key, Key, Pair)> = Vec::new();
    // (source is the IP, other end, before text, after text) -> (pair, pieces)
    type Group = (bool, Key, String, String);
    let mut groups: BTreeMap<Group, (Pair, Vec<IpRange>)> = BTreeMap::new();
    for ((s, d), pair) in pairs {
        let text = |c: &Option<ConnSet>| c.as_ref().map_or(String::new(), ToString::to_string);
        let (t0, t1) = (text(&pair.0), text(&pair.1));
        match (&s, &d) {
            (_, Key::Ip(r)) => groups
                .entry((false, s.clone(), t0, t1))
                .or_insert((pair, Vec::new()))
                .1
                .push(*r),
            (Key::Ip(r), _) => groups
                .entry((true, d.clone(), t0, t1))
                .or_insert((pair, Vec::new()))
                .1
                .push(*r),
            _ => merged.push((s, d, pair)),
        }
    }
    for ((src_is_ip, other, _, _), (pair, ranges)) in groups {
        for r in ip::merge(ranges) {
            let (s, d) = if src_is_ip {
                (Key::Ip(r), other.clone())
            } else {
                (other.clone(), Key::Ip(r))
            };
            merged.push((s, d, pair.clone()));
        }
    }

    let mut changes = Vec::new();
    for (s, d, (old, new)) in merged {
        let kind = match (&old, &new) {
            (Some(o), Some(n)) if o == n => continue,
            (Some(_), Some(_)) => ChangeKind::Changed,
            (None, Some(_)) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Removed,
            (None, None) => continue,
        };
        let name = |k: &Key| match k {
            Key::Name(n) => n.clone(),
            Key::Ip(r) => format!("{r}[External]"),
        };
        // A workload that exists only on the side where the connection exists.
        let other_side = match kind {
            ChangeKind::Added => Some(&names_before),
            ChangeKind::Removed => Some(&names_after),
            ChangeKind::Changed => None,
        };
        let workload_changed = |k: &Key| match (k, other_side) {
            (Key::Name(n), Some(set)) => !set.contains(n),
            _ => false,
        };
        let ns_of = |k: &Key| match k {
            Key::Name(n) => namespaces.get(n).cloned(),
            Key::Ip(_) => None,
        };
        changes.push(Change {
            kind,
            src: name(&s),
            dst: name(&d),
            src_namespace: ns_of(&s),
            dst_namespace: ns_of(&d),
            src_workload_changed: workload_changed(&s),
            dst_workload_changed: workload_changed(&d),
            before: old.unwrap_or_default(),
            after: new.unwrap_or_default(),
        });
    }
    changes.sort_by(|x, y| (x.kind, &x.src, &x.dst).cmp(&(y.kind, &y.src, &y.dst)));
    ConnectivityDiff { changes }
}
