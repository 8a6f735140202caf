//! The dashboard in a real browser: headless Chromium driven through chromedriver
//! (WebDriver, the `fantoccini` crate). A person opens /, is sent to the login page,
//! types a token, sees the overview (counts, the run, the evidence status), clicks
//! through to the run's timeline, opens the drills and rotations pages, and signs out.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test.sh installs them).
//! Without /usr/bin/chromedriver the test prints a notice and passes, except in CI
//! (CI set), where it fails.

mod common;

use common::probe::Probe;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use leaver::app::App;
use leaver::connectors::build_registry;
use leaver::domain::Role;
use leaver::store::{now_ms, RotationRow};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

const DRILL_PLAN: &str = r#"
name: canary-drill
trigger: { events: [drill] }
sla: 30s
steps:
  - id: revoke-a
    uses: probe.revoke
    with: { key: a }
restore:
  - id: grant-a
    uses: probe.grant
    with: { key: a }
"#;

/// chromedriver as a child process, killed when dropped (even when the test panics).
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = reqwest::get(format!("{}/status", driver.url))
            .await
            .ok()
            .and_then(|r| r.status().is_success().then_some(()));
        if ready.is_some() {
            return driver;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver did not answer on {}",
            driver.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1800"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session with headless Chromium")
}

async fn wait_for_path(browser: &Client, path: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let url = browser.current_url().await.expect("current url");
        if url.path() == path {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {path}, the browser is at {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Save a screenshot of the page into the test's directory (and into
/// `LEAVER_TEST_SCREENSHOTS` when set, to look at them after the run).
async fn screenshot(browser: &Client, dir: &Path, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(png.len() > 1000, "something was rendered");
    std::fs::write(dir.join(name), &png).expect("save screenshot");
    if let Some(keep) = std::env::var_os("LEAVER_TEST_SCREENSHOTS") {
        let keep = Path::new(&keep);
        std::fs::create_dir_all(keep).expect("screenshot dir");
        std::fs::write(keep.join(name), &png).expect("keep screenshot");
    }
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
        .text()
        .await
        .expect("text")
}

/// A completed GitHub offboarding, a passed drill and an overdue rotation.
async fn seed(server: &Server) -> (String, usize) {
    let client = reqwest::Client::new();
    let created: serde_json::Value = client
        .post(format!("{}/api/v1/offboardings", server.base))
        .bearer_auth(&server.admin_token)
        .json(&json!({
            "identity": {"email": "alice@example.com", "display_name": "Alice Example",
                         "accounts": {"github": "alice-gh"}},
            "plan": "gh-leaver", "mode": "live", "reason": "resignation"
        }))
        .send()
        .await
        .expect("create run")
        .json()
        .await
        .expect("run json");
    let run_id = created["id"].as_str().expect("run id").to_string();
    let run = server.wait_run(&run_id, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run:#}");

    let drill: serde_json::Value = client
        .post(format!("{}/api/v1/drills", server.base))
        .bearer_auth(&server.admin_token)
        .json(&json!({"plan": "canary-drill", "identity": "canary@example.com"}))
        .send()
        .await
        .expect("start drill")
        .json()
        .await
        .expect("drill json");
    let drill_id = drill["id"].as_str().expect("drill id").to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let drill: serde_json::Value = client
            .get(format!("{}/api/v1/drills/{drill_id}", server.base))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .expect("get drill")
            .json()
            .await
            .expect("drill json");
        if drill["status"] != "running" {
            assert_eq!(drill["status"], "pass", "{drill:#}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "drill did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let now = now_ms();
    server
        .app
        .store
        .schedule_rotation(
            &RotationRow {
                owner: Some("payments-team".into()),
                run_id: run_id.clone(),
                identity: "alice@example.com".into(),
                ..open_rotation("secret/prod/payments-db", now - 7_200_000, now)
            },
            |_| Vec::new(),
        )
        .await
        .expect("rotation");
    let steps = server
        .app
        .store
        .steps_for_run(&run_id)
        .await
        .expect("steps")
        .len();
    (run_id, steps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_and_reads_the_dashboard() {
    if !Path::new(CHROMEDRIVER).exists() {
        if std::env::var_os("CI").is_some() {
            panic!("{CHROMEDRIVER} is missing: install Debian's chromium and chromium-driver (scripts/test.sh does)");
        }
        eprintln!("NOTICE: {CHROMEDRIVER} missing; skipping the browser test (apt-get install chromium chromium-driver)");
        return;
    }
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let sim = GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.into(),
        ..Default::default()
    })
    .await
    .expect("github sim");
    sim.add_member("acme", "alice-gh", "member");
    let plans = plans_dir(
        dir.path(),
        &[("gh-leaver", GITHUB_PLAN), ("canary-drill", DRILL_PLAN)],
    );
    let config = test_config(&db.url, dir.path(), &plans, Some(&sim.base_url()));
    let probe = Probe::with_holdings(&["a"]);
    let mut registry = build_registry(&config).expect("registry");
    registry.register(Arc::new(probe.clone()));
    let app = App::build_with_registry(config, registry)
        .await
        .expect("app");
    let server = Server::start(app).await;
    let (run_id, step_count) = seed(&server).await;
    let viewer = server.token(Role::Viewer).await;

    let driver = start_chromedriver().await;
    let browser = browser(&driver).await;

    // Not signed in: the dashboard sends the browser to the login page.
    browser
        .goto(&format!("{}/", server.base))
        .await
        .expect("open /");
    wait_for_path(&browser, "/login").await;
    let token_field = browser
        .find(Locator::Css("input#token"))
        .await
        .expect("token field");
    token_field.send_keys(&viewer).await.expect("type token");
    browser
        .find(Locator::Css("form[action='/login'] button[type=submit]"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("submit");
    wait_for_path(&browser, "/").await;

    // The overview, as a person reads it.
    let header = text(&browser, "header").await;
    assert!(header.contains("token:test-viewer (viewer)"), "{header}");
    let cards = text(&browser, ".cards").await;
    assert!(cards.contains("in flight"), "{cards}");
    assert!(cards.contains("completed"), "{cards}");
    assert!(
        cards.contains("1 / 1"),
        "one open rotation, overdue: {cards}"
    );
    let recent = text(&browser, "#recent").await;
    assert!(recent.contains("alice@example.com"), "{recent}");
    assert!(recent.contains("gh-leaver"), "{recent}");
    let evidence = text(&browser, "#evidence-status").await;
    assert_eq!(evidence, "verified: chain intact");
    let drills = text(&browser, "#drills").await;
    assert!(drills.contains("Pass rate 100%"), "{drills}");
    screenshot(&browser, dir.path(), "overview.png").await;

    // Click through to the run's timeline.
    browser
        .find(Locator::Css(&format!("#recent a[href='/runs/{run_id}']")))
        .await
        .expect("link to the run")
        .click()
        .await
        .expect("click the run");
    wait_for_path(&browser, &format!("/runs/{run_id}")).await;
    let bars = browser
        .find_all(Locator::Css("svg.timeline rect.bar"))
        .await
        .expect("timeline bars");
    assert_eq!(bars.len(), step_count, "one bar per step");
    let labels = browser
        .find_all(Locator::Css("svg.timeline text.step-label"))
        .await
        .expect("labels");
    let mut label_texts = Vec::new();
    for label in &labels {
        assert!(label.is_displayed().await.expect("displayed"));
        label_texts.push(label.text().await.expect("label text"));
    }
    assert!(
        label_texts.iter().any(|t| t.contains("github · github")),
        "{label_texts:?}"
    );
    assert!(
        label_texts
            .iter()
            .any(|t| t.contains("residual-access-sweep")),
        "{label_texts:?}"
    );
    let steps = text(&browser, "#steps").await;
    assert!(steps.contains("github.remove_org_member"), "{steps}");
    assert!(text(&browser, "#identity").await.contains("Alice Example"));
    screenshot(&browser, dir.path(), "run.png").await;

    // The drills page: the history row and the trend chart.
    browser
        .find(Locator::Css("header a[href='/drills']"))
        .await
        .expect("drills link")
        .click()
        .await
        .expect("open drills");
    wait_for_path(&browser, "/drills").await;
    let row = text(&browser, "tr.drill-row").await;
    assert!(row.contains("canary-drill"), "{row}");
    assert!(row.contains("canary@example.com"), "{row}");
    assert!(row.contains("pass"), "{row}");
    let marks = browser
        .find_all(Locator::Css("svg.trend circle.pass"))
        .await
        .expect("trend marks");
    assert_eq!(marks.len(), 1);
    screenshot(&browser, dir.path(), "drills.png").await;

    // The rotations page: the overdue one.
    browser
        .goto(&format!("{}/rotations", server.base))
        .await
        .expect("open rotations");
    let row = text(&browser, "tr.rotation-row.overdue").await;
    assert!(row.contains("secret/prod/payments-db"), "{row}");
    assert!(row.contains("overdue by 2 h"), "{row}");
    screenshot(&browser, dir.path(), "rotations.png").await;

    // Sign out: back to the login page, and the dashboard asks again.
    browser
        .find(Locator::Css("header form[action='/logout'] button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("sign out");
    wait_for_path(&browser, "/login").await;
    browser
        .goto(&format!("{}/", server.base))
        .await
        .expect("open / again");
    wait_for_path(&browser, "/login").await;
    assert_eq!(
        server.app.store.count_dashboard_sessions().await.unwrap(),
        0
    );

    browser.close().await.expect("close the browser");
    drop(driver);
    server.stop().await;
}
