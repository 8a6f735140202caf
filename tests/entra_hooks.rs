//! Microsoft Entra ID intake, against the simulated Entra / Graph over real HTTP on
//! 127.0.0.1, on SQLite and PostgreSQL: the validationToken handshake, clientState on
//! every notification, notifications resolved through Graph before a plan starts (one
//! run per change however often Graph delivers it), lifecycle notifications, the users
//! delta reconciliation for lost notifications, `leaver entra subscribe`, and an Entra
//! SCIM deactivation that revokes the user's Entra sessions end to end.

mod common;

use common::*;
use leaver::app::App;
use leaver::config::{EntraSection, ScimProvider, ScimSection};
use leaver_sim::entra::{DeliveryKind, EntraSim, EntraSimConfig};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const CLIENT_SECRET: &str = "entra-client-secret-canary-0c7d";
const CLIENT_STATE: &str = "entra-client-state-canary-a1b2";
const SCIM_TOKEN: &str = "scim-token-canary-entra-e2e";
const NOTIFICATION: &str = include_str!("fixtures/idp/graph-change-notification.json");
const ENTRA_PATCHES: &str = include_str!("scim/scim-patch-deactivate-entra-variants.json");
const SCIM_USER: &str = include_str!("scim/scim-user.json");

const GRAPH_PLAN: &str = r#"
name: entra-leaver
trigger: { events: [entra.graph.disabled, entra.graph.deleted] }
steps:
  - id: sessions
    uses: entra.revoke_sessions
"#;

const SCIM_PLAN: &str = r#"
name: entra-scim-leaver
trigger: { events: [entra.scim.deactivate] }
steps:
  - id: sessions
    uses: entra.revoke_sessions
"#;

async fn entra_sim() -> EntraSim {
    EntraSim::start(EntraSimConfig {
        client_secret: CLIENT_SECRET.into(),
        ..EntraSimConfig::default()
    })
    .await
    .unwrap()
}

fn config(
    db: &TestDb,
    dir: &Path,
    sim: &EntraSim,
    plans: &[(&str, &str)],
    workers: bool,
) -> leaver::config::Config {
    let plans_dir = plans_dir(dir, plans);
    let mut config = test_config(&db.url, dir, &plans_dir, None);
    config.engine.workers = workers;
    config.server.max_body_bytes = 16 * 1024;
    std::fs::write(dir.join("entra-secret"), CLIENT_SECRET).unwrap();
    std::fs::write(dir.join("entra-state"), CLIENT_STATE).unwrap();
    config.idp.entra = Some(EntraSection {
        tenant_id: sim.tenant_id().to_string(),
        authority_url: sim.base_url(),
        graph_url: sim.base_url(),
        client_id: EntraSimConfig::default().client_id,
        client_secret: format!("file:{}", dir.join("entra-secret").display()),
        client_state: format!("file:{}", dir.join("entra-state").display()),
        reconcile_every: "12h".into(),
        request_timeout: "5s".into(),
    });
    config
}

async fn server(db: &TestDb, dir: &Path, sim: &EntraSim, workers: bool) -> Server {
    let config = config(db, dir, sim, &[("entra-leaver", GRAPH_PLAN)], workers);
    Server::start(App::build(config).await.unwrap()).await
}

async fn runs(server: &Server) -> Vec<leaver::store::RunRecord> {
    server
        .app
        .store
        .list_runs(&leaver::store::RunFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// Wait until `count` runs exist (the drainer works in the background).
async fn wait_runs(server: &Server, count: usize) -> Vec<leaver::store::RunRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let runs = runs(server).await;
        if runs.len() >= count || tokio::time::Instant::now() > deadline {
            return runs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until no notification is pending.
async fn wait_drained(server: &Server) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while server.app.store.entra_pending_count().await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "notifications were not drained"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hook(server: &Server) -> String {
    format!("{}/hooks/entra", server.base)
}

fn subscribe_sim(sim: &EntraSim, server: &Server, client_state: &str) -> String {
    sim.seed_subscription(
        &hook(server),
        Some(&hook(server)),
        Some(client_state),
        Duration::from_secs(3600),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validation_handshake_echoes_the_decoded_token() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let sim = entra_sim().await;
    let server = server(&db, dir.path(), &sim, false).await;
    // As in fixtures/graph-validation.http.
    let response = reqwest::Client::new()
        .post(format!(
            "{}?validationToken=Validation%3A%20Testing%20client%20application%20reachability%20for%20subscription%20Request-Id%3A%2025b6a0f0-0000-0000-0000-000000000000",
            hook(&server)
        ))
        .header("Content-Type", "text/plain; charset=utf-8")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        response.text().await.unwrap(),
        "Validation: Testing client application reachability for subscription Request-Id: 25b6a0f0-0000-0000-0000-000000000000"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_malformed_and_oversized_notifications_store_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = entra_sim().await;
        let server = server(&db, dir.path(), &sim, false).await;
        let client = reqwest::Client::new();
        let mut forged: Value = serde_json::from_str(NOTIFICATION).unwrap();
        forged["value"][0]["clientState"] = json!("not-the-client-state");
        let mut missing = forged.clone();
        missing["value"][0]
            .as_object_mut()
            .unwrap()
            .remove("clientState");
        // One good item does not carry a forged one.
        let mut mixed: Value = serde_json::from_str(NOTIFICATION).unwrap();
        mixed["value"][0]["clientState"] = json!(CLIENT_STATE);
        mixed["value"]
            .as_array_mut()
            .unwrap()
            .push(forged["value"][0].clone());
        let oversized = json!({"value": [], "padding": "x".repeat(32 * 1024)});
        for (body, status) in [
            (forged.to_string(), 401),
            (missing.to_string(), 401),
            (mixed.to_string(), 401),
            ("{\"value\": [".to_string(), 400),
            ("[1, 2]".to_string(), 400),
            (oversized.to_string(), 413),
        ] {
            let response = client
                .post(hook(&server))
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{}", db.kind);
            let text = response.text().await.unwrap();
            assert!(!text.contains(CLIENT_STATE), "{text}");
        }
        assert_eq!(server.app.store.entra_pending_count().await.unwrap(), 0);
        assert_eq!(server.app.store.intake_count("entra").await.unwrap(), 0);
        assert!(runs(&server).await.is_empty());
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_resolved_through_graph_and_start_one_run() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = entra_sim().await;
        let server = server(&db, dir.path(), &sim, false).await;
        subscribe_sim(&sim, &server, CLIENT_STATE);

        // Creating a user is an `updated` notification: enabled, recorded as ignored.
        let alice = sim.add_user("alice@example.com", "Alice Example");
        assert!(
            sim.wait_deliveries(DeliveryKind::Change, 1, Duration::from_secs(10))
                .await
        );
        wait_drained(&server).await;
        assert!(runs(&server).await.is_empty(), "{}", db.kind);

        // Disabled: resolved through Graph, entra.graph.disabled.
        sim.disable_user(&alice);
        let started = wait_runs(&server, 1).await;
        assert_eq!(started.len(), 1, "{}", db.kind);
        assert_eq!(
            started[0].trigger_event.as_deref(),
            Some("entra.graph.disabled")
        );
        assert_eq!(started[0].identity.email, "alice@example.com");
        assert_eq!(started[0].identity.idp, "entra");
        assert_eq!(
            started[0].identity.idp_user_id.as_deref(),
            Some(alice.as_str())
        );

        // Graph redelivers (and delivers the same change twice): still one run.
        let deliveries = sim.deliveries();
        let disable_delivery = deliveries
            .iter()
            .rfind(|d| d.kind == DeliveryKind::Change)
            .unwrap();
        for _ in 0..3 {
            assert!(sim.redeliver(disable_delivery.id));
        }
        assert!(
            sim.wait_deliveries(DeliveryKind::Change, 5, Duration::from_secs(10))
                .await
        );
        wait_drained(&server).await;
        assert_eq!(
            runs(&server).await.len(),
            1,
            "{}: a replay started a run",
            db.kind
        );

        // Soft-deleted (also an `updated` notification): entra.graph.deleted.
        let bob = sim.add_user("bob@example.com", "Bob Example");
        sim.soft_delete_user(&bob);
        let started = wait_runs(&server, 2).await;
        assert_eq!(started.len(), 2, "{}", db.kind);
        let deleted = started
            .iter()
            .find(|r| r.identity.email == "bob@example.com")
            .expect("a run for bob");
        assert_eq!(
            deleted.trigger_event.as_deref(),
            Some("entra.graph.deleted")
        );

        let evidence = server
            .app
            .store
            .evidence_for_subject("alice@example.com")
            .await
            .unwrap();
        let intake: Vec<_> = evidence
            .iter()
            .filter(|e| e.kind == "intake.event")
            .collect();
        assert_eq!(intake.len(), 2, "{}: ignored + started", db.kind);
        let text = serde_json::to_string(&evidence.iter().map(|e| &e.payload).collect::<Vec<_>>())
            .unwrap();
        assert!(!text.contains(CLIENT_STATE) && !text.contains(CLIENT_SECRET));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthorization_required_renews_the_subscription() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let sim = entra_sim().await;
    let server = server(&db, dir.path(), &sim, false).await;
    let id = subscribe_sim(&sim, &server, CLIENT_STATE);
    assert!(sim.send_lifecycle(&id, "reauthorizationRequired"));
    assert!(
        sim.wait_deliveries(DeliveryKind::Lifecycle, 1, Duration::from_secs(10))
            .await
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sub = sim
            .subscriptions()
            .into_iter()
            .find(|s| s.id == id)
            .unwrap();
        if sub.renewals == 1 {
            assert!(sub.expiration > chrono::Utc::now() + chrono::Duration::days(28));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not renewed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A forged lifecycle notification changes nothing.
    let forged = json!({"value": [{"subscriptionId": id, "lifecycleEvent": "subscriptionRemoved", "clientState": "nope"}]});
    let response = reqwest::Client::new()
        .post(hook(&server))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(sim.subscriptions().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delta_reconciliation_starts_what_a_lost_notification_would_have_once() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = entra_sim().await;
        let already = sim.add_user("old@example.com", "Old Leaver");
        sim.disable_user(&already);
        let alice = sim.add_user("alice@example.com", "Alice Example");
        let bob = sim.add_user("bob@example.com", "Bob Example");
        let server = server(&db, dir.path(), &sim, false).await;
        let entra = server.app.entra().unwrap().clone();
        let engine = server.app.engine.clone();

        // First round: the baseline; nobody already disabled is offboarded.
        let report = leaver::intake::entra::reconcile(&engine, &entra)
            .await
            .unwrap();
        assert!(report.baseline, "{report:?}");
        assert!(report.users_seen >= 3);
        assert!(runs(&server).await.is_empty(), "{}", db.kind);

        // Alice's notification arrives; Bob's is lost.
        subscribe_sim(&sim, &server, CLIENT_STATE);
        sim.disable_user(&alice);
        assert_eq!(wait_runs(&server, 1).await.len(), 1, "{}", db.kind);
        sim.set_notifications(false);
        sim.disable_user(&bob);

        let report = leaver::intake::entra::reconcile(&engine, &entra)
            .await
            .unwrap();
        assert!(!report.baseline);
        assert_eq!(report.runs.len(), 1, "{}: {report:?}", db.kind);
        assert_eq!(
            report.duplicates, 1,
            "{}: alice was handled by the hook",
            db.kind
        );
        let all = runs(&server).await;
        assert_eq!(all.len(), 2, "{}", db.kind);
        let bobs = all
            .iter()
            .find(|r| r.identity.email == "bob@example.com")
            .expect("bob's run");
        assert_eq!(bobs.trigger_event.as_deref(), Some("entra.graph.disabled"));
        assert_eq!(report.runs[0], bobs.id);

        // Nothing new: nothing starts; a late notification for Bob starts nothing either.
        let report = leaver::intake::entra::reconcile(&engine, &entra)
            .await
            .unwrap();
        assert!(report.runs.is_empty(), "{report:?}");
        sim.set_notifications(true);
        let mut late: Value = serde_json::from_str(NOTIFICATION).unwrap();
        late["value"][0]["clientState"] = json!(CLIENT_STATE);
        late["value"][0]["resource"] = json!(format!("Users/{bob}"));
        late["value"][0]["resourceData"]["id"] = json!(bob);
        let response = reqwest::Client::new()
            .post(hook(&server))
            .json(&late)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        wait_drained(&server).await;
        assert_eq!(runs(&server).await.len(), 2, "{}", db.kind);
        assert!(server
            .app
            .store
            .intake_cursor(leaver::intake::entra::DELTA_CURSOR)
            .await
            .unwrap()
            .is_some());
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_subscribe_creates_then_renews_the_subscription() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let sim = entra_sim().await;
    let mut config = config(
        &db,
        dir.path(),
        &sim,
        &[("entra-leaver", GRAPH_PLAN)],
        false,
    );
    let server = Server::start(App::build(config.clone()).await.unwrap()).await;
    config.server.public_url = Some(server.base.clone());

    let created = leaver::cli::entra_cmd::subscribe(&config).await.unwrap();
    assert_eq!(created.action, "created");
    let subs = sim.subscriptions();
    assert_eq!(subs.len(), 1);
    let sub = &subs[0];
    assert_eq!(sub.id, created.subscription_id);
    assert_eq!(sub.notification_url, hook(&server));
    assert_eq!(
        sub.lifecycle_notification_url.as_deref(),
        Some(hook(&server).as_str())
    );
    assert_eq!(sub.change_type, "updated,deleted");
    assert_eq!(sub.client_state.as_deref(), Some(CLIENT_STATE));
    assert!(sub.expiration > chrono::Utc::now() + chrono::Duration::days(28));
    // Graph validated the URL with the handshake before creating it.
    assert!(sim
        .deliveries()
        .iter()
        .any(|d| d.kind == DeliveryKind::Validation && d.delivered));

    let renewed = leaver::cli::entra_cmd::subscribe(&config).await.unwrap();
    assert_eq!(renewed.action, "renewed");
    assert_eq!(renewed.subscription_id, created.subscription_id);
    assert_eq!(sim.subscriptions().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entra_scim_deactivation_revokes_the_entra_sessions_end_to_end() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = entra_sim().await;
        let grace = sim.add_user("grace@example-corp.com", "Grace Example");
        let before = sim.user(&grace).unwrap().sign_in_sessions_valid_from;
        let mut config = config(
            &db,
            dir.path(),
            &sim,
            &[("entra-scim-leaver", SCIM_PLAN)],
            true,
        );
        std::fs::write(dir.path().join("scim-token"), SCIM_TOKEN).unwrap();
        config.scim = Some(ScimSection {
            token: format!("file:{}", dir.path().join("scim-token").display()),
            provider: ScimProvider::Entra,
            deactivation_grace: "0s".into(),
        });
        let server = Server::start(App::build(config).await.unwrap()).await;
        let client = reqwest::Client::new();
        let scim = format!("{}/scim/v2", server.base);
        let created: Value = client
            .post(format!("{scim}/Users"))
            .bearer_auth(SCIM_TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(SCIM_USER.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().expect("SCIM id").to_string();
        // Entra's default job: "op":"Replace", value the string "False".
        let variants: Vec<Value> = serde_json::from_str(ENTRA_PATCHES).unwrap();
        let patch = variants[0]["body"].clone();
        assert_eq!(patch["Operations"][0]["value"], "False");
        let response = client
            .patch(format!("{scim}/Users/{id}"))
            .bearer_auth(SCIM_TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(patch.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", db.kind);

        let started = wait_runs(&server, 1).await;
        assert_eq!(started.len(), 1, "{}", db.kind);
        assert_eq!(
            started[0].trigger_event.as_deref(),
            Some("entra.scim.deactivate")
        );
        let run = server
            .wait_run(&started[0].id, Duration::from_secs(30))
            .await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        let evidence = server
            .app
            .store
            .evidence_for_subject(&started[0].id)
            .await
            .unwrap();
        let verified: Vec<_> = evidence
            .iter()
            .filter(|e| e.kind == "step.verification" && e.payload["verified"] == true)
            .collect();
        assert!(
            verified.iter().any(|e| e
                .payload
                .to_string()
                .contains("signInSessionsValidFromDateTime")),
            "{}: {:#?}",
            db.kind,
            evidence
                .iter()
                .map(|e| (&e.kind, &e.payload))
                .collect::<Vec<_>>()
        );
        let user = sim.user(&grace).unwrap();
        assert!(user.sign_in_sessions_valid_from > before, "{}", db.kind);
        assert_eq!(user.revocations, 1);
        let text = serde_json::to_string(&evidence.iter().map(|e| &e.payload).collect::<Vec<_>>())
            .unwrap();
        for canary in [CLIENT_SECRET, CLIENT_STATE, SCIM_TOKEN] {
            assert!(!text.contains(canary), "{canary} in the evidence");
        }
        server.stop().await;
    }
}
