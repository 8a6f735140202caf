//! GET /drills: drill history, the time-to-revoke trend (SVG) and the pass rate.

use super::html::{badge, duration_opt, esc, percent, time, time_opt, url_segment};
use super::layout;
use super::session::{server_error, Viewer};
use super::svg::{trend_chart, TrendPoint};
use crate::drills::report::trend;
use crate::http::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write as _;

/// Drills shown (newest first) and charted (oldest left).
const HISTORY: i64 = 100;

/// GET /drills.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    let drills = match state.store.list_drills(None, HISTORY).await {
        Ok(drills) => drills,
        Err(error) => return server_error("listing drills", error),
    };
    let ended: Vec<_> = drills.iter().filter(|d| d.status != "running").collect();
    let t = trend(
        &ended
            .iter()
            .map(|d| (d.status == "pass", d.time_to_revoke_ms))
            .collect::<Vec<_>>(),
    );
    let mut body = String::from("<h1>Drills</h1>");
    let _ = write!(
        body,
        r#"<section id="pass-rate"><p>Pass rate <strong>{}</strong> <span class="muted">({} of {} ended drills passed)</span> · time to revoke p50 <strong>{}</strong>, p95 <strong>{}</strong></p>"#,
        t.pass_rate.map(percent).unwrap_or_else(|| "—".into()),
        t.passed,
        t.drills,
        duration_opt(t.p50_time_to_revoke_ms),
        duration_opt(t.p95_time_to_revoke_ms),
    );
    if ended.is_empty() {
        body.push_str(r#"<p class="muted">No drill has ended yet.</p>"#);
    } else {
        let points: Vec<TrendPoint> = ended
            .iter()
            .rev()
            .map(|d| TrendPoint {
                label: format!("{} on {} at {}", d.plan, d.canary, time(d.started_at)),
                value_ms: d.time_to_revoke_ms,
                passed: d.status == "pass",
            })
            .collect();
        body.push_str(&trend_chart(&points));
    }
    body.push_str("</section><section id=\"history\"><h2>History</h2>");
    if drills.is_empty() {
        body.push_str(
            r#"<p class="muted">No drill yet: <code>leaver drill run PLAN --identity CANARY</code> runs one.</p>"#,
        );
    } else {
        body.push_str("<table><tr><th>Plan</th><th>Canary</th><th>Started</th><th>Finished</th><th>Result</th><th>Time to revoke</th><th>Run</th></tr>");
        for d in &drills {
            let run = d
                .run_id
                .as_deref()
                .map(|id| format!(r#"<a href="/runs/{}">timeline</a>"#, url_segment(id)))
                .unwrap_or_else(|| "—".into());
            let _ = write!(
                body,
                r#"<tr class="drill-row"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                esc(&d.plan),
                esc(&d.canary),
                time(d.started_at),
                time_opt(d.finished_at),
                badge(&d.status),
                duration_opt(d.time_to_revoke_ms),
                run,
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</section>");
    layout::page(StatusCode::OK, "Drills", Some(&viewer), &body)
}
