//! Escaping and formatting for the dashboard's HTML. Every value that did not come from
//! this crate's own literals goes through `esc` before it is written into a page.

use std::fmt::Write as _;

/// Escape text for HTML element content and quoted attribute values (also valid in
/// SVG): `& < > " '`.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment for a link (`/runs/<id>`): everything but unreserved characters
/// percent-encoded, then escaped for the attribute.
pub fn url_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A time (ms since the epoch) as UTC ISO-8601 to the second: `2026-01-02T03:04:05Z`.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "—".into())
}

/// An optional time, `—` when absent.
pub fn time_opt(ms: Option<i64>) -> String {
    ms.map(time).unwrap_or_else(|| "—".into())
}

/// A duration for people: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 10 min`, `3 d 4 h`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{:.1} s", ms as f64 / 1000.0);
    }
    let secs = ms / 1000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else {
        format!("{m} min {s:02} s")
    }
}

/// An optional duration, `—` when absent.
pub fn duration_opt(ms: Option<i64>) -> String {
    ms.map(duration).unwrap_or_else(|| "—".into())
}

/// A fraction as a whole percentage: `0.8333` → `83%`.
pub fn percent(fraction: f64) -> String {
    format!("{:.0}%", (fraction * 100.0).clamp(0.0, 100.0))
}

/// A status badge: the status text, with a class chosen from a fixed set.
pub fn badge(status: &str) -> String {
    format!(
        r#"<span class="badge {}">{}</span>"#,
        status_class(status),
        esc(status)
    )
}

/// The CSS class of a run, step, drill or rotation status (never the raw text).
pub fn status_class(status: &str) -> &'static str {
    match status {
        "completed" | "succeeded" | "pass" | "done" => "ok",
        "failed" | "fail" | "partially_failed" => "bad",
        "running" | "ready" | "open" => "busy",
        "cancelled" | "skipped" | "waived" => "muted",
        _ => "idle",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("plain text é"), "plain text é");
    }

    #[test]
    fn url_segments_are_percent_encoded() {
        assert_eq!(url_segment("0193-ab_c.d~"), "0193-ab_c.d~");
        assert_eq!(url_segment("a/b?c=\"d\""), "a%2Fb%3Fc%3D%22d%22");
    }

    #[test]
    fn times_are_utc_iso8601() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_767_225_845_123), "2026-01-01T00:04:05Z");
        assert_eq!(time_opt(None), "—");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_340), "12.3 s");
        assert_eq!(duration(245_000), "4 min 05 s");
        assert_eq!(duration(7_800_000), "2 h 10 min");
        assert_eq!(duration(3 * 86_400_000 + 4 * 3_600_000), "3 d 4 h");
        assert_eq!(duration(-5), "0 ms");
        assert_eq!(percent(0.8333), "83%");
    }

    #[test]
    fn badges_escape_unknown_statuses() {
        assert_eq!(badge("<b>"), r#"<span class="badge idle">&lt;b&gt;</span>"#);
        assert_eq!(status_class("succeeded"), "ok");
    }
}
