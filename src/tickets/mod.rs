//! HR ticket automation: the internal `ticket` connector. Its one action,
//! `ticket.update`, posts a report about the run to the HR ticket the offboarding came
//! with (`{"system": "jira" | "servicenow", "key": ...}` in the request): a progress
//! note, or the final summary (every revocation's outcome and verification, and the
//! evidence range to export). Jira Cloud gets an issue comment, ServiceNow a work note.
//!
//! Each report ends with a marker line (`leaver-ref: <run>/<step>`); before posting,
//! the ticket is searched for it, so a retried or re-run step never posts twice, and
//! verification reads the report back. A run without a ticket has nothing to report:
//! the step succeeds without posting. `ticket` is a reporting connector
//! (`dag::REPORTING_CONNECTORS`): its steps revoke nothing and hold no access.

mod http;
mod jira;
pub mod report;
mod servicenow;

use crate::config::{resolve_secret, ConfigError, TicketsConfig};
use crate::duration::parse_duration;
use crate::engine::TicketRef;
use crate::store::Store;
use async_trait::async_trait;
use http::Endpoint;
use jira::Jira;
use leaver_connector::{
    parse_params, typed_action, ActionOutcome, ActionRequest, ActionSpec, Connector,
    ConnectorError, Holding, Identity, Preview, Verification,
};
use report::{compose, marker, ReportKind};
use schemars::JsonSchema;
use serde::Deserialize;
use servicenow::ServiceNow;

/// `with:` of `ticket.update`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateParams {
    /// `summary` (default: every step's outcome and the evidence range; give the step
    /// `when: always` and `needs:` on the revocations) or `progress` (the offboarding
    /// has started).
    #[serde(default = "default_report")]
    pub report: ReportKind,
    /// A line added to the report.
    #[serde(default)]
    pub note: Option<String>,
}

fn default_report() -> ReportKind {
    ReportKind::Summary
}

/// The `ticket` connector.
pub struct TicketConnector {
    store: Option<Store>,
    jira: Option<Jira>,
    servicenow: Option<ServiceNow>,
}

/// Where a run's report goes, once the ticket system is known.
enum Target<'a> {
    Jira(&'a Jira, String),
    ServiceNow(&'a ServiceNow, String, String),
}

impl TicketConnector {
    /// A connector that describes its action but cannot run it (plan validation).
    pub fn spec_only() -> Self {
        Self {
            store: None,
            jira: None,
            servicenow: None,
        }
    }

    /// The connector over the configured ticket systems, reading runs from `store`.
    pub fn new(store: Store, config: &TicketsConfig) -> Result<Self, ConfigError> {
        let setup = |key: &str, message: String| ConfigError::Invalid {
            origin: format!("key {key}"),
            message,
        };
        let jira = match &config.jira {
            Some(jira) => {
                let token = resolve_secret("tickets.jira.api_token", &jira.api_token)?;
                let timeout = parse_duration(&jira.request_timeout)
                    .map_err(|e| setup("tickets.jira.request_timeout", e))?;
                let endpoint = Endpoint::new("Jira", &jira.base_url, &jira.email, token, timeout)
                    .map_err(|e| setup("tickets.jira", e))?;
                Some(Jira { endpoint })
            }
            None => None,
        };
        let servicenow = match &config.servicenow {
            Some(sn) => {
                let password = resolve_secret("tickets.servicenow.password", &sn.password)?;
                let timeout = parse_duration(&sn.request_timeout)
                    .map_err(|e| setup("tickets.servicenow.request_timeout", e))?;
                let endpoint = Endpoint::new(
                    "ServiceNow",
                    &sn.instance_url,
                    &sn.username,
                    password,
                    timeout,
                )
                .map_err(|e| setup("tickets.servicenow", e))?;
                Some(ServiceNow {
                    endpoint,
                    table: sn.table.clone(),
                })
            }
            None => None,
        };
        Ok(Self {
            store: Some(store),
            jira,
            servicenow,
        })
    }

    fn store(&self) -> Result<&Store, ConnectorError> {
        self.store.as_ref().ok_or_else(|| {
            ConnectorError::permanent("the ticket connector is not set up to run steps")
        })
    }

    /// The run's ticket, if it has one.
    async fn ticket(&self, run_id: &str) -> Result<Option<TicketRef>, ConnectorError> {
        let run = self
            .store()?
            .get_run(run_id)
            .await
            .map_err(|e| ConnectorError::transient(format!("reading run {run_id}: {e}")))?
            .ok_or_else(|| ConnectorError::permanent(format!("run {run_id} does not exist")))?;
        match run.ticket {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value).map(Some).map_err(|e| {
                ConnectorError::permanent(format!("run {run_id}: unreadable ticket reference: {e}"))
            }),
        }
    }

    async fn target(&self, ticket: &TicketRef) -> Result<Target<'_>, ConnectorError> {
        let not_configured = |section: &str| {
            ConnectorError::permanent(format!(
                "the run's ticket {} is in {}, but [tickets.{section}] is not configured",
                ticket.key, ticket.system
            ))
        };
        match ticket.system.as_str() {
            "jira" => {
                let jira = self.jira.as_ref().ok_or_else(|| not_configured("jira"))?;
                Ok(Target::Jira(jira, ticket.key.clone()))
            }
            "servicenow" => {
                let sn = self
                    .servicenow
                    .as_ref()
                    .ok_or_else(|| not_configured("servicenow"))?;
                let sys_id = sn.locate(&ticket.key).await?;
                Ok(Target::ServiceNow(sn, ticket.key.clone(), sys_id))
            }
            other => Err(ConnectorError::permanent(format!(
                "unknown ticket system `{other}` (known: jira, servicenow)"
            ))),
        }
    }

    /// Where the report with `marker` already is on the ticket, if it is there.
    async fn find(
        &self,
        target: &Target<'_>,
        marker: &str,
    ) -> Result<Option<String>, ConnectorError> {
        match target {
            Target::Jira(jira, key) => jira.find(key, marker).await,
            Target::ServiceNow(sn, _, sys_id) => sn.find(sys_id, marker).await,
        }
    }

    async fn compose_report(
        &self,
        request: &ActionRequest,
        params: &UpdateParams,
    ) -> Result<(String, serde_json::Value), ConnectorError> {
        let store = self.store()?;
        let read = |e: crate::store::StoreError| {
            ConnectorError::transient(format!("reading run {}: {e}", request.run_id))
        };
        let run = store
            .get_run(&request.run_id)
            .await
            .map_err(read)?
            .ok_or_else(|| {
                ConnectorError::permanent(format!("run {} does not exist", request.run_id))
            })?;
        let steps = store.steps_for_run(&request.run_id).await.map_err(read)?;
        let evidence = match params.report {
            ReportKind::Summary => store
                .evidence_for_subject(&request.run_id)
                .await
                .map_err(read)?,
            ReportKind::Progress => Vec::new(),
        };
        let text = compose(
            params.report,
            &run,
            &steps,
            &evidence,
            &request.step_id,
            params.note.as_deref(),
        );
        let range = match (evidence.first(), evidence.last()) {
            (Some(first), Some(last)) => serde_json::json!({
                "from": first.seq, "to": last.seq, "last_hash": last.hash
            }),
            _ => serde_json::Value::Null,
        };
        Ok((text, range))
    }
}

fn describe(target: &Target<'_>) -> String {
    match target {
        Target::Jira(_, key) => format!("Jira issue {key}"),
        Target::ServiceNow(sn, number, _) => format!("ServiceNow {} {number}", sn.table),
    }
}

#[async_trait]
impl Connector for TicketConnector {
    fn name(&self) -> &'static str {
        "ticket"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![typed_action::<UpdateParams>(
            "update",
            "Post the run's progress or final summary (outcomes, verification, evidence range) \
             to its HR ticket: a Jira Cloud comment or a ServiceNow work note",
        )]
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ConnectorError> {
        let params: UpdateParams =
            parse_params(&request.params).map_err(|e| ConnectorError::permanent(e.to_string()))?;
        let Some(ticket) = self.ticket(&request.run_id).await? else {
            return Ok(ActionOutcome::unchanged(
                "the run has no HR ticket: nothing to report",
            ));
        };
        let target = self.target(&ticket).await?;
        let marker = marker(&request.run_id, &request.step_id);
        let details = |posted: &str, range: serde_json::Value| {
            serde_json::json!({
                "system": ticket.system,
                "key": ticket.key,
                "report": params.report,
                "posted": posted,
                "evidence_range": range,
            })
        };
        if let Some(existing) = self.find(&target, &marker).await? {
            return Ok(ActionOutcome::unchanged(format!(
                "the {:?} report is already on {}",
                params.report,
                describe(&target)
            ))
            .with_details(details(&existing, serde_json::Value::Null)));
        }
        let (text, range) = self.compose_report(request, &params).await?;
        let posted = match &target {
            Target::Jira(jira, key) => jira.post(key, &text).await?.comment_id,
            Target::ServiceNow(sn, number, sys_id) => {
                sn.post(sys_id, number, &text).await?;
                sys_id.clone()
            }
        };
        Ok(ActionOutcome::changed(format!(
            "posted the {} report to {}",
            match params.report {
                ReportKind::Summary => "summary",
                ReportKind::Progress => "progress",
            },
            describe(&target)
        ))
        .with_details(details(&posted, range)))
    }

    async fn verify(&self, request: &ActionRequest) -> Result<Verification, ConnectorError> {
        let Some(ticket) = self.ticket(&request.run_id).await? else {
            return Ok(Verification::gone(
                "the run has no HR ticket: nothing to report",
            ));
        };
        let target = self.target(&ticket).await?;
        let marker = marker(&request.run_id, &request.step_id);
        Ok(match self.find(&target, &marker).await? {
            Some(id) => Verification::gone(format!(
                "{} carries the report ({id}, `{marker}`)",
                describe(&target)
            )),
            None => Verification::still_present(format!(
                "no report with `{marker}` found on {}",
                describe(&target)
            )),
        })
    }

    async fn preview(&self, request: &ActionRequest) -> Result<Preview, ConnectorError> {
        let params: UpdateParams =
            parse_params(&request.params).map_err(|e| ConnectorError::permanent(e.to_string()))?;
        let note = match self.store {
            Some(_) => match self.ticket(&request.run_id).await {
                Ok(Some(ticket)) => format!(
                    "would post the {:?} report to {} {}",
                    params.report, ticket.system, ticket.key
                ),
                _ => "would post a report if the run has an HR ticket".to_string(),
            },
            None => "would post a report if the run has an HR ticket".to_string(),
        };
        Ok(Preview {
            would_revoke: Vec::new(),
            notes: vec![note],
        })
    }

    async fn inventory(
        &self,
        _identity: &Identity,
        _scope: &[ActionRequest],
    ) -> Result<Vec<Holding>, ConnectorError> {
        // Reports grant nothing: there is no access to sweep for.
        Ok(Vec::new())
    }
}
