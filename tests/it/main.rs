//! Integration tests, compiled into one binary (as ripgrep does): faster to
//! build and link than one binary per file.
//!
//! AWS tests run against a real moto server per test (see `moto`); nothing
//! leaves the loopback interface.

mod attribution;
mod bad_input;
mod cli;
mod corpus;
mod coverage_cmp;
mod coverage_net;
mod coverage_net2;
mod coverage_s3a;
mod coverage_s3b;
mod coverage_s3v3;
mod daemon;
mod encryption;
mod events_daemon;
mod events_sqs;
mod every_type;
#[path = "../../bench/src/every_type_world.rs"]
mod every_type_world;
mod fake_cloudtrail;
mod fake_github;
mod faults;
mod locking;
mod moto;
mod pr;
mod pr_e2e;
mod pr_editor;
mod proxy;
mod pushgateway;
mod reconcile;
mod registry;
mod scale;
mod scan_moto;
mod secrets;
mod state_forms;
mod world;
