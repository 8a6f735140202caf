//! GitHub Actions secrets in the simulated GitHub (docs.github.com "REST API endpoints
//! for GitHub Actions secrets" and "Encrypting secrets for the REST API").
//!
//! | call | answer |
//! |---|---|
//! | `GET /orgs/{org}/actions/secrets/public-key` (also `/repos/{o}/{r}/…`, `/repos/{o}/{r}/environments/{e}/…`) | 200 `{key_id, key}`: a Curve25519 key pair per target, `key` base64 |
//! | `GET …/secrets` | 200 `{total_count, secrets: [{name, created_at, updated_at[, visibility, selected_repositories_url]}]}` |
//! | `GET …/secrets/{name}` | 200 metadata (never the value) / 404 |
//! | `PUT …/secrets/{name}` `{encrypted_value, key_id[, visibility, selected_repository_ids]}` | 201 created / 204 updated; 422 when a field is missing, the value is not base64, `key_id` is not the target's key or the sealed box does not open with its private key |
//! | `DELETE …/secrets/{name}` | 204 / 404 |
//! | `GET /orgs/{org}/actions/secrets/{name}/repositories` | 200 `{total_count, repositories}` |
//!
//! An unknown organization, repository or environment answers 404 `Not Found`. The
//! simulator really opens every sealed box it is sent (and stores the sealed blob);
//! [`GithubSim::open_actions_secret`] opens a stored one again, so tests can prove the
//! round trip over HTTP.

use super::wire::{self, docs};
use super::{lock, GithubSim, Shared};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use crypto_box::aead::OsRng;
use crypto_box::SecretKey;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

type Shr = State<Arc<Shared>>;

const DOCS_ORG: &str =
    "https://docs.github.com/rest/actions/secrets#create-or-update-an-organization-secret";
const DOCS_REPO: &str =
    "https://docs.github.com/rest/actions/secrets#create-or-update-a-repository-secret";
const DOCS_ENV: &str =
    "https://docs.github.com/rest/actions/secrets#create-or-update-an-environment-secret";
const BASE64_PATTERN: &str =
    r"/^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=|[A-Za-z0-9+\/]{4})$/";
/// GitHub's answer to a value that does not open with the target's key.
pub const IMPROPERLY_ENCRYPTED: &str =
    "Bad request - validation failed due to an improperly encrypted secret";

/// Where a secret lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretPlace {
    /// An organization.
    Org(String),
    /// A repository (owner, name).
    Repo(String, String),
    /// An environment of a repository (owner, name, environment).
    Environment(String, String, String),
}

impl SecretPlace {
    /// An organization's secrets.
    pub fn org(org: &str) -> Self {
        SecretPlace::Org(org.to_ascii_lowercase())
    }

    /// A repository's secrets.
    pub fn repo(owner: &str, repo: &str) -> Self {
        SecretPlace::Repo(owner.to_ascii_lowercase(), repo.to_ascii_lowercase())
    }

    /// An environment's secrets.
    pub fn environment(owner: &str, repo: &str, environment: &str) -> Self {
        SecretPlace::Environment(
            owner.to_ascii_lowercase(),
            repo.to_ascii_lowercase(),
            environment.to_lowercase(),
        )
    }

    fn docs(&self) -> &'static str {
        match self {
            SecretPlace::Org(_) => DOCS_ORG,
            SecretPlace::Repo(..) => DOCS_REPO,
            SecretPlace::Environment(..) => DOCS_ENV,
        }
    }
}

/// The metadata of a stored secret, as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsSecretInfo {
    /// Upper-cased name.
    pub name: String,
    /// The key id the stored value was sealed to.
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many PUTs stored a value (1 = created, never updated).
    pub writes: u32,
    /// Organization secrets: `all`, `private` or `selected`.
    pub visibility: Option<String>,
    /// Organization secrets with `selected` visibility.
    pub selected_repository_ids: Vec<u64>,
}

struct KeyPair {
    key_id: String,
    secret: SecretKey,
}

struct Stored {
    info: ActionsSecretInfo,
    sealed: Vec<u8>,
}

struct Repo {
    id: u64,
    owner: String,
    name: String,
    environments: BTreeMap<String, String>,
}

/// The Actions secrets part of the simulated world.
#[derive(Default)]
pub(crate) struct Secrets {
    repos: BTreeMap<(String, String), Repo>,
    /// Every key pair of each place, the current one last.
    keys: BTreeMap<SecretPlace, Vec<KeyPair>>,
    stored: BTreeMap<(SecretPlace, String), Stored>,
    next_repo_id: u64,
}

impl Secrets {
    fn current_key(&mut self, place: &SecretPlace) -> &KeyPair {
        let keys = self.keys.entry(place.clone()).or_default();
        if keys.is_empty() {
            keys.push(new_key());
        }
        keys.last().expect("a key")
    }

    fn repo_by_id(&self, id: u64) -> Option<&Repo> {
        self.repos.values().find(|r| r.id == id)
    }
}

fn new_key() -> KeyPair {
    KeyPair {
        // GitHub's key ids are long decimal strings.
        key_id: (rand::random::<u64>() >> 4).to_string(),
        secret: SecretKey::generate(&mut OsRng),
    }
}

fn now() -> DateTime<Utc> {
    // GitHub reports whole seconds.
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default()
}

fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The routes, merged into the main router (behind the same gate).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/orgs/{org}/actions/secrets", get(org_list))
        .route("/orgs/{org}/actions/secrets/public-key", get(org_key))
        .route(
            "/orgs/{org}/actions/secrets/{name}",
            get(org_get).put(org_put).delete(org_delete),
        )
        .route(
            "/orgs/{org}/actions/secrets/{name}/repositories",
            get(org_repositories),
        )
        .route("/repos/{owner}/{repo}/actions/secrets", get(repo_list))
        .route(
            "/repos/{owner}/{repo}/actions/secrets/public-key",
            get(repo_key),
        )
        .route(
            "/repos/{owner}/{repo}/actions/secrets/{name}",
            get(repo_get).put(repo_put).delete(repo_delete),
        )
        .route(
            "/repos/{owner}/{repo}/environments/{env}/secrets",
            get(env_list),
        )
        .route(
            "/repos/{owner}/{repo}/environments/{env}/secrets/public-key",
            get(env_key),
        )
        .route(
            "/repos/{owner}/{repo}/environments/{env}/secrets/{name}",
            get(env_get).put(env_put).delete(env_delete),
        )
}

/// Whether the org, repository or environment exists.
fn exists(shared: &Shared, place: &SecretPlace) -> bool {
    match place {
        SecretPlace::Org(org) => lock(&shared.world).org(org).is_some(),
        SecretPlace::Repo(owner, repo) => lock(&shared.secrets)
            .repos
            .contains_key(&(owner.clone(), repo.clone())),
        SecretPlace::Environment(owner, repo, env) => lock(&shared.secrets)
            .repos
            .get(&(owner.clone(), repo.clone()))
            .is_some_and(|r| r.environments.contains_key(env)),
    }
}

fn public_key(shared: &Shared, place: SecretPlace) -> Response {
    if !exists(shared, &place) {
        return wire::not_found(place.docs());
    }
    let mut secrets = lock(&shared.secrets);
    let key = secrets.current_key(&place);
    wire::json_response(
        StatusCode::OK,
        &json!({
            "key_id": key.key_id,
            "key": BASE64.encode(key.secret.public_key().as_bytes()),
        }),
    )
}

fn metadata(shared: &Shared, place: &SecretPlace, info: &ActionsSecretInfo) -> Value {
    let mut body = json!({
        "name": info.name,
        "created_at": time(&info.created_at),
        "updated_at": time(&info.updated_at),
    });
    if let (SecretPlace::Org(org), Some(visibility)) = (place, &info.visibility) {
        body["visibility"] = json!(visibility);
        if visibility == "selected" {
            body["selected_repositories_url"] = json!(format!(
                "{}/orgs/{org}/actions/secrets/{}/repositories",
                shared.base_url, info.name
            ));
        }
    }
    body
}

fn get_secret(shared: &Shared, place: SecretPlace, name: &str) -> Response {
    if !exists(shared, &place) {
        return wire::not_found(place.docs());
    }
    let secrets = lock(&shared.secrets);
    match secrets
        .stored
        .get(&(place.clone(), name.to_ascii_uppercase()))
    {
        Some(stored) => {
            wire::json_response(StatusCode::OK, &metadata(shared, &place, &stored.info))
        }
        None => wire::not_found(place.docs()),
    }
}

fn list_secrets(shared: &Shared, place: SecretPlace) -> Response {
    if !exists(shared, &place) {
        return wire::not_found(place.docs());
    }
    let secrets = lock(&shared.secrets);
    let items: Vec<Value> = secrets
        .stored
        .iter()
        .filter(|((p, _), _)| *p == place)
        .map(|(_, s)| metadata(shared, &place, &s.info))
        .collect();
    wire::json_response(
        StatusCode::OK,
        &json!({"total_count": items.len(), "secrets": items}),
    )
}

fn delete_secret(shared: &Shared, place: SecretPlace, name: &str) -> Response {
    if !exists(shared, &place) {
        return wire::not_found(place.docs());
    }
    let removed = lock(&shared.secrets)
        .stored
        .remove(&(place.clone(), name.to_ascii_uppercase()));
    match removed {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => wire::not_found(place.docs()),
    }
}

fn invalid(message: &str, place: &SecretPlace) -> Response {
    wire::error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("Invalid request.\n\n{message}"),
        place.docs(),
    )
}

fn valid_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    !upper.is_empty()
        && upper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !upper.as_bytes()[0].is_ascii_digit()
        && !upper.starts_with("GITHUB_")
}

fn put_secret(shared: &Shared, place: SecretPlace, name: &str, body: &[u8]) -> Response {
    if !exists(shared, &place) {
        return wire::not_found(place.docs());
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return wire::error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            place.docs(),
        );
    };
    if !valid_name(name) {
        return wire::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or \
             underscores (_). Spaces are not allowed. Must start with a letter ([a-z], [A-Z]) \
             or underscores (_). Must not start with the GITHUB_ prefix.",
            place.docs(),
        );
    }
    let field = |key: &str| body.get(key).and_then(Value::as_str);
    let Some(key_id) = field("key_id") else {
        return invalid("\"key_id\" wasn't supplied.", &place);
    };
    let Some(encrypted) = field("encrypted_value") else {
        return invalid("\"encrypted_value\" wasn't supplied.", &place);
    };
    let Ok(sealed) = BASE64.decode(encrypted) else {
        return invalid(
            &format!("{encrypted} does not match {BASE64_PATTERN}."),
            &place,
        );
    };
    let (visibility, selected) = match &place {
        SecretPlace::Org(_) => {
            let Some(visibility) = field("visibility") else {
                return invalid("\"visibility\" wasn't supplied.", &place);
            };
            if !matches!(visibility, "all" | "private" | "selected") {
                return invalid(
                    &format!(
                        "{visibility} is not a member of [\"all\", \"private\", \"selected\"]."
                    ),
                    &place,
                );
            }
            let ids: Option<Vec<u64>> = match body.get("selected_repository_ids") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => {
                    match items.iter().map(Value::as_u64).collect::<Option<Vec<_>>>() {
                        Some(ids) => Some(ids),
                        None => {
                            return invalid(
                                "For 'items', \"selected_repository_ids\" is not an integer.",
                                &place,
                            )
                        }
                    }
                }
                Some(_) => {
                    return invalid(
                        "For 'properties/selected_repository_ids', it is not an array.",
                        &place,
                    )
                }
            };
            if ids.is_some() && visibility != "selected" {
                return invalid(
                    "selected_repository_ids can only be set when visibility is 'selected'.",
                    &place,
                );
            }
            (Some(visibility.to_string()), ids.unwrap_or_default())
        }
        _ => (None, Vec::new()),
    };
    let mut secrets = lock(&shared.secrets);
    if let Some(unknown) = selected
        .iter()
        .find(|id| secrets.repo_by_id(**id).is_none())
    {
        return wire::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Repository with id {unknown} not found"),
            place.docs(),
        );
    }
    let opens = secrets
        .keys
        .get(&place)
        .and_then(|keys| keys.last())
        .filter(|key| key.key_id == key_id)
        .is_some_and(|key| key.secret.unseal(&sealed).is_ok());
    if !opens {
        return wire::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            IMPROPERLY_ENCRYPTED,
            place.docs(),
        );
    }
    let name = name.to_ascii_uppercase();
    let at = now();
    let slot = (place, name.clone());
    match secrets.stored.get_mut(&slot) {
        Some(stored) => {
            stored.sealed = sealed;
            stored.info.key_id = key_id.to_string();
            stored.info.updated_at = at;
            stored.info.writes += 1;
            stored.info.visibility = visibility;
            stored.info.selected_repository_ids = selected;
            StatusCode::NO_CONTENT.into_response()
        }
        None => {
            secrets.stored.insert(
                slot,
                Stored {
                    info: ActionsSecretInfo {
                        name,
                        key_id: key_id.to_string(),
                        created_at: at,
                        updated_at: at,
                        writes: 1,
                        visibility,
                        selected_repository_ids: selected,
                    },
                    sealed,
                },
            );
            wire::json_response(StatusCode::CREATED, &json!({}))
        }
    }
}

async fn org_list(State(s): Shr, Path(org): Path<String>) -> Response {
    list_secrets(&s, SecretPlace::org(&org))
}

async fn org_key(State(s): Shr, Path(org): Path<String>) -> Response {
    public_key(&s, SecretPlace::org(&org))
}

async fn org_get(State(s): Shr, Path((org, name)): Path<(String, String)>) -> Response {
    get_secret(&s, SecretPlace::org(&org), &name)
}

async fn org_put(
    State(s): Shr,
    Path((org, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    put_secret(&s, SecretPlace::org(&org), &name, &body)
}

async fn org_delete(State(s): Shr, Path((org, name)): Path<(String, String)>) -> Response {
    delete_secret(&s, SecretPlace::org(&org), &name)
}

/// `GET /orgs/{org}/actions/secrets/{name}/repositories` (`per_page` ≤ 100, `page`).
async fn org_repositories(
    State(s): Shr,
    Path((org, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let place = SecretPlace::org(&org);
    if !exists(&s, &place) {
        return wire::not_found(docs::REST);
    }
    let query = query.unwrap_or_default();
    let param = |key: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let (per_page, page) =
        wire::page_params(param("per_page").as_deref(), param("page").as_deref());
    let secrets = lock(&s.secrets);
    let Some(stored) = secrets.stored.get(&(place, name.to_ascii_uppercase())) else {
        return wire::not_found(docs::REST);
    };
    let base = &s.base_url;
    let repos: Vec<Value> = stored
        .info
        .selected_repository_ids
        .iter()
        .filter_map(|id| secrets.repo_by_id(*id))
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "full_name": format!("{}/{}", r.owner, r.name),
                "url": format!("{base}/repos/{}/{}", r.owner, r.name),
            })
        })
        .collect();
    let total = repos.len();
    let page_items: Vec<Value> = repos
        .into_iter()
        .skip(per_page.saturating_mul(page - 1))
        .take(per_page)
        .collect();
    wire::json_response(
        StatusCode::OK,
        &json!({"total_count": total, "repositories": page_items}),
    )
}

async fn repo_list(State(s): Shr, Path((o, r)): Path<(String, String)>) -> Response {
    list_secrets(&s, SecretPlace::repo(&o, &r))
}

async fn repo_key(State(s): Shr, Path((o, r)): Path<(String, String)>) -> Response {
    public_key(&s, SecretPlace::repo(&o, &r))
}

async fn repo_get(State(s): Shr, Path((o, r, name)): Path<(String, String, String)>) -> Response {
    get_secret(&s, SecretPlace::repo(&o, &r), &name)
}

async fn repo_put(
    State(s): Shr,
    Path((o, r, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    put_secret(&s, SecretPlace::repo(&o, &r), &name, &body)
}

async fn repo_delete(
    State(s): Shr,
    Path((o, r, name)): Path<(String, String, String)>,
) -> Response {
    delete_secret(&s, SecretPlace::repo(&o, &r), &name)
}

async fn env_list(State(s): Shr, Path((o, r, e)): Path<(String, String, String)>) -> Response {
    list_secrets(&s, SecretPlace::environment(&o, &r, &e))
}

async fn env_key(State(s): Shr, Path((o, r, e)): Path<(String, String, String)>) -> Response {
    public_key(&s, SecretPlace::environment(&o, &r, &e))
}

async fn env_get(
    State(s): Shr,
    Path((o, r, e, name)): Path<(String, String, String, String)>,
) -> Response {
    get_secret(&s, SecretPlace::environment(&o, &r, &e), &name)
}

async fn env_put(
    State(s): Shr,
    Path((o, r, e, name)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Response {
    put_secret(&s, SecretPlace::environment(&o, &r, &e), &name, &body)
}

async fn env_delete(
    State(s): Shr,
    Path((o, r, e, name)): Path<(String, String, String, String)>,
) -> Response {
    delete_secret(&s, SecretPlace::environment(&o, &r, &e), &name)
}

/// Test and demo set-up, and the inspection helpers.
impl GithubSim {
    /// Create repository `owner/repo` (the organization `owner` too, if needed);
    /// returns its id (for `selected_repository_ids`).
    pub fn add_repo(&self, owner: &str, repo: &str) -> u64 {
        lock(&self.shared.world).ensure_org(owner);
        let mut secrets = lock(&self.shared.secrets);
        let key = (owner.to_ascii_lowercase(), repo.to_ascii_lowercase());
        if let Some(existing) = secrets.repos.get(&key) {
            return existing.id;
        }
        secrets.next_repo_id += 1;
        let id = 700_000_000 + secrets.next_repo_id;
        secrets.repos.insert(
            key,
            Repo {
                id,
                owner: owner.to_string(),
                name: repo.to_string(),
                environments: BTreeMap::new(),
            },
        );
        id
    }

    /// Create deployment environment `environment` of `owner/repo` (the repository
    /// too, if needed).
    pub fn add_environment(&self, owner: &str, repo: &str, environment: &str) {
        self.add_repo(owner, repo);
        let mut secrets = lock(&self.shared.secrets);
        if let Some(r) = secrets
            .repos
            .get_mut(&(owner.to_ascii_lowercase(), repo.to_ascii_lowercase()))
        {
            r.environments
                .insert(environment.to_lowercase(), environment.to_string());
        }
    }

    /// The metadata of a stored secret.
    pub fn actions_secret(&self, place: &SecretPlace, name: &str) -> Option<ActionsSecretInfo> {
        lock(&self.shared.secrets)
            .stored
            .get(&(place.clone(), name.to_ascii_uppercase()))
            .map(|s| s.info.clone())
    }

    /// Names of the secrets stored at `place`, sorted.
    pub fn actions_secret_names(&self, place: &SecretPlace) -> Vec<String> {
        lock(&self.shared.secrets)
            .stored
            .keys()
            .filter(|(p, _)| p == place)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// **Tests only**: open the stored sealed box with the simulator's private key and
    /// return the value — what GitHub Actions would hand a workflow. `None` when there is
    /// no such secret (or it no longer opens).
    pub fn open_actions_secret(&self, place: &SecretPlace, name: &str) -> Option<String> {
        let secrets = lock(&self.shared.secrets);
        let stored = secrets
            .stored
            .get(&(place.clone(), name.to_ascii_uppercase()))?;
        let key = secrets
            .keys
            .get(place)?
            .iter()
            .find(|k| k.key_id == stored.info.key_id)?;
        let plain = key.secret.unseal(&stored.sealed).ok()?;
        String::from_utf8(plain).ok()
    }

    /// The current `key_id` of `place` (creating its key pair if needed).
    pub fn actions_public_key_id(&self, place: &SecretPlace) -> String {
        lock(&self.shared.secrets).current_key(place).key_id.clone()
    }

    /// Replace the key pair of `place`: values sealed to the old key are refused with
    /// 422 from now on (stored ones still open for [`open_actions_secret`](Self::open_actions_secret)).
    pub fn rotate_actions_public_key(&self, place: &SecretPlace) -> String {
        let mut secrets = lock(&self.shared.secrets);
        let keys = secrets.keys.entry(place.clone()).or_default();
        keys.push(new_key());
        keys.last().expect("a key").key_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::GithubSimConfig;
    use super::*;

    const TOKEN: &str = "t0k3n-secrets";

    async fn sim() -> GithubSim {
        GithubSim::start(GithubSimConfig {
            token: TOKEN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    fn client() -> reqwest::Client {
        reqwest::Client::new()
    }

    async fn call(
        sim: &GithubSim,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = client()
            .request(method, format!("{}{path}", sim.base_url()))
            .bearer_auth(TOKEN)
            .header("accept", "application/vnd.github+json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn seal(key_b64: &str, value: &str) -> String {
        let bytes: [u8; 32] = BASE64.decode(key_b64).unwrap().try_into().unwrap();
        let sealed = crypto_box::PublicKey::from(bytes)
            .seal(&mut OsRng, value.as_bytes())
            .unwrap();
        BASE64.encode(sealed)
    }

    #[tokio::test]
    async fn repo_secret_round_trip_over_http() {
        let sim = sim().await;
        sim.add_repo("acme", "api");
        let base = "/repos/acme/api/actions/secrets";
        let (status, key) = call(
            &sim,
            reqwest::Method::GET,
            &format!("{base}/public-key"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let key_id = key["key_id"].as_str().unwrap().to_string();
        let encrypted = seal(key["key"].as_str().unwrap(), "v1");
        let put =
            |value: String, key_id: String| json!({"encrypted_value": value, "key_id": key_id});
        let (status, _) = call(
            &sim,
            reqwest::Method::PUT,
            &format!("{base}/deploy_key"),
            Some(put(encrypted, key_id.clone())),
        )
        .await;
        assert_eq!(status, 201);
        let place = SecretPlace::repo("acme", "api");
        assert_eq!(
            sim.open_actions_secret(&place, "DEPLOY_KEY").as_deref(),
            Some("v1")
        );
        let encrypted = seal(key["key"].as_str().unwrap(), "v2");
        let (status, _) = call(
            &sim,
            reqwest::Method::PUT,
            &format!("{base}/DEPLOY_KEY"),
            Some(put(encrypted, key_id.clone())),
        )
        .await;
        assert_eq!(status, 204);
        assert_eq!(
            sim.open_actions_secret(&place, "deploy_key").as_deref(),
            Some("v2")
        );
        assert_eq!(sim.actions_secret(&place, "DEPLOY_KEY").unwrap().writes, 2);

        let (status, meta) = call(
            &sim,
            reqwest::Method::GET,
            &format!("{base}/DEPLOY_KEY"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(meta["name"], "DEPLOY_KEY");
        assert!(meta["updated_at"].as_str().unwrap().ends_with('Z'));
        assert!(meta.get("value").is_none() && meta.get("encrypted_value").is_none());

        // A box sealed to another key, a stale key id, garbage: 422.
        let other = BASE64.encode(SecretKey::generate(&mut OsRng).public_key().as_bytes());
        let (status, body) = call(
            &sim,
            reqwest::Method::PUT,
            &format!("{base}/X"),
            Some(put(seal(&other, "v"), key_id.clone())),
        )
        .await;
        assert_eq!(
            (status, body["message"].as_str().unwrap()),
            (422, IMPROPERLY_ENCRYPTED)
        );
        let (status, _) = call(
            &sim,
            reqwest::Method::PUT,
            &format!("{base}/X"),
            Some(put(seal(key["key"].as_str().unwrap(), "v"), "1".into())),
        )
        .await;
        assert_eq!(status, 422);
        let (status, body) = call(
            &sim,
            reqwest::Method::PUT,
            &format!("{base}/X"),
            Some(json!({"encrypted_value": "AAAA"})),
        )
        .await;
        assert_eq!(status, 422);
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("\"key_id\" wasn't supplied"));
        assert!(sim.actions_secret(&place, "X").is_none());

        let (status, list) = call(&sim, reqwest::Method::GET, base, None).await;
        assert_eq!((status, list["total_count"].as_u64()), (200, Some(1)));
        let (status, _) = call(
            &sim,
            reqwest::Method::DELETE,
            &format!("{base}/DEPLOY_KEY"),
            None,
        )
        .await;
        assert_eq!(status, 204);
        let (status, body) = call(
            &sim,
            reqwest::Method::GET,
            &format!("{base}/DEPLOY_KEY"),
            None,
        )
        .await;
        assert_eq!((status, body["message"].as_str()), (404, Some("Not Found")));
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn unknown_targets_and_org_visibility() {
        let sim = sim().await;
        sim.add_org("acme");
        let repo_id = sim.add_repo("acme", "web");
        sim.add_environment("acme", "web", "Production");
        for path in [
            "/orgs/nope/actions/secrets/public-key",
            "/repos/acme/nope/actions/secrets/public-key",
            "/repos/acme/web/environments/staging/secrets/public-key",
        ] {
            let (status, body) = call(&sim, reqwest::Method::GET, path, None).await;
            assert_eq!(status, 404, "{path}");
            assert_eq!(body["message"], "Not Found");
            assert!(body["documentation_url"]
                .as_str()
                .unwrap()
                .starts_with("https://docs.github.com/"));
        }
        let (status, _) = call(
            &sim,
            reqwest::Method::GET,
            "/repos/acme/web/environments/production/secrets/public-key",
            None,
        )
        .await;
        assert_eq!(status, 200);

        let (_, key) = call(
            &sim,
            reqwest::Method::GET,
            "/orgs/acme/actions/secrets/public-key",
            None,
        )
        .await;
        let encrypted = seal(key["key"].as_str().unwrap(), "org-v");
        let mut body = json!({"encrypted_value": encrypted, "key_id": key["key_id"]});
        let (status, answer) = call(
            &sim,
            reqwest::Method::PUT,
            "/orgs/acme/actions/secrets/SHARED",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422);
        assert!(answer["message"].as_str().unwrap().contains("visibility"));
        body["visibility"] = json!("selected");
        body["selected_repository_ids"] = json!([repo_id]);
        let (status, _) = call(
            &sim,
            reqwest::Method::PUT,
            "/orgs/acme/actions/secrets/SHARED",
            Some(body),
        )
        .await;
        assert_eq!(status, 201);
        let (_, meta) = call(
            &sim,
            reqwest::Method::GET,
            "/orgs/acme/actions/secrets/SHARED",
            None,
        )
        .await;
        assert_eq!(meta["visibility"], "selected");
        let (_, repos) = call(
            &sim,
            reqwest::Method::GET,
            "/orgs/acme/actions/secrets/SHARED/repositories",
            None,
        )
        .await;
        assert_eq!(repos["repositories"][0]["id"].as_u64(), Some(repo_id));
        assert_eq!(
            sim.open_actions_secret(&SecretPlace::org("acme"), "shared")
                .as_deref(),
            Some("org-v")
        );

        // After a key rotation the old key id is refused.
        let place = SecretPlace::org("acme");
        let old = sim.actions_public_key_id(&place);
        assert_ne!(sim.rotate_actions_public_key(&place), old);
        let body = json!({"encrypted_value": seal(key["key"].as_str().unwrap(), "x"), "key_id": old, "visibility": "all"});
        let (status, _) = call(
            &sim,
            reqwest::Method::PUT,
            "/orgs/acme/actions/secrets/SHARED",
            Some(body),
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(
            sim.open_actions_secret(&place, "SHARED").as_deref(),
            Some("org-v")
        );
        sim.shutdown().await;
    }
}
