//! What the parent hands to each scenario process, and what it gets back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use driftd::aws::{ClientOptions, RateLimits, StaticCredentials, Target};
use serde::{Deserialize, Serialize};

pub const REGION: &str = "us-east-1";

/// Per-attempt timeout for every client of the benchmark. moto answers a
/// `DescribeInstances` page of 1,000 reservations (10,000 instances) in about
/// a minute, which is close to driftd's 60 s default; a real AWS page is at
/// most 1,000 instances. Same value for every scenario.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(600);

/// Client options of driftd's own scenarios (its rate limiter on, as a user
/// runs it): static dummy credentials, driftd's default retry budget, the
/// benchmark attempt timeout. Seeding and the raw SDK scenarios use
/// [`raw_client_options`].
pub fn client_options() -> ClientOptions {
    ClientOptions {
        attempt_timeout: ATTEMPT_TIMEOUT,
        static_credentials: Some(StaticCredentials {
            access_key_id: "bench".into(),
            secret_access_key: "bench".into(),
        }),
        ..Default::default()
    }
}

/// Client options of the raw SDK scenarios (the minimal call set, the
/// per-resource pattern) and of seeding: [`client_options`] without driftd's
/// client-side rate limiter. The replay scenarios pace themselves at the
/// token-bucket model, time-dilated for the per-resource pattern
/// (`replay::Pacer`); driftd's limiter knows nothing of the dilation and, at
/// AWS's real 20 requests a second, turned a 30 s dilated run of 13,000
/// calls into ten minutes. Only driftd's own scenarios keep the limiter: it
/// is part of what they measure.
pub fn raw_client_options() -> ClientOptions {
    ClientOptions {
        rate_limits: RateLimits {
            enabled: false,
            ..Default::default()
        },
        ..client_options()
    }
}

pub fn target(endpoint: &str) -> Target {
    Target {
        region: REGION.into(),
        endpoint_url: Some(endpoint.into()),
        assume_role_arn: None,
    }
}

/// How much to seed, and how much of the per-resource pattern to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scale {
    pub instances: usize,
    pub groups: usize,
    pub buckets: usize,
    pub sample_instances: usize,
    pub sample_groups: usize,
}

/// The drift the seeding applied (what a correct scan reports).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Expected {
    /// Ids of managed resources whose tags were changed.
    pub changed: Vec<String>,
    /// Ids of managed instances terminated after the state was written.
    pub missing: Vec<String>,
    /// Resources seeded outside the state.
    pub unmanaged: usize,
}

/// The random sample the per-resource pattern runs on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    pub instances: Vec<String>,
    pub groups: Vec<String>,
}

/// The seeded world, written to a file for the scenario processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub endpoint: String,
    pub concurrency: usize,
    pub config_path: PathBuf,
    pub state_path: PathBuf,
    pub scale: Scale,
    /// Resources per type in the state.
    pub state_instances: usize,
    pub state_groups: usize,
    pub state_buckets: usize,
    /// Managed instances still running.
    pub live_instances: Vec<String>,
    /// Managed groups.
    pub group_ids: Vec<String>,
    /// Managed buckets.
    pub managed_buckets: Vec<String>,
    pub expected: Expected,
    pub seed_secs: f64,
    pub sample: Sample,
}

/// One timed phase of a scenario.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub secs: f64,
    pub calls: u64,
    /// How many items the phase covered (the sample size).
    pub items: usize,
}

/// What a scenario process prints (one JSON line on stdout).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScenarioOut {
    pub wall_secs: f64,
    pub calls: BTreeMap<String, u64>,
    pub phases: Vec<Phase>,
    /// driftd only: the report summary and the drifts found.
    pub summary: Option<serde_json::Value>,
    pub drifts: Vec<FoundDrift>,
    pub stack_errors: Vec<String>,
}

/// One drift of the driftd report, flattened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoundDrift {
    pub kind: String,
    pub rtype: String,
    pub id: String,
    /// `path: expected -> actual`, per changed attribute.
    pub attributes: Vec<String>,
}

impl ScenarioOut {
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// What the launcher asks the seeding process to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedParams {
    pub endpoint: String,
    pub scale: Scale,
    pub concurrency: usize,
    pub workdir: PathBuf,
}
