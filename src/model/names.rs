//! Kubernetes name and label syntax.

/// Whether `s` is an RFC 1123 DNS label: lowercase alphanumerics and `-`, at most 63 characters,
/// starting and ending with an alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is an RFC 1123 DNS subdomain (dot-separated labels, at most 253 characters).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Why a string is not a DNS label, for error messages.
pub fn dns_label_problem(s: &str) -> String {
    if s.is_empty() {
        "a name cannot be empty".into()
    } else if s.len() > 63 {
        format!("`{s}` is {} characters; a name has at most 63", s.len())
    } else if s.bytes().any(|b| b.is_ascii_uppercase()) {
        format!("`{s}` has uppercase letters; Kubernetes names are lowercase")
    } else {
        format!(
            "`{s}` is not a DNS-1123 label (lowercase letters, digits and `-`, starting and ending with a letter or digit)"
        )
    }
}

fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// Whether `s` is a valid label or annotation key: `[prefix/]name`.
pub fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(s),
    }
}

/// Whether `s` is a valid label value (may be empty).
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_label_name(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("prod-eu-1"));
        assert!(is_dns_label("a"));
        assert!(!is_dns_label("Prod"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("a.b"));
        assert!(!is_dns_label("../x"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_dns_label(&"a".repeat(63)));
        assert!(dns_label_problem("Prod").contains("uppercase"));
    }

    #[test]
    fn label_keys_and_values() {
        assert!(is_label_key("security-zone"));
        assert!(is_label_key("segplan.io/zone"));
        assert!(!is_label_key("Bad Key"));
        assert!(!is_label_key("/x"));
        assert!(is_label_value(""));
        assert!(is_label_value("pci"));
        assert!(!is_label_value("a\nb: c"));
        assert!(!is_label_value("-x"));
    }
}
