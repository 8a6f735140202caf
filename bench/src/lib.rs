//! Helpers shared by the benchmark harnesses in `src/bin/`.

use sqlx::Connection;

/// A database for one measurement: a SQLite file in a temporary directory, or a fresh
/// PostgreSQL database created on the server and dropped by [`cleanup`].
pub struct Database {
    pub kind: &'static str,
    pub url: String,
    drop: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// `kind` is `sqlite` or `postgres`; `postgres` is the server's admin URL.
pub async fn database(kind: &'static str, postgres: &str) -> anyhow::Result<Database> {
    let dir = tempfile::tempdir()?;
    if kind == "sqlite" {
        return Ok(Database {
            kind,
            url: format!("sqlite://{}", dir.path().join("bench.db").display()),
            drop: None,
            _dir: dir,
        });
    }
    let name = format!("leaver_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(postgres).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await?;
    let base = postgres
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(postgres);
    Ok(Database {
        kind,
        url: format!("{base}/{name}"),
        drop: Some((postgres.to_string(), name)),
        _dir: dir,
    })
}

/// Drop a PostgreSQL database made by [`database`].
pub async fn cleanup(db: Database) {
    if let Some((admin, name)) = &db.drop {
        if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}

/// The median of `values` (0 when empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// The `q` quantile (0..=1) of sorted `values`, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Resident memory of a process from /proc: (current VmRSS, peak VmHWM) in MiB.
pub fn memory_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
