//! Bearer-token authentication and a small RBAC-like authorizer: each user
//! holds rules (verbs x resources x namespaces); no rule, no access.

/// A user the server accepts, identified by a bearer token.
#[derive(Debug, Clone)]
pub struct User {
    /// User name (appears in 403 messages and request records).
    pub name: String,
    /// Bearer token.
    pub token: String,
    /// Allowed access; `None` means everything (cluster-admin).
    pub rules: Option<Vec<Rule>>,
}

impl User {
    /// A user allowed to do everything.
    pub fn admin(name: &str, token: &str) -> Self {
        User {
            name: name.into(),
            token: token.into(),
            rules: None,
        }
    }

    /// A user allowed nothing until rules are added with [`User::allow`].
    pub fn restricted(name: &str, token: &str) -> Self {
        User {
            name: name.into(),
            token: token.into(),
            rules: Some(Vec::new()),
        }
    }

    /// Adds an allow rule.
    pub fn allow(mut self, rule: Rule) -> Self {
        self.rules.get_or_insert_with(Vec::new).push(rule);
        self
    }
}

/// One allow rule. `*` matches any verb or resource.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// Verbs: get, list, watch, create, update, patch, delete, deletecollection.
    pub verbs: Vec<String>,
    /// Plural resource names (`networkpolicies`, `namespaces`, ...).
    pub resources: Vec<String>,
    /// `None`: cluster-wide (every namespace and cluster-scoped resources, like a
    /// ClusterRoleBinding); `Some(list)`: only these namespaces (like RoleBindings).
    pub namespaces: Option<Vec<String>>,
}

impl Rule {
    /// A rule with the given verbs and resources, cluster-wide.
    pub fn new<'a>(
        verbs: impl IntoIterator<Item = &'a str>,
        resources: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Rule {
            verbs: verbs.into_iter().map(String::from).collect(),
            resources: resources.into_iter().map(String::from).collect(),
            namespaces: None,
        }
    }

    /// Every verb on every resource, cluster-wide.
    pub fn all() -> Self {
        Rule::new(["*"], ["*"])
    }

    /// get/list/watch on every resource, cluster-wide.
    pub fn read_only() -> Self {
        Rule::new(["get", "list", "watch"], ["*"])
    }

    /// Restricts the rule to the given namespaces.
    pub fn in_namespaces<'a>(mut self, namespaces: impl IntoIterator<Item = &'a str>) -> Self {
        self.namespaces = Some(namespaces.into_iter().map(String::from).collect());
        self
    }

    fn allows(&self, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
        let verb_ok = self.verbs.iter().any(|v| v == "*" || v == verb);
        let res_ok = self.resources.iter().any(|r| r == "*" || r == resource);
        let ns_ok = match (&self.namespaces, namespace) {
            (None, _) => true,
            (Some(list), Some(ns)) => list.iter().any(|n| n == "*" || n == ns),
            (Some(_), None) => false,
        };
        verb_ok && res_ok && ns_ok
    }
}

/// Finds the user of an `Authorization` header value.
pub fn authenticate<'a>(users: &'a [User], header: Option<&str>) -> Option<&'a User> {
    let token = header?.strip_prefix("Bearer ")?.trim();
    users.iter().find(|u| u.token == token)
}

/// Whether `user` may perform `verb` on `resource` in `namespace` (`None`: cluster scope).
pub fn authorize(user: &User, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
    match &user.rules {
        None => true,
        Some(rules) => rules.iter().any(|r| r.allows(verb, resource, namespace)),
    }
}
