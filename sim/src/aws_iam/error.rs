//! IAM and STS errors as AWS reports them: an error code, a message, the HTTP status,
//! and whether the caller (`Sender`) or AWS (`Receiver`) is at fault.

use axum::http::StatusCode;

/// One error answer of the Query API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IamError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl IamError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// `Sender` for 4xx, `Receiver` for 5xx (the `<Type>` element).
    pub fn kind(&self) -> &'static str {
        if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// 404 `NoSuchEntity`.
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NoSuchEntity", message)
    }

    /// 404 `NoSuchEntity` for a user name.
    pub fn no_such_user(name: &str) -> Self {
        Self::no_such_entity(format!("The user with name {name} cannot be found."))
    }

    /// 409 `DeleteConflict`.
    pub fn delete_conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "DeleteConflict", message)
    }

    /// 409 `LimitExceeded` (a quota such as two access keys per user).
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "LimitExceeded", message)
    }

    /// 400 `ValidationError`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationError", message)
    }

    /// 400 `ValidationError` for a missing required parameter (`userName`).
    pub fn missing(member: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// 400 `MalformedPolicyDocument`.
    pub fn malformed_policy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MalformedPolicyDocument", message)
    }

    /// 400 `MissingAction`.
    pub fn missing_action() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "Missing Action parameter",
        )
    }

    /// 400 `InvalidAction`: no such operation in this API version.
    pub fn invalid_action(action: &str, version: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
        )
    }

    /// 400 `MalformedQueryString`: the body is not a form.
    pub fn malformed_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MalformedQueryString", message)
    }

    /// 403 `MissingAuthenticationToken`: no `Authorization` header.
    pub fn missing_authentication() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
    }

    /// 400 `IncompleteSignature`: an `Authorization` header that is not SigV4.
    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "IncompleteSignature", message)
    }

    /// 403 `InvalidClientTokenId`: an unknown access key id.
    pub fn invalid_client_token() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    }

    /// 403 `SignatureDoesNotMatch`: temporary credentials without their session token.
    pub fn signature_mismatch() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    }

    /// 403 `ExpiredToken`.
    pub fn expired_token() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ExpiredToken",
            "The security token included in the request is expired",
        )
    }

    /// 403 `AccessDenied`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    /// 400 `Throttling` (IAM and STS throttle with a 400, not a 429).
    pub fn throttling() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
    }

    /// An injected server-side failure with this status.
    pub fn server(status: StatusCode) -> Self {
        match status.as_u16() {
            503 => Self::new(
                status,
                "ServiceUnavailable",
                "Service is unable to handle request.",
            ),
            _ => Self::new(
                status,
                "ServiceFailure",
                "The request processing has failed because of an unknown error, exception or failure.",
            ),
        }
    }
}
