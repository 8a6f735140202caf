//! The real moto server (`moto_server` from the test virtualenv) on a free port of
//! 127.0.0.1, behind a recording proxy: the proxy logs the `Action` of every call the
//! connector makes (so tests can check the order of calls), and answers the
//! ServiceSpecificCredential actions, which moto 5.2.5 does not implement (it answers
//! 500), from its own table in IAM's documented XML. Everything else is moto's.
//!
//! Shared by `connectors/aws_iam/tests` and the root `tests/aws_iam_plan.rs` (through
//! `#[path]`), so it uses only tokio, axum and reqwest.
#![allow(dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The account moto gives the dummy credentials.
pub const MOTO_ACCOUNT: &str = "123456789012";
/// Dummy credentials: moto accepts any.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing-secret-CANARY-4c1d";

const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// A service-specific credential held by the proxy.
#[derive(Debug, Clone)]
struct Ssc {
    id: String,
    user: String,
    service: String,
    active: bool,
}

#[derive(Default)]
struct Shared {
    actions: Mutex<Vec<String>>,
    sscs: Mutex<Vec<Ssc>>,
}

#[derive(Clone)]
struct ProxyState {
    moto: String,
    http: reqwest::Client,
    shared: Arc<Shared>,
}

/// A running moto server and its proxy; moto is killed on drop.
pub struct Moto {
    child: Child,
    /// moto itself (for seeding).
    pub direct_url: String,
    /// The recording proxy: what the connector is configured with.
    pub url: String,
    shared: Arc<Shared>,
    http: reqwest::Client,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `moto_server` from the virtualenv (LEAVER_TEST_MOTO overrides).
pub fn moto_binary(workspace_root: &Path) -> PathBuf {
    let binary = std::env::var_os("LEAVER_TEST_MOTO")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root.join(".venv/bin/moto_server"));
    assert!(
        binary.exists(),
        "{} is missing: the AWS IAM tests run against moto from the test virtualenv; run \
         scripts/test.sh once to create it (or python3 -m venv .venv && .venv/bin/pip install -r \
         scripts/requirements-test.txt), or point LEAVER_TEST_MOTO at a moto_server",
        binary.display()
    );
    binary
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Moto {
    /// Start moto and the proxy; waits until moto answers.
    pub async fn start(workspace_root: &Path) -> Moto {
        let binary = moto_binary(workspace_root);
        let port = free_port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let direct_url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut moto = Moto {
            child,
            direct_url: direct_url.clone(),
            url: String::new(),
            shared: Arc::new(Shared::default()),
            http: http.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("{direct_url}/moto-api/"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok();
            if ready {
                break;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited at start ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {direct_url} within 30s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let state = ProxyState {
            moto: direct_url,
            http,
            shared: moto.shared.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        moto.url = format!("http://{}", listener.local_addr().expect("proxy addr"));
        let app = axum::Router::new().fallback(proxy).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        moto
    }

    /// The Actions called through the proxy so far, in order.
    pub fn actions(&self) -> Vec<String> {
        self.shared.actions.lock().unwrap().clone()
    }

    /// Forget the recorded Actions.
    pub fn clear_actions(&self) {
        self.shared.actions.lock().unwrap().clear();
    }

    /// Give `user` an active service-specific credential; returns its id.
    pub fn add_service_specific_credential(&self, user: &str, service: &str) -> String {
        let mut sscs = self.shared.sscs.lock().unwrap();
        let id = format!("ACCA{:016}", sscs.len() + 1);
        sscs.push(Ssc {
            id: id.clone(),
            user: user.to_string(),
            service: service.to_string(),
            active: true,
        });
        id
    }

    /// The ids of `user`'s service-specific credentials.
    pub fn service_specific_credentials(&self, user: &str) -> Vec<String> {
        self.shared
            .sscs
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.user == user)
            .map(|c| c.id.clone())
            .collect()
    }

    /// One IAM Query call straight to moto (seeding and checks); the XML answer, or
    /// the status and body of a failure.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<String, String> {
        self.call_as(ACCESS_KEY_ID, action, params).await
    }

    /// As [`Moto::call`], signed (as far as moto looks) with another access key id: in
    /// moto, keys from `AssumeRole` act in the role's account.
    pub async fn call_as(
        &self,
        access_key_id: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<String, String> {
        let mut form: Vec<(&str, &str)> = vec![("Action", action), ("Version", "2010-05-08")];
        form.extend_from_slice(params);
        let response = self
            .http
            .post(&self.direct_url)
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={access_key_id}/20260101/us-east-1/iam/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .form(&form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.text().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{action}: HTTP {status}: {body}"))
        }
    }

    /// `sts:AssumeRole` straight to moto: the access key id of the session (in moto,
    /// it acts in the role's account).
    pub async fn assume_role(&self, role_arn: &str) -> String {
        let response = self
            .http
            .post(&self.direct_url)
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/us-east-1/sts/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .form(&[
                ("Action", "AssumeRole"),
                ("Version", "2011-06-15"),
                ("RoleArn", role_arn),
                ("RoleSessionName", "seed"),
            ])
            .send()
            .await
            .expect("sts:AssumeRole");
        let body = response.text().await.expect("sts:AssumeRole answer");
        xml_value(&body, "AccessKeyId").unwrap_or_else(|| panic!("sts:AssumeRole: {body}"))
    }

    /// As [`Moto::call_as`], panicking on failure.
    pub async fn must_as(
        &self,
        access_key_id: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> String {
        self.call_as(access_key_id, action, params)
            .await
            .unwrap_or_else(|e| panic!("seeding moto: {e}"))
    }

    /// As [`Moto::call`], panicking on failure.
    pub async fn must(&self, action: &str, params: &[(&str, &str)]) -> String {
        self.call(action, params)
            .await
            .unwrap_or_else(|e| panic!("seeding moto: {e}"))
    }
}

/// The text of the first `<tag>` in `xml`.
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_string())
}

/// The text of every `<tag>` in `xml`.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut rest = xml;
    while let Some(value) = xml_value(rest, tag) {
        let open = format!("<{tag}>");
        let at = rest.find(&open).unwrap_or(0) + open.len() + value.len();
        values.push(value);
        rest = &rest[at..];
    }
    values
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    reqwest::Url::parse(&format!("http://x/?{text}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml")], body).into_response()
}

fn not_found(message: &str) -> Response {
    xml(
        StatusCode::NOT_FOUND,
        format!(
            "<ErrorResponse xmlns=\"{IAM_NS}\"><Error><Type>Sender</Type><Code>NoSuchEntity</Code>\
             <Message>{message}</Message></Error><RequestId>leaver-proxy</RequestId></ErrorResponse>"
        ),
    )
}

fn ok(action: &str, result: &str) -> Response {
    xml(
        StatusCode::OK,
        format!(
            "<{action}Response xmlns=\"{IAM_NS}\">{result}<ResponseMetadata><RequestId>leaver-proxy\
             </RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

fn service_specific(state: &ProxyState, action: &str, form: &[(String, String)]) -> Response {
    let user = param(form, "UserName").unwrap_or_default();
    let id = param(form, "ServiceSpecificCredentialId").unwrap_or_default();
    let mut sscs = state.shared.sscs.lock().unwrap();
    match action {
        "ListServiceSpecificCredentials" => {
            let members: String = sscs
                .iter()
                .filter(|c| c.user == user)
                .map(|c| {
                    format!(
                        "<member><UserName>{}</UserName><Status>{}</Status><ServiceUserName>{}-at-{MOTO_ACCOUNT}\
                         </ServiceUserName><CreateDate>2026-01-01T00:00:00Z</CreateDate>\
                         <ServiceSpecificCredentialId>{}</ServiceSpecificCredentialId>\
                         <ServiceName>{}</ServiceName></member>",
                        c.user,
                        if c.active { "Active" } else { "Inactive" },
                        c.user,
                        c.id,
                        c.service
                    )
                })
                .collect();
            ok(
                action,
                &format!(
                    "<{action}Result><ServiceSpecificCredentials>{members}</ServiceSpecificCredentials>\
                     <IsTruncated>false</IsTruncated></{action}Result>"
                ),
            )
        }
        "DeleteServiceSpecificCredential" => {
            let before = sscs.len();
            sscs.retain(|c| !(c.user == user && c.id == id));
            if sscs.len() == before {
                not_found(&format!("No such credential {id}"))
            } else {
                ok(action, "")
            }
        }
        _ => match sscs.iter_mut().find(|c| c.user == user && c.id == id) {
            Some(c) => {
                c.active = param(form, "Status") != Some("Inactive");
                ok(action, "")
            }
            None => not_found(&format!("No such credential {id}")),
        },
    }
}

async fn proxy(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form(&body);
    if let Some(action) = param(&form, "Action") {
        state
            .shared
            .actions
            .lock()
            .unwrap()
            .push(action.to_string());
        if action.contains("ServiceSpecificCredential") {
            return service_specific(&state, action, &form);
        }
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = state
        .http
        .request(method, format!("{}{path}", state.moto))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let content_type = answer.headers().get("content-type").cloned();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            if let Some(value) = content_type {
                response.headers_mut().insert("content-type", value);
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// What a fully equipped user was given.
pub struct Seeded {
    pub user: String,
    pub access_keys: Vec<String>,
    pub secret_keys: Vec<String>,
    pub mfa_serial: String,
    pub ssh_key: String,
    pub certificate: String,
    pub service_credential: String,
    pub groups: Vec<String>,
    pub inline_policy: String,
    pub managed_policy: String,
    pub password: String,
}

const SIGNING_CERT: &str = include_str!("../fixtures/signing-cert.pem");
const SSH_KEY: &str = include_str!("../fixtures/ssh-key.pub");
const ALLOW_S3: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

impl Moto {
    /// A user with everything `disable_user` removes: two access keys, a login profile,
    /// an enabled virtual MFA device, an SSH key, a signing certificate, a
    /// service-specific credential, two groups, an inline and a managed policy; tagged
    /// `email=<email>` when given.
    pub async fn seed_full_user(&self, user: &str, email: Option<&str>) -> Seeded {
        match email {
            Some(email) => {
                self.must(
                    "CreateUser",
                    &[
                        ("UserName", user),
                        ("Tags.member.1.Key", "email"),
                        ("Tags.member.1.Value", email),
                    ],
                )
                .await
            }
            None => self.must("CreateUser", &[("UserName", user)]).await,
        };
        let mut access_keys = Vec::new();
        let mut secret_keys = Vec::new();
        for _ in 0..2 {
            let answer = self.must("CreateAccessKey", &[("UserName", user)]).await;
            access_keys.push(xml_value(&answer, "AccessKeyId").expect("AccessKeyId"));
            secret_keys.push(xml_value(&answer, "SecretAccessKey").expect("SecretAccessKey"));
        }
        let password = format!("Pw-CANARY-{user}-9f2e!");
        self.must(
            "CreateLoginProfile",
            &[("UserName", user), ("Password", &password)],
        )
        .await;
        let device = format!("{user}-mfa");
        let answer = self
            .must(
                "CreateVirtualMFADevice",
                &[("VirtualMFADeviceName", &device)],
            )
            .await;
        let mfa_serial = xml_value(&answer, "SerialNumber").expect("SerialNumber");
        self.must(
            "EnableMFADevice",
            &[
                ("UserName", user),
                ("SerialNumber", &mfa_serial),
                ("AuthenticationCode1", "123456"),
                ("AuthenticationCode2", "654321"),
            ],
        )
        .await;
        let answer = self
            .must(
                "UploadSSHPublicKey",
                &[("UserName", user), ("SSHPublicKeyBody", SSH_KEY.trim())],
            )
            .await;
        let ssh_key = xml_value(&answer, "SSHPublicKeyId").expect("SSHPublicKeyId");
        let answer = self
            .must(
                "UploadSigningCertificate",
                &[("UserName", user), ("CertificateBody", SIGNING_CERT)],
            )
            .await;
        let certificate = xml_value(&answer, "CertificateId").expect("CertificateId");
        let service_credential =
            self.add_service_specific_credential(user, "codecommit.amazonaws.com");
        let mut groups = Vec::new();
        for group in ["developers", "oncall"] {
            let group = format!("{user}-{group}");
            let _ = self.call("CreateGroup", &[("GroupName", &group)]).await;
            self.must(
                "AddUserToGroup",
                &[("UserName", user), ("GroupName", &group)],
            )
            .await;
            groups.push(group);
        }
        let inline_policy = "s3-everything".to_string();
        self.must(
            "PutUserPolicy",
            &[
                ("UserName", user),
                ("PolicyName", &inline_policy),
                ("PolicyDocument", ALLOW_S3),
            ],
        )
        .await;
        let answer = self
            .must(
                "CreatePolicy",
                &[
                    ("PolicyName", &format!("{user}-s3")),
                    ("PolicyDocument", ALLOW_S3),
                ],
            )
            .await;
        let managed_policy = xml_value(&answer, "Arn").expect("policy Arn");
        self.must(
            "AttachUserPolicy",
            &[("UserName", user), ("PolicyArn", &managed_policy)],
        )
        .await;
        Seeded {
            user: user.to_string(),
            access_keys,
            secret_keys,
            mfa_serial,
            ssh_key,
            certificate,
            service_credential,
            groups,
            inline_policy,
            managed_policy,
            password,
        }
    }
}
