//! GET /: the overview. Offboardings in flight and done, completion, time-to-revoke,
//! SLA breaches, recent runs, rotations, drills and the evidence chain.

use super::html::{badge, duration, duration_opt, esc, percent, time, url_segment};
use super::session::{server_error, Viewer};
use super::svg::{bar_chart, Bar};
use crate::domain::RunStatus;
use crate::drills::report::{percentile, trend};
use crate::http::AppState;
use crate::store::{now_ms, RunFilter, RunRecord};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write as _;

/// Finished runs the time-to-revoke percentiles are computed over.
const PERCENTILE_WINDOW: i64 = 200;
/// Bars in the time-to-revoke chart.
const CHART_RUNS: usize = 30;

/// A run's time to revoke: from when it took effect to its last verified revocation.
pub(super) fn time_to_revoke(run: &RunRecord) -> Option<i64> {
    run.revoked_at.map(|t| (t - run.effective_at).max(0))
}

/// Whether a run breached its SLA at `now` (the rule `Store::sla_breaches` applies).
pub(super) fn breached(run: &RunRecord, now: i64) -> bool {
    let Some(deadline) = run.sla_deadline else {
        return false;
    };
    if run.mode == crate::domain::Mode::DryRun {
        return false;
    }
    match (run.revoked_at, run.status) {
        (Some(revoked), _) => revoked > deadline,
        (None, RunStatus::Pending | RunStatus::Running) => now > deadline,
        (None, RunStatus::Cancelled) => false,
        (None, _) => run.completed_at.is_some_and(|t| t > deadline),
    }
}

pub(super) fn identity_cell(run: &RunRecord) -> String {
    let name = run
        .identity
        .display_name
        .as_deref()
        .map(|n| format!(r#" <span class="muted">{}</span>"#, esc(n)))
        .unwrap_or_default();
    format!(
        r#"<a href="/runs/{}">{}</a>{name}"#,
        url_segment(&run.id),
        esc(&run.identity.email)
    )
}

fn card(label: &str, value: &str, alert: bool) -> String {
    format!(
        r#"<div class="card{}"><div class="n">{}</div><div class="l">{}</div></div>"#,
        if alert { " alert" } else { "" },
        esc(value),
        esc(label)
    )
}

async fn page_body(state: &AppState) -> Result<String, String> {
    let now = now_ms();
    let store = &state.store;
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let counts = store
        .count_runs_by_status()
        .await
        .map_err(|e| fail("counting runs", &e))?;
    let count = |statuses: &[RunStatus]| -> i64 {
        counts
            .iter()
            .filter(|(s, _)| statuses.contains(s))
            .map(|(_, n)| *n)
            .sum()
    };
    let in_flight = count(&[RunStatus::Pending, RunStatus::Running]);
    let completed = count(&[RunStatus::Completed]);
    let failed = count(&[RunStatus::Failed, RunStatus::PartiallyFailed]);
    let cancelled = count(&[RunStatus::Cancelled]);
    let (breach_count, breaches) = store
        .sla_breaches(now, 10)
        .await
        .map_err(|e| fail("finding SLA breaches", &e))?;
    let rotations = store
        .rotation_counts(now)
        .await
        .map_err(|e| fail("counting rotations", &e))?;

    let mut body = String::from("<h1>Offboardings</h1><div class=\"cards\">");
    body.push_str(&card("in flight", &in_flight.to_string(), false));
    body.push_str(&card("completed", &completed.to_string(), false));
    body.push_str(&card(
        "failed or partially failed",
        &failed.to_string(),
        failed > 0,
    ));
    body.push_str(&card("cancelled", &cancelled.to_string(), false));
    body.push_str(&card(
        "SLA breaches",
        &breach_count.to_string(),
        breach_count > 0,
    ));
    body.push_str(&card(
        "rotations open / overdue",
        &format!("{} / {}", rotations.open, rotations.overdue),
        rotations.overdue > 0,
    ));
    body.push_str("</div>");

    // In flight, with completion.
    let progress = store
        .runs_in_flight(50)
        .await
        .map_err(|e| fail("listing runs in flight", &e))?;
    body.push_str(r#"<section id="in-flight"><h2>In flight</h2>"#);
    if progress.is_empty() {
        body.push_str(r#"<p class="muted">No offboarding is in flight.</p>"#);
    } else {
        body.push_str("<table><tr><th>Identity</th><th>Plan</th><th>Status</th><th>Completion</th><th>Effective</th><th>SLA deadline</th></tr>");
        for p in &progress {
            let done = if p.steps > 0 {
                p.ended as f64 / p.steps as f64
            } else {
                0.0
            };
            let _ = write!(
                body,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td><progress value="{}" max="{}"></progress> {} ({} of {} steps)</td><td>{}</td><td class="{}">{}</td></tr>"#,
                identity_cell(&p.run),
                esc(&p.run.plan),
                badge(p.run.status.as_str()),
                p.ended,
                p.steps.max(1),
                percent(done),
                p.ended,
                p.steps,
                time(p.run.effective_at),
                if breached(&p.run, now) {
                    "bad-text"
                } else {
                    ""
                },
                p.run.sla_deadline.map(time).unwrap_or_else(|| "—".into()),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</section>");

    // Time to revoke.
    let finished = store
        .finished_revocations(PERCENTILE_WINDOW)
        .await
        .map_err(|e| fail("listing finished runs", &e))?;
    let times: Vec<i64> = finished.iter().filter_map(time_to_revoke).collect();
    let _ = write!(
        body,
        r#"<section id="time-to-revoke"><h2>Time to revoke</h2><p>p50 <strong>{}</strong> · p95 <strong>{}</strong> <span class="muted">over the last {} runs that revoked access (effective time to last verified revocation)</span></p>"#,
        duration_opt(percentile(&times, 50)),
        duration_opt(percentile(&times, 95)),
        times.len(),
    );
    if finished.is_empty() {
        body.push_str(r#"<p class="muted">No run has revoked anything yet.</p>"#);
    } else {
        let bars: Vec<Bar> = finished
            .iter()
            .take(CHART_RUNS)
            .rev()
            .map(|run| {
                let ttr = time_to_revoke(run).unwrap_or(0);
                let late = breached(run, now);
                Bar {
                    label: run.identity.email.clone(),
                    value_ms: ttr,
                    class: if late { "bad" } else { "ok" },
                    title: format!(
                        "{} · {} · {}{}",
                        run.identity.email,
                        run.plan,
                        duration(ttr),
                        if late { " · SLA breached" } else { "" }
                    ),
                    href: Some(format!("/runs/{}", url_segment(&run.id))),
                }
            })
            .collect();
        let sla = finished
            .iter()
            .take(CHART_RUNS)
            .filter_map(|r| r.sla_deadline.map(|d| d - r.effective_at))
            .min();
        body.push_str(&bar_chart(&bars, sla));
    }
    body.push_str("</section>");

    // SLA breaches.
    let _ = write!(
        body,
        r#"<section id="sla"><h2>SLA breaches</h2><p>{breach_count} run(s) revoked after their plan's SLA deadline, ended without revoking after it, or are still in flight past it.</p>"#
    );
    if !breaches.is_empty() {
        body.push_str("<table><tr><th>Identity</th><th>Plan</th><th>Status</th><th>Deadline</th><th>Revoked</th><th>Time to revoke</th></tr>");
        for run in &breaches {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                identity_cell(run),
                esc(&run.plan),
                badge(run.status.as_str()),
                run.sla_deadline.map(time).unwrap_or_default(),
                run.revoked_at.map(time).unwrap_or_else(|| "—".into()),
                duration_opt(time_to_revoke(run)),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</section>");

    // Recent runs.
    let recent = store
        .list_runs(&RunFilter {
            limit: 20,
            ..Default::default()
        })
        .await
        .map_err(|e| fail("listing runs", &e))?;
    body.push_str(r#"<section id="recent"><h2>Recent runs</h2>"#);
    if recent.is_empty() {
        body.push_str(r#"<p class="muted">No offboarding yet.</p>"#);
    } else {
        body.push_str("<table><tr><th>Identity</th><th>Plan</th><th>Mode</th><th>Status</th><th>Created</th><th>Time to revoke</th></tr>");
        for run in &recent {
            let _ = write!(
                body,
                r#"<tr class="run-row"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="{}">{}</td></tr>"#,
                identity_cell(run),
                esc(&run.plan),
                esc(run.mode.as_str()),
                badge(run.status.as_str()),
                time(run.created_at),
                if breached(run, now) { "bad-text" } else { "" },
                duration_opt(time_to_revoke(run)),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</section>");

    // Rotations.
    let _ = write!(
        body,
        r#"<section id="rotations"><h2>Rotations</h2><p><strong>{}</strong> open, <strong class="{}">{}</strong> overdue. <a href="/rotations">See open rotations</a></p></section>"#,
        rotations.open,
        if rotations.overdue > 0 {
            "bad-text"
        } else {
            ""
        },
        rotations.overdue,
    );

    // Drills.
    let drills = store
        .list_drills(None, 50)
        .await
        .map_err(|e| fail("listing drills", &e))?;
    let ended: Vec<(bool, Option<i64>)> = drills
        .iter()
        .filter(|d| d.status != "running")
        .map(|d| (d.status == "pass", d.time_to_revoke_ms))
        .collect();
    let t = trend(&ended);
    let _ = write!(
        body,
        r#"<section id="drills"><h2>Drills</h2><p>Pass rate <strong>{}</strong> <span class="muted">({} of {} ended drills)</span> · <a href="/drills">Drill history</a></p>"#,
        t.pass_rate.map(percent).unwrap_or_else(|| "—".into()),
        t.passed,
        t.drills,
    );
    if drills.is_empty() {
        body.push_str(r#"<p class="muted">No drill yet.</p>"#);
    } else {
        body.push_str("<table><tr><th>Plan</th><th>Canary</th><th>Started</th><th>Result</th><th>Time to revoke</th></tr>");
        for d in drills.iter().take(5) {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.plan),
                esc(&d.canary),
                time(d.started_at),
                badge(&d.status),
                duration_opt(d.time_to_revoke_ms),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</section>");

    // Evidence chain.
    body.push_str(&evidence_section(state).await?);
    Ok(body)
}

async fn evidence_section(state: &AppState) -> Result<String, String> {
    let head = state
        .store
        .evidence_head()
        .await
        .map_err(|e| format!("reading the evidence chain head: {e}"))?;
    let verification = state
        .ui
        .verification(state)
        .await
        .map_err(|e| format!("verifying the evidence ledger: {e}"))?;
    let report = &verification.report;
    let status = if report.ok {
        r#"<span class="ok-text" id="evidence-status">verified: chain intact</span>"#.to_string()
    } else {
        let why = report
            .failure
            .as_ref()
            .map(|f| f.reason.clone())
            .unwrap_or_else(|| "unknown failure".into());
        format!(
            r#"<span class="bad-text" id="evidence-status">verification FAILED</span> <span class="err">{}</span>"#,
            esc(&why)
        )
    };
    Ok(format!(
        concat!(
            r#"<section id="evidence"><h2>Evidence chain</h2><dl>"#,
            "<dt>Length</dt><dd>{len} entries (head seq {len})</dd>",
            "<dt>Status</dt><dd>{status}</dd>",
            "<dt>Entries checked</dt><dd>{checked}</dd>",
            "<dt>Signed up to</dt><dd>{signed}</dd>",
            "<dt>Verified at</dt><dd>{at}</dd>",
            "</dl></section>"
        ),
        len = head.seq,
        status = status,
        checked = report.entries_checked,
        signed = report
            .last_signed_seq
            .map(|s| format!("entry {s} (signed checkpoint)"))
            .unwrap_or_else(|| "no checkpoint yet".into()),
        at = time(verification.verified_at),
    ))
}

/// GET /.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    match page_body(&state).await {
        Ok(body) => super::layout::page(StatusCode::OK, "Overview", Some(&viewer), &body),
        Err(error) => server_error("building the overview", error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Mode;

    fn run(status: RunStatus, revoked_at: Option<i64>, completed_at: Option<i64>) -> RunRecord {
        RunRecord {
            id: "r".into(),
            plan: "p".into(),
            mode: Mode::Live,
            status,
            identity: leaver_connector::Identity::new("a@x.test"),
            reason: None,
            ticket: None,
            trigger_event: None,
            idempotency_key: None,
            request_digest: None,
            plan_snapshot: serde_json::Value::Null,
            effective_at: 0,
            sla_deadline: Some(1_000),
            created_at: 0,
            started_at: Some(0),
            completed_at,
            revoked_at,
            residual: None,
        }
    }

    #[test]
    fn sla_breach_rule() {
        assert!(!breached(
            &run(RunStatus::Completed, Some(900), Some(950)),
            5_000
        ));
        assert!(breached(
            &run(RunStatus::Completed, Some(1_100), Some(1_200)),
            5_000
        ));
        assert!(!breached(&run(RunStatus::Running, None, None), 999));
        assert!(breached(&run(RunStatus::Running, None, None), 1_001));
        assert!(breached(&run(RunStatus::Failed, None, Some(2_000)), 5_000));
        assert!(!breached(
            &run(RunStatus::Cancelled, None, Some(2_000)),
            5_000
        ));
        let mut dry = run(RunStatus::Running, None, None);
        dry.mode = Mode::DryRun;
        assert!(!breached(&dry, 5_000));
    }
}
