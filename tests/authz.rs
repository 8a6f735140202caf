//! The authorization matrix: every /api route against every caller — no token, a
//! malformed or unknown token, and each role (viewer < operator < admin). Below the
//! route's role the answer is 401 (no or bad token) or 403 (too small a role) with the
//! JSON error body, and nothing changes; at or above it the route works. Hook and SCIM
//! routes use their own credentials and are covered by their own tests.

mod common;

use common::probe::Probe;
use common::*;
use leaver::app::App;
use leaver::domain::Role;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const PLAN: &str = r#"
name: authz-plan
trigger: { events: [manual] }
steps:
  - id: grant
    uses: probe.revoke
    with: { key: grant }
"#;

/// One route: method, path, body, and the least role it needs.
struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
    needs: Role,
}

fn routes(run_id: &str) -> Vec<Route> {
    let route = |method: Method, path: &str, body: Option<Value>, needs: Role| Route {
        method,
        path: path.to_string(),
        body,
        needs,
    };
    vec![
        route(
            Method::POST,
            "/api/v1/offboardings",
            Some(
                json!({"identity": {"email": "authz@example.com"}, "plan": "authz-plan", "mode": "dry_run"}),
            ),
            Role::Operator,
        ),
        route(Method::GET, "/api/v1/offboardings", None, Role::Viewer),
        route(
            Method::GET,
            &format!("/api/v1/offboardings/{run_id}"),
            None,
            Role::Viewer,
        ),
        route(
            Method::POST,
            &format!("/api/v1/offboardings/{run_id}/cancel"),
            None,
            Role::Operator,
        ),
        route(
            Method::GET,
            "/api/v1/identities/authz@example.com/accounts",
            None,
            Role::Viewer,
        ),
        route(
            Method::PUT,
            "/api/v1/identities/authz@example.com/accounts",
            Some(json!({"accounts": {"github": "authz-gh"}})),
            Role::Admin,
        ),
        route(
            Method::GET,
            "/api/v1/identities/authz@example.com/secret-access?since=90d",
            None,
            Role::Viewer,
        ),
        route(
            Method::POST,
            "/api/v1/drills",
            Some(json!({"plan": "authz-plan", "identity": "canary@example.com"})),
            Role::Operator,
        ),
        route(
            Method::GET,
            "/api/v1/drills?plan=authz-plan",
            None,
            Role::Viewer,
        ),
        route(Method::GET, "/api/v1/evidence/export", None, Role::Viewer),
        route(Method::GET, "/api/v1/evidence/verify", None, Role::Viewer),
    ]
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Viewer => 1,
        Role::Operator => 2,
        Role::Admin => 3,
    }
}

async fn call(base: &str, route: &Route, token: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client.request(route.method.clone(), format!("{base}{}", route.path));
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    if let Some(body) = &route.body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// What a caller may change, to check that refused calls changed nothing.
async fn state(server: &Server) -> (usize, usize, i64) {
    let runs = server
        .app
        .store
        .list_runs(&leaver::store::RunFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let cancelled = runs
        .iter()
        .filter(|r| r.status.as_str() == "cancelled")
        .count();
    let mapped = server
        .app
        .store
        .mapped_accounts("authz@example.com")
        .await
        .unwrap()
        .len();
    (runs.len(), cancelled, mapped as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_refuses_callers_below_its_role_and_changes_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let plans = plans_dir(dir.path(), &[("authz-plan", PLAN)]);
        let mut config = test_config(&db.url, dir.path(), &plans, None);
        // No workers: the run stays cancellable for the whole matrix.
        config.engine.workers = false;
        let mut registry = leaver::connectors::build_registry(&config).unwrap();
        registry.register(Arc::new(Probe::with_holdings(&["grant"])));
        let server = Server::start(App::build_with_registry(config, registry).await.unwrap()).await;
        let created: Value = reqwest::Client::new()
            .post(format!("{}/api/v1/offboardings", server.base))
            .bearer_auth(&server.admin_token)
            .json(&json!({"identity": {"email": "target@example.com"}, "plan": "authz-plan"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let run_id = created["id"].as_str().unwrap().to_string();
        let viewer = server.token(Role::Viewer).await;
        let operator = server.token(Role::Operator).await;
        let admin = server.token(Role::Admin).await;
        let forged = format!("Bearer {}x", &admin[..admin.len() - 1]);
        let callers: Vec<(&str, Option<String>, Option<Role>)> = vec![
            ("no token", None, None),
            ("not a bearer token", Some(format!("Basic {admin}")), None),
            ("unknown token", Some(forged), None),
            (
                "viewer",
                Some(format!("Bearer {viewer}")),
                Some(Role::Viewer),
            ),
            (
                "operator",
                Some(format!("Bearer {operator}")),
                Some(Role::Operator),
            ),
            ("admin", Some(format!("Bearer {admin}")), Some(Role::Admin)),
        ];

        for route in routes(&run_id) {
            // Refused callers first, so the route's effect is checked untouched.
            for (who, token, role) in &callers {
                if role.is_some_and(|r| rank(r) >= rank(route.needs)) {
                    continue;
                }
                let before = state(&server).await;
                let (status, body) = call(&server.base, &route, token.as_deref()).await;
                let expected = if role.is_some() { 403 } else { 401 };
                assert_eq!(
                    status, expected,
                    "{}: {who} {} {}: {body}",
                    db.kind, route.method, route.path
                );
                let error: Value = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("{who} {}: not JSON ({e}): {body}", route.path));
                assert!(error["error"]["code"].is_string(), "{body}");
                assert!(error["error"]["message"].is_string(), "{body}");
                assert!(
                    !body.contains(&admin) && !body.contains(&viewer),
                    "a token echoed: {body}"
                );
                assert_eq!(
                    state(&server).await,
                    before,
                    "{}: {who} changed something via {}",
                    db.kind,
                    route.path
                );
            }
            for (who, token, role) in &callers {
                if !role.is_some_and(|r| rank(r) >= rank(route.needs)) {
                    continue;
                }
                let (status, body) = call(&server.base, &route, token.as_deref()).await;
                assert!(
                    status < 400 || (route.path.ends_with("/cancel") && status == 409),
                    "{}: {who} {} {}: {status} {body}",
                    db.kind,
                    route.method,
                    route.path
                );
            }
        }
        server.stop().await;
    }
}
