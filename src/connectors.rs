//! Building the connector registry from configuration. Adding a connector touches its
//! own crate and one registration here.

use crate::config::{
    resolve_secret, Config, ConfigError, GithubSection, GitlabSection, VaultSection,
};
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
        registry.register(Arc::new(github_actions_connector(github)?));
    }
    if let Some(vault) = &config.connectors.vault {
        registry.register(Arc::new(vault_connector(vault)?));
    }
    if let Some(gitlab) = &config.connectors.gitlab {
        registry.register(Arc::new(gitlab_connector(gitlab)?));
    }
    if let Some(aws_iam) = &config.connectors.aws_iam {
        let aws = aws_iam.to_connector_config()?;
        registry.register(Arc::new(
            leaver_connector_aws_iam::AwsIamConnector::new(aws)
                .map_err(|e| build_error("aws_iam")(e.to_string()))?,
        ));
    }
    if let Some(okta) = okta_api_config(config)? {
        registry.register(Arc::new(
            leaver_connector_okta::OktaConnector::new(okta)
                .map_err(|e| build_error("okta")(e.to_string()))?,
        ));
    }
    if let Some(entra) = &config.idp.entra {
        registry.register(Arc::new(
            leaver_connector_entra::EntraConnector::with_graph(entra_graph(entra)?),
        ));
    }
    Ok(registry)
}

fn build_error(connector: &'static str) -> impl Fn(String) -> ConnectorSetupError {
    move |message| ConnectorSetupError::Build { connector, message }
}

/// The Okta API client settings from `[idp.okta]`, when client credentials are
/// configured (`None`: no `okta` connector and no System Log reconciliation). Reads the
/// private key.
pub fn okta_api_config(
    config: &Config,
) -> Result<Option<leaver_connector_okta::OktaApiConfig>, ConnectorSetupError> {
    let Some(okta) = config.idp.okta.as_ref().filter(|o| o.has_api_credentials()) else {
        return Ok(None);
    };
    let key = resolve_secret(
        "idp.okta.private_key",
        okta.private_key.as_deref().unwrap_or_default(),
    )?;
    let request_timeout = parse_duration(&okta.request_timeout).map_err(build_error("okta"))?;
    let mut api = leaver_connector_okta::OktaApiConfig {
        org_url: okta.org_url.clone().unwrap_or_default(),
        client_id: okta.client_id.clone().unwrap_or_default(),
        private_key_pem: key.expose_secret().to_string(),
        key_id: okta.key_id.clone().filter(|k| !k.trim().is_empty()),
        request_timeout,
        ..leaver_connector_okta::OktaApiConfig::default()
    };
    if let Some(scopes) = okta.scopes.as_ref().filter(|s| !s.is_empty()) {
        api.scopes = scopes.clone();
    }
    Ok(Some(api))
}

fn github_connector(
    github: &GithubSection,
) -> Result<leaver_connector_github::GithubConnector, ConnectorSetupError> {
    leaver_connector_github::GithubConnector::new(github_config(github, "github")?)
        .map_err(|e| build_error("github")(e.to_string()))
}

/// The GitHub client settings of `[connectors.github]`: a token, or a GitHub App
/// installation (`[connectors.github.app]`), with secrets resolved.
fn github_config(
    github: &GithubSection,
    connector: &'static str,
) -> Result<leaver_connector_github::GithubConfig, ConnectorSetupError> {
    let request_timeout =
        parse_duration(&github.request_timeout).map_err(build_error(connector))?;
    let token = match github.token.trim() {
        "" => String::new(),
        reference => resolve_secret("connectors.github.token", reference)?
            .expose_secret()
            .to_string(),
    };
    let app = match &github.app {
        Some(app) => Some(leaver_connector_github::GithubAppConfig {
            app_id: app.app_id,
            installation_id: app.installation_id,
            private_key_pem: resolve_secret("connectors.github.app.private_key", &app.private_key)?
                .expose_secret()
                .to_string(),
        }),
        None => None,
    };
    Ok(leaver_connector_github::GithubConfig {
        api_url: github.api_url.clone(),
        org: github.org.clone(),
        token,
        app,
        request_timeout,
        ..leaver_connector_github::GithubConfig::default()
    })
}

/// `github_actions` (Actions secrets, for rotations): the same `[connectors.github]`
/// settings and credential as `github`.
fn github_actions_connector(
    github: &GithubSection,
) -> Result<leaver_connector_github::actions_secrets::GithubActionsConnector, ConnectorSetupError> {
    leaver_connector_github::actions_secrets::GithubActionsConnector::new(github_config(
        github,
        "github_actions",
    )?)
    .map_err(|e| build_error("github_actions")(e.to_string()))
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

/// The Vault client the `trail` connector reads KV v2 metadata (and rotates) with:
/// `[connectors.vault]`, when configured.
pub fn rotations_vault(
    config: &Config,
) -> Result<Option<Arc<leaver_connector_vault::VaultConnector>>, ConnectorSetupError> {
    config
        .connectors
        .vault
        .as_ref()
        .map(|vault| vault_connector(vault).map(Arc::new))
        .transpose()
}

/// The AWS IAM client rotations create and deactivate service users' access keys
/// with: `[connectors.aws_iam]`, when configured.
pub fn rotations_aws_iam(
    config: &Config,
) -> Result<Option<Arc<leaver_connector_aws_iam::AwsIamConnector>>, ConnectorSetupError> {
    let Some(aws_iam) = &config.connectors.aws_iam else {
        return Ok(None);
    };
    let aws = aws_iam.to_connector_config()?;
    leaver_connector_aws_iam::AwsIamConnector::new(aws)
        .map(|c| Some(Arc::new(c)))
        .map_err(|e| build_error("aws_iam")(e.to_string()))
}

/// The GitHub Actions secrets client rotations push new values with:
/// `[connectors.github]`, when configured.
pub fn rotations_github(
    config: &Config,
) -> Result<
    Option<Arc<leaver_connector_github::actions_secrets::ActionsSecrets>>,
    ConnectorSetupError,
> {
    let Some(github) = &config.connectors.github else {
        return Ok(None);
    };
    leaver_connector_github::actions_secrets::ActionsSecrets::new(&github_config(
        github,
        "github_actions",
    )?)
    .map(|c| Some(Arc::new(c)))
    .map_err(|e| build_error("github_actions")(e.to_string()))
}

fn gitlab_connector(
    gitlab: &GitlabSection,
) -> Result<leaver_connector_gitlab::GitlabConnector, ConnectorSetupError> {
    let token = resolve_secret("connectors.gitlab.token", &gitlab.token)?;
    let request_timeout = parse_duration(&gitlab.request_timeout).map_err(build_error("gitlab"))?;
    leaver_connector_gitlab::GitlabConnector::new(leaver_connector_gitlab::GitlabConfig {
        api_url: gitlab.api_url.clone(),
        token: token.expose_secret().to_string(),
        request_timeout,
        ..leaver_connector_gitlab::GitlabConfig::default()
    })
    .map_err(|e| build_error("gitlab")(e.to_string()))
}

/// The Microsoft Graph client of `[idp.entra]` (the `entra` connector, the change
/// notification intake, the delta reconciliation and `leaver entra subscribe`).
pub fn entra_graph(
    entra: &crate::config::EntraSection,
) -> Result<Arc<leaver_connector_entra::Graph>, ConnectorSetupError> {
    let secret = resolve_secret("idp.entra.client_secret", &entra.client_secret)?;
    let request_timeout = parse_duration(&entra.request_timeout).map_err(build_error("entra"))?;
    leaver_connector_entra::Graph::new(&leaver_connector_entra::EntraConfig {
        tenant_id: entra.tenant_id.clone(),
        authority_url: entra.authority_url.clone(),
        graph_url: entra.graph_url.clone(),
        client_id: entra.client_id.clone(),
        client_secret: secret.expose_secret().to_string(),
        request_timeout,
    })
    .map(Arc::new)
    .map_err(|e| build_error("entra")(e.to_string()))
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
    if catalog.get("github_actions").is_none() {
        let spec_only = leaver_connector_github::actions_secrets::GithubActionsConnector::new(
            leaver_connector_github::GithubConfig::default(),
        )
        .map_err(|e| build_error("github_actions")(e.to_string()))?;
        catalog.register(Arc::new(spec_only));
    }
    if catalog.get("okta").is_none() {
        let spec_only = leaver_connector_okta::OktaConnector::new(
            leaver_connector_okta::OktaApiConfig::default(),
        )
        .map_err(|e| build_error("okta")(e.to_string()))?;
        catalog.register(Arc::new(spec_only));
    }
    if catalog.get("vault").is_none() {
        let spec_only = leaver_connector_vault::VaultConnector::new(
            leaver_connector_vault::VaultConfig::default(),
        )
        .map_err(|e| build_error("vault")(e.to_string()))?;
        catalog.register(Arc::new(spec_only));
    }
    if catalog.get("gitlab").is_none() {
        let spec_only = leaver_connector_gitlab::GitlabConnector::new(
            leaver_connector_gitlab::GitlabConfig::default(),
        )
        .map_err(|e| build_error("gitlab")(e.to_string()))?;
        catalog.register(Arc::new(spec_only));
    }
    if catalog.get("aws_iam").is_none() {
        let spec_only = leaver_connector_aws_iam::AwsIamConnector::new(
            leaver_connector_aws_iam::AwsIamConfig::default(),
        )
        .map_err(|e| build_error("aws_iam")(e.to_string()))?;
        catalog.register(Arc::new(spec_only));
    }
    if catalog.get("ticket").is_none() {
        catalog.register(Arc::new(crate::tickets::TicketConnector::spec_only()));
    }
    if catalog.get("entra").is_none() {
        catalog.register(Arc::new(leaver_connector_entra::EntraConnector::spec_only()));
    }
    if catalog.get("trail").is_none() {
        catalog.register(Arc::new(crate::rotations::TrailConnector::spec_only()));
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
