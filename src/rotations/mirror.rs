//! GitHub Actions secrets that mirror a Vault KV v2 secret, named on the Vault secret's
//! `custom_metadata` (which its owner controls):
//!
//! - `github_actions_secrets`: a comma-separated list of targets, each
//!   - `OWNER/REPO:NAME` — a repository secret,
//!   - `OWNER/REPO@ENVIRONMENT:NAME` — a deployment environment's secret,
//!   - `org:ORG:NAME` — an organization secret (keeps its visibility; it must exist);
//! - `github_actions_key`: which key of the Vault secret the Actions secrets hold;
//!   required when the secret has more than one key.
//!
//! After a rotation writes the Vault secret's new version, the new value of that key is
//! sealed and written to every target, each verified by its `updated_at`.

use leaver_connector_github::actions_secrets::{secret_name, SecretTarget};
use std::collections::BTreeMap;

/// The metadata key listing the targets.
pub const TARGETS_KEY: &str = "github_actions_secrets";
/// The metadata key naming the mirrored key.
pub const KEY_KEY: &str = "github_actions_key";

/// One Actions secret to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorTarget {
    pub target: SecretTarget,
    /// Upper-cased, as GitHub stores it.
    pub name: String,
}

impl MirrorTarget {
    /// `repo acme/api:DEPLOY_KEY`, for evidence and messages.
    pub fn label(&self) -> String {
        match &self.target {
            SecretTarget::Org { org, .. } => format!("org {org}:{}", self.name),
            SecretTarget::Repo { owner, repo } => format!("repo {owner}/{repo}:{}", self.name),
            SecretTarget::Environment {
                owner,
                repo,
                environment,
            } => format!("environment {owner}/{repo}@{environment}:{}", self.name),
        }
    }
}

fn one(entry: &str) -> Result<MirrorTarget, String> {
    let bad = |why: &str| format!("`{entry}` in {TARGETS_KEY}: {why}");
    let (place, name) = if let Some(rest) = entry.strip_prefix("org:") {
        let (org, name) = rest
            .split_once(':')
            .ok_or_else(|| bad("an organization secret is `org:ORG:NAME`"))?;
        (SecretTarget::org(org.trim()), name)
    } else {
        let (place, name) = entry.rsplit_once(':').ok_or_else(|| {
            bad("expected `OWNER/REPO:NAME`, `OWNER/REPO@ENVIRONMENT:NAME` or `org:ORG:NAME`")
        })?;
        let (repo_part, environment) = match place.split_once('@') {
            Some((repo, env)) => (repo, Some(env.trim())),
            None => (place, None),
        };
        let (owner, repo) = repo_part
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("the repository must be `OWNER/REPO`"))?;
        let target = match environment {
            Some("") => return Err(bad("the environment after `@` is empty")),
            Some(env) => SecretTarget::environment(owner.trim(), repo.trim(), env),
            None => SecretTarget::repo(owner.trim(), repo.trim()),
        };
        (target, name)
    };
    place.validate().map_err(|e| bad(&e.0))?;
    let name = secret_name(name).map_err(|e| bad(&e.0))?;
    Ok(MirrorTarget {
        target: place,
        name,
    })
}

/// Parse `github_actions_secrets` (duplicates dropped, order kept).
pub fn parse_targets(text: &str) -> Result<Vec<MirrorTarget>, String> {
    let mut targets: Vec<MirrorTarget> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let target = one(entry)?;
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    if targets.is_empty() {
        return Err(format!("{TARGETS_KEY} names no target"));
    }
    Ok(targets)
}

/// The secret's mirroring, from its custom metadata: `None` when it names no targets.
/// `keys` are the key names of the new version.
pub fn from_metadata(
    metadata: &BTreeMap<String, String>,
    keys: &[String],
) -> Result<Option<(String, Vec<MirrorTarget>)>, String> {
    let Some(text) = metadata.get(TARGETS_KEY).filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let targets = parse_targets(text)?;
    let key = match metadata.get(KEY_KEY).map(|k| k.trim()) {
        Some(key) if keys.iter().any(|k| k == key) => key.to_string(),
        Some(key) => {
            return Err(format!(
                "{KEY_KEY} `{key}` is not a key of the secret (keys: {})",
                keys.join(", ")
            ))
        }
        None if keys.len() == 1 => keys[0].clone(),
        None => {
            return Err(format!(
                "the secret has {} keys ({}): {KEY_KEY} must name the one the Actions \
                 secrets hold",
                keys.len(),
                keys.join(", ")
            ))
        }
    };
    Ok(Some((key, targets)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_kinds() {
        let targets = parse_targets(
            "acme/api:deploy_key, org:acme:NPM_TOKEN ,acme/api@production:DEPLOY_KEY,,",
        )
        .unwrap();
        assert_eq!(
            targets,
            vec![
                MirrorTarget {
                    target: SecretTarget::repo("acme", "api"),
                    name: "DEPLOY_KEY".into()
                },
                MirrorTarget {
                    target: SecretTarget::org("acme"),
                    name: "NPM_TOKEN".into()
                },
                MirrorTarget {
                    target: SecretTarget::environment("acme", "api", "production"),
                    name: "DEPLOY_KEY".into()
                },
            ]
        );
        assert_eq!(targets[0].label(), "repo acme/api:DEPLOY_KEY");
        assert_eq!(targets[1].label(), "org acme:NPM_TOKEN");
        assert_eq!(
            targets[2].label(),
            "environment acme/api@production:DEPLOY_KEY"
        );
        // Duplicates (GitHub names are case-insensitive) are written once.
        assert_eq!(parse_targets("a/b:X, a/b:x").unwrap().len(), 1);
    }

    #[test]
    fn refuses_what_is_not_a_target() {
        for bad in [
            "",
            "acme",
            "acme:NAME",
            "org:acme",
            "acme/api@:NAME",
            "acme/api:GITHUB_TOKEN",
            "acme/api:1ABC",
            "ac me/api:NAME",
            "acme/../x:NAME",
        ] {
            assert!(parse_targets(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn the_key_is_required_with_several() {
        let meta = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let one = vec!["token".to_string()];
        let two = vec!["access_key_id".to_string(), "secret_access_key".to_string()];
        assert_eq!(from_metadata(&meta(&[("owner", "x")]), &one).unwrap(), None);
        let (key, targets) = from_metadata(&meta(&[(TARGETS_KEY, "a/b:T")]), &one)
            .unwrap()
            .unwrap();
        assert_eq!((key.as_str(), targets.len()), ("token", 1));
        assert!(from_metadata(&meta(&[(TARGETS_KEY, "a/b:T")]), &two)
            .unwrap_err()
            .contains(KEY_KEY));
        let (key, _) = from_metadata(
            &meta(&[(TARGETS_KEY, "a/b:T"), (KEY_KEY, "secret_access_key")]),
            &two,
        )
        .unwrap()
        .unwrap();
        assert_eq!(key, "secret_access_key");
        assert!(from_metadata(&meta(&[(TARGETS_KEY, "a/b:T"), (KEY_KEY, "nope")]), &two).is_err());
    }
}
