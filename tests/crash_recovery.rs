//! Durability: `leaver serve` is killed with SIGKILL in the middle of runs against a
//! slow upstream, started again, and every run completes with every side effect
//! applied, on SQLite and on PostgreSQL.

mod common;

use common::process::{create_token, export_and_verify, start_serve};
use common::*;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use std::path::Path;
use std::time::Duration;

const ORGS: [&str; 3] = ["org-a", "org-b", "org-c"];
const USERS: usize = 4;

fn plan() -> String {
    // Three removals in sequence per identity, so a run spans several seconds.
    r#"
name: slow-leaver
trigger: { events: [manual] }
steps:
  - id: a
    uses: github.remove_org_member
    with: { org: org-a }
  - id: b
    uses: github.remove_org_member
    with: { org: org-b }
    needs: [a]
  - id: c
    uses: github.remove_org_member
    with: { org: org-c }
    needs: [b]
"#
    .to_string()
}

fn write_config(dir: &Path, db_url: &str, github_url: &str) -> std::path::PathBuf {
    let plans = plans_dir(dir, &[("slow-leaver", &plan())]);
    std::fs::write(dir.join("github-token"), GITHUB_TOKEN).unwrap();
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[database]
url = "{db_url}"
[plans]
dir = "{plans}"
[evidence]
signing_key = "file:{key}"
[engine]
lease = "2s"
poll_interval = "100ms"
step_timeout = "10s"
[connectors.github]
api_url = "{github_url}"
org = "acme"
token = "file:{token}"
request_timeout = "10s"
"#,
        plans = plans.display(),
        key = dir.join("signing.key").display(),
        token = dir.join("github-token").display(),
    );
    let path = dir.join("leaver.toml");
    std::fs::write(&path, config).unwrap();
    path
}

async fn crash_and_recover(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let sim = GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.to_string(),
        latency: Duration::from_millis(300),
        ..GithubSimConfig::default()
    })
    .await
    .unwrap();
    for user in 0..USERS {
        for org in ORGS {
            sim.add_member(org, &format!("user{user}"), "member");
        }
    }
    let config = write_config(dir.path(), &db.url, &sim.base_url());
    let token = create_token(&config, "operator");

    let log = dir.path().join("serve.log");
    let (mut first, base) = start_serve(&config, &log);
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for user in 0..USERS {
        let body = serde_json::json!({
            "identity": {"email": format!("user{user}@example.com"), "accounts": {"github": format!("user{user}")}},
            "plan": "slow-leaver"
        });
        let created: serde_json::Value = client
            .post(format!("{base}/api/v1/offboardings"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().expect("run id").to_string());
    }

    // Kill once some, but not all, removals have happened.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.total_removals() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no removal started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    first.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    first.wait().unwrap();
    let at_kill = sim.total_removals();
    assert!(
        at_kill < USERS * ORGS.len(),
        "the runs finished before the kill; nothing tested"
    );

    let (mut second, base) = start_serve(&config, &log);
    for id in &ids {
        let run = wait_run(&base, &token, id, Duration::from_secs(90)).await;
        assert_eq!(
            run["status"],
            "completed",
            "{}: {run:#}\nlog: {}",
            db.kind,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["verified"], true, "{step:#}");
        }
    }
    for user in 0..USERS {
        for org in ORGS {
            let login = format!("user{user}");
            assert!(!sim.is_member(org, &login), "{login} still in {org}");
            assert!(sim.removals(org, &login) >= 1);
        }
    }
    second.kill().unwrap();
    second.wait().unwrap();

    // The evidence survived the crash intact.
    export_and_verify(&config, &dir.path().join("evidence.jsonl"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_then_restart_completes_every_run_on_sqlite() {
    crash_and_recover(&sqlite_db()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_then_restart_completes_every_run_on_postgres() {
    if let Some(db) = postgres_db().await {
        crash_and_recover(&db).await;
    }
}
