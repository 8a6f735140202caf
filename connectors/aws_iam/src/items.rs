//! What an IAM user holds, category by category (one per `disable_user` sub-step):
//! listing it (every listing paginated with `Marker`/`IsTruncated`) and removing one
//! item idempotently (IAM's `NoSuchEntity` means it is already gone).

use crate::classify::CallError;
use crate::client::{call, paginate, AccountClients, Page};
use crate::params::SubStep;
use crate::sessions::{is_leaver_deny_policy, REVOKE_POLICY_NAME};
use aws_sdk_iam::types::StatusType;
use leaver_connector::Holding;

/// One thing attached to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub step: SubStep,
    /// Access key id, certificate id, SSH key id, credential id, MFA serial number,
    /// group name, inline policy name, managed policy ARN; the user name for the login
    /// profile.
    pub id: String,
    /// Whether it grants anything: an `Inactive` key, certificate or credential does
    /// not, and neither does Leaver's own deny-only session-revocation policy.
    pub active: bool,
    /// Extra description (the service of a credential, a group's ARN).
    pub detail: Option<String>,
}

impl Item {
    fn new(step: SubStep, id: impl Into<String>, active: bool) -> Self {
        Self {
            step,
            id: id.into(),
            active,
            detail: None,
        }
    }

    /// Whether `disable_user` has something to do with it.
    pub(crate) fn needs_action(&self, delete_keys: bool) -> bool {
        match self.step {
            SubStep::AccessKeys | SubStep::SigningCertificates if delete_keys => true,
            SubStep::AccessKeys | SubStep::SigningCertificates | SubStep::InlinePolicies => {
                self.active
            }
            _ => true,
        }
    }

    /// A short phrase: "access key AKIA… (inactive)".
    pub(crate) fn label(&self) -> String {
        let noun = match self.step {
            SubStep::AccessKeys => "access key",
            SubStep::LoginProfile => return "login profile (console password)".to_string(),
            SubStep::SigningCertificates => "signing certificate",
            SubStep::SshPublicKeys => "SSH public key",
            SubStep::ServiceSpecificCredentials => "service-specific credential",
            SubStep::MfaDevices => "MFA device",
            SubStep::Groups => "membership of group",
            SubStep::InlinePolicies => "inline policy",
            SubStep::AttachedPolicies => "managed policy",
        };
        let state = match self.step {
            SubStep::AccessKeys
            | SubStep::SigningCertificates
            | SubStep::SshPublicKeys
            | SubStep::ServiceSpecificCredentials
                if !self.active =>
            {
                " (inactive)"
            }
            SubStep::InlinePolicies if !self.active => " (Leaver's deny-only session revocation)",
            _ => "",
        };
        let detail = self
            .detail
            .as_deref()
            .filter(|_| self.step == SubStep::ServiceSpecificCredentials)
            .map(|d| format!(" for {d}"))
            .unwrap_or_default();
        format!("{noun} {}{detail}{state}", self.id)
    }

    /// As a holding of `user` in `account` (its id or name).
    pub(crate) fn holding(&self, user: &str, user_arn: &str, account: &str) -> Holding {
        let kind = match self.step {
            SubStep::AccessKeys => "access_key",
            SubStep::LoginProfile => "login_profile",
            SubStep::SigningCertificates => "signing_certificate",
            SubStep::SshPublicKeys => "ssh_public_key",
            SubStep::ServiceSpecificCredentials => "service_specific_credential",
            SubStep::MfaDevices => "mfa_device",
            SubStep::Groups => "group_membership",
            SubStep::InlinePolicies => "inline_policy",
            SubStep::AttachedPolicies => "attached_policy",
        };
        let user_ref = if user_arn.is_empty() {
            format!("user/{user}")
        } else {
            user_arn.to_string()
        };
        let resource = match self.step {
            SubStep::LoginProfile => user_ref,
            SubStep::Groups => self.detail.clone().unwrap_or_else(|| self.id.clone()),
            SubStep::InlinePolicies => format!("{user_ref}/inline-policy/{}", self.id),
            _ => self.id.clone(),
        };
        Holding {
            system: "aws_iam".into(),
            kind: kind.into(),
            resource,
            description: format!(
                "{} of IAM user {user} (AWS account {account})",
                self.label()
            ),
        }
    }
}

fn active(status: Option<&StatusType>) -> bool {
    !matches!(status, Some(StatusType::Inactive))
}

/// Whether an MFA serial number is a virtual device (`arn:…:mfa/NAME`); hardware
/// tokens have plain serials, FIDO keys `arn:…:u2f/…`.
pub(crate) fn is_virtual_mfa(serial: &str) -> bool {
    serial.starts_with("arn:") && serial.contains(":mfa/")
}

/// List one category of what `user` holds. A user deleted meanwhile holds nothing.
pub(crate) async fn list(
    clients: &AccountClients,
    user: &str,
    step: SubStep,
) -> Result<Vec<Item>, CallError> {
    let result = list_raw(clients, user, step).await;
    match result {
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        other => other,
    }
}

pub(crate) async fn list_raw(
    clients: &AccountClients,
    user: &str,
    step: SubStep,
) -> Result<Vec<Item>, CallError> {
    let iam = &clients.iam;
    let size = clients.page_size;
    match step {
        SubStep::AccessKeys => {
            let what = format!("iam:ListAccessKeys({user})");
            paginate(&what, |marker| {
                let fut = iam
                    .list_access_keys()
                    .user_name(user)
                    .set_marker(marker)
                    .set_max_items(size)
                    .send();
                let what = what.clone();
                async move {
                    let out = call(&what, fut).await?;
                    Ok(Page {
                        items: out
                            .access_key_metadata()
                            .iter()
                            .filter_map(|k| {
                                k.access_key_id()
                                    .map(|id| Item::new(step, id, active(k.status())))
                            })
                            .collect(),
                        is_truncated: out.is_truncated(),
                        marker: out.marker().map(str::to_string),
                    })
                }
            })
            .await
        }
        SubStep::LoginProfile => {
            let what = format!("iam:GetLoginProfile({user})");
            match call(&what, iam.get_login_profile().user_name(user).send()).await {
                Ok(_) => Ok(vec![Item::new(step, user, true)]),
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        }
        SubStep::SigningCertificates => {
            let what = format!("iam:ListSigningCertificates({user})");
            paginate(&what, |marker| {
                let fut = iam
                    .list_signing_certificates()
                    .user_name(user)
                    .set_marker(marker)
                    .set_max_items(size)
                    .send();
                let what = what.clone();
                async move {
                    let out = call(&what, fut).await?;
                    Ok(Page {
                        items: out
                            .certificates()
                            .iter()
                            .map(|c| Item::new(step, c.certificate_id(), active(Some(c.status()))))
                            .collect(),
                        is_truncated: out.is_truncated(),
                        marker: out.marker().map(str::to_string),
                    })
                }
            })
            .await
        }
        SubStep::SshPublicKeys => {
            let what = format!("iam:ListSSHPublicKeys({user})");
            paginate(&what, |marker| {
                let fut = iam
                    .list_ssh_public_keys()
                    .user_name(user)
                    .set_marker(marker)
                    .set_max_items(size)
                    .send();
                let what = what.clone();
                async move {
                    let out = call(&what, fut).await?;
                    Ok(Page {
                        items: out
                            .ssh_public_keys()
                            .iter()
                            .map(|k| {
                                Item::new(step, k.ssh_public_key_id(), active(Some(k.status())))
                            })
                            .collect(),
                        is_truncated: out.is_truncated(),
                        marker: out.marker().map(str::to_string),
                    })
                }
            })
            .await
        }
        SubStep::ServiceSpecificCredentials => {
            let what = format!("iam:ListServiceSpecificCredentials({user})");
            paginate(&what, |marker| {
                let fut = iam
                    .list_service_specific_credentials()
                    .user_name(user)
                    .set_marker(marker)
                    .set_max_items(size)
                    .send();
                let what = what.clone();
                async move {
                    let out = call(&what, fut).await?;
                    Ok(Page {
                        items: out
                            .service_specific_credentials()
                            .iter()
                            .map(|c| Item {
                                detail: Some(c.service_name().to_string()),
                                ..Item::new(
                                    step,
                                    c.service_specific_credential_id(),
                                    active(Some(c.status())),
                                )
                            })
                            .collect(),
                        is_truncated: out.is_truncated(),
                        marker: out.marker().map(str::to_string),
                    })
                }
            })
            .await
        }
        SubStep::MfaDevices => {
            let what = format!("iam:ListMFADevices({user})");
            paginate(&what, |marker| {
                let fut = iam
                    .list_mfa_devices()
                    .user_name(user)
                    .set_marker(marker)
                    .set_max_items(size)
                    .send();
                let what = what.clone();
                async move {
                    let out = call(&what, fut).await?;
                    Ok(Page {
                        items: out
                            .mfa_devices()
                            .iter()
                            .map(|d| Item::new(step, d.serial_number(), true))
                            .collect(),
                        is_truncated: out.is_truncated(),
                        marker: out.marker().map(str::to_string),
                    })
                }
            })
            .await
        }
        SubStep::Groups => {
            let what = format!("iam:ListGroupsForUser({user})");
            paginate(&what, |marker| {
                let fut = iam
                    .list_groups_for_user()
                    .user_name(user)
                    .set_marker(marker)
                    .set_max_items(size)
                    .send();
                let what = what.clone();
                async move {
                    let out = call(&what, fut).await?;
                    Ok(Page {
                        items: out
                            .groups()
                            .iter()
                            .map(|g| Item {
                                detail: Some(g.arn().to_string()),
                                ..Item::new(step, g.group_name(), true)
                            })
                            .collect(),
                        is_truncated: out.is_truncated(),
                        marker: out.marker().map(str::to_string),
                    })
                }
            })
            .await
        }
        SubStep::InlinePolicies => {
            let what = format!("iam:ListUserPolicies({user})");
            let names = paginate(&what, |marker| {
                let fut = iam
                    .list_user_policies()
                    .user_name(user)
                    .set_marker(marker)
                    .set_max_items(size)
                    .send();
                let what = what.clone();
                async move {
                    let out = call(&what, fut).await?;
                    Ok(Page {
                        items: out.policy_names().to_vec(),
                        is_truncated: out.is_truncated(),
                        marker: out.marker().map(str::to_string),
                    })
                }
            })
            .await?;
            let mut items = Vec::new();
            for name in names {
                let grants = if name == REVOKE_POLICY_NAME {
                    match read_user_policy(clients, user, &name).await? {
                        Some(document) => !is_leaver_deny_policy(&document),
                        None => continue,
                    }
                } else {
                    true
                };
                items.push(Item::new(step, name, grants));
            }
            Ok(items)
        }
        SubStep::AttachedPolicies => {
            let what = format!("iam:ListAttachedUserPolicies({user})");
            paginate(&what, |marker| {
                let fut = iam
                    .list_attached_user_policies()
                    .user_name(user)
                    .set_marker(marker)
                    .set_max_items(size)
                    .send();
                let what = what.clone();
                async move {
                    let out = call(&what, fut).await?;
                    Ok(Page {
                        items: out
                            .attached_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn().map(|arn| Item::new(step, arn, true)))
                            .collect(),
                        is_truncated: out.is_truncated(),
                        marker: out.marker().map(str::to_string),
                    })
                }
            })
            .await
        }
    }
}

/// `GetUserPolicy`, the document decoded (IAM URL-encodes it); `None` when gone.
pub(crate) async fn read_user_policy(
    clients: &AccountClients,
    user: &str,
    name: &str,
) -> Result<Option<String>, CallError> {
    let what = format!("iam:GetUserPolicy({user}, {name})");
    match call(
        &what,
        clients
            .iam
            .get_user_policy()
            .user_name(user)
            .policy_name(name)
            .send(),
    )
    .await
    {
        Ok(out) => Ok(Some(decode_policy(out.policy_document()))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986); an emulator may not.
pub(crate) fn decode_policy(document: &str) -> String {
    let trimmed = document.trim_start();
    if trimmed.starts_with('{') {
        return document.to_string();
    }
    percent_encoding::percent_decode_str(document)
        .decode_utf8_lossy()
        .into_owned()
}

/// What removing an item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Changed now, with the verb ("deactivated", "deleted", "removed", "detached").
    Done(&'static str),
    /// Nothing to do (already inactive, already gone, or kept on purpose).
    Unchanged(&'static str),
}

fn gone(result: Result<(), CallError>, verb: &'static str) -> Result<Removal, CallError> {
    match result {
        Ok(()) => Ok(Removal::Done(verb)),
        Err(e) if e.is_not_found() => Ok(Removal::Unchanged("already gone")),
        Err(e) => Err(e),
    }
}

/// Remove (or deactivate) one item of `user`.
pub(crate) async fn remove(
    clients: &AccountClients,
    user: &str,
    item: &Item,
    delete_keys: bool,
) -> Result<Removal, CallError> {
    if !item.needs_action(delete_keys) {
        return Ok(Removal::Unchanged(match item.step {
            SubStep::InlinePolicies => "kept",
            _ => "already inactive",
        }));
    }
    let iam = &clients.iam;
    let id = item.id.as_str();
    match item.step {
        SubStep::AccessKeys if delete_keys => {
            let what = format!("iam:DeleteAccessKey({user}, {id})");
            let r = iam
                .delete_access_key()
                .user_name(user)
                .access_key_id(id)
                .send();
            gone(call(&what, r).await.map(drop), "deleted")
        }
        SubStep::AccessKeys => {
            let what = format!("iam:UpdateAccessKey({user}, {id}, Inactive)");
            let r = iam
                .update_access_key()
                .user_name(user)
                .access_key_id(id)
                .status(StatusType::Inactive)
                .send();
            gone(call(&what, r).await.map(drop), "deactivated")
        }
        SubStep::LoginProfile => {
            let what = format!("iam:DeleteLoginProfile({user})");
            let r = iam.delete_login_profile().user_name(user).send();
            gone(call(&what, r).await.map(drop), "deleted")
        }
        SubStep::SigningCertificates if delete_keys => {
            let what = format!("iam:DeleteSigningCertificate({user}, {id})");
            let r = iam
                .delete_signing_certificate()
                .user_name(user)
                .certificate_id(id)
                .send();
            gone(call(&what, r).await.map(drop), "deleted")
        }
        SubStep::SigningCertificates => {
            let what = format!("iam:UpdateSigningCertificate({user}, {id}, Inactive)");
            let r = iam
                .update_signing_certificate()
                .user_name(user)
                .certificate_id(id)
                .status(StatusType::Inactive)
                .send();
            gone(call(&what, r).await.map(drop), "deactivated")
        }
        SubStep::SshPublicKeys => {
            let what = format!("iam:DeleteSSHPublicKey({user}, {id})");
            let r = iam
                .delete_ssh_public_key()
                .user_name(user)
                .ssh_public_key_id(id)
                .send();
            gone(call(&what, r).await.map(drop), "deleted")
        }
        SubStep::ServiceSpecificCredentials => {
            let what = format!("iam:DeleteServiceSpecificCredential({user}, {id})");
            let r = iam
                .delete_service_specific_credential()
                .user_name(user)
                .service_specific_credential_id(id)
                .send();
            gone(call(&what, r).await.map(drop), "deleted")
        }
        SubStep::MfaDevices => {
            let what = format!("iam:DeactivateMFADevice({user}, {id})");
            let r = iam
                .deactivate_mfa_device()
                .user_name(user)
                .serial_number(id)
                .send();
            let deactivated = gone(call(&what, r).await.map(drop), "deactivated")?;
            if !is_virtual_mfa(id) {
                return Ok(deactivated);
            }
            // A virtual device is deleted right after: unassigned, it grants nothing,
            // but it is the user's secret seed and should not linger.
            let what = format!("iam:DeleteVirtualMFADevice({id})");
            let r = iam.delete_virtual_mfa_device().serial_number(id).send();
            match gone(call(&what, r).await.map(drop), "deactivated and deleted")? {
                Removal::Done(verb) => Ok(Removal::Done(verb)),
                Removal::Unchanged(_) => Ok(deactivated),
            }
        }
        SubStep::Groups => {
            let what = format!("iam:RemoveUserFromGroup({user}, {id})");
            let r = iam
                .remove_user_from_group()
                .user_name(user)
                .group_name(id)
                .send();
            gone(call(&what, r).await.map(drop), "removed")
        }
        SubStep::InlinePolicies => {
            let what = format!("iam:DeleteUserPolicy({user}, {id})");
            let r = iam
                .delete_user_policy()
                .user_name(user)
                .policy_name(id)
                .send();
            gone(call(&what, r).await.map(drop), "deleted")
        }
        SubStep::AttachedPolicies => {
            let what = format!("iam:DetachUserPolicy({user}, {id})");
            let r = iam
                .detach_user_policy()
                .user_name(user)
                .policy_arn(id)
                .send();
            gone(call(&what, r).await.map(drop), "detached")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_mfa_serials() {
        assert!(is_virtual_mfa("arn:aws:iam::123456789012:mfa/alice"));
        assert!(!is_virtual_mfa("GAHT12345678"));
        assert!(!is_virtual_mfa(
            "arn:aws:iam::123456789012:u2f/user/alice/fido-ABC"
        ));
    }

    #[test]
    fn what_needs_action() {
        let inactive_key = Item::new(SubStep::AccessKeys, "AKIA1", false);
        assert!(!inactive_key.needs_action(false));
        assert!(inactive_key.needs_action(true));
        let leaver = Item::new(SubStep::InlinePolicies, REVOKE_POLICY_NAME, false);
        assert!(!leaver.needs_action(true));
        let group = Item::new(SubStep::Groups, "admins", true);
        assert!(group.needs_action(false));
    }

    #[test]
    fn policy_documents_are_decoded() {
        assert_eq!(decode_policy("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(decode_policy("{\"a\":\"100%\"}"), "{\"a\":\"100%\"}");
    }

    #[test]
    fn holdings_name_the_user_and_account() {
        let h = Item::new(SubStep::AccessKeys, "AKIA1", true).holding(
            "alice",
            "arn:aws:iam::123456789012:user/alice",
            "123456789012",
        );
        assert_eq!(h.kind, "access_key");
        assert_eq!(h.resource, "AKIA1");
        assert_eq!(
            h.description,
            "access key AKIA1 of IAM user alice (AWS account 123456789012)"
        );
        let p = Item::new(SubStep::InlinePolicies, "p1", true).holding(
            "alice",
            "arn:aws:iam::123456789012:user/alice",
            "123456789012",
        );
        assert_eq!(
            p.resource,
            "arn:aws:iam::123456789012:user/alice/inline-policy/p1"
        );
    }
}
