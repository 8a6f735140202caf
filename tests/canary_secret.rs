//! A canary secret must never appear anywhere Leaver writes. Every secret-bearing
//! setting (Okta hook secret, SCIM token, Entra client secret and clientState, GitHub,
//! Vault and GitLab tokens, Jira API token, ServiceNow password) holds a value with a
//! unique canary string. The test runs the shipped standard plan against the
//! simulators (with an injected upstream fault), a second plan whose upstreams answer
//! every request with an error echoing the request (headers, body: the credentials),
//! wrong-secret hook deliveries and bad-token API calls carrying the canary, and then
//! looks for it in the captured logs (JSON, debug level), every HTTP response Leaver
//! gave (status line, headers, body), every column of every table, and the evidence
//! export bundle — on SQLite and PostgreSQL.

mod common;
#[path = "../connectors/aws_iam/tests/support/moto.rs"]
mod moto;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine as _;
use common::*;
use leaver::app::App;
use leaver::config::{
    AwsIamSection, EntraSection, GitlabSection, JiraSection, OktaSection, ScimProvider,
    ScimSection, ServiceNowSection, VaultSection,
};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use leaver_sim::jira::{JiraSim, JiraSimConfig};
use leaver_sim::okta::{KeyPair, OktaSim, OktaSimConfig};
use leaver_sim::vault::{VaultSim, VaultSimConfig};
use moto::{Moto, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Letters and digits only: it survives URL and form encoding unchanged.
const CANARY: &str = "CANARYq7Zx4Lm9Tb2";
const OKTA_CLIENT_ID: &str = "0oaleaversvc000001";
const OKTA_KEY_ID: &str = "leaver-key-1";
const JIRA_EMAIL: &str = "leaver-bot@example.com";
const SN_USER: &str = "leaver.integration";
const DELIVERY: &str = include_str!("fixtures/idp/okta-event-hook-delivery.json");
const NOTIFICATION: &str = include_str!("fixtures/idp/graph-change-notification.json");
const USER: &str = include_str!("scim/scim-user.json");

fn secret(name: &str) -> String {
    format!("{name}-{CANARY}-value")
}

/// What must never appear: the canary, and the Basic credentials built from it
/// (base64 hides the canary inside an `Authorization` header).
fn forbidden() -> Vec<String> {
    let b64 = |user: &str, password: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    };
    vec![
        CANARY.to_string(),
        b64(JIRA_EMAIL, &secret("jira")),
        b64(SN_USER, &secret("servicenow")),
    ]
}

const ECHO_PLAN: &str = r#"
name: echo-leaver
trigger: { events: [manual] }
steps:
  - id: entra
    uses: entra.revoke_sessions
    retry: { max_attempts: 1 }
  - id: gitlab
    uses: gitlab.block_user
    retry: { max_attempts: 1 }
  - id: ticket
    uses: ticket.update
    needs: [entra, gitlab]
    when: always
    retry: { max_attempts: 1 }
"#;

/// Everything Leaver logged, as JSON lines at debug level.
fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = buffer.clone();
            // The simulators are not Leaver: what they log is their business.
            let filter = tracing_subscriber::EnvFilter::new("debug,leaver_sim=off");
            tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter)
                .with_writer(move || LogWriter(writer.clone()))
                .init();
            buffer
        })
        .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An upstream that answers every request 400 with the request echoed back in the
/// fields each vendor's error body has (OAuth `error_description`, GitLab `message`,
/// ServiceNow `error.message`/`detail`).
async fn echo_upstream() -> String {
    async fn echo(
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        let mut text = format!("{method} {uri}\n");
        for (name, value) in &headers {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        text.push_str(&String::from_utf8_lossy(&body));
        let body = if uri.path().contains("oauth2") {
            json!({"error": "invalid_client", "error_description": text, "error_codes": [7000215]})
        } else {
            json!({
                "message": text,
                "error": {"message": text, "detail": text},
                "errors": [text],
            })
        };
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    format!("file:{}", path.display())
}

/// Every response Leaver gave: status, headers and body, as text.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn record(&mut self, what: &str, response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let mut text = format!("{what}: {status}\n");
        for (name, value) in response.headers() {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = response.text().await.unwrap_or_default();
        text.push_str(&body);
        self.0.push(text);
        (status, body)
    }
}

/// Poll a run until it ends, recording every answer.
async fn wait_run(seen: &mut Seen, server: &Server, id: &str) -> Value {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let response = client
            .get(format!("{}/api/v1/offboardings/{id}", server.base))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        let (_, body) = seen.record("GET run", response).await;
        let run: Value = serde_json::from_str(&body).unwrap_or_default();
        if matches!(
            run["status"].as_str(),
            Some("completed" | "failed" | "partially_failed" | "cancelled")
        ) {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} did not end: {run:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every text and blob value of every table, as `table.column: value` lines.
async fn dump_database(server: &Server, postgres: bool) -> Vec<String> {
    use sqlx::Row;
    let pool = server.app.store.pool();
    // (table, column, an SQL expression giving the value's bytes in hex)
    let columns: Vec<(String, String, String)> = if postgres {
        sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS d \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let column = r.get::<String, _>("c");
            let hex = if r.get::<String, _>("d") == "bytea" {
                format!("encode(\"{column}\", 'hex')")
            } else {
                format!("encode(convert_to(CAST(\"{column}\" AS TEXT), 'UTF8'), 'hex')")
            };
            (r.get::<String, _>("t"), column, hex)
        })
        .collect()
    } else {
        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect();
        let mut columns = Vec::new();
        for table in tables {
            let rows = sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(pool)
                .await
                .unwrap();
            for row in rows {
                let column = row.get::<String, _>("name");
                let hex = format!("hex(\"{column}\")");
                columns.push((table.clone(), column, hex));
            }
        }
        columns
    };
    assert!(
        columns.len() > 20,
        "the dump found too few columns: {columns:?}"
    );
    let mut values = Vec::new();
    for (table, column, hex) in columns {
        // Every value as its bytes (text, blob, number alike), read leniently as UTF-8.
        let sql = format!("SELECT {hex} AS v FROM \"{table}\"");
        let rows = sqlx::query(&sql).fetch_all(pool).await.unwrap();
        for row in rows {
            let value = row
                .try_get::<Option<String>, _>("v")
                .unwrap()
                .unwrap_or_default();
            let bytes = hex::decode(value.trim()).unwrap();
            values.push(format!(
                "{table}.{column}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
    }
    values
}

fn assert_clean(kind: &str, place: &str, texts: &[String]) {
    for text in texts {
        for needle in forbidden() {
            assert!(
                !text.contains(&needle),
                "{kind}: the canary reached {place}:\n{}",
                excerpt(text, &needle)
            );
        }
    }
}

fn excerpt(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(300)
        .map_or(0, |(i, _)| i);
    let end = text[at..]
        .char_indices()
        .nth(300)
        .map_or(text.len(), |(i, _)| at + i);
    text[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_secret_never_reaches_logs_responses_the_database_or_the_evidence() {
    let logs = log_buffer();
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let keys = KeyPair::generate_rsa().expect("rsa key");
    let echo = echo_upstream().await;
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = Seen::default();

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
        okta.add_session(&alice_okta);
        okta.add_refresh_token(&alice_okta, "0oaslack", &["openid", "offline_access"]);

        let github = GithubSim::start(GithubSimConfig {
            token: secret("github"),
            ..Default::default()
        })
        .await
        .unwrap();
        github.add_member("acme", "alice-gh", "member");
        github.add_email_invitation("acme", "alice@example.com", false);
        // A transient upstream failure on the way: retried, and its error recorded.
        github.faults().fail_next(1, 503);

        let aws = Moto::start(&repo_path(".")).await;
        aws.seed_full_user("alice", Some("alice@example.com")).await;

        let vault = VaultSim::start(VaultSimConfig {
            token: secret("vault"),
            ..Default::default()
        })
        .await
        .unwrap();
        let root = vault.root();
        root.add_userpass_user("userpass", "alice", "alice-vault-pw", &["dev"]);
        let (_, alice_entity) = root
            .login_userpass("userpass", "alice", "alice-vault-pw")
            .unwrap();
        vault.faults().fail_next(1, 500);

        let jira = JiraSim::start(JiraSimConfig {
            email: JIRA_EMAIL.into(),
            api_token: secret("jira"),
            ..Default::default()
        })
        .await
        .unwrap();
        jira.add_issue("HR-4312", "Offboard Alice Example").unwrap();

        let plans = plans_dir(
            dir.path(),
            &[
                (
                    "standard-leaver",
                    &std::fs::read_to_string(repo_path("workflows/standard-leaver.yaml")).unwrap(),
                ),
                ("echo-leaver", ECHO_PLAN),
            ],
        );
        let mut config = test_config(&db.url, dir.path(), &plans, Some(&github.base_url()));
        config.engine.step_timeout = "60s".into();
        if let Some(section) = config.connectors.github.as_mut() {
            section.token = secret_file(dir.path(), "github-token", &secret("github"));
        }
        config.idp.okta = Some(OktaSection {
            org_url: Some(okta.base_url()),
            hook_secret: secret_file(dir.path(), "okta-hook", &secret("okta-hook")),
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
        config.idp.entra = Some(EntraSection {
            tenant_id: "00000000-1111-2222-3333-444444444444".into(),
            authority_url: echo.clone(),
            graph_url: echo.clone(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: secret_file(dir.path(), "entra-secret", &secret("entra-secret")),
            client_state: secret_file(dir.path(), "entra-state", &secret("entra-state")),
            reconcile_every: "12h".into(),
            request_timeout: "5s".into(),
        });
        config.scim = Some(ScimSection {
            token: secret_file(dir.path(), "scim-token", &secret("scim")),
            provider: ScimProvider::Entra,
            deactivation_grace: "0s".into(),
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
            token: secret_file(dir.path(), "vault-token", &secret("vault")),
            namespace: None,
            request_timeout: "5s".into(),
        });
        config.connectors.gitlab = Some(GitlabSection {
            api_url: format!("{echo}/api/v4"),
            token: secret_file(dir.path(), "gitlab-token", &secret("gitlab")),
            request_timeout: "5s".into(),
        });
        config.tickets.jira = Some(JiraSection {
            base_url: jira.base_url(),
            email: JIRA_EMAIL.into(),
            api_token: secret_file(dir.path(), "jira-token", &secret("jira")),
            request_timeout: "5s".into(),
        });
        config.tickets.servicenow = Some(ServiceNowSection {
            instance_url: echo.clone(),
            username: SN_USER.into(),
            password: secret_file(dir.path(), "servicenow-password", &secret("servicenow")),
            table: "sn_hr_core_case".into(),
            request_timeout: "5s".into(),
        });
        let server = Server::start(App::build(config).await.unwrap()).await;
        let client = reqwest::Client::new();
        let api = |path: &str| format!("{}/api/v1{path}", server.base);

        // 1. The standard plan, end to end, through faults the engine retries.
        let response = client
            .post(api("/offboardings"))
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
            .unwrap();
        let (status, body) = seen.record("POST standard", response).await;
        assert!(matches!(status, 201 | 202), "{}: {status} {body}", db.kind);
        let run_id = serde_json::from_str::<Value>(&body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let run = wait_run(&mut seen, &server, &run_id).await;
        assert_eq!(run["status"], "completed", "{}: {run:#}", db.kind);

        // 2. Upstreams that echo the request (credentials included) into their errors.
        let response = client
            .post(api("/offboardings"))
            .bearer_auth(&server.admin_token)
            .json(&json!({
                "identity": {
                    "email": "erin@example.com",
                    "accounts": {"gitlab": "erin", "entra": "9a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"}
                },
                "plan": "echo-leaver",
                "ticket": {"system": "servicenow", "key": "HRC0010001"},
            }))
            .send()
            .await
            .unwrap();
        let (status, body) = seen.record("POST echo", response).await;
        assert!(matches!(status, 201 | 202), "{}: {status} {body}", db.kind);
        let echo_run = serde_json::from_str::<Value>(&body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let run = wait_run(&mut seen, &server, &echo_run).await;
        assert_eq!(run["status"], "failed", "{}: {run:#}", db.kind);

        // 3. Hooks with the right credentials (nothing they deliver starts a run), and
        //    with wrong ones that carry the canary.
        let mut quiet: Value = serde_json::from_str(DELIVERY).unwrap();
        for event in quiet["data"]["events"].as_array_mut().unwrap() {
            event["eventType"] = json!("user.session.start");
        }
        for presented in [
            secret("okta-hook"),
            format!("{CANARY}-wrong"),
            "wrong".into(),
        ] {
            let response = client
                .post(format!("{}/hooks/okta", server.base))
                .header("Authorization", presented)
                .header("Content-Type", "application/json")
                .body(quiet.to_string())
                .send()
                .await
                .unwrap();
            seen.record("POST /hooks/okta", response).await;
            let response = client
                .get(format!("{}/hooks/okta", server.base))
                .header("Authorization", secret("okta-hook"))
                .header("x-okta-verification-challenge", "abc")
                .send()
                .await
                .unwrap();
            seen.record("GET /hooks/okta", response).await;
        }
        for state in [secret("entra-state"), format!("{CANARY}-forged")] {
            let mut batch: Value = serde_json::from_str(NOTIFICATION).unwrap();
            batch["value"][0]["clientState"] = json!(state);
            let response = client
                .post(format!("{}/hooks/entra", server.base))
                .header("Content-Type", "application/json")
                .body(batch.to_string())
                .send()
                .await
                .unwrap();
            seen.record("POST /hooks/entra", response).await;
        }
        for token in [secret("scim"), format!("{CANARY}-bad")] {
            let response = client
                .post(format!("{}/scim/v2/Users", server.base))
                .bearer_auth(token)
                .header("Content-Type", "application/scim+json")
                .body(USER)
                .send()
                .await
                .unwrap();
            seen.record("POST /scim/v2/Users", response).await;
        }
        for path in ["/offboardings", "/evidence/export", "/rotations"] {
            let response = client
                .get(api(path))
                .bearer_auth(format!("{CANARY}-not-a-token"))
                .send()
                .await
                .unwrap();
            let (status, _) = seen.record("bad token", response).await;
            assert_eq!(status, 401, "{}", db.kind);
        }
        // The Graph notification that got in is drained (Graph is the echo upstream):
        // give the drainer a pass.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::time::Instant::now() < deadline {
            let failed: i64 = {
                use sqlx::Row;
                sqlx::query("SELECT COUNT(*) AS n FROM entra_notifications WHERE attempts > 0")
                    .fetch_one(server.app.store.pool())
                    .await
                    .unwrap()
                    .get("n")
            };
            if failed > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // 4. The evidence export bundle.
        let response = client
            .get(api("/evidence/export"))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        let (status, bundle) = seen.record("GET /evidence/export", response).await;
        assert_eq!(status, 200, "{}", db.kind);
        assert!(bundle.contains("step.result"), "{}: {bundle}", db.kind);
        assert_clean(db.kind, "the evidence export", &[bundle]);

        // 5. Every response, every stored value, every log line.
        assert_clean(db.kind, "an HTTP response", &seen.0);
        let values = dump_database(&server, db.is_postgres()).await;
        assert_clean(db.kind, "the database", &values);
        server.stop().await;
        let captured = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert!(
            captured.contains("\"level\":\"DEBUG\""),
            "the log capture saw no debug line"
        );
        assert_clean(db.kind, "the logs", &[captured]);
    }
}
