//! Turning SDK failures into classified connector errors.
//!
//! | what failed | class |
//! |---|---|
//! | throttling codes (`Throttling`, `ThrottlingException`, `RequestLimitExceeded`, …), `ServiceFailure`/`InternalFailure`, `ServiceUnavailable`, `ConcurrentModification`, any 5xx or 429 | transient |
//! | no answer: timeouts, connection errors | transient |
//! | `AccessDenied`, `InvalidClientTokenId`, `SignatureDoesNotMatch`, `ExpiredToken`, any other 4xx | permanent, with AWS's own message |
//! | no credentials in the default chain, a role that cannot be assumed (STS `AccessDenied`) | permanent |
//! | STS throttled or unreachable while assuming a role | transient |
//!
//! A `Retry-After` header on the answer becomes the error's `retry_after`. AWS error
//! messages never carry secret values (a secret access key is never sent, only its
//! signature), so they are passed on as they are.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use leaver_connector::{parse_retry_after, ConnectorError};
use std::error::Error as StdError;

/// Error codes AWS uses for "slow down" and "try again".
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "ServiceFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
    "ConcurrentModification",
    "IDPCommunicationError",
];

/// A failed IAM (or STS) call: the AWS error code when there was one, and the
/// classified error.
#[derive(Debug, Clone)]
pub(crate) struct CallError {
    pub code: Option<String>,
    pub error: ConnectorError,
}

impl CallError {
    /// Whether AWS answered with this error code.
    pub(crate) fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// IAM's 404: the user, key, profile, group membership… does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        self.is("NoSuchEntity")
    }

    /// Prefix the message with context (which sub-step, which user).
    pub(crate) fn context(mut self, context: impl AsRef<str>) -> Self {
        self.error.message = format!("{}: {}", context.as_ref(), self.error.message);
        self
    }
}

impl From<CallError> for ConnectorError {
    fn from(e: CallError) -> Self {
        e.error
    }
}

/// Whether a code (from AWS) means "try again later".
pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

fn retry_after(response: Option<&HttpResponse>) -> Option<std::time::Duration> {
    response
        .and_then(|r| r.headers().get("retry-after"))
        .and_then(parse_retry_after)
}

/// Classify the failure of the call described by `what` (`iam:ListAccessKeys(alice)`).
pub(crate) fn classify<E>(what: &str, err: &SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context.err().code().map(str::to_string);
            let message = context.err().message().map(str::to_string);
            service_error(what, status, code, message, Some(context.raw()))
        }
        SdkError::TimeoutError(_) => CallError {
            code: None,
            error: ConnectorError::transient(format!("{what}: timed out ({})", chain(err))),
        },
        SdkError::DispatchFailure(failure) => {
            let class = if failure.is_user() {
                "the request could not be sent"
            } else if failure.is_timeout() {
                "timed out"
            } else {
                "no answer"
            };
            let message = format!("{what}: {class} ({})", chain(err));
            let error = if failure.is_user() {
                ConnectorError::permanent(message)
            } else {
                ConnectorError::transient(message)
            };
            CallError { code: None, error }
        }
        SdkError::ResponseError(context) => {
            let status = context.raw().status().as_u16();
            let error = ConnectorError::from_status(
                status,
                format!("{what}: unreadable answer (HTTP {status}): {}", chain(err)),
            )
            .with_retry_after(retry_after(Some(context.raw())));
            // A 2xx we cannot parse is a broken answer, not a refusal: try again.
            let error = if status < 300 {
                ConnectorError {
                    class: leaver_connector::ErrorClass::Transient,
                    ..error
                }
            } else {
                error
            };
            CallError { code: None, error }
        }
        // Failing before anything was sent: most often the credentials (default chain
        // empty, role not assumable), which may hide an STS answer worth classifying.
        _ => credentials_failure(what, err),
    }
}

fn service_error(
    what: &str,
    status: u16,
    code: Option<String>,
    message: Option<String>,
    raw: Option<&HttpResponse>,
) -> CallError {
    let shown_code = code.as_deref().unwrap_or("error");
    let shown_message = message.as_deref().unwrap_or("(no message)");
    let text = format!("{what}: {shown_code}: {shown_message} (HTTP {status})");
    let mut error = ConnectorError::from_status(status, text);
    if code.as_deref().is_some_and(is_transient_code) {
        error.class = leaver_connector::ErrorClass::Transient;
    }
    let error = error.with_retry_after(retry_after(raw));
    CallError { code, error }
}

fn credentials_failure<E>(what: &str, err: &SdkError<E, HttpResponse>) -> CallError
where
    E: StdError + Send + Sync + 'static,
{
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(sts) = current.downcast_ref::<aws_sdk_sts::error::SdkError<
            aws_sdk_sts::operation::assume_role::AssumeRoleError,
        >>() {
            let inner = classify(&format!("{what}: assuming the account's role failed: sts:AssumeRole"), sts);
            return inner;
        }
        if let Some(credentials) = current.downcast_ref::<CredentialsError>() {
            let detail = DisplayErrorContext(credentials).to_string();
            let error = match credentials {
                CredentialsError::ProviderTimedOut(_) => ConnectorError::transient(format!(
                    "{what}: loading AWS credentials timed out ({detail})"
                )),
                CredentialsError::CredentialsNotLoaded(_) => ConnectorError::permanent(format!(
                    "{what}: no AWS credentials: the default chain (environment, shared config, SSO, \
                     web identity, instance metadata) found none ({detail})"
                )),
                CredentialsError::ProviderError(_) => ConnectorError::transient(format!(
                    "{what}: loading AWS credentials failed ({detail})"
                )),
                _ => ConnectorError::permanent(format!(
                    "{what}: AWS credentials are misconfigured ({detail})"
                )),
            };
            return CallError { code: None, error };
        }
        source = current.source();
    }
    CallError {
        code: None,
        error: ConnectorError::permanent(format!(
            "{what}: the request could not be built ({})",
            chain(err)
        )),
    }
}

fn chain(err: &(dyn StdError + 'static)) -> String {
    DisplayErrorContext(err).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::list_access_keys::ListAccessKeysError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(status: u16, code: &str, message: &str, retry: Option<&str>) -> CallError {
        let mut raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        if let Some(value) = retry {
            raw.headers_mut().insert("Retry-After", value.to_string());
        }
        let err = ListAccessKeysError::generic(
            ErrorMetadata::builder().code(code).message(message).build(),
        );
        classify(
            "iam:ListAccessKeys(alice)",
            &SdkError::service_error(err, raw),
        )
    }

    #[test]
    fn throttling_is_transient_with_the_retry_hint() {
        let e = service(400, "Throttling", "Rate exceeded", Some("7"));
        assert!(e.error.is_transient());
        assert_eq!(e.error.retry_after, Some(std::time::Duration::from_secs(7)));
        assert_eq!(e.error.status, Some(400));
        assert_eq!(
            e.error.message,
            "iam:ListAccessKeys(alice): Throttling: Rate exceeded (HTTP 400)"
        );
    }

    #[test]
    fn server_errors_are_transient() {
        assert!(service(500, "ServiceFailure", "boom", None)
            .error
            .is_transient());
        assert!(service(503, "Whatever", "x", None).error.is_transient());
        assert!(service(409, "ConcurrentModification", "wait", None)
            .error
            .is_transient());
    }

    #[test]
    fn refusals_are_permanent_with_aws_words() {
        let e = service(
            403,
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/leaver is not authorized to perform: iam:ListAccessKeys",
            None,
        );
        assert!(!e.error.is_transient());
        assert!(e.is("AccessDenied"));
        assert!(e.error.message.contains("is not authorized to perform"));
        let e = service(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            None,
        );
        assert!(!e.error.is_transient());
        let e = service(
            404,
            "NoSuchEntity",
            "The user with name bob cannot be found.",
            None,
        );
        assert!(e.is_not_found());
        let e = service(
            409,
            "DeleteConflict",
            "Cannot delete entity, must delete policies first.",
            None,
        );
        assert!(!e.error.is_transient());
        assert!(e.error.message.ends_with(
            "DeleteConflict: Cannot delete entity, must delete policies first. (HTTP 409)"
        ));
    }
}
