//! `github.revoke_sso_authorizations`: in an organization with SAML single sign-on
//! (GitHub Enterprise Cloud), revoke every credential (personal access token, SSH key)
//! the person authorized for SSO, so it can no longer reach the org's resources:
//! `GET /orgs/{org}/credential-authorizations?login={login}` (every page), then
//! `DELETE /orgs/{org}/credential-authorizations/{credential_id}` for each.

use crate::client::GithubApi;
use crate::grant::{delete_gone_ok, holding, Held, Who};
use leaver_connector::ConnectorError;

/// Action name.
pub const ACTION: &str = "revoke_sso_authorizations";
/// What the action does.
pub const DESCRIPTION: &str =
    "Revoke the person's SAML SSO credential authorizations (PATs, SSH keys) in a GitHub \
     organization (DELETE /orgs/{org}/credential-authorizations/{credential_id}); verified \
     when GET /orgs/{org}/credential-authorizations?login= (every page) lists none.";

pub(crate) async fn list(api: &GithubApi, who: &Who) -> Result<Vec<Held>, ConnectorError> {
    let login = who.require_login()?;
    let path = format!(
        "/orgs/{}/credential-authorizations?login={login}&per_page=100",
        who.org
    );
    let items = api.get_all(&path).await?;
    Ok(items
        .iter()
        .filter(|c| c["login"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(login)))
        .filter_map(|c| {
            let id = c["credential_id"].as_u64()?;
            let kind = c["credential_type"].as_str().unwrap_or("credential");
            let last_eight = c["token_last_eight"]
                .as_str()
                .map(|t| format!(" ending …{t}"))
                .unwrap_or_default();
            Some(Held {
                id: id.to_string(),
                holding: holding(
                    "sso_authorization",
                    &who.org,
                    format!(
                        "{kind}{last_eight} of {login} authorized for SAML SSO in GitHub org {} (credential {id})",
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
        delete_gone_ok(
            api,
            &format!("/orgs/{}/credential-authorizations/{}", who.org, item.id),
        )
        .await?;
    }
    Ok(())
}
