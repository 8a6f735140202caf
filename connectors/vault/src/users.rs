//! `vault.delete_user`: delete the identity's userpass user, and optionally its entity
//! aliases on an auth mount.
//!
//! **Which users.** The `username` parameter when given; otherwise the names of the
//! identity's entity aliases on that mount (a userpass login creates an alias named like
//! the user) and the email. Userpass usernames are case-insensitive (Vault lower-cases
//! them). Each candidate is read (`GET auth/<mount>/users/<name>`): 200 → `DELETE` → 204;
//! 404 → nothing to delete. Vault answers 204 to a DELETE of a missing user too, so the
//! read is what makes `changed` truthful.
//!
//! **Aliases** (`delete_aliases: true`): `DELETE identity/entity-alias/id/<id>` → 204 for
//! each alias of the identity's entities on the mount (and the alias named `username`,
//! if any). This is the way to cut an OIDC/JWT mount, which has no users — but a later
//! login through it would create a *new* entity, so pair it with the IdP deactivation.
//! Because alias names are how users are found when `username` is not given, the users'
//! deletion is checked (read back 404) before the aliases go.
//!
//! Existing tokens are untouched by either deletion: use `vault.revoke_tokens`.
//! Verified by reading every candidate user back (404) and finding no alias left.

use crate::client::segment;
use crate::entity::{find_soft, mounts, AliasInfo, Mount, Target};
use crate::params::{is_segment_name, resolve_mount, DeleteUserParams};
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Identity, Verification};
use serde_json::json;

/// What the step targets.
pub(crate) struct Plan {
    pub mount: Mount,
    /// Candidate usernames (userpass mounts only).
    pub usernames: Vec<String>,
    /// Aliases to delete (only with `delete_aliases`).
    pub aliases: Vec<AliasInfo>,
    /// Why no entity was found, if none was.
    pub entity_note: Option<String>,
}

fn user_path(mount: &Mount, username: &str) -> String {
    format!("auth/{}users/{}", mount.path, segment(username))
}

fn alias_path(alias: &AliasInfo) -> String {
    format!("identity/entity-alias/id/{}", segment(&alias.id))
}

/// Work out the mount, the candidate usernames and the aliases.
pub(crate) async fn plan(
    target: &Target<'_>,
    identity: &Identity,
    params: &DeleteUserParams,
) -> Result<Plan, ConnectorError> {
    let mount_path =
        resolve_mount(params.mount.as_deref()).map_err(|e| ConnectorError::permanent(e.0))?;
    let wanted = format!("{mount_path}/");
    let all = mounts(target).await?;
    let Some(mount) = all.iter().find(|m| m.path == wanted).cloned() else {
        let paths: Vec<&str> = all.iter().map(|m| m.path.as_str()).collect();
        return Err(ConnectorError::permanent(format!(
            "no auth method is mounted at {wanted} in {} (mounted: {})",
            target.describe(),
            paths.join(", ")
        )));
    };
    let userpass = mount.kind == "userpass";
    if !userpass && !params.delete_aliases {
        return Err(ConnectorError::permanent(format!(
            "auth mount {} in {} is of type {}, which has no users to delete; \
             set `delete_aliases: true` to remove the identity's entity aliases on it",
            mount.path,
            target.describe(),
            mount.kind
        )));
    }
    let (entities, entity_note) = find_soft(target, identity).await?;
    let on_mount: Vec<AliasInfo> = entities
        .iter()
        .flat_map(|e| e.aliases.iter())
        .filter(|a| a.mount_accessor == mount.accessor)
        .cloned()
        .collect();

    let mut usernames: Vec<String> = Vec::new();
    if userpass {
        let mut push = |name: &str| {
            let name = name.trim().to_ascii_lowercase();
            if is_segment_name(&name) && !usernames.contains(&name) {
                usernames.push(name);
            }
        };
        match params.username.as_deref() {
            Some(username) => push(username),
            None => {
                on_mount.iter().for_each(|a| push(&a.name));
                push(&identity.email);
            }
        }
    }

    let mut aliases = Vec::new();
    if params.delete_aliases {
        aliases = on_mount.clone();
        if let Some(username) = params.username.as_deref() {
            aliases.retain(|a| a.name.eq_ignore_ascii_case(username.trim()));
        }
    }
    Ok(Plan {
        mount,
        usernames,
        aliases,
        entity_note,
    })
}

/// The candidates that exist (`GET` answered 200).
async fn existing_users(target: &Target<'_>, plan: &Plan) -> Result<Vec<String>, ConnectorError> {
    let mut found = Vec::new();
    for username in &plan.usernames {
        let path = user_path(&plan.mount, username);
        let response = target.read(&path).await?;
        match response.status {
            200 => found.push(username.clone()),
            404 => {}
            _ => return Err(target.failure(&response, &target.what("GET", &path))),
        }
    }
    Ok(found)
}

/// `vault.delete_user`.
pub(crate) async fn delete(
    target: &Target<'_>,
    identity: &Identity,
    params: &DeleteUserParams,
) -> Result<ActionOutcome, ConnectorError> {
    let plan = plan(target, identity, params).await?;
    let existing = existing_users(target, &plan).await?;
    for username in &existing {
        let path = user_path(&plan.mount, username);
        let response = target.delete(&path).await?;
        if !(200..=299).contains(&response.status) {
            return Err(target.failure(&response, &target.what("DELETE", &path)));
        }
    }
    if !plan.aliases.is_empty() {
        let left = existing_users(target, &plan).await?;
        if !left.is_empty() {
            return Err(ConnectorError::transient(format!(
                "userpass user {} on {} still reads back after DELETE; aliases kept so the next attempt can find it",
                left.join(", "),
                plan.mount.path
            )));
        }
    }
    let mut deleted_aliases = Vec::new();
    for alias in &plan.aliases {
        let path = alias_path(alias);
        let response = target.delete(&path).await?;
        if !(200..=299).contains(&response.status) && response.status != 404 {
            return Err(target.failure(&response, &target.what("DELETE", &path)));
        }
        deleted_aliases.push(json!({"id": alias.id, "name": alias.name}));
    }
    let mut done = Vec::new();
    if !existing.is_empty() {
        done.push(format!(
            "deleted userpass user {} on {}",
            existing.join(", "),
            plan.mount.path
        ));
    }
    if !deleted_aliases.is_empty() {
        done.push(format!(
            "deleted {} entity alias(es) on {}",
            deleted_aliases.len(),
            plan.mount.path
        ));
    }
    let changed = !done.is_empty();
    let summary = if changed {
        format!("{} in {}", done.join("; "), target.describe())
    } else {
        format!(
            "no user {} on {} in {}{}",
            if plan.usernames.is_empty() {
                "or alias".to_string()
            } else {
                plan.usernames.join(", ")
            },
            plan.mount.path,
            target.describe(),
            if plan.aliases.is_empty() && params.delete_aliases {
                " and no entity alias there"
            } else {
                ""
            }
        )
    };
    let outcome = if changed {
        ActionOutcome::changed(summary)
    } else {
        ActionOutcome::unchanged(summary)
    };
    Ok(outcome.with_details(json!({
        "namespace": target.ns,
        "mount": plan.mount.path,
        "mount_type": plan.mount.kind,
        "candidates": plan.usernames,
        "deleted_users": existing,
        "deleted_aliases": deleted_aliases,
        "entity_note": plan.entity_note,
    })))
}

/// The probe: every candidate reads back 404 and no alias is left.
pub(crate) async fn verify(
    target: &Target<'_>,
    identity: &Identity,
    params: &DeleteUserParams,
) -> Result<Verification, ConnectorError> {
    let plan = plan(target, identity, params).await?;
    let left = existing_users(target, &plan).await?;
    let mut problems = Vec::new();
    if !left.is_empty() {
        problems.push(format!(
            "userpass user {} still exists on {}",
            left.join(", "),
            plan.mount.path
        ));
    }
    if !plan.aliases.is_empty() {
        problems.push(format!(
            "entity alias {} still exists on {}",
            plan.aliases
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            plan.mount.path
        ));
    }
    Ok(if problems.is_empty() {
        let reads: Vec<String> = plan
            .usernames
            .iter()
            .map(|u| format!("GET /v1/{} answered 404", user_path(&plan.mount, u)))
            .collect();
        let mut observation = if reads.is_empty() {
            format!("no user candidates on {}", plan.mount.path)
        } else {
            reads.join(", ")
        };
        if params.delete_aliases {
            observation.push_str(&format!(
                "; no entity alias of the identity on {}",
                plan.mount.path
            ));
        }
        Verification::gone(observation)
    } else {
        Verification::still_present(problems.join("; "))
    })
}

/// What the step would still find, as holdings.
pub(crate) async fn holdings(
    target: &Target<'_>,
    identity: &Identity,
    params: &DeleteUserParams,
) -> Result<Vec<Holding>, ConnectorError> {
    let plan = plan(target, identity, params).await?;
    let mut holdings: Vec<Holding> = existing_users(target, &plan)
        .await?
        .into_iter()
        .map(|u| Holding {
            system: "vault".into(),
            kind: "userpass_user".into(),
            resource: target.resource(&format!("auth/{}users/{u}", plan.mount.path)),
            description: format!(
                "userpass user {u} exists on {} in {}",
                plan.mount.path,
                target.describe()
            ),
        })
        .collect();
    holdings.extend(plan.aliases.iter().map(|a| Holding {
        system: "vault".into(),
        kind: "entity_alias".into(),
        resource: target.resource(&format!("identity/entity-alias/id/{}", a.id)),
        description: format!(
            "entity alias {} on {} in {}",
            a.name,
            plan.mount.path,
            target.describe()
        ),
    }));
    Ok(holdings)
}
