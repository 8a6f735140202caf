//! The IAM actions (API version 2010-05-08): each reads its parameters, applies itself
//! to the caller's account and renders the inside of its `<{Action}Result>` (`None`
//! for actions that answer only `ResponseMetadata`).

use super::error::IamError;
use super::query::{paginate, Params};
use super::wire::{percent_encode, Xml};
use super::world::{parse_status, Credential, CredentialKind, User, World};

/// Every IAM action the simulator serves.
pub(crate) const ACTIONS: &[&str] = &[
    "GetUser",
    "ListUsers",
    "ListUserTags",
    "ListAccessKeys",
    "CreateAccessKey",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "GetLoginProfile",
    "DeleteLoginProfile",
    "ListSigningCertificates",
    "UpdateSigningCertificate",
    "DeleteSigningCertificate",
    "ListSSHPublicKeys",
    "UpdateSSHPublicKey",
    "DeleteSSHPublicKey",
    "ListServiceSpecificCredentials",
    "UpdateServiceSpecificCredential",
    "DeleteServiceSpecificCredential",
    "ListMFADevices",
    "DeactivateMFADevice",
    "DeleteVirtualMFADevice",
    "ListGroupsForUser",
    "RemoveUserFromGroup",
    "ListUserPolicies",
    "GetUserPolicy",
    "PutUserPolicy",
    "DeleteUserPolicy",
    "ListAttachedUserPolicies",
    "DetachUserPolicy",
    "DeleteUser",
    "GetRole",
    "ListRolePolicies",
    "GetRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
];

type Answer = Result<Option<String>, IamError>;

/// Apply one IAM action to `world`.
pub(crate) fn run(world: &mut World, action: &str, p: &Params) -> Answer {
    match action {
        "GetUser" => get_user(world, p),
        "ListUsers" => list_users(world, p),
        "ListUserTags" => list_user_tags(world, p),
        "ListAccessKeys" => list_credentials(world, p, CredentialKind::AccessKey),
        "ListSigningCertificates" => list_credentials(world, p, CredentialKind::Certificate),
        "ListSSHPublicKeys" => list_credentials(world, p, CredentialKind::SshKey),
        "ListServiceSpecificCredentials" => {
            list_credentials(world, p, CredentialKind::ServiceCredential)
        }
        "CreateAccessKey" => create_access_key(world, p),
        "UpdateAccessKey" => update(world, p, CredentialKind::AccessKey),
        "UpdateSigningCertificate" => update(world, p, CredentialKind::Certificate),
        "UpdateSSHPublicKey" => update(world, p, CredentialKind::SshKey),
        "UpdateServiceSpecificCredential" => update(world, p, CredentialKind::ServiceCredential),
        "DeleteAccessKey" => delete(world, p, CredentialKind::AccessKey),
        "DeleteSigningCertificate" => delete(world, p, CredentialKind::Certificate),
        "DeleteSSHPublicKey" => delete(world, p, CredentialKind::SshKey),
        "DeleteServiceSpecificCredential" => delete(world, p, CredentialKind::ServiceCredential),
        "GetLoginProfile" => get_login_profile(world, p),
        "DeleteLoginProfile" => none(world.delete_login_profile(p.required("UserName")?)),
        "ListMFADevices" => list_mfa_devices(world, p),
        "DeactivateMFADevice" => {
            none(world.deactivate_mfa(p.required("UserName")?, p.required("SerialNumber")?))
        }
        "DeleteVirtualMFADevice" => none(world.delete_virtual_mfa(p.required("SerialNumber")?)),
        "ListGroupsForUser" => list_groups_for_user(world, p),
        "RemoveUserFromGroup" => {
            none(world.remove_from_group(p.required("UserName")?, p.required("GroupName")?))
        }
        "ListUserPolicies" => {
            let user = world.user(p.required("UserName")?)?;
            let names: Vec<String> = user.inline_policies.keys().cloned().collect();
            policy_names(&names, p)
        }
        "GetUserPolicy" => {
            let (user, name) = (p.required("UserName")?, p.required("PolicyName")?);
            let document = world.user_policy(user, name)?;
            let user = &world.user(user)?.name;
            let mut x = Xml::new();
            x.el("UserName", user)
                .el("PolicyName", name)
                .el("PolicyDocument", &percent_encode(document));
            Ok(Some(x.finish()))
        }
        "PutUserPolicy" => none(world.put_user_policy(
            p.required("UserName")?,
            p.required("PolicyName")?,
            p.required("PolicyDocument")?,
        )),
        "DeleteUserPolicy" => {
            none(world.delete_user_policy(p.required("UserName")?, p.required("PolicyName")?))
        }
        "ListAttachedUserPolicies" => list_attached(world, p),
        "DetachUserPolicy" => {
            none(world.detach_user_policy(p.required("UserName")?, p.required("PolicyArn")?))
        }
        "DeleteUser" => none(world.delete_user(p.required("UserName")?)),
        "GetRole" => get_role(world, p),
        "ListRolePolicies" => {
            let role = world.role(p.required("RoleName")?)?;
            let names: Vec<String> = role.inline_policies.keys().cloned().collect();
            policy_names(&names, p)
        }
        "GetRolePolicy" => {
            let (role, name) = (p.required("RoleName")?, p.required("PolicyName")?);
            let document = world.role_policy(role, name)?;
            let role = &world.role(role)?.name;
            let mut x = Xml::new();
            x.el("RoleName", role)
                .el("PolicyName", name)
                .el("PolicyDocument", &percent_encode(document));
            Ok(Some(x.finish()))
        }
        "PutRolePolicy" => none(world.put_role_policy(
            p.required("RoleName")?,
            p.required("PolicyName")?,
            p.required("PolicyDocument")?,
        )),
        "DeleteRolePolicy" => {
            none(world.delete_role_policy(p.required("RoleName")?, p.required("PolicyName")?))
        }
        other => Err(IamError::invalid_action(other, "2010-05-08")),
    }
}

fn none(result: Result<(), IamError>) -> Answer {
    result.map(|()| None)
}

/// The `User` shape (`GetUser`, `ListUsers` members).
fn user_xml(x: &mut Xml, user: &User, with_tags: bool) {
    x.el("Path", "/")
        .el("UserName", &user.name)
        .el("UserId", &user.id)
        .el("Arn", &user.arn)
        .date("CreateDate", user.created);
    if with_tags && !user.tags.is_empty() {
        x.members("Tags", &user.tags, |x, (k, v)| {
            x.el("Key", k).el("Value", v);
        });
    }
}

fn get_user(world: &World, p: &Params) -> Answer {
    let Some(name) = p.get("UserName") else {
        return Err(IamError::validation(
            "Must specify userName when calling with non-User credentials",
        ));
    };
    let user = world.user(name)?;
    let mut x = Xml::new();
    x.wrap("User", |x| user_xml(x, user, true));
    Ok(Some(x.finish()))
}

fn list_users(world: &World, p: &Params) -> Answer {
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let users: Vec<&User> = world
        .users
        .values()
        .filter(|_| "/".starts_with(prefix))
        .collect();
    let (page, next) = paginate(&users, p)?;
    let mut x = Xml::new();
    x.members("Users", &page, |x, u| user_xml(x, u, false))
        .page_end(&next);
    Ok(Some(x.finish()))
}

fn list_user_tags(world: &World, p: &Params) -> Answer {
    let user = world.user(p.required("UserName")?)?;
    let (page, next) = paginate(&user.tags, p)?;
    let mut x = Xml::new();
    x.members("Tags", &page, |x, (k, v)| {
        x.el("Key", k).el("Value", v);
    })
    .page_end(&next);
    Ok(Some(x.finish()))
}

fn status(active: bool) -> &'static str {
    if active {
        "Active"
    } else {
        "Inactive"
    }
}

fn list_credentials(world: &World, p: &Params, kind: CredentialKind) -> Answer {
    let user = world.user(p.required("UserName")?)?;
    let (list, element): (&[Credential], &str) = match kind {
        CredentialKind::AccessKey => (&user.access_keys, "AccessKeyMetadata"),
        CredentialKind::Certificate => (&user.certificates, "Certificates"),
        CredentialKind::SshKey => (&user.ssh_keys, "SSHPublicKeys"),
        CredentialKind::ServiceCredential => {
            (&user.service_credentials, "ServiceSpecificCredentials")
        }
    };
    let (page, next) = paginate(list, p)?;
    let account = &world.account_id;
    let mut x = Xml::new();
    x.members(element, &page, |x, c| {
        x.el("UserName", &user.name);
        match kind {
            CredentialKind::AccessKey => {
                x.el("AccessKeyId", &c.id)
                    .el("Status", status(c.active))
                    .date("CreateDate", c.created);
            }
            CredentialKind::Certificate => {
                x.el("CertificateId", &c.id)
                    .el("CertificateBody", &c.detail)
                    .el("Status", status(c.active))
                    .date("UploadDate", c.created);
            }
            CredentialKind::SshKey => {
                x.el("SSHPublicKeyId", &c.id)
                    .el("Status", status(c.active))
                    .date("UploadDate", c.created);
            }
            CredentialKind::ServiceCredential => {
                x.el("Status", status(c.active))
                    .el("ServiceUserName", &format!("{}-at-{account}", user.name))
                    .date("CreateDate", c.created)
                    .el("ServiceSpecificCredentialId", &c.id)
                    .el("ServiceName", &c.detail);
            }
        }
    })
    .page_end(&next);
    Ok(Some(x.finish()))
}

/// `CreateAccessKey`: the only answer that ever carries a secret access key.
/// (IAM infers the user from the signing key when `UserName` is absent; the simulator
/// requires it.)
fn create_access_key(world: &mut World, p: &Params) -> Answer {
    let name = p.required("UserName")?;
    let (id, secret) = world.add_access_key(name)?;
    let user = world.user(name)?;
    let created = user
        .access_keys
        .iter()
        .find(|k| k.id == id)
        .map(|k| k.created)
        .unwrap_or_else(std::time::SystemTime::now);
    let mut x = Xml::new();
    x.wrap("AccessKey", |x| {
        x.el("UserName", &user.name)
            .el("AccessKeyId", &id)
            .el("Status", "Active")
            .el("SecretAccessKey", &secret)
            .date("CreateDate", created);
    });
    Ok(Some(x.finish()))
}

fn update(world: &mut World, p: &Params, kind: CredentialKind) -> Answer {
    let id = p.required(id_param(kind))?;
    let active = parse_status(p.required("Status")?)?;
    let user = p.required("UserName")?;
    none(world.set_credential_status(user, kind, id, active))
}

fn delete(world: &mut World, p: &Params, kind: CredentialKind) -> Answer {
    let id = p.required(id_param(kind))?;
    let user = p.required("UserName")?;
    none(world.delete_credential(user, kind, id))
}

fn id_param(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::AccessKey => "AccessKeyId",
        CredentialKind::Certificate => "CertificateId",
        CredentialKind::SshKey => "SSHPublicKeyId",
        CredentialKind::ServiceCredential => "ServiceSpecificCredentialId",
    }
}

fn get_login_profile(world: &World, p: &Params) -> Answer {
    let name = p.required("UserName")?;
    let user = world.user(name)?;
    let Some(created) = user.login_profile else {
        return Err(IamError::no_such_entity(format!(
            "Login Profile for User {name} cannot be found."
        )));
    };
    let mut x = Xml::new();
    x.wrap("LoginProfile", |x| {
        x.el("UserName", &user.name)
            .date("CreateDate", created)
            .bool("PasswordResetRequired", false);
    });
    Ok(Some(x.finish()))
}

fn list_mfa_devices(world: &World, p: &Params) -> Answer {
    let name = p.required("UserName")?;
    let user = world.user(name)?;
    let devices = world.mfa_of(name);
    let (page, next) = paginate(&devices, p)?;
    let mut x = Xml::new();
    x.members("MFADevices", &page, |x, d| {
        x.el("UserName", &user.name).el("SerialNumber", &d.serial);
        if let Some(at) = d.enabled {
            x.date("EnableDate", at);
        }
    })
    .page_end(&next);
    Ok(Some(x.finish()))
}

fn list_groups_for_user(world: &World, p: &Params) -> Answer {
    let name = p.required("UserName")?;
    world.user(name)?;
    let groups = world.groups_of(name);
    let (page, next) = paginate(&groups, p)?;
    let mut x = Xml::new();
    x.members("Groups", &page, |x, g| {
        x.el("Path", "/")
            .el("GroupName", &g.name)
            .el("GroupId", &g.id)
            .el("Arn", &g.arn)
            .date("CreateDate", g.created);
    })
    .page_end(&next);
    Ok(Some(x.finish()))
}

fn policy_names(names: &[String], p: &Params) -> Answer {
    let (page, next) = paginate(names, p)?;
    let mut x = Xml::new();
    x.members("PolicyNames", &page, |x, n| {
        x.text(n);
    })
    .page_end(&next);
    Ok(Some(x.finish()))
}

fn list_attached(world: &World, p: &Params) -> Answer {
    let user = world.user(p.required("UserName")?)?;
    let attached: Vec<(&String, &String)> = user.attached_policies.iter().collect();
    let (page, next) = paginate(&attached, p)?;
    let mut x = Xml::new();
    x.members("AttachedPolicies", &page, |x, (arn, name)| {
        x.el("PolicyName", name).el("PolicyArn", arn);
    })
    .page_end(&next);
    Ok(Some(x.finish()))
}

fn get_role(world: &World, p: &Params) -> Answer {
    let role = world.role(p.required("RoleName")?)?;
    let mut x = Xml::new();
    x.wrap("Role", |x| {
        x.el("Path", "/")
            .el("RoleName", &role.name)
            .el("RoleId", &role.id)
            .el("Arn", &role.arn)
            .date("CreateDate", role.created)
            .el(
                "AssumeRolePolicyDocument",
                &percent_encode(r#"{"Version":"2012-10-17","Statement":[]}"#),
            );
    });
    Ok(Some(x.finish()))
}
