//! `okta.revoke_sessions`: `DELETE /api/v1/users/{id}/sessions?oauthTokens=true` ends
//! every Okta session of the user and revokes the OAuth 2.0 access and refresh tokens
//! Okta issued to them (`oauthTokens` defaults to false at Okta: without it the tokens
//! survive). `forget_devices` also clears remembered factors.
//!
//! What can be verified: Okta has no API that lists a user's sessions, so the probe
//! checks what the API can show —
//! 1. no refresh token is left for any OAuth client the user holds tokens for
//!    (`GET /api/v1/users/{id}/clients` and `…/clients/{clientId}/tokens`), and
//! 2. with `okta.logs.read`, the System Log records a successful `user.session.clear`
//!    for the user within the last [`CLEAR_EVENT_WINDOW`] (the log is eventually
//!    consistent: until it shows, the probe says "not yet" and the engine retries).
//!
//! The observation names both. Grants (scope consents) are not tokens and survive, as
//! at Okta.

use crate::client::{segment, OktaApi};
use crate::logs::LogQuery;
use crate::users::{self, User};
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Identity, Verification};
use serde::Deserialize;

/// How far back the probe looks for the session clear in the System Log.
pub const CLEAR_EVENT_WINDOW: chrono::Duration = chrono::Duration::minutes(15);
/// Most pages read from one list.
const MAX_PAGES: usize = 50;

#[derive(Debug, Clone, Deserialize)]
struct Client {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
}

/// One live refresh token of the user.
#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    id: String,
    client_id: String,
    client_name: String,
}

/// A whole paginated list (following `Link: rel="next"`).
async fn list_all<T: serde::de::DeserializeOwned>(
    api: &OktaApi,
    path: &str,
    what: &str,
) -> Result<Vec<T>, ConnectorError> {
    let mut items = Vec::new();
    let mut response = api.get(path).await?;
    for _ in 0..MAX_PAGES {
        if response.status != 200 {
            return Err(api.failure(&response, what));
        }
        let page: Vec<T> = serde_json::from_slice(&response.body).map_err(|e| {
            ConnectorError::transient(format!("Okta answered {what} with an unexpected body: {e}"))
        })?;
        let empty = page.is_empty();
        items.extend(page);
        match response.next_link() {
            Some(next) if !empty => response = api.get_link(&next).await?,
            _ => return Ok(items),
        }
    }
    Err(ConnectorError::transient(format!(
        "{what}: more than {MAX_PAGES} pages; giving up"
    )))
}

/// The user's live refresh tokens, across the OAuth clients they hold tokens for.
pub(crate) async fn refresh_tokens(
    api: &OktaApi,
    user_id: &str,
) -> Result<Vec<RefreshToken>, ConnectorError> {
    let user = segment(user_id);
    let clients: Vec<Client> = list_all(
        api,
        &format!("/api/v1/users/{user}/clients"),
        &format!("GET /api/v1/users/{user_id}/clients"),
    )
    .await?;
    let mut tokens = Vec::new();
    for client in clients {
        #[derive(Deserialize)]
        struct Token {
            id: String,
            #[serde(default)]
            status: Option<String>,
        }
        let listed: Vec<Token> = list_all(
            api,
            &format!(
                "/api/v1/users/{user}/clients/{}/tokens?limit=200",
                segment(&client.client_id)
            ),
            &format!(
                "GET /api/v1/users/{user_id}/clients/{}/tokens",
                client.client_id
            ),
        )
        .await?;
        tokens.extend(
            listed
                .into_iter()
                .filter(|t| t.status.as_deref().is_none_or(|s| s == "ACTIVE"))
                .map(|t| RefreshToken {
                    id: t.id,
                    client_id: client.client_id.clone(),
                    client_name: client
                        .client_name
                        .clone()
                        .unwrap_or_else(|| client.client_id.clone()),
                }),
        );
    }
    Ok(tokens)
}

/// `okta.revoke_sessions`.
pub(crate) async fn revoke(
    api: &OktaApi,
    identity: &Identity,
    forget_devices: bool,
) -> Result<ActionOutcome, ConnectorError> {
    let user = users::require(api, identity).await?;
    let before = refresh_tokens(api, &user.id).await?;
    let mut path = format!(
        "/api/v1/users/{}/sessions?oauthTokens=true",
        segment(&user.id)
    );
    if forget_devices {
        path.push_str("&forgetDevices=true");
    }
    let response = api.delete(&path).await?;
    if !response.is_success() {
        return Err(api.failure(
            &response,
            &format!("DELETE /api/v1/users/{}/sessions", user.id),
        ));
    }
    let details = serde_json::json!({
        "user_id": user.id,
        "login": user.login(),
        "user_status": user.status,
        "oauth_tokens": true,
        "forget_devices": forget_devices,
        "refresh_tokens_revoked": before.len(),
        "refresh_token_clients": before.iter().map(|t| t.client_id.as_str()).collect::<std::collections::BTreeSet<_>>(),
        "sessions": "cleared; Okta does not report how many there were",
    });
    // A deactivated user holds no sessions (deactivation ends them) — the clear is
    // then a no-op unless tokens were still listed.
    let outcome = if user.is_deprovisioned() && before.is_empty() {
        ActionOutcome::unchanged(format!(
            "Okta user {} is deactivated and holds no refresh tokens; sessions cleared again",
            user.describe()
        ))
    } else {
        ActionOutcome::changed(format!(
            "cleared the Okta sessions of {} ({}) and revoked their OAuth tokens ({} refresh token(s))",
            user.id,
            user.login(),
            before.len()
        ))
    };
    Ok(outcome.with_details(details))
}

/// Whether the System Log shows a successful `user.session.clear` of the user lately.
async fn clear_event(api: &OktaApi, user_id: &str) -> Result<Option<String>, ConnectorError> {
    let quoted = user_id.replace('"', "\\\"");
    let query = LogQuery {
        since: chrono::Utc::now() - CLEAR_EVENT_WINDOW,
        filter: Some(format!(
            "eventType eq \"user.session.clear\" and target.id eq \"{quoted}\""
        )),
        limit: 20,
        descending: true,
    };
    let page = api.log_page(&query).await?;
    Ok(page
        .events
        .iter()
        .find(|e| {
            e.pointer("/outcome/result")
                .and_then(|r| r.as_str())
                .is_none_or(|r| r == "SUCCESS")
        })
        .map(|e| {
            e.get("published")
                .and_then(|p| p.as_str())
                .unwrap_or("?")
                .to_string()
        }))
}

/// The session-clear probe (see the module docs for what it can and cannot see).
pub(crate) async fn verify(
    api: &OktaApi,
    identity: &Identity,
) -> Result<Verification, ConnectorError> {
    let user = users::require(api, identity).await?;
    let tokens = refresh_tokens(api, &user.id).await?;
    if !tokens.is_empty() {
        let clients: std::collections::BTreeSet<&str> =
            tokens.iter().map(|t| t.client_id.as_str()).collect();
        return Ok(Verification::still_present(format!(
            "{} refresh token(s) of Okta user {} still active for client(s) {}",
            tokens.len(),
            user.id,
            clients.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let tokens_seen = format!(
        "no active refresh token for Okta user {} (GET /api/v1/users/{}/clients and their tokens)",
        user.id, user.id
    );
    if !api.has_scope("okta.logs.read") {
        return Ok(Verification::gone(format!(
            "{tokens_seen}; Okta has no API listing a user's sessions and the System Log was not checked (okta.logs.read not in idp.okta.scopes), so the session clear rests on Okta's 204"
        )));
    }
    Ok(match clear_event(api, &user.id).await? {
        Some(published) => Verification::gone(format!(
            "{tokens_seen}; the System Log records user.session.clear for {} at {published} (Okta has no API listing a user's sessions)",
            user.id
        )),
        None => Verification::still_present(format!(
            "{tokens_seen}; but the System Log shows no user.session.clear for {} in the last {} minutes yet (it is eventually consistent)",
            user.id,
            CLEAR_EVENT_WINDOW.num_minutes()
        )),
    })
}

/// Refresh tokens as holdings.
pub(crate) async fn holdings(api: &OktaApi, user: &User) -> Result<Vec<Holding>, ConnectorError> {
    Ok(refresh_tokens(api, &user.id)
        .await?
        .into_iter()
        .map(|t| Holding {
            system: "okta".into(),
            kind: "oauth_refresh_token".into(),
            resource: format!("{}/{}", t.client_id, t.id),
            description: format!(
                "OAuth refresh token of {} for {}",
                user.login(),
                t.client_name
            ),
        })
        .collect())
}
