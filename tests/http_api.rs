//! The offboarding API's contract for bad input: each mistake is a clear 4xx with a
//! JSON error, and creates no run (or, for a replay, no second run).

mod common;

use common::*;
use leaver::app::App;
use leaver::domain::Role;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use serde_json::json;

async fn server(db: &TestDb, dir: &std::path::Path, sim: &GithubSim) -> Server {
    let plans_dir = plans_dir(dir, &[("gh-leaver", GITHUB_PLAN)]);
    let mut config = test_config(&db.url, dir, &plans_dir, Some(&sim.base_url()));
    config.server.max_body_bytes = 4096;
    // Only the HTTP contract is under test here: no workers.
    config.engine.workers = false;
    Server::start(App::build(config).await.expect("app")).await
}

fn body() -> serde_json::Value {
    json!({
        "identity": {"email": "alice@example.com", "idp": "okta", "idp_user_id": "00u1abc",
                     "accounts": {"github": "alice-gh"}},
        "plan": "gh-leaver", "mode": "live",
        "ticket": {"system": "jira", "key": "HR-4312"},
        "reason": "resignation"
    })
}

async fn run_count(server: &Server) -> usize {
    server
        .app
        .store
        .list_runs(&leaver::store::RunFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status);
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "{body:#}");
    let message = body["error"]["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(!message.is_empty());
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_create_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = GithubSim::start(GithubSimConfig {
            token: GITHUB_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let server = server(&db, dir.path(), &sim).await;
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/offboardings", server.base);
        let operator = server.token(Role::Operator).await;
        let viewer = server.token(Role::Viewer).await;

        // Missing token.
        let r = client.post(&url).json(&body()).send().await.unwrap();
        expect_error(r, 401, "unauthorized").await;
        // Unknown token.
        let r = client
            .post(&url)
            .bearer_auth("lvr_not-a-token")
            .json(&body())
            .send()
            .await
            .unwrap();
        expect_error(r, 401, "unauthorized").await;
        // Wrong role.
        let r = client
            .post(&url)
            .bearer_auth(&viewer)
            .json(&body())
            .send()
            .await
            .unwrap();
        let message = expect_error(r, 403, "forbidden").await;
        assert!(message.contains("operator"), "{message}");
        // Malformed JSON.
        let r = client
            .post(&url)
            .bearer_auth(&operator)
            .header("content-type", "application/json")
            .body("{\"identity\": {\"email\": ")
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "malformed_json").await;
        // Unknown field.
        let mut unknown = body();
        unknown["identiy"] = json!({});
        let r = client
            .post(&url)
            .bearer_auth(&operator)
            .json(&unknown)
            .send()
            .await
            .unwrap();
        let message = expect_error(r, 400, "invalid_body").await;
        assert!(message.contains("identiy"), "{message}");
        // Not JSON.
        let r = client
            .post(&url)
            .bearer_auth(&operator)
            .body("plan=x")
            .send()
            .await
            .unwrap();
        expect_error(r, 415, "unsupported_media_type").await;
        // Unknown plan.
        let mut unknown_plan = body();
        unknown_plan["plan"] = json!("no-such-plan");
        let r = client
            .post(&url)
            .bearer_auth(&operator)
            .json(&unknown_plan)
            .send()
            .await
            .unwrap();
        let message = expect_error(r, 422, "unknown_plan").await;
        assert!(
            message.contains("gh-leaver"),
            "lists the known plans: {message}"
        );
        // Oversized body.
        let mut big = body();
        big["reason"] = json!("x".repeat(10_000));
        let r = client
            .post(&url)
            .bearer_auth(&operator)
            .json(&big)
            .send()
            .await
            .unwrap();
        expect_error(r, 413, "payload_too_large").await;
        // Bad mode and bad effective_at.
        let mut bad_mode = body();
        bad_mode["mode"] = json!("yolo");
        let r = client
            .post(&url)
            .bearer_auth(&operator)
            .json(&bad_mode)
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "invalid_body").await;
        let mut bad_time = body();
        bad_time["effective_at"] = json!("next tuesday");
        let r = client
            .post(&url)
            .bearer_auth(&operator)
            .json(&bad_time)
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "invalid_body").await;
        // Empty email.
        let mut no_email = body();
        no_email["identity"]["email"] = json!(" ");
        let r = client
            .post(&url)
            .bearer_auth(&operator)
            .json(&no_email)
            .send()
            .await
            .unwrap();
        expect_error(r, 422, "invalid_request").await;

        assert_eq!(
            run_count(&server).await,
            0,
            "{}: a refused request created a run",
            db.kind
        );

        // Reading needs a token too, and unknown ids are 404.
        let r = client.get(&url).send().await.unwrap();
        expect_error(r, 401, "unauthorized").await;
        let r = client
            .get(format!("{url}/nope"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        expect_error(r, 404, "not_found").await;
        let r = client
            .get(format!("{url}?status=bogus"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "invalid_query").await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_the_same_run_and_refuses_reuse() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let sim = GithubSim::start(GithubSimConfig {
            token: GITHUB_TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let server = server(&db, dir.path(), &sim).await;
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/offboardings", server.base);
        let operator = server.token(Role::Operator).await;

        let post = |key: &'static str, body: serde_json::Value| {
            client
                .post(&url)
                .bearer_auth(&operator)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
        };
        let first = post("HR-4312", body()).await.unwrap();
        assert_eq!(first.status(), 202);
        assert!(first.headers().get("idempotent-replayed").is_none());
        let first: serde_json::Value = first.json().await.unwrap();
        assert_eq!(first["status"], "pending");
        assert_eq!(
            first["links"]["self"],
            format!("/api/v1/offboardings/{}", first["id"].as_str().unwrap())
        );

        let replay = post("HR-4312", body()).await.unwrap();
        assert_eq!(replay.status(), 202);
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        let replay: serde_json::Value = replay.json().await.unwrap();
        assert_eq!(replay["id"], first["id"]);

        // Concurrent replays still make one run.
        let mut handles = Vec::new();
        for _ in 0..8 {
            let client = client.clone();
            let url = url.clone();
            let operator = operator.clone();
            handles.push(tokio::spawn(async move {
                client
                    .post(&url)
                    .bearer_auth(&operator)
                    .header("Idempotency-Key", "HR-9999")
                    .json(&body())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        for handle in handles {
            assert_eq!(handle.await.unwrap(), 202);
        }

        let mut different = body();
        different["reason"] = json!("layoff");
        let reused = post("HR-4312", different).await.unwrap();
        expect_error(reused, 422, "idempotency_key_reused").await;

        let r = client
            .post(&url)
            .bearer_auth(&operator)
            .header("Idempotency-Key", "")
            .json(&body())
            .send()
            .await
            .unwrap();
        expect_error(r, 400, "invalid_idempotency_key").await;

        assert_eq!(run_count(&server).await, 2, "{}: one run per key", db.kind);

        // The run reads back with the documented shape.
        let run: serde_json::Value = client
            .get(format!("{url}/{}", first["id"].as_str().unwrap()))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for field in [
            "id",
            "status",
            "mode",
            "plan",
            "identity",
            "created_at",
            "completed_at",
            "sla_deadline",
            "completion",
            "time_to_revoke_ms",
            "steps",
        ] {
            assert!(run.get(field).is_some(), "missing {field} in {run:#}");
        }
        for field in [
            "id",
            "uses",
            "status",
            "attempts",
            "started_at",
            "finished_at",
            "verified",
            "error",
        ] {
            assert!(
                run["steps"][0].get(field).is_some(),
                "missing steps[].{field}"
            );
        }
        assert_eq!(run["ticket"]["key"], "HR-4312");
        let list: serde_json::Value = client
            .get(&url)
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_answer() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let sim = GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let server = server(&db, dir.path(), &sim).await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready: serde_json::Value = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let metrics = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("leaver_runs{status=\"completed\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("leaver_evidence_chain_length"),
        "{metrics}"
    );
    let missing = client
        .get(format!("{}/nope", server.base))
        .send()
        .await
        .unwrap();
    expect_error(missing, 404, "not_found").await;
    server.stop().await;
}
