//! The Query protocol's XML: `<{Action}Response xmlns=…><{Action}Result>…` answers,
//! `<ErrorResponse>` errors, and the small writer that builds them.

use super::error::IamError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::time::SystemTime;

/// Namespace of IAM answers.
pub(crate) const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// Namespace of STS answers.
pub(crate) const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Escape text for an XML element or attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// ISO 8601 in UTC, as IAM renders dates (`2024-05-01T12:00:00Z`).
pub(crate) fn iso(at: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = at.into();
    dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3986 percent-encoding of everything but unreserved characters, as IAM encodes
/// policy documents in its answers.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A small XML writer.
#[derive(Debug, Default)]
pub(crate) struct Xml(String);

impl Xml {
    pub fn new() -> Self {
        Self::default()
    }

    /// `<name>text</name>`, escaped.
    pub fn el(&mut self, name: &str, text: &str) -> &mut Self {
        let _ = write!(self.0, "<{name}>{}</{name}>", escape(text));
        self
    }

    /// Escaped text inside the current element.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.0.push_str(&escape(text));
        self
    }

    /// `<name>true|false</name>`.
    pub fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.el(name, if value { "true" } else { "false" })
    }

    /// `<name>date</name>`.
    pub fn date(&mut self, name: &str, at: SystemTime) -> &mut Self {
        self.el(name, &iso(at))
    }

    /// `<name>` … `</name>` around what `inner` writes.
    pub fn wrap(&mut self, name: &str, inner: impl FnOnce(&mut Xml)) -> &mut Self {
        let _ = write!(self.0, "<{name}>");
        inner(self);
        let _ = write!(self.0, "</{name}>");
        self
    }

    /// `<name><member>…</member>…</name>`, one member per item.
    pub fn members<T>(
        &mut self,
        name: &str,
        items: &[T],
        mut each: impl FnMut(&mut Xml, &T),
    ) -> &mut Self {
        self.wrap(name, |x| {
            for item in items {
                x.wrap("member", |x| each(x, item));
            }
        })
    }

    /// `IsTruncated` and, when truncated, `Marker`.
    pub fn page_end(&mut self, next: &Option<String>) -> &mut Self {
        self.bool("IsTruncated", next.is_some());
        if let Some(marker) = next {
            self.el("Marker", marker);
        }
        self
    }

    pub fn finish(self) -> String {
        self.0
    }
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// 200 `<{action}Response>`, with `<{action}Result>` around `result` when there is one
/// (actions without output answer only `ResponseMetadata`).
pub(crate) fn ok(ns: &str, action: &str, result: Option<String>, request_id: &str) -> Response {
    let result = result
        .map(|r| format!("<{action}Result>{r}</{action}Result>"))
        .unwrap_or_default();
    let body = format!(
        "<{action}Response xmlns=\"{ns}\">{result}<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    xml_response(StatusCode::OK, body, request_id)
}

/// `<ErrorResponse>` with the error's status.
pub(crate) fn error(ns: &str, e: &IamError, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{ns}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        e.kind(),
        e.code,
        escape(&e.message)
    );
    xml_response(e.status, body, request_id)
}

/// What a proxy or load balancer in front of IAM answers with a 502 or 504.
pub(crate) fn gateway(status: StatusCode) -> Response {
    let mut response = (
        status,
        format!(
            "<html><body><h1>{} {}</h1></body></html>",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_encodes() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(percent_encode("{\"a\": 1}"), "%7B%22a%22%3A%201%7D");
    }

    #[test]
    fn writes_members_and_pages() {
        let mut x = Xml::new();
        x.members("PolicyNames", &["a", "b"], |x, n| {
            x.text(n);
        })
        .page_end(&Some("m1".into()));
        assert_eq!(
            x.finish(),
            "<PolicyNames><member>a</member><member>b</member></PolicyNames><IsTruncated>true</IsTruncated><Marker>m1</Marker>"
        );
    }
}
