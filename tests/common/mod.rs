//! Shared test harness: real databases (a temporary SQLite file, and a fresh PostgreSQL
//! database whenever one is reachable), apps wired to simulated upstreams, and a real
//! HTTP server on 127.0.0.1.
#![allow(dead_code)]

pub mod probe;
pub mod process;

use leaver::app::App;
use leaver::config::{Config, GithubSection};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const GITHUB_TOKEN: &str = "test-github-token-canary-7f3a";

/// A database for one test, removed afterwards.
pub struct TestDb {
    pub url: String,
    pub kind: &'static str,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn is_postgres(&self) -> bool {
        self.kind == "postgres"
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let admin = postgres_admin_url();
            // Drop runs outside any runtime guarantee: use a private one.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async move {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .execute(&mut conn)
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("LEAVER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn with_database(admin: &str, name: &str) -> String {
    match admin.rfind('/') {
        Some(slash)
            if admin[..slash].contains("://") && slash > admin.find("://").unwrap_or(0) + 2 =>
        {
            format!("{}/{}", &admin[..slash], name)
        }
        _ => format!("{admin}/{name}"),
    }
}

pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("leaver.db").display());
    TestDb {
        url,
        kind: "sqlite",
        pg_name: None,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database, or None (with a printed notice) when none is
/// reachable. In CI (CI=true) an unreachable PostgreSQL is a failure.
pub async fn postgres_db() -> Option<TestDb> {
    let admin = postgres_admin_url();
    let connect =
        tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(&admin)).await;
    let mut conn = match connect {
        Ok(Ok(conn)) => conn,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_string(),
            };
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL is required in CI but {admin} is unreachable: {why}");
            }
            eprintln!("NOTICE: PostgreSQL at {admin} unreachable ({why}); running this test on SQLite only");
            return None;
        }
    };
    let name = format!("leaver_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create test database");
    Some(TestDb {
        url: with_database(&admin, &name),
        kind: "postgres",
        pg_name: Some(name),
        _dir: None,
    })
}

/// SQLite always, PostgreSQL when reachable.
pub async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    if let Some(pg) = postgres_db().await {
        dbs.push(pg);
    }
    dbs
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A configuration for tests: the given database, plans from `plans_dir`, a signing
/// key in `dir`, fast polling, and GitHub pointed at `github_url`.
pub fn test_config(db_url: &str, dir: &Path, plans_dir: &Path, github_url: Option<&str>) -> Config {
    let mut config = Config::default();
    config.database.url = db_url.to_string();
    config.plans.dir = plans_dir.to_path_buf();
    config.evidence.signing_key = format!("file:{}", dir.join("signing.key").display());
    config.engine.poll_interval = "50ms".into();
    config.engine.lease = "3s".into();
    config.engine.step_timeout = "5s".into();
    // Hook rate limits off: tests that deliver bursts (Okta's 500-event burst,
    // scim2-tester's checks) measure other things; tests/hook_limits.rs sets its own.
    config.server.hook_rate_limit_per_second = 0;
    if let Some(url) = github_url {
        let token_file = dir.join("github-token");
        std::fs::write(&token_file, GITHUB_TOKEN).expect("write token");
        config.connectors.github = Some(GithubSection {
            api_url: url.to_string(),
            org: Some("acme".into()),
            token: format!("file:{}", token_file.display()),
            app: None,
            request_timeout: "2s".into(),
        });
    }
    config
}

/// Write plan files into a new directory.
pub fn plans_dir(dir: &Path, plans: &[(&str, &str)]) -> PathBuf {
    let plans_dir = dir.join("workflows");
    std::fs::create_dir_all(&plans_dir).expect("plans dir");
    for (name, text) in plans {
        std::fs::write(plans_dir.join(format!("{name}.yaml")), text).expect("write plan");
    }
    plans_dir
}

/// A running server: the app, its base URL, an admin token, and a stop switch.
pub struct Server {
    pub app: App,
    pub base: String,
    pub admin_token: String,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    pub async fn start(app: App) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let admin_token = leaver::store::generate_token();
        app.store
            .create_token(
                &admin_token,
                "test-admin",
                leaver::domain::Role::Admin,
                "test",
            )
            .await
            .expect("token");
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(app.clone().serve(listener, shutdown));
        Server {
            app,
            base,
            admin_token,
            stop,
            task: Some(task),
        }
    }

    pub async fn token(&self, role: leaver::domain::Role) -> String {
        let token = leaver::store::generate_token();
        self.app
            .store
            .create_token(&token, &format!("test-{role}"), role, "test")
            .await
            .expect("token");
        token
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Offboard `email` by `plan` (as admin, with Idempotency-Key `key`) and wait up to
    /// a minute for the run to end.
    pub async fn offboard(&self, plan: &str, email: &str, key: &str) -> serde_json::Value {
        let created: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/v1/offboardings", self.base))
            .bearer_auth(&self.admin_token)
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({"identity": {"email": email}, "plan": plan}))
            .send()
            .await
            .expect("offboarding request")
            .json()
            .await
            .expect("offboarding answer");
        let id = created["id"].as_str().expect("run id");
        self.wait_run(id, Duration::from_secs(60)).await
    }

    /// Poll a run until it ends.
    pub async fn wait_run(&self, id: &str, limit: Duration) -> serde_json::Value {
        wait_run(&self.base, &self.admin_token, id, limit).await
    }
}

pub async fn wait_run(base: &str, token: &str, id: &str, limit: Duration) -> serde_json::Value {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let response = client
            .get(format!("{base}/api/v1/offboardings/{id}"))
            .bearer_auth(token)
            .send()
            .await;
        if let Ok(response) = response {
            if let Ok(run) = response.json::<serde_json::Value>().await {
                let status = run["status"].as_str().unwrap_or_default().to_string();
                if matches!(
                    status.as_str(),
                    "completed" | "failed" | "partially_failed" | "cancelled"
                ) {
                    return run;
                }
                if tokio::time::Instant::now() > deadline {
                    panic!("run {id} did not end in {limit:?}: {run:#}");
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            panic!("run {id} did not end in {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub const GITHUB_PLAN: &str = r#"
name: gh-leaver
trigger: { events: [manual] }
sla: 15m
steps:
  - id: github
    uses: github.remove_org_member
    with: { org: acme }
"#;

/// An open, manual rotation of `secret` (Vault, production) due at `due_at`, created
/// and updated at `now`: tests set the fields they care about over it.
pub fn open_rotation(secret: &str, due_at: i64, now: i64) -> leaver::store::RotationRow {
    leaver::store::RotationRow {
        id: uuid::Uuid::now_v7().to_string(),
        source: "vault".into(),
        secret: secret.into(),
        environment: "production".into(),
        owner: None,
        run_id: "run-1".into(),
        identity: "frank@example.com".into(),
        due_at,
        status: "open".into(),
        completed_by: None,
        reason: None,
        auto: false,
        escalated: false,
        last_reminded_at: None,
        created_at: now,
        updated_at: now,
        auto_attempt: None,
    }
}

/// Leaver's Okta service app as the Okta simulator knows it: `client_id`, its public
/// key `key_id` (private_key_jwt), and the scopes the Okta connector asks for.
pub fn okta_service_app(
    client_id: &str,
    key_id: &str,
    public_key_pem: &str,
) -> leaver_sim::okta::SimClient {
    leaver_sim::okta::SimClient {
        client_id: client_id.into(),
        name: "Leaver offboarding".into(),
        public_key_pem: public_key_pem.into(),
        key_id: Some(key_id.into()),
        scopes: vec![
            "okta.users.manage".into(),
            "okta.users.read".into(),
            "okta.logs.read".into(),
        ],
    }
}
