use std::time::Duration;

/// Whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Timeouts, connection failures, 5xx, 429, rate limits: retry with backoff.
    Transient,
    /// Authentication, authorization, validation (401, 403, 422…): fail the step now.
    Permanent,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
        }
    }
}

/// A classified connector failure. `message` carries the upstream's own words (its
/// error body's message) and must never contain a secret value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    pub class: ErrorClass,
    pub message: String,
    /// HTTP status of the upstream answer, when there was one.
    pub status: Option<u16>,
    /// How long the upstream asked us to wait (Retry-After, rate-limit reset).
    pub retry_after: Option<Duration>,
}

impl ConnectorError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Transient,
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Permanent,
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    pub fn is_transient(&self) -> bool {
        self.class == ErrorClass::Transient
    }

    /// The usual classification of an HTTP status: 408, 425, 429 and 5xx are transient,
    /// everything else permanent. Connectors refine this (GitHub's 403 rate limits).
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let class = if status == 408 || status == 425 || status == 429 || status >= 500 {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        };
        Self {
            class,
            message: message.into(),
            status: Some(status),
            retry_after: None,
        }
    }
}
