//! The identity mapping table: per email, the account key in each system.

use super::{now_ms, AppendEvidence, Context, Store, StoreError};
use sqlx::Row;
use std::collections::BTreeMap;

/// One mapping row: `email`'s account in `system` is `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMapping {
    pub email: String,
    pub system: String,
    pub account: String,
}

/// Check a mapping row; the error says what is wrong with which field.
pub fn check_mapping(row: &AccountMapping) -> Result<(), String> {
    if row.email.trim().is_empty() || !row.email.contains('@') {
        return Err(format!("`{}` is not an email address", row.email));
    }
    let system_ok = !row.system.is_empty()
        && row.system.len() <= 64
        && row
            .system
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !system_ok {
        return Err(format!(
            "system `{}` must be lower-case letters, digits and `_` (e.g. github, aws_iam, vault)",
            row.system
        ));
    }
    if row.account.trim().is_empty() || row.account.len() > 256 {
        return Err(format!(
            "the account for {} in {} must be 1 to 256 characters",
            row.email, row.system
        ));
    }
    Ok(())
}

impl Store {
    /// The accounts mapped to `email`, by system.
    pub async fn mapped_accounts(
        &self,
        email: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT system, account FROM identity_accounts WHERE email = $1")
            .bind(email.trim().to_ascii_lowercase())
            .fetch_all(&self.pool)
            .await
            .context("reading mapped accounts")?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("system").context("reading mapped accounts")?,
                    row.try_get("account").context("reading mapped accounts")?,
                ))
            })
            .collect()
    }

    /// Insert or replace mapping rows in one transaction, with one evidence entry per
    /// email. Rows must have been checked with `check_mapping`.
    pub async fn upsert_mappings(
        &self,
        rows: &[AccountMapping],
        source: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let mut by_email: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for row in rows {
            let email = row.email.trim().to_ascii_lowercase();
            sqlx::query(
                "INSERT INTO identity_accounts (email, system, account, source, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (email, system) DO UPDATE SET account = excluded.account, source = excluded.source, \
                 updated_at = excluded.updated_at",
            )
            .bind(&email)
            .bind(&row.system)
            .bind(row.account.trim())
            .bind(source)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("storing an account mapping")?;
            by_email
                .entry(email)
                .or_default()
                .insert(row.system.clone(), row.account.trim().to_string());
        }
        let evidence: Vec<AppendEvidence> = by_email
            .into_iter()
            .map(|(email, accounts)| {
                AppendEvidence::new(
                    "identity.accounts_mapped",
                    actor,
                    email,
                    serde_json::json!({"accounts": accounts, "source": source}),
                )
            })
            .collect();
        self.append_evidence_tx(&mut tx, &evidence).await?;
        tx.commit().await.context("committing account mappings")?;
        Ok(())
    }
}
