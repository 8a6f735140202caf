//! From "user X changed" to an intake event: ask Graph what the user is now, name the
//! event by the resolved state and its generation, and hand it to `intake::start`.

use super::{EntraIntake, SOURCE};
use crate::engine::Engine;
use crate::intake::{self, IdpEvent, IntakeOutcome};
use crate::store::EntraNotificationRow;
use leaver_connector::Identity;
use leaver_connector_entra::users::{self, GraphUser, UserLookup};

/// Pending notifications handled per drain pass.
const DRAIN_BATCH: i64 = 100;

/// The user's state as Leaver acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    Enabled,
    Disabled,
    Deleted,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Enabled => "enabled",
            UserState::Disabled => "disabled",
            UserState::Deleted => "deleted",
        }
    }

    fn trigger(self) -> Option<&'static str> {
        match self {
            UserState::Enabled => None,
            UserState::Disabled => Some("entra.graph.disabled"),
            UserState::Deleted => Some("entra.graph.deleted"),
        }
    }
}

/// A soft-deleted user's UPN is prefixed by its object id without dashes: undo that.
fn original_upn(user: &GraphUser) -> Option<String> {
    let upn = user.user_principal_name.as_deref()?;
    let prefix = user.id.replace('-', "");
    Some(upn.strip_prefix(prefix.as_str()).unwrap_or(upn).to_string())
}

fn identity(user_id: &str, email: Option<String>, user: Option<&GraphUser>) -> Option<Identity> {
    let email = email?;
    let mut identity = Identity::new(email);
    identity.idp = "entra".into();
    identity.idp_user_id = Some(user_id.to_string());
    identity.display_name = user.and_then(|u| u.display_name.clone());
    Some(identity)
}

/// How Leaver came to look at the user.
#[derive(Debug, Clone)]
pub enum Origin<'a> {
    Notification(&'a EntraNotificationRow),
    Delta,
}

/// Record the user's state (and its generation) and start what it triggers, once per
/// generation. `user` is what Graph returned, if anything.
pub async fn start_for_state(
    engine: &Engine,
    user_id: &str,
    state: UserState,
    user: Option<&GraphUser>,
    origin: Origin<'_>,
) -> anyhow::Result<IntakeOutcome> {
    let store = engine.store();
    let email = match user {
        Some(u) if state == UserState::Deleted => {
            let mut u = u.clone();
            u.user_principal_name = original_upn(&u);
            u.email()
        }
        Some(u) => u.email(),
        None => None,
    };
    let generation = store
        .entra_observe_user(user_id, state.as_str(), email.as_deref())
        .await?;
    let email = match email {
        Some(email) => Some(email),
        None => store.entra_user_email(user_id).await?,
    };
    let mut details = serde_json::json!({
        "user_id": user_id,
        "state": state.as_str(),
        "generation": generation,
        "user_principal_name": user.and_then(|u| u.user_principal_name.clone()),
        "deleted_at": user.and_then(|u| u.deleted_date_time),
    });
    details["seen_by"] = match origin {
        Origin::Notification(row) => serde_json::json!({
            "channel": "change_notification",
            "subscription_id": row.subscription_id,
            "change_type": row.change_type,
        }),
        Origin::Delta => serde_json::json!({"channel": "users_delta"}),
    };
    let event = IdpEvent {
        source: SOURCE,
        event_id: format!("Users/{user_id}:{}:{generation}", state.as_str()),
        event_type: format!("user.{}", state.as_str()),
        trigger: state.trigger().map(str::to_string),
        identity: identity(user_id, email, user),
        published: Some(crate::store::runs::ms_to_rfc3339(crate::store::now_ms())),
        details,
    };
    let outcome = intake::start(engine, &event).await?;
    tracing::info!(event = %event.event_id, ?outcome, "entra user event");
    Ok(outcome)
}

/// Ask Graph about the user and start what its state triggers.
pub async fn resolve_user(
    engine: &Engine,
    service: &EntraIntake,
    user_id: &str,
    origin: Origin<'_>,
) -> anyhow::Result<IntakeOutcome> {
    let lookup = users::lookup(&service.graph, user_id).await?;
    let (state, user) = match &lookup {
        UserLookup::Live(u) if u.account_enabled == Some(false) => (UserState::Disabled, Some(u)),
        UserLookup::Live(u) => (UserState::Enabled, Some(u)),
        UserLookup::SoftDeleted(u) => (UserState::Deleted, Some(u)),
        UserLookup::Gone => (UserState::Deleted, None),
    };
    start_for_state(engine, user_id, state, user, origin).await
}

/// Handle every pending notification; returns how many were handled. A failure
/// (Graph unreachable) leaves the notification for the next pass.
pub async fn drain(engine: &Engine, service: &EntraIntake) -> anyhow::Result<usize> {
    let store = engine.store();
    let mut handled = 0;
    let pending = store.entra_pending_notifications(DRAIN_BATCH).await?;
    for row in &pending {
        match resolve_user(engine, service, &row.user_id, Origin::Notification(row)).await {
            Ok(_) => {
                store.entra_notification_done(&row.id).await?;
                handled += 1;
            }
            Err(error) => {
                let message = format!("{error:#}");
                tracing::warn!(user = %row.user_id, error = %message, "resolving a Graph notification failed; will retry");
                store.entra_notification_failed(&row.id, &message).await?;
            }
        }
    }
    Ok(handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_deleted_upns_lose_their_prefix() {
        let user = GraphUser {
            id: "9a1b-2c".into(),
            user_principal_name: Some("9a1b2calice@example.com".into()),
            mail: None,
            display_name: None,
            account_enabled: None,
            sign_in_sessions_valid_from_date_time: None,
            deleted_date_time: None,
        };
        assert_eq!(original_upn(&user).as_deref(), Some("alice@example.com"));
        assert_eq!(UserState::Disabled.trigger(), Some("entra.graph.disabled"));
        assert_eq!(UserState::Enabled.trigger(), None);
    }
}
