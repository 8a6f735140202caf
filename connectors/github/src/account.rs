//! Which GitHub account an identity is, in this order:
//!
//! 1. `identity.accounts.github` (the request or Leaver's mapping table);
//! 2. the IdP profile attribute carried in `identity.accounts.<login_attribute>`
//!    (`githubUsername` unless configured);
//! 3. the organization's SAML SSO external identities (GraphQL
//!    `organization.samlIdentityProvider.externalIdentities`, every page), matching the
//!    identity's email to `samlIdentity.nameId` case-insensitively.
//!
//! A login found through SAML is remembered for the connector's lifetime, so that the
//! verification after a removal (which may unlink the identity) finds the same account.

use crate::client::GithubApi;
use crate::membership::is_github_name;
use leaver_connector::{ConnectorError, Identity};
use std::collections::HashMap;
use std::sync::Mutex;

/// Where a login came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginSource {
    /// `accounts.github`.
    Accounts,
    /// The IdP profile attribute.
    ProfileAttribute,
    /// The org's SAML external identities.
    Saml,
}

/// Most pages of external identities read (100 each).
const MAX_SAML_PAGES: usize = 500;

const SAML_QUERY: &str = "query($org: String!, $after: String) { \
    organization(login: $org) { samlIdentityProvider { \
    externalIdentities(first: 100, after: $after) { \
    pageInfo { hasNextPage endCursor } \
    edges { node { samlIdentity { nameId } user { login } } } } } } }";

/// Finds and remembers logins.
#[derive(Debug)]
pub(crate) struct Discovery {
    login_attribute: String,
    saml_cache: Mutex<HashMap<(String, String), String>>,
}

fn checked(login: &str, key: &str, identity: &Identity) -> Result<String, ConnectorError> {
    let login = login.trim();
    if is_github_name(login) {
        Ok(login.to_string())
    } else {
        Err(ConnectorError::permanent(format!(
            "accounts.{key} `{login}` of {} is not a GitHub login (letters, digits, `-`)",
            identity.email
        )))
    }
}

impl Discovery {
    pub(crate) fn new(login_attribute: &str) -> Self {
        Self {
            login_attribute: login_attribute.trim().to_string(),
            saml_cache: Mutex::new(HashMap::new()),
        }
    }

    /// The login without asking GitHub (accounts, profile attribute).
    pub(crate) fn known(
        &self,
        identity: &Identity,
    ) -> Result<Option<(String, LoginSource)>, ConnectorError> {
        if let Some(login) = identity.account("github").filter(|l| !l.trim().is_empty()) {
            return Ok(Some((
                checked(login, "github", identity)?,
                LoginSource::Accounts,
            )));
        }
        if self.login_attribute.is_empty() {
            return Ok(None);
        }
        if let Some(login) = identity
            .account(&self.login_attribute)
            .filter(|l| !l.trim().is_empty())
        {
            return Ok(Some((
                checked(login, &self.login_attribute, identity)?,
                LoginSource::ProfileAttribute,
            )));
        }
        Ok(None)
    }

    /// The login, asking the org's SAML identities when nothing else names it. `None`:
    /// no account found anywhere.
    pub(crate) async fn login(
        &self,
        api: &GithubApi,
        identity: &Identity,
        org: &str,
    ) -> Result<Option<(String, LoginSource)>, ConnectorError> {
        if let Some(found) = self.known(identity)? {
            return Ok(Some(found));
        }
        let email = identity.email.trim().to_ascii_lowercase();
        if email.is_empty() {
            return Ok(None);
        }
        let key = (org.to_ascii_lowercase(), email.clone());
        if let Some(login) = self.cache().get(&key) {
            return Ok(Some((login.clone(), LoginSource::Saml)));
        }
        let found = saml_login(api, org, &email).await?;
        if let Some(login) = &found {
            self.cache().insert(key, login.clone());
        }
        Ok(found.map(|l| (l, LoginSource::Saml)))
    }

    /// Why no login was found, naming what to set.
    pub(crate) fn not_found(&self, identity: &Identity, org: Option<&str>) -> ConnectorError {
        let saml = org
            .map(|o| {
                format!(
                    ", and no SAML identity of GitHub org {o} has nameId {}",
                    identity.email
                )
            })
            .unwrap_or_default();
        ConnectorError::permanent(format!(
            "no GitHub login known for {} (set accounts.github; accounts.{} is not set{saml})",
            identity.email, self.login_attribute
        ))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
        self.saml_cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Page through the org's SAML external identities for `email` (lower-cased).
async fn saml_login(
    api: &GithubApi,
    org: &str,
    email: &str,
) -> Result<Option<String>, ConnectorError> {
    let mut after: Option<String> = None;
    for _ in 0..MAX_SAML_PAGES {
        let body = serde_json::json!({
            "query": SAML_QUERY,
            "variables": {"org": org, "after": after},
        });
        let what = format!("POST /graphql (SAML identities of {org})");
        let response = api.post("/graphql", &body).await?;
        if response.status != 200 {
            return Err(api.failure(&response, &what));
        }
        let value: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| {
            ConnectorError::transient(format!("GitHub answered {what} with invalid JSON: {e}"))
        })?;
        if let Some(errors) = value["errors"].as_array().filter(|e| !e.is_empty()) {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| e["message"].as_str())
                .collect();
            let transient = errors.iter().any(|e| e["type"] == "RATE_LIMITED");
            let message = format!("GitHub GraphQL: {} ({what})", messages.join("; "));
            return Err(if transient {
                ConnectorError::transient(message)
            } else {
                ConnectorError::permanent(message)
            });
        }
        let provider = &value["data"]["organization"]["samlIdentityProvider"];
        if provider.is_null() {
            return Ok(None); // the org has no SAML SSO
        }
        let identities = &provider["externalIdentities"];
        let edges = identities["edges"].as_array().cloned().unwrap_or_default();
        for edge in &edges {
            let node = &edge["node"];
            let name_id = node["samlIdentity"]["nameId"].as_str().unwrap_or_default();
            if name_id.trim().eq_ignore_ascii_case(email) {
                if let Some(login) = node["user"]["login"].as_str().filter(|l| is_github_name(l)) {
                    return Ok(Some(login.to_string()));
                }
            }
        }
        let page = &identities["pageInfo"];
        match page["endCursor"].as_str() {
            Some(cursor) if page["hasNextPage"] == true => after = Some(cursor.to_string()),
            _ => return Ok(None),
        }
    }
    Err(ConnectorError::permanent(format!(
        "GitHub org {org} has more than {} pages of SAML identities; refusing to read further",
        MAX_SAML_PAGES
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_first_then_profile_attribute() {
        let d = Discovery::new("githubUsername");
        let both = Identity::new("a@x")
            .with_account("github", "a-gh")
            .with_account("githubUsername", "other");
        assert_eq!(
            d.known(&both).unwrap(),
            Some(("a-gh".into(), LoginSource::Accounts))
        );
        let attr = Identity::new("a@x").with_account("githubUsername", "a-attr");
        assert_eq!(
            d.known(&attr).unwrap(),
            Some(("a-attr".into(), LoginSource::ProfileAttribute))
        );
        assert_eq!(d.known(&Identity::new("a@x")).unwrap(), None);
        assert!(d
            .known(&Identity::new("a@x").with_account("githubUsername", "../x"))
            .is_err());
        let e = d.not_found(&Identity::new("a@x"), Some("acme"));
        assert!(e.message.contains("set accounts.github"), "{}", e.message);
        assert!(
            e.message.contains("SAML identity of GitHub org acme"),
            "{}",
            e.message
        );
    }
}
