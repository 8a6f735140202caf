//! Identity resolution through the mapping table: set through the API or imported from
//! CSV, merged under the accounts a request names, and recorded in the evidence.

mod common;

use common::*;
use leaver::app::App;
use leaver::domain::Role;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_accounts_complete_an_identity_the_idp_sent_without_them() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = GithubSim::start(GithubSimConfig {
            token: GITHUB_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        sim.add_member("acme", "frank-gh", "member");
        let plans = plans_dir(dir.path(), &[("gh-leaver", GITHUB_PLAN)]);
        let config = test_config(&db.url, dir.path(), &plans, Some(&sim.base_url()));
        let server = Server::start(App::build(config).await.unwrap()).await;
        let client = reqwest::Client::new();
        let url = format!(
            "{}/api/v1/identities/Frank@Example-Corp.com/accounts",
            server.base
        );

        let operator = server.token(Role::Operator).await;
        let refused = client
            .put(&url)
            .bearer_auth(&operator)
            .json(&json!({"accounts": {"github": "frank-gh"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
        let invalid = client
            .put(&url)
            .bearer_auth(&server.admin_token)
            .json(&json!({"accounts": {"Git Hub": "x"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(invalid.status(), 422);
        let set = client
            .put(&url)
            .bearer_auth(&server.admin_token)
            .json(&json!({"accounts": {"github": "frank-gh"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(set.status(), 200);
        let got: serde_json::Value = client
            .get(&url)
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            got,
            json!({"email": "frank@example-corp.com", "accounts": {"github": "frank-gh"}})
        );

        // The IdP only knows the email.
        let created: serde_json::Value = client
            .post(format!("{}/api/v1/offboardings", server.base))
            .bearer_auth(&operator)
            .json(&json!({"identity": {"email": "frank@example-corp.com", "idp": "okta"}, "plan": "gh-leaver"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        let run = server.wait_run(&id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        assert_eq!(run["identity"]["accounts"]["github"], "frank-gh");
        assert!(!sim.is_member("acme", "frank-gh"));
        let evidence = server.app.store.evidence_for_subject(&id).await.unwrap();
        let requested = evidence
            .iter()
            .find(|e| e.kind == "offboarding.requested")
            .unwrap();
        assert_eq!(requested.payload["account_sources"]["github"], "mapping");
        let mapped = server
            .app
            .store
            .evidence_for_subject("frank@example-corp.com")
            .await
            .unwrap();
        assert!(mapped.iter().any(|e| e.kind == "identity.accounts_mapped"));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_naming_an_account_wins_over_the_mapping() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let plans = plans_dir(dir.path(), &[("gh-leaver", GITHUB_PLAN)]);
    let mut config = test_config(&db.url, dir.path(), &plans, Some("http://127.0.0.1:9"));
    config.engine.workers = false;
    let app = App::build(config).await.unwrap();
    app.store
        .upsert_mappings(
            &[leaver::store::AccountMapping {
                email: "a@x.com".into(),
                system: "github".into(),
                account: "old".into(),
            }],
            "test",
            "test",
        )
        .await
        .unwrap();
    let request: leaver::engine::OffboardRequest = serde_json::from_value(json!({
        "identity": {"email": "a@x.com", "accounts": {"github": "new"}}, "plan": "gh-leaver"
    }))
    .unwrap();
    let run = match app.engine.submit(&request, None, "test").await.unwrap() {
        leaver::store::SubmitOutcome::Created(run) => run,
        other => panic!("{other:?}"),
    };
    assert_eq!(run.identity.account("github"), Some("new"));
}

#[test]
fn csv_import_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("leaver.toml"),
        format!(
            "[database]\nurl = \"sqlite://{}\"\n",
            dir.path().join("leaver.db").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_leaver"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    std::fs::write(
        dir.path().join("bad.csv"),
        "email,system,account\nalice@example.com,github,alice-gh\nbob,github,bob-gh\n",
    )
    .unwrap();
    let bad = run(&["identities", "import", "bad.csv"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");
    let shown = run(&["identities", "show", "alice@example.com"]);
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        "{}",
        "a refused file imported rows"
    );

    std::fs::write(dir.path().join("good.csv"), "email,system,account\nalice@example.com,github,alice-gh\nalice@example.com,aws_iam,alice\n").unwrap();
    let good = run(&["identities", "import", "good.csv"]);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let shown: serde_json::Value =
        serde_json::from_slice(&run(&["identities", "show", "ALICE@example.com"]).stdout).unwrap();
    assert_eq!(shown, json!({"aws_iam": "alice", "github": "alice-gh"}));
}
