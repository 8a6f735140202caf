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
}

/// Identity providers that tell Leaver when someone leaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IdpConfig {
    pub okta: Option<OktaSection>,
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
}

fn default_hook_auth_header() -> String {
    "Authorization".into()
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            public_url: None,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubSection {
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// Default org for actions that do not name one.
    pub org: Option<String>,
    /// `env:NAME` or `file:PATH`.
    pub token: String,
    /// Time limit of one GitHub request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
}

fn default_github_api() -> String {
    "https://api.github.com".into()
}

fn default_request_timeout() -> String {
    "30s".into()
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
            check_secret_ref("connectors.github.token", &github.token)?;
            duration_key("connectors.github.request_timeout", &github.request_timeout)?;
        }
        check_secret_ref("evidence.signing_key", &self.evidence.signing_key)?;
        if let Some(okta) = &self.idp.okta {
            check_secret_ref("idp.okta.hook_secret", &okta.hook_secret)?;
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
    fn bad_env_integer_is_a_clear_error() {
        let err =
            Config::from_toml_with_env("", "t", env(&[("LEAVER_SERVER_MAX_BODY_BYTES", "lots")]))
                .unwrap_err();
        assert!(err.to_string().contains("LEAVER_SERVER_MAX_BODY_BYTES"));
    }
}
