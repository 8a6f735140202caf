//! The shipped plan, end to end: `workflows/standard-leaver.yaml` as it is in the
//! repository, run through the HTTP API and the engine against every upstream it
//! names — the Okta, GitHub, Vault and Jira simulators and the real moto server for
//! AWS IAM — on SQLite and PostgreSQL. Every revocation is verified, each upstream
//! shows the access gone while a colleague keeps theirs, the HR ticket gets the
//! summary, and no credential reaches the evidence.

mod common;
#[path = "../connectors/aws_iam/tests/support/moto.rs"]
mod moto;

use common::*;
use leaver::app::App;
use leaver::config::{AwsIamSection, JiraSection, OktaSection, VaultSection};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use leaver_sim::jira::{JiraSim, JiraSimConfig};
use leaver_sim::okta::{KeyPair, OktaSim, OktaSimConfig};
use leaver_sim::vault::{VaultSim, VaultSimConfig};
use moto::{Moto, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const OKTA_CLIENT_ID: &str = "0oaleaversvc000001";
const OKTA_KEY_ID: &str = "leaver-key-1";
const VAULT_TOKEN: &str = "hvs.standard-leaver-canary-5e1f";
const JIRA_TOKEN: &str = "jira-token-canary-standard-9a0b";

fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    format!("file:{}", path.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_plan_revokes_idp_github_aws_and_vault_access_verified() {
    // The AWS connector reads the default credential chain: moto's dummy keys.
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let keys = KeyPair::generate_rsa().expect("rsa key");
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();

        let okta = OktaSim::start(OktaSimConfig {
            clients: vec![okta_service_app(
                OKTA_CLIENT_ID,
                OKTA_KEY_ID,
                &keys.public_key_pem,
            )],
            ..Default::default()
        })
        .await
        .unwrap();
        let alice_okta = okta.add_user("alice@example.com", "Alice", "Example");
        let bob_okta = okta.add_user("bob@example.com", "Bob", "Example");
        for user in [&alice_okta, &bob_okta] {
            okta.add_session(user);
            okta.add_refresh_token(user, "0oaslack", &["openid", "offline_access"]);
        }

        let github = GithubSim::start(GithubSimConfig {
            token: GITHUB_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        github.add_member("acme", "alice-gh", "member");
        github.add_member("acme", "bob-gh", "admin");
        // An invitation sent to her personal address, still pending: it goes too.
        github.add_email_invitation("acme", "alice@example.com", false);
        github.add_email_invitation("acme", "carol@example.com", false);

        let aws = Moto::start(&repo_path(".")).await;
        aws.seed_full_user("alice", Some("alice@example.com")).await;
        aws.seed_full_user("bob", Some("bob@example.com")).await;

        let vault = VaultSim::start(VaultSimConfig {
            token: VAULT_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let root = vault.root();
        root.add_userpass_user("userpass", "alice", "alice-vault-pw", &["dev"]);
        root.add_userpass_user("userpass", "bob", "bob-vault-pw", &["dev"]);
        let (_, alice_entity) = root
            .login_userpass("userpass", "alice", "alice-vault-pw")
            .unwrap();
        let (_, bob_entity) = root
            .login_userpass("userpass", "bob", "bob-vault-pw")
            .unwrap();

        let jira = JiraSim::start(JiraSimConfig {
            api_token: JIRA_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        jira.add_issue("HR-4312", "Offboard Alice Example").unwrap();

        // The plan exactly as shipped.
        let plans = plans_dir(
            dir.path(),
            &[(
                "standard-leaver",
                &std::fs::read_to_string(repo_path("workflows/standard-leaver.yaml")).unwrap(),
            )],
        );
        let mut config = test_config(&db.url, dir.path(), &plans, Some(&github.base_url()));
        config.engine.step_timeout = "60s".into();
        config.idp.okta = Some(OktaSection {
            org_url: Some(okta.base_url()),
            hook_secret: secret_file(dir.path(), "okta-hook", "okta-hook-secret"),
            client_id: Some(OKTA_CLIENT_ID.into()),
            private_key: Some(secret_file(
                dir.path(),
                "okta-key.pem",
                &keys.private_key_pem,
            )),
            key_id: Some(OKTA_KEY_ID.into()),
            request_timeout: "5s".into(),
            ..OktaSection::default()
        });
        config.connectors.aws_iam = Some(AwsIamSection {
            region: "us-east-1".into(),
            endpoint_url: Some(aws.url.clone()),
            request_timeout: "20s".into(),
            max_attempts: 1,
            default_account: None,
            page_size: None,
            accounts: Default::default(),
        });
        config.connectors.vault = Some(VaultSection {
            addr: vault.base_url(),
            token: secret_file(dir.path(), "vault-token", VAULT_TOKEN),
            namespace: None,
            request_timeout: "5s".into(),
        });
        config.tickets.jira = Some(JiraSection {
            base_url: jira.base_url(),
            email: JiraSimConfig::default().email,
            api_token: secret_file(dir.path(), "jira-token", JIRA_TOKEN),
            request_timeout: "5s".into(),
        });
        let server = Server::start(App::build(config).await.unwrap()).await;

        let created: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/v1/offboardings", server.base))
            .bearer_auth(&server.admin_token)
            .json(&json!({
                "identity": {
                    "email": "alice@example.com",
                    "accounts": {"github": "alice-gh", "vault": alice_entity}
                },
                "plan": "standard-leaver",
                "ticket": {"system": "jira", "key": "HR-4312"},
                "reason": "resignation",
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let run_id = created["id"].as_str().unwrap().to_string();
        let run = server.wait_run(&run_id, Duration::from_secs(120)).await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        let steps = run["steps"].as_array().unwrap();
        let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
        for action in [
            "okta.revoke_sessions",
            "okta.deactivate_user",
            "github.remove_org_member",
            "github.cancel_invitations",
            "aws_iam.revoke_sessions",
            "aws_iam.disable_user",
            "vault.disable_entity",
            "vault.revoke_tokens",
            "ticket.update",
        ] {
            assert!(
                uses.contains(&action),
                "{}: {action} not in the plan: {uses:?}",
                db.kind
            );
        }
        for step in steps {
            assert_eq!(step["status"], "succeeded", "{}: {step:#}", db.kind);
            assert_eq!(step["verified"], true, "{}: {step:#}", db.kind);
        }

        // Each upstream shows Alice's access gone and Bob's intact.
        assert!(okta.sessions(&alice_okta).is_empty(), "{}", db.kind);
        assert_eq!(okta.user(&alice_okta).unwrap().status, "DEPROVISIONED");
        assert_eq!(okta.sessions(&bob_okta).len(), 1);
        assert_eq!(okta.user(&bob_okta).unwrap().status, "ACTIVE");
        assert!(!github.is_member("acme", "alice-gh"));
        assert!(github.is_member("acme", "bob-gh"));
        assert_eq!(
            github.email_invitations("acme"),
            vec!["carol@example.com".to_string()]
        );
        let alice_keys = aws.must("ListAccessKeys", &[("UserName", "alice")]).await;
        assert!(
            moto::xml_values(&alice_keys, "Status")
                .iter()
                .all(|s| s == "Inactive"),
            "{alice_keys}"
        );
        let alice_groups = aws
            .must("ListGroupsForUser", &[("UserName", "alice")])
            .await;
        assert!(
            moto::xml_values(&alice_groups, "GroupName").is_empty(),
            "{alice_groups}"
        );
        let bob_keys = aws.must("ListAccessKeys", &[("UserName", "bob")]).await;
        assert_eq!(
            moto::xml_values(&bob_keys, "Status"),
            vec!["Active", "Active"]
        );
        assert_eq!(root.is_disabled(&alice_entity), Some(true));
        assert!(root.live_tokens(&alice_entity).is_empty());
        assert_eq!(root.is_disabled(&bob_entity), Some(false));
        assert!(!root.live_tokens(&bob_entity).is_empty());

        // The ticket got the summary, naming every revocation as verified.
        let comments = jira.comments("HR-4312");
        assert_eq!(comments.len(), 1, "{}", db.kind);
        assert!(
            comments[0]
                .text
                .contains("Revocations: 8 of 8 succeeded, 8 verified."),
            "{}",
            comments[0].text
        );

        // Evidence: one verified probe per revocation; no credential anywhere.
        let evidence = server
            .app
            .store
            .evidence_for_subject(&run_id)
            .await
            .unwrap();
        let verified = evidence
            .iter()
            .filter(|e| e.kind == "step.verification" && e.payload["verified"] == true)
            .count();
        assert_eq!(verified, 9, "{}: {evidence:#?}", db.kind);
        // Accounts the request did not name were discovered by the connectors, and the
        // evidence says which account was acted on and how it was found.
        let result_of = |step: &str| {
            evidence
                .iter()
                .find(|e| e.kind == "step.result" && e.payload["step"] == step)
                .map(|e| e.payload.clone())
                .unwrap_or_else(|| panic!("no result for {step}"))
        };
        let aws_result = result_of("aws");
        assert_eq!(aws_result["details"]["user"], "alice", "{aws_result:#}");
        assert_eq!(
            aws_result["details"]["found_by"], "tag email=<email>",
            "{aws_result:#}"
        );
        let okta_result = result_of("idp-sessions");
        assert_eq!(
            okta_result["details"]["user_id"], alice_okta,
            "{okta_result:#}"
        );
        assert_eq!(okta_result["details"]["login"], "alice@example.com");
        let created = evidence
            .iter()
            .find(|e| e.kind == "offboarding.requested")
            .map(|e| e.payload.clone())
            .unwrap_or_default();
        assert_eq!(
            created["account_sources"]["github"], "request",
            "{created:#}"
        );
        for entry in &evidence {
            let text = entry.payload.to_string();
            for secret in [VAULT_TOKEN, JIRA_TOKEN, SECRET_ACCESS_KEY, GITHUB_TOKEN] {
                assert!(
                    !text.contains(secret),
                    "{}: a credential in {}",
                    db.kind,
                    entry.kind
                );
            }
            assert!(!text.contains("PRIVATE KEY"), "{}", db.kind);
        }
        server.stop().await;
    }
}
