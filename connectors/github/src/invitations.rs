//! `github.cancel_invitations`: cancel every pending invitation of the person to an
//! organization, matched by login or by email (an invitation by email names no
//! account). `GET /orgs/{org}/invitations` (every page) lists pending invitations only —
//! failed ones (expired, bounced) cannot be accepted and are not listed there; each is
//! cancelled with `DELETE /orgs/{org}/invitations/{invitation_id}`.

use crate::client::GithubApi;
use crate::grant::{delete_gone_ok, holding, Held, Who};
use leaver_connector::ConnectorError;

/// Action name.
pub const ACTION: &str = "cancel_invitations";
/// What the action does.
pub const DESCRIPTION: &str =
    "Cancel the person's pending invitations to a GitHub organization, matched by login \
     or email (DELETE /orgs/{org}/invitations/{invitation_id}); verified when \
     GET /orgs/{org}/invitations (every page) lists none of them.";

fn matches(item: &serde_json::Value, who: &Who) -> bool {
    let same = |field: &str, value: Option<&str>| match (item[field].as_str(), value) {
        (Some(a), Some(b)) => !b.is_empty() && a.trim().eq_ignore_ascii_case(b.trim()),
        _ => false,
    };
    same("login", who.login.as_deref()) || same("email", Some(&who.email))
}

pub(crate) async fn list(api: &GithubApi, who: &Who) -> Result<Vec<Held>, ConnectorError> {
    let path = format!("/orgs/{}/invitations?per_page=100", who.org);
    let items = api.get_all(&path).await?;
    Ok(items
        .iter()
        .filter(|item| item["failed_at"].is_null() && matches(item, who))
        .filter_map(|item| {
            let id = item["id"].as_u64()?;
            let invitee = item["login"]
                .as_str()
                .or(item["email"].as_str())
                .unwrap_or("?");
            let role = item["role"].as_str().unwrap_or("member");
            Some(Held {
                id: id.to_string(),
                holding: holding(
                    "org_invitation",
                    &who.org,
                    format!(
                        "pending invitation {id} of {invitee} (role {role}) to GitHub org {}",
                        who.org
                    ),
                ),
            })
        })
        .collect())
}

pub(crate) async fn revoke(
    api: &GithubApi,
    who: &Who,
    held: &[Held],
) -> Result<(), ConnectorError> {
    for item in held {
        delete_gone_ok(api, &format!("/orgs/{}/invitations/{}", who.org, item.id)).await?;
    }
    Ok(())
}
