//! Time-to-revoke of the shipped standard plan (issue 8): `workflows/standard-leaver.yaml`
//! run by the real engine against the Okta, GitHub, AWS IAM, Vault and Jira fakes over
//! HTTP, each answering after a latency like the real service's (defaults below), for
//! N people offboarded C at a time, on SQLite and PostgreSQL.
//!
//! For every run: time-to-revoke (from the request's effective time to the last
//! revocation verified, the number the dashboard and SLA use) and the run's critical
//! path — the longest chain of revocation steps through `needs:`, each weighted by its
//! own measured duration (its upstream calls and their latency). The ratio
//! time-to-revoke / critical path is what the engine adds on top of the unavoidable
//! upstream time (claiming, scheduling, commits); 1.0 would be no overhead.
//!
//! Run: `cargo run --release -p leaver-bench --bin revoke -- --people 60 --concurrency 5`

use clap::Parser;
use leaver::app::App;
use leaver::config::{
    AwsIamSection, Config, GithubSection, JiraSection, OktaSection, VaultSection,
};
use leaver::engine::{OffboardRequest, TicketRef};
use leaver::store::{StepRecord, SubmitOutcome};
use leaver_bench::{cleanup, database, quantile};
use leaver_connector::Identity;
use leaver_sim::aws_iam::{IamSim, IamSimConfig};
use leaver_sim::github::{GithubSim, GithubSimConfig};
use leaver_sim::jira::{JiraSim, JiraSimConfig};
use leaver_sim::okta::{KeyPair, OktaSim, OktaSimConfig, SimClient};
use leaver_sim::vault::{VaultSim, VaultSimConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// People offboarded per database.
    #[arg(long, default_value_t = 60)]
    people: usize,
    /// Offboardings in flight at once.
    #[arg(long, default_value_t = 5)]
    concurrency: usize,
    /// Upstream latencies in ms.
    #[arg(long, default_value_t = 120)]
    okta_ms: u64,
    #[arg(long, default_value_t = 90)]
    github_ms: u64,
    #[arg(long, default_value_t = 60)]
    aws_ms: u64,
    #[arg(long, default_value_t = 15)]
    vault_ms: u64,
    #[arg(long, default_value_t = 250)]
    jira_ms: u64,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    #[arg(long)]
    skip_postgres: bool,
}

const OKTA_CLIENT: &str = "0oaleaverbench0001";
const OKTA_KEY: &str = "leaver-bench-key";
const GITHUB_TOKEN: &str = "bench-github-token";
const VAULT_TOKEN: &str = "hvs.bench-vault-token";
const JIRA_TOKEN: &str = "bench-jira-token";
/// Steps that report rather than revoke: not part of time-to-revoke.
const REPORTING: [&str; 2] = ["ticket-summary", "residual-access-sweep"];

struct Upstreams {
    okta: OktaSim,
    github: GithubSim,
    iam: IamSim,
    vault: VaultSim,
    jira: JiraSim,
    keys: KeyPair,
}

async fn upstreams(args: &Args) -> anyhow::Result<Upstreams> {
    let keys = KeyPair::generate_rsa().map_err(|e| anyhow::anyhow!("rsa key: {e}"))?;
    let okta = OktaSim::start(OktaSimConfig {
        clients: vec![SimClient {
            client_id: OKTA_CLIENT.into(),
            name: "Leaver".into(),
            public_key_pem: keys.public_key_pem.clone(),
            key_id: Some(OKTA_KEY.into()),
            scopes: vec![
                "okta.users.manage".into(),
                "okta.users.read".into(),
                "okta.logs.read".into(),
            ],
        }],
        ..Default::default()
    })
    .await?;
    okta.faults()
        .set_latency(Duration::from_millis(args.okta_ms));
    let github = GithubSim::start(GithubSimConfig {
        token: GITHUB_TOKEN.into(),
        latency: Duration::from_millis(args.github_ms),
        ..Default::default()
    })
    .await?;
    let iam = IamSim::start(IamSimConfig::default()).await?;
    iam.faults().set_latency(Duration::from_millis(args.aws_ms));
    let vault = VaultSim::start(VaultSimConfig {
        token: VAULT_TOKEN.into(),
        ..Default::default()
    })
    .await?;
    vault
        .faults()
        .set_latency(Duration::from_millis(args.vault_ms));
    let jira = JiraSim::start(JiraSimConfig {
        api_token: JIRA_TOKEN.into(),
        ..Default::default()
    })
    .await?;
    jira.faults()
        .set_latency(Duration::from_millis(args.jira_ms));
    Ok(Upstreams {
        okta,
        github,
        iam,
        vault,
        jira,
        keys,
    })
}

/// Someone with access everywhere; returns the offboarding request.
fn seed(up: &Upstreams, tag: &str, n: usize) -> anyhow::Result<OffboardRequest> {
    let name = format!("{tag}{n}");
    let email = format!("{name}@example.com");
    let okta_id = up.okta.add_user(&email, &name, "Example");
    up.okta.add_session(&okta_id);
    up.okta
        .add_refresh_token(&okta_id, "0oaslack", &["openid", "offline_access"]);
    up.github
        .add_member("acme", &format!("{name}-gh"), "member");
    up.iam
        .account()
        .seed_full_user(&name, Some(&email))
        .ok_or_else(|| anyhow::anyhow!("seeding IAM user {name}"))?;
    let root = up.vault.root();
    root.add_userpass_user("userpass", &name, "pw", &["dev"]);
    let (_, entity) = root
        .login_userpass("userpass", &name, "pw")
        .ok_or_else(|| anyhow::anyhow!("vault login {name}"))?;
    let ticket = format!("HR-{}", 1000 + n);
    up.jira.add_issue(&ticket, &format!("Offboard {name}"))?;
    Ok(OffboardRequest {
        identity: Identity::new(email)
            .with_account("github", format!("{name}-gh"))
            .with_account("vault", entity),
        plan: "standard-leaver".into(),
        mode: leaver::domain::Mode::Live,
        effective_at: None,
        ticket: Some(TicketRef {
            system: "jira".into(),
            key: ticket,
        }),
        reason: Some("bench".into()),
        trigger: Some("bench".into()),
    })
}

fn secret_file(dir: &Path, name: &str, value: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, value)?;
    Ok(format!("file:{}", path.display()))
}

fn config(dir: &Path, db_url: &str, up: &Upstreams) -> anyhow::Result<Config> {
    let plans = dir.join("workflows");
    std::fs::create_dir_all(&plans)?;
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows/standard-leaver.yaml");
    std::fs::copy(plan, plans.join("standard-leaver.yaml"))?;
    let mut config = Config::default();
    config.database.url = db_url.to_string();
    config.plans.dir = plans;
    config.evidence.signing_key = format!("file:{}", dir.join("signing.key").display());
    config.engine.poll_interval = "50ms".into();
    config.engine.step_timeout = "30s".into();
    config.connectors.github = Some(GithubSection {
        api_url: up.github.base_url(),
        org: Some("acme".into()),
        token: secret_file(dir, "github-token", GITHUB_TOKEN)?,
        app: None,
        request_timeout: "10s".into(),
    });
    config.idp.okta = Some(OktaSection {
        org_url: Some(up.okta.base_url()),
        hook_secret: secret_file(dir, "okta-hook", "bench-hook-secret")?,
        client_id: Some(OKTA_CLIENT.into()),
        private_key: Some(secret_file(dir, "okta.pem", &up.keys.private_key_pem)?),
        key_id: Some(OKTA_KEY.into()),
        request_timeout: "10s".into(),
        ..OktaSection::default()
    });
    config.connectors.aws_iam = Some(AwsIamSection {
        region: "us-east-1".into(),
        endpoint_url: Some(up.iam.base_url()),
        request_timeout: "10s".into(),
        max_attempts: 3,
        default_account: None,
        page_size: None,
        accounts: Default::default(),
    });
    config.connectors.vault = Some(VaultSection {
        addr: up.vault.base_url(),
        token: secret_file(dir, "vault-token", VAULT_TOKEN)?,
        namespace: None,
        request_timeout: "10s".into(),
    });
    config.tickets.jira = Some(JiraSection {
        base_url: up.jira.base_url(),
        email: JiraSimConfig::default().email,
        api_token: secret_file(dir, "jira-token", JIRA_TOKEN)?,
        request_timeout: "10s".into(),
    });
    Ok(config)
}

/// The longest chain of revocation steps through `needs:`, by measured duration (ms).
fn critical_path(steps: &[StepRecord]) -> f64 {
    let by_id: BTreeMap<&str, &StepRecord> = steps
        .iter()
        .filter(|s| !REPORTING.contains(&s.step_id.as_str()))
        .map(|s| (s.step_id.as_str(), s))
        .collect();
    fn longest<'a>(
        id: &'a str,
        by_id: &BTreeMap<&'a str, &'a StepRecord>,
        memo: &mut BTreeMap<&'a str, f64>,
    ) -> f64 {
        if let Some(v) = memo.get(id) {
            return *v;
        }
        let Some(step) = by_id.get(id) else {
            return 0.0;
        };
        let own = match (step.started_at, step.finished_at) {
            (Some(s), Some(f)) => (f - s).max(0) as f64,
            _ => 0.0,
        };
        let before = step
            .needs
            .iter()
            .map(|n| longest(n, by_id, memo))
            .fold(0.0, f64::max);
        memo.insert(id, own + before);
        own + before
    }
    let mut memo = BTreeMap::new();
    by_id
        .keys()
        .map(|id| longest(id, &by_id, &mut memo))
        .fold(0.0, f64::max)
}

/// (time-to-revoke ms, critical path ms) of every run.
async fn measure(args: &Args, kind: &'static str) -> anyhow::Result<Vec<(f64, f64)>> {
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let up = upstreams(args).await?;
    std::env::set_var("AWS_ACCESS_KEY_ID", up.iam.access_key_id());
    std::env::set_var("AWS_SECRET_ACCESS_KEY", up.iam.secret_access_key());
    let db = database(kind, &args.postgres).await?;
    let dir = tempfile::tempdir()?;
    let app = App::build(config(dir.path(), &db.url, &up)?).await?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let tasks = app.spawn_background(shutdown)?;
    let requests: Vec<OffboardRequest> = (0..args.people)
        .map(|n| seed(&up, kind, n))
        .collect::<anyhow::Result<_>>()?;
    let mut results = Vec::new();
    for chunk in requests.chunks(args.concurrency.max(1)) {
        let mut ids = Vec::new();
        for request in chunk {
            match app.engine.submit(request, None, "bench").await? {
                SubmitOutcome::Created(run) => ids.push(run.id),
                _ => anyhow::bail!("unexpected submit outcome"),
            }
        }
        for id in ids {
            let run = loop {
                let run = app
                    .store
                    .get_run(&id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("run vanished"))?;
                if run.status.is_terminal() {
                    break run;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            if run.status != leaver::domain::RunStatus::Completed {
                let steps = app.store.steps_for_run(&id).await?;
                let failed: Vec<String> = steps
                    .iter()
                    .filter(|s| s.status != leaver::domain::StepStatus::Succeeded)
                    .map(|s| {
                        format!(
                            "{} {}: {}",
                            s.step_id,
                            s.status,
                            s.error.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                anyhow::bail!(
                    "{kind}: run {id} ended {}: {}",
                    run.status,
                    failed.join("; ")
                );
            }
            let revoked = run
                .revoked_at
                .ok_or_else(|| anyhow::anyhow!("run {id} has no revocation time"))?;
            let steps = app.store.steps_for_run(&id).await?;
            results.push(((revoked - run.effective_at) as f64, critical_path(&steps)));
        }
    }
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    app.store.close().await;
    cleanup(db).await;
    Ok(results)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut kinds = vec!["sqlite"];
    if !args.skip_postgres {
        kinds.push("postgres");
    }
    println!(
        "standard-leaver: {} people, {} at a time; upstream latency Okta {} ms, GitHub {} ms, AWS IAM {} ms, Vault {} ms, Jira {} ms",
        args.people, args.concurrency, args.okta_ms, args.github_ms, args.aws_ms, args.vault_ms, args.jira_ms
    );
    println!("| database | time-to-revoke p50 | p99 | critical path p50 | ratio p50 | ratio p99 |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for kind in kinds {
        let results = measure(&args, kind).await?;
        let mut ttr: Vec<f64> = results.iter().map(|(t, _)| *t).collect();
        let mut path: Vec<f64> = results.iter().map(|(_, c)| *c).collect();
        let mut ratio: Vec<f64> = results
            .iter()
            .filter(|(_, c)| *c > 0.0)
            .map(|(t, c)| t / c)
            .collect();
        for v in [&mut ttr, &mut path, &mut ratio] {
            v.sort_by(|a, b| a.total_cmp(b));
        }
        println!(
            "| {kind} | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} | {:.2} |",
            quantile(&ttr, 0.5),
            quantile(&ttr, 0.99),
            quantile(&path, 0.5),
            quantile(&ratio, 0.5),
            quantile(&ratio, 0.99)
        );
    }
    Ok(())
}
