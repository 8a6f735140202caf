//! Finding the identity's GitLab user: `accounts.gitlab` (a username, looked up with
//! `GET /users?username=`), else the one user whose email equals the identity's
//! (`GET /users?search=<email>`; GitLab matches an email exactly, and shows private
//! emails to administrators only). A username that does not exist is an error, never a
//! fallback to the email: a wrong mapping must not pass as "nothing to revoke".

use crate::client::{segment, what, GitlabApi};
use leaver_connector::{ConnectorError, Identity};
use reqwest::Method;
use serde_json::Value;

/// States in which a user can no longer sign in or use its tokens.
const BLOCKED_STATES: [&str; 4] = [
    "blocked",
    "ldap_blocked",
    "banned",
    "blocked_pending_approval",
];

/// A GitLab user as the connector needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GitlabUser {
    pub id: u64,
    pub username: String,
    pub state: String,
}

impl GitlabUser {
    fn from_json(value: &Value) -> Option<Self> {
        Some(Self {
            id: value.get("id")?.as_u64()?,
            username: value.get("username")?.as_str()?.to_string(),
            state: value
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
        })
    }

    pub(crate) fn is_blocked(&self) -> bool {
        BLOCKED_STATES.contains(&self.state.as_str())
    }

    /// `alice (id 7)`.
    pub(crate) fn label(&self) -> String {
        format!("{} (id {})", self.username, self.id)
    }
}

/// The user and how it was found (`accounts.gitlab` / `email`), for the evidence.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub user: GitlabUser,
    pub found_by: String,
}

/// Why no user was found, as a sentence.
pub(crate) type NotFound = String;

/// The identity's user, or why there is none. Errors are upstream failures only.
pub(crate) async fn find_soft(
    api: &GitlabApi,
    identity: &Identity,
) -> Result<Result<Found, NotFound>, ConnectorError> {
    if let Some(username) = identity.account("gitlab").map(str::trim) {
        let users = api
            .get_all("users", &[("username", username.to_string())])
            .await?;
        let found = users
            .iter()
            .filter_map(GitlabUser::from_json)
            .find(|u| u.username.eq_ignore_ascii_case(username));
        return Ok(match found {
            Some(user) => Ok(Found {
                user,
                found_by: format!("accounts.gitlab = {username}"),
            }),
            None => Err(format!(
                "GitLab user `{username}` (accounts.gitlab of {}) not found",
                identity.email
            )),
        });
    }
    let email = identity.email.trim();
    if email.is_empty() {
        return Ok(Err(
            "no GitLab user found: the identity has neither accounts.gitlab nor an email".into(),
        ));
    }
    let users = api
        .get_all("users", &[("search", email.to_string())])
        .await?;
    let same = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .is_some_and(|e| e.trim().eq_ignore_ascii_case(email))
    };
    let matches: Vec<GitlabUser> = users
        .iter()
        .filter(|v| same(v, "email") || same(v, "public_email"))
        .filter_map(GitlabUser::from_json)
        .collect();
    Ok(match matches.as_slice() {
        [] => Err(format!(
            "no GitLab user found for {email} (no accounts.gitlab, and no user with that email in GET /users?search=)"
        )),
        [one] => Ok(Found {
            user: one.clone(),
            found_by: format!("email {email}"),
        }),
        many => Err(format!(
            "{} GitLab users have the email {email} ({}): set accounts.gitlab to choose",
            many.len(),
            many.iter().map(GitlabUser::label).collect::<Vec<_>>().join(", ")
        )),
    })
}

/// The identity's user; none is a permanent error.
pub(crate) async fn find(api: &GitlabApi, identity: &Identity) -> Result<Found, ConnectorError> {
    find_soft(api, identity)
        .await?
        .map_err(ConnectorError::permanent)
}

/// `GET /users/:id`, read back. `None`: the user no longer exists (404).
pub(crate) async fn read(api: &GitlabApi, id: u64) -> Result<Option<GitlabUser>, ConnectorError> {
    let path = format!("users/{}", segment(&id.to_string()));
    let response = api.get(&path, &[]).await?;
    match response.status {
        200 => GitlabUser::from_json(&response.json())
            .map(Some)
            .ok_or_else(|| {
                ConnectorError::permanent(format!(
                    "GitLab answered {} without a user id and username",
                    what(&Method::GET, &path)
                ))
            }),
        404 => Ok(None),
        _ => Err(api.failure(&response, &what(&Method::GET, &path))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_users_and_states() {
        let u = GitlabUser::from_json(
            &serde_json::json!({"id": 7, "username": "alice", "state": "ldap_blocked"}),
        )
        .unwrap();
        assert!(u.is_blocked());
        assert_eq!(u.label(), "alice (id 7)");
        let u = GitlabUser::from_json(
            &serde_json::json!({"id": 7, "username": "alice", "state": "deactivated"}),
        )
        .unwrap();
        assert!(!u.is_blocked(), "a deactivated user can sign in again");
        assert!(GitlabUser::from_json(&serde_json::json!({"username": "x"})).is_none());
    }
}
