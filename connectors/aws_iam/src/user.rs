//! Which IAM user an action is about.
//!
//! In order: the step's `user` parameter; the identity's `accounts.aws_iam` key; else
//! discovery in the target account — the user *named* like the identity's email
//! (`GetUser`), else the one user whose `email` tag equals it (`ListUsers` and
//! `ListUserTags`, both paginated; tag key and value compared case-insensitively). Two
//! users tagged with the same email is an error: Leaver does not guess. A discovered
//! name is remembered per account and email, so verify and the residual sweep do not
//! list every user again; it is checked with `GetUser` each time.

use crate::classify::CallError;
use crate::client::{call, paginate, AccountClients, Page};
use crate::config::is_iam_name;
use leaver_connector::{ConnectorError, Identity};
use std::collections::HashMap;
use std::sync::Mutex;

/// The identity key of this connector.
pub const ACCOUNT_KEY: &str = "aws_iam";
/// The tag discovery looks for.
pub const EMAIL_TAG: &str = "email";

/// How the user was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FoundBy {
    Param,
    AccountKey,
    NamedLikeEmail,
    EmailTag,
}

impl FoundBy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FoundBy::Param => "step parameter `user`",
            FoundBy::AccountKey => "accounts.aws_iam",
            FoundBy::NamedLikeEmail => "user name equal to the email",
            FoundBy::EmailTag => "tag email=<email>",
        }
    }
}

/// An existing IAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IamUser {
    pub name: String,
    pub arn: String,
    pub found_by: FoundBy,
}

/// The outcome of looking the user up.
#[derive(Debug)]
pub(crate) enum Lookup {
    Found(IamUser),
    /// No such user; the sentence saying so (what was tried, in which account).
    Missing(String),
}

/// Discovered user names, per (account, lower-cased email).
#[derive(Default)]
pub(crate) struct DiscoveryCache {
    names: Mutex<HashMap<(String, String), (String, FoundBy)>>,
}

impl DiscoveryCache {
    fn get(&self, key: &(String, String)) -> Option<(String, FoundBy)> {
        self.names.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: (String, String), value: (String, FoundBy)) {
        if let Ok(mut names) = self.names.lock() {
            names.insert(key, value);
        }
    }

    fn forget(&self, key: &(String, String)) {
        if let Ok(mut names) = self.names.lock() {
            names.remove(key);
        }
    }
}

/// `GetUser`: `None` when IAM answers NoSuchEntity.
pub(crate) async fn get_user(
    clients: &AccountClients,
    name: &str,
) -> Result<Option<(String, String)>, CallError> {
    let what = format!("iam:GetUser({name})");
    match call(&what, clients.iam.get_user().user_name(name).send()).await {
        Ok(out) => Ok(out
            .user()
            .map(|u| (u.user_name().to_string(), u.arn().to_string()))
            .or_else(|| Some((name.to_string(), String::new())))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Find the user of a step (see the module docs).
pub(crate) async fn find(
    clients: &AccountClients,
    identity: &Identity,
    explicit: Option<&str>,
    cache: &DiscoveryCache,
) -> Result<Lookup, ConnectorError> {
    let named = match explicit.map(str::trim) {
        Some(name) => Some((name.to_string(), FoundBy::Param)),
        None => identity
            .account(ACCOUNT_KEY)
            .map(|key| (key.trim().to_string(), FoundBy::AccountKey)),
    };
    if let Some((name, found_by)) = named {
        if !is_iam_name(&name) {
            return Err(ConnectorError::permanent(format!(
                "{} `{name}` of {} is not an IAM user name (1-64 characters of letters, digits and +=,.@_-)",
                found_by.as_str(),
                identity.email
            )));
        }
        return Ok(match get_user(clients, &name).await? {
            Some((name, arn)) => Lookup::Found(IamUser {
                name,
                arn,
                found_by,
            }),
            None => Lookup::Missing(format!(
                "IAM user `{name}` does not exist in {} ({} of {})",
                clients.describe().await,
                found_by.as_str(),
                identity.email
            )),
        });
    }
    discover(clients, identity, cache).await
}

async fn discover(
    clients: &AccountClients,
    identity: &Identity,
    cache: &DiscoveryCache,
) -> Result<Lookup, ConnectorError> {
    let email = identity.email.trim();
    if email.is_empty() {
        return Err(ConnectorError::permanent(
            "no IAM user known for an identity without an email (set accounts.aws_iam)",
        ));
    }
    let key = (clients.account.key(), email.to_lowercase());
    if let Some((name, found_by)) = cache.get(&key) {
        match get_user(clients, &name).await? {
            Some((name, arn)) => {
                return Ok(Lookup::Found(IamUser {
                    name,
                    arn,
                    found_by,
                }))
            }
            None => cache.forget(&key),
        }
    }
    if is_iam_name(email) {
        if let Some((name, arn)) = get_user(clients, email).await? {
            cache.put(key, (name.clone(), FoundBy::NamedLikeEmail));
            return Ok(Lookup::Found(IamUser {
                name,
                arn,
                found_by: FoundBy::NamedLikeEmail,
            }));
        }
    }
    let users = list_users(clients).await?;
    let mut matches = Vec::new();
    for (name, arn) in &users {
        let tags = list_user_tags(clients, name).await?;
        let tagged = tags.iter().any(|(k, v)| {
            k.trim().eq_ignore_ascii_case(EMAIL_TAG) && v.trim().eq_ignore_ascii_case(email)
        });
        if tagged {
            matches.push((name.clone(), arn.clone()));
        }
    }
    match matches.as_slice() {
        [] => Ok(Lookup::Missing(format!(
            "no IAM user found for {email} in {}: no user is named `{email}` and none of its {} \
             users has the tag {EMAIL_TAG}={email} (set accounts.aws_iam, or the `user` parameter)",
            clients.describe().await,
            users.len()
        ))),
        [(name, arn)] => {
            cache.put(key, (name.clone(), FoundBy::EmailTag));
            Ok(Lookup::Found(IamUser {
                name: name.clone(),
                arn: arn.clone(),
                found_by: FoundBy::EmailTag,
            }))
        }
        several => Err(ConnectorError::permanent(format!(
            "{} IAM users in {} have the tag {EMAIL_TAG}={email} ({}): set accounts.aws_iam (or the \
             `user` parameter) to say which one is {email}'s",
            several.len(),
            clients.describe().await,
            several
                .iter()
                .map(|(n, _)| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn list_users(clients: &AccountClients) -> Result<Vec<(String, String)>, CallError> {
    let what = "iam:ListUsers";
    paginate(what, |marker| async move {
        let out = call(
            what,
            clients
                .iam
                .list_users()
                .set_marker(marker)
                .set_max_items(clients.page_size)
                .send(),
        )
        .await?;
        Ok(Page {
            items: out
                .users()
                .iter()
                .map(|u| (u.user_name().to_string(), u.arn().to_string()))
                .collect(),
            is_truncated: out.is_truncated(),
            marker: out.marker().map(str::to_string),
        })
    })
    .await
}

async fn list_user_tags(
    clients: &AccountClients,
    user: &str,
) -> Result<Vec<(String, String)>, CallError> {
    let what = format!("iam:ListUserTags({user})");
    let result = paginate(&what, |marker| {
        let what = what.clone();
        async move {
            let out = call(
                &what,
                clients
                    .iam
                    .list_user_tags()
                    .user_name(user)
                    .set_marker(marker)
                    .set_max_items(clients.page_size)
                    .send(),
            )
            .await?;
            Ok(Page {
                items: out
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
                is_truncated: out.is_truncated(),
                marker: out.marker().map(str::to_string),
            })
        }
    })
    .await;
    match result {
        // Deleted between ListUsers and now: it holds nothing.
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        other => other,
    }
}
