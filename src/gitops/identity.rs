//! Commit identities: `--author "Name <email>"`, git's identity environment variables, the
//! repository's `user.name`/`user.email`, in that order.
//!
//! libgit2 does not read `GIT_AUTHOR_*`/`GIT_COMMITTER_*`; segplan does, like `git commit`, so
//! CI jobs and tests can pin identities and dates.

use super::GitopsError;

/// Environment variables read for identities, each as git documents it.
pub mod env_vars {
    pub const GIT_AUTHOR_NAME: &str = "GIT_AUTHOR_NAME";
    pub const GIT_AUTHOR_EMAIL: &str = "GIT_AUTHOR_EMAIL";
    /// `@<unix seconds> <+hhmm>`, `<unix seconds> <+hhmm>` or ISO 8601 (`2026-01-02T03:04:05Z`).
    pub const GIT_AUTHOR_DATE: &str = "GIT_AUTHOR_DATE";
    pub const GIT_COMMITTER_NAME: &str = "GIT_COMMITTER_NAME";
    pub const GIT_COMMITTER_EMAIL: &str = "GIT_COMMITTER_EMAIL";
    pub const GIT_COMMITTER_DATE: &str = "GIT_COMMITTER_DATE";
}

/// A name, an email and an optional fixed time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
    /// Seconds since the epoch and offset in minutes; `None` means now.
    pub time: Option<(i64, i32)>,
}

impl Identity {
    /// Parses `Name <email>`.
    pub fn parse(s: &str) -> Result<Self, GitopsError> {
        let bad = || GitopsError::Identity(format!("`{s}` is not `Name <email>`"));
        let (name, rest) = s.split_once('<').ok_or_else(bad)?;
        let email = rest.strip_suffix('>').ok_or_else(bad)?;
        let name = name.trim();
        if name.is_empty() || email.is_empty() || email.contains(['<', '>']) {
            return Err(bad());
        }
        Ok(Identity {
            name: name.to_string(),
            email: email.trim().to_string(),
            time: None,
        })
    }

    /// The git2 signature.
    pub fn signature(&self) -> Result<git2::Signature<'static>, GitopsError> {
        let sig = match self.time {
            Some((secs, offset)) => {
                git2::Signature::new(&self.name, &self.email, &git2::Time::new(secs, offset))
            }
            None => git2::Signature::now(&self.name, &self.email),
        };
        sig.map_err(|e| {
            GitopsError::Identity(format!("{} <{}>: {}", self.name, self.email, e.message()))
        })
    }
}

/// Which identity is being resolved.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    Author,
    Committer,
}

/// Resolves an identity: explicit value, then environment (name, email, date), then the
/// repository config, then `segplan <segplan@localhost>`.
pub fn resolve(
    explicit: Option<&Identity>,
    role: Role,
    env: &dyn Fn(&str) -> Option<String>,
    repo: &git2::Repository,
) -> Result<Identity, GitopsError> {
    use env_vars::*;
    let (n, e, d) = match role {
        Role::Author => (GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL, GIT_AUTHOR_DATE),
        Role::Committer => (GIT_COMMITTER_NAME, GIT_COMMITTER_EMAIL, GIT_COMMITTER_DATE),
    };
    let config = repo.config().ok();
    let from_config = |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok());
    let mut id = match explicit {
        Some(id) => id.clone(),
        None => Identity {
            name: env(n)
                .or_else(|| from_config("user.name"))
                .unwrap_or_else(|| "segplan".into()),
            email: env(e)
                .or_else(|| from_config("user.email"))
                .unwrap_or_else(|| "segplan@localhost".into()),
            time: None,
        },
    };
    if id.time.is_none()
        && let Some(date) = env(d)
    {
        id.time = Some(parse_date(&date).ok_or_else(|| {
            GitopsError::Identity(format!("{d}=`{date}` is not a date git understands"))
        })?);
    }
    Ok(id)
}

/// Parses git's internal date format (`@1700000000 +0100`, also without `@`) and ISO 8601
/// (`2026-01-02T03:04:05Z`, `2026-01-02 03:04:05 +01:00`).
pub fn parse_date(s: &str) -> Option<(i64, i32)> {
    let s = s.trim();
    let raw = s.strip_prefix('@').unwrap_or(s);
    let mut parts = raw.split_whitespace();
    if let (Some(secs), tz) = (parts.next(), parts.next())
        && let Ok(secs) = secs.parse::<i64>()
    {
        let offset = match tz {
            Some(tz) => parse_offset(tz)?,
            None => 0,
        };
        return Some((secs, offset));
    }
    // ISO 8601
    let (date, rest) = s.split_at_checked(10)?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let da: u32 = d.next()?.parse().ok()?;
    let rest = rest.strip_prefix(['T', ' '])?;
    let (time, tz) = rest.split_at_checked(8)?;
    let mut t = time.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let se: i64 = t.next()?.parse().ok()?;
    let tz = tz.trim();
    let offset = if tz.is_empty() || tz == "Z" {
        0
    } else {
        parse_offset(tz)?
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let local = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se;
    Some((local - i64::from(offset) * 60, offset))
}

fn parse_offset(tz: &str) -> Option<i32> {
    let (sign, digits) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    Some(sign * (h * 60 + m))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_identities() {
        let id = Identity::parse("Ada Lovelace <ada@example.org>").unwrap();
        assert_eq!(
            (id.name.as_str(), id.email.as_str()),
            ("Ada Lovelace", "ada@example.org")
        );
        assert!(Identity::parse("ada@example.org").is_err());
        assert!(Identity::parse("<ada@example.org>").is_err());
        assert!(Identity::parse("Ada <>").is_err());
    }

    #[test]
    fn parses_dates() {
        assert_eq!(parse_date("@1700000000 +0100"), Some((1_700_000_000, 60)));
        assert_eq!(parse_date("1700000000 -0230"), Some((1_700_000_000, -150)));
        assert_eq!(parse_date("2023-11-14T22:13:20Z"), Some((1_700_000_000, 0)));
        assert_eq!(
            parse_date("2023-11-14 23:13:20 +01:00"),
            Some((1_700_000_000, 60))
        );
        assert_eq!(parse_date("2000-02-29T00:00:00Z"), Some((951_782_400, 0)));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2023-13-01T00:00:00Z"), None);
    }
}
