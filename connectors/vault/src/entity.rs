//! Finding the identity's Vault entities, and `vault.disable_entity`.
//!
//! **Finding.** With `accounts.vault` set, it is the entity id: `GET
//! identity/entity/id/:id` must answer 200 (a 404 is a permanent "not found" error
//! naming the id: a typo must not pass as a revocation). Without it, the entity is
//! discovered: `GET sys/auth` lists the auth mounts, then `POST identity/lookup/entity`
//! is asked for an entity *named* like the identity and, on every mount, for an alias
//! named like it (`alias_name` + `alias_mount_accessor`). The names tried are the email
//! (as given and lower-cased) and the IdP user id (Vault's OIDC role maps `sub` — Okta's
//! user id — to the alias name by default). The local part of the email is deliberately
//! not tried: `alice` on a userpass mount may be another person. Lookup answers 204 when
//! nothing matches (Vault's `nil, nil`).
//!
//! **Disabling.** `POST identity/entity/id/:id {"disabled": true}` → 204. An entity
//! already disabled is left alone (`unchanged`). Disabled entities' tokens cannot be
//! used but are **not** revoked: pair this with `vault.revoke_tokens`. Verified by
//! reading the entity back: `disabled: true`.

use crate::client::{segment, what, ApiResponse, VaultApi};
use http::Method;
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Identity, Verification};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// One namespace of one Vault: where a step acts.
pub(crate) struct Target<'a> {
    pub api: &'a VaultApi,
    /// `None`: the root namespace.
    pub ns: Option<String>,
}

impl Target<'_> {
    fn ns(&self) -> Option<&str> {
        self.ns.as_deref()
    }

    /// "the root namespace" / "namespace team-a".
    pub(crate) fn describe(&self) -> String {
        match &self.ns {
            Some(ns) => format!("namespace {ns}"),
            None => "the root namespace".to_string(),
        }
    }

    /// A holding's resource: the API path, prefixed with the namespace.
    pub(crate) fn resource(&self, path: &str) -> String {
        match &self.ns {
            Some(ns) => format!("{ns}/{path}"),
            None => path.to_string(),
        }
    }

    /// How errors and observations name a call.
    pub(crate) fn what(&self, method: &str, path: &str) -> String {
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        what(&method, path, self.ns())
    }

    pub(crate) async fn read(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.api.read(self.ns(), path).await
    }

    pub(crate) async fn list(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.api.list(self.ns(), path).await
    }

    pub(crate) async fn write(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<ApiResponse, ConnectorError> {
        self.api.write(self.ns(), path, body).await
    }

    pub(crate) async fn put(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.api.put(self.ns(), path).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<ApiResponse, ConnectorError> {
        self.api.delete(self.ns(), path).await
    }

    pub(crate) fn failure(&self, response: &ApiResponse, what: &str) -> ConnectorError {
        self.api.failure(response, what)
    }
}

/// An auth mount from `GET sys/auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// With its trailing slash (`userpass/`).
    pub path: String,
    pub kind: String,
    pub accessor: String,
}

/// An entity alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AliasInfo {
    pub id: String,
    pub name: String,
    pub mount_accessor: String,
    pub mount_type: Option<String>,
}

/// An entity as read from Vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntityInfo {
    pub id: String,
    pub name: String,
    pub disabled: bool,
    pub aliases: Vec<AliasInfo>,
}

impl EntityInfo {
    fn label(&self) -> String {
        if self.name.is_empty() {
            self.id.clone()
        } else {
            format!("{} ({})", self.name, self.id)
        }
    }

    fn path(&self) -> String {
        format!("identity/entity/id/{}", segment(&self.id))
    }
}

/// What discovery found.
pub(crate) enum Found {
    /// At least one entity, and how it was found.
    Entities(Vec<EntityInfo>, String),
    /// None, with the full reason (what was tried).
    Nothing(String),
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn parse_entity(data: &Value) -> Option<EntityInfo> {
    let id = text(data, "id");
    if id.is_empty() {
        return None;
    }
    let aliases = data
        .get("aliases")
        .and_then(Value::as_array)
        .map(|aliases| {
            aliases
                .iter()
                .map(|a| AliasInfo {
                    id: text(a, "id"),
                    name: text(a, "name"),
                    mount_accessor: text(a, "mount_accessor"),
                    mount_type: a
                        .get("mount_type")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
                .filter(|a| !a.id.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Some(EntityInfo {
        id,
        name: text(data, "name"),
        disabled: data
            .get("disabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        aliases,
    })
}

/// `GET sys/auth`: the auth mounts.
pub(crate) async fn mounts(target: &Target<'_>) -> Result<Vec<Mount>, ConnectorError> {
    let path = "sys/auth";
    let response = target.read(path).await?;
    if response.status != 200 {
        return Err(target.failure(&response, &target.what("GET", path)));
    }
    let body = response.json();
    let table = body
        .get("data")
        .and_then(Value::as_object)
        .or_else(|| body.as_object())
        .cloned()
        .unwrap_or_default();
    let mut mounts: Vec<Mount> = table
        .into_iter()
        .filter_map(|(path, m)| {
            let accessor = m.get("accessor")?.as_str()?.to_string();
            Some(Mount {
                path: if path.ends_with('/') {
                    path
                } else {
                    format!("{path}/")
                },
                kind: text(&m, "type"),
                accessor,
            })
        })
        .collect();
    mounts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(mounts)
}

/// `GET identity/entity/id/:id`: `None` on 404.
pub(crate) async fn read_entity(
    target: &Target<'_>,
    id: &str,
) -> Result<Option<EntityInfo>, ConnectorError> {
    let path = format!("identity/entity/id/{}", segment(id));
    let response = target.read(&path).await?;
    match response.status {
        200 => Ok(parse_entity(
            response.json().get("data").unwrap_or(&Value::Null),
        )),
        404 => Ok(None),
        _ => Err(target.failure(&response, &target.what("GET", &path))),
    }
}

/// `POST identity/lookup/entity`: 200 entity, 204 nothing.
async fn lookup(target: &Target<'_>, query: Value) -> Result<Option<EntityInfo>, ConnectorError> {
    let path = "identity/lookup/entity";
    let response = target.write(path, &query).await?;
    match response.status {
        200 => Ok(parse_entity(
            response.json().get("data").unwrap_or(&Value::Null),
        )),
        204 => Ok(None),
        _ => Err(target.failure(&response, &target.what("POST", path))),
    }
}

/// The names discovery tries: the email (as given, lower-cased) and the IdP user id.
pub(crate) fn candidate_names(identity: &Identity) -> Vec<String> {
    let mut names = Vec::new();
    let email = identity.email.trim();
    for name in [
        email.to_string(),
        email.to_ascii_lowercase(),
        identity
            .idp_user_id
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_string(),
    ] {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Find the identity's entities (see the module docs). Transport and permission errors
/// are errors; "nothing found" is [`Found::Nothing`].
pub(crate) async fn find(
    target: &Target<'_>,
    identity: &Identity,
) -> Result<Found, ConnectorError> {
    if let Some(id) = identity.account("vault").map(str::trim) {
        if !crate::params::is_segment_name(id) {
            return Err(ConnectorError::permanent(format!(
                "accounts.vault `{id}` of {} is not a Vault entity id",
                identity.email
            )));
        }
        return Ok(match read_entity(target, id).await? {
            Some(entity) => Found::Entities(vec![entity], "accounts.vault".into()),
            None => Found::Nothing(format!(
                "Vault entity `{id}` (accounts.vault of {}) not found in {} ({} answered 404)",
                identity.email,
                target.describe(),
                target.what("GET", &format!("identity/entity/id/{}", segment(id)))
            )),
        });
    }
    let names = candidate_names(identity);
    let mounts: Vec<Mount> = mounts(target)
        .await?
        .into_iter()
        .filter(|m| m.kind != "token")
        .collect();
    let mut found: Vec<EntityInfo> = Vec::new();
    let mut how = BTreeSet::new();
    let mut add = |entity: EntityInfo, via: String, found: &mut Vec<EntityInfo>| {
        how.insert(via);
        if !found.iter().any(|e| e.id == entity.id) {
            found.push(entity);
        }
    };
    for name in &names {
        if let Some(entity) = lookup(target, json!({ "name": name })).await? {
            add(entity, format!("entity name {name}"), &mut found);
        }
        for mount in &mounts {
            let query = json!({ "alias_name": name, "alias_mount_accessor": mount.accessor });
            if let Some(entity) = lookup(target, query).await? {
                add(
                    entity,
                    format!("alias {name} on {}", mount.path),
                    &mut found,
                );
            }
        }
    }
    if found.is_empty() {
        let paths: Vec<&str> = mounts.iter().map(|m| m.path.as_str()).collect();
        return Ok(Found::Nothing(format!(
            "no Vault entity found for {} in {}: accounts.vault is not set, and no entity is named, \
             nor has an alias named, {} on any auth mount ({})",
            identity.email,
            target.describe(),
            names.join(" or "),
            if paths.is_empty() { "none mounted".to_string() } else { paths.join(", ") }
        )));
    }
    Ok(Found::Entities(
        found,
        how.into_iter().collect::<Vec<_>>().join(", "),
    ))
}

/// [`find`], with "nothing found" as a permanent error.
pub(crate) async fn resolve(
    target: &Target<'_>,
    identity: &Identity,
) -> Result<(Vec<EntityInfo>, String), ConnectorError> {
    match find(target, identity).await? {
        Found::Entities(entities, how) => Ok((entities, how)),
        Found::Nothing(reason) => Err(ConnectorError::permanent(reason).with_status(404)),
    }
}

/// [`find`], with "nothing found" as an empty list (inventory, preview).
pub(crate) async fn find_soft(
    target: &Target<'_>,
    identity: &Identity,
) -> Result<(Vec<EntityInfo>, Option<String>), ConnectorError> {
    match find(target, identity).await? {
        Found::Entities(entities, _) => Ok((entities, None)),
        Found::Nothing(reason) => Ok((Vec::new(), Some(reason))),
    }
}

/// `vault.disable_entity`.
pub(crate) async fn disable(
    target: &Target<'_>,
    identity: &Identity,
) -> Result<ActionOutcome, ConnectorError> {
    let (entities, how) = resolve(target, identity).await?;
    let mut disabled = Vec::new();
    let mut already = Vec::new();
    let mut details = Vec::new();
    for entity in &entities {
        if entity.disabled {
            already.push(entity.label());
            details
                .push(json!({"id": entity.id, "name": entity.name, "result": "already disabled"}));
            continue;
        }
        let path = entity.path();
        let response = target.write(&path, &json!({ "disabled": true })).await?;
        let result = match response.status {
            200..=299 => {
                disabled.push(entity.label());
                "disabled"
            }
            400 if response.error_mentions("entity not found") => {
                already.push(entity.label());
                "no longer exists"
            }
            _ => return Err(target.failure(&response, &target.what("POST", &path))),
        };
        details.push(json!({"id": entity.id, "name": entity.name, "result": result, "status": response.status}));
    }
    let where_ = target.describe();
    let summary = match (disabled.is_empty(), already.is_empty()) {
        (false, true) => format!("disabled Vault entity {} in {where_}", disabled.join(", ")),
        (false, false) => format!(
            "disabled Vault entity {} in {where_} ({} already disabled)",
            disabled.join(", "),
            already.join(", ")
        ),
        _ => format!(
            "Vault entity {} in {where_} was already disabled",
            already.join(", ")
        ),
    };
    let outcome = if disabled.is_empty() {
        ActionOutcome::unchanged(summary)
    } else {
        ActionOutcome::changed(summary)
    };
    Ok(outcome.with_details(json!({
        "namespace": target.ns,
        "found_by": how,
        "entities": details,
    })))
}

/// The probe: every entity reads back `disabled: true`.
pub(crate) async fn verify(
    target: &Target<'_>,
    identity: &Identity,
) -> Result<Verification, ConnectorError> {
    let (entities, _) = resolve(target, identity).await?;
    let enabled: Vec<String> = entities
        .iter()
        .filter(|e| !e.disabled)
        .map(EntityInfo::label)
        .collect();
    let reads: Vec<String> = entities
        .iter()
        .map(|e| target.what("GET", &e.path()))
        .collect();
    Ok(if enabled.is_empty() {
        Verification::gone(format!("{} answered disabled=true", reads.join(", ")))
    } else {
        Verification::still_present(format!(
            "Vault entity {} in {} is still enabled ({} answered disabled=false)",
            enabled.join(", "),
            target.describe(),
            reads.join(", ")
        ))
    })
}

/// An enabled entity, as a holding.
pub(crate) fn holdings(target: &Target<'_>, entities: &[EntityInfo]) -> Vec<Holding> {
    entities
        .iter()
        .filter(|e| !e.disabled)
        .map(|e| Holding {
            system: "vault".into(),
            kind: "entity".into(),
            resource: target.resource(&format!("identity/entity/id/{}", e.id)),
            description: format!(
                "Vault entity {} in {} is enabled (aliases: {})",
                e.label(),
                target.describe(),
                if e.aliases.is_empty() {
                    "none".to_string()
                } else {
                    e.aliases
                        .iter()
                        .map(|a| a.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tried() {
        let mut id = Identity::new("Alice@Example.com");
        id.idp_user_id = Some("00u1abc".into());
        assert_eq!(
            candidate_names(&id),
            vec!["Alice@Example.com", "alice@example.com", "00u1abc"]
        );
        assert_eq!(candidate_names(&Identity::new("a@x")), vec!["a@x"]);
    }

    #[test]
    fn parses_vaults_entity() {
        let data = json!({"id": "e1", "name": "alice", "disabled": true,
            "aliases": [{"id": "a1", "name": "alice@x", "mount_accessor": "auth_oidc_1", "mount_type": "oidc"}]});
        let e = parse_entity(&data).unwrap();
        assert!(e.disabled);
        assert_eq!(e.aliases[0].mount_type.as_deref(), Some("oidc"));
        assert!(parse_entity(&json!({})).is_none());
    }
}
