//! The STS actions (API version 2011-06-15) served on the same endpoint:
//! `GetCallerIdentity` and `AssumeRole`. Credentials from `AssumeRole` act in the
//! role's account.

use super::auth::{Caller, Session};
use super::error::IamError;
use super::query::Params;
use super::wire::Xml;
use super::world::{aws_id, secret, World};
use super::{lock, Shared};
use std::time::{Duration, SystemTime};

/// Every STS action the simulator serves.
pub(crate) const ACTIONS: &[&str] = &["GetCallerIdentity", "AssumeRole"];

/// Apply one STS action.
pub(crate) fn run(
    shared: &Shared,
    caller: &Caller,
    action: &str,
    p: &Params,
) -> Result<Option<String>, IamError> {
    match action {
        "GetCallerIdentity" => Ok(Some(caller_identity(shared, caller))),
        "AssumeRole" => assume_role(shared, caller, p).map(Some),
        other => Err(IamError::invalid_action(other, "2011-06-15")),
    }
}

/// The ARN of the caller (`…:user/NAME`, `arn:aws:sts::…:assumed-role/ROLE/SESSION`).
pub(crate) fn caller_arn(shared: &Shared, caller: &Caller) -> String {
    match caller {
        Caller::Operator => format!(
            "arn:aws:iam::{}:user/{}",
            shared.account_id, shared.operator_name
        ),
        Caller::Role(s) => format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            s.account_id, s.role_name, s.session_name
        ),
    }
}

fn caller_identity(shared: &Shared, caller: &Caller) -> String {
    let (user_id, account) = match caller {
        Caller::Operator => (shared.operator_id.clone(), shared.account_id.clone()),
        Caller::Role(s) => (
            format!("{}:{}", s.role_id, s.session_name),
            s.account_id.clone(),
        ),
    };
    let mut x = Xml::new();
    x.el("Arn", &caller_arn(shared, caller))
        .el("UserId", &user_id)
        .el("Account", &account);
    x.finish()
}

/// `arn:aws:iam::ACCOUNT:role/[PATH/]NAME` → (account, name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, _partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    let ok = prefix == "arn"
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty();
    ok.then_some((account, name))
}

fn assume_role(shared: &Shared, caller: &Caller, p: &Params) -> Result<String, IamError> {
    let role_arn = p.required("RoleArn")?;
    let session_name = p.required("RoleSessionName")?;
    if !(2..=64).contains(&session_name.len())
        || !session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(IamError::validation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let duration = match p.get("DurationSeconds") {
        None => 3600,
        Some(raw) => match raw.parse::<u64>() {
            Ok(n @ 900..=43_200) => n,
            _ => {
                return Err(IamError::validation(format!(
                    "1 validation error detected: Value '{raw}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"
                )))
            }
        },
    };
    let denied = || {
        IamError::access_denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller_arn(shared, caller)
        ))
    };
    let (account, name) = parse_role_arn(role_arn)
        .ok_or_else(|| IamError::validation(format!("{role_arn} is invalid")))?;
    let role = {
        let worlds = lock(&shared.worlds);
        worlds
            .get(account)
            .and_then(|w: &World| w.role(name).ok())
            .cloned()
            .ok_or_else(denied)?
    };
    if role.external_id.is_some() && role.external_id.as_deref() != p.get("ExternalId") {
        return Err(denied());
    }
    let session = Session {
        access_key_id: aws_id("ASIA", 16),
        session_token: format!("FwoGZXIvYXdzE{}", secret(120).replace(['+', '/'], "A")),
        account_id: account.to_string(),
        role_name: role.name.clone(),
        role_id: role.id.clone(),
        session_name: session_name.to_string(),
        expires: SystemTime::now() + Duration::from_secs(duration),
    };
    let secret_key = secret(40);
    let mut x = Xml::new();
    x.wrap("Credentials", |x| {
        x.el("AccessKeyId", &session.access_key_id)
            .el("SecretAccessKey", &secret_key)
            .el("SessionToken", &session.session_token)
            .date("Expiration", session.expires);
    })
    .wrap("AssumedRoleUser", |x| {
        x.el(
            "AssumedRoleId",
            &format!("{}:{}", session.role_id, session.session_name),
        )
        .el(
            "Arn",
            &format!(
                "arn:aws:sts::{account}:assumed-role/{}/{}",
                session.role_name, session.session_name
            ),
        );
    });
    lock(&shared.sessions).insert(session.access_key_id.clone(), session);
    Ok(x.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::111111111111:role/ops/Leaver"),
            Some(("111111111111", "Leaver"))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::1:role/x"), None);
        assert_eq!(parse_role_arn("Leaver"), None);
    }
}
