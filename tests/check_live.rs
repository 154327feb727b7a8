//! `segplan check --live`: the compliance rules on what is live in the clusters, over real
//! HTTP to the test servers.

mod live_support;

use live_support::{World, json_of, widening_policy};

#[test]
fn live_clusters_pass_after_apply_and_fail_with_a_hand_made_opening() {
    let w = World::new(true);
    // Nothing applied yet: no default-deny anywhere live.
    let (code, out, err) = w.run(&["check", "--env", "prod", "--live", "-o", "json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    w.apply_all();
    let (code, out, err) = w.run(&["check", "--env", "prod", "--live"]);
    assert_eq!(
        code, 0,
        "the applied plan passes live as it does rendered:\n{out}\n{err}"
    );

    // Someone opens the PCI namespace to everything.
    w.eu.seed(widening_policy("payments", "debug-open", None));
    let (code, out, err) = w.run(&["check", "--env", "prod", "--live", "-o", "json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let v = json_of(&out);
    let text = v.to_string();
    assert!(text.contains("payments"), "{v:#}");
    assert!(text.contains("pci-dss"), "a PCI rule fails: {v:#}");
    // The rendered plan itself still passes: only the live check sees the opening.
    let (code, _, _) = w.run(&["check", "--env", "prod"]);
    assert_eq!(code, 0);
}
