//! driftd at scale (issue #13, engine side): one client-side rate limiter per
//! (account, region, API: each EC2 action its own) for the whole process, so that many
//! stacks in one account never throttle themselves.
//!
//! The endpoint here is a small loopback fake of EC2 and STS with EC2's own
//! throttling model (a token bucket per action, `RequestLimitExceeded`
//! when empty): moto neither throttles nor answers fast enough to tell a
//! limiter from its own slowness.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftd::aws::{ApiCalls, ClientOptions, StaticCredentials};
use driftd::env::MapEnv;
use driftd::report::{DriftKind, StackStatus};
use driftd::scan::{self, ScanOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::world;

/// The fake's bookkeeping.
#[derive(Default)]
pub struct Seen {
    /// Arrival of every EC2 request (not STS), by action.
    pub ec2: Vec<(String, Instant)>,
    pub throttled: usize,
    pub assume_role: usize,
}

/// EC2's buckets, kept by the fake: one per action, as AWS meters them
/// ("each API is evaluated individually").
struct Bucket {
    burst: f64,
    per_second: f64,
    /// Tokens and last refill, by action.
    tokens: std::collections::HashMap<String, (f64, Instant)>,
}

impl Bucket {
    fn take(&mut self, action: &str) -> bool {
        let now = Instant::now();
        let (burst, per_second) = (self.burst, self.per_second);
        let (tokens, last) = self
            .tokens
            .entry(action.to_string())
            .or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub struct FakeEc2 {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
    pub world: Arc<Mutex<World>>,
}

/// Instances the fake lists (none by default).
#[derive(Default)]
pub struct World {
    pub instances: Vec<FakeInstance>,
    pub zones: Vec<String>,
    /// Largest page the fake answers (AWS: 1,000).
    pub page: usize,
}

pub struct FakeInstance {
    pub id: String,
    pub zone: String,
    pub state: String,
}

/// `Filter.N.Name` = name -> its `Filter.N.Value.M` values.
fn filters(form: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form {
        let Some(rest) = k.strip_prefix("Filter.") else {
            continue;
        };
        let (n, field) = rest.split_once('.').unwrap_or((rest, ""));
        if field == "Name" {
            names.insert(n.to_string(), v.clone());
        } else if field.starts_with("Value.") {
            values.entry(n.to_string()).or_default().push(v.clone());
        }
    }
    names
        .into_iter()
        .map(|(n, name)| (name, values.remove(&n).unwrap_or_default()))
        .collect()
}

fn describe_instances(w: &World, form: &[(String, String)]) -> String {
    let f = filters(form);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let max: usize = get("MaxResults")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let page = max.min(if w.page == 0 { 1000 } else { w.page });
    let start: usize = get("NextToken").and_then(|v| v.parse().ok()).unwrap_or(0);
    let ok = |name: &str, v: &str| f.get(name).is_none_or(|vals| vals.iter().any(|x| x == v));
    let matching: Vec<&FakeInstance> = w
        .instances
        .iter()
        .filter(|i| {
            ok("instance-state-name", &i.state)
                && ok("availability-zone", &i.zone)
                && ok("instance-id", &i.id)
        })
        .collect();
    let items: String = matching
        .iter()
        .skip(start)
        .take(page)
        .map(|i| {
            format!(
                "<item><reservationId>r-{id}</reservationId><ownerId>123456789012</ownerId><instancesSet><item><instanceId>{id}</instanceId><imageId>ami-1</imageId><instanceType>t3.micro</instanceType><placement><availabilityZone>{zone}</availabilityZone></placement><instanceState><code>16</code><name>{state}</name></instanceState></item></instancesSet></item>",
                id = i.id,
                zone = i.zone,
                state = i.state
            )
        })
        .collect();
    let next = if start + page < matching.len() {
        format!("<nextToken>{}</nextToken>", start + page)
    } else {
        String::new()
    };
    format!(
        r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet>{items}</reservationSet>{next}</DescribeInstancesResponse>"#
    )
}

fn xml(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn form_value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

impl FakeEc2 {
    /// A fake whose EC2 buckets (one per action) hold `burst` and refill at `per_second`.
    pub async fn start(burst: f64, per_second: f64) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let world: Arc<Mutex<World>> = Default::default();
        let bucket = Arc::new(Mutex::new(Bucket {
            burst,
            per_second,
            tokens: Default::default(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen2, bucket2, world2) = (seen.clone(), bucket.clone(), world.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, bucket, world) = (seen2.clone(), bucket2.clone(), world2.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (seen, bucket, world) = (seen.clone(), bucket.clone(), world.clone());
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let body = String::from_utf8_lossy(&body).to_string();
                            let form: Vec<(String, String)> = body
                                .split('&')
                                .filter_map(|kv| kv.split_once('='))
                                .map(|(k, v)| (decode(k), decode(v)))
                                .collect();
                            let action = form_value(&body, "Action").unwrap_or("").to_string();
                            Ok::<_, std::convert::Infallible>(answer(
                                &seen, &bucket, &world, &action, &form,
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            seen,
            world,
        }
    }

    /// The most EC2 requests of one action that arrived within any window of `secs`.
    pub fn max_in_window(&self, secs: f64) -> usize {
        let seen = self.seen.lock().unwrap();
        let actions: std::collections::BTreeSet<&str> =
            seen.ec2.iter().map(|(a, _)| a.as_str()).collect();
        actions
            .into_iter()
            .map(|a| {
                let t: Vec<Instant> = seen
                    .ec2
                    .iter()
                    .filter(|(x, _)| x == a)
                    .map(|(_, t)| *t)
                    .collect();
                most_in_window(t, secs)
            })
            .max()
            .unwrap_or(0)
    }
}

fn most_in_window(mut t: Vec<Instant>, secs: f64) -> usize {
    t.sort();
    let mut best = 0;
    let mut j = 0;
    for i in 0..t.len() {
        while t[i].duration_since(t[j]).as_secs_f64() > secs {
            j += 1;
        }
        best = best.max(i - j + 1);
    }
    best
}

/// Percent-decoding of a form value (`+` is a space).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(c) => {
                        out.push(c);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn answer(
    seen: &Mutex<Seen>,
    bucket: &Mutex<Bucket>,
    world: &Mutex<World>,
    action: &str,
    form: &[(String, String)],
) -> Response<Full<Bytes>> {
    if action == "AssumeRole" {
        seen.lock().unwrap().assume_role += 1;
        return xml(
            200,
            r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIAFAKE</AccessKeyId><SecretAccessKey>fake</SecretAccessKey><SessionToken>fake</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAFAKE:driftd</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/r/driftd</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>"#
                .to_string(),
        );
    }
    let ok = bucket.lock().unwrap().take(action);
    let mut s = seen.lock().unwrap();
    s.ec2.push((action.to_string(), Instant::now()));
    if !ok {
        s.throttled += 1;
        return xml(
            503,
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>".to_string(),
        );
    }
    drop(s);
    let w = world.lock().unwrap();
    if action == "DescribeInstances" {
        return xml(200, describe_instances(&w, form));
    }
    if action == "DescribeAvailabilityZones" {
        let items: String = w
            .zones
            .iter()
            .map(|z| format!("<item><zoneName>{z}</zoneName><zoneState>available</zoneState><regionName>us-east-1</regionName></item>"))
            .collect();
        return xml(
            200,
            format!(
                r#"<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><availabilityZoneInfo>{items}</availabilityZoneInfo></DescribeAvailabilityZonesResponse>"#
            ),
        );
    }
    let inner = "";
    xml(
        200,
        format!(
            r#"<{action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>{inner}</{action}Response>"#
        ),
    )
}

/// `n` stacks, each its own role in account 123456789012 (so each is its own
/// scope with its own clients), each managing one instance.
fn stacks(dir: &Path, endpoint: &str, n: usize, rate_limit: &str) -> String {
    let mut cfg = format!("[scan]\nunmanaged = false\nmax_attempts = 5\n{rate_limit}\n");
    for i in 0..n {
        let state = json!({"version": 4, "serial": 1, "lineage": format!("l{i}"), "resources": [
            {"mode": "managed", "type": "aws_instance", "name": "web", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
             "instances": [{"attributes": {"id": format!("i-{i:017x}"), "instance_type": "t3.micro", "tags": {"Name": format!("s{i}")}}}]}
        ]});
        std::fs::write(dir.join(format!("s{i}.tfstate")), state.to_string()).unwrap();
        cfg.push_str(&format!(
            "\n[[stacks]]\nname = \"s{i}\"\nstate = \"s{i}.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{endpoint}\"\nassume_role_arn = \"arn:aws:iam::123456789012:role/stack-{i}\"\n"
        ));
    }
    cfg
}

fn throttled(calls: &ApiCalls) -> u64 {
    calls
        .snapshot()
        .iter()
        .filter(|((_, _, o), _)| o.as_str() == "throttled")
        .map(|(_, n)| n)
        .sum()
}

async fn scan_stacks(cfg: &str, dir: &Path, calls: &ApiCalls) -> driftd::report::Report {
    let cfg = driftd::config::parse(cfg, &dir.join("driftd.toml"), &MapEnv::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let options = ScanOptions {
        client: ClientOptions {
            max_attempts: cfg.scan.max_attempts,
            static_credentials: Some(StaticCredentials {
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    scan::run(&cfg, &options, calls).await
}

/// 200 stacks in one account, each its own scope (its own role) and so its
/// own SDK clients: they share one bucket, and never exceed AWS's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_stacks_in_one_account_share_one_bucket_and_are_never_throttled() {
    // EC2's model (burst 100, 20 a second) at a tenth of the size: burst
    // 10, 50 a second (faster than the scan goes unpaced on this machine).
    // driftd is set a little under it: requests leave the limiter evenly
    // spaced but may arrive bunched by a few milliseconds.
    let fake = FakeEc2::start(10.0, 50.0).await;
    let dir = world::temp_dir("scale-200");
    let n = 200;
    let cfg = stacks(
        &dir,
        &fake.url,
        n,
        "[scan.rate_limit]\nec2_read = { burst = 8, per_second = 48 }",
    );
    let calls = ApiCalls::new();
    let t = Instant::now();
    let r = scan_stacks(&cfg, &dir, &calls).await;
    let took = t.elapsed();
    assert_eq!(r.stacks.len(), n);
    for s in &r.stacks {
        assert_eq!(s.status, StackStatus::Ok, "{}: {:?}", s.name, s.errors);
        assert_eq!(s.drifts.len(), 1, "{}", s.name);
        assert_eq!(s.drifts[0].kind, DriftKind::Missing);
    }
    let seen = fake.seen.lock().unwrap();
    let by_action: BTreeMap<&str, usize> =
        seen.ec2.iter().fold(BTreeMap::new(), |mut m, (a, _)| {
            *m.entry(a.as_str()).or_default() += 1;
            m
        });
    eprintln!(
        "{n} stacks: {took:?}, EC2 {by_action:?}, {} AssumeRole, {} throttled",
        seen.assume_role, seen.throttled
    );
    assert_eq!(
        by_action.get("DescribeInstances"),
        Some(&n),
        "{by_action:?}"
    );
    assert_eq!(seen.throttled, 0, "driftd throttled itself");
    drop(seen);
    assert_eq!(throttled(&calls), 0);
    // 8 at once, then 192 at 48 a second: the limiter paced the calls...
    assert!(took >= Duration::from_millis(3_700), "{took:?}");
    // ... and never let more through than the bucket (arrival jitter aside).
    assert!(
        fake.max_in_window(0.5) <= 10 + 25,
        "{}",
        fake.max_in_window(0.5)
    );
    // One limiter for the 200 scopes: it made most of them wait.
    let key = driftd::aws::limit::LimiterKey {
        identity: format!("account:123456789012@{}", fake.url),
        region: "us-east-1".into(),
        service: driftd::aws::limit::Service::Ec2,
        class: driftd::aws::limit::Class::Read,
        api: "DescribeInstances".into(),
    };
    let one = driftd::aws::limit::limiter(key, driftd::aws::limit::Bucket::new(8, 48.0));
    let (waits, waited) = one.waits();
    assert!(waits >= 100, "{waits} waits ({waited:?})");
}

/// Without the limiter the same scan empties the fake's bucket: the test
/// above has teeth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_limiter_the_same_stacks_are_throttled() {
    let fake = FakeEc2::start(10.0, 50.0).await;
    let dir = world::temp_dir("scale-200-off");
    let cfg = stacks(&dir, &fake.url, 200, "[scan.rate_limit]\nenabled = false");
    let calls = ApiCalls::new();
    let r = scan_stacks(&cfg, &dir, &calls).await;
    let max = fake.max_in_window(0.5);
    let throttled = fake.seen.lock().unwrap().throttled;
    eprintln!(
        "limiter off: max {max} in 0.5 s, {throttled} throttled, {} stacks incomplete",
        r.summary.stacks_incomplete
    );
    assert!(throttled > 0 || max > 40, "{max} {throttled}");
}

/// Every `step`-th instance of the fake's world as a managed (desired)
/// instance, and the target reaching the fake.
fn managed_every(fake: &FakeEc2, step: usize) -> (Vec<driftd_core::Desired>, driftd::aws::Target) {
    let desired = fake
        .world
        .lock()
        .unwrap()
        .instances
        .iter()
        .step_by(step)
        .map(|i| driftd_core::Desired {
            address: format!("aws_instance.i[\"{}\"]", i.id),
            rtype: "aws_instance".into(),
            id: i.id.clone(),
            attrs: Default::default(),
        })
        .collect();
    let target = driftd::aws::Target {
        region: "us-east-1".into(),
        endpoint_url: Some(fake.url.clone()),
        assume_role_arn: None,
    };
    (desired, target)
}

/// A scope's full instance listing split by availability zone (one
/// `DescribeAvailabilityZones`, then one chain per zone, in parallel) reads
/// exactly what the one sequential chain reads, in the calls the formula
/// says. On the loopback fake, not moto: moto 5.1.22 compares the
/// `availability-zone` filter with its placement object and never matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_split_by_zone_reads_exactly_what_the_full_listing_reads() {
    use driftd::aws::ec2::{read_instances_from, EarlyListing, SharedInstances, SplitListing};
    use driftd::aws::Clients;
    use driftd_core::Desired;

    let fake = FakeEc2::start(1e9, 1e9).await;
    // 120 + 70 + 10 live instances in three zones, none in the fourth; and
    // a terminated one (left out by the state filter). Pages of 50.
    {
        let mut w = fake.world.lock().unwrap();
        w.page = 50;
        w.zones = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
            .map(String::from)
            .to_vec();
        for (zone, n) in [("us-east-1a", 120), ("us-east-1b", 70), ("us-east-1c", 10)] {
            for i in 0..n {
                w.instances.push(FakeInstance {
                    id: format!("i-{zone}-{i:04}"),
                    zone: zone.into(),
                    state: if i % 7 == 0 { "stopped" } else { "running" }.into(),
                });
            }
        }
        w.instances.push(FakeInstance {
            id: "i-gone".into(),
            zone: "us-east-1a".into(),
            state: "terminated".into(),
        });
    }
    // Every third managed, the others unmanaged.
    let (desired, target) = managed_every(&fake, 3);
    let refs: Vec<&Desired> = desired.iter().collect();
    // `early`: the listing started before the state is known
    // (`EarlyListing`, as a scan starts it), then handed to the read.
    let read_as = |split: SplitListing, early: bool| {
        let (target, refs) = (&target, &refs);
        async move {
            let calls = ApiCalls::new();
            let clients = Clients::new(target, &crate::moto::client_options(), &calls).await;
            let (tx, shared) = SharedInstances::channel();
            let early = early.then(|| EarlyListing::start(&clients.ec2, split));
            let live = read_instances_from(&clients.ec2, refs, true, 4, split, Some(tx), early)
                .await
                .unwrap();
            let facts = shared.get().await.expect("facts sent").unwrap();
            (live, facts, calls.by_operation())
        }
    };
    let read = |split| read_as(split, false);
    let (full, full_facts, full_calls) = read(SplitListing {
        above: usize::MAX,
        ..Default::default()
    })
    .await;
    let (split, split_facts, split_calls) = read(SplitListing {
        above: 0,
        max_overhead: f64::INFINITY,
        slow_page: 0.0,
    })
    .await;
    assert_eq!(full.len(), 200, "the terminated one is left out");
    assert!(!full.contains_key("i-gone"));
    assert_eq!(split, full);
    // The facts other reads take from the listing (instance states): every
    // listed instance, the same whether split or not (the zones together).
    assert_eq!(full_facts.states.len(), 200);
    assert_eq!(full_facts.states["i-us-east-1b-0007"], "stopped");
    assert_eq!(full_facts.states["i-us-east-1c-0001"], "running");
    assert_eq!(split_facts, full_facts);
    // Minimal: ceil(200 / 50) = 4 pages, one after another.
    assert_eq!(
        full_calls.get("DescribeInstances"),
        Some(&4),
        "{full_calls:?}"
    );
    assert_eq!(full_calls.get("DescribeAvailabilityZones"), None);
    // Split: one zone call, the probe page (the full chain's first), then
    // 3 + 2 + 1 pages and one empty answer.
    assert_eq!(split_calls.get("DescribeAvailabilityZones"), Some(&1));
    assert_eq!(
        split_calls.get("DescribeInstances"),
        Some(&8),
        "{split_calls:?}"
    );
    // A page no slower than the zone call: no split, and the chain goes on
    // from the probe page, which is then not an extra call.
    let (kept, kept_facts, kept_calls) = read(SplitListing {
        above: 0,
        max_overhead: f64::INFINITY,
        slow_page: f64::INFINITY,
    })
    .await;
    assert_eq!(kept, full);
    assert_eq!(kept_facts, full_facts);
    assert_eq!(kept_calls.get("DescribeAvailabilityZones"), Some(&1));
    assert_eq!(
        kept_calls.get("DescribeInstances"),
        Some(&4),
        "{kept_calls:?}"
    );
    // Started early, the same listings in the same calls; where the probe
    // page says no split can pay, not even the zone call.
    let splitting = SplitListing {
        above: 0,
        max_overhead: f64::INFINITY,
        slow_page: 0.0,
    };
    let (early_split, early_split_facts, early_split_calls) = read_as(splitting, true).await;
    assert_eq!(early_split, full);
    assert_eq!(early_split_facts, full_facts);
    assert_eq!(early_split_calls, split_calls);
    let (early_kept, early_kept_facts, early_kept_calls) = read_as(
        SplitListing {
            slow_page: f64::INFINITY,
            ..splitting
        },
        true,
    )
    .await;
    assert_eq!(early_kept, full);
    assert_eq!(early_kept_facts, full_facts);
    assert_eq!(early_kept_calls.get("DescribeAvailabilityZones"), None);
    assert_eq!(early_kept_calls, full_calls);
    eprintln!("full listing {full_calls:?}; split by zone {split_calls:?}; probed, not split {kept_calls:?}");
}

/// A split that is not a partition (here the zone list leaves out a zone
/// with instances, as an emulator whose `availability-zone` filter never
/// matches would) must not make those instances `missing`: the managed ones
/// the parts did not find are listed by id, and when that finds any, the
/// scope is listed again in one chain, so the result (unmanaged instances
/// included) is the full listing's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_that_misses_instances_falls_back_to_the_full_listing() {
    use driftd::aws::ec2::{read_instances_sharing, SharedInstances, SplitListing};
    use driftd::aws::Clients;
    use driftd_core::Desired;

    let fake = FakeEc2::start(1e9, 1e9).await;
    {
        let mut w = fake.world.lock().unwrap();
        w.page = 50;
        // us-east-1c holds instances but is not in the zone list.
        w.zones = ["us-east-1a", "us-east-1b"].map(String::from).to_vec();
        for (zone, n) in [("us-east-1a", 60), ("us-east-1b", 30), ("us-east-1c", 10)] {
            for i in 0..n {
                w.instances.push(FakeInstance {
                    id: format!("i-{zone}-{i:04}"),
                    zone: zone.into(),
                    state: "running".into(),
                });
            }
        }
    }
    let (desired, target) = managed_every(&fake, 2);
    let refs: Vec<&Desired> = desired.iter().collect();
    let calls = ApiCalls::new();
    let clients = Clients::new(&target, &crate::moto::client_options(), &calls).await;
    let (tx, shared) = SharedInstances::channel();
    let split = SplitListing {
        above: 0,
        max_overhead: f64::INFINITY,
        slow_page: 0.0,
    };
    let live = read_instances_sharing(&clients.ec2, &refs, true, 4, split, Some(tx))
        .await
        .unwrap();
    assert_eq!(
        live.len(),
        100,
        "every instance, unmanaged ones of us-east-1c too"
    );
    assert!(live.contains_key("i-us-east-1c-0000"));
    assert!(live.contains_key("i-us-east-1c-0001"));
    let facts = shared.get().await.expect("facts sent").unwrap();
    assert_eq!(facts.states.len(), 100);
    let by_op = calls.by_operation();
    // The probe page, the split (2 + 1 pages), the confirming call by id
    // (5 unseen managed), then the full chain (2 pages).
    assert_eq!(by_op.get("DescribeAvailabilityZones"), Some(&1));
    assert_eq!(by_op.get("DescribeInstances"), Some(&7), "{by_op:?}");
}
