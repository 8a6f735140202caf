//! Building the connector registry from configuration. Adding a connector touches its
//! own crate and one registration here.

use crate::config::{resolve_secret, Config, ConfigError, GithubSection, VaultSection};
use crate::duration::parse_duration;
use leaver_connector::Registry;
use secrecy::ExposeSecret;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorSetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("connector {connector}: {message}")]
    Build {
        connector: &'static str,
        message: String,
    },
}

/// Every connector whose section is present in the configuration.
pub fn build_registry(config: &Config) -> Result<Registry, ConnectorSetupError> {
    let mut registry = Registry::new();
    if let Some(github) = &config.connectors.github {
        registry.register(Arc::new(github_connector(github)?));
    }
    if let Some(vault) = &config.connectors.vault {
        registry.register(Arc::new(vault_connector(vault)?));
    }
    Ok(registry)
}

fn build_error(connector: &'static str) -> impl Fn(String) -> ConnectorSetupError {
    move |message| ConnectorSetupError::Build { connector, message }
}

fn github_connector(
    github: &GithubSection,
) -> Result<leaver_connector_github::GithubConnector, ConnectorSetupError> {
    let token = resolve_secret("connectors.github.token", &github.token)?;
    let request_timeout = parse_duration(&github.request_timeout).map_err(build_error("github"))?;
    leaver_connector_github::GithubConnector::new(leaver_connector_github::GithubConfig {
        api_url: github.api_url.clone(),
        org: github.org.clone(),
        token: token.expose_secret().to_string(),
        request_timeout,
        ..leaver_connector_github::GithubConfig::default()
    })
    .map_err(|e| build_error("github")(e.to_string()))
}

fn vault_connector(
    vault: &VaultSection,
) -> Result<leaver_connector_vault::VaultConnector, ConnectorSetupError> {
    let token = resolve_secret("connectors.vault.token", &vault.token)?;
    let request_timeout = parse_duration(&vault.request_timeout).map_err(build_error("vault"))?;
    leaver_connector_vault::VaultConnector::new(leaver_connector_vault::VaultConfig {
        addr: vault.addr.clone(),
        token: token.expose_secret().to_string(),
        namespace: vault.namespace.clone(),
        request_timeout,
    })
    .map_err(|e| build_error("vault")(e.to_string()))
}

/// Every connector Leaver knows, for validating plans: the configured ones, plus a
/// spec-only instance of each unconfigured one (it describes its actions but is never
/// executed). A plan naming an unconfigured connector is valid; its steps fail at run
/// time with "connector not configured".
pub fn build_catalog(configured: &Registry) -> Result<Registry, ConnectorSetupError> {
    let mut catalog = configured.clone();
    if catalog.get("github").is_none() {
        let spec_only = leaver_connector_github::GithubConnector::new(
            leaver_connector_github::GithubConfig::default(),
        )
        .map_err(|e| ConnectorSetupError::Build {
            connector: "github",
            message: e.to_string(),
        })?;
        catalog.register(Arc::new(spec_only));
    }
    if catalog.get("vault").is_none() {
        let spec_only = leaver_connector_vault::VaultConnector::new(
            leaver_connector_vault::VaultConfig::default(),
        )
        .map_err(|e| build_error("vault")(e.to_string()))?;
        catalog.register(Arc::new(spec_only));
    }
    Ok(catalog)
}

/// Plan steps whose connector is known but not configured here.
pub fn unconfigured_connectors(registry: &Registry, catalog: &Registry) -> Vec<&'static str> {
    catalog
        .connectors()
        .map(|c| c.name())
        .filter(|name| registry.get(name).is_none())
        .collect()
}
