//! The state of the simulated Okta org: users and their lifecycle, sessions, OAuth
//! refresh tokens and grants per user and client, and the System Log.

use super::filter::Filter;
use super::wire::{event_uuid, object_id, timestamp};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A user as the simulator holds it (a snapshot for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// `00u…`.
    pub id: String,
    /// `STAGED`, `PROVISIONED`, `ACTIVE`, `RECOVERY`, `PASSWORD_EXPIRED`, `LOCKED_OUT`,
    /// `SUSPENDED` or `DEPROVISIONED`.
    pub status: String,
    /// Set while an asynchronous lifecycle operation runs (`DEPROVISIONED` during a
    /// deactivation).
    pub transitioning_to_status: Option<String>,
    pub login: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub created: DateTime<Utc>,
    pub activated: Option<DateTime<Utc>>,
    pub status_changed: Option<DateTime<Utc>>,
    pub last_updated: DateTime<Utc>,
    /// Devices on which the user's factors are remembered (cleared by
    /// `forgetDevices=true`).
    pub remembered_devices: u32,
    /// When the running transition completes.
    pub(crate) transition_done_at: Option<DateTime<Utc>>,
}

impl SimUser {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }

    /// The user object as `GET /api/v1/users/{id}` returns it.
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut user = json!({
            "id": self.id,
            "status": self.status,
            "created": timestamp(self.created),
            "activated": self.activated.map(timestamp),
            "statusChanged": self.status_changed.map(timestamp),
            "lastLogin": null,
            "lastUpdated": timestamp(self.last_updated),
            "passwordChanged": null,
            "type": { "id": "otysimdefaultusertype" },
            "profile": {
                "firstName": self.first_name,
                "lastName": self.last_name,
                "mobilePhone": null,
                "secondEmail": null,
                "login": self.login,
                "email": self.email,
            },
            "credentials": {
                "provider": { "type": "OKTA", "name": "OKTA" }
            },
            "_links": {
                "self": { "href": format!("{base_url}/api/v1/users/{}", self.id) }
            }
        });
        if let Some(target) = &self.transitioning_to_status {
            user["transitioningToStatus"] = json!(target);
        }
        user
    }
}

/// A user's Okta session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSession {
    /// `102…`.
    pub id: String,
    pub user_id: String,
    pub created: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl SimSession {
    /// The session object of `GET /api/v1/sessions/{id}`.
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "id": self.id,
            "userId": self.user_id,
            "login": null,
            "createdAt": timestamp(self.created),
            "expiresAt": timestamp(self.expires_at),
            "status": "ACTIVE",
            "lastPasswordVerification": timestamp(self.created),
            "lastFactorVerification": null,
            "amr": ["pwd"],
            "idp": { "id": "00osimorgidp", "type": "OKTA" },
            "mfaActive": false,
            "_links": {
                "self": { "href": format!("{base_url}/api/v1/sessions/{}", self.id) }
            }
        })
    }
}

/// An OIDC app users sign in to (a client that holds users' tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimApp {
    pub client_id: String,
    pub client_name: String,
}

/// A refresh token issued to a user for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRefreshToken {
    /// `oar…`.
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub created: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl SimRefreshToken {
    /// The `OAuth2RefreshToken` object of `GET /users/{id}/clients/{clientId}/tokens`.
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "id": self.id,
            "status": "ACTIVE",
            "created": timestamp(self.created),
            "lastUpdated": timestamp(self.created),
            "expiresAt": timestamp(self.expires_at),
            "issuer": base_url,
            "clientId": self.client_id,
            "userId": self.user_id,
            "scopes": self.scopes,
            "_links": {
                "app": { "href": format!("{base_url}/api/v1/apps/{}", self.client_id) },
                "self": { "href": format!("{base_url}/api/v1/users/{}/clients/{}/tokens/{}", self.user_id, self.client_id, self.id) },
                "revoke": { "href": format!("{base_url}/api/v1/users/{}/clients/{}/tokens/{}", self.user_id, self.client_id, self.id), "hints": { "allow": ["DELETE"] } },
                "client": { "href": format!("{base_url}/oauth2/v1/clients/{}", self.client_id) },
                "user": { "href": format!("{base_url}/api/v1/users/{}", self.user_id) },
            }
        })
    }
}

/// A scope consent a user gave a client (survives session clearing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimGrant {
    /// `oag…`.
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope_id: String,
    pub created: DateTime<Utc>,
}

impl SimGrant {
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "id": self.id,
            "status": "ACTIVE",
            "created": timestamp(self.created),
            "lastUpdated": timestamp(self.created),
            "issuer": base_url,
            "clientId": self.client_id,
            "userId": self.user_id,
            "scopeId": self.scope_id,
            "source": "END_USER",
            "_links": {
                "self": { "href": format!("{base_url}/api/v1/users/{}/grants/{}", self.user_id, self.id) }
            }
        })
    }
}

/// Position of an event in the System Log: (published ms, insertion sequence).
pub type LogKey = (i64, u64);

#[derive(Debug, Clone)]
struct LogEntry {
    visible_at: DateTime<Utc>,
    event: Value,
}

/// A System Log query, as `GET /api/v1/logs` parameters describe it.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub after: Option<LogKey>,
    pub filter: Option<Filter>,
    pub keywords: Vec<String>,
    pub limit: usize,
    pub descending: bool,
}

/// One page of System Log events.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub events: Vec<Value>,
    /// The key of the last event returned (for the `after` cursor).
    pub last: Option<LogKey>,
    /// Whether more matching events follow.
    pub more: bool,
}

#[derive(Debug, Default)]
pub struct World {
    users: BTreeMap<String, SimUser>,
    sessions: BTreeMap<String, SimSession>,
    apps: BTreeMap<String, SimApp>,
    refresh_tokens: BTreeMap<String, SimRefreshToken>,
    grants: BTreeMap<String, SimGrant>,
    log: BTreeMap<LogKey, LogEntry>,
    log_seq: u64,
}

impl World {
    /// Finish transitions whose time has come.
    pub fn settle(&mut self, now: DateTime<Utc>) {
        for user in self.users.values_mut() {
            if let (Some(target), Some(done)) = (
                user.transitioning_to_status.clone(),
                user.transition_done_at,
            ) {
                if now >= done {
                    user.status = target;
                    user.transitioning_to_status = None;
                    user.transition_done_at = None;
                    user.status_changed = Some(done);
                    user.last_updated = done;
                }
            }
        }
    }

    pub fn add_user(
        &mut self,
        login: &str,
        email: &str,
        first: &str,
        last: &str,
        status: &str,
    ) -> String {
        let id = object_id("00u");
        let now = Utc::now();
        self.users.insert(
            id.clone(),
            SimUser {
                id: id.clone(),
                status: status.to_string(),
                transitioning_to_status: None,
                login: login.to_string(),
                email: email.to_string(),
                first_name: first.to_string(),
                last_name: last.to_string(),
                created: now,
                activated: (status == "ACTIVE").then_some(now),
                status_changed: Some(now),
                last_updated: now,
                remembered_devices: 0,
                transition_done_at: None,
            },
        );
        id
    }

    /// A user by id, or by login (case-insensitive), as `GET /users/{id|login}` finds it.
    pub fn find_user(&self, key: &str) -> Option<&SimUser> {
        self.users.get(key).or_else(|| {
            self.users
                .values()
                .find(|u| u.login.eq_ignore_ascii_case(key))
        })
    }

    pub fn user_mut(&mut self, id: &str) -> Option<&mut SimUser> {
        self.users.get_mut(id)
    }

    pub fn users(&self) -> impl Iterator<Item = &SimUser> {
        self.users.values()
    }

    /// Remove a user and everything it holds. False when unknown.
    pub fn delete_user(&mut self, id: &str) -> bool {
        if self.users.remove(id).is_none() {
            return false;
        }
        self.sessions.retain(|_, s| s.user_id != id);
        self.refresh_tokens.retain(|_, t| t.user_id != id);
        self.grants.retain(|_, g| g.user_id != id);
        true
    }

    /// Start deactivating: `transitioningToStatus: DEPROVISIONED` until `done_at`.
    /// Sessions and refresh tokens end with the deactivation.
    pub fn begin_deactivation(&mut self, id: &str, now: DateTime<Utc>, done_at: DateTime<Utc>) {
        if let Some(user) = self.users.get_mut(id) {
            user.transitioning_to_status = Some("DEPROVISIONED".into());
            user.transition_done_at = Some(done_at);
            user.last_updated = now;
        }
        self.sessions.retain(|_, s| s.user_id != id);
        self.refresh_tokens.retain(|_, t| t.user_id != id);
        self.settle(now);
    }

    pub fn add_session(&mut self, user_id: &str, lifetime: ChronoDuration) -> String {
        let id = object_id("102");
        let now = Utc::now();
        self.sessions.insert(
            id.clone(),
            SimSession {
                id: id.clone(),
                user_id: user_id.to_string(),
                created: now,
                expires_at: now + lifetime,
            },
        );
        id
    }

    pub fn session(&self, id: &str) -> Option<&SimSession> {
        self.sessions.get(id)
    }

    pub fn sessions_of(&self, user_id: &str) -> Vec<SimSession> {
        self.sessions
            .values()
            .filter(|s| s.user_id == user_id)
            .cloned()
            .collect()
    }

    /// End every session of the user; returns how many there were.
    pub fn clear_sessions(&mut self, user_id: &str) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| s.user_id != user_id);
        before - self.sessions.len()
    }

    pub fn add_app(&mut self, client_id: &str, client_name: &str) {
        self.apps.insert(
            client_id.to_string(),
            SimApp {
                client_id: client_id.to_string(),
                client_name: client_name.to_string(),
            },
        );
    }

    pub fn app(&self, client_id: &str) -> Option<&SimApp> {
        self.apps.get(client_id)
    }

    pub fn add_refresh_token(
        &mut self,
        user_id: &str,
        client_id: &str,
        scopes: &[&str],
        lifetime: ChronoDuration,
    ) -> String {
        let id = object_id("oar");
        let now = Utc::now();
        self.refresh_tokens.insert(
            id.clone(),
            SimRefreshToken {
                id: id.clone(),
                user_id: user_id.to_string(),
                client_id: client_id.to_string(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                created: now,
                expires_at: now + lifetime,
            },
        );
        id
    }

    pub fn refresh_tokens_of(&self, user_id: &str) -> Vec<SimRefreshToken> {
        self.refresh_tokens
            .values()
            .filter(|t| t.user_id == user_id)
            .cloned()
            .collect()
    }

    /// Revoke the user's refresh tokens (of one client, or all); returns how many.
    pub fn revoke_refresh_tokens(&mut self, user_id: &str, client_id: Option<&str>) -> usize {
        let before = self.refresh_tokens.len();
        self.refresh_tokens
            .retain(|_, t| !(t.user_id == user_id && client_id.is_none_or(|c| c == t.client_id)));
        before - self.refresh_tokens.len()
    }

    pub fn add_grant(&mut self, user_id: &str, client_id: &str, scope: &str) -> String {
        let id = object_id("oag");
        self.grants.insert(
            id.clone(),
            SimGrant {
                id: id.clone(),
                user_id: user_id.to_string(),
                client_id: client_id.to_string(),
                scope_id: scope.to_string(),
                created: Utc::now(),
            },
        );
        id
    }

    pub fn grants_of(&self, user_id: &str) -> Vec<SimGrant> {
        self.grants
            .values()
            .filter(|g| g.user_id == user_id)
            .cloned()
            .collect()
    }

    /// Client ids for which the user has refresh tokens or grants, sorted.
    pub fn clients_of(&self, user_id: &str) -> Vec<String> {
        let mut clients: Vec<String> = self
            .refresh_tokens
            .values()
            .filter(|t| t.user_id == user_id)
            .map(|t| t.client_id.clone())
            .chain(
                self.grants
                    .values()
                    .filter(|g| g.user_id == user_id)
                    .map(|g| g.client_id.clone()),
            )
            .collect();
        clients.sort();
        clients.dedup();
        clients
    }

    /// Append a LogEvent. Its `uuid` and `published` are filled in when missing;
    /// it becomes visible to `GET /api/v1/logs` at `visible_at`.
    pub fn append_log(&mut self, mut event: Value, visible_at: DateTime<Utc>) -> String {
        if !event.is_object() {
            event = json!({});
        }
        let uuid = match event.get("uuid").and_then(Value::as_str) {
            Some(uuid) if !uuid.is_empty() => uuid.to_string(),
            _ => {
                let uuid = event_uuid();
                event["uuid"] = json!(uuid);
                uuid
            }
        };
        let published = event
            .get("published")
            .and_then(Value::as_str)
            .and_then(super::wire::parse_timestamp)
            .unwrap_or_else(|| {
                let now = Utc::now();
                event["published"] = json!(timestamp(now));
                now
            });
        self.log_seq += 1;
        self.log.insert(
            (published.timestamp_millis(), self.log_seq),
            LogEntry { visible_at, event },
        );
        uuid
    }

    /// Every event, visible or not, in log order.
    pub fn log_events(&self) -> Vec<Value> {
        self.log.values().map(|e| e.event.clone()).collect()
    }

    /// Answer a System Log query as of `now`.
    pub fn query_log(&self, query: &LogQuery, now: DateTime<Utc>) -> LogPage {
        let since = query.since.timestamp_millis();
        let until = query.until.map(|u| u.timestamp_millis());
        let matching = |(key, entry): &(&LogKey, &LogEntry)| {
            entry.visible_at <= now
                && key.0 >= since
                && until.is_none_or(|u| key.0 < u)
                && query
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&entry.event))
                && (query.keywords.is_empty() || {
                    let text = entry.event.to_string().to_lowercase();
                    query
                        .keywords
                        .iter()
                        .all(|k| text.contains(&k.to_lowercase()))
                })
        };
        let mut events = Vec::new();
        let mut last = None;
        let mut more = false;
        let mut take = |key: &LogKey, entry: &LogEntry| {
            if events.len() == query.limit {
                more = true;
                return false;
            }
            events.push(entry.event.clone());
            last = Some(*key);
            true
        };
        if query.descending {
            let iter = self
                .log
                .iter()
                .rev()
                .filter(|(key, _)| query.after.is_none_or(|a| **key < a))
                .filter(|pair| matching(pair));
            for (key, entry) in iter {
                if !take(key, entry) {
                    break;
                }
            }
        } else {
            let iter = self
                .log
                .iter()
                .filter(|(key, _)| query.after.is_none_or(|a| **key > a))
                .filter(|pair| matching(pair));
            for (key, entry) in iter {
                if !take(key, entry) {
                    break;
                }
            }
        }
        LogPage { events, last, more }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, published: &str) -> Value {
        json!({"eventType": event_type, "published": published})
    }

    fn query(limit: usize) -> LogQuery {
        LogQuery {
            since: DateTime::<Utc>::UNIX_EPOCH,
            until: None,
            after: None,
            filter: None,
            keywords: Vec::new(),
            limit,
            descending: false,
        }
    }

    #[test]
    fn log_is_ordered_by_published_and_paged_by_key() {
        let mut world = World::default();
        let now = Utc::now();
        world.append_log(event("b", "2026-01-01T00:00:02.000Z"), now);
        world.append_log(event("a", "2026-01-01T00:00:01.000Z"), now);
        world.append_log(event("c", "2026-01-01T00:00:03.000Z"), now);
        let first = world.query_log(&query(2), now);
        let types: Vec<_> = first
            .events
            .iter()
            .map(|e| e["eventType"].clone())
            .collect();
        assert_eq!(types, vec![json!("a"), json!("b")]);
        assert!(first.more);
        let mut q = query(2);
        q.after = first.last;
        let second = world.query_log(&q, now);
        assert_eq!(second.events.len(), 1);
        assert!(!second.more);
        assert!(second.events[0]["uuid"].is_string());
    }

    #[test]
    fn invisible_events_are_not_served_yet() {
        let mut world = World::default();
        let now = Utc::now();
        world.append_log(
            event("a", "2026-01-01T00:00:01.000Z"),
            now + ChronoDuration::seconds(5),
        );
        assert!(world.query_log(&query(10), now).events.is_empty());
        assert_eq!(
            world
                .query_log(&query(10), now + ChronoDuration::seconds(6))
                .events
                .len(),
            1
        );
    }

    #[test]
    fn deactivation_settles_into_deprovisioned() {
        let mut world = World::default();
        let id = world.add_user("a@x", "a@x", "A", "X", "ACTIVE");
        world.add_session(&id, ChronoDuration::hours(2));
        let now = Utc::now();
        world.begin_deactivation(&id, now, now + ChronoDuration::seconds(1));
        let user = world.find_user(&id).unwrap().clone();
        assert_eq!(user.status, "ACTIVE");
        assert_eq!(
            user.transitioning_to_status.as_deref(),
            Some("DEPROVISIONED")
        );
        assert!(world.sessions_of(&id).is_empty());
        world.settle(now + ChronoDuration::seconds(2));
        let user = world.find_user(&id).unwrap();
        assert_eq!(user.status, "DEPROVISIONED");
        assert!(user.transitioning_to_status.is_none());
    }
}
