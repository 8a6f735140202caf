//! Access keys of IAM service users, for rotations (not a plan action): create a new
//! key, list a user's keys, deactivate an old one.
//!
//! | call | IAM action | notes |
//! |---|---|---|
//! | [`AwsIamConnector::create_access_key`] | `ListAccessKeys`, `CreateAccessKey` | refused before the call when the user already has two keys (IAM's quota; IAM itself answers `LimitExceeded`) |
//! | [`AwsIamConnector::list_access_keys`] | `ListAccessKeys` (every page) | ids and statuses |
//! | [`AwsIamConnector::deactivate_access_key`] | `UpdateAccessKey Status=Inactive` | an already inactive key is fine; a deleted one answers `NoSuchEntity` |
//!
//! The secret access key of a new key is handed back once inside [`NewAccessKey`]
//! (a [`SecretString`]): never logged, formatted or put in an error.

use crate::client::call;
use crate::params::SubStep;
use crate::AwsIamConnector;
use aws_sdk_iam::types::StatusType;
use leaver_connector::ConnectorError;
use secrecy::SecretString;
use std::fmt;

/// IAM's quota of access keys per user.
pub const MAX_ACCESS_KEYS: usize = 2;

/// One access key of a user, as `ListAccessKeys` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    pub active: bool,
}

/// A key `CreateAccessKey` just made. `Debug` hides the secret.
pub struct NewAccessKey {
    pub user: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
}

impl fmt::Debug for NewAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAccessKey")
            .field("user", &self.user)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

impl AwsIamConnector {
    async fn clients_of(
        &self,
        account: Option<&str>,
    ) -> Result<std::sync::Arc<crate::client::AccountClients>, ConnectorError> {
        let account = self
            .clients
            .settings()
            .account(account)
            .map_err(ConnectorError::permanent)?;
        Ok(self.clients.for_account(&account).await)
    }

    /// Every access key of `user` in `account` (a configured account name or id;
    /// `None`: the default account).
    pub async fn list_access_keys(
        &self,
        account: Option<&str>,
        user: &str,
    ) -> Result<Vec<AccessKeyInfo>, ConnectorError> {
        let clients = self.clients_of(account).await?;
        // The same listing the teardown uses, without its "a deleted user holds
        // nothing": a rotation needs the user to exist.
        let keys = crate::items::list_raw(&clients, user, SubStep::AccessKeys).await?;
        Ok(keys
            .into_iter()
            .map(|key| AccessKeyInfo {
                access_key_id: key.id,
                active: key.active,
            })
            .collect())
    }

    /// Create a new (active) access key for `user`. Fails without calling
    /// `CreateAccessKey` when the user already has two keys.
    pub async fn create_access_key(
        &self,
        account: Option<&str>,
        user: &str,
    ) -> Result<NewAccessKey, ConnectorError> {
        let existing = self.list_access_keys(account, user).await?;
        if existing.len() >= MAX_ACCESS_KEYS {
            let ids: Vec<&str> = existing.iter().map(|k| k.access_key_id.as_str()).collect();
            return Err(ConnectorError::permanent(format!(
                "IAM user {user} already has {} access keys ({}): AWS allows two per user, so \
                 a new key cannot be created until one is deleted",
                existing.len(),
                ids.join(", ")
            )));
        }
        let clients = self.clients_of(account).await?;
        let what = format!("iam:CreateAccessKey({user})");
        let out = call(
            &what,
            clients.iam.create_access_key().user_name(user).send(),
        )
        .await
        .map_err(|e| {
            if e.is("LimitExceeded") {
                e.context("AWS allows two access keys per user").error
            } else {
                e.error
            }
        })?;
        let key = out.access_key().ok_or_else(|| {
            ConnectorError::transient(format!("{what}: the answer carries no AccessKey"))
        })?;
        let id = key.access_key_id();
        if id.is_empty() || key.secret_access_key().is_empty() {
            return Err(ConnectorError::transient(format!(
                "{what}: the answer carries an empty key id or secret"
            )));
        }
        tracing::info!(user, access_key_id = id, "aws access key created");
        Ok(NewAccessKey {
            user: key.user_name().to_string(),
            access_key_id: id.to_string(),
            secret_access_key: SecretString::from(key.secret_access_key().to_string()),
        })
    }

    /// Set `access_key_id` of `user` to `Inactive` (idempotent).
    pub async fn deactivate_access_key(
        &self,
        account: Option<&str>,
        user: &str,
        access_key_id: &str,
    ) -> Result<(), ConnectorError> {
        let clients = self.clients_of(account).await?;
        let what = format!("iam:UpdateAccessKey({user}, {access_key_id}, Inactive)");
        call(
            &what,
            clients
                .iam
                .update_access_key()
                .user_name(user)
                .access_key_id(access_key_id)
                .status(StatusType::Inactive)
                .send(),
        )
        .await?;
        tracing::info!(user, access_key_id, "aws access key deactivated");
        Ok(())
    }

    /// Delete `access_key_id` of `user` (cleaning up a key a failed rotation created).
    pub async fn delete_access_key(
        &self,
        account: Option<&str>,
        user: &str,
        access_key_id: &str,
    ) -> Result<(), ConnectorError> {
        let clients = self.clients_of(account).await?;
        let what = format!("iam:DeleteAccessKey({user}, {access_key_id})");
        call(
            &what,
            clients
                .iam
                .delete_access_key()
                .user_name(user)
                .access_key_id(access_key_id)
                .send(),
        )
        .await?;
        Ok(())
    }
}
