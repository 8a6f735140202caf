//! GitHub Actions secrets: the `github_actions` connector and its action
//! `github_actions.set_secret`, for rotations (a secret a departed person could read is
//! given a new value).
//!
//! **Flow** (docs.github.com, "Encrypting secrets for the REST API"): `GET` the target's
//! public key (`{key_id, key}`, a base64 Curve25519 key), seal the value to it with a
//! libsodium sealed box ([`seal`]), base64 it, `PUT …/secrets/{name}
//! {encrypted_value, key_id}` (plus `visibility`/`selected_repository_ids` for an
//! organization secret) → 201 created / 204 updated. Paths in [`api`].
//!
//! **Verification.** GitHub never returns secret values; `GET …/secrets/{name}` shows
//! the secret's `updated_at`. The step is verified when that is at or after the write
//! (GitHub's `Date` of the public-key answer, taken just before the `PUT`).
//!
//! **The value** is a [`SecretString`]: never logged, formatted, returned or stored. A
//! plan names where it comes from (`value_from`: `env:NAME`, `file:PATH`, or
//! `rotation:ID` for a value a rotation hands over through a [`SecretValueSource`]);
//! a literal value in a plan is refused. Rotation code can also call
//! [`ActionsSecrets::set_secret`] directly.
//!
//! Calls go through the crate's GitHub client: same credential (token or App), headers,
//! shared rate-limit budget and error classification as the `github` connector.

pub mod api;
pub mod seal;

pub use api::{secret_name, SecretMetadata, SecretTarget, SecretWrite, Visibility};

use crate::client::GithubApi;
use crate::config::GithubConfig;
use crate::membership::is_github_name;
use crate::GithubSetupError;
use async_trait::async_trait;
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, ParamError, Preview, Verification,
};
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Connector name (the prefix in plans).
pub const CONNECTOR: &str = "github_actions";
/// Action name (without the prefix).
pub const ACTION: &str = "set_secret";
/// What the action does.
pub const DESCRIPTION: &str =
    "Set a GitHub Actions secret of an organization, a repository or an environment: the \
     value (from env:NAME, file:PATH or a rotation, never written in the plan) is sealed \
     to the target's public key (libsodium sealed box) and PUT; verified when \
     GET …/secrets/{name} shows updated_at at or after the write.";

/// Which kind of secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `/orgs/{org}/actions/secrets/{name}`.
    Org,
    /// `/repos/{owner}/{repo}/actions/secrets/{name}`.
    #[serde(alias = "repository")]
    Repo,
    /// `/repos/{owner}/{repo}/environments/{environment}/secrets/{name}`.
    Environment,
}

/// `with:` parameters of `github_actions.set_secret`.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SetSecretParams {
    /// `org`, `repo` or `environment`.
    pub scope: Scope,
    /// Organization (scope `org`; also accepted as the owner of a repository). Defaults
    /// to `connectors.github.org`.
    #[serde(default)]
    pub org: Option<String>,
    /// Owner of the repository (scopes `repo` and `environment`). Defaults to `org`,
    /// then `connectors.github.org`.
    #[serde(default)]
    pub owner: Option<String>,
    /// Repository name (scopes `repo` and `environment`).
    #[serde(default)]
    pub repo: Option<String>,
    /// Deployment environment name (scope `environment`).
    #[serde(default)]
    pub environment: Option<String>,
    /// Secret name (letters, digits, `_`; GitHub upper-cases it).
    pub name: String,
    /// Where the value comes from: `env:NAME`, `file:PATH` or `rotation:ID`. Never the
    /// value itself.
    pub value_from: String,
    /// Organization secrets: `all`, `private` or `selected`. Omitted: keep the existing
    /// secret's visibility (required to create one).
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Organization secrets with `visibility: selected`: the repositories' ids.
    #[serde(default)]
    pub selected_repository_ids: Option<Vec<u64>>,
}

/// Where a step's value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ValueFrom {
    /// An environment variable of the Leaver process.
    Env(String),
    /// A file (trailing whitespace trimmed).
    File(String),
    /// A value a rotation hands over through the connector's [`SecretValueSource`].
    Rotation(String),
}

impl fmt::Display for ValueFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueFrom::Env(name) => write!(f, "env:{name}"),
            ValueFrom::File(path) => write!(f, "file:{path}"),
            ValueFrom::Rotation(id) => write!(f, "rotation:{id}"),
        }
    }
}

impl fmt::Debug for ValueFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueFrom({self})")
    }
}

impl ValueFrom {
    /// Parse `env:NAME`, `file:PATH` or `rotation:ID`. Anything else is refused without
    /// being echoed: it could be a secret pasted into a plan.
    pub fn parse(text: &str) -> Result<Self, ParamError> {
        let text = text.trim();
        let refused = || {
            ParamError(
                "`value_from` must be `env:NAME`, `file:PATH` or `rotation:ID` (a secret value \
                 is never written in a plan; the given text is not shown)"
                    .into(),
            )
        };
        let (kind, rest) = text.split_once(':').ok_or_else(refused)?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(refused());
        }
        match kind {
            "env" if rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                Ok(ValueFrom::Env(rest.to_string()))
            }
            "file" => Ok(ValueFrom::File(rest.to_string())),
            "rotation" if rest.len() <= 200 && !rest.chars().any(char::is_whitespace) => {
                Ok(ValueFrom::Rotation(rest.to_string()))
            }
            _ => Err(refused()),
        }
    }
}

/// Hands the connector the values of `rotation:ID` references (the rotation code that
/// generated a new credential).
pub trait SecretValueSource: Send + Sync {
    /// The value staged under `id`, or why there is none (never the value).
    fn value(&self, id: &str) -> Result<SecretString, String>;
}

/// The Actions secrets client: what rotation code calls.
///
/// ```no_run
/// # async fn rotate(config: leaver_connector_github::GithubConfig) -> Result<(), Box<dyn std::error::Error>> {
/// use leaver_connector_github::actions_secrets::{ActionsSecrets, SecretTarget};
/// use secrecy::SecretString;
/// let secrets = ActionsSecrets::new(&config)?;
/// let target = SecretTarget::environment("acme", "api", "production");
/// let write = secrets.set_secret(&target, "DEPLOY_TOKEN", &SecretString::from("new value")).await?;
/// assert!(secrets.verify_write(&write).await?.verified);
/// # Ok(()) }
/// ```
pub struct ActionsSecrets {
    api: GithubApi,
}

impl fmt::Debug for ActionsSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionsSecrets").finish_non_exhaustive()
    }
}

impl ActionsSecrets {
    /// A client for the GitHub configuration (validated; no request is made).
    pub fn new(config: &GithubConfig) -> Result<Self, GithubSetupError> {
        Ok(Self {
            api: GithubApi::new(config)?,
        })
    }

    /// Seal `value` to the target's public key and store it as secret `name` (created
    /// or updated). The value appears in nothing this returns.
    pub async fn set_secret(
        &self,
        target: &SecretTarget,
        name: &str,
        value: &SecretString,
    ) -> Result<SecretWrite, ConnectorError> {
        let write = api::put_secret(&self.api, target, name, value).await?;
        tracing::info!(
            scope = write.scope,
            path = %write.path,
            status = write.status,
            "github actions secret set"
        );
        Ok(write)
    }

    /// The secret's metadata (`None`: it does not exist).
    pub async fn metadata(
        &self,
        target: &SecretTarget,
        name: &str,
    ) -> Result<Option<SecretMetadata>, ConnectorError> {
        target
            .validate()
            .map_err(|e| ConnectorError::permanent(e.0))?;
        let name = secret_name(name).map_err(|e| ConnectorError::permanent(e.0))?;
        api::metadata(&self.api, target, &name).await
    }

    /// Read the secret back: verified when `updated_at` is at or after the write (and,
    /// for an organization secret, the visibility is the one sent).
    pub async fn verify_write(&self, write: &SecretWrite) -> Result<Verification, ConnectorError> {
        let response = self.api.get(&write.path).await?;
        let what = format!("GET {}", write.path);
        if response.status == 404 {
            return Ok(Verification {
                verified: false,
                observation: format!("{what} answered 404: the secret does not exist"),
            });
        }
        if response.status != 200 {
            return Err(self.api.failure(&response, &what));
        }
        let body: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| {
            ConnectorError::transient(format!("GitHub answered {what} with invalid JSON: {e}"))
        })?;
        let written = write
            .not_before
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let updated_text = body
            .get("updated_at")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let updated = chrono::DateTime::parse_from_rfc3339(updated_text)
            .ok()
            .map(|d| d.with_timezone(&chrono::Utc));
        let visibility = body.get("visibility").and_then(|v| v.as_str());
        let (verified, observation) = match updated {
            None => (
                false,
                format!("{what} shows no readable updated_at (`{updated_text}`)"),
            ),
            Some(at) if at < write.not_before => (
                false,
                format!(
                    "{what} shows updated_at {updated_text}, before the write ({written}): \
                     the new value is not stored"
                ),
            ),
            Some(_) => match (write.visibility, visibility) {
                (Some(sent), Some(seen)) if sent.as_str() != seen => (
                    false,
                    format!(
                        "{what} shows updated_at {updated_text} but visibility `{seen}`, not \
                         `{}`",
                        sent.as_str()
                    ),
                ),
                _ => (
                    true,
                    format!(
                        "{what} shows updated_at {updated_text}, at or after the write \
                         ({written}, GitHub's clock before the PUT){}; GitHub never returns \
                         secret values, so the value itself is not read back",
                        visibility
                            .map(|v| format!(", visibility `{v}`"))
                            .unwrap_or_default()
                    ),
                ),
            },
        };
        Ok(Verification {
            verified,
            observation,
        })
    }
}

/// The `github_actions` connector.
pub struct GithubActionsConnector {
    org: Option<String>,
    secrets: ActionsSecrets,
    source: Option<Arc<dyn SecretValueSource>>,
    /// The last write of each (run, step), for its verification.
    writes: Mutex<HashMap<(String, String), SecretWrite>>,
}

impl fmt::Debug for GithubActionsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubActionsConnector")
            .field("org", &self.org)
            .field("rotation_source", &self.source.is_some())
            .finish_non_exhaustive()
    }
}

impl GithubActionsConnector {
    /// Built from the same `[connectors.github]` settings as the `github` connector. No
    /// request is made and no runtime is needed.
    pub fn new(config: GithubConfig) -> Result<Self, GithubSetupError> {
        let org = config
            .org
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string);
        Ok(Self {
            org,
            secrets: ActionsSecrets::new(&config)?,
            source: None,
            writes: Mutex::new(HashMap::new()),
        })
    }

    /// Resolve `rotation:ID` values through `source`.
    pub fn with_value_source(mut self, source: Arc<dyn SecretValueSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// The client, for direct calls.
    pub fn secrets(&self) -> &ActionsSecrets {
        &self.secrets
    }

    /// The target, name and value source of a step's parameters.
    pub fn step_of(
        &self,
        params: &serde_json::Value,
    ) -> Result<(SecretTarget, String, ValueFrom), ParamError> {
        let p: SetSecretParams = parse_params(params)?;
        let trimmed = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let default_org = self.org.clone();
        let unwanted = |field: &str, present: bool| {
            if present {
                Err(ParamError(format!(
                    "`{field}` does not apply to scope `{}`",
                    match p.scope {
                        Scope::Org => "org",
                        Scope::Repo => "repo",
                        Scope::Environment => "environment",
                    }
                )))
            } else {
                Ok(())
            }
        };
        let target = match p.scope {
            Scope::Org => {
                unwanted("owner", p.owner.is_some())?;
                unwanted("repo", p.repo.is_some())?;
                unwanted("environment", p.environment.is_some())?;
                let org = trimmed(&p.org).or(default_org).ok_or_else(|| {
                    ParamError(
                        "`org` is required for scope `org` (or set connectors.github.org)".into(),
                    )
                })?;
                if p.selected_repository_ids.is_some() && p.visibility != Some(Visibility::Selected)
                {
                    return Err(ParamError(
                        "`selected_repository_ids` is only allowed with `visibility: selected`"
                            .into(),
                    ));
                }
                SecretTarget::Org {
                    org,
                    visibility: p.visibility,
                    selected_repository_ids: p.selected_repository_ids.clone(),
                }
            }
            Scope::Repo | Scope::Environment => {
                unwanted("visibility", p.visibility.is_some())?;
                unwanted(
                    "selected_repository_ids",
                    p.selected_repository_ids.is_some(),
                )?;
                let (owner, org) = (trimmed(&p.owner), trimmed(&p.org));
                if let (Some(a), Some(b)) = (&owner, &org) {
                    if !a.eq_ignore_ascii_case(b) {
                        return Err(ParamError(
                            "give `owner` or `org` for the repository, not two different ones"
                                .into(),
                        ));
                    }
                }
                let owner = owner.or(org).or(default_org).ok_or_else(|| {
                    ParamError("`owner` is required (or set connectors.github.org)".into())
                })?;
                let repo =
                    trimmed(&p.repo).ok_or_else(|| ParamError("`repo` is required".into()))?;
                if p.scope == Scope::Repo {
                    unwanted("environment", p.environment.is_some())?;
                    SecretTarget::Repo { owner, repo }
                } else {
                    let environment = trimmed(&p.environment).ok_or_else(|| {
                        ParamError("`environment` is required for scope `environment`".into())
                    })?;
                    SecretTarget::Environment {
                        owner,
                        repo,
                        environment,
                    }
                }
            }
        };
        target.validate()?;
        if let SecretTarget::Org { org, .. } = &target {
            if !is_github_name(org) {
                return Err(ParamError(format!("`{org}` is not an organization name")));
            }
        }
        let name = secret_name(&p.name)?;
        let value_from = ValueFrom::parse(&p.value_from)?;
        Ok((target, name, value_from))
    }

    /// The value of a step (never shown; errors name only the reference).
    fn resolve_value(&self, from: &ValueFrom) -> Result<SecretString, ConnectorError> {
        let value = match from {
            ValueFrom::Env(name) => std::env::var(name)
                .map(|v| SecretString::from(v.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|_| format!("environment variable {name} is not set")),
            ValueFrom::File(path) => std::fs::read_to_string(path)
                .map(|v| SecretString::from(v.trim_end().to_string()))
                .map_err(|e| format!("cannot read {path}: {}", e.kind())),
            ValueFrom::Rotation(id) => match &self.source {
                Some(source) => source.value(id),
                None => Err(format!(
                    "no rotation supplies values to this connector (rotation:{id})"
                )),
            },
        };
        let value =
            value.map_err(|why| ConnectorError::permanent(format!("value_from {from}: {why}")))?;
        if value.expose_secret().is_empty() {
            return Err(ConnectorError::permanent(format!(
                "value_from {from}: the value is empty"
            )));
        }
        Ok(value)
    }

    fn parsed(
        &self,
        request: &ActionRequest,
    ) -> Result<(SecretTarget, String, ValueFrom), ConnectorError> {
        if request.action != ACTION {
            return Err(ConnectorError::permanent(unknown_action(&request.action).0));
        }
        self.step_of(&request.params)
            .map_err(|e| ConnectorError::permanent(format!("invalid parameters: {e}")))
    }

    fn key(request: &ActionRequest) -> (String, String) {
        (request.run_id.clone(), request.step_id.clone())
    }
}

fn unknown_action(action: &str) -> ParamError {
    ParamError(format!(
        "unknown action `{CONNECTOR}.{action}` (the GitHub Actions connector offers: \
         {CONNECTOR}.{ACTION})"
    ))
}

#[async_trait]
impl Connector for GithubActionsConnector {
    fn name(&self) -> &'static str {
        CONNECTOR
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![typed_action::<SetSecretParams>(ACTION, DESCRIPTION)]
    }

    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        if action != ACTION {
            return Err(unknown_action(action));
        }
        self.step_of(params).map(|_| ())
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        let (target, name, from) = self.parsed(request)?;
        let value = self.resolve_value(&from)?;
        let write = self.secrets.set_secret(&target, &name, &value).await?;
        drop(value);
        let verb = if write.created() {
            "created"
        } else {
            "updated"
        };
        let outcome = ActionOutcome::changed(format!(
            "{verb} Actions secret {} in the {} (value from {from})",
            write.name, write.target
        ))
        .with_details(serde_json::json!({
            "scope": write.scope,
            "target": write.target,
            "name": write.name,
            "path": write.path,
            "status": write.status,
            "key_id": write.key_id,
            "visibility": write.visibility.map(Visibility::as_str),
            "value_from": from.to_string(),
            "written_not_before": write.not_before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }));
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(Self::key(request), write);
        Ok(outcome)
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        let (target, name, _) = self.parsed(request)?;
        let write = self
            .writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&Self::key(request))
            .cloned();
        match write {
            Some(write) => self.secrets.verify_write(&write).await,
            None => Ok(Verification {
                verified: false,
                observation: format!(
                    "no write of {name} in the {target} by this process to compare \
                     GET {} with; the step sets the secret again",
                    target.secret_path(&name)
                ),
            }),
        }
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let (target, name, from) = self.parsed(request)?;
        let mut notes = Vec::new();
        if let Err(e) = self.resolve_value(&from) {
            notes.push(format!("the step will fail: {}", e.message));
        }
        // Reading the public key checks that the target exists and its secrets can be
        // administered with this credential.
        api::public_key(&self.secrets.api, &target).await?;
        let existing = api::metadata(&self.secrets.api, &target, &name).await?;
        notes.push(match existing {
            Some(m) => format!(
                "would update Actions secret {name} in the {target} (last updated {}) with \
                 the value from {from}",
                m.updated_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_else(|| "at an unknown time".into())
            ),
            None => format!(
                "would create Actions secret {name} in the {target} with the value from {from}"
            ),
        });
        Ok(Preview {
            would_revoke: Vec::new(),
            notes,
        })
    }

    /// Secrets are not access a person holds: nothing to report.
    async fn inventory(
        &self,
        _identity: &Identity,
        _scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connector(org: Option<&str>) -> GithubActionsConnector {
        GithubActionsConnector::new(GithubConfig {
            org: org.map(str::to_string),
            ..GithubConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn one_action_with_a_schema() {
        let c = connector(None);
        assert_eq!(c.name(), "github_actions");
        let specs = c.actions();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name, "set_secret");
        let props = &specs[0].params_schema["properties"];
        for key in [
            "scope",
            "org",
            "owner",
            "repo",
            "environment",
            "name",
            "value_from",
        ] {
            assert!(props[key].is_object(), "{key}");
        }
        assert!(specs[0]
            .validate(&json!({"scope": "repo", "owner": "acme", "repo": "api", "name": "X", "value_from": "env:X"}))
            .is_ok());
        assert!(specs[0]
            .validate(&json!({"scope": "repo", "name": "X", "value_from": "env:X", "value": "x"}))
            .is_err());
    }

    #[test]
    fn targets_from_params() {
        let c = connector(Some("acme"));
        let (t, n, v) = c
            .step_of(&json!({"scope": "org", "name": "deploy_key", "value_from": "env:NEW_KEY", "visibility": "private"}))
            .unwrap();
        assert_eq!(
            t,
            SecretTarget::org("acme").with_visibility(Visibility::Private, None)
        );
        assert_eq!(n, "DEPLOY_KEY");
        assert_eq!(v, ValueFrom::Env("NEW_KEY".into()));
        let (t, _, _) = c
            .step_of(&json!({"scope": "environment", "repo": "api", "environment": "production", "name": "K", "value_from": "rotation:rot-1"}))
            .unwrap();
        assert_eq!(t, SecretTarget::environment("acme", "api", "production"));
        let (t, _, _) = c
            .step_of(&json!({"scope": "repo", "org": "other", "repo": "api", "name": "K", "value_from": "file:/run/k"}))
            .unwrap();
        assert_eq!(t, SecretTarget::repo("other", "api"));

        let none = connector(None);
        for bad in [
            json!({"scope": "org", "name": "K", "value_from": "env:K"}),
            json!({"scope": "repo", "owner": "acme", "name": "K", "value_from": "env:K"}),
            json!({"scope": "environment", "owner": "acme", "repo": "api", "name": "K", "value_from": "env:K"}),
            json!({"scope": "repo", "owner": "acme", "repo": "api", "visibility": "all", "name": "K", "value_from": "env:K"}),
            json!({"scope": "org", "org": "acme", "visibility": "all", "selected_repository_ids": [1], "name": "K", "value_from": "env:K"}),
            json!({"scope": "repo", "owner": "acme", "org": "other", "repo": "api", "name": "K", "value_from": "env:K"}),
            json!({"scope": "repo", "owner": "acme", "repo": "api", "name": "GITHUB_K", "value_from": "env:K"}),
        ] {
            assert!(none.check_params("set_secret", &bad).is_err(), "{bad}");
        }
        assert!(none
            .check_params(
                "set_secrets",
                &json!({"scope": "org", "org": "acme", "name": "K", "value_from": "env:K"})
            )
            .is_err());
    }

    #[test]
    fn a_literal_value_is_refused_without_being_echoed() {
        let c = connector(Some("acme"));
        for literal in [
            "hunter2-CANARY",
            "ghp_CANARY0123456789",
            "env:",
            "env:NOT-A-VAR CANARY",
            "rotation:has space CANARY",
        ] {
            let error = c
                .check_params(
                    "set_secret",
                    &json!({"scope": "repo", "repo": "api", "name": "K", "value_from": literal}),
                )
                .unwrap_err();
            assert!(!error.0.contains("CANARY"), "{error}");
            assert!(error.0.contains("value_from"), "{error}");
        }
    }

    #[test]
    fn values_resolve_without_being_shown() {
        struct Staged;
        impl SecretValueSource for Staged {
            fn value(&self, id: &str) -> Result<SecretString, String> {
                match id {
                    "rot-1" => Ok(SecretString::from("CANARY-rotated")),
                    _ => Err(format!("no value staged under {id}")),
                }
            }
        }
        let c = connector(None).with_value_source(Arc::new(Staged));
        let v = c
            .resolve_value(&ValueFrom::Rotation("rot-1".into()))
            .unwrap();
        assert_eq!(v.expose_secret(), "CANARY-rotated");
        assert!(!format!("{v:?}").contains("CANARY"));
        let e = c
            .resolve_value(&ValueFrom::Rotation("rot-2".into()))
            .unwrap_err();
        assert!(!e.is_transient());
        let e = connector(None)
            .resolve_value(&ValueFrom::Env("LEAVER_TEST_SURELY_UNSET_VAR".into()))
            .unwrap_err();
        assert!(e
            .message
            .contains("LEAVER_TEST_SURELY_UNSET_VAR is not set"));
        assert!(format!("{c:?}").contains("rotation_source: true"));
    }
}
