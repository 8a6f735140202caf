//! The simulated Jira Cloud over real HTTP, driven with a plain reqwest client.

use leaver_sim::faults::{Fault, FaultRule};
use leaver_sim::jira::{JiraSim, JiraSimConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const EMAIL: &str = "hr-bot@example.com";
const TOKEN: &str = "ATATT3xFfGF0-sim-canary-4c1d";

async fn sim() -> JiraSim {
    JiraSim::start(JiraSimConfig {
        email: EMAIL.into(),
        api_token: TOKEN.into(),
        ..Default::default()
    })
    .await
    .expect("sim starts")
}

fn doc(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    ]})
}

async fn call(
    sim: &JiraSim,
    method: Method,
    path: &str,
    body: Option<Value>,
    credentials: Option<(&str, &str)>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .header("accept", "application/json");
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, value)
}

async fn op(sim: &JiraSim, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let (status, _, body) = call(sim, method, path, body, Some((EMAIL, TOKEN))).await;
    (status, body)
}

#[tokio::test]
async fn basic_auth_with_email_and_api_token_is_required() {
    let sim = sim().await;
    sim.add_issue("HR-4312", "Offboard alice").unwrap();
    for credentials in [
        None,
        Some((EMAIL, "wrong")),
        Some(("other@example.com", TOKEN)),
    ] {
        let (status, headers, body) = call(
            &sim,
            Method::GET,
            "/rest/api/3/issue/HR-4312",
            None,
            credentials,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            Value::String("Client must be authenticated to access this resource.".into())
        );
        assert_eq!(headers["x-seraph-loginreason"], "AUTHENTICATED_FAILED");
        assert!(headers.contains_key("www-authenticate"));
    }
    // The email is case-insensitive, the token is not.
    let (status, _, body) = call(
        &sim,
        Method::GET,
        "/rest/api/3/issue/HR-4312",
        None,
        Some(("HR-Bot@Example.com", TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["key"], "HR-4312");
    let log = sim.requests();
    assert_eq!(log.len(), 4);
    assert!(!log[0].auth_sent);
    assert!(log[1].auth_sent && !log[1].auth_ok);
    assert!(log[3].auth_ok);
    assert!(log.iter().all(|r| !format!("{r:?}").contains(TOKEN)));
    // Unauthenticated writes change nothing.
    let (status, _, _) = call(
        &sim,
        Method::POST,
        "/rest/api/3/issue/HR-4312/comment",
        Some(json!({"body": doc("x")})),
        Some((EMAIL, "nope")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(sim.comments("HR-4312").is_empty());
}

#[tokio::test]
async fn issues_by_key_or_id_and_jiras_404() {
    let sim = sim().await;
    let id = sim.add_issue("hr-7", "Offboard bob").unwrap();
    assert!(sim.add_issue("not a key", "x").is_err());
    let (status, issue) = op(&sim, Method::GET, "/rest/api/3/issue/HR-7", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(issue["id"], id);
    assert_eq!(issue["key"], "HR-7");
    assert_eq!(issue["fields"]["summary"], "Offboard bob");
    assert_eq!(issue["fields"]["project"]["key"], "HR");
    assert_eq!(
        issue["self"],
        format!("{}/rest/api/3/issue/{id}", sim.base_url())
    );
    let (status, by_id) = op(&sim, Method::GET, &format!("/rest/api/3/issue/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["key"], "HR-7");
    for path in ["/rest/api/3/issue/HR-8", "/rest/api/3/issue/HR-8/comment"] {
        let (status, body) = op(&sim, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
        );
    }
    let (status, body) = op(
        &sim,
        Method::POST,
        "/rest/api/3/issue/HR-8/comment",
        Some(json!({"body": doc("x")})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["errorMessages"][0],
        "Issue does not exist or you do not have permission to see it."
    );
    let (status, body) = op(&sim, Method::GET, "/rest/api/3/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("null for uri:"));
    let (status, _) = op(&sim, Method::DELETE, "/rest/api/3/issue/HR-7", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, me) = op(&sim, Method::GET, "/rest/api/3/myself", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["emailAddress"], EMAIL);
}

#[tokio::test]
async fn comments_must_be_atlassian_documents() {
    let sim = sim().await;
    sim.add_issue("HR-1", "x").unwrap();
    let path = "/rest/api/3/issue/HR-1/comment";
    let not_adf = json!({"errorMessages": [], "errors": {"comment": "Operation value must be an Atlassian Document (see the Atlassian Document Format)"}});
    let empty =
        json!({"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}});
    let invalid = json!({"errorMessages": ["INVALID_INPUT"], "errors": {}});
    for (body, expected) in [
        (json!({"body": "plain text"}), &not_adf),
        (json!({}), &empty),
        (json!({"body": null}), &empty),
        (
            json!({"body": {"type": "doc", "version": 1, "content": []}}),
            &empty,
        ),
        (
            json!({"body": {"type": "doc", "version": 2, "content": []}}),
            &invalid,
        ),
        (
            json!({"body": {"type": "paragraph", "content": []}}),
            &invalid,
        ),
        (
            json!({"body": {"type": "doc", "version": 1, "content": [{"type": "text", "text": "top-level text"}]}}),
            &invalid,
        ),
        (
            json!({"body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}]}}),
            &invalid,
        ),
    ] {
        let (status, answer) = op(&sim, Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(&answer, expected, "{body}");
    }
    let long = "x".repeat(32_768);
    let (status, answer) = op(&sim, Method::POST, path, Some(json!({"body": doc(&long)}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["errors"]["comment"]
        .as_str()
        .unwrap()
        .contains("32,767"));
    // Not JSON at all.
    let response = Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .basic_auth(EMAIL, Some(TOKEN))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        sim.comments("HR-1").is_empty(),
        "nothing refused was stored"
    );
    assert_eq!(sim.comments_created(), 0);

    let rich = json!({"type": "doc", "version": 1, "content": [
        {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "Summary"}]},
        {"type": "bulletList", "content": [{"type": "listItem", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "github: succeeded", "marks": [{"type": "strong"}]}]}
        ]}]}
    ]});
    let (status, created) = op(&sim, Method::POST, path, Some(json!({"body": rich}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["body"], rich);
    assert_eq!(created["author"]["displayName"], "Leaver");
    let id = created["id"].as_str().unwrap();
    assert!(created["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/comment/{id}")));
    let created_at = created["created"].as_str().unwrap();
    assert!(
        created_at.ends_with("+0000") && created_at.contains('T'),
        "{created_at}"
    );
    let stored = sim.comments("hr-1");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].text, "Summary\ngithub: succeeded");
    let (status, one) = op(&sim, Method::GET, &format!("{path}/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], id);
}

#[tokio::test]
async fn comment_listing_is_paginated_and_ordered() {
    let sim = sim().await;
    sim.add_issue("HR-2", "x").unwrap();
    let path = "/rest/api/3/issue/HR-2/comment";
    for i in 0..7 {
        let (status, _) = op(
            &sim,
            Method::POST,
            path,
            Some(json!({"body": doc(&format!("note {i}"))})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let text = |c: &Value| {
        c["body"]["content"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (status, page) = op(
        &sim,
        Method::GET,
        &format!("{path}?startAt=0&maxResults=3"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["startAt"], 0);
    assert_eq!(page["maxResults"], 3);
    assert_eq!(page["total"], 7);
    let texts: Vec<String> = page["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(texts, vec!["note 0", "note 1", "note 2"]);
    let (_, last) = op(
        &sim,
        Method::GET,
        &format!("{path}?startAt=6&maxResults=3"),
        None,
    )
    .await;
    assert_eq!(last["comments"].as_array().unwrap().len(), 1);
    let (_, beyond) = op(&sim, Method::GET, &format!("{path}?startAt=50"), None).await;
    assert_eq!(beyond["comments"], json!([]));
    assert_eq!(beyond["total"], 7);
    let (_, newest) = op(
        &sim,
        Method::GET,
        &format!("{path}?orderBy=-created&maxResults=2"),
        None,
    )
    .await;
    let texts: Vec<String> = newest["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(texts, vec!["note 6", "note 5"]);
    let (_, default) = op(&sim, Method::GET, path, None).await;
    assert_eq!(default["maxResults"], 5000);
    assert_eq!(default["comments"].as_array().unwrap().len(), 7);
    let (status, bad) = op(&sim, Method::GET, &format!("{path}?startAt=-1"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad["errorMessages"][0]
        .as_str()
        .unwrap()
        .contains("startAt"));
}

#[tokio::test]
async fn faults_are_rendered_as_jira_would_answer() {
    let sim = sim().await;
    sim.add_issue("HR-3", "x").unwrap();
    let path = "/rest/api/3/issue/HR-3/comment";

    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(7));
    let (status, headers, body) = call(&sim, Method::GET, path, None, Some((EMAIL, TOKEN))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert!(headers.contains_key("x-ratelimit-reset"));
    assert_eq!(body["errorMessages"][0], "Rate limit exceeded.");

    sim.faults().fail_next(1, 500);
    let (status, body) = op(&sim, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["errorMessages"][0], "Internal Server Error");
    sim.faults().fail_next(1, 503);
    let (status, body) = op(&sim, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.as_str().unwrap().contains("<html>"));

    // A hang is not applied; a slow apply is.
    sim.faults().inject(
        FaultRule::next(1, Fault::Hang(Duration::from_secs(5)))
            .on_path(path)
            .on_method(Method::POST),
    );
    let started = Instant::now();
    let result = Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .basic_auth(EMAIL, Some(TOKEN))
        .json(&json!({"body": doc("hung")}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.is_err() && started.elapsed() < Duration::from_secs(3));
    assert!(sim.comments("HR-3").is_empty());
    sim.faults()
        .inject(FaultRule::next(1, Fault::SlowApply(Duration::from_secs(5))).on_path(path));
    let result = Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .basic_auth(EMAIL, Some(TOKEN))
        .json(&json!({"body": doc("applied late")}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.is_err(), "the client timed out");
    assert_eq!(sim.comments("HR-3").len(), 1, "but the comment exists");
    assert_eq!(sim.faults().injected(), 5);
    let faulted: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.fault.is_some())
        .collect();
    assert_eq!(faulted.len(), 4, "the slow apply is logged when it ends");
    sim.shutdown().await;
}
