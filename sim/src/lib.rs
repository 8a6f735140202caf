//! Simulated upstreams for Leaver: fakes of the vendors' HTTP APIs that follow their
//! documented behaviour (paths, headers, status codes, pagination, rate-limit headers,
//! error bodies), served over real HTTP on 127.0.0.1, with runtime fault injection.
//!
//! `leaver demo` and the integration tests use the same simulators: connectors talk to
//! them exactly as to the real service, through their ordinary HTTP clients.
//!
//! Layout — one module per upstream, plus what they share:
//! - [`github`]: the GitHub REST API ([`github::GithubSim`]).
//! - [`vault`]: the HashiCorp Vault HTTP API ([`vault::VaultSim`]).
//! - [`entra`]: the Microsoft identity platform token endpoint and Graph v1.0
//!   ([`entra::EntraSim`]): users, delta, subscriptions, change notifications.
//! - [`jira`]: the Jira Cloud REST API v3 ([`jira::JiraSim`]): issues and ADF comments.
//! - [`servicenow`]: the ServiceNow Table API ([`servicenow::ServiceNowSim`]): records,
//!   work notes (the `sys_journal_field` journal), encoded queries, pagination.
//! - [`okta`]: the Okta org authorization server (`private_key_jwt`) and Management API
//!   ([`okta::OktaSim`]): users, lifecycle, sessions, OAuth tokens, the System Log.
//! - [`gitlab`]: the GitLab REST API v4 ([`gitlab::GitlabSim`]): users, blocking,
//!   personal access tokens, group and project memberships, offset pagination,
//!   `RateLimit-*` headers.
//! - [`faults`]: vendor-neutral fault injection (latency, statuses, rate limits, hangs,
//!   seeded random faults), rendered by each simulator in its vendor's wire format.
//! - `server` (private): binding 127.0.0.1, serving an axum router, shutdown on drop.
//!
//! Okta and GitLab simulators are added as sibling modules reusing
//! `server` and [`faults`].

pub mod aws_iam;
pub mod entra;
pub mod faults;
pub mod github;
pub mod gitlab;
pub mod jira;
pub mod okta;
mod server;
pub mod servicenow;
pub mod vault;

pub use server::SimError;
