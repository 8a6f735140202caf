//! Scale-out on PostgreSQL: three `leaver serve` processes share one database. Runs are
//! sent to all three, one process is killed with SIGKILL while runs are in flight, and
//! still every run completes and is verified, every upstream side effect is applied
//! (counted by the GitHub fake), the evidence chain verifies, and a cron-scheduled
//! drill fires exactly once per fire time, before and after the kill.

mod common;

use common::process::{create_token, export_and_verify, leaver, start_serve};
use common::*;
use leaver::store::Store;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ORGS: [&str; 3] = ["org-a", "org-b", "org-c"];
const USERS: usize = 12;
const REPLICAS: usize = 3;
const CANARY_LOGIN: &str = "canary-bot";

const PLAN: &str = r#"
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
"#;

const DRILL_PLAN: &str = r#"
name: canary-drill
trigger: { events: [drill] }
sla: 5m
steps:
  - id: github
    uses: github.remove_org_member
    with: { org: org-a }
"#;

const DRILL_JOB: &str = "drill:canary-drill:canary@example.com";

fn write_config(dir: &Path, db_url: &str, github_url: &str) -> PathBuf {
    let plans = plans_dir(dir, &[("slow-leaver", PLAN), ("canary-drill", DRILL_PLAN)]);
    std::fs::write(dir.join("github-token"), GITHUB_TOKEN).unwrap();
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[database]
url = "{db_url}"
max_connections = 5
[plans]
dir = "{plans}"
[evidence]
signing_key = "file:{key}"
checkpoint_schedule = "*/5 * * * * *"
[engine]
lease = "2s"
poll_interval = "100ms"
step_timeout = "10s"
[connectors.github]
api_url = "{github_url}"
org = "acme"
token = "file:{token}"
request_timeout = "10s"
[[drills.schedule]]
plan = "canary-drill"
identity = "canary@example.com"
cron = "*/2 * * * * *"
"#,
        plans = plans.display(),
        key = dir.join("signing.key").display(),
        token = dir.join("github-token").display(),
    );
    let path = dir.join("leaver.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn logs(dir: &Path) -> String {
    (0..REPLICAS)
        .map(|i| {
            format!(
                "--- replica {i} ---\n{}",
                std::fs::read_to_string(dir.join(format!("replica-{i}.log"))).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_survive_a_sigkill_and_fire_cron_jobs_once() {
    let Some(db) = postgres_db().await else {
        eprintln!("NOTICE: no PostgreSQL; the three-replica test is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.to_string(),
        latency: Duration::from_millis(200),
        ..GithubSimConfig::default()
    })
    .await
    .unwrap();
    for user in 0..USERS {
        for org in ORGS {
            sim.add_member(org, &format!("user{user}"), "member");
        }
    }
    sim.add_member("org-a", CANARY_LOGIN, "member");
    let config = write_config(dir.path(), &db.url, &sim.base_url());
    let mapping = dir.path().join("accounts.csv");
    std::fs::write(
        &mapping,
        format!("email,system,account\ncanary@example.com,github,{CANARY_LOGIN}\n"),
    )
    .unwrap();
    let mapped = leaver(
        &config,
        &["identities", "import", mapping.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert!(
        mapped.status.success(),
        "mapping the canary: {}",
        String::from_utf8_lossy(&mapped.stderr)
    );
    let token = create_token(&config, "admin");

    let mut replicas = Vec::new();
    for i in 0..REPLICAS {
        let log = dir.path().join(format!("replica-{i}.log"));
        replicas.push(start_serve(&config, &log));
    }

    // The drill schedule fires before the kill...
    let store = Store::connect(&db.url, 2).await.expect("store");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store
        .cron_firings(DRILL_JOB)
        .await
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the drill schedule never fired\n{}",
            logs(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Offboardings go to every replica in turn.
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for user in 0..USERS {
        let base = &replicas[user % REPLICAS].1;
        let body = serde_json::json!({
            "identity": {"email": format!("user{user}@example.com"), "accounts": {"github": format!("user{user}")}},
            "plan": "slow-leaver"
        });
        let response = client
            .post(format!("{base}/api/v1/offboardings"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
        let created: serde_json::Value = response.json().await.unwrap();
        ids.push(created["id"].as_str().expect("run id").to_string());
    }

    // SIGKILL replica 0 once removals are under way but far from done.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.total_removals() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no removal started\n{}",
            logs(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut killed, _) = replicas.remove(0);
    killed.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    killed.wait().unwrap();
    let killed_at = leaver::store::now_ms();
    let at_kill = sim.total_removals();
    assert!(
        at_kill < USERS * ORGS.len(),
        "the runs finished before the kill; nothing tested"
    );

    // The survivors finish every run, including those the killed replica held.
    let base = replicas[0].1.clone();
    for id in &ids {
        let run = wait_run(&base, &token, id, Duration::from_secs(120)).await;
        assert_eq!(run["status"], "completed", "{run:#}\n{}", logs(dir.path()));
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["verified"], true, "{step:#}");
        }
    }
    // Every side effect was applied upstream exactly once: nobody is left, and each
    // membership was removed once (a repeated DELETE after the kill finds nothing to
    // remove, and the fake counts only real removals).
    for user in 0..USERS {
        for org in ORGS {
            let login = format!("user{user}");
            assert!(!sim.is_member(org, &login), "{login} still in {org}");
            let removals = sim.removals(org, &login);
            assert_eq!(removals, 1, "{login} removed from {org} {removals} times");
        }
    }
    // ...and keeps firing on the survivors after it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let firings = store.cron_firings(DRILL_JOB).await.unwrap();
        if firings
            .iter()
            .filter(|(t, _)| *t > killed_at + 1000)
            .count()
            >= 2
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the drill schedule stopped firing after the kill: {firings:?}\n{}",
            logs(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (mut child, _) in replicas {
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // Each fire time of the drill schedule started exactly one drill.
    let firings = store.cron_firings(DRILL_JOB).await.unwrap();
    let drills = store.list_drills(Some("canary-drill"), 1000).await.unwrap();
    assert!(firings.len() >= 3, "{firings:?}");
    let mut times: Vec<i64> = drills.iter().filter_map(|d| d.scheduled_for).collect();
    let started = times.len();
    times.sort_unstable();
    times.dedup();
    assert_eq!(times.len(), started, "two drills for one fire time");
    for (fire_time, owner) in &firings {
        assert!(
            times.binary_search(fire_time).is_ok(),
            "fire time {fire_time} (won by {owner}) started no drill"
        );
    }
    // The canary was revoked upstream once; later drills found it already gone.
    assert!(!sim.is_member("org-a", CANARY_LOGIN));
    assert_eq!(sim.removals("org-a", CANARY_LOGIN), 1);

    // The evidence written by three processes (one killed) is one intact chain.
    export_and_verify(&config, &dir.path().join("evidence.jsonl"));
}
