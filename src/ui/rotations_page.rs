//! GET /rotations: open secret rotations, overdue ones highlighted.

use super::html::{duration, esc, time, url_segment};
use super::layout;
use super::session::{server_error, Viewer};
use crate::http::AppState;
use crate::store::now_ms;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write as _;

/// GET /rotations.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    let rotations = match state.store.list_rotations(Some("open"), 1000).await {
        Ok(rotations) => rotations,
        Err(error) => return server_error("listing rotations", error),
    };
    let now = now_ms();
    let overdue = rotations.iter().filter(|r| r.due_at < now).count();
    let mut body = format!(
        r#"<h1>Rotations</h1><section><p><strong>{}</strong> open, <strong class="{}">{overdue}</strong> overdue (past their due time). Secrets read by departed identities; an admin completes or waives each through the API.</p>"#,
        rotations.len(),
        if overdue > 0 { "bad-text" } else { "" },
    );
    if rotations.is_empty() {
        body.push_str(r#"<p class="muted">No open rotation.</p>"#);
    } else {
        body.push_str("<table id=\"rotations\"><tr><th>Secret</th><th>Source</th><th>Environment</th><th>Owner</th><th>Due</th><th>Requested by</th></tr>");
        for r in &rotations {
            let late = r.due_at < now;
            let due = if late {
                format!(
                    r#"{} <span class="bad-text">overdue by {}</span>"#,
                    time(r.due_at),
                    esc(&duration(now - r.due_at))
                )
            } else {
                time(r.due_at)
            };
            let _ = write!(
                body,
                r#"<tr class="rotation-row{}"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href="/runs/{}">{}</a></td></tr>"#,
                if late { " overdue" } else { "" },
                esc(&r.secret),
                esc(&r.source),
                esc(&r.environment),
                esc(r.owner.as_deref().unwrap_or("—")),
                due,
                url_segment(&r.run_id),
                esc(&r.identity),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</section>");
    layout::page(StatusCode::OK, "Rotations", Some(&viewer), &body)
}
