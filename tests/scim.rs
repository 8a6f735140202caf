//! The SCIM 2.0 server at /scim/v2, over real HTTP on 127.0.0.1, on SQLite and
//! PostgreSQL: scim2-tester's whole suite, Entra's PATCH variants from the shared
//! fixtures, deprovisioning exactly once, reactivation cancelling a scheduled
//! offboarding, authentication, bad input, filters and paging.

mod common;

use common::probe::Probe;
use common::*;
use leaver::app::App;
use leaver::config::{ScimProvider, ScimSection};
use leaver::connectors::build_registry;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "scim-token-canary-9d41e7";
const PASSWORD: &str = "scim-password-canary-55f0";
const USER: &str = include_str!("scim/scim-user.json");
const STANDARD_PATCH: &str = include_str!("scim/scim-patch-deactivate-standard.json");
const ENTRA_PATCHES: &str = include_str!("scim/scim-patch-deactivate-entra-variants.json");
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

const SCIM_PLAN: &str = r#"
name: scim-leaver
trigger: { events: [entra.scim.deactivate, entra.scim.delete, okta.scim.deactivate, okta.scim.delete] }
steps:
  - id: grant
    uses: probe.revoke
    with: { key: grant }
"#;

struct Options {
    provider: ScimProvider,
    grace: &'static str,
    workers: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            provider: ScimProvider::Entra,
            grace: "0s",
            workers: false,
        }
    }
}

async fn server(db: &TestDb, dir: &Path, options: Options) -> Server {
    let plans_dir = plans_dir(dir, &[("scim-leaver", SCIM_PLAN)]);
    let mut config = test_config(&db.url, dir, &plans_dir, None);
    config.engine.workers = options.workers;
    config.server.max_body_bytes = 64 * 1024;
    std::fs::write(dir.join("scim-token"), TOKEN).unwrap();
    config.scim = Some(ScimSection {
        token: format!("file:{}", dir.join("scim-token").display()),
        provider: options.provider,
        deactivation_grace: options.grace.into(),
    });
    let mut registry = build_registry(&config).unwrap();
    registry.register(Arc::new(Probe::with_holdings(&["grant"])));
    Server::start(App::build_with_registry(config, registry).await.unwrap()).await
}

/// A SCIM client as Entra or Okta provisioning is one.
struct Scim {
    client: reqwest::Client,
    base: String,
}

impl Scim {
    fn new(server: &Server) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: format!("{}/scim/v2", server.base),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("Accept", "application/scim+json")
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        read(request.send().await.unwrap()).await
    }

    async fn create(&self, user: Value) -> Value {
        let (status, body) = self.send(Method::POST, "/Users", Some(user)).await;
        assert_eq!(status, 201, "{body}");
        body
    }
}

/// Status and JSON body; SCIM responses carry `application/scim+json`.
async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.unwrap();
    if text.is_empty() {
        return (status, Value::Null);
    }
    assert_eq!(content_type, "application/scim+json", "{status}: {text}");
    (status, serde_json::from_str(&text).unwrap())
}

fn assert_error(status: u16, body: &Value, expected: u16, scim_type: Option<&str>) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["schemas"], json!([ERROR_SCHEMA]), "{body}");
    assert_eq!(body["status"], json!(expected.to_string()), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

/// The fixture user, renamed so several can coexist.
fn fixture_user(name: &str) -> Value {
    let mut user: Value = serde_json::from_str(USER).unwrap();
    let email = format!("{name}@example-corp.com");
    user["userName"] = json!(email);
    user["emails"][0]["value"] = json!(email);
    user["externalId"] = json!(format!("ext-{name}"));
    user["displayName"] = json!(format!("{name} Example"));
    user
}

fn patch_bodies() -> Vec<(String, Value)> {
    let variants: Vec<Value> = serde_json::from_str(ENTRA_PATCHES).unwrap();
    let mut bodies: Vec<(String, Value)> = variants
        .into_iter()
        .map(|v| (v["note"].as_str().unwrap().to_string(), v["body"].clone()))
        .collect();
    bodies.push((
        "RFC 7644 standard".into(),
        serde_json::from_str(STANDARD_PATCH).unwrap(),
    ));
    bodies
}

async fn runs_for(server: &Server, email: &str) -> Vec<leaver::store::RunRecord> {
    server
        .app
        .store
        .list_runs(&leaver::store::RunFilter {
            email: Some(email.to_string()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn all_runs(server: &Server) -> Vec<leaver::store::RunRecord> {
    server
        .app
        .store
        .list_runs(&leaver::store::RunFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn scim_user_count(server: &Server) -> i64 {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM scim_users")
        .fetch_one(server.app.store.pool())
        .await
        .unwrap();
    row.try_get("n").unwrap()
}

/// Every text the database holds where a secret could end up.
async fn database_text(server: &Server) -> String {
    server.app.store.seal_pending().await.unwrap();
    let mut text = String::new();
    for sql in [
        "SELECT resource AS t FROM scim_users",
        "SELECT COALESCE(pending_event, '') AS t FROM scim_users",
        "SELECT payload AS t FROM evidence",
        "SELECT identity AS t FROM runs",
        "SELECT event_type || COALESCE(subject, '') AS t FROM intake_events",
    ] {
        for row in sqlx::query(sql)
            .fetch_all(server.app.store.pool())
            .await
            .unwrap()
        {
            let value: String = row.try_get("t").unwrap();
            text.push_str(&value);
            text.push('\n');
        }
    }
    text
}

fn workspace_root() -> PathBuf {
    repo_path(".")
}

/// The venv's Python with scim2-tester (LEAVER_TEST_PYTHON overrides).
fn tester_python() -> PathBuf {
    let python = std::env::var_os("LEAVER_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: scim2-tester runs from the test virtualenv; create it with scripts/test.sh \
         (or python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-test.txt)",
        python.display()
    );
    python
}

/// The checks scim2-tester runs for a server serving Users (what the reference
/// server, scim2-server, passes for its User resource type and discovery).
const EXPECTED_CHECKS: &[&str] = &[
    "service_provider_config_endpoint",
    "service_provider_config_endpoint_methods",
    "query_all_resource_types",
    "query_resource_type_by_id",
    "resource_types_schema_validation",
    "access_invalid_resource_type",
    "resource_types_endpoint_methods",
    "query_all_schemas",
    "access_schema_by_id",
    "access_invalid_schema",
    "schemas_endpoint_methods",
    "random_url",
    "object_creation",
    "object_query",
    "object_query_without_id",
    "object_query_with_attributes",
    "object_list_with_attributes",
    "search_with_attributes",
    "object_replacement",
    "object_deletion",
    "check_add_attribute",
    "check_remove_attribute",
    "check_replace_attribute",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_passes_every_check() {
    let python = tester_python();
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&db, dir.path(), Options::default()).await;
        let output = tokio::process::Command::new(&python)
            .arg(workspace_root().join("tests/scim/check_server.py"))
            .arg(format!("{}/scim/v2", server.base))
            .env("SCIM_TEST_TOKEN", TOKEN)
            .output()
            .await
            .expect("run scim2-tester");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "scim2-tester did not run ({}): {stderr}",
            output.status
        );
        let results: Vec<Value> = stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        let failed: Vec<&Value> = results
            .iter()
            .filter(|r| r["status"] != "SUCCESS")
            .collect();
        assert!(
            failed.is_empty(),
            "{}: {} of {} scim2-tester checks did not succeed:\n{}",
            db.kind,
            failed.len(),
            results.len(),
            failed
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        for title in EXPECTED_CHECKS {
            assert!(
                results.iter().any(|r| r["title"] == *title),
                "{}: scim2-tester did not run `{title}`",
                db.kind
            );
        }
        // One PATCH check per mutable attribute, enterprise extension included.
        let patched = |title: &str| results.iter().filter(|r| r["title"] == title).count();
        assert!(patched("check_add_attribute") >= 27, "{results:?}");
        assert!(patched("check_replace_attribute") >= 28, "{results:?}");
        assert!(patched("check_remove_attribute") >= 26, "{results:?}");
        eprintln!(
            "{}: scim2-tester: {} checks, all SUCCESS",
            db.kind,
            results.len()
        );

        // The tester's deletions (and deactivations) started offboardings, each once;
        // it sent passwords, none of which was kept.
        let runs = all_runs(&server).await;
        assert!(!runs.is_empty(), "{}", db.kind);
        for run in &runs {
            let trigger = run.trigger_event.as_deref().unwrap_or_default();
            assert!(trigger.starts_with("entra.scim."), "{trigger}");
            assert_eq!(run.identity.idp, "entra");
        }
        // Users the tester made without any e-mail address name nobody to offboard:
        // their events are recorded as ignored and start nothing.
        let started: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM intake_events WHERE source = 'scim' AND outcome = 'started'",
        )
        .fetch_one(server.app.store.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
        assert!(started > 0, "{}: no SCIM event started a run", db.kind);
        assert_eq!(runs.len() as i64, started, "{}: one run per event", db.kind);
        let resources = sqlx::query("SELECT resource FROM scim_users")
            .fetch_all(server.app.store.pool())
            .await
            .unwrap();
        for row in resources {
            let text: String = row.try_get("resource").unwrap();
            assert!(!text.contains("\"password\""), "{text}");
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_entra_patch_variant_starts_exactly_one_run() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(
            &db,
            dir.path(),
            Options {
                workers: db.kind == "sqlite",
                ..Options::default()
            },
        )
        .await;
        let scim = Scim::new(&server);
        for (i, (note, body)) in patch_bodies().into_iter().enumerate() {
            let name = format!("grace{i}");
            let email = format!("{name}@example-corp.com");
            let created = scim.create(fixture_user(&name)).await;
            let id = created["id"].as_str().unwrap().to_string();
            assert_eq!(created["active"], true);
            let (status, patched) = scim
                .send(Method::PATCH, &format!("/Users/{id}"), Some(body.clone()))
                .await;
            assert_eq!(status, 200, "{note}: {patched}");
            assert_eq!(patched["active"], false, "{note}");
            let runs = runs_for(&server, &email).await;
            assert_eq!(runs.len(), 1, "{}: {note}", db.kind);
            let run = &runs[0];
            assert_eq!(run.trigger_event.as_deref(), Some("entra.scim.deactivate"));
            assert_eq!(run.identity.idp, "entra");
            assert_eq!(
                run.identity.idp_user_id.as_deref(),
                Some(format!("ext-{name}").as_str())
            );
            // Entra retries (and re-sends the same PATCH on the next cycle).
            for _ in 0..2 {
                let (status, again) = scim
                    .send(Method::PATCH, &format!("/Users/{id}"), Some(body.clone()))
                    .await;
                assert_eq!(status, 200, "{again}");
            }
            assert_eq!(
                runs_for(&server, &email).await.len(),
                1,
                "{}: a replayed PATCH started a run ({note})",
                db.kind
            );
            // What was provisioned is still returned, inactive.
            let (status, user) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
            assert_eq!(status, 200);
            assert_eq!(user["active"], false);
            assert_eq!(user[ENTERPRISE]["employeeNumber"], "4711");
            if db.kind == "sqlite" && i == 0 {
                let done = server.wait_run(&run.id, Duration::from_secs(30)).await;
                assert_eq!(done["status"], "completed", "{done:#}");
            }
        }
        let evidence = server
            .app
            .store
            .evidence_for_subject("grace0@example-corp.com")
            .await
            .unwrap();
        let intake: Vec<_> = evidence
            .iter()
            .filter(|e| e.kind == "intake.event")
            .collect();
        assert_eq!(intake.len(), 1, "{}", db.kind);
        assert_eq!(intake[0].payload["source"], "scim");
        assert_eq!(intake[0].payload["trigger"], "entra.scim.deactivate");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_starts_one_run_and_the_user_is_gone() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(
            &db,
            dir.path(),
            Options {
                provider: ScimProvider::Okta,
                ..Options::default()
            },
        )
        .await;
        let scim = Scim::new(&server);
        let created = scim.create(fixture_user("heidi")).await;
        let id = created["id"].as_str().unwrap();
        let (status, body) = scim
            .send(Method::DELETE, &format!("/Users/{id}"), None)
            .await;
        assert_eq!(status, 204, "{body}");
        let (status, body) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
        assert_error(status, &body, 404, None);
        let (status, body) = scim
            .send(Method::DELETE, &format!("/Users/{id}"), None)
            .await;
        assert_error(status, &body, 404, None);
        let runs = runs_for(&server, "heidi@example-corp.com").await;
        assert_eq!(runs.len(), 1, "{}", db.kind);
        assert_eq!(runs[0].trigger_event.as_deref(), Some("okta.scim.delete"));
        assert_eq!(runs[0].identity.idp, "okta");

        // Deactivated first, deleted later (Entra's soft then hard delete): the
        // deactivation's offboarding is the one; the deletion starts nothing more.
        let created = scim.create(fixture_user("ivan")).await;
        let id = created["id"].as_str().unwrap();
        let (status, _) = scim
            .send(
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(serde_json::from_str(STANDARD_PATCH).unwrap()),
            )
            .await;
        assert_eq!(status, 200);
        let (status, _) = scim
            .send(Method::DELETE, &format!("/Users/{id}"), None)
            .await;
        assert_eq!(status, 204);
        let runs = runs_for(&server, "ivan@example-corp.com").await;
        assert_eq!(runs.len(), 1, "{}", db.kind);
        assert_eq!(
            runs[0].trigger_event.as_deref(),
            Some("okta.scim.deactivate")
        );
        assert_eq!(scim_user_count(&server).await, 0, "{}", db.kind);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactivation_cancels_a_scheduled_offboarding_with_evidence() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(
            &db,
            dir.path(),
            Options {
                grace: "1h",
                workers: true,
                ..Options::default()
            },
        )
        .await;
        let scim = Scim::new(&server);
        let email = "judy@example-corp.com";
        let created = scim.create(fixture_user("judy")).await;
        let id = created["id"].as_str().unwrap().to_string();
        let path = format!("/Users/{id}");
        let deactivate = patch_bodies()[0].1.clone();
        let (status, _) = scim
            .send(Method::PATCH, &path, Some(deactivate.clone()))
            .await;
        assert_eq!(status, 200);
        let runs = runs_for(&server, email).await;
        assert_eq!(runs.len(), 1);
        let first = runs[0].clone();
        let now = chrono::Utc::now().timestamp_millis();
        assert!(
            first.effective_at > now + 3_500_000,
            "{}: effective_at is now + grace",
            db.kind
        );
        assert_eq!(first.status.as_str(), "pending");

        // Entra re-enables the account within the grace period.
        let reactivate = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "True"}]
        });
        let (status, user) = scim
            .send(Method::PATCH, &path, Some(reactivate.clone()))
            .await;
        assert_eq!(status, 200, "{user}");
        assert_eq!(user["active"], true);
        let run = server.app.store.get_run(&first.id).await.unwrap().unwrap();
        assert_eq!(run.status.as_str(), "cancelled", "{}", db.kind);
        let (status, replay) = scim.send(Method::PATCH, &path, Some(reactivate)).await;
        assert_eq!(status, 200, "{replay}");

        let evidence = server.app.store.evidence_for_subject(email).await.unwrap();
        let reactivated: Vec<_> = evidence
            .iter()
            .filter(|e| e.kind == "scim.user.reactivated")
            .collect();
        assert_eq!(reactivated.len(), 1, "{}", db.kind);
        assert_eq!(reactivated[0].payload["cancelled"], json!([first.id]));
        assert_eq!(reactivated[0].actor, "scim-intake");
        let cancelled = server
            .app
            .store
            .evidence_for_subject(&first.id)
            .await
            .unwrap();
        assert!(
            cancelled
                .iter()
                .any(|e| e.kind == "run.status" && e.payload["status"] == "cancelled"),
            "{cancelled:?}"
        );

        // A deactivation after the reactivation is a new one.
        let (status, _) = scim.send(Method::PATCH, &path, Some(deactivate)).await;
        assert_eq!(status, 200);
        let runs = runs_for(&server, email).await;
        assert_eq!(runs.len(), 2, "{}", db.kind);
        let second = runs.iter().find(|r| r.id != first.id).unwrap();
        assert_eq!(second.status.as_str(), "pending");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reactivation_after_the_offboarding_took_effect_cancels_nothing() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let server = server(&db, dir.path(), Options::default()).await;
    let scim = Scim::new(&server);
    let created = scim.create(fixture_user("ken")).await;
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    let (status, _) = scim
        .send(
            Method::PATCH,
            &path,
            Some(serde_json::from_str(STANDARD_PATCH).unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    let run = runs_for(&server, "ken@example-corp.com").await.remove(0);
    let (status, _) = scim
        .send(
            Method::PATCH,
            &path,
            Some(json!({"Operations": [{"op": "replace", "value": {"active": true}}]})),
        )
        .await;
    assert_eq!(status, 200);
    let after = server.app.store.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(after.status.as_str(), "pending", "no grace: in effect");
    let evidence = server
        .app
        .store
        .evidence_for_subject("ken@example-corp.com")
        .await
        .unwrap();
    let reactivated = evidence
        .iter()
        .find(|e| e.kind == "scim.user.reactivated")
        .expect("the reactivation is evidence");
    assert_eq!(reactivated.payload["cancelled"], json!([]));
    assert_eq!(reactivated.payload["left"], json!([run.id]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_left_pending_by_a_crash_is_settled_once() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&db, dir.path(), Options::default()).await;
        let scim = Scim::new(&server);
        let created = scim.create(fixture_user("lena")).await;
        let id = created["id"].as_str().unwrap().to_string();
        let store = &server.app.store;
        // The write committed, the process died before intake: what the row holds then.
        let before = store.scim_user(&id).await.unwrap().unwrap();
        let mut resource = before.resource.clone();
        resource["active"] = json!(false);
        let service =
            leaver::intake::scim::ScimService::new(TOKEN, ScimProvider::Entra, Duration::ZERO);
        let (deactivations, pending) = leaver::intake::scim::deprovision::on_update(
            &service,
            &before,
            &leaver::intake::scim::deprovision::After {
                resource: &resource,
                active: false,
            },
            "PATCH",
        );
        let write = leaver::store::ScimUserWrite {
            user_name: before.user_name.clone(),
            external_id: before.external_id.clone(),
            active: false,
            resource,
            deactivations,
            pending_event: pending.map(|p| serde_json::to_string(&p).unwrap()),
        };
        store
            .scim_update_user(&id, before.version, &write)
            .await
            .unwrap()
            .unwrap();
        assert!(runs_for(&server, "lena@example-corp.com").await.is_empty());
        // Entra retries the PATCH: the pending deactivation is settled first, and
        // the retried PATCH itself changes nothing more.
        let (status, _) = scim
            .send(
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(serde_json::from_str(STANDARD_PATCH).unwrap()),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(runs_for(&server, "lena@example-corp.com").await.len(), 1);
        let row = store.scim_user(&id).await.unwrap().unwrap();
        assert_eq!(row.pending_event, None);
        assert_eq!(row.deactivations, 1);
        // The start-up sweep finds nothing left.
        let settled = leaver::intake::scim::resume_pending(&server.app.engine)
            .await
            .unwrap();
        assert_eq!(settled, 0, "{}", db.kind);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_tokens_get_401_and_store_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&db, dir.path(), Options::default()).await;
        let client = reqwest::Client::new();
        let url = format!("{}/scim/v2/Users", server.base);
        let body = fixture_user("mallory").to_string();
        let prefix = &TOKEN[..TOKEN.len() - 1];
        let basic = format!("Basic {TOKEN}");
        let wrong_prefix = format!("Bearer {prefix}");
        let longer = format!("Bearer {TOKEN}x");
        let headers: Vec<Option<&str>> = vec![
            None,
            Some("Bearer"),
            Some("Bearer wrong-token"),
            Some(&wrong_prefix),
            Some(&longer),
            Some(&basic),
        ];
        for header in headers {
            for (method, target) in [
                (Method::POST, url.clone()),
                (Method::GET, url.clone()),
                (
                    Method::GET,
                    format!("{}/scim/v2/ServiceProviderConfig", server.base),
                ),
                (Method::GET, format!("{}/scim/v2/nowhere", server.base)),
            ] {
                let mut request = client
                    .request(method.clone(), &target)
                    .header("Content-Type", "application/scim+json")
                    .body(body.clone());
                if let Some(header) = header {
                    request = request.header("Authorization", header);
                }
                let response = request.send().await.unwrap();
                assert_eq!(
                    response.headers().get("www-authenticate").unwrap(),
                    "Bearer realm=\"leaver-scim\""
                );
                let (status, error) = read(response).await;
                assert_error(status, &error, 401, None);
                assert!(!error.to_string().contains(TOKEN), "{error}");
            }
        }
        assert_eq!(scim_user_count(&server).await, 0, "{}", db.kind);
        assert!(all_runs(&server).await.is_empty());
        // The scheme is case-insensitive.
        let response = client
            .get(&url)
            .header("Authorization", format!("bearer {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(!database_text(&server).await.contains(TOKEN));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_changes_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&db, dir.path(), Options::default()).await;
        let scim = Scim::new(&server);
        let mut user = fixture_user("nina");
        user["password"] = json!(PASSWORD);
        let created = scim.create(user).await;
        assert!(created.get("password").is_none(), "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let path = format!("/Users/{id}");
        let version = created["meta"]["version"].clone();

        let raw = |method: Method, path: &str, content_type: &str, body: String| {
            scim.request(method, path)
                .header("Content-Type", content_type)
                .body(body)
        };
        let cases: Vec<(reqwest::RequestBuilder, u16, Option<&str>)> = vec![
            (
                raw(Method::POST, "/Users", "application/scim+json", "{\"userName\": ".into()),
                400,
                Some("invalidSyntax"),
            ),
            (
                raw(Method::PATCH, &path, "application/json", "[1, 2".into()),
                400,
                Some("invalidSyntax"),
            ),
            (
                raw(Method::PUT, &path, "application/scim+json", "\"a string\"".into()),
                400,
                Some("invalidSyntax"),
            ),
            (
                raw(
                    Method::POST,
                    "/Users",
                    "application/scim+json",
                    json!({"userName": "big@example-corp.com", "pad": "x".repeat(100 * 1024)}).to_string(),
                ),
                413,
                None,
            ),
            (
                raw(
                    Method::PATCH,
                    &path,
                    "application/scim+json",
                    json!({"Operations": [{"op": "replace", "path": "active", "value": "False"}], "pad": "x".repeat(100 * 1024)}).to_string(),
                ),
                413,
                None,
            ),
            (
                raw(Method::POST, "/Users", "text/plain", fixture_user("olga").to_string()),
                415,
                None,
            ),
            (
                raw(Method::POST, "/Users", "application/scim+json", json!({"displayName": "no userName"}).to_string()),
                400,
                Some("invalidValue"),
            ),
            (
                raw(Method::POST, "/Users", "application/scim+json", fixture_user("NINA").to_string()),
                409,
                Some("uniqueness"),
            ),
            (
                raw(
                    Method::PATCH,
                    &path,
                    "application/scim+json",
                    json!({"Operations": [
                        {"op": "replace", "path": "active", "value": "False"},
                        {"op": "replace", "path": "displayName", "value": ["two", "values"]}
                    ]})
                    .to_string(),
                ),
                400,
                Some("invalidValue"),
            ),
            (
                raw(
                    Method::PATCH,
                    &path,
                    "application/scim+json",
                    json!({"Operations": [{"op": "replace", "path": "emails[bogus eq \"x\"].value", "value": "a"}]}).to_string(),
                ),
                400,
                Some("invalidPath"),
            ),
            (
                raw(
                    Method::PATCH,
                    &path,
                    "application/scim+json",
                    json!({"Operations": [{"op": "remove"}]}).to_string(),
                ),
                400,
                Some("noTarget"),
            ),
            (
                raw(Method::GET, "/Users?count=lots", "application/scim+json", String::new()),
                400,
                Some("invalidValue"),
            ),
        ];
        for (request, status, scim_type) in cases {
            let (got, body) = read(request.send().await.unwrap()).await;
            assert_error(got, &body, status, scim_type);
            assert!(!body.to_string().contains(PASSWORD), "{body}");
        }
        // A PUT that would take another user's userName.
        let other = scim.create(fixture_user("oscar")).await;
        let mut taken = fixture_user("oscar");
        taken["userName"] = json!("NINA@example-corp.com");
        let (status, body) = scim
            .send(
                Method::PUT,
                &format!("/Users/{}", other["id"].as_str().unwrap()),
                Some(taken),
            )
            .await;
        assert_error(status, &body, 409, Some("uniqueness"));
        // If-Match with an old version.
        let (status, body) = read(
            scim.request(Method::PATCH, &path)
                .header("Content-Type", "application/scim+json")
                .header("If-Match", "W/\"999\"")
                .body(
                    serde_json::from_str::<Value>(STANDARD_PATCH)
                        .unwrap()
                        .to_string(),
                )
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(status, &body, 412, None);

        let (status, unchanged) = scim.send(Method::GET, &path, None).await;
        assert_eq!(status, 200);
        assert_eq!(unchanged["meta"]["version"], version, "{}", db.kind);
        assert_eq!(unchanged["active"], true);
        assert!(all_runs(&server).await.is_empty(), "{}", db.kind);
        assert_eq!(scim_user_count(&server).await, 2);
        // A password change is accepted and dropped.
        let (status, _) = scim
            .send(
                Method::PATCH,
                &path,
                Some(json!({"Operations": [{"op": "replace", "path": "password", "value": PASSWORD}]})),
            )
            .await;
        assert_eq!(status, 200);
        let text = database_text(&server).await;
        assert!(
            !text.contains(PASSWORD),
            "{}: the password was stored",
            db.kind
        );
        assert!(!text.contains(TOKEN));
        server.stop().await;
    }
}

async fn user_names(scim: &Scim, query: &str) -> (Value, Vec<String>) {
    let (status, body) = scim
        .send(Method::GET, &format!("/Users?{query}"), None)
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    let names = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap_or_default().to_string())
        .collect();
    (body, names)
}

fn q(filter: &str) -> String {
    format!(
        "filter={}",
        filter
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' =>
                    (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_paging_and_attribute_selection() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let server = server(&db, dir.path(), Options::default()).await;
        let scim = Scim::new(&server);
        for i in 0..7 {
            let mut user = fixture_user(&format!("user{i}"));
            user["userName"] = json!(format!("User{i}@Example-Corp.com"));
            if i % 2 == 1 {
                user["emails"] =
                    json!([{"value": format!("home{i}@home.example"), "type": "home"}]);
                user["active"] = json!(false);
            }
            user[ENTERPRISE]["department"] = json!(if i < 3 { "Platform" } else { "Sales" });
            scim.create(user).await;
        }
        // Entra's matching query: userName, any case.
        let (body, names) = user_names(&scim, &q(r#"userName eq "user3@example-corp.com""#)).await;
        assert_eq!(names, vec!["User3@Example-Corp.com"], "{}", db.kind);
        assert_eq!(body["totalResults"], 1);
        let (_, names) = user_names(&scim, &q(r#"USERNAME Eq "USER3@EXAMPLE-CORP.COM""#)).await;
        assert_eq!(names.len(), 1);
        let (_, names) = user_names(&scim, &q(r#"externalId eq "ext-user4""#)).await;
        assert_eq!(names, vec!["User4@Example-Corp.com"]);
        let (_, names) = user_names(&scim, &q(r#"externalId eq "EXT-USER4""#)).await;
        assert!(names.is_empty(), "externalId is case-exact");
        let (_, names) = user_names(
            &scim,
            &q(r#"emails[type eq "work"].value eq "user2@example-corp.com""#),
        )
        .await;
        assert_eq!(names, vec!["User2@Example-Corp.com"]);
        let (_, names) = user_names(
            &scim,
            &q(r#"emails[type eq "work"].value eq "home1@home.example""#),
        )
        .await;
        assert!(names.is_empty());
        let (body, names) = user_names(
            &scim,
            &q(&format!(
                r#"active eq false and {ENTERPRISE}:department eq "sales""#
            )),
        )
        .await;
        assert_eq!(
            names,
            vec!["User3@Example-Corp.com", "User5@Example-Corp.com"]
        );
        assert_eq!(body["totalResults"], 2);
        // Inactive users are listed like the others.
        let (body, names) = user_names(&scim, "").await;
        assert_eq!(body["totalResults"], 7);
        assert_eq!(names.len(), 7);
        // Paging: 1-based startIndex, count, totals.
        let (body, names) = user_names(&scim, "startIndex=3&count=2").await;
        assert_eq!(body["totalResults"], 7);
        assert_eq!(body["startIndex"], 3);
        assert_eq!(body["itemsPerPage"], 2);
        assert_eq!(
            names,
            vec!["User2@Example-Corp.com", "User3@Example-Corp.com"]
        );
        let (body, names) = user_names(
            &scim,
            &format!("{}&startIndex=2&count=2", q(r#"userName sw "user""#)),
        )
        .await;
        assert_eq!(body["totalResults"], 7);
        assert_eq!(
            names,
            vec!["User1@Example-Corp.com", "User2@Example-Corp.com"]
        );
        let (body, names) = user_names(&scim, "startIndex=0&count=0").await;
        assert_eq!(body["totalResults"], 7);
        assert!(names.is_empty());
        let (_, names) = user_names(&scim, "startIndex=7&count=5").await;
        assert_eq!(names, vec!["User6@Example-Corp.com"]);
        // attributes / excludedAttributes.
        let (body, _) = user_names(
            &scim,
            &format!(
                "{}&attributes=userName",
                q(r#"userName eq "user0@example-corp.com""#)
            ),
        )
        .await;
        let only = &body["Resources"][0];
        assert!(only["id"].is_string());
        assert!(
            only.get("displayName").is_none() && only.get("emails").is_none(),
            "{only}"
        );
        let (body, _) = user_names(
            &scim,
            &format!(
                "{}&excludedAttributes=emails,{ENTERPRISE}",
                q(r#"userName eq "user0@example-corp.com""#)
            ),
        )
        .await;
        let without = &body["Resources"][0];
        assert!(without.get("emails").is_none() && without.get(ENTERPRISE).is_none());
        assert_eq!(without["displayName"], "user0 Example");
        // POST /.search
        let (status, body) = scim
            .send(
                Method::POST,
                "/Users/.search",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": "emails.type eq \"home\"",
                    "attributes": ["userName"],
                    "startIndex": 1,
                    "count": 10
                })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["totalResults"], 3);
        // Unsupported or malformed filters.
        for filter in [
            r#"userName eq"#,
            r#"nosuch eq "x""#,
            r#"userName zz "x""#,
            r#"active gt true"#,
            r#"(userName eq "x""#,
            r#"userName eq "x" junk"#,
        ] {
            let (status, body) = scim
                .send(Method::GET, &format!("/Users?{}", q(filter)), None)
                .await;
            assert_error(status, &body, 400, Some("invalidFilter"));
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_endpoints_and_errors_are_rfc_shaped() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let server = server(&db, dir.path(), Options::default()).await;
    let scim = Scim::new(&server);
    let (status, spc) = scim.send(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        spc["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["sort"]["supported"], false);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let (status, types) = scim.send(Method::GET, "/ResourceTypes", None).await;
    assert_eq!(status, 200);
    assert_eq!(types["totalResults"], 1);
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    assert_eq!(
        types["Resources"][0]["schemaExtensions"][0]["schema"],
        ENTERPRISE
    );
    let (status, schemas) = scim.send(Method::GET, "/Schemas", None).await;
    assert_eq!(status, 200);
    assert_eq!(schemas["totalResults"], 2);
    let (status, enterprise) = scim
        .send(Method::GET, &format!("/Schemas/{ENTERPRISE}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(enterprise["name"], "EnterpriseUser");
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let (status, body) = scim.send(method.clone(), path, Some(json!({}))).await;
            assert_error(status, &body, 405, None);
        }
    }
    for path in [
        "/Nope",
        "/ResourceTypes/Group",
        "/Schemas/urn:x",
        "/Users/no-such-id",
        "/Groups",
    ] {
        let (status, body) = scim.send(Method::GET, path, None).await;
        assert_error(status, &body, 404, None);
    }
    // Location, ETag and meta on create; plain application/json is accepted too.
    let response = scim
        .request(Method::POST, "/Users")
        .header("Content-Type", "application/json")
        .body(fixture_user("pia").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let (_, created) = read(response).await;
    assert_eq!(created["meta"]["location"], location);
    assert_eq!(created["meta"]["version"], etag);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(location.starts_with(&format!("{}/scim/v2/Users/", server.base)));
    let response = scim
        .request(
            Method::GET,
            &format!("/Users/{}", created["id"].as_str().unwrap()),
        )
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    server.stop().await;
}
