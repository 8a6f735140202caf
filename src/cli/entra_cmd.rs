//! `leaver entra subscribe`: create (or renew) the Microsoft Graph subscription that
//! sends user changes to `{server.public_url}/hooks/entra`.

use crate::config::Config;
use crate::intake::entra::{ensure_subscription, EntraIntake, SubscribeOutcome};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum EntraCommand {
    /// Subscribe to changes of users (updated, deleted) for {server.public_url}/hooks/entra,
    /// with lifecycle notifications to the same URL and the configured clientState, for
    /// Graph's longest lifetime (about 29 days); renews the subscription if it exists.
    /// The server must be reachable at the public URL: Graph validates it first.
    Subscribe,
}

/// What `leaver entra subscribe` does, for the CLI and tests.
pub async fn subscribe(config: &Config) -> anyhow::Result<SubscribeOutcome> {
    let service = EntraIntake::from_config(config)?
        .ok_or_else(|| anyhow::anyhow!("[idp.entra] is not configured"))?;
    ensure_subscription(&service, None).await
}

pub async fn run(config: Config, command: &EntraCommand) -> anyhow::Result<i32> {
    match command {
        EntraCommand::Subscribe => {
            let outcome = subscribe(&config).await?;
            super::emit(&format!(
                "subscription {} {} (expires {})\n",
                outcome.subscription_id, outcome.action, outcome.expires_at
            ))?;
            Ok(0)
        }
    }
}
