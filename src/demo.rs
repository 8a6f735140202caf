//! `leaver demo`: one command that shows the whole loop on this machine. It starts the
//! simulated upstreams (the same ones the tests use), an embedded SQLite database and
//! the HTTP server, offboards a sample user through the public API, and prints what was
//! revoked, the verified evidence chain, and where to look next.

use crate::app::App;
use crate::config::{Config, GithubSection};
use anyhow::Context as _;
use clap::Args;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// The shipped plans, so the demo runs from any directory.
const SHIPPED_PLANS: &[(&str, &str)] = &[(
    "standard-leaver.yaml",
    include_str!("../workflows/standard-leaver.yaml"),
)];

const DEMO_GITHUB_TOKEN: &str = "demo-github-token";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for the demo's HTTP server (default: 127.0.0.1:8080, or a free port if
    /// that one is taken).
    #[arg(long)]
    pub listen: Option<String>,
    /// Exit after printing, instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
    /// Directory for the demo's database, key and evidence (default: a new temporary one).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub async fn run(args: &DemoArgs) -> anyhow::Result<i32> {
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => std::env::temp_dir().join(format!("leaver-demo-{}", uuid::Uuid::now_v7())),
    };
    std::fs::create_dir_all(dir.join("workflows"))?;
    for (name, text) in SHIPPED_PLANS {
        std::fs::write(dir.join("workflows").join(name), text)?;
    }

    println!(
        "Leaver demo — everything runs on this machine, in {}\n",
        dir.display()
    );
    let github = GithubSim::start(GithubSimConfig {
        token: DEMO_GITHUB_TOKEN.to_string(),
        latency: Duration::from_millis(40),
        ..GithubSimConfig::default()
    })
    .await
    .context("starting the simulated GitHub")?;
    github.add_member("acme", "alice-gh", "member");
    github.add_member("acme", "bob-gh", "admin");
    println!(
        "simulated GitHub   {}  (org acme: alice-gh, bob-gh)",
        github.base_url()
    );

    let config = demo_config(&dir, &github.base_url())?;
    let app = App::build(config).await?;
    let listener = bind(args.listen.as_deref()).await?;
    let address = listener.local_addr()?;
    let base = format!("http://{address}");
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(app.clone().serve(listener, shutdown));
    println!(
        "leaver             {base}  (database {})",
        app.store.dialect().name()
    );

    let token = crate::store::generate_token();
    app.store
        .create_token(&token, "demo-admin", crate::domain::Role::Admin, "demo")
        .await?;

    let client = reqwest::Client::new();
    println!("\n1. The IdP deactivates alice@example.com; Leaver is asked to offboard her:");
    let request = serde_json::json!({
        "identity": {
            "email": "alice@example.com", "idp": "okta", "idp_user_id": "00u1abc",
            "display_name": "Alice Example",
            "accounts": {"github": "alice-gh"}
        },
        "plan": "standard-leaver", "mode": "live",
        "ticket": {"system": "jira", "key": "HR-4312"},
        "reason": "resignation"
    });
    println!("   POST {base}/api/v1/offboardings  (Idempotency-Key: HR-4312)");
    let created: serde_json::Value = client
        .post(format!("{base}/api/v1/offboardings"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "HR-4312")
        .json(&request)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_str().unwrap_or_default().to_string();
    println!("   → 202 run {id}");

    let run = wait_for_run(&client, &base, &token, &id).await?;
    println!("\n2. The plan ran; every revocation was verified by a probe:");
    if let Some(steps) = run["steps"].as_array() {
        for step in steps {
            let outcome = &step["outcome"];
            let detail = outcome["summary"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    outcome["holdings"]
                        .as_array()
                        .map(|h| format!("{} holding(s) left", h.len()))
                })
                .or_else(|| step["error"].as_str().map(str::to_string))
                .unwrap_or_default();
            println!(
                "   {:<24} {:<32} {:<10} verified={:<5} {}",
                step["id"].as_str().unwrap_or_default(),
                step["uses"].as_str().unwrap_or_default(),
                step["status"].as_str().unwrap_or_default(),
                step["verified"],
                detail
            );
        }
    }
    println!(
        "   status {}, completion {}, time to revoke {} ms, still a GitHub member: {}",
        run["status"].as_str().unwrap_or_default(),
        run["completion"],
        run["time_to_revoke_ms"],
        github.is_member("acme", "alice-gh")
    );

    let bundle = dir.join("evidence.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&bundle)?);
    let summary = app.ledger.export(None, None, &mut file, "demo").await?;
    std::io::Write::flush(&mut file)?;
    drop(file);
    let report = crate::evidence::verify_bundle_reader(
        std::io::BufReader::new(std::fs::File::open(&bundle)?),
        None,
    );
    println!("\n3. The evidence ledger, exported and verified offline:");
    println!(
        "   {} entries (seq {}..{}), signed by key {}",
        summary.entries, summary.from_seq, summary.to_seq, summary.key_id
    );
    println!("   {}", report.render_text().replace('\n', "\n   "));

    println!("\nWhere to look next:");
    println!(
        "   run:       curl -H 'Authorization: Bearer {token}' {base}/api/v1/offboardings/{id}"
    );
    println!("   metrics:   curl {base}/metrics");
    println!("   evidence:  leaver evidence verify {}", bundle.display());
    println!(
        "   plan:      {}",
        dir.join("workflows/standard-leaver.yaml").display()
    );

    let code = if report.ok && run["status"] == "completed" {
        0
    } else {
        1
    };
    if !args.exit {
        println!("\nServing until Ctrl-C (admin token above).");
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(true);
    let _ = server.await;
    Ok(code)
}

fn demo_config(dir: &Path, github_url: &str) -> anyhow::Result<Config> {
    let token_file = dir.join("github-token");
    std::fs::write(&token_file, DEMO_GITHUB_TOKEN)?;
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("leaver.db").display());
    config.plans.dir = dir.join("workflows");
    config.evidence.signing_key = format!("file:{}", dir.join("leaver-signing.key").display());
    config.engine.poll_interval = "100ms".into();
    config.connectors.github = Some(GithubSection {
        api_url: github_url.to_string(),
        org: Some("acme".into()),
        token: format!("file:{}", token_file.display()),
        request_timeout: "10s".into(),
    });
    Ok(config)
}

async fn bind(listen: Option<&str>) -> anyhow::Result<tokio::net::TcpListener> {
    if let Some(listen) = listen {
        return tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"));
    }
    match tokio::net::TcpListener::bind("127.0.0.1:8080").await {
        Ok(listener) => Ok(listener),
        Err(_) => Ok(tokio::net::TcpListener::bind("127.0.0.1:0").await?),
    }
}

async fn wait_for_run(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> anyhow::Result<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let run: serde_json::Value = client
            .get(format!("{base}/api/v1/offboardings/{id}"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let status = run["status"].as_str().unwrap_or_default();
        if matches!(
            status,
            "completed" | "failed" | "partially_failed" | "cancelled"
        ) {
            return Ok(run);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("run {id} did not finish within 60 s (status {status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
