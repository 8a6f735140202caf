//! The AWS IAM connector wired into Leaver: configured from `[connectors.aws_iam]`, a
//! plan that revokes the user's sessions, disables the user and deletes it runs through
//! the engine against the real moto server (behind the recording proxy of
//! `connectors/aws_iam/tests/support/moto.rs`), on SQLite and PostgreSQL; every step is
//! verified, the residual sweep finds nothing, and no secret reaches the evidence.
//!
//! The connector takes its credentials from the AWS default chain, so this test binary
//! sets moto's dummy credentials in its own environment (every test here sets the same
//! values).

mod common;
#[path = "../connectors/aws_iam/tests/support/moto.rs"]
mod moto;

use common::*;
use leaver::app::App;
use leaver::config::AwsIamSection;
use moto::{Moto, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use serde_json::json;
use std::time::Duration;

const AWS_PLAN: &str = r#"
name: aws-leaver
trigger: { events: [manual] }
sla: 15m
steps:
  - id: sessions
    uses: aws_iam.revoke_sessions
  - id: disable
    uses: aws_iam.disable_user
    needs: [sessions]
  - id: delete
    uses: aws_iam.delete_user
    needs: [disable]
"#;

fn dummy_credentials_in_env() {
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
}

fn with_aws(config: &mut leaver::config::Config, endpoint: &str) {
    config.engine.step_timeout = "60s".into();
    config.connectors.aws_iam = Some(AwsIamSection {
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.to_string()),
        request_timeout: "20s".into(),
        max_attempts: 1,
        default_account: None,
        page_size: None,
        accounts: Default::default(),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_plan_revokes_disables_and_deletes_the_user_with_every_step_verified() {
    dummy_credentials_in_env();
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let moto = Moto::start(&repo_path(".")).await;
        // Found by its `email` tag: the identity carries no aws_iam account key.
        let seeded = moto
            .seed_full_user("grace.h", Some("grace@example.com"))
            .await;
        moto.seed_full_user("heidi", Some("heidi@example.com"))
            .await;

        let plans = plans_dir(dir.path(), &[("aws-leaver", AWS_PLAN)]);
        let mut config = test_config(&db.url, dir.path(), &plans, None);
        with_aws(&mut config, &moto.url);
        let server = Server::start(App::build(config).await.unwrap()).await;
        let created: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/v1/offboardings", server.base))
            .bearer_auth(&server.admin_token)
            .json(&json!({
                "identity": {"email": "grace@example.com"},
                "plan": "aws-leaver",
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let run = server
            .wait_run(created["id"].as_str().unwrap(), Duration::from_secs(60))
            .await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["verified"], true, "{}: {step:#}", db.kind);
        }

        // Upstream: the user is gone, after everything attached to it.
        let e = moto
            .call("GetUser", &[("UserName", "grace.h")])
            .await
            .unwrap_err();
        assert!(e.contains("NoSuchEntity"), "{}: {e}", db.kind);
        let actions = moto.actions();
        let last = actions.iter().rposition(|a| a == "DeleteUser").unwrap();
        for earlier in [
            "PutUserPolicy",
            "UpdateAccessKey",
            "DeleteLoginProfile",
            "DeleteServiceSpecificCredential",
            "DeactivateMFADevice",
            "RemoveUserFromGroup",
            "DetachUserPolicy",
            "DeleteAccessKey",
        ] {
            let at = actions.iter().position(|a| a == earlier);
            assert!(
                at.is_some_and(|at| at < last),
                "{}: {earlier} not before DeleteUser: {actions:?}",
                db.kind
            );
        }
        // The bystander keeps everything.
        moto.must("GetUser", &[("UserName", "heidi")]).await;
        let keys = moto.must("ListAccessKeys", &[("UserName", "heidi")]).await;
        assert_eq!(moto::xml_values(&keys, "Status"), vec!["Active", "Active"]);

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
                !text.contains(SECRET_ACCESS_KEY),
                "{}: secret in evidence",
                db.kind
            );
            assert!(
                !text.contains(&seeded.password),
                "{}: password in evidence",
                db.kind
            );
            for secret in &seeded.secret_keys {
                assert!(
                    !text.contains(secret.as_str()),
                    "{}: key secret in evidence",
                    db.kind
                );
            }
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_iam_user_fails_the_step_permanently_with_a_clear_message() {
    dummy_credentials_in_env();
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(&repo_path(".")).await;
    let plans = plans_dir(dir.path(), &[("aws-leaver", AWS_PLAN)]);
    let mut config = test_config(&db.url, dir.path(), &plans, None);
    with_aws(&mut config, &moto.url);
    let server = Server::start(App::build(config).await.unwrap()).await;
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/offboardings", server.base))
        .bearer_auth(&server.admin_token)
        .json(&json!({
            "identity": {"email": "ivan@example.com", "accounts": {"aws_iam": "ivan"}},
            "plan": "aws-leaver",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = server
        .wait_run(created["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_ne!(run["status"], "completed", "{run:#}");
    let step = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "sessions")
        .unwrap()
        .clone();
    assert_eq!(step["status"], "failed", "{step:#}");
    assert_eq!(step["attempts"], 1, "a missing user is permanent: {step:#}");
    let error = step["error"].to_string();
    assert!(error.contains("IAM user `ivan` does not exist"), "{error}");
    assert!(error.contains(moto::MOTO_ACCOUNT), "{error}");
    server.stop().await;
}
