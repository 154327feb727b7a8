//! `segplan apply --env ENV [--cluster NAME] [--dry-run] [--prune] [--yes] [--concurrency N]`:
//! brings the live clusters to the plan, showing first what it will do and doing only that.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::commands::diff::{ClusterArgs, diff_targets, hash_of, runtime, targets};
use crate::cli::{CliError, Settings, output};
use crate::live::apply::{ApplyPlan, ApplyReport, ApplySettings, Outcome, ProgressFn, plan_apply};
use crate::live::format::{ClusterOutcome, summary_line};
use crate::live::kube::KubeCluster;
use crate::live::run::{Diffed, apply_all};
use crate::live::{Change, DiffOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub clusters: ClusterArgs,
    /// Send every request with dryRun=All and report what the server would do.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete objects segplan owns (labels and field manager) that are no longer planned.
    #[arg(long)]
    pub prune: bool,
    /// With --prune, also delete Namespaces that are no longer planned.
    #[arg(long, requires = "prune")]
    pub prune_namespaces: bool,
    /// With --prune, allow deleting more than half (or all) of what segplan owns in a cluster.
    #[arg(long, requires = "prune")]
    pub allow_mass_prune: bool,
    /// Take ownership of fields another field manager holds.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Refuse unless the plan still has this hash (from `segplan diff -o json`).
    #[arg(long, value_name = "HASH")]
    pub plan_hash: Option<String>,
}

/// Apply dry-runs only changed objects: the missing ones are about to be sent anyway.
const APPLY_DIFF: DiffOptions = DiffOptions {
    dry_run_added: false,
};

type Work = Vec<(ApplyPlan, Arc<KubeCluster>)>;

/// Plans every diffed cluster; a mass prune anywhere refuses the whole run.
fn plan_all(diffed: &[Diffed<KubeCluster>], s: &ApplySettings) -> Result<Work, CliError> {
    let mut work = Vec::new();
    for d in diffed {
        if let Ok((diff, api)) = &d.result {
            let plan = plan_apply(diff, s).map_err(|e| {
                CliError::input(e.to_string())
                    .hint("check the plan; if the deletions are intended, add --allow-mass-prune")
            })?;
            work.push((plan, Arc::clone(api)));
        }
    }
    Ok(work)
}

fn show_plan(diffed: &[Diffed<KubeCluster>], work: &Work, color: bool) -> String {
    let mut out = String::new();
    for d in diffed {
        let line = summary_line(&ClusterOutcome {
            cluster: &d.cluster,
            environment: &d.environment,
            result: d.result.as_ref().map(|(d, _)| d),
        });
        out.push_str(&line);
        out.push('\n');
        let Ok((diff, _)) = &d.result else { continue };
        for f in &diff.findings {
            out.push_str(&format!("  finding: {f}\n"));
        }
        let Some((plan, _)) = work.iter().find(|(p, _)| p.cluster == d.cluster) else {
            continue;
        };
        for step in &plan.writes {
            use crate::live::apply::Action;
            let line = match &step.action {
                Action::Apply { create: true, .. } => {
                    paint(color, "32", &format!("  + create {}", step.key))
                }
                Action::Apply { .. } => paint(color, "33", &format!("  ~ update {}", step.key)),
                Action::Blocked(why) => paint(
                    color,
                    "31",
                    &format!("  x cannot create {}: {why}", step.key),
                ),
                Action::Delete { .. } => continue,
            };
            out.push_str(&line);
            out.push('\n');
        }
        for step in &plan.deletes {
            out.push_str(&paint(color, "31", &format!("  - delete {}", step.key)));
            out.push('\n');
        }
        for (key, why) in &plan.kept {
            out.push_str(&format!("  = keep {key}: {why}\n"));
        }
        for o in diff
            .objects
            .iter()
            .filter(|o| o.change == Change::Unmanaged)
        {
            out.push_str(&format!("  ! unmanaged {} (left alone)\n", o.key));
        }
    }
    out
}

fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Asks on the terminal; `Ok(true)` when the user typed yes.
fn confirm(question: &str) -> Result<bool, CliError> {
    let mut err = std::io::stderr().lock();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn summary(reports: &[ApplyReport], errors: &[(String, String)], dry_run: bool) -> String {
    let mut out = String::new();
    let prefix = if dry_run { "dry run: " } else { "" };
    for r in reports {
        out.push_str(&format!(
            "{}: {prefix}{} created, {} updated, {} deleted, {} unchanged, {} failed",
            r.cluster, r.created, r.updated, r.deleted, r.unchanged, r.failed
        ));
        if r.skipped > 0 {
            out.push_str(&format!(", {} not attempted", r.skipped));
        }
        out.push('\n');
        for (key, outcome) in &r.problems {
            match outcome {
                Outcome::Failed(why) => out.push_str(&format!("  failed {key}: {why}\n")),
                Outcome::Skipped(why) => out.push_str(&format!("  skipped {key}: {why}\n")),
                _ => {}
            }
        }
        for (key, why) in &r.kept {
            out.push_str(&format!("  kept {key}: {why}\n"));
        }
    }
    for (cluster, e) in errors {
        out.push_str(&format!("{cluster}: error: {e}\n"));
    }
    out
}

fn progress(
    s: &Settings,
    multi: &Option<indicatif::MultiProgress>,
    plan: &ApplyPlan,
) -> Option<ProgressFn> {
    let total = plan.writes.len() + plan.deletes.len();
    if total == 0 {
        return None;
    }
    let cluster = plan.cluster.clone();
    match multi {
        Some(m) => {
            let bar = m.add(indicatif::ProgressBar::new(total as u64));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>12} [{bar:30}] {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(cluster);
            Some(Arc::new(move |done, total, msg: &str| {
                bar.set_position(done as u64);
                bar.set_message(msg.to_string());
                if done == total {
                    bar.finish();
                }
            }))
        }
        None if !s.stderr_is_terminal => Some(Arc::new(move |done, total, msg: &str| {
            eprintln!("{cluster}: [{done}/{total}] {msg}");
        })),
        None => None,
    }
}

pub fn run(args: Args, s: &Settings) -> Result<ExitCode, CliError> {
    let settings = ApplySettings {
        dry_run: args.dry_run,
        prune: args.prune,
        prune_namespaces: args.prune_namespaces,
        allow_mass_prune: args.allow_mass_prune,
        force_conflicts: args.force_conflicts,
    };
    let targets = targets(s, &args.clusters)?;
    let rt = runtime()?;
    let mut diffed = diff_targets(&rt, &args.clusters, &targets, APPLY_DIFF);
    let mut hash = hash_of(&targets, &diffed);
    if let Some(expected) = &args.plan_hash
        && *expected != hash
    {
        return Err(CliError::input(format!(
            "the plan changed since it was approved: expected {expected}, now {hash}"
        ))
        .hint("run `segplan diff -o json` again, review it, and approve the new plan hash"));
    }
    let mut work = plan_all(&diffed, &settings)?;
    output::print(&show_plan(&diffed, &work, s.color))?;
    let nothing = work.iter().all(|(p, _)| p.is_noop());
    if !nothing && !args.yes && !args.dry_run {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::input("refusing to apply without confirmation: stdin is not a terminal")
                .hint("review the plan above and re-run with --yes (and --plan-hash from `segplan diff -o json`)"));
        }
        loop {
            if !confirm("Apply these changes?")? {
                return Err(CliError::input("apply cancelled; nothing was changed"));
            }
            // What was approved must be what runs: diff again, ask again if it moved.
            let again = diff_targets(&rt, &args.clusters, &targets, APPLY_DIFF);
            let again_hash = hash_of(&targets, &again);
            if again_hash == hash {
                break;
            }
            output::print(
                "The live clusters or the plan changed while you were reviewing; the new plan:\n",
            )?;
            diffed = again;
            hash = again_hash;
            work = plan_all(&diffed, &settings)?;
            output::print(&show_plan(&diffed, &work, s.color))?;
            if work.iter().all(|(p, _)| p.is_noop()) {
                break;
            }
        }
    }
    let errors: Vec<(String, String)> = diffed
        .iter()
        .filter_map(|d| {
            d.result
                .as_ref()
                .err()
                .map(|e| (d.cluster.clone(), e.to_string()))
        })
        .collect();
    let multi = (s.stderr_is_terminal && !nothing).then(indicatif::MultiProgress::new);
    let reports = rt.block_on(apply_all(work, settings, args.clusters.concurrency, |p| {
        progress(s, &multi, p)
    }));
    output::print(&summary(&reports, &errors, args.dry_run))?;
    let failed = errors.len() + reports.iter().filter(|r| !r.ok()).count();
    if failed > 0 {
        return Err(CliError::external(format!(
            "{failed} of {} cluster{} did not reach the plan",
            diffed.len(),
            if diffed.len() == 1 { "" } else { "s" }
        ))
        .hint("fix the errors above and run apply again; it continues where it stopped"));
    }
    Ok(ExitCode::SUCCESS)
}
