//! The replay endpoint: an HTTP/1 server (hyper, multi-threaded tokio) that
//! answers the EC2 query protocol and S3 REST (path style) from a generated
//! [`World`], with real pagination, latency and token-bucket throttling.
//!
//! Control endpoints (never called by the scenarios):
//! - `GET /__replay/stats`: JSON `{calls, throttled, cpu_secs, peak_rss}`,
//!   calls and throttled answers by operation since the last reset, and
//!   this process's user+sys CPU seconds;
//! - `POST /__replay/reset` (body: [`Settings`] as JSON): zero the counters,
//!   refill every bucket, apply the settings.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

use super::limits::{Bucket, Settings};
use super::model::{World, ACCOUNT, AMI, REGION};

const EC2_NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const CREATED: &str = "2024-05-01T12:00:00.000Z";

/// What `/__replay/stats` answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub calls: BTreeMap<String, u64>,
    pub throttled: BTreeMap<String, u64>,
    /// user+sys CPU seconds of the server process, since it started.
    pub cpu_secs: f64,
    pub peak_rss: u64,
}

pub struct State {
    pub world: World,
    settings: RwLock<Settings>,
    calls: Mutex<BTreeMap<String, u64>>,
    throttled: Mutex<BTreeMap<String, u64>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    request_id: AtomicU64,
}

impl State {
    pub fn new(world: World, settings: Settings) -> Arc<State> {
        Arc::new(State {
            world,
            settings: RwLock::new(settings),
            calls: Mutex::default(),
            throttled: Mutex::default(),
            buckets: Mutex::default(),
            request_id: AtomicU64::new(1),
        })
    }

    pub fn reset(&self, s: Settings) {
        *self.settings.write().unwrap() = s;
        self.calls.lock().unwrap().clear();
        self.throttled.lock().unwrap().clear();
        self.buckets.lock().unwrap().clear();
    }

    pub fn stats(&self) -> Stats {
        let (cpu_secs, peak_rss) = own_rusage();
        Stats {
            calls: self.calls.lock().unwrap().clone(),
            throttled: self.throttled.lock().unwrap().clone(),
            cpu_secs,
            peak_rss,
        }
    }

    fn settings(&self) -> Settings {
        self.settings.read().unwrap().clone()
    }

    fn count(&self, op: &str) {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(op.to_string())
            .or_default() += 1;
    }

    /// Take a token from the bucket of `key`; false: throttled.
    fn admit(&self, key: &str, op: &str, ec2: bool, s: &Settings) -> bool {
        if !s.limits.enabled {
            return true;
        }
        let (burst, refill) = if ec2 {
            (s.limits.ec2_burst, s.limits.ec2_refill)
        } else {
            (s.limits.s3_burst, s.limits.s3_refill)
        };
        let refill = refill * s.dilation.max(1e-9);
        let ok = self
            .buckets
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_insert_with(|| Bucket::new(burst))
            .take(burst, refill, Instant::now());
        if !ok {
            *self
                .throttled
                .lock()
                .unwrap()
                .entry(op.to_string())
                .or_default() += 1;
        }
        ok
    }

    fn rid(&self) -> String {
        let n = self.request_id.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-7e9a-4c1d-9b2e-{:012x}", n >> 20, n)
    }
}

/// user+sys CPU seconds and peak RSS (bytes) of this process.
#[allow(unsafe_code)] // libc::getrusage: no safe std API
pub fn own_rusage() -> (f64, u64) {
    // SAFETY: plain FFI call with a valid out-pointer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime) + t(ru.ru_stime), ru.ru_maxrss as u64 * 1024)
}

/// Serve on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let st = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let st = st.clone();
                async move { Ok::<_, Infallible>(handle(st, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Bind 127.0.0.1 on a free port and serve in the background.
pub async fn start(state: Arc<State>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, state));
    Ok(addr)
}

type Resp = Response<Full<Bytes>>;

fn resp(status: StatusCode, body: String, headers: &[(&str, String)]) -> Resp {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "text/xml;charset=UTF-8")
        .header("server", "driftd-bench-replay");
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Full::new(Bytes::from(body))).expect("response")
}

/// One answer before latency: status, body, items (for the per-item latency).
struct Answer {
    status: StatusCode,
    body: String,
    items: usize,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn ok(body: String, items: usize) -> Self {
        Answer {
            status: StatusCode::OK,
            body,
            items,
            headers: vec![],
        }
    }
}

async fn handle(st: Arc<State>, req: Request<hyper::body::Incoming>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if let Some(ctl) = path.strip_prefix("/__replay/") {
        return control(&st, ctl, &body);
    }
    let s = st.settings();
    let (op, answer) = if method == Method::POST && path == "/" {
        let params = parse_form(&body);
        let action = param(&params, "Action").unwrap_or("").to_string();
        let op = action.clone();
        if !st.admit(&op, &op, true, &s) {
            st.count(&op);
            let a = ec2_error(
                &st,
                StatusCode::SERVICE_UNAVAILABLE,
                "RequestLimitExceeded",
                "Request limit exceeded.",
            );
            return finish(&s, &op, a).await;
        }
        (op, ec2_dispatch(&st, &s, &action, &params))
    } else {
        let (op, bucket) = s3_op(&method, &path, &query);
        let key = if bucket.is_empty() {
            op.to_string()
        } else {
            format!("s3:{bucket}")
        };
        if !st.admit(&key, op, false, &s) {
            st.count(op);
            let a = s3_error(
                &st,
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
                &bucket,
            );
            return finish(&s, op, a).await;
        }
        (op.to_string(), s3_dispatch(&st, &s, op, &bucket, &query))
    };
    st.count(&op);
    finish(&s, &op, answer).await
}

async fn finish(s: &Settings, op: &str, a: Answer) -> Resp {
    let d = s.latency.of(op, a.items).div_f64(s.dilation.max(1e-9));
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
    resp(a.status, a.body, &a.headers)
}

fn control(st: &State, ctl: &str, body: &[u8]) -> Resp {
    match ctl {
        "stats" => resp(
            StatusCode::OK,
            serde_json::to_string(&st.stats()).unwrap_or_default(),
            &[],
        ),
        "reset" => match serde_json::from_slice::<Settings>(body) {
            Ok(s) => {
                st.reset(s);
                resp(StatusCode::OK, "{}".into(), &[])
            }
            Err(e) => resp(StatusCode::BAD_REQUEST, format!("bad settings: {e}"), &[]),
        },
        _ => resp(StatusCode::NOT_FOUND, String::new(), &[]),
    }
}

// ---------------------------------------------------------------- EC2 ----

/// `application/x-www-form-urlencoded` into pairs.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(c) => {
                        out.push(c);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// `Prefix.1`, `Prefix.2`, ... values.
fn list(p: &[(String, String)], prefix: &str) -> Vec<String> {
    let pre = format!("{prefix}.");
    p.iter()
        .filter(|(n, _)| {
            n.strip_prefix(&pre)
                .is_some_and(|r| r.parse::<u32>().is_ok())
        })
        .map(|(_, v)| v.clone())
        .collect()
}

/// `Filter.N.Name` / `Filter.N.Value.M` into (name, values).
fn filters(p: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut by: BTreeMap<u32, (String, Vec<String>)> = BTreeMap::new();
    for (k, v) in p {
        let Some(rest) = k.strip_prefix("Filter.") else {
            continue;
        };
        let Some((n, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        let e = by.entry(n).or_default();
        if field == "Name" {
            e.0 = v.clone();
        } else if field.starts_with("Value.") {
            e.1.push(v.clone());
        }
    }
    by.into_values().collect()
}

fn esc(s: &str) -> String {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return s.to_string();
    }
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn ec2_error(st: &State, status: StatusCode, code: &str, msg: &str) -> Answer {
    Answer {
        status,
        body: format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
            esc(msg),
            st.rid()
        ),
        items: 0,
        headers: vec![],
    }
}

fn bad(st: &State, msg: &str) -> Answer {
    ec2_error(st, StatusCode::BAD_REQUEST, "InvalidParameterValue", msg)
}

/// Page parameters: (offset, page size) from `NextToken` and `MaxResults`.
fn page_of(
    st: &State,
    p: &[(String, String)],
    s: &Settings,
    min: usize,
    max: usize,
) -> Result<(usize, usize), Answer> {
    let size = match param(p, "MaxResults") {
        Some(v) => {
            let n: usize = v
                .parse()
                .map_err(|_| bad(st, "MaxResults is not a number"))?;
            if n < min || n > max {
                return Err(bad(
                    st,
                    &format!("Value ( {n} ) for parameter maxResults is invalid. Expecting a value between {min} and {max}."),
                ));
            }
            n
        }
        None if s.default_page > 0 => s.default_page,
        None => usize::MAX,
    };
    let offset = match param(p, "NextToken") {
        None | Some("") => 0,
        Some(t) => t
            .strip_prefix("rp1.")
            .and_then(|r| r.split('.').next())
            .and_then(|n| usize::from_str_radix(n, 16).ok())
            .ok_or_else(|| {
                ec2_error(
                    st,
                    StatusCode::BAD_REQUEST,
                    "InvalidNextToken",
                    "The token is invalid.",
                )
            })?,
    };
    Ok((offset, size))
}

fn token(offset: usize) -> String {
    // Opaque to the client, like EC2's; carries the next offset.
    format!("rp1.{offset:x}.{:016x}", super::model::mix(offset as u64))
}

/// Paginate `n` matching items: (range, next token element).
fn window(n: usize, offset: usize, size: usize) -> (std::ops::Range<usize>, String) {
    let start = offset.min(n);
    let end = start.saturating_add(size).min(n);
    let next = if end < n {
        format!("<nextToken>{}</nextToken>", token(end))
    } else {
        String::new()
    };
    (start..end, next)
}

fn tag_set(out: &mut String, tags: &[(&str, &str)]) {
    if tags.is_empty() {
        out.push_str("<tagSet/>");
        return;
    }
    out.push_str("<tagSet>");
    for (k, v) in tags {
        let _ = write!(
            out,
            "<item><key>{}</key><value>{}</value></item>",
            esc(k),
            esc(v)
        );
    }
    out.push_str("</tagSet>");
}

/// Check filters against the supported names; `Err` for an unknown one.
fn check_filters(st: &State, f: &[(String, Vec<String>)], known: &[&str]) -> Result<(), Answer> {
    for (n, _) in f {
        if !known.contains(&n.as_str()) {
            return Err(ec2_error(
                st,
                StatusCode::BAD_REQUEST,
                "InvalidParameterValue",
                &format!("The filter '{n}' is invalid (not modelled by the replay endpoint)"),
            ));
        }
    }
    Ok(())
}

fn matches(f: &[(String, Vec<String>)], name: &str, value: &str) -> bool {
    f.iter()
        .filter(|(n, _)| n == name)
        .all(|(_, vs)| vs.iter().any(|v| v == value))
}

fn ec2_dispatch(st: &State, s: &Settings, action: &str, p: &[(String, String)]) -> Answer {
    let r = match action {
        "DescribeInstances" => describe_instances(st, s, p),
        "DescribeSecurityGroups" => describe_groups(st, s, p),
        "DescribeSecurityGroupRules" => describe_group_rules(st, s, p),
        "DescribeVpcs" => describe_vpcs(st, s, p),
        "DescribeSubnets" => describe_subnets(st, s, p),
        "DescribeRouteTables" => describe_route_tables(st, s, p),
        "DescribeVpcAttribute" => describe_vpc_attribute(st, p),
        "DescribeInstanceAttribute" => describe_instance_attribute(st, p),
        "DescribeAvailabilityZones" => Ok(Answer::ok(describe_zones(st), 0)),
        "GetEbsEncryptionByDefault" => Ok(Answer::ok(
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetEbsEncryptionByDefaultResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><ebsEncryptionByDefault>false</ebsEncryptionByDefault><sseType>sse-ebs</sseType></GetEbsEncryptionByDefaultResponse>", st.rid()),
            0,
        )),
        _ => match empty_list_element(action) {
            Some(el) => Ok(Answer::ok(
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{EC2_NS}\"><requestId>{}</requestId><{el}/></{action}Response>", st.rid()),
                0,
            )),
            None => Err(ec2_error(
                st,
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                &format!("The action {action} is not valid for this web service (not modelled by the replay endpoint)."),
            )),
        },
    };
    r.unwrap_or_else(|e| e)
}

/// The region's zones (the world's, all of them Availability Zones), in
/// EC2's shape; `AllAvailabilityZones` changes nothing here.
fn describe_zones(st: &State) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeAvailabilityZonesResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><availabilityZoneInfo>",
        st.rid()
    );
    for (name, id) in super::model::ZONES {
        let _ = write!(
            out,
            "<item><optInStatus>opt-in-not-required</optInStatus><zoneName>{name}</zoneName><zoneId>{id}</zoneId>\
<groupName>{REGION}-zg-1</groupName><networkBorderGroup>{REGION}</networkBorderGroup><zoneType>availability-zone</zoneType>\
<zoneState>available</zoneState><messageSet/><regionName>{REGION}</regionName></item>"
        );
    }
    out.push_str("</availabilityZoneInfo></DescribeAvailabilityZonesResponse>");
    out
}

/// Listings the world has nothing of: their list element.
fn empty_list_element(action: &str) -> Option<&'static str> {
    Some(match action {
        "DescribeInternetGateways" => "internetGatewaySet",
        "DescribeNatGateways" => "natGatewaySet",
        "DescribeAddresses" => "addressesSet",
        "DescribeNetworkAcls" => "networkAclSet",
        "DescribeNetworkInterfaces" => "networkInterfaceSet",
        "DescribeVolumes" => "volumeSet",
        "DescribeKeyPairs" => "keySet",
        "DescribeImages" => "imagesSet",
        "DescribeSnapshots" => "snapshotSet",
        "DescribePlacementGroups" => "placementGroupSet",
        "DescribeLaunchTemplates" => "launchTemplates",
        "DescribeLaunchTemplateVersions" => "launchTemplateVersionSet",
        "DescribeDhcpOptions" => "dhcpOptionsSet",
        "DescribeVpcEndpoints" => "vpcEndpointSet",
        "DescribeVpcPeeringConnections" => "vpcPeeringConnectionSet",
        "DescribeEgressOnlyInternetGateways" => "egressOnlyInternetGatewaySet",
        "DescribeTransitGateways" => "transitGatewaySet",
        "DescribeFlowLogs" => "flowLogSet",
        "DescribePrefixLists" => "prefixListSet",
        "DescribeManagedPrefixLists" => "prefixListSet",
        _ => return None,
    })
}

const STATES: &[(&str, u32)] = &[("running", 16), ("terminated", 48)];

fn describe_instances(st: &State, s: &Settings, p: &[(String, String)]) -> Result<Answer, Answer> {
    let w = &st.world;
    let f = filters(p);
    check_filters(
        st,
        &f,
        &[
            "instance-state-name",
            "instance-id",
            "availability-zone",
            "vpc-id",
            "subnet-id",
            "tag:bench",
        ],
    )?;
    let ids = list(p, "InstanceId");
    if !ids.is_empty() && param(p, "MaxResults").is_some() {
        return Err(ec2_error(
            st,
            StatusCode::BAD_REQUEST,
            "InvalidParameterCombination",
            "The parameter instancesSet cannot be used with the parameter maxResults",
        ));
    }
    let (offset, size) = page_of(st, p, s, 5, 1000)?;
    let by_filter: Vec<&String> = f
        .iter()
        .filter(|(n, _)| n == "instance-id")
        .flat_map(|(_, v)| v)
        .collect();
    let selected: Vec<usize> = if ids.is_empty() && !by_filter.is_empty() {
        // An id filter (up to 200 values): look them up rather than scan
        // every instance (unknown ids simply match nothing, as on EC2).
        let mut v: Vec<usize> = by_filter
            .iter()
            .filter_map(|id| st.index_of_instance(id))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    } else if ids.is_empty() {
        (0..w.instances.len()).collect()
    } else {
        // By id: an unknown id is an error, as on EC2.
        let mut v = Vec::with_capacity(ids.len());
        for id in &ids {
            match st.index_of_instance(id) {
                Some(i) => v.push(i),
                None => {
                    return Err(ec2_error(
                        st,
                        StatusCode::BAD_REQUEST,
                        "InvalidInstanceID.NotFound",
                        &format!("The instance ID '{id}' does not exist"),
                    ))
                }
            }
        }
        v
    };
    let matching: Vec<usize> = selected
        .into_iter()
        .filter(|&i| {
            let inst = &w.instances[i];
            let state = if inst.terminated {
                "terminated"
            } else {
                "running"
            };
            let sn = &w.subnets[inst.subnet];
            matches(&f, "instance-state-name", state)
                && matches(&f, "instance-id", &inst.id)
                && matches(&f, "availability-zone", w.zone(inst.subnet).0)
                && matches(&f, "vpc-id", &w.vpcs[sn.vpc].id)
                && matches(&f, "subnet-id", &sn.id)
                && matches(&f, "tag:bench", inst.bench_tag)
        })
        .collect();
    let (range, next) = window(matching.len(), offset, size);
    let page = &matching[range];
    let mut out = String::with_capacity(page.len() * 4200 + 512);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><reservationSet>",
        st.rid()
    );
    let mut k = 0;
    while k < page.len() {
        let r = w.instances[page[k]].reservation;
        let _ = write!(
            out,
            "<item><reservationId>r-{:017x}</reservationId><ownerId>{ACCOUNT}</ownerId><groupSet/><instancesSet>",
            super::model::mix(r as u64 ^ w.spec.seed) >> 4
        );
        while k < page.len() && w.instances[page[k]].reservation == r {
            instance_xml(&mut out, w, page[k]);
            k += 1;
        }
        out.push_str("</instancesSet></item>");
    }
    let _ = write!(out, "</reservationSet>{next}</DescribeInstancesResponse>");
    Ok(Answer::ok(out, page.len()))
}

impl State {
    fn index_of_instance(&self, id: &str) -> Option<usize> {
        self.instance_index().get(id).copied()
    }

    fn instance_index(&self) -> &HashMap<String, usize> {
        &self.world.instance_index
    }
}

fn instance_xml(out: &mut String, w: &World, i: usize) {
    let x = &w.instances[i];
    let sn = &w.subnets[x.subnet];
    let vpc = &w.vpcs[sn.vpc].id;
    let g = &w.groups[x.group];
    let (az, _) = w.zone(x.subnet);
    let ipd = x.ip.replace('.', "-");
    let (state, code) = if x.terminated { STATES[1] } else { STATES[0] };
    let _ = write!(
        out,
        "<item><instanceId>{id}</instanceId><imageId>{AMI}</imageId><instanceState><code>{code}</code><name>{state}</name></instanceState>\
<privateDnsName>ip-{ipd}.ec2.internal</privateDnsName><dnsName/><reason/><amiLaunchIndex>{li}</amiLaunchIndex><productCodes/>\
<instanceType>{it}</instanceType><launchTime>{CREATED}</launchTime>\
<placement><availabilityZone>{az}</availabilityZone><groupName/><tenancy>default</tenancy></placement>\
<monitoring><state>disabled</state></monitoring>",
        id = x.id,
        li = x.launch_index,
        it = x.itype,
    );
    if !x.terminated {
        let _ = write!(
            out,
            "<subnetId>{sid}</subnetId><vpcId>{vpc}</vpcId><privateIpAddress>{ip}</privateIpAddress>",
            sid = sn.id,
            ip = x.ip
        );
    }
    let _ = write!(
        out,
        "<sourceDestCheck>true</sourceDestCheck><groupSet><item><groupId>{gid}</groupId><groupName>{gn}</groupName></item></groupSet>\
<architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName>\
<blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><volumeId>{vol}</volumeId><status>attached</status>\
<attachTime>{CREATED}</attachTime><deleteOnTermination>true</deleteOnTermination></ebs></item></blockDeviceMapping>\
<virtualizationType>hvm</virtualizationType><clientToken/>",
        gid = g.id,
        gn = esc(&g.name),
        vol = x.volume
    );
    tag_set(out, &[("Name", &x.name), ("bench", x.bench_tag)]);
    out.push_str("<hypervisor>xen</hypervisor>");
    if !x.terminated {
        let _ = write!(
            out,
            "<networkInterfaceSet><item><networkInterfaceId>{eni}</networkInterfaceId><subnetId>{sid}</subnetId><vpcId>{vpc}</vpcId>\
<description/><ownerId>{ACCOUNT}</ownerId><status>in-use</status><macAddress>0e:{m:010x}</macAddress>\
<privateIpAddress>{ip}</privateIpAddress><privateDnsName>ip-{ipd}.ec2.internal</privateDnsName><sourceDestCheck>true</sourceDestCheck>\
<groupSet><item><groupId>{gid}</groupId><groupName>{gn}</groupName></item></groupSet>\
<attachment><attachmentId>eni-attach-{a}</attachmentId><deviceIndex>0</deviceIndex><networkCardIndex>0</networkCardIndex><status>attached</status>\
<attachTime>{CREATED}</attachTime><deleteOnTermination>true</deleteOnTermination></attachment>\
<privateIpAddressesSet><item><privateIpAddress>{ip}</privateIpAddress><privateDnsName>ip-{ipd}.ec2.internal</privateDnsName><primary>true</primary></item></privateIpAddressesSet>\
<ipv6AddressesSet/><interfaceType>interface</interfaceType></item></networkInterfaceSet>",
            eni = x.eni,
            sid = sn.id,
            ip = x.ip,
            m = super::model::mix(i as u64) & 0xff_ffff_ffff,
            gid = g.id,
            gn = esc(&g.name),
            a = &x.eni[4..],
        );
    }
    out.push_str(
        "<ebsOptimized>false</ebsOptimized><enaSupport>true</enaSupport>\
<cpuOptions><coreCount>1</coreCount><threadsPerCore>2</threadsPerCore></cpuOptions>\
<capacityReservationSpecification><capacityReservationPreference>open</capacityReservationPreference></capacityReservationSpecification>\
<hibernationOptions><configured>false</configured></hibernationOptions>\
<metadataOptions><state>applied</state><httpTokens>required</httpTokens><httpPutResponseHopLimit>2</httpPutResponseHopLimit>\
<httpEndpoint>enabled</httpEndpoint><httpProtocolIpv6>disabled</httpProtocolIpv6><instanceMetadataTags>disabled</instanceMetadataTags></metadataOptions>\
<enclaveOptions><enabled>false</enabled></enclaveOptions><bootMode>uefi-preferred</bootMode>\
<platformDetails>Linux/UNIX</platformDetails><usageOperation>RunInstances</usageOperation><usageOperationUpdateTime>2024-05-01T12:00:00.000Z</usageOperationUpdateTime>\
<privateDnsNameOptions><hostnameType>ip-name</hostnameType><enableResourceNameDnsARecord>false</enableResourceNameDnsARecord><enableResourceNameDnsAAAARecord>false</enableResourceNameDnsAAAARecord></privateDnsNameOptions>\
<maintenanceOptions><autoRecovery>default</autoRecovery></maintenanceOptions><currentInstanceBootMode>legacy-bios</currentInstanceBootMode></item>",
    );
}

fn describe_groups(st: &State, s: &Settings, p: &[(String, String)]) -> Result<Answer, Answer> {
    let w = &st.world;
    let f = filters(p);
    check_filters(st, &f, &["group-id", "vpc-id", "group-name"])?;
    let ids = list(p, "GroupId");
    let (offset, size) = page_of(st, p, s, 5, 1000)?;
    let matching: Vec<usize> = (0..w.groups.len())
        .filter(|&g| {
            let x = &w.groups[g];
            (ids.is_empty() || ids.contains(&x.id))
                && matches(&f, "group-id", &x.id)
                && matches(&f, "vpc-id", &w.vpcs[x.vpc].id)
                && matches(&f, "group-name", &x.name)
        })
        .collect();
    if let Some(missing) = ids
        .iter()
        .find(|id| !matching.iter().any(|&g| &w.groups[g].id == *id))
    {
        return Err(ec2_error(
            st,
            StatusCode::BAD_REQUEST,
            "InvalidGroup.NotFound",
            &format!("The security group '{missing}' does not exist"),
        ));
    }
    let (range, next) = window(matching.len(), offset, size);
    let page = &matching[range];
    let mut out = String::with_capacity(page.len() * 1200 + 512);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSecurityGroupsResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><securityGroupInfo>",
        st.rid()
    );
    for &g in page {
        let x = &w.groups[g];
        let _ = write!(
            out,
            "<item><ownerId>{ACCOUNT}</ownerId><groupId>{id}</groupId><groupName>{n}</groupName><groupDescription>bench group</groupDescription>\
<vpcId>{vpc}</vpcId><securityGroupArn>arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{id}</securityGroupArn>\
<ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>{port}</fromPort><toPort>{port}</toPort><groups/>\
<ipRanges><item><cidrIp>10.0.0.0/8</cidrIp></item></ipRanges><ipv6Ranges/><prefixListIds/></item></ipPermissions>\
<ipPermissionsEgress><item><ipProtocol>-1</ipProtocol><groups/><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges>\
<ipv6Ranges/><prefixListIds/></item></ipPermissionsEgress>",
            id = x.id,
            n = esc(&x.name),
            vpc = w.vpcs[x.vpc].id,
            port = x.port
        );
        tag_set(&mut out, &[("Name", &x.name), ("bench", x.bench_tag)]);
        out.push_str("</item>");
    }
    let _ = write!(
        out,
        "</securityGroupInfo>{next}</DescribeSecurityGroupsResponse>"
    );
    Ok(Answer::ok(out, page.len()))
}

fn describe_group_rules(
    st: &State,
    s: &Settings,
    p: &[(String, String)],
) -> Result<Answer, Answer> {
    let w = &st.world;
    let f = filters(p);
    check_filters(st, &f, &["group-id", "security-group-rule-id"])?;
    let ids = list(p, "SecurityGroupRuleId");
    let (offset, size) = page_of(st, p, s, 5, 1000)?;
    // Two rules per group: ingress, egress.
    let matching: Vec<(usize, bool)> = (0..w.groups.len())
        .flat_map(|g| [(g, false), (g, true)])
        .filter(|&(g, egress)| {
            let x = &w.groups[g];
            let rid = if egress {
                &x.egress_rule
            } else {
                &x.ingress_rule
            };
            (ids.is_empty() || ids.contains(rid))
                && matches(&f, "group-id", &x.id)
                && matches(&f, "security-group-rule-id", rid)
        })
        .collect();
    let (range, next) = window(matching.len(), offset, size);
    let page = &matching[range];
    let mut out = String::with_capacity(page.len() * 400 + 512);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSecurityGroupRulesResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><securityGroupRuleSet>",
        st.rid()
    );
    for &(g, egress) in page {
        let x = &w.groups[g];
        let (rid, proto, from, to, cidr) = if egress {
            (&x.egress_rule, "-1", -1i32, -1i32, "0.0.0.0/0")
        } else {
            (
                &x.ingress_rule,
                "tcp",
                x.port as i32,
                x.port as i32,
                "10.0.0.0/8",
            )
        };
        let _ = write!(
            out,
            "<item><securityGroupRuleId>{rid}</securityGroupRuleId><groupId>{gid}</groupId><groupOwnerId>{ACCOUNT}</groupOwnerId>\
<isEgress>{egress}</isEgress><ipProtocol>{proto}</ipProtocol><fromPort>{from}</fromPort><toPort>{to}</toPort><cidrIpv4>{cidr}</cidrIpv4>\
<securityGroupRuleArn>arn:aws:ec2:{REGION}:{ACCOUNT}:security-group-rule/{rid}</securityGroupRuleArn><tagSet/></item>",
            gid = x.id
        );
    }
    let _ = write!(
        out,
        "</securityGroupRuleSet>{next}</DescribeSecurityGroupRulesResponse>"
    );
    Ok(Answer::ok(out, page.len()))
}

fn describe_vpcs(st: &State, s: &Settings, p: &[(String, String)]) -> Result<Answer, Answer> {
    let w = &st.world;
    let f = filters(p);
    check_filters(st, &f, &["vpc-id"])?;
    let ids = list(p, "VpcId");
    let (offset, size) = page_of(st, p, s, 5, 1000)?;
    let matching: Vec<usize> = (0..w.vpcs.len())
        .filter(|&v| {
            let x = &w.vpcs[v];
            (ids.is_empty() || ids.contains(&x.id)) && matches(&f, "vpc-id", &x.id)
        })
        .collect();
    let (range, next) = window(matching.len(), offset, size);
    let page = &matching[range];
    let mut out = String::with_capacity(page.len() * 800 + 512);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeVpcsResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><vpcSet>",
        st.rid()
    );
    for &v in page {
        let x = &w.vpcs[v];
        let _ = write!(
            out,
            "<item><vpcId>{id}</vpcId><ownerId>{ACCOUNT}</ownerId><state>available</state><cidrBlock>{c}</cidrBlock>\
<cidrBlockAssociationSet><item><cidrBlock>{c}</cidrBlock><associationId>{a}</associationId><cidrBlockState><state>associated</state></cidrBlockState></item></cidrBlockAssociationSet>\
<ipv6CidrBlockAssociationSet/><dhcpOptionsId>dopt-0bench</dhcpOptionsId><instanceTenancy>default</instanceTenancy><isDefault>false</isDefault>",
            id = x.id,
            c = x.cidr,
            a = x.assoc
        );
        let name = format!("bench-vpc-{v}");
        tag_set(&mut out, &[("Name", &name), ("bench", x.bench_tag)]);
        out.push_str("</item>");
    }
    let _ = write!(out, "</vpcSet>{next}</DescribeVpcsResponse>");
    Ok(Answer::ok(out, page.len()))
}

fn describe_subnets(st: &State, s: &Settings, p: &[(String, String)]) -> Result<Answer, Answer> {
    let w = &st.world;
    let f = filters(p);
    check_filters(st, &f, &["subnet-id", "vpc-id", "availability-zone"])?;
    let ids = list(p, "SubnetId");
    let (offset, size) = page_of(st, p, s, 5, 1000)?;
    let matching: Vec<usize> = (0..w.subnets.len())
        .filter(|&n| {
            let x = &w.subnets[n];
            (ids.is_empty() || ids.contains(&x.id))
                && matches(&f, "subnet-id", &x.id)
                && matches(&f, "vpc-id", &w.vpcs[x.vpc].id)
                && matches(&f, "availability-zone", w.zone(n).0)
        })
        .collect();
    let (range, next) = window(matching.len(), offset, size);
    let page = &matching[range];
    let mut out = String::with_capacity(page.len() * 1200 + 512);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSubnetsResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><subnetSet>",
        st.rid()
    );
    for &n in page {
        let x = &w.subnets[n];
        let (az, azid) = w.zone(n);
        let _ = write!(
            out,
            "<item><subnetId>{id}</subnetId><subnetArn>arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{id}</subnetArn><state>available</state>\
<ownerId>{ACCOUNT}</ownerId><vpcId>{vpc}</vpcId><cidrBlock>{c}</cidrBlock><ipv6CidrBlockAssociationSet/>\
<availableIpAddressCount>251</availableIpAddressCount><availabilityZone>{az}</availabilityZone><availabilityZoneId>{azid}</availabilityZoneId>\
<defaultForAz>false</defaultForAz><mapPublicIpOnLaunch>false</mapPublicIpOnLaunch><mapCustomerOwnedIpOnLaunch>false</mapCustomerOwnedIpOnLaunch>\
<assignIpv6AddressOnCreation>false</assignIpv6AddressOnCreation><enableDns64>false</enableDns64><ipv6Native>false</ipv6Native>\
<privateDnsNameOptionsOnLaunch><hostnameType>ip-name</hostnameType><enableResourceNameDnsARecord>false</enableResourceNameDnsARecord>\
<enableResourceNameDnsAAAARecord>false</enableResourceNameDnsAAAARecord></privateDnsNameOptionsOnLaunch>",
            id = x.id,
            vpc = w.vpcs[x.vpc].id,
            c = x.cidr
        );
        let name = format!("bench-subnet-{n}");
        tag_set(&mut out, &[("Name", &name), ("bench", x.bench_tag)]);
        out.push_str("</item>");
    }
    let _ = write!(out, "</subnetSet>{next}</DescribeSubnetsResponse>");
    Ok(Answer::ok(out, page.len()))
}

fn describe_route_tables(
    st: &State,
    s: &Settings,
    p: &[(String, String)],
) -> Result<Answer, Answer> {
    let w = &st.world;
    let f = filters(p);
    check_filters(
        st,
        &f,
        &["route-table-id", "vpc-id", "association.subnet-id"],
    )?;
    let ids = list(p, "RouteTableId");
    let (offset, size) = page_of(st, p, s, 5, 100)?;
    let matching: Vec<usize> = (0..w.subnets.len())
        .filter(|&n| {
            let x = &w.subnets[n];
            (ids.is_empty() || ids.contains(&x.route_table))
                && matches(&f, "route-table-id", &x.route_table)
                && matches(&f, "vpc-id", &w.vpcs[x.vpc].id)
                && matches(&f, "association.subnet-id", &x.id)
        })
        .collect();
    let (range, next) = window(matching.len(), offset, size);
    let page = &matching[range];
    let mut out = String::with_capacity(page.len() * 1000 + 512);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRouteTablesResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><routeTableSet>",
        st.rid()
    );
    for &n in page {
        let x = &w.subnets[n];
        let vpc = &w.vpcs[x.vpc];
        let _ = write!(
            out,
            "<item><routeTableId>{rt}</routeTableId><vpcId>{v}</vpcId><ownerId>{ACCOUNT}</ownerId>\
<routeSet><item><destinationCidrBlock>{c}</destinationCidrBlock><gatewayId>local</gatewayId><state>active</state><origin>CreateRouteTable</origin></item></routeSet>\
<associationSet><item><routeTableAssociationId>{a}</routeTableAssociationId><routeTableId>{rt}</routeTableId><subnetId>{sid}</subnetId><main>false</main>\
<associationState><state>associated</state></associationState></item></associationSet><propagatingVgwSet/>",
            rt = x.route_table,
            v = vpc.id,
            c = vpc.cidr,
            a = x.rt_assoc,
            sid = x.id
        );
        let name = format!("bench-rtb-{n}");
        tag_set(&mut out, &[("Name", &name), ("bench", "driftd")]);
        out.push_str("</item>");
    }
    let _ = write!(out, "</routeTableSet>{next}</DescribeRouteTablesResponse>");
    Ok(Answer::ok(out, page.len()))
}

fn describe_vpc_attribute(st: &State, p: &[(String, String)]) -> Result<Answer, Answer> {
    let vpc = param(p, "VpcId").unwrap_or("");
    if !st.world.vpcs.iter().any(|v| v.id == vpc) {
        return Err(ec2_error(
            st,
            StatusCode::BAD_REQUEST,
            "InvalidVpcID.NotFound",
            &format!("The vpc ID '{vpc}' does not exist"),
        ));
    }
    let attr = match param(p, "Attribute") {
        Some("enableDnsSupport") => "enableDnsSupport",
        Some("enableDnsHostnames") => "enableDnsHostnames",
        Some("enableNetworkAddressUsageMetrics") => "enableNetworkAddressUsageMetrics",
        _ => return Err(bad(st, "Attribute is not valid")),
    };
    let v = attr != "enableNetworkAddressUsageMetrics";
    Ok(Answer::ok(
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeVpcAttributeResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><vpcId>{vpc}</vpcId><{attr}><value>{v}</value></{attr}></DescribeVpcAttributeResponse>",
            st.rid()
        ),
        1,
    ))
}

fn describe_instance_attribute(st: &State, p: &[(String, String)]) -> Result<Answer, Answer> {
    let id = param(p, "InstanceId").unwrap_or("");
    if st.index_of_instance(id).is_none() {
        return Err(ec2_error(
            st,
            StatusCode::BAD_REQUEST,
            "InvalidInstanceID.NotFound",
            &format!("The instance ID '{id}' does not exist"),
        ));
    }
    let (el, v) = match param(p, "Attribute") {
        Some("disableApiTermination") => ("disableApiTermination", "false"),
        Some("disableApiStop") => ("disableApiStop", "false"),
        Some("instanceInitiatedShutdownBehavior") => ("instanceInitiatedShutdownBehavior", "stop"),
        _ => return Err(bad(st, "Attribute is not valid (not modelled)")),
    };
    Ok(Answer::ok(
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstanceAttributeResponse xmlns=\"{EC2_NS}\"><requestId>{}</requestId><instanceId>{id}</instanceId><{el}><value>{v}</value></{el}></DescribeInstanceAttributeResponse>",
            st.rid()
        ),
        1,
    ))
}

// ----------------------------------------------------------------- S3 ----

/// The S3 operation of a path-style request, and its bucket.
fn s3_op(method: &Method, path: &str, query: &str) -> (&'static str, String) {
    let bucket = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let bucket = url_decode(bucket);
    let has = |k: &str| {
        query
            .split('&')
            .any(|p| p == k || p.starts_with(&format!("{k}=")))
    };
    if bucket.is_empty() {
        return ("ListBuckets", bucket);
    }
    let op = if method == Method::HEAD {
        "HeadBucket"
    } else if method != Method::GET {
        "Unsupported"
    } else if has("tagging") {
        "GetBucketTagging"
    } else if has("versioning") {
        "GetBucketVersioning"
    } else if has("encryption") {
        "GetBucketEncryption"
    } else if has("publicAccessBlock") {
        "GetPublicAccessBlock"
    } else if has("policy") {
        "GetBucketPolicy"
    } else if has("location") {
        "GetBucketLocation"
    } else {
        "Unsupported"
    };
    (op, bucket)
}

fn s3_error(st: &State, status: StatusCode, code: &str, msg: &str, bucket: &str) -> Answer {
    Answer {
        status,
        body: format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><BucketName>{}</BucketName><RequestId>{}</RequestId><HostId>replay</HostId></Error>",
            esc(msg),
            esc(bucket),
            st.rid()
        ),
        items: 0,
        headers: vec![],
    }
}

fn s3_dispatch(st: &State, _s: &Settings, op: &str, bucket: &str, query: &str) -> Answer {
    let w = &st.world;
    if op == "ListBuckets" {
        return list_buckets(st, query);
    }
    let Some(b) = w.buckets.iter().find(|b| b.name == bucket) else {
        return s3_error(
            st,
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
            bucket,
        );
    };
    let xml = |inner: String| {
        Answer::ok(
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{inner}"),
            1,
        )
    };
    match op {
        "HeadBucket" => Answer {
            status: StatusCode::OK,
            body: String::new(),
            items: 0,
            headers: vec![
                ("x-amz-bucket-region", REGION.to_string()),
                ("x-amz-request-id", st.rid()),
            ],
        },
        "GetBucketTagging" => xml(format!(
            "<Tagging xmlns=\"{S3_NS}\"><TagSet><Tag><Key>Name</Key><Value>{n}</Value></Tag><Tag><Key>bench</Key><Value>{t}</Value></Tag></TagSet></Tagging>",
            n = esc(&b.name),
            t = b.bench_tag
        )),
        "GetBucketVersioning" => xml(if b.versioned {
            format!("<VersioningConfiguration xmlns=\"{S3_NS}\"><Status>Enabled</Status></VersioningConfiguration>")
        } else {
            format!("<VersioningConfiguration xmlns=\"{S3_NS}\"/>")
        }),
        // Since 2023 every bucket has SSE-S3 by default.
        "GetBucketEncryption" => xml(format!(
            "<ServerSideEncryptionConfiguration xmlns=\"{S3_NS}\"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"
        )),
        "GetPublicAccessBlock" => s3_error(
            st,
            StatusCode::NOT_FOUND,
            "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found",
            bucket,
        ),
        "GetBucketPolicy" => s3_error(st, StatusCode::NOT_FOUND, "NoSuchBucketPolicy", "The bucket policy does not exist", bucket),
        "GetBucketLocation" => xml(format!("<LocationConstraint xmlns=\"{S3_NS}\"/>")),
        _ => s3_error(
            st,
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "This operation is not modelled by the replay endpoint",
            bucket,
        ),
    }
}

fn list_buckets(st: &State, query: &str) -> Answer {
    let w = &st.world;
    let q: Vec<(String, String)> = parse_form(query.as_bytes());
    let max: usize = param(&q, "max-buckets")
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let start: usize = param(&q, "continuation-token")
        .and_then(|t| t.strip_prefix("rp1."))
        .and_then(|r| r.split('.').next())
        .and_then(|n| usize::from_str_radix(n, 16).ok())
        .unwrap_or(0);
    let n = w.buckets.len();
    let end = start.saturating_add(max).min(n);
    let mut out = String::with_capacity((end - start.min(end)) * 160 + 512);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"{S3_NS}\"><Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID><DisplayName>bench</DisplayName></Owner><Buckets>"
    );
    for b in &w.buckets[start.min(end)..end] {
        let _ = write!(
            out,
            "<Bucket><Name>{}</Name><CreationDate>{CREATED}</CreationDate><BucketRegion>{REGION}</BucketRegion></Bucket>",
            esc(&b.name)
        );
    }
    out.push_str("</Buckets>");
    if end < n {
        let _ = write!(out, "<ContinuationToken>{}</ContinuationToken>", token(end));
    }
    out.push_str("</ListAllMyBucketsResult>");
    Answer::ok(out, end - start.min(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_filters() {
        let p = parse_form(b"Action=DescribeInstances&Filter.1.Name=instance-state-name&Filter.1.Value.1=running&Filter.1.Value.2=pending&InstanceId.1=i-1&X=a%2Fb+c");
        assert_eq!(param(&p, "Action"), Some("DescribeInstances"));
        assert_eq!(param(&p, "X"), Some("a/b c"));
        assert_eq!(list(&p, "InstanceId"), vec!["i-1".to_string()]);
        let f = filters(&p);
        assert_eq!(
            f,
            vec![(
                "instance-state-name".to_string(),
                vec!["running".to_string(), "pending".to_string()]
            )]
        );
        assert!(matches(&f, "instance-state-name", "running"));
        assert!(!matches(&f, "instance-state-name", "terminated"));
        assert_eq!(s3_op(&Method::GET, "/b1", "tagging").0, "GetBucketTagging");
        assert_eq!(
            s3_op(&Method::GET, "/", "x-id=ListBuckets").0,
            "ListBuckets"
        );
        assert_eq!(s3_op(&Method::HEAD, "/b1", "").0, "HeadBucket");
    }
}
