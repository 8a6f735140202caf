//! How an email is tied to the identities seen in audit trails. The candidates are
//! (name kind, value) pairs looked up in the index's names table:
//!
//! | from | matches |
//! | --- | --- |
//! | the email itself | Vault display name, login (display name without its auth-mount prefix) and alias; CloudTrail session name, source identity and IAM user name |
//! | mapping `vault` | Vault entity id, or alias |
//! | mapping `vault_alias` | Vault alias or login |
//! | mapping `vault_display_name` | Vault display name as logged (`oidc-alice@example.com`) |
//! | mapping `aws_iam` | CloudTrail IAM user name |
//! | mapping `aws_principal` | CloudTrail ARN or principal id |
//! | mapping `aws_session` | CloudTrail role session name or source identity |
//! | mapping `aws_identity_center` | CloudTrail Identity Center user id (`onBehalfOf.userId`) |
//!
//! Values compare case-insensitively; HMAC'd values were never indexed as names.

use super::event::{is_hmac, name_kind as k};
use std::collections::BTreeMap;

/// One (kind, value) to look for, and where it came from (`email` or
/// `mapping:<system>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub kind: &'static str,
    pub value: String,
    pub via: String,
}

/// The mapping systems the trail understands and the name kinds each matches.
pub const MAPPING_SYSTEMS: &[(&str, &[&str])] = &[
    ("vault", &[k::ENTITY_ID, k::ALIAS]),
    ("vault_alias", &[k::ALIAS, k::LOGIN]),
    ("vault_display_name", &[k::DISPLAY_NAME]),
    ("aws_iam", &[k::USER_NAME]),
    ("aws_principal", &[k::ARN, k::PRINCIPAL_ID]),
    ("aws_session", &[k::SESSION_NAME, k::SOURCE_IDENTITY]),
    ("aws_identity_center", &[k::IDENTITY_CENTER_USER]),
];

const EMAIL_KINDS: &[&str] = &[
    k::DISPLAY_NAME,
    k::LOGIN,
    k::ALIAS,
    k::SESSION_NAME,
    k::SOURCE_IDENTITY,
    k::USER_NAME,
];

/// Every candidate for `email` with its mapped accounts.
pub fn candidates(email: &str, mapped: &BTreeMap<String, String>) -> Vec<Candidate> {
    let email = email.trim().to_lowercase();
    let mut out: Vec<Candidate> = EMAIL_KINDS
        .iter()
        .map(|kind| Candidate {
            kind,
            value: email.clone(),
            via: "email".into(),
        })
        .collect();
    for (system, kinds) in MAPPING_SYSTEMS {
        let Some(account) = mapped.get(*system) else {
            continue;
        };
        let value = account.trim().to_lowercase();
        if value.is_empty() || is_hmac(&value) {
            continue;
        }
        for kind in *kinds {
            out.push(Candidate {
                kind,
                value: value.clone(),
                via: format!("mapping:{system}"),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_and_mapping_give_candidates() {
        let mapped = BTreeMap::from([
            ("vault".to_string(), "E-1".to_string()),
            ("github".to_string(), "alice-gh".to_string()),
        ]);
        let c = candidates("Alice@Example.com", &mapped);
        assert!(c.contains(&Candidate {
            kind: "source_identity",
            value: "alice@example.com".into(),
            via: "email".into()
        }));
        assert!(c.contains(&Candidate {
            kind: "entity_id",
            value: "e-1".into(),
            via: "mapping:vault".into()
        }));
        assert!(!c.iter().any(|c| c.value == "alice-gh"));
    }
}
