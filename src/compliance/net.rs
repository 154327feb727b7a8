//! Small value types the checks reason with: port sets per protocol ([`Conns`]) and address
//! ranges ([`IpRange`]) with their classification (public internet, which clusters).

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;

use crate::model::{PortSpec, Protocol};

/// Every protocol NetworkPolicy knows, in display order.
pub const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// Allowed ports per protocol: sorted, disjoint, inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conns {
    ranges: BTreeMap<Protocol, Vec<(u16, u16)>>,
}

impl Conns {
    /// Nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every port of every protocol.
    pub fn all() -> Self {
        let mut c = Self::none();
        for p in PROTOCOLS {
            c.add(p, 1, 65535);
        }
        c
    }

    /// The ports of a topology port list; an empty list means every port.
    pub fn from_specs(specs: &[PortSpec]) -> Self {
        if specs.is_empty() {
            return Self::all();
        }
        let mut c = Self::none();
        for s in specs {
            c.add(s.protocol, s.port, s.end());
        }
        c
    }

    /// Adds `start..=end` of `protocol`.
    pub fn add(&mut self, protocol: Protocol, start: u16, end: u16) {
        let list = self.ranges.entry(protocol).or_default();
        list.push((start.min(end), start.max(end)));
        list.sort();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(list.len());
        for &(a, b) in list.iter() {
            match merged.last_mut() {
                Some(last) if a as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *list = merged;
    }

    /// Adds everything of `other`.
    pub fn union_with(&mut self, other: &Conns) {
        for (p, list) in &other.ranges {
            for &(a, b) in list {
                self.add(*p, a, b);
            }
        }
    }

    /// What both allow.
    pub fn intersect(&self, other: &Conns) -> Conns {
        let mut out = Conns::none();
        for (p, list) in &self.ranges {
            let Some(o) = other.ranges.get(p) else {
                continue;
            };
            for &(a, b) in list {
                for &(c, d) in o {
                    let (s, e) = (a.max(c), b.min(d));
                    if s <= e {
                        out.add(*p, s, e);
                    }
                }
            }
        }
        out
    }

    /// What `self` allows and `other` does not.
    pub fn minus(&self, other: &Conns) -> Conns {
        let mut out = Conns::none();
        for (p, list) in &self.ranges {
            let holes = other.ranges.get(p).cloned().unwrap_or_default();
            for &(a, b) in list {
                let mut start = a as u32;
                for &(c, d) in &holes {
                    let (c, d) = (c as u32, d as u32);
                    if d < start || c > b as u32 {
                        continue;
                    }
                    if c > start {
                        out.add(*p, start as u16, (c - 1) as u16);
                    }
                    start = d + 1;
                }
                if start <= b as u32 {
                    out.add(*p, start as u16, b);
                }
            }
        }
        out
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.ranges.values().all(Vec::is_empty)
    }

    /// Whether every port of `protocol` is allowed.
    pub fn all_ports_of(&self, protocol: Protocol) -> bool {
        self.ranges
            .get(&protocol)
            .is_some_and(|l| l.as_slice() == [(1, 65535)])
    }

    /// Whether this allows every port of every protocol.
    pub fn is_all(&self) -> bool {
        PROTOCOLS.iter().all(|p| self.all_ports_of(*p))
    }

    /// Whether every port allowed here is allowed by `other`.
    pub fn is_subset_of(&self, other: &Conns) -> bool {
        self.minus(other).is_empty()
    }
}

impl fmt::Display for Conns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all ports and protocols");
        }
        let mut first = true;
        for p in PROTOCOLS {
            let Some(list) = self.ranges.get(&p).filter(|l| !l.is_empty()) else {
                continue;
            };
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            if list.as_slice() == [(1, 65535)] {
                write!(f, "{p} all ports")?;
                continue;
            }
            let parts: Vec<String> = list
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            write!(f, "{p} {}", parts.join(","))?;
        }
        if first {
            f.write_str("nothing")?;
        }
        Ok(())
    }
}

/// A contiguous range of IPv4 or IPv6 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRange {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl IpRange {
    /// The whole address space of a family.
    pub fn everything(v6: bool) -> Self {
        IpRange {
            v6,
            first: 0,
            last: if v6 { u128::MAX } else { u32::MAX as u128 },
        }
    }

    /// The addresses of a network.
    pub fn of(net: &IpNet) -> Self {
        match net {
            IpNet::V4(n) => IpRange {
                v6: false,
                first: u32::from(n.network()) as u128,
                last: u32::from(n.broadcast()) as u128,
            },
            IpNet::V6(n) => IpRange {
                v6: true,
                first: u128::from(n.network()),
                last: u128::from(n.broadcast()),
            },
        }
    }

    /// Whether every address of `other` is in `self`.
    pub fn contains(&self, other: &IpRange) -> bool {
        self.v6 == other.v6 && self.first <= other.first && other.last <= self.last
    }

    /// Whether the two share an address.
    pub fn overlaps(&self, other: &IpRange) -> bool {
        self.v6 == other.v6 && self.first <= other.last && other.first <= self.last
    }

    /// The range as the fewest CIDRs that cover it exactly.
    pub fn cidrs(&self) -> Vec<String> {
        let bits: u32 = if self.v6 { 128 } else { 32 };
        let mut out = Vec::new();
        let mut start = self.first;
        loop {
            // Largest block aligned at `start` that stays within the range.
            let mut size_bits = if start == 0 {
                bits
            } else {
                start.trailing_zeros().min(bits)
            };
            while size_bits > 0 {
                let span = if size_bits >= 128 {
                    u128::MAX
                } else {
                    (1u128 << size_bits) - 1
                };
                if start.checked_add(span).is_some_and(|end| end <= self.last) {
                    break;
                }
                size_bits -= 1;
            }
            let prefix = bits - size_bits;
            out.push(if self.v6 {
                format!("{}/{prefix}", std::net::Ipv6Addr::from(start))
            } else {
                format!("{}/{prefix}", std::net::Ipv4Addr::from(start as u32))
            });
            let span = if size_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << size_bits) - 1
            };
            match start.checked_add(span) {
                Some(end) if end < self.last => start = end + 1,
                _ => break,
            }
        }
        out
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cidrs = self.cidrs();
        if cidrs.len() <= 3 {
            f.write_str(&cidrs.join(", "))
        } else {
            let addr = |v: u128| {
                if self.v6 {
                    std::net::Ipv6Addr::from(v).to_string()
                } else {
                    std::net::Ipv4Addr::from(v as u32).to_string()
                }
            };
            write!(f, "{}-{}", addr(self.first), addr(self.last))
        }
    }
}

/// Splits both address spaces at every boundary of `cuts`: the result covers everything,
/// and each piece lies either wholly inside or wholly outside each cut.
pub fn atoms(cuts: &[IpRange]) -> Vec<IpRange> {
    let mut out = Vec::new();
    for v6 in [false, true] {
        let all = IpRange::everything(v6);
        let mut starts: Vec<u128> = vec![0];
        for c in cuts.iter().filter(|c| c.v6 == v6) {
            starts.push(c.first);
            if c.last < all.last {
                starts.push(c.last + 1);
            }
        }
        starts.sort();
        starts.dedup();
        for (i, s) in starts.iter().enumerate() {
            let last = starts.get(i + 1).map(|n| n - 1).unwrap_or(all.last);
            out.push(IpRange {
                v6,
                first: *s,
                last,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conns_algebra() {
        let mut a = Conns::none();
        a.add(Protocol::Tcp, 80, 90);
        a.add(Protocol::Tcp, 91, 100);
        a.add(Protocol::Udp, 53, 53);
        assert_eq!(a.to_string(), "TCP 80-100; UDP 53");
        let mut b = Conns::none();
        b.add(Protocol::Tcp, 85, 85);
        assert_eq!(a.minus(&b).to_string(), "TCP 80-84,86-100; UDP 53");
        assert_eq!(a.intersect(&b).to_string(), "TCP 85");
        assert!(b.is_subset_of(&a) && !a.is_subset_of(&b));
        assert!(Conns::all().is_all() && Conns::from_specs(&[]).is_all());
        assert_eq!(Conns::all().minus(&Conns::all()), Conns::none());
        let mut full_tcp = Conns::none();
        full_tcp.add(Protocol::Tcp, 1, 65535);
        assert!(full_tcp.all_ports_of(Protocol::Tcp) && !full_tcp.is_all());
        assert_eq!(full_tcp.to_string(), "TCP all ports");
    }

    #[test]
    fn ranges_print_as_cidrs_and_split_into_atoms() {
        let n: IpNet = "10.30.0.0/16".parse().unwrap();
        let r = IpRange::of(&n);
        assert_eq!(r.cidrs(), ["10.30.0.0/16"]);
        assert_eq!(IpRange::everything(false).cidrs(), ["0.0.0.0/0"]);
        assert_eq!(IpRange::everything(true).cidrs(), ["::/0"]);
        let a = atoms(&[r]);
        assert_eq!(a.len(), 4, "{a:?}");
        assert_eq!(a[1], r);
        assert_eq!(a[0].to_string(), "0.0.0.0-10.29.255.255");
        assert_eq!(a[2].to_string(), "10.31.0.0-255.255.255.255");
        assert!(IpRange::everything(false).contains(&r) && !r.overlaps(&a[0]));
    }
}
