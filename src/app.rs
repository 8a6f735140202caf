//! Wiring: from a `Config` to a running process (store, connectors, plans, engine,
//! ledger, scheduler, HTTP server).

use crate::config::{parse_secret_ref, Config, SecretRef};
use crate::connectors::{build_catalog, build_registry, unconfigured_connectors};
use crate::engine::{Engine, EngineSettings, StepDefaults};
use crate::evidence::LedgerKey;
use crate::http::{router, AppState};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::plan::PlanSet;
use crate::scheduler::{Job, Scheduler};
use crate::store::{redact_url, Store};
use anyhow::Context as _;
use leaver_connector::Registry;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Everything one Leaver process holds.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    pub engine: Engine,
    pub ledger: Arc<Ledger>,
    okta_hook: Option<crate::http::hooks::SharedSecret>,
    scim: Option<Arc<crate::intake::scim::ScimService>>,
    entra: Option<Arc<crate::intake::entra::EntraIntake>>,
    okta_reconcile: Option<Arc<crate::intake::okta_reconcile::OktaReconciler>>,
    ui: Arc<crate::ui::UiSettings>,
    hook_limits: crate::http::hook_limits::HookLimits,
}

impl App {
    /// Build from configuration, with the connectors the configuration names.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let registry = build_registry(&config).context("setting up connectors")?;
        Self::build_with_registry(config, registry).await
    }

    /// Build with a given connector registry (the demo and tests add simulators).
    pub async fn build_with_registry(config: Config, registry: Registry) -> anyhow::Result<Self> {
        let catalog = build_catalog(&registry).context("setting up connectors")?;
        for name in unconfigured_connectors(&registry, &catalog) {
            tracing::info!(
                connector = name,
                "connector not configured; plan steps using it will fail"
            );
        }
        let store = Store::connect(&config.database.url, config.database.max_connections)
            .await
            .with_context(|| {
                format!("opening the database {}", redact_url(&config.database.url))
            })?;
        // The ticket connector reads runs and evidence: it needs the store.
        let mut registry = registry;
        registry.register(Arc::new(
            crate::tickets::TicketConnector::new(store.clone(), &config.tickets)
                .context("setting up [tickets]")?,
        ));
        // The trail connector schedules rotations from the audit-trail index.
        let rotation_clients = crate::rotations::auto::RotationClients {
            vault: crate::connectors::rotations_vault(&config).context("setting up rotations")?,
            aws_iam: crate::connectors::rotations_aws_iam(&config)
                .context("setting up rotations")?,
            github: crate::connectors::rotations_github(&config).context("setting up rotations")?,
        };
        registry.register(Arc::new(
            crate::rotations::TrailConnector::new(
                store.clone(),
                config.trail.clone(),
                rotation_clients,
            )
            .map_err(|e| anyhow::anyhow!("setting up rotations: {e}"))?,
        ));
        let registry = Arc::new(registry);
        let plans = PlanSet::load_dir(&config.plans.dir, &catalog).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!(
                "plans in {} are invalid:\n  {}",
                config.plans.dir.display(),
                lines.join("\n  ")
            )
        })?;
        let key = load_signing_key(&config.evidence.signing_key)?;
        let settings = EngineSettings {
            lease: config.engine.lease_duration()?,
            poll_interval: config.engine.poll_duration()?,
            max_in_flight: config.engine.max_in_flight.max(1),
            per_connector_limit: config.engine.per_connector_limit.max(1),
            step_defaults: StepDefaults {
                max_attempts: config.engine.max_attempts.max(1),
                timeout: config.engine.step_timeout_duration()?,
                ..StepDefaults::default()
            },
            ..EngineSettings::default()
        };
        let engine = Engine::new(
            store.clone(),
            registry,
            Arc::new(plans),
            Arc::new(Metrics::new()),
            settings,
        );
        let ledger = Arc::new(Ledger::new(store.clone(), key));
        let okta_hook = match &config.idp.okta {
            Some(okta) => {
                let secret =
                    crate::config::resolve_secret("idp.okta.hook_secret", &okta.hook_secret)?;
                let header = axum::http::HeaderName::from_bytes(okta.hook_auth_header.as_bytes())
                    .context("idp.okta.hook_auth_header")?;
                Some(
                    crate::http::hooks::SharedSecret::new(
                        header,
                        secrecy::ExposeSecret::expose_secret(&secret),
                    )
                    .with_own_client(okta.client_id.clone()),
                )
            }
            None => None,
        };
        let scim = crate::intake::scim::ScimService::from_config(&config)?.map(Arc::new);
        let entra = crate::intake::entra::EntraIntake::from_config(&config)?.map(Arc::new);
        let okta_reconcile =
            crate::intake::okta_reconcile::OktaReconciler::from_config(&config)?.map(Arc::new);
        let ui = Arc::new(crate::ui::UiSettings::from_config(&config).context("setting up [ui]")?);
        let hook_limits = crate::http::hook_limits::HookLimits::from_config(&config.server);
        Ok(Self {
            config: Arc::new(config),
            store,
            engine,
            ledger,
            okta_hook,
            scim,
            entra,
            okta_reconcile,
            ui,
            hook_limits,
        })
    }

    /// The Microsoft Graph intake, when `[idp.entra]` is configured.
    pub fn entra(&self) -> Option<&Arc<crate::intake::entra::EntraIntake>> {
        self.entra.as_ref()
    }

    /// The Okta System Log reconciliation, when `[idp.okta]` has client credentials.
    pub fn okta_reconciler(&self) -> Option<&Arc<crate::intake::okta_reconcile::OktaReconciler>> {
        self.okta_reconcile.as_ref()
    }

    pub fn state(&self) -> AppState {
        AppState {
            store: self.store.clone(),
            engine: self.engine.clone(),
            ledger: self.ledger.clone(),
            okta_hook: self.okta_hook.clone(),
            scim: self.scim.clone(),
            entra: self.entra.clone(),
            ui: self.ui.clone(),
            hook_limits: self.hook_limits.clone(),
        }
    }

    /// The periodic jobs of this process.
    fn jobs(&self) -> anyhow::Result<Vec<Job>> {
        let ledger = self.ledger.clone();
        let checkpoint = Job::new(
            "evidence-checkpoint",
            &self.config.evidence.checkpoint_schedule,
            Arc::new(move |_fire_time| {
                let ledger = ledger.clone();
                Box::pin(async move {
                    ledger
                        .checkpoint()
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
        )
        .map_err(|e| anyhow::anyhow!("evidence.checkpoint_schedule: {e}"))?;
        let mut jobs = vec![checkpoint];
        if let Some(entra) = &self.entra {
            jobs.extend(crate::intake::entra::jobs(&self.engine, entra)?);
        }
        if let Some(okta) = &self.okta_reconcile {
            jobs.push(crate::intake::okta_reconcile::job(&self.engine, okta)?);
        }
        jobs.push(crate::rotations::reminder_job(
            &self.store,
            &self.config.trail,
        )?);
        jobs.extend(crate::rotations::keys::deactivation_job(
            &self.store,
            &self.config,
        )?);
        jobs.extend(crate::drills::schedule::jobs(
            &self.engine,
            &self.config.drills,
        )?);
        Ok(jobs)
    }

    /// Start the worker and the scheduler (unless `engine.workers = false`) in the
    /// background; they stop when `shutdown` turns true.
    pub fn spawn_background(
        &self,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
        if !self.config.engine.workers {
            return Ok(Vec::new());
        }
        let engine = self.engine.clone();
        let worker_shutdown = shutdown.clone();
        let worker = tokio::spawn(async move { engine.run_worker(worker_shutdown).await });
        let scheduler = Scheduler::new(
            self.store.clone(),
            self.engine.worker_id().to_string(),
            self.jobs()?,
        );
        let sealer = tokio::spawn(seal_evidence(self.store.clone(), shutdown.clone()));
        let drills = tokio::spawn(crate::drills::run_resumer(
            self.engine.clone(),
            shutdown.clone(),
        ));
        let cron = tokio::spawn(scheduler.run(shutdown));
        Ok(vec![worker, sealer, drills, cron])
    }

    /// Serve HTTP on `listener` with the workers running, until `shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let background = self.spawn_background(shutdown.clone())?;
        if self.scim.is_some() {
            // SCIM transitions a crash left between the user's write and intake.
            // Settled before serving: a retried request then finds nothing half-done.
            match crate::intake::scim::resume_pending(&self.engine).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "settled pending SCIM events"),
                Err(error) => tracing::error!(%error, "settling pending SCIM events failed"),
            }
        }
        if let Some(entra) = &self.entra {
            // Graph notifications stored before a crash, then each new delivery.
            tokio::spawn(
                entra
                    .clone()
                    .run_drainer(self.engine.clone(), shutdown.clone()),
            );
        }
        if let Some(socket) = &self.config.trail.vault_socket {
            // Vault's socket audit device connects here and writes its JSON lines.
            let listener = TcpListener::bind(&socket.listen).await.with_context(|| {
                format!(
                    "trail.vault_socket.listen: cannot listen on {}",
                    socket.listen
                )
            })?;
            tracing::info!(listen = %socket.listen, "listening for the Vault socket audit device");
            tokio::spawn(crate::trail::socket::serve(
                self.store.clone(),
                listener,
                Default::default(),
                shutdown.clone(),
            ));
        }
        let app = router(self.state(), self.config.server.max_body_bytes);
        let mut stop = shutdown.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await
            .context("serving HTTP")?;
        for task in background {
            let _ = task.await;
        }
        Ok(())
    }
}

/// Load the ledger's signing key: `file:PATH` (created if missing) or `env:NAME`
/// holding a PKCS#8 PEM.
pub fn load_signing_key(reference: &str) -> anyhow::Result<LedgerKey> {
    match parse_secret_ref(reference) {
        Some(SecretRef::File(path)) => LedgerKey::load_or_create(&path)
            .map_err(|e| anyhow::anyhow!("evidence.signing_key: {e}")),
        Some(SecretRef::Env(name)) => {
            let pem = std::env::var(&name).map_err(|_| {
                anyhow::anyhow!("evidence.signing_key: environment variable {name} is not set")
            })?;
            LedgerKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("evidence.signing_key: {e}"))
        }
        None => anyhow::bail!("evidence.signing_key must be `file:PATH` or `env:NAME`"),
    }
}

/// Seal staged evidence into the hash chain (PostgreSQL) every 50 ms, until shutdown;
/// a final pass seals what the last steps staged.
async fn seal_evidence(store: crate::store::Store, mut shutdown: watch::Receiver<bool>) {
    if store.dialect() == crate::store::Dialect::Sqlite {
        return; // SQLite seals as it writes
    }
    loop {
        if let Err(error) = store.seal_pending().await {
            tracing::warn!(%error, "sealing evidence failed; will retry");
        }
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            _ = shutdown.changed() => {}
        }
    }
}
