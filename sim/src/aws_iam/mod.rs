//! A simulated AWS IAM (and the STS calls Leaver makes), served over real HTTP on
//! 127.0.0.1 with the Query protocol, so that `aws-sdk-iam` and `aws-sdk-sts` (pointed
//! at [`IamSim::base_url`] with `endpoint_url`) talk to it exactly as to AWS.
//!
//! - **Requests**: `POST /` with a form body `Action=…&Version=2010-05-08&…` (the
//!   query string is read too). `Version=2011-06-15` selects STS on the same endpoint.
//! - **Auth**: a SigV4 `Authorization: AWS4-HMAC-SHA256 Credential=<AKID>/…` header
//!   whose key id is the configured one ([`IamSimConfig::access_key_id`]) or one issued
//!   by `AssumeRole` (then `X-Amz-Security-Token` must carry its session token).
//!   Signatures are not recomputed. Missing header: 403 `MissingAuthenticationToken`;
//!   unknown key id: 403 `InvalidClientTokenId`; temporary key without its token:
//!   403 `SignatureDoesNotMatch`; a header that is not SigV4: 400 `IncompleteSignature`.
//! - **Answers**: `<{Action}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
//!   <{Action}Result>…</{Action}Result><ResponseMetadata><RequestId>…` (no `Result` for
//!   actions without output); errors are `<ErrorResponse><Error><Type>Sender</Type>
//!   <Code>…</Code><Message>…</Message></Error><RequestId>…</RequestId>` with 404
//!   `NoSuchEntity`, 409 `DeleteConflict` / `LimitExceeded` (`CreateAccessKey` past
//!   IAM's two keys per user), 400 `ValidationError` /
//!   `MalformedPolicyDocument` / `MissingAction` / `InvalidAction` /
//!   `MalformedQueryString`, 403 `AccessDenied`.
//! - **Pagination**: `MaxItems` (1–1000, default 100) and an opaque `Marker`; answers
//!   carry `IsTruncated` and, when true, `Marker`.
//! - **Actions**: see [`supported_actions`]. Policy documents come back URL-encoded, as
//!   IAM returns them. `DeleteUser` answers 409 `DeleteConflict` while anything is still
//!   attached (login profile, keys, certificates, SSH keys, service-specific
//!   credentials, an assigned MFA device, groups, inline or attached policies), and
//!   `DeleteVirtualMFADevice` while the device is assigned — as AWS does.
//! - **STS**: `GetCallerIdentity`; `AssumeRole` for a role created with
//!   [`IamAccount::create_role`] in the account of its ARN (its `ExternalId` checked
//!   when the role requires one), whose credentials then act in that account.
//! - **Faults** ([`IamSim::faults`]): the path a fault rule sees is `/<Action>/`, so
//!   `FaultRule::next(1, …).on_path("/DeleteUser/")` hits only `DeleteUser` and
//!   `on_path("/Delete")` every deletion. Rate limits (and an injected 429) answer as
//!   IAM throttles: 400 `Throttling` "Rate exceeded"; 500 `ServiceFailure`; 503
//!   `ServiceUnavailable`; 502/504 a proxy's HTML page; a hang holds the request, then
//!   answers 504.
//!
//! ```no_run
//! # async fn demo() -> Result<(), leaver_sim::SimError> {
//! use leaver_sim::aws_iam::{IamSim, IamSimConfig};
//!
//! let sim = IamSim::start(IamSimConfig::default()).await?;
//! let iam = sim.account();
//! let seeded = iam.seed_full_user("alice", Some("alice@example.com"));
//! assert!(seeded.is_some());
//! // endpoint_url = sim.base_url(), credentials sim.access_key_id() / sim.secret_access_key()
//! assert!(!iam.user("alice").unwrap().is_empty());
//! # Ok(()) }
//! ```

mod actions;
mod auth;
mod error;
mod query;
mod routes;
mod sts;
mod wire;
mod world;

use crate::faults::Faults;
use crate::server::{Bound, Server, ShutdownSignal, SimError};
use auth::Session;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use world::{CredentialKind, World};

/// Every action the simulator serves: IAM's, then STS's.
pub fn supported_actions() -> Vec<&'static str> {
    actions::ACTIONS
        .iter()
        .chain(sts::ACTIONS)
        .copied()
        .collect()
}

/// How to start an [`IamSim`].
#[derive(Clone)]
pub struct IamSimConfig {
    /// The account of the configured credentials (12 digits).
    pub account_id: String,
    /// The access key id clients must sign with.
    pub access_key_id: String,
    /// Its secret (handed to clients; signatures are not checked).
    pub secret_access_key: String,
    /// Name of the IAM user the credentials belong to (`GetCallerIdentity`).
    pub operator_name: String,
    /// Fixed latency added to every answer.
    pub latency: Duration,
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
}

impl Default for IamSimConfig {
    fn default() -> Self {
        Self {
            account_id: "123456789012".into(),
            access_key_id: "AKIASIMLEAVER0000001".into(),
            secret_access_key: "sim/leaver/secret/access/key/0000000001".into(),
            operator_name: "leaver".into(),
            latency: Duration::ZERO,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl fmt::Debug for IamSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamSimConfig")
            .field("account_id", &self.account_id)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("operator_name", &self.operator_name)
            .field("latency", &self.latency)
            .field("listen", &self.listen)
            .finish()
    }
}

/// One request as the simulated IAM saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: SystemTime,
    /// `Action` (empty when missing).
    pub action: String,
    /// The other parameters (`Action` and `Version` left out).
    pub params: BTreeMap<String, String>,
    /// The access key id of the `Authorization` header, when there was one.
    pub access_key_id: Option<String>,
    /// The account the call acted in, once authenticated.
    pub account_id: Option<String>,
    /// The injected fault, if any.
    pub fault: Option<String>,
    /// The error code answered (`NoSuchEntity`, `DeleteConflict`…), if any.
    pub error_code: Option<String>,
    /// Status of the answer (0 if the client went away first).
    pub status: u16,
    /// Time from arrival to answer.
    pub elapsed: Duration,
}

const LOG_CAPACITY: usize = 100_000;

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
}

pub(crate) struct Shared {
    account_id: String,
    access_key_id: String,
    operator_name: String,
    operator_id: String,
    worlds: Mutex<BTreeMap<String, World>>,
    sessions: Mutex<BTreeMap<String, Session>>,
    log: Mutex<VecDeque<RequestRecord>>,
    counters: Counters,
    faults: Faults,
    signal: ShutdownSignal,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn push_log(&self, record: RequestRecord) {
        let mut log = lock(&self.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(record);
    }
}

fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// A running simulated IAM. Dropping it (or [`shutdown`](Self::shutdown)) stops it.
pub struct IamSim {
    shared: Arc<Shared>,
    server: Server,
    secret_access_key: String,
}

impl fmt::Debug for IamSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamSim")
            .field("base_url", &self.server.base_url())
            .field("account_id", &self.shared.account_id)
            .finish_non_exhaustive()
    }
}

impl IamSim {
    /// Bind 127.0.0.1 and start serving, with an empty default account.
    pub async fn start(config: IamSimConfig) -> Result<Self, SimError> {
        if !is_account_id(&config.account_id) {
            return Err(SimError::Config(format!(
                "the account id `{}` is not 12 digits",
                config.account_id
            )));
        }
        let akid = config.access_key_id.trim();
        if akid.is_empty() || akid.contains(['/', ' ', ',']) {
            return Err(SimError::Config(
                "the access key id must be non-empty, without '/', ',' or spaces".into(),
            ));
        }
        let bound = Bound::bind(config.listen).await?;
        let faults = Faults::new();
        faults.set_latency(config.latency);
        let shared = Arc::new(Shared {
            account_id: config.account_id.clone(),
            access_key_id: akid.to_string(),
            operator_name: config.operator_name,
            operator_id: world::aws_id("AIDA", 17),
            worlds: Mutex::new(BTreeMap::from([(
                config.account_id.clone(),
                World::new(&config.account_id),
            )])),
            sessions: Mutex::new(BTreeMap::new()),
            log: Mutex::new(VecDeque::new()),
            counters: Counters::default(),
            faults,
            signal: bound.signal(),
        });
        let server = bound.serve(routes::router(shared.clone()));
        tracing::debug!(base_url = %server.base_url(), "simulated AWS IAM started");
        Ok(Self {
            shared,
            server,
            secret_access_key: config.secret_access_key,
        })
    }

    /// `http://127.0.0.1:<port>` — the `endpoint_url` of IAM and STS.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The runtime fault-injection control (rules see the path `/<Action>/`).
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The account of the configured credentials.
    pub fn account_id(&self) -> &str {
        &self.shared.account_id
    }

    /// The access key id clients must sign with.
    pub fn access_key_id(&self) -> &str {
        &self.shared.access_key_id
    }

    /// Its secret, for the client's credentials.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The default account, for seeding and inspection.
    pub fn account(&self) -> IamAccount<'_> {
        let id = self.shared.account_id.clone();
        self.account_with_id(&id)
    }

    /// Another account (created empty when new), e.g. one reached with `AssumeRole`.
    /// An id that is not 12 digits is used as given (it cannot be reached by ARN).
    pub fn account_with_id(&self, account_id: &str) -> IamAccount<'_> {
        lock(&self.shared.worlds)
            .entry(account_id.to_string())
            .or_insert_with(|| World::new(account_id));
        IamAccount {
            shared: &self.shared,
            id: account_id.to_string(),
        }
    }

    /// Every request received so far (the most recent 100 000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// The `Action` of every request so far, in order.
    pub fn actions(&self) -> Vec<String> {
        lock(&self.shared.log)
            .iter()
            .map(|r| r.action.clone())
            .collect()
    }

    /// Forget the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Requests received so far.
    pub fn request_count(&self) -> u64 {
        self.shared.counters.requests.load(Ordering::Relaxed)
    }

    /// Stop the server: no new connections, in-flight latency and hangs end at once.
    pub async fn shutdown(mut self) {
        self.server.shutdown(Duration::from_secs(5)).await;
    }
}

/// A credential with an id and a status, as [`UserSnapshot`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// Access key id, certificate id, SSH key id or service-specific credential id.
    pub id: String,
    /// `Active` (true) or `Inactive`.
    pub active: bool,
}

/// Everything an IAM user still holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSnapshot {
    /// User name as created.
    pub name: String,
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub arn: String,
    /// Tags, in creation order.
    pub tags: Vec<(String, String)>,
    /// Access keys.
    pub access_keys: Vec<CredentialInfo>,
    /// Whether a console password (login profile) exists.
    pub login_profile: bool,
    /// X.509 signing certificates.
    pub signing_certificates: Vec<CredentialInfo>,
    /// SSH public keys.
    pub ssh_public_keys: Vec<CredentialInfo>,
    /// Service-specific credentials.
    pub service_specific_credentials: Vec<CredentialInfo>,
    /// Serial numbers of the MFA devices enabled for the user.
    pub mfa_devices: Vec<String>,
    /// Names of the groups the user belongs to.
    pub groups: Vec<String>,
    /// Inline policy names.
    pub inline_policies: Vec<String>,
    /// Attached managed policy ARNs.
    pub attached_policies: Vec<String>,
}

impl UserSnapshot {
    /// Whether nothing at all is attached (what `DeleteUser` requires).
    pub fn is_empty(&self) -> bool {
        self.access_keys.is_empty()
            && !self.login_profile
            && self.signing_certificates.is_empty()
            && self.ssh_public_keys.is_empty()
            && self.service_specific_credentials.is_empty()
            && self.mfa_devices.is_empty()
            && self.groups.is_empty()
            && self.inline_policies.is_empty()
            && self.attached_policies.is_empty()
    }

    /// Whether nothing grants access: no active key, certificate, SSH key or
    /// service-specific credential, no login profile, MFA device, group or policy —
    /// except inline policies named in `allowed_inline` (e.g. a deny-only one).
    pub fn grants_nothing(&self, allowed_inline: &[&str]) -> bool {
        let none_active = |list: &[CredentialInfo]| list.iter().all(|c| !c.active);
        none_active(&self.access_keys)
            && none_active(&self.signing_certificates)
            && none_active(&self.ssh_public_keys)
            && none_active(&self.service_specific_credentials)
            && !self.login_profile
            && self.mfa_devices.is_empty()
            && self.groups.is_empty()
            && self
                .inline_policies
                .iter()
                .all(|p| allowed_inline.contains(&p.as_str()))
            && self.attached_policies.is_empty()
    }
}

/// What [`IamAccount::seed_full_user`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededUser {
    /// User name.
    pub user: String,
    /// User ARN.
    pub arn: String,
    /// The two access keys: (id, secret).
    pub access_keys: Vec<(String, String)>,
    /// Serial of the enabled virtual MFA device.
    pub mfa_serial: String,
    /// SSH public key id.
    pub ssh_key: String,
    /// Signing certificate id.
    pub certificate: String,
    /// Service-specific credential id (CodeCommit).
    pub service_credential: String,
    /// Group names (`<user>-developers`, `<user>-oncall`).
    pub groups: Vec<String>,
    /// Inline policy name.
    pub inline_policy: String,
    /// Attached managed policy ARN.
    pub managed_policy: String,
}

const ALLOW_S3: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
const SSH_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDleaversimulatedkey leaver-sim";
const CERTIFICATE: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBleaverSimulatedCertificate\n-----END CERTIFICATE-----";

/// Seeding and inspection of one account of an [`IamSim`]. Seeding functions return
/// `None` (or `false`) when the user does not exist.
#[derive(Clone)]
pub struct IamAccount<'a> {
    shared: &'a Shared,
    id: String,
}

impl fmt::Debug for IamAccount<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamAccount").field("id", &self.id).finish()
    }
}

impl IamAccount<'_> {
    fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut worlds = lock(&self.shared.worlds);
        let world = worlds
            .entry(self.id.clone())
            .or_insert_with(|| World::new(&self.id));
        f(world)
    }

    /// The account id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Create a user with tags (`[("email", "alice@example.com")]`); returns its ARN.
    /// An existing user keeps everything and gets the tags.
    pub fn create_user(&self, name: &str, tags: &[(&str, &str)]) -> String {
        self.with(|w| w.create_user(name, tags))
    }

    /// Add an active access key; returns (access key id, secret access key).
    pub fn add_access_key(&self, user: &str) -> Option<(String, String)> {
        self.with(|w| w.add_access_key(user).ok())
    }

    /// Give the user a console password (login profile).
    pub fn add_login_profile(&self, user: &str) -> bool {
        self.with(|w| match w.user_mut(user) {
            Ok(u) => {
                u.login_profile.get_or_insert_with(SystemTime::now);
                true
            }
            Err(_) => false,
        })
    }

    /// Create the virtual MFA device `device` and enable it for the user; returns its
    /// serial number (`arn:aws:iam::ACCOUNT:mfa/DEVICE`).
    pub fn add_virtual_mfa_device(&self, user: &str, device: &str) -> Option<String> {
        self.with(|w| w.enable_virtual_mfa(user, device).ok())
    }

    /// Enable a hardware MFA device with this serial number for the user.
    pub fn add_hardware_mfa_device(&self, user: &str, serial: &str) -> bool {
        self.with(|w| w.enable_hardware_mfa(user, serial).is_ok())
    }

    /// Upload an SSH public key; returns its id (`APKA…`).
    pub fn add_ssh_public_key(&self, user: &str) -> Option<String> {
        self.with(|w| w.add_credential(user, CredentialKind::SshKey, SSH_KEY).ok())
    }

    /// Upload a signing certificate; returns its id.
    pub fn add_signing_certificate(&self, user: &str) -> Option<String> {
        self.with(|w| {
            w.add_credential(user, CredentialKind::Certificate, CERTIFICATE)
                .ok()
        })
    }

    /// Create a service-specific credential for `service`
    /// (`codecommit.amazonaws.com`); returns its id (`ACCA…`).
    pub fn add_service_specific_credential(&self, user: &str, service: &str) -> Option<String> {
        self.with(|w| {
            w.add_credential(user, CredentialKind::ServiceCredential, service)
                .ok()
        })
    }

    /// Create a group (if missing); returns its ARN.
    pub fn create_group(&self, group: &str) -> String {
        self.with(|w| w.create_group(group))
    }

    /// Add the user to the group (created if missing).
    pub fn add_user_to_group(&self, user: &str, group: &str) -> bool {
        self.with(|w| w.add_to_group(user, group).is_ok())
    }

    /// Put an inline policy on the user (false also for a document that is not JSON).
    pub fn put_user_policy(&self, user: &str, name: &str, document: &str) -> bool {
        self.with(|w| w.put_user_policy(user, name, document).is_ok())
    }

    /// Attach a managed policy by ARN (`arn:aws:iam::aws:policy/ReadOnlyAccess`).
    pub fn attach_user_policy(&self, user: &str, policy_arn: &str) -> bool {
        self.with(|w| w.attach_user_policy(user, policy_arn).is_ok())
    }

    /// Create a role (an existing one gets the new `external_id` requirement); returns
    /// its ARN. `AssumeRole` on it requires `ExternalId` when `external_id` is set.
    pub fn create_role(&self, name: &str, external_id: Option<&str>) -> String {
        self.with(|w| w.create_role(name, external_id))
    }

    /// A user with one of everything: tags (`email` when given), two access keys, a
    /// login profile, a virtual MFA device, an SSH key, a signing certificate, a
    /// CodeCommit credential, two groups, an inline and an attached policy.
    pub fn seed_full_user(&self, user: &str, email: Option<&str>) -> Option<SeededUser> {
        let tags: Vec<(&str, &str)> = email.map(|e| ("email", e)).into_iter().collect();
        let arn = self.create_user(user, &tags);
        let access_keys = vec![self.add_access_key(user)?, self.add_access_key(user)?];
        self.add_login_profile(user);
        let mfa_serial = self.add_virtual_mfa_device(user, &format!("{user}-mfa"))?;
        let ssh_key = self.add_ssh_public_key(user)?;
        let certificate = self.add_signing_certificate(user)?;
        let service_credential =
            self.add_service_specific_credential(user, "codecommit.amazonaws.com")?;
        let groups = vec![format!("{user}-developers"), format!("{user}-oncall")];
        for group in &groups {
            self.add_user_to_group(user, group);
        }
        let inline_policy = "s3-everything".to_string();
        self.put_user_policy(user, &inline_policy, ALLOW_S3);
        let managed_policy = format!("arn:aws:iam::{}:policy/{user}-s3", self.id);
        self.attach_user_policy(user, &managed_policy);
        Some(SeededUser {
            user: user.to_string(),
            arn,
            access_keys,
            mfa_serial,
            ssh_key,
            certificate,
            service_credential,
            groups,
            inline_policy,
            managed_policy,
        })
    }

    /// Whether the user exists.
    pub fn user_exists(&self, user: &str) -> bool {
        self.with(|w| w.user(user).is_ok())
    }

    /// Names of every user, sorted case-insensitively.
    pub fn user_names(&self) -> Vec<String> {
        self.with(|w| w.users.values().map(|u| u.name.clone()).collect())
    }

    /// What the user still holds (`None`: no such user).
    pub fn user(&self, user: &str) -> Option<UserSnapshot> {
        self.with(|w| {
            let u = w.user(user).ok()?;
            let creds = |list: &[world::Credential]| {
                list.iter()
                    .map(|c| CredentialInfo {
                        id: c.id.clone(),
                        active: c.active,
                    })
                    .collect()
            };
            Some(UserSnapshot {
                name: u.name.clone(),
                arn: u.arn.clone(),
                tags: u.tags.clone(),
                access_keys: creds(&u.access_keys),
                login_profile: u.login_profile.is_some(),
                signing_certificates: creds(&u.certificates),
                ssh_public_keys: creds(&u.ssh_keys),
                service_specific_credentials: creds(&u.service_credentials),
                mfa_devices: w.mfa_of(user).iter().map(|d| d.serial.clone()).collect(),
                groups: w.groups_of(user).iter().map(|g| g.name.clone()).collect(),
                inline_policies: u.inline_policies.keys().cloned().collect(),
                attached_policies: u.attached_policies.keys().cloned().collect(),
            })
        })
    }

    /// The user's inline policy document (as stored, not URL-encoded).
    pub fn user_policy(&self, user: &str, name: &str) -> Option<String> {
        self.with(|w| w.user_policy(user, name).ok().map(str::to_string))
    }

    /// The role's inline policy document.
    pub fn role_policy(&self, role: &str, name: &str) -> Option<String> {
        self.with(|w| w.role_policy(role, name).ok().map(str::to_string))
    }

    /// Serial numbers of every virtual MFA device of the account (assigned or not).
    pub fn virtual_mfa_devices(&self) -> Vec<String> {
        self.with(|w| {
            w.mfa_devices
                .values()
                .filter(|d| d.is_virtual)
                .map(|d| d.serial.clone())
                .collect()
        })
    }

    /// Members of the group (`None`: no such group).
    pub fn group_members(&self, group: &str) -> Option<Vec<String>> {
        self.with(|w| {
            let g = w.groups.get(&group.to_lowercase())?;
            Some(
                g.members
                    .iter()
                    .filter_map(|m| w.users.get(m).map(|u| u.name.clone()))
                    .collect(),
            )
        })
    }
}
