//! Okta Event Hooks: the delivery envelope (`com.okta.event_hook`, `data.events[]` of
//! System Log `LogEvent`s) and the event types Leaver acts on. The same `LogEvent`
//! shape comes from the System Log API, so the reconciliation reuses `to_idp_event`.

use super::IdpEvent;
use leaver_connector::Identity;
use serde::Deserialize;

/// Okta event types that can start a plan, and the trigger each maps to. Only
/// hook-eligible types are listed (`user.lifecycle.delete.completed` is not).
pub const DEPROVISIONING_EVENTS: &[(&str, &str)] = &[
    (
        "user.lifecycle.deactivate",
        "okta.user.lifecycle.deactivate",
    ),
    ("user.lifecycle.suspend", "okta.user.lifecycle.suspend"),
    (
        "user.lifecycle.delete.initiated",
        "okta.user.lifecycle.delete.initiated",
    ),
    (
        "group.user_membership.remove",
        "okta.group.user_membership.remove",
    ),
    (
        "application.user_membership.remove",
        "okta.application.user_membership.remove",
    ),
];

/// The POST body Okta sends.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub event_type: String,
    #[serde(default)]
    pub event_id: Option<String>,
    pub data: DeliveryData,
}

#[derive(Debug, Deserialize)]
pub struct DeliveryData {
    pub events: Vec<LogEvent>,
}

/// The fields of a System Log `LogEvent` that Leaver reads; the rest is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    pub uuid: String,
    #[serde(default)]
    pub published: Option<String>,
    pub event_type: String,
    #[serde(default)]
    pub display_message: Option<String>,
    #[serde(default)]
    pub actor: Option<Party>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub target: Option<Vec<Party>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub alternate_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Outcome {
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why a delivery body was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("malformed Okta event hook delivery: {0}")]
    Malformed(String),
    #[error("not an Okta event hook delivery: eventType is `{0}`, expected `com.okta.event_hook`")]
    WrongType(String),
}

pub fn parse_delivery(body: &[u8]) -> Result<Delivery, DeliveryError> {
    let delivery: Delivery =
        serde_json::from_slice(body).map_err(|e| DeliveryError::Malformed(e.to_string()))?;
    if delivery.event_type != "com.okta.event_hook" {
        return Err(DeliveryError::WrongType(delivery.event_type));
    }
    Ok(delivery)
}

/// The trigger an Okta event type maps to, if Leaver acts on it.
pub fn trigger_for(event_type: &str) -> Option<&'static str> {
    DEPROVISIONING_EVENTS
        .iter()
        .find(|(okta, _)| *okta == event_type)
        .map(|(_, trigger)| *trigger)
}

/// Leaver's view of one `LogEvent`. A failed operation (`outcome.result` other than
/// SUCCESS) triggers nothing. The user is the `target` of type `User` (targets may also
/// hold the group or app), never chosen by position.
pub fn to_idp_event(event: &LogEvent) -> IdpEvent {
    let succeeded = event
        .outcome
        .as_ref()
        .and_then(|o| o.result.as_deref())
        .is_none_or(|r| r.eq_ignore_ascii_case("SUCCESS"));
    let targets = event.target.clone().unwrap_or_default();
    let user = targets.iter().find(|t| t.kind.as_deref() == Some("User"));
    let identity = user.and_then(|u| {
        let login = u
            .alternate_id
            .clone()
            .filter(|a| !a.is_empty() && a != "unknown")?;
        let mut identity = Identity::new(login.to_ascii_lowercase());
        identity.idp = "okta".into();
        identity.idp_user_id = u.id.clone();
        identity.display_name = u.display_name.clone();
        Some(identity)
    });
    let others: Vec<serde_json::Value> = targets
        .iter()
        .filter(|t| t.kind.as_deref() != Some("User"))
        .map(|t| serde_json::json!({"type": t.kind, "id": t.id, "name": t.display_name}))
        .collect();
    IdpEvent {
        source: "okta",
        event_id: event.uuid.clone(),
        event_type: event.event_type.clone(),
        trigger: trigger_for(&event.event_type)
            .filter(|_| succeeded)
            .map(str::to_string),
        identity,
        published: event.published.clone(),
        details: serde_json::json!({
            "display_message": event.display_message,
            "actor": event.actor.as_ref().map(|a| serde_json::json!({"id": a.id, "type": a.kind, "alternate_id": a.alternate_id})),
            "outcome": event.outcome.as_ref().map(|o| serde_json::json!({"result": o.result, "reason": o.reason})),
            "targets": others,
        }),
    }
}

/// Whether the event is Leaver's own doing: its actor is Leaver's Okta API service app
/// (`idp.okta.client_id`), e.g. the `user.lifecycle.deactivate` an
/// `okta.deactivate_user` step causes. Such an event must not start another offboarding
/// of the person already being offboarded.
pub fn is_own_action(event: &LogEvent, own_client_id: Option<&str>) -> bool {
    let Some(own) = own_client_id.filter(|c| !c.is_empty()) else {
        return false;
    };
    event.actor.as_ref().and_then(|a| a.id.as_deref()) == Some(own)
}

/// `to_idp_event`, with events Leaver caused itself recorded but triggering nothing.
pub fn to_idp_event_for(event: &LogEvent, own_client_id: Option<&str>) -> IdpEvent {
    let mut idp_event = to_idp_event(event);
    if is_own_action(event, own_client_id) {
        idp_event.trigger = None;
        if let Some(details) = idp_event.details.as_object_mut() {
            details.insert(
                "ignored_because".into(),
                "caused by Leaver itself (the actor is its Okta API service app)".into(),
            );
        }
    }
    idp_event
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/idp/okta-event-hook-delivery.json");

    #[test]
    fn events_leavers_own_service_app_caused_start_nothing() {
        let delivery = parse_delivery(FIXTURE.as_bytes()).unwrap();
        let mut event = delivery.data.events[0].clone();
        assert!(!is_own_action(&event, Some("0oaleaver")));
        assert!(to_idp_event_for(&event, Some("0oaleaver"))
            .trigger
            .is_some());
        event.actor = Some(Party {
            id: Some("0oaleaver".into()),
            kind: Some("PublicClientApp".into()),
            alternate_id: Some("0oaleaver".into()),
            display_name: Some("Leaver".into()),
        });
        assert!(is_own_action(&event, Some("0oaleaver")));
        assert!(!is_own_action(&event, None));
        let own = to_idp_event_for(&event, Some("0oaleaver"));
        assert_eq!(own.trigger, None);
        assert!(own.details["ignored_because"].is_string());
    }

    #[test]
    fn the_fixture_delivery_parses_into_two_events() {
        let delivery = parse_delivery(FIXTURE.as_bytes()).unwrap();
        assert_eq!(delivery.data.events.len(), 2);
        let deactivate = to_idp_event(&delivery.data.events[0]);
        assert_eq!(deactivate.event_id, "5d1e3a70-c6f1-11f0-8a4e-9b1f2c3d4e5f");
        assert_eq!(
            deactivate.trigger.as_deref(),
            Some("okta.user.lifecycle.deactivate")
        );
        let identity = deactivate.identity.unwrap();
        assert_eq!(identity.email, "frank@example-corp.com");
        assert_eq!(identity.idp_user_id.as_deref(), Some("00u7frankexample01"));
        let removal = to_idp_event(&delivery.data.events[1]);
        assert_eq!(
            removal.trigger.as_deref(),
            Some("okta.group.user_membership.remove")
        );
        // The user is found by type, not position; the group is a detail.
        assert_eq!(removal.identity.unwrap().email, "frank@example-corp.com");
        assert_eq!(removal.details["targets"][0]["name"], "Engineering");
    }

    #[test]
    fn failed_operations_and_other_types_trigger_nothing() {
        let mut delivery = parse_delivery(FIXTURE.as_bytes()).unwrap();
        let mut event = delivery.data.events.remove(0);
        event.outcome = Some(Outcome {
            result: Some("FAILURE".into()),
            reason: Some("x".into()),
        });
        assert_eq!(to_idp_event(&event).trigger, None);
        event.outcome = None;
        event.event_type = "user.session.end".into();
        assert_eq!(to_idp_event(&event).trigger, None);
        event.event_type = "user.lifecycle.delete.completed".into();
        assert_eq!(to_idp_event(&event).trigger, None);
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        assert!(matches!(
            parse_delivery(b"{"),
            Err(DeliveryError::Malformed(_))
        ));
        assert!(matches!(
            parse_delivery(b"{\"eventType\":\"x\",\"data\":{\"events\":[]}}"),
            Err(DeliveryError::WrongType(_))
        ));
        assert!(matches!(
            parse_delivery(b"{\"eventType\":\"com.okta.event_hook\"}"),
            Err(DeliveryError::Malformed(_))
        ));
    }
}
