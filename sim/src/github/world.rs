//! The simulated GitHub's data: organizations, their members and pending invitations.
//!
//! GitHub logins and organization names are case-insensitive (`Alice-GH` and
//! `alice-gh` are the same account), so every map is keyed by the lower-cased name and
//! keeps the name as it was first seen for display.

use std::collections::BTreeMap;

/// One user account (ids are stable across organizations, as on GitHub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login as first seeded.
    pub login: String,
    /// The numeric user id.
    pub id: u64,
}

/// A membership state as `GET /orgs/{org}/memberships/{username}` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipState {
    /// A member of the organization.
    Active,
    /// Invited, has not accepted yet.
    Pending,
}

impl MembershipState {
    /// `active` or `pending`, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipState::Active => "active",
            MembershipState::Pending => "pending",
        }
    }
}

/// A user's relation to an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Who.
    pub user: User,
    /// `admin`, `member` or `billing_manager` (as seeded).
    pub role: String,
    /// Active member or pending invitation.
    pub state: MembershipState,
    /// For a pending invitation, its id (`DELETE /orgs/{org}/invitations/{id}`).
    pub invitation_id: Option<u64>,
}

/// One organization.
#[derive(Debug, Clone)]
pub struct Org {
    /// The name as first seeded (the `login` of the organization).
    pub login: String,
    /// The numeric organization id (used in `Link` URLs: `/organizations/{id}/members`).
    pub id: u64,
    members: BTreeMap<String, Membership>,
    invitations: BTreeMap<String, Membership>,
    email_invitations: BTreeMap<u64, EmailInvitation>,
}

/// An invitation sent to an email address (no GitHub account named yet). A failed one
/// (expired, bounced) is no longer pending: GitHub lists it under
/// `/orgs/{org}/failed_invitations`, not `/orgs/{org}/invitations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailInvitation {
    /// The invitation id.
    pub id: u64,
    /// Invited address.
    pub email: String,
    /// `admin` or `direct_member`.
    pub role: String,
    /// Whether the invitation failed.
    pub failed: bool,
}

impl Org {
    /// Active members, sorted by login (case-insensitively).
    pub fn members(&self) -> impl Iterator<Item = &Membership> {
        self.members.values()
    }

    /// Pending invitations, sorted by login.
    pub fn invitations(&self) -> impl Iterator<Item = &Membership> {
        self.invitations.values()
    }

    /// Pending invitations sent to an email address, by id.
    pub fn email_invitations(&self) -> impl Iterator<Item = &EmailInvitation> {
        self.email_invitations.values().filter(|i| !i.failed)
    }

    /// Failed invitations sent to an email address, by id.
    pub fn failed_invitations(&self) -> impl Iterator<Item = &EmailInvitation> {
        self.email_invitations.values().filter(|i| i.failed)
    }

    /// The active membership of `login`, if any.
    pub fn member(&self, login: &str) -> Option<&Membership> {
        self.members.get(&key(login))
    }

    /// The membership GitHub would report: active first, else a pending invitation.
    pub fn membership(&self, login: &str) -> Option<&Membership> {
        let k = key(login);
        self.members.get(&k).or_else(|| self.invitations.get(&k))
    }
}

/// What a removal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// An active membership was removed (and any pending invitation with it).
    Member,
    /// Only a pending invitation was cancelled.
    Invitation,
    /// Nothing to remove.
    Nothing,
}

/// All organizations and users of the simulated GitHub.
#[derive(Debug)]
pub struct World {
    orgs: BTreeMap<String, Org>,
    users: BTreeMap<String, User>,
    next_user_id: u64,
    next_org_id: u64,
    next_invitation_id: u64,
    /// Outside collaborators, SSO credential authorizations, fine-grained tokens and
    /// SAML identities, per organization.
    pub grants: super::grants::Grants,
}

impl Default for World {
    fn default() -> Self {
        Self {
            orgs: BTreeMap::new(),
            users: BTreeMap::new(),
            next_user_id: 583_231,
            next_org_id: 9_919,
            next_invitation_id: 1_000_001,
            grants: Default::default(),
        }
    }
}

fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl World {
    /// An organization by name (case-insensitive).
    pub fn org(&self, name: &str) -> Option<&Org> {
        self.orgs.get(&key(name))
    }

    /// A user by login (case-insensitive), if the account exists.
    pub fn user(&self, login: &str) -> Option<&User> {
        self.users.get(&key(login))
    }

    /// An organization by numeric id.
    pub fn org_by_id(&self, id: u64) -> Option<&Org> {
        self.orgs.values().find(|org| org.id == id)
    }

    /// Every organization.
    pub fn orgs(&self) -> impl Iterator<Item = &Org> {
        self.orgs.values()
    }

    /// Create the organization if needed and return it.
    pub fn ensure_org(&mut self, name: &str) -> &mut Org {
        let next_id = &mut self.next_org_id;
        self.orgs.entry(key(name)).or_insert_with(|| {
            let id = *next_id;
            *next_id += 1;
            Org {
                login: name.to_string(),
                id,
                members: BTreeMap::new(),
                invitations: BTreeMap::new(),
                email_invitations: BTreeMap::new(),
            }
        })
    }

    /// The user `login`, created if needed.
    pub fn ensure_user(&mut self, login: &str) -> User {
        let next_id = &mut self.next_user_id;
        self.users
            .entry(key(login))
            .or_insert_with(|| {
                let id = *next_id;
                *next_id += 1;
                User {
                    login: login.to_string(),
                    id,
                }
            })
            .clone()
    }

    /// Make `login` an active member of `org` with `role` (creating both as needed). An
    /// existing pending invitation is consumed, as accepting it would.
    pub fn add_member(&mut self, org: &str, login: &str, role: &str) {
        let user = self.ensure_user(login);
        let org = self.ensure_org(org);
        org.invitations.remove(&key(login));
        org.members.insert(
            key(login),
            Membership {
                user,
                role: role.to_string(),
                state: MembershipState::Active,
                invitation_id: None,
            },
        );
    }

    /// Invite `login` to `org` with `role`, unless already an active member. Returns the
    /// invitation id (the existing one if already invited), or `None` for a member.
    pub fn add_invitation(&mut self, org: &str, login: &str, role: &str) -> Option<u64> {
        let user = self.ensure_user(login);
        let invitation_id = self.next_invitation_id;
        let org = self.ensure_org(org);
        let k = key(login);
        if org.members.contains_key(&k) {
            return None;
        }
        if let Some(existing) = org.invitations.get(&k) {
            return existing.invitation_id;
        }
        org.invitations.insert(
            k,
            Membership {
                user,
                role: role.to_string(),
                state: MembershipState::Pending,
                invitation_id: Some(invitation_id),
            },
        );
        self.next_invitation_id += 1;
        Some(invitation_id)
    }

    /// Invite `email` to `org`; `failed` marks it as a failed invitation. Returns its id.
    pub fn add_email_invitation(
        &mut self,
        org: &str,
        email: &str,
        role: &str,
        failed: bool,
    ) -> u64 {
        let id = self.next_invitation_id;
        self.next_invitation_id += 1;
        self.ensure_org(org).email_invitations.insert(
            id,
            EmailInvitation {
                id,
                email: email.to_string(),
                role: role.to_string(),
                failed,
            },
        );
        id
    }

    /// `DELETE /orgs/{org}/memberships/{username}`: removes the membership and cancels a
    /// pending invitation. `None` when the org does not exist.
    pub fn remove_membership(&mut self, org: &str, login: &str) -> Option<Removed> {
        let org = self.orgs.get_mut(&key(org))?;
        let k = key(login);
        let member = org.members.remove(&k).is_some();
        let invitation = org.invitations.remove(&k).is_some();
        Some(match (member, invitation) {
            (true, _) => Removed::Member,
            (false, true) => Removed::Invitation,
            (false, false) => Removed::Nothing,
        })
    }

    /// `DELETE /orgs/{org}/members/{username}`: removes an active member only; a pending
    /// invitation is left alone. `None` when the org does not exist.
    pub fn remove_member(&mut self, org: &str, login: &str) -> Option<Removed> {
        let org = self.orgs.get_mut(&key(org))?;
        Some(if org.members.remove(&key(login)).is_some() {
            Removed::Member
        } else {
            Removed::Nothing
        })
    }

    /// `DELETE /orgs/{org}/invitations/{invitation_id}`: the cancelled invitee's login
    /// (or email, for an invitation by email).
    /// `None` when the org does not exist; `Some(None)` when no such invitation.
    pub fn cancel_invitation(&mut self, org: &str, invitation_id: u64) -> Option<Option<String>> {
        let org = self.orgs.get_mut(&key(org))?;
        if let Some(invitation) = org.email_invitations.get(&invitation_id) {
            let email = invitation.email.clone();
            org.email_invitations.remove(&invitation_id);
            return Some(Some(email));
        }
        let found = org
            .invitations
            .iter()
            .find(|(_, m)| m.invitation_id == Some(invitation_id))
            .map(|(k, m)| (k.clone(), m.user.login.clone()));
        Some(found.map(|(k, login)| {
            org.invitations.remove(&k);
            login
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_and_orgs_are_case_insensitive() {
        let mut world = World::default();
        world.add_member("Acme", "Alice-GH", "member");
        let org = world.org("acme").unwrap();
        assert_eq!(org.login, "Acme");
        assert_eq!(org.member("alice-gh").unwrap().user.login, "Alice-GH");
        assert_eq!(
            world.remove_membership("ACME", "alice-gh"),
            Some(Removed::Member)
        );
        assert_eq!(
            world.remove_membership("acme", "alice-gh"),
            Some(Removed::Nothing)
        );
        assert_eq!(world.remove_membership("nope", "alice-gh"), None);
    }

    #[test]
    fn memberships_delete_cancels_invitations_members_delete_does_not() {
        let mut world = World::default();
        let id = world.add_invitation("acme", "bob", "member").unwrap();
        assert_eq!(
            world.org("acme").unwrap().membership("bob").unwrap().state,
            MembershipState::Pending
        );
        assert_eq!(world.remove_member("acme", "bob"), Some(Removed::Nothing));
        assert!(world.org("acme").unwrap().membership("bob").is_some());
        assert_eq!(
            world.remove_membership("acme", "bob"),
            Some(Removed::Invitation)
        );
        assert!(world.org("acme").unwrap().membership("bob").is_none());
        assert_eq!(world.cancel_invitation("acme", id), Some(None));
    }

    #[test]
    fn user_ids_are_stable_across_orgs() {
        let mut world = World::default();
        world.add_member("a", "carol", "member");
        world.add_member("b", "Carol", "admin");
        let a = world.org("a").unwrap().member("carol").unwrap().user.id;
        let b = world.org("b").unwrap().member("carol").unwrap().user.id;
        assert_eq!(a, b);
        assert_ne!(world.org("a").unwrap().id, world.org("b").unwrap().id);
    }

    #[test]
    fn accepting_consumes_the_invitation() {
        let mut world = World::default();
        world.add_invitation("acme", "dan", "member");
        world.add_member("acme", "dan", "member");
        assert_eq!(world.org("acme").unwrap().invitations().count(), 0);
        assert_eq!(world.add_invitation("acme", "dan", "member"), None);
    }
}
