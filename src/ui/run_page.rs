//! GET /runs/{id}: one run — identity, plan, status, timings — with its step timeline
//! (SVG) and a table of the steps (attempts, upstream errors, verification).

use super::html::{badge, duration, duration_opt, esc, status_class, time, time_opt};
use super::layout;
use super::overview::{breached, time_to_revoke};
use super::session::{server_error, Viewer};
use super::svg::{timeline, Span};
use crate::http::AppState;
use crate::store::{now_ms, RunRecord, StepRecord};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write as _;

/// The label left of a step's bar: id, connector and verification.
fn step_label(step: &StepRecord) -> String {
    let verified = if step.verified {
        " · verified ✓"
    } else if step.status.is_terminal() {
        " · not verified"
    } else {
        ""
    };
    format!("{} · {}{verified}", step.step_id, step.connector)
}

fn spans(steps: &[StepRecord]) -> Vec<Span> {
    steps
        .iter()
        .map(|step| Span {
            label: step_label(step),
            start_ms: step.started_at,
            end_ms: step.finished_at,
            class: status_class(step.status.as_str()),
            title: format!(
                "{} ({}): {}, {} attempt(s){}",
                step.step_id,
                step.uses,
                step.status,
                step.attempts,
                match (step.started_at, step.finished_at) {
                    (Some(s), Some(e)) => format!(", {}", duration(e - s)),
                    _ => String::new(),
                }
            ),
        })
        .collect()
}

fn summary(run: &RunRecord, now: i64) -> String {
    let identity = &run.identity;
    let accounts: Vec<String> = identity
        .accounts
        .iter()
        .map(|(system, key)| format!("{}: {}", esc(system), esc(key)))
        .collect();
    let sla = match run.sla_deadline {
        Some(deadline) if breached(run, now) => format!(
            r#"{} <span class="bad-text">breached</span>"#,
            time(deadline)
        ),
        Some(deadline) => time(deadline),
        None => "none (the plan sets no SLA)".into(),
    };
    format!(
        concat!(
            "<section><dl>",
            r#"<dt>Identity</dt><dd id="identity">{email}{name}</dd>"#,
            "<dt>Identity provider</dt><dd>{idp}</dd>",
            "<dt>Accounts</dt><dd>{accounts}</dd>",
            "<dt>Plan</dt><dd>{plan}</dd><dt>Mode</dt><dd>{mode}</dd>",
            "<dt>Status</dt><dd>{status}</dd>",
            "<dt>Trigger</dt><dd>{trigger}</dd><dt>Ticket</dt><dd>{ticket}</dd><dt>Reason</dt><dd>{reason}</dd>",
            "<dt>Created</dt><dd>{created}</dd><dt>Effective</dt><dd>{effective}</dd>",
            "<dt>Started</dt><dd>{started}</dd><dt>Ended</dt><dd>{completed}</dd>",
            "<dt>Revoked</dt><dd>{revoked}</dd><dt>Time to revoke</dt><dd>{ttr}</dd>",
            "<dt>SLA deadline</dt><dd>{sla}</dd>",
            "<dt>Residual access</dt><dd>{residual}</dd>",
            "</dl></section>"
        ),
        email = esc(&identity.email),
        name = identity
            .display_name
            .as_deref()
            .map(|n| format!(" ({})", esc(n)))
            .unwrap_or_default(),
        idp = esc(&identity.idp),
        accounts = if accounts.is_empty() {
            "—".into()
        } else {
            accounts.join(", ")
        },
        plan = esc(&run.plan),
        mode = esc(run.mode.as_str()),
        status = badge(run.status.as_str()),
        trigger = esc(run.trigger_event.as_deref().unwrap_or("—")),
        ticket = run
            .ticket
            .as_ref()
            .map(|t| format!("<code>{}</code>", esc(&t.to_string())))
            .unwrap_or_else(|| "—".into()),
        reason = esc(run.reason.as_deref().unwrap_or("—")),
        created = time(run.created_at),
        effective = time(run.effective_at),
        started = time_opt(run.started_at),
        completed = time_opt(run.completed_at),
        revoked = time_opt(run.revoked_at),
        ttr = duration_opt(time_to_revoke(run)),
        sla = sla,
        residual = match run.residual.as_ref().and_then(|r| r.as_array()) {
            None => "not swept yet".into(),
            Some(items) if items.is_empty() => "none found".into(),
            Some(items) => format!(
                r#"<span class="bad-text">{} holding(s)</span> <code>{}</code>"#,
                items.len(),
                esc(&serde_json::Value::Array(items.clone()).to_string())
            ),
        },
    )
}

fn steps_table(steps: &[StepRecord]) -> String {
    let mut table = String::from(
        "<table id=\"steps\"><tr><th>Step</th><th>Action</th><th>Status</th><th>Attempts</th>\
         <th>Started</th><th>Finished</th><th>Duration</th><th>Verified</th><th>Error</th></tr>",
    );
    for step in steps {
        let error = match (&step.error, &step.error_class) {
            (Some(message), class) => format!(
                r#"<span class="err">{}{}</span>"#,
                class
                    .as_deref()
                    .map(|c| format!("[{}] ", esc(c)))
                    .unwrap_or_default(),
                esc(message)
            ),
            (None, _) => String::new(),
        };
        let _ = write!(
            table,
            r#"<tr class="step-row"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&step.step_id),
            esc(&step.uses),
            badge(step.status.as_str()),
            step.attempts,
            step.max_attempts,
            time_opt(step.started_at),
            time_opt(step.finished_at),
            match (step.started_at, step.finished_at) {
                (Some(s), Some(e)) => duration(e - s),
                _ => "—".into(),
            },
            if step.verified { "yes" } else { "no" },
            error,
        );
    }
    table.push_str("</table>");
    table
}

/// GET /runs/{id}.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let run = match state.store.get_run(&id).await {
        Ok(run) => run,
        Err(error) => return server_error("reading the run", error),
    };
    let Some(run) = run else {
        return layout::page(
            StatusCode::NOT_FOUND,
            "Run not found",
            Some(&viewer),
            &format!(
                r#"<h1>Run not found</h1><p>There is no offboarding run <code>{}</code>. <a href="/">Back to the overview</a></p>"#,
                esc(&id)
            ),
        );
    };
    let steps = match state.store.steps_for_run(&run.id).await {
        Ok(steps) => steps,
        Err(error) => return server_error("reading the run's steps", error),
    };
    let now = now_ms();
    let body = format!(
        concat!(
            "<h1>Offboarding of {email}</h1>{summary}",
            r#"<section id="timeline"><h2>Timeline</h2>{chart}</section>"#,
            r#"<section><h2>Steps</h2>{table}</section>"#
        ),
        email = esc(&run.identity.email),
        summary = summary(&run, now),
        chart = timeline(
            &spans(&steps),
            run.started_at.unwrap_or(run.effective_at),
            now
        ),
        table = steps_table(&steps),
    );
    layout::page(StatusCode::OK, "Run", Some(&viewer), &body)
}
