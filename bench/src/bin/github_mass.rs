//! GitHub mass-offboarding benchmark (issue 4): N identities (default 2,000) offboarded
//! at once with `github.remove_org_member`, through the real engine on SQLite, against
//! the simulated GitHub enforcing a primary rate limit of `--limit` requests per
//! `--window` (GitHub's 5,000/h scaled down). Measures:
//!
//! - the achieved request rate as a fraction of the allowed rate: requests GitHub
//!   admitted in every rate-limit window but the last, over the time from the first
//!   window's start to the last window's start (so the gaps between windows count as
//!   lost time), divided by `limit / window`;
//! - requests GitHub answered with a rate-limit refusal (403/429): the aim is none.
//!
//! Run: `cargo run --release -p leaver-bench --bin github_mass -- --repeat 3`

use clap::Parser;
use leaver::app::App;
use leaver::config::{Config, GithubSection};
use leaver::engine::OffboardRequest;
use leaver::store::SubmitOutcome;
use leaver_connector::Identity;
use leaver_sim::github::{GithubSim, GithubSimConfig};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Identities offboarded at once.
    #[arg(long, default_value_t = 2_000)]
    identities: usize,
    /// Primary limit: requests per window.
    #[arg(long, default_value_t = 1_500)]
    limit: u32,
    /// Window length in seconds.
    #[arg(long, default_value_t = 15)]
    window: u64,
    /// Repetitions; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

const TOKEN: &str = "bench-github-mass-token";
const PLAN: &str = "name: layoff\ntrigger: { events: [manual] }\nsteps:\n  - id: github\n    uses: github.remove_org_member\n    with: { org: acme }\n";

fn config(dir: &Path, github: &str) -> anyhow::Result<Config> {
    let plans = dir.join("workflows");
    std::fs::create_dir_all(&plans)?;
    std::fs::write(plans.join("layoff.yaml"), PLAN)?;
    std::fs::write(dir.join("token"), TOKEN)?;
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("bench.db").display());
    config.plans.dir = plans;
    config.evidence.signing_key = format!("file:{}", dir.join("key").display());
    config.engine.poll_interval = "20ms".into();
    config.engine.max_in_flight = 64;
    config.engine.per_connector_limit = 32;
    config.connectors.github = Some(GithubSection {
        api_url: github.to_string(),
        org: None,
        token: format!("file:{}", dir.join("token").display()),
        app: None,
        request_timeout: "30s".into(),
    });
    Ok(config)
}

fn request(user: usize) -> OffboardRequest {
    OffboardRequest {
        identity: Identity::new(format!("user{user}@example.com"))
            .with_account("github", format!("user{user}")),
        plan: "layoff".to_string(),
        mode: leaver::domain::Mode::Live,
        effective_at: None,
        ticket: None,
        reason: Some("layoff".into()),
        trigger: Some("bench".into()),
    }
}

struct Measurement {
    fraction: f64,
    refused: u64,
    requests: u64,
    seconds: f64,
}

async fn wait_all(app: &App, ids: &[String]) -> anyhow::Result<()> {
    let mut next = 0;
    while next < ids.len() {
        let run = app
            .store
            .get_run(&ids[next])
            .await?
            .ok_or_else(|| anyhow::anyhow!("run vanished"))?;
        if !run.status.is_terminal() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        if run.status != leaver::domain::RunStatus::Completed {
            anyhow::bail!("run {} ended {}", ids[next], run.status);
        }
        next += 1;
    }
    Ok(())
}

async fn once(args: &Args) -> anyhow::Result<Measurement> {
    let window = Duration::from_secs(args.window);
    let sim = GithubSim::start(GithubSimConfig {
        token: TOKEN.into(),
        rate_limit: args.limit,
        rate_limit_window: window,
        ..GithubSimConfig::default()
    })
    .await?;
    for user in 0..args.identities {
        sim.add_member("acme", &format!("user{user}"), "member");
    }
    let dir = tempfile::tempdir()?;
    let app = App::build(config(dir.path(), &sim.base_url())?).await?;
    let mut ids = Vec::with_capacity(args.identities);
    for user in 0..args.identities {
        match app.engine.submit(&request(user), None, "bench").await? {
            SubmitOutcome::Created(run) => ids.push(run.id),
            _ => anyhow::bail!("unexpected submit outcome"),
        }
    }
    let started = Instant::now();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let tasks = app.spawn_background(shutdown)?;
    let result = wait_all(&app, &ids).await;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    app.store.close().await;
    result?;
    if !sim.members("acme").is_empty() {
        anyhow::bail!("{} members left", sim.members("acme").len());
    }
    let (windows, (limit, window)) = sim.rate_windows();
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        anyhow::bail!("no request reached the simulator");
    };
    let span = last
        .start
        .duration_since(first.start)
        .unwrap_or_default()
        .as_secs_f64();
    let admitted: u64 = windows[..windows.len() - 1]
        .iter()
        .map(|w| u64::from(w.used))
        .sum();
    let allowed_rate = f64::from(limit) / window.as_secs_f64();
    let fraction = if span > 0.0 {
        admitted as f64 / span / allowed_rate
    } else {
        f64::NAN
    };
    Ok(Measurement {
        fraction,
        refused: sim.rate_limited_responses(),
        requests: sim.request_count(),
        seconds,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "{} identities, github.remove_org_member, primary limit {} per {} s ({:.1} req/s), SQLite",
        args.identities,
        args.limit,
        args.window,
        f64::from(args.limit) / args.window as f64
    );
    let mut fractions = Vec::new();
    let mut refused = Vec::new();
    let mut seconds = Vec::new();
    for i in 0..args.repeat.max(1) {
        let m = once(&args).await?;
        println!(
            "run {}: {:.1} s, {} requests, achieved {:.3} of the allowed rate, {} rate-limited answers",
            i + 1,
            m.seconds,
            m.requests,
            m.fraction,
            m.refused
        );
        fractions.push(m.fraction);
        refused.push(m.refused as f64);
        seconds.push(m.seconds);
    }
    println!(
        "median: {:.1} s, achieved {:.3} of the allowed rate, {} rate-limited answers",
        median(seconds),
        median(fractions),
        median(refused)
    );
    Ok(())
}
