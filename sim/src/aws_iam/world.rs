//! The data of one simulated AWS account — users and everything attached to them,
//! groups, virtual MFA devices, roles — and the IAM operations on it.
//!
//! Semantics follow IAM where an offboarding depends on them:
//! - user, group and role names are unique case-insensitively and looked up that way;
//! - `DeleteUser` refuses with 409 `DeleteConflict` while the user still has a login
//!   profile, access keys, signing certificates, SSH keys, service-specific
//!   credentials, an assigned MFA device, group memberships, inline or attached
//!   policies;
//! - `DeleteVirtualMFADevice` refuses with 409 `DeleteConflict` while the device is
//!   assigned (it must be deactivated first);
//! - removing something absent answers 404 `NoSuchEntity`.

use super::error::IamError;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

/// IAM's quota of access keys per user.
pub(crate) const MAX_ACCESS_KEYS: usize = 2;

/// `ACTIVE`/`INACTIVE` credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub id: String,
    pub active: bool,
    pub created: SystemTime,
    /// Service name of a service-specific credential; body of a certificate or key.
    pub detail: String,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub created: SystemTime,
    pub tags: Vec<(String, String)>,
    pub access_keys: Vec<Credential>,
    pub login_profile: Option<SystemTime>,
    pub certificates: Vec<Credential>,
    pub ssh_keys: Vec<Credential>,
    pub service_credentials: Vec<Credential>,
    pub inline_policies: BTreeMap<String, String>,
    /// Attached managed policies: ARN → name.
    pub attached_policies: BTreeMap<String, String>,
}

/// An IAM group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub created: SystemTime,
    /// Lower-cased user names.
    pub members: BTreeSet<String>,
}

/// An MFA device (virtual or hardware), assigned to at most one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MfaDevice {
    pub serial: String,
    pub is_virtual: bool,
    /// Lower-cased name of the user it is enabled for.
    pub user: Option<String>,
    pub enabled: Option<SystemTime>,
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Role {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub created: SystemTime,
    /// `sts:ExternalId` its trust policy requires.
    pub external_id: Option<String>,
    pub inline_policies: BTreeMap<String, String>,
}

/// One AWS account.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub account_id: String,
    /// Keyed by lower-cased name.
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub roles: BTreeMap<String, Role>,
    /// Keyed by serial number.
    pub mfa_devices: BTreeMap<String, MfaDevice>,
}

const ALNUM_UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `prefix` followed by `len` characters of AWS's unique-id alphabet.
pub(crate) fn aws_id(prefix: &str, len: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut id = prefix.to_string();
    id.extend((0..len).map(|_| ALNUM_UPPER[rng.gen_range(0..ALNUM_UPPER.len())] as char));
    id
}

/// A random secret of `len` base64-ish characters (secret access keys, passwords).
pub(crate) fn secret(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// A v4 UUID (request ids).
pub(crate) fn uuid() -> String {
    let b: [u8; 16] = rand::thread_rng().gen();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]]),
    )
}

fn key(name: &str) -> String {
    name.to_lowercase()
}

/// The last path segment of a policy ARN (`arn:aws:iam::aws:policy/ReadOnlyAccess`).
pub(crate) fn policy_name_of(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

/// Parse `Active`/`Inactive`.
pub(crate) fn parse_status(status: &str) -> Result<bool, IamError> {
    match status {
        "Active" => Ok(true),
        "Inactive" => Ok(false),
        other => Err(IamError::validation(format!(
            "1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
        ))),
    }
}

impl World {
    pub fn new(account_id: &str) -> Self {
        Self {
            account_id: account_id.to_string(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            roles: BTreeMap::new(),
            mfa_devices: BTreeMap::new(),
        }
    }

    fn arn(&self, resource: &str) -> String {
        format!("arn:aws:iam::{}:{resource}", self.account_id)
    }

    // ---- users ----

    /// Create a user (or return the existing one's ARN, its tags merged).
    pub fn create_user(&mut self, name: &str, tags: &[(&str, &str)]) -> String {
        let arn = self.arn(&format!("user/{name}"));
        let user = self.users.entry(key(name)).or_insert_with(|| User {
            name: name.to_string(),
            id: aws_id("AIDA", 17),
            arn,
            created: SystemTime::now(),
            tags: Vec::new(),
            access_keys: Vec::new(),
            login_profile: None,
            certificates: Vec::new(),
            ssh_keys: Vec::new(),
            service_credentials: Vec::new(),
            inline_policies: BTreeMap::new(),
            attached_policies: BTreeMap::new(),
        });
        for (k, v) in tags {
            match user.tags.iter_mut().find(|(existing, _)| existing == k) {
                Some(tag) => tag.1 = v.to_string(),
                None => user.tags.push((k.to_string(), v.to_string())),
            }
        }
        user.arn.clone()
    }

    pub fn user(&self, name: &str) -> Result<&User, IamError> {
        self.users
            .get(&key(name))
            .ok_or_else(|| IamError::no_such_user(name))
    }

    pub fn user_mut(&mut self, name: &str) -> Result<&mut User, IamError> {
        self.users
            .get_mut(&key(name))
            .ok_or_else(|| IamError::no_such_user(name))
    }

    /// Groups the user belongs to, by name.
    pub fn groups_of(&self, user: &str) -> Vec<&Group> {
        let user = key(user);
        self.groups
            .values()
            .filter(|g| g.members.contains(&user))
            .collect()
    }

    /// MFA devices enabled for the user.
    pub fn mfa_of(&self, user: &str) -> Vec<&MfaDevice> {
        let user = key(user);
        self.mfa_devices
            .values()
            .filter(|d| d.user.as_deref() == Some(user.as_str()))
            .collect()
    }

    /// What still stops `DeleteUser`, as IAM words it (first conflict only).
    pub fn delete_conflict(&self, name: &str) -> Result<Option<&'static str>, IamError> {
        let user = self.user(name)?;
        let conflict = if user.login_profile.is_some() {
            Some("Cannot delete entity, must delete login profile first.")
        } else if !user.access_keys.is_empty() {
            Some("Cannot delete entity, must delete access keys first.")
        } else if !user.certificates.is_empty() {
            Some("Cannot delete entity, must delete signing certificates first.")
        } else if !user.ssh_keys.is_empty() {
            Some("Cannot delete entity, must delete SSH public keys first.")
        } else if !user.service_credentials.is_empty() {
            Some("Cannot delete entity, must delete service specific credentials first.")
        } else if !self.mfa_of(name).is_empty() {
            Some("Cannot delete entity, must delete MFA device first.")
        } else if !self.groups_of(name).is_empty() {
            Some("Cannot delete entity, must remove users from group first.")
        } else if !user.inline_policies.is_empty() {
            Some("Cannot delete entity, must delete policies first.")
        } else if !user.attached_policies.is_empty() {
            Some("Cannot delete entity, must detach all policies first.")
        } else {
            None
        };
        Ok(conflict)
    }

    pub fn delete_user(&mut self, name: &str) -> Result<(), IamError> {
        if let Some(conflict) = self.delete_conflict(name)? {
            return Err(IamError::delete_conflict(conflict));
        }
        self.users.remove(&key(name));
        Ok(())
    }

    // ---- credentials ----

    /// `CreateAccessKey`: a new active key (id, secret access key); IAM's quota is two
    /// keys per user, active or not (409 `LimitExceeded`).
    pub fn add_access_key(&mut self, user: &str) -> Result<(String, String), IamError> {
        let id = aws_id("AKIA", 16);
        let secret = secret(40);
        let user = self.user_mut(user)?;
        if user.access_keys.len() >= MAX_ACCESS_KEYS {
            return Err(IamError::limit_exceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}"
            )));
        }
        user.access_keys.push(Credential {
            id: id.clone(),
            active: true,
            created: SystemTime::now(),
            detail: String::new(),
        });
        Ok((id, secret))
    }

    /// The credential list of one kind, and the NoSuchEntity message for a missing id.
    fn credentials_mut<'a>(
        &'a mut self,
        user: &str,
        kind: CredentialKind,
    ) -> Result<&'a mut Vec<Credential>, IamError> {
        let user = self.user_mut(user)?;
        Ok(match kind {
            CredentialKind::AccessKey => &mut user.access_keys,
            CredentialKind::Certificate => &mut user.certificates,
            CredentialKind::SshKey => &mut user.ssh_keys,
            CredentialKind::ServiceCredential => &mut user.service_credentials,
        })
    }

    pub fn add_credential(
        &mut self,
        user: &str,
        kind: CredentialKind,
        detail: &str,
    ) -> Result<String, IamError> {
        let id = match kind {
            CredentialKind::AccessKey => aws_id("AKIA", 16),
            CredentialKind::Certificate => aws_id("", 32),
            CredentialKind::SshKey => aws_id("APKA", 16),
            CredentialKind::ServiceCredential => aws_id("ACCA", 17),
        };
        self.credentials_mut(user, kind)?.push(Credential {
            id: id.clone(),
            active: true,
            created: SystemTime::now(),
            detail: detail.to_string(),
        });
        Ok(id)
    }

    pub fn set_credential_status(
        &mut self,
        user: &str,
        kind: CredentialKind,
        id: &str,
        active: bool,
    ) -> Result<(), IamError> {
        let list = self.credentials_mut(user, kind)?;
        let credential = list
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| kind.not_found(id))?;
        credential.active = active;
        Ok(())
    }

    pub fn delete_credential(
        &mut self,
        user: &str,
        kind: CredentialKind,
        id: &str,
    ) -> Result<(), IamError> {
        let list = self.credentials_mut(user, kind)?;
        let before = list.len();
        list.retain(|c| c.id != id);
        if list.len() == before {
            return Err(kind.not_found(id));
        }
        Ok(())
    }

    pub fn delete_login_profile(&mut self, user: &str) -> Result<(), IamError> {
        let u = self.user_mut(user)?;
        if u.login_profile.take().is_none() {
            return Err(IamError::no_such_entity(format!(
                "Login Profile for User {user} cannot be found."
            )));
        }
        Ok(())
    }

    // ---- MFA ----

    /// Create a virtual MFA device `arn:aws:iam::ACCOUNT:mfa/NAME` and enable it for
    /// `user`; returns its serial number.
    pub fn enable_virtual_mfa(&mut self, user: &str, device: &str) -> Result<String, IamError> {
        let user = self.user(user)?.name.clone();
        let serial = self.arn(&format!("mfa/{device}"));
        self.mfa_devices.insert(
            serial.clone(),
            MfaDevice {
                serial: serial.clone(),
                is_virtual: true,
                user: Some(key(&user)),
                enabled: Some(SystemTime::now()),
            },
        );
        Ok(serial)
    }

    /// Enable a hardware MFA device with this serial for `user`.
    pub fn enable_hardware_mfa(&mut self, user: &str, serial: &str) -> Result<(), IamError> {
        let user = self.user(user)?.name.clone();
        self.mfa_devices.insert(
            serial.to_string(),
            MfaDevice {
                serial: serial.to_string(),
                is_virtual: false,
                user: Some(key(&user)),
                enabled: Some(SystemTime::now()),
            },
        );
        Ok(())
    }

    pub fn deactivate_mfa(&mut self, user: &str, serial: &str) -> Result<(), IamError> {
        let owner = key(&self.user(user)?.name);
        let Some(device) = self
            .mfa_devices
            .get_mut(serial)
            .filter(|d| d.user.as_deref() == Some(owner.as_str()))
        else {
            return Err(IamError::no_such_entity(format!(
                "MFA Device with serial number {serial} does not exist."
            )));
        };
        device.user = None;
        device.enabled = None;
        if !device.is_virtual {
            // A hardware token unassigned is gone from the account's view.
            self.mfa_devices.remove(serial);
        }
        Ok(())
    }

    pub fn delete_virtual_mfa(&mut self, serial: &str) -> Result<(), IamError> {
        match self.mfa_devices.get(serial) {
            Some(d) if d.is_virtual && d.user.is_some() => {
                Err(IamError::delete_conflict("MFA Device is still in use"))
            }
            Some(d) if d.is_virtual => {
                self.mfa_devices.remove(serial);
                Ok(())
            }
            _ => Err(IamError::no_such_entity(format!(
                "VirtualMFADevice with serial number {serial} doesn't exist."
            ))),
        }
    }

    // ---- groups ----

    /// Create a group (or return the existing one's ARN).
    pub fn create_group(&mut self, name: &str) -> String {
        let arn = self.arn(&format!("group/{name}"));
        self.groups
            .entry(key(name))
            .or_insert_with(|| Group {
                name: name.to_string(),
                id: aws_id("AGPA", 17),
                arn,
                created: SystemTime::now(),
                members: BTreeSet::new(),
            })
            .arn
            .clone()
    }

    pub fn add_to_group(&mut self, user: &str, group: &str) -> Result<(), IamError> {
        let user = key(&self.user(user)?.name);
        self.create_group(group);
        if let Some(g) = self.groups.get_mut(&key(group)) {
            g.members.insert(user);
        }
        Ok(())
    }

    pub fn remove_from_group(&mut self, user: &str, group: &str) -> Result<(), IamError> {
        let user = key(&self.user(user)?.name);
        let g = self.groups.get_mut(&key(group)).ok_or_else(|| {
            IamError::no_such_entity(format!("The group with name {group} cannot be found."))
        })?;
        // Inference: removing a user that is not a member is not an error.
        g.members.remove(&user);
        Ok(())
    }

    // ---- policies ----

    pub fn put_user_policy(
        &mut self,
        user: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        check_policy(document)?;
        self.user_mut(user)?
            .inline_policies
            .insert(name.to_string(), document.to_string());
        Ok(())
    }

    pub fn user_policy(&self, user: &str, name: &str) -> Result<&str, IamError> {
        self.user(user)?
            .inline_policies
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| {
                IamError::no_such_entity(format!(
                    "The user policy with name {name} cannot be found."
                ))
            })
    }

    pub fn delete_user_policy(&mut self, user: &str, name: &str) -> Result<(), IamError> {
        self.user_mut(user)?
            .inline_policies
            .remove(name)
            .map(drop)
            .ok_or_else(|| {
                IamError::no_such_entity(format!(
                    "The user policy with name {name} cannot be found."
                ))
            })
    }

    pub fn attach_user_policy(&mut self, user: &str, arn: &str) -> Result<(), IamError> {
        self.user_mut(user)?
            .attached_policies
            .insert(arn.to_string(), policy_name_of(arn));
        Ok(())
    }

    pub fn detach_user_policy(&mut self, user: &str, arn: &str) -> Result<(), IamError> {
        self.user_mut(user)?
            .attached_policies
            .remove(arn)
            .map(drop)
            .ok_or_else(|| IamError::no_such_entity(format!("Policy {arn} was not found.")))
    }

    // ---- roles ----

    /// Create a role (or return the existing one's ARN).
    pub fn create_role(&mut self, name: &str, external_id: Option<&str>) -> String {
        let arn = self.arn(&format!("role/{name}"));
        let role = self.roles.entry(key(name)).or_insert_with(|| Role {
            name: name.to_string(),
            id: aws_id("AROA", 17),
            arn,
            created: SystemTime::now(),
            external_id: None,
            inline_policies: BTreeMap::new(),
        });
        role.external_id = external_id.map(str::to_string);
        role.arn.clone()
    }

    pub fn role(&self, name: &str) -> Result<&Role, IamError> {
        self.roles.get(&key(name)).ok_or_else(|| no_such_role(name))
    }

    pub fn role_mut(&mut self, name: &str) -> Result<&mut Role, IamError> {
        self.roles
            .get_mut(&key(name))
            .ok_or_else(|| no_such_role(name))
    }

    pub fn put_role_policy(
        &mut self,
        role: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        check_policy(document)?;
        self.role_mut(role)?
            .inline_policies
            .insert(name.to_string(), document.to_string());
        Ok(())
    }

    pub fn role_policy(&self, role: &str, name: &str) -> Result<&str, IamError> {
        self.role(role)?
            .inline_policies
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| {
                IamError::no_such_entity(format!(
                    "The role policy with name {name} cannot be found."
                ))
            })
    }

    pub fn delete_role_policy(&mut self, role: &str, name: &str) -> Result<(), IamError> {
        self.role_mut(role)?
            .inline_policies
            .remove(name)
            .map(drop)
            .ok_or_else(|| {
                IamError::no_such_entity(format!(
                    "The role policy with name {name} cannot be found."
                ))
            })
    }
}

fn no_such_role(name: &str) -> IamError {
    IamError::no_such_entity(format!("The role with name {name} cannot be found."))
}

/// A policy document must be a JSON object (IAM checks much more; this is enough to
/// catch a client that sends something else).
fn check_policy(document: &str) -> Result<(), IamError> {
    match serde_json::from_str::<serde_json::Value>(document) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(IamError::malformed_policy("Syntax errors in policy.")),
    }
}

/// The four kinds of user credential with an id and a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialKind {
    AccessKey,
    Certificate,
    SshKey,
    ServiceCredential,
}

impl CredentialKind {
    fn not_found(self, id: &str) -> IamError {
        IamError::no_such_entity(match self {
            CredentialKind::AccessKey => format!("The Access Key with id {id} cannot be found."),
            CredentialKind::Certificate => {
                format!("The Certificate with id {id} cannot be found.")
            }
            CredentialKind::SshKey => {
                format!("The Public Key with id {id} cannot be found.")
            }
            CredentialKind::ServiceCredential => {
                format!("No such credential {id} exists")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        let mut w = World::new("123456789012");
        w.create_user("Alice", &[("email", "alice@example.com")]);
        w
    }

    #[test]
    fn names_are_case_insensitive() {
        let w = world();
        assert_eq!(w.user("alice").unwrap().name, "Alice");
        assert_eq!(
            w.user("ALICE").unwrap().arn,
            "arn:aws:iam::123456789012:user/Alice"
        );
        assert_eq!(w.user("bob").unwrap_err().code, "NoSuchEntity");
    }

    #[test]
    fn delete_user_conflicts_until_everything_is_gone() {
        let mut w = world();
        let (key_id, _) = w.add_access_key("alice").unwrap();
        w.add_to_group("alice", "devs").unwrap();
        let serial = w.enable_virtual_mfa("alice", "alice").unwrap();
        w.put_user_policy("alice", "p", "{}").unwrap();
        let conflict = |w: &mut World| w.delete_user("alice").unwrap_err();
        assert_eq!(conflict(&mut w).code, "DeleteConflict");
        assert!(conflict(&mut w).message.contains("access keys"));
        w.delete_credential("alice", CredentialKind::AccessKey, &key_id)
            .unwrap();
        assert!(conflict(&mut w).message.contains("MFA"));
        assert_eq!(
            w.delete_virtual_mfa(&serial).unwrap_err().code,
            "DeleteConflict"
        );
        w.deactivate_mfa("alice", &serial).unwrap();
        w.delete_virtual_mfa(&serial).unwrap();
        assert!(conflict(&mut w).message.contains("group"));
        w.remove_from_group("alice", "devs").unwrap();
        assert!(conflict(&mut w).message.contains("policies"));
        w.delete_user_policy("alice", "p").unwrap();
        w.delete_user("alice").unwrap();
        assert!(w.users.is_empty());
    }

    #[test]
    fn removing_something_absent_is_no_such_entity() {
        let mut w = world();
        for e in [
            w.delete_login_profile("alice").unwrap_err(),
            w.delete_credential("alice", CredentialKind::SshKey, "APKAX")
                .unwrap_err(),
            w.detach_user_policy("alice", "arn:aws:iam::aws:policy/X")
                .unwrap_err(),
            w.delete_virtual_mfa("arn:aws:iam::123456789012:mfa/x")
                .unwrap_err(),
        ] {
            assert_eq!(e.code, "NoSuchEntity", "{e:?}");
        }
        assert_eq!(
            w.put_user_policy("alice", "p", "not json")
                .unwrap_err()
                .code,
            "MalformedPolicyDocument"
        );
    }

    #[test]
    fn a_user_has_at_most_two_access_keys() {
        let mut w = world();
        let (first, _) = w.add_access_key("alice").unwrap();
        w.add_access_key("alice").unwrap();
        w.set_credential_status("alice", CredentialKind::AccessKey, &first, false)
            .unwrap();
        // Inactive keys count too.
        let e = w.add_access_key("alice").unwrap_err();
        assert_eq!((e.code, e.status.as_u16()), ("LimitExceeded", 409));
        assert_eq!(e.message, "Cannot exceed quota for AccessKeysPerUser: 2");
        w.delete_credential("alice", CredentialKind::AccessKey, &first)
            .unwrap();
        let (_, secret) = w.add_access_key("alice").unwrap();
        assert_eq!(secret.len(), 40);
    }

    #[test]
    fn ids_look_like_aws_ids() {
        let id = aws_id("AKIA", 16);
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert_eq!(uuid().len(), 36);
    }
}
