//! Access keys of service users (what rotations call): create a key, list, deactivate,
//! against the simulated IAM of `leaver-sim` and against the real moto server.
//! IAM allows two keys per user: a third is refused before `CreateAccessKey` is sent.

mod support {
    pub mod moto;
}

use aws_credential_types::Credentials;
use leaver_connector::ErrorClass;
use leaver_connector_aws_iam::keys::AccessKeyInfo;
use leaver_connector_aws_iam::{AwsIamConfig, AwsIamConnector};
use leaver_sim::aws_iam::{IamSim, IamSimConfig};
use secrecy::ExposeSecret;
use std::path::Path;
use std::time::Duration;
use support::moto::{xml_values, Moto, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

fn connector(endpoint: String, credentials: Credentials) -> AwsIamConnector {
    AwsIamConnector::with_credentials(
        AwsIamConfig {
            endpoint_url: Some(endpoint),
            max_attempts: 1,
            request_timeout: Duration::from_secs(20),
            ..AwsIamConfig::default()
        },
        credentials,
    )
    .expect("connector")
}

/// Create → two keys, both active; deactivate the old one → Inactive; a third key is
/// refused with a message that names the quota (and holds no secret).
async fn rotate_once(iam: &AwsIamConnector, user: &str, old: &str) -> String {
    let new = iam.create_access_key(None, user).await.unwrap();
    assert_eq!(new.user, user);
    assert!(new.access_key_id.starts_with("AKIA"), "{new:?}");
    let secret = new.secret_access_key.expose_secret().to_string();
    assert!(secret.len() >= 20);
    assert!(!format!("{new:?}").contains(&secret));
    let keys = iam.list_access_keys(None, user).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&AccessKeyInfo {
        access_key_id: new.access_key_id.clone(),
        active: true
    }));
    iam.deactivate_access_key(None, user, old).await.unwrap();
    // Idempotent.
    iam.deactivate_access_key(None, user, old).await.unwrap();
    let keys = iam.list_access_keys(None, user).await.unwrap();
    assert!(keys.contains(&AccessKeyInfo {
        access_key_id: old.to_string(),
        active: false
    }));
    let third = iam.create_access_key(None, user).await.unwrap_err();
    assert_eq!(third.class, ErrorClass::Permanent);
    assert!(
        third.message.contains("AWS allows two"),
        "{}",
        third.message
    );
    assert!(!third.message.contains(&secret));
    secret
}

#[tokio::test]
async fn access_keys_against_the_simulator() {
    let sim = IamSim::start(IamSimConfig::default()).await.unwrap();
    let account = sim.account();
    account.create_user("ci-deployer", &[]);
    let (old, _) = account.add_access_key("ci-deployer").unwrap();
    let iam = connector(
        sim.base_url(),
        Credentials::new(
            sim.access_key_id(),
            sim.secret_access_key(),
            None,
            None,
            "keys-test",
        ),
    );
    rotate_once(&iam, "ci-deployer", &old).await;
    // The limit was checked by listing: CreateAccessKey was sent once.
    let creates = sim
        .actions()
        .into_iter()
        .filter(|a| a == "CreateAccessKey")
        .count();
    assert_eq!(creates, 1);
    let snapshot = account.user("ci-deployer").unwrap();
    assert_eq!(snapshot.access_keys.len(), 2);

    // IAM's own refusal, for a caller that does not look first.
    let http = reqwest::Client::new();
    let response = http
        .post(sim.base_url())
        .header(
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/20240101/us-east-1/iam/aws4_request, \
                 SignedHeaders=host, Signature=00",
                sim.access_key_id()
            ),
        )
        .form(&[
            ("Action", "CreateAccessKey"),
            ("Version", "2010-05-08"),
            ("UserName", "ci-deployer"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let body = response.text().await.unwrap();
    assert!(body.contains("<Code>LimitExceeded</Code>"), "{body}");
    assert!(
        body.contains("Cannot exceed quota for AccessKeysPerUser: 2"),
        "{body}"
    );

    // Unknown user: NoSuchEntity, permanent.
    let e = iam.create_access_key(None, "nobody").await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("nobody"), "{}", e.message);
}

#[tokio::test]
async fn access_keys_against_moto() {
    let moto = Moto::start(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).await;
    moto.must("CreateUser", &[("UserName", "ci-deployer")])
        .await;
    let created = moto
        .must("CreateAccessKey", &[("UserName", "ci-deployer")])
        .await;
    let old = xml_values(&created, "AccessKeyId")
        .into_iter()
        .next()
        .expect("a key id");
    let iam = connector(
        moto.url.clone(),
        Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "keys-test"),
    );
    let secret = rotate_once(&iam, "ci-deployer", &old).await;
    let actions = moto.actions();
    assert!(
        actions.contains(&"CreateAccessKey".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"UpdateAccessKey".to_string()),
        "{actions:?}"
    );
    // moto's own answer carries the new secret once; our listing never does.
    let listed = moto
        .must("ListAccessKeys", &[("UserName", "ci-deployer")])
        .await;
    assert!(!listed.contains(&secret));
}
