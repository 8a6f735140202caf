//! Okta System Log reconciliation and the Okta connector wired into Leaver, against the
//! simulated Okta org over real HTTP, on SQLite and PostgreSQL: a deactivation whose
//! hook delivery was lost starts its run once through the System Log; one the hook took
//! is a duplicate there; and a hook delivery runs a plan that clears the person's Okta
//! sessions and deactivates them, verified against Okta.

mod common;

use common::*;
use leaver::app::App;
use leaver::config::OktaSection;
use leaver::intake::okta_reconcile::{
    reconcile, ReconcileReport, ReconcileSettings, CURSOR_SOURCE,
};
use leaver_sim::okta::{KeyPair, LogEventSpec, OktaSim, OktaSimConfig, Party};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const HOOK_SECRET: &str = "okta-hook-secret-canary-8e21";
const CLIENT_ID: &str = "0oaleaversvc000001";
const KEY_ID: &str = "leaver-key-1";

const OKTA_PLAN: &str = r#"
name: okta-leaver
trigger: { events: [okta.user.lifecycle.deactivate] }
steps:
  - id: idp-sessions
    uses: okta.revoke_sessions
  - id: idp-user
    uses: okta.deactivate_user
    needs: [idp-sessions]
"#;

fn keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(|| KeyPair::generate_rsa().expect("rsa key"))
}

async fn okta_sim() -> OktaSim {
    OktaSim::start(OktaSimConfig {
        clients: vec![okta_service_app(CLIENT_ID, KEY_ID, &keys().public_key_pem)],
        deactivation_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .expect("okta sim")
}

/// A server with `[idp.okta]` pointing at the simulator, client credentials included.
async fn server(
    db: &TestDb,
    dir: &Path,
    sim: &OktaSim,
    workers: bool,
    reconcile_every: &str,
) -> Server {
    let plans = plans_dir(dir, &[("okta-leaver", OKTA_PLAN)]);
    let mut config = test_config(&db.url, dir, &plans, None);
    config.engine.workers = workers;
    std::fs::write(dir.join("okta-hook-secret"), HOOK_SECRET).unwrap();
    std::fs::write(dir.join("okta-key.pem"), &keys().private_key_pem).unwrap();
    config.idp.okta = Some(OktaSection {
        org_url: Some(sim.base_url()),
        hook_secret: format!("file:{}", dir.join("okta-hook-secret").display()),
        client_id: Some(CLIENT_ID.into()),
        private_key: Some(format!("file:{}", dir.join("okta-key.pem").display())),
        key_id: Some(KEY_ID.into()),
        reconcile_every: reconcile_every.into(),
        request_timeout: "5s".into(),
        ..OktaSection::default()
    });
    Server::start(App::build(config).await.expect("app")).await
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

/// One reconciliation pass with the app's settings, `page_limit` events per page.
async fn pass(server: &Server, page_limit: u32) -> ReconcileReport {
    let reconciler = server
        .app
        .okta_reconciler()
        .expect("reconciliation configured");
    let settings = ReconcileSettings {
        page_limit,
        ..reconciler.settings.clone()
    };
    reconcile(&server.app.engine, &reconciler.api, &settings)
        .await
        .expect("reconciliation pass")
}

/// The hook envelope Okta POSTs, around System Log events.
fn delivery(events: &[Value]) -> String {
    json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": "https://example-corp.okta.com/api/v1/eventHooks/who4examplehook00x7",
        "eventId": uuid::Uuid::new_v4().to_string(),
        "eventTime": chrono::Utc::now().to_rfc3339(),
        "contentType": "application/json",
        "data": { "events": events },
    })
    .to_string()
}

async fn deliver(server: &Server, body: String) {
    let response = reqwest::Client::new()
        .post(format!("{}/hooks/okta", server.base))
        .header("Authorization", HOOK_SECRET)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_the_hook_never_received_starts_its_run_once() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = okta_sim().await;
        let frank = sim.add_user("frank@example.com", "Frank", "Example");
        let grace = sim.add_user("grace@example.com", "Grace", "Example");
        let heidi = sim.add_user("heidi@example.com", "Heidi", "Example");
        let ivan = sim.add_user("ivan@example.com", "Ivan", "Example");
        let server = server(&db, dir.path(), &sim, false, "5m").await;

        // Deactivated in the Admin Console; no hook ever arrives.
        for user in [&frank, &grace, &heidi] {
            sim.admin_deactivate(user).expect("deactivated");
        }
        // Before the lookback (1h): not Leaver's business any more.
        sim.append_log_event(
            LogEventSpec::new("user.lifecycle.deactivate")
                .target(Party::user(&sim.user(&ivan).unwrap()))
                .published(chrono::Utc::now() - chrono::Duration::hours(3)),
        );
        // A failed deactivation is recorded and starts nothing.
        sim.append_log_event(
            LogEventSpec::new("user.lifecycle.deactivate")
                .target(Party::user(&sim.user(&ivan).unwrap()))
                .outcome("FAILURE", Some("INSUFFICIENT_PERMISSIONS")),
        );
        // Not a deprovisioning event: not even read.
        sim.append_log_event(
            LogEventSpec::new("user.session.start").target(Party::user(&sim.user(&ivan).unwrap())),
        );

        assert!(runs(&server).await.is_empty());
        // Two events per page: the pass follows the Link headers.
        let first = pass(&server, 2).await;
        assert_eq!(first.started, 3, "{}: {first:?}", db.kind);
        assert_eq!(first.ignored, 1, "{}: the failed one: {first:?}", db.kind);
        assert_eq!(first.events, 4, "{}: {first:?}", db.kind);
        assert!(first.pages >= 2, "{first:?}");
        let started = runs(&server).await;
        assert_eq!(started.len(), 3, "{}", db.kind);
        let franks = started
            .iter()
            .find(|r| r.identity.email == "frank@example.com")
            .expect("frank's run");
        assert_eq!(franks.identity.idp, "okta");
        assert_eq!(franks.identity.idp_user_id.as_deref(), Some(frank.as_str()));
        assert_eq!(
            franks.trigger_event.as_deref(),
            Some("okta.user.lifecycle.deactivate")
        );
        assert!(!started
            .iter()
            .any(|r| r.identity.email == "ivan@example.com"));
        let cursor = server
            .app
            .store
            .intake_cursor(CURSOR_SOURCE)
            .await
            .unwrap()
            .expect("cursor saved");
        assert_eq!(cursor, first.cursor);

        // The next pass re-reads the overlap: duplicates only, nothing new.
        let second = pass(&server, 2).await;
        assert_eq!(second.started, 0, "{}: {second:?}", db.kind);
        assert!(second.duplicates >= 3, "{}: {second:?}", db.kind);
        assert_eq!(runs(&server).await.len(), 3, "{}", db.kind);

        // A later deactivation is picked up by the following pass, once.
        sim.admin_deactivate(&ivan).unwrap();
        let third = pass(&server, 1000).await;
        assert_eq!(third.started, 1, "{}: {third:?}", db.kind);
        assert_eq!(runs(&server).await.len(), 4);
        assert_eq!(pass(&server, 1000).await.started, 0);
        server.stop().await;
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_hook_delivered_is_a_duplicate_for_reconciliation() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = okta_sim().await;
        let frank = sim.add_user("frank@example.com", "Frank", "Example");
        let server = server(&db, dir.path(), &sim, false, "5m").await;
        let uuid = sim.admin_deactivate(&frank).unwrap();
        let event = sim
            .log_events()
            .into_iter()
            .find(|e| e["uuid"] == uuid.as_str())
            .expect("the System Log event");
        deliver(&server, delivery(&[event])).await;
        assert_eq!(runs(&server).await.len(), 1, "{}", db.kind);

        let report = pass(&server, 1000).await;
        assert_eq!(report.started, 0, "{}: {report:?}", db.kind);
        assert_eq!(report.duplicates, 1, "{}: {report:?}", db.kind);
        assert_eq!(runs(&server).await.len(), 1, "{}", db.kind);
        assert_eq!(server.app.store.intake_count("okta").await.unwrap(), 1);
        server.stop().await;
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_delivery_clears_okta_sessions_and_deactivates_verified() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = okta_sim().await;
        let frank = sim.add_user("frank@example.com", "Frank", "Example");
        let grace = sim.add_user("grace@example.com", "Grace", "Example");
        for user in [&frank, &grace] {
            sim.add_session(user);
            sim.add_session(user);
            sim.add_refresh_token(user, "0oaslack", &["openid", "offline_access"]);
        }
        // The reconciliation runs every second alongside: it must not add a run.
        let server = server(&db, dir.path(), &sim, true, "1s").await;
        // The deactivation as the hook delivers it (also in the System Log).
        let spec = LogEventSpec::new("user.lifecycle.deactivate")
            .target(Party::user(&sim.user(&frank).unwrap()));
        let event = spec.to_json();
        sim.append_raw_log_event(event.clone());
        deliver(&server, delivery(&[event])).await;

        let started = runs(&server).await;
        assert_eq!(started.len(), 1, "{}", db.kind);
        let run = server
            .wait_run(&started[0].id, Duration::from_secs(60))
            .await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        for step in run["steps"].as_array().unwrap() {
            assert_eq!(step["verified"], true, "{}: {step:#}", db.kind);
        }

        // Okta shows it: no session, no refresh token, DEPROVISIONED; Grace untouched.
        assert!(sim.sessions(&frank).is_empty(), "{}", db.kind);
        assert!(sim.refresh_tokens(&frank).is_empty());
        assert_eq!(sim.user(&frank).unwrap().status, "DEPROVISIONED");
        assert_eq!(sim.sessions(&grace).len(), 2);
        assert_eq!(sim.refresh_tokens(&grace).len(), 1);
        assert_eq!(sim.user(&grace).unwrap().status, "ACTIVE");

        let evidence = server
            .app
            .store
            .evidence_for_subject(run["id"].as_str().unwrap())
            .await
            .unwrap();
        let verifications: Vec<_> = evidence
            .iter()
            .filter(|e| e.kind == "step.verification" && e.payload["verified"] == true)
            .collect();
        let sessions = verifications
            .iter()
            .find(|e| e.payload.to_string().contains("user.session.clear"))
            .unwrap_or_else(|| panic!("{}: no verified session clear: {evidence:#?}", db.kind));
        assert!(
            sessions
                .payload
                .to_string()
                .contains("no active refresh token"),
            "{:#}",
            sessions.payload
        );
        assert!(
            verifications
                .iter()
                .any(|e| e.payload.to_string().contains("DEPROVISIONED")),
            "{}: {evidence:#?}",
            db.kind
        );
        for entry in &evidence {
            let text = entry.payload.to_string();
            assert!(!text.contains(HOOK_SECRET));
            for line in keys()
                .private_key_pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
            {
                assert!(!text.contains(line), "private key in evidence");
            }
        }

        // The cron reconciliation fired and found the hook's event (a duplicate) and the
        // deactivation by Leaver's own service app, which starts no second run.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let firings = server
                .app
                .store
                .cron_firings("okta-system-log-reconcile")
                .await
                .unwrap();
            let cursor = server.app.store.intake_cursor(CURSOR_SOURCE).await.unwrap();
            // The hook's event, and the deactivation Leaver's own step caused (recorded,
            // starting nothing).
            let recorded = server.app.store.intake_count("okta").await.unwrap();
            if !firings.is_empty() && cursor.is_some() && recorded >= 2 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: the reconciliation never fired",
                db.kind
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(runs(&server).await.len(), 1, "{}", db.kind);
        server.stop().await;
        if !db.is_postgres() {
            let file = db.url.trim_start_matches("sqlite://");
            for path in [file.to_string(), format!("{file}-wal")] {
                if let Ok(bytes) = std::fs::read(&path) {
                    let text = String::from_utf8_lossy(&bytes);
                    for line in keys()
                        .private_key_pem
                        .lines()
                        .filter(|l| !l.starts_with("-----"))
                    {
                        assert!(!text.contains(line), "private key in {path}");
                    }
                }
            }
        }
        sim.shutdown().await;
    }
}
