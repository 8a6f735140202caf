//! API tokens: only a SHA-256 hash of each token is stored.

use super::{now_ms, AppendEvidence, Context, Store, StoreError};
use crate::domain::Role;
use sha2::{Digest, Sha256};
use sqlx::Row;

#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Store a token's hash under a role. The caller generated the token and shows it
    /// once; it is never stored or logged.
    pub async fn create_token(
        &self,
        token: &str,
        name: &str,
        role: Role,
        actor: &str,
    ) -> Result<TokenRecord, StoreError> {
        let record = TokenRecord {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_string(),
            role,
            created_at: now_ms(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&record.id)
        .bind(&record.name)
        .bind(role.as_str())
        .bind(token_hash(token))
        .bind(record.created_at)
        .execute(&mut *tx)
        .await
        .context("creating a token")?;
        self.append_evidence_tx(
            &mut tx,
            &[AppendEvidence::new(
                "token.created",
                actor,
                &record.id,
                serde_json::json!({"name": record.name, "role": role}),
            )],
        )
        .await?;
        tx.commit().await.context("committing a token")?;
        Ok(record)
    }

    /// The live token with this value, if any.
    pub async fn find_token(&self, token: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, role, created_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await
        .context("looking up a token")?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role").context("reading a token")?;
        Ok(Some(TokenRecord {
            id: row.try_get("id").context("reading a token")?,
            name: row.try_get("name").context("reading a token")?,
            role: role.parse().map_err(|message| StoreError::Corrupt {
                table: "api_tokens",
                message,
            })?,
            created_at: row.try_get("created_at").context("reading a token")?,
        }))
    }
}

/// A new random API token: `lvr_` and 43 characters of URL-safe base64 (256 bits).
pub fn generate_token() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    format!(
        "lvr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}
