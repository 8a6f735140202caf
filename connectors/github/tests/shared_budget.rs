//! Concurrent runs sharing one credential share its rate-limit budget: with a low
//! primary limit in the simulated GitHub, many concurrent removals through several
//! connector instances (as concurrent runs and replicas' workers would make them) all
//! finish, and GitHub never has to refuse a request.

use leaver_connector::{ActionRequest, Connector, Identity};
use leaver_connector_github::{GithubConfig, GithubConnector};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "ghp_shared_budget_token_0001";

fn request(i: usize) -> ActionRequest {
    ActionRequest {
        action: "remove_org_member".into(),
        params: serde_json::json!({"org": "acme"}),
        identity: Identity::new(format!("u{i}@example.com"))
            .with_account("github", format!("u{i}")),
        run_id: format!("run-{i}"),
        step_id: "github".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_share_the_budget_and_never_hit_the_limit() {
    const PEOPLE: usize = 60;
    const LIMIT: u32 = 25;
    const WINDOW: Duration = Duration::from_secs(2);
    let sim = GithubSim::start(GithubSimConfig {
        token: TOKEN.into(),
        rate_limit: LIMIT,
        rate_limit_window: WINDOW,
        ..Default::default()
    })
    .await
    .unwrap();
    for i in 0..PEOPLE {
        sim.add_member("acme", &format!("u{i}"), "member");
    }
    // Three connectors with the same credential: three "processes' worth" of callers
    // in one process draw on one budget.
    let connectors: Vec<Arc<GithubConnector>> = (0..3)
        .map(|_| {
            Arc::new(
                GithubConnector::new(GithubConfig {
                    api_url: sim.base_url(),
                    token: TOKEN.into(),
                    request_timeout: Duration::from_secs(5),
                    max_rate_limit_wait: Duration::from_secs(10),
                    ..GithubConfig::default()
                })
                .unwrap(),
            )
        })
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = (0..PEOPLE)
        .map(|i| {
            let github = connectors[i % connectors.len()].clone();
            tokio::spawn(async move {
                let step = request(i);
                github.execute(&step).await?;
                github.verify(&step).await
            })
        })
        .collect();
    for task in tasks {
        let verification = task
            .await
            .unwrap()
            .expect("no error, not even a transient one");
        assert!(verification.verified, "{verification:?}");
    }
    let elapsed = started.elapsed();
    assert!(sim.members("acme").is_empty());
    assert_eq!(
        sim.rate_limited_responses(),
        0,
        "no 403/429 rate-limit answers"
    );
    assert_eq!(sim.primary_limit_rejections(), 0);
    assert_eq!(sim.request_count(), 2 * PEOPLE as u64, "no request wasted");
    // 120 requests at 25 per 2 s need at least four full windows.
    assert!(elapsed >= WINDOW * 4, "{elapsed:?}");
    let (windows, _) = sim.rate_windows();
    assert!(windows.len() >= 5, "{windows:?}");
    assert!(windows.iter().all(|w| w.used <= LIMIT && w.refused == 0));
}
