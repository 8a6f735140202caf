//! Secret rotations end to end: Vault audit lines and CloudTrail records show what an
//! identity read → an offboarding with `trail.schedule_rotations` → one rotation per
//! secret, the Vault KV v2 ones rotated automatically against the simulated Vault and
//! verified, the AWS one open with its due date; a second offboarding of someone who
//! read the same AWS secret joins the open rotation; waiving needs an admin and a
//! reason. Generated and original secret values never reach the database or evidence.
//! On SQLite and PostgreSQL.

mod common;
#[path = "support/vault_audit.rs"]
mod vault_audit;

use common::*;
use leaver::app::App;
use leaver::config::{TrailEnvironment, VaultSection};
use leaver::domain::Role;
use leaver::trail::{ingest_cloudtrail, ingest_vault_file, FollowOptions, NoProgress};
use leaver_sim::vault::{VaultSim, VaultSimConfig};
use serde_json::{json, Value};
use std::path::Path;
use vault_audit::{now_rfc3339, vault_read};

const VAULT_TOKEN: &str = "hvs.rotations-operator-canary-51c0";
const STRIPE_KEY: &str = "sk_live_original-stripe-canary-8e1f";
const DB_PASSWORD: &str = "db-password-original-canary-a77d";
const AWS_ARN: &str =
    "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/payments/db-AbCdEf";

/// The index keys a Secrets Manager secret by its ARN without the random suffix.
const AWS_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/payments/db";

const PLAN: &str = r#"
name: rotate-leaver
trigger: { events: [manual] }
sla: 15m
steps:
  - id: rotate
    uses: trail.schedule_rotations
    with: { lookback: 90d, due: { production: 24h, default: 7d } }
"#;

/// A CloudTrail `GetSecretValue` by an Identity Center session of `email`.
fn cloudtrail_read(email: &str, event_id: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": format!("AROAEXAMPLEROLEID0001:{email}"),
            "arn": format!("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Engineer_0a1b2c3d4e5f6a7b/{email}"),
            "accountId": "111122223333",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID0001",
                    "arn": "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Engineer_0a1b2c3d4e5f6a7b",
                    "accountId": "111122223333", "userName": "AWSReservedSSO_Engineer_0a1b2c3d4e5f6a7b"},
                "attributes": {"creationDate": now_rfc3339(3600), "mfaAuthenticated": "false"},
                "sourceIdentity": email
            }
        },
        "eventTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": "GetSecretValue",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.40",
        "requestParameters": {"secretId": AWS_ARN},
        "responseElements": null,
        "requestID": format!("req-{event_id}"),
        "eventID": event_id,
        "readOnly": true,
        "resources": [{"accountId": "111122223333", "type": "AWS::SecretsManager::Secret", "ARN": AWS_ARN}],
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    })
}

async fn ingest(
    store: &leaver::store::Store,
    dir: &Path,
    name: &str,
    vault: &str,
    records: Vec<Value>,
) {
    let log = dir.join(format!("{name}-audit.log"));
    std::fs::write(&log, vault).unwrap();
    let report = ingest_vault_file(store, &log, &FollowOptions::default(), &NoProgress, None)
        .await
        .unwrap();
    assert!(report.reads_indexed > 0 || vault.is_empty(), "{report:?}");
    let ct = dir.join(format!("{name}-cloudtrail"));
    std::fs::create_dir_all(&ct).unwrap();
    std::fs::write(ct.join("ct.json"), json!({"Records": records}).to_string()).unwrap();
    let report = ingest_cloudtrail(store, &ct, &NoProgress).await.unwrap();
    assert_eq!(report.reads_indexed, 1, "{report:?}");
}

async fn offboard(server: &Server, email: &str, key: &str) -> Value {
    server.offboard("rotate-leaver", email, key).await
}

async fn rotations(server: &Server, token: &str, query: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/rotations{query}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn end(server: &Server, token: &str, id: &str, verb: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/rotations/{id}/{verb}", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboardings_schedule_rotate_and_join_rotations() {
    for db in databases().await {
        let kind = db.kind;
        let dir = tempfile::tempdir().unwrap();
        let vault = VaultSim::start(VaultSimConfig {
            token: VAULT_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let root = vault.root();
        root.add_kv_mount("secret");
        root.put_kv("secret", "prod/payments/stripe", &[("api_key", STRIPE_KEY)]);
        root.set_kv_custom_metadata(
            "secret",
            "prod/payments/stripe",
            &[("owner", "payments-team@example.com")],
        );
        root.put_kv(
            "secret",
            "prod/db",
            &[("username", "app"), ("password", DB_PASSWORD)],
        );
        root.put_kv(
            "secret",
            "prod/db",
            &[("username", "app"), ("password", DB_PASSWORD)],
        );

        let plans = plans_dir(dir.path(), &[("rotate-leaver", PLAN)]);
        let mut config = test_config(&db.url, dir.path(), &plans, None);
        let token_file = dir.path().join("vault-token");
        std::fs::write(&token_file, VAULT_TOKEN).unwrap();
        config.connectors.vault = Some(VaultSection {
            addr: vault.base_url(),
            token: format!("file:{}", token_file.display()),
            namespace: None,
            request_timeout: "2s".into(),
        });
        config.trail.environments = vec![TrailEnvironment {
            name: "production".into(),
            patterns: vec![
                "secret/prod/*".into(),
                "arn:aws:secretsmanager:*:*:secret:prod/*".into(),
            ],
        }];
        config.trail.auto_rotate.vault_kv = true;
        let server = Server::start(App::build(config).await.unwrap()).await;
        let store = server.app.store.clone();

        let frank = "frank@example.com";
        let entity = "6f0d1c2b-3a49-5867-9a0b-1c2d3e4f5a6b";
        let lines = vault_read(
            frank,
            entity,
            "secret/data/prod/payments/stripe",
            "e3a1f2b4-0001",
        ) + &vault_read(frank, entity, "secret/data/prod/db", "e3a1f2b4-0002");
        ingest(
            &store,
            dir.path(),
            "frank",
            &lines,
            vec![cloudtrail_read(frank, "ev-frank-1")],
        )
        .await;

        let started = chrono::Utc::now();
        let run = offboard(&server, frank, "rot-frank").await;
        assert_eq!(run["status"], "completed", "{kind}: {run:#}");
        let step = &run["steps"][0];
        assert_eq!(step["verified"], true, "{kind}: {step:#}");

        let viewer = server.token(Role::Viewer).await;
        let (status, all) = rotations(&server, &viewer, "").await;
        assert_eq!(status, 200, "{kind}: {all}");
        let all = all["rotations"].as_array().unwrap().clone();
        assert_eq!(all.len(), 3, "{kind}: {all:#?}");
        let by_secret = |s: &str| {
            all.iter()
                .find(|r| r["secret"] == s)
                .cloned()
                .unwrap_or_else(|| panic!("{s} not in {all:#?}"))
        };

        // Vault KV v2: rotated automatically and verified; the fake holds a new version.
        let stripe = by_secret("secret/prod/payments/stripe");
        assert_eq!(stripe["status"], "done", "{kind}: {stripe:#}");
        assert_eq!(stripe["auto"], true);
        assert_eq!(stripe["owner"], "payments-team@example.com");
        assert_eq!(stripe["environment"], "production");
        assert_eq!(
            root.kv_current_version("secret", "prod/payments/stripe"),
            Some(2)
        );
        let new_stripe = root
            .kv_current_data("secret", "prod/payments/stripe")
            .unwrap();
        assert_ne!(new_stripe["api_key"], STRIPE_KEY);
        assert_eq!(new_stripe["api_key"].len(), 32);
        let db_row = by_secret("secret/prod/db");
        assert_eq!(db_row["status"], "done", "{kind}: {db_row:#}");
        assert_eq!(db_row["owner"], Value::Null);
        assert_eq!(root.kv_current_version("secret", "prod/db"), Some(3));
        let new_db = root.kv_current_data("secret", "prod/db").unwrap();
        assert_eq!(new_db.len(), 2);
        assert_ne!(new_db["password"], DB_PASSWORD);
        assert_ne!(new_db["username"], "app");

        // AWS: open, due in 24 h (production).
        let aws = by_secret(AWS_SECRET);
        assert_eq!(aws["status"], "open", "{kind}: {aws:#}");
        assert_eq!(aws["auto"], false);
        assert_eq!(aws["environment"], "production");
        let due = chrono::DateTime::parse_from_rfc3339(aws["due_at"].as_str().unwrap()).unwrap();
        let hours = (due.with_timezone(&chrono::Utc) - started).num_minutes();
        assert!(
            (24 * 60 - 2..=24 * 60 + 2).contains(&hours),
            "{kind}: due {due}"
        );
        let (_, open) = rotations(&server, &viewer, "?status=open").await;
        assert_eq!(
            open["rotations"].as_array().unwrap().len(),
            1,
            "{kind}: {open}"
        );

        // Evidence: one rotation.scheduled per rotation, rotation.completed with versions.
        for rotation in &all {
            let id = rotation["id"].as_str().unwrap();
            let evidence = store.evidence_for_subject(id).await.unwrap();
            let kinds: Vec<&str> = evidence.iter().map(|e| e.kind.as_str()).collect();
            assert_eq!(kinds[0], "rotation.scheduled", "{kind}: {kinds:?}");
            if rotation["status"] == "done" {
                let done = evidence
                    .iter()
                    .find(|e| e.kind == "rotation.completed")
                    .unwrap();
                assert_eq!(done.payload["verified"], true);
                assert!(
                    done.payload["to_version"].as_u64() > done.payload["from_version"].as_u64()
                );
            }
        }
        assert_eq!(
            step["outcome"]["details"]["rotations"]
                .as_array()
                .map(Vec::len),
            Some(3),
            "{kind}: {step:#}"
        );

        // Second offboarding: grace read the same AWS secret → joins the open rotation.
        ingest(
            &store,
            dir.path(),
            "grace",
            "",
            vec![cloudtrail_read("grace@example.com", "ev-grace-1")],
        )
        .await;
        let run2 = offboard(&server, "grace@example.com", "rot-grace").await;
        assert_eq!(run2["status"], "completed", "{kind}: {run2:#}");
        let (_, all2) = rotations(&server, &viewer, "").await;
        assert_eq!(
            all2["rotations"].as_array().unwrap().len(),
            3,
            "{kind}: {all2:#}"
        );
        let (_, open) = rotations(&server, &viewer, "?status=open").await;
        let joined = &open["rotations"][0];
        assert_eq!(joined["id"], aws["id"]);
        let askers: Vec<&str> = joined["requested_by"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["identity"].as_str().unwrap())
            .collect();
        assert_eq!(
            askers,
            vec![frank, "grace@example.com"],
            "{kind}: {joined:#}"
        );

        // Waive: an operator is refused; no reason is 422; an admin with a reason ok.
        let aws_id = aws["id"].as_str().unwrap();
        let operator = server.token(Role::Operator).await;
        let (status, _) = end(&server, &operator, aws_id, "waive", json!({"reason": "x"})).await;
        assert_eq!(status, 403, "{kind}");
        let admin = server.admin_token.clone();
        let (status, body) = end(&server, &admin, aws_id, "waive", json!({})).await;
        assert_eq!(status, 422, "{kind}: {body}");
        let (status, body) = end(&server, &admin, aws_id, "waive", json!({"reason": "  "})).await;
        assert_eq!(status, 422, "{kind}: {body}");
        let (status, body) = end(
            &server,
            &admin,
            aws_id,
            "waive",
            json!({"reason": "secret decommissioned in CHG-123"}),
        )
        .await;
        assert_eq!(status, 200, "{kind}: {body}");
        assert_eq!(body["status"], "waived");
        assert_eq!(body["reason"], "secret decommissioned in CHG-123");
        assert_eq!(body["completed_by"], "token:test-admin");
        let (status, _) = end(
            &server,
            &admin,
            aws_id,
            "complete",
            json!({"reason": "again"}),
        )
        .await;
        assert_eq!(status, 409, "{kind}");
        let evidence = store.evidence_for_subject(aws_id).await.unwrap();
        let kinds: Vec<&str> = evidence.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            vec!["rotation.scheduled", "rotation.joined", "rotation.waived"],
            "{kind}"
        );

        // Canary: no secret value, old or new, in the database or the evidence.
        let mut values = vec![
            STRIPE_KEY.to_string(),
            DB_PASSWORD.to_string(),
            VAULT_TOKEN.to_string(),
        ];
        values.extend(new_stripe.values().cloned());
        values.extend(new_db.values().cloned());
        let export = reqwest::Client::new()
            .get(format!("{}/api/v1/evidence/export", server.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(export.contains("rotation.completed"), "{kind}");
        for value in &values {
            assert!(
                !export.contains(value.as_str()),
                "{kind}: a secret value is in the evidence"
            );
        }
        if !db.is_postgres() {
            let path = db.url.trim_start_matches("sqlite://");
            server.stop().await;
            let mut bytes = std::fs::read(path).unwrap();
            if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                bytes.extend(wal);
            }
            let text = String::from_utf8_lossy(&bytes);
            for value in &values {
                assert!(
                    !text.contains(value.as_str()),
                    "a secret value is in the database"
                );
            }
        } else {
            server.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_rotations_are_reminded_then_escalated() {
    for db in databases().await {
        let kind = db.kind;
        let store = leaver::store::Store::connect(&db.url, 4).await.unwrap();
        let now = leaver::store::now_ms();
        let hour = 3_600_000;
        let row = leaver::store::RotationRow {
            id: "rot-1".into(),
            source: "cloudtrail".into(),
            ..open_rotation(AWS_ARN, now - hour, now - 25 * hour)
        };
        store.schedule_rotation(&row, |_| Vec::new()).await.unwrap();
        assert_eq!(
            leaver::rotations::remind_overdue(&store, now)
                .await
                .unwrap(),
            1
        );
        let got = store.get_rotation("rot-1").await.unwrap().unwrap();
        assert_eq!(
            (got.escalated, got.last_reminded_at),
            (false, Some(now)),
            "{kind}"
        );
        // Overdue by more than the due period (24 h): escalated.
        let later = now + 30 * hour;
        assert_eq!(
            leaver::rotations::remind_overdue(&store, later)
                .await
                .unwrap(),
            1
        );
        let got = store.get_rotation("rot-1").await.unwrap().unwrap();
        assert!(got.escalated, "{kind}");
        let evidence = store.evidence_for_subject("rot-1").await.unwrap();
        let escalations: Vec<bool> = evidence
            .iter()
            .filter(|e| e.kind == "rotation.reminder")
            .map(|e| e.payload["escalated"].as_bool().unwrap())
            .collect();
        assert_eq!(escalations, vec![false, true], "{kind}");
        store.close().await;
    }
}
