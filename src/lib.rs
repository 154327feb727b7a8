//! segplan plans and enforces network segmentation across many Kubernetes clusters.
//!
//! The data flows one way through the modules:
//!
//! ```text
//! topology -> model -> render -> gitops | live -> analysis -> report
//! ```
//!
//! * [`topology`] reads `segplan.toml` and `<env>.toml` into span-carrying TOML shapes;
//! * [`model`] validates them and resolves every reference;
//! * [`render`] computes each cluster's plan and shapes it through Tera templates;
//! * [`gitops`] commits rendered manifests into a GitOps repository (git2);
//! * [`live`] reads, diffs and applies live clusters (kube-rs);
//! * [`analysis`] computes reachability from NetworkPolicies;
//! * [`compliance`] runs compliance profiles (PCI DSS, HIPAA, SOC 2) on the plan;
//! * [`report`] formats findings and diffs;
//! * [`cli`] is the command line, the only place that prints.

pub mod alloc;
pub mod analysis;
pub mod cli;
pub mod compliance;
pub mod diag;
pub mod example;
pub mod gitops;
pub mod intent;
pub mod live;
pub mod model;
pub mod render;
pub mod report;
pub mod review;
pub mod topology;
