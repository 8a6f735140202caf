//! The `with:` parameters of each action, and their validation.

use crate::config::is_iam_name;
use leaver_connector::ParamError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One sub-step of `aws_iam.disable_user`, in the order they run (AWS's "deleting an
/// IAM user" order: credentials first, then MFA, then permissions).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SubStep {
    /// Access keys: deactivated (`UpdateAccessKey Status=Inactive`), or deleted with
    /// `delete_access_keys: true`.
    AccessKeys,
    /// The console password (`DeleteLoginProfile`).
    LoginProfile,
    /// X.509 signing certificates: deleted with `delete_access_keys: true`, else
    /// deactivated (they are API credentials like access keys).
    SigningCertificates,
    /// SSH public keys for CodeCommit (`DeleteSSHPublicKey`).
    SshPublicKeys,
    /// Service-specific credentials: CodeCommit Git credentials, Keyspaces, Bedrock
    /// API keys (`DeleteServiceSpecificCredential`).
    ServiceSpecificCredentials,
    /// MFA devices: deactivated, and virtual ones deleted.
    MfaDevices,
    /// Group memberships (`RemoveUserFromGroup`).
    Groups,
    /// Inline policies (`DeleteUserPolicy`), except Leaver's own deny-only
    /// `LeaverRevokeOlderSessions`.
    InlinePolicies,
    /// Managed policies (`DetachUserPolicy`).
    AttachedPolicies,
}

impl SubStep {
    /// Every sub-step, in execution order.
    pub const ALL: [SubStep; 9] = [
        SubStep::AccessKeys,
        SubStep::LoginProfile,
        SubStep::SigningCertificates,
        SubStep::SshPublicKeys,
        SubStep::ServiceSpecificCredentials,
        SubStep::MfaDevices,
        SubStep::Groups,
        SubStep::InlinePolicies,
        SubStep::AttachedPolicies,
    ];

    /// The name used in `skip:` and in outcomes.
    pub fn as_str(self) -> &'static str {
        match self {
            SubStep::AccessKeys => "access_keys",
            SubStep::LoginProfile => "login_profile",
            SubStep::SigningCertificates => "signing_certificates",
            SubStep::SshPublicKeys => "ssh_public_keys",
            SubStep::ServiceSpecificCredentials => "service_specific_credentials",
            SubStep::MfaDevices => "mfa_devices",
            SubStep::Groups => "groups",
            SubStep::InlinePolicies => "inline_policies",
            SubStep::AttachedPolicies => "attached_policies",
        }
    }
}

impl fmt::Display for SubStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `aws_iam.disable_user`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DisableUserParams {
    /// IAM user name; default: the identity's `accounts.aws_iam`, else the user named
    /// like the email or tagged `email=<email>`.
    #[serde(default)]
    pub user: Option<String>,
    /// Account to act in (a name from `connectors.aws_iam.accounts`, or its 12-digit
    /// id); default `connectors.aws_iam.default_account`.
    #[serde(default)]
    pub account: Option<String>,
    /// Delete access keys and signing certificates instead of deactivating them
    /// (default false: deactivate, which keeps them for investigation and is
    /// reversible; `aws_iam.delete_user` needs them deleted).
    #[serde(default)]
    pub delete_access_keys: bool,
    /// Sub-steps to leave out; each is recorded as skipped, never as done.
    #[serde(default)]
    pub skip: Vec<SubStep>,
}

/// `aws_iam.delete_user`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeleteUserParams {
    /// IAM user name; default as for `aws_iam.disable_user`.
    #[serde(default)]
    pub user: Option<String>,
    /// Account to act in; default `connectors.aws_iam.default_account`.
    #[serde(default)]
    pub account: Option<String>,
}

/// `aws_iam.revoke_sessions`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RevokeSessionsParams {
    /// IAM user name; default as for `aws_iam.disable_user`.
    #[serde(default)]
    pub user: Option<String>,
    /// Account to act in; default `connectors.aws_iam.default_account`.
    #[serde(default)]
    pub account: Option<String>,
    /// Also revoke the sessions of this IAM role (name, not ARN). Every session of the
    /// role issued before now is denied — other people's too: they must assume the role
    /// again.
    #[serde(default)]
    pub role: Option<String>,
}

fn check_name(key: &str, value: Option<&str>, what: &str) -> Result<(), ParamError> {
    match value.map(str::trim) {
        Some(name) if !is_iam_name(name) => Err(ParamError(format!(
            "`{key}` `{name}` is not an IAM {what} name (1-64 characters of letters, digits and +=,.@_-)"
        ))),
        _ => Ok(()),
    }
}

impl DisableUserParams {
    pub(crate) fn check(&self) -> Result<(), ParamError> {
        check_name("user", self.user.as_deref(), "user")?;
        if SubStep::ALL.iter().all(|s| self.skip.contains(s)) {
            return Err(ParamError(
                "`skip` names every sub-step of aws_iam.disable_user: nothing would be revoked \
                 (remove the step instead)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The sub-steps that run, in order.
    pub(crate) fn active(&self) -> Vec<SubStep> {
        SubStep::ALL
            .into_iter()
            .filter(|s| !self.skip.contains(s))
            .collect()
    }

    /// The skipped sub-steps, in execution order, without duplicates.
    pub(crate) fn skipped(&self) -> Vec<SubStep> {
        SubStep::ALL
            .into_iter()
            .filter(|s| self.skip.contains(s))
            .collect()
    }
}

impl DeleteUserParams {
    pub(crate) fn check(&self) -> Result<(), ParamError> {
        check_name("user", self.user.as_deref(), "user")
    }
}

impl RevokeSessionsParams {
    pub(crate) fn check(&self) -> Result<(), ParamError> {
        check_name("user", self.user.as_deref(), "user")?;
        check_name("role", self.role.as_deref(), "role")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leaver_connector::parse_params;
    use serde_json::json;

    #[test]
    fn skip_names_and_order() {
        let p: DisableUserParams =
            parse_params(&json!({"skip": ["groups", "access_keys", "groups"]})).unwrap();
        assert_eq!(p.skipped(), vec![SubStep::AccessKeys, SubStep::Groups]);
        assert_eq!(p.active().len(), 7);
        assert_eq!(p.active()[0], SubStep::LoginProfile);
        let e = parse_params::<DisableUserParams>(&json!({"skip": ["passwords"]})).unwrap_err();
        assert!(e.0.contains("login_profile"), "{e}");
        for s in SubStep::ALL {
            let round: SubStep = serde_json::from_value(json!(s.as_str())).unwrap();
            assert_eq!(round, s);
        }
    }

    #[test]
    fn checks() {
        let all: DisableUserParams = parse_params(&json!({
            "skip": SubStep::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()
        }))
        .unwrap();
        assert!(all.check().unwrap_err().0.contains("every sub-step"));
        let bad = DisableUserParams {
            user: Some("a/b".into()),
            ..Default::default()
        };
        assert!(bad.check().is_err());
        let role = RevokeSessionsParams {
            role: Some("arn:aws:iam::1:role/x".into()),
            ..Default::default()
        };
        assert!(role.check().unwrap_err().0.contains("role"));
        assert!(parse_params::<DeleteUserParams>(&json!({"usr": "x"})).is_err());
    }
}
