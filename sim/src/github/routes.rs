//! The endpoints of the simulated GitHub (table in the module docs of `github`).

use super::gate::gate;
use super::wire::{self, docs};
use super::world::{Membership, Org, Removed};
use super::{access, app, graphql};
use super::{lock, Shared};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::SystemTime;

type Shr = State<Arc<Shared>>;

/// The full router, with the gate in front of every route (including the 404 fallback).
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/rate_limit", get(rate_limit))
        .route("/orgs/{org}", get(get_org))
        .route("/orgs/{org}/members", get(list_members))
        .route("/organizations/{org_id}/members", get(list_members_by_id))
        .route(
            "/orgs/{org}/members/{username}",
            get(check_member).delete(remove_member),
        )
        .route(
            "/orgs/{org}/memberships/{username}",
            get(get_membership).delete(remove_membership),
        )
        .route("/orgs/{org}/invitations", get(list_invitations))
        .route(
            "/organizations/{org_id}/invitations",
            get(list_invitations_by_id),
        )
        .route(
            "/orgs/{org}/invitations/{invitation_id}",
            axum::routing::delete(cancel_invitation),
        )
        .route(
            "/orgs/{org}/failed_invitations",
            get(access::list_failed_invitations),
        )
        .route(
            "/orgs/{org}/outside_collaborators",
            get(access::list_collaborators),
        )
        .route(
            "/orgs/{org}/outside_collaborators/{username}",
            axum::routing::delete(access::remove_collaborator),
        )
        .route(
            "/orgs/{org}/credential-authorizations",
            get(access::list_credentials),
        )
        .route(
            "/orgs/{org}/credential-authorizations/{credential_id}",
            axum::routing::delete(access::remove_credential),
        )
        .route(
            "/orgs/{org}/personal-access-tokens",
            get(access::list_tokens).post(access::update_tokens),
        )
        .route("/graphql", axum::routing::post(graphql::query))
        .route(
            "/app/installations/{installation_id}/access_tokens",
            axum::routing::post(app::create_installation_token),
        )
        .merge(super::secrets::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_route)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

async fn unknown_route() -> Response {
    wire::not_found(docs::REST)
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn rate_limit(State(shared): Shr) -> Response {
    let s = lock(&shared.limiter).peek(SystemTime::now());
    let core =
        json!({"limit": s.limit, "used": s.used, "remaining": s.remaining, "reset": s.reset});
    wire::json_response(
        StatusCode::OK,
        &json!({"resources": {"core": core.clone()}, "rate": core}),
    )
}

async fn get_org(State(shared): Shr, Path(org): Path<String>) -> Response {
    let world = lock(&shared.world);
    match world.org(&org) {
        Some(org) => wire::json_response(StatusCode::OK, &wire::org_full(&shared.base_url, org)),
        None => wire::not_found(docs::GET_ORG),
    }
}

/// Which list of an org to page through.
#[derive(Clone, Copy)]
enum Listing {
    Members,
    Invitations,
}

impl Listing {
    fn segment(self) -> &'static str {
        match self {
            Listing::Members => "members",
            Listing::Invitations => "invitations",
        }
    }

    fn docs(self) -> &'static str {
        match self {
            Listing::Members => docs::LIST_MEMBERS,
            Listing::Invitations => docs::INVITATIONS,
        }
    }
}

async fn list_members(
    State(shared): Shr,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let world = lock(&shared.world);
    match world.org(&org) {
        Some(org) => list(&shared, org, Listing::Members, q.as_deref()),
        None => wire::not_found(docs::LIST_MEMBERS),
    }
}

async fn list_members_by_id(
    State(shared): Shr,
    Path(org_id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let world = lock(&shared.world);
    match org_id.parse().ok().and_then(|id| world.org_by_id(id)) {
        Some(org) => list(&shared, org, Listing::Members, q.as_deref()),
        None => wire::not_found(docs::LIST_MEMBERS),
    }
}

async fn list_invitations(
    State(shared): Shr,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let world = lock(&shared.world);
    match world.org(&org) {
        Some(org) => list(&shared, org, Listing::Invitations, q.as_deref()),
        None => wire::not_found(docs::INVITATIONS),
    }
}

async fn list_invitations_by_id(
    State(shared): Shr,
    Path(org_id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let world = lock(&shared.world);
    match org_id.parse().ok().and_then(|id| world.org_by_id(id)) {
        Some(org) => list(&shared, org, Listing::Invitations, q.as_deref()),
        None => wire::not_found(docs::INVITATIONS),
    }
}

/// One page of members (filtered by `role`) or invitations, with GitHub's `Link`.
fn list(shared: &Shared, org: &Org, listing: Listing, query: Option<&str>) -> Response {
    let query = query.unwrap_or_default();
    let param = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let base = &shared.base_url;
    let items: Vec<Value> = match listing {
        Listing::Members => {
            let role = param("role").unwrap_or_else(|| "all".into());
            if !matches!(role.as_str(), "all" | "admin" | "member") {
                return validation_failed("role", &role, listing.docs());
            }
            org.members()
                .filter(|m| role == "all" || m.role == role)
                .map(|m| wire::simple_user(base, &m.user))
                .collect()
        }
        Listing::Invitations => {
            let mut items: Vec<(u64, Value)> = org
                .invitations()
                .map(|m| {
                    (
                        m.invitation_id.unwrap_or_default(),
                        wire::invitation(base, org, m),
                    )
                })
                .chain(
                    org.email_invitations()
                        .map(|i| (i.id, wire::email_invitation(org, i))),
                )
                .collect();
            items.sort_by_key(|(id, _)| *id);
            items.into_iter().map(|(_, v)| v).collect()
        }
    };
    let (per_page, page) =
        wire::page_params(param("per_page").as_deref(), param("page").as_deref());
    let start = per_page.saturating_mul(page - 1);
    let page_items: Vec<Value> = items.iter().skip(start).take(per_page).cloned().collect();
    let segment = listing.segment();
    let link = wire::link_header(items.len(), per_page, page, |p| {
        format!(
            "{base}/organizations/{}/{segment}?{}",
            org.id,
            wire::query_with_page(query, p)
        )
    });
    let mut response = wire::json_response(StatusCode::OK, &Value::Array(page_items));
    if let Some(link) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

fn validation_failed(field: &str, value: &str, documentation_url: &str) -> Response {
    wire::json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({
            "message": "Validation Failed",
            "errors": [{
                "resource": "Organization",
                "field": field,
                "code": "invalid",
                "value": value,
            }],
            "documentation_url": documentation_url,
            "status": "422",
        }),
    )
}

async fn check_member(
    State(shared): Shr,
    Path((org, username)): Path<(String, String)>,
) -> Response {
    let world = lock(&shared.world);
    match world.org(&org).and_then(|o| o.member(&username)) {
        Some(_) => no_content(),
        None => wire::error(
            StatusCode::NOT_FOUND,
            "User does not exist or is not a member of the organization",
            docs::CHECK_MEMBER,
        ),
    }
}

async fn get_membership(
    State(shared): Shr,
    Path((org, username)): Path<(String, String)>,
) -> Response {
    let world = lock(&shared.world);
    let found: Option<(&Org, &Membership)> = world
        .org(&org)
        .and_then(|o| o.membership(&username).map(|m| (o, m)));
    match found {
        Some((org, membership)) => wire::json_response(
            StatusCode::OK,
            &wire::membership(&shared.base_url, org, membership),
        ),
        None => wire::not_found(docs::GET_MEMBERSHIP),
    }
}

/// `DELETE /orgs/{org}/members/{username}`: 204 when an active member was removed;
/// 404 `Not Found` when the user is not an active member (a pending invitation is not
/// touched by this endpoint) or the org does not exist.
async fn remove_member(
    State(shared): Shr,
    Path((org, username)): Path<(String, String)>,
) -> Response {
    let removed = lock(&shared.world).remove_member(&org, &username);
    match removed {
        Some(Removed::Member) => {
            shared.record_removal(&org, &username, Removed::Member);
            no_content()
        }
        _ => wire::not_found(docs::REMOVE_MEMBER),
    }
}

/// `DELETE /orgs/{org}/memberships/{username}`: 204 when a membership was removed or a
/// pending invitation cancelled; 404 `Not Found` when there was neither, or the org
/// does not exist.
async fn remove_membership(
    State(shared): Shr,
    Path((org, username)): Path<(String, String)>,
) -> Response {
    let removed = lock(&shared.world).remove_membership(&org, &username);
    match removed {
        Some(done @ (Removed::Member | Removed::Invitation)) => {
            shared.record_removal(&org, &username, done);
            no_content()
        }
        _ => wire::not_found(docs::REMOVE_MEMBERSHIP),
    }
}

async fn cancel_invitation(
    State(shared): Shr,
    Path((org, invitation_id)): Path<(String, String)>,
) -> Response {
    let Ok(id) = invitation_id.parse::<u64>() else {
        return wire::not_found(docs::INVITATIONS);
    };
    let cancelled = lock(&shared.world).cancel_invitation(&org, id);
    match cancelled {
        Some(Some(login)) => {
            shared.record_removal(&org, &login, Removed::Invitation);
            no_content()
        }
        _ => wire::not_found(docs::INVITATIONS),
    }
}
