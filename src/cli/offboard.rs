use crate::app::App;
use crate::config::Config;
use crate::domain::Mode;
use crate::engine::OffboardRequest;
use crate::store::SubmitOutcome;
use clap::Args;
use leaver_connector::Identity;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Args)]
pub struct OffboardArgs {
    /// The identity's email.
    #[arg(long)]
    pub identity: String,
    #[arg(long)]
    pub plan: String,
    /// Preview every step; revoke nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Known account keys, e.g. --account github=alice-gh (repeatable).
    #[arg(long = "account", value_parser = super::parse_account)]
    pub accounts: Vec<(String, String)>,
    #[arg(long)]
    pub reason: Option<String>,
    /// Only record the run (a running `leaver serve` executes it); do not wait.
    #[arg(long)]
    pub no_wait: bool,
}

pub async fn run(config: Config, args: &OffboardArgs) -> anyhow::Result<i32> {
    let app = App::build(config).await?;
    let mut identity = Identity::new(&args.identity);
    for (system, key) in &args.accounts {
        identity.accounts.insert(system.clone(), key.clone());
    }
    let request = OffboardRequest {
        identity,
        plan: args.plan.clone(),
        mode: if args.dry_run {
            Mode::DryRun
        } else {
            Mode::Live
        },
        effective_at: None,
        ticket: None,
        reason: args.reason.clone(),
        trigger: Some("manual".into()),
    };
    let run = match app.engine.submit(&request, None, "cli").await? {
        SubmitOutcome::Created(run) | SubmitOutcome::Existing(run) => run,
        SubmitOutcome::KeyReused { existing_id } => {
            anyhow::bail!("key reused by run {existing_id}")
        }
    };
    println!(
        "offboarding {} started ({} mode, plan {})",
        run.id, run.mode, run.plan
    );
    if args.no_wait {
        return Ok(0);
    }
    let (stop, shutdown) = watch::channel(false);
    let tasks = app.spawn_background(shutdown)?;
    let finished = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        match app.store.get_run(&run.id).await? {
            Some(current) if current.status.is_terminal() => break current,
            _ => {}
        }
    };
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let steps = app.store.steps_for_run(&run.id).await?;
    println!("status: {}", finished.status);
    for step in &steps {
        let detail = step
            .error
            .clone()
            .or_else(|| {
                step.outcome
                    .as_ref()
                    .and_then(|o| o.get("summary"))
                    .and_then(|s| s.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        println!(
            "  {:<28} {:<34} {:<10} verified={} attempts={} {}",
            step.step_id, step.uses, step.status, step.verified, step.attempts, detail
        );
    }
    Ok(match finished.status {
        crate::domain::RunStatus::Completed => 0,
        _ => 2,
    })
}
