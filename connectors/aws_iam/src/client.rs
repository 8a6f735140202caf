//! The AWS side: one IAM (and STS) client per account, built lazily on first use, and
//! the helpers every call goes through (classification, pagination).
//!
//! The base SDK configuration is loaded once with `aws-config` (default credential
//! chain, unless credentials were supplied to the connector) with the connector's
//! region, endpoint, timeouts and retry policy. An account with a `role_arn` gets
//! clients whose credentials come from an `AssumeRoleProvider` authorized by the base
//! credentials (cached and refreshed by the SDK before they expire).

use crate::classify::{classify, CallError};
use crate::config::{Account, Settings};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use leaver_connector::ConnectorError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Mutex, OnceCell};

/// Longest listing accepted (pages), to stop on a misbehaving endpoint.
const MAX_PAGES: usize = 10_000;

/// The clients of one account.
pub(crate) struct AccountClients {
    pub account: Account,
    pub iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    /// The account id, once known (from the role ARN, a user ARN or STS).
    account_id: OnceCell<Option<String>>,
    pub page_size: Option<i32>,
}

impl AccountClients {
    /// "AWS account 123456789012 (`prod`)", asking STS `GetCallerIdentity` for the id
    /// when the configuration does not tell it (best effort: used in error messages).
    pub(crate) async fn describe(&self) -> String {
        let id = self
            .account_id
            .get_or_init(|| async {
                if let Some(id) = self.account.id() {
                    return Some(id.to_string());
                }
                match self.sts.get_caller_identity().send().await {
                    Ok(out) => out.account().map(str::to_string),
                    Err(e) => {
                        tracing::debug!(error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "sts:GetCallerIdentity failed");
                        None
                    }
                }
            })
            .await;
        match (id, &self.account.name) {
            (Some(id), Some(name)) => format!("AWS account {id} (`{name}`)"),
            (Some(id), None) => format!("AWS account {id}"),
            (None, Some(name)) => format!("AWS account `{name}`"),
            (None, None) => "the AWS account of the connector's credentials".to_string(),
        }
    }

    /// A short label for details and holdings: the account id when known, else the
    /// configured name, else `default`.
    pub(crate) fn label(&self, user_arn: Option<&str>) -> String {
        user_arn
            .and_then(|arn| arn.split(':').nth(4))
            .filter(|id| id.len() == 12)
            .map(str::to_string)
            .or_else(|| self.account.id().map(str::to_string))
            .or_else(|| self.account.name.clone())
            .unwrap_or_else(|| "default".to_string())
    }
}

/// Lazily built clients, per account.
pub(crate) struct Clients {
    settings: Settings,
    credentials: Option<SharedCredentialsProvider>,
    base: OnceCell<SdkConfig>,
    accounts: Mutex<HashMap<String, Arc<AccountClients>>>,
}

impl Clients {
    pub(crate) fn new(settings: Settings, credentials: Option<SharedCredentialsProvider>) -> Self {
        Self {
            settings,
            credentials,
            base: OnceCell::new(),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    async fn base(&self) -> &SdkConfig {
        self.base
            .get_or_init(|| async {
                let s = &self.settings;
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(s.region.clone()))
                    .retry_config(RetryConfig::standard().with_max_attempts(s.max_attempts))
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(s.request_timeout)
                            .read_timeout(s.request_timeout)
                            .operation_attempt_timeout(s.request_timeout)
                            .build(),
                    );
                if let Some(endpoint) = &s.endpoint_url {
                    loader = loader.endpoint_url(endpoint.clone());
                }
                if let Some(credentials) = &self.credentials {
                    loader = loader.credentials_provider(credentials.clone());
                }
                loader.load().await
            })
            .await
    }

    /// The clients of `account`, built on first use.
    pub(crate) async fn for_account(&self, account: &Account) -> Arc<AccountClients> {
        let mut accounts = self.accounts.lock().await;
        if let Some(clients) = accounts.get(&account.key()) {
            return clients.clone();
        }
        let base = self.base().await.clone();
        let config = match &account.role_arn {
            None => base,
            Some(role_arn) => {
                let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                    .session_name(account.session_name.clone())
                    .region(Region::new(self.settings.region.clone()))
                    .configure(&base);
                if let Some(external_id) = &account.external_id {
                    builder = builder.external_id(external_id.clone());
                }
                let provider = match base.credentials_provider() {
                    Some(own) => builder.build_from_provider(own).await,
                    None => builder.build().await,
                };
                base.into_builder()
                    .credentials_provider(SharedCredentialsProvider::new(provider))
                    .build()
            }
        };
        let clients = Arc::new(AccountClients {
            account: account.clone(),
            iam: aws_sdk_iam::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            account_id: OnceCell::new(),
            page_size: self.settings.page_size,
        });
        accounts.insert(account.key(), clients.clone());
        clients
    }
}

/// Await one SDK call, logging it and classifying its failure.
pub(crate) async fn call<T, E, F>(what: &str, fut: F) -> Result<T, CallError>
where
    F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match fut.await {
        Ok(out) => {
            tracing::debug!(call = what, "aws call");
            Ok(out)
        }
        Err(err) => {
            let classified = classify(what, &err);
            tracing::debug!(call = what, error = %classified.error.message, "aws call failed");
            Err(classified)
        }
    }
}

/// One page of a listing.
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub is_truncated: bool,
    pub marker: Option<String>,
}

/// Every item of a `Marker`/`IsTruncated` listing: `page(marker)` fetches one page.
pub(crate) async fn paginate<T, F, Fut>(what: &str, mut page: F) -> Result<Vec<T>, CallError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, CallError>>,
{
    let mut items = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let current = page(marker.clone()).await?;
        items.extend(current.items);
        if !current.is_truncated {
            return Ok(items);
        }
        match current.marker.filter(|m| !m.is_empty()) {
            None => {
                return Err(protocol_error(format!(
                    "{what}: the answer says IsTruncated=true but carries no Marker"
                )))
            }
            Some(next) if marker.as_ref() == Some(&next) => {
                return Err(protocol_error(format!(
                    "{what}: the same Marker came back twice; stopping the listing"
                )))
            }
            Some(next) => marker = Some(next),
        }
    }
    Err(protocol_error(format!(
        "{what}: more than {MAX_PAGES} pages; stopping the listing"
    )))
}

fn protocol_error(message: String) -> CallError {
    CallError {
        code: None,
        error: ConnectorError::transient(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn paginates_until_not_truncated() {
        let pages = [
            (vec![1, 2], true, Some("a")),
            (vec![3], true, Some("b")),
            (vec![4], false, Some("ignored")),
        ];
        let mut seen = Vec::new();
        let items = paginate("list", |marker| {
            seen.push(marker.clone());
            let index = seen.len() - 1;
            let (items, truncated, next) = pages[index].clone();
            async move {
                Ok(Page {
                    items,
                    is_truncated: truncated,
                    marker: next.map(str::to_string),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(items, vec![1, 2, 3, 4]);
        assert_eq!(seen, vec![None, Some("a".into()), Some("b".into())]);
    }

    #[tokio::test]
    async fn refuses_a_loop_or_a_missing_marker() {
        let e = paginate("list", |_| async {
            Ok(Page {
                items: vec![1],
                is_truncated: true,
                marker: Some("same".into()),
            })
        })
        .await
        .err()
        .unwrap();
        assert!(e.error.message.contains("twice"), "{}", e.error.message);
        let e = paginate::<i32, _, _>("list", |_| async {
            Ok(Page {
                items: vec![],
                is_truncated: true,
                marker: None,
            })
        })
        .await
        .err()
        .unwrap();
        assert!(e.error.message.contains("no Marker"));
    }
}
