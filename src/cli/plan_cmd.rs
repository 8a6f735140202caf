use super::Cli;
use crate::connectors::build_catalog;
use crate::plan::{self, PlanSet};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use leaver_connector::Identity;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Check plan files: unknown actions and keys, missing parameters, cycles, bad
    /// durations, each reported as file:line:column: reason.
    Validate(ValidateArgs),
    /// Show what a plan would revoke for an identity, touching nothing.
    Explain(ExplainArgs),
    /// Print the JSON Schema of plan files, for editors.
    Schema,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Plan files or directories (default: plans.dir).
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[arg(long)]
    pub plan: String,
    /// The identity's email.
    #[arg(long)]
    pub identity: String,
    /// Known account keys, e.g. --account github=alice-gh (repeatable).
    #[arg(long = "account", value_parser = super::parse_account)]
    pub accounts: Vec<(String, String)>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cli: &Cli, command: &PlanCommand) -> anyhow::Result<i32> {
    let config = super::load_config(cli)?;
    let registry = crate::connectors::build_registry(&config)?;
    let catalog = build_catalog(&registry)?;
    match command {
        PlanCommand::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan::json_schema(&catalog))?
            );
            Ok(0)
        }
        PlanCommand::Validate(args) => {
            let paths = if args.paths.is_empty() {
                vec![config.plans.dir.clone()]
            } else {
                args.paths.clone()
            };
            let mut failed = false;
            for path in paths {
                let result = if path.is_dir() {
                    PlanSet::load_dir(&path, &catalog)
                        .map(|set| set.names().map(str::to_string).collect::<Vec<_>>())
                } else {
                    plan::load_plan_file(&path, &catalog).map(|p| vec![p.name])
                };
                match result {
                    Ok(names) => {
                        for name in names {
                            println!("ok  {name} ({})", path.display());
                        }
                    }
                    Err(errors) => {
                        failed = true;
                        for error in errors {
                            eprintln!("{error}");
                        }
                    }
                }
            }
            Ok(i32::from(failed))
        }
        PlanCommand::Explain(args) => {
            let plans = PlanSet::load_dir(&config.plans.dir, &catalog).map_err(|errors| {
                anyhow::anyhow!(
                    "{}",
                    errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })?;
            let plan = plans.get(&args.plan).with_context(|| {
                format!(
                    "unknown plan `{}` (known: {})",
                    args.plan,
                    plans.names().collect::<Vec<_>>().join(", ")
                )
            })?;
            let mut identity = Identity::new(&args.identity);
            for (system, key) in &args.accounts {
                identity.accounts.insert(system.clone(), key.clone());
            }
            let explanation = plan::explain(plan, &registry, &identity).await;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&explanation)?);
            } else {
                print!("{}", explanation.render_text());
            }
            Ok(0)
        }
    }
}
