//! AWS CloudTrail records of secret reads: Secrets Manager `GetSecretValue` and
//! `BatchGetSecretValue`, SSM Parameter Store `GetParameter`, `GetParameters` and
//! `GetParametersByPath` with `withDecryption`. One record to the accesses it records
//! (a batch read names several secrets). Records with an `errorCode` are denied
//! attempts. Responses are never looked at (`responseElements` is null for these
//! calls anyway).

use super::event::{name_kind, parse_time_ms, Operation, Outcome, Principal, SecretAccess, Source};
use serde_json::Value;

/// The accesses one record holds; `Ok(vec![])` for a record that is not a secret read,
/// `Err` with the reason for a record that is malformed.
pub fn parse_record(record: &Value) -> Result<Vec<SecretAccess>, String> {
    let object = record.as_object().ok_or("a record is not a JSON object")?;
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let (Some(event_source), Some(event_name)) = (text("eventSource"), text("eventName")) else {
        return Err("no eventSource/eventName".into());
    };
    let Some(operation) = Operation::from_cloudtrail(event_name) else {
        return Ok(Vec::new());
    };
    let service = match (event_source, operation) {
        (
            "secretsmanager.amazonaws.com",
            Operation::GetSecretValue | Operation::BatchGetSecretValue,
        ) => "secretsmanager",
        (
            "ssm.amazonaws.com",
            Operation::GetParameter | Operation::GetParameters | Operation::GetParametersByPath,
        ) => "ssm",
        _ => return Ok(Vec::new()),
    };
    let time = text("eventTime").ok_or("no eventTime")?;
    let at_ms =
        parse_time_ms(time).ok_or_else(|| format!("eventTime `{time}` is not an RFC 3339 time"))?;
    let identity = object.get("userIdentity").ok_or("no userIdentity")?;
    let principal = principal(identity)
        .ok_or("userIdentity names nobody (no arn, principalId or onBehalfOf)")?;
    let params = object.get("requestParameters").unwrap_or(&Value::Null);
    let region = text("awsRegion").unwrap_or_default();
    let account = text("recipientAccountId")
        .or_else(|| identity.get("accountId").and_then(Value::as_str))
        .unwrap_or_default();
    let secrets: Vec<String> = if service == "secretsmanager" {
        let resource_arns: Vec<&str> = object
            .get("resources")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|r| r.get("ARN").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let ids: Vec<&str> = match operation {
            Operation::GetSecretValue => params
                .get("secretId")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
            _ => params
                .get("secretIdList")
                .and_then(Value::as_array)
                .map(|ids| ids.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
        };
        if ids.is_empty() && operation == Operation::GetSecretValue {
            return Err("GetSecretValue without requestParameters.secretId".into());
        }
        ids.iter()
            .map(|id| secret_arn(id, region, account, &resource_arns))
            .collect()
    } else {
        // Parameter values are secret only when decrypted (SecureString).
        let decrypted = params.get("withDecryption").and_then(Value::as_bool) == Some(true);
        if !decrypted {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = match operation {
            Operation::GetParameter => params
                .get("name")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
            Operation::GetParameters => params
                .get("names")
                .and_then(Value::as_array)
                .map(|n| n.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
            _ => params
                .get("path")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
        };
        if names.is_empty() {
            return Err(format!("{event_name} without a parameter name or path"));
        }
        names
            .iter()
            .map(|n| parameter_arn(n, region, account))
            .collect()
    };
    let outcome = if text("errorCode").is_some_and(|c| !c.is_empty()) {
        Outcome::Denied
    } else {
        Outcome::Read
    };
    let address = text("sourceIPAddress").map(str::to_string);
    Ok(secrets
        .into_iter()
        .map(|secret| SecretAccess {
            source: Source::Cloudtrail,
            principal: principal.clone(),
            secret,
            operation,
            at_ms,
            address: address.clone(),
            outcome,
        })
        .collect())
}

/// A Secrets Manager secret as a stable ARN: a full ARN loses its six-character
/// random suffix (`…:secret:prod/db-AbCdEf` → `…:secret:prod/db`), a name becomes the
/// ARN in the record's region and account. The record's `resources` ARN, when there
/// is one, says where the suffix is.
fn secret_arn(id: &str, region: &str, account: &str, resources: &[&str]) -> String {
    let full = resources
        .iter()
        .find(|arn| **arn == id || arn.starts_with(&format!("{id}-")));
    match (id.starts_with("arn:"), full) {
        (_, Some(full)) => strip_suffix(full),
        (true, None) => id.to_string(),
        (false, None) => format!("arn:aws:secretsmanager:{region}:{account}:secret:{id}"),
    }
}

fn strip_suffix(full_arn: &str) -> String {
    match full_arn.rsplit_once('-') {
        Some((name, suffix))
            if suffix.len() == 6
                && suffix.chars().all(|c| c.is_ascii_alphanumeric())
                && name.contains(":secret:") =>
        {
            name.to_string()
        }
        _ => full_arn.to_string(),
    }
}

/// An SSM parameter as an ARN (`arn:aws:ssm:<region>:<account>:parameter/<name>`).
fn parameter_arn(name: &str, region: &str, account: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_string();
    }
    let name = name.strip_prefix('/').unwrap_or(name);
    format!("arn:aws:ssm:{region}:{account}:parameter/{name}")
}

/// The identity of a record: keyed by its ARN (an assumed-role ARN names the session),
/// or the Identity Center user, or the principal id; with every name it carries.
fn principal(identity: &Value) -> Option<Principal> {
    let get = |key: &str| {
        identity
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let session = identity.get("sessionContext");
    let on_behalf_of = identity
        .get("onBehalfOf")
        .and_then(|o| o.get("userId"))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty());
    let arn = get("arn");
    let principal_id = get("principalId");
    let key = match (get("type"), on_behalf_of, arn, principal_id) {
        (Some("IdentityCenterUser"), Some(user), _, _) => format!("aws:identity_center:{user}"),
        (_, _, Some(arn), _) => format!("aws:arn:{arn}"),
        (_, Some(user), None, _) => format!("aws:identity_center:{user}"),
        (_, None, None, Some(id)) => format!("aws:principal:{id}"),
        _ => return None,
    };
    let mut names: Vec<(String, String)> = Vec::new();
    let mut add = |kind: &str, value: &str| {
        let value = value.to_lowercase();
        if !value.is_empty() && !names.iter().any(|(k, v)| k == kind && *v == value) {
            names.push((kind.to_string(), value));
        }
    };
    if let Some(arn) = arn {
        add(name_kind::ARN, arn);
        // arn:aws:sts::<account>:assumed-role/<role>/<session name>
        if let Some((_, rest)) = arn.split_once(":assumed-role/") {
            if let Some((_, session_name)) = rest.split_once('/') {
                add(name_kind::SESSION_NAME, session_name);
            }
        }
        // arn:aws:sts::<account>:federated-user/<name>
        if let Some((_, name)) = arn.split_once(":federated-user/") {
            add(name_kind::SESSION_NAME, name);
        }
    }
    if let Some(id) = principal_id {
        add(name_kind::PRINCIPAL_ID, id);
    }
    if let Some(user) = get("userName") {
        add(name_kind::USER_NAME, user);
    }
    if let Some(user) = on_behalf_of {
        add(name_kind::IDENTITY_CENTER_USER, user);
    }
    if let Some(session) = session {
        if let Some(source_identity) = session.get("sourceIdentity").and_then(Value::as_str) {
            add(name_kind::SOURCE_IDENTITY, source_identity);
        }
        if let Some(issuer) = session
            .get("sessionIssuer")
            .and_then(|i| i.get("arn"))
            .and_then(Value::as_str)
        {
            add(name_kind::SESSION_ISSUER, issuer);
        }
    }
    // Older records carry sourceIdentity at the top of userIdentity.
    if let Some(source_identity) = get("sourceIdentity") {
        add(name_kind::SOURCE_IDENTITY, source_identity);
    }
    Some(Principal { key, names })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_ids_become_stable_arns() {
        let full = "arn:aws:secretsmanager:eu-west-1:1:secret:prod/db-AbCdEf";
        assert_eq!(
            secret_arn(full, "eu-west-1", "1", &[full]),
            "arn:aws:secretsmanager:eu-west-1:1:secret:prod/db"
        );
        assert_eq!(
            secret_arn("prod/db", "eu-west-1", "1", &[]),
            "arn:aws:secretsmanager:eu-west-1:1:secret:prod/db"
        );
        assert_eq!(
            secret_arn("prod/db", "eu-west-1", "1", &[full]),
            "arn:aws:secretsmanager:eu-west-1:1:secret:prod/db"
        );
        assert_eq!(
            parameter_arn("/prod/key", "eu-west-1", "1"),
            "arn:aws:ssm:eu-west-1:1:parameter/prod/key"
        );
    }

    #[test]
    fn batch_reads_name_every_secret_and_plain_parameter_reads_are_not_secret() {
        let record = json!({"eventSource": "secretsmanager.amazonaws.com", "eventName": "BatchGetSecretValue",
            "eventTime": "2026-11-18T09:31:57Z", "awsRegion": "eu-west-1", "recipientAccountId": "1",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/frank", "userName": "frank", "principalId": "AIDA1"},
            "requestParameters": {"secretIdList": ["a", "b"]}});
        let accesses = parse_record(&record).unwrap();
        assert_eq!(accesses.len(), 2);
        assert_eq!(
            accesses[0].principal.key,
            "aws:arn:arn:aws:iam::1:user/frank"
        );
        let record = json!({"eventSource": "ssm.amazonaws.com", "eventName": "GetParameter",
            "eventTime": "2026-11-18T09:31:57Z", "userIdentity": {"arn": "x"},
            "requestParameters": {"name": "/a"}});
        assert!(parse_record(&record).unwrap().is_empty());
        let record = json!({"eventSource": "ssm.amazonaws.com", "eventName": "GetParameters",
            "eventTime": "2026-11-18T09:31:57Z", "userIdentity": {"type": "IdentityCenterUser",
            "onBehalfOf": {"userId": "u-1", "identityStoreArn": "arn:aws:identitystore::1:identitystore/d-1"}},
            "requestParameters": {"names": ["/a", "/b"], "withDecryption": true}});
        let accesses = parse_record(&record).unwrap();
        assert_eq!(accesses.len(), 2);
        assert_eq!(accesses[0].principal.key, "aws:identity_center:u-1");
        assert!(parse_record(&json!({"eventName": "GetSecretValue"})).is_err());
        assert!(parse_record(&json!([1])).is_err());
    }
}
