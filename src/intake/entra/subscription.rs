//! The change-notification subscription on `users`: `leaver entra subscribe`, the
//! lifecycle notifications and the renewal job all come here. An existing subscription
//! of this application to `users` with Leaver's notification URL is renewed to Graph's
//! maximum (41,760 minutes); without one, a new one is created (`updated,deleted`,
//! lifecycle notifications to the same URL, the configured clientState).

use super::EntraIntake;
use leaver_connector_entra::subscriptions::{self, NewSubscription, Subscription};

/// What `ensure_subscription` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubscribeOutcome {
    pub subscription_id: String,
    /// RFC 3339.
    pub expires_at: String,
    /// `created` or `renewed`.
    pub action: &'static str,
}

fn outcome(sub: &Subscription, action: &'static str) -> SubscribeOutcome {
    SubscribeOutcome {
        subscription_id: sub.id.clone(),
        expires_at: sub
            .expiration_date_time
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        action,
    }
}

fn notification_url(service: &EntraIntake) -> anyhow::Result<&str> {
    service.notification_url.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "server.public_url is not set: Graph needs the public URL of /hooks/entra to send notifications to"
        )
    })
}

/// Renew `id` if given and known to Graph; without `id`, renew this application's
/// subscription to `users` at our URL; else (or when Graph no longer knows `id`)
/// create one.
pub async fn ensure_subscription(
    service: &EntraIntake,
    id: Option<&str>,
) -> anyhow::Result<SubscribeOutcome> {
    let graph = &service.graph;
    let expiration = subscriptions::max_expiration();
    if let Some(id) = id {
        if let Some(renewed) = subscriptions::renew(graph, id, expiration).await? {
            tracing::info!(subscription = %renewed.id, "Graph subscription renewed");
            return Ok(outcome(&renewed, "renewed"));
        }
        tracing::warn!(subscription = %id, "Graph no longer knows the subscription; creating a new one");
    }
    let url = notification_url(service)?;
    let existing = match id {
        Some(_) => None,
        None => subscriptions::list(graph)
            .await?
            .into_iter()
            .find(|s| {
                s.resource
                    .trim_start_matches('/')
                    .eq_ignore_ascii_case("users")
                    && s.notification_url == url
            })
            .map(|s| s.id),
    };
    if let Some(id) = existing {
        if let Some(renewed) = subscriptions::renew(graph, &id, expiration).await? {
            tracing::info!(subscription = %renewed.id, "Graph subscription renewed");
            return Ok(outcome(&renewed, "renewed"));
        }
        tracing::warn!(subscription = %id, "Graph no longer knows the subscription; creating a new one");
    }
    let created = subscriptions::create(
        graph,
        &NewSubscription {
            notification_url: url,
            lifecycle_notification_url: url,
            client_state: service.client_state(),
            expiration,
        },
    )
    .await?;
    tracing::info!(subscription = %created.id, "Graph subscription created");
    Ok(outcome(&created, "created"))
}
