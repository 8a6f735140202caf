//! HR ticket automation: `ticket.update` posts the offboarding's progress and final
//! summary (every revocation's outcome, verification and the evidence range) to the
//! run's ticket: a Jira Cloud comment or a ServiceNow work note, against the simulated
//! Jira and ServiceNow over HTTP, on SQLite and PostgreSQL. Reports are posted once,
//! even when retried; the summary is posted after a failed revocation too (`when:
//! always`); the API token never reaches the evidence or the database.

mod common;

use common::probe::{Probe, Script};
use common::*;
use leaver::app::App;
use leaver::config::{JiraSection, ServiceNowSection};
use leaver::tickets::TicketConnector;
use leaver_connector::{ActionRequest, Connector, Identity};
use leaver_sim::jira::{JiraSim, JiraSimConfig};
use leaver_sim::servicenow::{ServiceNowSim, ServiceNowSimConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const JIRA_TOKEN: &str = "jira-api-token-canary-71c3";
const SN_PASSWORD: &str = "servicenow-password-canary-0e5d";

const PLAN: &str = r#"
name: ticketed-leaver
trigger: { events: [manual] }
sla: 15m
steps:
  - id: started
    uses: ticket.update
    with: { report: progress }
  - id: grant
    uses: probe.revoke
    with: { key: grant }
  - id: denied
    uses: probe.revoke
    with: { key: denied }
  - id: summary
    uses: ticket.update
    needs: [grant, denied]
    when: always
"#;

fn secret_file(dir: &std::path::Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    format!("file:{}", path.display())
}

fn jira_section(dir: &std::path::Path, base_url: &str) -> JiraSection {
    JiraSection {
        base_url: base_url.to_string(),
        email: "leaver-bot@example.com".into(),
        api_token: secret_file(dir, "jira-token", JIRA_TOKEN),
        request_timeout: "2s".into(),
    }
}

fn servicenow_section(dir: &std::path::Path, base_url: &str) -> ServiceNowSection {
    ServiceNowSection {
        instance_url: base_url.to_string(),
        username: "leaver.integration".into(),
        password: secret_file(dir, "sn-password", SN_PASSWORD),
        table: "sn_hr_core_case".into(),
        request_timeout: "2s".into(),
    }
}

async fn offboard(server: &Server, email: &str, ticket: Value) -> Value {
    let mut body = json!({ "identity": { "email": email }, "plan": "ticketed-leaver" });
    if !ticket.is_null() {
        body["ticket"] = ticket;
    }
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/offboardings", server.base))
        .bearer_auth(&server.admin_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let created: Value = response.json().await.unwrap();
    server
        .wait_run(created["id"].as_str().unwrap(), Duration::from_secs(30))
        .await
}

fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {run:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_gets_the_progress_and_the_summary_once_despite_upstream_faults() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let jira = JiraSim::start(JiraSimConfig {
            api_token: JIRA_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        jira.add_issue("HR-4312", "Offboard grace@example.com")
            .unwrap();
        // The first calls fail: a 503 and a 429 with Retry-After.
        jira.faults()
            .fail_next_on("/rest/api/3/issue/HR-4312/comment", 1, 503);
        jira.faults()
            .too_many_requests_next(1, Duration::from_millis(200));

        let plans = plans_dir(dir.path(), &[("ticketed-leaver", PLAN)]);
        let mut config = test_config(&db.url, dir.path(), &plans, None);
        config.tickets.jira = Some(jira_section(dir.path(), &jira.base_url()));
        let mut registry = leaver::connectors::build_registry(&config).unwrap();
        registry.register(Arc::new(Probe::with_holdings(&["grant", "denied"])));
        let server = Server::start(
            App::build_with_registry(config.clone(), registry)
                .await
                .unwrap(),
        )
        .await;

        let run = offboard(
            &server,
            "grace@example.com",
            json!({"system": "jira", "key": "HR-4312"}),
        )
        .await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);
        for id in ["started", "summary"] {
            assert_eq!(
                step(&run, id)["status"],
                "succeeded",
                "{}: {run:#}",
                db.kind
            );
            assert_eq!(step(&run, id)["verified"], true, "{}: {run:#}", db.kind);
        }

        let comments = jira.comments("HR-4312");
        assert_eq!(
            comments.len(),
            2,
            "{}: {:#?}",
            db.kind,
            comments.iter().map(|c| &c.text).collect::<Vec<_>>()
        );
        let run_id = run["id"].as_str().unwrap();
        let progress = comments
            .iter()
            .find(|c| c.text.contains(&format!("leaver-ref: {run_id}/started")))
            .expect("progress comment");
        assert!(progress
            .text
            .contains("offboarding of grace@example.com has started"));
        assert!(
            progress.text.contains("- grant (probe.revoke)"),
            "{}",
            progress.text
        );
        let summary = comments
            .iter()
            .find(|c| c.text.contains(&format!("leaver-ref: {run_id}/summary")))
            .expect("summary comment");
        assert!(
            summary
                .text
                .contains("Revocations: 2 of 2 succeeded, 2 verified."),
            "{}",
            summary.text
        );
        assert!(
            summary
                .text
                .contains("- grant (probe.revoke): succeeded, verified at"),
            "{}",
            summary.text
        );
        assert!(
            summary.text.contains("Evidence: ledger entries "),
            "{}",
            summary.text
        );
        assert!(summary.text.contains("leaver evidence export --from "));
        // The body is an Atlassian document, one paragraph a line.
        assert_eq!(summary.body["type"], "doc");

        // The evidence names the range reported and never the token.
        let evidence = server.app.store.evidence_for_subject(run_id).await.unwrap();
        let summary_result = evidence
            .iter()
            .find(|e| e.kind == "step.result" && e.payload["step"] == "summary")
            .map(|e| e.payload.to_string())
            .unwrap_or_default();
        assert!(
            summary_result.contains("evidence_range"),
            "{}: {summary_result}",
            db.kind
        );
        for entry in &evidence {
            assert!(
                !entry.payload.to_string().contains(JIRA_TOKEN),
                "{}",
                db.kind
            );
        }

        // Running the step again (a retry after a crash) finds the report and posts nothing.
        let connector = TicketConnector::new(server.app.store.clone(), &config.tickets).unwrap();
        let request = ActionRequest {
            action: "update".into(),
            params: json!({}),
            identity: Identity::new("grace@example.com"),
            run_id: run_id.to_string(),
            step_id: "summary".into(),
        };
        let again = connector.execute(&request).await.unwrap();
        assert!(!again.changed, "{}: {again:?}", db.kind);
        assert!(connector.verify(&request).await.unwrap().verified);
        assert_eq!(jira.comments("HR-4312").len(), 2, "{}", db.kind);

        // A run without a ticket reports nothing, successfully.
        let plain = offboard(&server, "heidi@example.com", Value::Null).await;
        assert_eq!(plain["status"], "completed", "{}: {plain:#}", db.kind);
        assert_eq!(step(&plain, "summary")["status"], "succeeded");
        assert_eq!(jira.comments_created(), 2, "{}", db.kind);

        server.stop().await;
        if !db.is_postgres() {
            let file = db.url.trim_start_matches("sqlite://");
            for path in [file.to_string(), format!("{file}-wal")] {
                if let Ok(bytes) = std::fs::read(&path) {
                    assert!(
                        !String::from_utf8_lossy(&bytes).contains(JIRA_TOKEN),
                        "token in {path}"
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_gets_the_summary_after_a_failed_revocation() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sn = ServiceNowSim::start(ServiceNowSimConfig {
            password: SN_PASSWORD.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        sn.add_record("sn_hr_core_case", "HRC0001234", "Offboard ivan");
        let plans = plans_dir(dir.path(), &[("ticketed-leaver", PLAN)]);
        let mut config = test_config(&db.url, dir.path(), &plans, None);
        config.tickets.servicenow = Some(servicenow_section(dir.path(), &sn.base_url()));
        let probe = Probe::with_holdings(&["grant", "denied"]);
        probe.script(
            "denied",
            Script {
                permanent: Some("access denied by upstream policy".into()),
                ..Default::default()
            },
        );
        let mut registry = leaver::connectors::build_registry(&config).unwrap();
        registry.register(Arc::new(probe));
        let server = Server::start(App::build_with_registry(config, registry).await.unwrap()).await;

        let run = offboard(
            &server,
            "ivan@example.com",
            json!({"system": "servicenow", "key": "HRC0001234"}),
        )
        .await;
        assert_eq!(run["status"], "partially_failed", "{}: {run:#}", db.kind);
        assert_eq!(step(&run, "denied")["status"], "failed");
        assert_eq!(
            step(&run, "summary")["status"],
            "succeeded",
            "{}: {run:#}",
            db.kind
        );
        assert_eq!(step(&run, "summary")["verified"], true);

        let notes = sn.work_notes("sn_hr_core_case", "HRC0001234");
        assert_eq!(notes.len(), 2, "{}: {notes:#?}", db.kind);
        let summary = notes
            .iter()
            .find(|n| n.value.contains("summary"))
            .expect("summary note");
        assert!(
            summary
                .value
                .contains("Revocations: 1 of 2 succeeded, 1 verified."),
            "{}",
            summary.value
        );
        assert!(
            summary.value.contains("- denied (probe.revoke): failed at")
                && summary.value.contains("access denied by upstream policy"),
            "{}",
            summary.value
        );

        // A ticket in a system that is not configured fails the step, saying so.
        let elsewhere = offboard(
            &server,
            "judy@example.com",
            json!({"system": "jira", "key": "HR-1"}),
        )
        .await;
        let summary = step(&elsewhere, "summary");
        assert_eq!(summary["status"], "failed", "{}: {elsewhere:#}", db.kind);
        assert!(
            summary["error"]
                .as_str()
                .unwrap_or_default()
                .contains("[tickets.jira] is not configured"),
            "{summary:#}"
        );
        for entry in server
            .app
            .store
            .evidence_for_subject(run["id"].as_str().unwrap())
            .await
            .unwrap()
        {
            assert!(!entry.payload.to_string().contains(SN_PASSWORD));
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_jira_token_fails_with_jiras_message_and_no_secret() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let jira = JiraSim::start(JiraSimConfig {
        api_token: "the-real-token".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    jira.add_issue("HR-7", "Offboard").unwrap();
    let plans = plans_dir(dir.path(), &[("ticketed-leaver", PLAN)]);
    let mut config = test_config(&db.url, dir.path(), &plans, None);
    config.tickets.jira = Some(jira_section(dir.path(), &jira.base_url()));
    let mut registry = leaver::connectors::build_registry(&config).unwrap();
    registry.register(Arc::new(Probe::with_holdings(&["grant", "denied"])));
    let server = Server::start(App::build_with_registry(config, registry).await.unwrap()).await;
    let run = offboard(
        &server,
        "kim@example.com",
        json!({"system": "jira", "key": "HR-7"}),
    )
    .await;
    let started = step(&run, "started");
    assert_eq!(started["status"], "failed", "{run:#}");
    assert_eq!(started["attempts"], 1, "401 is permanent: {started:#}");
    let error = started["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("401") && error.contains("Client must be authenticated"),
        "{error}"
    );
    assert!(!error.contains(JIRA_TOKEN));
    assert!(jira.comments("HR-7").is_empty());
    server.stop().await;
}
