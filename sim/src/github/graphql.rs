//! `POST /graphql`, for exactly one query shape: an organization's SAML external
//! identities, page by page (what an offboarding uses to find the GitHub login linked to
//! an IdP account):
//!
//! ```graphql
//! query($org: String!, $after: String) {
//!   organization(login: $org) {
//!     samlIdentityProvider {
//!       externalIdentities(first: 100, after: $after) {
//!         pageInfo { hasNextPage endCursor }
//!         edges { node { samlIdentity { nameId } user { login } } }
//!       }
//!     }
//!   }
//! }
//! ```
//!
//! Answers follow GitHub's GraphQL conventions: 200 with `data` and/or `errors`
//! (`NOT_FOUND` for an unknown organization), `samlIdentityProvider: null` for an org
//! without SAML SSO, cursors opaque.

use super::wire::{self, docs};
use super::{lock, Shared};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

const CURSOR_PREFIX: &str = "Y3Vyc29yOnYyOpK5";

fn graphql_error(message: &str) -> Response {
    wire::json_response(
        StatusCode::OK,
        &json!({"errors": [{"message": message, "locations": [{"line": 1, "column": 1}]}]}),
    )
}

/// The arguments of `field(…)` in a whitespace-free query.
fn args_of<'a>(query: &'a str, field: &str) -> Option<&'a str> {
    let args = query.split(&format!("{field}(")).nth(1)?;
    Some(&args[..args.find(')')?])
}

/// `first:` of `externalIdentities(…)`: a literal or `$first`.
fn page_size(query: &str, variables: &Value) -> Option<usize> {
    let args = args_of(query, "externalIdentities")?;
    let value = args.split("first:").nth(1)?.split(',').next()?;
    let n = match value.strip_prefix('$') {
        Some(name) => variables.get(name)?.as_u64()?,
        None => value.parse().ok()?,
    };
    usize::try_from(n).ok()
}

/// The value of argument `arg` in `args` (`login:$org`), read from `variables`.
fn variable<'a>(args: &str, variables: &'a Value, arg: &str) -> Option<&'a str> {
    let after = args.split(&format!("{arg}:")).nth(1)?;
    let name = after
        .strip_prefix('$')?
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()?;
    variables.get(name)?.as_str()
}

/// The handler.
pub(crate) async fn query(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return wire::error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            docs::GRAPHQL,
        );
    };
    // The query without whitespace: `organization(login:$org){samlIdentityProvider{…`.
    let dense: String = request["query"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let variables = &request["variables"];
    let shape_ok = [
        "organization(login:$",
        "samlIdentityProvider{externalIdentities(",
        "samlIdentity{nameId}",
        "user{login}",
    ]
    .iter()
    .all(|part| dense.contains(part));
    if !shape_ok {
        return graphql_error(
            "This simulated GitHub GraphQL API serves only organization.samlIdentityProvider.externalIdentities",
        );
    }
    let compact = dense;
    let Some(org) = args_of(&compact, "organization").and_then(|a| variable(a, variables, "login"))
    else {
        return graphql_error("Variable $org of type String! was provided invalid value");
    };
    let Some(first) = page_size(&compact, variables).filter(|n| (1..=100).contains(n)) else {
        return graphql_error(
            "Requesting 101 or more records on the `externalIdentities` connection is not allowed; `first` must be 1 to 100.",
        );
    };
    let start = match args_of(&compact, "externalIdentities")
        .and_then(|a| variable(a, variables, "after"))
    {
        None => 0,
        Some(cursor) => match cursor
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => {
                return graphql_error(&format!("`{cursor}` does not appear to be a valid cursor."))
            }
        },
    };
    let world = lock(&shared.world);
    let Some(o) = world.org(org) else {
        return wire::json_response(
            StatusCode::OK,
            &json!({
                "data": {"organization": null},
                "errors": [{
                    "type": "NOT_FOUND",
                    "path": ["organization"],
                    "locations": [{"line": 1, "column": 1}],
                    "message": format!("Could not resolve to an Organization with the login of '{org}'."),
                }],
            }),
        );
    };
    let identities = world
        .grants
        .org(&o.login)
        .map(|g| g.saml.as_slice())
        .unwrap_or_default();
    if identities.is_empty() {
        return wire::json_response(
            StatusCode::OK,
            &json!({"data": {"organization": {"samlIdentityProvider": null}}}),
        );
    }
    let page: Vec<Value> = identities
        .iter()
        .skip(start)
        .take(first)
        .map(|i| json!({"node": {"samlIdentity": {"nameId": i.name_id}, "user": {"login": i.user.login}}}))
        .collect();
    let end = start + page.len();
    wire::json_response(
        StatusCode::OK,
        &json!({"data": {"organization": {"samlIdentityProvider": {"externalIdentities": {
            "pageInfo": {
                "hasNextPage": end < identities.len(),
                "endCursor": if page.is_empty() { Value::Null } else { json!(format!("{CURSOR_PREFIX}{end}")) },
            },
            "edges": page,
        }}}}}),
    )
}
