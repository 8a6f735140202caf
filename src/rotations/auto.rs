//! Automatic rotation of one Vault KV v2 secret, by what its `custom_metadata` says:
//!
//! - **generated** (`[trail.auto_rotate] vault_kv`): a new value for every key of the
//!   current version, from the generator policy ([`super::generator`]);
//! - **AWS IAM service-user key** (`aws_iam_user = NAME`, optional `aws_account`;
//!   `aws_iam_keys`): IAM `CreateAccessKey` for NAME, the new pair written as
//!   `access_key_id`/`secret_access_key` (other keys kept), verified by
//!   `ListAccessKeys` showing the new key Active; the old key id (from the previous
//!   version) is handed back for deactivation after the grace period;
//! - **mirrored into GitHub Actions secrets** (`github_actions_secrets`, see
//!   [`super::mirror`]; `github_actions`): after either of the above, the new value of
//!   the mirrored key is sealed and written to every target, each verified by its
//!   `updated_at`.
//!
//! Every write to Vault is check-and-set on the version read, then verified by the
//! metadata's `current_version`. Everything is checked before anything is changed; a
//! failure after a change says what was already changed. Values live only in
//! [`SecretString`]s and the JSON body sent to Vault: never in a message, log line or
//! the returned outcome.

use super::generator::{self, GeneratorPolicy};
use super::mirror::{self, MirrorTarget};
use crate::config::AutoRotateSection;
use crate::duration::parse_duration;
use leaver_connector::ConnectorError;
use leaver_connector_aws_iam::AwsIamConnector;
use leaver_connector_github::actions_secrets::ActionsSecrets;
use leaver_connector_vault::kv::split_kv_path;
use leaver_connector_vault::VaultConnector;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Metadata key: the IAM user whose access key the secret holds.
pub const AWS_USER_KEY: &str = "aws_iam_user";
/// Metadata key: the `[connectors.aws_iam]` account of that user (default account
/// when absent).
pub const AWS_ACCOUNT_KEY: &str = "aws_account";
/// The key names of an AWS key pair in the Vault secret.
pub const ACCESS_KEY_ID: &str = "access_key_id";
pub const SECRET_ACCESS_KEY: &str = "secret_access_key";

/// The validated `[trail.auto_rotate]`.
#[derive(Debug, Clone)]
pub struct AutoSettings {
    pub vault_kv: bool,
    pub aws_iam_keys: bool,
    pub github_actions: bool,
    pub policy: GeneratorPolicy,
    pub aws_key_grace_ms: i64,
}

impl AutoSettings {
    pub fn from_config(section: &AutoRotateSection) -> Result<Self, String> {
        let policy = GeneratorPolicy::from_config(section.length, &section.charset)
            .map_err(|e| format!("trail.auto_rotate: {e}"))?;
        let grace = parse_duration(&section.aws_key_grace)
            .map_err(|e| format!("trail.auto_rotate.aws_key_grace: {e}"))?;
        Ok(Self {
            vault_kv: section.vault_kv,
            aws_iam_keys: section.aws_iam_keys,
            github_actions: section.github_actions,
            policy,
            aws_key_grace_ms: grace.as_millis().min(i64::MAX as u128) as i64,
        })
    }
}

/// The upstream clients automatic rotations use (each present when configured).
#[derive(Clone, Default)]
pub struct RotationClients {
    pub vault: Option<Arc<VaultConnector>>,
    pub aws_iam: Option<Arc<AwsIamConnector>>,
    pub github: Option<Arc<ActionsSecrets>>,
}

/// What an automatic rotation did (no values).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AutoDone {
    /// `generated` or `aws_iam_key`.
    pub kind: &'static str,
    pub from_version: u64,
    pub to_version: u64,
    /// The generator policy (`urlsafe:32`) of a generated value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsKeyDone>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub github: Vec<GithubDone>,
}

/// The AWS side of a rotation: key ids only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AwsKeyDone {
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub new_access_key_id: String,
    /// The previous version's `access_key_id`, to deactivate after the grace period.
    pub old_access_key_id: Option<String>,
}

/// One Actions secret written and verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GithubDone {
    pub target: String,
    pub status: u16,
    pub verified: bool,
    pub observation: String,
}

/// Why an automatic rotation failed, and what it had already changed.
#[derive(Debug, Clone)]
pub struct AutoFailed {
    /// `check`, `aws_create`, `vault_write`, `vault_verify`, `aws_verify`, `github`.
    pub stage: &'static str,
    pub message: String,
    /// What was already changed upstream (for the person who takes over).
    pub changed: Vec<String>,
}

impl AutoFailed {
    fn new(stage: &'static str, message: impl Into<String>) -> Self {
        Self {
            stage,
            message: message.into(),
            changed: Vec::new(),
        }
    }

    fn after(mut self, changed: &[String]) -> Self {
        self.changed = changed.to_vec();
        self
    }
}

/// How a secret would be rotated, decided from its metadata and the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Generated,
    AwsKey {
        user: String,
        account: Option<String>,
    },
}

/// Automatic rotation of Vault KV v2 secrets.
pub struct AutoRotator {
    settings: AutoSettings,
    clients: RotationClients,
}

impl AutoRotator {
    pub fn new(settings: AutoSettings, clients: RotationClients) -> Self {
        Self { settings, clients }
    }

    pub fn settings(&self) -> &AutoSettings {
        &self.settings
    }

    /// The method for a KV v2 secret with this metadata, or why Leaver leaves it to a
    /// person (`Err`, a short note).
    pub fn method(&self, metadata: &BTreeMap<String, String>) -> Result<Method, String> {
        if self.clients.vault.is_none() {
            return Err("[connectors.vault] is not configured".into());
        }
        let mirrored = metadata
            .get(mirror::TARGETS_KEY)
            .is_some_and(|t| !t.trim().is_empty());
        if mirrored {
            if !self.settings.github_actions {
                return Err(format!(
                    "it is mirrored into GitHub Actions secrets ({}) and \
                     [trail.auto_rotate] github_actions is off",
                    mirror::TARGETS_KEY
                ));
            }
            if self.clients.github.is_none() {
                return Err(
                    "it is mirrored into GitHub Actions secrets and [connectors.github] is not \
                     configured"
                        .into(),
                );
            }
        }
        if let Some(user) = metadata.get(AWS_USER_KEY).map(|u| u.trim()) {
            if !self.settings.aws_iam_keys {
                return Err(format!(
                    "it holds the access key of IAM user {user} and [trail.auto_rotate] \
                     aws_iam_keys is off"
                ));
            }
            if self.clients.aws_iam.is_none() {
                return Err(format!(
                    "it holds the access key of IAM user {user} and [connectors.aws_iam] is \
                     not configured"
                ));
            }
            if !leaver_connector_aws_iam::is_iam_name(user) {
                return Err(format!("{AWS_USER_KEY} `{user}` is not an IAM user name"));
            }
            let account = metadata
                .get(AWS_ACCOUNT_KEY)
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty());
            return Ok(Method::AwsKey {
                user: user.to_string(),
                account,
            });
        }
        if self.settings.vault_kv {
            Ok(Method::Generated)
        } else {
            Err("[trail.auto_rotate] vault_kv is off".into())
        }
    }

    /// Rotate `secret` (a logical KV v2 path) by `method`.
    pub async fn rotate(
        &self,
        secret: &str,
        metadata: &BTreeMap<String, String>,
        method: &Method,
    ) -> Result<AutoDone, AutoFailed> {
        let vault = self
            .clients
            .vault
            .as_ref()
            .ok_or_else(|| AutoFailed::new("check", "[connectors.vault] is not configured"))?;
        let (mount, path) = split_kv_path(secret).ok_or_else(|| {
            AutoFailed::new("check", format!("{secret} is not a KV v2 path (mount/key)"))
        })?;
        let current = vault
            .kv_read(&mount, &path)
            .await
            .map_err(|e| AutoFailed::new("check", e.message))?
            .ok_or_else(|| {
                AutoFailed::new("check", format!("{secret}: no readable current version"))
            })?;
        let from = current.version;
        let mut changed: Vec<String> = Vec::new();

        // Everything that can be checked is checked before anything changes.
        let (new_keys, policy) = match method {
            Method::Generated => {
                let policy = match metadata.get(generator::METADATA_KEY) {
                    Some(text) => self.settings.policy.with_override(text).map_err(|e| {
                        AutoFailed::new("check", format!("{}: {e}", generator::METADATA_KEY))
                    })?,
                    None => self.settings.policy,
                };
                let keys = current.keys();
                if keys.is_empty() {
                    return Err(AutoFailed::new(
                        "check",
                        format!("{secret}: the current version has no keys to rotate"),
                    ));
                }
                (keys, Some(policy))
            }
            Method::AwsKey { .. } => {
                let mut keys = current.keys();
                for k in [ACCESS_KEY_ID, SECRET_ACCESS_KEY] {
                    if !keys.iter().any(|x| x == k) {
                        keys.push(k.to_string());
                    }
                }
                keys.sort();
                (keys, None)
            }
        };
        let mirroring =
            mirror::from_metadata(metadata, &new_keys).map_err(|e| AutoFailed::new("check", e))?;

        // The new values.
        let mut values: BTreeMap<String, SecretString> = BTreeMap::new();
        let mut aws_done = None;
        let mut data = serde_json::Map::new();
        match method {
            Method::Generated => {
                let policy = policy.unwrap_or(self.settings.policy);
                for key in &new_keys {
                    values.insert(key.clone(), policy.generate());
                }
            }
            Method::AwsKey { user, account } => {
                let aws = self.clients.aws_iam.as_ref().ok_or_else(|| {
                    AutoFailed::new("check", "[connectors.aws_iam] is not configured")
                })?;
                let old = current.text(ACCESS_KEY_ID).map(str::to_string);
                let created = aws
                    .create_access_key(account.as_deref(), user)
                    .await
                    .map_err(|e| AutoFailed::new("aws_create", e.message))?;
                changed.push(format!(
                    "created access key {} for IAM user {user}",
                    created.access_key_id
                ));
                data = current.clone().into_values();
                values.insert(
                    ACCESS_KEY_ID.into(),
                    SecretString::from(created.access_key_id.clone()),
                );
                values.insert(SECRET_ACCESS_KEY.into(), created.secret_access_key);
                aws_done = Some(AwsKeyDone {
                    user: user.clone(),
                    account: account.clone(),
                    new_access_key_id: created.access_key_id,
                    old_access_key_id: old,
                });
            }
        }
        for (key, value) in &values {
            data.insert(
                key.clone(),
                serde_json::Value::String(value.expose_secret().to_string()),
            );
        }
        drop(current);

        // Vault: check-and-set on the version read, then the metadata.
        let written = match vault.kv_write(&mount, &path, data, from).await {
            Ok(v) => v,
            Err(e) => {
                let mut failed = AutoFailed::new("vault_write", e.message);
                if let (Some(aws), Some(done)) = (&self.clients.aws_iam, &aws_done) {
                    // Leave the user as it was: the new key is in no one's hands.
                    match aws
                        .delete_access_key(
                            done.account.as_deref(),
                            &done.user,
                            &done.new_access_key_id,
                        )
                        .await
                    {
                        Ok(()) => changed.push(format!(
                            "deleted the new access key {} again",
                            done.new_access_key_id
                        )),
                        Err(d) => {
                            failed.message = format!(
                                "{}; deleting the new access key {} failed too: {}",
                                failed.message, done.new_access_key_id, d.message
                            )
                        }
                    }
                }
                return Err(failed.after(&changed));
            }
        };
        changed.push(format!("wrote version {written} of {secret}"));
        let now = vault
            .kv_metadata(&mount, &path)
            .await
            .map_err(|e| AutoFailed::new("vault_verify", e.message).after(&changed))?
            .map(|m| m.current_version)
            .unwrap_or(0);
        if now <= from || now < written {
            return Err(AutoFailed::new(
                "vault_verify",
                format!(
                    "{secret}: wrote version {written} but the metadata's current_version is {now}"
                ),
            )
            .after(&changed));
        }

        // AWS: the new key is there and active.
        if let (Some(aws), Some(done)) = (&self.clients.aws_iam, &aws_done) {
            let keys = aws
                .list_access_keys(done.account.as_deref(), &done.user)
                .await
                .map_err(|e| AutoFailed::new("aws_verify", e.message).after(&changed))?;
            if !keys
                .iter()
                .any(|k| k.access_key_id == done.new_access_key_id && k.active)
            {
                return Err(AutoFailed::new(
                    "aws_verify",
                    format!(
                        "ListAccessKeys({}) does not show the new key {} as Active",
                        done.user, done.new_access_key_id
                    ),
                )
                .after(&changed));
            }
        }

        // GitHub: every mirror written and verified.
        let mut github = Vec::new();
        if let Some((key, targets)) = &mirroring {
            let value = values.get(key).ok_or_else(|| {
                AutoFailed::new("github", format!("no new value for key `{key}`")).after(&changed)
            })?;
            for target in targets {
                let done = self
                    .push(target, value)
                    .await
                    .map_err(|e| AutoFailed::new("github", e.message).after(&changed))?;
                changed.push(format!("wrote GitHub Actions secret {}", target.label()));
                github.push(done);
            }
        }
        Ok(AutoDone {
            kind: match method {
                Method::Generated => "generated",
                Method::AwsKey { .. } => "aws_iam_key",
            },
            from_version: from,
            to_version: now,
            generator: policy.map(|p| p.to_string()),
            aws: aws_done,
            github,
        })
    }

    async fn push(
        &self,
        target: &MirrorTarget,
        value: &SecretString,
    ) -> Result<GithubDone, ConnectorError> {
        let github =
            self.clients.github.as_ref().ok_or_else(|| {
                ConnectorError::permanent("[connectors.github] is not configured")
            })?;
        let label = target.label();
        let write = github
            .set_secret(&target.target, &target.name, value)
            .await
            .map_err(|e| ConnectorError {
                message: format!("{label}: {}", e.message),
                ..e
            })?;
        let verification = github
            .verify_write(&write)
            .await
            .map_err(|e| ConnectorError {
                message: format!("{label}: verifying: {}", e.message),
                ..e
            })?;
        if !verification.verified {
            return Err(ConnectorError::transient(format!(
                "{label}: not verified: {}",
                verification.observation
            )));
        }
        Ok(GithubDone {
            target: label,
            status: write.status,
            verified: true,
            observation: verification.observation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotator(section: AutoRotateSection, aws: bool) -> AutoRotator {
        let vault = VaultConnector::new(leaver_connector_vault::VaultConfig::default())
            .map(Arc::new)
            .ok();
        assert!(vault.is_some());
        let aws_iam = aws.then(|| {
            Arc::new(
                AwsIamConnector::new(leaver_connector_aws_iam::AwsIamConfig::default()).unwrap(),
            )
        });
        AutoRotator::new(
            AutoSettings::from_config(&section).unwrap(),
            RotationClients {
                vault,
                aws_iam,
                github: None,
            },
        )
    }

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_method_follows_metadata_and_configuration() {
        let all = AutoRotateSection {
            vault_kv: true,
            aws_iam_keys: true,
            github_actions: true,
            ..AutoRotateSection::default()
        };
        let r = rotator(all.clone(), true);
        assert_eq!(r.method(&meta(&[("owner", "x")])), Ok(Method::Generated));
        assert_eq!(
            r.method(&meta(&[(AWS_USER_KEY, "ci"), (AWS_ACCOUNT_KEY, "prod")])),
            Ok(Method::AwsKey {
                user: "ci".into(),
                account: Some("prod".into())
            })
        );
        assert!(r.method(&meta(&[(AWS_USER_KEY, "not a name!")])).is_err());
        // Mirrored but no GitHub connector: left for a person, never half-rotated.
        let why = r
            .method(&meta(&[(mirror::TARGETS_KEY, "a/b:X")]))
            .unwrap_err();
        assert!(why.contains("[connectors.github]"), "{why}");
        // An AWS key is never overwritten with generated values.
        let kv_only = rotator(
            AutoRotateSection {
                vault_kv: true,
                ..AutoRotateSection::default()
            },
            true,
        );
        assert!(kv_only
            .method(&meta(&[(AWS_USER_KEY, "ci")]))
            .unwrap_err()
            .contains("aws_iam_keys is off"));
        let no_aws = rotator(all, false);
        assert!(no_aws
            .method(&meta(&[(AWS_USER_KEY, "ci")]))
            .unwrap_err()
            .contains("[connectors.aws_iam]"));
        let off = rotator(AutoRotateSection::default(), true);
        assert!(off.method(&meta(&[])).is_err());
    }

    #[test]
    fn settings_are_validated() {
        let bad_grace = AutoRotateSection {
            aws_key_grace: "soon".into(),
            ..AutoRotateSection::default()
        };
        assert!(AutoSettings::from_config(&bad_grace)
            .unwrap_err()
            .contains("aws_key_grace"));
        let bad_charset = AutoRotateSection {
            charset: "emoji".into(),
            ..AutoRotateSection::default()
        };
        assert!(AutoSettings::from_config(&bad_charset).is_err());
        let ok = AutoSettings::from_config(&AutoRotateSection::default()).unwrap();
        assert_eq!(ok.aws_key_grace_ms, 24 * 3_600_000);
        assert_eq!(ok.policy, GeneratorPolicy::default());
    }
}
