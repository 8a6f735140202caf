//! Simulated upstreams for Leaver: fakes of the vendors' HTTP APIs that follow their
//! documented behaviour (paths, headers, status codes, pagination, rate-limit headers,
//! error bodies), served over real HTTP on 127.0.0.1, with runtime fault injection.
//!
//! `leaver demo` and the integration tests use the same simulators: connectors talk to
//! them exactly as to the real service, through their ordinary HTTP clients.
//!
//! Layout — one module per upstream, plus what they share:
//! - [`github`]: the GitHub REST API ([`github::GithubSim`]).
//! - [`faults`]: vendor-neutral fault injection (latency, statuses, rate limits, hangs,
//!   seeded random faults), rendered by each simulator in its vendor's wire format.
//! - `server` (private): binding 127.0.0.1, serving an axum router, shutdown on drop.
//!
//! Okta, Entra, Vault and GitLab simulators are added as sibling modules reusing
//! `server` and [`faults`].

pub mod faults;
pub mod github;
mod server;

pub use server::SimError;
