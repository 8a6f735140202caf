//! Endpoints for access besides membership: outside collaborators, SAML SSO credential
//! authorizations and fine-grained personal access tokens (App-only), and the invitation
//! lists (pending and failed, by login or by email).

use super::app::AuthKind;
use super::grants::{Collaborator, CredentialAuthorization, FineGrainedToken};
use super::wire::{self, docs};
use super::world::Org;
use super::{lock, Shared};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use std::sync::Arc;

type Shr = State<Arc<Shared>>;

fn params(query: &str, name: &str) -> Vec<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

fn param(query: &str, name: &str) -> Option<String> {
    params(query, name).into_iter().next()
}

/// One page of `items` (`per_page`, `page` from `query`) with GitHub's `Link` header;
/// `url` is the list's URL without a query.
pub(crate) fn page_of(items: Vec<Value>, query: &str, url: &str) -> Response {
    let (per_page, page) = wire::page_params(
        param(query, "per_page").as_deref(),
        param(query, "page").as_deref(),
    );
    let start = per_page.saturating_mul(page - 1);
    let total = items.len();
    let page_items: Vec<Value> = items.into_iter().skip(start).take(per_page).collect();
    let link = wire::link_header(total, per_page, page, |p| {
        format!("{url}?{}", wire::query_with_page(query, p))
    });
    let mut response = wire::json_response(StatusCode::OK, &Value::Array(page_items));
    if let Some(link) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

fn with_org(
    shared: &Shared,
    org: &str,
    docs_url: &str,
    f: impl FnOnce(&Org) -> Response,
) -> Response {
    let world = lock(&shared.world);
    match world.org(org) {
        Some(org) => f(org),
        None => wire::not_found(docs_url),
    }
}

/// `GET /orgs/{org}/outside_collaborators`.
pub(crate) async fn list_collaborators(
    State(shared): Shr,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let query = q.unwrap_or_default();
    let world = lock(&shared.world);
    let Some(o) = world.org(&org) else {
        return wire::not_found(docs::COLLABORATORS);
    };
    let items: Vec<Value> = world
        .grants
        .org(&org)
        .map(|g| {
            g.collaborators
                .values()
                .map(|c: &Collaborator| wire::simple_user(&shared.base_url, &c.user))
                .collect()
        })
        .unwrap_or_default();
    let url = format!("{}/orgs/{}/outside_collaborators", shared.base_url, o.login);
    page_of(items, &query, &url)
}

/// `DELETE /orgs/{org}/outside_collaborators/{username}`: 204 (also when the user was
/// not a collaborator); 422 when the user is an org member; 404 for an unknown org or
/// user.
pub(crate) async fn remove_collaborator(
    State(shared): Shr,
    Path((org, username)): Path<(String, String)>,
) -> Response {
    let mut world = lock(&shared.world);
    let Some(o) = world.org(&org) else {
        return wire::not_found(docs::COLLABORATORS);
    };
    if o.member(&username).is_some() {
        return wire::json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({
                "message": "You cannot specify an organization member to remove as an outside collaborator.",
                "documentation_url": docs::COLLABORATORS,
                "status": "422",
            }),
        );
    }
    if world.user(&username).is_none() {
        return wire::not_found(docs::COLLABORATORS);
    }
    world.grants.remove_collaborator(&org, &username);
    StatusCode::NO_CONTENT.into_response()
}

fn credential_json(c: &CredentialAuthorization) -> Value {
    json!({
        "login": c.user.login,
        "credential_id": c.id,
        "credential_type": c.credential_type,
        "token_last_eight": c.token_last_eight,
        "credential_authorized_at": "2026-01-05T09:00:00Z",
        "credential_accessed_at": "2026-03-01T12:00:00Z",
        "authorized_credential_id": c.id + 1_000_000,
        "authorized_credential_title": null,
        "authorized_credential_note": if c.credential_type == "personal access token" { json!("ci") } else { Value::Null },
        "authorized_credential_expires_at": null,
        "scopes": if c.credential_type == "personal access token" { json!(["repo", "read:org"]) } else { json!([]) },
    })
}

/// `GET /orgs/{org}/credential-authorizations[?login=]`.
pub(crate) async fn list_credentials(
    State(shared): Shr,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let query = q.unwrap_or_default();
    let login = param(&query, "login").map(|l| l.to_ascii_lowercase());
    let world = lock(&shared.world);
    let Some(o) = world.org(&org) else {
        return wire::not_found(docs::CREDENTIALS);
    };
    let items: Vec<Value> = world
        .grants
        .org(&org)
        .map(|g| {
            g.credentials
                .values()
                .filter(|c| {
                    login
                        .as_deref()
                        .is_none_or(|l| c.user.login.eq_ignore_ascii_case(l))
                })
                .map(credential_json)
                .collect()
        })
        .unwrap_or_default();
    let url = format!(
        "{}/orgs/{}/credential-authorizations",
        shared.base_url, o.login
    );
    page_of(items, &query, &url)
}

/// `DELETE /orgs/{org}/credential-authorizations/{credential_id}`: 204 / 404.
pub(crate) async fn remove_credential(
    State(shared): Shr,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    let mut world = lock(&shared.world);
    if world.org(&org).is_none() {
        return wire::not_found(docs::CREDENTIALS);
    }
    match id.parse::<u64>() {
        Ok(id) if world.grants.remove_credential(&org, id) => {
            StatusCode::NO_CONTENT.into_response()
        }
        _ => wire::not_found(docs::CREDENTIALS),
    }
}

/// Fine-grained PAT administration is open to GitHub Apps only.
fn app_only(auth: Option<Extension<AuthKind>>) -> Option<Response> {
    match auth.map(|Extension(kind)| kind) {
        Some(AuthKind::Installation(_)) => None,
        _ => Some(wire::error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by personal access token",
            docs::FINE_GRAINED,
        )),
    }
}

fn token_json(base: &str, org: &Org, t: &FineGrainedToken) -> Value {
    json!({
        "id": t.id,
        "owner": wire::simple_user(base, &t.user),
        "repository_selection": "all",
        "repositories_url": format!("{base}/organizations/{}/personal-access-tokens/{}/repositories", org.id, t.id),
        "permissions": {
            "organization": {"members": "read"},
            "repository": {"contents": "write", "metadata": "read"},
            "other": {},
        },
        "access_granted_at": "2026-01-10T10:00:00Z",
        "token_id": t.id * 3,
        "token_name": t.name,
        "token_expired": false,
        "token_expires_at": "2026-12-31T00:00:00Z",
        "token_last_used_at": null,
    })
}

/// `GET /orgs/{org}/personal-access-tokens[?owner[]=login…]` (Apps only).
pub(crate) async fn list_tokens(
    State(shared): Shr,
    auth: Option<Extension<AuthKind>>,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(refused) = app_only(auth) {
        return refused;
    }
    let query = q.unwrap_or_default();
    let owners: Vec<String> = params(&query, "owner[]")
        .into_iter()
        .map(|o| o.to_ascii_lowercase())
        .collect();
    if owners.len() > 10 {
        return validation_failed("owner", "at most 10 owners", docs::FINE_GRAINED);
    }
    let world = lock(&shared.world);
    let Some(o) = world.org(&org) else {
        return wire::not_found(docs::FINE_GRAINED);
    };
    let items: Vec<Value> = world
        .grants
        .org(&org)
        .map(|g| {
            g.tokens
                .values()
                .filter(|t| {
                    owners.is_empty() || owners.contains(&t.user.login.to_ascii_lowercase())
                })
                .map(|t| token_json(&shared.base_url, o, t))
                .collect()
        })
        .unwrap_or_default();
    let url = format!(
        "{}/orgs/{}/personal-access-tokens",
        shared.base_url, o.login
    );
    page_of(items, &query, &url)
}

/// `POST /orgs/{org}/personal-access-tokens {"action": "revoke", "pat_ids": […]}` → 202
/// (Apps only).
pub(crate) async fn update_tokens(
    State(shared): Shr,
    auth: Option<Extension<AuthKind>>,
    Path(org): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = app_only(auth) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return wire::error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            docs::FINE_GRAINED,
        );
    };
    if body["action"] != "revoke" {
        return validation_failed("action", "must be revoke", docs::FINE_GRAINED);
    }
    let ids: Option<Vec<u64>> = body["pat_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_u64).collect());
    let ids = match ids {
        Some(ids) if (1..=100).contains(&ids.len()) => ids,
        _ => return validation_failed("pat_ids", "1 to 100 ids", docs::FINE_GRAINED),
    };
    let mut world = lock(&shared.world);
    if world.org(&org).is_none() {
        return wire::not_found(docs::FINE_GRAINED);
    }
    world.grants.revoke_tokens(&org, &ids);
    wire::json_response(StatusCode::ACCEPTED, &json!({}))
}

fn validation_failed(field: &str, reason: &str, documentation_url: &str) -> Response {
    wire::json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Organization", "field": field, "code": "invalid", "message": reason}],
            "documentation_url": documentation_url,
            "status": "422",
        }),
    )
}

/// `GET /orgs/{org}/failed_invitations`.
pub(crate) async fn list_failed_invitations(
    State(shared): Shr,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let query = q.unwrap_or_default();
    with_org(&shared, &org, docs::INVITATIONS, |o| {
        let items = o
            .failed_invitations()
            .map(|i| wire::email_invitation(o, i))
            .collect();
        let url = format!("{}/orgs/{}/failed_invitations", shared.base_url, o.login);
        page_of(items, &query, &url)
    })
}
