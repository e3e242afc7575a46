//! One client-side rate limiter per (credentials identity, region, API
//! service, read|write, EC2 action), shared by every client of the process.
//!
//! Why: AWS meters API requests per account and region with token buckets,
//! EC2 one bucket per action ("each API is evaluated individually": a
//! non-mutating action such as `DescribeInstances` has a bucket of 100
//! refilled at 20 a second, a mutating one 200 / 5, and one action's
//! requests never take another's tokens); S3 3,500 writes and 5,500 reads a
//! second per prefix (driftd: all prefixes together). One bucket for all of
//! EC2's `Describe*` made driftd wait for tokens AWS would have given: at
//! 100,000 instances, 200 `DescribeVpcAttribute` calls and 101 instance
//! pages shared 100 + 20 a second, 11 s of waiting.
//!
//! Every stack, scope, shard-local worker and reconcile call of a driftd
//! process builds its own SDK clients; without a limiter they share, 200
//! stacks in one account would empty AWS's bucket together and then spend
//! the scan in throttled retries. With one bucket per key, sized a margin
//! under AWS's (a read action's burst 10% under, so that requests that leave
//! evenly spaced and arrive bunched still find tokens, and its refill 5%
//! under: at exactly AWS's rate one in a few hundred was throttled), driftd
//! paces itself and never throttles itself.
//!
//! How: the limiter wraps the SDK's HTTP connector ([`LimitedHttpClient`]),
//! so every attempt (retries included) takes a token before it goes on the
//! wire. A throttled answer (`RequestLimitExceeded`, `SlowDown`, HTTP 429 /
//! 503) empties the bucket: every caller of the key then goes at the refill
//! rate, at most `1 / refill` seconds apart, instead of stalling (the SDK's
//! adaptive mode held retries for 8-20 s).
//!
//! The bucket takes reservations (a token may be owed): callers are served in
//! the order they asked, and in any window of `t` seconds at most
//! `burst + refill * t` requests of a key start.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::time::Instant;

use crate::client::Target;

/// One token bucket's size: `burst` requests at once, `per_second` after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub burst: u32,
    pub per_second: f64,
}

impl Bucket {
    pub const fn new(burst: u32, per_second: f64) -> Self {
        Self { burst, per_second }
    }
}

/// The buckets of every key (`[scan.rate_limit]`); by default AWS's
/// documented sizes, EC2's less a margin ([`EC2_READ`], [`EC2_WRITE`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Off: no client-side limit at all (only the SDK's retries).
    pub enabled: bool,
    /// EC2 non-mutating actions (`Describe*`, `Get*`, `List*`, `Search*`).
    pub ec2_read: Bucket,
    /// EC2 mutating actions (`CreateTags`, `ModifyInstanceAttribute`, ...).
    pub ec2_write: Bucket,
    /// S3 `GET` / `HEAD` requests.
    pub s3_read: Bucket,
    /// S3 `PUT` / `POST` / `DELETE` requests.
    pub s3_write: Bucket,
}

/// EC2's documented bucket for a non-mutating action (100, 20 a second),
/// less 10% of its burst and 5% of its refill. The burst margin absorbs
/// arrival jitter: after driftd's burst AWS's bucket still holds 10 tokens,
/// so requests that leave evenly spaced and arrive bunched find them (at
/// exactly 100 / 20 one request in a few hundred was throttled). The refill
/// margin leaves a share to other clients of the account; it is the margin
/// the benchmark's minimal call set paces at (never throttled there).
/// 10% of the refill too (18 a second) cost 0.3 s at 100 VPCs: their 200
/// `DescribeVpcAttribute` calls take (200 - 90) / 19 = 5.8 s.
pub const EC2_READ: Bucket = Bucket::new(90, 19.0);
/// EC2's documented bucket for a mutating action (200, 5 a second), less 10%.
pub const EC2_WRITE: Bucket = Bucket::new(180, 4.5);
/// S3's documented rate of GET/HEAD per prefix (applied to all prefixes together).
pub const S3_READ: Bucket = Bucket::new(5500, 5500.0);
/// S3's documented rate of PUT/COPY/POST/DELETE per prefix (all prefixes together).
pub const S3_WRITE: Bucket = Bucket::new(3500, 3500.0);

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            ec2_read: EC2_READ,
            ec2_write: EC2_WRITE,
            s3_read: S3_READ,
            s3_write: S3_WRITE,
        }
    }
}

/// The API a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Ec2,
    S3,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::S3 => "s3",
        }
    }
}

/// Does the request change anything? AWS meters the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Read,
    Write,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
        }
    }
}

impl RateLimits {
    pub fn bucket(&self, service: Service, class: Class) -> Bucket {
        match (service, class) {
            (Service::Ec2, Class::Read) => self.ec2_read,
            (Service::Ec2, Class::Write) => self.ec2_write,
            (Service::S3, Class::Read) => self.s3_read,
            (Service::S3, Class::Write) => self.s3_write,
        }
    }
}

/// Who AWS meters: the account (from the assumed role's ARN) or, without a
/// role, the process's own credentials; and the endpoint (an emulator or a
/// VPC endpoint is metered apart from the public one).
pub fn identity(target: &Target) -> String {
    let who = match &target.assume_role_arn {
        // arn:PARTITION:iam::ACCOUNT:role/NAME
        Some(arn) => match arn.split(':').nth(4).filter(|a| !a.is_empty()) {
            Some(account) => format!("account:{account}"),
            None => format!("role:{arn}"),
        },
        None => "default-credentials".to_string(),
    };
    match &target.endpoint_url {
        Some(url) => format!("{who}@{url}"),
        None => who,
    }
}

/// The key of one limiter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimiterKey {
    pub identity: String,
    pub region: String,
    pub service: Service,
    pub class: Class,
    /// The EC2 action (its own bucket, as AWS meters it); empty for S3 (all
    /// requests of a class together) and for an EC2 request whose action
    /// cannot be read (they share one bucket).
    pub api: String,
}

#[derive(Debug)]
struct State {
    bucket: Bucket,
    /// May be negative: tokens owed to callers already waiting.
    tokens: f64,
    last: Instant,
}

/// A token bucket taking reservations; see the module documentation.
#[derive(Debug)]
pub struct TokenBucket {
    state: Mutex<State>,
    waits: AtomicU64,
    waited_micros: AtomicU64,
    throttled: AtomicU64,
}

impl TokenBucket {
    pub fn new(bucket: Bucket) -> Self {
        Self {
            state: Mutex::new(State {
                bucket,
                tokens: f64::from(bucket.burst),
                last: Instant::now(),
            }),
            waits: AtomicU64::new(0),
            waited_micros: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn refill(s: &mut State, now: Instant) {
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * s.bucket.per_second).min(f64::from(s.bucket.burst));
        s.last = now;
    }

    /// Take one token now; how long the caller must wait before using it.
    pub fn reserve(&self) -> Duration {
        let mut s = self.lock();
        Self::refill(&mut s, Instant::now());
        s.tokens -= 1.0;
        if s.tokens >= 0.0 || s.bucket.per_second <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-s.tokens / s.bucket.per_second)
        }
    }

    /// Wait for a token.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            self.waits.fetch_add(1, Ordering::Relaxed);
            self.waited_micros
                .fetch_add(wait.as_micros() as u64, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// AWS said "too fast": nothing left in the bucket (what is owed stays owed).
    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let mut s = self.lock();
        Self::refill(&mut s, Instant::now());
        s.tokens = s.tokens.min(0.0);
    }

    /// Resize (a new configuration); the tokens held stay, up to the new burst.
    pub fn configure(&self, bucket: Bucket) {
        let mut s = self.lock();
        if s.bucket != bucket {
            Self::refill(&mut s, Instant::now());
            s.bucket = bucket;
            s.tokens = s.tokens.min(f64::from(bucket.burst));
        }
    }

    pub fn bucket(&self) -> Bucket {
        self.lock().bucket
    }

    /// Requests that had to wait, and their total wait.
    pub fn waits(&self) -> (u64, Duration) {
        (
            self.waits.load(Ordering::Relaxed),
            Duration::from_micros(self.waited_micros.load(Ordering::Relaxed)),
        )
    }

    /// Throttled answers seen.
    pub fn throttled_count(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

type Registry = Mutex<HashMap<LimiterKey, Arc<TokenBucket>>>;

fn registry() -> &'static Registry {
    static LIMITERS: OnceLock<Registry> = OnceLock::new();
    LIMITERS.get_or_init(Default::default)
}

/// The process's one limiter for `key` (created on first use; resized when
/// the configuration says otherwise).
pub fn limiter(key: LimiterKey, bucket: Bucket) -> Arc<TokenBucket> {
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    let l = map
        .entry(key)
        .or_insert_with(|| Arc::new(TokenBucket::new(bucket)));
    l.configure(bucket);
    l.clone()
}

/// Per (service, class), over every key: requests that waited, seconds
/// waited, throttled answers (bounded labels, for metrics).
pub fn totals() -> Vec<(Service, Class, u64, f64, u64)> {
    let map = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out: std::collections::BTreeMap<(Service, Class), (u64, f64, u64)> = Default::default();
    for (k, l) in map.iter() {
        let (n, d) = l.waits();
        let e = out.entry((k.service, k.class)).or_default();
        e.0 += n;
        e.1 += d.as_secs_f64();
        e.2 += l.throttled_count();
    }
    out.into_iter()
        .map(|((s, c), (n, d, t))| (s, c, n, d, t))
        .collect()
}

/// Is this EC2 Query action non-mutating?
fn ec2_action_reads(action: &str) -> bool {
    ["Describe", "Get", "List", "Search"]
        .iter()
        .any(|p| action.starts_with(p))
}

/// The `Action=` of an EC2 Query request body.
fn ec2_action(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|kv| kv.strip_prefix("Action="))
}

/// Read or write, from the request itself.
pub fn classify(service: Service, request: &HttpRequest) -> Class {
    classify_api(service, request).0
}

/// Read or write, and the API whose bucket the request takes a token from
/// (the EC2 action; empty for S3), from the request itself.
pub fn classify_api(service: Service, request: &HttpRequest) -> (Class, &str) {
    match service {
        Service::Ec2 => match request.body().bytes().and_then(ec2_action) {
            Some(a) if !ec2_action_reads(a) => (Class::Write, a),
            Some(a) => (Class::Read, a),
            None => (Class::Read, ""),
        },
        Service::S3 => match request.method() {
            "GET" | "HEAD" => (Class::Read, ""),
            _ => (Class::Write, ""),
        },
    }
}

/// The limiters of one client: where it finds the process's bucket of each
/// request (per class and, for EC2, per action).
#[derive(Debug, Clone)]
pub struct Limiters {
    pub service: Service,
    identity: String,
    region: String,
    limits: RateLimits,
}

impl Limiters {
    /// The process's limiters for a target's service.
    pub fn for_target(target: &Target, service: Service, limits: &RateLimits) -> Self {
        Self {
            service,
            identity: identity(target),
            region: target.region.clone(),
            limits: limits.clone(),
        }
    }

    /// The bucket of `api` (an EC2 action; empty for S3) in `class`.
    pub fn bucket(&self, class: Class, api: &str) -> Arc<TokenBucket> {
        limiter(
            LimiterKey {
                identity: self.identity.clone(),
                region: self.region.clone(),
                service: self.service,
                class,
                api: api.to_string(),
            },
            self.limits.bucket(self.service, class),
        )
    }

    /// The bucket a request takes its token from.
    pub fn for_request(&self, request: &HttpRequest) -> Arc<TokenBucket> {
        let (class, api) = classify_api(self.service, request);
        self.bucket(class, api)
    }
}

/// An HTTP client whose connectors take a token before each request.
#[derive(Debug, Clone)]
pub struct LimitedHttpClient {
    pub inner: SharedHttpClient,
    pub limiters: Limiters,
}

impl HttpClient for LimitedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limiters: self.limiters.clone(),
        })
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    limiters: Limiters,
}

/// AWS's "slow down" answers.
fn is_throttle(status: u16) -> bool {
    status == 429 || status == 503
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let bucket = self.limiters.for_request(&request);
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            bucket.acquire().await;
            let answer = inner.call(request).await;
            if let Ok(r) = &answer {
                if is_throttle(r.status().as_u16()) {
                    bucket.throttled();
                }
            }
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(role: Option<&str>, endpoint: Option<&str>) -> Target {
        Target {
            region: "eu-west-1".into(),
            endpoint_url: endpoint.map(str::to_string),
            assume_role_arn: role.map(str::to_string),
        }
    }

    #[test]
    fn identity_is_the_account_of_the_role_or_the_default_credentials() {
        let a = identity(&target(Some("arn:aws:iam::111111111111:role/a"), None));
        let b = identity(&target(Some("arn:aws:iam::111111111111:role/b"), None));
        let c = identity(&target(Some("arn:aws:iam::222222222222:role/a"), None));
        assert_eq!(a, "account:111111111111");
        assert_eq!(a, b, "two roles of one account share the account's bucket");
        assert_ne!(a, c);
        assert_eq!(identity(&target(None, None)), "default-credentials");
        assert_ne!(
            identity(&target(None, Some("http://127.0.0.1:1"))),
            identity(&target(None, Some("http://127.0.0.1:2")))
        );
    }

    #[test]
    fn one_limiter_per_key_for_every_client() {
        let limits = RateLimits::default();
        let t = target(Some("arn:aws:iam::333333333333:role/x"), None);
        let one = Limiters::for_target(&t, Service::Ec2, &limits);
        let two = Limiters::for_target(
            &target(Some("arn:aws:iam::333333333333:role/y"), None),
            Service::Ec2,
            &limits,
        );
        let read = |l: &Limiters| l.bucket(Class::Read, "DescribeInstances");
        assert!(Arc::ptr_eq(&read(&one), &read(&two)));
        assert!(Arc::ptr_eq(
            &one.bucket(Class::Write, "CreateTags"),
            &two.bucket(Class::Write, "CreateTags")
        ));
        assert!(!Arc::ptr_eq(
            &read(&one),
            &one.bucket(Class::Write, "CreateTags")
        ));
        // EC2 meters each action on its own: one action's calls never take
        // another's tokens.
        assert!(!Arc::ptr_eq(
            &read(&one),
            &one.bucket(Class::Read, "DescribeVpcs")
        ));
        let s3 = Limiters::for_target(&t, Service::S3, &limits);
        assert!(!Arc::ptr_eq(&read(&one), &s3.bucket(Class::Read, "")));
        let other_region = Limiters::for_target(
            &Target {
                region: "us-east-1".into(),
                ..t.clone()
            },
            Service::Ec2,
            &limits,
        );
        assert!(!Arc::ptr_eq(&read(&one), &read(&other_region)));
        assert_eq!(read(&one).bucket(), EC2_READ);
        assert_eq!(one.bucket(Class::Write, "CreateTags").bucket(), EC2_WRITE);
        // The request names its action.
        let mut req = HttpRequest::new(aws_smithy_types::body::SdkBody::from(
            "Action=DescribeVpcs&Version=2016-11-15",
        ));
        req.set_method("POST").unwrap();
        assert!(Arc::ptr_eq(
            &one.for_request(&req),
            &one.bucket(Class::Read, "DescribeVpcs")
        ));
    }

    #[test]
    fn ec2_actions_and_s3_methods_are_classified() {
        assert_eq!(
            ec2_action(b"Action=DescribeInstances&Version=2016-11-15"),
            Some("DescribeInstances")
        );
        assert!(ec2_action_reads("DescribeInstances"));
        assert!(ec2_action_reads("GetConsoleOutput"));
        assert!(!ec2_action_reads("CreateTags"));
        assert!(!ec2_action_reads("ModifyInstanceAttribute"));
        let req = |method: &str, body: &'static str| {
            let mut r = HttpRequest::new(aws_smithy_types::body::SdkBody::from(body));
            r.set_method(method).unwrap();
            r
        };
        assert_eq!(
            classify(Service::Ec2, &req("POST", "Action=DescribeVpcs&Version=1")),
            Class::Read
        );
        assert_eq!(
            classify(Service::Ec2, &req("POST", "Version=1&Action=CreateTags")),
            Class::Write
        );
        assert_eq!(classify(Service::S3, &req("GET", "")), Class::Read);
        assert_eq!(classify(Service::S3, &req("HEAD", "")), Class::Read);
        assert_eq!(classify(Service::S3, &req("PUT", "")), Class::Write);
    }

    /// In any window of `t` seconds at most `burst + rate * t` requests start.
    /// (Real time: tokio's paused clock needs a feature the build does not have.)
    #[tokio::test]
    async fn the_bucket_never_lets_more_through_than_burst_plus_refill() {
        let b = Arc::new(TokenBucket::new(Bucket::new(10, 200.0)));
        let start = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..70)
            .map(|_| {
                let (b, times) = (b.clone(), times.clone());
                tokio::spawn(async move {
                    b.acquire().await;
                    times.lock().unwrap().push(start.elapsed().as_secs_f64());
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut times = times.lock().unwrap().clone();
        times.sort_by(f64::total_cmp);
        // 10 at once, then 60 at 200/s: 0.3 s.
        assert!(times[69] >= 0.299 && times[69] < 0.6, "{}", times[69]);
        // Wake-ups are late, never early: allow 2 ms of scheduling bunching.
        for (i, &a) in times.iter().enumerate() {
            for (j, &z) in times.iter().enumerate().skip(i) {
                let n = (j - i + 1) as f64;
                assert!(n <= 10.0 + 200.0 * (z - a + 0.002), "{n} in {}s", z - a);
            }
        }
        assert_eq!(b.waits().0, 60);
    }

    #[tokio::test]
    async fn a_throttled_answer_empties_the_bucket_without_a_stall() {
        let b = TokenBucket::new(Bucket::new(100, 20.0));
        b.acquire().await;
        b.throttled();
        let t = Instant::now();
        for _ in 0..4 {
            b.acquire().await;
        }
        // The refill rate, not a multi-second stall.
        let took = t.elapsed().as_secs_f64();
        assert!((0.19..0.5).contains(&took), "{took}");
        assert_eq!(b.throttled_count(), 1);
    }

    #[test]
    fn resizing_keeps_at_most_the_new_burst() {
        let b = TokenBucket::new(Bucket::new(100, 20.0));
        b.configure(Bucket::new(5, 1.0));
        assert_eq!(b.bucket(), Bucket::new(5, 1.0));
        for _ in 0..5 {
            assert_eq!(b.reserve(), Duration::ZERO);
        }
        assert!(b.reserve() > Duration::from_millis(900));
    }
}
