//! Access an organization grants besides membership: outside collaborators, SAML SSO
//! credential authorizations, fine-grained personal access tokens approved for the
//! org, and the SAML identities linking IdP accounts (`nameId`) to GitHub logins.
//! Keyed by lower-cased org name, like the rest of the world.

use super::world::User;
use std::collections::BTreeMap;

/// An outside collaborator: not an org member, but a collaborator on its repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collaborator {
    /// Who.
    pub user: User,
    /// Repositories of the org the user collaborates on.
    pub repos: Vec<String>,
}

/// A credential (PAT or SSH key) authorized for SAML SSO in the org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialAuthorization {
    /// `credential_id`.
    pub id: u64,
    /// Owner.
    pub user: User,
    /// `personal access token` or `SSH key`.
    pub credential_type: String,
    /// Last eight characters of the token (PATs only).
    pub token_last_eight: Option<String>,
}

/// A fine-grained personal access token with access to the org's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FineGrainedToken {
    /// The grant id (`pat_ids` in the revoke call).
    pub id: u64,
    /// Owner.
    pub user: User,
    /// The token's name.
    pub name: String,
}

/// One SAML identity of the org's identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlIdentity {
    /// `samlIdentity.nameId` (usually the email).
    pub name_id: String,
    /// The linked GitHub user.
    pub user: User,
}

/// What one organization grants.
#[derive(Debug, Clone, Default)]
pub struct OrgGrants {
    /// By lower-cased login.
    pub collaborators: BTreeMap<String, Collaborator>,
    /// By credential id.
    pub credentials: BTreeMap<u64, CredentialAuthorization>,
    /// By grant id.
    pub tokens: BTreeMap<u64, FineGrainedToken>,
    /// In the order they were linked.
    pub saml: Vec<SamlIdentity>,
}

/// Grants of every organization.
#[derive(Debug, Clone)]
pub struct Grants {
    orgs: BTreeMap<String, OrgGrants>,
    next_credential_id: u64,
    next_token_id: u64,
}

impl Default for Grants {
    fn default() -> Self {
        Self {
            orgs: BTreeMap::new(),
            next_credential_id: 161_195,
            next_token_id: 25_381,
        }
    }
}

fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl Grants {
    /// The grants of `org` (empty when none were seeded).
    pub fn org(&self, org: &str) -> Option<&OrgGrants> {
        self.orgs.get(&key(org))
    }

    fn org_mut(&mut self, org: &str) -> &mut OrgGrants {
        self.orgs.entry(key(org)).or_default()
    }

    /// Make `user` an outside collaborator of `org` on `repo`.
    pub fn add_collaborator(&mut self, org: &str, user: User, repo: &str) {
        let entry = self
            .org_mut(org)
            .collaborators
            .entry(key(&user.login))
            .or_insert_with(|| Collaborator {
                user,
                repos: Vec::new(),
            });
        if !entry.repos.iter().any(|r| r == repo) {
            entry.repos.push(repo.to_string());
        }
    }

    /// Remove `login` as an outside collaborator of every repository of `org`.
    pub fn remove_collaborator(&mut self, org: &str, login: &str) -> bool {
        self.org_mut(org)
            .collaborators
            .remove(&key(login))
            .is_some()
    }

    /// Authorize a credential of `user` for SSO in `org`; returns its id.
    pub fn add_credential(&mut self, org: &str, user: User, credential_type: &str) -> u64 {
        let id = self.next_credential_id;
        self.next_credential_id += 1;
        let token_last_eight =
            (credential_type == "personal access token").then(|| format!("{:08x}", id * 7919));
        self.org_mut(org).credentials.insert(
            id,
            CredentialAuthorization {
                id,
                user,
                credential_type: credential_type.to_string(),
                token_last_eight,
            },
        );
        id
    }

    /// Revoke the SSO authorization `id` in `org`.
    pub fn remove_credential(&mut self, org: &str, id: u64) -> bool {
        self.org_mut(org).credentials.remove(&id).is_some()
    }

    /// Grant a fine-grained token of `user` access to `org`; returns the grant id.
    pub fn add_token(&mut self, org: &str, user: User, name: &str) -> u64 {
        let id = self.next_token_id;
        self.next_token_id += 1;
        self.org_mut(org).tokens.insert(
            id,
            FineGrainedToken {
                id,
                user,
                name: name.to_string(),
            },
        );
        id
    }

    /// Revoke the grants `ids` in `org`; the number revoked.
    pub fn revoke_tokens(&mut self, org: &str, ids: &[u64]) -> usize {
        let tokens = &mut self.org_mut(org).tokens;
        ids.iter().filter(|id| tokens.remove(id).is_some()).count()
    }

    /// Link the SAML `name_id` to `user` in `org`.
    pub fn add_saml_identity(&mut self, org: &str, name_id: &str, user: User) {
        self.org_mut(org).saml.push(SamlIdentity {
            name_id: name_id.to_string(),
            user,
        });
    }
}
