//! `github.revoke_fine_grained_tokens`: revoke the access of the person's fine-grained
//! personal access tokens to an organization's resources:
//! `GET /orgs/{org}/personal-access-tokens?owner[]={login}` (every page), then
//! `POST /orgs/{org}/personal-access-tokens {"action": "revoke", "pat_ids": […]}` (202,
//! at most 100 ids per call).
//!
//! **GitHub allows these endpoints to GitHub Apps only.** With token authentication
//! GitHub answers 403 `Resource not accessible by personal access token`; the step then
//! fails permanently with that message and what to configure — it is never skipped as if
//! there were nothing to revoke. Revocation does not touch SSH keys the token created,
//! and the token can still read public resources; classic PATs cannot be revoked by the
//! organization at all.

use crate::client::GithubApi;
use crate::grant::{holding, Held, Who};
use leaver_connector::ConnectorError;

/// Action name.
pub const ACTION: &str = "revoke_fine_grained_tokens";
/// What the action does.
pub const DESCRIPTION: &str =
    "Revoke the access of the person's fine-grained personal access tokens to a GitHub \
     organization (POST /orgs/{org}/personal-access-tokens {action: revoke}); needs GitHub \
     App authentication (GitHub refuses these endpoints to tokens, and the step fails); \
     verified when GET /orgs/{org}/personal-access-tokens?owner[]= lists none.";

/// Most ids one revoke call may carry.
const MAX_IDS_PER_CALL: usize = 100;

/// Why the step cannot work with token authentication, appended to GitHub's 403.
pub const APP_ONLY: &str = "GitHub allows the fine-grained personal access token endpoints \
     to GitHub Apps only: configure connectors.github.app_id, installation_id and \
     private_key (an App with the organization permission \"Personal access tokens: \
     write\") instead of a token";

fn app_only_error(api: &GithubApi, mut error: ConnectorError) -> ConnectorError {
    if error.status == Some(403) && !api.is_app() && !error.is_transient() {
        error.message = format!("{}; {APP_ONLY}", error.message);
    }
    error
}

pub(crate) async fn list(api: &GithubApi, who: &Who) -> Result<Vec<Held>, ConnectorError> {
    let login = who.require_login()?;
    let path = format!(
        "/orgs/{}/personal-access-tokens?owner%5B%5D={login}&per_page=100",
        who.org
    );
    let items = api
        .get_all(&path)
        .await
        .map_err(|e| app_only_error(api, e))?;
    Ok(items
        .iter()
        .filter(|t| {
            t["owner"]["login"]
                .as_str()
                .is_some_and(|l| l.eq_ignore_ascii_case(login))
        })
        .filter_map(|t| {
            let id = t["id"].as_u64()?;
            let name = t["token_name"].as_str().unwrap_or("unnamed");
            Some(Held {
                id: id.to_string(),
                holding: holding(
                    "fine_grained_token",
                    &who.org,
                    format!(
                        "fine-grained token \"{name}\" of {login} has access to GitHub org {} (grant {id})",
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
    let path = format!("/orgs/{}/personal-access-tokens", who.org);
    let ids: Vec<u64> = held.iter().filter_map(|h| h.id.parse().ok()).collect();
    for chunk in ids.chunks(MAX_IDS_PER_CALL) {
        let body = serde_json::json!({"action": "revoke", "pat_ids": chunk});
        let response = api.post(&path, &body).await?;
        if !(200..=299).contains(&response.status) {
            return Err(app_only_error(
                api,
                api.failure(&response, &format!("POST {path}")),
            ));
        }
    }
    Ok(())
}

/// What the residual sweep reports when it cannot look (token authentication): the
/// tokens' state is unknown, which is not the same as none.
pub(crate) fn unknown_with_token(who: &Who) -> leaver_connector::Holding {
    holding(
        "fine_grained_token",
        &who.org,
        format!(
            "fine-grained tokens of {} in GitHub org {} could not be listed: {APP_ONLY}",
            who.name(),
            who.org
        ),
    )
}
