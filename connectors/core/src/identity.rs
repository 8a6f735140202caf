use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A person or service account as the IdP knows it, with the account keys Leaver knows
/// for each system (`github` → login, `aws_iam` → user name, `vault` → entity id…).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub email: String,
    /// `okta`, `entra` or `manual`.
    #[serde(default = "default_idp")]
    pub idp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default)]
    pub accounts: BTreeMap<String, String>,
}

fn default_idp() -> String {
    "manual".to_string()
}

impl Identity {
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            idp: default_idp(),
            ..Self::default()
        }
    }

    /// The account key this identity has in `system`, if known.
    pub fn account(&self, system: &str) -> Option<&str> {
        self.accounts
            .get(system)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn with_account(mut self, system: &str, key: impl Into<String>) -> Self {
        self.accounts.insert(system.to_string(), key.into());
        self
    }
}
