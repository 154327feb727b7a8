//! The catalogue of built-in rules: id, profile, control, what must hold, and the check.
//! `docs/compliance.md` documents each one; ids are stable.

use super::checks;
use super::context::{Cx, Hit, Scope};

/// A check: what breaks the rule within a scope.
pub type CheckFn = fn(&Cx, &Scope) -> Vec<Hit>;

/// A built-in rule.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    pub id: &'static str,
    pub profile: &'static str,
    pub control: &'static str,
    pub title: &'static str,
    pub check: CheckFn,
}

/// Profiles that apply to every environment, whatever its tags.
pub const ALWAYS_ON: [&str; 2] = ["baseline", "multi-cluster"];

/// Every built-in rule, in report order.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        id: "baseline.default-deny",
        profile: "baseline",
        control: "segplan baseline: default-deny",
        title: "every namespace is default-deny for ingress and egress",
        check: checks::default_deny,
    },
    Builtin {
        id: "baseline.flow-reason",
        profile: "baseline",
        control: "segplan baseline: documented paths",
        title: "every flow has a reason",
        check: checks::flow_reason,
    },
    Builtin {
        id: "baseline.no-all-ports",
        profile: "baseline",
        control: "segplan baseline: least privilege",
        title: "no rule allows all ports or all protocols between namespaces or clusters",
        check: checks::no_all_ports,
    },
    Builtin {
        id: "baseline.dns-only-egress",
        profile: "baseline",
        control: "segplan baseline: DNS is the only always-on egress",
        title: "egress beyond DNS and same-namespace traffic comes from declared flows",
        check: checks::dns_only_egress,
    },
    Builtin {
        id: "pci-dss.production-only",
        profile: "pci-dss",
        control: "PCI DSS v4.0 1.4.1",
        title: "PCI namespaces exist only in production environments",
        check: checks::production_only,
    },
    Builtin {
        id: "pci-dss.dedicated-node-pool",
        profile: "pci-dss",
        control: "PCI DSS v4.0 1.3.1",
        title: "PCI namespaces run on a dedicated, NoSchedule-tainted node pool no other namespace tolerates",
        check: checks::dedicated_node_pool,
    },
    Builtin {
        id: "pci-dss.no-internet-egress",
        profile: "pci-dss",
        control: "PCI DSS v4.0 1.3.2",
        title: "PCI namespaces send nothing to the internet",
        check: checks::no_internet_egress,
    },
    Builtin {
        id: "pci-dss.declared-ingress",
        profile: "pci-dss",
        control: "PCI DSS v4.0 1.2.5",
        title: "PCI namespaces admit only declared flows",
        check: checks::declared_ingress,
    },
    Builtin {
        id: "pci-dss.no-internet-ingress",
        profile: "pci-dss",
        control: "PCI DSS v4.0 1.4.2",
        title: "PCI namespaces accept nothing from the internet",
        check: checks::no_internet_ingress,
    },
    Builtin {
        id: "pci-dss.no-internet-path",
        profile: "pci-dss",
        control: "PCI DSS v4.0 1.4.4",
        title: "no namespace that accepts internet traffic reaches a PCI namespace directly",
        check: checks::no_internet_path,
    },
    Builtin {
        id: "pci-dss.strict-mtls",
        profile: "pci-dss",
        control: "PCI DSS v4.0 1.3.1",
        title: "on meshed clusters PCI namespaces require STRICT mTLS",
        check: checks::strict_mtls_if_mesh,
    },
    Builtin {
        id: "hipaa.declared-peers",
        profile: "hipaa",
        control: "45 CFR 164.312(a)(1)",
        title: "HIPAA namespaces admit only declared peers",
        check: checks::declared_ingress,
    },
    Builtin {
        id: "hipaa.strict-mtls",
        profile: "hipaa",
        control: "45 CFR 164.312(e)(1)",
        title: "HIPAA namespaces run on meshed clusters with STRICT mTLS",
        check: checks::strict_mtls_required,
    },
    Builtin {
        id: "soc2.default-deny",
        profile: "soc2",
        control: "SOC 2 CC6.1",
        title: "every namespace of a SOC 2 environment is default-deny",
        check: checks::default_deny,
    },
    Builtin {
        id: "soc2.external-ingress-dmz",
        profile: "soc2",
        control: "SOC 2 CC6.6",
        title: "internet ingress only into public (DMZ) zones",
        check: checks::external_ingress_dmz,
    },
    Builtin {
        id: "soc2.restricted-egress",
        profile: "soc2",
        control: "SOC 2 CC6.7",
        title: "internet egress only from zones that declare it, never from restricted zones",
        check: checks::restricted_egress,
    },
    Builtin {
        id: "soc2.prod-nonprod-separation",
        profile: "soc2",
        control: "SOC 2 CC6.1",
        title: "production and non-production never share a cluster",
        check: checks::prod_nonprod_separation,
    },
    Builtin {
        id: "soc2.management-flows",
        profile: "soc2",
        control: "SOC 2 CC6.6",
        title: "the management environment reaches others only through declared cross-cluster flows",
        check: checks::management_flows,
    },
    Builtin {
        id: "multi-cluster.one-environment",
        profile: "multi-cluster",
        control: "Multi-cluster segmentation (seed strategy 4)",
        title: "a cluster belongs to one environment",
        check: checks::one_environment,
    },
    Builtin {
        id: "multi-cluster.disjoint-cidrs",
        profile: "multi-cluster",
        control: "Multi-cluster segmentation (seed strategy 4)",
        title: "production and non-production clusters have disjoint CIDRs",
        check: checks::disjoint_cidrs,
    },
    Builtin {
        id: "multi-cluster.mgmt-unreachable",
        profile: "multi-cluster",
        control: "Multi-cluster segmentation (seed strategy 4)",
        title: "management clusters are not reachable from production except on declared flows",
        check: checks::mgmt_unreachable,
    },
];

/// The built-in rule of an id.
pub fn builtin(id: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.id == id)
}
