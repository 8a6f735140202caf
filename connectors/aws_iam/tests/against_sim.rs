//! The AWS IAM connector against the simulated IAM of `leaver-sim` (what `leaver demo`
//! runs), through the real `aws-sdk-iam`/`aws-sdk-sts` clients. Unlike moto, the
//! simulator refuses `DeleteUser` with 409 `DeleteConflict` while anything is still
//! attached, so a teardown in the wrong order would fail here.

use aws_credential_types::Credentials;
use aws_sdk_iam::error::ProvideErrorMetadata;
use leaver_connector::{ActionRequest, Connector, ErrorClass, Identity};
use leaver_connector_aws_iam::{
    AwsAccountConfig, AwsIamConfig, AwsIamConnector, REVOKE_POLICY_NAME,
};
use leaver_sim::aws_iam::{IamSim, IamSimConfig};
use leaver_sim::faults::{Fault, FaultRule};
use serde_json::{json, Value};
use std::time::Duration;

async fn sim() -> IamSim {
    IamSim::start(IamSimConfig::default())
        .await
        .expect("sim starts")
}

fn credentials(sim: &IamSim) -> Credentials {
    Credentials::new(
        sim.access_key_id(),
        sim.secret_access_key(),
        None,
        None,
        "leaver-sim-tests",
    )
}

fn config(sim: &IamSim, max_attempts: u32) -> AwsIamConfig {
    AwsIamConfig {
        endpoint_url: Some(sim.base_url()),
        max_attempts,
        request_timeout: Duration::from_secs(10),
        ..AwsIamConfig::default()
    }
}

fn connector(sim: &IamSim) -> AwsIamConnector {
    AwsIamConnector::with_credentials(config(sim, 1), credentials(sim)).expect("connector")
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

fn person(user: &str) -> Identity {
    Identity::new(format!("{user}@example.com")).with_account("aws_iam", user)
}

/// The sub-step an IAM call that changes something belongs to (`DeleteUser` after all).
fn rank(action: &str) -> Option<usize> {
    Some(match action {
        "UpdateAccessKey" | "DeleteAccessKey" => 0,
        "DeleteLoginProfile" => 1,
        "UpdateSigningCertificate" | "DeleteSigningCertificate" => 2,
        "DeleteSSHPublicKey" => 3,
        "DeleteServiceSpecificCredential" => 4,
        "DeactivateMFADevice" | "DeleteVirtualMFADevice" => 5,
        "RemoveUserFromGroup" => 6,
        "DeleteUserPolicy" => 7,
        "DetachUserPolicy" => 8,
        "DeleteUser" => 9,
        _ => return None,
    })
}

fn changes(sim: &IamSim) -> Vec<String> {
    sim.actions()
        .into_iter()
        .filter(|a| rank(a).is_some())
        .collect()
}

fn assert_in_order(actions: &[String]) {
    let ranks: Vec<usize> = actions.iter().filter_map(|a| rank(a)).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "calls out of the documented order: {actions:?}"
    );
}

#[tokio::test]
async fn a_fully_loaded_user_is_torn_down_verified_and_a_second_run_changes_nothing() {
    let sim = sim().await;
    let iam = sim.account();
    let seeded = iam.seed_full_user("alice", None).unwrap();
    let c = connector(&sim);
    let disable = request("disable_user", &person("alice"), json!({}));

    let outcome = c.execute(&disable).await.expect("disable_user");
    assert!(outcome.changed, "{outcome:?}");
    let text = serde_json::to_string(&outcome).unwrap();
    for (_, secret) in &seeded.access_keys {
        assert!(!text.contains(secret.as_str()), "secret leaked: {text}");
    }
    let changed = changes(&sim);
    assert_in_order(&changed);
    for action in [
        "UpdateAccessKey",
        "DeleteLoginProfile",
        "UpdateSigningCertificate",
        "DeleteSSHPublicKey",
        "DeleteServiceSpecificCredential",
        "DeactivateMFADevice",
        "DeleteVirtualMFADevice",
        "RemoveUserFromGroup",
        "DeleteUserPolicy",
        "DetachUserPolicy",
    ] {
        assert!(
            changed.iter().any(|a| a == action),
            "{action} missing: {changed:?}"
        );
    }
    assert!(!changed.iter().any(|a| a == "DeleteUser"));
    let sub_steps = outcome.details["sub_steps"].as_array().unwrap();
    assert_eq!(sub_steps.len(), 9);
    assert!(
        sub_steps.iter().all(|s| s["status"] == "done"),
        "{sub_steps:#?}"
    );
    assert!(
        sim.requests().iter().all(|r| r.status == 200),
        "no call failed: {:#?}",
        sim.requests()
    );

    // What the simulator holds: keys and the certificate kept but inactive, the rest gone.
    let left = iam.user("alice").unwrap();
    assert!(left.grants_nothing(&[]), "{left:#?}");
    assert_eq!(left.access_keys.len(), 2);
    assert_eq!(left.signing_certificates.len(), 1);
    assert!(iam.virtual_mfa_devices().is_empty());
    assert_eq!(iam.group_members(&seeded.groups[0]), Some(vec![]));
    assert!(c.verify(&disable).await.unwrap().verified);

    sim.clear_requests();
    let again = c.execute(&disable).await.expect("second run");
    assert!(!again.changed, "{again:?}");
    assert!(changes(&sim).is_empty(), "{:?}", sim.actions());
    assert!(c.verify(&disable).await.unwrap().verified);
    let residual = c
        .inventory(&person("alice"), std::slice::from_ref(&disable))
        .await
        .unwrap();
    assert!(residual.is_empty(), "{residual:#?}");
}

#[tokio::test]
async fn delete_user_succeeds_only_because_everything_goes_first_in_order() {
    let sim = sim().await;
    let iam = sim.account();
    iam.seed_full_user("carol", None).unwrap();
    iam.seed_full_user("carl", None).unwrap(); // a bystander

    // Straight to DeleteUser, as a careless client would: AWS (and the sim) refuse.
    let sdk = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(sim.base_url())
            .credentials_provider(credentials(&sim))
            .build(),
    );
    let err = sdk
        .delete_user()
        .user_name("carol")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DeleteConflict"), "{err:?}");
    assert!(iam.user_exists("carol"));

    sim.clear_requests();
    let c = connector(&sim);
    let delete = request("delete_user", &person("carol"), json!({}));
    assert!(!c.verify(&delete).await.unwrap().verified);
    let outcome = c.execute(&delete).await.expect("delete_user");
    assert!(outcome.changed, "{outcome:?}");
    let changed = changes(&sim);
    assert_in_order(&changed);
    assert_eq!(changed.last().map(String::as_str), Some("DeleteUser"));
    assert_eq!(changed.iter().filter(|a| *a == "DeleteUser").count(), 1);
    assert_eq!(
        changed.iter().filter(|a| *a == "DeleteAccessKey").count(),
        2
    );
    let conflicts: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.error_code.as_deref() == Some("DeleteConflict"))
        .collect();
    assert!(conflicts.is_empty(), "{conflicts:#?}");
    assert!(!iam.user_exists("carol"));
    assert!(c.verify(&delete).await.unwrap().verified);

    let again = c.execute(&delete).await.unwrap();
    assert!(!again.changed, "{again:?}");
    // The bystander keeps everything.
    let carl = iam.user("carl").unwrap();
    assert!(carl.access_keys.iter().all(|k| k.active));
    assert_eq!(carl.groups.len(), 2);
    assert_eq!(iam.virtual_mfa_devices().len(), 1);
}

#[tokio::test]
async fn revoke_sessions_puts_a_deny_policy_on_user_and_role_that_delete_removes_last() {
    let sim = sim().await;
    let iam = sim.account();
    iam.create_user("erin", &[]);
    iam.create_role("ops-admin", None);
    let c = connector(&sim);
    let erin = person("erin");
    let revoke = request("revoke_sessions", &erin, json!({"role": "ops-admin"}));
    let outcome = c.execute(&revoke).await.unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.details["policy"], REVOKE_POLICY_NAME);
    let document = iam.user_policy("erin", REVOKE_POLICY_NAME).unwrap();
    assert!(document.contains("aws:TokenIssueTime"), "{document}");
    assert!(iam.role_policy("ops-admin", REVOKE_POLICY_NAME).is_some());
    let verification = c.verify(&revoke).await.unwrap();
    assert!(verification.verified, "{verification:?}");
    assert!(verification.observation.contains("IAM role ops-admin"));

    // Someone replaces it with an allow: not verified; re-executing restores it.
    iam.put_user_policy(
        "erin",
        REVOKE_POLICY_NAME,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    );
    assert!(!c.verify(&revoke).await.unwrap().verified);
    c.execute(&revoke).await.unwrap();
    assert!(c.verify(&revoke).await.unwrap().verified);

    // disable_user keeps it; delete_user removes it right before the user.
    let disable = request("disable_user", &erin, json!({}));
    c.execute(&disable).await.unwrap();
    assert!(c.verify(&disable).await.unwrap().verified);
    assert!(iam.user_policy("erin", REVOKE_POLICY_NAME).is_some());
    sim.clear_requests();
    let delete = request("delete_user", &erin, json!({}));
    assert!(c.execute(&delete).await.unwrap().changed);
    assert_eq!(changes(&sim), vec!["DeleteUserPolicy", "DeleteUser"]);
    assert!(c.verify(&delete).await.unwrap().verified);
}

#[tokio::test]
async fn the_user_is_discovered_by_its_email_tag() {
    let sim = sim().await;
    let iam = sim.account();
    iam.seed_full_user("f.ranck", Some("Frank@Example.com"))
        .unwrap();
    iam.create_user("someone-else", &[("email", "other@example.com")]);
    iam.add_access_key("someone-else").unwrap();
    for i in 0..5 {
        iam.create_user(&format!("filler{i}"), &[("team", "x")]);
    }
    // Small pages, so that discovery has to follow markers.
    let mut config = config(&sim, 1);
    config.page_size = Some(2);
    let c = AwsIamConnector::with_credentials(config, credentials(&sim)).unwrap();
    let frank = Identity::new("frank@example.com");
    let disable = request("disable_user", &frank, json!({}));
    let outcome = c.execute(&disable).await.unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.details["user"], "f.ranck");
    assert_eq!(outcome.details["found_by"], "tag email=<email>");
    assert_eq!(outcome.details["account"], "123456789012");
    let list_users = sim
        .requests()
        .into_iter()
        .filter(|r| r.action == "ListUsers")
        .count();
    assert_eq!(list_users, 4, "7 users in pages of 2");
    assert!(sim.actions().iter().any(|a| a == "ListUserTags"));
    assert!(c.verify(&disable).await.unwrap().verified);
    let other = iam.user("someone-else").unwrap();
    assert!(other.access_keys.iter().all(|k| k.active));
}

#[tokio::test]
async fn a_user_that_does_not_exist_is_reported_clearly() {
    let sim = sim().await;
    let c = connector(&sim);
    let ghost = person("ghost");
    for action in ["disable_user", "revoke_sessions"] {
        let e = c
            .execute(&request(action, &ghost, json!({})))
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::Permanent, "{e}");
        assert!(e.message.contains("IAM user `ghost` does not exist"), "{e}");
        assert!(e.message.contains("123456789012"), "{e}");
    }
    let nobody = Identity::new("nobody@example.com");
    let e = c
        .execute(&request("disable_user", &nobody, json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message
            .contains("no IAM user found for nobody@example.com"),
        "{e}"
    );
    let outcome = c
        .execute(&request("delete_user", &ghost, json!({})))
        .await
        .unwrap();
    assert!(!outcome.changed);
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_or_reported_as_transient() {
    let sim = sim().await;
    sim.account().seed_full_user("gina", None).unwrap();
    let gina = person("gina");
    let disable = request("disable_user", &gina, json!({}));

    // With the SDK's retries (3 attempts), one Throttling answer is absorbed.
    let retrying = AwsIamConnector::with_credentials(config(&sim, 3), credentials(&sim)).unwrap();
    sim.faults().inject(
        FaultRule::next(
            1,
            Fault::RateLimited {
                status: 429,
                retry_after: None,
            },
        )
        .on_path("/ListAccessKeys/"),
    );
    let outcome = retrying.execute(&disable).await.expect("retried");
    assert!(outcome.changed);
    let throttled: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.error_code.as_deref() == Some("Throttling"))
        .collect();
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0].action, "ListAccessKeys");
    assert_eq!(throttled[0].status, 400);

    // Without retries, it is a transient error for the engine to retry.
    let c = connector(&sim);
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(1));
    let e = c.execute(&disable).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient, "{e}");
    assert!(e.message.contains("Throttling"), "{e}");
    sim.faults().fail_next(1, 503);
    let e = c.execute(&disable).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Transient, "{e}");
    assert!(c.execute(&disable).await.is_ok());
}

#[tokio::test]
async fn an_account_parameter_assumes_the_role_in_that_account() {
    let sim = sim().await;
    let prod = sim.account_with_id("111111111111");
    let role_arn = prod.create_role("Leaver", Some("leaver-external-id"));
    prod.create_user("henry", &[]);
    prod.add_access_key("henry").unwrap();

    let mut config = config(&sim, 1);
    config.accounts.insert(
        "prod".into(),
        AwsAccountConfig {
            role_arn: Some(role_arn),
            external_id: Some("leaver-external-id".into()),
            ..AwsAccountConfig::default()
        },
    );
    let c = AwsIamConnector::with_credentials(config, credentials(&sim)).unwrap();
    let henry = person("henry");
    let e = c
        .execute(&request("disable_user", &henry, json!({})))
        .await
        .unwrap_err();
    assert!(e.message.contains("123456789012"), "{e}");
    let disable = request("disable_user", &henry, json!({"account": "prod"}));
    let outcome = c.execute(&disable).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert_eq!(outcome.details["account"], "111111111111");
    assert!(sim.actions().iter().any(|a| a == "AssumeRole"));
    assert!(prod.user("henry").unwrap().grants_nothing(&[]));
    assert!(c.verify(&disable).await.unwrap().verified);
}
