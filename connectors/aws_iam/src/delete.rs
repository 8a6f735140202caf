//! `aws_iam.delete_user`: IAM refuses `DeleteUser` (409 `DeleteConflict`) while the
//! user still has a password, keys, certificates, SSH keys, service-specific
//! credentials, MFA devices, policies or group memberships, so everything left (for
//! example the keys `disable_user` only deactivated) is deleted first, in
//! [`SubStep::ALL`] order, then Leaver's own session-revocation policy, then the user.
//! Verified when `GetUser` answers `NoSuchEntity`.

use crate::client::{call, AccountClients};
use crate::disable::list;
use crate::items::{self, Removal};
use crate::params::SubStep;
use crate::sessions::REVOKE_POLICY_NAME;
use crate::user::{get_user, IamUser};
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Verification};
use serde_json::json;

/// Delete everything attached to `user`, then the user.
pub(crate) async fn execute(
    clients: &AccountClients,
    user: &IamUser,
) -> Result<ActionOutcome, ConnectorError> {
    let name = user.name.as_str();
    let mut changes = Vec::new();
    let mut revocation_policy = false;
    for step in SubStep::ALL {
        for item in list(clients, name, step).await? {
            if step == SubStep::InlinePolicies && item.id == REVOKE_POLICY_NAME {
                // Kept until the end: it denies older sessions meanwhile.
                revocation_policy = true;
                continue;
            }
            let removal = items::remove(clients, name, &item, true)
                .await
                .map_err(|e| e.context(format!("deleting IAM user {name}")))?;
            if let Removal::Done(verb) = removal {
                changes.push(format!("{verb} {}", item.label()));
            }
        }
    }
    if revocation_policy {
        let what = format!("iam:DeleteUserPolicy({name}, {REVOKE_POLICY_NAME})");
        let fut = clients
            .iam
            .delete_user_policy()
            .user_name(name)
            .policy_name(REVOKE_POLICY_NAME)
            .send();
        match call(&what, fut).await {
            Ok(_) => changes.push(format!("deleted inline policy {REVOKE_POLICY_NAME}")),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.context(format!("deleting IAM user {name}")).into()),
        }
    }
    let what = format!("iam:DeleteUser({name})");
    let deleted = match call(&what, clients.iam.delete_user().user_name(name).send()).await {
        Ok(_) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => return Err(e.into()),
    };
    let account = clients.label(Some(&user.arn));
    let details = json!({
        "user": name,
        "arn": user.arn,
        "account": account,
        "found_by": user.found_by.as_str(),
        "removed_first": changes,
        "deleted": deleted,
    });
    let summary = if changes.is_empty() {
        format!("deleted IAM user {name} (AWS account {account})")
    } else {
        format!(
            "deleted IAM user {name} (AWS account {account}) after removing {} remaining item(s)",
            changes.len()
        )
    };
    let outcome = if deleted || !changes.is_empty() {
        ActionOutcome::changed(summary)
    } else {
        ActionOutcome::unchanged(format!(
            "IAM user {name} (AWS account {account}) was already deleted"
        ))
    };
    Ok(outcome.with_details(details))
}

/// `GetUser` must answer `NoSuchEntity`.
pub(crate) async fn verify(
    clients: &AccountClients,
    name: &str,
) -> Result<Verification, ConnectorError> {
    Ok(match get_user(clients, name).await? {
        None => Verification::gone(format!(
            "iam:GetUser({name}) answered NoSuchEntity in {}",
            clients.describe().await
        )),
        Some((_, arn)) => Verification::still_present(format!(
            "iam:GetUser({name}) still returns the user ({arn})"
        )),
    })
}

/// The user itself, as what `delete_user` would remove.
pub(crate) fn holding(clients: &AccountClients, user: &IamUser) -> Holding {
    let account = clients.label(Some(&user.arn));
    Holding {
        system: "aws_iam".into(),
        kind: "iam_user".into(),
        resource: if user.arn.is_empty() {
            format!("user/{}", user.name)
        } else {
            user.arn.clone()
        },
        description: format!(
            "IAM user {} (AWS account {account}) and everything still attached to it",
            user.name
        ),
    }
}
