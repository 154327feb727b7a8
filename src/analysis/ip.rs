//! External IP ranges: CIDRs with exceptions, and the partition of the address space into
//! the pieces ("atoms") that no policy can tell apart.
//!
//! An `ipBlock` `cidr` minus its `except` list is an [`IpSet`]: sorted, disjoint ranges of one
//! address family. The engine splits the whole IPv4 space (and the IPv6 space, when a policy
//! names an IPv6 block) at every boundary of every block a policy mentions; each piece is an
//! external peer, printed as `first-last`, e.g. `0.0.0.0-9.255.255.255`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRange {
    /// The address family.
    pub family: Family,
    /// The first address (IPv4 addresses in the low 32 bits).
    pub first: u128,
    /// The last address, inclusive.
    pub last: u128,
}

impl IpRange {
    /// The whole address space of `family`.
    pub fn everything(family: Family) -> Self {
        Self {
            family,
            first: 0,
            last: family.max(),
        }
    }

    /// Whether `other` lies inside `self`.
    pub fn contains(&self, other: &IpRange) -> bool {
        self.family == other.family && self.first <= other.first && other.last <= self.last
    }

    /// Whether `self` and `other` share an address.
    pub fn overlaps(&self, other: &IpRange) -> bool {
        self.family == other.family && self.first <= other.last && other.first <= self.last
    }

    fn addr(family: Family, v: u128) -> IpAddr {
        match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
        }
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            Self::addr(self.family, self.first),
            Self::addr(self.family, self.last)
        )
    }
}

/// A set of addresses of one family, as sorted disjoint ranges.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpSet {
    ranges: Vec<IpRange>,
}

/// A CIDR that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR `{0}`")]
pub struct CidrError(pub String);

/// Parses `a.b.c.d/n` or `x::/n` into its range. Host bits are ignored, as Kubernetes does.
pub fn parse_cidr(s: &str) -> Result<IpRange, CidrError> {
    let err = || CidrError(s.to_string());
    let (addr, len) = s.trim().split_once('/').ok_or_else(err)?;
    let addr: IpAddr = addr.parse().map_err(|_| err())?;
    let len: u32 = len.parse().map_err(|_| err())?;
    let (family, value, bits) = match addr {
        IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (Family::V6, u128::from(a), 128),
    };
    if len > bits {
        return Err(err());
    }
    let host_bits = bits - len;
    let mask: u128 = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    Ok(IpRange {
        family,
        first: value & !mask,
        last: (value & !mask) | mask,
    })
}

impl IpSet {
    /// The addresses of `cidr` except those of each `except` CIDR.
    pub fn from_block(cidr: &str, except: &[String]) -> Result<IpSet, CidrError> {
        let base = parse_cidr(cidr)?;
        let mut set = IpSet { ranges: vec![base] };
        for e in except {
            let e = parse_cidr(e)?;
            set.remove(&e);
        }
        Ok(set)
    }

    /// The contiguous ranges, sorted.
    pub fn ranges(&self) -> &[IpRange] {
        &self.ranges
    }

    /// Whether every address of `r` is in the set.
    pub fn contains_range(&self, r: &IpRange) -> bool {
        self.ranges.iter().any(|x| x.contains(r))
    }

    fn remove(&mut self, cut: &IpRange) {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for r in &self.ranges {
            if !r.overlaps(cut) {
                out.push(*r);
                continue;
            }
            if r.first < cut.first {
                out.push(IpRange {
                    last: cut.first - 1,
                    ..*r
                });
            }
            if cut.last < r.last {
                out.push(IpRange {
                    first: cut.last + 1,
                    ..*r
                });
            }
        }
        self.ranges = out;
    }
}

/// Splits the whole space of each family in `families` at every boundary of `ranges`.
/// The pieces are returned sorted; every input range is a union of pieces.
pub fn atoms<'a>(
    families: &[Family],
    ranges: impl IntoIterator<Item = &'a IpRange>,
) -> Vec<IpRange> {
    let mut cuts: Vec<(Family, u128)> = Vec::new();
    for r in ranges {
        cuts.push((r.family, r.first));
        if r.last < r.family.max() {
            cuts.push((r.family, r.last + 1));
        }
    }
    let mut out = Vec::new();
    for &family in families {
        let mut starts: Vec<u128> = cuts
            .iter()
            .filter(|(f, _)| *f == family)
            .map(|&(_, v)| v)
            .collect();
        starts.push(0);
        starts.sort_unstable();
        starts.dedup();
        for (i, &s) in starts.iter().enumerate() {
            let last = starts.get(i + 1).map_or(family.max(), |&n| n - 1);
            out.push(IpRange {
                family,
                first: s,
                last,
            });
        }
    }
    out
}

/// Merges touching or overlapping ranges of the same family into maximal ranges, sorted.
pub fn merge(mut ranges: Vec<IpRange>) -> Vec<IpRange> {
    ranges.sort_unstable();
    let mut out: Vec<IpRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if last.family == r.family && r.first <= last.last.saturating_add(1) => {
                last.last = last.last.max(r.last);
            }
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_with_except_splits_into_ranges() {
        let s = IpSet::from_block(
            "0.0.0.0/0",
            &[
                "10.0.0.0/8".into(),
                "172.21.0.0/16".into(),
                "172.30.0.0/16".into(),
            ],
        )
        .unwrap();
        let text: Vec<String> = s.ranges().iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "0.0.0.0-9.255.255.255",
                "11.0.0.0-172.20.255.255",
                "172.22.0.0-172.29.255.255",
                "172.31.0.0-255.255.255.255"
            ]
        );
    }

    #[test]
    fn atoms_split_at_every_boundary() {
        let s = IpSet::from_block("0.0.0.0/0", &["10.0.0.0/8".into()]).unwrap();
        let a = atoms(&[Family::V4], s.ranges());
        let text: Vec<String> = a.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "0.0.0.0-9.255.255.255",
                "10.0.0.0-10.255.255.255",
                "11.0.0.0-255.255.255.255"
            ]
        );
        assert_eq!(atoms(&[Family::V4], &[]).len(), 1);
    }

    #[test]
    fn host_bits_are_ignored_and_bad_cidrs_rejected() {
        assert_eq!(
            parse_cidr("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0-10.255.255.255"
        );
        assert_eq!(
            parse_cidr("1.2.3.4/32").unwrap().to_string(),
            "1.2.3.4-1.2.3.4"
        );
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert_eq!(parse_cidr("2001:db8::/32").unwrap().family, Family::V6);
    }

    #[test]
    fn merge_joins_touching_ranges() {
        let a = parse_cidr("10.0.0.0/9").unwrap();
        let b = parse_cidr("10.128.0.0/9").unwrap();
        let c = parse_cidr("12.0.0.0/8").unwrap();
        let m = merge(vec![c, b, a]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].to_string(), "10.0.0.0-10.255.255.255");
    }
}
