//! The simulated GitHub over real HTTP, driven with a plain reqwest client.

use leaver_sim::faults::{Fault, FaultRule};
use leaver_sim::github::{GithubSim, GithubSimConfig, MembershipState};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

const TOKEN: &str = "ghs_sim_test_token_0001";

async fn sim() -> GithubSim {
    sim_with(GithubSimConfig::default()).await
}

async fn sim_with(config: GithubSimConfig) -> GithubSim {
    GithubSim::start(GithubSimConfig {
        token: TOKEN.into(),
        ..config
    })
    .await
    .expect("sim starts")
}

async fn call(sim: &GithubSim, method: Method, path: &str) -> Response {
    Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .bearer_auth(TOKEN)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "leaver-sim-test")
        .send()
        .await
        .expect("request")
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn json(response: Response) -> Value {
    response.json().await.expect("json body")
}

#[tokio::test]
async fn auth_is_required_and_checked() {
    let sim = sim().await;
    sim.add_member("acme", "alice", "member");
    let url = format!("{}/orgs/acme/memberships/alice", sim.base_url());
    let client = Client::new();

    let none = client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !header(&none, "x-ratelimit-limit").is_empty(),
        "rate headers on every answer"
    );
    assert_eq!(json(none).await["message"], "Requires authentication");

    let wrong = client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        json(wrong).await,
        serde_json::json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
    );

    let token_scheme = client
        .get(&url)
        .header("authorization", format!("token {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(token_scheme.status(), StatusCode::OK);

    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].auth_scheme, None);
    assert_eq!(log[1].auth_scheme.as_deref(), Some("bearer"));
    assert!(!log[1].auth_ok);
    assert_eq!(log[2].auth_scheme.as_deref(), Some("token"));
    assert!(log[2].auth_ok);
    assert!(
        !format!("{log:?}").contains(TOKEN),
        "the log keeps no credential"
    );
    assert!(!format!(
        "{:?}",
        GithubSimConfig {
            token: TOKEN.into(),
            ..Default::default()
        }
    )
    .contains(TOKEN));
}

#[tokio::test]
async fn api_version_header_is_validated() {
    let sim = sim().await;
    sim.add_member("acme", "alice", "member");
    let url = format!("{}/orgs/acme/members/alice", sim.base_url());
    let client = Client::new();
    let with = |v: &'static str| {
        client
            .get(&url)
            .bearer_auth(TOKEN)
            .header("x-github-api-version", v)
    };

    let old = with("2021-01-01").send().await.unwrap();
    assert_eq!(old.status(), StatusCode::BAD_REQUEST);
    assert!(json(old).await["message"]
        .as_str()
        .unwrap()
        .contains("2021-01-01"));

    let new = with("2026-03-10").send().await.unwrap();
    assert_eq!(new.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&new, "x-github-api-version-selected"), "2026-03-10");

    let absent = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(absent.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&absent, "x-github-api-version-selected"),
        "2022-11-28"
    );

    let twice = with("2022-11-28")
        .header("x-github-api-version", "2026-03-10")
        .send()
        .await
        .unwrap();
    assert_eq!(
        twice.status(),
        StatusCode::BAD_REQUEST,
        "two version headers are a client bug"
    );

    let log = sim.requests();
    assert_eq!(log[1].api_versions, vec!["2026-03-10".to_string()]);
    assert!(log[2].api_versions.is_empty());
    assert!(!log[2].accepts_github_json());
}

#[tokio::test]
async fn memberships_lifecycle() {
    let sim = sim().await;
    sim.add_member("acme", "Alice", "admin");
    let invitation = sim.add_pending_invitation("acme", "bob", "member");
    assert!(invitation.is_some());

    let m = call(&sim, Method::GET, "/orgs/acme/memberships/alice").await;
    assert_eq!(m.status(), StatusCode::OK);
    assert!(header(&m, "content-type").starts_with("application/json"));
    let m = json(m).await;
    assert_eq!(m["state"], "active");
    assert_eq!(m["role"], "admin");
    assert_eq!(m["organization"]["login"], "acme");
    assert_eq!(m["user"]["login"], "Alice");
    assert_eq!(
        m["url"],
        format!("{}/orgs/acme/memberships/Alice", sim.base_url())
    );
    assert_eq!(
        m["organization_url"],
        format!("{}/orgs/acme", sim.base_url())
    );

    assert_eq!(
        call(&sim, Method::GET, "/orgs/acme/members/alice")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let pending = json(call(&sim, Method::GET, "/orgs/acme/memberships/bob").await).await;
    assert_eq!(pending["state"], "pending");
    let check = call(&sim, Method::GET, "/orgs/acme/members/bob").await;
    assert_eq!(
        check.status(),
        StatusCode::NOT_FOUND,
        "an invitee is not a member"
    );

    // DELETE members/ leaves an invitation alone; DELETE memberships/ cancels it.
    assert_eq!(
        call(&sim, Method::DELETE, "/orgs/acme/members/bob")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        sim.membership_state("acme", "bob"),
        Some(MembershipState::Pending)
    );
    assert_eq!(
        call(&sim, Method::DELETE, "/orgs/acme/memberships/bob")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(!sim.has_pending_invitation("acme", "bob"));
    assert_eq!(sim.invitation_cancellations("acme", "bob"), 1);
    assert_eq!(
        sim.removals("acme", "bob"),
        0,
        "an invitation is not a membership"
    );

    assert_eq!(
        call(&sim, Method::DELETE, "/orgs/acme/memberships/alice")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(!sim.is_member("acme", "alice"));
    let again = call(&sim, Method::DELETE, "/orgs/acme/memberships/alice").await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(again).await["message"], "Not Found");
    assert_eq!(
        sim.removals("acme", "ALICE"),
        1,
        "only the effective removal counts"
    );
    assert_eq!(sim.total_removals(), 1);
    assert_eq!(
        call(&sim, Method::GET, "/orgs/acme/memberships/alice")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    sim.add_member("acme", "carol", "member");
    assert_eq!(
        call(&sim, Method::DELETE, "/orgs/acme/members/carol")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(sim.removals("acme", "carol"), 1);
    assert_eq!(sim.members("acme"), Vec::<String>::new());
}

#[tokio::test]
async fn unknown_orgs_routes_and_methods_are_404_json() {
    let sim = sim().await;
    sim.add_org("acme");
    for (method, path) in [
        (Method::GET, "/orgs/nope/memberships/alice"),
        (Method::DELETE, "/orgs/nope/memberships/alice"),
        (Method::GET, "/orgs/nope/members"),
        (Method::GET, "/orgs/nope"),
        (Method::GET, "/definitely/not/a/route"),
        (Method::POST, "/orgs/acme/members"),
        (Method::GET, "/organizations/notanumber/members"),
    ] {
        let response = call(&sim, method.clone(), path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            json(response).await["message"],
            "Not Found",
            "{method} {path}"
        );
    }
    let org = call(&sim, Method::GET, "/orgs/acme").await;
    assert_eq!(org.status(), StatusCode::OK);
    assert_eq!(json(org).await["login"], "acme");
}

#[tokio::test]
async fn members_paginate_with_githubs_link_header() {
    let sim = sim().await;
    for i in 0..7 {
        sim.add_member(
            "acme",
            &format!("user{i}"),
            if i == 0 { "admin" } else { "member" },
        );
    }
    let first = call(&sim, Method::GET, "/orgs/acme/members?per_page=3").await;
    let link = header(&first, "link").to_string();
    let org_id = json(call(&sim, Method::GET, "/orgs/acme").await).await["id"]
        .as_u64()
        .unwrap();
    let base = sim.base_url();
    assert_eq!(
        link,
        format!(
            "<{base}/organizations/{org_id}/members?per_page=3&page=2>; rel=\"next\", \
             <{base}/organizations/{org_id}/members?per_page=3&page=3>; rel=\"last\""
        )
    );
    let mut logins: Vec<String> = json(first)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap().to_string())
        .collect();
    let mut next = next_link(&link);
    let client = Client::new();
    while let Some(url) = next {
        let page = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        let link = header(&page, "link").to_string();
        assert!(
            link.contains("rel=\"first\"") && link.contains("rel=\"prev\""),
            "{link}"
        );
        next = next_link(&link);
        logins.extend(
            json(page)
                .await
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["login"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(
        logins,
        (0..7).map(|i| format!("user{i}")).collect::<Vec<_>>()
    );

    let single = call(&sim, Method::GET, "/orgs/acme/members?per_page=100").await;
    assert!(
        single.headers().get("link").is_none(),
        "no Link on a single page"
    );
    assert_eq!(json(single).await.as_array().unwrap().len(), 7);

    let admins = json(call(&sim, Method::GET, "/orgs/acme/members?role=admin").await).await;
    assert_eq!(admins.as_array().unwrap().len(), 1);
    let bad = call(&sim, Method::GET, "/orgs/acme/members?role=owner").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        rel.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[tokio::test]
async fn primary_rate_limit_exhausts_and_resets() {
    let sim = sim_with(GithubSimConfig {
        rate_limit: 3,
        rate_limit_window: Duration::from_secs(2),
        installation_id: 77,
        ..Default::default()
    })
    .await;
    sim.add_member("acme", "alice", "member");
    sim.set_rate_limit(3, Duration::from_secs(2)); // a fresh window starts now
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = call(&sim, Method::GET, "/orgs/acme/members/alice").await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&r, "x-ratelimit-limit"), "3");
        assert_eq!(header(&r, "x-ratelimit-resource"), "core");
        remaining.push(header(&r, "x-ratelimit-remaining").to_string());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let refused = call(&sim, Method::GET, "/orgs/acme/members/alice").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&refused, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&refused, "x-ratelimit-used"), "3");
    let reset: u64 = header(&refused, "x-ratelimit-reset").parse().unwrap();
    assert!(reset > 0);
    assert_eq!(
        json(refused).await["message"],
        "API rate limit exceeded for installation ID 77."
    );
    // /rate_limit is not counted, even when exhausted.
    let status = json(call(&sim, Method::GET, "/rate_limit").await).await;
    assert_eq!(status["resources"]["core"]["remaining"], 0);
    assert_eq!(sim.primary_limit_rejections(), 1);
    assert_eq!(sim.rate_limited_responses(), 1);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = call(&sim, Method::GET, "/orgs/acme/members/alice").await;
    assert_eq!(after.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&after, "x-ratelimit-remaining"), "2");
}

#[tokio::test]
async fn primary_rate_limit_can_answer_429() {
    let sim = sim_with(GithubSimConfig {
        rate_limit: 1,
        rate_limit_status: 429,
        ..Default::default()
    })
    .await;
    sim.add_org("acme");
    assert_eq!(
        call(&sim, Method::GET, "/orgs/acme").await.status(),
        StatusCode::OK
    );
    let r = call(&sim, Method::GET, "/orgs/acme").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
    assert!(GithubSim::start(GithubSimConfig {
        rate_limit_status: 500,
        ..Default::default()
    })
    .await
    .is_err());
}

#[tokio::test]
async fn injected_faults_look_like_github() {
    let sim = sim().await;
    sim.add_member("acme", "alice", "member");
    let path = "/orgs/acme/memberships/alice";

    sim.faults().fail_next(1, 502);
    let r = call(&sim, Method::GET, path).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(!header(&r, "x-ratelimit-remaining").is_empty());
    assert_eq!(json(r).await["message"], "Server Error");

    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(7));
    let r = call(&sim, Method::GET, path).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "retry-after"), "7");
    assert_ne!(
        header(&r, "x-ratelimit-remaining"),
        "0",
        "a secondary limit, not the quota"
    );

    sim.faults().secondary_rate_limit_next(1, None);
    let r = call(&sim, Method::GET, path).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("retry-after").is_none());
    let body = json(r).await;
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("secondary rate limit"));
    assert!(body["documentation_url"]
        .as_str()
        .unwrap()
        .contains("secondary-rate-limits"));

    // Scoped: only DELETEs on memberships fail; GETs go through.
    sim.faults().inject(
        FaultRule::next(1, Fault::Status(503))
            .on_path("/orgs/acme/memberships")
            .on_method(Method::DELETE),
    );
    assert_eq!(call(&sim, Method::GET, path).await.status(), StatusCode::OK);
    assert_eq!(
        call(&sim, Method::DELETE, path).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(
        sim.is_member("acme", "alice"),
        "a faulted call has no effect"
    );
    assert_eq!(
        call(&sim, Method::DELETE, path).await.status(),
        StatusCode::NO_CONTENT
    );

    assert_eq!(sim.faults().injected(), 4);
    assert_eq!(sim.rate_limited_responses(), 2);
    let faults: Vec<_> = sim.requests().into_iter().filter_map(|r| r.fault).collect();
    assert_eq!(faults.len(), 4, "{faults:?}");
}

#[tokio::test]
async fn hang_outlasts_the_client_timeout_and_applies_nothing() {
    let sim = sim().await;
    sim.add_member("acme", "alice", "member");
    sim.faults().hang_next(1, Duration::from_secs(30));
    let client = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let result = client
        .delete(format!("{}/orgs/acme/memberships/alice", sim.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(sim.is_member("acme", "alice"));
    // Shutdown does not wait for the hung request.
    let started = Instant::now();
    sim.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_apply_applies_then_answers_late() {
    let sim = sim().await;
    sim.add_member("acme", "alice", "member");
    sim.faults().inject(FaultRule::next(
        1,
        Fault::SlowApply(Duration::from_secs(30)),
    ));
    let client = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let result = client
        .delete(format!("{}/orgs/acme/memberships/alice", sim.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert!(!sim.is_member("acme", "alice"), "the side effect happened");
    assert_eq!(sim.removals("acme", "alice"), 1);
}

#[tokio::test]
async fn latency_is_added_to_every_call() {
    let sim = sim_with(GithubSimConfig {
        latency: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    sim.add_org("acme");
    let started = Instant::now();
    call(&sim, Method::GET, "/orgs/acme").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    sim.faults().set_latency(Duration::ZERO);
    let started = Instant::now();
    call(&sim, Method::GET, "/orgs/acme").await;
    assert!(started.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn random_faults_are_reproducible() {
    let outcomes = |seed| async move {
        let sim = sim().await;
        sim.add_org("acme");
        sim.faults().set_random(0.3, seed);
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(
                call(&sim, Method::GET, "/orgs/acme")
                    .await
                    .status()
                    .as_u16(),
            );
        }
        statuses
    };
    let a = outcomes(11).await;
    assert_eq!(a, outcomes(11).await);
    let faulted = a.iter().filter(|s| **s != 200).count();
    assert!(
        (3..=25).contains(&faulted),
        "{faulted} of 40 at p=0.3: {a:?}"
    );
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let sim = sim().await;
    let url = format!("{}/rate_limit", sim.base_url());
    let client = Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert!(client.get(&url).bearer_auth(TOKEN).send().await.is_ok());
    drop(sim);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // A fresh client: no pooled keep-alive connection.
        let fresh = Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        if fresh.get(&url).send().await.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server still answering after drop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn app_jwt(private_key_pem: &str, iss: u64, lifetime: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"iss": iss, "iat": now - 60, "exp": now + lifetime});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn post_with(sim: &GithubSim, bearer: &str, path: &str, body: Value) -> Response {
    Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .bearer_auth(bearer)
        .header("user-agent", "leaver-sim-test")
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn app_jwt_mints_installation_tokens_that_the_app_only_endpoints_accept() {
    let sim = sim().await;
    let keys = leaver_sim::okta::KeyPair::generate_rsa().unwrap();
    sim.register_app(42, &keys.public_key_pem, &[7]).unwrap();
    let grant = sim.add_fine_grained_token("acme", "bob", "deploy");

    // A PAT is refused by the fine-grained token endpoints, as on GitHub.
    let refused = call(&sim, Method::GET, "/orgs/acme/personal-access-tokens").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        json(refused).await["message"],
        "Resource not accessible by personal access token"
    );

    // Bad JWTs: wrong key, too long-lived, unknown installation.
    let other = leaver_sim::okta::KeyPair::generate_rsa().unwrap();
    let path = "/app/installations/7/access_tokens";
    for (jwt, status) in [
        (
            app_jwt(&other.private_key_pem, 42, 500),
            StatusCode::UNAUTHORIZED,
        ),
        (
            app_jwt(&keys.private_key_pem, 42, 3_600),
            StatusCode::UNAUTHORIZED,
        ),
        (
            app_jwt(&keys.private_key_pem, 43, 500),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        assert_eq!(
            post_with(&sim, &jwt, path, Value::Null).await.status(),
            status
        );
    }
    let jwt = app_jwt(&keys.private_key_pem, 42, 500);
    assert_eq!(
        post_with(
            &sim,
            &jwt,
            "/app/installations/8/access_tokens",
            Value::Null
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    // A JWT is not an API credential.
    let response = Client::new()
        .get(format!("{}/orgs/acme", sim.base_url()))
        .bearer_auth(&jwt)
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let minted = post_with(&sim, &jwt, path, Value::Null).await;
    assert_eq!(minted.status(), StatusCode::CREATED);
    let minted = json(minted).await;
    let token = minted["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_"));
    assert!(minted["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(sim.installation_tokens_issued(), 1);

    let list = Client::new()
        .get(format!(
            "{}/orgs/acme/personal-access-tokens?owner%5B%5D=bob",
            sim.base_url()
        ))
        .bearer_auth(&token)
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let list = json(list).await;
    assert_eq!(list[0]["id"], grant);
    assert_eq!(list[0]["owner"]["login"], "bob");

    let bad = post_with(
        &sim,
        &token,
        "/orgs/acme/personal-access-tokens",
        serde_json::json!({"action": "revok", "pat_ids": [grant]}),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let revoked = post_with(
        &sim,
        &token,
        "/orgs/acme/personal-access-tokens",
        serde_json::json!({"action": "revoke", "pat_ids": [grant]}),
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::ACCEPTED);
    assert!(sim.fine_grained_tokens("acme", "bob").is_empty());

    sim.expire_installation_tokens();
    let expired = Client::new()
        .get(format!("{}/orgs/acme", sim.base_url()))
        .bearer_auth(&token)
        .header("user-agent", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn collaborators_credentials_and_invitations_follow_github() {
    let sim = sim().await;
    sim.add_member("acme", "mia", "member");
    for i in 0..5 {
        sim.add_outside_collaborator("acme", &format!("c{i}"), "web");
    }
    let page = call(
        &sim,
        Method::GET,
        "/orgs/acme/outside_collaborators?per_page=2",
    )
    .await;
    assert!(header(&page, "link").contains("rel=\"next\""));
    assert_eq!(json(page).await.as_array().unwrap().len(), 2);
    let member = call(&sim, Method::DELETE, "/orgs/acme/outside_collaborators/mia").await;
    assert_eq!(member.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for _ in 0..2 {
        let removed = call(&sim, Method::DELETE, "/orgs/acme/outside_collaborators/c1").await;
        assert_eq!(removed.status(), StatusCode::NO_CONTENT, "idempotent");
    }
    assert_eq!(
        call(
            &sim,
            Method::DELETE,
            "/orgs/acme/outside_collaborators/nobody-at-all"
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );

    let id = sim.add_credential_authorization("acme", "c2", "personal access token");
    sim.add_credential_authorization("acme", "c3", "SSH key");
    let listed = json(
        call(
            &sim,
            Method::GET,
            "/orgs/acme/credential-authorizations?login=c2",
        )
        .await,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["credential_id"], id);
    assert_eq!(listed[0]["credential_type"], "personal access token");
    let path = format!("/orgs/acme/credential-authorizations/{id}");
    assert_eq!(
        call(&sim, Method::DELETE, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&sim, Method::DELETE, &path).await.status(),
        StatusCode::NOT_FOUND
    );

    sim.add_email_invitation("acme", "x@example.com", false);
    sim.add_email_invitation("acme", "y@example.com", true);
    let pending = json(call(&sim, Method::GET, "/orgs/acme/invitations").await).await;
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["email"], "x@example.com");
    assert!(pending[0]["login"].is_null());
    let failed = json(call(&sim, Method::GET, "/orgs/acme/failed_invitations").await).await;
    assert_eq!(failed[0]["email"], "y@example.com");
    assert!(!failed[0]["failed_at"].is_null());
}

#[tokio::test]
async fn graphql_serves_saml_identities_page_by_page() {
    let sim = sim().await;
    for i in 0..3 {
        sim.add_saml_identity("acme", &format!("p{i}@example.com"), &format!("p{i}-gh"));
    }
    sim.add_org("plain");
    let query = "query($org: String!, $after: String) { organization(login: $org) { samlIdentityProvider { externalIdentities(first: 2, after: $after) { pageInfo { hasNextPage endCursor } edges { node { samlIdentity { nameId } user { login } } } } } } }";
    let ask = |org: &str, after: Value| {
        post_with(
            &sim,
            TOKEN,
            "/graphql",
            serde_json::json!({"query": query, "variables": {"org": org, "after": after}}),
        )
    };
    let first = json(ask("acme", Value::Null).await).await;
    let identities = &first["data"]["organization"]["samlIdentityProvider"]["externalIdentities"];
    assert_eq!(identities["edges"].as_array().unwrap().len(), 2);
    assert_eq!(
        identities["edges"][0]["node"]["samlIdentity"]["nameId"],
        "p0@example.com"
    );
    assert_eq!(identities["pageInfo"]["hasNextPage"], true);
    let cursor = identities["pageInfo"]["endCursor"].clone();
    let second = json(ask("acme", cursor).await).await;
    let identities = &second["data"]["organization"]["samlIdentityProvider"]["externalIdentities"];
    assert_eq!(identities["edges"][0]["node"]["user"]["login"], "p2-gh");
    assert_eq!(identities["pageInfo"]["hasNextPage"], false);

    let plain = json(ask("plain", Value::Null).await).await;
    assert!(plain["data"]["organization"]["samlIdentityProvider"].is_null());
    let unknown = json(ask("nope", Value::Null).await).await;
    assert_eq!(unknown["errors"][0]["type"], "NOT_FOUND");
    let other = json(
        post_with(
            &sim,
            TOKEN,
            "/graphql",
            serde_json::json!({"query": "{ viewer { login } }"}),
        )
        .await,
    )
    .await;
    assert!(other["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("serves only"));
}
