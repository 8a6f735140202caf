//! `github.remove_org_member`: remove a person from a GitHub organization.
//!
//! **Which endpoint.** The action calls `DELETE /orgs/{org}/memberships/{username}`, not
//! `DELETE /orgs/{org}/members/{username}`: both remove an active member (and with it
//! their team memberships and org repository access), but only the memberships
//! endpoint also cancels a *pending invitation* — a leaver who was invited but had not
//! accepted yet must not be able to accept after leaving. The verification probe reads
//! the same resource: `GET /orgs/{org}/memberships/{username}` answers 404 once neither
//! a membership nor an invitation exists, and 200 (`state: active|pending`) otherwise.
//!
//! **Idempotency.** 204 means removed now (`changed`); 404 means there was nothing to
//! remove (`unchanged`, "already not a member"). Because GitHub also answers 404 for an
//! organization that does not exist or that the token cannot see, a 404 is followed by
//! `GET /orgs/{org}`: if that is 404 too, the step fails permanently instead of
//! reporting a typo'd org as a successful revocation.

use crate::client::{ApiResponse, GithubApi};
use leaver_connector::{
    parse_params, ActionOutcome, ConnectorError, Holding, Identity, ParamError, Preview,
    Verification,
};
use schemars::JsonSchema;
use serde::Deserialize;

/// Action name (without the `github.` prefix).
pub const ACTION: &str = "remove_org_member";
/// What the action does, for `leaver plan explain` and the plan schema.
pub const DESCRIPTION: &str =
    "Remove the person from a GitHub organization: deletes the org membership \
     (teams and org repository access go with it) and cancels a pending invitation; verified when \
     GET /orgs/{org}/memberships/{username} answers 404.";

/// `with:` parameters of `github.remove_org_member`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RemoveOrgMemberParams {
    /// Organization login (e.g. `acme`); defaults to `connectors.github.org`.
    #[serde(default)]
    pub org: Option<String>,
}

/// Longest organization name or login GitHub allows is 39; leave room for EMU suffixes.
const MAX_NAME: usize = 100;

/// GitHub logins and organization names: ASCII letters, digits, `-` (and `_` for
/// Enterprise Managed Users' `_shortcode` suffix). Checking this keeps every path
/// segment we build free of `/`, `?`, `%`, `..` and the like.
pub fn is_github_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Resolve the org of a step: its `org` parameter, else the configured default.
pub fn resolve_org(
    params: &RemoveOrgMemberParams,
    default_org: Option<&str>,
) -> Result<String, ParamError> {
    let org = match params.org.as_deref() {
        Some(org) => org.trim(),
        None => default_org.map(str::trim).unwrap_or_default(),
    };
    if org.is_empty() {
        return Err(ParamError(
            "`org` is required: set `with: { org: <organization> }` on the step or \
             connectors.github.org in the configuration"
                .into(),
        ));
    }
    if !is_github_name(org) {
        return Err(ParamError(format!(
            "`{org}` is not a GitHub organization name (letters, digits, `-`)"
        )));
    }
    Ok(org.to_string())
}

/// The identity's GitHub login, or the permanent error that names what to set.
pub fn login_of(identity: &Identity) -> Result<String, ConnectorError> {
    let login = identity
        .account("github")
        .map(str::trim)
        .unwrap_or_default();
    if login.is_empty() {
        return Err(ConnectorError::permanent(format!(
            "no GitHub login known for {} (set accounts.github)",
            identity.email
        )));
    }
    if !is_github_name(login) {
        return Err(ConnectorError::permanent(format!(
            "accounts.github `{login}` of {} is not a GitHub login (letters, digits, `-`)",
            identity.email
        )));
    }
    Ok(login.to_string())
}

/// A step's target: which org and which login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Organization login.
    pub org: String,
    /// GitHub login of the person.
    pub login: String,
}

impl Target {
    /// Build the target of a step from its parameters and identity.
    pub fn of(
        params: &serde_json::Value,
        identity: &Identity,
        default_org: Option<&str>,
    ) -> Result<Self, ConnectorError> {
        let params: RemoveOrgMemberParams = parse_params(params)
            .map_err(|e| ConnectorError::permanent(format!("invalid parameters: {e}")))?;
        let org = resolve_org(&params, default_org).map_err(|e| ConnectorError::permanent(e.0))?;
        Ok(Self {
            org,
            login: login_of(identity)?,
        })
    }

    fn membership_path(&self) -> String {
        format!("/orgs/{}/memberships/{}", self.org, self.login)
    }
}

/// What a membership lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipFound {
    /// 404: neither a membership nor a pending invitation.
    Absent,
    /// 200: `state` (`active`/`pending`) and `role`.
    Present {
        /// `active` or `pending`.
        state: String,
        /// `admin`, `member`, `billing_manager`…
        role: String,
    },
}

/// `DELETE /orgs/{org}/memberships/{login}`.
pub(crate) async fn remove(
    api: &GithubApi,
    target: &Target,
) -> Result<ActionOutcome, ConnectorError> {
    let path = target.membership_path();
    let what = format!("DELETE {path}");
    let response = api.delete(&path).await?;
    let details = |status: u16| {
        serde_json::json!({
            "org": target.org,
            "login": target.login,
            "request": what,
            "status": status,
        })
    };
    match response.status {
        200..=299 => Ok(ActionOutcome::changed(format!(
            "removed {} from GitHub org {}",
            target.login, target.org
        ))
        .with_details(details(response.status))),
        404 => {
            ensure_org_exists(api, &target.org).await?;
            Ok(ActionOutcome::unchanged(format!(
                "{} was already not a member of GitHub org {}",
                target.login, target.org
            ))
            .with_details(details(404)))
        }
        _ => Err(api.failure(&response, &what)),
    }
}

/// `GET /orgs/{org}`: a 404 becomes a permanent "org not found" error.
async fn ensure_org_exists(api: &GithubApi, org: &str) -> Result<(), ConnectorError> {
    let path = format!("/orgs/{org}");
    let response = api.get(&path).await?;
    match response.status {
        200..=299 => Ok(()),
        404 => Err(ConnectorError::permanent(format!(
            "GitHub org `{org}` not found, or not visible to the configured token (GET {path} answered 404)"
        ))
        .with_status(404)),
        _ => Err(api.failure(&response, &format!("GET {path}"))),
    }
}

/// `GET /orgs/{org}/memberships/{login}`.
pub(crate) async fn lookup(
    api: &GithubApi,
    target: &Target,
) -> Result<MembershipFound, ConnectorError> {
    let path = target.membership_path();
    let response = api.get(&path).await?;
    match response.status {
        200 => Ok(parse_membership(&response)),
        404 => Ok(MembershipFound::Absent),
        _ => Err(api.failure(&response, &format!("GET {path}"))),
    }
}

fn parse_membership(response: &ApiResponse) -> MembershipFound {
    let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let field = |name: &str| {
        value
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string()
    };
    MembershipFound::Present {
        state: field("state"),
        role: field("role"),
    }
}

/// The verification probe.
pub(crate) async fn verify(
    api: &GithubApi,
    target: &Target,
) -> Result<Verification, ConnectorError> {
    let path = target.membership_path();
    Ok(match lookup(api, target).await? {
        MembershipFound::Absent => Verification::gone(format!("GET {path} answered 404")),
        MembershipFound::Present { state, role } => Verification::still_present(format!(
            "GET {path} answered 200: state {state}, role {role}"
        )),
    })
}

/// What the target still holds, as a holding (none when absent).
pub(crate) async fn holding(
    api: &GithubApi,
    target: &Target,
) -> Result<Option<Holding>, ConnectorError> {
    Ok(match lookup(api, target).await? {
        MembershipFound::Absent => None,
        MembershipFound::Present { state, role } => {
            let description = if state == "pending" {
                format!(
                    "{} has a pending invitation (role {role}) to GitHub org {}",
                    target.login, target.org
                )
            } else {
                format!(
                    "{} is an {state} member (role {role}) of GitHub org {}",
                    target.login, target.org
                )
            };
            Some(Holding {
                system: "github".into(),
                kind: "org_membership".into(),
                resource: target.org.clone(),
                description,
            })
        }
    })
}

/// What `execute` would remove. An absent membership in an org that does not exist is
/// reported as an error, as `execute` would.
pub(crate) async fn preview(api: &GithubApi, target: &Target) -> Result<Preview, ConnectorError> {
    Ok(match holding(api, target).await? {
        Some(holding) => Preview {
            would_revoke: vec![holding],
            notes: Vec::new(),
        },
        None => {
            ensure_org_exists(api, &target.org).await?;
            Preview {
                would_revoke: Vec::new(),
                notes: vec![format!(
                    "{} is not a member of GitHub org {} and has no pending invitation",
                    target.login, target.org
                )],
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_github_name("alice-gh"));
        assert!(is_github_name("alice_acme"));
        for bad in ["", "a/b", "..", "a b", "a?x=1", "a%2F", "ünïcode"] {
            assert!(!is_github_name(bad), "{bad}");
        }
    }

    #[test]
    fn org_resolution() {
        let none = RemoveOrgMemberParams { org: None };
        let some = RemoveOrgMemberParams {
            org: Some("acme".into()),
        };
        assert_eq!(resolve_org(&some, None).unwrap(), "acme");
        assert_eq!(resolve_org(&some, Some("other")).unwrap(), "acme");
        assert_eq!(resolve_org(&none, Some("other")).unwrap(), "other");
        assert!(resolve_org(&none, None)
            .unwrap_err()
            .0
            .contains("`org` is required"));
        assert!(resolve_org(
            &RemoveOrgMemberParams {
                org: Some(" ".into())
            },
            Some("x")
        )
        .is_err());
        assert!(resolve_org(
            &RemoveOrgMemberParams {
                org: Some("a/b".into())
            },
            None
        )
        .is_err());
    }

    #[test]
    fn missing_login_names_the_key_to_set() {
        let e = login_of(&Identity::new("alice@example.com")).unwrap_err();
        assert!(!e.is_transient());
        assert_eq!(
            e.message,
            "no GitHub login known for alice@example.com (set accounts.github)"
        );
        let e = login_of(&Identity::new("a@x").with_account("github", "../../user")).unwrap_err();
        assert!(!e.is_transient());
    }

    #[test]
    fn params_refuse_unknown_keys() {
        let e = Target::of(
            &serde_json::json!({"org": "acme", "orgs": "x"}),
            &Identity::new("a@x").with_account("github", "a"),
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field"), "{}", e.message);
        let t = Target::of(
            &serde_json::Value::Null,
            &Identity::new("a@x").with_account("github", "a"),
            Some("acme"),
        )
        .unwrap();
        assert_eq!(t.membership_path(), "/orgs/acme/memberships/a");
    }
}
