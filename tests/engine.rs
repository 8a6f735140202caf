//! The engine end to end, on SQLite and PostgreSQL: runs submitted over HTTP, executed
//! against the simulated GitHub (and the scripted `probe` connector for rules a real
//! upstream cannot be made to show on demand), verified, swept and recorded.

mod common;

use common::probe::{Probe, Script};
use common::*;
use leaver::app::App;
use leaver::connectors::build_registry;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

async fn github_sim() -> GithubSim {
    let sim = GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.to_string(),
        ..GithubSimConfig::default()
    })
    .await
    .expect("github sim");
    sim.add_member("acme", "alice-gh", "member");
    sim
}

async fn start(
    db: &TestDb,
    dir: &std::path::Path,
    plans: &[(&str, &str)],
    github: Option<&GithubSim>,
    probe: Option<&Probe>,
) -> Server {
    let plans_dir = plans_dir(dir, plans);
    let url = github.map(|g| g.base_url());
    let config = test_config(&db.url, dir, &plans_dir, url.as_deref());
    let mut registry = build_registry(&config).expect("registry");
    if let Some(probe) = probe {
        registry.register(Arc::new(probe.clone()));
    }
    let app = App::build_with_registry(config, registry)
        .await
        .expect("app");
    Server::start(app).await
}

async fn post_run(server: &Server, body: serde_json::Value) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/offboardings", server.base))
        .bearer_auth(&server.admin_token)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    let created: serde_json::Value = response.json().await.expect("json");
    created["id"].as_str().expect("id").to_string()
}

fn alice(plan: &str) -> serde_json::Value {
    json!({
        "identity": {"email": "alice@example.com", "idp": "okta", "accounts": {"github": "alice-gh"}},
        "plan": plan,
    })
}

fn step<'a>(run: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("no step {id} in {run:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_removal_is_executed_verified_swept_and_recorded() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = github_sim().await;
        let server = start(
            &db,
            dir.path(),
            &[("gh-leaver", GITHUB_PLAN)],
            Some(&sim),
            None,
        )
        .await;
        let id = post_run(&server, alice("gh-leaver")).await;
        let run = server.wait_run(&id, Duration::from_secs(30)).await;

        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        assert_eq!(run["completion"], 1.0);
        assert!(run["time_to_revoke_ms"].as_i64().is_some());
        assert!(run["sla_deadline"].is_string());
        let github = step(&run, "github");
        assert_eq!(github["status"], "succeeded");
        assert_eq!(github["verified"], true);
        assert_eq!(step(&run, "residual-access-sweep")["status"], "succeeded");
        assert_eq!(run["residual_access"], json!([]));
        assert!(!sim.is_member("acme", "alice-gh"));
        assert_eq!(sim.removals("acme", "alice-gh"), 1);

        let kinds: Vec<String> = server
            .app
            .store
            .evidence_for_subject(&id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        for kind in [
            "offboarding.requested",
            "run.status",
            "step.attempt",
            "step.result",
            "step.verification",
            "step.status",
            "run.residual_access",
        ] {
            assert!(
                kinds.iter().any(|k| k == kind),
                "{}: no {kind} in {kinds:?}",
                db.kind
            );
        }
        assert_eq!(kinds.last().map(String::as_str), Some("run.status"));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_upstream_errors_are_retried_until_verified() {
    let plan = r#"
name: gh-retry
trigger: { events: [manual] }
steps:
  - id: github
    uses: github.remove_org_member
    with: { org: acme }
    retry: { max_attempts: 6, initial_backoff: 50ms, max_backoff: 200ms }
"#;
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = github_sim().await;
        sim.faults().fail_next(2, 503);
        let server = start(&db, dir.path(), &[("gh-retry", plan)], Some(&sim), None).await;
        let id = post_run(&server, alice("gh-retry")).await;
        let run = server.wait_run(&id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        let github = step(&run, "github");
        assert!(github["attempts"].as_i64().unwrap() >= 3, "{github:#}");
        assert_eq!(github["verified"], true);
        assert!(!sim.is_member("acme", "alice-gh"));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_error_fails_the_step_with_the_upstream_message() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = GithubSim::start(GithubSimConfig {
            token: "a-different-token".into(),
            ..GithubSimConfig::default()
        })
        .await
        .unwrap();
        sim.add_member("acme", "alice-gh", "member");
        let server = start(
            &db,
            dir.path(),
            &[("gh-leaver", GITHUB_PLAN)],
            Some(&sim),
            None,
        )
        .await;
        let id = post_run(&server, alice("gh-leaver")).await;
        let run = server.wait_run(&id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "failed", "{}: {run:#}", db.kind);
        let github = step(&run, "github");
        assert_eq!(github["attempts"], 1, "permanent errors are not retried");
        assert_eq!(github["verified"], false);
        let error = github["error"].as_str().unwrap();
        assert!(error.contains("Bad credentials"), "{error}");
        assert!(
            !error.contains(GITHUB_TOKEN),
            "the token leaked into an error"
        );
        assert!(sim.is_member("acme", "alice-gh"));
        server.stop().await;
    }
}

const PROBE_DAG: &str = r#"
name: probe-dag
trigger: { events: [manual] }
steps:
  - id: a
    uses: probe.revoke
    with: { key: a }
  - id: b
    uses: probe.revoke
    with: { key: b }
    needs: [a]
  - id: c
    uses: probe.revoke
    with: { key: c }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_skips_what_needs_it_and_the_run_is_partial() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let probe = Probe::with_holdings(&["a", "b", "c"]);
        probe.script(
            "a",
            Script {
                permanent: Some("access denied by upstream policy".into()),
                ..Script::default()
            },
        );
        let server = start(
            &db,
            dir.path(),
            &[("probe-dag", PROBE_DAG)],
            None,
            Some(&probe),
        )
        .await;
        let id = post_run(&server, alice("probe-dag")).await;
        let run = server.wait_run(&id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "partially_failed", "{}: {run:#}", db.kind);
        assert_eq!(step(&run, "a")["status"], "failed");
        assert!(step(&run, "a")["error"]
            .as_str()
            .unwrap()
            .contains("access denied by upstream policy"));
        assert_eq!(step(&run, "b")["status"], "skipped");
        assert_eq!(step(&run, "c")["status"], "succeeded");
        assert_eq!(probe.executes("b"), 0, "a skipped step never runs");
        // The sweep still ran and found what is left.
        let residual = run["residual_access"].as_array().unwrap();
        assert_eq!(residual.len(), 2, "{residual:?}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn needs_order_steps_and_residual_access_marks_the_run_partial() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        // "z" is held but no step revokes it: the sweep must find it.
        let probe = Probe::with_holdings(&["a", "b", "c", "z"]);
        let server = start(
            &db,
            dir.path(),
            &[("probe-dag", PROBE_DAG)],
            None,
            Some(&probe),
        )
        .await;
        let id = post_run(&server, alice("probe-dag")).await;
        let run = server.wait_run(&id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "partially_failed", "{}: {run:#}", db.kind);
        for id in ["a", "b", "c"] {
            assert_eq!(step(&run, id)["status"], "succeeded");
            assert_eq!(step(&run, id)["verified"], true);
        }
        let a_done = step(&run, "a")["finished_at"].as_str().unwrap().to_string();
        let b_started = step(&run, "b")["started_at"].as_str().unwrap().to_string();
        assert!(
            b_started >= a_done,
            "b ran before the step it needs: {b_started} < {a_done}"
        );
        assert_eq!(run["residual_access"][0]["resource"], "z");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_that_does_not_verify_is_never_reported_as_success() {
    let plan = r#"
name: probe-lie
trigger: { events: [manual] }
steps:
  - id: a
    uses: probe.revoke
    with: { key: a }
    retry: { max_attempts: 3, initial_backoff: 20ms, max_backoff: 50ms }
"#;
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let probe = Probe::with_holdings(&["a"]);
        probe.script(
            "a",
            Script {
                verify_lies: true,
                ..Script::default()
            },
        );
        let server = start(&db, dir.path(), &[("probe-lie", plan)], None, Some(&probe)).await;
        let id = post_run(&server, alice("probe-lie")).await;
        let run = server.wait_run(&id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "failed", "{}: {run:#}", db.kind);
        let a = step(&run, "a");
        assert_eq!(a["verified"], false);
        assert_eq!(a["attempts"], 3);
        assert!(
            a["error"].as_str().unwrap().contains("verification failed"),
            "{a:#}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_steps_run_in_parallel_within_the_connector_bound() {
    let mut plan = String::from("name: probe-wide\ntrigger: { events: [manual] }\nsteps:\n");
    let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    for key in &keys {
        plan.push_str(&format!(
            "  - id: {key}\n    uses: probe.revoke\n    with: {{ key: {key} }}\n"
        ));
    }
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let probe = Probe::with_holdings(&refs);
        for key in &keys {
            probe.script(
                key,
                Script {
                    delay: Duration::from_millis(200),
                    ..Script::default()
                },
            );
        }
        let plans_dir = plans_dir(dir.path(), &[("probe-wide", &plan)]);
        let mut config = test_config(&db.url, dir.path(), &plans_dir, None);
        config.engine.per_connector_limit = 3;
        let mut registry = build_registry(&config).unwrap();
        registry.register(Arc::new(probe.clone()));
        let server = Server::start(App::build_with_registry(config, registry).await.unwrap()).await;
        let id = post_run(&server, alice("probe-wide")).await;
        let run = server.wait_run(&id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        let max = probe.max_in_flight.load(Ordering::SeqCst);
        assert!(
            max >= 2,
            "independent steps did not run in parallel (max {max})"
        );
        assert!(max <= 3, "the per-connector bound was exceeded (max {max})");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_termination_waits_for_its_effective_time() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = github_sim().await;
        let server = start(
            &db,
            dir.path(),
            &[("gh-leaver", GITHUB_PLAN)],
            Some(&sim),
            None,
        )
        .await;
        let effective = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
        let mut body = alice("gh-leaver");
        body["effective_at"] = json!(effective.to_rfc3339());
        let id = post_run(&server, body).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let early: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/offboardings/{id}", server.base))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(early["status"], "pending", "{}: {early:#}", db.kind);
        assert!(
            sim.is_member("acme", "alice-gh"),
            "revoked before its effective time"
        );
        let run = server.wait_run(&id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "completed");
        let started =
            chrono::DateTime::parse_from_rfc3339(run["started_at"].as_str().unwrap()).unwrap();
        assert!(
            started >= effective - chrono::Duration::milliseconds(5),
            "started {started} before {effective}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_can_be_cancelled_before_it_starts() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = github_sim().await;
        let server = start(
            &db,
            dir.path(),
            &[("gh-leaver", GITHUB_PLAN)],
            Some(&sim),
            None,
        )
        .await;
        let mut body = alice("gh-leaver");
        body["effective_at"] =
            json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
        let id = post_run(&server, body).await;
        let client = reqwest::Client::new();
        let cancel = client
            .post(format!("{}/api/v1/offboardings/{id}/cancel", server.base))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(cancel.status(), 200);
        let again = client
            .post(format!("{}/api/v1/offboardings/{id}/cancel", server.base))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
        let run = server.wait_run(&id, Duration::from_secs(5)).await;
        assert_eq!(run["status"], "cancelled", "{}", db.kind);
        assert!(run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "cancelled"));
        assert!(sim.is_member("acme", "alice-gh"));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_previews_and_touches_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = github_sim().await;
        let server = start(
            &db,
            dir.path(),
            &[("gh-leaver", GITHUB_PLAN)],
            Some(&sim),
            None,
        )
        .await;
        let mut body = alice("gh-leaver");
        body["mode"] = json!("dry_run");
        let id = post_run(&server, body).await;
        let run = server.wait_run(&id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        assert_eq!(run["mode"], "dry_run");
        let github = step(&run, "github");
        assert_eq!(github["verified"], false);
        assert_eq!(github["outcome"]["would_revoke"][0]["resource"], "acme");
        assert!(
            sim.is_member("acme", "alice-gh"),
            "a dry run revoked access"
        );
        assert_eq!(sim.removals("acme", "alice-gh"), 0);
        server.stop().await;
    }
}
