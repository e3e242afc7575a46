//! Latency and throttling models of the replay endpoint.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Latency of one answer: `base_ms + per_item_us * items`, per operation
/// (an entry of `ops` replaces the defaults for that operation).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub base_ms: f64,
    pub per_item_us: f64,
    /// Operation -> (base ms, per-item us).
    pub ops: BTreeMap<String, (f64, f64)>,
}

impl Latency {
    pub fn of(&self, op: &str, items: usize) -> Duration {
        let (b, p) = self
            .ops
            .get(op)
            .copied()
            .unwrap_or((self.base_ms, self.per_item_us));
        Duration::from_secs_f64((b / 1e3 + p / 1e6 * items as f64).max(0.0))
    }
}

/// Token buckets like AWS's: EC2 one per API action (the documented
/// non-mutating defaults: burst 100, refill 20/s); S3 one per bucket (its
/// key prefix) at S3's documented 5,500 GET/HEAD per second per prefix, and
/// one for `ListBuckets`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    pub enabled: bool,
    pub ec2_burst: f64,
    pub ec2_refill: f64,
    pub s3_burst: f64,
    pub s3_refill: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            enabled: true,
            ec2_burst: 100.0,
            ec2_refill: 20.0,
            s3_burst: 5500.0,
            s3_refill: 5500.0,
        }
    }
}

/// The server's settings, changeable between scenarios.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    pub latency: Latency,
    pub limits: Limits,
    /// Time dilation: every latency is divided by it and every refill rate
    /// multiplied by it (bursts unchanged), so a run takes `1/dilation` of
    /// the modelled time; the launcher multiplies measured wall times back.
    pub dilation: f64,
    /// Page size when a request gives no `MaxResults` (0: everything in one
    /// answer, as EC2's `Describe*` calls do without `MaxResults`).
    pub default_page: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            latency: Latency::default(),
            limits: Limits::default(),
            dilation: 1.0,
            default_page: 0,
        }
    }
}

/// One token bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(burst: f64) -> Self {
        Self {
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Take one token if there is one.
    pub fn take(&mut self, burst: f64, refill: f64, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * refill).min(burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is there (client-side pacing).
    pub fn wait(&mut self, burst: f64, refill: f64, now: Instant) -> Duration {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * refill).min(burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / refill)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_then_refills() {
        let t0 = Instant::now();
        let mut b = Bucket::new(3.0);
        assert!(b.take(3.0, 10.0, t0));
        assert!(b.take(3.0, 10.0, t0));
        assert!(b.take(3.0, 10.0, t0));
        assert!(!b.take(3.0, 10.0, t0));
        assert!(b.take(3.0, 10.0, t0 + Duration::from_millis(110)));
        assert!(!b.take(3.0, 10.0, t0 + Duration::from_millis(110)));
        let l = Latency {
            base_ms: 50.0,
            per_item_us: 100.0,
            ops: [("X".to_string(), (1.0, 0.0))].into_iter().collect(),
        };
        assert_eq!(l.of("Y", 1000), Duration::from_millis(150));
        assert_eq!(l.of("X", 1000), Duration::from_millis(1));
    }
}
