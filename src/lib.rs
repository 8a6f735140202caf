//! Leaver: identity-driven offboarding and revocation orchestrator.
//!
//! See ARCHITECTURE.md for the map of these modules and how one offboarding flows
//! through them.

// The one exception, `trail::mapped`, says why it needs `unsafe` and what it relies on.
#![deny(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod dag;
pub mod demo;
pub mod domain;
pub mod drills;
pub mod duration;
pub mod engine;
pub mod evidence;
pub mod http;
pub mod intake;
pub mod ledger;
pub mod metrics;
pub mod plan;
pub mod rotations;
pub mod scheduler;
pub mod store;
pub mod tickets;
pub mod trail;
pub mod ui;
