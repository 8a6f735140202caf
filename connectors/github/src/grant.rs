//! The shape shared by the actions that revoke a *list* of things a person holds in an
//! organization (outside-collaborator access, pending invitations, SSO credential
//! authorizations, fine-grained token grants): list what the person holds (every
//! page), revoke each item, and verify by listing again and finding nothing.
//!
//! Idempotency: nothing listed means nothing to do (`changed: false`), and an item that
//! disappeared between the listing and its revocation (404) counts as revoked.

use crate::client::GithubApi;
use crate::{collaborators, fine_grained, invitations, sso};
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Preview, Verification};

/// Who a step is about, in one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// Organization login.
    pub org: String,
    /// GitHub login, when known (invitations may match by email alone).
    pub login: Option<String>,
    /// The identity's email.
    pub email: String,
}

impl Who {
    /// The login, or the permanent error of an action that needs one.
    pub(crate) fn require_login(&self) -> Result<&str, ConnectorError> {
        self.login.as_deref().ok_or_else(|| {
            ConnectorError::permanent(format!("no GitHub login known for {}", self.email))
        })
    }

    /// `alice-gh` or `alice@example.com`, for messages.
    pub(crate) fn name(&self) -> &str {
        self.login.as_deref().unwrap_or(&self.email)
    }
}

/// One item a person holds: its id for the revoking call and its holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub id: String,
    pub holding: Holding,
}

/// The list-shaped grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    Collaborator,
    Invitations,
    Sso,
    FineGrained,
}

impl Grant {
    async fn list(self, api: &GithubApi, who: &Who) -> Result<Vec<Held>, ConnectorError> {
        match self {
            Grant::Collaborator => collaborators::list(api, who).await,
            Grant::Invitations => invitations::list(api, who).await,
            Grant::Sso => sso::list(api, who).await,
            Grant::FineGrained => fine_grained::list(api, who).await,
        }
    }

    async fn revoke(self, api: &GithubApi, who: &Who, held: &[Held]) -> Result<(), ConnectorError> {
        match self {
            Grant::Collaborator => collaborators::revoke(api, who).await,
            Grant::Invitations => invitations::revoke(api, who, held).await,
            Grant::Sso => sso::revoke(api, who, held).await,
            Grant::FineGrained => fine_grained::revoke(api, who, held).await,
        }
    }

    /// What is listed, for messages: `outside collaborators of acme`.
    fn listing(self, who: &Who) -> String {
        let what = match self {
            Grant::Collaborator => "the outside collaborators",
            Grant::Invitations => "the pending invitations",
            Grant::Sso => "the SAML SSO credential authorizations",
            Grant::FineGrained => "the fine-grained personal access tokens",
        };
        format!("{what} of GitHub org {}", who.org)
    }
}

fn ids(held: &[Held]) -> Vec<&str> {
    held.iter().map(|h| h.id.as_str()).collect()
}

/// List, revoke what is there, report.
pub(crate) async fn execute(
    grant: Grant,
    api: &GithubApi,
    who: &Who,
) -> Result<ActionOutcome, ConnectorError> {
    let held = grant.list(api, who).await?;
    let details = |revoked: &[Held]| {
        serde_json::json!({
            "org": who.org,
            "login": who.login,
            "revoked": ids(revoked),
        })
    };
    if held.is_empty() {
        return Ok(ActionOutcome::unchanged(format!(
            "{} had nothing left in {}",
            who.name(),
            grant.listing(who)
        ))
        .with_details(details(&[])));
    }
    grant.revoke(api, who, &held).await?;
    let summary = format!(
        "revoked {} item(s) of {} in {}: {}",
        held.len(),
        who.name(),
        grant.listing(who),
        held.iter()
            .map(|h| h.holding.description.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(ActionOutcome::changed(summary).with_details(details(&held)))
}

/// Verified when a fresh listing (every page) holds nothing of the person.
pub(crate) async fn verify(
    grant: Grant,
    api: &GithubApi,
    who: &Who,
) -> Result<Verification, ConnectorError> {
    let held = grant.list(api, who).await?;
    Ok(if held.is_empty() {
        Verification::gone(format!(
            "{} list nothing of {}",
            grant.listing(who),
            who.name()
        ))
    } else {
        Verification::still_present(format!(
            "{} still list {} item(s) of {}: {}",
            grant.listing(who),
            held.len(),
            who.name(),
            ids(&held).join(", ")
        ))
    })
}

/// What `execute` would revoke.
pub(crate) async fn preview(
    grant: Grant,
    api: &GithubApi,
    who: &Who,
) -> Result<Preview, ConnectorError> {
    let held = holdings(grant, api, who).await?;
    let notes = if held.is_empty() {
        vec![format!(
            "{} list nothing of {}",
            grant.listing(who),
            who.name()
        )]
    } else {
        Vec::new()
    };
    Ok(Preview {
        would_revoke: held,
        notes,
    })
}

/// What the person still holds, as holdings.
pub(crate) async fn holdings(
    grant: Grant,
    api: &GithubApi,
    who: &Who,
) -> Result<Vec<Holding>, ConnectorError> {
    Ok(grant
        .list(api, who)
        .await?
        .into_iter()
        .map(|h| h.holding)
        .collect())
}

/// A holding of kind `kind` in `org`.
pub(crate) fn holding(kind: &str, org: &str, description: String) -> Holding {
    Holding {
        system: "github".into(),
        kind: kind.into(),
        resource: org.into(),
        description,
    }
}

/// `DELETE path` answered: 2xx revoked, 404 already gone, anything else an error.
pub(crate) async fn delete_gone_ok(api: &GithubApi, path: &str) -> Result<(), ConnectorError> {
    let response = api.delete(path).await?;
    match response.status {
        200..=299 | 404 => Ok(()),
        _ => Err(api.failure(&response, &format!("DELETE {path}"))),
    }
}
