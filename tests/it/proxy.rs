//! A fault-injecting HTTP proxy in front of moto, on loopback.
//!
//! Requests whose body or target contains one of the `fail` patterns are
//! answered with an HTTP 500 (an AWS `InternalError`) without reaching moto;
//! everything else is forwarded. One request per connection (the proxy adds
//! `Connection: close`), which is all the SDK needs.
//!
//! `start_chaos` adds a seeded-random mode for the fault tests: a fraction of
//! requests is answered with throttling (EC2 `RequestLimitExceeded`, S3
//! `SlowDown`, both HTTP 503), an HTTP 500, or a dropped connection (the
//! socket closed without an answer), and some forwarded requests are slowed
//! down. The decision for a request depends only on the seed, the request's
//! first line and body, and how many times that same request was seen, so a
//! run is reproducible whatever the order in which concurrent requests
//! arrive. No request is faulted more than `max_consecutive` times in a row,
//! so a client with more attempts than that always gets through.
//!
//! `start_truncating` cuts answers short: the first `times` responses to a
//! request whose first line contains a pattern (an S3 `GetObject`) keep their
//! headers, `Content-Length` included, but only half of the body, and the
//! connection is closed: a download that breaks off half-way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FaultProxy {
    pub url: String,
    pub injected: Arc<AtomicU64>,
    /// Per-kind counts (chaos mode only; zero otherwise).
    pub counts: Arc<ChaosCounts>,
    task: tokio::task::JoinHandle<()>,
}

/// The seeded-random fault mode.
#[derive(Debug, Clone)]
pub struct Chaos {
    pub seed: u64,
    /// Fraction of requests answered with a fault (0.2 = 20%).
    pub fault_fraction: f64,
    /// Fraction of forwarded requests delayed by `slow`.
    pub slow_fraction: f64,
    pub slow: Duration,
    /// Never fault one request more than this many times in a row.
    pub max_consecutive: u32,
}

impl Default for Chaos {
    fn default() -> Self {
        Self {
            seed: 0x5eed,
            fault_fraction: 0.2,
            slow_fraction: 0.1,
            slow: Duration::from_millis(300),
            max_consecutive: 2,
        }
    }
}

/// What chaos mode did.
#[derive(Debug, Default)]
pub struct ChaosCounts {
    pub throttled: AtomicU64,
    pub server_error: AtomicU64,
    pub dropped: AtomicU64,
    pub slowed: AtomicU64,
    pub forwarded: AtomicU64,
}

impl ChaosCounts {
    pub fn get(&self) -> (u64, u64, u64, u64) {
        (
            self.throttled.load(Ordering::SeqCst),
            self.server_error.load(Ordering::SeqCst),
            self.dropped.load(Ordering::SeqCst),
            self.slowed.load(Ordering::SeqCst),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Throttle,
    ServerError,
    Drop,
    Slow,
    None,
}

/// splitmix64: a tiny, well-mixed, seedable generator.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Per request text: (times seen, faults in a row).
type Seen = Arc<Mutex<HashMap<String, (u64, u32)>>>;

fn decide(chaos: &Chaos, seen: &Seen, text: &str) -> Fault {
    let mut m = seen.lock().unwrap();
    let e = m.entry(text.to_string()).or_insert((0, 0));
    e.0 += 1;
    let r = mix(chaos.seed ^ fnv(text) ^ mix(e.0));
    let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
    if unit < chaos.fault_fraction && e.1 < chaos.max_consecutive {
        e.1 += 1;
        return match (r >> 3) % 3 {
            0 => Fault::Throttle,
            1 => Fault::ServerError,
            _ => Fault::Drop,
        };
    }
    e.1 = 0;
    if unit < chaos.fault_fraction + chaos.slow_fraction {
        Fault::Slow
    } else {
        Fault::None
    }
}

fn error_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// An AWS-shaped error: EC2's query protocol (a form body with `Action=`)
/// or S3's REST XML.
fn aws_error(ec2: bool, throttle: bool) -> String {
    match (ec2, throttle) {
        (true, true) => error_response("503 Service Unavailable", "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>chaos</RequestID></Response>"),
        (true, false) => error_response("500 Internal Server Error", "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred</Message></Error></Errors><RequestID>chaos</RequestID></Response>"),
        (false, true) => error_response("503 Slow Down", "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>chaos</RequestId></Error>"),
        (false, false) => error_response("500 Internal Server Error", "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>chaos</RequestId></Error>"),
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = buf[head_end..].to_vec();
    Some((head, body))
}

impl FaultProxy {
    pub async fn start(upstream: &str, fail: Vec<String>) -> FaultProxy {
        Self::start_with(upstream, fail, std::time::Duration::ZERO).await
    }

    /// Like `start`, and every forwarded request is delayed by `delay`.
    pub async fn start_with(
        upstream: &str,
        fail: Vec<String>,
        delay: std::time::Duration,
    ) -> FaultProxy {
        Self::spawn(upstream, fail, delay, None).await
    }

    /// Seeded-random faults in front of `upstream` (see the module docs).
    pub async fn start_chaos(upstream: &str, chaos: Chaos) -> FaultProxy {
        Self::spawn(upstream, Vec::new(), Duration::ZERO, Some(chaos)).await
    }

    async fn spawn(
        upstream: &str,
        fail: Vec<String>,
        delay: std::time::Duration,
        chaos: Option<Chaos>,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let injected = Arc::new(AtomicU64::new(0));
        let counter = injected.clone();
        let counts = Arc::new(ChaosCounts::default());
        let counts2 = counts.clone();
        let seen: Seen = Arc::default();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let (upstream, fail, counter) = (upstream.clone(), fail.clone(), counter.clone());
                let (chaos, seen, counts) = (chaos.clone(), seen.clone(), counts2.clone());
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut client).await else {
                        return;
                    };
                    let first_line = head.lines().next().unwrap_or("").to_string();
                    let text = format!("{first_line}\n{}", String::from_utf8_lossy(&body));
                    if fail.iter().any(|f| text.contains(f.as_str())) {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let msg = "<Response><Errors><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>x</RequestID></Response>";
                        let resp = format!(
                            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                            msg.len()
                        );
                        let _ = client.write_all(resp.as_bytes()).await;
                        return;
                    }
                    if let Some(chaos) = &chaos {
                        let ec2 = String::from_utf8_lossy(&body).contains("Action=");
                        match decide(chaos, &seen, &text) {
                            f @ (Fault::Throttle | Fault::ServerError) => {
                                counter.fetch_add(1, Ordering::SeqCst);
                                let c = if f == Fault::Throttle {
                                    &counts.throttled
                                } else {
                                    &counts.server_error
                                };
                                c.fetch_add(1, Ordering::SeqCst);
                                let resp = aws_error(ec2, f == Fault::Throttle);
                                let _ = client.write_all(resp.as_bytes()).await;
                                let _ = client.shutdown().await;
                                return;
                            }
                            Fault::Drop => {
                                counter.fetch_add(1, Ordering::SeqCst);
                                counts.dropped.fetch_add(1, Ordering::SeqCst);
                                drop(client); // no answer at all
                                return;
                            }
                            Fault::Slow => {
                                counts.slowed.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(chaos.slow).await;
                            }
                            Fault::None => {}
                        }
                        counts.forwarded.fetch_add(1, Ordering::SeqCst);
                    }
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let Ok(mut up) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let mut new_head: String = head
                        .trim_end()
                        .lines()
                        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                        .map(|l| format!("{l}\r\n"))
                        .collect();
                    new_head.push_str("Connection: close\r\n\r\n");
                    if up.write_all(new_head.as_bytes()).await.is_err()
                        || up.write_all(&body).await.is_err()
                    {
                        return;
                    }
                    let mut resp = Vec::new();
                    let _ = up.read_to_end(&mut resp).await;
                    let _ = client.write_all(&resp).await;
                    let _ = client.shutdown().await;
                });
            }
        });
        FaultProxy {
            url,
            injected,
            counts,
            task,
        }
    }
}

// ---- Rule-based faults (per bucket, per region, a fraction of requests, or
// no answer at all). Self-contained: its own accept loop, sharing only the
// seeded mixing functions above.

/// What a rule answers with.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An AWS-shaped error: `status` with `code`, in EC2's query-protocol
    /// shape (body with `Action=`) or S3's REST XML.
    Error { status: u16, code: &'static str },
    /// Throttling: EC2 `RequestLimitExceeded` or S3 `SlowDown` (HTTP 503).
    Throttle,
    /// Accept the request and never answer (the connection stays open).
    Hang,
}

/// One fault rule: requests whose head (request line and headers, e.g. the
/// SigV4 credential scope `/us-west-2/ec2/`) or body contain any of `any`
/// get `answer`, on `fraction` of their attempts (1.0: always), never more
/// than `max_consecutive` times in a row for one request (0: no limit).
#[derive(Debug, Clone)]
pub struct Rule {
    pub any: Vec<String>,
    pub answer: Answer,
    pub fraction: f64,
    pub max_consecutive: u32,
}

impl Rule {
    /// Always answer `status`/`code` to requests containing any of `any`.
    pub fn always(any: &[&str], status: u16, code: &'static str) -> Rule {
        Rule {
            any: any.iter().map(|s| s.to_string()).collect(),
            answer: Answer::Error { status, code },
            fraction: 1.0,
            max_consecutive: 0,
        }
    }

    /// Requests addressed to one S3 bucket (path style: `/bucket`, `/bucket?...`,
    /// `/bucket/key`), never `ListBuckets`.
    pub fn bucket(bucket: &str, status: u16, code: &'static str) -> Rule {
        let any: Vec<String> = [" ", "?", "/"]
            .iter()
            .map(|end| format!(" /{bucket}{end}"))
            .collect();
        Rule {
            any,
            answer: Answer::Error { status, code },
            fraction: 1.0,
            max_consecutive: 0,
        }
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        403 => "Forbidden",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn rule_error(ec2: bool, status: u16, code: &str) -> String {
    let body = if ec2 {
        format!("<Response><Errors><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>rule</RequestID></Response>")
    } else {
        format!("<Error><Code>{code}</Code><Message>injected by the test proxy</Message><RequestId>rule</RequestId></Error>")
    };
    error_response(&format!("{status} {}", status_text(status)), &body)
}

/// Should rule `i` fault this attempt of this request?
fn rule_fires(rule: &Rule, i: usize, seen: &Seen, text: &str) -> bool {
    if rule.fraction >= 1.0 && rule.max_consecutive == 0 {
        return true;
    }
    let mut m = seen.lock().unwrap();
    let e = m.entry(format!("{i}\n{text}")).or_insert((0, 0));
    e.0 += 1;
    let r = mix(0x7e57 ^ fnv(text) ^ mix(e.0) ^ i as u64);
    let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
    if unit < rule.fraction && (rule.max_consecutive == 0 || e.1 < rule.max_consecutive) {
        e.1 += 1;
        true
    } else {
        e.1 = 0;
        false
    }
}

impl FaultProxy {
    /// Faults by rule in front of `upstream` (first matching rule that fires
    /// wins); `injected` counts the faulted requests.
    pub async fn start_rules(upstream: &str, rules: Vec<Rule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let injected = Arc::new(AtomicU64::new(0));
        let counter = injected.clone();
        let seen: Seen = Arc::default();
        let rules = Arc::new(rules);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let (upstream, rules, counter, seen) = (
                    upstream.clone(),
                    rules.clone(),
                    counter.clone(),
                    seen.clone(),
                );
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut client).await else {
                        return;
                    };
                    let body_text = String::from_utf8_lossy(&body).to_string();
                    let full = format!("{head}\n{body_text}");
                    // The request's identity for fractions: no headers (the
                    // signature and date change on every attempt).
                    let first_line = head.lines().next().unwrap_or("").to_string();
                    let ident = format!("{first_line}\n{body_text}");
                    let ec2 = body_text.contains("Action=");
                    for (i, rule) in rules.iter().enumerate() {
                        if !rule.any.iter().any(|p| full.contains(p.as_str())) {
                            continue;
                        }
                        if !rule_fires(rule, i, &seen, &ident) {
                            continue;
                        }
                        counter.fetch_add(1, Ordering::SeqCst);
                        match &rule.answer {
                            Answer::Error { status, code } => {
                                let resp = rule_error(ec2, *status, code);
                                let _ = client.write_all(resp.as_bytes()).await;
                                let _ = client.shutdown().await;
                            }
                            Answer::Throttle => {
                                let _ = client.write_all(aws_error(ec2, true).as_bytes()).await;
                                let _ = client.shutdown().await;
                            }
                            Answer::Hang => {
                                // Keep the connection open, answer nothing.
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                            }
                        }
                        return;
                    }
                    let Ok(mut up) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let mut new_head: String = head
                        .trim_end()
                        .lines()
                        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                        .map(|l| format!("{l}\r\n"))
                        .collect();
                    new_head.push_str("Connection: close\r\n\r\n");
                    if up.write_all(new_head.as_bytes()).await.is_err()
                        || up.write_all(&body).await.is_err()
                    {
                        return;
                    }
                    let mut resp = Vec::new();
                    let _ = up.read_to_end(&mut resp).await;
                    let _ = client.write_all(&resp).await;
                    let _ = client.shutdown().await;
                });
            }
        });
        FaultProxy {
            url,
            injected,
            counts: Arc::new(ChaosCounts::default()),
            task,
        }
    }
}

impl FaultProxy {
    /// Forward everything to `upstream`; the first `times` answers to requests
    /// whose first line contains `pattern` lose the second half of their body
    /// (see the module docs). `injected` counts the truncated answers.
    pub async fn start_truncating(upstream: &str, pattern: &str, times: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let pattern = pattern.to_string();
        let injected = Arc::new(AtomicU64::new(0));
        let counter = injected.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let (upstream, pattern, counter) =
                    (upstream.clone(), pattern.clone(), counter.clone());
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut client).await else {
                        return;
                    };
                    let first_line = head.lines().next().unwrap_or("").to_string();
                    let Ok(mut up) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let mut new_head: String = head
                        .trim_end()
                        .lines()
                        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                        .map(|l| format!("{l}\r\n"))
                        .collect();
                    new_head.push_str("Connection: close\r\n\r\n");
                    if up.write_all(new_head.as_bytes()).await.is_err()
                        || up.write_all(&body).await.is_err()
                    {
                        return;
                    }
                    let mut resp = Vec::new();
                    let _ = up.read_to_end(&mut resp).await;
                    let cut = first_line.contains(pattern.as_str())
                        && counter
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                (n < times).then_some(n + 1)
                            })
                            .is_ok();
                    if cut {
                        if let Some(i) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
                            let body_len = resp.len() - (i + 4);
                            resp.truncate(i + 4 + body_len / 2);
                        }
                    }
                    let _ = client.write_all(&resp).await;
                    let _ = client.shutdown().await;
                });
            }
        });
        FaultProxy {
            url,
            injected,
            counts: Arc::new(ChaosCounts::default()),
            task,
        }
    }
}
