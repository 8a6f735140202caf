//! `vault.revoke_tokens`: revoke every token issued to the identity's entities.
//!
//! Vault cannot list tokens by entity, so the action lists every accessor (`LIST
//! auth/token/accessors`, which needs `sudo`), looks each one up (`POST
//! auth/token/lookup-accessor`, eight at a time) and revokes those whose `entity_id` is
//! one of the identity's (`POST auth/token/revoke-accessor` → 204; Vault revokes the
//! token's children and leases with it). Idempotent: an accessor that vanished between
//! the listing and the revocation (expired, or revoked with its parent) answers 400
//! `invalid accessor`, which counts as already revoked. Verified by listing and looking
//! up again: no live token of the entities is left.
//!
//! Cost: one lookup per live token in the namespace. Accessors are not secrets (they
//! cannot be used to authenticate), but the evidence names a token only by its path,
//! display name and the last four characters of its accessor.

use crate::client::ApiResponse;
use crate::entity::{resolve, EntityInfo, Target};
use futures::stream::{self, StreamExt, TryStreamExt};
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Identity, Verification};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Concurrent lookups.
const LOOKUP_CONCURRENCY: usize = 8;

/// A live token, as `lookup-accessor` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenInfo {
    pub accessor: String,
    pub entity_id: String,
    pub display_name: String,
    pub path: String,
    pub policies: Vec<String>,
    pub issue_time: String,
}

impl TokenInfo {
    fn hint(&self) -> String {
        let tail: String = self
            .accessor
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }

    fn label(&self) -> String {
        format!(
            "{} via {} (accessor {})",
            if self.display_name.is_empty() {
                "token"
            } else {
                &self.display_name
            },
            if self.path.is_empty() {
                "?"
            } else {
                &self.path
            },
            self.hint()
        )
    }

    fn evidence(&self) -> Value {
        json!({
            "accessor_hint": self.hint(),
            "display_name": self.display_name,
            "path": self.path,
            "policies": self.policies,
            "issue_time": self.issue_time,
            "entity_id": self.entity_id,
        })
    }
}

const ACCESSORS: &str = "auth/token/accessors";

/// `LIST auth/token/accessors` (404: none).
async fn accessors(target: &Target<'_>) -> Result<Vec<String>, ConnectorError> {
    let response = target.list(ACCESSORS).await?;
    match response.status {
        200 => Ok(keys(&response)),
        404 => Ok(Vec::new()),
        _ => Err(target.failure(&response, &target.what("LIST", ACCESSORS))),
    }
}

pub(crate) fn keys(response: &ApiResponse) -> Vec<String> {
    response
        .json()
        .pointer("/data/keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `lookup-accessor`: `None` when the accessor is no longer valid.
async fn lookup(
    target: &Target<'_>,
    accessor: String,
) -> Result<Option<TokenInfo>, ConnectorError> {
    let path = "auth/token/lookup-accessor";
    let response = target.write(path, &json!({ "accessor": accessor })).await?;
    match response.status {
        200 => {
            let data = response.json().get("data").cloned().unwrap_or_default();
            let text = |k: &str| {
                data.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            Ok(Some(TokenInfo {
                accessor,
                entity_id: text("entity_id"),
                display_name: text("display_name"),
                path: text("path"),
                policies: data
                    .get("policies")
                    .and_then(Value::as_array)
                    .map(|p| {
                        p.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                issue_time: text("issue_time"),
            }))
        }
        400 if response.error_mentions("invalid accessor") => Ok(None),
        _ => Err(target.failure(&response, &target.what("POST", path))),
    }
}

/// Live tokens of `entity_ids`, and how many tokens were examined.
pub(crate) async fn tokens_of(
    target: &Target<'_>,
    entity_ids: &BTreeSet<String>,
) -> Result<(usize, Vec<TokenInfo>), ConnectorError> {
    let all = accessors(target).await?;
    let total = all.len();
    let found: Vec<Option<TokenInfo>> = stream::iter(all)
        .map(|accessor| lookup(target, accessor))
        .buffer_unordered(LOOKUP_CONCURRENCY)
        .try_collect()
        .await?;
    let mut tokens: Vec<TokenInfo> = found
        .into_iter()
        .flatten()
        .filter(|t| !t.entity_id.is_empty() && entity_ids.contains(&t.entity_id))
        .collect();
    tokens.sort_by(|a, b| {
        a.issue_time
            .cmp(&b.issue_time)
            .then(a.accessor.cmp(&b.accessor))
    });
    Ok((total, tokens))
}

fn ids(entities: &[EntityInfo]) -> BTreeSet<String> {
    entities.iter().map(|e| e.id.clone()).collect()
}

/// `vault.revoke_tokens`.
pub(crate) async fn revoke(
    target: &Target<'_>,
    identity: &Identity,
) -> Result<ActionOutcome, ConnectorError> {
    let (entities, how) = resolve(target, identity).await?;
    let (examined, tokens) = tokens_of(target, &ids(&entities)).await?;
    let path = "auth/token/revoke-accessor";
    let mut revoked = Vec::new();
    let mut gone = Vec::new();
    for token in &tokens {
        let response = target
            .write(path, &json!({ "accessor": token.accessor }))
            .await?;
        match response.status {
            200..=299 => revoked.push(token.evidence()),
            400 if response.error_mentions("invalid accessor") => gone.push(token.evidence()),
            _ => return Err(target.failure(&response, &target.what("POST", path))),
        }
    }
    let names: Vec<String> = entities.iter().map(|e| e.name.clone()).collect();
    let summary = if revoked.is_empty() {
        format!(
            "no live Vault token of entity {} in {} ({examined} tokens examined)",
            names.join(", "),
            target.describe()
        )
    } else {
        format!(
            "revoked {} Vault token(s) of entity {} in {} (children and leases with them)",
            revoked.len(),
            names.join(", "),
            target.describe()
        )
    };
    let outcome = if revoked.is_empty() {
        ActionOutcome::unchanged(summary)
    } else {
        ActionOutcome::changed(summary)
    };
    Ok(outcome.with_details(json!({
        "namespace": target.ns,
        "found_by": how,
        "entities": entities.iter().map(|e| &e.id).collect::<Vec<_>>(),
        "tokens_examined": examined,
        "revoked": revoked,
        "already_gone": gone,
    })))
}

/// The probe: no live token of the entities is left.
pub(crate) async fn verify(
    target: &Target<'_>,
    identity: &Identity,
) -> Result<Verification, ConnectorError> {
    let (entities, _) = resolve(target, identity).await?;
    let (examined, tokens) = tokens_of(target, &ids(&entities)).await?;
    let listing = target.what("LIST", ACCESSORS);
    Ok(if tokens.is_empty() {
        Verification::gone(format!(
            "{listing}: {examined} live token(s), none of entity {}",
            entities
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else {
        Verification::still_present(format!(
            "{listing}: {} live token(s) of the identity remain: {}",
            tokens.len(),
            tokens
                .iter()
                .map(TokenInfo::label)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

/// Live tokens, as holdings.
pub(crate) fn holdings(target: &Target<'_>, tokens: &[TokenInfo]) -> Vec<Holding> {
    tokens
        .iter()
        .map(|t| Holding {
            system: "vault".into(),
            kind: "token".into(),
            resource: target.resource(&t.path),
            description: format!(
                "live Vault token {} issued {} with policies [{}]{}",
                t.label(),
                if t.issue_time.is_empty() {
                    "?"
                } else {
                    &t.issue_time
                },
                t.policies.join(", "),
                if target.ns.is_some() {
                    format!(" in {}", target.describe())
                } else {
                    String::new()
                }
            ),
        })
        .collect()
}
