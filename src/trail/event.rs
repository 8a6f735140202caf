//! What the audit parsers produce: one attempt by one identity to read one secret.

use serde::{Deserialize, Serialize};

/// Where an access was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Vault,
    Cloudtrail,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Vault => "vault",
            Source::Cloudtrail => "cloudtrail",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "vault" => Some(Source::Vault),
            "cloudtrail" => Some(Source::Cloudtrail),
            _ => None,
        }
    }
}

/// The read operations the index knows; stored as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// Vault `read` (KV value, dynamic credentials).
    Read,
    /// Vault `list` (names under a KV directory, not values).
    List,
    GetSecretValue,
    BatchGetSecretValue,
    GetParameter,
    GetParameters,
    GetParametersByPath,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Operation::Read,
        Operation::List,
        Operation::GetSecretValue,
        Operation::BatchGetSecretValue,
        Operation::GetParameter,
        Operation::GetParameters,
        Operation::GetParametersByPath,
    ];

    pub fn bit(self) -> i64 {
        1 << (self as u32)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::List => "list",
            Operation::GetSecretValue => "GetSecretValue",
            Operation::BatchGetSecretValue => "BatchGetSecretValue",
            Operation::GetParameter => "GetParameter",
            Operation::GetParameters => "GetParameters",
            Operation::GetParametersByPath => "GetParametersByPath",
        }
    }

    pub fn from_cloudtrail(event_name: &str) -> Option<Self> {
        Some(match event_name {
            "GetSecretValue" => Operation::GetSecretValue,
            "BatchGetSecretValue" => Operation::BatchGetSecretValue,
            "GetParameter" => Operation::GetParameter,
            "GetParameters" => Operation::GetParameters,
            "GetParametersByPath" => Operation::GetParametersByPath,
            _ => return None,
        })
    }

    /// The names of the operations in a stored bit set.
    pub fn names(bits: i64) -> Vec<&'static str> {
        Self::ALL
            .iter()
            .filter(|op| bits & op.bit() != 0)
            .map(|op| op.as_str())
            .collect()
    }
}

/// The kinds of names an identity is known by in the audit trails. Values are stored
/// lower-cased; the query matches an email and the mapping table against them.
pub mod name_kind {
    /// Vault `auth.entity_id`.
    pub const ENTITY_ID: &str = "entity_id";
    /// Vault `auth.display_name` as logged (`oidc-alice@example.com`).
    pub const DISPLAY_NAME: &str = "display_name";
    /// Vault display name without its auth-mount prefix (`alice@example.com`).
    pub const LOGIN: &str = "login";
    /// Vault entity alias name as the auth method reports it in `auth.metadata`
    /// (`username`, `email`).
    pub const ALIAS: &str = "alias";
    /// CloudTrail `userIdentity.arn`.
    pub const ARN: &str = "arn";
    /// CloudTrail `userIdentity.principalId`.
    pub const PRINCIPAL_ID: &str = "principal_id";
    /// CloudTrail role session name (last part of an assumed-role ARN).
    pub const SESSION_NAME: &str = "session_name";
    /// CloudTrail `sessionContext.sourceIdentity`.
    pub const SOURCE_IDENTITY: &str = "source_identity";
    /// CloudTrail `userIdentity.userName` (IAM user).
    pub const USER_NAME: &str = "user_name";
    /// CloudTrail `onBehalfOf.userId` (IAM Identity Center user).
    pub const IDENTITY_CENTER_USER: &str = "identity_center_user";
    /// CloudTrail `sessionContext.sessionIssuer.arn` (the role behind a session).
    pub const SESSION_ISSUER: &str = "session_issuer";
}

/// Who made a request: one stable key per source plus every name it was seen under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// `vault:entity:<id>`, `vault:display_name:<name>`, `aws:arn:<arn>`, ...
    pub key: String,
    /// (kind, lower-cased value) pairs; kinds from [`name_kind`].
    pub names: Vec<(String, String)>,
}

/// Whether the attempt got the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Read,
    Denied,
}

/// One attempt to read one secret. Never holds a secret value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretAccess {
    pub source: Source,
    pub principal: Principal,
    /// Logical Vault path or AWS ARN.
    pub secret: String,
    pub operation: Operation,
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    pub address: Option<String>,
    pub outcome: Outcome,
}

/// Vault HMACs sensitive strings as `hmac-sha256:<hex>`: such a value is never a name,
/// a path or an address.
pub fn is_hmac(value: &str) -> bool {
    value.starts_with("hmac-sha256:")
}

/// A plain, non-empty, non-HMAC'd string.
pub fn plain(value: Option<&str>) -> Option<&str> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty() && !is_hmac(v))
}

/// Parse an RFC 3339 time to milliseconds since the epoch.
pub fn parse_time_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The UTC day (days since 1970-01-01) of a time in milliseconds.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}
