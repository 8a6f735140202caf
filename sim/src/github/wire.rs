//! GitHub's wire shapes: error bodies, user and membership objects, the `Link` header.

use super::world::{EmailInvitation, Membership, Org, User};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Documentation links GitHub puts in error bodies.
pub(crate) mod docs {
    pub const REST: &str = "https://docs.github.com/rest";
    pub const RATE_LIMITS: &str =
        "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";
    pub const SECONDARY: &str =
        "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
    pub const API_VERSIONS: &str = "https://docs.github.com/rest/about-the-rest-api/api-versions";
    pub const GET_MEMBERSHIP: &str =
        "https://docs.github.com/rest/orgs/members#get-organization-membership-for-a-user";
    pub const CHECK_MEMBER: &str =
        "https://docs.github.com/rest/orgs/members#check-organization-membership-for-a-user";
    pub const LIST_MEMBERS: &str =
        "https://docs.github.com/rest/orgs/members#list-organization-members";
    pub const REMOVE_MEMBER: &str =
        "https://docs.github.com/rest/orgs/members#remove-an-organization-member";
    pub const REMOVE_MEMBERSHIP: &str =
        "https://docs.github.com/rest/orgs/members#remove-organization-membership-for-a-user";
    pub const GET_ORG: &str = "https://docs.github.com/rest/orgs/orgs#get-an-organization";
    pub const INVITATIONS: &str =
        "https://docs.github.com/rest/orgs/members#list-pending-organization-invitations";
    pub const COLLABORATORS: &str =
        "https://docs.github.com/rest/orgs/outside-collaborators#remove-outside-collaborator-from-an-organization";
    pub const CREDENTIALS: &str =
        "https://docs.github.com/enterprise-cloud@latest/rest/orgs/orgs#list-saml-sso-authorizations-for-an-organization";
    pub const FINE_GRAINED: &str =
        "https://docs.github.com/rest/orgs/personal-access-tokens#update-the-access-to-organization-resources-via-fine-grained-personal-access-tokens";
    pub const APPS: &str =
        "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app";
    pub const GRAPHQL: &str = "https://docs.github.com/graphql";
}

/// The JSON content type GitHub answers with.
pub(crate) const JSON: &str = "application/json; charset=utf-8";

/// A JSON response with GitHub's content type.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// `{"message", "documentation_url", "status"}` with the given HTTP status.
pub(crate) fn error(status: StatusCode, message: &str, documentation_url: &str) -> Response {
    json_response(
        status,
        &json!({
            "message": message,
            "documentation_url": documentation_url,
            "status": status.as_u16().to_string(),
        }),
    )
}

/// 404 `Not Found`.
pub(crate) fn not_found(documentation_url: &str) -> Response {
    error(StatusCode::NOT_FOUND, "Not Found", documentation_url)
}

/// The message GitHub uses for a server-side failure of this status.
pub(crate) fn server_error_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        500 => "Server Error",
        502 => "Server Error",
        503 => "Service Unavailable",
        504 => "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

/// A "simple user" object (the item of member lists, `user` of a membership).
pub(crate) fn simple_user(base: &str, user: &User) -> Value {
    let login = &user.login;
    let id = user.id;
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcn{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("{base}/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{base}/users/{login}/followers"),
        "following_url": format!("{base}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{base}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{base}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{base}/users/{login}/subscriptions"),
        "organizations_url": format!("{base}/users/{login}/orgs"),
        "repos_url": format!("{base}/users/{login}/repos"),
        "events_url": format!("{base}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{base}/users/{login}/received_events"),
        "type": "User",
        "user_view_type": "public",
        "site_admin": false
    })
}

/// An "organization simple" object.
pub(crate) fn org_simple(base: &str, org: &Org) -> Value {
    let login = &org.login;
    json!({
        "login": login,
        "id": org.id,
        "node_id": format!("MDEyOk9yZ2FuaXphdGlvbj{}", org.id),
        "url": format!("{base}/orgs/{login}"),
        "repos_url": format!("{base}/orgs/{login}/repos"),
        "events_url": format!("{base}/orgs/{login}/events"),
        "hooks_url": format!("{base}/orgs/{login}/hooks"),
        "issues_url": format!("{base}/orgs/{login}/issues"),
        "members_url": format!("{base}/orgs/{login}/members{{/member}}"),
        "public_members_url": format!("{base}/orgs/{login}/public_members{{/member}}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", org.id),
        "description": null
    })
}

/// `GET /orgs/{org}` body (a subset of the full organization object).
pub(crate) fn org_full(base: &str, org: &Org) -> Value {
    let mut value = org_simple(base, org);
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "html_url".into(),
            json!(format!("https://github.com/{}", org.login)),
        );
        obj.insert("type".into(), json!("Organization"));
        obj.insert("name".into(), json!(org.login));
    }
    value
}

/// `GET /orgs/{org}/memberships/{username}` body.
pub(crate) fn membership(base: &str, org: &Org, membership: &Membership) -> Value {
    json!({
        "url": format!("{base}/orgs/{}/memberships/{}", org.login, membership.user.login),
        "state": membership.state.as_str(),
        "role": membership.role,
        "organization_url": format!("{base}/orgs/{}", org.login),
        "organization": org_simple(base, org),
        "user": simple_user(base, &membership.user),
    })
}

/// An organization invitation object (`GET /orgs/{org}/invitations`).
pub(crate) fn invitation(base: &str, org: &Org, membership: &Membership) -> Value {
    let id = membership.invitation_id.unwrap_or_default();
    json!({
        "id": id,
        "node_id": format!("MDIyOk9yZ2FuaXphdGlvbkludml0YXRpb2{id}"),
        "login": membership.user.login,
        "email": null,
        "role": if membership.role == "admin" { "admin" } else { "direct_member" },
        "created_at": "2026-01-01T00:00:00Z",
        "failed_at": null,
        "failed_reason": null,
        "inviter": null,
        "team_count": 0,
        "invitation_teams_url": format!("{base}/organizations/{}/invitations/{id}/teams", org.id),
        "invitation_source": "member"
    })
}

/// An invitation sent to an email address (`login: null`).
pub(crate) fn email_invitation(org: &Org, invitation: &EmailInvitation) -> Value {
    let id = invitation.id;
    json!({
        "id": id,
        "node_id": format!("MDIyOk9yZ2FuaXphdGlvbkludml0YXRpb2{id}"),
        "login": null,
        "email": invitation.email,
        "role": invitation.role,
        "created_at": "2026-01-01T00:00:00Z",
        "failed_at": if invitation.failed { json!("2026-01-08T00:00:00Z") } else { Value::Null },
        "failed_reason": if invitation.failed { json!("Invitation expired") } else { Value::Null },
        "inviter": null,
        "team_count": 0,
        "invitation_teams_url": format!("https://api.github.com/organizations/{}/invitations/{id}/teams", org.id),
        "invitation_source": "member"
    })
}

/// Page bounds for a list of `total` items: `(per_page, page)` from the query values,
/// clamped as GitHub does (`per_page` 1..=100, default 30; `page` ≥ 1, default 1).
pub(crate) fn page_params(per_page: Option<&str>, page: Option<&str>) -> (usize, usize) {
    let per_page = per_page
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .map(|n| n.min(100))
        .unwrap_or(30);
    let page = page
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    (per_page, page)
}

/// The `Link` header for page `page` of `total` items, or `None` when there is a
/// single page. `url_for(page)` renders the URL of another page (the request's query
/// with `page` replaced). Order as GitHub emits it: prev, next, last, first.
pub(crate) fn link_header(
    total: usize,
    per_page: usize,
    page: usize,
    url_for: impl Fn(usize) -> String,
) -> Option<String> {
    let last = total.div_ceil(per_page.max(1)).max(1);
    let mut rels = Vec::new();
    if page > 1 {
        rels.push(format!("<{}>; rel=\"prev\"", url_for(page - 1)));
    }
    if page < last {
        rels.push(format!("<{}>; rel=\"next\"", url_for(page + 1)));
        rels.push(format!("<{}>; rel=\"last\"", url_for(last)));
    }
    if page > 1 {
        rels.push(format!("<{}>; rel=\"first\"", url_for(1)));
    }
    (!rels.is_empty()).then(|| rels.join(", "))
}

/// Re-encode `query` (as received, in order) with `page` set to `page`.
pub(crate) fn query_with_page(query: &str, page: usize) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let page = page.to_string();
    match pairs.iter_mut().find(|(k, _)| k == "page") {
        Some(pair) => pair.1 = page,
        None => pairs.push(("page".into(), page)),
    }
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(page: usize) -> String {
        format!("https://api.github.com/organizations/9919/members?per_page=100&page={page}")
    }

    #[test]
    fn link_on_first_middle_last_and_single_page() {
        assert_eq!(
            link_header(650, 100, 1, url).unwrap(),
            "<https://api.github.com/organizations/9919/members?per_page=100&page=2>; rel=\"next\", \
             <https://api.github.com/organizations/9919/members?per_page=100&page=7>; rel=\"last\""
        );
        let middle = link_header(650, 100, 3, url).unwrap();
        assert_eq!(
            middle,
            "<https://api.github.com/organizations/9919/members?per_page=100&page=2>; rel=\"prev\", \
             <https://api.github.com/organizations/9919/members?per_page=100&page=4>; rel=\"next\", \
             <https://api.github.com/organizations/9919/members?per_page=100&page=7>; rel=\"last\", \
             <https://api.github.com/organizations/9919/members?per_page=100&page=1>; rel=\"first\""
        );
        let last = link_header(650, 100, 7, url).unwrap();
        assert!(last.contains("rel=\"prev\"") && last.contains("rel=\"first\""));
        assert!(!last.contains("rel=\"next\""));
        assert_eq!(link_header(100, 100, 1, url), None);
        assert_eq!(link_header(0, 30, 1, url), None);
    }

    #[test]
    fn page_params_clamp_like_github() {
        assert_eq!(page_params(None, None), (30, 1));
        assert_eq!(page_params(Some("500"), Some("0")), (100, 1));
        assert_eq!(page_params(Some("abc"), Some("-3")), (30, 1));
        assert_eq!(page_params(Some("2"), Some("4")), (2, 4));
    }

    #[test]
    fn query_keeps_order_and_replaces_page() {
        assert_eq!(
            query_with_page("per_page=2&page=1&role=all", 3),
            "per_page=2&page=3&role=all"
        );
        assert_eq!(query_with_page("", 2), "page=2");
        assert_eq!(query_with_page("role=admin", 2), "role=admin&page=2");
    }
}
