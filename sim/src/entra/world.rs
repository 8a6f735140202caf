//! The state of the simulated tenant: users (live, soft-deleted, hard-deleted), the
//! change sequence that delta queries read, subscriptions and issued access tokens.

use chrono::{DateTime, SubsecRound, Utc};
use rand::Rng;
use std::collections::BTreeMap;

/// `n` random lower-case hex characters.
pub(crate) fn random_hex(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A random version-4 GUID, as Entra object ids look.
pub(crate) fn guid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Whether a user is live, in the recycle bin, or gone for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// A normal directory object.
    Live,
    /// Soft-deleted: in `directory/deletedItems` for 30 days, restorable; `GET
    /// /users/{id}` answers 404.
    SoftDeleted,
    /// Permanently deleted.
    HardDeleted,
}

/// One user of the tenant.
#[derive(Debug, Clone)]
pub struct SimUser {
    pub id: String,
    pub user_principal_name: String,
    pub mail: Option<String>,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    pub account_enabled: bool,
    pub sign_in_sessions_valid_from: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub presence: Presence,
    /// The change sequence number of the user's last change (delta queries).
    pub(crate) changed_seq: u64,
    /// How many times `revokeSignInSessions` was called for the user.
    pub revocations: u32,
}

impl SimUser {
    /// The UPN as `directory/deletedItems` shows it for a soft-deleted user: Entra
    /// prefixes the original UPN with the object id without dashes.
    pub fn deleted_upn(&self) -> String {
        format!("{}{}", self.id.replace('-', ""), self.user_principal_name)
    }
}

/// A change-notification subscription.
#[derive(Debug, Clone)]
pub struct SimSubscription {
    pub id: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration: DateTime<Utc>,
    pub application_id: String,
    /// `POST /subscriptions/{id}/reauthorize` calls received.
    pub reauthorizations: u32,
    /// Successful `PATCH` renewals received.
    pub renewals: u32,
}

impl SimSubscription {
    pub(crate) fn wants(&self, change: &str) -> bool {
        self.change_type
            .split(',')
            .any(|c| c.trim().eq_ignore_ascii_case(change))
    }
}

/// Truncate to whole seconds, as Graph stores `signInSessionsValidFromDateTime`.
pub(crate) fn now_seconds() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

#[derive(Debug, Default)]
pub(crate) struct World {
    pub users: BTreeMap<String, SimUser>,
    /// The last change sequence number handed out.
    pub seq: u64,
    /// Delta tokens carry this; bumping it expires every outstanding token.
    pub delta_generation: u64,
    pub subscriptions: BTreeMap<String, SimSubscription>,
    /// Access token → expiry.
    pub tokens: BTreeMap<String, DateTime<Utc>>,
    /// Tokens issued so far.
    pub tokens_issued: u64,
}

impl World {
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) fn add_user(&mut self, upn: &str, display_name: &str) -> String {
        let id = guid();
        let seq = self.next_seq();
        let mail = upn.contains('@').then(|| upn.to_string());
        let mut parts = display_name.split_whitespace();
        let given_name = parts.next().map(str::to_string);
        let surname = parts.next().map(str::to_string);
        self.users.insert(
            id.clone(),
            SimUser {
                id: id.clone(),
                user_principal_name: upn.to_string(),
                mail,
                display_name: display_name.to_string(),
                given_name,
                surname,
                job_title: None,
                account_enabled: true,
                sign_in_sessions_valid_from: now_seconds() - chrono::Duration::days(30),
                created: now_seconds(),
                deleted_at: None,
                presence: Presence::Live,
                changed_seq: seq,
                revocations: 0,
            },
        );
        id
    }

    /// A live user by id or (case-insensitive) UPN.
    pub(crate) fn live_user(&self, key: &str) -> Option<&SimUser> {
        self.find(key).filter(|u| u.presence == Presence::Live)
    }

    pub(crate) fn find(&self, key: &str) -> Option<&SimUser> {
        self.users.get(key).or_else(|| {
            self.users
                .values()
                .find(|u| u.user_principal_name.eq_ignore_ascii_case(key))
        })
    }

    pub(crate) fn live_user_id(&self, key: &str) -> Option<String> {
        self.live_user(key).map(|u| u.id.clone())
    }

    /// Apply `change` to a user and stamp it with a new change sequence number.
    pub(crate) fn change(&mut self, id: &str, change: impl FnOnce(&mut SimUser)) -> bool {
        let seq = self.next_seq();
        match self.users.get_mut(id) {
            Some(user) => {
                change(user);
                user.changed_seq = seq;
                true
            }
            None => false,
        }
    }
}
