use crate::config::Config;
use crate::domain::Role;
use crate::store::{generate_token, redact_url, Store};
use anyhow::Context as _;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints the token alone on one line (it is shown only once).
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// viewer (read), operator (start offboardings and drills) or admin.
    #[arg(long)]
    pub role: Role,
    /// A name to recognise the token by in evidence and errors.
    #[arg(long, default_value = "cli")]
    pub name: String,
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        Role::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

pub async fn run(config: Config, command: &TokenCommand) -> anyhow::Result<i32> {
    match command {
        TokenCommand::Create(args) => {
            let store = Store::connect(&config.database.url, 2)
                .await
                .with_context(|| format!("opening {}", redact_url(&config.database.url)))?;
            let token = generate_token();
            store
                .create_token(&token, &args.name, args.role, "cli")
                .await?;
            println!("{token}");
            Ok(0)
        }
    }
}
