//! The page shell (head, inline stylesheet, navigation, sign-out form) and the security
//! headers every dashboard answer carries.

use super::html::esc;
use super::session::Viewer;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'";

/// Add the security headers to a dashboard answer (HTML pages and redirects alike).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f4f6f9}
header{display:flex;align-items:center;gap:1.5rem;padding:.6rem 1.5rem;background:#1d2330;color:#fff}
header a{color:#cfd8e6;text-decoration:none}header a:hover{color:#fff}
header .brand{font-weight:700;color:#fff}
header .who{margin-left:auto;color:#9fb0c8}
header form{margin:0}
header button{background:none;border:1px solid #6b7a90;color:#cfd8e6;border-radius:4px;padding:.2rem .6rem;cursor:pointer}
main{max-width:1200px;margin:0 auto;padding:1rem 1.5rem 3rem}
h1{font-size:1.4rem;margin:.6rem 0 1rem}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:1rem;margin:0 0 1rem}
.cards{display:flex;flex-wrap:wrap;gap:1rem;margin-bottom:1rem}
.card{flex:1 1 150px;background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:.8rem 1rem}
.card .n{font-size:1.8rem;font-weight:700}.card .l{color:#5b6678}
.card.alert{border-color:#d33;background:#fff5f5}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e7ebf0;vertical-align:top}
th{color:#5b6678;font-weight:600}
tr.overdue td{background:#fff1f1}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.85em;background:#e4e8ee}
.badge.ok{background:#dff3e4;color:#17602c}.badge.bad{background:#fbe0e0;color:#9b1c1c}
.badge.busy{background:#e0ecfb;color:#1c4f9b}.badge.muted{background:#eee;color:#666}
.ok-text{color:#17602c;font-weight:600}.bad-text{color:#9b1c1c;font-weight:600}
.muted{color:#6b7a90}.err{color:#9b1c1c;white-space:pre-wrap;word-break:break-word}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{color:#5b6678}dd{margin:0}
svg{max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}
svg .axis{stroke:#aab4c3;stroke-width:1}svg .grid{stroke:#e7ebf0;stroke-width:1}
svg .ok{fill:#2f9e55}svg .bad{fill:#d64545}svg .busy{fill:#3b7ddd}svg .muted{fill:#b7bec9}svg .idle{fill:#d9dee6}
svg .line{fill:none;stroke:#3b7ddd;stroke-width:2}svg .sla{stroke:#d64545;stroke-dasharray:4 3}svg .sla-note{fill:#9b1c1c}
.login{max-width:420px;margin:4rem auto}
.login input[type=password]{width:100%;padding:.5rem;border:1px solid #c5ced9;border-radius:4px;font:inherit}
.login button{margin-top:.8rem;padding:.5rem 1rem;border:0;border-radius:4px;background:#1c4f9b;color:#fff;font:inherit;cursor:pointer}
.message{padding:.6rem .8rem;border-radius:4px;background:#fbe0e0;color:#9b1c1c;margin-bottom:1rem}
progress{width:140px;vertical-align:middle}
"#;

/// A full page: the shell around `body` (already escaped HTML), with navigation for a
/// signed-in viewer.
pub fn page(status: StatusCode, title: &str, viewer: Option<&Viewer>, body: &str) -> Response {
    let nav = match viewer {
        Some(viewer) => format!(
            concat!(
                r#"<a class="brand" href="/">Leaver</a><a href="/">Overview</a>"#,
                r#"<a href="/drills">Drills</a><a href="/rotations">Rotations</a>"#,
                r#"<span class="who">{} ({})</span>"#,
                r#"<form method="post" action="/logout"><button type="submit">Sign out</button></form>"#
            ),
            esc(&viewer.subject),
            esc(viewer.role.as_str()),
        ),
        None => r#"<span class="brand">Leaver</span>"#.to_string(),
    };
    let html = format!(
        concat!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>{title} · Leaver</title><style>{style}</style></head>",
            "<body><header>{nav}</header><main>{body}</main></body></html>\n"
        ),
        title = esc(title),
        style = STYLE,
        nav = nav,
        body = body,
    );
    (status, Html(html)).into_response()
}
