//! The domain's enumerations, each with the one place that maps it to and from its
//! stored text.

use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} `{other}` (expected one of: {})",
                        stringify!($name),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Lifecycle of an offboarding run.
    RunStatus {
        Pending => "pending",
        Running => "running",
        Completed => "completed",
        Failed => "failed",
        PartiallyFailed => "partially_failed",
        Cancelled => "cancelled",
    }
);

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed
                | RunStatus::Failed
                | RunStatus::PartiallyFailed
                | RunStatus::Cancelled
        )
    }
}

text_enum!(
    /// Lifecycle of one step of a run.
    StepStatus {
        /// Waiting for the steps it needs.
        Pending => "pending",
        /// Due at `next_attempt_at` (first attempt or a retry).
        Ready => "ready",
        /// Leased by a worker.
        Running => "running",
        /// Executed and verified.
        Succeeded => "succeeded",
        Failed => "failed",
        /// Not run because a step it needs failed.
        Skipped => "skipped",
        Cancelled => "cancelled",
    }
);

impl StepStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Skipped
                | StepStatus::Cancelled
        )
    }
}

text_enum!(
    /// How a run treats upstreams.
    Mode {
        /// Revoke for real.
        Live => "live",
        /// Touch nothing: preview what each step would revoke.
        DryRun => "dry_run",
        /// Revoke for real on a canary identity, measured.
        Drill => "drill",
    }
);

text_enum!(
    /// Roles of API tokens, each including the ones before it.
    Role {
        Viewer => "viewer",
        Operator => "operator",
        Admin => "admin",
    }
);

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Operator => 1,
            Role::Admin => 2,
        }
    }

    /// Whether a token with this role may do what `required` allows.
    pub fn allows(self, required: Role) -> bool {
        self.rank() >= required.rank()
    }
}

/// Kind of a step row: a plan action, or the residual-access sweep that ends every run.
pub const SWEEP_STEP_ID: &str = "residual-access-sweep";
pub const SWEEP_USES: &str = "leaver.residual_access_sweep";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_texts() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), *status);
        }
        for status in StepStatus::ALL {
            assert_eq!(status.as_str().parse::<StepStatus>().unwrap(), *status);
        }
        assert!("bogus".parse::<Mode>().unwrap_err().contains("dry_run"));
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert!(!Role::Operator.allows(Role::Admin));
    }
}
