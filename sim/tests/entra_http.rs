//! The simulated Entra tenant over real HTTP: the token endpoint, Graph's users, delta
//! and subscriptions, and what it POSTs to subscribers (validation, change and lifecycle
//! notifications), driven with a plain reqwest client and a small axum receiver.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode as AxStatus};
use axum::response::{IntoResponse, Response};
use leaver_sim::entra::{DeliveryKind, EntraSim, EntraSimConfig, Presence, Throttle};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "entra-sim-secret-canary-93d1";
const SCOPE: &str = "https://graph.microsoft.com/.default";

fn config() -> EntraSimConfig {
    EntraSimConfig {
        client_secret: SECRET.into(),
        delivery_retries: vec![Duration::from_millis(100), Duration::from_millis(100)],
        ..Default::default()
    }
}

async fn sim_with(config: EntraSimConfig) -> EntraSim {
    EntraSim::start(config).await.expect("sim starts")
}

async fn token_response(sim: &EntraSim, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = Client::new()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sim.base_url(),
            sim.tenant_id()
        ))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn access_token(sim: &EntraSim) -> String {
    let (status, body) = token_response(
        sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "11111111-1111-1111-1111-111111111111"),
            ("client_secret", SECRET),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn graph(
    sim: &EntraSim,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}/v1.0/{path}", sim.base_url())
    };
    let mut request = Client::new().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, value)
}

#[tokio::test]
async fn token_endpoint_issues_bearer_tokens_and_answers_aadsts_errors() {
    let sim = sim_with(config()).await;
    let (status, body) = token_response(
        &sim,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "11111111-1111-1111-1111-111111111111"),
            ("client_secret", SECRET),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["access_token"].as_str().unwrap().len() > 40);

    let base = [
        ("grant_type", "client_credentials"),
        ("client_id", "11111111-1111-1111-1111-111111111111"),
        ("scope", SCOPE),
    ];
    type Form<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Form, u16, &str, u64)> = vec![
        (
            [&base[..], &[("client_secret", "wrong-secret")]].concat(),
            401,
            "invalid_client",
            7000215,
        ),
        (base.to_vec(), 401, "invalid_client", 7000216),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "22222222-2222-2222-2222-222222222222"),
                ("client_secret", SECRET),
                ("scope", SCOPE),
            ],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "11111111-1111-1111-1111-111111111111"),
                ("client_secret", SECRET),
                ("scope", "User.Read"),
            ],
            400,
            "invalid_scope",
            1002012,
        ),
        (
            vec![("grant_type", "password"), ("scope", SCOPE)],
            400,
            "unsupported_grant_type",
            70003,
        ),
    ];
    for (form, status, error, code) in cases {
        let (got, body) = token_response(&sim, &form).await;
        assert_eq!(got.as_u16(), status, "{body}");
        assert_eq!(body["error"], error, "{body}");
        assert_eq!(body["error_codes"], json!([code]));
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(&format!("AADSTS{code}: ")),
            "{description}"
        );
        assert!(description.contains("Trace ID: "));
        assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
        assert!(!body.to_string().contains(SECRET));
    }
    // An unknown tenant.
    let response = Client::new()
        .post(format!("{}/not-a-tenant/oauth2/v2.0/token", sim.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "11111111-1111-1111-1111-111111111111"),
            ("client_secret", SECRET),
            ("scope", SCOPE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error_codes"],
        json!([90002])
    );
    assert_eq!(sim.tokens_issued(), 1);
}

#[tokio::test]
async fn graph_needs_a_live_bearer_token() {
    let sim = sim_with(config()).await;
    let alice = sim.add_user("alice@example.com", "Alice Example");
    for token in [None, Some("garbage")] {
        let (status, headers, body) = graph(
            &sim,
            token,
            reqwest::Method::GET,
            &format!("users/{alice}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
        assert!(body["error"]["innerError"]["request-id"].is_string());
        assert!(headers.get("www-authenticate").is_some());
    }
    let token = access_token(&sim).await;
    let (status, _, _) = graph(
        &sim,
        Some(&token),
        reqwest::Method::GET,
        &format!("users/{alice}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    sim.expire_access_tokens();
    let (status, _, body) = graph(
        &sim,
        Some(&token),
        reqwest::Method::GET,
        &format!("users/{alice}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert!(sim
        .requests()
        .iter()
        .all(|r| !format!("{r:?}").contains(&token)));
}

#[tokio::test]
async fn users_read_select_patch_revoke_and_deleted_items() {
    let sim = sim_with(config()).await;
    let token = access_token(&sim).await;
    let t = Some(token.as_str());
    let alice = sim.add_user("alice@example.com", "Alice Example");
    use reqwest::Method;

    // Default properties: no accountEnabled.
    let (status, _, user) = graph(&sim, t, Method::GET, &format!("users/{alice}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(user["userPrincipalName"], "alice@example.com");
    assert!(user.get("accountEnabled").is_none(), "{user}");
    assert_eq!(
        user["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
    );
    // By UPN, case-insensitively, with $select.
    let (status, _, user) = graph(
        &sim,
        t,
        Method::GET,
        "users/ALICE@example.com?$select=id,accountEnabled,signInSessionsValidFromDateTime",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(user["id"], alice.as_str());
    assert_eq!(user["accountEnabled"], true);
    assert!(user.get("userPrincipalName").is_none());
    let before = user["signInSessionsValidFromDateTime"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, body) = graph(
        &sim,
        t,
        Method::GET,
        &format!("users/{alice}?$select=password"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_BadRequest");

    // Revoke: 200 with value true (not 204), sessions reset.
    let (status, _, body) = graph(
        &sim,
        t,
        Method::POST,
        &format!("users/{alice}/revokeSignInSessions"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], true);
    assert_eq!(
        body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean"
    );
    let before = chrono::DateTime::parse_from_rfc3339(&before).unwrap();
    let after = sim.user(&alice).unwrap().sign_in_sessions_valid_from;
    assert!(after > before, "{after} vs {before}");

    // PATCH accountEnabled.
    let (status, _, _) = graph(
        &sim,
        t,
        Method::PATCH,
        &format!("users/{alice}"),
        Some(json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(status, 204);
    assert!(!sim.user(&alice).unwrap().account_enabled);
    for bad in [
        json!({"accountEnabled": "False"}),
        json!({"password": "x"}),
        json!([1]),
    ] {
        let (status, _, body) =
            graph(&sim, t, Method::PATCH, &format!("users/{alice}"), Some(bad)).await;
        assert_eq!(status, 400, "{body}");
    }
    sim.set_deny_writes(true);
    let (status, _, body) = graph(
        &sim,
        t,
        Method::PATCH,
        &format!("users/{alice}"),
        Some(json!({"accountEnabled": true})),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    sim.set_deny_writes(false);

    // Soft delete: 404 on /users, visible in deletedItems with the renamed UPN.
    assert!(sim.soft_delete_user(&alice));
    let (status, _, body) = graph(&sim, t, Method::GET, &format!("users/{alice}"), None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
    let (status, _, body) = graph(
        &sim,
        t,
        Method::GET,
        &format!("directory/deletedItems/{alice}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(
        body["userPrincipalName"],
        format!("{}alice@example.com", alice.replace('-', ""))
    );
    assert_eq!(body["mail"], "alice@example.com");
    assert!(body["deletedDateTime"].is_string());
    let (status, _, _) = graph(
        &sim,
        t,
        Method::POST,
        &format!("users/{alice}/revokeSignInSessions"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert!(sim.hard_delete_user(&alice));
    let (status, _, _) = graph(
        &sim,
        t,
        Method::GET,
        &format!("directory/deletedItems/{alice}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(sim.user(&alice).unwrap().presence, Presence::HardDeleted);
}

#[tokio::test]
async fn delta_pages_then_reports_changes_and_removals() {
    let sim = sim_with(EntraSimConfig {
        delta_page_size: 2,
        ..config()
    })
    .await;
    let token = access_token(&sim).await;
    let t = Some(token.as_str());
    let ids: Vec<String> = (0..3)
        .map(|i| sim.add_user(&format!("user{i}@example.com"), &format!("User {i}")))
        .collect();
    use reqwest::Method;

    // Initial round: two pages, $select carried by the skiptoken.
    let (status, _, page) = graph(
        &sim,
        t,
        Method::GET,
        "users/delta?$select=id,accountEnabled,userPrincipalName",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    assert!(page.get("@odata.deltaLink").is_none());
    let next = page["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(next.contains("$skiptoken="), "{next}");
    let (_, _, page) = graph(&sim, t, Method::GET, &next, None).await;
    let values = page["value"].as_array().unwrap();
    assert_eq!(values.len(), 1);
    assert!(values[0].get("accountEnabled").is_some());
    assert!(
        values[0].get("displayName").is_none(),
        "only the selected properties"
    );
    let delta = page["@odata.deltaLink"].as_str().unwrap().to_string();
    assert!(delta.contains("$deltatoken="));

    // Nothing changed: an empty round.
    let (_, _, page) = graph(&sim, t, Method::GET, &delta, None).await;
    assert_eq!(page["value"], json!([]));
    let delta = page["@odata.deltaLink"].as_str().unwrap().to_string();

    sim.disable_user(&ids[0]);
    sim.soft_delete_user(&ids[1]);
    sim.hard_delete_user(&ids[2]);
    let (_, _, page) = graph(&sim, t, Method::GET, &delta, None).await;
    let mut values = page["value"].as_array().unwrap().clone();
    let next = page["@odata.nextLink"].as_str().unwrap().to_string();
    let (_, _, page2) = graph(&sim, t, Method::GET, &next, None).await;
    values.extend(page2["value"].as_array().unwrap().clone());
    assert_eq!(values.len(), 3, "{values:?}");
    assert_eq!(values[0]["id"], ids[0].as_str());
    assert_eq!(values[0]["accountEnabled"], false);
    assert_eq!(
        values[1],
        json!({"id": ids[1], "@removed": {"reason": "changed"}})
    );
    assert_eq!(
        values[2],
        json!({"id": ids[2], "@removed": {"reason": "deleted"}})
    );
    let delta = page2["@odata.deltaLink"].as_str().unwrap().to_string();

    // "latest": a deltaLink without data.
    let (_, _, latest) = graph(&sim, t, Method::GET, "users/delta?$deltatoken=latest", None).await;
    assert_eq!(latest["value"], json!([]));
    assert!(latest["@odata.deltaLink"].is_string());

    // Expired or forged tokens.
    sim.expire_delta_tokens();
    for link in [
        delta,
        format!("{}/v1.0/users/delta?$deltatoken=nonsense", sim.base_url()),
    ] {
        let (status, _, body) = graph(&sim, t, Method::GET, &link, None).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "syncStateNotFound");
    }
}

/// A subscriber: answers validations as configured and records notifications.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    /// Echo the token still percent-encoded (a broken endpoint).
    echo_encoded: bool,
    /// Statuses to answer notifications with, in order (then 202).
    script: Arc<Mutex<Vec<u16>>>,
}

async fn receive(State(r): State<Receiver>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    if let Some(q) = q.as_deref() {
        if let Some(raw) = q.strip_prefix("validationToken=") {
            let text = if r.echo_encoded {
                raw.to_string()
            } else {
                form_urlencoded_decode(raw)
            };
            return ([(header::CONTENT_TYPE, "text/plain")], text).into_response();
        }
    }
    if let Ok(value) = serde_json::from_slice(&body) {
        r.bodies.lock().unwrap().push(value);
    }
    let next = {
        let mut script = r.script.lock().unwrap();
        (!script.is_empty()).then(|| script.remove(0))
    };
    AxStatus::from_u16(next.unwrap_or(202))
        .unwrap()
        .into_response()
}

fn form_urlencoded_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

async fn start_receiver(receiver: Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/entra", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hooks/entra", axum::routing::post(receive))
        .with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn subscription_body(url: &str, minutes: i64) -> Value {
    json!({
        "changeType": "updated,deleted",
        "notificationUrl": url,
        "lifecycleNotificationUrl": url,
        "resource": "users",
        "expirationDateTime": (chrono::Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339(),
        "clientState": "client-state-canary-0a1b",
    })
}

#[tokio::test]
async fn subscriptions_validate_the_endpoint_and_notifications_follow_graphs_shapes() {
    let sim = sim_with(config()).await;
    let token = access_token(&sim).await;
    let t = Some(token.as_str());
    use reqwest::Method;
    let receiver = Receiver::default();
    let url = start_receiver(receiver.clone()).await;

    // Refused before any validation.
    for (body, needle) in [
        (subscription_body(&url, 41_760 + 10), "41760"),
        (
            subscription_body("http://leaver.example.com/hooks/entra", 60),
            "HTTPS",
        ),
        (json!({"resource": "users"}), "changeType"),
    ] {
        let (status, _, answer) = graph(&sim, t, Method::POST, "subscriptions", Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{answer}"
        );
    }
    assert!(sim.deliveries().is_empty(), "nothing was validated");
    // An endpoint echoing the encoded token fails validation.
    let broken = start_receiver(Receiver {
        echo_encoded: true,
        ..Default::default()
    })
    .await;
    let (status, _, answer) = graph(
        &sim,
        t,
        Method::POST,
        "subscriptions",
        Some(subscription_body(&broken, 60)),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "ValidationError");
    assert!(sim.subscriptions().is_empty());

    let (status, _, sub) = graph(
        &sim,
        t,
        Method::POST,
        "subscriptions",
        Some(subscription_body(&url, 41_000)),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["clientState"], "client-state-canary-0a1b");
    assert_eq!(sub["resource"], "users");
    let id = sub["id"].as_str().unwrap().to_string();
    let validations: Vec<_> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.kind == DeliveryKind::Validation)
        .collect();
    assert_eq!(
        validations.len(),
        2,
        "one failed, one passed (lifecycle URL is the same)"
    );
    assert!(validations[1].delivered);

    let alice = sim.add_user("alice@example.com", "Alice Example");
    sim.disable_user(&alice);
    sim.soft_delete_user(&alice);
    sim.hard_delete_user(&alice);
    assert!(
        sim.wait_deliveries(DeliveryKind::Change, 4, Duration::from_secs(10))
            .await
    );
    let bodies = receiver.bodies.lock().unwrap().clone();
    let kinds: Vec<&str> = bodies
        .iter()
        .map(|b| b["value"][0]["changeType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["updated", "updated", "updated", "deleted"],
        "create, disable, soft delete are `updated`"
    );
    let item = &bodies[1]["value"][0];
    assert_eq!(item["subscriptionId"], id.as_str());
    assert_eq!(item["resource"], format!("Users/{alice}"));
    assert_eq!(item["resourceData"]["@odata.type"], "#Microsoft.Graph.User");
    assert_eq!(item["resourceData"]["id"], alice.as_str());
    assert_eq!(item["clientState"], "client-state-canary-0a1b");
    assert_eq!(item["tenantId"], sim.tenant_id());
    assert!(item["subscriptionExpirationDateTime"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));

    // Lifecycle, reauthorize, renew, delete.
    assert!(sim.send_lifecycle(&id, "reauthorizationRequired"));
    assert!(
        sim.wait_deliveries(DeliveryKind::Lifecycle, 1, Duration::from_secs(10))
            .await
    );
    let lifecycle = receiver.bodies.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        lifecycle["value"][0]["lifecycleEvent"],
        "reauthorizationRequired"
    );
    assert_eq!(lifecycle["value"][0]["subscriptionId"], id.as_str());
    let (status, _, _) = graph(
        &sim,
        t,
        Method::POST,
        &format!("subscriptions/{id}/reauthorize"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let new_expiry = (chrono::Utc::now() + chrono::Duration::minutes(41_000)).to_rfc3339();
    let (status, _, renewed) = graph(
        &sim,
        t,
        Method::PATCH,
        &format!("subscriptions/{id}"),
        Some(json!({"expirationDateTime": new_expiry})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        renewed["clientState"].is_null(),
        "not echoed after creation"
    );
    let sub = &sim.subscriptions()[0];
    assert_eq!((sub.reauthorizations, sub.renewals), (1, 1));
    let (status, _, list) = graph(&sim, t, Method::GET, "subscriptions", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    let (status, _, _) = graph(
        &sim,
        t,
        Method::DELETE,
        &format!("subscriptions/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, body) = graph(
        &sim,
        t,
        Method::POST,
        &format!("subscriptions/{id}/reauthorize"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "ResourceNotFound");
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_can_be_lost_or_replayed() {
    let sim = sim_with(config()).await;
    let receiver = Receiver::default();
    receiver.script.lock().unwrap().extend([500, 503]);
    let url = start_receiver(receiver.clone()).await;
    sim.seed_subscription(&url, None, Some("cs"), Duration::from_secs(3600));
    let alice = sim.add_user("alice@example.com", "Alice");
    assert!(
        sim.wait_deliveries(DeliveryKind::Change, 1, Duration::from_secs(10))
            .await
    );
    let record = sim.deliveries().pop().unwrap();
    assert_eq!(record.attempts, vec![500, 503, 202]);
    assert!(record.delivered);

    sim.set_notifications(false);
    sim.disable_user(&alice);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sim.deliveries().len(),
        1,
        "a lost notification is never sent"
    );

    assert!(sim.redeliver(record.id));
    assert!(
        sim.wait_deliveries(DeliveryKind::Change, 2, Duration::from_secs(10))
            .await
    );
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert_eq!(
        bodies[bodies.len() - 1],
        bodies[0],
        "a replay is the same body"
    );
}

#[tokio::test]
async fn faults_and_throttling_answer_in_graphs_format() {
    let sim = sim_with(EntraSimConfig {
        throttle: Some(Throttle {
            requests: 3,
            window: Duration::from_secs(30),
        }),
        ..config()
    })
    .await;
    let token = access_token(&sim).await;
    let t = Some(token.as_str());
    let alice = sim.add_user("alice@example.com", "Alice");
    use reqwest::Method;
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(7));
    let (status, headers, body) =
        graph(&sim, t, Method::GET, &format!("users/{alice}"), None).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(body["error"]["code"], "TooManyRequests");
    sim.faults().fail_next(1, 503);
    let (status, _, body) = graph(&sim, t, Method::GET, &format!("users/{alice}"), None).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "serviceNotAvailable");
    // The token endpoint renders faults as AADSTS errors.
    sim.faults().fail_next(1, 503);
    let (status, body) = token_response(&sim, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "temporarily_unavailable");

    // Budget of 3 Graph calls per window (faulted calls are not counted).
    for _ in 0..3 {
        let (status, _, _) = graph(&sim, t, Method::GET, &format!("users/{alice}"), None).await;
        assert_eq!(status, 200);
    }
    let (status, headers, _) = graph(&sim, t, Method::GET, &format!("users/{alice}"), None).await;
    assert_eq!(status, 429);
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait));
}
