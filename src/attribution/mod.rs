//! Attribution: who changed a drifted resource, from CloudTrail.
//!
//! Why: the first question of every drift review is "who did this, and was
//! it an emergency fix?". For each drift (changed, missing, unmanaged) driftd
//! asks CloudTrail `LookupEvents` for the newest write event naming the
//! resource and attaches it as `changed_by`. Only drifted resources are
//! looked up (never the estate), at most `max_lookups` per run, paced by the
//! shared limiter (about 2 calls per second per account and region), cached
//! across scans in the history store, and bounded in time: attribution never
//! delays a scan past `attribution.timeout` nor fails it. A lookup that
//! fails or finds nothing leaves the drift `unattributed` with the reason.

pub mod cache;
pub mod cloudtrail;
pub mod principal;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::history::HistoryStore;
use crate::report::{Drift, Report};
pub use cloudtrail::RateLimiter;
pub use principal::Principal;

/// The most recent write event of a drifted resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangedBy {
    /// The API call, e.g. `ModifyInstanceAttribute`.
    pub event_name: String,
    /// RFC 3339, UTC.
    pub event_time: String,
    pub event_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event_source: Option<String>,
    pub principal: Principal,
    /// `console`, `terraform`, `cli`, `sdk`, `service` or `unknown`.
    pub via: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_agent: Option<String>,
    /// Set when the call failed (such events are skipped by the lookup).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_code: Option<String>,
}

impl ChangedBy {
    /// One line: `role/ops-admin, session jane, via console, 2026-12-01 10:32Z, ModifyInstanceAttribute`.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.principal.name.clone()];
        if let Some(s) = &self.principal.session {
            let what = if self.principal.kind == "sso" {
                "user"
            } else {
                "session"
            };
            parts.push(format!("{what} {s}"));
        }
        parts.push(format!("via {}", self.via));
        parts.push(short_time(&self.event_time));
        parts.push(self.event_name.clone());
        parts.join(", ")
    }
}

/// `2026-12-01T10:32:05Z` -> `2026-12-01 10:32Z` (unparsable: as given).
pub fn short_time(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%MZ")
            .to_string(),
        Err(_) => t.to_string(),
    }
}

/// Default look-back window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// CloudTrail event history keeps 90 days.
pub const MAX_WINDOW: Duration = Duration::from_secs(90 * 24 * 3600);

/// `[attribution]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionSettings {
    pub enabled: bool,
    /// How far back to look (default 24h, at most 90 days).
    pub window: Duration,
    /// At most this many resources looked up per run (cache hits are free).
    pub max_lookups: usize,
    /// Total time attribution may take per run; what is not done by then is unattributed.
    pub timeout: Duration,
    /// LookupEvents calls per second per account and region (AWS allows 2).
    pub requests_per_second: f64,
    /// Pages of 50 events read per resource before giving up.
    pub max_pages: u32,
    /// CloudTrail endpoint override (VPC endpoint, tests).
    pub endpoint_url: Option<String>,
}

impl Default for AttributionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window: DEFAULT_WINDOW,
            max_lookups: 50,
            timeout: Duration::from_secs(30),
            requests_per_second: 2.0,
            max_pages: 3,
            endpoint_url: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttribution {
    enabled: Option<bool>,
    window: Option<String>,
    max_lookups: Option<i64>,
    timeout: Option<String>,
    requests_per_second: Option<f64>,
    max_pages: Option<i64>,
    endpoint_url: Option<String>,
}

fn duration(
    text: Option<&str>,
    field: &str,
    min: Duration,
    max: Duration,
    errors: &mut Vec<(String, String)>,
) -> Option<Duration> {
    let t = text?;
    match humantime::parse_duration(t.trim()) {
        Ok(d) if d < min || d > max => {
            errors.push((
                field.into(),
                format!(
                    "{} is out of range: use {} to {}",
                    humantime::format_duration(d),
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            ));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            errors.push((
                field.into(),
                format!("`{t}` is not a duration ({e}): use e.g. \"24h\" or \"7days\""),
            ));
            None
        }
    }
}

/// Parse `[attribution]`; errors are (field, message) pairs like the rest of
/// the config's.
pub fn parse_settings(v: &toml::Value) -> Result<AttributionSettings, Vec<(String, String)>> {
    let raw: RawAttribution = v
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| vec![("attribution".to_string(), e.message().to_string())])?;
    let mut errors = Vec::new();
    let mut s = AttributionSettings::default();
    if let Some(e) = raw.enabled {
        s.enabled = e;
    }
    if let Some(w) = duration(
        raw.window.as_deref(),
        "attribution.window",
        Duration::from_secs(60),
        MAX_WINDOW,
        &mut errors,
    ) {
        s.window = w;
    }
    if let Some(t) = duration(
        raw.timeout.as_deref(),
        "attribution.timeout",
        Duration::from_secs(1),
        Duration::from_secs(600),
        &mut errors,
    ) {
        s.timeout = t;
    }
    match raw.max_lookups {
        Some(n) if !(0..=10_000).contains(&n) => errors.push((
            "attribution.max_lookups".into(),
            format!("{n} is out of range: use 0 to 10000"),
        )),
        Some(n) => s.max_lookups = n as usize,
        None => {}
    }
    match raw.max_pages {
        Some(n) if !(1..=20).contains(&n) => errors.push((
            "attribution.max_pages".into(),
            format!("{n} is out of range: use 1 to 20"),
        )),
        Some(n) => s.max_pages = n as u32,
        None => {}
    }
    match raw.requests_per_second {
        Some(r) if !(r > 0.0 && r <= 100.0) => errors.push((
            "attribution.requests_per_second".into(),
            format!("{r} is out of range: use more than 0, at most 100 (AWS allows 2)"),
        )),
        Some(r) => s.requests_per_second = r,
        None => {}
    }
    if let Some(u) = raw.endpoint_url.filter(|u| !u.is_empty()) {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            errors.push((
                "attribution.endpoint_url".into(),
                format!("`{u}` is not an http(s) URL"),
            ));
        }
        s.endpoint_url = Some(u);
    }
    if errors.is_empty() {
        Ok(s)
    } else {
        Err(errors)
    }
}

/// What attribution did in one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub attributed: usize,
    pub from_cache: usize,
    pub lookups: usize,
    pub unattributed: usize,
}

/// Where a drift is in the report.
#[derive(Debug, Clone, Copy)]
enum At {
    Stack(usize, usize),
    Scope(usize, usize),
}

fn drift_mut(report: &mut Report, at: At) -> &mut Drift {
    match at {
        At::Stack(s, d) => &mut report.stacks[s].drifts[d],
        At::Scope(s, d) => &mut report.unmanaged[s].drifts[d],
    }
}

fn limiter_key(t: &driftd_aws::Target) -> String {
    format!(
        "{}|{}|{}",
        t.endpoint_url.as_deref().unwrap_or("aws"),
        t.assume_role_arn.as_deref().unwrap_or("default"),
        t.region
    )
}

/// Attribute every drift of the report (stacks and unmanaged scopes).
///
/// `target_of(stack, drift)` gives where a stack's drifted resource lives
/// (unmanaged scopes carry their own). Never fails: problems end up in each
/// drift's `unattributed`.
/// The words of a name: `snake_case`, dotted paths and `CamelCase` split,
/// lower-cased (`PutBucketLifecycle` -> put, bucket, lifecycle).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if c.is_ascii_uppercase() && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            cur.push(c.to_ascii_lowercase());
        } else {
            cur.push(c.to_ascii_lowercase());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Two words match when one starts the other and the shorter has at least
/// three letters (`tag` / `tags` / `tagging`).
fn word_match(a: &str, b: &str) -> bool {
    let (s, l) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    s.len() >= 3 && l.starts_with(s)
}

/// Of a resource's write events (newest first), the one that best explains
/// this drift: an event whose name shares words with the drifted
/// attributes (twice the weight) or the resource type wins; the newest
/// among equals. Many types share one CloudTrail resource (every S3
/// configuration is the bucket's): its newest event alone would attribute a
/// lifecycle change to the tagging call made after it.
fn best_event<'a>(d: &Drift, events: &'a [ChangedBy]) -> &'a ChangedBy {
    let type_words = words(&d.rtype);
    let attr_words: Vec<String> = d.attributes.iter().flat_map(|a| words(&a.path)).collect();
    let score = |e: &ChangedBy| {
        let ev = words(&e.event_name);
        let hits = |ws: &[String]| {
            ev.iter()
                .filter(|w| ws.iter().any(|x| word_match(w, x)))
                .count()
        };
        2 * hits(&attr_words) + hits(&type_words)
    };
    let mut best = &events[0];
    let mut best_score = score(best);
    for e in &events[1..] {
        let s = score(e);
        if s > best_score {
            best = e;
            best_score = s;
        }
    }
    best
}

pub async fn attribute_report(
    settings: &AttributionSettings,
    report: &mut Report,
    target_of: &(dyn Fn(&str, &Drift) -> Option<driftd_aws::Target> + Sync),
    store: Option<&HistoryStore>,
    options: &driftd_aws::ClientOptions,
    calls: &driftd_aws::ApiCalls,
) -> Stats {
    let mut stats = Stats::default();
    if !settings.enabled {
        return stats;
    }
    let deadline = tokio::time::Instant::now() + settings.timeout;
    // Every drift, with its target and cache key.
    let mut wanted: Vec<(At, driftd_aws::Target, String, String)> = Vec::new();
    for (si, st) in report.stacks.iter().enumerate() {
        for (di, d) in st.drifts.iter().enumerate() {
            if let Some(t) = target_of(&st.name, d) {
                wanted.push((At::Stack(si, di), t, d.id.clone(), cache::key(d)));
            }
        }
    }
    for (si, sc) in report.unmanaged.iter().enumerate() {
        let t = driftd_aws::Target {
            region: sc.region.clone(),
            endpoint_url: sc.endpoint_url.clone(),
            assume_role_arn: sc.assume_role_arn.clone(),
        };
        for (di, d) in sc.drifts.iter().enumerate() {
            wanted.push((At::Scope(si, di), t.clone(), d.id.clone(), cache::key(d)));
        }
    }
    if wanted.is_empty() {
        return stats;
    }
    let cache_doc = match store {
        Some(s) => match cache::load(s).await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "attribution cache unreadable: looking everything up again");
                cache::Cache::default()
            }
        },
        None => cache::Cache::default(),
    };
    // Resolve from the cache; queue the rest (one lookup per target + resource).
    let mut results: BTreeMap<(driftd_aws::Target, String), Result<cloudtrail::Found, String>> =
        BTreeMap::new();
    let mut queue: Vec<(driftd_aws::Target, String)> = Vec::new();
    let mut over_budget = Vec::new();
    for (at, t, id, key) in &wanted {
        if let Some(c) = cache_doc.get(key) {
            drift_mut(report, *at).changed_by = Some(c.clone());
            stats.from_cache += 1;
            continue;
        }
        let k = (t.clone(), id.clone());
        if queue.contains(&k) {
            continue;
        }
        if queue.len() >= settings.max_lookups {
            over_budget.push(k);
            continue;
        }
        queue.push(k);
    }
    for k in over_budget {
        results.insert(
            k,
            Err(format!(
                "attribution.max_lookups ({}) reached for this run",
                settings.max_lookups
            )),
        );
    }
    // Look up: clients built once per target (endpoint override applied).
    let mut clients: BTreeMap<driftd_aws::Target, aws_sdk_cloudtrail::Client> = BTreeMap::new();
    let mut client_options = options.clone();
    // Throttling is retried by the SDK, briefly: the limiter paces the calls.
    client_options.max_attempts = options.max_attempts.clamp(1, 3);
    for (t, _) in &queue {
        if !clients.contains_key(t) {
            let mut ct = t.clone();
            if let Some(u) = &settings.endpoint_url {
                ct.endpoint_url = Some(u.clone());
            }
            clients.insert(
                t.clone(),
                cloudtrail::client(&ct, &client_options, calls).await,
            );
        }
    }
    let limiter = RateLimiter::shared();
    stats.lookups = queue.len();
    let found: Vec<_> = futures::stream::iter(queue.into_iter().map(|(t, id)| {
        let client = clients[&t].clone();
        let limiter = limiter.clone();
        let key = limiter_key(&t);
        async move {
            let r = cloudtrail::lookup(
                &client,
                &limiter,
                &key,
                settings.requests_per_second,
                &id,
                settings.window,
                settings.max_pages,
                deadline,
            )
            .await;
            ((t, id), r)
        }
    }))
    .buffer_unordered(4)
    .collect()
    .await;
    results.extend(found);
    // Assign, and remember what was found.
    let mut next = cache::Cache::default();
    for (at, t, id, key) in wanted {
        let d = drift_mut(report, at);
        if let Some(c) = &d.changed_by {
            next.insert(key, c.clone());
            continue;
        }
        match results.get(&(t, id)) {
            Some(Ok(cloudtrail::Found::Events(events))) => {
                let c = best_event(d, events);
                d.changed_by = Some(c.clone());
                next.insert(key, c.clone());
                stats.attributed += 1;
            }
            Some(Ok(cloudtrail::Found::None)) => {
                d.unattributed = Some(format!(
                    "no write event in CloudTrail in the last {} (events arrive within about 15 minutes)",
                    humantime::format_duration(settings.window)
                ));
                stats.unattributed += 1;
            }
            Some(Err(e)) => {
                debug!(resource = %d.id, error = %e, "attribution failed");
                d.unattributed = Some(e.clone());
                stats.unattributed += 1;
            }
            None => {
                d.unattributed = Some("not looked up".into());
                stats.unattributed += 1;
            }
        }
    }
    stats.attributed += stats.from_cache;
    if let Some(s) = store {
        if let Err(e) = cache::save(s, &next).await {
            warn!(error = %e, "attribution cache not saved");
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_drift_of_a_shared_resource_gets_the_event_that_explains_it() {
        let ev = |name: &str| ChangedBy {
            event_name: name.into(),
            event_time: "2026-12-01T10:00:00Z".into(),
            event_id: name.into(),
            event_source: None,
            principal: Principal {
                kind: "iam_user".into(),
                name: "user/deploy-bot".into(),
                session: None,
                arn: None,
                account_id: None,
            },
            via: "cli".into(),
            source_ip: None,
            user_agent: None,
            error_code: None,
        };
        // Newest first, as LookupEvents answers.
        let events = vec![
            ev("PutBucketTagging"),
            ev("PutBucketLogging"),
            ev("PutBucketLifecycle"),
            ev("PutBucketVersioning"),
        ];
        let drift = |rtype: &str, path: Option<&str>| {
            let mut d: Drift = serde_json::from_value(serde_json::json!({
                "type": rtype, "id": "logs", "kind": "changed", "attributes": []
            }))
            .unwrap();
            if let Some(p) = path {
                d.attributes.push(crate::report::AttrChange {
                    path: p.into(),
                    expected: serde_json::Value::Null,
                    actual: serde_json::Value::Null,
                });
            }
            d
        };
        let pick = |d: &Drift| best_event(d, &events).event_name.clone();
        let lifecycle = drift(
            "aws_s3_bucket_lifecycle_configuration",
            Some("rule.a.expiration.days"),
        );
        assert_eq!(pick(&lifecycle), "PutBucketLifecycle");
        assert_eq!(
            pick(&drift("aws_s3_bucket_logging", Some("target_prefix"))),
            "PutBucketLogging"
        );
        assert_eq!(
            pick(&drift("aws_s3_bucket", Some("versioning.enabled"))),
            "PutBucketVersioning"
        );
        assert_eq!(
            pick(&drift("aws_s3_bucket", Some("tags.Team"))),
            "PutBucketTagging"
        );
        // Nothing to tell them apart: the newest.
        assert_eq!(pick(&drift("aws_s3_bucket", None)), "PutBucketTagging");
    }

    use super::*;

    #[test]
    fn summary_line() {
        let c = ChangedBy {
            event_name: "ModifyInstanceAttribute".into(),
            event_time: "2026-12-01T10:32:41Z".into(),
            event_id: "e1".into(),
            event_source: Some("ec2.amazonaws.com".into()),
            principal: Principal {
                kind: "assumed_role".into(),
                name: "role/ops-admin".into(),
                session: Some("x".into()),
                arn: None,
                account_id: None,
            },
            via: "console".into(),
            source_ip: None,
            user_agent: None,
            error_code: None,
        };
        assert_eq!(
            c.summary(),
            "role/ops-admin, session x, via console, 2026-12-01 10:32Z, ModifyInstanceAttribute"
        );
    }

    #[test]
    fn settings_defaults_and_errors() {
        let ok = parse_settings(&toml::from_str("enabled = true").unwrap()).unwrap();
        assert_eq!(ok, AttributionSettings::default());
        let v: toml::Value =
            toml::from_str("window = \"91days\"\nmax_lookups = -1\nmax_pages = 0").unwrap();
        let errs = parse_settings(&v).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "attribution.window",
                "attribution.max_lookups",
                "attribution.max_pages"
            ]
        );
        let v: toml::Value = toml::from_str("windw = \"1h\"").unwrap();
        assert!(parse_settings(&v).unwrap_err()[0].1.contains("windw"));
    }
}
