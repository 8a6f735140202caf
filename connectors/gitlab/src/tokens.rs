//! `gitlab.revoke_personal_access_tokens`: list the user's active personal access tokens
//! (`GET /personal_access_tokens?user_id=:id&state=active`, every page) and revoke each
//! (`DELETE /personal_access_tokens/:id` → 204). Blocking a user does not revoke its
//! tokens (they stop working while blocked, and work again if it is unblocked), so this
//! is a separate action. Idempotent: a token that vanished (404) or was revoked meanwhile
//! (400, then read back inactive) counts as already revoked. Verified by listing again:
//! no active token is left. Evidence names tokens by id, name and scopes, never secrets.

use crate::client::{segment, what, GitlabApi};
use crate::user::{self, Found};
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Identity, Verification};
use reqwest::Method;
use serde_json::{json, Value};

/// A personal access token as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pat {
    pub id: u64,
    pub user_id: Option<u64>,
    pub name: String,
    pub scopes: Vec<String>,
}

impl Pat {
    fn from_json(value: &Value) -> Option<Self> {
        let active = value.get("active").and_then(Value::as_bool).unwrap_or(true)
            && !value
                .get("revoked")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        active.then_some(())?;
        Some(Self {
            id: value.get("id")?.as_u64()?,
            user_id: value.get("user_id").and_then(Value::as_u64),
            name: value
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            scopes: value
                .get("scopes")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    fn label(&self) -> String {
        format!(
            "`{}` (id {}, scopes {})",
            self.name,
            self.id,
            self.scopes.join(", ")
        )
    }

    fn evidence(&self) -> Value {
        json!({"id": self.id, "name": self.name, "scopes": self.scopes})
    }
}

fn listing(user_id: u64) -> String {
    format!("GET /personal_access_tokens?user_id={user_id}&state=active")
}

/// The user's active tokens, every page.
pub(crate) async fn active(api: &GitlabApi, user_id: u64) -> Result<Vec<Pat>, ConnectorError> {
    let items = api
        .get_all(
            "personal_access_tokens",
            &[("user_id", user_id.to_string()), ("state", "active".into())],
        )
        .await?;
    Ok(items
        .iter()
        .filter_map(Pat::from_json)
        // Defence in depth: only this user's tokens, whatever the filter did.
        .filter(|pat| pat.user_id.is_none_or(|owner| owner == user_id))
        .collect())
}

/// Revoke one token. `Ok(true)`: revoked now; `Ok(false)`: already gone.
async fn revoke(api: &GitlabApi, pat: &Pat) -> Result<bool, ConnectorError> {
    let path = format!("personal_access_tokens/{}", segment(&pat.id.to_string()));
    let response = api.delete(&path).await?;
    match response.status {
        204 | 200 => Ok(true),
        404 => Ok(false),
        400 => {
            // "not revoked successfully": already revoked, or a real refusal.
            let read = api.get(&path, &[]).await?;
            let gone = read.status == 404
                || (read.status == 200 && Pat::from_json(&read.json()).is_none());
            if gone {
                Ok(false)
            } else {
                Err(api.failure(&response, &what(&Method::DELETE, &path)))
            }
        }
        _ => Err(api.failure(&response, &what(&Method::DELETE, &path))),
    }
}

pub(crate) async fn execute(
    api: &GitlabApi,
    identity: &Identity,
) -> Result<ActionOutcome, ConnectorError> {
    let Found { user, found_by } = user::find(api, identity).await?;
    let tokens = active(api, user.id).await?;
    let mut revoked = Vec::new();
    let mut already = Vec::new();
    for pat in &tokens {
        if revoke(api, pat).await? {
            revoked.push(pat.evidence());
        } else {
            already.push(pat.evidence());
        }
    }
    let details = json!({
        "user_id": user.id,
        "username": user.username,
        "found_by": found_by,
        "revoked": revoked,
        "already_revoked": already,
    });
    let outcome = if revoked.is_empty() {
        ActionOutcome::unchanged(format!(
            "GitLab user {} has no active personal access token",
            user.label()
        ))
    } else {
        ActionOutcome::changed(format!(
            "revoked {} personal access token{} of GitLab user {}",
            revoked.len(),
            if revoked.len() == 1 { "" } else { "s" },
            user.label()
        ))
    };
    Ok(outcome.with_details(details))
}

pub(crate) async fn verify(
    api: &GitlabApi,
    identity: &Identity,
) -> Result<Verification, ConnectorError> {
    let found = user::find(api, identity).await?;
    let left = active(api, found.user.id).await?;
    Ok(if left.is_empty() {
        Verification::gone(format!("{} lists none", listing(found.user.id)))
    } else {
        Verification::still_present(format!(
            "{} still lists {}",
            listing(found.user.id),
            left.iter().map(Pat::label).collect::<Vec<_>>().join("; ")
        ))
    })
}

/// The user's active tokens as holdings.
pub(crate) async fn holdings(
    api: &GitlabApi,
    found: &Found,
) -> Result<Vec<Holding>, ConnectorError> {
    Ok(active(api, found.user.id)
        .await?
        .iter()
        .map(|pat| Holding {
            system: "gitlab".into(),
            kind: "personal_access_token".into(),
            resource: format!("personal_access_tokens/{}", pat.id),
            description: format!(
                "active personal access token {} of GitLab user {}",
                pat.label(),
                found.user.label()
            ),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_tokens_count() {
        let active = serde_json::json!({"id": 4, "name": "ci", "revoked": false, "active": true, "scopes": ["api"]});
        assert_eq!(
            Pat::from_json(&active).unwrap().label(),
            "`ci` (id 4, scopes api)"
        );
        let revoked = serde_json::json!({"id": 4, "name": "ci", "revoked": true, "active": false});
        assert!(Pat::from_json(&revoked).is_none());
    }
}
