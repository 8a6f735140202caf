//! GET /metrics after a completed run, a failed run, a drill and a ledger verification:
//! the series exist under their documented names with the values those events imply.

mod common;

use common::probe::{Probe, Script};
use common::*;
use leaver::app::App;
use leaver::connectors::build_registry;
use std::sync::Arc;
use std::time::Duration;

const LIVE_PLAN: &str = r#"
name: probe-leaver
trigger: { events: [manual] }
sla: 15m
steps:
  - id: revoke-a
    uses: probe.revoke
    with: { key: a }
  - id: revoke-b
    uses: probe.revoke
    with: { key: b }
"#;

const BROKEN_PLAN: &str = r#"
name: probe-broken
trigger: { events: [manual] }
sla: 15m
steps:
  - id: revoke
    uses: probe.revoke
    with: { key: broken }
"#;

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
"#;

/// The value of the one sample whose name and labels start with `series`.
fn sample(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no `{series}` in\n{text}"));
    line[series.len()..].trim().parse().expect("a number")
}

async fn start_run(server: &Server, plan: &str, email: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/offboardings", server.base))
        .bearer_auth(&server.admin_token)
        .json(&serde_json::json!({"identity": {"email": email}, "plan": plan}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_runs_failures_drills_rotations_and_verification() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let plans = plans_dir(
            dir.path(),
            &[
                ("probe-leaver", LIVE_PLAN),
                ("probe-broken", BROKEN_PLAN),
                ("canary-drill", DRILL_PLAN),
            ],
        );
        let config = test_config(&db.url, dir.path(), &plans, None);
        let probe = Probe::with_holdings(&["a", "b"]);
        probe.script(
            "broken",
            Script {
                permanent: Some("refused by the upstream".into()),
                ..Script::default()
            },
        );
        let mut registry = build_registry(&config).expect("registry");
        registry.register(Arc::new(probe.clone()));
        let app = App::build_with_registry(config, registry)
            .await
            .expect("app");
        let server = Server::start(app).await;
        let client = reqwest::Client::new();

        let response = client
            .post(format!("{}/api/v1/drills", server.base))
            .bearer_auth(&server.admin_token)
            .json(&serde_json::json!({"plan": "canary-drill", "identity": "canary@example.com"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let drill: serde_json::Value = response.json().await.unwrap();
        let drill_id = drill["id"].as_str().unwrap().to_string();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let drill: serde_json::Value = client
                .get(format!("{}/api/v1/drills/{drill_id}", server.base))
                .bearer_auth(&server.admin_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if drill["status"] != "running" {
                assert_eq!(drill["status"], "pass", "{}: {drill:#}", db.kind);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "drill did not end");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let done = start_run(&server, "probe-leaver", "alice@example.com").await;
        let run = server.wait_run(&done, Duration::from_secs(20)).await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        let broken = start_run(&server, "probe-broken", "bob@example.com").await;
        let run = server.wait_run(&broken, Duration::from_secs(20)).await;
        assert_eq!(run["status"], "failed", "{}: {run:#}", db.kind);

        let scrape = || async {
            let response = client
                .get(format!("{}/metrics", server.base))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        };
        let before = scrape().await;
        assert_eq!(
            sample(
                &before,
                "leaver_evidence_last_verification_timestamp_seconds"
            ),
            0.0
        );
        let verify = client
            .get(format!("{}/api/v1/evidence/verify", server.base))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(verify.status(), 200);
        let text = scrape().await;
        let kind = db.kind;

        // Runs by status: the drill's run and the two runs above.
        assert_eq!(
            sample(&text, r#"leaver_runs{status="completed"}"#),
            2.0,
            "{kind}\n{text}"
        );
        assert_eq!(
            sample(&text, r#"leaver_runs{status="failed"}"#),
            1.0,
            "{kind}"
        );
        assert_eq!(
            sample(&text, r#"leaver_runs{status="running"}"#),
            0.0,
            "{kind}"
        );
        // Time to revoke: observed for each completed run.
        assert!(
            sample(&text, "leaver_time_to_revoke_seconds_count") >= 1.0,
            "{kind}\n{text}"
        );
        assert!(text.contains(r#"leaver_time_to_revoke_seconds_bucket{le="+Inf"}"#));
        // Step failures by connector and error class.
        assert_eq!(
            sample(
                &text,
                r#"leaver_step_failures_total{connector="probe",class="permanent"}"#
            ),
            1.0,
            "{kind}\n{text}"
        );
        assert!(
            sample(
                &text,
                r#"leaver_step_attempts_total{connector="probe",outcome="succeeded"}"#
            ) >= 2.0
        );
        // Drills.
        assert_eq!(
            sample(&text, r#"leaver_drill_pass_rate{plan="canary-drill"}"#),
            1.0,
            "{kind}"
        );
        assert_eq!(
            sample(&text, r#"leaver_drills_ended{plan="canary-drill"}"#),
            1.0,
            "{kind}"
        );
        // Rotations: none were scheduled.
        assert_eq!(sample(&text, "leaver_rotations_open"), 0.0, "{kind}");
        assert_eq!(sample(&text, "leaver_rotations_overdue"), 0.0, "{kind}");
        // Evidence: chain length and the verification just made.
        assert!(sample(&text, "leaver_evidence_chain_length") > 0.0);
        assert_eq!(
            sample(&text, "leaver_evidence_last_verification_ok"),
            1.0,
            "{kind}"
        );
        let at = sample(&text, "leaver_evidence_last_verification_timestamp_seconds");
        let now = chrono::Utc::now().timestamp() as f64;
        assert!((now - 60.0..=now + 1.0).contains(&at), "{kind}: {at}");

        // A database without the rotations table (one migrated before 0011) still
        // scrapes; the rotation gauges keep their last values.
        sqlx::query("DROP TABLE rotations")
            .execute(server.app.store.pool())
            .await
            .unwrap();
        let text = scrape().await;
        assert!(text.contains("leaver_runs{"), "{kind}");
        server.stop().await;
    }
}
