//! The Vault connector wired into Leaver: configured from `[connectors.vault]`, a plan
//! that disables the entity, revokes its tokens and leases and deletes the userpass user
//! runs through the engine against the simulated Vault over HTTP, on SQLite and
//! PostgreSQL, and the operator token never reaches the database or the evidence.

mod common;

use common::*;
use leaver::app::App;
use leaver::config::VaultSection;
use leaver_sim::vault::{VaultSim, VaultSimConfig};
use serde_json::json;
use std::time::Duration;

const VAULT_TOKEN: &str = "hvs.vault-operator-canary-9d41";
const USER_PASSWORD: &str = "userpass-password-canary-2b7e";

const VAULT_PLAN: &str = r#"
name: vault-leaver
trigger: { events: [manual] }
sla: 15m
steps:
  - id: entity
    uses: vault.disable_entity
  - id: tokens
    uses: vault.revoke_tokens
    needs: [entity]
  - id: leases
    uses: vault.revoke_leases
    with: { prefixes: ["database/creds/{username}-ro/"] }
  - id: user
    uses: vault.delete_user
    needs: [tokens]
"#;

fn with_vault(config: &mut leaver::config::Config, dir: &std::path::Path, addr: &str) {
    let token_file = dir.join("vault-token");
    std::fs::write(&token_file, VAULT_TOKEN).unwrap();
    config.connectors.vault = Some(VaultSection {
        addr: addr.to_string(),
        token: format!("file:{}", token_file.display()),
        namespace: None,
        request_timeout: "2s".into(),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_plan_revokes_and_verifies_every_kind_of_vault_access() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultSim::start(VaultSimConfig {
            token: VAULT_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let root = vault.root();
        root.add_userpass_user("userpass", "grace", USER_PASSWORD, &["dev"]);
        let (login, entity_id) = root
            .login_userpass("userpass", "grace", USER_PASSWORD)
            .expect("login");
        root.add_lease("database/creds/grace-ro/Xy12", Some(&login.accessor));
        root.add_lease("database/creds/other-ro/Zz99", None);
        // Someone else, who must keep everything.
        root.add_userpass_user("userpass", "heidi", "heidi-password", &["dev"]);
        let (_, heidi) = root
            .login_userpass("userpass", "heidi", "heidi-password")
            .expect("login");

        let plans = plans_dir(dir.path(), &[("vault-leaver", VAULT_PLAN)]);
        let mut config = test_config(&db.url, dir.path(), &plans, None);
        with_vault(&mut config, dir.path(), &vault.base_url());
        let server = Server::start(App::build(config).await.unwrap()).await;
        let created: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/v1/offboardings", server.base))
            .bearer_auth(&server.admin_token)
            .json(&json!({
                "identity": {"email": "grace@example.com", "accounts": {"vault": entity_id}},
                "plan": "vault-leaver",
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let run = server
            .wait_run(created["id"].as_str().unwrap(), Duration::from_secs(30))
            .await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["verified"], true, "{}: {step:#}", db.kind);
        }

        assert_eq!(root.is_disabled(&entity_id), Some(true));
        assert!(root.live_tokens(&entity_id).is_empty());
        assert!(root
            .leases_with_prefix("database/creds/grace-ro/")
            .is_empty());
        assert!(!root.userpass_user_exists("userpass", "grace"));
        assert_eq!(root.is_disabled(&heidi), Some(false), "{}", db.kind);
        assert!(!root.live_tokens(&heidi).is_empty());
        assert!(root.userpass_user_exists("userpass", "heidi"));
        assert_eq!(
            root.leases_with_prefix("database/creds/other-ro/").len(),
            1,
            "{}: a lease outside the prefix was revoked",
            db.kind
        );

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
        assert_eq!(verified.len(), 4, "{}: {evidence:#?}", db.kind);
        for entry in &evidence {
            let text = entry.payload.to_string();
            assert!(
                !text.contains(VAULT_TOKEN),
                "{}: token in evidence",
                db.kind
            );
            assert!(!text.contains(USER_PASSWORD));
        }
        server.stop().await;
        if !db.is_postgres() {
            let file = db.url.trim_start_matches("sqlite://");
            for path in [file.to_string(), format!("{file}-wal")] {
                if let Ok(bytes) = std::fs::read(&path) {
                    let text = String::from_utf8_lossy(&bytes);
                    assert!(!text.contains(VAULT_TOKEN), "token in {path}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_vault_token_fails_the_step_with_vaults_message_and_no_secret() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultSim::start(VaultSimConfig {
        token: "hvs.the-real-token".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let entity_id = vault.root().add_entity("ivan");
    let plans = plans_dir(dir.path(), &[("vault-leaver", VAULT_PLAN)]);
    let mut config = test_config(&db.url, dir.path(), &plans, None);
    with_vault(&mut config, dir.path(), &vault.base_url());
    let server = Server::start(App::build(config).await.unwrap()).await;
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/offboardings", server.base))
        .bearer_auth(&server.admin_token)
        .json(&json!({
            "identity": {"email": "ivan@example.com", "accounts": {"vault": entity_id}},
            "plan": "vault-leaver",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = server
        .wait_run(created["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_ne!(run["status"], "completed", "{run:#}");
    let entity_step = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "entity")
        .unwrap()
        .clone();
    assert_eq!(entity_step["status"], "failed", "{entity_step:#}");
    assert_eq!(
        entity_step["attempts"], 1,
        "403 is permanent: {entity_step:#}"
    );
    let error = entity_step["error"].to_string();
    assert!(error.contains("permission denied"), "{error}");
    assert!(!error.contains(VAULT_TOKEN));
    assert_eq!(vault.root().is_disabled(&entity_id), Some(false));
    server.stop().await;
}
