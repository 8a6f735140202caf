//! `gitlab.remove_memberships`: list the user's direct memberships
//! (`GET /users/:id/memberships`, administrator, every page; `source_type` `Namespace`
//! for groups, `Project` for projects) and remove each
//! (`DELETE /groups/:id/members/:user_id`, `DELETE /projects/:id/members/:user_id` →
//! 204). Only direct memberships exist to be removed: inherited access goes with the
//! group membership it comes from. Idempotent: 404 (no longer a member, or the group or
//! project is gone) counts as already removed. Verified by listing again: nothing left.
//! GitLab refuses to remove the last owner of a group (403): that fails the step with
//! GitLab's message, so a new owner can be chosen.

use crate::client::{segment, what, GitlabApi};
use crate::user::{self, Found};
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Identity, Verification};
use reqwest::Method;
use serde_json::{json, Value};

/// One direct membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Membership {
    pub source_id: u64,
    pub source_name: String,
    /// `Namespace` (group) or `Project`.
    pub source_type: String,
    pub access_level: u64,
}

impl Membership {
    fn from_json(value: &Value) -> Option<Self> {
        let source_id = match value.get("source_id")? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some(Self {
            source_id,
            source_name: value
                .get("source_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            source_type: value.get("source_type")?.as_str()?.to_string(),
            access_level: value
                .get("access_level")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }

    fn is_group(&self) -> bool {
        self.source_type == "Namespace"
    }

    fn kind(&self) -> &'static str {
        if self.is_group() {
            "group"
        } else {
            "project"
        }
    }

    /// `groups/12/members/7`.
    fn path(&self, user_id: u64) -> String {
        format!(
            "{}/{}/members/{}",
            if self.is_group() {
                "groups"
            } else {
                "projects"
            },
            segment(&self.source_id.to_string()),
            user_id
        )
    }

    fn label(&self) -> String {
        format!(
            "{} `{}` (id {}, {})",
            self.kind(),
            self.source_name,
            self.source_id,
            role(self.access_level)
        )
    }

    fn evidence(&self) -> Value {
        json!({
            "source_type": self.source_type,
            "source_id": self.source_id,
            "source_name": self.source_name,
            "access_level": self.access_level,
        })
    }
}

/// GitLab's role names for access levels.
fn role(level: u64) -> String {
    let name = match level {
        5 => "Minimal Access",
        10 => "Guest",
        15 => "Planner",
        20 => "Reporter",
        30 => "Developer",
        40 => "Maintainer",
        50 => "Owner",
        _ => return format!("access level {level}"),
    };
    format!("{name}, access level {level}")
}

/// The user's direct memberships, every page.
pub(crate) async fn direct(
    api: &GitlabApi,
    user_id: u64,
) -> Result<Vec<Membership>, ConnectorError> {
    let path = format!("users/{}/memberships", segment(&user_id.to_string()));
    let items = api.get_all(&path, &[]).await?;
    items
        .iter()
        .map(|item| {
            Membership::from_json(item).ok_or_else(|| {
                ConnectorError::permanent(format!(
                    "GitLab answered GET /{path} with a membership without source_id and source_type"
                ))
            })
        })
        .collect()
}

/// Remove one membership. `Ok(true)`: removed now; `Ok(false)`: already gone.
async fn remove(
    api: &GitlabApi,
    membership: &Membership,
    user_id: u64,
) -> Result<bool, ConnectorError> {
    let path = membership.path(user_id);
    let response = api.delete(&path).await?;
    match response.status {
        200 | 202 | 204 => Ok(true),
        404 => Ok(false),
        _ => Err(api.failure(&response, &what(&Method::DELETE, &path))),
    }
}

pub(crate) async fn execute(
    api: &GitlabApi,
    identity: &Identity,
) -> Result<ActionOutcome, ConnectorError> {
    let Found { user, found_by } = user::find(api, identity).await?;
    let memberships = direct(api, user.id).await?;
    let mut removed = Vec::new();
    let mut already = Vec::new();
    for membership in &memberships {
        if remove(api, membership, user.id).await? {
            removed.push(membership.evidence());
        } else {
            already.push(membership.evidence());
        }
    }
    let details = json!({
        "user_id": user.id,
        "username": user.username,
        "found_by": found_by,
        "removed": removed,
        "already_removed": already,
    });
    let outcome = if removed.is_empty() {
        ActionOutcome::unchanged(format!(
            "GitLab user {} is a direct member of no group or project",
            user.label()
        ))
    } else {
        let groups = memberships.iter().filter(|m| m.is_group()).count();
        ActionOutcome::changed(format!(
            "removed GitLab user {} from {} group{} and {} project{}",
            user.label(),
            groups,
            if groups == 1 { "" } else { "s" },
            memberships.len() - groups,
            if memberships.len() - groups == 1 {
                ""
            } else {
                "s"
            },
        ))
    };
    Ok(outcome.with_details(details))
}

pub(crate) async fn verify(
    api: &GitlabApi,
    identity: &Identity,
) -> Result<Verification, ConnectorError> {
    let found = user::find(api, identity).await?;
    let left = direct(api, found.user.id).await?;
    let call = format!("GET /users/{}/memberships", found.user.id);
    Ok(if left.is_empty() {
        Verification::gone(format!("{call} lists none"))
    } else {
        Verification::still_present(format!(
            "{call} still lists {}",
            left.iter()
                .map(Membership::label)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

/// The user's direct memberships as holdings.
pub(crate) async fn holdings(
    api: &GitlabApi,
    found: &Found,
) -> Result<Vec<Holding>, ConnectorError> {
    Ok(direct(api, found.user.id)
        .await?
        .iter()
        .map(|m| Holding {
            system: "gitlab".into(),
            kind: format!("{}_membership", m.kind()),
            resource: format!("{}s/{}", m.kind(), m.source_id),
            description: format!(
                "GitLab user {} is a direct member of {}",
                found.user.label(),
                m.label()
            ),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_memberships() {
        let m = Membership::from_json(&serde_json::json!({
            "source_id": "12", "source_name": "acme", "source_type": "Namespace", "access_level": 30
        }))
        .unwrap();
        assert_eq!(m.path(7), "groups/12/members/7");
        assert_eq!(
            m.label(),
            "group `acme` (id 12, Developer, access level 30)"
        );
        let p = Membership::from_json(&serde_json::json!({
            "source_id": 3, "source_name": "api", "source_type": "Project", "access_level": 99
        }))
        .unwrap();
        assert_eq!(p.path(7), "projects/3/members/7");
        assert!(p.label().contains("access level 99"));
        assert!(Membership::from_json(&serde_json::json!({"source_id": 3})).is_none());
    }
}
