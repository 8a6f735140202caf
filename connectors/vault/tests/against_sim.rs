//! The Vault connector against the simulated Vault over 127.0.0.1 (real HTTP).

use leaver_connector::{ActionRequest, Connector, ErrorClass, Identity};
use leaver_connector_vault::{VaultConfig, VaultConnector};
use leaver_sim::vault::{VaultSim, VaultSimConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Recognisable, so a leak is easy to spot in any message.
const TOKEN: &str = "hvs.CANARY_s3cr3t_vault_T0KEN_do_not_leak_42";

async fn sim() -> VaultSim {
    VaultSim::start(VaultSimConfig {
        token: TOKEN.into(),
        ..Default::default()
    })
    .await
    .expect("sim")
}

fn config(sim: &VaultSim) -> VaultConfig {
    VaultConfig {
        addr: sim.base_url(),
        token: TOKEN.into(),
        namespace: None,
        request_timeout: Duration::from_secs(5),
    }
}

fn connector(sim: &VaultSim) -> VaultConnector {
    VaultConnector::new(config(sim)).expect("connector")
}

fn request(action: &str, identity: &Identity, params: Value) -> ActionRequest {
    ActionRequest {
        action: action.into(),
        params,
        identity: identity.clone(),
        run_id: "run-1".into(),
        step_id: action.into(),
    }
}

fn assert_no_leak(text: &str) {
    assert!(!text.contains(TOKEN), "token leaked: {text}");
    assert!(!text.contains("CANARY"), "token leaked: {text}");
}

/// Alice: an entity with an OIDC alias (her email) and a userpass alias, two live
/// tokens (one with a child), a userpass user, a dynamic-secret lease.
struct Alice {
    entity: String,
    identity: Identity,
}

fn seed_alice(sim: &VaultSim) -> Alice {
    let root = sim.root();
    root.add_userpass_user("userpass", "alice", "pw", &["dev"]);
    let (_, entity) = root.login_userpass("userpass", "alice", "pw").unwrap();
    root.add_alias(&entity, "oidc", "alice@example.com")
        .unwrap();
    let oidc = root.add_token(&entity, "auth/oidc/oidc/callback");
    root.add_child_token(&oidc.accessor).unwrap();
    root.add_lease("database/creds/readonly/aLiCe1", Some(&oidc.accessor));
    Alice {
        identity: Identity::new("alice@example.com").with_account("vault", entity.clone()),
        entity,
    }
}

/// Someone who must not be touched.
fn seed_bystander(sim: &VaultSim) -> (String, String) {
    let root = sim.root();
    root.add_userpass_user("userpass", "alicia", "pw", &[]);
    let (token, entity) = root.login_userpass("userpass", "alicia", "pw").unwrap();
    (entity, token.accessor)
}

#[tokio::test]
async fn disable_entity_by_id_then_verify_then_idempotent() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    let vault = connector(&sim);
    let step = request("disable_entity", &alice.identity, json!({}));

    let preview = vault.preview(&step).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 1, "{preview:?}");
    assert_eq!(preview.would_revoke[0].kind, "entity");
    assert_eq!(
        sim.root().is_disabled(&alice.entity),
        Some(false),
        "preview changed nothing"
    );
    assert!(!vault.verify(&step).await.unwrap().verified);

    let outcome = vault.execute(&step).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert!(
        outcome.summary.starts_with("disabled Vault entity"),
        "{}",
        outcome.summary
    );
    assert_eq!(sim.root().is_disabled(&alice.entity), Some(true));
    let verification = vault.verify(&step).await.unwrap();
    assert!(verification.verified, "{verification:?}");
    assert!(verification.observation.contains("disabled=true"));

    let again = vault.execute(&step).await.unwrap();
    assert!(!again.changed);
    assert!(
        again.summary.contains("already disabled"),
        "{}",
        again.summary
    );
    assert!(
        !sim.root().live_tokens(&alice.entity).is_empty(),
        "disabling revokes no token (Vault semantics)"
    );
    assert_no_leak(&format!(
        "{preview:?} {outcome:?} {verification:?} {again:?}"
    ));
}

#[tokio::test]
async fn entity_is_discovered_by_alias_email_or_idp_user_id() {
    let sim = sim().await;
    let root = sim.root();
    let bob = root.add_entity("entity_bob");
    root.add_alias(&bob, "oidc", "00u1bob").unwrap();
    let carol = root.add_entity("entity_carol");
    root.add_alias(&carol, "oidc", "carol@example.com").unwrap();
    let vault = connector(&sim);

    let mut bob_identity = Identity::new("bob@example.com");
    bob_identity.idp_user_id = Some("00u1bob".into());
    let outcome = vault
        .execute(&request("disable_entity", &bob_identity, Value::Null))
        .await
        .unwrap();
    assert!(outcome.changed);
    assert!(outcome.details["found_by"]
        .as_str()
        .unwrap()
        .contains("alias 00u1bob on oidc/"));
    assert_eq!(root.is_disabled(&bob), Some(true));
    assert_eq!(root.is_disabled(&carol), Some(false));

    let carol_identity = Identity::new("Carol@Example.com");
    let step = request("disable_entity", &carol_identity, Value::Null);
    assert!(vault.execute(&step).await.unwrap().changed);
    assert!(vault.verify(&step).await.unwrap().verified);
    assert_eq!(root.is_disabled(&carol), Some(true));
}

#[tokio::test]
async fn missing_entity_is_reported_clearly() {
    let sim = sim().await;
    let vault = connector(&sim);
    let ghost = Identity::new("ghost@example.com").with_account("vault", "0000-not-there");
    let e = vault
        .execute(&request("disable_entity", &ghost, json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message.contains("Vault entity `0000-not-there`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("not found"), "{}", e.message);

    let unknown = Identity::new("nobody@example.com");
    let e = vault
        .execute(&request("revoke_tokens", &unknown, json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message
            .contains("no Vault entity found for nobody@example.com"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("userpass/"),
        "names the mounts searched: {}",
        e.message
    );
    // A preview explains instead of failing.
    let preview = vault
        .preview(&request("disable_entity", &unknown, json!({})))
        .await
        .unwrap();
    assert!(preview.would_revoke.is_empty());
    assert!(
        preview.notes[0].contains("no Vault entity found"),
        "{preview:?}"
    );
    assert!(vault.inventory(&unknown, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn revoke_tokens_revokes_only_the_entitys_tokens() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    let (bystander, bystander_token) = seed_bystander(&sim);
    let vault = connector(&sim);
    let step = request("revoke_tokens", &alice.identity, json!({}));
    let root = sim.root();
    assert_eq!(
        root.live_tokens(&alice.entity).len(),
        3,
        "login, oidc, child"
    );

    let preview = vault.preview(&step).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 3, "{preview:?}");
    assert!(!vault.verify(&step).await.unwrap().verified);

    let outcome = vault.execute(&step).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert!(root.live_tokens(&alice.entity).is_empty());
    assert!(
        root.token_is_live(&bystander_token),
        "someone else's token survives"
    );
    assert_eq!(root.live_tokens(&bystander).len(), 1);
    assert!(
        root.leases_with_prefix("database/creds/readonly/")
            .is_empty(),
        "leases go with their token"
    );
    let revoked = outcome.details["revoked"].as_array().unwrap().len();
    let gone = outcome.details["already_gone"].as_array().unwrap().len();
    assert_eq!(
        revoked + gone,
        3,
        "the child may go with its parent: {outcome:?}"
    );

    let verification = vault.verify(&step).await.unwrap();
    assert!(verification.verified, "{verification:?}");
    let again = vault.execute(&step).await.unwrap();
    assert!(!again.changed, "{again:?}");
    assert!(
        sim.root().all_tokens().len() >= 2,
        "operator and bystander tokens remain"
    );
    assert_no_leak(&format!(
        "{preview:?} {outcome:?} {verification:?} {again:?}"
    ));
}

#[tokio::test]
async fn revoke_leases_by_prefix_with_username_placeholder() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    let (_, bystander_token) = seed_bystander(&sim);
    let root = sim.root();
    root.add_lease("database/creds/readonly/aLiCe2", None);
    let vault = connector(&sim);
    let step = request(
        "revoke_leases",
        &alice.identity,
        json!({"prefixes": ["auth/userpass/login/{username}", "database/creds/readonly/"]}),
    );
    assert!(!vault.verify(&step).await.unwrap().verified);
    let preview = vault.preview(&step).await.unwrap();
    assert_eq!(preview.would_revoke.len(), 2, "{preview:?}");

    let outcome = vault.execute(&step).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert!(
        outcome.summary.contains("auth/userpass/login/alice"),
        "{}",
        outcome.summary
    );
    assert!(root
        .leases_with_prefix("auth/userpass/login/alice/")
        .is_empty());
    assert!(root
        .leases_with_prefix("database/creds/readonly/")
        .is_empty());
    assert!(
        root.token_is_live(&bystander_token),
        "alicia's login is not under alice/"
    );
    assert!(vault.verify(&step).await.unwrap().verified);
    let again = vault.execute(&step).await.unwrap();
    assert!(!again.changed, "{again:?}");

    // An exact lease id (no trailing slash) is found and revoked too.
    root.add_lease("database/creds/readonly/exact1", None);
    let exact = request(
        "revoke_leases",
        &alice.identity,
        json!({"prefixes": ["database/creds/readonly/exact1"]}),
    );
    assert!(!vault.verify(&exact).await.unwrap().verified);
    assert!(vault.execute(&exact).await.unwrap().changed);
    assert!(vault.verify(&exact).await.unwrap().verified);
}

#[tokio::test]
async fn username_placeholder_without_userpass_alias_fails_instead_of_widening() {
    let sim = sim().await;
    let root = sim.root();
    let dave = root.add_entity("dave");
    root.add_alias(&dave, "oidc", "dave@example.com").unwrap();
    let vault = connector(&sim);
    let e = vault
        .execute(&request(
            "revoke_leases",
            &Identity::new("dave@example.com"),
            json!({"prefixes": ["auth/userpass/login/{username}"]}),
        ))
        .await
        .unwrap_err();
    assert!(!e.is_transient());
    assert!(e.message.contains("has no userpass alias"), "{}", e.message);
}

#[tokio::test]
async fn delete_userpass_user_then_verify_then_idempotent() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    seed_bystander(&sim);
    let vault = connector(&sim);
    let step = request("delete_user", &alice.identity, json!({}));
    assert!(!vault.verify(&step).await.unwrap().verified);

    let outcome = vault.execute(&step).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert!(
        outcome.summary.contains("deleted userpass user alice"),
        "{}",
        outcome.summary
    );
    assert!(!sim.root().userpass_user_exists("userpass", "alice"));
    assert!(sim.root().userpass_user_exists("userpass", "alicia"));
    let verification = vault.verify(&step).await.unwrap();
    assert!(verification.verified, "{verification:?}");
    assert!(
        verification
            .observation
            .contains("users/alice answered 404"),
        "{verification:?}"
    );
    assert!(!vault.execute(&step).await.unwrap().changed);

    // An explicit username, case-insensitive.
    sim.root()
        .add_userpass_user("userpass", "al.ice", "pw", &[]);
    let explicit = request(
        "delete_user",
        &alice.identity,
        json!({"username": "AL.ICE"}),
    );
    assert!(vault.execute(&explicit).await.unwrap().changed);
    assert!(!sim.root().userpass_user_exists("userpass", "al.ice"));
}

#[tokio::test]
async fn delete_aliases_on_an_oidc_mount() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    let vault = connector(&sim);
    let without = request("delete_user", &alice.identity, json!({"mount": "oidc"}));
    let e = vault.execute(&without).await.unwrap_err();
    assert!(!e.is_transient());
    assert!(e.message.contains("of type oidc"), "{}", e.message);
    let missing = request("delete_user", &alice.identity, json!({"mount": "ldap"}));
    let e = vault.execute(&missing).await.unwrap_err();
    assert!(
        e.message.contains("no auth method is mounted at ldap/"),
        "{}",
        e.message
    );

    let step = request(
        "delete_user",
        &alice.identity,
        json!({"mount": "oidc", "delete_aliases": true}),
    );
    assert!(!vault.verify(&step).await.unwrap().verified);
    let outcome = vault.execute(&step).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    let left: Vec<String> = sim
        .root()
        .aliases_of(&alice.entity)
        .into_iter()
        .map(|a| a.mount)
        .collect();
    assert_eq!(left, vec!["userpass/"], "only the oidc alias went");
    assert!(vault.verify(&step).await.unwrap().verified);
    assert!(!vault.execute(&step).await.unwrap().changed);
}

#[tokio::test]
async fn namespaces_from_params_and_config() {
    let sim = sim().await;
    let team = sim.namespace("team-a");
    let erin = team.add_entity("erin");
    team.add_alias(&erin, "oidc", "erin@example.com").unwrap();
    let token = team.add_token(&erin, "auth/oidc/oidc/callback");
    let identity = Identity::new("erin@example.com");

    let vault = connector(&sim);
    let in_root = vault
        .execute(&request("disable_entity", &identity, json!({})))
        .await
        .unwrap_err();
    assert!(
        in_root.message.contains("the root namespace"),
        "{}",
        in_root.message
    );
    let step = request("disable_entity", &identity, json!({"namespace": "team-a"}));
    assert!(vault.execute(&step).await.unwrap().changed);
    assert_eq!(team.is_disabled(&erin), Some(true));
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.namespace.as_deref() == Some("team-a")));

    let defaulted = VaultConnector::new(VaultConfig {
        namespace: Some("team-a/".into()),
        ..config(&sim)
    })
    .unwrap();
    let step = request("revoke_tokens", &identity, json!({}));
    assert!(defaulted.execute(&step).await.unwrap().changed);
    assert!(!team.token_is_live(&token.accessor));
    let held = defaulted.inventory(&identity, &[step]).await.unwrap();
    assert!(held.is_empty(), "{held:?}");
}

#[tokio::test]
async fn inventory_lists_what_remains_then_nothing() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    let vault = connector(&sim);
    let scope = vec![
        request("disable_entity", &alice.identity, json!({})),
        request("revoke_tokens", &alice.identity, json!({})),
        request(
            "revoke_leases",
            &alice.identity,
            json!({"prefixes": ["database/creds/readonly/"]}),
        ),
        request("delete_user", &alice.identity, json!({})),
    ];
    let before = vault.inventory(&alice.identity, &scope).await.unwrap();
    let kinds: Vec<&str> = before.iter().map(|h| h.kind.as_str()).collect();
    for kind in ["entity", "token", "lease", "userpass_user"] {
        assert!(kinds.contains(&kind), "{kind} missing from {before:?}");
    }
    assert!(before.iter().all(|h| h.system == "vault"));
    assert_no_leak(&format!("{before:?}"));

    // Only disabling leaves the tokens: the sweep must still see them.
    vault.execute(&scope[0]).await.unwrap();
    let after_disable = vault.inventory(&alice.identity, &scope[..1]).await.unwrap();
    assert!(
        after_disable.iter().all(|h| h.kind == "token"),
        "{after_disable:?}"
    );
    assert_eq!(after_disable.len(), 3);

    for step in &scope[1..] {
        vault.execute(step).await.unwrap();
        assert!(
            vault.verify(step).await.unwrap().verified,
            "{}",
            step.action
        );
    }
    let after = vault.inventory(&alice.identity, &scope).await.unwrap();
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_transient() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    let vault = connector(&sim);
    let step = request("disable_entity", &alice.identity, json!({}));

    // Each call gets three tries (CallRetry::STANDARD): three 503s in a row fail it.
    sim.faults().fail_next(3, 503);
    let e = vault.execute(&step).await.unwrap_err();
    assert!(e.is_transient());
    assert_eq!(e.status, Some(503));
    assert!(
        e.message.contains("Vault 503: Vault is sealed"),
        "{}",
        e.message
    );

    sim.faults().fail_next(3, 500);
    let e = vault.execute(&step).await.unwrap_err();
    assert!(e.is_transient());
    assert!(e.message.contains("internal error"), "{}", e.message);

    sim.faults().fail_next(3, 502);
    let e = vault.execute(&step).await.unwrap_err();
    assert!(e.is_transient());
    assert!(!e.message.contains("<html>"), "{}", e.message);

    // A wait longer than the call's own retries take is handed to the engine.
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(7));
    let e = vault.execute(&step).await.unwrap_err();
    assert!(e.is_transient());
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert!(
        e.message.contains("rate limit quota exceeded"),
        "{}",
        e.message
    );

    // A single 503 or a short 429 is absorbed by the call's own retries.
    sim.faults().fail_next(1, 503);
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(1));
    assert!(vault.execute(&step).await.unwrap().changed);
}

#[tokio::test]
async fn bad_token_is_permanent_with_vaults_message() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    let canary = "hvs.CANARY_wrong_token_value_0123456789";
    let vault = VaultConnector::new(VaultConfig {
        token: canary.into(),
        ..config(&sim)
    })
    .unwrap();
    for action in ["disable_entity", "revoke_tokens", "delete_user"] {
        let e = vault
            .execute(&request(action, &alice.identity, json!({})))
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::Permanent, "{action}");
        assert_eq!(e.status, Some(403));
        assert!(
            e.message.contains("Vault 403: permission denied"),
            "{}",
            e.message
        );
        assert!(
            !e.message.contains(canary) && !e.message.contains("CANARY"),
            "{}",
            e.message
        );
    }
    // A missing permission on one path (no sudo on the accessor listing) is permanent too.
    sim.faults()
        .fail_next_on("/v1/auth/token/accessors", 1, 403);
    let e = connector(&sim)
        .execute(&request("revoke_tokens", &alice.identity, json!({})))
        .await
        .unwrap_err();
    assert!(!e.is_transient());
    assert!(
        e.message.contains("/v1/auth/token/accessors"),
        "{}",
        e.message
    );
    assert_eq!(sim.root().is_disabled(&alice.entity), Some(false));
}

#[tokio::test]
async fn hang_times_out_as_transient() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    let vault = VaultConnector::new(VaultConfig {
        request_timeout: Duration::from_millis(400),
        ..config(&sim)
    })
    .unwrap();
    sim.faults().hang_next(1, Duration::from_secs(30));
    let started = Instant::now();
    let e = vault
        .execute(&request("disable_entity", &alice.identity, json!({})))
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(e.message.contains("timed out"), "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_no_leak(&format!("{e:?}"));

    // Nothing listening: a connection failure is transient too.
    let closed = VaultConnector::new(VaultConfig {
        addr: "http://127.0.0.1:9".into(),
        ..config(&sim)
    })
    .unwrap();
    let e = closed
        .execute(&request("disable_entity", &alice.identity, json!({})))
        .await
        .unwrap_err();
    assert!(e.is_transient());
    assert!(e.message.contains("cannot reach Vault"), "{}", e.message);
    assert_no_leak(&format!("{e:?} {closed:?} {vault:?}"));
}

#[tokio::test]
async fn the_token_is_sent_as_x_vault_token_and_never_logged() {
    let sim = sim().await;
    let alice = seed_alice(&sim);
    let vault = connector(&sim);
    vault
        .execute(&request("disable_entity", &alice.identity, json!({})))
        .await
        .unwrap();
    let records = sim.requests();
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r.token_sent && r.auth_ok),
        "{records:?}"
    );
    assert_no_leak(&format!("{records:?} {vault:?} {:?}", config(&sim)));
}

#[tokio::test]
async fn kv_v2_metadata_keys_and_check_and_set_writes() {
    let sim = sim().await;
    let root = sim.root();
    root.add_kv_mount("secret");
    root.put_kv(
        "secret",
        "prod/app",
        &[("user", "app"), ("password", "CANARY-value")],
    );
    root.set_kv_custom_metadata("secret", "prod/app", &[("owner", "team-a")]);
    let vault = connector(&sim);

    let meta = vault
        .kv_metadata("secret", "prod/app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.current_version, 1);
    assert_eq!(meta.custom_metadata["owner"], "team-a");
    let (version, keys) = vault.kv_keys("secret", "prod/app").await.unwrap().unwrap();
    assert_eq!(
        (version, keys),
        (1, vec!["password".to_string(), "user".to_string()])
    );

    let mut data = serde_json::Map::new();
    data.insert("user".into(), json!("new-user"));
    data.insert("password".into(), json!("new-password"));
    assert_eq!(
        vault
            .kv_write("secret", "prod/app", data.clone(), 1)
            .await
            .unwrap(),
        2
    );
    assert_eq!(root.kv_current_version("secret", "prod/app"), Some(2));
    assert_eq!(
        root.kv_current_data("secret", "prod/app").unwrap()["password"],
        "new-password"
    );
    // A stale check-and-set is refused, without echoing the values.
    let stale = vault
        .kv_write("secret", "prod/app", data, 1)
        .await
        .unwrap_err();
    assert!(!stale.is_transient(), "{stale:?}");
    assert!(stale.message.contains("check-and-set"), "{}", stale.message);
    assert!(!stale.message.contains("new-password"));
    assert_no_leak(&stale.message);

    // Not a KV v2 secret (no such mount, no such key): None.
    assert!(vault
        .kv_metadata("database", "creds/ro")
        .await
        .unwrap()
        .is_none());
    assert!(vault
        .kv_metadata("secret", "absent")
        .await
        .unwrap()
        .is_none());
    assert!(vault.kv_keys("secret", "absent").await.unwrap().is_none());
}
