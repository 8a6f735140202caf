//! Durable state through sqlx: SQLite (WAL) as the embedded default, PostgreSQL for
//! several replicas. One `Store` over both, built on sqlx's `Any` driver: queries are
//! written once with `$N` placeholders (both databases accept them) and only the few
//! statements whose dialects differ (row locks, `SKIP LOCKED`) are chosen by `Dialect`.
//!
//! Conventions: times are milliseconds since the Unix epoch (UTC) in BIGINT columns,
//! JSON documents are TEXT, booleans are 0/1 integers.

mod cron;
mod dashboard;
mod drills;
mod entra;
mod evidence;
mod identities;
mod intake;
mod rotation_keys;
mod rotations;
pub mod runs;
mod scim;
mod sessions;
mod steps;
mod tokens;
mod trail;
mod trail_segments;

pub use cron::CronJobRow;
pub use dashboard::{RotationCounts, RunProgress};
pub use drills::DrillRow;
pub use entra::EntraNotificationRow;
pub use evidence::{AppendEvidence, EvidenceHead};
pub use identities::{check_mapping, AccountMapping};
pub use rotation_keys::KeyDeactivation;
pub use rotations::{RotationRequest, RotationRow, Scheduled};
pub use runs::{NewRun, NewStep, RunFilter, RunRecord, SubmitOutcome};
pub use scim::{user_name_key, ScimCancellation, ScimUserRecord, ScimUserScope, ScimUserWrite};
pub use sessions::DashboardSession;
pub use steps::{ClaimedStep, FinishResult, StepFinish, StepRecord};
pub use tokens::{generate_token, token_hash, TokenRecord};
pub use trail::{TermKind, TrailCursor, TrailName, TrailReadGroup, TrailTerms};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url `{0}`: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
}

/// Attach what we were doing to a sqlx error.
pub(crate) trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { context, source })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect)
            .finish()
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

static MIGRATE_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MIGRATE_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connect and apply migrations. `sqlite://PATH` creates the file if missing and
    /// switches it to WAL.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if url.starts_with("sqlite:") {
            let url = if url.contains('?') {
                url.to_string()
            } else {
                format!("{url}?mode=rwc")
            };
            (Dialect::Sqlite, url)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        let options = AnyConnectOptions::from_str(&url).context("parsing the database url")?;
        let pool_options = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30));
        let pool_options = match dialect {
            Dialect::Sqlite => pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 15000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            }),
            Dialect::Postgres => pool_options,
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .context("connecting to the database")?;
        let store = Store { pool, dialect };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Sqlite => MIGRATE_SQLITE.run(&self.pool).await?,
            Dialect::Postgres => MIGRATE_POSTGRES.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`) so read-then-write transactions never fail on a lock upgrade.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
        .context("starting a transaction")
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("pinging the database")?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// `FOR UPDATE` where the dialect has row locks (SQLite's write transactions are
    /// already exclusive).
    pub(crate) fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// Hide the password of a database URL in messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://leaver:s3cret@db:5432/leaver"),
            "postgres://leaver:***@db:5432/leaver"
        );
        assert_eq!(redact_url("sqlite://leaver.db"), "sqlite://leaver.db");
    }
}
