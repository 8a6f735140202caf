//! Okta Event Hooks at /hooks/okta, as Okta calls them: the verification GET, deliveries
//! authenticated by the shared header, every event recorded once, plans started by the
//! events their triggers name — on SQLite and PostgreSQL.

mod common;

use common::probe::Probe;
use common::*;
use leaver::app::App;
use leaver::connectors::build_registry;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "okta-hook-secret-canary-51c2";
const DELIVERY: &str = include_str!("fixtures/idp/okta-event-hook-delivery.json");

const DEACTIVATE_PLAN: &str = r#"
name: okta-leaver
trigger: { events: [okta.user.lifecycle.deactivate] }
steps:
  - id: grant
    uses: probe.revoke
    with: { key: grant }
"#;

const GROUP_PLAN: &str = r#"
name: group-leaver
trigger: { events: [okta.group.user_membership.remove] }
steps:
  - id: grant
    uses: probe.revoke
    with: { key: group-grant }
"#;

async fn server(
    db: &TestDb,
    dir: &std::path::Path,
    plans: &[(&str, &str)],
    workers: bool,
) -> Server {
    let plans_dir = plans_dir(dir, plans);
    let mut config = test_config(&db.url, dir, &plans_dir, None);
    config.engine.workers = workers;
    config.server.max_body_bytes = 64 * 1024;
    std::fs::write(dir.join("okta-secret"), SECRET).unwrap();
    config.idp.okta = Some(leaver::config::OktaSection {
        org_url: Some("https://example-corp.okta.com".into()),
        hook_auth_header: "Authorization".into(),
        hook_secret: format!("file:{}", dir.join("okta-secret").display()),
        ..Default::default()
    });
    let mut registry = build_registry(&config).unwrap();
    // Only the deactivation plan's grant is held, so its sweep does not depend on how far
    // the group plan's run (whose grant is already gone) has got.
    registry.register(Arc::new(Probe::with_holdings(&["grant"])));
    Server::start(App::build_with_registry(config, registry).await.unwrap()).await
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

fn deliver(
    client: &reqwest::Client,
    base: &str,
    secret: &str,
    body: String,
) -> reqwest::RequestBuilder {
    client
        .post(format!("{base}/hooks/okta"))
        .header("Authorization", secret)
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_challenge_is_echoed_to_the_secret_holder_only() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let server = server(&db, dir.path(), &[("okta-leaver", DEACTIVATE_PLAN)], false).await;
    let client = reqwest::Client::new();
    let url = format!("{}/hooks/okta", server.base);
    let ok = client
        .get(&url)
        .header("Authorization", SECRET)
        .header(
            "x-okta-verification-challenge",
            "Y3xtZXhhbXBsZS1jaGFsbGVuZ2UtdmFsdWU",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"verification": "Y3xtZXhhbXBsZS1jaGFsbGVuZ2UtdmFsdWU"})
    );
    // Header names are case-insensitive on the wire.
    let upper = client
        .get(&url)
        .header("Authorization", SECRET)
        .header("X-Okta-Verification-Challenge", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        upper.json::<serde_json::Value>().await.unwrap()["verification"],
        "abc"
    );
    for (secret, status) in [(None, 401), (Some("wrong"), 401)] {
        let mut request = client
            .get(&url)
            .header("x-okta-verification-challenge", "abc");
        if let Some(secret) = secret {
            request = request.header("Authorization", secret);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        let text = response.text().await.unwrap();
        assert!(!text.contains(SECRET), "the secret leaked: {text}");
    }
    let missing = client
        .get(&url)
        .header("Authorization", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_starts_the_triggered_plans_once() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(
            &db,
            dir.path(),
            &[
                ("okta-leaver", DEACTIVATE_PLAN),
                ("group-leaver", GROUP_PLAN),
            ],
            true,
        )
        .await;
        let client = reqwest::Client::new();
        let response = deliver(&client, &server.base, SECRET, DELIVERY.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{}", db.kind);
        let started = runs(&server).await;
        assert_eq!(started.len(), 2, "{}: one run per triggered plan", db.kind);
        let deactivation = started.iter().find(|r| r.plan == "okta-leaver").unwrap();
        assert_eq!(deactivation.identity.email, "frank@example-corp.com");
        assert_eq!(deactivation.identity.idp, "okta");
        assert_eq!(
            deactivation.identity.idp_user_id.as_deref(),
            Some("00u7frankexample01")
        );
        assert_eq!(
            deactivation.trigger_event.as_deref(),
            Some("okta.user.lifecycle.deactivate")
        );
        let run = server
            .wait_run(&deactivation.id, Duration::from_secs(30))
            .await;
        assert_eq!(run["status"], "completed", "{run:#}");

        // Okta redelivers (at least once): nothing new starts.
        for _ in 0..3 {
            let again = deliver(&client, &server.base, SECRET, DELIVERY.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 204);
        }
        assert_eq!(
            runs(&server).await.len(),
            2,
            "{}: a redelivery started a run",
            db.kind
        );
        assert_eq!(server.app.store.intake_count("okta").await.unwrap(), 2);
        let evidence = server
            .app
            .store
            .evidence_for_subject("frank@example-corp.com")
            .await
            .unwrap();
        let intake: Vec<_> = evidence
            .iter()
            .filter(|e| e.kind == "intake.event")
            .collect();
        assert_eq!(intake.len(), 2, "{}: each event is evidence once", db.kind);
        assert!(!evidence
            .iter()
            .any(|e| e.payload.to_string().contains(SECRET)));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_no_plan_asks_for_are_recorded_and_ignored() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let server = server(&db, dir.path(), &[("okta-leaver", DEACTIVATE_PLAN)], false).await;
    let response = deliver(
        &reqwest::Client::new(),
        &server.base,
        SECRET,
        DELIVERY.to_string(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 204);
    let started = runs(&server).await;
    assert_eq!(
        started.len(),
        1,
        "the group removal starts nothing without a plan for it"
    );
    assert_eq!(server.app.store.intake_count("okta").await.unwrap(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deliveries_are_refused_and_store_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&db, dir.path(), &[("okta-leaver", DEACTIVATE_PLAN)], false).await;
        let client = reqwest::Client::new();
        let cases: Vec<(Option<&str>, String, u16)> = vec![
            (None, DELIVERY.to_string(), 401),
            (Some("not-the-secret"), DELIVERY.to_string(), 401),
            (Some(&SECRET[..SECRET.len() - 1]), DELIVERY.to_string(), 401),
            (
                Some(SECRET),
                "{\"eventType\": \"com.okta.event_hook\", \"data\": ".to_string(),
                400,
            ),
            (
                Some(SECRET),
                DELIVERY.replace("com.okta.event_hook", "com.example.other"),
                400,
            ),
            (Some(SECRET), "[1, 2, 3]".to_string(), 400),
            (
                Some(SECRET),
                format!("{{\"pad\": \"{}\"}}", "x".repeat(100 * 1024)),
                413,
            ),
        ];
        for (secret, body, status) in cases {
            let mut request = client
                .post(format!("{}/hooks/okta", server.base))
                .header("Content-Type", "application/json")
                .body(body);
            if let Some(secret) = secret {
                request = request.header("Authorization", secret);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), status, "{}", db.kind);
            let error: serde_json::Value = response.json().await.unwrap();
            assert!(error["error"]["message"].is_string(), "{error}");
            assert!(!error.to_string().contains(SECRET));
        }
        assert!(runs(&server).await.is_empty(), "{}", db.kind);
        assert_eq!(server.app.store.intake_count("okta").await.unwrap(), 0);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_deliveries_is_answered_within_oktas_timeout() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&db, dir.path(), &[("okta-leaver", DEACTIVATE_PLAN)], false).await;
        let client = reqwest::Client::new();
        let template: serde_json::Value = serde_json::from_str(DELIVERY).unwrap();
        let semaphore = Arc::new(tokio::sync::Semaphore::new(16));
        let mut tasks = Vec::new();
        for i in 0..500 {
            let mut body = template.clone();
            body["data"]["events"].as_array_mut().unwrap().truncate(1);
            body["data"]["events"][0]["uuid"] = serde_json::json!(format!("burst-{i:04}"));
            body["data"]["events"][0]["target"][0]["alternateId"] =
                serde_json::json!(format!("user{i}@example-corp.com"));
            let request = deliver(&client, &server.base, SECRET, body.to_string());
            let permit = semaphore.clone().acquire_owned().await.unwrap();
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let status = request.send().await.unwrap().status().as_u16();
                drop(permit);
                (status, started.elapsed())
            }));
        }
        let mut slowest = Duration::ZERO;
        for task in tasks {
            let (status, elapsed) = task.await.unwrap();
            assert_eq!(status, 204);
            slowest = slowest.max(elapsed);
        }
        assert!(
            slowest < Duration::from_secs(3),
            "{}: slowest answer {slowest:?}",
            db.kind
        );
        assert_eq!(runs(&server).await.len(), 500, "{}", db.kind);
        assert_eq!(server.app.store.intake_count("okta").await.unwrap(), 500);
        eprintln!("{}: 500 deliveries, slowest answer {slowest:?}", db.kind);
        server.stop().await;
    }
}
