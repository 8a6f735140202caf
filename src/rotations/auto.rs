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
use leaver_connector_vault::kv::{split_kv_path, KvData};
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
    /// Finished from the journal of an interrupted attempt ([`AutoRotator::recover`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// What an interrupted earlier attempt had left, and what was done about it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interrupted: Vec<String>,
}

/// What [`AutoRotator::recover`] found.
#[derive(Debug)]
pub enum Recovery {
    /// The interrupted attempt had rotated the secret: now verified and finished.
    Done(AutoDone),
    /// It had not: nothing of it is left (these notes say what was cleaned up), and
    /// the secret is to be rotated afresh.
    NotWritten(Vec<String>),
}

/// The journal of an automatic rotation in flight, kept with the rotation
/// (`rotations.auto_attempt`): written once the current version is read and before
/// anything changes upstream, and again once a new AWS key exists that is not yet in
/// Vault. Versions and key ids only, never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AutoAttempt {
    /// The run whose step started it: the same run executing the step again means the
    /// earlier execution is gone (the engine hands a step to one executor at a time).
    pub run_id: String,
    /// ms since the epoch.
    pub started_at: i64,
    /// The KV v2 version read before anything changed.
    pub from_version: u64,
    /// The previous version's `access_key_id` (an IAM key rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_access_key_id: Option<String>,
    /// The key created for this attempt, not yet known to be in Vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_access_key_id: Option<String>,
}

/// Where a rotation keeps its [`AutoAttempt`].
#[async_trait::async_trait]
pub trait Journal: Send + Sync {
    /// Persist `attempt`; an error stops the rotation (undoing what it changed).
    async fn record(&self, attempt: &AutoAttempt) -> Result<(), String>;
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
    pub(crate) fn new(stage: &'static str, message: impl Into<String>) -> Self {
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

    /// Rotate `secret` (a logical KV v2 path) by `method`, keeping `journal` told
    /// what an interruption would leave behind (see [`AutoAttempt`]).
    pub async fn rotate(
        &self,
        secret: &str,
        metadata: &BTreeMap<String, String>,
        method: &Method,
        attempt: AutoAttempt,
        journal: &dyn Journal,
    ) -> Result<AutoDone, AutoFailed> {
        let (vault, mount, path, current) = self.read_current(secret, "check").await?;
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
        let mut attempt = AutoAttempt {
            from_version: from,
            old_access_key_id: match method {
                Method::AwsKey { .. } => current.text(ACCESS_KEY_ID).map(str::to_string),
                Method::Generated => None,
            },
            new_access_key_id: None,
            ..attempt
        };
        journal
            .record(&attempt)
            .await
            .map_err(|e| AutoFailed::new("journal", e))?;

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
                let aws = self.aws()?;
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
                let done = AwsKeyDone {
                    user: user.clone(),
                    account: account.clone(),
                    new_access_key_id: created.access_key_id,
                    old_access_key_id: old,
                };
                attempt.new_access_key_id = Some(done.new_access_key_id.clone());
                if let Err(e) = journal.record(&attempt).await {
                    let failed = AutoFailed::new("journal", e);
                    return Err(self.fail_with_new_key(failed, &done, &mut changed).await);
                }
                aws_done = Some(done);
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
                let failed = AutoFailed::new("vault_write", e.message);
                return Err(match &aws_done {
                    // Leave the user as it was: the new key is in no one's hands.
                    Some(done) => self.fail_with_new_key(failed, done, &mut changed).await,
                    None => failed.after(&changed),
                });
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
        let github = self.mirror(&mirroring, &values, &mut changed).await?;
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
            recovered: false,
            interrupted: Vec::new(),
        })
    }

    /// Finish an interrupted attempt from its journal. When Vault holds a version
    /// newer than the one the attempt read, the rotation happened (the attempt's write
    /// was check-and-set on that version): it is verified, the mirrors are written
    /// again with the current value, and it is reported done. Otherwise nothing of
    /// the attempt remains but perhaps its new AWS key, which is deleted, and the
    /// caller rotates afresh.
    pub async fn recover(
        &self,
        secret: &str,
        metadata: &BTreeMap<String, String>,
        method: &Method,
        attempt: &AutoAttempt,
    ) -> Result<Recovery, AutoFailed> {
        let (_, _, _, current) = self.read_current(secret, "recover").await?;
        let mut changed = Vec::new();
        if current.version <= attempt.from_version {
            if let (Method::AwsKey { user, account }, Some(key)) =
                (method, &attempt.new_access_key_id)
            {
                let done = AwsKeyDone {
                    user: user.clone(),
                    account: account.clone(),
                    new_access_key_id: key.clone(),
                    old_access_key_id: None,
                };
                let aws = self.aws()?;
                let keys = aws
                    .list_access_keys(account.as_deref(), user)
                    .await
                    .map_err(|e| AutoFailed::new("recover", e.message))?;
                if keys.iter().any(|k| &k.access_key_id == key) {
                    self.undo_new_key(&done, &mut changed).await.map_err(|d| {
                        AutoFailed::new(
                            "recover",
                            format!(
                                "deleting the access key {key} of the interrupted attempt \
                                 failed: {d}"
                            ),
                        )
                    })?;
                }
            }
            return Ok(Recovery::NotWritten(changed));
        }
        changed.push(format!(
            "found version {} of {secret}, written by the interrupted attempt",
            current.version
        ));
        let aws = match method {
            Method::Generated => None,
            Method::AwsKey { user, account } => {
                let new_key = current
                    .text(ACCESS_KEY_ID)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        AutoFailed::new(
                            "recover",
                            format!(
                                "{secret}: version {} has no {ACCESS_KEY_ID}",
                                current.version
                            ),
                        )
                    })?;
                let aws = self.aws()?;
                let keys = aws
                    .list_access_keys(account.as_deref(), user)
                    .await
                    .map_err(|e| AutoFailed::new("aws_verify", e.message).after(&changed))?;
                if !keys.iter().any(|k| k.access_key_id == new_key && k.active) {
                    return Err(AutoFailed::new(
                        "aws_verify",
                        format!(
                            "ListAccessKeys({user}) does not show the key {new_key} that Vault \
                             holds as Active"
                        ),
                    )
                    .after(&changed));
                }
                Some(AwsKeyDone {
                    user: user.clone(),
                    account: account.clone(),
                    new_access_key_id: new_key,
                    old_access_key_id: attempt.old_access_key_id.clone(),
                })
            }
        };
        // The mirrors may not have been written before the interruption: write the
        // current value again (the same value twice is harmless).
        let keys = current.keys();
        let mirroring =
            mirror::from_metadata(metadata, &keys).map_err(|e| AutoFailed::new("check", e))?;
        let mut values: BTreeMap<String, SecretString> = BTreeMap::new();
        if let Some((key, _)) = &mirroring {
            if let Some(text) = current.text(key) {
                values.insert(key.clone(), SecretString::from(text.to_string()));
            }
        }
        let to_version = current.version;
        drop(current);
        let github = self.mirror(&mirroring, &values, &mut changed).await?;
        Ok(Recovery::Done(AutoDone {
            kind: match method {
                Method::Generated => "generated",
                Method::AwsKey { .. } => "aws_iam_key",
            },
            from_version: attempt.from_version,
            to_version,
            generator: None,
            aws,
            github,
            recovered: true,
            interrupted: changed,
        }))
    }

    fn aws(&self) -> Result<&AwsIamConnector, AutoFailed> {
        self.clients
            .aws_iam
            .as_deref()
            .ok_or_else(|| AutoFailed::new("check", "[connectors.aws_iam] is not configured"))
    }

    /// The Vault client, the secret's mount and path, and its current version (a
    /// failure is of `stage`).
    async fn read_current(
        &self,
        secret: &str,
        stage: &'static str,
    ) -> Result<(&VaultConnector, String, String, KvData), AutoFailed> {
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
            .map_err(|e| AutoFailed::new(stage, e.message))?
            .ok_or_else(|| {
                AutoFailed::new(stage, format!("{secret}: no readable current version"))
            })?;
        Ok((vault, mount, path, current))
    }

    /// Delete a key this rotation created and could not hand over (noted in
    /// `changed`); `Err` is why that failed.
    async fn undo_new_key(
        &self,
        done: &AwsKeyDone,
        changed: &mut Vec<String>,
    ) -> Result<(), String> {
        let aws = self
            .clients
            .aws_iam
            .as_ref()
            .ok_or("[connectors.aws_iam] is not configured")?;
        aws.delete_access_key(done.account.as_deref(), &done.user, &done.new_access_key_id)
            .await
            .map_err(|e| e.message)?;
        changed.push(format!(
            "deleted the new access key {} again",
            done.new_access_key_id
        ));
        Ok(())
    }

    /// A failure after `done`'s key was created: the key is deleted again, and the
    /// failure says whether that worked.
    async fn fail_with_new_key(
        &self,
        mut failed: AutoFailed,
        done: &AwsKeyDone,
        changed: &mut Vec<String>,
    ) -> AutoFailed {
        if let Err(d) = self.undo_new_key(done, changed).await {
            failed.message = format!(
                "{}; deleting the new access key {} failed too: {d}",
                failed.message, done.new_access_key_id
            );
        }
        failed.after(changed)
    }

    /// Write `values[key]` into every mirror target, each verified.
    async fn mirror(
        &self,
        mirroring: &Option<(String, Vec<MirrorTarget>)>,
        values: &BTreeMap<String, SecretString>,
        changed: &mut Vec<String>,
    ) -> Result<Vec<GithubDone>, AutoFailed> {
        let mut github = Vec::new();
        if let Some((key, targets)) = mirroring {
            let value = values.get(key).ok_or_else(|| {
                AutoFailed::new("github", format!("no value for key `{key}`")).after(changed)
            })?;
            for target in targets {
                let done = self
                    .push(target, value)
                    .await
                    .map_err(|e| AutoFailed::new("github", e.message).after(changed))?;
                changed.push(format!("wrote GitHub Actions secret {}", target.label()));
                github.push(done);
            }
        }
        Ok(github)
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
