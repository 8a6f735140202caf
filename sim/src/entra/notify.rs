//! What the simulated Graph sends to subscribers: the `?validationToken=` handshake,
//! change notifications and lifecycle notifications, with Graph's retries.

use super::wire::{notification_time, percent_encode};
use super::world::guid;
use super::{lock, DeliveryKind, DeliveryRecord, Shared};
use chrono::Utc;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn new_record(shared: &Shared, kind: DeliveryKind, url: &str, body: String) -> u64 {
    let id = shared.next_delivery.fetch_add(1, Ordering::Relaxed);
    lock(&shared.deliveries).push(DeliveryRecord {
        id,
        kind,
        url: url.to_string(),
        body,
        attempts: Vec::new(),
        delivered: false,
        finished: false,
    });
    id
}

fn update_record(shared: &Shared, id: u64, f: impl FnOnce(&mut DeliveryRecord)) {
    if let Some(record) = lock(&shared.deliveries).iter_mut().find(|d| d.id == id) {
        f(record);
    }
    shared.delivery_changed.notify_waiters();
}

/// Notify every subscription that wants `change_type` on users about user `id`.
pub(crate) fn user_changed(shared: &Arc<Shared>, id: &str, change_type: &str) {
    if !shared.notifications.load(Ordering::SeqCst) {
        return;
    }
    let now = Utc::now();
    let tenant = shared.config.tenant_id.clone();
    let targets: Vec<_> = {
        let world = lock(&shared.world);
        if !world.users.contains_key(id) {
            return;
        }
        world
            .subscriptions
            .values()
            .filter(|s| s.expiration > now && is_users(&s.resource) && s.wants(change_type))
            .cloned()
            .collect()
    };
    for sub in targets {
        let body = json!({
            "value": [{
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": notification_time(sub.expiration),
                "changeType": change_type,
                "resource": format!("Users/{id}"),
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.User",
                    "@odata.id": format!("Users/{id}"),
                    "id": id,
                    "organizationId": tenant,
                },
                "clientState": sub.client_state,
                "tenantId": tenant,
            }]
        });
        let record = new_record(
            shared,
            DeliveryKind::Change,
            &sub.notification_url,
            body.to_string(),
        );
        spawn_delivery(
            shared,
            record,
            sub.notification_url.clone(),
            body.to_string(),
        );
    }
}

pub(crate) fn is_users(resource: &str) -> bool {
    resource
        .trim_start_matches('/')
        .eq_ignore_ascii_case("users")
}

/// Send a lifecycle notification for a subscription.
pub(crate) fn lifecycle(shared: &Arc<Shared>, subscription_id: &str, event: &str) -> bool {
    let sub = lock(&shared.world)
        .subscriptions
        .get(subscription_id)
        .cloned();
    let Some(sub) = sub else { return false };
    let Some(url) = sub.lifecycle_notification_url.clone() else {
        return false;
    };
    let body = json!({
        "value": [{
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": notification_time(sub.expiration),
            "tenantId": shared.config.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }]
    });
    let record = new_record(shared, DeliveryKind::Lifecycle, &url, body.to_string());
    spawn_delivery(shared, record, url, body.to_string());
    true
}

/// POST an earlier delivery's body again, as a new delivery.
pub(crate) fn redeliver(shared: &Arc<Shared>, delivery_id: u64) -> bool {
    let original = lock(&shared.deliveries)
        .iter()
        .find(|d| d.id == delivery_id)
        .cloned();
    match original {
        Some(d) if d.kind != DeliveryKind::Validation => {
            let record = new_record(shared, d.kind, &d.url, d.body.clone());
            spawn_delivery(shared, record, d.url, d.body);
            true
        }
        _ => false,
    }
}

fn spawn_delivery(shared: &Arc<Shared>, record: u64, url: String, body: String) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        update_record(shared, record, |r| r.finished = true);
        return;
    };
    let shared = shared.clone();
    handle.spawn(async move { deliver(&shared, record, &url, body).await });
}

/// POST the body; retry after each configured wait until a 2xx.
async fn deliver(shared: &Shared, record: u64, url: &str, body: String) {
    let waits = shared.config.delivery_retries.clone();
    for attempt in 0..=waits.len() {
        if attempt > 0 && !shared.signal.sleep(waits[attempt - 1]).await {
            break;
        }
        let request = shared
            .http
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .timeout(shared.config.delivery_timeout)
            .body(body.clone());
        let status = tokio::select! {
            result = request.send() => match result {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            },
            _ = shared.signal.wait() => 0,
        };
        let ok = (200..300).contains(&status);
        update_record(shared, record, |r| {
            r.attempts.push(status);
            r.delivered = ok;
        });
        if ok {
            break;
        }
    }
    update_record(shared, record, |r| r.finished = true);
}

/// The validation handshake for one URL: POST `url?validationToken=…` and require a 200
/// `text/plain` answer that is exactly the decoded token, within the time limit.
pub(crate) async fn validate(shared: &Shared, url: &str) -> Result<(), String> {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        guid()
    );
    let separator = if url.contains('?') { '&' } else { '?' };
    let target = format!("{url}{separator}validationToken={}", percent_encode(&token));
    let record = new_record(shared, DeliveryKind::Validation, url, String::new());
    let limit = shared.config.validation_timeout;
    let exchange = async {
        let response = shared
            .http
            .post(&target)
            .header("content-type", "text/plain; charset=utf-8")
            .body("")
            .send()
            .await
            .map_err(|_| {
                (
                    0u16,
                    "the notification endpoint could not be reached".to_string(),
                )
            })?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let text = response.text().await.unwrap_or_default();
        if status != 200 {
            return Err((
                status,
                format!("Notification endpoint must respond with 200 OK to validation request; it answered {status}."),
            ));
        }
        if !content_type.starts_with("text/plain") {
            return Err((
                status,
                "Response must have Content-Type text/plain.".to_string(),
            ));
        }
        if text != token {
            return Err((
                status,
                "Response must exactly match validationToken query parameter.".to_string(),
            ));
        }
        Ok(status)
    };
    let result = tokio::select! {
        outcome = tokio::time::timeout(limit, exchange) => match outcome {
            Ok(result) => result,
            Err(_) => Err((0, format!("Validation request did not complete within {} seconds.", limit.as_secs()))),
        },
        _ = shared.signal.wait() => Err((0, "The service is shutting down.".to_string())),
    };
    let (status, outcome) = match result {
        Ok(status) => (status, Ok(())),
        Err((status, message)) => (status, Err(message)),
    };
    update_record(shared, record, |r| {
        r.attempts.push(status);
        r.delivered = outcome.is_ok();
        r.finished = true;
    });
    outcome.map_err(|message| format!("Subscription validation request failed. {message}"))
}

/// Graph's own limit: subscriptions to users live at most 41,760 minutes.
pub(crate) const MAX_USER_SUBSCRIPTION: Duration = Duration::from_secs(41_760 * 60);
