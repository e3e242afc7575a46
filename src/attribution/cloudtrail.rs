//! `LookupEvents`: the most recent write event of one resource.
//!
//! Why this shape: LookupEvents allows about 2 requests per second per
//! account and region and one lookup attribute per call, so driftd asks only
//! about drifted resources, by `ResourceName`, newest first, and filters the
//! write events (`ReadOnly = false`) itself (ResourceName and ReadOnly cannot
//! be combined in one call). Every call waits for the shared [`RateLimiter`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use serde_json::Value;
use tokio::time::Instant;

use super::principal;
use super::ChangedBy;
use driftd_aws::errors::describe;

/// A per-key (account/endpoint + region) pacer: at most `rate` calls per
/// second for each key, shared by every run of the process.
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    next: Arc<Mutex<HashMap<String, Instant>>>,
}

impl RateLimiter {
    /// The process-wide limiter (the daemon's runs and event rescans share it).
    pub fn shared() -> RateLimiter {
        static L: OnceLock<RateLimiter> = OnceLock::new();
        L.get_or_init(RateLimiter::default).clone()
    }

    /// Wait for this key's next slot; `None` if it comes after `deadline`.
    pub async fn acquire(&self, key: &str, rate: f64, deadline: Instant) -> Option<()> {
        let gap = Duration::from_secs_f64(1.0 / rate.max(0.01));
        let slot = {
            let mut m = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let at = m.get(key).copied().unwrap_or(now).max(now);
            if at > deadline {
                return None;
            }
            m.insert(key.to_string(), at + gap);
            at
        };
        tokio::time::sleep_until(slot).await;
        Some(())
    }
}

/// What one lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The successful write events of the newest page that has any, newest
    /// first (never empty): each drift of the resource picks its own.
    Events(Vec<ChangedBy>),
    /// No write event in the window (CloudTrail delivers events within
    /// about 15 minutes, so a very recent change may not be there yet).
    None,
}

/// Parse one LookupEvents event into a [`ChangedBy`], or `None` for a
/// read-only event.
pub fn parse_event(
    event_id: Option<&str>,
    event_name: Option<&str>,
    event_time: Option<String>,
    read_only: Option<&str>,
    record: Option<&str>,
) -> Option<ChangedBy> {
    let rec: Value = record
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let ro = read_only
        .map(|r| r.eq_ignore_ascii_case("true"))
        .or_else(|| rec.get("readOnly").and_then(Value::as_bool))
        .unwrap_or(false);
    if ro {
        return None;
    }
    let get = |k: &str| rec.get(k).and_then(Value::as_str).map(str::to_string);
    Some(ChangedBy {
        event_name: event_name
            .map(String::from)
            .or_else(|| get("eventName"))
            .unwrap_or_else(|| "unknown".into()),
        event_time: event_time.or_else(|| get("eventTime")).unwrap_or_default(),
        event_id: event_id
            .map(String::from)
            .or_else(|| get("eventID"))
            .unwrap_or_default(),
        event_source: get("eventSource"),
        principal: principal::resolve(&rec),
        via: principal::channel(&rec).to_string(),
        source_ip: get("sourceIPAddress"),
        user_agent: get("userAgent"),
        error_code: get("errorCode"),
    })
}

/// Look up the newest write events naming `resource` in `[now - window, now]`,
/// reading at most `max_pages` pages, each after a limiter slot.
#[allow(clippy::too_many_arguments)]
pub async fn lookup(
    client: &aws_sdk_cloudtrail::Client,
    limiter: &RateLimiter,
    limiter_key: &str,
    rate: f64,
    resource: &str,
    window: Duration,
    max_pages: u32,
    deadline: Instant,
) -> Result<Found, String> {
    let now = SystemTime::now();
    let start = now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
    let attr = LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::ResourceName)
        .attribute_value(resource)
        .build()
        .map_err(|e| e.to_string())?;
    let mut token: Option<String> = None;
    for _ in 0..max_pages.max(1) {
        if limiter.acquire(limiter_key, rate, deadline).await.is_none() {
            return Err(
                "the attribution time budget was spent waiting for the CloudTrail rate limit"
                    .into(),
            );
        }
        let mut req = client
            .lookup_events()
            .lookup_attributes(attr.clone())
            .start_time(aws_sdk_cloudtrail::primitives::DateTime::from(start))
            .end_time(aws_sdk_cloudtrail::primitives::DateTime::from(now))
            .max_results(50);
        if let Some(t) = &token {
            req = req.next_token(t);
        }
        let out = match tokio::time::timeout_at(deadline, req.send()).await {
            Err(_) => return Err("the attribution time budget was spent".into()),
            Ok(Err(e)) => return Err(format!("CloudTrail LookupEvents: {}", describe(&e))),
            Ok(Ok(o)) => o,
        };
        // Newest first. Every write event of this page is kept: a bucket's
        // lifecycle drift and its tag drift have different events.
        let mut found = Vec::new();
        for ev in out.events() {
            let time = ev.event_time().and_then(|t| {
                t.fmt(aws_sdk_cloudtrail::primitives::DateTimeFormat::DateTime)
                    .ok()
            });
            if let Some(c) = parse_event(
                ev.event_id(),
                ev.event_name(),
                time,
                ev.read_only(),
                ev.cloud_trail_event(),
            ) {
                // A failed call changed nothing: keep looking.
                if c.error_code.is_none() {
                    found.push(c);
                }
            }
        }
        if !found.is_empty() {
            return Ok(Found::Events(found));
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(Found::None),
        }
    }
    Ok(Found::None)
}

/// A CloudTrail client for a target, counted like every other client.
pub async fn client(
    target: &driftd_aws::Target,
    options: &driftd_aws::ClientOptions,
    calls: &driftd_aws::ApiCalls,
) -> aws_sdk_cloudtrail::Client {
    let sdk = driftd_aws::client::sdk_config(target, options).await;
    let conf = aws_sdk_cloudtrail::config::Builder::from(&sdk)
        .interceptor(calls.clone())
        .build();
    aws_sdk_cloudtrail::Client::from_conf(conf)
}
