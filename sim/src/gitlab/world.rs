//! The state of the simulated GitLab: users, personal access tokens, groups, projects
//! and direct memberships. Pure data and rules; no HTTP.

use rand::distributions::Alphanumeric;
use rand::Rng;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// A user's `state` as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    /// Can sign in and use the API.
    Active,
    /// Blocked by an administrator (`POST /users/:id/block`).
    Blocked,
    /// Blocked by LDAP synchronisation: the API refuses to block or unblock it (403).
    LdapBlocked,
    /// Deactivated (reactivated by signing in again).
    Deactivated,
}

impl UserState {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Blocked => "blocked",
            UserState::LdapBlocked => "ldap_blocked",
            UserState::Deactivated => "deactivated",
        }
    }

    /// Whether the user can no longer sign in or use tokens.
    pub fn is_blocked(self) -> bool {
        matches!(self, UserState::Blocked | UserState::LdapBlocked)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub public_email: Option<String>,
    pub state: UserState,
    pub admin: bool,
    /// Internal and bot users cannot be blocked through the API.
    pub internal: bool,
    pub created_at: SystemTime,
}

#[derive(Debug, Clone)]
pub(crate) struct Pat {
    pub id: u64,
    pub user_id: u64,
    pub name: String,
    pub scopes: Vec<String>,
    pub secret: String,
    pub revoked: bool,
    pub created_at: SystemTime,
    pub last_used_at: Option<SystemTime>,
}

/// Groups (the API's `Namespace` membership source) and projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SourceKind {
    /// A group.
    Group,
    /// A project.
    Project,
}

impl SourceKind {
    /// `source_type` in `GET /users/:id/memberships`.
    pub fn source_type(self) -> &'static str {
        match self {
            SourceKind::Group => "Namespace",
            SourceKind::Project => "Project",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub id: u64,
    pub name: String,
    /// Full path (`acme/platform`).
    pub path: String,
}

/// Why a block was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockError {
    NotFound,
    Forbidden(&'static str),
}

#[derive(Debug, Default)]
pub(crate) struct World {
    next_user: u64,
    next_pat: u64,
    next_group: u64,
    next_project: u64,
    users: BTreeMap<u64, User>,
    pats: BTreeMap<u64, Pat>,
    groups: BTreeMap<u64, Source>,
    projects: BTreeMap<u64, Source>,
    /// (kind, source id, user id) → access level.
    members: BTreeMap<(SourceKind, u64, u64), u32>,
}

/// A new token secret in GitLab's format (`glpat-` and 20 characters).
pub(crate) fn token_secret() -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    format!("glpat-{tail}")
}

impl World {
    pub(crate) fn new() -> Self {
        Self {
            // GitLab's user 1 is the instance's root administrator.
            next_user: 1,
            next_pat: 1,
            next_group: 1,
            next_project: 1,
            ..Self::default()
        }
    }

    pub(crate) fn add_user(&mut self, username: &str, name: &str, email: &str, admin: bool) -> u64 {
        let id = self.next_user;
        self.next_user += 1;
        self.users.insert(
            id,
            User {
                id,
                username: username.to_string(),
                name: name.to_string(),
                email: email.to_string(),
                public_email: None,
                state: UserState::Active,
                admin,
                internal: false,
                created_at: SystemTime::now(),
            },
        );
        id
    }

    pub(crate) fn user(&self, id: u64) -> Option<&User> {
        self.users.get(&id)
    }

    pub(crate) fn user_mut(&mut self, id: u64) -> Option<&mut User> {
        self.users.get_mut(&id)
    }

    pub(crate) fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// `POST /users/:id/block` by `actor`. `Ok(true)`: newly blocked; `Ok(false)`: was
    /// already blocked (GitLab answers 201 `true` either way).
    pub(crate) fn block(&mut self, id: u64, actor: Option<u64>) -> Result<bool, BlockError> {
        let user = self.users.get_mut(&id).ok_or(BlockError::NotFound)?;
        if user.state == UserState::LdapBlocked {
            return Err(BlockError::Forbidden(
                "LDAP blocked users cannot be modified by the API",
            ));
        }
        if actor == Some(id) {
            return Err(BlockError::Forbidden(
                "The API initiating user cannot be blocked by the API",
            ));
        }
        if user.internal {
            return Err(BlockError::Forbidden("An internal user cannot be blocked"));
        }
        if user.state == UserState::Blocked {
            return Ok(false);
        }
        user.state = UserState::Blocked;
        Ok(true)
    }

    pub(crate) fn add_pat(&mut self, user_id: u64, name: &str, scopes: &[&str]) -> Option<Pat> {
        self.users.get(&user_id)?;
        let id = self.next_pat;
        self.next_pat += 1;
        let pat = Pat {
            id,
            user_id,
            name: name.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            secret: token_secret(),
            revoked: false,
            created_at: SystemTime::now(),
            last_used_at: None,
        };
        self.pats.insert(id, pat.clone());
        Some(pat)
    }

    pub(crate) fn pat(&self, id: u64) -> Option<&Pat> {
        self.pats.get(&id)
    }

    pub(crate) fn pat_by_secret_mut(&mut self, secret: &str) -> Option<&mut Pat> {
        self.pats.values_mut().find(|p| p.secret == secret)
    }

    pub(crate) fn pats(&self) -> impl Iterator<Item = &Pat> {
        self.pats.values()
    }

    /// Revoke a token. `None`: no such token; `Some(false)`: already revoked.
    pub(crate) fn revoke_pat(&mut self, id: u64) -> Option<bool> {
        let pat = self.pats.get_mut(&id)?;
        if pat.revoked {
            return Some(false);
        }
        pat.revoked = true;
        Some(true)
    }

    pub(crate) fn add_source(&mut self, kind: SourceKind, path: &str) -> u64 {
        let (counter, map) = match kind {
            SourceKind::Group => (&mut self.next_group, &mut self.groups),
            SourceKind::Project => (&mut self.next_project, &mut self.projects),
        };
        let id = *counter;
        *counter += 1;
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        map.insert(
            id,
            Source {
                id,
                name,
                path: path.to_string(),
            },
        );
        id
    }

    fn sources(&self, kind: SourceKind) -> &BTreeMap<u64, Source> {
        match kind {
            SourceKind::Group => &self.groups,
            SourceKind::Project => &self.projects,
        }
    }

    /// A group or project by numeric id or full path (as `:id` in the API).
    pub(crate) fn find_source(&self, kind: SourceKind, key: &str) -> Option<&Source> {
        let sources = self.sources(kind);
        match key.parse::<u64>() {
            Ok(id) => sources.get(&id),
            Err(_) => sources.values().find(|s| s.path.eq_ignore_ascii_case(key)),
        }
    }

    pub(crate) fn source(&self, kind: SourceKind, id: u64) -> Option<&Source> {
        self.sources(kind).get(&id)
    }

    /// Add (or change) a direct membership. False when the source or user is unknown.
    pub(crate) fn add_member(
        &mut self,
        kind: SourceKind,
        source: u64,
        user: u64,
        level: u32,
    ) -> bool {
        if self.source(kind, source).is_none() || !self.users.contains_key(&user) {
            return false;
        }
        self.members.insert((kind, source, user), level);
        true
    }

    /// Remove a direct membership; false when there was none.
    pub(crate) fn remove_member(&mut self, kind: SourceKind, source: u64, user: u64) -> bool {
        self.members.remove(&(kind, source, user)).is_some()
    }

    /// Direct memberships of a user: (kind, source id, access level), groups first.
    pub(crate) fn memberships_of(&self, user: u64) -> Vec<(SourceKind, u64, u32)> {
        self.members
            .iter()
            .filter(|((_, _, u), _)| *u == user)
            .map(|((kind, source, _), level)| (*kind, *source, *level))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_rules() {
        let mut w = World::new();
        let root = w.add_user("root", "Administrator", "admin@example.com", true);
        let alice = w.add_user("alice", "Alice", "alice@example.com", false);
        assert_eq!(w.block(alice, Some(root)), Ok(true));
        assert_eq!(w.block(alice, Some(root)), Ok(false));
        assert!(matches!(
            w.block(root, Some(root)),
            Err(BlockError::Forbidden(_))
        ));
        assert_eq!(w.block(99, Some(root)), Err(BlockError::NotFound));
        w.user_mut(alice).unwrap().state = UserState::LdapBlocked;
        assert!(matches!(
            w.block(alice, Some(root)),
            Err(BlockError::Forbidden(_))
        ));
    }

    #[test]
    fn memberships_and_tokens() {
        let mut w = World::new();
        let alice = w.add_user("alice", "Alice", "alice@example.com", false);
        let g = w.add_source(SourceKind::Group, "acme");
        let p = w.add_source(SourceKind::Project, "acme/api");
        assert!(w.add_member(SourceKind::Group, g, alice, 30));
        assert!(w.add_member(SourceKind::Project, p, alice, 40));
        assert!(!w.add_member(SourceKind::Project, 99, alice, 40));
        assert_eq!(w.memberships_of(alice).len(), 2);
        assert_eq!(
            w.find_source(SourceKind::Project, "ACME/api").map(|s| s.id),
            Some(p)
        );
        assert!(w.remove_member(SourceKind::Group, g, alice));
        assert!(!w.remove_member(SourceKind::Group, g, alice));
        let pat = w.add_pat(alice, "laptop", &["api"]).unwrap();
        assert!(pat.secret.starts_with("glpat-") && pat.secret.len() == 26);
        assert_eq!(w.revoke_pat(pat.id), Some(true));
        assert_eq!(w.revoke_pat(pat.id), Some(false));
        assert_eq!(w.revoke_pat(99), None);
    }
}
