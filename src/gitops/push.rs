//! `--push REMOTE`: push the branch, fast-forward only.
//!
//! The refspec has no `+`, and the negotiation step checks that the remote's tip is an ancestor
//! of the local tip (and known locally) before anything is sent, so a push that would drop
//! commits on the remote is refused with a clear message instead of a transport error.

use std::cell::RefCell;

use git2::{Oid, Repository};

use super::GitopsError;

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote branch moved from `from` (`None`: created) to `to`.
    Pushed { from: Option<Oid>, to: Oid },
    /// The remote branch was already at `to`.
    UpToDate { to: Oid },
}

/// Pushes `refs/heads/<branch>` to the same branch of `remote` (a configured remote name, or
/// a URL or path).
pub fn push(repo: &Repository, remote: &str, branch: &str) -> Result<PushOutcome, GitopsError> {
    let refname = format!("refs/heads/{branch}");
    let local = repo
        .refname_to_id(&refname)
        .map_err(|e| GitopsError::Push {
            remote: remote.to_string(),
            reason: format!("branch `{branch}` has no commit to push: {}", e.message()),
        })?;
    let mut r = match repo.find_remote(remote) {
        Ok(r) => r,
        Err(_) => repo
            .remote_anonymous(remote)
            .map_err(|e| GitopsError::Push {
                remote: remote.to_string(),
                reason: format!("not a remote name or URL: {}", e.message()),
            })?,
    };
    let rejection: RefCell<Option<String>> = RefCell::new(None);
    let remote_tip: RefCell<Option<Oid>> = RefCell::new(None);
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(|_url, user, allowed| credentials(user, allowed));
    callbacks.push_negotiation(|updates| {
        for u in updates {
            let (src, dst) = (u.src(), u.dst());
            if src.is_zero() {
                continue;
            }
            *remote_tip.borrow_mut() = Some(src);
            let fast_forward = src == dst
                || (repo.find_commit(src).is_ok() && repo.graph_descendant_of(dst, src).unwrap_or(false));
            if !fast_forward {
                *rejection.borrow_mut() = Some(format!(
                    "non-fast-forward: the remote branch is at {src}, which is not an ancestor of {dst}"
                ));
                return Err(git2::Error::from_str("non-fast-forward"));
            }
        }
        Ok(())
    });
    callbacks.push_update_reference(|_refname, status| {
        if let Some(s) = status {
            *rejection.borrow_mut() = Some(format!("the remote refused the update: {s}"));
        }
        Ok(())
    });
    let mut opts = git2::PushOptions::new();
    opts.remote_callbacks(callbacks);
    let spec = format!("{refname}:{refname}");
    let result = r.push(&[spec.as_str()], Some(&mut opts));
    drop(opts);
    if let Some(reason) = rejection.borrow_mut().take() {
        return Err(GitopsError::PushRejected {
            remote: remote.to_string(),
            branch: branch.to_string(),
            reason,
        });
    }
    result.map_err(|e| GitopsError::Push {
        remote: remote.to_string(),
        reason: e.message().to_string(),
    })?;
    let from = *remote_tip.borrow();
    Ok(if from == Some(local) {
        PushOutcome::UpToDate { to: local }
    } else {
        PushOutcome::Pushed { from, to: local }
    })
}

/// The SSH agent for SSH URLs; otherwise no credentials (local paths, anonymous HTTPS).
fn credentials(
    user: Option<&str>,
    allowed: git2::CredentialType,
) -> Result<git2::Cred, git2::Error> {
    if allowed.contains(git2::CredentialType::SSH_KEY) {
        return git2::Cred::ssh_key_from_agent(user.unwrap_or("git"));
    }
    git2::Cred::default()
}
