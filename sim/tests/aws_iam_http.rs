//! The simulated AWS IAM over real HTTP, driven with a plain reqwest client sending
//! Query API forms: XML shapes, errors, pagination, DeleteConflict, auth, STS, faults.

use leaver_sim::aws_iam::{IamSim, IamSimConfig};
use leaver_sim::faults::{Fault, FaultRule};
use reqwest::{Client, StatusCode};
use std::time::Duration;

async fn sim() -> IamSim {
    IamSim::start(IamSimConfig::default())
        .await
        .expect("sim starts")
}

fn sigv4(akid: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={akid}/20250101/us-east-1/{service}/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, Signature=deadbeef"
    )
}

/// POST a form with these headers; (status, body).
async fn post(sim: &IamSim, body: &str, headers: &[(&str, String)]) -> (StatusCode, String) {
    let mut request = Client::new()
        .post(format!("{}/", sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.text().await.unwrap())
}

fn form(action: &str, version: &str, params: &[(&str, &str)]) -> String {
    let mut f = form_urlencoded::Serializer::new(String::new());
    f.append_pair("Action", action)
        .append_pair("Version", version);
    for (k, v) in params {
        f.append_pair(k, v);
    }
    f.finish()
}

/// An IAM call signed with the configured key.
async fn iam(sim: &IamSim, action: &str, params: &[(&str, &str)]) -> (StatusCode, String) {
    let auth = sigv4(sim.access_key_id(), "iam");
    post(
        sim,
        &form(action, "2010-05-08", params),
        &[("authorization", auth)],
    )
    .await
}

/// The text of the first `<name>` element.
fn xml_value(body: &str, name: &str) -> Option<String> {
    xml_values(body, name).into_iter().next()
}

/// The text of every `<name>` element.
fn xml_values(body: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(after[..end].to_string());
        rest = &after[end + close.len()..];
    }
    out
}

fn assert_error(status: StatusCode, body: &str, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert!(body.starts_with("<ErrorResponse"), "{body}");
    assert_eq!(xml_value(body, "Code").as_deref(), Some(code), "{body}");
    assert!(xml_value(body, "RequestId").is_some(), "{body}");
}

#[tokio::test]
async fn requests_need_a_sigv4_header_with_the_configured_key() {
    let sim = sim().await;
    sim.account().create_user("alice", &[]);
    let body = form("GetUser", "2010-05-08", &[("UserName", "alice")]);
    let (status, text) = post(&sim, &body, &[]).await;
    assert_error(
        status,
        &text,
        StatusCode::FORBIDDEN,
        "MissingAuthenticationToken",
    );
    let (status, text) = post(
        &sim,
        &body,
        &[("authorization", sigv4("AKIAUNKNOWN000000000", "iam"))],
    )
    .await;
    assert_error(status, &text, StatusCode::FORBIDDEN, "InvalidClientTokenId");
    assert_eq!(xml_value(&text, "Type").as_deref(), Some("Sender"));
    let (status, text) = post(&sim, &body, &[("authorization", "Bearer x".into())]).await;
    assert_error(
        status,
        &text,
        StatusCode::BAD_REQUEST,
        "IncompleteSignature",
    );
    let (status, _) = iam(&sim, "GetUser", &[("UserName", "alice")]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn get_user_answers_the_documented_xml_and_no_such_entity() {
    let sim = sim().await;
    let arn = sim
        .account()
        .create_user("alice", &[("email", "alice@example.com")]);
    let (status, body) = iam(&sim, "GetUser", &[("UserName", "ALICE")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.starts_with(
            "<GetUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetUserResult><User>"
        ),
        "{body}"
    );
    assert!(
        body.ends_with("</ResponseMetadata></GetUserResponse>"),
        "{body}"
    );
    assert_eq!(xml_value(&body, "UserName").as_deref(), Some("alice"));
    assert_eq!(xml_value(&body, "Arn"), Some(arn));
    assert_eq!(xml_value(&body, "Path").as_deref(), Some("/"));
    assert!(xml_value(&body, "UserId").unwrap().starts_with("AIDA"));
    let created = xml_value(&body, "CreateDate").unwrap();
    assert!(created.ends_with('Z') && created.contains('T'), "{created}");
    assert!(body.contains(
        "<Tags><member><Key>email</Key><Value>alice@example.com</Value></member></Tags>"
    ));

    let (status, body) = iam(&sim, "GetUser", &[("UserName", "ghost")]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NoSuchEntity");
    assert_eq!(
        xml_value(&body, "Message").as_deref(),
        Some("The user with name ghost cannot be found.")
    );
    assert!(body.contains("<Error><Type>Sender</Type><Code>NoSuchEntity</Code>"));
}

#[tokio::test]
async fn actions_without_output_answer_only_response_metadata() {
    let sim = sim().await;
    let iam_account = sim.account();
    iam_account.create_user("bob", &[]);
    let (key, _) = iam_account.add_access_key("bob").unwrap();
    let (status, body) = iam(
        &sim,
        "UpdateAccessKey",
        &[
            ("UserName", "bob"),
            ("AccessKeyId", &key),
            ("Status", "Inactive"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.starts_with("<UpdateAccessKeyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata><RequestId>"),
        "{body}"
    );
    assert!(!body.contains("UpdateAccessKeyResult"));
    let (_, body) = iam(&sim, "ListAccessKeys", &[("UserName", "bob")]).await;
    assert_eq!(xml_value(&body, "Status").as_deref(), Some("Inactive"));
    assert_eq!(xml_value(&body, "AccessKeyId"), Some(key.clone()));
    assert_eq!(xml_value(&body, "IsTruncated").as_deref(), Some("false"));
    let (status, body) = iam(
        &sim,
        "UpdateAccessKey",
        &[
            ("UserName", "bob"),
            ("AccessKeyId", &key),
            ("Status", "Paused"),
        ],
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
}

#[tokio::test]
async fn listings_paginate_with_marker_and_max_items() {
    let sim = sim().await;
    for i in 0..5 {
        sim.account().create_user(&format!("user{i}"), &[]);
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = vec![("MaxItems", "2")];
        if let Some(m) = &marker {
            params.push(("Marker", m));
        }
        let (status, body) = iam(&sim, "ListUsers", &params).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        seen.extend(xml_values(&body, "UserName"));
        match xml_value(&body, "IsTruncated").as_deref() {
            Some("true") => marker = Some(xml_value(&body, "Marker").expect("a marker")),
            Some("false") => {
                assert!(xml_value(&body, "Marker").is_none(), "{body}");
                break;
            }
            other => panic!("IsTruncated {other:?}"),
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec!["user0", "user1", "user2", "user3", "user4"]);

    let (status, body) = iam(&sim, "ListUsers", &[("MaxItems", "0")]).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
    let (status, body) = iam(&sim, "ListUsers", &[("Marker", "not-a-marker")]).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");

    // Every user listing pages the same way.
    let iam_account = sim.account();
    iam_account.put_user_policy("user0", "a", "{}");
    iam_account.put_user_policy("user0", "b", "{}");
    let (_, body) = iam(
        &sim,
        "ListUserPolicies",
        &[("UserName", "user0"), ("MaxItems", "1")],
    )
    .await;
    assert!(
        body.contains(
            "<PolicyNames><member>a</member></PolicyNames><IsTruncated>true</IsTruncated><Marker>"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn delete_user_conflicts_while_anything_is_attached() {
    let sim = sim().await;
    let account = sim.account();
    let seeded = account.seed_full_user("carol", None).unwrap();
    let (status, body) = iam(&sim, "DeleteUser", &[("UserName", "carol")]).await;
    assert_error(status, &body, StatusCode::CONFLICT, "DeleteConflict");
    assert!(
        xml_value(&body, "Message")
            .unwrap()
            .starts_with("Cannot delete entity, must"),
        "{body}"
    );
    // A virtual MFA device cannot be deleted while it is assigned.
    let (status, body) = iam(
        &sim,
        "DeleteVirtualMFADevice",
        &[("SerialNumber", &seeded.mfa_serial)],
    )
    .await;
    assert_error(status, &body, StatusCode::CONFLICT, "DeleteConflict");

    let user = [("UserName", "carol")];
    let with = |extra: (&'static str, String)| {
        let mut p: Vec<(&str, String)> = vec![("UserName", "carol".to_string())];
        p.push(extra);
        p
    };
    let mut steps: Vec<(&str, Vec<(&str, String)>)> = Vec::new();
    for (id, _) in &seeded.access_keys {
        steps.push(("DeleteAccessKey", with(("AccessKeyId", id.clone()))));
    }
    steps.push(("DeleteLoginProfile", vec![("UserName", "carol".into())]));
    steps.push((
        "DeleteSigningCertificate",
        with(("CertificateId", seeded.certificate.clone())),
    ));
    steps.push((
        "DeleteSSHPublicKey",
        with(("SSHPublicKeyId", seeded.ssh_key.clone())),
    ));
    steps.push((
        "DeleteServiceSpecificCredential",
        with((
            "ServiceSpecificCredentialId",
            seeded.service_credential.clone(),
        )),
    ));
    steps.push((
        "DeactivateMFADevice",
        with(("SerialNumber", seeded.mfa_serial.clone())),
    ));
    steps.push((
        "DeleteVirtualMFADevice",
        vec![("SerialNumber", seeded.mfa_serial.clone())],
    ));
    for group in &seeded.groups {
        steps.push(("RemoveUserFromGroup", with(("GroupName", group.clone()))));
    }
    steps.push((
        "DeleteUserPolicy",
        with(("PolicyName", seeded.inline_policy.clone())),
    ));
    for (action, params) in &steps {
        let (status, body) = iam(&sim, "DeleteUser", &user).await;
        assert_error(status, &body, StatusCode::CONFLICT, "DeleteConflict");
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = iam(&sim, action, &params).await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
    }
    let (status, body) = iam(&sim, "DeleteUser", &user).await;
    assert_error(status, &body, StatusCode::CONFLICT, "DeleteConflict");
    assert!(body.contains("must detach all policies first"), "{body}");
    let (status, _) = iam(
        &sim,
        "DetachUserPolicy",
        &[("UserName", "carol"), ("PolicyArn", &seeded.managed_policy)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = iam(&sim, "DeleteUser", &user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!account.user_exists("carol"));
    assert!(account.virtual_mfa_devices().is_empty());
    let (status, body) = iam(&sim, "DeleteUser", &user).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NoSuchEntity");
    // Removing something already gone is NoSuchEntity too.
    let (status, body) = iam(
        &sim,
        "DeleteVirtualMFADevice",
        &[("SerialNumber", &seeded.mfa_serial)],
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NoSuchEntity");
}

#[tokio::test]
async fn policies_round_trip_url_encoded_and_are_checked() {
    let sim = sim().await;
    sim.account().create_user("dan", &[]);
    sim.account().create_role("ops-admin", None);
    let document =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    for (put, get, who) in [
        ("PutUserPolicy", "GetUserPolicy", ("UserName", "dan")),
        ("PutRolePolicy", "GetRolePolicy", ("RoleName", "ops-admin")),
    ] {
        let (status, body) = iam(
            &sim,
            put,
            &[who, ("PolicyName", "deny"), ("PolicyDocument", document)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = iam(&sim, get, &[who, ("PolicyName", "deny")]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let encoded = xml_value(&body, "PolicyDocument").unwrap();
        assert!(encoded.starts_with("%7B%22Version%22"), "{encoded}");
        let (status, body) = iam(&sim, get, &[who, ("PolicyName", "other")]).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NoSuchEntity");
    }
    assert_eq!(
        sim.account().role_policy("ops-admin", "deny").as_deref(),
        Some(document)
    );
    let (status, body) = iam(
        &sim,
        "PutUserPolicy",
        &[
            ("UserName", "dan"),
            ("PolicyName", "bad"),
            ("PolicyDocument", "not json"),
        ],
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "MalformedPolicyDocument",
    );
    let (status, body) = iam(
        &sim,
        "PutRolePolicy",
        &[
            ("RoleName", "nope"),
            ("PolicyName", "p"),
            ("PolicyDocument", "{}"),
        ],
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NoSuchEntity");
}

#[tokio::test]
async fn malformed_requests_get_aws_style_400s() {
    let sim = sim().await;
    let auth = || vec![("authorization", sigv4(sim.access_key_id(), "iam"))];
    let (status, body) = iam(&sim, "ListAccessKeys", &[]).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
    assert!(
        body.contains("Value null at &apos;userName&apos;"),
        "{body}"
    );
    let (status, body) = post(&sim, "Version=2010-05-08", &auth()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "MissingAction");
    let (status, body) = iam(&sim, "CreateUniverse", &[]).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "InvalidAction");
    let (status, body) = post(&sim, "Action=GetUser&Version=1999-01-01", &auth()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "InvalidAction");
    let response = Client::new()
        .post(format!("{}/", sim.base_url()))
        .header("authorization", sigv4(sim.access_key_id(), "iam"))
        .body(vec![0xffu8, 0xfe, b'=', 0x80])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.unwrap();
    assert_eq!(
        xml_value(&body, "Code").as_deref(),
        Some("MalformedQueryString")
    );
    let (status, _) = post(&sim, "&&==&Action&=x", &auth()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sts_identity_and_assumed_roles_act_in_the_role_account() {
    let sim = sim().await;
    let auth = vec![("authorization", sigv4(sim.access_key_id(), "sts"))];
    let (status, body) = post(&sim, &form("GetCallerIdentity", "2011-06-15", &[]), &auth).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>"
    ));
    assert_eq!(xml_value(&body, "Account").as_deref(), Some("123456789012"));

    let prod = sim.account_with_id("111111111111");
    let role_arn = prod.create_role("Leaver", Some("ext-1"));
    prod.create_user("henry", &[]);
    let assume = |external: &'static str| {
        form(
            "AssumeRole",
            "2011-06-15",
            &[
                ("RoleArn", role_arn.as_str()),
                ("RoleSessionName", "leaver"),
                ("ExternalId", external),
            ],
        )
    };
    let (status, body) = post(&sim, &assume("wrong"), &auth).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "AccessDenied");
    assert!(body.contains("sts.amazonaws.com/doc/2011-06-15"), "{body}");
    let (status, body) = post(&sim, &assume("ext-1"), &auth).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let akid = xml_value(&body, "AccessKeyId").unwrap();
    let token = xml_value(&body, "SessionToken").unwrap();
    assert!(akid.starts_with("ASIA"));
    assert!(xml_value(&body, "Expiration").is_some());

    let get_henry = form("GetUser", "2010-05-08", &[("UserName", "henry")]);
    let (status, body) = post(&sim, &get_henry, &[("authorization", sigv4(&akid, "iam"))]).await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
    );
    let role_auth = vec![
        ("authorization", sigv4(&akid, "iam")),
        ("x-amz-security-token", token),
    ];
    let (status, body) = post(&sim, &get_henry, &role_auth).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("arn:aws:iam::111111111111:user/henry"));
    // Henry is not in the default account.
    let (status, _) = iam(&sim, "GetUser", &[("UserName", "henry")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = post(
        &sim,
        &form("GetCallerIdentity", "2011-06-15", &[]),
        &role_auth,
    )
    .await;
    assert_eq!(xml_value(&body, "Account").as_deref(), Some("111111111111"));
    assert!(body.contains("assumed-role/Leaver/leaver"), "{body}");
}

#[tokio::test]
async fn faults_are_rendered_as_iam_answers() {
    let sim = sim().await;
    sim.account().create_user("erin", &[]);
    let user = [("UserName", "erin")];
    sim.faults()
        .too_many_requests_next(1, Duration::from_secs(1));
    let (status, body) = iam(&sim, "GetUser", &user).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "Throttling");
    assert_eq!(
        xml_value(&body, "Message").as_deref(),
        Some("Rate exceeded")
    );
    sim.faults().fail_next(1, 503);
    let (status, body) = iam(&sim, "GetUser", &user).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
    );
    assert_eq!(xml_value(&body, "Type").as_deref(), Some("Receiver"));
    sim.faults().fail_next(1, 500);
    let (status, body) = iam(&sim, "GetUser", &user).await;
    assert_error(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceFailure",
    );

    // Scoped by action: `/DeleteUser/` is DeleteUser only, not DeleteUserPolicy.
    sim.account().put_user_policy("erin", "p", "{}");
    sim.faults()
        .inject(FaultRule::next(1, Fault::Status(500)).on_path("/DeleteUser/"));
    let (status, _) = iam(
        &sim,
        "DeleteUserPolicy",
        &[("UserName", "erin"), ("PolicyName", "p")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = iam(&sim, "DeleteUser", &user).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        sim.account().user_exists("erin"),
        "a faulted call is not applied"
    );

    sim.faults().hang_next(1, Duration::from_millis(200));
    let (status, _) = iam(&sim, "GetUser", &user).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);

    let records = sim.requests();
    let faulted: Vec<_> = records.iter().filter(|r| r.fault.is_some()).collect();
    assert_eq!(faulted.len(), 5);
    assert_eq!(faulted[0].error_code.as_deref(), Some("Throttling"));
    assert_eq!(sim.faults().injected(), 5);
}

#[tokio::test]
async fn the_request_log_keeps_every_call_in_order() {
    let sim = sim().await;
    sim.account().create_user("fay", &[]);
    iam(&sim, "GetUser", &[("UserName", "fay")]).await;
    iam(&sim, "GetLoginProfile", &[("UserName", "fay")]).await;
    iam(&sim, "DeleteUser", &[("UserName", "fay")]).await;
    assert_eq!(
        sim.actions(),
        vec!["GetUser", "GetLoginProfile", "DeleteUser"]
    );
    let records = sim.requests();
    assert_eq!(records[1].error_code.as_deref(), Some("NoSuchEntity"));
    assert_eq!(records[1].status, 404);
    assert_eq!(records[2].status, 200);
    assert_eq!(
        records[0].params.get("UserName").map(String::as_str),
        Some("fay")
    );
    assert_eq!(records[0].account_id.as_deref(), Some("123456789012"));
    assert_eq!(sim.request_count(), 3);
    sim.clear_requests();
    assert!(sim.actions().is_empty());
}
