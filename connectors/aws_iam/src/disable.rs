//! `aws_iam.disable_user`: the documented teardown of an IAM user's credentials and
//! permissions, sub-step by sub-step in [`SubStep::ALL`] order, each idempotent and
//! each verified by listing what is left.

use crate::client::AccountClients;
use crate::items::{self, Item, Removal};
use crate::params::{DisableUserParams, SubStep};
use crate::user::IamUser;
use leaver_connector::{ActionOutcome, ConnectorError, Holding, Verification};
use serde_json::json;

/// What one sub-step did.
struct Report {
    step: SubStep,
    changes: Vec<String>,
    unchanged: usize,
}

/// Everything of `user` in one sub-step's category, with the sub-step as context of a
/// failure.
pub(crate) async fn list(
    clients: &AccountClients,
    user: &str,
    step: SubStep,
) -> Result<Vec<Item>, ConnectorError> {
    items::list(clients, user, step).await.map_err(|e| {
        e.context(format!("listing {step} of IAM user {user}"))
            .into()
    })
}

/// Run the sub-steps that are not skipped.
pub(crate) async fn execute(
    clients: &AccountClients,
    user: &IamUser,
    params: &DisableUserParams,
) -> Result<ActionOutcome, ConnectorError> {
    let delete_keys = params.delete_access_keys;
    let mut reports = Vec::new();
    for step in params.active() {
        let mut report = Report {
            step,
            changes: Vec::new(),
            unchanged: 0,
        };
        for item in list(clients, &user.name, step).await? {
            let removal = items::remove(clients, &user.name, &item, delete_keys)
                .await
                .map_err(|e| e.context(format!("sub-step {step} of IAM user {}", user.name)))?;
            match removal {
                Removal::Done(verb) => report.changes.push(format!("{verb} {}", item.label())),
                Removal::Unchanged(_) => report.unchanged += 1,
            }
        }
        reports.push(report);
    }
    let account = clients.label(Some(&user.arn));
    let skipped: Vec<String> = params
        .skipped()
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    let changed: usize = reports.iter().map(|r| r.changes.len()).sum();
    let mut summary = if changed == 0 {
        format!(
            "IAM user {} (AWS account {account}) already disabled: nothing active to remove",
            user.name
        )
    } else {
        let per_step: Vec<String> = reports
            .iter()
            .filter(|r| !r.changes.is_empty())
            .map(|r| format!("{} {}", r.step, r.changes.len()))
            .collect();
        format!(
            "disabled IAM user {} (AWS account {account}): {changed} change(s) ({})",
            user.name,
            per_step.join(", ")
        )
    };
    if !skipped.is_empty() {
        summary.push_str(&format!("; skipped: {}", skipped.join(", ")));
    }
    let mut sub_steps: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            json!({
                "name": r.step.as_str(),
                "status": if r.changes.is_empty() { "unchanged" } else { "done" },
                "changes": r.changes,
                "unchanged": r.unchanged,
            })
        })
        .collect();
    sub_steps.extend(
        skipped
            .iter()
            .map(|name| json!({"name": name, "status": "skipped"})),
    );
    let details = json!({
        "user": user.name,
        "arn": user.arn,
        "account": account,
        "found_by": user.found_by.as_str(),
        "delete_access_keys": delete_keys,
        "sub_steps": sub_steps,
    });
    let mut outcome = if changed == 0 {
        ActionOutcome::unchanged(summary)
    } else {
        ActionOutcome::changed(summary)
    };
    outcome.skipped = skipped;
    Ok(outcome.with_details(details))
}

/// What the sub-steps that run would still have to remove.
pub(crate) async fn remaining(
    clients: &AccountClients,
    user: &str,
    params: &DisableUserParams,
) -> Result<Vec<Item>, ConnectorError> {
    let mut left = Vec::new();
    for step in params.active() {
        left.extend(
            list(clients, user, step)
                .await?
                .into_iter()
                .filter(|i| i.needs_action(params.delete_access_keys)),
        );
    }
    Ok(left)
}

/// List every category that runs: verified when nothing active is left.
pub(crate) async fn verify(
    clients: &AccountClients,
    user: &IamUser,
    params: &DisableUserParams,
) -> Result<Verification, ConnectorError> {
    let left = remaining(clients, &user.name, params).await?;
    let checked: Vec<&str> = params.active().iter().map(|s| s.as_str()).collect();
    let skipped: Vec<&str> = params.skipped().iter().map(|s| s.as_str()).collect();
    let not_checked = if skipped.is_empty() {
        String::new()
    } else {
        format!("; not checked (skipped): {}", skipped.join(", "))
    };
    if left.is_empty() {
        let what = if params.delete_access_keys {
            "no access key or signing certificate left"
        } else {
            "no active access key or signing certificate"
        };
        Ok(Verification::gone(format!(
            "IAM user {} (AWS account {}): listings of {} show {what}, and nothing else attached{not_checked}",
            user.name,
            clients.label(Some(&user.arn)),
            checked.join(", ")
        )))
    } else {
        let labels: Vec<String> = left.iter().map(Item::label).collect();
        Ok(Verification::still_present(format!(
            "IAM user {} still has: {}{not_checked}",
            user.name,
            labels.join("; ")
        )))
    }
}

/// Holdings the sub-steps that run would remove.
pub(crate) async fn preview(
    clients: &AccountClients,
    user: &IamUser,
    params: &DisableUserParams,
) -> Result<Vec<Holding>, ConnectorError> {
    let account = clients.label(Some(&user.arn));
    Ok(remaining(clients, &user.name, params)
        .await?
        .iter()
        .map(|i| i.holding(&user.name, &user.arn, &account))
        .collect())
}

/// Everything of `user` that grants access, in every category (skipped or not).
pub(crate) async fn holdings(
    clients: &AccountClients,
    user: &IamUser,
) -> Result<Vec<Holding>, ConnectorError> {
    let account = clients.label(Some(&user.arn));
    let mut holdings = Vec::new();
    for step in SubStep::ALL {
        holdings.extend(
            list(clients, &user.name, step)
                .await?
                .iter()
                .filter(|i| i.active)
                .map(|i| i.holding(&user.name, &user.arn, &account)),
        );
    }
    Ok(holdings)
}
