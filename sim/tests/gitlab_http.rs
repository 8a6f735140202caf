//! The simulated GitLab's wire format, over raw HTTP: auth errors, GitLab's error bodies,
//! offset pagination headers, rate-limit headers, and the offboarding endpoints.

use leaver_sim::faults::{Fault, FaultRule};
use leaver_sim::gitlab::{GitlabSim, GitlabSimConfig, SourceKind, UserState};
use reqwest::{Client, Method, Response};
use serde_json::{json, Value};
use std::time::Duration;

const ADMIN: &str = "glpat-admin-token-for-tests-0001";

async fn sim() -> GitlabSim {
    GitlabSim::start(GitlabSimConfig {
        token: ADMIN.into(),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn call(sim: &GitlabSim, method: Method, path: &str, token: Option<&str>) -> Response {
    let mut request = Client::new().request(method, format!("{}{path}", sim.api_url()));
    if let Some(token) = token {
        request = request.header("PRIVATE-TOKEN", token);
    }
    request.send().await.unwrap()
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test]
async fn auth_errors_use_gitlabs_messages() {
    let sim = sim().await;
    assert!(sim.api_url().ends_with("/api/v4"));
    let alice = sim.add_user("alice", "Alice", "alice@example.com");
    let pat = sim
        .add_personal_access_token(alice, "laptop", &["api"])
        .unwrap();

    let r = call(&sim, Method::GET, "/users/1", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "401 Unauthorized"})
    );
    let r = call(&sim, Method::GET, "/users/1", Some("glpat-wrong")).await;
    assert_eq!(r.status(), 401);

    // Bearer works like PRIVATE-TOKEN.
    let r = Client::new()
        .get(format!("{}/users/{alice}", sim.api_url()))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["state"], "active");
    assert_eq!(user["email"], "alice@example.com", "admins see the email");

    // A non-admin user's token: admin-only calls are 403, private fields hidden.
    let r = call(&sim, Method::POST, "/users/1/block", Some(&pat.token)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "403 Forbidden"})
    );
    let r = call(
        &sim,
        Method::GET,
        &format!("/users/{alice}"),
        Some(&pat.token),
    )
    .await;
    assert!(r.json::<Value>().await.unwrap().get("email").is_none());
    let r = call(
        &sim,
        Method::GET,
        "/personal_access_tokens?user_id=1",
        Some(&pat.token),
    )
    .await;
    assert_eq!(r.status(), 401, "non-admins may only list their own tokens");

    let r = call(&sim, Method::GET, "/users/999", Some(ADMIN)).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "404 User Not Found"})
    );
    let r = call(&sim, Method::GET, "/nope", Some(ADMIN)).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "404 Not Found"})
    );

    // Blocked: the user's own token is refused; revoked tokens are 401.
    sim.set_user_state(alice, UserState::Blocked);
    let r = call(&sim, Method::GET, "/users", Some(&pat.token)).await;
    assert_eq!(r.status(), 403);
    let r = call(
        &sim,
        Method::DELETE,
        &format!("/personal_access_tokens/{}", pat.id),
        Some(ADMIN),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = call(&sim, Method::GET, "/users", Some(&pat.token)).await;
    assert_eq!(r.status(), 401);
    assert!(sim
        .requests()
        .iter()
        .all(|r| !format!("{r:?}").contains(ADMIN)));
}

#[tokio::test]
async fn block_is_201_true_even_when_already_blocked() {
    let sim = sim().await;
    let alice = sim.add_user("alice", "Alice", "alice@example.com");
    for _ in 0..2 {
        let r = call(
            &sim,
            Method::POST,
            &format!("/users/{alice}/block"),
            Some(ADMIN),
        )
        .await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.json::<Value>().await.unwrap(), json!(true));
    }
    assert_eq!(sim.user_state(alice), Some(UserState::Blocked));
    let bob = sim.add_user("bob", "Bob", "bob@example.com");
    sim.set_user_state(bob, UserState::LdapBlocked);
    let r = call(
        &sim,
        Method::POST,
        &format!("/users/{bob}/block"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "403 Forbidden - LDAP blocked users cannot be modified by the API"
    );
    let r = call(&sim, Method::POST, "/users/999/block", Some(ADMIN)).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn user_lookup_by_username_and_email_search() {
    let sim = sim().await;
    let alice = sim.add_user("alice", "Alice Liddell", "alice@example.com");
    sim.add_user("alicia", "Alicia", "alicia@example.com");
    let r = call(&sim, Method::GET, "/users?username=ALICE", Some(ADMIN)).await;
    let users: Vec<Value> = r.json().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], alice);
    let r = call(
        &sim,
        Method::GET,
        "/users?search=alice%40example.com",
        Some(ADMIN),
    )
    .await;
    let users: Vec<Value> = r.json().await.unwrap();
    assert_eq!(users.len(), 1, "email search is exact: {users:?}");
    let r = call(&sim, Method::GET, "/users?search=ali", Some(ADMIN)).await;
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 2);
}

#[tokio::test]
async fn pagination_headers_follow_gitlab() {
    let sim = sim().await;
    let alice = sim.add_user("alice", "Alice", "alice@example.com");
    for i in 0..5 {
        let g = sim.add_group(&format!("group-{i}"));
        sim.add_member(SourceKind::Group, g, alice, 30);
    }
    let p = sim.add_project("group-0/api");
    sim.add_member(SourceKind::Project, p, alice, 40);

    let path = format!("/users/{alice}/memberships?per_page=2&page=2");
    let r = call(&sim, Method::GET, &path, Some(ADMIN)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-page"), "2");
    assert_eq!(header(&r, "x-per-page"), "2");
    assert_eq!(header(&r, "x-total"), "6");
    assert_eq!(header(&r, "x-total-pages"), "3");
    assert_eq!(header(&r, "x-next-page"), "3");
    assert_eq!(header(&r, "x-prev-page"), "1");
    let link = header(&r, "link");
    assert!(
        link.contains(&format!(
            "<{}/users/{alice}/memberships?per_page=2&page=3>; rel=\"next\"",
            sim.api_url()
        )),
        "{link}"
    );
    for rel in ["prev", "first", "last"] {
        assert!(link.contains(&format!("rel=\"{rel}\"")), "{link}");
    }
    let items: Vec<Value> = r.json().await.unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["source_type"], "Namespace");

    let r = call(
        &sim,
        Method::GET,
        &format!("/users/{alice}/memberships?per_page=2&page=3"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(header(&r, "x-next-page"), "");
    let items: Vec<Value> = r.json().await.unwrap();
    assert_eq!(items[1]["source_type"], "Project");
    assert_eq!(items[1]["access_level"], 40);

    let r = call(
        &sim,
        Method::GET,
        &format!("/users/{alice}/memberships?type=Project"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(header(&r, "x-total"), "1");
    let r = call(&sim, Method::GET, "/users?page=abc", Some(ADMIN)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "page is invalid"})
    );
}

#[tokio::test]
async fn tokens_and_members_endpoints() {
    let sim = sim().await;
    let alice = sim.add_user("alice", "Alice", "alice@example.com");
    let t1 = sim
        .add_personal_access_token(alice, "laptop", &["api"])
        .unwrap();
    sim.add_personal_access_token(alice, "ci", &["read_repository"])
        .unwrap();
    let r = call(
        &sim,
        Method::GET,
        &format!("/personal_access_tokens?user_id={alice}&state=active"),
        Some(ADMIN),
    )
    .await;
    let tokens: Vec<Value> = r.json().await.unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["active"], true);
    assert!(
        tokens[0].get("token").is_none(),
        "the secret is never listed"
    );
    assert!(!serde_json::to_string(&tokens).unwrap().contains(&t1.token));

    let path = format!("/personal_access_tokens/{}", t1.id);
    assert_eq!(
        call(&sim, Method::DELETE, &path, Some(ADMIN))
            .await
            .status(),
        204
    );
    let again = call(&sim, Method::DELETE, &path, Some(ADMIN)).await;
    assert_eq!(again.status(), 400);
    let r = call(&sim, Method::GET, &path, Some(ADMIN)).await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], false);
    assert_eq!(
        call(
            &sim,
            Method::DELETE,
            "/personal_access_tokens/999",
            Some(ADMIN)
        )
        .await
        .status(),
        404
    );
    let r = call(
        &sim,
        Method::GET,
        &format!("/personal_access_tokens?user_id={alice}&state=active"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(header(&r, "x-total"), "1");

    let g = sim.add_group("acme/platform");
    sim.add_member(SourceKind::Group, g, alice, 30);
    let by_path = format!("/groups/acme%2Fplatform/members/{alice}");
    assert_eq!(
        call(&sim, Method::DELETE, &by_path, Some(ADMIN))
            .await
            .status(),
        204
    );
    let r = call(
        &sim,
        Method::DELETE,
        &format!("/groups/{g}/members/{alice}"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "404 Not found"})
    );
    let r = call(
        &sim,
        Method::DELETE,
        &format!("/projects/77/members/{alice}"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "404 Project Not Found"})
    );
    assert!(sim.memberships(alice).is_empty());
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let sim = GitlabSim::start(GitlabSimConfig {
        token: ADMIN.into(),
        rate_limit: Some((2, Duration::from_secs(30))),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = call(&sim, Method::GET, "/users/1", Some(ADMIN)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "ratelimit-limit"), "2");
    assert_eq!(header(&r, "ratelimit-remaining"), "1");
    assert_eq!(header(&r, "ratelimit-name"), "throttle_authenticated_api");
    call(&sim, Method::GET, "/users/1", Some(ADMIN)).await;
    let r = call(&sim, Method::GET, "/users/1", Some(ADMIN)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "ratelimit-remaining"), "0");
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let reset: u64 = header(&r, "ratelimit-reset").parse().unwrap();
    assert!(reset > 1_700_000_000);
    assert!(header(&r, "ratelimit-resettime").ends_with("GMT"));
    assert_eq!(r.text().await.unwrap(), "Retry later\n");

    // Injected throttling looks the same.
    let sim = self::sim().await;
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(3));
    let r = call(&sim, Method::GET, "/users/1", Some(ADMIN)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "3");
    assert_eq!(header(&r, "ratelimit-remaining"), "0");
}

#[tokio::test]
async fn injected_faults_use_gitlabs_shapes() {
    let sim = sim().await;
    sim.faults().fail_next(1, 500);
    let r = call(&sim, Method::GET, "/users/1", Some(ADMIN)).await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "500 Internal Server Error"})
    );
    sim.faults().fail_next(1, 502);
    let r = call(&sim, Method::GET, "/users/1", Some(ADMIN)).await;
    assert_eq!(r.status(), 502);
    assert!(header(&r, "content-type").starts_with("text/html"));
    sim.faults().inject(
        FaultRule::next(1, Fault::Hang(Duration::from_millis(300))).on_path("/api/v4/users"),
    );
    let started = std::time::Instant::now();
    let r = call(&sim, Method::GET, "/users/1", Some(ADMIN)).await;
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sim.faults().injected(), 3);
    assert_eq!(
        call(&sim, Method::GET, "/users/1", Some(ADMIN))
            .await
            .status(),
        200
    );
}
