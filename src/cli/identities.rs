use crate::config::Config;
use crate::store::{check_mapping, redact_url, AccountMapping, Store};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum IdentitiesCommand {
    /// Import account mappings from a CSV file with the header `email,system,account`
    /// (all rows or none).
    Import(ImportArgs),
    /// Show the accounts mapped to an identity.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub email: String,
}

/// Parse a mapping CSV; every problem is reported with its line, and any problem
/// refuses the whole file.
pub fn parse_mapping_csv(text: &str) -> Result<Vec<AccountMapping>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(e) => return Err(vec![format!("line 1: {e}")]),
    };
    let expected = ["email", "system", "account"];
    if headers.iter().collect::<Vec<_>>() != expected {
        return Err(vec![format!(
            "line 1: the header must be `email,system,account`, found `{}`",
            headers.iter().collect::<Vec<_>>().join(",")
        )]);
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                let row = AccountMapping {
                    email: record.get(0).unwrap_or_default().to_string(),
                    system: record.get(1).unwrap_or_default().to_string(),
                    account: record.get(2).unwrap_or_default().to_string(),
                };
                match check_mapping(&row) {
                    Ok(()) => rows.push(row),
                    Err(reason) => errors.push(format!("line {line}: {reason}")),
                }
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(format!("line {line}: {e}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

pub async fn run(config: Config, command: &IdentitiesCommand) -> anyhow::Result<i32> {
    let store = Store::connect(&config.database.url, 2)
        .await
        .with_context(|| format!("opening {}", redact_url(&config.database.url)))?;
    match command {
        IdentitiesCommand::Import(args) => {
            let text = std::fs::read_to_string(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?;
            match parse_mapping_csv(&text) {
                Ok(rows) => {
                    store
                        .upsert_mappings(&rows, &format!("csv:{}", args.file.display()), "cli")
                        .await?;
                    println!(
                        "imported {} account mappings from {}",
                        rows.len(),
                        args.file.display()
                    );
                    Ok(0)
                }
                Err(errors) => {
                    for error in errors {
                        eprintln!("{}: {error}", args.file.display());
                    }
                    eprintln!("nothing imported");
                    Ok(1)
                }
            }
        }
        IdentitiesCommand::Show(args) => {
            let accounts = store.mapped_accounts(&args.email).await?;
            super::emit(&format!("{}\n", serde_json::to_string_pretty(&accounts)?))?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_mapping_file() {
        let rows = parse_mapping_csv("email,system,account\nalice@example.com, github ,alice-gh\nAlice@example.com,aws_iam,alice\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].system, "github");
        assert_eq!(rows[0].account, "alice-gh");
    }

    #[test]
    fn every_bad_line_is_named_and_nothing_passes() {
        let errors = parse_mapping_csv("email,system,account\nalice@example.com,github,alice-gh\nnot-an-email,github,x\nbob@example.com,Git Hub,bob\ncarol@example.com,github\n").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("line 3:"), "{errors:?}");
        assert!(errors[1].starts_with("line 4:"), "{errors:?}");
        assert!(errors[2].starts_with("line 5:"), "{errors:?}");
        assert!(parse_mapping_csv("mail,sys,acct\n").unwrap_err()[0].contains("header"));
    }
}
