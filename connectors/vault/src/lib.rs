//! The HashiCorp Vault connector of Leaver (reqwest against Vault's HTTP API).
//!
//! Actions (each idempotent — "already disabled / revoked / gone" is success with
//! `changed: false` — and each verified by reading Vault back):
//!
//! | action | what it does | verified by |
//! |---|---|---|
//! | `vault.disable_entity` | `POST identity/entity/id/:id {"disabled":true}` ([`entity`]) | the entity reads back `disabled: true` |
//! | `vault.revoke_tokens` | revoke-accessor for every token of the entity ([`tokens`]) | no live token of the entity in the accessor listing |
//! | `vault.revoke_leases` | `sys/leases/revoke-prefix` for each prefix ([`leases`]) | `sys/leases/lookup` finds nothing under the prefixes |
//! | `vault.delete_user` | delete the userpass user and, optionally, entity aliases ([`users`]) | the user reads back 404, no alias left |
//!
//! The entity is `accounts.vault` (an entity id) or is discovered by alias (see
//! [`entity`]). Every action takes `namespace` (default `connectors.vault.namespace`).
//! Disabling an entity makes its tokens unusable but does not revoke them, so plans
//! should run `vault.revoke_tokens` too; the residual-access sweep reports live tokens.
//!
//! Every call is one HTTP attempt (`X-Vault-Token`, `X-Vault-Namespace`); errors are
//! classified by [`classify`] (403 permanent with Vault's own `errors`, 5xx/429/timeouts
//! transient). The token is redacted from `Debug`, never formatted into an error, an
//! outcome, a holding or a log line, and scrubbed from upstream messages.

pub mod classify;
mod client;
mod config;
mod entity;
pub mod kv;
mod leases;
pub mod params;
mod tokens;
mod users;

pub use client::VaultSetupError;
pub use config::{VaultConfig, DEFAULT_ADDR, DEFAULT_REQUEST_TIMEOUT};
pub use params::{DeleteUserParams, DisableEntityParams, RevokeLeasesParams, RevokeTokensParams};

use async_trait::async_trait;
use client::VaultApi;
use entity::Target;
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, ParamError, Preview, Verification,
};
use params::{check_revoke_leases, is_segment_name, resolve_mount, resolve_namespace};
use std::collections::BTreeSet;
use std::fmt;

/// `vault.disable_entity`.
pub const DISABLE_ENTITY: &str = "disable_entity";
/// `vault.revoke_tokens`.
pub const REVOKE_TOKENS: &str = "revoke_tokens";
/// `vault.revoke_leases`.
pub const REVOKE_LEASES: &str = "revoke_leases";
/// `vault.delete_user`.
pub const DELETE_USER: &str = "delete_user";

const ACTIONS: [&str; 4] = [DISABLE_ENTITY, REVOKE_TOKENS, REVOKE_LEASES, DELETE_USER];

/// A step's parsed parameters.
enum Step {
    DisableEntity,
    RevokeTokens,
    RevokeLeases(Vec<String>),
    DeleteUser(DeleteUserParams),
}

/// The Vault connector.
pub struct VaultConnector {
    namespace: Option<String>,
    api: VaultApi,
}

impl fmt::Debug for VaultConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultConnector")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

fn invalid(e: ParamError) -> ConnectorError {
    ConnectorError::permanent(format!("invalid parameters: {e}"))
}

impl VaultConnector {
    /// Validate the configuration and prepare the client. No request is made.
    pub fn new(config: VaultConfig) -> Result<Self, VaultSetupError> {
        let api = VaultApi::new(&config)?;
        let namespace = config
            .namespace
            .map(|ns| ns.trim().trim_matches('/').to_string())
            .filter(|ns| !ns.is_empty() && ns != "root");
        Ok(Self { namespace, api })
    }

    pub(crate) fn api(&self) -> &VaultApi {
        &self.api
    }

    /// The configured default namespace (`None`: root).
    pub fn default_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Parse and check a step: its target namespace and typed parameters.
    fn step(
        &self,
        action: &str,
        params: &serde_json::Value,
    ) -> Result<(Option<String>, Step), ParamError> {
        let default = self.namespace.as_deref();
        match action {
            DISABLE_ENTITY => {
                let p: DisableEntityParams = parse_params(params)?;
                Ok((
                    resolve_namespace(p.namespace.as_deref(), default)?,
                    Step::DisableEntity,
                ))
            }
            REVOKE_TOKENS => {
                let p: RevokeTokensParams = parse_params(params)?;
                Ok((
                    resolve_namespace(p.namespace.as_deref(), default)?,
                    Step::RevokeTokens,
                ))
            }
            REVOKE_LEASES => {
                let p: RevokeLeasesParams = parse_params(params)?;
                check_revoke_leases(&p)?;
                let prefixes = p.prefixes.iter().map(|s| s.trim().to_string()).collect();
                Ok((
                    resolve_namespace(p.namespace.as_deref(), default)?,
                    Step::RevokeLeases(prefixes),
                ))
            }
            DELETE_USER => {
                let p: DeleteUserParams = parse_params(params)?;
                resolve_mount(p.mount.as_deref())?;
                if let Some(username) = p.username.as_deref() {
                    if !is_segment_name(username.trim()) {
                        return Err(ParamError(format!(
                            "`username` `{username}` cannot be used as a Vault user name"
                        )));
                    }
                }
                Ok((
                    resolve_namespace(p.namespace.as_deref(), default)?,
                    Step::DeleteUser(p),
                ))
            }
            other => Err(ParamError(format!(
                "unknown action `vault.{other}` (the Vault connector offers: {})",
                ACTIONS.map(|a| format!("vault.{a}")).join(", ")
            ))),
        }
    }

    fn target(&self, ns: Option<String>) -> Target<'_> {
        Target { api: &self.api, ns }
    }

    fn request_step(&self, request: &ActionRequest) -> Result<(Target<'_>, Step), ConnectorError> {
        let (ns, step) = self
            .step(&request.action, &request.params)
            .map_err(invalid)?;
        Ok((self.target(ns), step))
    }

    /// Entity and token holdings of the identity in one namespace.
    async fn entity_holdings(
        &self,
        target: &Target<'_>,
        identity: &Identity,
    ) -> Result<Vec<Holding>, ConnectorError> {
        let (entities, _) = entity::find_soft(target, identity).await?;
        if entities.is_empty() {
            return Ok(Vec::new());
        }
        let ids: BTreeSet<String> = entities.iter().map(|e| e.id.clone()).collect();
        let (_, live) = tokens::tokens_of(target, &ids).await?;
        let mut holdings = entity::holdings(target, &entities);
        holdings.extend(tokens::holdings(target, &live));
        Ok(holdings)
    }
}

#[async_trait]
impl Connector for VaultConnector {
    fn name(&self) -> &'static str {
        "vault"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            typed_action::<DisableEntityParams>(
                DISABLE_ENTITY,
                "Disable the identity's Vault entity (accounts.vault, or found by alias = email / IdP user id): \
                 its tokens can no longer be used (they are not revoked: add vault.revoke_tokens); \
                 verified when the entity reads back disabled=true.",
            ),
            typed_action::<RevokeTokensParams>(
                REVOKE_TOKENS,
                "Revoke every token issued to the identity's Vault entity (by accessor; children and \
                 leases go with them); verified when no live token of the entity is left.",
            ),
            typed_action::<RevokeLeasesParams>(
                REVOKE_LEASES,
                "Revoke Vault leases (dynamic secrets, login tokens) by prefix, e.g. \
                 auth/userpass/login/{username}; verified when sys/leases/lookup finds nothing under them.",
            ),
            typed_action::<DeleteUserParams>(
                DELETE_USER,
                "Delete the identity's userpass user (and, with delete_aliases, its entity aliases on the \
                 mount); verified when the user reads back 404.",
            ),
        ]
    }

    fn check_params(&self, action: &str, params: &serde_json::Value) -> Result<(), ParamError> {
        self.step(action, params).map(|_| ())
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        let (target, step) = self.request_step(request)?;
        let identity = &request.identity;
        match step {
            Step::DisableEntity => entity::disable(&target, identity).await,
            Step::RevokeTokens => tokens::revoke(&target, identity).await,
            Step::RevokeLeases(prefixes) => leases::revoke(&target, identity, &prefixes).await,
            Step::DeleteUser(params) => users::delete(&target, identity, &params).await,
        }
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        let (target, step) = self.request_step(request)?;
        let identity = &request.identity;
        match step {
            Step::DisableEntity => entity::verify(&target, identity).await,
            Step::RevokeTokens => tokens::verify(&target, identity).await,
            Step::RevokeLeases(prefixes) => leases::verify(&target, identity, &prefixes).await,
            Step::DeleteUser(params) => users::verify(&target, identity, &params).await,
        }
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let (target, step) = self.request_step(request)?;
        let identity = &request.identity;
        let mut notes = Vec::new();
        let would_revoke = match step {
            Step::DisableEntity | Step::RevokeTokens => {
                let (entities, reason) = entity::find_soft(&target, identity).await?;
                notes.extend(reason);
                if matches!(step, Step::DisableEntity) {
                    notes.extend(
                        entities
                            .iter()
                            .filter(|e| e.disabled)
                            .map(|e| format!("Vault entity {} is already disabled", e.id)),
                    );
                    entity::holdings(&target, &entities)
                } else if entities.is_empty() {
                    Vec::new()
                } else {
                    let ids = entities.iter().map(|e| e.id.clone()).collect();
                    let (_, live) = tokens::tokens_of(&target, &ids).await?;
                    tokens::holdings(&target, &live)
                }
            }
            Step::RevokeLeases(prefixes) => leases::holdings(&target, identity, &prefixes).await?,
            Step::DeleteUser(params) => users::holdings(&target, identity, &params).await?,
        };
        if would_revoke.is_empty() && notes.is_empty() {
            notes.push(format!(
                "nothing to revoke in Vault ({})",
                target.describe()
            ));
        }
        Ok(Preview {
            would_revoke,
            notes,
        })
    }

    async fn inventory(
        &self,
        identity: &Identity,
        scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        let mut steps = Vec::new();
        for request in scope {
            let (ns, step) = self
                .step(&request.action, &request.params)
                .map_err(invalid)?;
            steps.push((ns, step));
        }
        let mut namespaces: BTreeSet<Option<String>> =
            steps.iter().map(|(ns, _)| ns.clone()).collect();
        if namespaces.is_empty() {
            namespaces.insert(self.namespace.clone());
        }
        let mut holdings = Vec::new();
        for ns in namespaces {
            holdings.extend(self.entity_holdings(&self.target(ns), identity).await?);
        }
        for (ns, step) in steps {
            let target = self.target(ns);
            match step {
                Step::RevokeLeases(prefixes) => {
                    holdings.extend(leases::holdings(&target, identity, &prefixes).await?)
                }
                Step::DeleteUser(params) => {
                    holdings.extend(users::holdings(&target, identity, &params).await?)
                }
                Step::DisableEntity | Step::RevokeTokens => {}
            }
        }
        holdings.sort();
        holdings.dedup();
        Ok(holdings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connector(ns: Option<&str>) -> VaultConnector {
        VaultConnector::new(VaultConfig {
            namespace: ns.map(str::to_string),
            ..VaultConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn builds_without_a_runtime_or_token() {
        let c = connector(None);
        assert_eq!(c.name(), "vault");
        let names: Vec<_> = c.actions().iter().map(|a| a.name).collect();
        assert_eq!(names, ACTIONS);
        assert_eq!(
            connector(Some("/team-a/")).default_namespace(),
            Some("team-a")
        );
        assert_eq!(connector(Some("root")).default_namespace(), None);
    }

    #[test]
    fn params_are_checked() {
        let c = connector(None);
        assert!(c
            .check_params(DISABLE_ENTITY, &serde_json::Value::Null)
            .is_ok());
        assert!(c
            .check_params(DISABLE_ENTITY, &json!({"namespace": "team-a"}))
            .is_ok());
        assert!(c
            .check_params(DISABLE_ENTITY, &json!({"namespace": "a b"}))
            .is_err());
        assert!(c
            .check_params(DISABLE_ENTITY, &json!({"org": "x"}))
            .is_err());
        assert!(
            c.check_params(REVOKE_LEASES, &json!({})).is_err(),
            "prefixes required"
        );
        assert!(c
            .check_params(REVOKE_LEASES, &json!({"prefixes": []}))
            .is_err());
        assert!(c
            .check_params(REVOKE_LEASES, &json!({"prefixes": ["database/"]}))
            .is_err());
        assert!(c
            .check_params(
                REVOKE_LEASES,
                &json!({"prefixes": ["auth/userpass/login/{username}"]})
            )
            .is_ok());
        assert!(c.check_params(DELETE_USER, &json!({})).is_ok());
        assert!(c
            .check_params(DELETE_USER, &json!({"mount": "../sys"}))
            .is_err());
        assert!(c
            .check_params(DELETE_USER, &json!({"username": ".."}))
            .is_err());
        assert!(c
            .check_params(
                DELETE_USER,
                &json!({"mount": "oidc", "delete_aliases": true})
            )
            .is_ok());
        let e = c.check_params("disable_entty", &json!({})).unwrap_err();
        assert!(e.0.contains("vault.disable_entity"), "{e}");
    }

    #[test]
    fn schemas_name_their_fields() {
        let c = connector(None);
        let leases = c
            .actions()
            .into_iter()
            .find(|a| a.name == REVOKE_LEASES)
            .unwrap();
        assert!(leases.params_schema["properties"]["prefixes"].is_object());
        assert!(leases
            .validate(&json!({"prefixes": ["a/b"], "extra": 1}))
            .is_err());
    }
}
