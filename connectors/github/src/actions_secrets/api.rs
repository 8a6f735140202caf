//! The Actions secrets REST calls: where a secret lives ([`SecretTarget`]), the
//! target's public key, the sealed write and the metadata read-back. One HTTP attempt
//! per call through the crate's client (same headers, budget and error classification
//! as every other GitHub call).
//!
//! | target | public key | secret |
//! |---|---|---|
//! | organization | `GET /orgs/{org}/actions/secrets/public-key` | `/orgs/{org}/actions/secrets/{name}` |
//! | repository | `GET /repos/{owner}/{repo}/actions/secrets/public-key` | `/repos/{owner}/{repo}/actions/secrets/{name}` |
//! | environment | `GET /repos/{owner}/{repo}/environments/{env}/secrets/public-key` | `/repos/{owner}/{repo}/environments/{env}/secrets/{name}` |

use super::seal::{self, SealError};
use crate::client::{ApiResponse, GithubApi};
use crate::membership::is_github_name;
use chrono::{DateTime, SubsecRound, Utc};
use http::Method;
use leaver_connector::{ConnectorError, ParamError};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who can use an organization secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Every repository of the organization.
    All,
    /// The organization's private (and internal) repositories.
    Private,
    /// Only the repositories in `selected_repository_ids`.
    Selected,
}

impl Visibility {
    /// GitHub's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::All => "all",
            Visibility::Private => "private",
            Visibility::Selected => "selected",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(Visibility::All),
            "private" => Some(Visibility::Private),
            "selected" => Some(Visibility::Selected),
            _ => None,
        }
    }
}

/// Where a secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretTarget {
    /// An organization secret. `visibility: None` keeps the visibility (and the
    /// selected repositories) of the existing secret; creating one needs it.
    Org {
        org: String,
        visibility: Option<Visibility>,
        selected_repository_ids: Option<Vec<u64>>,
    },
    /// A repository secret.
    Repo { owner: String, repo: String },
    /// A deployment environment's secret.
    Environment {
        owner: String,
        repo: String,
        environment: String,
    },
}

impl SecretTarget {
    /// An organization secret that keeps its current visibility.
    pub fn org(org: impl Into<String>) -> Self {
        SecretTarget::Org {
            org: org.into(),
            visibility: None,
            selected_repository_ids: None,
        }
    }

    /// A repository secret.
    pub fn repo(owner: impl Into<String>, repo: impl Into<String>) -> Self {
        SecretTarget::Repo {
            owner: owner.into(),
            repo: repo.into(),
        }
    }

    /// An environment secret.
    pub fn environment(
        owner: impl Into<String>,
        repo: impl Into<String>,
        environment: impl Into<String>,
    ) -> Self {
        SecretTarget::Environment {
            owner: owner.into(),
            repo: repo.into(),
            environment: environment.into(),
        }
    }

    /// Set the visibility of an organization secret (no effect on other targets).
    pub fn with_visibility(mut self, wanted: Visibility, repository_ids: Option<Vec<u64>>) -> Self {
        if let SecretTarget::Org {
            visibility,
            selected_repository_ids,
            ..
        } = &mut self
        {
            *visibility = Some(wanted);
            *selected_repository_ids = repository_ids;
        }
        self
    }

    /// `org`, `repo` or `environment`.
    pub fn scope(&self) -> &'static str {
        match self {
            SecretTarget::Org { .. } => "org",
            SecretTarget::Repo { .. } => "repo",
            SecretTarget::Environment { .. } => "environment",
        }
    }

    /// Check names before they become path segments.
    pub fn validate(&self) -> Result<(), ParamError> {
        let owner_ok = |owner: &str| {
            if is_github_name(owner) {
                Ok(())
            } else {
                Err(ParamError(format!(
                    "`{owner}` is not a GitHub organization or user name (letters, digits, `-`)"
                )))
            }
        };
        let repo_ok = |repo: &str| {
            let valid = !repo.is_empty()
                && repo.len() <= 100
                && repo != "."
                && repo != ".."
                && repo
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if valid {
                Ok(())
            } else {
                Err(ParamError(format!(
                    "`{repo}` is not a GitHub repository name (letters, digits, `-`, `_`, `.`)"
                )))
            }
        };
        match self {
            SecretTarget::Org {
                org,
                visibility,
                selected_repository_ids,
            } => {
                owner_ok(org)?;
                match (visibility, selected_repository_ids) {
                    (Some(Visibility::Selected), _) | (_, None) => Ok(()),
                    _ => Err(ParamError(
                        "`selected_repository_ids` is only allowed with `visibility: selected`"
                            .into(),
                    )),
                }
            }
            SecretTarget::Repo { owner, repo } => {
                owner_ok(owner)?;
                repo_ok(repo)
            }
            SecretTarget::Environment {
                owner,
                repo,
                environment,
            } => {
                owner_ok(owner)?;
                repo_ok(repo)?;
                let env = environment.trim();
                if env.is_empty() || env.chars().count() > 255 || env.chars().any(char::is_control)
                {
                    return Err(ParamError(format!(
                        "`{environment}` is not a GitHub environment name (1 to 255 characters)"
                    )));
                }
                Ok(())
            }
        }
    }

    /// The secrets collection of the target (`/repos/acme/api/actions/secrets`).
    fn collection(&self) -> String {
        match self {
            SecretTarget::Org { org, .. } => format!("/orgs/{org}/actions/secrets"),
            SecretTarget::Repo { owner, repo } => format!("/repos/{owner}/{repo}/actions/secrets"),
            SecretTarget::Environment {
                owner,
                repo,
                environment,
            } => format!(
                "/repos/{owner}/{repo}/environments/{}/secrets",
                encode_segment(environment)
            ),
        }
    }

    /// `GET` path of the target's public key.
    pub fn public_key_path(&self) -> String {
        format!("{}/public-key", self.collection())
    }

    /// Path of the secret `name`.
    pub fn secret_path(&self, name: &str) -> String {
        format!("{}/{name}", self.collection())
    }
}

impl fmt::Display for SecretTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretTarget::Org { org, .. } => write!(f, "organization {org}"),
            SecretTarget::Repo { owner, repo } => write!(f, "repository {owner}/{repo}"),
            SecretTarget::Environment {
                owner,
                repo,
                environment,
            } => write!(f, "environment `{environment}` of {owner}/{repo}"),
        }
    }
}

/// Percent-encode one path segment (everything but RFC 3986 unreserved characters).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GitHub's rules for secret names: letters, digits and `_`, not starting with a digit
/// or `GITHUB_`. GitHub stores them upper-cased; so does this.
pub fn secret_name(name: &str) -> Result<String, ParamError> {
    let upper = name.trim().to_ascii_uppercase();
    let valid = !upper.is_empty()
        && upper.len() <= 255
        && upper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !upper.as_bytes()[0].is_ascii_digit()
        && !upper.starts_with("GITHUB_");
    if valid {
        Ok(upper)
    } else {
        Err(ParamError(format!(
            "`{name}` is not a GitHub Actions secret name (letters, digits and `_`, not \
             starting with a digit or `GITHUB_`)"
        )))
    }
}

/// A target's public key: `{key_id, key}` and GitHub's clock when it answered.
#[derive(Debug, Clone)]
pub(crate) struct TargetKey {
    pub key_id: String,
    pub key: String,
    /// The answer's `Date` (whole seconds), else this machine's clock.
    pub fetched_at: DateTime<Utc>,
}

/// What a secret's metadata shows (GitHub never returns values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMetadata {
    pub name: String,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Organization secrets only.
    pub visibility: Option<Visibility>,
}

/// What one write did. Holds no value, sealed or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretWrite {
    /// `org`, `repo` or `environment`.
    pub scope: &'static str,
    /// The target in words (`repository acme/api`).
    pub target: String,
    /// The secret's path (`/repos/acme/api/actions/secrets/DEPLOY_KEY`).
    pub path: String,
    /// The secret's name as GitHub stores it (upper case).
    pub name: String,
    /// The public key the value was sealed to.
    pub key_id: String,
    /// 201 (created) or 204 (updated).
    pub status: u16,
    /// Organization secrets: the visibility sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// No `updated_at` before this instant can be this write: GitHub's `Date` of the
    /// public-key answer (before the PUT), in whole seconds.
    pub not_before: DateTime<Utc>,
}

impl SecretWrite {
    /// Whether the PUT created the secret (201) rather than updated it (204).
    pub fn created(&self) -> bool {
        self.status == 201
    }
}

fn date_header(response: &ApiResponse) -> DateTime<Utc> {
    response
        .headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
        .trunc_subsecs(0)
}

fn json_of(response: &ApiResponse, what: &str) -> Result<serde_json::Value, ConnectorError> {
    serde_json::from_slice(&response.body).map_err(|e| {
        ConnectorError::transient(format!(
            "GitHub answered {what} with something that is not JSON: {e}"
        ))
    })
}

fn timestamp(value: &serde_json::Value, field: &str) -> Option<DateTime<Utc>> {
    value
        .get(field)
        .and_then(|v| v.as_str())
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// `GET …/secrets/public-key`.
pub(crate) async fn public_key(
    api: &GithubApi,
    target: &SecretTarget,
) -> Result<TargetKey, ConnectorError> {
    let path = target.public_key_path();
    let what = format!("GET {path}");
    let response = api.get(&path).await?;
    if response.status != 200 {
        let mut error = api.failure(&response, &what);
        if response.status == 404 {
            error.message = format!(
                "{} — the {target} does not exist or the credential cannot administer its secrets",
                error.message
            );
        }
        return Err(error);
    }
    let body = json_of(&response, &what)?;
    let field = |name: &str| {
        body.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ConnectorError::transient(format!("GitHub answered {what} without `{name}`"))
            })
    };
    Ok(TargetKey {
        key_id: field("key_id")?,
        key: field("key")?,
        fetched_at: date_header(&response),
    })
}

/// `GET …/secrets/{name}`: `None` on 404.
pub(crate) async fn metadata(
    api: &GithubApi,
    target: &SecretTarget,
    name: &str,
) -> Result<Option<SecretMetadata>, ConnectorError> {
    let path = target.secret_path(name);
    let what = format!("GET {path}");
    let response = api.get(&path).await?;
    match response.status {
        200 => {
            let body = json_of(&response, &what)?;
            Ok(Some(SecretMetadata {
                name: body
                    .get("name")
                    .and_then(|v| v.as_str())
                    .unwrap_or(name)
                    .to_string(),
                created_at: timestamp(&body, "created_at"),
                updated_at: timestamp(&body, "updated_at"),
                visibility: body
                    .get("visibility")
                    .and_then(|v| v.as_str())
                    .and_then(Visibility::parse),
            }))
        }
        404 => Ok(None),
        _ => Err(api.failure(&response, &what)),
    }
}

/// Most repositories listed for one organization secret.
const MAX_SELECTED_PAGES: u32 = 100;

/// `GET /orgs/{org}/actions/secrets/{name}/repositories` (every page): the ids of the
/// repositories a `selected` secret is shared with.
async fn selected_repositories(
    api: &GithubApi,
    org: &str,
    name: &str,
) -> Result<Vec<u64>, ConnectorError> {
    let mut ids = Vec::new();
    for page in 1..=MAX_SELECTED_PAGES {
        let path =
            format!("/orgs/{org}/actions/secrets/{name}/repositories?per_page=100&page={page}");
        let what = format!("GET {path}");
        let response = api.get(&path).await?;
        if response.status != 200 {
            return Err(api.failure(&response, &what));
        }
        let body = json_of(&response, &what)?;
        let total = body
            .get("total_count")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        let repos = body
            .get("repositories")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        let before = ids.len();
        ids.extend(
            repos
                .iter()
                .filter_map(|r| r.get("id").and_then(|v| v.as_u64())),
        );
        if ids.len() as u64 >= total || ids.len() == before {
            return Ok(ids);
        }
    }
    Err(ConnectorError::permanent(format!(
        "organization secret {name} of {org} is shared with more than {} pages of repositories",
        MAX_SELECTED_PAGES
    )))
}

/// The visibility to send for an organization secret: the one asked for, else the
/// existing secret's (with its selected repositories).
async fn org_visibility(
    api: &GithubApi,
    org: &str,
    name: &str,
    visibility: Option<Visibility>,
    selected: Option<&Vec<u64>>,
) -> Result<(Visibility, Option<Vec<u64>>), ConnectorError> {
    if let Some(visibility) = visibility {
        return Ok((visibility, selected.cloned()));
    }
    let target = SecretTarget::org(org);
    let existing = metadata(api, &target, name).await?;
    match existing.and_then(|m| m.visibility) {
        Some(Visibility::Selected) => Ok((
            Visibility::Selected,
            Some(selected_repositories(api, org, name).await?),
        )),
        Some(visibility) => Ok((visibility, None)),
        None => Err(ConnectorError::permanent(format!(
            "organization secret {name} does not exist in {org}: creating it needs \
             `visibility` (all, private or selected)"
        ))),
    }
}

/// Fetch the target's key, seal `value` to it, `PUT …/secrets/{name}`.
pub(crate) async fn put_secret(
    api: &GithubApi,
    target: &SecretTarget,
    name: &str,
    value: &SecretString,
) -> Result<SecretWrite, ConnectorError> {
    target
        .validate()
        .map_err(|e| ConnectorError::permanent(e.0))?;
    let name = secret_name(name).map_err(|e| ConnectorError::permanent(e.0))?;
    let mut body = serde_json::Map::new();
    let mut sent_visibility = None;
    if let SecretTarget::Org {
        org,
        visibility,
        selected_repository_ids,
    } = target
    {
        let (visibility, selected) = org_visibility(
            api,
            org,
            &name,
            *visibility,
            selected_repository_ids.as_ref(),
        )
        .await?;
        body.insert("visibility".into(), visibility.as_str().into());
        if let Some(ids) = selected {
            body.insert("selected_repository_ids".into(), serde_json::json!(ids));
        }
        sent_visibility = Some(visibility);
    }
    let key = public_key(api, target).await?;
    let encrypted = seal::seal(&key.key, value).map_err(|e| match e {
        SealError::PublicKey(_) | SealError::Cipher => {
            ConnectorError::transient(format!("{e} (GET {})", target.public_key_path()))
        }
        SealError::Empty | SealError::TooLarge(_) => {
            ConnectorError::permanent(format!("cannot set {name} in the {target}: {e}"))
        }
    })?;
    body.insert("encrypted_value".into(), encrypted.into());
    body.insert("key_id".into(), key.key_id.clone().into());
    let path = target.secret_path(&name);
    let what = format!("PUT {path}");
    let response = api
        .send(Method::PUT, &path, Some(&serde_json::Value::Object(body)))
        .await?;
    match response.status {
        201 | 204 => Ok(SecretWrite {
            scope: target.scope(),
            target: target.to_string(),
            path,
            name,
            key_id: key.key_id,
            status: response.status,
            visibility: sent_visibility,
            not_before: key.fetched_at,
        }),
        _ => Err(api.failure(&response, &what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_each_target() {
        assert_eq!(
            SecretTarget::org("acme").public_key_path(),
            "/orgs/acme/actions/secrets/public-key"
        );
        assert_eq!(
            SecretTarget::repo("acme", "api").secret_path("DEPLOY_KEY"),
            "/repos/acme/api/actions/secrets/DEPLOY_KEY"
        );
        assert_eq!(
            SecretTarget::environment("acme", "api", "prod eu/1").public_key_path(),
            "/repos/acme/api/environments/prod%20eu%2F1/secrets/public-key"
        );
    }

    #[test]
    fn names_follow_githubs_rules() {
        assert_eq!(secret_name("deploy_key").unwrap(), "DEPLOY_KEY");
        for bad in ["", "1ST", "GITHUB_TOKEN", "github_x", "a-b", "a b", "a/b"] {
            assert!(secret_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_are_validated() {
        assert!(SecretTarget::repo("acme", "api.v2").validate().is_ok());
        assert!(SecretTarget::repo("acme", "..").validate().is_err());
        assert!(SecretTarget::repo("ac/me", "api").validate().is_err());
        assert!(SecretTarget::repo("acme", "a?b").validate().is_err());
        assert!(SecretTarget::environment("acme", "api", "")
            .validate()
            .is_err());
        assert!(SecretTarget::org("acme")
            .with_visibility(Visibility::Private, Some(vec![1]))
            .validate()
            .is_err());
        assert!(SecretTarget::org("acme")
            .with_visibility(Visibility::Selected, Some(vec![1]))
            .validate()
            .is_ok());
    }
}
