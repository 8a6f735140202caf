//! The users delta reconciliation: notifications can be lost (Graph gives up after 4
//! hours, an endpoint can be down longer), so a cron job reads
//! `GET /users/delta?$select=id,accountEnabled,userPrincipalName,mail` from the last
//! `@odata.deltaLink` (kept in `intake_cursors` as `entra.users_delta`) and starts what a
//! lost notification would have started, with the same event ids (see the module
//! docs of `intake::entra`): a change the hook already handled starts nothing more.
//!
//! The first round (no cursor yet) reads every user only to reach a deltaLink: it
//! starts nothing, so setting Leaver up does not offboard everyone who was disabled
//! before. The same happens when Graph no longer knows the saved delta token
//! (`syncStateNotFound`): a new baseline is taken, with a warning.

use super::resolve::{drain, resolve_user, start_for_state, Origin, UserState};
use super::EntraIntake;
use crate::engine::Engine;
use crate::intake::IntakeOutcome;
use leaver_connector_entra::delta::{self, DeltaItem};

/// Where the delta reconciliation keeps its deltaLink.
pub const DELTA_CURSOR: &str = "entra.users_delta";

/// Pages read per round at most (a runaway nextLink chain ends the round unsaved).
const MAX_PAGES: usize = 10_000;

/// What one reconciliation round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileReport {
    /// The round only established the baseline deltaLink.
    pub baseline: bool,
    /// Users in the round's pages.
    pub users_seen: usize,
    /// Runs started (or found started) for users that came back disabled or removed.
    pub runs: Vec<String>,
    /// Events that were already handled (by the hook or an earlier round).
    pub duplicates: usize,
    /// Pending notifications handled first.
    pub notifications_drained: usize,
}

/// One reconciliation round; the cursor moves only when the round is complete.
pub async fn reconcile(engine: &Engine, service: &EntraIntake) -> anyhow::Result<ReconcileReport> {
    let store = engine.store();
    let mut report = ReconcileReport {
        notifications_drained: drain(engine, service).await?,
        ..ReconcileReport::default()
    };
    let cursor = store.intake_cursor(DELTA_CURSOR).await?;
    report.baseline = cursor.is_none();
    let mut link = cursor.unwrap_or_else(delta::initial_link);
    let mut pages = 0;
    loop {
        pages += 1;
        if pages > MAX_PAGES {
            anyhow::bail!("users delta: more than {MAX_PAGES} pages in one round");
        }
        let page = match delta::page(&service.graph, &link).await {
            Ok(page) => page,
            Err(error) if !report.baseline && delta::is_expired_token(&error) => {
                tracing::warn!(error = %error, "the saved users delta token is no longer valid; taking a new baseline (changes since the last round are not replayed)");
                report.baseline = true;
                link = delta::initial_link();
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        report.users_seen += page.items.len();
        if !report.baseline {
            for item in &page.items {
                let outcome = handle(engine, service, item).await?;
                match outcome {
                    Some(IntakeOutcome::Started { run_ids }) => report.runs.extend(run_ids),
                    Some(IntakeOutcome::Duplicate) => report.duplicates += 1,
                    _ => {}
                }
            }
        }
        match (page.next_link, page.delta_link) {
            (Some(next), _) => link = next,
            (None, Some(delta_link)) => {
                store.set_intake_cursor(DELTA_CURSOR, &delta_link).await?;
                break;
            }
            (None, None) => anyhow::bail!("users delta page without a next or delta link"),
        }
    }
    Ok(report)
}

async fn handle(
    engine: &Engine,
    service: &EntraIntake,
    item: &DeltaItem,
) -> anyhow::Result<Option<IntakeOutcome>> {
    match item {
        DeltaItem::Changed(user) if user.account_enabled == Some(false) => start_for_state(
            engine,
            &user.id,
            UserState::Disabled,
            Some(user),
            Origin::Delta,
        )
        .await
        .map(Some),
        DeltaItem::Changed(user) => {
            // Enabled: only remembered, so a later disable is a new generation.
            engine
                .store()
                .entra_observe_user(&user.id, "enabled", user.email().as_deref())
                .await?;
            Ok(None)
        }
        DeltaItem::Removed { id, reason } if reason == "deleted" => {
            start_for_state(engine, id, UserState::Deleted, None, Origin::Delta)
                .await
                .map(Some)
        }
        // Soft-deleted: Graph's recycle bin still has the user's name and deletion time.
        DeltaItem::Removed { id, .. } => resolve_user(engine, service, id, Origin::Delta)
            .await
            .map(Some),
    }
}
