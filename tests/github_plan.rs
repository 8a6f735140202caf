//! GitHub plans through the engine against the simulated GitHub: contractor-leaver-like
//! steps (outside collaborator, invitations, SSO authorizations) on SQLite and
//! PostgreSQL with injected latency, 5xx, 429, secondary-limit 403s and a hung call —
//! completed, every step verified, nothing residual; and concurrent runs sharing one
//! token's rate-limit budget against a low primary limit without a single refusal.

mod common;

use common::*;
use leaver::app::App;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use serde_json::json;
use std::time::Duration;

const CONTRACTOR_PLAN: &str = r#"
name: contractor
trigger: { events: [manual] }
steps:
  - id: collaborator
    uses: github.remove_outside_collaborator
    with: { org: acme }
    retry: { max_attempts: 30, initial_backoff: 20ms, max_backoff: 200ms }
  - id: invitations
    uses: github.cancel_invitations
    with: { org: acme }
    retry: { max_attempts: 30, initial_backoff: 20ms, max_backoff: 200ms }
  - id: sso
    uses: github.revoke_sso_authorizations
    with: { org: acme }
    retry: { max_attempts: 30, initial_backoff: 20ms, max_backoff: 200ms }
"#;

async fn sim(config: GithubSimConfig) -> GithubSim {
    GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.to_string(),
        ..config
    })
    .await
    .expect("github sim")
}

async fn start(
    db: &TestDb,
    dir: &std::path::Path,
    plans: &[(&str, &str)],
    sim: &GithubSim,
) -> Server {
    let plans_dir = plans_dir(dir, plans);
    let mut config = test_config(&db.url, dir, &plans_dir, Some(&sim.base_url()));
    config.engine.max_attempts = 30;
    Server::start(App::build(config).await.expect("app")).await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contractor_plan_completes_verified_under_faults() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = sim(GithubSimConfig::default()).await;
        sim.add_outside_collaborator("acme", "dana-gh", "web");
        sim.add_outside_collaborator("acme", "dana-gh", "infra");
        sim.add_pending_invitation("acme", "dana-gh", "member");
        sim.add_email_invitation("acme", "dana@contractor.example", false);
        for kind in ["personal access token", "SSH key", "personal access token"] {
            sim.add_credential_authorization("acme", "dana-gh", kind);
        }
        // Others, who keep everything; enough of them that listings span pages.
        for i in 0..120 {
            let login = format!("other{i}");
            sim.add_outside_collaborator("acme", &login, "web");
            sim.add_credential_authorization("acme", &login, "SSH key");
        }
        sim.add_email_invitation("acme", "new.hire@example.com", false);

        let server = start(&db, dir.path(), &[("contractor", CONTRACTOR_PLAN)], &sim).await;
        sim.faults().set_latency(Duration::from_millis(3));
        sim.faults().set_random(0.2, 7);
        sim.faults().hang_next(1, Duration::from_secs(10)); // longer than the 2 s request timeout
        let id = post_run(
            &server,
            json!({
                "identity": {"email": "dana@contractor.example", "accounts": {"github": "dana-gh"}},
                "plan": "contractor",
            }),
        )
        .await;
        let run = server.wait_run(&id, Duration::from_secs(120)).await;
        sim.faults().clear();
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["verified"], true, "{}: {step:#}", db.kind);
        }
        assert!(sim.faults().injected() > 0);
        assert!(!sim
            .outside_collaborators("acme")
            .contains(&"dana-gh".to_string()));
        assert!(!sim.has_pending_invitation("acme", "dana-gh"));
        assert_eq!(sim.email_invitations("acme"), vec!["new.hire@example.com"]);
        assert!(sim.credential_authorizations("acme", "dana-gh").is_empty());
        assert_eq!(sim.outside_collaborators("acme").len(), 120, "{}", db.kind);
        assert_eq!(sim.credential_authorizations("acme", "other7").len(), 1);

        let evidence = server.app.store.evidence_for_subject(&id).await.unwrap();
        let verified = evidence
            .iter()
            .filter(|e| e.kind == "step.verification" && e.payload["verified"] == true)
            .count();
        assert_eq!(verified, 3, "{}: {evidence:#?}", db.kind);
        for entry in &evidence {
            assert!(!entry.payload.to_string().contains(GITHUB_TOKEN));
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_share_the_rate_limit_budget_without_refusals() {
    const PEOPLE: usize = 12;
    let plan = r#"
name: layoff
trigger: { events: [manual] }
steps:
  - id: member
    uses: github.remove_org_member
    with: { org: acme }
  - id: invitations
    uses: github.cancel_invitations
    with: { org: acme }
"#;
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(GithubSimConfig {
        rate_limit: 20,
        rate_limit_window: Duration::from_secs(2),
        ..GithubSimConfig::default()
    })
    .await;
    for i in 0..PEOPLE {
        sim.add_member("acme", &format!("laid-off-{i}"), "member");
        sim.add_email_invitation("acme", &format!("laid-off-{i}@example.com"), false);
    }
    let server = start(&db, dir.path(), &[("layoff", plan)], &sim).await;
    let mut ids = Vec::new();
    for i in 0..PEOPLE {
        ids.push(
            post_run(
                &server,
                json!({
                    "identity": {"email": format!("laid-off-{i}@example.com"),
                                 "accounts": {"github": format!("laid-off-{i}")}},
                    "plan": "layoff",
                }),
            )
            .await,
        );
    }
    for id in &ids {
        let run = server.wait_run(id, Duration::from_secs(120)).await;
        assert_eq!(run["status"], "completed", "{run:#}");
    }
    assert!(sim.members("acme").is_empty());
    assert!(sim.email_invitations("acme").is_empty());
    assert_eq!(
        sim.rate_limited_responses(),
        0,
        "no 403/429 rate-limit answers"
    );
    let (windows, _) = sim.rate_windows();
    assert!(
        windows.len() >= 3,
        "the limit was actually reached: {windows:?}"
    );
    server.stop().await;
}
