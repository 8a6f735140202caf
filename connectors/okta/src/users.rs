//! Finding the identity's Okta user, and `okta.deactivate_user`.
//!
//! The user is `accounts.okta` (an id or login), else `idp_user_id` when the identity
//! comes from Okta, else the email as login (`GET /api/v1/users/{login}`), else a
//! search on `profile.email` (which, unlike `filter`, includes `DEPROVISIONED` users).
//!
//! Deactivation (`POST /api/v1/users/{id}/lifecycle/deactivate?sendEmail=false`) is
//! asynchronous at Okta: the user shows `transitioningToStatus: DEPROVISIONED` until it
//! is done. A user already `DEPROVISIONED` (Okta answers 404 to a second deactivate) or
//! already transitioning is success with `changed: false`. Verified when the user reads
//! back `status: DEPROVISIONED`.

use crate::client::{query_value, segment, OktaApi};
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Identity, Verification};
use serde::Deserialize;
use std::time::Duration;

/// The fields of an Okta `User` the connector reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub transitioning_to_status: Option<String>,
    #[serde(default)]
    pub profile: Profile,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Profile {
    #[serde(default)]
    pub login: Option<String>,
}

impl User {
    pub(crate) fn is_deprovisioned(&self) -> bool {
        self.status == "DEPROVISIONED"
    }

    pub(crate) fn is_deactivating(&self) -> bool {
        self.transitioning_to_status.as_deref() == Some("DEPROVISIONED")
    }

    pub(crate) fn login(&self) -> &str {
        self.profile.login.as_deref().unwrap_or(&self.id)
    }

    /// `00u… (alice@example.com, ACTIVE)`.
    pub(crate) fn describe(&self) -> String {
        match &self.transitioning_to_status {
            Some(to) => format!("{} ({}, {} → {to})", self.id, self.login(), self.status),
            None => format!("{} ({}, {})", self.id, self.login(), self.status),
        }
    }
}

/// The keys to try, in order, with where each comes from.
fn candidate_keys(identity: &Identity) -> Vec<(String, &'static str)> {
    let mut keys = Vec::new();
    if let Some(account) = identity.account("okta") {
        keys.push((account.to_string(), "accounts.okta"));
    }
    if identity.idp == "okta" {
        if let Some(id) = identity.idp_user_id.as_deref().filter(|s| !s.is_empty()) {
            keys.push((id.to_string(), "idp_user_id"));
        }
    }
    if !identity.email.trim().is_empty() {
        keys.push((identity.email.trim().to_string(), "email as login"));
    }
    keys.dedup_by(|a, b| a.0 == b.0);
    keys
}

/// `GET /api/v1/users/{key}`: the user, or `None` on 404.
pub(crate) async fn get(api: &OktaApi, key: &str) -> Result<Option<User>, ConnectorError> {
    let path = format!("/api/v1/users/{}", segment(key));
    let response = api.get(&path).await?;
    match response.status {
        200 => parse_user(&response.body, &path).map(Some),
        404 => Ok(None),
        _ => Err(api.failure(&response, &format!("GET {path}"))),
    }
}

fn parse_user(body: &[u8], path: &str) -> Result<User, ConnectorError> {
    serde_json::from_slice(body).map_err(|e| {
        ConnectorError::transient(format!(
            "Okta answered GET {path} with a body that is not a User: {e}"
        ))
    })
}

async fn search_by_email(api: &OktaApi, email: &str) -> Result<Vec<User>, ConnectorError> {
    let quoted = email.replace('\\', "\\\\").replace('"', "\\\"");
    let search = format!("profile.email eq \"{quoted}\"");
    let path = format!("/api/v1/users?search={}", query_value(&search));
    let response = api.get(&path).await?;
    if response.status != 200 {
        return Err(api.failure(&response, "GET /api/v1/users?search=profile.email"));
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        ConnectorError::transient(format!(
            "Okta answered GET /api/v1/users?search= with a body that is not a list of users: {e}"
        ))
    })
}

/// The identity's Okta user, or `None` with what was tried.
pub(crate) async fn find(
    api: &OktaApi,
    identity: &Identity,
) -> Result<Result<User, String>, ConnectorError> {
    let keys = candidate_keys(identity);
    for (key, _) in &keys {
        if let Some(user) = get(api, key).await? {
            return Ok(Ok(user));
        }
    }
    let email = identity.email.trim();
    if !email.is_empty() {
        let mut found = search_by_email(api, email).await?;
        match found.len() {
            0 => {}
            1 => return Ok(Ok(found.remove(0))),
            n => {
                let ids: Vec<_> = found.iter().map(|u| u.id.as_str()).collect();
                return Err(ConnectorError::permanent(format!(
                    "{n} Okta users have profile.email {email} ({}): set accounts.okta to the one to act on",
                    ids.join(", ")
                )));
            }
        }
    }
    let tried: Vec<String> = keys
        .iter()
        .map(|(key, from)| format!("{key} ({from})"))
        .collect();
    Ok(Err(format!(
        "no Okta user found for {} (GET /api/v1/users/{{id or login}} answered 404 for {}; no user has profile.email {email})",
        if email.is_empty() { "the identity" } else { email },
        if tried.is_empty() { "nothing to try".to_string() } else { tried.join(", ") },
    )))
}

/// The identity's Okta user, or a permanent error naming what was tried.
pub(crate) async fn require(api: &OktaApi, identity: &Identity) -> Result<User, ConnectorError> {
    find(api, identity)
        .await?
        .map_err(|why| ConnectorError::permanent(why).with_status(404))
}

/// `okta.deactivate_user`.
pub(crate) async fn deactivate(
    api: &OktaApi,
    identity: &Identity,
    send_email: bool,
) -> Result<ActionOutcome, ConnectorError> {
    let user = require(api, identity).await?;
    if user.is_deprovisioned() || user.is_deactivating() {
        return Ok(ActionOutcome::unchanged(format!(
            "Okta user {} is already deactivated",
            user.describe()
        ))
        .with_details(details(&user)));
    }
    let path = format!(
        "/api/v1/users/{}/lifecycle/deactivate?sendEmail={send_email}",
        segment(&user.id)
    );
    let response = api.post(&path).await?;
    if response.is_success() {
        return Ok(ActionOutcome::changed(format!(
            "deactivated Okta user {} ({})",
            user.id,
            user.login()
        ))
        .with_details(details(&user)));
    }
    if response.status == 404 {
        // Okta answers 404 to deactivating a user that is already DEPROVISIONED (a
        // concurrent deactivation): read it back to tell that from a deleted user.
        if let Some(now) = get(api, &user.id).await? {
            if now.is_deprovisioned() || now.is_deactivating() {
                return Ok(ActionOutcome::unchanged(format!(
                    "Okta user {} is already deactivated",
                    now.describe()
                ))
                .with_details(details(&now)));
            }
        }
    }
    Err(api.failure(
        &response,
        &format!("POST /api/v1/users/{}/lifecycle/deactivate", user.id),
    ))
}

fn details(user: &User) -> serde_json::Value {
    serde_json::json!({
        "user_id": user.id,
        "login": user.login(),
        "status_before": user.status,
        "transitioning_to_status": user.transitioning_to_status,
    })
}

/// How long `verify` waits for an asynchronous deactivation to finish.
const SETTLE_POLLS: u32 = 5;
const SETTLE_INTERVAL: Duration = Duration::from_millis(400);

/// The deactivation probe: the user reads back `DEPROVISIONED`.
pub(crate) async fn verify_deactivated(
    api: &OktaApi,
    identity: &Identity,
) -> Result<Verification, ConnectorError> {
    let mut user = require(api, identity).await?;
    let mut polls = 0;
    while user.is_deactivating() && !user.is_deprovisioned() && polls < SETTLE_POLLS {
        tokio::time::sleep(SETTLE_INTERVAL).await;
        polls += 1;
        user = match get(api, &user.id).await? {
            Some(user) => user,
            None => {
                return Ok(Verification::gone(format!(
                    "GET /api/v1/users/{} answered 404: the user no longer exists",
                    user.id
                )))
            }
        };
    }
    Ok(if user.is_deprovisioned() {
        Verification::gone(format!(
            "GET /api/v1/users/{} reads status DEPROVISIONED",
            user.id
        ))
    } else {
        Verification::still_present(format!(
            "GET /api/v1/users/{} reads status {}{}",
            user.id,
            user.status,
            user.transitioning_to_status
                .as_deref()
                .map(|to| format!(", transitioning to {to}"))
                .unwrap_or_default()
        ))
    })
}

/// The user's account as a holding, unless it is deactivated.
pub(crate) fn account_holding(user: &User) -> Option<Holding> {
    (!user.is_deprovisioned()).then(|| Holding {
        system: "okta".into(),
        kind: "user_account".into(),
        resource: user.id.clone(),
        description: format!(
            "Okta user {} can sign in (status {})",
            user.login(),
            user.status
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_order() {
        let mut identity = Identity::new("alice@example.com").with_account("okta", "00uA");
        identity.idp = "okta".into();
        identity.idp_user_id = Some("00uB".into());
        let keys: Vec<_> = candidate_keys(&identity).into_iter().map(|k| k.0).collect();
        assert_eq!(keys, ["00uA", "00uB", "alice@example.com"]);
        let mut entra = Identity::new("bob@example.com");
        entra.idp = "entra".into();
        entra.idp_user_id = Some("11111111-aaaa".into());
        let keys: Vec<_> = candidate_keys(&entra).into_iter().map(|k| k.0).collect();
        assert_eq!(
            keys,
            ["bob@example.com"],
            "an Entra object id is no Okta id"
        );
    }
}
