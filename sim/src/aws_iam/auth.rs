//! Who is calling: the access key id named by a SigV4 `Authorization` header
//! (`AWS4-HMAC-SHA256 Credential=<AKID>/<date>/<region>/<service>/aws4_request, …`).
//! Signatures are not recomputed; the key id must be the configured one or one issued
//! by `AssumeRole` (with its `X-Amz-Security-Token`, and not expired).

use super::error::IamError;
use axum::http::{header, HeaderMap};
use std::time::SystemTime;

/// Temporary credentials issued by `sts:AssumeRole`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub access_key_id: String,
    pub session_token: String,
    pub account_id: String,
    pub role_name: String,
    pub role_id: String,
    pub session_name: String,
    pub expires: SystemTime,
}

/// The authenticated principal of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The configured credentials, acting in the default account.
    Operator,
    /// An assumed role, acting in the role's account.
    Role(Session),
}

/// The access key id of a SigV4 `Authorization` header.
pub(crate) fn access_key_id(headers: &HeaderMap) -> Result<String, IamError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(IamError::missing_authentication());
    };
    let value = String::from_utf8_lossy(value.as_bytes());
    let rest = value
        .trim()
        .strip_prefix("AWS4-HMAC-SHA256")
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| {
            IamError::incomplete_signature(
                "Authorization header requires the AWS4-HMAC-SHA256 algorithm.",
            )
        })?;
    let credential = rest
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("Credential="))
        .next()
        .ok_or_else(|| {
            IamError::incomplete_signature("Authorization header requires 'Credential' parameter.")
        })?;
    let mut scope = credential.split('/');
    let akid = scope.next().unwrap_or_default();
    if akid.is_empty() || scope.count() != 4 {
        return Err(IamError::incomplete_signature(format!(
            "Credential should be scoped to a valid region, not '{credential}'."
        )));
    }
    Ok(akid.to_string())
}

/// Resolve the caller from the key id: the configured one, or a live session whose
/// token the request carries.
pub(crate) fn resolve(
    akid: &str,
    headers: &HeaderMap,
    configured: &str,
    session: Option<Session>,
) -> Result<Caller, IamError> {
    if akid == configured {
        return Ok(Caller::Operator);
    }
    let Some(session) = session else {
        return Err(IamError::invalid_client_token());
    };
    let token = headers
        .get("x-amz-security-token")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if token.as_deref() != Some(session.session_token.as_str()) {
        return Err(IamError::signature_mismatch());
    }
    if session.expires <= SystemTime::now() {
        return Err(IamError::expired_token());
    }
    Ok(Caller::Role(session))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn reads_the_key_id_of_a_sigv4_header() {
        let h = headers("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240101/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc");
        assert_eq!(access_key_id(&h).unwrap(), "AKIAEXAMPLE");
        assert_eq!(
            access_key_id(&HeaderMap::new()).unwrap_err().code,
            "MissingAuthenticationToken"
        );
        for bad in [
            "Bearer x",
            "AWS4-HMAC-SHA256 SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AKIA/x",
        ] {
            assert_eq!(
                access_key_id(&headers(bad)).unwrap_err().code,
                "IncompleteSignature",
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let h = HeaderMap::new();
        assert!(matches!(
            resolve("AKIA1", &h, "AKIA1", None),
            Ok(Caller::Operator)
        ));
        assert_eq!(
            resolve("AKIA2", &h, "AKIA1", None).unwrap_err().code,
            "InvalidClientTokenId"
        );
    }
}
