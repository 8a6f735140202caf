//! Revocation drills: a plan run for real against a canary with the Probe connector,
//! measured, verified and restored; the report stored and in the evidence; trends;
//! the CLI's exit codes; scheduled drills firing once across two replicas.

mod common;

use common::probe::{Probe, Script};
use common::*;
use leaver::app::App;
use leaver::config::Config;
use leaver::connectors::build_registry;
use leaver::domain::Role;
use leaver::drills::{DrillSchedule, DrillStart, Verdict};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const CANARY: &str = "canary@example.com";

const DRILL_PLAN: &str = r#"
name: canary-drill
trigger: { events: [drill] }
sla: 30s
steps:
  - id: revoke-a
    uses: probe.revoke
    with: { key: a }
  - id: revoke-b
    uses: probe.revoke
    with: { key: b }
restore:
  - id: grant-a
    uses: probe.grant
    with: { key: a }
  - id: grant-b
    uses: probe.grant
    with: { key: b }
    needs: [grant-a]
"#;

const TIGHT_PLAN: &str = r#"
name: tight-drill
trigger: { events: [drill] }
sla: 1s
steps:
  - id: slow
    uses: probe.revoke
    with: { key: slow }
restore:
  - id: grant-slow
    uses: probe.grant
    with: { key: slow }
"#;

fn config(db: &TestDb, dir: &Path) -> Config {
    let plans = plans_dir(
        dir,
        &[("canary-drill", DRILL_PLAN), ("tight-drill", TIGHT_PLAN)],
    );
    test_config(&db.url, dir, &plans, None)
}

async fn app(config: Config, probe: &Probe) -> App {
    let mut registry = build_registry(&config).expect("registry");
    registry.register(Arc::new(probe.clone()));
    App::build_with_registry(config, registry)
        .await
        .expect("app")
}

async fn wait_drill(server: &Server, id: &str) -> serde_json::Value {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let drill: serde_json::Value = client
            .get(format!("{}/api/v1/drills/{id}", server.base))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .expect("get drill")
            .json()
            .await
            .expect("drill json");
        if drill["status"] != "running" {
            return drill;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "drill {id} did not end: {drill:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_revokes_verifies_restores_and_reports() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let probe = Probe::with_holdings(&["a", "b"]);
        let server = Server::start(app(config(&db, dir.path()), &probe).await).await;
        let client = reqwest::Client::new();
        let body = serde_json::json!({"plan": "canary-drill", "identity": CANARY});

        let viewer = server.token(Role::Viewer).await;
        let refused = client
            .post(format!("{}/api/v1/drills", server.base))
            .bearer_auth(&viewer)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused.status(),
            403,
            "{}: viewers cannot start drills",
            db.kind
        );

        let operator = server.token(Role::Operator).await;
        let response = client
            .post(format!("{}/api/v1/drills", server.base))
            .bearer_auth(&operator)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{}", db.kind);
        let started: serde_json::Value = response.json().await.unwrap();
        let id = started["id"].as_str().expect("drill id").to_string();

        let drill = wait_drill(&server, &id).await;
        let report = &drill["report"];
        assert_eq!(drill["status"], "pass", "{}: {drill:#}", db.kind);
        assert_eq!(report["verdict"], "pass");
        assert_eq!(report["failures"], serde_json::json!([]));
        let steps = report["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2, "{}: {report:#}", db.kind);
        for step in steps {
            assert_eq!(step["verified"], true, "{step}");
            assert_eq!(step["attempts"], 1, "{step}");
            assert!(
                step["started_at"].is_i64() && step["finished_at"].is_i64(),
                "{step}"
            );
            assert!(step["duration_ms"].as_i64().unwrap() >= 0, "{step}");
            assert!(step["time_to_revoke_ms"].as_i64().unwrap() >= 0, "{step}");
        }
        let ttr = report["time_to_revoke_ms"]
            .as_i64()
            .expect("time to revoke");
        assert_eq!(report["systems"]["probe"].as_i64(), Some(ttr));
        assert!(ttr <= report["sla_ms"].as_i64().unwrap());
        assert_eq!(report["run_status"], "completed");
        assert_eq!(report["restore"]["succeeded"], true);
        assert_eq!(report["restore"]["steps"].as_array().unwrap().len(), 2);
        assert!(
            probe.holds("a") && probe.holds("b"),
            "{}: restore gave the canary its access back",
            db.kind
        );
        assert_eq!((probe.executes("a"), probe.executes("b")), (1, 1));

        // The revocation run is an ordinary live run triggered by `drill`.
        let run_id = drill["run_id"].as_str().unwrap();
        let run = server.wait_run(run_id, Duration::from_secs(5)).await;
        assert_eq!(run["mode"], "live");
        assert_eq!(run["trigger"], "drill");

        // The report is in the evidence, as stored.
        let evidence = server.app.store.evidence_for_subject(&id).await.unwrap();
        let kinds: Vec<&str> = evidence.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, vec!["drill.started", "drill.report"], "{}", db.kind);
        assert_eq!(&evidence[1].payload, report);

        // Trends over the plan's drills.
        let listed: serde_json::Value = client
            .get(format!(
                "{}/api/v1/drills?plan=canary-drill&last=10",
                server.base
            ))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["trend"]["drills"], 1, "{listed:#}");
        assert_eq!(listed["trend"]["pass_rate"], 1.0);
        assert_eq!(listed["trend"]["p50_time_to_revoke_ms"].as_i64(), Some(ttr));
        assert_eq!(listed["drills"][0]["id"], id.as_str());

        let unknown = client
            .post(format!("{}/api/v1/drills", server.base))
            .bearer_auth(&operator)
            .json(&serde_json::json!({"plan": "nope", "identity": CANARY}))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 422);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_steps_slow_revocations_and_failed_restores_fail_the_drill() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let probe = Probe::with_holdings(&["a", "b", "slow"]);
        let server = Server::start(app(config(&db, dir.path()), &probe).await).await;
        let engine = &server.app.engine;
        let start = |plan: &str| DrillStart {
            plan: plan.into(),
            identity: CANARY.into(),
            started_by: "test".into(),
            scheduled_for: None,
        };

        // A step fails upstream: fail, with the upstream's message.
        probe.script(
            "b",
            Script {
                permanent: Some("token lacks the admin scope".into()),
                ..Script::default()
            },
        );
        let report = leaver::drills::run(engine, &start("canary-drill"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.verdict, Verdict::Fail, "{}: {report:#?}", db.kind);
        let b = report.steps.iter().find(|s| s.id == "revoke-b").unwrap();
        assert!(!b.verified);
        assert!(
            b.error
                .as_deref()
                .unwrap_or_default()
                .contains("token lacks the admin scope"),
            "{b:?}"
        );
        assert!(
            report
                .failures
                .iter()
                .any(|f| f.contains("token lacks the admin scope")),
            "{:?}",
            report.failures
        );
        assert_eq!(report.time_to_revoke_ms, None);
        assert_eq!(report.systems["probe"], None);
        // Restore still ran after every revocation step ended.
        assert!(report.restore.succeeded);
        assert!(probe.holds("a"));

        // Every step verified, but later than the SLA: fail.
        probe.script(
            "slow",
            Script {
                delay: Duration::from_millis(1300),
                ..Script::default()
            },
        );
        let report = leaver::drills::run(engine, &start("tight-drill"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.verdict, Verdict::Fail, "{}: {report:#?}", db.kind);
        assert!(report.steps.iter().all(|s| s.verified));
        assert!(report.time_to_revoke_ms.unwrap() > 1000);
        assert!(
            report
                .failures
                .iter()
                .any(|f| f.contains("exceeds the SLA")),
            "{:?}",
            report.failures
        );
        assert!(probe.holds("slow"), "restored");

        // Revocations verified in time, restore refused: fail, never hidden.
        probe.script("b", Script::default());
        probe.fail_grant("b", "grant refused by policy");
        let report = leaver::drills::run(engine, &start("canary-drill"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.verdict, Verdict::Fail, "{}: {report:#?}", db.kind);
        assert!(report.steps.iter().all(|s| s.verified), "{report:#?}");
        assert!(!report.restore.succeeded);
        let grant_b = &report.restore.steps[1];
        assert!(
            grant_b
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("grant refused by policy"),
            "{grant_b:?}"
        );
        assert!(report
            .failures
            .iter()
            .any(|f| f.contains("restore step `grant-b`")));

        // Stored and in the evidence with the verdict.
        let stored = server
            .app
            .store
            .get_drill(&report.drill_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, "fail");
        let evidence = server
            .app
            .store
            .evidence_for_subject(&report.drill_id)
            .await
            .unwrap();
        let entry = evidence.iter().find(|e| e.kind == "drill.report").unwrap();
        assert_eq!(entry.payload["verdict"], "fail");
        assert_eq!(entry.payload["restore"]["succeeded"], false);

        let listed = server
            .app
            .store
            .list_drills(Some("canary-drill"), 10)
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_drill_run_exits_zero_on_pass_and_one_on_fail() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let probe = Probe::with_holdings(&["a", "b"]);
    let app = app(config(&db, dir.path()), &probe).await;
    let (code, table) = leaver::cli::drill_cmd::run_drill(&app, "canary-drill", CANARY)
        .await
        .unwrap();
    assert_eq!(code, 0, "{table}");
    assert!(
        table.contains("PASS") && table.contains("revoke-a") && table.contains("grant-b"),
        "{table}"
    );
    probe.fail_grant("a", "no way back");
    let (code, table) = leaver::cli::drill_cmd::run_drill(&app, "canary-drill", CANARY)
        .await
        .unwrap();
    assert_eq!(code, 1, "{table}");
    assert!(
        table.contains("FAIL") && table.contains("no way back"),
        "{table}"
    );
}

#[test]
fn the_binary_exits_one_when_the_drill_fails() {
    // No GitHub configured: the plan's step fails, so the drill fails with exit code 1.
    let dir = tempfile::tempdir().unwrap();
    plans_dir(dir.path(), &[("gh-leaver", GITHUB_PLAN)]);
    std::fs::write(
        dir.path().join("leaver.toml"),
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[engine]\npoll_interval = \"50ms\"\nmax_attempts = 1\n",
            dir.path().join("leaver.db").display()
        ),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_leaver"))
        .current_dir(dir.path())
        .args(["drill", "run", "--plan", "gh-leaver", "--identity", CANARY])
        .env("LEAVER_LOG", "warn")
        .output()
        .expect("run leaver");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("FAIL") && stdout.contains("github"),
        "{stdout}"
    );
}

#[test]
fn drill_schedules_are_validated_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaver.toml");
    std::fs::write(
        &path,
        "[[drills.schedule]]\nplan = \"canary-drill\"\nidentity = \"canary@example.com\"\ncron = \"every monday\"\n",
    )
    .unwrap();
    let error = Config::load(Some(&path)).unwrap_err().to_string();
    assert!(
        error.contains("drills.schedule[0]") && error.contains("every monday"),
        "{error}"
    );
    std::fs::write(
        &path,
        "[[drills.schedule]]\nplan = \"canary-drill\"\nidentity = \"canary@example.com\"\ncron = \"0 0 6 * * Mon\"\n",
    )
    .unwrap();
    let config = Config::load(Some(&path)).unwrap();
    assert_eq!(config.drills.schedule[0].cron, "0 0 6 * * Mon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_drill_fires_once_per_due_time_across_two_replicas() {
    let Some(db) = postgres_db().await else {
        eprintln!("NOTICE: no PostgreSQL; the two-replica drill schedule test is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let probe = Probe::with_holdings(&["a", "b"]);
    let schedule = DrillSchedule {
        plan: "canary-drill".into(),
        identity: CANARY.into(),
        cron: "*/2 * * * * *".into(),
    };
    let mut servers = Vec::new();
    for _ in 0..2 {
        let mut config = config(&db, dir.path());
        config.drills.schedule = vec![schedule.clone()];
        servers.push(Server::start(app(config, &probe).await).await);
    }
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let store = &servers[0].app.store;
    let firings = store.cron_firings(&schedule.job_name()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        firings.len() >= 2,
        "expected several firings, got {firings:?}"
    );
    let drills = store.list_drills(Some("canary-drill"), 100).await.unwrap();
    for (fire_time, owner) in &firings {
        let started: Vec<_> = drills
            .iter()
            .filter(|d| d.scheduled_for == Some(*fire_time))
            .collect();
        assert_eq!(
            started.len(),
            1,
            "fire time {fire_time} (won by {owner}) started {started:?}"
        );
        assert_eq!(started[0].started_by, "schedule");
    }
    let mut times: Vec<i64> = drills.iter().filter_map(|d| d.scheduled_for).collect();
    let count = times.len();
    times.sort_unstable();
    times.dedup();
    assert_eq!(times.len(), count, "one drill per fire time");
    // Both replicas took part in the race (each ran its scheduler).
    assert!(drills.len() >= firings.len());
    for server in servers {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_finishes_a_drill_whose_coordinator_stopped() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let probe = Probe::with_holdings(&["a", "b"]);
        // Replica A records the drill and its run, then stops before finishing it.
        let stopped = app(config(&db, dir.path()), &probe).await;
        let drill = leaver::drills::start(
            &stopped.engine,
            &DrillStart {
                plan: "canary-drill".into(),
                identity: CANARY.into(),
                started_by: "test".into(),
                scheduled_for: None,
            },
        )
        .await
        .unwrap()
        .unwrap();
        drop(stopped);

        let server = Server::start(app(config(&db, dir.path()), &probe).await).await;
        let engine = &server.app.engine;
        let now = leaver::store::now_ms();
        assert_eq!(
            leaver::drills::resume_orphans(engine, now).await.unwrap(),
            0,
            "{}: the coordinator's lease still holds",
            db.kind
        );
        let expired = now + leaver::drills::LEASE_MS + 1;
        assert_eq!(
            leaver::drills::resume_orphans(engine, expired)
                .await
                .unwrap(),
            1,
            "{}",
            db.kind
        );
        let finished = wait_drill(&server, &drill.id).await;
        assert_eq!(finished["status"], "pass", "{}: {finished:#}", db.kind);
        assert!(probe.holds("a") && probe.holds("b"));
        server.stop().await;
    }
}
