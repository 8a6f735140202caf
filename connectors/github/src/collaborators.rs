//! `github.remove_outside_collaborator`: remove a person's outside-collaborator access
//! to every repository of an organization with one call,
//! `DELETE /orgs/{org}/outside_collaborators/{username}` (GitHub answers 204 whether or
//! not the user was a collaborator, 422 for an org member — that is
//! `github.remove_org_member`'s job). Execute and verify list
//! `GET /orgs/{org}/outside_collaborators` (every page).

use crate::client::GithubApi;
use crate::grant::{holding, Held, Who};
use leaver_connector::ConnectorError;

/// Action name.
pub const ACTION: &str = "remove_outside_collaborator";
/// What the action does.
pub const DESCRIPTION: &str =
    "Remove the person as an outside collaborator from every repository of a GitHub \
     organization (DELETE /orgs/{org}/outside_collaborators/{username}); verified when \
     GET /orgs/{org}/outside_collaborators (every page) no longer lists them.";

pub(crate) async fn list(api: &GithubApi, who: &Who) -> Result<Vec<Held>, ConnectorError> {
    let login = who.require_login()?;
    let path = format!("/orgs/{}/outside_collaborators?per_page=100", who.org);
    let items = api.get_all(&path).await?;
    Ok(items
        .iter()
        .filter(|u| {
            u["login"]
                .as_str()
                .is_some_and(|l| l.eq_ignore_ascii_case(login))
        })
        .map(|_| Held {
            id: login.to_string(),
            holding: holding(
                "outside_collaborator",
                &who.org,
                format!(
                    "{login} is an outside collaborator on repositories of GitHub org {}",
                    who.org
                ),
            ),
        })
        .collect())
}

pub(crate) async fn revoke(api: &GithubApi, who: &Who) -> Result<(), ConnectorError> {
    let login = who.require_login()?;
    crate::grant::delete_gone_ok(
        api,
        &format!("/orgs/{}/outside_collaborators/{login}", who.org),
    )
    .await
}
