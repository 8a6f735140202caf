//! The public hooks under hostile load: each hook route (`/hooks/okta`,
//! `/hooks/entra`, `/scim/v2`) has its own token bucket (`server.hook_rate_limit_*`);
//! over it, 429 with `Retry-After` in the route's own error shape and nothing stored.
//! Bodies over `server.max_body_bytes` get 413 on every hook and store nothing. On
//! SQLite and PostgreSQL.

mod common;

use common::*;
use leaver::app::App;
use leaver::config::{EntraSection, OktaSection, ScimProvider, ScimSection};
use serde_json::{json, Value};
use std::path::Path;

const OKTA_SECRET: &str = "okta-hook-secret-limits-7c1e";
const SCIM_TOKEN: &str = "scim-token-limits-2b9d";
const CLIENT_STATE: &str = "client-state-limits-41aa";
const DELIVERY: &str = include_str!("fixtures/idp/okta-event-hook-delivery.json");
const NOTIFICATION: &str = include_str!("fixtures/idp/graph-change-notification.json");
const USER: &str = include_str!("scim/scim-user.json");
const MAX_BODY: usize = 16 * 1024;
/// Requests sent in a burst: well over the bucket, so some are refused however slowly
/// the machine sends them (the bucket refills one request per second).
const BURST_SENT: usize = 12;

/// A server with all three hooks. Graph is unreachable (port 9), so stored change
/// notifications stay queued in `entra_notifications` where the test can count them.
async fn server(db: &TestDb, dir: &Path, rate: u32, burst: u32) -> Server {
    let plans_dir = plans_dir(dir, &[]);
    let mut config = test_config(&db.url, dir, &plans_dir, None);
    config.engine.workers = false;
    config.server.max_body_bytes = MAX_BODY;
    config.server.hook_rate_limit_per_second = rate;
    config.server.hook_rate_limit_burst = burst;
    let file = |name: &str, value: &str| {
        std::fs::write(dir.join(name), value).unwrap();
        format!("file:{}", dir.join(name).display())
    };
    config.idp.okta = Some(OktaSection {
        org_url: Some("https://example-corp.okta.com".into()),
        hook_auth_header: "Authorization".into(),
        hook_secret: file("okta-secret", OKTA_SECRET),
        ..Default::default()
    });
    config.idp.entra = Some(EntraSection {
        tenant_id: "00000000-1111-2222-3333-444444444444".into(),
        authority_url: "http://127.0.0.1:9".into(),
        graph_url: "http://127.0.0.1:9".into(),
        client_id: "limits-client".into(),
        client_secret: file("entra-secret", "entra-secret-limits"),
        client_state: file("entra-state", CLIENT_STATE),
        reconcile_every: "12h".into(),
        request_timeout: "1s".into(),
    });
    config.scim = Some(ScimSection {
        token: file("scim-token", SCIM_TOKEN),
        provider: ScimProvider::Entra,
        deactivation_grace: "0s".into(),
    });
    Server::start(App::build(config).await.unwrap()).await
}

async fn count(server: &Server, table: &str) -> i64 {
    use sqlx::Row;
    let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(server.app.store.pool())
        .await
        .unwrap();
    row.try_get::<i64, _>("n").unwrap()
}

/// An Okta delivery whose two events have ids unique to `n`.
fn okta_delivery(n: usize) -> String {
    let mut delivery: Value = serde_json::from_str(DELIVERY).unwrap();
    for (i, event) in delivery["data"]["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        event["uuid"] = json!(format!("limits-{n}-{i}"));
    }
    delivery.to_string()
}

fn graph_notification(n: usize) -> String {
    let mut batch: Value = serde_json::from_str(NOTIFICATION).unwrap();
    let user = format!("00000000-0000-0000-0000-{n:012}");
    batch["value"][0]["clientState"] = json!(CLIENT_STATE);
    batch["value"][0]["resource"] = json!(format!("Users/{user}"));
    batch["value"][0]["resourceData"]["id"] = json!(user);
    batch["value"][0]["resourceData"]["@odata.id"] = json!(format!("Users/{user}"));
    batch.to_string()
}

fn scim_user(n: usize) -> String {
    let mut user: Value = serde_json::from_str(USER).unwrap();
    user["userName"] = json!(format!("user{n}@example-corp.com"));
    user["externalId"] = json!(format!("limits-{n}"));
    user["emails"] =
        json!([{"value": format!("user{n}@example-corp.com"), "type": "work", "primary": true}]);
    user.to_string()
}

enum Hook {
    Okta,
    Entra,
    Scim,
}

fn request(
    client: &reqwest::Client,
    base: &str,
    hook: &Hook,
    body: String,
) -> reqwest::RequestBuilder {
    match hook {
        Hook::Okta => client
            .post(format!("{base}/hooks/okta"))
            .header("Authorization", OKTA_SECRET)
            .header("Content-Type", "application/json"),
        Hook::Entra => client
            .post(format!("{base}/hooks/entra"))
            .header("Content-Type", "application/json"),
        Hook::Scim => client
            .post(format!("{base}/scim/v2/Users"))
            .bearer_auth(SCIM_TOKEN)
            .header("Content-Type", "application/scim+json"),
    }
    .body(body)
}

fn body_for(hook: &Hook, n: usize) -> String {
    match hook {
        Hook::Okta => okta_delivery(n),
        Hook::Entra => graph_notification(n),
        Hook::Scim => scim_user(n),
    }
}

/// Send `BURST_SENT` real writes; returns how many were accepted. Every refusal is a
/// 429 with `Retry-After` and the route's error shape.
async fn burst(server: &Server, hook: &Hook, kind: &str) -> usize {
    let client = reqwest::Client::new();
    let mut accepted = 0;
    let mut refused = 0;
    for n in 0..BURST_SENT {
        let response = request(&client, &server.base, hook, body_for(hook, n))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 429 {
            refused += 1;
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1, "{kind}: Retry-After {retry_after}");
            let body: Value = response.json().await.unwrap();
            match hook {
                Hook::Scim => {
                    assert_eq!(body["status"], "429", "{kind}: {body}");
                    assert_eq!(
                        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
                        "{kind}: {body}"
                    );
                }
                _ => assert_eq!(body["error"]["code"], "rate_limited", "{kind}: {body}"),
            }
        } else {
            assert!(
                matches!(status, 201 | 202 | 204),
                "{kind}: unexpected {status}: {}",
                response.text().await.unwrap()
            );
            accepted += 1;
        }
    }
    assert!(refused > 0, "{kind}: no request of the burst was refused");
    assert!(
        accepted >= 2,
        "{kind}: the burst allowance was not honoured"
    );
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_over_the_limit_get_429_with_retry_after_and_store_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&db, dir.path(), 1, 2).await;

        let accepted = burst(&server, &Hook::Okta, db.kind).await;
        // Two events per delivery, each recorded once; refused deliveries left nothing.
        assert_eq!(
            server.app.store.intake_count("okta").await.unwrap(),
            2 * accepted as i64,
            "{}",
            db.kind
        );

        let accepted = burst(&server, &Hook::Entra, db.kind).await;
        assert_eq!(
            count(&server, "entra_notifications").await,
            accepted as i64,
            "{}",
            db.kind
        );

        let accepted = burst(&server, &Hook::Scim, db.kind).await;
        assert_eq!(
            count(&server, "scim_users").await,
            accepted as i64,
            "{}",
            db.kind
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_are_per_hook() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let server = server(&db, dir.path(), 1, 2).await;
    let client = reqwest::Client::new();
    // Exhaust Okta's bucket with forged deliveries: they count too (the check comes first).
    let mut refused = false;
    for n in 0..BURST_SENT {
        let response = client
            .post(format!("{}/hooks/okta", server.base))
            .header("Authorization", "forged")
            .body(okta_delivery(n))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            401 => {}
            429 => refused = true,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused, "Okta's bucket was never exhausted");
    // SCIM and Graph still answer.
    let response = request(&client, &server.base, &Hook::Scim, scim_user(1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = request(&client, &server.base, &Hook::Entra, graph_notification(1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    // The rest of the API is not limited.
    let response = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_on_every_hook_and_store_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&db, dir.path(), 1000, 1000).await;
        let client = reqwest::Client::new();
        let padding = "x".repeat(MAX_BODY + 1);
        let mut okta: Value = serde_json::from_str(&okta_delivery(1)).unwrap();
        okta["padding"] = json!(padding);
        let mut graph: Value = serde_json::from_str(&graph_notification(1)).unwrap();
        graph["padding"] = json!(padding);
        let mut user: Value = serde_json::from_str(&scim_user(1)).unwrap();
        user["displayName"] = json!(padding);
        for (hook, body) in [
            (Hook::Okta, okta.to_string()),
            (Hook::Entra, graph.to_string()),
            (Hook::Scim, user.to_string()),
        ] {
            let response = request(&client, &server.base, &hook, body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 413, "{}", db.kind);
        }
        assert_eq!(server.app.store.intake_count("okta").await.unwrap(), 0);
        assert_eq!(count(&server, "entra_notifications").await, 0);
        assert_eq!(count(&server, "scim_users").await, 0);
        assert_eq!(count(&server, "intake_events").await, 0);
        server.stop().await;
    }
}
