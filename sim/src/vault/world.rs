//! The simulated Vault's data, one [`World`] per namespace: auth mounts, identity
//! entities and their aliases, tokens (with parent/child links), leases, and userpass
//! users.
//!
//! Semantics follow Vault where an offboarding depends on them:
//! - revoking a token revokes its children (non-orphan tokens it created) and every lease
//!   it created; a token issued by a login has its own lease `<path>/<hash>`, so
//!   `sys/leases/revoke-prefix/auth/userpass/login/bob` revokes bob's login tokens;
//! - `revoke-prefix` without a trailing `/` first tries the prefix as an exact lease id,
//!   then appends `/` (so `…/login/bob` never touches `…/login/bobby`);
//! - disabling an entity leaves its tokens alive (they merely cannot be used);
//! - userpass usernames are case-insensitive (stored lower-cased).

use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

/// An auth method mount (`userpass/`, `oidc/`, `token/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount path with its trailing slash (`userpass/`).
    pub path: String,
    /// Auth method type (`userpass`, `oidc`, `token`…).
    pub kind: String,
    /// Mount accessor (`auth_userpass_1a2b3c4d`).
    pub accessor: String,
}

/// An identity entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// UUID.
    pub id: String,
    /// Entity name (`entity_1a2b3c4d` when created by a login).
    pub name: String,
    /// Disabled entities' tokens cannot be used (but are not revoked).
    pub disabled: bool,
    /// Entity policies.
    pub policies: Vec<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// Creation time.
    pub created: SystemTime,
    /// Last update time.
    pub updated: SystemTime,
}

/// An entity alias: the link between an auth mount's user and an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// UUID.
    pub id: String,
    /// The entity it belongs to.
    pub canonical_id: String,
    /// The user's name on that mount (userpass username, OIDC `sub` or email…).
    pub name: String,
    /// Accessor of the auth mount.
    pub mount_accessor: String,
    /// Creation time.
    pub created: SystemTime,
}

/// A token. The secret `id` is never rendered by `lookup-accessor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The secret token (`hvs.…`).
    pub id: String,
    /// Its accessor.
    pub accessor: String,
    /// The entity it was issued for (`""` for none, e.g. the root token).
    pub entity_id: String,
    /// `userpass-bob`, `root`, `token`…
    pub display_name: String,
    /// The path that created it (`auth/userpass/login/bob`, `auth/token/create`).
    pub path: String,
    /// Token policies.
    pub policies: Vec<String>,
    /// Metadata (`username` for userpass logins).
    pub meta: BTreeMap<String, String>,
    /// Accessor of the parent token, for child tokens.
    pub parent: Option<String>,
    /// Issue time.
    pub created: SystemTime,
    /// TTL in seconds (0: never expires, as for root tokens).
    pub ttl: u64,
    /// Its own lease id, for tokens issued with a TTL.
    pub lease_id: Option<String>,
}

/// A lease: a dynamic secret, or a token's own lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Lease id (`database/creds/readonly/AbC…`, `auth/userpass/login/bob/h…`).
    pub id: String,
    /// For a secret lease: the token that created it (revoked with it).
    pub token_accessor: Option<String>,
    /// For a token lease: the token it belongs to.
    pub for_token: Option<String>,
    /// Issue time.
    pub issued: SystemTime,
}

/// A userpass user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserpassUser {
    /// Lower-cased username.
    pub username: String,
    /// Password (the simulator's own secret: never rendered).
    pub password: String,
    /// `token_policies`.
    pub policies: Vec<String>,
}

/// What a namespace holds.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// Namespace id (`root` for the root namespace).
    pub namespace_id: String,
    pub(crate) mounts: BTreeMap<String, Mount>,
    pub(crate) entities: BTreeMap<String, Entity>,
    pub(crate) aliases: BTreeMap<String, Alias>,
    pub(crate) tokens: BTreeMap<String, Token>,
    pub(crate) leases: BTreeMap<String, Lease>,
    pub(crate) users: BTreeMap<(String, String), UserpassUser>,
    pub(crate) revoked_tokens: u64,
    pub(crate) revoked_leases: u64,
    /// KV v2 secrets engines.
    pub(crate) kv: super::kv::KvMounts,
}

/// A freshly issued token: its secret and its accessor.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The secret token.
    pub token: String,
    /// The accessor.
    pub accessor: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("accessor", &self.accessor)
            .finish()
    }
}

const ALPHANUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `n` random base62 characters.
pub(crate) fn random_base62(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| ALPHANUM[rng.gen_range(0..ALPHANUM.len())] as char)
        .collect()
}

/// `n` random lower-case hex characters.
pub(crate) fn random_hex(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A random UUID (v4 layout).
pub(crate) fn uuid() -> String {
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

/// Normalise a mount path to `name/`.
pub(crate) fn mount_key(path: &str) -> String {
    format!("{}/", path.trim_matches('/'))
}

impl World {
    /// An empty namespace with the built-in `token/` auth mount.
    pub(crate) fn new(namespace_id: &str) -> Self {
        let mut world = Self {
            namespace_id: namespace_id.to_string(),
            ..Self::default()
        };
        world.add_mount("token", "token");
        world
    }

    /// Mount an auth method (idempotent: an existing mount keeps its accessor).
    pub(crate) fn add_mount(&mut self, path: &str, kind: &str) -> String {
        let key = mount_key(path);
        if let Some(mount) = self.mounts.get(&key) {
            return mount.accessor.clone();
        }
        let accessor = format!("auth_{kind}_{}", random_hex(8));
        self.mounts.insert(
            key.clone(),
            Mount {
                path: key,
                kind: kind.to_string(),
                accessor: accessor.clone(),
            },
        );
        accessor
    }

    pub(crate) fn mount(&self, path: &str) -> Option<&Mount> {
        self.mounts.get(&mount_key(path))
    }

    pub(crate) fn mount_by_accessor(&self, accessor: &str) -> Option<&Mount> {
        self.mounts.values().find(|m| m.accessor == accessor)
    }

    pub(crate) fn mounts(&self) -> impl Iterator<Item = &Mount> {
        self.mounts.values()
    }

    pub(crate) fn add_entity(&mut self, name: &str, policies: &[&str]) -> String {
        let id = uuid();
        let now = SystemTime::now();
        let name = if name.is_empty() {
            format!("entity_{}", random_hex(8))
        } else {
            name.to_string()
        };
        self.entities.insert(
            id.clone(),
            Entity {
                id: id.clone(),
                name,
                disabled: false,
                policies: policies.iter().map(|p| p.to_string()).collect(),
                metadata: BTreeMap::new(),
                created: now,
                updated: now,
            },
        );
        id
    }

    pub(crate) fn entity(&self, id: &str) -> Option<&Entity> {
        self.entities.get(id)
    }

    pub(crate) fn entity_by_name(&self, name: &str) -> Option<&Entity> {
        self.entities.values().find(|e| e.name == name)
    }

    pub(crate) fn entities(&self) -> impl Iterator<Item = &Entity> {
        self.entities.values()
    }

    pub(crate) fn set_disabled(&mut self, id: &str, disabled: bool) -> bool {
        match self.entities.get_mut(id) {
            Some(entity) => {
                entity.disabled = disabled;
                entity.updated = SystemTime::now();
                true
            }
            None => false,
        }
    }

    /// Delete an entity and its aliases. Its tokens stay (as in Vault).
    pub(crate) fn delete_entity(&mut self, id: &str) -> bool {
        let existed = self.entities.remove(id).is_some();
        self.aliases.retain(|_, a| a.canonical_id != id);
        existed
    }

    /// Add an alias on the mount at `mount_path` (created as `kind` if missing).
    pub(crate) fn add_alias(
        &mut self,
        entity_id: &str,
        mount_path: &str,
        kind: &str,
        name: &str,
    ) -> Option<String> {
        self.entities.get(entity_id)?;
        let accessor = self.add_mount(mount_path, kind);
        let name = if kind == "userpass" {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        };
        if let Some(existing) = self.alias_by_name(&name, &accessor) {
            return Some(existing.id.clone());
        }
        let id = uuid();
        self.aliases.insert(
            id.clone(),
            Alias {
                id: id.clone(),
                canonical_id: entity_id.to_string(),
                name,
                mount_accessor: accessor,
                created: SystemTime::now(),
            },
        );
        Some(id)
    }

    pub(crate) fn alias(&self, id: &str) -> Option<&Alias> {
        self.aliases.get(id)
    }

    pub(crate) fn alias_by_name(&self, name: &str, mount_accessor: &str) -> Option<&Alias> {
        self.aliases
            .values()
            .find(|a| a.name == name && a.mount_accessor == mount_accessor)
    }

    pub(crate) fn aliases_of(&self, entity_id: &str) -> Vec<&Alias> {
        self.aliases
            .values()
            .filter(|a| a.canonical_id == entity_id)
            .collect()
    }

    pub(crate) fn aliases(&self) -> impl Iterator<Item = &Alias> {
        self.aliases.values()
    }

    pub(crate) fn delete_alias(&mut self, id: &str) -> bool {
        self.aliases.remove(id).is_some()
    }

    /// Issue a token. `with_lease`: the token gets its own lease `<path>/<hash>` (every
    /// token with a TTL has one in Vault).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn issue_token(
        &mut self,
        entity_id: &str,
        display_name: &str,
        path: &str,
        policies: Vec<String>,
        meta: BTreeMap<String, String>,
        parent: Option<String>,
        ttl: u64,
    ) -> IssuedToken {
        let token = format!("hvs.{}", random_base62(24));
        let accessor = random_base62(24);
        let now = SystemTime::now();
        let lease_id =
            (ttl > 0).then(|| format!("{}/h{}", path.trim_end_matches('/'), random_hex(40)));
        if let Some(lease_id) = &lease_id {
            self.leases.insert(
                lease_id.clone(),
                Lease {
                    id: lease_id.clone(),
                    token_accessor: None,
                    for_token: Some(accessor.clone()),
                    issued: now,
                },
            );
        }
        self.tokens.insert(
            accessor.clone(),
            Token {
                id: token.clone(),
                accessor: accessor.clone(),
                entity_id: entity_id.to_string(),
                display_name: display_name.to_string(),
                path: path.to_string(),
                policies,
                meta,
                parent,
                created: now,
                ttl,
                lease_id,
            },
        );
        IssuedToken { token, accessor }
    }

    pub(crate) fn token(&self, accessor: &str) -> Option<&Token> {
        self.tokens.get(accessor)
    }

    pub(crate) fn token_by_secret(&self, secret: &str) -> Option<&Token> {
        self.tokens.values().find(|t| t.id == secret)
    }

    pub(crate) fn tokens(&self) -> impl Iterator<Item = &Token> {
        self.tokens.values()
    }

    /// Revoke a token, its descendants and every lease they created. Returns how many
    /// tokens were revoked (0: no such accessor).
    pub(crate) fn revoke_token(&mut self, accessor: &str) -> u64 {
        if !self.tokens.contains_key(accessor) {
            return 0;
        }
        let mut doomed = BTreeSet::new();
        let mut stack = vec![accessor.to_string()];
        while let Some(next) = stack.pop() {
            if doomed.insert(next.clone()) {
                stack.extend(
                    self.tokens
                        .values()
                        .filter(|t| t.parent.as_deref() == Some(next.as_str()))
                        .map(|t| t.accessor.clone()),
                );
            }
        }
        for accessor in &doomed {
            self.tokens.remove(accessor);
        }
        let before = self.leases.len();
        self.leases.retain(|_, lease| {
            let owner = lease.token_accessor.as_ref().or(lease.for_token.as_ref());
            !owner.is_some_and(|a| doomed.contains(a))
        });
        self.revoked_leases += (before - self.leases.len()) as u64;
        let n = doomed.len() as u64;
        self.revoked_tokens += n;
        n
    }

    /// Add a secret lease, optionally owned by the token with `token_accessor`.
    pub(crate) fn add_lease(&mut self, lease_id: &str, token_accessor: Option<&str>) {
        self.leases.insert(
            lease_id.to_string(),
            Lease {
                id: lease_id.to_string(),
                token_accessor: token_accessor.map(str::to_string),
                for_token: None,
                issued: SystemTime::now(),
            },
        );
    }

    pub(crate) fn lease(&self, id: &str) -> Option<&Lease> {
        self.leases.get(id)
    }

    /// Revoke one lease (a token lease revokes its token). Returns whether it existed.
    pub(crate) fn revoke_lease(&mut self, id: &str) -> bool {
        let Some(lease) = self.leases.remove(id) else {
            return false;
        };
        self.revoked_leases += 1;
        if let Some(token) = lease.for_token {
            self.revoke_token(&token);
        }
        true
    }

    /// `sys/leases/revoke-prefix`: returns the number of leases revoked directly.
    pub(crate) fn revoke_prefix(&mut self, prefix: &str) -> u64 {
        let mut prefix = prefix.to_string();
        if !prefix.ends_with('/') {
            if self.leases.contains_key(&prefix) {
                return u64::from(self.revoke_lease(&prefix));
            }
            prefix.push('/');
        }
        let ids: Vec<String> = self
            .leases
            .keys()
            .filter(|id| id.starts_with(&prefix))
            .cloned()
            .collect();
        ids.iter().map(|id| u64::from(self.revoke_lease(id))).sum()
    }

    /// `LIST sys/leases/lookup/<prefix>`: the next path segment of every lease under
    /// `prefix` (directories keep their trailing `/`).
    pub(crate) fn list_leases(&self, prefix: &str) -> Vec<String> {
        let mut keys = BTreeSet::new();
        for id in self.leases.keys().filter(|id| id.starts_with(prefix)) {
            let rest = &id[prefix.len()..];
            let key = match rest.find('/') {
                Some(slash) => &rest[..=slash],
                None => rest,
            };
            if !key.is_empty() {
                keys.insert(key.to_string());
            }
        }
        keys.into_iter().collect()
    }

    pub(crate) fn leases_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.leases
            .keys()
            .filter(|id| id.starts_with(prefix))
            .cloned()
            .collect()
    }

    pub(crate) fn add_user(
        &mut self,
        mount: &str,
        username: &str,
        password: &str,
        policies: &[&str],
    ) {
        self.add_mount(mount, "userpass");
        let username = username.to_ascii_lowercase();
        self.users.insert(
            (mount_key(mount), username.clone()),
            UserpassUser {
                username,
                password: password.to_string(),
                policies: policies.iter().map(|p| p.to_string()).collect(),
            },
        );
    }

    pub(crate) fn user(&self, mount: &str, username: &str) -> Option<&UserpassUser> {
        self.users
            .get(&(mount_key(mount), username.to_ascii_lowercase()))
    }

    pub(crate) fn users_of(&self, mount: &str) -> Vec<String> {
        let key = mount_key(mount);
        self.users
            .keys()
            .filter(|(m, _)| *m == key)
            .map(|(_, u)| u.clone())
            .collect()
    }

    pub(crate) fn delete_user(&mut self, mount: &str, username: &str) -> bool {
        self.users
            .remove(&(mount_key(mount), username.to_ascii_lowercase()))
            .is_some()
    }

    /// A userpass login: finds or creates the alias and entity, issues a token with its
    /// lease. `Err` carries Vault's message.
    pub(crate) fn login(
        &mut self,
        mount: &str,
        username: &str,
        password: &str,
    ) -> Result<(IssuedToken, Token), LoginError> {
        let username = username.to_ascii_lowercase();
        let user = self
            .user(mount, &username)
            .filter(|u| u.password == password)
            .cloned()
            .ok_or(LoginError::InvalidCredentials)?;
        let accessor = self.add_mount(mount, "userpass");
        let entity_id = match self.alias_by_name(&username, &accessor) {
            Some(alias) => alias.canonical_id.clone(),
            None => {
                let id = self.add_entity("", &[]);
                self.add_alias(&id, mount, "userpass", &username);
                id
            }
        };
        if self.entity(&entity_id).is_some_and(|e| e.disabled) {
            return Err(LoginError::EntityDisabled);
        }
        let mut policies = user.policies.clone();
        if !policies.iter().any(|p| p == "default") {
            policies.insert(0, "default".into());
        }
        let meta = BTreeMap::from([("username".to_string(), username.clone())]);
        let path = format!("auth/{}login/{username}", mount_key(mount));
        let issued = self.issue_token(
            &entity_id,
            &format!("{}-{username}", mount.trim_matches('/')),
            &path,
            policies,
            meta,
            None,
            2_764_800,
        );
        let token = self
            .token(&issued.accessor)
            .cloned()
            .ok_or(LoginError::InvalidCredentials)?;
        Ok((issued, token))
    }
}

/// Why a userpass login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginError {
    /// Unknown user or wrong password: 400 `invalid username or password`.
    InvalidCredentials,
    /// The entity is disabled: 403 `permission denied`.
    EntityDisabled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_a_token_revokes_children_and_their_leases() {
        let mut w = World::new("root");
        let e = w.add_entity("alice", &[]);
        let parent = w.issue_token(
            &e,
            "t",
            "auth/token/create",
            vec![],
            BTreeMap::new(),
            None,
            60,
        );
        let child = w.issue_token(
            &e,
            "t",
            "auth/token/create",
            vec![],
            BTreeMap::new(),
            Some(parent.accessor.clone()),
            60,
        );
        w.add_lease("database/creds/ro/abc", Some(&child.accessor));
        assert_eq!(w.revoke_token(&parent.accessor), 2);
        assert!(w.token(&child.accessor).is_none());
        assert!(w.lease("database/creds/ro/abc").is_none());
        assert!(w.leases_with_prefix("auth/token/create").is_empty());
        assert_eq!(w.revoke_token(&parent.accessor), 0);
    }

    #[test]
    fn revoke_prefix_is_segment_aware() {
        let mut w = World::new("root");
        w.add_lease("auth/userpass/login/bob/h1", None);
        w.add_lease("auth/userpass/login/bobby/h2", None);
        w.add_lease("database/creds/ro/x1", None);
        assert_eq!(w.revoke_prefix("auth/userpass/login/bob"), 1);
        assert!(w.lease("auth/userpass/login/bobby/h2").is_some());
        assert_eq!(w.revoke_prefix("database/creds/ro/x1"), 1);
        assert_eq!(w.revoke_prefix("database/"), 0);
    }

    #[test]
    fn lease_listing_is_one_level() {
        let mut w = World::new("root");
        w.add_lease("database/creds/ro/x1", None);
        w.add_lease("database/creds/rw/x2", None);
        w.add_lease("database/creds/ro/x3", None);
        assert_eq!(w.list_leases("database/creds/"), vec!["ro/", "rw/"]);
        assert_eq!(w.list_leases("database/creds/ro/"), vec!["x1", "x3"]);
        assert!(w.list_leases("aws/").is_empty());
    }

    #[test]
    fn login_creates_alias_entity_and_leased_token() {
        let mut w = World::new("root");
        w.add_user("userpass", "Bob", "pw", &["dev"]);
        let (issued, token) = w.login("userpass", "bob", "pw").unwrap();
        assert_eq!(token.path, "auth/userpass/login/bob");
        assert_eq!(token.policies, vec!["default", "dev"]);
        let entity = token.entity_id.clone();
        assert_eq!(w.aliases_of(&entity).len(), 1);
        let (_, again) = w.login("userpass", "BOB", "pw").unwrap();
        assert_eq!(again.entity_id, entity, "same alias, same entity");
        assert_eq!(w.leases_with_prefix("auth/userpass/login/bob/").len(), 2);
        assert_eq!(
            w.login("userpass", "bob", "nope").unwrap_err(),
            LoginError::InvalidCredentials
        );
        w.set_disabled(&entity, true);
        assert_eq!(
            w.login("userpass", "bob", "pw").unwrap_err(),
            LoginError::EntityDisabled
        );
        assert!(
            w.token(&issued.accessor).is_some(),
            "disabling revokes nothing"
        );
    }
}
