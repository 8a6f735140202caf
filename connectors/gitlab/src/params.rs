//! The `with:` parameters of each action. None of the actions takes any yet: the user
//! comes from the identity, and each action covers everything of its kind. The structs
//! exist so that unknown keys are refused and the schema is published.

use schemars::JsonSchema;
use serde::Deserialize;

/// `gitlab.block_user`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BlockUserParams {}

/// `gitlab.revoke_personal_access_tokens`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RevokePersonalAccessTokensParams {}

/// `gitlab.remove_memberships`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RemoveMembershipsParams {}
