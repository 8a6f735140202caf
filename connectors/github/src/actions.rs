//! The connector's actions: names, descriptions, parameter specs, and which are
//! list-shaped [`Grant`]s. Every action takes `{org}` (default: `connectors.github.org`).
//! New actions of this connector are added here and in their own module.

use crate::grant::Grant;
use crate::{collaborators, fine_grained, invitations, membership, sso, RemoveOrgMemberParams};
use leaver_connector::{typed_action, ActionSpec, ParamError};

/// One action of the `github` connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// `github.remove_org_member`.
    RemoveOrgMember,
    /// `github.remove_outside_collaborator`.
    RemoveOutsideCollaborator,
    /// `github.cancel_invitations`.
    CancelInvitations,
    /// `github.revoke_sso_authorizations`.
    RevokeSsoAuthorizations,
    /// `github.revoke_fine_grained_tokens`.
    RevokeFineGrainedTokens,
}

impl Action {
    /// Every action, in the order the connector lists them.
    pub const ALL: [Action; 5] = [
        Action::RemoveOrgMember,
        Action::RemoveOutsideCollaborator,
        Action::CancelInvitations,
        Action::RevokeSsoAuthorizations,
        Action::RevokeFineGrainedTokens,
    ];

    /// The name without the `github.` prefix.
    pub fn name(self) -> &'static str {
        match self {
            Action::RemoveOrgMember => membership::ACTION,
            Action::RemoveOutsideCollaborator => collaborators::ACTION,
            Action::CancelInvitations => invitations::ACTION,
            Action::RevokeSsoAuthorizations => sso::ACTION,
            Action::RevokeFineGrainedTokens => fine_grained::ACTION,
        }
    }

    fn description(self) -> &'static str {
        match self {
            Action::RemoveOrgMember => membership::DESCRIPTION,
            Action::RemoveOutsideCollaborator => collaborators::DESCRIPTION,
            Action::CancelInvitations => invitations::DESCRIPTION,
            Action::RevokeSsoAuthorizations => sso::DESCRIPTION,
            Action::RevokeFineGrainedTokens => fine_grained::DESCRIPTION,
        }
    }

    /// The spec (all take `{org}`).
    pub fn spec(self) -> ActionSpec {
        typed_action::<RemoveOrgMemberParams>(self.name(), self.description())
    }

    /// The action named `name`, or the error listing the known ones.
    pub fn parse(name: &str) -> Result<Self, ParamError> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let known: Vec<String> = Self::ALL
                    .iter()
                    .map(|a| format!("github.{}", a.name()))
                    .collect();
                ParamError(format!(
                    "unknown action `github.{name}` (the GitHub connector offers: {})",
                    known.join(", ")
                ))
            })
    }

    /// Whether the action needs the person's login (invitations also match by email).
    pub fn needs_login(self) -> bool {
        self != Action::CancelInvitations
    }

    /// The list-shaped grant behind the action (`None`: org membership).
    pub(crate) fn grant(self) -> Option<Grant> {
        match self {
            Action::RemoveOrgMember => None,
            Action::RemoveOutsideCollaborator => Some(Grant::Collaborator),
            Action::CancelInvitations => Some(Grant::Invitations),
            Action::RevokeSsoAuthorizations => Some(Grant::Sso),
            Action::RevokeFineGrainedTokens => Some(Grant::FineGrained),
        }
    }
}
