//! Change-notification subscriptions on `users`: create, renew (`PATCH
//! expirationDateTime`), list.

use crate::graph::{segment, Graph};
use chrono::{DateTime, Utc};
use leaver_connector::ConnectorError;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Graph's longest lifetime for a subscription to users: 41,760 minutes (29 days); a
/// little is kept back so clock skew never makes Graph refuse it.
pub const MAX_USERS_LIFETIME: Duration = Duration::from_secs(41_760 * 60 - 5 * 60);

/// A subscription as Graph returns it (never with `clientState`, which Leaver does not
/// keep from answers either).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub change_type: String,
    #[serde(default)]
    pub notification_url: String,
    #[serde(default)]
    pub lifecycle_notification_url: Option<String>,
    pub expiration_date_time: DateTime<Utc>,
}

/// What to subscribe with.
pub struct NewSubscription<'a> {
    pub notification_url: &'a str,
    pub lifecycle_notification_url: &'a str,
    pub client_state: &'a str,
    pub expiration: DateTime<Utc>,
}

fn parse(body: serde_json::Value, what: &str) -> Result<Subscription, ConnectorError> {
    serde_json::from_value(body).map_err(|e| {
        ConnectorError::transient(format!(
            "{what}: unexpected subscription representation: {e}"
        ))
    })
}

/// The longest expiration Graph accepts for users, from now.
pub fn max_expiration() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(MAX_USERS_LIFETIME).unwrap_or_default()
}

/// `GET /subscriptions`: this application's subscriptions.
pub async fn list(graph: &Graph) -> Result<Vec<Subscription>, ConnectorError> {
    let response = graph.send(Method::GET, "subscriptions", None).await?;
    if response.status != 200 {
        return Err(graph.failure(&response, "GET /v1.0/subscriptions"));
    }
    response.json()["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|v| parse(v, "GET /v1.0/subscriptions"))
        .collect()
}

/// `POST /subscriptions` on `users` for `updated,deleted` (Graph validates both URLs
/// with the `validationToken` handshake before answering 201).
pub async fn create(
    graph: &Graph,
    new: &NewSubscription<'_>,
) -> Result<Subscription, ConnectorError> {
    let body = serde_json::json!({
        "changeType": "updated,deleted",
        "notificationUrl": new.notification_url,
        "lifecycleNotificationUrl": new.lifecycle_notification_url,
        "resource": "users",
        "expirationDateTime": new.expiration.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "clientState": new.client_state,
    });
    let response = graph
        .send(Method::POST, "subscriptions", Some(&body))
        .await?;
    if response.status != 201 && response.status != 200 {
        return Err(graph.failure(&response, "POST /v1.0/subscriptions"));
    }
    parse(response.json(), "POST /v1.0/subscriptions")
}

/// `PATCH /subscriptions/{id} {expirationDateTime}`; `Ok(None)` when Graph no longer
/// knows the subscription (404).
pub async fn renew(
    graph: &Graph,
    id: &str,
    expiration: DateTime<Utc>,
) -> Result<Option<Subscription>, ConnectorError> {
    let body = serde_json::json!({
        "expirationDateTime": expiration.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    let path = format!("subscriptions/{}", segment(id));
    let response = graph.send(Method::PATCH, &path, Some(&body)).await?;
    match response.status {
        200 => parse(response.json(), "PATCH /v1.0/subscriptions").map(Some),
        // Graph may answer 204 without a body.
        204 => Ok(Some(Subscription {
            id: id.to_string(),
            resource: "users".into(),
            change_type: String::new(),
            notification_url: String::new(),
            lifecycle_notification_url: None,
            expiration_date_time: expiration,
        })),
        404 => Ok(None),
        _ => Err(graph.failure(&response, &format!("PATCH /v1.0/subscriptions/{id}"))),
    }
}
