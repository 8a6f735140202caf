use std::fmt;
use std::time::Duration;

/// The public cloud's authority (the token endpoint is `{authority}/{tenant}/oauth2/v2.0/token`).
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// Microsoft Graph (calls go to `{graph}/v1.0/…`).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
/// Time limit of one HTTP exchange.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach one Entra tenant: an app registration with a client secret and the
/// application permissions `User.ReadWrite.All` (disable, revoke sessions, read users and
/// their delta) — `User.RevokeSessions.All` suffices for revocation alone.
#[derive(Clone)]
pub struct EntraConfig {
    /// The directory (tenant) id, or a verified domain of the tenant.
    pub tenant_id: String,
    /// `https://login.microsoftonline.com` (another cloud's authority, or a fake's URL).
    pub authority_url: String,
    /// `https://graph.microsoft.com`, without `/v1.0`.
    pub graph_url: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// The client secret's value (not its id). Never logged, never in an error.
    pub client_secret: String,
    /// Time limit of one HTTP exchange (token or Graph call).
    pub request_timeout: Duration,
}

impl Default for EntraConfig {
    fn default() -> Self {
        Self {
            tenant_id: String::new(),
            authority_url: DEFAULT_AUTHORITY_URL.into(),
            graph_url: DEFAULT_GRAPH_URL.into(),
            client_id: String::new(),
            client_secret: String::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Debug for EntraConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraConfig")
            .field("tenant_id", &self.tenant_id)
            .field("authority_url", &self.authority_url)
            .field("graph_url", &self.graph_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Why a Graph client could not be configured. Never contains the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntraSetupError {
    /// A base URL is not an absolute http(s) URL without credentials, query or fragment.
    #[error("{key} `{value}` is not an absolute http:// or https:// URL (without credentials, query or fragment)")]
    Url { key: &'static str, value: String },
    /// The tenant id cannot appear in a URL path.
    #[error("tenant_id `{0}` is not a tenant id or domain")]
    Tenant(String),
    /// The request timeout is zero.
    #[error("request_timeout must be greater than zero")]
    Timeout,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}
