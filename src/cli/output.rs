//! Writing data to stdout, and loading the model with diagnostics printed on stderr.

use std::io::Write;

use super::{CliError, Settings};
use crate::model::Model;

/// Writes `text` to stdout, treating a closed pipe as success.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Loads and validates the topology; warnings go to stderr, errors become a [`CliError`].
pub fn load_model(s: &Settings) -> Result<Model, CliError> {
    match crate::model::load(&s.topology) {
        Ok((model, warnings)) => {
            if !warnings.is_empty() {
                eprint!("{}", crate::diag::render(&warnings, s.color_stderr));
            }
            Ok(model)
        }
        Err(diags) => Err(CliError::diagnostics(diags)),
    }
}

/// Checks that `--env` names exist, with a hint for near misses.
pub fn check_envs(model: &Model, envs: &[String]) -> Result<(), CliError> {
    for env in envs {
        if model.environment(env).is_none() {
            let known: Vec<&str> = model.environments.keys().map(String::as_str).collect();
            let mut e = CliError::input(format!("unknown environment `{env}`"));
            if let Some(s) = crate::diag::did_you_mean(env, known.iter().copied()) {
                e = e.hint(format!("did you mean `{s}`?"));
            }
            return Err(e.hint(format!("environments: {}", known.join(", "))));
        }
    }
    Ok(())
}
