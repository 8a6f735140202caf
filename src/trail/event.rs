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
    utc_time_ms(text.as_bytes()).or_else(|| {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// The form audit trails write, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, read without
/// chrono (a tenth of an ingest's parsing went to it); `None` for anything else,
/// which chrono then reads (offsets, a lower-case `t`, a leap second, a date that does
/// not exist: chrono says which are times). The milliseconds are chrono's: the
/// fraction is cut, not rounded.
fn utc_time_ms(text: &[u8]) -> Option<i64> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', n0, n1, b':', s0, s1, rest @ ..] =
        text
    else {
        return None;
    };
    let digits = |pair: &[u8]| {
        pair.iter().try_fold(0i64, |value, &byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + i64::from(byte - b'0'))
        })
    };
    let year = digits(&[*y0, *y1, *y2, *y3])?;
    let (month, day) = (digits(&[*m0, *m1])?, digits(&[*d0, *d1])?);
    let (hour, minute, second) = (
        digits(&[*h0, *h1])?,
        digits(&[*n0, *n1])?,
        digits(&[*s0, *s1])?,
    );
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let millis = match rest {
        [b'Z'] => 0,
        [b'.', fraction @ .., b'Z'] if (1..=9).contains(&fraction.len()) => {
            // Milliseconds from the first three digits; the others are only checked.
            let (first, rest) = fraction.split_at(fraction.len().min(3));
            digits(rest)?;
            digits(first)? * [100, 10, 1][first.len() - 1]
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds * 1_000 + millis)
}

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The UTC day (days since 1970-01-01) of a time in milliseconds.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_ms(text: &str) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    /// Every day from 1600 to 2400 (leap days, century years), at times of day with
    /// fractions of every length, reads as chrono reads it.
    #[test]
    fn utc_times_read_as_chrono_reads_them() {
        let first = chrono::NaiveDate::from_ymd_opt(1600, 1, 1).expect("date");
        let last = chrono::NaiveDate::from_ymd_opt(2400, 12, 31).expect("date");
        let fractions = [
            "",
            ".5",
            ".05",
            ".999",
            ".1234",
            ".641000",
            ".552817",
            ".123456789",
        ];
        let mut date = first;
        let mut checked = 0;
        while date <= last {
            let n = checked % fractions.len();
            let (hour, minute, second) = (n * 3 % 24, n * 7 % 60, (n * 13 + 59) % 60);
            let text = format!("{date}T{hour:02}:{minute:02}:{second:02}{}Z", fractions[n]);
            let fast = utc_time_ms(text.as_bytes());
            assert!(fast.is_some(), "{text}");
            assert_eq!(fast, chrono_ms(&text), "{text}");
            date = date.succ_opt().expect("next day");
            checked += 1;
        }
        assert!(checked > 290_000);
    }

    /// What the fast path does not read is chrono's to read (or refuse).
    #[test]
    fn other_times_are_left_to_chrono() {
        for text in [
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5Z",
            "2026-11-18T09:14:03.Z",
            "2026-11-18T09:14:03.1234567890Z",
            "2026-11-18T09:14:03.12a4Z",
            "2026-11-18t09:14:03Z",
            "2026-11-18T09:14:03z",
            "2026-11-18 09:14:03Z",
            "2026-11-18T09:14:03+02:00",
            "2026-11-18T09:14:03.552817-07:30",
            "2026-11-18T09:14:03",
            "2026-11-18T09:14:03ZZ",
            "2026-11-18T9:14:03Z",
            "+2026-11-18T09:14:03Z",
            "2026-1a-18T09:14:03Z",
            "",
            "not a time",
        ] {
            let fast = utc_time_ms(text.as_bytes());
            assert!(fast.is_none() || fast == chrono_ms(text), "{text}");
            assert_eq!(parse_time_ms(text), chrono_ms(text), "{text}");
        }
        assert_eq!(
            parse_time_ms("2026-11-18T09:14:03.552817Z"),
            Some(1_794_993_243_552)
        );
        assert_eq!(parse_time_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time_ms("1969-12-31T23:59:59.999Z"), Some(-1));
    }
}
