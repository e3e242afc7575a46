//! driftd: drift detection for Terraform on AWS.
//!
//! The engine and daemon. The pipeline (see `scan`) reads Terraform state
//! (`state`, `source`), reads live AWS through the provider crates, diffs
//! canonical attributes (`diff`) and writes a report (`report`). The
//! `driftd` binary (`main.rs`) is a thin command line over [`scan::run`].

pub mod attribution;
pub mod audit;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod encryption;
pub mod env;
pub mod events;
pub mod history;
pub mod ignore;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod pr;
pub mod report;
pub mod scan;
pub mod source;
pub mod state;

pub use driftd_aws as aws;
