//! The dashboard at / over real HTTP, on SQLite and PostgreSQL: signing in with an API
//! token (a server-side session behind an HttpOnly cookie), pages refused without one,
//! sign-out and expiry, the security headers, escaping of hostile values, and what the
//! overview, a run's timeline, the drills and the rotations pages show.
//!
//! The client follows no redirects and carries the session cookie by hand, so every
//! 303 and every Set-Cookie is asserted as the browser would receive it.

mod common;

use common::*;
use leaver::app::App;
use leaver::domain::Role;
use leaver::store::{now_ms, token_hash, DashboardSession, RotationRow};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use reqwest::header::{HeaderMap, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use std::time::Duration;

const HOSTILE_EMAIL: &str = "<script>alert(1)</script>@x.test";
const HOSTILE_NAME: &str = "<img src=x onerror=alert(2)>";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn sim() -> GithubSim {
    let sim = GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.into(),
        ..Default::default()
    })
    .await
    .expect("github sim");
    sim.add_member("acme", "alice-gh", "member");
    sim
}

async fn server(
    db: &TestDb,
    dir: &std::path::Path,
    sim: &GithubSim,
    public_url: Option<&str>,
) -> Server {
    let plans_dir = plans_dir(dir, &[("gh-leaver", GITHUB_PLAN)]);
    let mut config = test_config(&db.url, dir, &plans_dir, Some(&sim.base_url()));
    config.server.public_url = public_url.map(str::to_string);
    Server::start(App::build(config).await.expect("app")).await
}

fn location(headers: &HeaderMap) -> &str {
    headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn set_cookie(headers: &HeaderMap) -> String {
    headers
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn assert_security_headers(headers: &HeaderMap, what: &str) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        get("content-security-policy"),
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'",
        "{what}"
    );
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(get("cache-control"), "no-store", "{what}");
}

/// Sign in with `token`; returns the session cookie's value.
async fn sign_in(server: &Server, token: &str) -> String {
    let response = client()
        .post(format!("{}/login", server.base))
        .form(&[("token", token)])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 303, "a valid token signs in");
    assert_eq!(location(response.headers()), "/");
    let cookie = set_cookie(response.headers());
    let value = cookie
        .strip_prefix("leaver_session=")
        .and_then(|rest| rest.split(';').next())
        .expect("session cookie")
        .to_string();
    assert_eq!(value.len(), 43, "a 256-bit id, base64url: {cookie}");
    value
}

async fn get(server: &Server, path: &str, session: Option<&str>) -> reqwest::Response {
    let mut request = client().get(format!("{}{path}", server.base));
    if let Some(session) = session {
        request = request.header(COOKIE, format!("leaver_session={session}"));
    }
    request.send().await.expect("get")
}

async fn html(server: &Server, path: &str, session: &str) -> String {
    let response = get(server, path, Some(session)).await;
    assert_eq!(response.status(), 200, "{path}");
    assert!(response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html")));
    assert_security_headers(response.headers(), path);
    let body = response.text().await.expect("body");
    assert!(!body.contains("<script"), "{path} has no script at all");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_and_out_with_a_token() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = sim().await;
        let server = server(&db, dir.path(), &sim, None).await;
        let store = &server.app.store;
        let kind = db.kind;

        // Every page needs a session: 303 to the login page (with the headers).
        for path in ["/", "/runs/0193-no-such-run", "/drills", "/rotations"] {
            let response = get(&server, path, None).await;
            assert_eq!(response.status(), 303, "{kind}: {path} without a session");
            assert_eq!(location(response.headers()), "/login", "{kind}: {path}");
            assert_security_headers(response.headers(), path);
        }
        // A made-up cookie is no session either.
        let forged = "A".repeat(43);
        assert_eq!(get(&server, "/", Some(&forged)).await.status(), 303);

        // The login page: a form, no JavaScript, no single sign-on without [ui.oidc].
        let response = get(&server, "/login", None).await;
        assert_eq!(response.status(), 200);
        assert_security_headers(response.headers(), "/login");
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"<form method="post" action="/login">"#));
        assert!(page.contains(r#"name="token""#));
        assert!(!page.contains("/login/oidc"), "{kind}: no OIDC configured");
        assert!(!page.contains("<script"));

        // A wrong token: the form again, 401, and nothing stored.
        let response = client()
            .post(format!("{}/login", server.base))
            .form(&[("token", "lvr_not-a-real-token")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{kind}");
        assert!(response.headers().get(SET_COOKIE).is_none());
        let page = response.text().await.unwrap();
        assert!(page.contains("That token is not valid"), "{page}");
        assert_eq!(store.count_dashboard_sessions().await.unwrap(), 0);
        // No token at all.
        let response = client()
            .post(format!("{}/login", server.base))
            .form(&[("token", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(store.count_dashboard_sessions().await.unwrap(), 0);

        // A viewer token signs in: the cookie is HttpOnly, SameSite=Lax, Path=/, and not
        // Secure over plain http.
        let viewer = server.token(Role::Viewer).await;
        let response = client()
            .post(format!("{}/login", server.base))
            .form(&[("token", viewer.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let cookie = set_cookie(response.headers());
        for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(part), "{kind}: {cookie}");
        }
        assert!(!cookie.contains("Secure"), "{cookie}");
        assert!(
            !cookie.contains(&viewer),
            "the cookie never holds the token"
        );
        let session = cookie
            .strip_prefix("leaver_session=")
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_string();
        assert_eq!(store.count_dashboard_sessions().await.unwrap(), 1);

        let overview = html(&server, "/", &session).await;
        assert!(overview.contains("<h1>Offboardings</h1>"), "{overview}");
        assert!(overview.contains("token:test-viewer (viewer)"));
        assert!(overview.contains("Evidence chain"));
        assert!(overview.contains("verified: chain intact"), "{overview}");

        // Sign out: the row is gone, the cookie cleared, the old id refused.
        let response = client()
            .post(format!("{}/logout", server.base))
            .header(COOKIE, format!("leaver_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        assert_eq!(location(response.headers()), "/login");
        assert!(set_cookie(response.headers()).contains("Max-Age=0"));
        assert_eq!(store.count_dashboard_sessions().await.unwrap(), 0);
        assert_eq!(get(&server, "/", Some(&session)).await.status(), 303);

        // An expired session is refused even though its row is still there.
        let expired = "B".repeat(43);
        store
            .create_dashboard_session(
                &token_hash(&expired),
                &DashboardSession {
                    subject: "token:old".into(),
                    role: Role::Admin,
                    created_at: now_ms() - 10_000,
                    expires_at: now_ms() - 1,
                },
            )
            .await
            .unwrap();
        let response = get(&server, "/", Some(&expired)).await;
        assert_eq!(response.status(), 303, "{kind}: expired session");
        assert_eq!(location(response.headers()), "/login");

        // Several sessions at once (another browser, another role) are independent.
        let admin_session = sign_in(&server, &server.admin_token).await;
        let viewer_session = sign_in(&server, &viewer).await;
        assert!(html(&server, "/", &admin_session)
            .await
            .contains("token:test-admin (admin)"));
        assert_eq!(get(&server, "/", Some(&viewer_session)).await.status(), 200);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_runs_rotations_and_drills_escaped() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = sim().await;
        let server = server(&db, dir.path(), &sim, None).await;
        let kind = db.kind;

        // An offboarding whose identity is hostile HTML (the API accepts it).
        let response = client()
            .post(format!("{}/api/v1/offboardings", server.base))
            .bearer_auth(&server.admin_token)
            .json(&json!({
                "identity": {"email": HOSTILE_EMAIL, "display_name": HOSTILE_NAME,
                             "accounts": {"github": "alice-gh"}},
                "plan": "gh-leaver", "mode": "live",
                "ticket": {"system": "jira", "key": "HR-<b>1</b>"},
                "reason": "resignation \"quoted\""
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            202,
            "{kind}: {:?}",
            response.text().await
        );
        let created: serde_json::Value = response.json().await.unwrap();
        let run_id = created["id"].as_str().unwrap().to_string();
        let run = server.wait_run(&run_id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "completed", "{kind}: {run:#}");

        // An overdue rotation that run asked for.
        let now = now_ms();
        server
            .app
            .store
            .schedule_rotation(
                &RotationRow {
                    owner: Some("platform-team".into()),
                    run_id: run_id.clone(),
                    identity: HOSTILE_EMAIL.into(),
                    ..open_rotation("secret/prod/<db>", now - 3_600_000, now)
                },
                |_| Vec::new(),
            )
            .await
            .unwrap();

        let viewer = server.token(Role::Viewer).await;
        let session = sign_in(&server, &viewer).await;

        let overview = html(&server, "/", &session).await;
        for raw in [HOSTILE_EMAIL, HOSTILE_NAME, "<b>1</b>", "<db>"] {
            assert!(!overview.contains(raw), "{kind}: `{raw}` is escaped");
        }
        assert!(overview.contains("&lt;script&gt;alert(1)&lt;/script&gt;@x.test"));
        assert!(overview.contains("&lt;img src=x onerror=alert(2)&gt;"));
        assert!(overview.contains(&format!(r#"href="/runs/{run_id}""#)));
        assert!(
            overview.contains(r#"<svg class="chart bars""#),
            "a time-to-revoke chart"
        );
        assert!(overview.contains("p50 <strong>"));
        assert!(overview.contains(r#"<div class="n">1</div><div class="l">completed</div>"#));
        assert!(overview.contains(
            r#"<div class="n">1 / 1</div><div class="l">rotations open / overdue</div>"#
        ));
        assert!(overview.contains("verified: chain intact"));

        // The run's page: every step in the timeline and the table.
        let steps = server.app.store.steps_for_run(&run_id).await.unwrap();
        assert_eq!(steps.len(), 2, "the GitHub step and the sweep");
        let page = html(&server, &format!("/runs/{run_id}"), &session).await;
        assert!(!page.contains(HOSTILE_EMAIL) && !page.contains(HOSTILE_NAME));
        assert!(!page.contains("<b>1</b>") && !page.contains("\"quoted\""));
        assert!(page.contains("HR-&lt;b&gt;1&lt;/b&gt;"));
        assert_eq!(
            page.matches(r#"<rect class="bar "#).count(),
            steps.len(),
            "{kind}: one bar per step"
        );
        assert_eq!(
            page.matches(r#"<tr class="step-row">"#).count(),
            steps.len()
        );
        for step in &steps {
            assert!(page.contains(&format!("<code>{}</code>", step.step_id)));
            assert!(page.contains(&format!(
                "{} · {} · verified ✓",
                step.step_id, step.connector
            )));
        }
        assert!(page.contains(r#"<span class="badge ok">completed</span>"#));

        // An unknown run is a 404 page.
        let response = get(&server, "/runs/no-such-run", Some(&session)).await;
        assert_eq!(response.status(), 404);
        assert_security_headers(response.headers(), "404");
        assert!(response.text().await.unwrap().contains("Run not found"));

        // Rotations: the overdue one, highlighted, escaped.
        let page = html(&server, "/rotations", &session).await;
        assert!(
            page.contains(r#"<tr class="rotation-row overdue">"#),
            "{page}"
        );
        assert!(page.contains("secret/prod/&lt;db&gt;"));
        assert!(page.contains("platform-team"));
        assert!(page.contains("overdue by 1 h"));

        // Drills: none yet.
        let page = html(&server, "/drills", &session).await;
        assert!(page.contains("No drill yet"));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_behind_https_and_sso_is_offered_when_configured() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let plans_dir = plans_dir(dir.path(), &[("gh-leaver", GITHUB_PLAN)]);
    let mut config = test_config(&db.url, dir.path(), &plans_dir, Some(&sim.base_url()));
    config.server.public_url = Some("https://leaver.example.com".into());
    config.ui.session_ttl = "30m".into();
    config.ui.oidc = Some(leaver::ui::OidcSection {
        issuer: "https://login.example.com".into(),
        client_id: "leaver".into(),
        client_secret: {
            let path = dir.path().join("oidc-secret");
            std::fs::write(&path, "unused-in-this-test").unwrap();
            format!("file:{}", path.display())
        },
        redirect_url: "https://leaver.example.com/login/oidc/callback".into(),
        allowed_email_domains: vec!["example.com".into()],
    });
    let server = Server::start(App::build(config).await.expect("app")).await;
    let page = get(&server, "/login", None).await.text().await.unwrap();
    assert!(page.contains(r#"<a href="/login/oidc">Sign in with single sign-on</a>"#));
    let response = client()
        .post(format!("{}/login", server.base))
        .form(&[("token", server.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(response.headers());
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert!(cookie.contains("Max-Age=1800"), "{cookie}");
    server.stop().await;
}

/// Run raw SQL on the evidence table with its append-only triggers out of the way, as
/// someone with database access could.
async fn tamper(store: &leaver::store::Store, sql: &str) {
    match store.dialect() {
        leaver::store::Dialect::Sqlite => {
            for statement in [
                "DROP TRIGGER evidence_refuse_update",
                "DROP TRIGGER evidence_refuse_delete",
                sql,
            ] {
                sqlx::query(statement)
                    .execute(store.pool())
                    .await
                    .expect(statement);
            }
        }
        leaver::store::Dialect::Postgres => {
            let mut tx = store.pool().begin().await.unwrap();
            for statement in [
                "ALTER TABLE evidence DISABLE TRIGGER USER",
                sql,
                "ALTER TABLE evidence ENABLE TRIGGER USER",
            ] {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .expect(statement);
            }
            tx.commit().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_run_and_a_tampered_ledger_show_on_the_overview() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = sim().await;
        let server = server(&db, dir.path(), &sim, None).await;
        let kind = db.kind;

        // Entered two hours late: the plan's 15-minute SLA had passed before it started.
        let effective = chrono::Utc::now() - chrono::Duration::hours(2);
        let response = client()
            .post(format!("{}/api/v1/offboardings", server.base))
            .bearer_auth(&server.admin_token)
            .json(&json!({
                "identity": {"email": "late@example.com", "accounts": {"github": "alice-gh"}},
                "plan": "gh-leaver", "effective_at": effective.to_rfc3339()
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{kind}");
        let created: serde_json::Value = response.json().await.unwrap();
        let run_id = created["id"].as_str().unwrap().to_string();
        let run = server.wait_run(&run_id, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "completed", "{kind}: {run:#}");
        assert_eq!(run["sla_breached"], true, "{kind}: the API agrees: {run:#}");

        // Someone rewrites history.
        assert!(server.app.ledger.verify_store().await.unwrap().ok);
        tamper(
            &server.app.store,
            "UPDATE evidence SET payload = '{\"note\":\"nothing happened\"}' WHERE seq = 2",
        )
        .await;

        let session = sign_in(&server, &server.admin_token).await;
        let overview = html(&server, "/", &session).await;
        assert!(
            overview.contains(
                r#"<div class="card alert"><div class="n">1</div><div class="l">SLA breaches</div>"#
            ),
            "{kind}: {overview}"
        );
        let sla = overview
            .split(r#"<section id="sla">"#)
            .nth(1)
            .and_then(|rest| rest.split("</section>").next())
            .expect("SLA section");
        assert!(sla.contains(&format!(r#"href="/runs/{run_id}""#)), "{sla}");
        assert!(
            overview.contains(
                r#"<span class="bad-text" id="evidence-status">verification FAILED</span>"#
            ),
            "{kind}: {overview}"
        );
        assert!(overview.contains("entry 2"), "the first failure is named");
        assert!(!overview.contains("verified: chain intact"));

        let page = html(&server, &format!("/runs/{run_id}"), &session).await;
        assert!(
            page.contains(r#"<span class="bad-text">breached</span>"#),
            "{page}"
        );
        server.stop().await;
    }
}
