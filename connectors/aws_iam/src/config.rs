//! Connector configuration and its validation.
//!
//! The configuration holds no credential: the connector's own credentials come from the
//! AWS default chain (environment, shared config/credentials files, SSO, web identity,
//! ECS/EC2 instance metadata), and each configured account may name a role that the
//! connector assumes with them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Region used unless configured otherwise (IAM is global; this is the signing region
/// of its `aws` partition endpoint and the region of the STS endpoint).
pub const DEFAULT_REGION: &str = "us-east-1";
/// Time limit of one request attempt unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts the SDK makes per IAM call (standard retry mode) unless configured otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Role session name used when assuming an account's role, unless configured otherwise.
pub const DEFAULT_SESSION_NAME: &str = "leaver";

/// How to reach AWS IAM.
#[derive(Clone)]
pub struct AwsIamConfig {
    /// Region of the clients (default `us-east-1`).
    pub region: String,
    /// Endpoint of IAM *and* STS, for tests and emulators (`http://127.0.0.1:5000`).
    /// `None`: the real AWS endpoints.
    pub endpoint_url: Option<String>,
    /// Accounts an action can target with its `account` parameter, by name
    /// (`prod = { role_arn = "arn:aws:iam::123456789012:role/Leaver" }`). An action's
    /// `account` may also be the 12-digit id of a configured role ARN.
    pub accounts: BTreeMap<String, AwsAccountConfig>,
    /// The account used when an action names none. `None`: the account of the
    /// connector's own credentials (no role assumed).
    pub default_account: Option<String>,
    /// Time limit of one request attempt (connect + answer).
    pub request_timeout: Duration,
    /// Attempts per IAM call with the SDK's standard retry mode (exponential backoff
    /// with jitter, for throttling, 5xx and timeouts). 1 disables the SDK's retries:
    /// the engine's step retries then handle every transient error.
    pub max_attempts: u32,
    /// `MaxItems` of every list call (1–1000). `None`: AWS's default page size (100).
    pub page_size: Option<i32>,
}

impl Default for AwsIamConfig {
    fn default() -> Self {
        Self {
            region: DEFAULT_REGION.to_string(),
            endpoint_url: None,
            accounts: BTreeMap::new(),
            default_account: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            page_size: None,
        }
    }
}

impl fmt::Debug for AwsIamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsIamConfig")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("accounts", &self.accounts)
            .field("default_account", &self.default_account)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("page_size", &self.page_size)
            .finish()
    }
}

/// One AWS account the connector can act in.
#[derive(Clone, Default)]
pub struct AwsAccountConfig {
    /// Role to assume there with the connector's own credentials
    /// (`arn:aws:iam::123456789012:role/Leaver`). `None`: use the connector's own
    /// credentials as they are (the account they belong to).
    pub role_arn: Option<String>,
    /// `sts:ExternalId` the role's trust policy requires, if any.
    pub external_id: Option<String>,
    /// Role session name (default `leaver`): what CloudTrail shows as the session.
    pub session_name: Option<String>,
}

impl fmt::Debug for AwsAccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The external id is not a secret by AWS's definition, but it is an access
        // condition: keep it out of logs all the same.
        let external_id = self.external_id.as_ref().map(|_| "[redacted]");
        f.debug_struct("AwsAccountConfig")
            .field("role_arn", &self.role_arn)
            .field("external_id", &external_id)
            .field("session_name", &self.session_name)
            .finish()
    }
}

/// Why the connector could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsIamSetupError {
    /// The region is not a region name.
    #[error("connectors.aws_iam.region `{0}` is not an AWS region name (e.g. us-east-1)")]
    Region(String),
    /// The endpoint is not an absolute http(s) URL.
    #[error("connectors.aws_iam.endpoint_url `{0}` is not an absolute http:// or https:// URL")]
    EndpointUrl(String),
    /// The endpoint carries credentials; they are not echoed.
    #[error("connectors.aws_iam.endpoint_url must not contain credentials (user:password@)")]
    EndpointCredentials,
    /// An account name is empty or has characters outside `[A-Za-z0-9_.-]`.
    #[error("connectors.aws_iam.accounts: `{0}` is not an account name (letters, digits, `_`, `.`, `-`)")]
    AccountName(String),
    /// A role ARN is not an IAM role ARN.
    #[error("connectors.aws_iam.accounts.{account}.role_arn `{arn}` is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")]
    RoleArn {
        /// Account name.
        account: String,
        /// The ARN as configured.
        arn: String,
    },
    /// An external id outside STS's limits (2–1224 characters of `[\w+=,.@:/-]`).
    #[error("connectors.aws_iam.accounts.{0}.external_id must be 2 to 1224 characters of letters, digits and +=,.@:/-")]
    ExternalId(String),
    /// A session name outside STS's limits (2–64 characters of `[\w+=,.@-]`).
    #[error("connectors.aws_iam.accounts.{account}.session_name `{name}` must be 2 to 64 characters of letters, digits and +=,.@-")]
    SessionName {
        /// Account name.
        account: String,
        /// The name as configured.
        name: String,
    },
    /// `default_account` names no configured account.
    #[error("connectors.aws_iam.default_account `{account}` is not configured in connectors.aws_iam.accounts (known: {known})")]
    DefaultAccount {
        /// The name as configured.
        account: String,
        /// The configured names.
        known: String,
    },
    /// The request timeout is zero.
    #[error("connectors.aws_iam.request_timeout must be greater than zero")]
    Timeout,
    /// `max_attempts` outside 1..=10.
    #[error("connectors.aws_iam.max_attempts must be between 1 and 10 (got {0})")]
    MaxAttempts(u32),
    /// `page_size` outside 1..=1000.
    #[error("connectors.aws_iam.page_size must be between 1 and 1000 (got {0})")]
    PageSize(i32),
}

/// Characters IAM allows in user, role, group and policy names (`[\w+=,.@-]`).
pub(crate) fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// An IAM user or role name: 1–64 characters of `[\w+=,.@-]`.
pub fn is_iam_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(is_iam_name_char)
}

fn is_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_account_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The account id of an IAM role ARN (`arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`),
/// or `None` when `arn` is not one.
pub fn role_arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    let ok = prefix == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && is_iam_name(name)
        && resource.len() <= 512;
    ok.then_some(account)
}

fn is_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| is_iam_name_char(c) || c == ':' || c == '/')
}

fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len()) && name.chars().all(is_iam_name_char)
}

/// A validated, normalized account entry.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// Name in `connectors.aws_iam.accounts`; `None`: the connector's own credentials.
    pub name: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub session_name: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("role_arn", &self.role_arn)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "[redacted]"),
            )
            .field("session_name", &self.session_name)
            .finish()
    }
}

impl Account {
    pub(crate) fn own() -> Self {
        Self {
            name: None,
            role_arn: None,
            external_id: None,
            session_name: DEFAULT_SESSION_NAME.to_string(),
        }
    }

    /// The 12-digit account id, when the role ARN tells it.
    pub(crate) fn id(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(role_arn_account)
    }

    /// Cache key of this account's clients.
    pub(crate) fn key(&self) -> String {
        self.name.clone().unwrap_or_default()
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub accounts: BTreeMap<String, Account>,
    pub default_account: Option<String>,
    pub request_timeout: Duration,
    pub max_attempts: u32,
    pub page_size: Option<i32>,
}

fn trimmed(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

impl Settings {
    pub(crate) fn validate(config: &AwsIamConfig) -> Result<Self, AwsIamSetupError> {
        let region = config.region.trim();
        let region = if region.is_empty() {
            DEFAULT_REGION
        } else {
            region
        };
        if !is_region(region) {
            return Err(AwsIamSetupError::Region(region.to_string()));
        }
        let endpoint_url = match trimmed(&config.endpoint_url) {
            None => None,
            Some(raw) => {
                let parsed = url::Url::parse(&raw)
                    .map_err(|_| AwsIamSetupError::EndpointUrl(raw.clone()))?;
                if !parsed.username().is_empty() || parsed.password().is_some() {
                    return Err(AwsIamSetupError::EndpointCredentials);
                }
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                    return Err(AwsIamSetupError::EndpointUrl(raw));
                }
                Some(raw.trim_end_matches('/').to_string())
            }
        };
        let mut accounts = BTreeMap::new();
        for (name, account) in &config.accounts {
            let name = name.trim();
            if !is_account_name(name) {
                return Err(AwsIamSetupError::AccountName(name.to_string()));
            }
            let role_arn = trimmed(&account.role_arn);
            if let Some(arn) = &role_arn {
                if role_arn_account(arn).is_none() {
                    return Err(AwsIamSetupError::RoleArn {
                        account: name.to_string(),
                        arn: arn.clone(),
                    });
                }
            }
            let external_id = trimmed(&account.external_id);
            if external_id.as_deref().is_some_and(|id| !is_external_id(id)) {
                return Err(AwsIamSetupError::ExternalId(name.to_string()));
            }
            let session_name =
                trimmed(&account.session_name).unwrap_or_else(|| DEFAULT_SESSION_NAME.into());
            if !is_session_name(&session_name) {
                return Err(AwsIamSetupError::SessionName {
                    account: name.to_string(),
                    name: session_name,
                });
            }
            accounts.insert(
                name.to_string(),
                Account {
                    name: Some(name.to_string()),
                    role_arn,
                    external_id,
                    session_name,
                },
            );
        }
        let default_account = trimmed(&config.default_account);
        if let Some(default) = &default_account {
            if !accounts.contains_key(default) {
                return Err(AwsIamSetupError::DefaultAccount {
                    account: default.clone(),
                    known: known_accounts(&accounts),
                });
            }
        }
        if config.request_timeout.is_zero() {
            return Err(AwsIamSetupError::Timeout);
        }
        if !(1..=10).contains(&config.max_attempts) {
            return Err(AwsIamSetupError::MaxAttempts(config.max_attempts));
        }
        if let Some(size) = config.page_size {
            if !(1..=1000).contains(&size) {
                return Err(AwsIamSetupError::PageSize(size));
            }
        }
        Ok(Self {
            region: region.to_string(),
            endpoint_url,
            accounts,
            default_account,
            request_timeout: config.request_timeout,
            max_attempts: config.max_attempts,
            page_size: config.page_size,
        })
    }

    /// The account an action targets: its `account` parameter (a configured name, or
    /// the account id of a configured role), else the default account, else the
    /// connector's own credentials.
    pub(crate) fn account(&self, param: Option<&str>) -> Result<Account, String> {
        let chosen = match param.map(str::trim) {
            Some(name) => Some(name),
            None => self.default_account.as_deref(),
        };
        let Some(name) = chosen else {
            return Ok(Account::own());
        };
        if let Some(account) = self.accounts.get(name) {
            return Ok(account.clone());
        }
        let by_id: Vec<&Account> = self
            .accounts
            .values()
            .filter(|a| a.id() == Some(name))
            .collect();
        match by_id.as_slice() {
            [one] => Ok((*one).clone()),
            [] if self.accounts.is_empty() => Err(format!(
                "account `{name}` is not configured: connectors.aws_iam.accounts is empty, so actions \
                 act only in the account of the connector's own credentials (leave `account` out)"
            )),
            [] => Err(format!(
                "account `{name}` is not configured in connectors.aws_iam.accounts (known: {})",
                known_accounts(&self.accounts)
            )),
            _ => Err(format!(
                "account id `{name}` matches several entries of connectors.aws_iam.accounts: name one of {}",
                known_accounts(&self.accounts)
            )),
        }
    }
}

fn known_accounts(accounts: &BTreeMap<String, Account>) -> String {
    if accounts.is_empty() {
        "none".to_string()
    } else {
        accounts.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_accounts(accounts: &[(&str, Option<&str>)]) -> AwsIamConfig {
        AwsIamConfig {
            accounts: accounts
                .iter()
                .map(|(name, arn)| {
                    (
                        name.to_string(),
                        AwsAccountConfig {
                            role_arn: arn.map(str::to_string),
                            ..AwsAccountConfig::default()
                        },
                    )
                })
                .collect(),
            ..AwsIamConfig::default()
        }
    }

    #[test]
    fn defaults_validate() {
        let s = Settings::validate(&AwsIamConfig::default()).unwrap();
        assert_eq!(s.region, "us-east-1");
        assert_eq!(s.account(None).unwrap(), Account::own());
    }

    #[test]
    fn role_arns() {
        assert_eq!(
            role_arn_account("arn:aws:iam::123456789012:role/Leaver"),
            Some("123456789012")
        );
        assert_eq!(
            role_arn_account("arn:aws-cn:iam::123456789012:role/ops/Leaver"),
            Some("123456789012")
        );
        for bad in [
            "arn:aws:iam::12345678901:role/Leaver",
            "arn:aws:iam::123456789012:user/Leaver",
            "arn:aws:sts::123456789012:role/Leaver",
            "arn:aws:iam:us-east-1:123456789012:role/Leaver",
            "arn:aws:iam::123456789012:role/",
            "Leaver",
        ] {
            assert_eq!(role_arn_account(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_bad_settings() {
        let bad_region = AwsIamConfig {
            region: "US East".into(),
            ..AwsIamConfig::default()
        };
        assert!(matches!(
            Settings::validate(&bad_region),
            Err(AwsIamSetupError::Region(_))
        ));
        let creds = AwsIamConfig {
            endpoint_url: Some("http://AKIA:secret@127.0.0.1:5000".into()),
            ..AwsIamConfig::default()
        };
        let e = Settings::validate(&creds).unwrap_err();
        assert_eq!(e, AwsIamSetupError::EndpointCredentials);
        assert!(!e.to_string().contains("secret"));
        let relative = AwsIamConfig {
            endpoint_url: Some("127.0.0.1:5000".into()),
            ..AwsIamConfig::default()
        };
        assert!(Settings::validate(&relative).is_err());
        let arn = with_accounts(&[("prod", Some("arn:aws:iam::1:role/x"))]);
        assert!(matches!(
            Settings::validate(&arn),
            Err(AwsIamSetupError::RoleArn { .. })
        ));
        let mut default = with_accounts(&[("prod", None)]);
        default.default_account = Some("staging".into());
        let e = Settings::validate(&default).unwrap_err();
        assert!(e.to_string().contains("known: prod"), "{e}");
        let zero = AwsIamConfig {
            request_timeout: Duration::ZERO,
            ..AwsIamConfig::default()
        };
        assert_eq!(
            Settings::validate(&zero).unwrap_err(),
            AwsIamSetupError::Timeout
        );
        let page = AwsIamConfig {
            page_size: Some(0),
            ..AwsIamConfig::default()
        };
        assert!(Settings::validate(&page).is_err());
    }

    #[test]
    fn account_selection() {
        let mut config = with_accounts(&[
            ("prod", Some("arn:aws:iam::111111111111:role/Leaver")),
            ("home", None),
        ]);
        let s = Settings::validate(&config).unwrap();
        assert_eq!(s.account(None).unwrap().name, None);
        assert_eq!(
            s.account(Some("prod")).unwrap().name.as_deref(),
            Some("prod")
        );
        assert_eq!(
            s.account(Some("111111111111")).unwrap().name.as_deref(),
            Some("prod")
        );
        let e = s.account(Some("staging")).unwrap_err();
        assert!(e.contains("known: home, prod"), "{e}");
        config.default_account = Some("prod".into());
        let s = Settings::validate(&config).unwrap();
        assert_eq!(s.account(None).unwrap().id(), Some("111111111111"));
        let none = Settings::validate(&AwsIamConfig::default()).unwrap();
        assert!(none.account(Some("prod")).unwrap_err().contains("empty"));
    }

    #[test]
    fn debug_hides_the_external_id() {
        let mut config = with_accounts(&[("prod", Some("arn:aws:iam::111111111111:role/L"))]);
        config.accounts.get_mut("prod").unwrap().external_id = Some("CANARY-ext-id".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        let settings = Settings::validate(&config).unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn iam_names() {
        assert!(is_iam_name("alice"));
        assert!(is_iam_name("alice@example.com"));
        assert!(is_iam_name("a+b=c,d.e@f-g_h"));
        for bad in ["", "a/b", "a b", "ä", &"x".repeat(65)] {
            assert!(!is_iam_name(bad), "{bad}");
        }
    }
}
