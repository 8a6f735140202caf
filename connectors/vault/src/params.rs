//! The `with:` parameters of each action, and their validation.

use crate::client::is_namespace;
use leaver_connector::ParamError;
use schemars::JsonSchema;
use serde::Deserialize;

/// `vault.disable_entity`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DisableEntityParams {
    /// Vault namespace (`team-a`); defaults to `connectors.vault.namespace` (root when
    /// unset).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `vault.revoke_tokens`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RevokeTokensParams {
    /// Vault namespace; defaults to `connectors.vault.namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `vault.revoke_leases`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RevokeLeasesParams {
    /// Lease-id prefixes to revoke with `sys/leases/revoke-prefix`, e.g.
    /// `auth/userpass/login/{username}` or `database/creds/{username}-ro/`. Placeholders:
    /// `{username}` (the names of the identity's entity aliases on userpass mounts),
    /// `{email}`, `{entity_id}`. At least two path segments each: a whole mount
    /// (`database/`) would revoke everyone's leases.
    pub prefixes: Vec<String>,
    /// Vault namespace; defaults to `connectors.vault.namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `vault.delete_user`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeleteUserParams {
    /// Auth mount path (default `userpass`).
    #[serde(default)]
    pub mount: Option<String>,
    /// The username on that mount. Default: the names of the identity's entity aliases
    /// on the mount, and the email.
    #[serde(default)]
    pub username: Option<String>,
    /// Also delete the identity's entity aliases on the mount (for OIDC/JWT mounts, which
    /// have no users: a new login would then create a new entity, so combine this with
    /// the IdP deactivation). Default false.
    #[serde(default)]
    pub delete_aliases: bool,
    /// Vault namespace; defaults to `connectors.vault.namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Placeholders `revoke_leases` expands.
pub const PLACEHOLDERS: [&str; 3] = ["{username}", "{email}", "{entity_id}"];

/// The namespace of a step: its parameter (`""` or `root` = root), else the default.
pub fn resolve_namespace(
    param: Option<&str>,
    default: Option<&str>,
) -> Result<Option<String>, ParamError> {
    let chosen = match param {
        Some(ns) => Some(ns.trim()),
        None => default.map(str::trim),
    };
    match chosen {
        None | Some("") | Some("root") | Some("/") => Ok(None),
        Some(ns) if is_namespace(ns) => Ok(Some(ns.trim_matches('/').to_string())),
        Some(ns) => Err(ParamError(format!(
            "`{ns}` is not a Vault namespace path (e.g. `team-a` or `team-a/dev`)"
        ))),
    }
}

/// A mount path (`userpass`, `oidc`, `team/userpass`), trimmed of slashes.
pub fn resolve_mount(param: Option<&str>) -> Result<String, ParamError> {
    let mount = param.unwrap_or("userpass").trim().trim_matches('/');
    let ok = !mount.is_empty()
        && mount.len() <= 128
        && mount.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    if ok {
        Ok(mount.to_string())
    } else {
        Err(ParamError(format!(
            "`{mount}` is not an auth mount path (e.g. `userpass` or `oidc`)"
        )))
    }
}

/// A name used as one path segment (username, entity id, alias name).
pub fn is_segment_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// Validate a lease prefix as written in the plan (before placeholder expansion).
pub fn check_prefix(prefix: &str) -> Result<(), ParamError> {
    let p = prefix.trim();
    if p.is_empty() {
        return Err(ParamError("a lease prefix must not be empty".into()));
    }
    if p.starts_with('/') {
        return Err(ParamError(format!(
            "lease prefix `{p}` must be relative (no leading `/`), e.g. `auth/userpass/login/{{username}}`"
        )));
    }
    if p.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err(ParamError(format!(
            "lease prefix `{p}` contains spaces or characters not allowed in a lease id"
        )));
    }
    let mut rest = p;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| ParamError(format!("lease prefix `{p}` has an unclosed `{{`")))?;
        let placeholder = &rest[open..=close];
        if !PLACEHOLDERS.contains(&placeholder) {
            return Err(ParamError(format!(
                "lease prefix `{p}` uses unknown placeholder `{placeholder}` (known: {})",
                PLACEHOLDERS.join(", ")
            )));
        }
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err(ParamError(format!("lease prefix `{p}` has a stray `}}`")));
    }
    let segments: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(ParamError(format!(
            "lease prefix `{p}` must not contain `.` or `..` segments"
        )));
    }
    if segments.len() < 2 {
        return Err(ParamError(format!(
            "lease prefix `{p}` is a whole mount: it would revoke every identity's leases there; \
             name the role or login path (e.g. `{}/creds/<role>/` or `auth/userpass/login/{{username}}`)",
            segments.first().copied().unwrap_or("database")
        )));
    }
    Ok(())
}

/// Validate `revoke_leases` parameters beyond their type.
pub fn check_revoke_leases(params: &RevokeLeasesParams) -> Result<(), ParamError> {
    if params.prefixes.is_empty() {
        return Err(ParamError(
            "`prefixes` must name at least one lease prefix (e.g. `auth/userpass/login/{username}`)"
                .into(),
        ));
    }
    params.prefixes.iter().try_for_each(|p| check_prefix(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert_eq!(resolve_namespace(None, None).unwrap(), None);
        assert_eq!(
            resolve_namespace(None, Some("team-a/")).unwrap(),
            Some("team-a".into())
        );
        assert_eq!(resolve_namespace(Some(""), Some("team-a")).unwrap(), None);
        assert_eq!(resolve_namespace(Some("root"), None).unwrap(), None);
        assert!(resolve_namespace(Some("a b"), None).is_err());
    }

    #[test]
    fn mounts() {
        assert_eq!(resolve_mount(None).unwrap(), "userpass");
        assert_eq!(resolve_mount(Some("/oidc/")).unwrap(), "oidc");
        assert!(resolve_mount(Some("../sys")).is_err());
        assert!(resolve_mount(Some("")).is_err());
    }

    #[test]
    fn prefixes() {
        for ok in [
            "auth/userpass/login/{username}",
            "database/creds/readonly/",
            "aws/creds/{username}-dev",
            "auth/oidc/oidc/callback/{entity_id}",
        ] {
            assert!(check_prefix(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/auth/userpass",
            "database/",
            "auth",
            "auth/userpass/login/{user}",
            "auth/userpass/login/{username",
            "auth/../sys",
            "a b/c",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
        assert!(check_revoke_leases(&RevokeLeasesParams::default()).is_err());
    }
}
