//! `aws_iam.revoke_sessions`: an inline deny-all policy conditioned on
//! `aws:TokenIssueTime`, the mechanism AWS itself uses for "revoke active sessions".
//!
//! Temporary credentials (from `sts:GetSessionToken`, `sts:GetFederationToken`, or an
//! assumed role) stay valid until they expire, whatever happens to the user's keys.
//! IAM evaluates the policies of the principal on every request, so a `Deny *` whose
//! condition is "the token was issued before <now>" stops every credential issued so
//! far, while new ones (there will be none once the user is disabled) would pass.
//! The policy is verified by reading it back (`GetUserPolicy`/`GetRolePolicy`).

use crate::classify::CallError;
use crate::client::{call, AccountClients};
use crate::items::{decode_policy, read_user_policy};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Name of Leaver's inline policy (the console's own is `AWSRevokeOlderSessions`).
pub const REVOKE_POLICY_NAME: &str = "LeaverRevokeOlderSessions";

/// The policy document denying everything to tokens issued before `cutoff`.
pub(crate) fn deny_policy(cutoff: DateTime<Utc>) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "LeaverRevokeOlderSessions",
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": {
                "DateLessThan": {
                    "aws:TokenIssueTime": cutoff.to_rfc3339_opts(SecondsFormat::Secs, true)
                }
            }
        }]
    })
    .to_string()
}

fn is_star(value: Option<&Value>) -> bool {
    match value {
        Some(Value::String(s)) => s == "*",
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some("*")),
        _ => false,
    }
}

/// The token-issue-time cutoff of a Leaver deny policy, or `None` when `document` is
/// not one: every statement must be a `Deny` (so the policy can never grant access),
/// and one of them must deny `*` on `*` for tokens issued before a time.
pub(crate) fn deny_cutoff(document: &str) -> Option<DateTime<Utc>> {
    let doc: Value = serde_json::from_str(document).ok()?;
    let statements = match doc.get("Statement")? {
        Value::Array(items) => items.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => return None,
    };
    if statements.is_empty()
        || statements
            .iter()
            .any(|s| s.get("Effect").and_then(Value::as_str) != Some("Deny"))
    {
        return None;
    }
    statements
        .iter()
        .filter(|s| is_star(s.get("Action")) && is_star(s.get("Resource")))
        .filter_map(|s| {
            let time = s
                .get("Condition")?
                .get("DateLessThan")?
                .get("aws:TokenIssueTime")?
                .as_str()?;
            DateTime::parse_from_rfc3339(time)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .max()
}

/// Whether `document` is Leaver's deny-only session revocation (it grants nothing).
pub fn is_leaver_deny_policy(document: &str) -> bool {
    deny_cutoff(document).is_some()
}

/// Where the policy goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Principal<'a> {
    User(&'a str),
    Role(&'a str),
}

impl Principal<'_> {
    pub(crate) fn describe(&self) -> String {
        match self {
            Principal::User(name) => format!("IAM user {name}"),
            Principal::Role(name) => format!("IAM role {name}"),
        }
    }
}

/// Attach (or move forward) the deny policy with `cutoff`.
pub(crate) async fn put(
    clients: &AccountClients,
    principal: Principal<'_>,
    cutoff: DateTime<Utc>,
) -> Result<(), CallError> {
    let document = deny_policy(cutoff);
    match principal {
        Principal::User(user) => {
            let what = format!("iam:PutUserPolicy({user}, {REVOKE_POLICY_NAME})");
            let fut = clients
                .iam
                .put_user_policy()
                .user_name(user)
                .policy_name(REVOKE_POLICY_NAME)
                .policy_document(document)
                .send();
            call(&what, fut).await.map(drop)
        }
        Principal::Role(role) => {
            let what = format!("iam:PutRolePolicy({role}, {REVOKE_POLICY_NAME})");
            let fut = clients
                .iam
                .put_role_policy()
                .role_name(role)
                .policy_name(REVOKE_POLICY_NAME)
                .policy_document(document)
                .send();
            call(&what, fut).await.map(drop)
        }
    }
}

/// Read the policy back: `Ok(None)` when absent, else its cutoff (`None` inside when
/// the policy under Leaver's name is not a deny-all any more).
pub(crate) async fn read(
    clients: &AccountClients,
    principal: Principal<'_>,
) -> Result<Option<Option<DateTime<Utc>>>, CallError> {
    let document = match principal {
        Principal::User(user) => read_user_policy(clients, user, REVOKE_POLICY_NAME).await?,
        Principal::Role(role) => {
            let what = format!("iam:GetRolePolicy({role}, {REVOKE_POLICY_NAME})");
            let fut = clients
                .iam
                .get_role_policy()
                .role_name(role)
                .policy_name(REVOKE_POLICY_NAME)
                .send();
            match call(&what, fut).await {
                Ok(out) => Some(decode_policy(out.policy_document())),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            }
        }
    };
    Ok(document.map(|d| deny_cutoff(&d)))
}

/// A time as shown in outcomes and observations.
pub(crate) fn show(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_policy_round_trips() {
        let cutoff = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let document = deny_policy(cutoff);
        assert!(document.contains("\"aws:TokenIssueTime\":\"2026-03-01T12:00:00Z\""));
        assert_eq!(deny_cutoff(&document), Some(cutoff));
        assert!(is_leaver_deny_policy(&document));
    }

    #[test]
    fn a_policy_that_allows_anything_is_not_ours() {
        let allow = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-01T00:00:00Z"}}},
            {"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        assert!(!is_leaver_deny_policy(allow));
        let no_condition = r#"{"Statement":{"Effect":"Deny","Action":"iam:*","Resource":"*"}}"#;
        assert!(!is_leaver_deny_policy(no_condition));
        assert!(!is_leaver_deny_policy("not json"));
        let single = r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-01T00:00:00Z"}}}}"#;
        assert!(is_leaver_deny_policy(single));
    }
}
