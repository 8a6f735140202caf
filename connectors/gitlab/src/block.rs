//! `gitlab.block_user`: `POST /users/:id/block` (administrator). A blocked user can no
//! longer sign in, use Git or the API; its tokens and memberships stay (revoke them with
//! the other actions). Idempotent: a user already blocked (`blocked`, `ldap_blocked`,
//! `banned`) is not posted again. Verified by `GET /users/:id` reading a blocked state.

use crate::client::{segment, what, GitlabApi};
use crate::user::{self, Found};
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Identity, Verification};
use reqwest::Method;
use serde_json::json;

pub(crate) async fn execute(
    api: &GitlabApi,
    identity: &Identity,
) -> Result<ActionOutcome, ConnectorError> {
    let Found { user, found_by } = user::find(api, identity).await?;
    let details = json!({"user_id": user.id, "username": user.username, "found_by": found_by});
    if user.is_blocked() {
        return Ok(ActionOutcome::unchanged(format!(
            "GitLab user {} is already blocked (state {})",
            user.label(),
            user.state
        ))
        .with_details(details));
    }
    let path = format!("users/{}/block", segment(&user.id.to_string()));
    let response = api.post(&path).await?;
    if !matches!(response.status, 200 | 201) {
        return Err(api.failure(&response, &what(&Method::POST, &path)));
    }
    Ok(ActionOutcome::changed(format!(
        "blocked GitLab user {} (was {})",
        user.label(),
        user.state
    ))
    .with_details(details))
}

pub(crate) async fn verify(
    api: &GitlabApi,
    identity: &Identity,
) -> Result<Verification, ConnectorError> {
    let found = user::find(api, identity).await?;
    let path = format!("GET /users/{}", found.user.id);
    Ok(match user::read(api, found.user.id).await? {
        None => Verification::gone(format!("{path} answered 404: the user no longer exists")),
        Some(u) if u.is_blocked() => Verification::gone(format!("{path} reads state={}", u.state)),
        Some(u) => Verification::still_present(format!("{path} reads state={}", u.state)),
    })
}

/// The account itself, when it is not blocked.
pub(crate) fn holdings(found: &Found) -> Vec<Holding> {
    if found.user.is_blocked() {
        return Vec::new();
    }
    vec![Holding {
        system: "gitlab".into(),
        kind: "user".into(),
        resource: found.user.username.clone(),
        description: format!(
            "GitLab user {} is {} (not blocked)",
            found.user.label(),
            found.user.state
        ),
    }]
}
