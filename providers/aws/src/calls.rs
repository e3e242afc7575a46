//! Counting AWS API attempts.
//!
//! Why: "as few API calls as the APIs allow" is a product promise, and the
//! benchmark, the metrics and the tests all need the same numbers. An SDK
//! interceptor sees every HTTP attempt (retries included), so the count cannot
//! drift away from what really went over the wire.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Outcome class of one attempt; a small, fixed set (bounded metric labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Success,
    /// HTTP 429, or 503 (EC2 `RequestLimitExceeded`, S3 `SlowDown`).
    Throttled,
    /// Other 4xx: includes S3's "not configured" answers such as `NoSuchTagSet`.
    ClientError,
    ServerError,
    /// No HTTP response at all (connect failure, timeout, dropped connection).
    TransportError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Throttled => "throttled",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::TransportError => "transport_error",
        }
    }

    fn from_status(status: Option<u16>) -> Self {
        match status {
            None => Outcome::TransportError,
            Some(s) if (200..300).contains(&s) => Outcome::Success,
            Some(429) | Some(503) => Outcome::Throttled,
            Some(s) if (400..500).contains(&s) => Outcome::ClientError,
            Some(_) => Outcome::ServerError,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Key of one counter: (service, operation, outcome).
pub type CallKey = (String, String, Outcome);

/// Shared, cloneable counter of API attempts; install it on every client.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls {
    inner: Arc<Mutex<BTreeMap<CallKey, u64>>>,
    /// A counter this one also records into (see [`ApiCalls::child`]).
    parent: Option<Box<ApiCalls>>,
}

impl ApiCalls {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new counter of its own (e.g. one scope's calls, for progress) whose
    /// every record is also made in `self`.
    pub fn child(&self) -> Self {
        Self {
            inner: Default::default(),
            parent: Some(Box::new(self.clone())),
        }
    }

    pub fn record(&self, service: &str, operation: &str, outcome: Outcome) {
        {
            let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            *map.entry((service.to_string(), operation.to_string(), outcome))
                .or_default() += 1;
        }
        if let Some(p) = &self.parent {
            p.record(service, operation, outcome);
        }
    }

    /// Attempts with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|((_, _, o), _)| *o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// Successful attempts of listing operations (`Describe*`, `List*`):
    /// the pages read.
    pub fn pages(&self) -> u64 {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|((_, op, o), _)| {
                *o == Outcome::Success && (op.starts_with("Describe") || op.starts_with("List"))
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// Successful attempts to one service (e.g. `"S3"`).
    pub fn successes_of(&self, service: &str) -> u64 {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|((s, _, o), _)| *o == Outcome::Success && s.eq_ignore_ascii_case(service))
            .map(|(_, n)| n)
            .sum()
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> BTreeMap<CallKey, u64> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Attempts per operation, all outcomes together.
    pub fn by_operation(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, op, _), n) in self.snapshot() {
            *out.entry(op).or_default() += n;
        }
        out
    }

    /// Every attempt counted so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    pub fn reset(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Intercept for ApiCalls {
    fn name(&self) -> &'static str {
        "driftd-api-calls"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let status = context.response().map(|r| r.status().as_u16());
        self.record(&service, &operation, Outcome::from_status(status));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        assert_eq!(Outcome::from_status(Some(200)), Outcome::Success);
        assert_eq!(Outcome::from_status(Some(503)), Outcome::Throttled);
        assert_eq!(Outcome::from_status(Some(429)), Outcome::Throttled);
        assert_eq!(Outcome::from_status(Some(404)), Outcome::ClientError);
        assert_eq!(Outcome::from_status(Some(500)), Outcome::ServerError);
        assert_eq!(Outcome::from_status(None), Outcome::TransportError);
    }

    #[test]
    fn counts_by_operation() {
        let c = ApiCalls::new();
        c.record("ec2", "DescribeInstances", Outcome::Success);
        c.record("ec2", "DescribeInstances", Outcome::Throttled);
        c.record("s3", "ListBuckets", Outcome::Success);
        assert_eq!(c.total(), 3);
        assert_eq!(c.by_operation()["DescribeInstances"], 2);
    }

    #[test]
    fn a_child_counts_its_own_and_into_its_parent() {
        let all = ApiCalls::new();
        let scope = all.child();
        scope.record("EC2", "DescribeInstances", Outcome::Success);
        scope.record("EC2", "DescribeInstances", Outcome::Throttled);
        scope.record("S3", "GetBucketTagging", Outcome::Success);
        all.record("S3", "ListBuckets", Outcome::Success);
        assert_eq!(scope.total(), 3);
        assert_eq!(all.total(), 4);
        assert_eq!(scope.pages(), 1);
        assert_eq!(scope.count(Outcome::Throttled), 1);
        assert_eq!(scope.successes_of("s3"), 1);
        assert_eq!(all.pages(), 2);
    }
}
