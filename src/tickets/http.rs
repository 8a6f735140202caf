//! The HTTP side shared by the ticket systems: one reqwest client with Basic auth, and
//! turning answers into classified connector errors with the upstream's own words.

use leaver_connector::{parse_retry_after, ConnectorError};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// A ticket system's HTTP endpoint and credentials.
pub struct Endpoint {
    /// What the system is called in messages (`Jira`, `ServiceNow`).
    pub system: &'static str,
    pub base_url: String,
    pub username: String,
    pub secret: SecretString,
    client: reqwest::Client,
}

impl Endpoint {
    pub fn new(
        system: &'static str,
        base_url: &str,
        username: &str,
        secret: SecretString,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("leaver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("{system}: building the HTTP client: {e}"))?;
        Ok(Self {
            system,
            base_url: base_url.trim_end_matches('/').to_string(),
            username: username.to_string(),
            secret,
            client,
        })
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.with_auth(self.client.get(format!("{}{path}", self.base_url)))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.with_auth(self.client.post(format!("{}{path}", self.base_url)))
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.with_auth(self.client.patch(format!("{}{path}", self.base_url)))
    }

    fn with_auth(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .basic_auth(&self.username, Some(self.secret.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Send, and give back a successful answer's JSON body; anything else becomes a
    /// classified error naming `what` was being done.
    pub async fn send_json(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<serde_json::Value, ConnectorError> {
        let response = request.send().await.map_err(|e| self.transport(what, e))?;
        let status = response.status();
        if status.is_success() {
            let text = response.text().await.map_err(|e| self.transport(what, e))?;
            if text.trim().is_empty() {
                return Ok(serde_json::Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| {
                ConnectorError::transient(format!(
                    "{}: {what}: answer {status} is not JSON: {e}",
                    self.system
                ))
                .with_status(status.as_u16())
            });
        }
        Err(self.failure(what, response).await)
    }

    fn transport(&self, what: &str, error: reqwest::Error) -> ConnectorError {
        // reqwest's Display names the URL, never the Authorization header.
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "could not connect"
        } else {
            "failed"
        };
        ConnectorError::transient(format!(
            "{}: {what}: request {kind}: {}",
            self.system,
            error.without_url()
        ))
    }

    async fn failure(&self, what: &str, response: Response) -> ConnectorError {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.text().await.unwrap_or_default();
        let message = upstream_message(&body).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        });
        let message = self.scrub(&message);
        let error = ConnectorError::from_status(
            status.as_u16(),
            format!("{}: {what}: {} {message}", self.system, status.as_u16()),
        );
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            error.with_retry_after(retry_after)
        } else {
            error
        }
    }
}

impl Endpoint {
    /// An upstream's words with the credential taken out: an error body may echo the
    /// request, `Authorization: Basic base64(user:secret)` included.
    fn scrub(&self, text: &str) -> String {
        use base64::Engine as _;
        let secret = self.secret.expose_secret();
        if secret.is_empty() {
            return text.to_string();
        }
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", self.username));
        text.replace(&basic, "[redacted]")
            .replace(secret, "[redacted]")
    }
}

/// The message in an error body, as Jira (`errorMessages`, `errors`) and ServiceNow
/// (`error.message`, `error.detail`) write it; plain text bodies are cut short.
pub fn upstream_message(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return None;
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(trimmed) else {
        if trimmed.starts_with('<') {
            return None; // an HTML error page says nothing useful
        }
        return Some(trimmed.chars().take(300).collect());
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(messages) = json.get("errorMessages").and_then(|m| m.as_array()) {
        parts.extend(messages.iter().filter_map(|m| m.as_str()).map(String::from));
    }
    if let Some(errors) = json.get("errors").and_then(|e| e.as_object()) {
        parts.extend(
            errors
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default())),
        );
    }
    if let Some(error) = json.get("error").and_then(|e| e.as_object()) {
        for key in ["message", "detail"] {
            if let Some(text) = error.get(key).and_then(|v| v.as_str()) {
                if !text.is_empty() {
                    parts.push(text.to_string());
                }
            }
        }
    }
    if let Some(message) = json.get("message").and_then(|m| m.as_str()) {
        parts.push(message.to_string());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_credentials_are_scrubbed() {
        let endpoint = Endpoint::new(
            "ServiceNow",
            "http://127.0.0.1:1",
            "bot",
            SecretString::from("s3cret-pw"),
            Duration::from_secs(1),
        )
        .unwrap();
        let echoed = "authorization: Basic Ym90OnMzY3JldC1wdw==; password=s3cret-pw";
        assert_eq!(
            endpoint.scrub(echoed),
            "authorization: Basic [redacted]; password=[redacted]"
        );
    }

    #[test]
    fn messages_are_read_as_each_system_writes_them() {
        assert_eq!(
            upstream_message(r#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#).as_deref(),
            Some("Issue does not exist or you do not have permission to see it.")
        );
        assert_eq!(
            upstream_message(
                r#"{"errorMessages":[],"errors":{"comment":"Comment body can not be empty!"}}"#
            )
            .as_deref(),
            Some("comment: Comment body can not be empty!")
        );
        assert_eq!(
            upstream_message(r#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#).as_deref(),
            Some("User Not Authenticated; Required to provide Auth information")
        );
        assert_eq!(
            upstream_message("Client must be authenticated to access this resource.").as_deref(),
            Some("Client must be authenticated to access this resource.")
        );
        assert_eq!(upstream_message("<html>503</html>"), None);
        assert_eq!(upstream_message(""), None);
    }
}
