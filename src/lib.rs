//! driftd: drift detection for Terraform on AWS.
//!
//! The engine and daemon. One run ([`pipeline::run`]) is four stages, one
//! folder each (docs/pipeline.md):
//! - [`detect`]: state (`state`, `source`) -> scopes -> live reads through
//!   the provider crates -> comparison (`diff`) -> unmanaged detection;
//! - [`decide`]: policy classification and the decision ladder (pure);
//! - [`act`]: reconcile (verified), pull requests (`pr`), history, locks;
//! - [`report`]: JSON / text / Markdown, `metrics`, `audit`.
//!
//! `scan` and `policy` are the old paths of `detect` and `decide::policy`.
//! The `driftd` binary (`main.rs`) is a thin command line over [`pipeline::run`].

pub mod act;
pub mod attribution;
pub mod audit;
pub mod config;
pub mod daemon;
pub mod decide;
pub mod detect;
pub mod diff;
pub mod encryption;
pub mod env;
pub mod events;
pub mod glob;
pub mod history;
pub mod ignore;
pub mod mem;
pub mod metrics;
pub mod pipeline;
pub mod pr;
pub mod report;
pub mod source;
pub mod state;

pub use decide::policy;
pub use detect as scan;
pub use driftd_aws as aws;
