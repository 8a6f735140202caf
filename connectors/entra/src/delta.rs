//! The users delta query: `GET /users/delta?$select=…`, its `@odata.nextLink` pages and
//! the closing `@odata.deltaLink`, which the next round starts from.

use crate::graph::Graph;
use crate::users::GraphUser;
use leaver_connector::ConnectorError;
use reqwest::Method;

/// What the delta query selects.
pub const DELTA_SELECT: &str = "id,accountEnabled,userPrincipalName,mail";

/// One user in a delta page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaItem {
    /// A live user that changed (or every live user, in the first round).
    Changed(GraphUser),
    /// `@removed`: `reason` `changed` (soft-deleted, restorable) or `deleted` (gone).
    Removed { id: String, reason: String },
}

/// One page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPage {
    pub items: Vec<DeltaItem>,
    /// More pages of this round.
    pub next_link: Option<String>,
    /// The round is complete: start the next one here.
    pub delta_link: Option<String>,
}

/// The first request of an initial round.
pub fn initial_link() -> String {
    format!("users/delta?$select={DELTA_SELECT}")
}

/// Whether an error means the delta token is no longer valid (start a new round).
pub fn is_expired_token(error: &ConnectorError) -> bool {
    error.status == Some(400)
        && (error.message.contains("syncStateNotFound") || error.message.contains("resyncRequired"))
        || error.status == Some(410)
}

/// Fetch one page: `link` is [`initial_link`] or an `@odata.nextLink` / `@odata.deltaLink`.
pub async fn page(graph: &Graph, link: &str) -> Result<DeltaPage, ConnectorError> {
    let response = graph.send(Method::GET, link, None).await?;
    if response.status != 200 {
        return Err(graph.failure(&response, "GET /v1.0/users/delta"));
    }
    let body = response.json();
    let mut items = Vec::new();
    for value in body["value"].as_array().cloned().unwrap_or_default() {
        let Some(id) = value["id"].as_str().map(str::to_string) else {
            continue;
        };
        if let Some(removed) = value.get("@removed") {
            let reason = removed["reason"].as_str().unwrap_or("changed").to_string();
            items.push(DeltaItem::Removed { id, reason });
            continue;
        }
        match serde_json::from_value::<GraphUser>(value) {
            Ok(user) => items.push(DeltaItem::Changed(user)),
            Err(e) => {
                return Err(ConnectorError::transient(format!(
                    "GET /v1.0/users/delta: unexpected user representation for {id}: {e}"
                )))
            }
        }
    }
    let link = |name: &str| body[name].as_str().map(str::to_string);
    let page = DeltaPage {
        items,
        next_link: link("@odata.nextLink"),
        delta_link: link("@odata.deltaLink"),
    };
    if page.next_link.is_none() && page.delta_link.is_none() {
        return Err(ConnectorError::transient(
            "GET /v1.0/users/delta answered neither @odata.nextLink nor @odata.deltaLink",
        ));
    }
    Ok(page)
}
