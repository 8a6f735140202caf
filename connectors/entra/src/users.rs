//! Users in Graph: reading one (live, soft-deleted or gone), finding the identity's
//! user, disabling it and revoking its sessions.

use crate::graph::{segment, Graph};
use chrono::{DateTime, Utc};
use leaver_connector::{ConnectorError, Identity};
use reqwest::Method;
use serde::{Deserialize, Serialize};

/// The properties Leaver reads (`accountEnabled` and `signInSessionsValidFromDateTime`
/// are not among Graph's defaults: they must be selected).
pub const USER_SELECT: &str =
    "id,userPrincipalName,mail,displayName,accountEnabled,signInSessionsValidFromDateTime";

/// A user as Graph returns it with [`USER_SELECT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphUser {
    pub id: String,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub sign_in_sessions_valid_from_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deleted_date_time: Option<DateTime<Utc>>,
}

impl GraphUser {
    /// The user's email for Leaver: `mail`, else the UPN, lower-cased.
    pub fn email(&self) -> Option<String> {
        self.mail
            .as_deref()
            .filter(|m| m.contains('@'))
            .or(self.user_principal_name.as_deref())
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
    }

    /// `alice@example.com (id)` for messages.
    pub fn describe(&self) -> String {
        match &self.user_principal_name {
            Some(upn) => format!("{upn} ({})", self.id),
            None => self.id.clone(),
        }
    }
}

/// Where a user is, as `GET /users/{id}` and `GET /directory/deletedItems/{id}` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    Live(GraphUser),
    /// In the recycle bin (restorable for 30 days).
    SoftDeleted(GraphUser),
    /// Not found anywhere (permanently deleted, or never existed).
    Gone,
}

fn parse_user(body: &serde_json::Value, what: &str) -> Result<GraphUser, ConnectorError> {
    serde_json::from_value(body.clone()).map_err(|e| {
        ConnectorError::transient(format!("{what}: unexpected user representation: {e}"))
    })
}

/// `GET /users/{id or UPN}`: the live user, or None (404).
pub async fn get_live(graph: &Graph, key: &str) -> Result<Option<GraphUser>, ConnectorError> {
    let path = format!("users/{}?$select={USER_SELECT}", segment(key));
    let response = graph.send(Method::GET, &path, None).await?;
    match response.status {
        200 => parse_user(&response.json(), "GET /v1.0/users").map(Some),
        404 => Ok(None),
        _ => Err(graph.failure(&response, &format!("GET /v1.0/users/{key}"))),
    }
}

/// Live, soft-deleted or gone: `GET /users/{id}`, then `directory/deletedItems/{id}`.
pub async fn lookup(graph: &Graph, id: &str) -> Result<UserLookup, ConnectorError> {
    if let Some(user) = get_live(graph, id).await? {
        return Ok(UserLookup::Live(user));
    }
    let path = format!(
        "directory/deletedItems/{}?$select={USER_SELECT},deletedDateTime",
        segment(id)
    );
    let response = graph.send(Method::GET, &path, None).await?;
    match response.status {
        200 => parse_user(&response.json(), "GET /v1.0/directory/deletedItems")
            .map(UserLookup::SoftDeleted),
        404 => Ok(UserLookup::Gone),
        _ => Err(graph.failure(&response, &format!("GET /v1.0/directory/deletedItems/{id}"))),
    }
}

/// `GET /users?$filter=mail eq '…'`: the one user with that mail.
async fn by_mail(graph: &Graph, mail: &str) -> Result<Option<GraphUser>, ConnectorError> {
    let literal = mail.replace('\'', "''");
    let filter = format!("mail eq '{literal}'");
    let path = format!("users?$filter={}&$select={USER_SELECT}", segment(&filter));
    let response = graph.send(Method::GET, &path, None).await?;
    match response.status {
        200 => {
            let users = response.json()["value"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            match users.as_slice() {
                [one] => parse_user(one, "GET /v1.0/users").map(Some),
                [] => Ok(None),
                _ => Err(ConnectorError::permanent(format!(
                    "{} Entra users have mail {mail}: set accounts.entra to the object id",
                    users.len()
                ))),
            }
        }
        _ => Err(graph.failure(&response, "GET /v1.0/users?$filter=mail")),
    }
}

/// The keys tried for an identity, in order: `accounts.entra`, the IdP user id (when it
/// is Entra's: `idp` entra or unset), the email as a userPrincipalName.
fn candidate_keys(identity: &Identity) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut push = |key: &str| {
        let key = key.trim();
        if !key.is_empty() && !keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            keys.push(key.to_string());
        }
    };
    if let Some(account) = identity.account("entra") {
        push(account);
    }
    if matches!(identity.idp.as_str(), "entra" | "manual" | "") {
        if let Some(id) = identity.idp_user_id.as_deref() {
            push(id);
        }
    }
    if identity.email.contains('@') {
        push(&identity.email);
    }
    keys
}

/// The identity's live Entra user, or a permanent error saying what was tried.
pub async fn find(graph: &Graph, identity: &Identity) -> Result<GraphUser, ConnectorError> {
    match find_soft(graph, identity).await? {
        Some(user) => Ok(user),
        None => Err(not_found(identity)),
    }
}

/// The identity's live Entra user, if there is one.
pub async fn find_soft(
    graph: &Graph,
    identity: &Identity,
) -> Result<Option<GraphUser>, ConnectorError> {
    for key in candidate_keys(identity) {
        if key.contains('/') || key.contains('?') {
            continue;
        }
        if let Some(user) = get_live(graph, &key).await? {
            return Ok(Some(user));
        }
    }
    if identity.email.contains('@') {
        return by_mail(graph, identity.email.trim()).await;
    }
    Ok(None)
}

pub fn not_found(identity: &Identity) -> ConnectorError {
    let tried = candidate_keys(identity);
    ConnectorError::permanent(format!(
        "no Entra user found for {} (tried object id / userPrincipalName {}, and mail): \
         set accounts.entra to the user's object id",
        identity.email,
        if tried.is_empty() {
            "-".to_string()
        } else {
            tried.join(", ")
        }
    ))
    .with_status(404)
}

/// `PATCH /users/{id} {"accountEnabled": false}`.
pub async fn disable(graph: &Graph, user: &GraphUser) -> Result<(), ConnectorError> {
    let path = format!("users/{}", segment(&user.id));
    let body = serde_json::json!({ "accountEnabled": false });
    let response = graph.send(Method::PATCH, &path, Some(&body)).await?;
    if response.is_success() {
        Ok(())
    } else {
        Err(graph.failure(&response, &format!("PATCH /v1.0/users/{}", user.id)))
    }
}

/// `POST /users/{id}/revokeSignInSessions` (Graph answers 200 `{"value": true}`, or
/// 204: any 2xx is success).
pub async fn revoke_sessions(graph: &Graph, user: &GraphUser) -> Result<(), ConnectorError> {
    let path = format!("users/{}/revokeSignInSessions", segment(&user.id));
    let response = graph.send(Method::POST, &path, None).await?;
    if !response.is_success() {
        return Err(graph.failure(
            &response,
            &format!("POST /v1.0/users/{}/revokeSignInSessions", user.id),
        ));
    }
    if response.json().get("value") == Some(&serde_json::Value::Bool(false)) {
        return Err(ConnectorError::transient(format!(
            "POST /v1.0/users/{}/revokeSignInSessions answered value=false",
            user.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_prefer_the_entra_account_then_the_idp_id_then_the_email() {
        let mut identity = Identity::new("Alice@Example.com");
        identity.idp = "entra".into();
        identity.idp_user_id = Some("oid-1".into());
        let identity = identity.with_account("entra", "oid-0");
        assert_eq!(
            candidate_keys(&identity),
            vec!["oid-0", "oid-1", "Alice@Example.com"]
        );
        let mut okta = Identity::new("bob@example.com");
        okta.idp = "okta".into();
        okta.idp_user_id = Some("00u1".into());
        assert_eq!(candidate_keys(&okta), vec!["bob@example.com"]);
    }

    #[test]
    fn users_parse_with_graphs_timestamps() {
        let user: GraphUser = serde_json::from_value(serde_json::json!({
            "@odata.context": "x", "id": "u", "userPrincipalName": "A@x.com", "mail": null,
            "accountEnabled": false, "signInSessionsValidFromDateTime": "2026-01-02T03:04:05Z"
        }))
        .unwrap();
        assert_eq!(user.email().as_deref(), Some("a@x.com"));
        assert_eq!(user.account_enabled, Some(false));
        assert!(user.sign_in_sessions_valid_from_date_time.is_some());
    }
}
