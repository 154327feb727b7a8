//! The reachability engine: which endpoint and external range may open which connections to
//! which other, under the networking.k8s.io/v1 NetworkPolicy rules (see [`super::policy`]).
//!
//! A connection `src -> dst` is allowed on the ports both sides allow: the egress side (every
//! policy selecting `src` that isolates egress; none means everything) and the ingress side
//! (every policy selecting `dst` that isolates ingress). On each side the allowed set is the
//! union of the matching rules of all those policies. External ranges are never isolated.
//!
//! The work is organised so that a default-deny world is cheap: each rule's peers are
//! resolved once to a bit set of pod variants (through a label index over namespaces), and
//! for an egress-isolated source only the destinations its rules name are visited.

use std::borrow::Cow;
use std::collections::HashMap;

use super::inventory::{Endpoint, Inventory, PodShape};
use super::ip::{self, Family, IpRange};
use super::policy::{PeerSpec, PortRef, Rule};
use super::ports::{ConnSet, PortSet};
use super::selector::{LabelIndex, Selector};

/// One side of a connection: a workload endpoint or an external range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// An index into [`Connectivity::endpoints`].
    Endpoint(usize),
    /// Addresses outside the cluster.
    External(IpRange),
}

/// How one side (egress of the source, ingress of the destination) decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Side {
    /// Whether any policy isolates this side; if not, everything is allowed by default.
    pub isolated: bool,
    /// Indices into [`Connectivity::policies`] of the policies with a rule allowing part of
    /// the connection on this side, sorted.
    pub policies: Vec<usize>,
}

/// One allowed connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Who opens it.
    pub src: Peer,
    /// Who accepts it.
    pub dst: Peer,
    /// What is allowed (never empty).
    pub conns: ConnSet,
    /// The source's egress side.
    pub egress: Side,
    /// The destination's ingress side.
    pub ingress: Side,
}

/// The result of the analysis.
#[derive(Debug, Clone, Default)]
pub struct Connectivity {
    /// Every endpoint of the inventory, sorted by display name.
    pub endpoints: Vec<Endpoint>,
    /// `namespace/name` of every policy, in inventory order.
    pub policies: Vec<String>,
    /// The allowed connections, sorted by source then destination display name.
    pub connections: Vec<Connection>,
}

impl Connectivity {
    /// The display name of a peer: `ns/name[Kind]` or `first-last[External]`.
    pub fn peer_name(&self, p: &Peer) -> String {
        match p {
            Peer::Endpoint(i) => self.endpoints[*i].display_name(),
            Peer::External(r) => format!("{r}[External]"),
        }
    }

    /// The namespace of a peer, if it is an endpoint.
    pub fn peer_namespace(&self, p: &Peer) -> Option<&str> {
        match p {
            Peer::Endpoint(i) => Some(self.endpoints[*i].namespace.as_str()),
            Peer::External(_) => None,
        }
    }
}

struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
}

/// A pod variant of an endpoint: the unit policies select.
struct Class<'a> {
    endpoint: usize,
    ns: usize,
    shape: &'a PodShape,
}

enum PeerMatch {
    All,
    Some {
        classes: Bits,
        list: Vec<u32>,
        atoms: Bits,
    },
}

struct Compiled {
    policy: usize,
    peers: PeerMatch,
    all_ports: bool,
    fixed: ConnSet,
    named: Vec<(super::ports::Protocol, String)>,
}

impl Compiled {
    fn matches_class(&self, c: usize) -> bool {
        match &self.peers {
            PeerMatch::All => true,
            PeerMatch::Some { classes, .. } => classes.get(c),
        }
    }
    fn matches_atom(&self, a: usize) -> bool {
        match &self.peers {
            PeerMatch::All => true,
            PeerMatch::Some { atoms, .. } => atoms.get(a),
        }
    }
    /// The connections this rule allows towards a destination with `shape` (None: external).
    fn conns(&self, shape: Option<&PodShape>) -> Cow<'_, ConnSet> {
        let Some(shape) = shape.filter(|_| !self.all_ports && !self.named.is_empty()) else {
            return Cow::Borrowed(&self.fixed);
        };
        let mut c = self.fixed.clone();
        for (proto, name) in &self.named {
            if let Some((p, port)) = shape.named_port(name)
                && p == *proto
            {
                c.add(p, &PortSet::range(port, port));
            }
        }
        Cow::Owned(c)
    }
}

#[derive(Default)]
struct ClassSides {
    in_isolated: bool,
    in_rules: Vec<u32>,
    eg_isolated: bool,
    eg_rules: Vec<u32>,
}

struct Acc {
    conns: ConnSet,
    egress: Side,
    ingress: Side,
}

/// Computes every allowed connection of the inventory.
pub fn analyze(inv: &Inventory) -> Connectivity {
    Engine::new(inv).run()
}

struct Engine<'a> {
    inv: &'a Inventory,
    classes: Vec<Class<'a>>,
    rules: Vec<Compiled>,
    sides: Vec<ClassSides>,
    src_atoms: Vec<IpRange>,
    dst_atoms: Vec<IpRange>,
}

impl<'a> Engine<'a> {
    fn new(inv: &'a Inventory) -> Self {
        let ns_index: HashMap<&str, usize> = inv
            .namespaces
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut classes = Vec::new();
        for (e, ep) in inv.endpoints.iter().enumerate() {
            let ns = ns_index[ep.namespace.as_str()];
            for shape in &ep.shapes {
                classes.push(Class {
                    endpoint: e,
                    ns,
                    shape,
                });
            }
        }
        let mut by_ns: Vec<Vec<u32>> = vec![Vec::new(); inv.namespaces.len()];
        for (i, c) in classes.iter().enumerate() {
            by_ns[c.ns].push(i as u32);
        }

        let has_v6 = inv.policies.iter().any(|p| {
            [&p.ingress, &p.egress]
                .into_iter()
                .flatten()
                .flatten()
                .any(|r| blocks(r).any(|b| b.family == Family::V6))
        });
        let families: &[Family] = if has_v6 {
            &[Family::V4, Family::V6]
        } else {
            &[Family::V4]
        };
        let all_blocks = |ingress: bool| -> Vec<IpRange> {
            inv.policies
                .iter()
                .flat_map(|p| if ingress { &p.ingress } else { &p.egress })
                .flatten()
                .flat_map(|r| blocks(r).copied().collect::<Vec<_>>())
                .collect()
        };
        let src_atoms = ip::atoms(families, &all_blocks(true));
        let dst_atoms = ip::atoms(families, &all_blocks(false));

        let ns_labels = LabelIndex::new(inv.namespaces.iter().map(|n| &n.labels));
        let mut ns_cache: HashMap<Selector, Vec<u32>> = HashMap::new();
        let mut rules = Vec::new();
        let mut sides: Vec<ClassSides> =
            (0..classes.len()).map(|_| ClassSides::default()).collect();
        for (pi, p) in inv.policies.iter().enumerate() {
            let Some(&pns) = ns_index.get(p.namespace.as_str()) else {
                // A policy in a namespace with no endpoint selects nothing; its rules still
                // name peers, but nobody is isolated by it.
                continue;
            };
            let selected: Vec<u32> = by_ns[pns]
                .iter()
                .copied()
                .filter(|&c| p.pod_selector.matches(&classes[c as usize].shape.labels))
                .collect();
            for (ingress, rule_list) in [(true, &p.ingress), (false, &p.egress)] {
                let Some(rule_list) = rule_list else { continue };
                let atoms = if ingress { &src_atoms } else { &dst_atoms };
                let mut ids = Vec::new();
                for r in rule_list {
                    let peers = compile_peers(
                        r,
                        pns,
                        &classes,
                        &by_ns,
                        &ns_labels,
                        inv,
                        &mut ns_cache,
                        atoms,
                    );
                    let (all_ports, fixed, named) = compile_ports(r);
                    ids.push(rules.len() as u32);
                    rules.push(Compiled {
                        policy: pi,
                        peers,
                        all_ports,
                        fixed,
                        named,
                    });
                }
                for &c in &selected {
                    let s = &mut sides[c as usize];
                    if ingress {
                        s.in_isolated = true;
                        s.in_rules.extend_from_slice(&ids);
                    } else {
                        s.eg_isolated = true;
                        s.eg_rules.extend_from_slice(&ids);
                    }
                }
            }
        }
        Engine {
            inv,
            classes,
            rules,
            sides,
            src_atoms,
            dst_atoms,
        }
    }

    /// The egress side of class `s` towards a class (`Ok`) or a destination atom (`Err`).
    fn egress(&self, s: usize, dst: Result<usize, usize>, prov: &mut Vec<usize>) -> ConnSet {
        let side = &self.sides[s];
        if !side.eg_isolated {
            return ConnSet::all();
        }
        let mut out = ConnSet::none();
        for &r in &side.eg_rules {
            let rule = &self.rules[r as usize];
            let (hit, shape) = match dst {
                Ok(d) => (rule.matches_class(d), Some(self.classes[d].shape)),
                Err(a) => (rule.matches_atom(a), None),
            };
            if hit {
                let c = rule.conns(shape);
                if !c.is_empty() {
                    out.union_with(&c);
                    prov.push(rule.policy);
                }
            }
        }
        out
    }

    /// The ingress side of class `d` from a class (`Ok`) or a source atom (`Err`).
    fn ingress(&self, src: Result<usize, usize>, d: usize, prov: &mut Vec<usize>) -> ConnSet {
        let side = &self.sides[d];
        if !side.in_isolated {
            return ConnSet::all();
        }
        let mut out = ConnSet::none();
        let shape = Some(self.classes[d].shape);
        for &r in &side.in_rules {
            let rule = &self.rules[r as usize];
            let hit = match src {
                Ok(s) => rule.matches_class(s),
                Err(a) => rule.matches_atom(a),
            };
            if hit {
                let c = rule.conns(shape);
                if !c.is_empty() {
                    out.union_with(&c);
                    prov.push(rule.policy);
                }
            }
        }
        out
    }

    fn run(self) -> Connectivity {
        let n_ep = self.inv.endpoints.len();
        let n_dst = n_ep + self.dst_atoms.len();
        let mut scratch: Vec<Option<Acc>> = (0..n_dst.max(n_ep)).map(|_| None).collect();
        let mut touched: Vec<usize> = Vec::new();
        let mut stamp: Vec<u32> = vec![u32::MAX; self.classes.len().max(self.dst_atoms.len())];
        let mut connections = Vec::new();
        let (mut eg_prov, mut in_prov) = (Vec::new(), Vec::new());

        let accumulate = |scratch: &mut Vec<Option<Acc>>,
                          touched: &mut Vec<usize>,
                          key: usize,
                          conns: ConnSet,
                          eg: (bool, &[usize]),
                          ing: (bool, &[usize])| {
            let slot = &mut scratch[key];
            match slot {
                Some(acc) => {
                    acc.conns.union_with(&conns);
                    acc.egress.policies.extend_from_slice(eg.1);
                    acc.ingress.policies.extend_from_slice(ing.1);
                    acc.egress.isolated |= eg.0;
                    acc.ingress.isolated |= ing.0;
                }
                None => {
                    touched.push(key);
                    *slot = Some(Acc {
                        conns,
                        egress: Side {
                            isolated: eg.0,
                            policies: eg.1.to_vec(),
                        },
                        ingress: Side {
                            isolated: ing.0,
                            policies: ing.1.to_vec(),
                        },
                    });
                }
            }
        };
        let flush = |scratch: &mut Vec<Option<Acc>>,
                     touched: &mut Vec<usize>,
                     src: Peer,
                     to_peer: &dyn Fn(usize) -> Peer,
                     out: &mut Vec<Connection>| {
            for key in touched.drain(..) {
                if let Some(mut acc) = scratch[key].take() {
                    for side in [&mut acc.egress, &mut acc.ingress] {
                        side.policies.sort_unstable();
                        side.policies.dedup();
                    }
                    out.push(Connection {
                        src,
                        dst: to_peer(key),
                        conns: acc.conns,
                        egress: acc.egress,
                        ingress: acc.ingress,
                    });
                }
            }
        };
        let dst_peer = |key: usize| {
            if key < n_ep {
                Peer::Endpoint(key)
            } else {
                Peer::External(self.dst_atoms[key - n_ep])
            }
        };

        // Sources that are endpoints, one endpoint at a time (its classes are contiguous).
        let mut round = 0u32;
        let mut s = 0;
        while s < self.classes.len() {
            let e = self.classes[s].endpoint;
            while s < self.classes.len() && self.classes[s].endpoint == e {
                let side = &self.sides[s];
                let (cands, atom_cands) = self.egress_candidates(side, &mut stamp, &mut round);
                for d in cands {
                    let de = self.classes[d].endpoint;
                    if de == e && !self.inv.endpoints[e].representative {
                        continue;
                    }
                    eg_prov.clear();
                    in_prov.clear();
                    let mut c = self.egress(s, Ok(d), &mut eg_prov);
                    if c.is_empty() {
                        continue;
                    }
                    c.intersect_with(&self.ingress(Ok(s), d, &mut in_prov));
                    if !c.is_empty() {
                        let (ei, ii) = (side.eg_isolated, self.sides[d].in_isolated);
                        accumulate(
                            &mut scratch,
                            &mut touched,
                            de,
                            c,
                            (ei, &eg_prov),
                            (ii, &in_prov),
                        );
                    }
                }
                for a in atom_cands {
                    eg_prov.clear();
                    let c = self.egress(s, Err(a), &mut eg_prov);
                    if !c.is_empty() {
                        accumulate(
                            &mut scratch,
                            &mut touched,
                            n_ep + a,
                            c,
                            (side.eg_isolated, &eg_prov),
                            (false, &[]),
                        );
                    }
                }
                s += 1;
            }
            flush(
                &mut scratch,
                &mut touched,
                Peer::Endpoint(e),
                &dst_peer,
                &mut connections,
            );
        }

        // Sources that are external ranges.
        for (a, atom) in self.src_atoms.iter().enumerate() {
            for d in 0..self.classes.len() {
                in_prov.clear();
                let c = self.ingress(Err(a), d, &mut in_prov);
                if !c.is_empty() {
                    let de = self.classes[d].endpoint;
                    let ii = self.sides[d].in_isolated;
                    accumulate(
                        &mut scratch,
                        &mut touched,
                        de,
                        c,
                        (false, &[]),
                        (ii, &in_prov),
                    );
                }
            }
            flush(
                &mut scratch,
                &mut touched,
                Peer::External(*atom),
                &|k| Peer::Endpoint(k),
                &mut connections,
            );
        }

        let mut result = Connectivity {
            endpoints: self.inv.endpoints.clone(),
            policies: self.inv.policies.iter().map(|p| p.full_name()).collect(),
            connections: Vec::new(),
        };
        // Sort by display name without formatting a name per connection: rank every peer
        // once (endpoints are already in name order), then sort by rank.
        let mut peers: Vec<(String, Peer)> = (0..n_ep)
            .map(Peer::Endpoint)
            .chain(
                self.src_atoms
                    .iter()
                    .chain(self.dst_atoms.iter())
                    .map(|a| Peer::External(*a)),
            )
            .map(|p| (result.peer_name(&p), p))
            .collect();
        peers.sort();
        peers.dedup_by(|a, b| a.1 == b.1);
        let rank: HashMap<Peer, usize> = peers
            .into_iter()
            .enumerate()
            .map(|(i, (_, p))| (p, i))
            .collect();
        connections.sort_by_key(|c| (rank[&c.src], rank[&c.dst]));
        result.connections = connections;
        result
    }

    /// The destination classes and atoms worth visiting from class `s`.
    fn egress_candidates(
        &self,
        side: &ClassSides,
        stamp: &mut [u32],
        round: &mut u32,
    ) -> (Vec<usize>, Vec<usize>) {
        let everything = (
            (0..self.classes.len()).collect(),
            (0..self.dst_atoms.len()).collect(),
        );
        if !side.eg_isolated {
            return everything;
        }
        let mut classes = Vec::new();
        let mut atoms = Vec::new();
        *round = round.wrapping_add(1);
        for &r in &side.eg_rules {
            match &self.rules[r as usize].peers {
                PeerMatch::All => return everything,
                PeerMatch::Some {
                    list, atoms: bits, ..
                } => {
                    for &c in list {
                        if stamp[c as usize] != *round {
                            stamp[c as usize] = *round;
                            classes.push(c as usize);
                        }
                    }
                    for a in 0..self.dst_atoms.len() {
                        if bits.get(a) {
                            atoms.push(a);
                        }
                    }
                }
            }
        }
        classes.sort_unstable();
        atoms.sort_unstable();
        atoms.dedup();
        (classes, atoms)
    }
}

fn blocks(r: &Rule) -> impl Iterator<Item = &IpRange> {
    r.peers.iter().flatten().flat_map(|p| match p {
        PeerSpec::Block(set) => set.ranges(),
        PeerSpec::Pods { .. } => &[],
    })
}

#[allow(clippy::too_many_arguments)]
fn compile_peers(
    r: &Rule,
    policy_ns: usize,
    classes: &[Class<'_>],
    by_ns: &[Vec<u32>],
    ns_labels: &LabelIndex,
    inv: &Inventory,
    ns_cache: &mut HashMap<Selector, Vec<u32>>,
    atoms: &[IpRange],
) -> PeerMatch {
    let Some(peers) = &r.peers else {
        return PeerMatch::All;
    };
    let mut class_bits = Bits::new(classes.len());
    let mut atom_bits = Bits::new(atoms.len());
    let mut list = Vec::new();
    for p in peers {
        match p {
            PeerSpec::Block(set) => {
                for (i, a) in atoms.iter().enumerate() {
                    if set.contains_range(a) {
                        atom_bits.set(i);
                    }
                }
            }
            PeerSpec::Pods { namespaces, pods } => {
                let ns_list: Vec<u32> = match namespaces {
                    None => vec![policy_ns as u32],
                    Some(sel) => ns_cache
                        .entry(sel.clone())
                        .or_insert_with(|| {
                            ns_labels.select(sel, |i| &inv.namespaces[i as usize].labels)
                        })
                        .clone(),
                };
                for ns in ns_list {
                    for &c in &by_ns[ns as usize] {
                        let hit = pods
                            .as_ref()
                            .is_none_or(|sel| sel.matches(&classes[c as usize].shape.labels));
                        if hit && !class_bits.get(c as usize) {
                            class_bits.set(c as usize);
                            list.push(c);
                        }
                    }
                }
            }
        }
    }
    PeerMatch::Some {
        classes: class_bits,
        list,
        atoms: atom_bits,
    }
}

fn compile_ports(r: &Rule) -> (bool, ConnSet, Vec<(super::ports::Protocol, String)>) {
    if r.ports.is_empty() {
        return (true, ConnSet::all(), Vec::new());
    }
    let mut fixed = ConnSet::none();
    let mut named = Vec::new();
    for p in &r.ports {
        match &p.port {
            None => fixed.add(p.protocol, &PortSet::all()),
            Some(PortRef::Number(n)) => {
                fixed.add(p.protocol, &PortSet::range(*n, p.end_port.unwrap_or(*n)))
            }
            Some(PortRef::Name(name)) => named.push((p.protocol, name.clone())),
        }
    }
    (fixed.is_all() && named.is_empty(), fixed, named)
}
