//! The simulated Vault over real HTTP, driven with a plain reqwest client.

use leaver_sim::vault::{VaultSim, VaultSimConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TOKEN: &str = "hvs.sim-test-operator-0001";

async fn sim() -> VaultSim {
    VaultSim::start(VaultSimConfig {
        token: TOKEN.into(),
        ..Default::default()
    })
    .await
    .expect("sim starts")
}

async fn call(
    sim: &VaultSim,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Client::new().request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}/v1/{path}", sim.base_url()),
    );
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

async fn op(sim: &VaultSim, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    call(sim, method, path, body, Some(TOKEN)).await
}

#[tokio::test]
async fn bad_or_missing_token_is_permission_denied() {
    let sim = sim().await;
    for token in [None, Some("hvs.wrong")] {
        let (status, body) = call(&sim, "GET", "sys/auth", None, token).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, json!({"errors": ["permission denied"]}));
    }
    let (status, _) = call(&sim, "GET", "sys/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let records = sim.requests();
    assert!(records
        .iter()
        .all(|r| !format!("{r:?}").contains("hvs.wrong")));
}

#[tokio::test]
async fn entity_lookup_read_disable_and_vault_status_codes() {
    let sim = sim().await;
    let root = sim.root();
    let alice = root.add_entity("alice");
    root.add_alias(&alice, "oidc", "alice@example.com").unwrap();
    let oidc = root.mount_accessor("oidc").unwrap();

    let (status, body) = op(
        &sim,
        "POST",
        "identity/lookup/entity",
        Some(json!({"alias_name": "alice@example.com", "alias_mount_accessor": oidc})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], alice);
    assert_eq!(body["data"]["aliases"][0]["mount_path"], "auth/oidc/");

    let (status, body) = op(
        &sim,
        "POST",
        "identity/lookup/entity",
        Some(json!({"alias_name": "nobody@example.com", "alias_mount_accessor": oidc})),
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = op(
        &sim,
        "POST",
        "identity/lookup/entity",
        Some(json!({"alias_name": "alice@example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .contains("alias_mount_accessor"));

    let (status, body) = op(
        &sim,
        "POST",
        &format!("identity/entity/id/{alice}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(root.is_disabled(&alice), Some(true));
    let (_, body) = op(&sim, "GET", &format!("identity/entity/id/{alice}"), None).await;
    assert_eq!(body["data"]["disabled"], true);

    let (status, body) = op(&sim, "GET", "identity/entity/id/nope", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"errors": []}))
    );
    let (status, body) = op(
        &sim,
        "POST",
        "identity/entity/id/nope",
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"errors": ["entity not found from id"]}));
    let (status, body) = op(&sim, "GET", "no/such/path", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .contains("no handler for route"));
}

#[tokio::test]
async fn tokens_list_lookup_and_revoke_with_children() {
    let sim = sim().await;
    let root = sim.root();
    let alice = root.add_entity("alice");
    let parent = root.add_token(&alice, "auth/oidc/oidc/callback");
    let child = root.add_child_token(&parent.accessor).unwrap();

    for (method, path) in [
        ("LIST", "auth/token/accessors"),
        ("GET", "auth/token/accessors?list=true"),
    ] {
        let (status, body) = op(&sim, method, path, None).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}");
        let keys: Vec<&str> = body["data"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(keys.len(), 3, "operator + parent + child: {keys:?}");
        assert!(keys.contains(&parent.accessor.as_str()));
    }
    let (status, body) = op(
        &sim,
        "POST",
        "auth/token/lookup-accessor",
        Some(json!({"accessor": child.accessor})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["entity_id"], alice);
    assert_eq!(
        body["data"]["id"], "",
        "lookup-accessor never reveals the token"
    );
    assert!(!body.to_string().contains(&child.token));

    // The user's own token works until revoked.
    let (status, _) = call(
        &sim,
        "GET",
        "auth/token/lookup-self",
        None,
        Some(&child.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = op(
        &sim,
        "POST",
        "auth/token/revoke-accessor",
        Some(json!({"accessor": parent.accessor})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        !root.token_is_live(&child.accessor),
        "children go with the parent"
    );
    assert_eq!(root.revoked_tokens(), 2);
    let (status, _) = call(
        &sim,
        "GET",
        "auth/token/lookup-self",
        None,
        Some(&child.token),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = op(
        &sim,
        "POST",
        "auth/token/revoke-accessor",
        Some(json!({"accessor": parent.accessor})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"errors": ["invalid accessor"]}));
}

#[tokio::test]
async fn disabled_entity_tokens_are_unusable_but_not_revoked() {
    let sim = sim().await;
    let root = sim.root();
    root.add_userpass_user("userpass", "bob", "pw", &["dev"]);
    let (status, body) = call(
        &sim,
        "POST",
        "auth/userpass/login/bob",
        Some(json!({"password": "pw"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = body["auth"]["client_token"].as_str().unwrap().to_string();
    let entity = body["auth"]["entity_id"].as_str().unwrap().to_string();
    let (status, _) = call(&sim, "GET", "auth/token/lookup-self", None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    op(
        &sim,
        "POST",
        &format!("identity/entity/id/{entity}"),
        Some(json!({"disabled": true})),
    )
    .await;
    let (status, _) = call(&sim, "GET", "auth/token/lookup-self", None, Some(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        root.live_tokens(&entity).len(),
        1,
        "still live, just unusable"
    );
    // A non-operator token cannot call admin endpoints.
    let (status, _) = call(&sim, "GET", "sys/auth", None, Some(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn leases_revoke_prefix_and_lookup() {
    let sim = sim().await;
    let root = sim.root();
    root.add_userpass_user("userpass", "bob", "pw", &[]);
    root.add_userpass_user("userpass", "bobby", "pw", &[]);
    let (bob, _) = root.login_userpass("userpass", "bob", "pw").unwrap();
    let (bobby, _) = root.login_userpass("userpass", "bobby", "pw").unwrap();
    root.add_lease("database/creds/ro/x1", Some(&bob.accessor));

    let (status, body) = op(&sim, "LIST", "sys/leases/lookup/auth/userpass/login/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["keys"], json!(["bob/", "bobby/"]));
    let (status, body) = op(
        &sim,
        "PUT",
        "sys/leases/revoke-prefix/auth/userpass/login/bob",
        None,
    )
    .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert!(!root.token_is_live(&bob.accessor));
    assert!(
        root.token_is_live(&bobby.accessor),
        "bobby is not under bob/"
    );
    assert!(
        root.leases_with_prefix("database/").is_empty(),
        "revoked with its token"
    );
    let (status, body) = op(
        &sim,
        "LIST",
        "sys/leases/lookup/auth/userpass/login/bob/",
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"errors": []}))
    );
    let (status, body) = op(
        &sim,
        "PUT",
        "sys/leases/lookup",
        Some(json!({"lease_id": "database/creds/ro/x1"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"errors": ["invalid lease"]}));
}

#[tokio::test]
async fn userpass_users_and_namespaces() {
    let sim = sim().await;
    sim.root().add_userpass_user("userpass", "Carol", "pw", &[]);
    let (status, body) = op(&sim, "GET", "auth/userpass/users/carol", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !body.to_string().contains("\"pw\""),
        "passwords are never rendered"
    );
    let (status, body) = op(&sim, "LIST", "auth/userpass/users", None).await;
    assert_eq!(
        (status, body["data"]["keys"].clone()),
        (StatusCode::OK, json!(["carol"]))
    );
    for _ in 0..2 {
        let (status, _) = op(&sim, "DELETE", "auth/userpass/users/carol", None).await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "delete is 204 even when absent"
        );
    }
    let (status, _) = op(&sim, "GET", "auth/userpass/users/carol", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let team = sim.namespace("team-a");
    let dave = team.add_entity("dave");
    let client = Client::new();
    let url = format!("{}/v1/identity/entity/id/{dave}", sim.base_url());
    let in_ns = client
        .get(&url)
        .header("X-Vault-Token", TOKEN)
        .header("X-Vault-Namespace", "team-a/")
        .send()
        .await
        .unwrap();
    assert_eq!(in_ns.status(), StatusCode::OK);
    let in_root = client
        .get(&url)
        .header("X-Vault-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        in_root.status(),
        StatusCode::NOT_FOUND,
        "entities are per namespace"
    );
    let unknown = client
        .get(&url)
        .header("X-Vault-Token", TOKEN)
        .header("X-Vault-Namespace", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        sim.requests().last().unwrap().namespace.as_deref(),
        Some("nope")
    );
}

#[tokio::test]
async fn faults_are_rendered_in_vaults_shapes() {
    let sim = sim().await;
    sim.faults().fail_next(1, 503);
    let (status, body) = op(&sim, "GET", "sys/auth", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"errors": ["Vault is sealed"]}));
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(2));
    let response = Client::new()
        .get(format!("{}/v1/sys/auth", sim.base_url()))
        .header("X-Vault-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .contains("rate limit quota exceeded"));

    sim.faults().hang_next(1, Duration::from_secs(30));
    let started = Instant::now();
    let result = Client::new()
        .get(format!("{}/v1/sys/auth", sim.base_url()))
        .header("X-Vault-Token", TOKEN)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.is_err(), "the hang outlasts the client's timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _) = op(&sim, "GET", "sys/auth", None).await;
    assert_eq!(status, StatusCode::OK, "faults were used up");
    sim.shutdown().await;
}
