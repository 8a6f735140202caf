//! Configuration: a TOML file (`leaver.toml`), every key overridable by a `LEAVER_*`
//! environment variable, secrets given only as `env:NAME` or `file:PATH` references.
//!
//! Environment overrides: the key path with dots replaced by underscores, upper-cased,
//! prefixed by `LEAVER_`: `database.url` → `LEAVER_DATABASE_URL`,
//! `connectors.github.api_url` → `LEAVER_CONNECTORS_GITHUB_API_URL`. The known key paths
//! come from the configuration's own JSON Schema, so every key has exactly one name.

use crate::duration::parse_duration;
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("secret `{key}`: {message}")]
    Secret { key: String, message: String },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub plans: PlansConfig,
    pub evidence: EvidenceConfig,
    pub engine: EngineConfig,
    pub idp: IdpConfig,
    pub connectors: ConnectorsConfig,
    /// The SCIM 2.0 server at /scim/v2 (Okta or Entra provisioning points at it).
    pub scim: Option<ScimSection>,
    /// HR ticket systems that `ticket.update` reports to.
    pub tickets: TicketsConfig,
    /// The audit trail: which identity read which secret.
    pub trail: TrailConfig,
    /// Revocation drills (`[[drills.schedule]]`).
    pub drills: crate::drills::DrillsConfig,
    /// The dashboard at `/` (`[ui]`).
    pub ui: crate::ui::UiConfig,
}

/// `[trail]`: audit-trail ingestion.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TrailConfig {
    /// `[trail.vault_socket]`: listen for Vault's socket audit device.
    pub vault_socket: Option<VaultSocketSection>,
    /// `[[trail.environments]]`: which secrets belong to which environment (first
    /// match wins; unmatched secrets are in `default`), for rotation due dates.
    pub environments: Vec<TrailEnvironment>,
    /// `[trail.auto_rotate]`: which rotations Leaver performs itself.
    pub auto_rotate: AutoRotateSection,
    /// Cron schedule of the overdue-rotation reminders (default hourly).
    pub rotation_reminder_schedule: String,
}

impl Default for TrailConfig {
    fn default() -> Self {
        Self {
            vault_socket: None,
            environments: Vec::new(),
            auto_rotate: AutoRotateSection::default(),
            rotation_reminder_schedule: "0 * * * *".into(),
        }
    }
}

/// `[[trail.environments]]`: secrets whose path or ARN matches one of `patterns` (`*`
/// matches any run of characters, `/` included) are in environment `name`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrailEnvironment {
    pub name: String,
    pub patterns: Vec<String>,
}

/// `[trail.auto_rotate]`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AutoRotateSection {
    /// Rotate Vault KV v2 secrets automatically (a new version with generated values
    /// for every key, verified by the metadata's `current_version`).
    pub vault_kv: bool,
    /// Length (characters) of generated values (16-4096; default 32). A secret's
    /// `custom_metadata.leaver_generator` (`hex:64`) overrides it.
    pub length: u32,
    /// Characters of generated values: `alphanumeric`, `urlsafe` (default: letters,
    /// digits, `-`, `_`) or `hex`.
    pub charset: String,
    /// Rotate the access key of an IAM service user held in a Vault KV v2 secret
    /// (`custom_metadata.aws_iam_user`) through `[connectors.aws_iam]`.
    pub aws_iam_keys: bool,
    /// How long the old access key stays active after the new one is in Vault
    /// (default `24h`); then it is deactivated.
    pub aws_key_grace: String,
    /// Cron schedule of the job that deactivates old access keys whose grace period
    /// has passed (default every five minutes; fired once across replicas).
    pub key_deactivation_schedule: String,
    /// Push the new value into the GitHub Actions secrets a Vault secret names
    /// (`custom_metadata.github_actions_secrets`) through `[connectors.github]`.
    pub github_actions: bool,
}

impl Default for AutoRotateSection {
    fn default() -> Self {
        Self {
            vault_kv: false,
            length: 32,
            charset: "urlsafe".into(),
            aws_iam_keys: false,
            aws_key_grace: "24h".into(),
            key_deactivation_schedule: crate::rotations::keys::DEFAULT_SCHEDULE.into(),
            github_actions: false,
        }
    }
}

/// `[trail.vault_socket]`: Leaver listens on `listen` (TCP) and Vault's socket audit
/// device (`vault audit enable socket address=<listen> socket_type=tcp`) writes its
/// JSON lines there.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultSocketSection {
    /// `host:port`, e.g. `127.0.0.1:9090`.
    pub listen: String,
}

/// `[scim]`: the SCIM 2.0 service provider. Deactivating (`active` true → false) or
/// deleting a user starts the plans triggered by `<provider>.scim.deactivate` or
/// `<provider>.scim.delete`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimSection {
    /// `env:NAME` or `file:PATH`: the bearer token the provisioning client sends.
    pub token: String,
    /// Which identity provider provisions (`entra` or `okta`): names the trigger
    /// prefix and the identities' `idp`.
    #[serde(default)]
    pub provider: ScimProvider,
    /// How long after a deactivation the offboarding takes effect (e.g. "0s", "24h");
    /// a reactivation before then cancels it.
    #[serde(default = "default_deactivation_grace")]
    pub deactivation_grace: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScimProvider {
    #[default]
    Entra,
    Okta,
}

impl ScimProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimProvider::Entra => "entra",
            ScimProvider::Okta => "okta",
        }
    }
}

fn default_deactivation_grace() -> String {
    "0s".into()
}

impl ScimSection {
    /// The grace as a duration; zero ("0s", the default) means none.
    pub fn grace_duration(&self) -> Result<Duration, ConfigError> {
        let text = self.deactivation_grace.trim();
        let zero = text.starts_with('0')
            && text
                .trim_start_matches('0')
                .chars()
                .all(|c| c.is_ascii_alphabetic());
        if zero {
            return Ok(Duration::ZERO);
        }
        duration_key("scim.deactivation_grace", text)
    }
}

/// Identity providers that tell Leaver when someone leaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IdpConfig {
    pub okta: Option<OktaSection>,
    pub entra: Option<EntraSection>,
}

/// `[idp.entra]`: one Microsoft Entra tenant, reached through Microsoft Graph with an
/// app registration's client secret: the `entra` connector, Graph change notifications
/// at /hooks/entra, the users delta reconciliation and `leaver entra subscribe`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntraSection {
    /// The directory (tenant) id, or a verified domain of the tenant.
    pub tenant_id: String,
    /// The authority (`https://login.microsoftonline.com`); tokens come from
    /// `{authority_url}/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default = "default_entra_authority")]
    pub authority_url: String,
    /// Microsoft Graph without `/v1.0` (`https://graph.microsoft.com`); the token's scope
    /// is `{graph_url}/.default`.
    #[serde(default = "default_entra_graph")]
    pub graph_url: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// `env:NAME` or `file:PATH`: the client secret's value.
    pub client_secret: String,
    /// `env:NAME` or `file:PATH`: the subscription's clientState, checked on every
    /// change notification (at most 128 characters).
    pub client_state: String,
    /// How often the users delta query looks for changes whose notification was lost.
    #[serde(default = "default_entra_reconcile")]
    pub reconcile_every: String,
    /// Time limit of one Graph or token request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
}

fn default_entra_authority() -> String {
    "https://login.microsoftonline.com".into()
}

fn default_entra_graph() -> String {
    "https://graph.microsoft.com".into()
}

fn default_entra_reconcile() -> String {
    "15m".into()
}

impl EntraSection {
    pub fn reconcile_duration(&self) -> Result<Duration, ConfigError> {
        duration_key("idp.entra.reconcile_every", &self.reconcile_every)
    }

    fn check(&self) -> Result<(), ConfigError> {
        check_secret_ref("idp.entra.client_secret", &self.client_secret)?;
        check_secret_ref("idp.entra.client_state", &self.client_state)?;
        duration_key("idp.entra.request_timeout", &self.request_timeout)?;
        if self.reconcile_duration()?.is_zero() {
            return Err(ConfigError::Invalid {
                origin: "key idp.entra.reconcile_every".into(),
                message: "must be greater than zero".into(),
            });
        }
        for (key, value) in [
            ("idp.entra.authority_url", &self.authority_url),
            ("idp.entra.graph_url", &self.graph_url),
        ] {
            check_base_url(key, value)?;
        }
        let tenant = self.tenant_id.trim();
        if tenant.is_empty()
            || !tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(ConfigError::Invalid {
                origin: "key idp.entra.tenant_id".into(),
                message: format!("`{tenant}` is not a tenant id or domain"),
            });
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::Invalid {
                origin: "key idp.entra.client_id".into(),
                message: "must not be empty".into(),
            });
        }
        Ok(())
    }
}

/// An absolute http(s) URL without credentials, query or fragment.
fn check_base_url(key: &str, value: &str) -> Result<(), ConfigError> {
    let ok = reqwest::Url::parse(value.trim()).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none()
    });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            origin: format!("key {key}"),
            message: format!(
                "`{value}` is not an absolute http:// or https:// URL (without credentials, query or fragment)"
            ),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OktaSection {
    /// `https://acme.okta.com`.
    pub org_url: Option<String>,
    /// The header Okta's event hook sends its shared secret in.
    #[serde(default = "default_hook_auth_header")]
    pub hook_auth_header: String,
    /// `env:NAME` or `file:PATH`: the event hook's shared secret.
    pub hook_secret: String,
    /// The API service app's client id (`0oa…`). With `private_key`, enables the `okta`
    /// connector and the System Log reconciliation.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `env:NAME` or `file:PATH`: the service app's private key, PEM (PKCS#8 RSA or EC,
    /// or PKCS#1 RSA), for `private_key_jwt` client assertions.
    #[serde(default)]
    pub private_key: Option<String>,
    /// The key's id (`kid`) in the service app's public keys.
    #[serde(default)]
    pub key_id: Option<String>,
    /// OAuth scopes to request (default `okta.users.manage okta.users.read okta.logs.read`).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// How often the System Log is read for events whose hook delivery was lost.
    #[serde(default = "default_okta_reconcile")]
    pub reconcile_every: String,
    /// How far back the first reconciliation reads.
    #[serde(default = "default_okta_lookback")]
    pub reconcile_lookback: String,
    /// Time limit of one Okta API or token request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
}

impl Default for OktaSection {
    fn default() -> Self {
        Self {
            org_url: None,
            hook_auth_header: default_hook_auth_header(),
            hook_secret: String::new(),
            client_id: None,
            private_key: None,
            key_id: None,
            scopes: None,
            reconcile_every: default_okta_reconcile(),
            reconcile_lookback: default_okta_lookback(),
            request_timeout: default_request_timeout(),
        }
    }
}

impl OktaSection {
    /// Whether API client credentials are configured (connector and reconciliation).
    pub fn has_api_credentials(&self) -> bool {
        self.client_id
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty())
            && self
                .private_key
                .as_deref()
                .is_some_and(|k| !k.trim().is_empty())
    }

    pub fn reconcile_duration(&self) -> Result<Duration, ConfigError> {
        duration_key("idp.okta.reconcile_every", &self.reconcile_every)
    }

    pub fn lookback_duration(&self) -> Result<Duration, ConfigError> {
        duration_key("idp.okta.reconcile_lookback", &self.reconcile_lookback)
    }

    fn check_api(&self) -> Result<(), ConfigError> {
        if let Some(key) = &self.private_key {
            check_secret_ref("idp.okta.private_key", key)?;
        }
        if self.private_key.is_some() != self.client_id.is_some() {
            return Err(ConfigError::Invalid {
                origin: "section idp.okta".into(),
                message: "client_id and private_key go together (the API service app)".into(),
            });
        }
        if self.has_api_credentials() && self.org_url.as_deref().is_none_or(|u| u.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                origin: "key idp.okta.org_url".into(),
                message: "required with client_id and private_key".into(),
            });
        }
        duration_key("idp.okta.request_timeout", &self.request_timeout)?;
        self.lookback_duration()?;
        if self.reconcile_duration()?.is_zero() {
            return Err(ConfigError::Invalid {
                origin: "key idp.okta.reconcile_every".into(),
                message: "must be greater than zero".into(),
            });
        }
        Ok(())
    }
}

fn default_hook_auth_header() -> String {
    "Authorization".into()
}

fn default_okta_reconcile() -> String {
    "5m".into()
}

fn default_okta_lookback() -> String {
    "1h".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Largest accepted request body, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Public base URL, used in links printed by the CLI.
    pub public_url: Option<String>,
    /// Requests per second each public hook (`/hooks/okta`, `/hooks/entra`,
    /// `/scim/v2`) accepts, one token bucket per hook; over it, 429 with
    /// `Retry-After`. 0 turns the limit off.
    pub hook_rate_limit_per_second: u32,
    /// Requests a hook accepts at once before the per-second rate applies.
    pub hook_rate_limit_burst: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            public_url: None,
            hook_rate_limit_per_second: 50,
            hook_rate_limit_burst: 200,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://leaver.db` (embedded default) or `postgres://…` (several replicas).
    pub url: String,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://leaver.db".into(),
            max_connections: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PlansConfig {
    pub dir: PathBuf,
}

impl Default for PlansConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("workflows"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    /// `file:PATH` (created on first start if missing) or `env:NAME` holding a PKCS#8 PEM.
    pub signing_key: String,
    /// Cron expression for periodic signed checkpoints (seconds field optional).
    pub checkpoint_schedule: String,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self {
            signing_key: "file:leaver-signing.key".into(),
            checkpoint_schedule: "0 */5 * * * *".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// How long a claimed step stays leased without a heartbeat before another worker
    /// may take it over (e.g. after a crash).
    pub lease: String,
    /// How often an idle worker looks for due work.
    pub poll_interval: String,
    /// Steps one process executes at once.
    pub max_in_flight: usize,
    /// Steps one process executes at once against the same connector.
    pub per_connector_limit: usize,
    /// Default time limit for one execute or verify call.
    pub step_timeout: String,
    /// Default attempts before a step with transient errors fails.
    pub max_attempts: u32,
    /// Set false to run the HTTP server without workers.
    pub workers: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            lease: "30s".into(),
            poll_interval: "500ms".into(),
            max_in_flight: 64,
            per_connector_limit: 16,
            step_timeout: "60s".into(),
            max_attempts: 8,
            workers: true,
        }
    }
}

impl EngineConfig {
    pub fn lease_duration(&self) -> Result<Duration, ConfigError> {
        duration_key("engine.lease", &self.lease)
    }
    pub fn poll_duration(&self) -> Result<Duration, ConfigError> {
        duration_key("engine.poll_interval", &self.poll_interval)
    }
    pub fn step_timeout_duration(&self) -> Result<Duration, ConfigError> {
        duration_key("engine.step_timeout", &self.step_timeout)
    }
}

fn duration_key(key: &str, text: &str) -> Result<Duration, ConfigError> {
    parse_duration(text).map_err(|message| ConfigError::Invalid {
        origin: format!("key {key}"),
        message,
    })
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorsConfig {
    pub github: Option<GithubSection>,
    pub vault: Option<VaultSection>,
    pub aws_iam: Option<AwsIamSection>,
    pub gitlab: Option<GitlabSection>,
}

/// `[connectors.aws_iam]`. No credential here: the connector uses the AWS default
/// chain (environment, shared config/credentials files, SSO, web identity, instance
/// metadata) and, per account, assumes the configured role with it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsIamSection {
    /// Signing region of IAM and region of STS (default `us-east-1`).
    #[serde(default = "default_aws_region")]
    pub region: String,
    /// IAM and STS endpoint, for emulators in tests (`http://127.0.0.1:5000`).
    pub endpoint_url: Option<String>,
    /// Time limit of one AWS request attempt.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
    /// Attempts per AWS call by the SDK (standard retry mode, 1-10); the engine retries
    /// the step on top.
    #[serde(default = "default_aws_max_attempts")]
    pub max_attempts: u32,
    /// Account used when an action names none (a key of `accounts`); default: the
    /// account of the connector's own credentials.
    pub default_account: Option<String>,
    /// `MaxItems` of IAM list calls (1-1000; default AWS's 100).
    pub page_size: Option<i32>,
    /// Accounts an action's `account` parameter may name.
    #[serde(default)]
    pub accounts: std::collections::BTreeMap<String, AwsAccountSection>,
}

/// `[connectors.aws_iam.accounts.NAME]`. `Debug` hides the external id (an access
/// condition, kept out of logs).
#[derive(Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsAccountSection {
    /// Role assumed in that account (`arn:aws:iam::123456789012:role/Leaver`); none:
    /// the connector's own credentials.
    pub role_arn: Option<String>,
    /// `sts:ExternalId` the role's trust policy requires.
    pub external_id: Option<String>,
    /// Role session name shown in CloudTrail (default `leaver`).
    pub session_name: Option<String>,
}

impl std::fmt::Debug for AwsAccountSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsAccountSection")
            .field("role_arn", &self.role_arn)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "[redacted]"),
            )
            .field("session_name", &self.session_name)
            .finish()
    }
}

impl AwsIamSection {
    /// The connector's configuration.
    pub fn to_connector_config(
        &self,
    ) -> Result<leaver_connector_aws_iam::AwsIamConfig, ConfigError> {
        let request_timeout =
            duration_key("connectors.aws_iam.request_timeout", &self.request_timeout)?;
        let config = leaver_connector_aws_iam::AwsIamConfig {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            accounts: self
                .accounts
                .iter()
                .map(|(name, a)| {
                    (
                        name.clone(),
                        leaver_connector_aws_iam::AwsAccountConfig {
                            role_arn: a.role_arn.clone(),
                            external_id: a.external_id.clone(),
                            session_name: a.session_name.clone(),
                        },
                    )
                })
                .collect(),
            default_account: self.default_account.clone(),
            request_timeout,
            max_attempts: self.max_attempts,
            page_size: self.page_size,
        };
        leaver_connector_aws_iam::AwsIamConnector::new(config.clone()).map_err(|e| {
            ConfigError::Invalid {
                origin: "section [connectors.aws_iam]".into(),
                message: e.to_string(),
            }
        })?;
        Ok(config)
    }
}

fn default_aws_region() -> String {
    leaver_connector_aws_iam::DEFAULT_REGION.into()
}

fn default_aws_max_attempts() -> u32 {
    leaver_connector_aws_iam::DEFAULT_MAX_ATTEMPTS
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultSection {
    /// Vault's address without `/v1` (`https://vault.internal:8200`).
    pub addr: String,
    /// `env:NAME` or `file:PATH`: the token sent as `X-Vault-Token`.
    pub token: String,
    /// Default namespace (`X-Vault-Namespace`) for actions that do not name one.
    pub namespace: Option<String>,
    /// Time limit of one Vault request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
}

/// `[connectors.gitlab]`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitlabSection {
    /// The API root with `/api/v4` (default `https://gitlab.com/api/v4`).
    #[serde(default = "default_gitlab_api")]
    pub api_url: String,
    /// `env:NAME` or `file:PATH`: an administrator's access token with the `api` scope,
    /// sent as `PRIVATE-TOKEN`.
    pub token: String,
    /// Time limit of one GitLab request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
}

fn default_gitlab_api() -> String {
    leaver_connector_gitlab::DEFAULT_API_URL.into()
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubSection {
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// Default org for actions that do not name one.
    pub org: Option<String>,
    /// `env:NAME` or `file:PATH`: a token (classic or fine-grained PAT). Give either
    /// this or `[connectors.github.app]`.
    #[serde(default)]
    pub token: String,
    /// Authenticate as a GitHub App installation instead of with a token (needed for
    /// `github.revoke_fine_grained_tokens`).
    #[serde(default)]
    pub app: Option<GithubAppSection>,
    /// Time limit of one GitHub request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
}

/// `[connectors.github.app]`: a GitHub App installed in the organization.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubAppSection {
    /// The App's id.
    pub app_id: u64,
    /// The installation's id in the organization.
    pub installation_id: u64,
    /// `env:NAME` or `file:PATH`: the App's private key (PEM).
    pub private_key: String,
}

fn default_github_api() -> String {
    "https://api.github.com".into()
}

fn default_request_timeout() -> String {
    "30s".into()
}

/// `[tickets.*]`: the HR ticket systems the `ticket.update` action posts progress notes
/// and the final summary to. A run's ticket reference (`{"system": "jira", "key":
/// "HR-4312"}`) names the section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsConfig {
    pub jira: Option<JiraSection>,
    pub servicenow: Option<ServiceNowSection>,
}

/// `[tickets.jira]`: Jira Cloud, REST API v3, Basic auth with an API token.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JiraSection {
    /// The site (`https://acme.atlassian.net`).
    pub base_url: String,
    /// The Atlassian account email of the API user.
    pub email: String,
    /// `env:NAME` or `file:PATH`: that account's API token.
    pub api_token: String,
    /// Time limit of one Jira request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
}

/// `[tickets.servicenow]`: ServiceNow Table API, Basic auth.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowSection {
    /// The instance (`https://acme.service-now.com`).
    pub instance_url: String,
    /// The integration user.
    pub username: String,
    /// `env:NAME` or `file:PATH`: its password.
    pub password: String,
    /// The table whose `number` the ticket key is (HR Service Delivery cases by default).
    #[serde(default = "default_servicenow_table")]
    pub table: String,
    /// Time limit of one ServiceNow request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
}

fn default_servicenow_table() -> String {
    "sn_hr_core_case".into()
}

impl Config {
    /// Load `path` (if given; a missing default file is fine) and apply `LEAVER_*`
    /// environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (text, origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                (text, path.display().to_string())
            }
            None => match std::fs::read_to_string("leaver.toml") {
                Ok(text) => (text, "leaver.toml".to_string()),
                Err(_) => (String::new(), "defaults".to_string()),
            },
        };
        Self::from_toml_with_env(&text, &origin, std::env::vars())
    }

    /// Parse TOML text, then apply overrides from `env` (name, value) pairs.
    pub fn from_toml_with_env(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let keys = known_keys();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("LEAVER_") else {
                continue;
            };
            let Some((path, kind)) = keys.iter().find(|(path, _)| env_suffix(path) == rest) else {
                continue;
            };
            set_path(&mut table, path, typed_value(&value, kind, &name)?);
        }
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    origin: origin.to_string(),
                    message: e.to_string(),
                })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.engine.lease_duration()?;
        self.engine.poll_duration()?;
        self.engine.step_timeout_duration()?;
        if let Some(github) = &self.connectors.github {
            match (github.token.trim().is_empty(), &github.app) {
                (false, None) => {
                    check_secret_ref("connectors.github.token", &github.token)?;
                }
                (true, Some(app)) => {
                    check_secret_ref("connectors.github.app.private_key", &app.private_key)?;
                }
                (has_no_token, _) => {
                    return Err(ConfigError::Invalid {
                        origin: "key connectors.github".into(),
                        message: if has_no_token {
                            "give `token` or `[connectors.github.app]`".into()
                        } else {
                            "give `token` or `[connectors.github.app]`, not both".into()
                        },
                    })
                }
            }
            duration_key("connectors.github.request_timeout", &github.request_timeout)?;
        }
        if let Some(vault) = &self.connectors.vault {
            check_secret_ref("connectors.vault.token", &vault.token)?;
            duration_key("connectors.vault.request_timeout", &vault.request_timeout)?;
        }
        if let Some(aws_iam) = &self.connectors.aws_iam {
            aws_iam.to_connector_config()?;
        }
        if let Some(gitlab) = &self.connectors.gitlab {
            check_secret_ref("connectors.gitlab.token", &gitlab.token)?;
            duration_key("connectors.gitlab.request_timeout", &gitlab.request_timeout)?;
        }
        if let Some(jira) = &self.tickets.jira {
            check_secret_ref("tickets.jira.api_token", &jira.api_token)?;
            duration_key("tickets.jira.request_timeout", &jira.request_timeout)?;
        }
        if let Some(servicenow) = &self.tickets.servicenow {
            check_secret_ref("tickets.servicenow.password", &servicenow.password)?;
            duration_key(
                "tickets.servicenow.request_timeout",
                &servicenow.request_timeout,
            )?;
        }
        check_secret_ref("evidence.signing_key", &self.evidence.signing_key)?;
        self.drills.check()?;
        self.ui.check()?;
        if let Some(socket) = &self.trail.vault_socket {
            socket
                .listen
                .parse::<std::net::SocketAddr>()
                .map_err(|e| ConfigError::Invalid {
                    origin: "key trail.vault_socket.listen".into(),
                    message: format!("`{}` is not host:port: {e}", socket.listen),
                })?;
        }
        if let Some(scim) = &self.scim {
            check_secret_ref("scim.token", &scim.token)?;
            scim.grace_duration()?;
        }
        if let Some(entra) = &self.idp.entra {
            entra.check()?;
        }
        if let Some(okta) = &self.idp.okta {
            check_secret_ref("idp.okta.hook_secret", &okta.hook_secret)?;
            okta.check_api()?;
            axum::http::HeaderName::from_bytes(okta.hook_auth_header.as_bytes()).map_err(|_| {
                ConfigError::Invalid {
                    origin: "key idp.okta.hook_auth_header".into(),
                    message: format!("`{}` is not a valid header name", okta.hook_auth_header),
                }
            })?;
        }
        Ok(())
    }
}

fn env_suffix(path: &str) -> String {
    path.replace('.', "_").to_ascii_uppercase()
}

/// Every leaf key of the configuration with its JSON type, from the JSON Schema.
fn known_keys() -> Vec<(String, String)> {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default();
    let defs = schema.get("$defs").cloned().unwrap_or_default();
    let mut keys = Vec::new();
    collect_keys(&schema, &defs, "", &mut keys, 0);
    keys
}

fn collect_keys(
    schema: &serde_json::Value,
    defs: &serde_json::Value,
    prefix: &str,
    out: &mut Vec<(String, String)>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    let resolved = resolve_ref(schema, defs);
    if let Some(props) = resolved.get("properties").and_then(|p| p.as_object()) {
        for (name, sub) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            let sub = resolve_ref(sub, defs);
            if sub.get("properties").is_some() {
                collect_keys(&sub, defs, &path, out, depth + 1);
            } else {
                out.push((path, json_type(&sub)));
            }
        }
    }
}

fn resolve_ref(schema: &serde_json::Value, defs: &serde_json::Value) -> serde_json::Value {
    // `Option<T>` is `anyOf: [{$ref}, {type: null}]`; a plain reference is `$ref`.
    let candidate = schema
        .get("anyOf")
        .and_then(|a| a.as_array())
        .and_then(|a| a.iter().find(|s| s.get("$ref").is_some()))
        .unwrap_or(schema);
    match candidate.get("$ref").and_then(|r| r.as_str()) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            defs.get(name).cloned().unwrap_or_default()
        }
        None => schema.clone(),
    }
}

fn json_type(schema: &serde_json::Value) -> String {
    match schema.get("type") {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(serde_json::Value::Array(types)) => types
            .iter()
            .filter_map(|t| t.as_str())
            .find(|t| *t != "null")
            .unwrap_or("string")
            .to_string(),
        _ => "string".to_string(),
    }
}

fn typed_value(value: &str, kind: &str, var: &str) -> Result<toml::Value, ConfigError> {
    let invalid = |what: &str| ConfigError::Invalid {
        origin: format!("environment variable {var}"),
        message: format!("expected {what}, got `{value}`"),
    };
    Ok(match kind {
        "integer" => toml::Value::Integer(value.parse().map_err(|_| invalid("an integer"))?),
        "boolean" => toml::Value::Boolean(value.parse().map_err(|_| invalid("true or false"))?),
        _ => toml::Value::String(value.to_string()),
    })
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let Some(next) = entry.as_table_mut() else {
            return;
        };
        current = next;
    }
    current.insert(last.to_string(), value);
}

/// A secret reference as written in the config: `env:NAME` or `file:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

fn check_secret_ref(key: &str, value: &str) -> Result<SecretRef, ConfigError> {
    parse_secret_ref(value).ok_or_else(|| ConfigError::Secret {
        key: key.to_string(),
        message: "secrets are never written in the config: use `env:NAME` or `file:PATH`"
            .to_string(),
    })
}

pub fn parse_secret_ref(value: &str) -> Option<SecretRef> {
    if let Some(name) = value.strip_prefix("env:") {
        (!name.is_empty()).then(|| SecretRef::Env(name.to_string()))
    } else if let Some(path) = value.strip_prefix("file:") {
        (!path.is_empty()).then(|| SecretRef::File(PathBuf::from(path)))
    } else {
        None
    }
}

/// Read the secret a reference points to. Errors name the reference, never the value.
pub fn resolve_secret(key: &str, value: &str) -> Result<SecretString, ConfigError> {
    let secret_error = |message: String| ConfigError::Secret {
        key: key.to_string(),
        message,
    };
    match check_secret_ref(key, value)? {
        SecretRef::Env(name) => std::env::var(&name)
            .map(|v| SecretString::from(v.trim().to_string()))
            .map_err(|_| secret_error(format!("environment variable {name} is not set"))),
        SecretRef::File(path) => std::fs::read_to_string(&path)
            .map(|v| SecretString::from(v.trim().to_string()))
            .map_err(|e| secret_error(format!("cannot read {}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply() {
        let config = Config::from_toml_with_env("", "test", env(&[])).unwrap();
        assert_eq!(config.database.url, "sqlite://leaver.db");
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert_eq!(config.plans.dir, PathBuf::from("workflows"));
    }

    #[test]
    fn env_overrides_nested_keys_with_underscores() {
        let text = "[connectors.github]\ntoken = \"env:GH\"\n";
        let config = Config::from_toml_with_env(
            text,
            "test",
            env(&[
                ("LEAVER_DATABASE_URL", "postgres://x/y"),
                ("LEAVER_CONNECTORS_GITHUB_API_URL", "http://127.0.0.1:1"),
                ("LEAVER_SERVER_MAX_BODY_BYTES", "42"),
                ("LEAVER_ENGINE_WORKERS", "false"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.database.url, "postgres://x/y");
        assert_eq!(config.server.max_body_bytes, 42);
        assert!(!config.engine.workers);
        assert_eq!(
            config.connectors.github.unwrap().api_url,
            "http://127.0.0.1:1"
        );
    }

    #[test]
    fn github_takes_a_token_or_an_app_but_not_both() {
        let app = "[connectors.github.app]\napp_id = 1\ninstallation_id = 2\nprivate_key = \"file:/k.pem\"\n";
        let config =
            Config::from_toml_with_env(&format!("[connectors.github]\n{app}"), "t", env(&[]))
                .unwrap();
        let github = config.connectors.github.unwrap();
        assert!(github.token.is_empty());
        assert_eq!(github.app.unwrap().installation_id, 2);
        let both = format!("[connectors.github]\ntoken = \"env:GH\"\n{app}");
        let err = Config::from_toml_with_env(&both, "t", env(&[])).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let neither =
            Config::from_toml_with_env("[connectors.github]\norg = \"acme\"\n", "t", env(&[]))
                .unwrap_err();
        assert!(neither.to_string().contains("give `token`"), "{neither}");
        let literal = format!(
            "[connectors.github]\n{}",
            app.replace("file:/k.pem", "-----BEGIN KEY")
        );
        assert!(Config::from_toml_with_env(&literal, "t", env(&[])).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::from_toml_with_env("[server]\nlisen = \"x\"\n", "t.toml", env(&[]))
            .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn literal_secret_is_refused_without_echoing_it() {
        let text = "[connectors.github]\ntoken = \"ghp_canary_value\"\n";
        let err = Config::from_toml_with_env(text, "t.toml", env(&[])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("env:NAME"), "{message}");
        assert!(!message.contains("ghp_canary_value"), "{message}");
    }

    #[test]
    fn scim_section_defaults_and_overrides() {
        let config =
            Config::from_toml_with_env("[scim]\ntoken = \"env:SCIM_TOKEN\"\n", "t", env(&[]))
                .unwrap();
        let scim = config.scim.unwrap();
        assert_eq!(scim.provider, ScimProvider::Entra);
        assert_eq!(scim.grace_duration().unwrap(), Duration::ZERO);
        let config = Config::from_toml_with_env(
            "[scim]\ntoken = \"env:SCIM_TOKEN\"\n",
            "t",
            env(&[
                ("LEAVER_SCIM_PROVIDER", "okta"),
                ("LEAVER_SCIM_DEACTIVATION_GRACE", "24h"),
            ]),
        )
        .unwrap();
        let scim = config.scim.unwrap();
        assert_eq!(scim.provider, ScimProvider::Okta);
        assert_eq!(scim.grace_duration().unwrap(), Duration::from_secs(86400));
        for (text, needle) in [
            ("[scim]\ntoken = \"scim-canary-literal\"\n", "env:NAME"),
            (
                "[scim]\ntoken = \"env:T\"\nprovider = \"google\"\n",
                "google",
            ),
            (
                "[scim]\ntoken = \"env:T\"\ndeactivation_grace = \"soon\"\n",
                "scim.deactivation_grace",
            ),
        ] {
            let message = Config::from_toml_with_env(text, "t", env(&[]))
                .unwrap_err()
                .to_string();
            assert!(message.contains(needle), "{message}");
            assert!(!message.contains("scim-canary-literal"), "{message}");
        }
    }

    #[test]
    fn ticket_sections_defaults_overrides_and_secrets() {
        let text = "[tickets.jira]\nbase_url = \"https://acme.atlassian.net\"\nemail = \"bot@acme.com\"\napi_token = \"env:JIRA_TOKEN\"\n\
                    [tickets.servicenow]\ninstance_url = \"https://acme.service-now.com\"\nusername = \"leaver\"\npassword = \"file:/run/sn\"\n";
        let config = Config::from_toml_with_env(
            text,
            "t",
            env(&[("LEAVER_TICKETS_SERVICENOW_TABLE", "incident")]),
        )
        .unwrap();
        let jira = config.tickets.jira.unwrap();
        assert_eq!(jira.request_timeout, "30s");
        let servicenow = config.tickets.servicenow.unwrap();
        assert_eq!(servicenow.table, "incident");
        let config = Config::from_toml_with_env(
            "[tickets.servicenow]\ninstance_url = \"https://x\"\nusername = \"u\"\npassword = \"env:P\"\n",
            "t",
            env(&[]),
        )
        .unwrap();
        assert_eq!(config.tickets.servicenow.unwrap().table, "sn_hr_core_case");
        for (text, needle) in [
            ("[tickets.jira]\nbase_url = \"https://x\"\nemail = \"e\"\napi_token = \"jira-canary-literal\"\n", "tickets.jira.api_token"),
            ("[tickets.servicenow]\ninstance_url = \"https://x\"\nusername = \"u\"\npassword = \"jira-canary-literal\"\n", "tickets.servicenow.password"),
            ("[tickets.jira]\nbase_url = \"https://x\"\nemail = \"e\"\napi_token = \"env:T\"\nrequest_timeout = \"soon\"\n", "tickets.jira.request_timeout"),
            ("[tickets.zendesk]\nurl = \"x\"\n", "zendesk"),
        ] {
            let message = Config::from_toml_with_env(text, "t", env(&[]))
                .unwrap_err()
                .to_string();
            assert!(message.contains(needle), "{message}");
            assert!(!message.contains("jira-canary-literal"), "{message}");
        }
    }

    #[test]
    fn bad_env_integer_is_a_clear_error() {
        let err =
            Config::from_toml_with_env("", "t", env(&[("LEAVER_SERVER_MAX_BODY_BYTES", "lots")]))
                .unwrap_err();
        assert!(err.to_string().contains("LEAVER_SERVER_MAX_BODY_BYTES"));
    }

    #[test]
    fn the_example_configuration_in_the_repository_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("leaver.example.toml");
        let config = Config::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        assert!(config.connectors.github.is_some());
        assert!(config.connectors.vault.is_some());
        let gitlab = config
            .connectors
            .gitlab
            .expect("[connectors.gitlab] in the example");
        assert_eq!(gitlab.api_url, "https://gitlab.com/api/v4");
        assert_eq!(gitlab.token, "env:GITLAB_TOKEN");
        assert!(config.tickets.jira.is_some() && config.tickets.servicenow.is_some());
    }

    #[test]
    fn aws_iam_section_is_checked_and_overridable() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("leaver.example.toml");
        let example = Config::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        let aws = example
            .connectors
            .aws_iam
            .expect("[connectors.aws_iam] in the example");
        assert_eq!(aws.region, "us-east-1");
        assert!(aws.to_connector_config().is_ok());

        let toml = r#"
[connectors.aws_iam]
endpoint_url = "http://127.0.0.1:5000"
[connectors.aws_iam.accounts.prod]
role_arn = "arn:aws:iam::123456789012:role/Leaver"
external_id = "ext-1"
"#;
        let config = Config::from_toml_with_env(
            toml,
            "t",
            env(&[("LEAVER_CONNECTORS_AWS_IAM_REGION", "eu-west-1")]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let aws = config.connectors.aws_iam.unwrap();
        assert_eq!(aws.region, "eu-west-1");
        let connector = aws.to_connector_config().unwrap();
        assert_eq!(connector.max_attempts, 3);
        assert_eq!(
            connector.accounts["prod"].role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/Leaver")
        );

        let bad =
            "[connectors.aws_iam]\n[connectors.aws_iam.accounts.prod]\nrole_arn = \"Leaver\"\n";
        let err = Config::from_toml_with_env(bad, "t", env(&[])).unwrap_err();
        assert!(err.to_string().contains("role_arn"), "{err}");
        let bad = "[connectors.aws_iam]\nrequest_timeout = \"soon\"\n";
        assert!(Config::from_toml_with_env(bad, "t", env(&[])).is_err());
    }
}
