//! The GitLab connector wired into Leaver: configured from `[connectors.gitlab]`, a plan
//! that blocks the user, revokes its personal access tokens and removes its memberships
//! runs through the engine against the simulated GitLab over HTTP, on SQLite and
//! PostgreSQL, through injected 5xx and 429 answers, and the admin token never reaches
//! the database or the evidence.

mod common;

use common::*;
use leaver::app::App;
use leaver::config::GitlabSection;
use leaver_sim::faults::{Fault, FaultRule};
use leaver_sim::gitlab::{GitlabSim, GitlabSimConfig, SourceKind, UserState};
use serde_json::json;
use std::time::Duration;

const GITLAB_TOKEN: &str = "glpat-gitlab-admin-canary-5c19";

const GITLAB_PLAN: &str = r#"
name: gitlab-leaver
trigger: { events: [manual] }
sla: 15m
steps:
  - id: block
    uses: gitlab.block_user
  - id: tokens
    uses: gitlab.revoke_personal_access_tokens
    needs: [block]
  - id: memberships
    uses: gitlab.remove_memberships
    needs: [block]
"#;

fn with_gitlab(config: &mut leaver::config::Config, dir: &std::path::Path, api_url: &str) {
    let token_file = dir.join("gitlab-token");
    std::fs::write(&token_file, GITLAB_TOKEN).unwrap();
    config.connectors.gitlab = Some(GitlabSection {
        api_url: api_url.to_string(),
        token: format!("file:{}", token_file.display()),
        request_timeout: "2s".into(),
    });
}

async fn start_run(server: &Server, identity: serde_json::Value) -> serde_json::Value {
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/offboardings", server.base))
        .bearer_auth(&server.admin_token)
        .json(&json!({"identity": identity, "plan": "gitlab-leaver"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server
        .wait_run(created["id"].as_str().unwrap(), Duration::from_secs(60))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_plan_blocks_revokes_and_removes_through_faults() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let gitlab = GitlabSim::start(GitlabSimConfig {
            token: GITLAB_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let grace = gitlab.add_user("grace", "Grace Hopper", "grace@example.com");
        let heidi = gitlab.add_user("heidi", "Heidi", "heidi@example.com");
        let acme = gitlab.add_group("acme");
        let api = gitlab.add_project("acme/api");
        for user in [grace, heidi] {
            gitlab.add_member(SourceKind::Group, acme, user, 30);
            gitlab.add_member(SourceKind::Project, api, user, 40);
            gitlab
                .add_personal_access_token(user, "laptop", &["api"])
                .unwrap();
        }
        let grace_pat = gitlab
            .add_personal_access_token(grace, "ci", &["read_repository"])
            .unwrap();

        // Some trouble on the way: a 503 and a 429 anywhere and a 502 on a member
        // removal (absorbed by each call's own quick retries), and three 500s in a row on
        // a token revocation (more than a call retries: the engine retries the step).
        let faults = gitlab.faults();
        faults.fail_next(1, 503);
        faults.too_many_requests_next(1, Duration::from_secs(1));
        faults.inject(
            FaultRule::next(3, Fault::Status(500))
                .on_path("/api/v4/personal_access_tokens/")
                .on_method(http::Method::DELETE),
        );
        faults.inject(
            FaultRule::next(1, Fault::Status(502))
                .on_path("/api/v4/projects/")
                .on_method(http::Method::DELETE),
        );

        let plans = plans_dir(dir.path(), &[("gitlab-leaver", GITLAB_PLAN)]);
        let mut config = test_config(&db.url, dir.path(), &plans, None);
        with_gitlab(&mut config, dir.path(), &gitlab.api_url());
        let server = Server::start(App::build(config).await.unwrap()).await;
        // Found by email: no accounts.gitlab.
        let run = start_run(&server, json!({"email": "grace@example.com"})).await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["verified"], true, "{}: {step:#}", db.kind);
        }
        assert!(faults.injected() >= 4, "{}: faults were hit", db.kind);
        let retried = run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["attempts"].as_u64().unwrap_or(0) > 1)
            .count();
        assert!(retried >= 1, "{}: some step was retried: {run:#}", db.kind);

        assert_eq!(gitlab.user_state(grace), Some(UserState::Blocked));
        assert!(gitlab.active_tokens(grace).is_empty());
        assert!(gitlab.memberships(grace).is_empty());
        assert_eq!(
            gitlab.user_state(heidi),
            Some(UserState::Active),
            "{}",
            db.kind
        );
        assert_eq!(gitlab.active_tokens(heidi).len(), 1);
        assert_eq!(gitlab.memberships(heidi).len(), 2);

        let evidence = server
            .app
            .store
            .evidence_for_subject(run["id"].as_str().unwrap())
            .await
            .unwrap();
        let verified: Vec<_> = evidence
            .iter()
            .filter(|e| e.kind == "step.verification" && e.payload["verified"] == true)
            .collect();
        assert_eq!(verified.len(), 3, "{}: {evidence:#?}", db.kind);
        for entry in &evidence {
            let text = entry.payload.to_string();
            assert!(
                !text.contains(GITLAB_TOKEN),
                "{}: token in evidence",
                db.kind
            );
            assert!(
                !text.contains(&grace_pat.token),
                "{}: a PAT secret in evidence",
                db.kind
            );
        }
        server.stop().await;
        if !db.is_postgres() {
            let file = db.url.trim_start_matches("sqlite://");
            for path in [file.to_string(), format!("{file}-wal")] {
                if let Ok(bytes) = std::fs::read(&path) {
                    let text = String::from_utf8_lossy(&bytes);
                    assert!(!text.contains(GITLAB_TOKEN), "token in {path}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_gitlab_user_fails_the_steps_at_once_with_a_clear_message() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let gitlab = GitlabSim::start(GitlabSimConfig {
        token: GITLAB_TOKEN.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let plans = plans_dir(dir.path(), &[("gitlab-leaver", GITLAB_PLAN)]);
    let mut config = test_config(&db.url, dir.path(), &plans, None);
    with_gitlab(&mut config, dir.path(), &gitlab.api_url());
    let server = Server::start(App::build(config).await.unwrap()).await;
    let run = start_run(
        &server,
        json!({"email": "ivan@example.com", "accounts": {"gitlab": "ivan"}}),
    )
    .await;
    assert_ne!(run["status"], "completed", "{run:#}");
    let block = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "block")
        .unwrap()
        .clone();
    assert_eq!(block["status"], "failed", "{block:#}");
    assert_eq!(block["attempts"], 1, "permanent: {block:#}");
    let error = block["error"].to_string();
    assert!(error.contains("GitLab user `ivan`"), "{error}");
    assert!(!error.contains(GITLAB_TOKEN));
    server.stop().await;
}
