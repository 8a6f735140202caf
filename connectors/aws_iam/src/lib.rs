//! The AWS IAM connector of Leaver (aws-sdk-iam, credentials from the AWS default
//! chain, optionally a role assumed per account).
//!
//! Actions (each idempotent — IAM's `NoSuchEntity` means "already gone" — and each
//! verified by reading IAM back):
//!
//! | action | what it does | verified by |
//! |---|---|---|
//! | `aws_iam.revoke_sessions` | inline deny-all policy for tokens issued before now ([`sessions`]) | the policy reads back as that deny |
//! | `aws_iam.disable_user` | access keys deactivated (or deleted), login profile, signing certificates, SSH keys, service-specific credentials, MFA devices, groups, inline and managed policies removed ([`disable`]) | list calls show nothing active left |
//! | `aws_iam.delete_user` | whatever is left deleted in AWS's order, then `DeleteUser` ([`delete`]) | `GetUser` answers `NoSuchEntity` |
//!
//! The user is the step's `user`, the identity's `accounts.aws_iam`, or discovered by
//! email ([`user`]); a user that does not exist fails `revoke_sessions` and
//! `disable_user` with a permanent error naming it and the account. Every action takes
//! `account` (a name from `connectors.aws_iam.accounts`, default
//! `connectors.aws_iam.default_account`, else the account of the connector's own
//! credentials). Errors are classified by [`classify`].

pub mod classify;
mod client;
mod config;
mod delete;
mod disable;
mod items;
pub mod keys;
pub mod params;
pub mod sessions;
mod user;

pub use aws_credential_types::Credentials;
pub use config::{
    is_iam_name, role_arn_account, AwsAccountConfig, AwsIamConfig, AwsIamSetupError,
    DEFAULT_MAX_ATTEMPTS, DEFAULT_REGION, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SESSION_NAME,
};
pub use params::{DeleteUserParams, DisableUserParams, RevokeSessionsParams, SubStep};
pub use sessions::REVOKE_POLICY_NAME;
pub use user::{ACCOUNT_KEY, EMAIL_TAG};

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use client::{AccountClients, Clients};
use config::{Account, Settings};
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, ParamError, Preview, Verification,
};
use sessions::Principal;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use user::{DiscoveryCache, IamUser, Lookup};

/// `aws_iam.revoke_sessions`.
pub const REVOKE_SESSIONS: &str = "revoke_sessions";
/// `aws_iam.disable_user`.
pub const DISABLE_USER: &str = "disable_user";
/// `aws_iam.delete_user`.
pub const DELETE_USER: &str = "delete_user";

const ACTIONS: [&str; 3] = [REVOKE_SESSIONS, DISABLE_USER, DELETE_USER];

/// A step's parsed parameters.
enum Step {
    RevokeSessions(RevokeSessionsParams),
    DisableUser(DisableUserParams),
    DeleteUser(DeleteUserParams),
}

impl Step {
    fn user(&self) -> Option<&str> {
        match self {
            Step::RevokeSessions(p) => p.user.as_deref(),
            Step::DisableUser(p) => p.user.as_deref(),
            Step::DeleteUser(p) => p.user.as_deref(),
        }
    }
}

/// The AWS IAM connector.
pub struct AwsIamConnector {
    clients: Clients,
    cache: DiscoveryCache,
}

impl fmt::Debug for AwsIamConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsIamConnector")
            .field("settings", self.clients.settings())
            .finish_non_exhaustive()
    }
}

fn invalid(e: ParamError) -> ConnectorError {
    ConnectorError::permanent(format!("invalid parameters: {e}"))
}

impl AwsIamConnector {
    /// Validate the configuration; credentials come from the AWS default chain when
    /// the first call needs them. No request is made here.
    pub fn new(config: AwsIamConfig) -> Result<Self, AwsIamSetupError> {
        Self::build(config, None)
    }

    /// As [`AwsIamConnector::new`], with these base credentials instead of the default
    /// chain (tests against an emulator; roles are still assumed with them).
    pub fn with_credentials(
        config: AwsIamConfig,
        credentials: Credentials,
    ) -> Result<Self, AwsIamSetupError> {
        Self::build(config, Some(SharedCredentialsProvider::new(credentials)))
    }

    fn build(
        config: AwsIamConfig,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self, AwsIamSetupError> {
        let settings = Settings::validate(&config)?;
        Ok(Self {
            clients: Clients::new(settings, credentials),
            cache: DiscoveryCache::default(),
        })
    }

    /// Parse and check a step: its account and typed parameters.
    fn step(
        &self,
        action: &str,
        params: &serde_json::Value,
    ) -> Result<(Account, Step), ParamError> {
        let (account, step) = match action {
            REVOKE_SESSIONS => {
                let p: RevokeSessionsParams = parse_params(params)?;
                p.check()?;
                (p.account.clone(), Step::RevokeSessions(p))
            }
            DISABLE_USER => {
                let p: DisableUserParams = parse_params(params)?;
                p.check()?;
                (p.account.clone(), Step::DisableUser(p))
            }
            DELETE_USER => {
                let p: DeleteUserParams = parse_params(params)?;
                p.check()?;
                (p.account.clone(), Step::DeleteUser(p))
            }
            other => {
                return Err(ParamError(format!(
                    "unknown action `aws_iam.{other}` (the AWS IAM connector offers: {})",
                    ACTIONS.map(|a| format!("aws_iam.{a}")).join(", ")
                )))
            }
        };
        let account = self
            .clients
            .settings()
            .account(account.as_deref())
            .map_err(ParamError)?;
        Ok((account, step))
    }

    /// The clients of a request's account, and its parsed step.
    async fn target(
        &self,
        request: &ActionRequest,
    ) -> Result<(Arc<AccountClients>, Step), ConnectorError> {
        let (account, step) = self
            .step(&request.action, &request.params)
            .map_err(invalid)?;
        Ok((self.clients.for_account(&account).await, step))
    }

    async fn lookup(
        &self,
        clients: &AccountClients,
        identity: &Identity,
        step: &Step,
    ) -> Result<Lookup, ConnectorError> {
        user::find(clients, identity, step.user(), &self.cache).await
    }

    /// The user, or a permanent error naming who was looked for and where.
    async fn existing(
        &self,
        clients: &AccountClients,
        identity: &Identity,
        step: &Step,
    ) -> Result<IamUser, ConnectorError> {
        match self.lookup(clients, identity, step).await? {
            Lookup::Found(user) => Ok(user),
            Lookup::Missing(why) => Err(ConnectorError::permanent(why).with_status(404)),
        }
    }
}

async fn revoke_sessions(
    clients: &AccountClients,
    user: &IamUser,
    params: &RevokeSessionsParams,
) -> Result<ActionOutcome, ConnectorError> {
    let cutoff = chrono::Utc::now();
    let mut principals = vec![Principal::User(&user.name)];
    if let Some(role) = params.role.as_deref().map(str::trim) {
        principals.push(Principal::Role(role));
    }
    for principal in &principals {
        sessions::put(clients, *principal, cutoff)
            .await
            .map_err(ConnectorError::from)?;
    }
    let account = clients.label(Some(&user.arn));
    let names: Vec<String> = principals.iter().map(Principal::describe).collect();
    Ok(ActionOutcome::changed(format!(
        "denied every session of {} (AWS account {account}) issued before {} (inline policy {REVOKE_POLICY_NAME})",
        names.join(" and "),
        sessions::show(cutoff)
    ))
    .with_details(serde_json::json!({
        "user": user.name,
        "arn": user.arn,
        "account": account,
        "found_by": user.found_by.as_str(),
        "role": params.role,
        "policy": REVOKE_POLICY_NAME,
        "token_issued_before": sessions::show(cutoff),
    })))
}

async fn verify_sessions(
    clients: &AccountClients,
    user: &IamUser,
    params: &RevokeSessionsParams,
) -> Result<Verification, ConnectorError> {
    let mut principals = vec![Principal::User(&user.name)];
    if let Some(role) = params.role.as_deref().map(str::trim) {
        principals.push(Principal::Role(role));
    }
    let mut seen = Vec::new();
    for principal in principals {
        let who = principal.describe();
        match sessions::read(clients, principal)
            .await
            .map_err(ConnectorError::from)?
        {
            Some(Some(cutoff)) => seen.push(format!(
                "{who} has {REVOKE_POLICY_NAME} denying * for aws:TokenIssueTime before {}",
                sessions::show(cutoff)
            )),
            Some(None) => {
                return Ok(Verification::still_present(format!(
                    "{who} has an inline policy {REVOKE_POLICY_NAME} that is not a deny-all on older sessions"
                )))
            }
            None => {
                return Ok(Verification::still_present(format!(
                    "{who} has no inline policy {REVOKE_POLICY_NAME}"
                )))
            }
        }
    }
    Ok(Verification::gone(format!(
        "read back: {}",
        seen.join("; ")
    )))
}

#[async_trait]
impl Connector for AwsIamConnector {
    fn name(&self) -> &'static str {
        "aws_iam"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            typed_action::<RevokeSessionsParams>(
                REVOKE_SESSIONS,
                "Stop the IAM user's already-issued temporary credentials: an inline deny-all policy \
                 (LeaverRevokeOlderSessions) conditioned on aws:TokenIssueTime before now; verified by \
                 reading the policy back.",
            ),
            typed_action::<DisableUserParams>(
                DISABLE_USER,
                "Disable the IAM user: access keys deactivated (deleted with delete_access_keys), login \
                 profile, signing certificates, SSH keys and service-specific credentials removed, MFA \
                 devices deactivated (virtual ones deleted), groups left, inline and managed policies \
                 removed; `skip` leaves sub-steps out (recorded as skipped); verified by listing what is left.",
            ),
            typed_action::<DeleteUserParams>(
                DELETE_USER,
                "Delete the IAM user, after deleting whatever is still attached (AWS refuses DeleteUser \
                 otherwise); verified when GetUser answers NoSuchEntity.",
            ),
        ]
    }

    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        self.step(action, params).map(|_| ())
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        let (clients, step) = self.target(request).await?;
        let identity = &request.identity;
        match &step {
            Step::RevokeSessions(p) => {
                let user = self.existing(&clients, identity, &step).await?;
                revoke_sessions(&clients, &user, p).await
            }
            Step::DisableUser(p) => {
                let user = self.existing(&clients, identity, &step).await?;
                disable::execute(&clients, &user, p).await
            }
            Step::DeleteUser(_) => match self.lookup(&clients, identity, &step).await? {
                Lookup::Found(user) => delete::execute(&clients, &user).await,
                Lookup::Missing(why) => Ok(ActionOutcome::unchanged(format!(
                    "nothing to delete: {why}"
                ))),
            },
        }
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        let (clients, step) = self.target(request).await?;
        let user = match self.lookup(&clients, &request.identity, &step).await? {
            Lookup::Found(user) => user,
            // A user that does not exist holds nothing.
            Lookup::Missing(why) => return Ok(Verification::gone(why)),
        };
        match &step {
            Step::RevokeSessions(p) => verify_sessions(&clients, &user, p).await,
            Step::DisableUser(p) => disable::verify(&clients, &user, p).await,
            Step::DeleteUser(_) => delete::verify(&clients, &user.name).await,
        }
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let (clients, step) = self.target(request).await?;
        let user = match self.lookup(&clients, &request.identity, &step).await? {
            Lookup::Found(user) => user,
            Lookup::Missing(why) => {
                return Ok(Preview {
                    would_revoke: Vec::new(),
                    notes: vec![why],
                })
            }
        };
        let mut notes = Vec::new();
        let would_revoke = match &step {
            Step::RevokeSessions(p) => {
                let mut principals = vec![Principal::User(&user.name)];
                principals.extend(p.role.as_deref().map(Principal::Role));
                principals
                    .iter()
                    .map(|principal| Holding {
                        system: "aws_iam".into(),
                        kind: "sessions".into(),
                        resource: match principal {
                            Principal::User(_) => user.arn.clone(),
                            Principal::Role(role) => format!("role/{role}"),
                        },
                        description: format!(
                            "temporary credentials of {} issued before the step runs",
                            principal.describe()
                        ),
                    })
                    .collect()
            }
            Step::DisableUser(p) => {
                notes.extend(
                    p.skipped()
                        .iter()
                        .map(|s| format!("sub-step {s} is skipped: left as it is")),
                );
                disable::preview(&clients, &user, p).await?
            }
            Step::DeleteUser(_) => vec![delete::holding(&clients, &user)],
        };
        if would_revoke.is_empty() {
            notes.push(format!(
                "nothing to revoke for IAM user {} in {}",
                user.name,
                clients.describe().await
            ));
        }
        Ok(Preview {
            would_revoke,
            notes,
        })
    }

    async fn inventory(
        &self,
        identity: &Identity,
        scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        let mut targets: Vec<(Account, Option<String>)> = Vec::new();
        for request in scope {
            let (account, step) = self
                .step(&request.action, &request.params)
                .map_err(invalid)?;
            let target = (account, step.user().map(str::to_string));
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        if targets.is_empty() {
            let account = self
                .clients
                .settings()
                .account(None)
                .map_err(|e| ConnectorError::permanent(format!("connectors.aws_iam: {e}")))?;
            targets.push((account, None));
        }
        let mut seen = BTreeSet::new();
        let mut holdings = Vec::new();
        for (account, explicit) in targets {
            let clients = self.clients.for_account(&account).await;
            let found = user::find(&clients, identity, explicit.as_deref(), &self.cache).await?;
            let Lookup::Found(user) = found else {
                continue;
            };
            if seen.insert((account.key(), user.name.clone())) {
                holdings.extend(disable::holdings(&clients, &user).await?);
            }
        }
        holdings.sort();
        holdings.dedup();
        Ok(holdings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connector(config: AwsIamConfig) -> AwsIamConnector {
        AwsIamConnector::new(config).unwrap()
    }

    #[test]
    fn builds_without_a_runtime_or_credentials() {
        let c = connector(AwsIamConfig::default());
        assert_eq!(c.name(), "aws_iam");
        let names: Vec<_> = c.actions().iter().map(|a| a.name).collect();
        assert_eq!(names, ACTIONS);
    }

    #[test]
    fn params_are_checked() {
        let mut config = AwsIamConfig::default();
        config.accounts.insert(
            "prod".into(),
            AwsAccountConfig {
                role_arn: Some("arn:aws:iam::111111111111:role/Leaver".into()),
                ..AwsAccountConfig::default()
            },
        );
        let c = connector(config);
        assert!(c
            .check_params(DISABLE_USER, &serde_json::Value::Null)
            .is_ok());
        assert!(c
            .check_params(
                DISABLE_USER,
                &json!({"skip": ["groups"], "delete_access_keys": true, "account": "prod"})
            )
            .is_ok());
        assert!(c
            .check_params(DISABLE_USER, &json!({"account": "111111111111"}))
            .is_ok());
        let e = c
            .check_params(DISABLE_USER, &json!({"account": "staging"}))
            .unwrap_err();
        assert!(e.0.contains("known: prod"), "{e}");
        assert!(c
            .check_params(DISABLE_USER, &json!({"skip": ["password"]}))
            .is_err());
        assert!(c
            .check_params(DELETE_USER, &json!({"user": "a b"}))
            .is_err());
        assert!(c
            .check_params(REVOKE_SESSIONS, &json!({"role": "ops-admin"}))
            .is_ok());
        let e = c.check_params("disable", &json!({})).unwrap_err();
        assert!(e.0.contains("aws_iam.disable_user"), "{e}");
    }

    #[test]
    fn schemas_list_the_sub_steps() {
        let c = connector(AwsIamConfig::default());
        let disable = c
            .actions()
            .into_iter()
            .find(|a| a.name == DISABLE_USER)
            .unwrap();
        let text = disable.params_schema.to_string();
        for step in SubStep::ALL {
            assert!(text.contains(step.as_str()), "{step} missing from {text}");
        }
        assert!(disable.validate(&json!({"skip": [], "x": 1})).is_err());
    }
}
