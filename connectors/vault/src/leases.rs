//! `vault.revoke_leases`: revoke leases (dynamic secrets, and login tokens by their
//! path) by prefix.
//!
//! Each prefix of the step (after placeholder expansion) is revoked with `PUT
//! sys/leases/revoke-prefix/<prefix>` → 204. Vault first treats a prefix without a
//! trailing `/` as an exact lease id, else appends `/` — so
//! `auth/userpass/login/bob` revokes bob's login tokens and never `bobby`'s. The call
//! answers 204 whether or not anything matched, so the action looks first (`LIST
//! sys/leases/lookup/<prefix>/`, and `PUT sys/leases/lookup {lease_id}` for a prefix that
//! may be an exact lease id) to report `changed` truthfully, and verifies the same way:
//! the listing answers 404 (nothing left) and the exact id answers 400 `invalid lease`.
//!
//! Placeholders: `{email}`; `{entity_id}` (each of the identity's entities);
//! `{username}` (each name of the entities' aliases on userpass mounts). A placeholder
//! with no value is a permanent error — a prefix must never silently widen.

use crate::client::segment;
use crate::entity::{resolve, Target};
use crate::params::is_segment_name;
use crate::tokens::keys;
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Identity, Verification};
use serde_json::json;
use std::collections::BTreeSet;

/// Listing entries kept in an observation.
const SHOW: usize = 5;

/// The values placeholders expand to.
#[derive(Debug, Default, Clone)]
pub(crate) struct Values {
    pub email: String,
    pub entity_ids: Vec<String>,
    pub usernames: Vec<String>,
}

/// Whether a prefix needs the entities resolved.
fn needs_entities(prefixes: &[String]) -> bool {
    prefixes
        .iter()
        .any(|p| p.contains("{username}") || p.contains("{entity_id}"))
}

/// Resolve placeholder values for the prefixes of a step.
pub(crate) async fn values(
    target: &Target<'_>,
    identity: &Identity,
    prefixes: &[String],
) -> Result<Values, ConnectorError> {
    let mut values = Values {
        email: identity.email.trim().to_string(),
        ..Values::default()
    };
    if needs_entities(prefixes) {
        let (entities, _) = resolve(target, identity).await?;
        let mut usernames = BTreeSet::new();
        for entity in &entities {
            values.entity_ids.push(entity.id.clone());
            for alias in &entity.aliases {
                if alias.mount_type.as_deref() == Some("userpass") {
                    usernames.insert(alias.name.clone());
                }
            }
        }
        values.usernames = usernames.into_iter().collect();
    }
    Ok(values)
}

/// Expand the placeholders of one prefix into every combination of values.
pub(crate) fn expand(
    prefix: &str,
    values: &Values,
    identity: &Identity,
) -> Result<Vec<String>, ConnectorError> {
    let mut results = vec![prefix.trim().to_string()];
    let sets: [(&str, Vec<String>, &str); 3] = [
        ("{email}", vec![values.email.clone()], "email"),
        ("{entity_id}", values.entity_ids.clone(), "Vault entity"),
        (
            "{username}",
            values.usernames.clone(),
            "userpass alias on its Vault entity",
        ),
    ];
    for (placeholder, set, what) in sets {
        if !prefix.contains(placeholder) {
            continue;
        }
        let set: Vec<String> = set.into_iter().filter(|v| !v.is_empty()).collect();
        if set.is_empty() {
            return Err(ConnectorError::permanent(format!(
                "lease prefix `{prefix}` needs {placeholder}, but {} has no {what}",
                identity.email
            )));
        }
        if let Some(bad) = set.iter().find(|v| !is_segment_name(v)) {
            return Err(ConnectorError::permanent(format!(
                "lease prefix `{prefix}`: value `{bad}` for {placeholder} cannot be used in a lease path"
            )));
        }
        results = results
            .into_iter()
            .flat_map(|r| {
                set.iter()
                    .map(move |v| r.replace(placeholder, v))
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    Ok(results)
}

/// Every expanded prefix of a step.
pub(crate) async fn expanded(
    target: &Target<'_>,
    identity: &Identity,
    prefixes: &[String],
) -> Result<Vec<String>, ConnectorError> {
    let values = values(target, identity, prefixes).await?;
    let mut all = BTreeSet::new();
    for prefix in prefixes {
        all.extend(expand(prefix, &values, identity)?);
    }
    Ok(all.into_iter().collect())
}

fn encode(prefix: &str) -> String {
    prefix.split('/').map(segment).collect::<Vec<_>>().join("/")
}

/// What is still under `prefix`: listing entries (`<dir>/<key>`) and the exact lease.
pub(crate) async fn present(
    target: &Target<'_>,
    prefix: &str,
) -> Result<Vec<String>, ConnectorError> {
    let dir = if prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let path = format!("sys/leases/lookup/{}", encode(&dir));
    let response = target.list(&path).await?;
    let mut found: Vec<String> = match response.status {
        200 => keys(&response)
            .into_iter()
            .map(|k| format!("{dir}{k}"))
            .collect(),
        404 => Vec::new(),
        _ => return Err(target.failure(&response, &target.what("LIST", &path))),
    };
    if !prefix.ends_with('/') {
        let path = "sys/leases/lookup";
        let response = target.write(path, &json!({ "lease_id": prefix })).await?;
        match response.status {
            200 => found.push(prefix.to_string()),
            400 => {}
            _ => return Err(target.failure(&response, &target.what("PUT", path))),
        }
    }
    Ok(found)
}

/// `vault.revoke_leases`.
pub(crate) async fn revoke(
    target: &Target<'_>,
    identity: &Identity,
    prefixes: &[String],
) -> Result<ActionOutcome, ConnectorError> {
    let expanded = expanded(target, identity, prefixes).await?;
    let mut details = Vec::new();
    let mut revoked = Vec::new();
    for prefix in &expanded {
        let before = present(target, prefix).await?;
        let path = format!("sys/leases/revoke-prefix/{}", encode(prefix));
        let response = target.put(&path).await?;
        if !(200..=299).contains(&response.status) {
            return Err(target.failure(&response, &target.what("PUT", &path)));
        }
        if !before.is_empty() {
            revoked.push(prefix.clone());
        }
        details.push(json!({
            "prefix": prefix,
            "found_before": before.len(),
            "status": response.status,
        }));
    }
    let summary = if revoked.is_empty() {
        format!(
            "no Vault lease under {} in {}",
            expanded.join(", "),
            target.describe()
        )
    } else {
        format!(
            "revoked Vault leases under {} in {}",
            revoked.join(", "),
            target.describe()
        )
    };
    let outcome = if revoked.is_empty() {
        ActionOutcome::unchanged(summary)
    } else {
        ActionOutcome::changed(summary)
    };
    Ok(outcome.with_details(json!({ "namespace": target.ns, "prefixes": details })))
}

/// The probe: nothing left under any prefix.
pub(crate) async fn verify(
    target: &Target<'_>,
    identity: &Identity,
    prefixes: &[String],
) -> Result<Verification, ConnectorError> {
    let expanded = expanded(target, identity, prefixes).await?;
    let mut left = Vec::new();
    for prefix in &expanded {
        let found = present(target, prefix).await?;
        if !found.is_empty() {
            let shown: Vec<&str> = found.iter().take(SHOW).map(String::as_str).collect();
            left.push(format!("{prefix}: {}", shown.join(", ")));
        }
    }
    Ok(if left.is_empty() {
        Verification::gone(format!(
            "LIST /v1/sys/leases/lookup/… answered 404 for {} in {}",
            expanded.join(", "),
            target.describe()
        ))
    } else {
        Verification::still_present(format!("leases remain: {}", left.join("; ")))
    })
}

/// Leases still under the prefixes, as holdings (one per prefix).
pub(crate) async fn holdings(
    target: &Target<'_>,
    identity: &Identity,
    prefixes: &[String],
) -> Result<Vec<Holding>, ConnectorError> {
    let expanded = expanded(target, identity, prefixes).await?;
    let mut holdings = Vec::new();
    for prefix in expanded {
        let found = present(target, &prefix).await?;
        if !found.is_empty() {
            holdings.push(Holding {
                system: "vault".into(),
                kind: "lease".into(),
                resource: target.resource(&prefix),
                description: format!(
                    "{} lease entr{} under {prefix} in {}",
                    found.len(),
                    if found.len() == 1 { "y" } else { "ies" },
                    target.describe()
                ),
            });
        }
    }
    Ok(holdings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let id = Identity::new("bob@example.com");
        let values = Values {
            email: "bob@example.com".into(),
            entity_ids: vec!["e1".into()],
            usernames: vec!["bob".into(), "rob".into()],
        };
        assert_eq!(
            expand("auth/userpass/login/{username}", &values, &id).unwrap(),
            vec!["auth/userpass/login/bob", "auth/userpass/login/rob"]
        );
        assert_eq!(
            expand("x/{entity_id}/{email}", &values, &id).unwrap(),
            vec!["x/e1/bob@example.com"]
        );
        assert_eq!(
            expand("database/creds/ro/", &values, &id).unwrap(),
            vec!["database/creds/ro/"]
        );
        let none = Values {
            email: "bob@example.com".into(),
            ..Values::default()
        };
        let e = expand("auth/userpass/login/{username}", &none, &id).unwrap_err();
        assert!(!e.is_transient());
        assert!(e.message.contains("has no userpass alias"), "{}", e.message);
        let slashy = Values {
            usernames: vec!["a/b".into()],
            ..values
        };
        assert!(expand("auth/userpass/login/{username}", &slashy, &id).is_err());
    }
}
