//! The AWS IAM connector against the real moto server (from the test virtualenv) over
//! 127.0.0.1, through a proxy that records the Action of every call (see
//! `support/moto.rs`). Each test starts its own moto.

mod support {
    pub mod moto;
}

use aws_credential_types::Credentials;
use leaver_connector::{ActionOutcome, ActionRequest, Connector, ErrorClass, Identity};
use leaver_connector_aws_iam::{
    AwsAccountConfig, AwsIamConfig, AwsIamConnector, REVOKE_POLICY_NAME,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::moto::{
    xml_value, xml_values, Moto, Seeded, ACCESS_KEY_ID, MOTO_ACCOUNT, SECRET_ACCESS_KEY,
};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn moto() -> Moto {
    Moto::start(&workspace_root()).await
}

fn config(moto: &Moto) -> AwsIamConfig {
    AwsIamConfig {
        endpoint_url: Some(moto.url.clone()),
        max_attempts: 1,
        request_timeout: Duration::from_secs(20),
        ..AwsIamConfig::default()
    }
}

fn credentials() -> Credentials {
    Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "leaver-tests")
}

fn connector_with(config: AwsIamConfig) -> AwsIamConnector {
    AwsIamConnector::with_credentials(config, credentials()).expect("connector")
}

fn connector(moto: &Moto) -> AwsIamConnector {
    connector_with(config(moto))
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

/// The outcome as the evidence would hold it, checked for every secret of `seeded`.
fn assert_no_secret(text: &str, seeded: &Seeded) {
    assert!(!text.contains(SECRET_ACCESS_KEY), "secret leaked: {text}");
    assert!(!text.contains("CANARY"), "secret leaked: {text}");
    for secret in &seeded.secret_keys {
        assert!(
            !text.contains(secret.as_str()),
            "access key secret leaked: {text}"
        );
    }
    assert!(!text.contains(&seeded.password), "password leaked: {text}");
}

fn outcome_text(outcome: &ActionOutcome) -> String {
    serde_json::to_string(outcome).unwrap()
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

fn changes(actions: &[String]) -> Vec<String> {
    actions
        .iter()
        .filter(|a| rank(a).is_some())
        .cloned()
        .collect()
}

fn assert_in_order(actions: &[String]) {
    let ranks: Vec<usize> = actions.iter().filter_map(|a| rank(a)).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "calls out of the documented order: {actions:?}"
    );
}

async fn access_key_statuses(moto: &Moto, user: &str) -> Vec<String> {
    let answer = moto.must("ListAccessKeys", &[("UserName", user)]).await;
    xml_values(&answer, "Status")
}

/// Nothing that grants access is left on `user` (keys and certificates inactive).
async fn assert_torn_down(moto: &Moto, seeded: &Seeded) {
    let user = seeded.user.as_str();
    let statuses = access_key_statuses(moto, user).await;
    assert!(statuses.iter().all(|s| s == "Inactive"), "{statuses:?}");
    let e = moto
        .call("GetLoginProfile", &[("UserName", user)])
        .await
        .unwrap_err();
    assert!(e.contains("NoSuchEntity"), "{e}");
    let certs = moto
        .must("ListSigningCertificates", &[("UserName", user)])
        .await;
    assert!(xml_values(&certs, "Status").iter().all(|s| s == "Inactive"));
    let ssh = moto.must("ListSSHPublicKeys", &[("UserName", user)]).await;
    assert!(xml_value(&ssh, "SSHPublicKeyId").is_none(), "{ssh}");
    assert!(moto.service_specific_credentials(user).is_empty());
    let mfa = moto.must("ListMFADevices", &[("UserName", user)]).await;
    assert!(xml_value(&mfa, "SerialNumber").is_none(), "{mfa}");
    let virtual_devices = moto.must("ListVirtualMFADevices", &[]).await;
    assert!(
        !virtual_devices.contains(&seeded.mfa_serial),
        "virtual MFA device not deleted: {virtual_devices}"
    );
    let groups = moto.must("ListGroupsForUser", &[("UserName", user)]).await;
    assert!(xml_value(&groups, "GroupName").is_none(), "{groups}");
    let inline = moto.must("ListUserPolicies", &[("UserName", user)]).await;
    assert!(
        !inline.contains(&seeded.inline_policy),
        "inline policy left: {inline}"
    );
    let attached = moto
        .must("ListAttachedUserPolicies", &[("UserName", user)])
        .await;
    assert!(xml_value(&attached, "PolicyArn").is_none(), "{attached}");
}

#[tokio::test]
async fn a_fully_equipped_user_is_torn_down_in_order_and_verified_twice() {
    let moto = moto().await;
    let seeded = moto.seed_full_user("alice", None).await;
    let c = connector(&moto);
    let disable = request("disable_user", &person("alice"), json!({}));

    let outcome = c.execute(&disable).await.expect("disable_user");
    assert!(outcome.changed, "{outcome:?}");
    assert!(outcome.skipped.is_empty());
    assert_no_secret(&outcome_text(&outcome), &seeded);
    let first = moto.actions();
    let changed = changes(&first);
    assert_in_order(&first);
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
    assert!(!changed
        .iter()
        .any(|a| a == "DeleteAccessKey" || a == "DeleteUser"));
    assert_eq!(
        changed.iter().filter(|a| *a == "UpdateAccessKey").count(),
        2
    );
    let sub_steps = outcome.details["sub_steps"].as_array().unwrap();
    assert_eq!(sub_steps.len(), 9);
    assert!(
        sub_steps.iter().all(|s| s["status"] == "done"),
        "{sub_steps:#?}"
    );

    let verification = c.verify(&disable).await.expect("verify");
    assert!(verification.verified, "{verification:?}");
    assert_torn_down(&moto, &seeded).await;

    // Second run: nothing left to change, and it still verifies.
    moto.clear_actions();
    let again = c.execute(&disable).await.expect("disable_user again");
    assert!(!again.changed, "{again:?}");
    assert!(
        changes(&moto.actions()).is_empty(),
        "the second run changed something: {:?}",
        moto.actions()
    );
    let verification = c.verify(&disable).await.expect("verify again");
    assert!(verification.verified, "{verification:?}");
    assert_no_secret(&serde_json::to_string(&verification).unwrap(), &seeded);

    // Inactive keys and certificates grant nothing: no residual access.
    let residual = c
        .inventory(&person("alice"), std::slice::from_ref(&disable))
        .await
        .unwrap();
    assert!(residual.is_empty(), "{residual:#?}");
}

#[tokio::test]
async fn delete_access_keys_deletes_keys_and_certificates() {
    let moto = moto().await;
    let seeded = moto.seed_full_user("bob", None).await;
    let c = connector(&moto);
    let disable = request(
        "disable_user",
        &person("bob"),
        json!({"delete_access_keys": true}),
    );
    let outcome = c.execute(&disable).await.unwrap();
    assert!(outcome.changed);
    let changed = changes(&moto.actions());
    assert_eq!(
        changed.iter().filter(|a| *a == "DeleteAccessKey").count(),
        2
    );
    assert!(changed.iter().any(|a| a == "DeleteSigningCertificate"));
    assert!(!changed.iter().any(|a| a == "UpdateAccessKey"));
    assert!(access_key_statuses(&moto, "bob").await.is_empty());
    let certs = moto
        .must("ListSigningCertificates", &[("UserName", "bob")])
        .await;
    assert!(xml_value(&certs, "CertificateId").is_none(), "{certs}");
    assert!(c.verify(&disable).await.unwrap().verified);
    assert_no_secret(&outcome_text(&outcome), &seeded);

    // Deactivating first and then asking for deletion still deletes.
    let seeded = moto.seed_full_user("bert", None).await;
    let soft = request("disable_user", &person("bert"), json!({}));
    c.execute(&soft).await.unwrap();
    let hard = request(
        "disable_user",
        &person("bert"),
        json!({"delete_access_keys": true}),
    );
    assert!(
        !c.verify(&hard).await.unwrap().verified,
        "inactive keys are still there"
    );
    assert!(c.execute(&hard).await.unwrap().changed);
    assert!(c.verify(&hard).await.unwrap().verified);
    assert!(access_key_statuses(&moto, &seeded.user).await.is_empty());
}

#[tokio::test]
async fn skipped_sub_steps_are_left_alone_and_recorded_as_skipped() {
    let moto = moto().await;
    let seeded = moto.seed_full_user("dave", None).await;
    let c = connector(&moto);
    let disable = request(
        "disable_user",
        &person("dave"),
        json!({"skip": ["groups", "attached_policies", "access_keys"]}),
    );
    let outcome = c.execute(&disable).await.unwrap();
    assert_eq!(
        outcome.skipped,
        vec!["access_keys", "groups", "attached_policies"],
        "{outcome:?}"
    );
    let skipped: Vec<&Value> = outcome.details["sub_steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 3);
    assert!(outcome
        .summary
        .contains("skipped: access_keys, groups, attached_policies"));
    let changed = changes(&moto.actions());
    for untouched in ["UpdateAccessKey", "RemoveUserFromGroup", "DetachUserPolicy"] {
        assert!(
            !changed.iter().any(|a| a == untouched),
            "{untouched}: {changed:?}"
        );
    }
    assert!(changed.iter().any(|a| a == "DeleteLoginProfile"));
    // Untouched upstream.
    let statuses = access_key_statuses(&moto, "dave").await;
    assert_eq!(statuses, vec!["Active", "Active"]);
    let groups = moto
        .must("ListGroupsForUser", &[("UserName", "dave")])
        .await;
    assert_eq!(xml_values(&groups, "GroupName").len(), 2);
    let attached = moto
        .must("ListAttachedUserPolicies", &[("UserName", "dave")])
        .await;
    assert_eq!(
        xml_value(&attached, "PolicyArn"),
        Some(seeded.managed_policy.clone())
    );

    // What ran is verified; what was skipped is said to be unchecked, not done.
    let verification = c.verify(&disable).await.unwrap();
    assert!(verification.verified, "{verification:?}");
    assert!(
        verification
            .observation
            .contains("not checked (skipped): access_keys, groups, attached_policies"),
        "{}",
        verification.observation
    );
    // And the residual sweep still sees it.
    let residual = c
        .inventory(&person("dave"), std::slice::from_ref(&disable))
        .await
        .unwrap();
    let kinds: Vec<&str> = residual.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "access_key").count(),
        2,
        "{residual:#?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "group_membership").count(),
        2
    );
    assert_eq!(kinds.iter().filter(|k| **k == "attached_policy").count(), 1);
    assert_eq!(residual.len(), 5, "{residual:#?}");

    // Skipping everything is refused up front.
    let all = json!({"skip": ["access_keys", "login_profile", "signing_certificates",
        "ssh_public_keys", "service_specific_credentials", "mfa_devices", "groups",
        "inline_policies", "attached_policies"]});
    let e = c.check_params("disable_user", &all).unwrap_err();
    assert!(e.0.contains("every sub-step"), "{e}");
}

#[tokio::test]
async fn revoke_sessions_attaches_a_deny_policy_that_disable_keeps_and_delete_removes() {
    let moto = moto().await;
    moto.must("CreateUser", &[("UserName", "erin")]).await;
    moto.must(
        "CreateRole",
        &[
            ("RoleName", "ops-admin"),
            (
                "AssumeRolePolicyDocument",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#,
            ),
        ],
    )
    .await;
    let c = connector(&moto);
    let erin = person("erin");
    let revoke = request("revoke_sessions", &erin, json!({"role": "ops-admin"}));
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let outcome = c.execute(&revoke).await.unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.details["policy"], REVOKE_POLICY_NAME);
    let cutoff = outcome.details["token_issued_before"].as_str().unwrap();
    let cutoff = chrono::DateTime::parse_from_rfc3339(cutoff).unwrap();
    assert!(cutoff >= before, "{cutoff} < {before}");

    let answer = moto
        .must(
            "GetUserPolicy",
            &[("UserName", "erin"), ("PolicyName", REVOKE_POLICY_NAME)],
        )
        .await;
    let document = xml_value(&answer, "PolicyDocument").unwrap();
    assert!(document.contains("TokenIssueTime"), "{document}");
    assert!(document.contains("Deny"), "{document}");
    moto.must(
        "GetRolePolicy",
        &[
            ("RoleName", "ops-admin"),
            ("PolicyName", REVOKE_POLICY_NAME),
        ],
    )
    .await;
    let verification = c.verify(&revoke).await.unwrap();
    assert!(verification.verified, "{verification:?}");
    assert!(verification.observation.contains("IAM role ops-admin"));

    // Someone replaces the policy with one that allows: no longer verified.
    moto.must(
        "PutUserPolicy",
        &[
            ("UserName", "erin"),
            ("PolicyName", REVOKE_POLICY_NAME),
            (
                "PolicyDocument",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            ),
        ],
    )
    .await;
    assert!(!c.verify(&revoke).await.unwrap().verified);
    // Re-executing restores it (and moves the cutoff to now).
    c.execute(&revoke).await.unwrap();
    assert!(c.verify(&revoke).await.unwrap().verified);

    // disable_user keeps Leaver's deny policy (it grants nothing)...
    let disable = request("disable_user", &erin, json!({}));
    c.execute(&disable).await.unwrap();
    assert!(c.verify(&disable).await.unwrap().verified);
    let inline = moto.must("ListUserPolicies", &[("UserName", "erin")]).await;
    assert!(inline.contains(REVOKE_POLICY_NAME), "{inline}");
    assert!(c.verify(&revoke).await.unwrap().verified);
    // ...and delete_user removes it last, right before the user.
    moto.clear_actions();
    let delete = request("delete_user", &erin, json!({}));
    assert!(c.execute(&delete).await.unwrap().changed);
    let changed = changes(&moto.actions());
    assert_eq!(changed, vec!["DeleteUserPolicy", "DeleteUser"]);
    assert!(c.verify(&delete).await.unwrap().verified);
}

#[tokio::test]
async fn delete_user_removes_everything_first_in_order_then_the_user() {
    let moto = moto().await;
    let seeded = moto.seed_full_user("carol", None).await;
    moto.seed_full_user("carl", None).await; // a bystander
    let c = connector(&moto);
    let delete = request("delete_user", &person("carol"), json!({}));
    assert!(!c.verify(&delete).await.unwrap().verified);
    let outcome = c.execute(&delete).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert_no_secret(&outcome_text(&outcome), &seeded);
    let actions = moto.actions();
    let changed = changes(&actions);
    assert_in_order(&actions);
    assert_eq!(changed.last().map(String::as_str), Some("DeleteUser"));
    assert_eq!(changed.iter().filter(|a| *a == "DeleteUser").count(), 1);
    for action in [
        "DeleteAccessKey",
        "DeleteLoginProfile",
        "DeleteSigningCertificate",
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
    let e = moto
        .call("GetUser", &[("UserName", "carol")])
        .await
        .unwrap_err();
    assert!(e.contains("NoSuchEntity"), "{e}");
    assert!(c.verify(&delete).await.unwrap().verified);

    // Idempotent: deleting again changes nothing and verifies.
    let again = c.execute(&delete).await.unwrap();
    assert!(!again.changed, "{again:?}");
    assert!(c.verify(&delete).await.unwrap().verified);
    // The bystander keeps everything.
    moto.must("GetUser", &[("UserName", "carl")]).await;
    assert_eq!(
        access_key_statuses(&moto, "carl").await,
        vec!["Active", "Active"]
    );
}

#[tokio::test]
async fn the_user_is_discovered_by_its_email_tag() {
    let moto = moto().await;
    moto.seed_full_user("f.ranck", Some("Frank@Example.com"))
        .await;
    moto.must(
        "CreateUser",
        &[
            ("UserName", "someone-else"),
            ("Tags.member.1.Key", "email"),
            ("Tags.member.1.Value", "other@example.com"),
        ],
    )
    .await;
    moto.must("CreateAccessKey", &[("UserName", "someone-else")])
        .await;
    let c = connector(&moto);
    let frank = Identity::new("frank@example.com");
    let disable = request("disable_user", &frank, json!({}));
    let preview = c.preview(&disable).await.unwrap();
    assert!(
        preview
            .would_revoke
            .iter()
            .any(|h| h.kind == "access_key" && h.description.contains("IAM user f.ranck")),
        "{preview:#?}"
    );
    let outcome = c.execute(&disable).await.unwrap();
    assert!(outcome.changed);
    assert_eq!(outcome.details["user"], "f.ranck");
    assert_eq!(outcome.details["found_by"], "tag email=<email>");
    assert_eq!(outcome.details["account"], MOTO_ACCOUNT);
    assert!(moto.actions().iter().any(|a| a == "ListUserTags"));
    assert!(c.verify(&disable).await.unwrap().verified);
    // The other user was not touched.
    assert_eq!(
        access_key_statuses(&moto, "someone-else").await,
        vec!["Active"]
    );
    let residual = c.inventory(&frank, &[disable]).await.unwrap();
    assert!(residual.is_empty(), "{residual:#?}");
}

#[tokio::test]
async fn a_user_that_does_not_exist_is_reported_clearly() {
    let moto = moto().await;
    let c = connector(&moto);
    let ghost = person("ghost");
    for action in ["disable_user", "revoke_sessions"] {
        let e = c
            .execute(&request(action, &ghost, json!({})))
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::Permanent, "{e}");
        assert!(e.message.contains("IAM user `ghost` does not exist"), "{e}");
        assert!(e.message.contains(MOTO_ACCOUNT), "{e}");
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
    assert!(e.message.contains("tag email=nobody@example.com"), "{e}");
    // Deleting a user that is not there is already done.
    let outcome = c
        .execute(&request("delete_user", &ghost, json!({})))
        .await
        .unwrap();
    assert!(!outcome.changed);
    assert!(c
        .inventory(&ghost, &[request("disable_user", &ghost, json!({}))])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_account_parameter_selects_the_role_to_assume() {
    let moto = moto().await;
    // In moto, credentials from AssumeRole act in the role's account.
    let role_arn = "arn:aws:iam::111111111111:role/Leaver";
    let key = moto.assume_role(role_arn).await;
    moto.must_as(&key, "CreateUser", &[("UserName", "henry")])
        .await;
    moto.must_as(&key, "CreateAccessKey", &[("UserName", "henry")])
        .await;

    let mut config = config(&moto);
    config.accounts.insert(
        "prod".into(),
        AwsAccountConfig {
            role_arn: Some(role_arn.into()),
            external_id: Some("leaver-external-id".into()),
            ..AwsAccountConfig::default()
        },
    );
    let c = connector_with(config);
    let henry = person("henry");
    // Not in the connector's own account...
    let e = c
        .execute(&request("disable_user", &henry, json!({})))
        .await
        .unwrap_err();
    assert!(e.message.contains(MOTO_ACCOUNT), "{e}");
    // ...but in `prod`, through the role.
    let disable = request("disable_user", &henry, json!({"account": "prod"}));
    let outcome = c.execute(&disable).await.unwrap();
    assert!(outcome.changed, "{outcome:?}");
    assert_eq!(outcome.details["account"], "111111111111");
    assert!(moto.actions().iter().any(|a| a == "AssumeRole"));
    assert!(c.verify(&disable).await.unwrap().verified);
    let by_id = request("disable_user", &henry, json!({"account": "111111111111"}));
    assert!(c.verify(&by_id).await.unwrap().verified);
}
