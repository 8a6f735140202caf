//! Inline SVG charts, built as text (pure functions, no I/O): a bar chart of
//! durations, a Gantt-like timeline of a run's steps, and a trend line of drills. Every
//! label and tooltip is escaped here; classes come from `html::status_class`'s fixed
//! set. Each chart has a `<title>` per mark, which browsers show on hover.

use super::html::{duration, esc};
use std::fmt::Write as _;

/// One bar: a duration, its label under the bar, a tooltip and where it links.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value_ms: i64,
    /// `ok`, `bad`, `busy`, `muted` or `idle`.
    pub class: &'static str,
    pub title: String,
    pub href: Option<String>,
}

/// One step of a run's timeline.
#[derive(Debug, Clone)]
pub struct Span {
    /// Shown left of the bar (step id, connector, verification).
    pub label: String,
    pub start_ms: Option<i64>,
    /// None while running (the bar ends at `now`) or when it never started.
    pub end_ms: Option<i64>,
    pub class: &'static str,
    pub title: String,
}

/// One past drill: its time-to-revoke (when it got that far) and verdict.
#[derive(Debug, Clone)]
pub struct TrendPoint {
    pub label: String,
    pub value_ms: Option<i64>,
    pub passed: bool,
}

const WIDTH: f64 = 760.0;

fn f(x: f64) -> String {
    format!("{x:.1}")
}

/// A label cut to `max` characters (with an ellipsis), then escaped.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        esc(text)
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        esc(&format!("{cut}…"))
    }
}

/// A nice upper bound for an axis: 1, 2 or 5 times a power of ten, at least `value`.
fn nice_ceiling(value: i64) -> i64 {
    let value = value.max(1);
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            if let Some(candidate) = step.checked_mul(m) {
                if candidate >= value {
                    return candidate;
                }
            }
        }
        match step.checked_mul(10) {
            Some(next) => step = next,
            None => return value,
        }
    }
}

/// The opening `<svg>` of a chart of durations (`class` after `chart`, `label` for
/// screen readers) with its grid: lines and labels at 0, half of `max` and `max`,
/// placed by `y`, between the `left` and `right` margins.
fn duration_axes(
    class: &str,
    label: &str,
    height: f64,
    (left, right): (f64, f64),
    max: i64,
    y: impl Fn(i64) -> f64,
) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart {class}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">"#,
        w = WIDTH,
        h = height
    );
    for tick in [0, max / 2, max] {
        let ty = y(tick);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{x1}" y1="{ty}" x2="{x2}" y2="{ty}"/><text x="{tx}" y="{ly}" text-anchor="end">{label}</text>"#,
            x1 = f(left),
            x2 = f(WIDTH - right),
            ty = f(ty),
            tx = f(left - 6.0),
            ly = f(ty + 4.0),
            label = esc(&duration(tick)),
        );
    }
    svg
}

/// Vertical bars of durations, oldest left. `threshold_ms` (an SLA) is drawn as a
/// dashed line when it is within the bars' scale, else named in a corner (bars far
/// below their SLA stay readable).
pub fn bar_chart(bars: &[Bar], threshold_ms: Option<i64>) -> String {
    let (left, right, top, bottom) = (70.0, 10.0, 12.0, 44.0);
    let height = 220.0;
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let max = nice_ceiling(bars.iter().map(|b| b.value_ms).max().unwrap_or(0));
    let y = |v: i64| top + plot_h - plot_h * (v.clamp(0, max) as f64 / max as f64);
    let mut svg = duration_axes(
        "bars",
        "time to revoke of recent runs",
        height,
        (left, right),
        max,
        y,
    );
    let slot = plot_w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.7).clamp(2.0, 48.0);
    for (i, bar) in bars.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let top_y = y(bar.value_ms);
        let h = (top + plot_h - top_y).max(1.0);
        let rect = format!(
            r#"<rect class="bar {class}" x="{x}" y="{y}" width="{w}" height="{h}"><title>{title}</title></rect>"#,
            class = bar.class,
            x = f(x),
            y = f(top + plot_h - h),
            w = f(bar_w),
            h = f(h),
            title = esc(&bar.title),
        );
        match &bar.href {
            Some(href) => {
                let _ = write!(svg, r#"<a href="{}">{rect}</a>"#, esc(href));
            }
            None => svg.push_str(&rect),
        }
        if bars.len() <= 16 {
            let _ = write!(
                svg,
                r#"<text x="{x}" y="{y}" text-anchor="middle">{label}</text>"#,
                x = f(x + bar_w / 2.0),
                y = f(height - bottom + 16.0),
                label = short(&bar.label, (slot / 6.5).max(3.0) as usize),
            );
        }
    }
    if let Some(threshold) = threshold_ms.filter(|t| *t > max) {
        let _ = write!(
            svg,
            r#"<text class="sla-note" x="{x}" y="{y}" text-anchor="end">SLA {label}: above the scale</text>"#,
            x = f(WIDTH - right),
            y = f(top + 10.0),
            label = esc(&duration(threshold)),
        );
    }
    if let Some(threshold) = threshold_ms.filter(|t| *t <= max) {
        let ty = y(threshold);
        let _ = write!(
            svg,
            r#"<line class="sla axis" x1="{x1}" y1="{ty}" x2="{x2}" y2="{ty}"><title>SLA {label}</title></line>"#,
            x1 = f(left),
            x2 = f(WIDTH - right),
            ty = f(ty),
            label = esc(&duration(threshold)),
        );
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{l}" y1="{b}" x2="{r}" y2="{b}"/></svg>"#,
        l = f(left),
        r = f(WIDTH - right),
        b = f(top + plot_h),
    );
    svg
}

/// A Gantt-like timeline: one row and one bar per step, from its start to its end (to
/// `now_ms` while running; a short grey mark at the left when it never started).
pub fn timeline(spans: &[Span], origin_ms: i64, now_ms: i64) -> String {
    let (label_w, right, top, row_h) = (300.0, 16.0, 24.0, 26.0);
    let height = top + row_h * spans.len().max(1) as f64 + 8.0;
    let start = spans
        .iter()
        .filter_map(|s| s.start_ms)
        .chain([origin_ms])
        .min()
        .unwrap_or(origin_ms);
    let end = spans
        .iter()
        .map(|s| match (s.start_ms, s.end_ms) {
            (Some(_), None) => now_ms,
            (_, Some(end)) => end,
            (None, None) => start,
        })
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let plot_w = WIDTH - label_w - right;
    let x = |t: i64| {
        label_w + plot_w * ((t - start).clamp(0, end - start) as f64 / (end - start) as f64)
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart timeline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="step timeline" xmlns="http://www.w3.org/2000/svg">"#,
        w = WIDTH,
        h = f(height)
    );
    let _ = write!(
        svg,
        r#"<text x="{l}" y="14">0 s</text><text x="{r}" y="14" text-anchor="end">{total}</text><line class="axis" x1="{l}" y1="18" x2="{r}" y2="18"/>"#,
        l = f(label_w),
        r = f(WIDTH - right),
        total = esc(&duration(end - start)),
    );
    for (i, span) in spans.iter().enumerate() {
        let row_y = top + row_h * i as f64;
        let (bar_x, bar_w) = match span.start_ms {
            Some(s) => {
                let e = span.end_ms.unwrap_or(now_ms).max(s);
                (x(s), (x(e) - x(s)).max(3.0))
            }
            None => (label_w, 3.0),
        };
        let _ = write!(
            svg,
            concat!(
                r#"<line class="grid" x1="0" y1="{gy}" x2="{w}" y2="{gy}"/>"#,
                r#"<text class="step-label" x="4" y="{ty}">{label}</text>"#,
                r#"<rect class="bar {class}" x="{bx}" y="{by}" width="{bw}" height="{bh}" rx="2"><title>{title}</title></rect>"#
            ),
            gy = f(row_y + row_h),
            w = WIDTH,
            ty = f(row_y + row_h / 2.0 + 4.0),
            label = short(&span.label, 46),
            class = span.class,
            bx = f(bar_x),
            by = f(row_y + 5.0),
            bw = f(bar_w),
            bh = f(row_h - 10.0),
            title = esc(&span.title),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Time-to-revoke over past drills (oldest left): a line through the measured times,
/// a green dot for each pass and a red diamond for each failure (on the axis when the
/// drill measured no time).
pub fn trend_chart(points: &[TrendPoint]) -> String {
    let (left, right, top, bottom) = (70.0, 16.0, 12.0, 40.0);
    let height = 220.0;
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let max = nice_ceiling(points.iter().filter_map(|p| p.value_ms).max().unwrap_or(0));
    let y = |v: i64| top + plot_h - plot_h * (v.clamp(0, max) as f64 / max as f64);
    let x = |i: usize| {
        if points.len() <= 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (points.len() - 1) as f64
        }
    };
    let mut svg = duration_axes(
        "trend",
        "drill time to revoke trend",
        height,
        (left, right),
        max,
        y,
    );
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.value_ms.map(|v| format!("{},{}", f(x(i)), f(y(v)))))
        .collect();
    if line.len() > 1 {
        let _ = write!(
            svg,
            r#"<polyline class="line" points="{}"/>"#,
            line.join(" ")
        );
    }
    for (i, point) in points.iter().enumerate() {
        let (px, py) = (x(i), y(point.value_ms.unwrap_or(0)));
        let verdict = if point.passed { "pass" } else { "fail" };
        let title = esc(&format!(
            "{}: {} ({verdict})",
            point.label,
            point
                .value_ms
                .map(duration)
                .unwrap_or_else(|| "no time-to-revoke".into())
        ));
        if point.passed {
            let _ = write!(
                svg,
                r#"<circle class="mark pass ok" cx="{}" cy="{}" r="5"><title>{title}</title></circle>"#,
                f(px),
                f(py)
            );
        } else {
            let _ = write!(
                svg,
                r#"<rect class="mark fail bad" x="{}" y="{}" width="9" height="9" transform="rotate(45 {} {})"><title>{title}</title></rect>"#,
                f(px - 4.5),
                f(py - 4.5),
                f(px),
                f(py)
            );
        }
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{l}" y1="{b}" x2="{r}" y2="{b}"/><text x="{l}" y="{ty}">oldest</text><text x="{r}" y="{ty}" text-anchor="end">newest</text></svg>"#,
        l = f(left),
        r = f(WIDTH - right),
        b = f(top + plot_h),
        ty = f(height - bottom + 18.0),
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(1200), 2000);
        assert_eq!(nice_ceiling(40_000), 50_000);
        assert_eq!(nice_ceiling(i64::MAX), i64::MAX);
    }

    #[test]
    fn bar_chart_has_one_bar_per_value_and_escapes_labels() {
        let bars: Vec<Bar> = (0..3)
            .map(|i| Bar {
                label: format!("<b>{i}</b>"),
                value_ms: 1000 * i,
                class: if i == 2 { "bad" } else { "ok" },
                title: format!("run \"{i}\""),
                href: Some(format!("/runs/{i}")),
            })
            .collect();
        let svg = bar_chart(&bars, Some(1500));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(count(&svg, r#"<rect class="bar "#), 3);
        assert_eq!(count(&svg, r#"<rect class="bar bad""#), 1);
        assert!(!svg.contains("<b>"), "labels are escaped: {svg}");
        assert!(svg.contains("&lt;b&gt;0&lt;/b&gt;"));
        assert!(svg.contains("run &quot;2&quot;"));
        assert!(svg.contains(r#"<a href="/runs/1">"#));
        assert!(svg.contains("SLA 1.5 s"));
    }

    #[test]
    fn a_far_away_sla_does_not_squash_the_bars() {
        let bar = Bar {
            label: "a".into(),
            value_ms: 8,
            class: "ok",
            title: "a".into(),
            href: None,
        };
        let svg = bar_chart(&[bar], Some(900_000));
        assert!(svg.contains("SLA 15 min 00 s: above the scale"), "{svg}");
        assert!(!svg.contains("class=\"sla axis\""));
        assert!(
            svg.contains(">10 ms</text>"),
            "the axis fits the bars: {svg}"
        );
    }

    #[test]
    fn bar_chart_of_nothing_is_still_an_svg() {
        let svg = bar_chart(&[], None);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(count(&svg, "<rect"), 0);
    }

    #[test]
    fn timeline_draws_every_step_even_unstarted_ones() {
        let spans = vec![
            Span {
                label: "github · github ✓".into(),
                start_ms: Some(1_000),
                end_ms: Some(3_000),
                class: "ok",
                title: "succeeded".into(),
            },
            Span {
                label: "vault".into(),
                start_ms: Some(2_000),
                end_ms: None,
                class: "busy",
                title: "running".into(),
            },
            Span {
                label: "<i>never</i>".into(),
                start_ms: None,
                end_ms: None,
                class: "muted",
                title: "skipped".into(),
            },
        ];
        let svg = timeline(&spans, 1_000, 5_000);
        assert_eq!(count(&svg, r#"<rect class="bar "#), 3);
        assert_eq!(count(&svg, r#"class="step-label""#), 3);
        assert!(svg.contains("github · github ✓"));
        assert!(svg.contains("&lt;i&gt;never&lt;/i&gt;"));
        // The first bar spans 1 s to 3 s of a 4 s axis over 444 px from x = 300.
        assert!(svg.contains(r#"x="300.0" y="29.0" width="222.0""#), "{svg}");
        assert!(svg.contains(">4.0 s</text>"));
    }

    #[test]
    fn trend_marks_passes_and_failures() {
        let points = vec![
            TrendPoint {
                label: "a".into(),
                value_ms: Some(2_000),
                passed: true,
            },
            TrendPoint {
                label: "b".into(),
                value_ms: None,
                passed: false,
            },
            TrendPoint {
                label: "c".into(),
                value_ms: Some(4_000),
                passed: true,
            },
        ];
        let svg = trend_chart(&points);
        assert_eq!(count(&svg, "<circle class=\"mark pass"), 2);
        assert_eq!(count(&svg, "<rect class=\"mark fail"), 1);
        assert_eq!(count(&svg, "<polyline"), 1);
        assert!(svg.contains("b: no time-to-revoke (fail)"));
    }
}
