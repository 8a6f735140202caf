//! The `with:` parameters of each action.

use schemars::JsonSchema;
use serde::Deserialize;

/// `okta.revoke_sessions`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RevokeSessionsParams {
    /// Also forget the devices that remember the user's factors (`forgetDevices=true`).
    /// Default false.
    #[serde(default)]
    pub forget_devices: bool,
}

/// `okta.deactivate_user`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeactivateUserParams {
    /// Send Okta's deactivation email to the organization's admins (`sendEmail`).
    /// Default false.
    #[serde(default)]
    pub send_email: bool,
}
