//! Prometheus metrics: what operators alert on and graph.
//!
//! Why these and only these: each series answers an operator's question
//! (is there critical drift? are scans running and succeeding? is AWS
//! throttling us? is reconcile failing?) with bounded labels: stack, type,
//! kind, criticality, region, service, operation, outcome. Never a resource
//! id or address. The same registry serves the daemon's `/metrics`, the
//! Pushgateway push of a CronJob run and the node-exporter textfile.
//! `dashboards/` uses only the names in [`METRIC_NAMES`] (a test checks).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use driftd_aws::calls::CallKey;
use driftd_aws::ApiCalls;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::report::{ActionOutcome, DriftKind, Report, StackStatus};

/// Every metric family driftd exports.
pub const METRIC_NAMES: &[&str] = &[
    "driftd_build_info",
    "driftd_drifted_resources",
    "driftd_unmanaged_resources",
    "driftd_unknown_resources",
    "driftd_scan_duration_seconds",
    "driftd_last_successful_scan_timestamp_seconds",
    "driftd_scans_total",
    "driftd_scans_skipped_total",
    "driftd_aws_api_requests_total",
    "driftd_aws_rate_limit_wait_seconds_total",
    "driftd_reconcile_actions_total",
    "driftd_pull_requests_total",
    "driftd_oldest_drift_age_seconds",
    "driftd_last_scan_status",
];

/// Scan statuses, as in `driftd_scans_total{status}` and `driftd_last_scan_status{status}`.
pub const SCAN_STATUSES: &[&str] = &["ok", "incomplete", "failed"];
/// Reconcile outcomes, as in `driftd_reconcile_actions_total{outcome}`.
pub const RECONCILE_OUTCOMES: &[&str] = &["succeeded", "failed", "dry_run", "skipped"];
/// Pull request actions, as in `driftd_pull_requests_total{action}`.
pub const PR_ACTIONS: &[&str] = &["opened", "updated", "closed"];
/// AWS API attempt outcomes, as in `driftd_aws_api_requests_total{outcome}`.
pub const API_OUTCOMES: &[&str] = &[
    "success",
    "throttled",
    "client_error",
    "server_error",
    "transport_error",
];

/// Gauges carried across CronJob runs (the last complete figures of a stack
/// whose state this run could not load, or whose scan was incomplete).
const CARRIED_GAUGES: &[&str] = &[
    "driftd_drifted_resources",
    "driftd_unmanaged_resources",
    "driftd_unknown_resources",
    "driftd_oldest_drift_age_seconds",
    "driftd_last_successful_scan_timestamp_seconds",
];

pub struct Metrics {
    registry: Registry,
    drifted: GaugeVec,
    unmanaged: GaugeVec,
    unknown: GaugeVec,
    duration: HistogramVec,
    last_success: GaugeVec,
    scans: IntCounterVec,
    skipped: IntCounterVec,
    api: IntCounterVec,
    /// Time requests waited for the process's rate limiters.
    limit_wait: prometheus::CounterVec,
    reconcile: IntCounterVec,
    prs: IntCounterVec,
    oldest: GaugeVec,
    last_status: GaugeVec,
    /// Scan-duration totals of earlier runs (CronJob mode), added to the
    /// histogram when it is gathered: per stack.
    duration_base: Mutex<BTreeMap<String, CarriedHistogram>>,
    /// Label sets set last time, per stack (to drop series that are gone).
    drift_series: Mutex<HashMap<String, Vec<Vec<String>>>>,
    unmanaged_series: Mutex<Vec<Vec<String>>>,
    /// API call counts already added to the counter.
    api_seen: Mutex<BTreeMap<CallKey, u64>>,
    /// Rate-limit wait seconds already added, per (service, class).
    wait_seen: Mutex<BTreeMap<(&'static str, &'static str), f64>>,
}

/// The `type` label value of a resource type: its registry name, or `other`
/// for a type the registry does not know, so the label's values are bounded
/// by the registry (stacks × registered types × a few enum values).
pub fn type_label(rtype: &str) -> &str {
    if driftd_aws::registry::get(rtype).is_some() {
        rtype
    } else {
        "other"
    }
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let build = gauge(
            &r,
            "driftd_build_info",
            "driftd version (always 1).",
            &["version"],
        );
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "driftd_scan_duration_seconds",
                "Wall time of a scan run that included the stack.",
            )
            .buckets(vec![
                1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
            ]),
            &["stack"],
        )
        .expect("valid metric");
        r.register(Box::new(duration.clone()))
            .expect("unique metric");
        Self {
            drifted: gauge(
                &r,
                "driftd_drifted_resources",
                "Managed resources that drifted, by kind and criticality.",
                &["stack", "type", "kind", "criticality"],
            ),
            unmanaged: gauge(
                &r,
                "driftd_unmanaged_resources",
                "Resources no configured stack manages.",
                &["region", "type"],
            ),
            unknown: gauge(
                &r,
                "driftd_unknown_resources",
                "Managed resources whose live read failed in the last scan.",
                &["stack"],
            ),
            duration,
            last_success: gauge(
                &r,
                "driftd_last_successful_scan_timestamp_seconds",
                "Unix time of the last complete scan of the stack.",
                &["stack"],
            ),
            scans: counter(
                &r,
                "driftd_scans_total",
                "Scans by outcome (ok, incomplete, failed).",
                &["stack", "status"],
            ),
            skipped: counter(
                &r,
                "driftd_scans_skipped_total",
                "Scheduled scans skipped because the previous one still ran.",
                &["stack"],
            ),
            api: counter(
                &r,
                "driftd_aws_api_requests_total",
                "AWS API attempts (retries included) by outcome.",
                &["service", "operation", "outcome"],
            ),
            limit_wait: {
                let c = prometheus::CounterVec::new(
                    Opts::new(
                        "driftd_aws_rate_limit_wait_seconds_total",
                        "Seconds AWS requests waited for driftd's own rate limiter ([scan.rate_limit]), by service and read|write.",
                    ),
                    &["service", "class"],
                )
                .expect("valid metric");
                r.register(Box::new(c.clone())).expect("unique metric");
                for service in ["ec2", "s3"] {
                    for class in ["read", "write"] {
                        c.with_label_values(&[service, class]);
                    }
                }
                c
            },
            reconcile: counter(
                &r,
                "driftd_reconcile_actions_total",
                "Reconcile actions by outcome.",
                &["stack", "outcome"],
            ),
            prs: counter(
                &r,
                "driftd_pull_requests_total",
                "Pull requests opened, updated or closed.",
                &["stack", "action"],
            ),
            oldest: gauge(
                &r,
                "driftd_oldest_drift_age_seconds",
                "Age of the oldest unresolved drift of the stack (0: none).",
                &["stack"],
            ),
            last_status: gauge(
                &r,
                "driftd_last_scan_status",
                "Status of the last scan of the stack: 1 for its status, 0 for the others.",
                &["stack", "status"],
            ),
            registry: r,
            duration_base: Mutex::default(),
            drift_series: Mutex::default(),
            unmanaged_series: Mutex::default(),
            api_seen: Mutex::default(),
            wait_seen: Mutex::default(),
        }
    }

    /// Record a finished run: `elapsed` is its wall time.
    pub fn record_report(&self, report: &Report, elapsed: Duration) {
        let now = SystemTime::now();
        let now_secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut series = self.drift_series.lock().unwrap_or_else(|e| e.into_inner());
        for st in &report.stacks {
            let status = match st.status {
                StackStatus::Ok => "ok",
                StackStatus::Incomplete => "incomplete",
                StackStatus::Failed => "failed",
            };
            self.scans.with_label_values(&[&st.name, status]).inc();
            for s in SCAN_STATUSES {
                self.last_status
                    .with_label_values(&[st.name.as_str(), s])
                    .set(if *s == status { 1.0 } else { 0.0 });
            }
            self.duration
                .with_label_values(&[&st.name])
                .observe(elapsed.as_secs_f64());
            if st.status == StackStatus::Failed {
                continue; // keep the last known drift figures
            }
            if st.status == StackStatus::Ok {
                self.last_success
                    .with_label_values(&[&st.name])
                    .set(now_secs);
            }
            self.unknown
                .with_label_values(&[&st.name])
                .set(st.unknown.len() as f64);
            if st.status == StackStatus::Incomplete {
                // Drift figures keep the last complete scan's: a throttled read
                // must not make a critical-drift alert resolve and fire again.
                // (Incomplete stacks never act, so there are no actions to count.)
                continue;
            }
            for old in series.remove(&st.name).unwrap_or_default() {
                let refs: Vec<&str> = old.iter().map(String::as_str).collect();
                let _ = self.drifted.remove_label_values(&refs);
            }
            let mut counts: BTreeMap<Vec<String>, f64> = BTreeMap::new();
            let mut oldest = 0.0f64;
            for d in &st.drifts {
                let kind = match d.kind {
                    DriftKind::Changed => "changed",
                    DriftKind::Missing => "missing",
                    DriftKind::Unmanaged => "unmanaged",
                };
                let critical = d.decision.as_ref().map(|x| x.critical).unwrap_or(true);
                let crit = if critical { "critical" } else { "non_critical" };
                *counts
                    .entry(vec![
                        st.name.clone(),
                        type_label(&d.rtype).into(),
                        kind.into(),
                        crit.into(),
                    ])
                    .or_default() += 1.0;
                if let Some(t) = d
                    .first_seen
                    .as_deref()
                    .and_then(|t| humantime::parse_rfc3339(t).ok())
                {
                    oldest = oldest.max(
                        now.duration_since(t)
                            .map(|d| d.as_secs_f64())
                            .unwrap_or(0.0),
                    );
                }
            }
            for (labels, n) in &counts {
                let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
                self.drifted.with_label_values(&refs).set(*n);
            }
            series.insert(st.name.clone(), counts.into_keys().collect());
            self.oldest.with_label_values(&[&st.name]).set(oldest);
            if let Some(p) = &st.pull_requests {
                self.pull_requests(&st.name, "opened", p.opened.len());
                self.pull_requests(&st.name, "updated", p.updated.len());
                self.pull_requests(&st.name, "closed", p.closed.len());
            }
            for a in &st.actions {
                let outcome = match a.outcome {
                    ActionOutcome::Succeeded => "succeeded",
                    ActionOutcome::Failed => "failed",
                    ActionOutcome::DryRun => "dry_run",
                    ActionOutcome::Skipped => "skipped",
                };
                self.reconcile.with_label_values(&[&st.name, outcome]).inc();
            }
        }
        let mut useries = self
            .unmanaged_series
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Only a complete unmanaged scan of a region replaces its figures: an
        // incomplete one (a listing failed) keeps the last complete ones, as
        // drift figures do, so the unmanaged gauges never drop to 0 and jump back.
        let complete = |s: &&crate::report::ScopeReport| s.status == crate::report::ScopeStatus::Ok;
        let scanned: Vec<&str> = report
            .unmanaged
            .iter()
            .filter(complete)
            .map(|s| s.region.as_str())
            .collect();
        useries.retain(|old| {
            if scanned.contains(&old[0].as_str()) {
                let _ = self.unmanaged.remove_label_values(&[&old[0], &old[1]]);
                false
            } else {
                true
            }
        });
        let mut counts: BTreeMap<(String, String), f64> = BTreeMap::new();
        for sc in report.unmanaged.iter().filter(complete) {
            // A complete scan listed every discoverable type of the registry:
            // each has a series, 0 when none was found.
            for t in driftd_aws::registry::discoverable() {
                counts
                    .entry((sc.region.clone(), t.to_string()))
                    .or_default();
            }
            for d in &sc.drifts {
                *counts
                    .entry((sc.region.clone(), type_label(&d.rtype).to_string()))
                    .or_default() += 1.0;
            }
        }
        for ((region, t), n) in counts {
            self.unmanaged.with_label_values(&[&region, &t]).set(n);
            useries.push(vec![region, t]);
        }
    }

    /// Create every counter series of these stacks at 0, for every known
    /// status, outcome and action (and an empty scan-duration histogram), so
    /// that the first failure is an increase from 0 that `increase()` sees,
    /// not a new series starting at 1. Call at start-up with the stacks this
    /// process will scan (the daemon's scheduled stacks; a CronJob run's
    /// selected stacks). Existing values are kept.
    pub fn init_stacks<S: AsRef<str>>(&self, stacks: &[S]) {
        for st in stacks {
            let st = st.as_ref();
            for s in SCAN_STATUSES {
                self.scans.with_label_values(&[st, s]);
            }
            self.skipped.with_label_values(&[st]);
            for o in RECONCILE_OUTCOMES {
                self.reconcile.with_label_values(&[st, o]);
            }
            for a in PR_ACTIONS {
                self.prs.with_label_values(&[st, a]);
            }
            self.duration.with_label_values(&[st]);
        }
    }

    /// A scheduled scan of `stack` was skipped (the previous one still ran).
    pub fn scan_skipped(&self, stack: &str) {
        self.skipped.with_label_values(&[stack]).inc();
    }

    /// Pull request lifecycle events.
    pub fn pull_requests(&self, stack: &str, action: &str, n: usize) {
        if n > 0 {
            self.prs
                .with_label_values(&[stack, action])
                .inc_by(n as u64);
        }
    }

    /// Bring the rate-limit wait counter up to date with the process's limiters.
    pub fn sync_rate_limits(&self) {
        let mut seen = self.wait_seen.lock().unwrap_or_else(|e| e.into_inner());
        for (service, class, _, waited, _) in driftd_aws::limit::totals() {
            let key = (service.as_str(), class.as_str());
            let before = seen.get(&key).copied().unwrap_or(0.0);
            if waited > before {
                self.limit_wait
                    .with_label_values(&[key.0, key.1])
                    .inc_by(waited - before);
                seen.insert(key, waited);
            }
        }
    }

    /// Bring the API request counter up to date with the call counter.
    pub fn sync_api_calls(&self, calls: &ApiCalls) {
        self.sync_rate_limits();
        let mut seen = self.api_seen.lock().unwrap_or_else(|e| e.into_inner());
        for (key, n) in calls.snapshot() {
            let (service, op, _) = &key;
            // The first attempt of an operation creates every outcome at 0:
            // its first throttled attempt is then an increase, not a new series.
            for o in API_OUTCOMES {
                self.api
                    .with_label_values(&[service.as_str(), op.as_str(), o]);
            }
            let before = seen.get(&key).copied().unwrap_or(0);
            if n > before {
                let (service, op, outcome) = &key;
                self.api
                    .with_label_values(&[service, op, outcome.as_str()])
                    .inc_by(n - before);
            }
            seen.insert(key, n);
        }
    }

    /// What a CronJob run carries to the next one (each run is a new process,
    /// and a Pushgateway group is replaced on every push):
    /// - counter totals, so `increase()` sees them grow across runs;
    /// - the scan-duration histogram as totals (`_count`, `_sum`, buckets);
    /// - the last complete gauges of each stack (drift, unknown, oldest drift,
    ///   last success) and of each region (unmanaged), so a run that cannot
    ///   load a stack's state (or reads it incompletely) pushes the last
    ///   complete figures again instead of dropping them: a critical-drift
    ///   alert must not resolve and fire again (a false page).
    pub fn carried(&self) -> Carried {
        let mut out = Carried::default();
        for mf in self.gather() {
            let name = mf.name().to_string();
            let histogram = name == "driftd_scan_duration_seconds";
            let keep =
                name.ends_with("_total") || histogram || CARRIED_GAUGES.contains(&name.as_str());
            if !keep {
                continue;
            }
            for m in mf.get_metric() {
                let labels: BTreeMap<String, String> = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name().to_string(), l.value().to_string()))
                    .collect();
                if histogram {
                    let h = m.get_histogram();
                    out.histograms.push(CarriedHistogram {
                        labels,
                        count: h.get_sample_count(),
                        sum: h.get_sample_sum(),
                        buckets: h
                            .get_bucket()
                            .iter()
                            .map(|b| (b.upper_bound(), b.cumulative_count()))
                            .collect(),
                    });
                    continue;
                }
                let value = if name.ends_with("_total") {
                    m.get_counter().get_value()
                } else {
                    m.get_gauge().get_value()
                };
                out.series.push(CarriedSeries {
                    name: name.clone(),
                    labels,
                    value,
                });
            }
        }
        out
    }

    /// Start from what earlier runs carried (see [`Metrics::carried`]).
    /// `stacks`: the stacks still configured; series of other stacks are
    /// dropped (a removed stack must not be pushed forever).
    pub fn preload<S: AsRef<str>>(&self, carried: &Carried, stacks: &[S]) {
        let configured = |st: Option<&String>| {
            st.is_none_or(|st| stacks.iter().any(|s| s.as_ref() == st.as_str()))
        };
        let mut drift_series = self.drift_series.lock().unwrap_or_else(|e| e.into_inner());
        let mut useries = self
            .unmanaged_series
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for s in &carried.series {
            if !configured(s.labels.get("stack")) {
                continue;
            }
            let get = |k: &str| s.labels.get(k).map(String::as_str).unwrap_or("");
            // Nor a type the registry no longer has (a removed type must not
            // be pushed forever either).
            if s.labels.contains_key("type") && driftd_aws::registry::get(get("type")).is_none() {
                continue;
            }
            let v = s.value.max(0.0);
            match s.name.as_str() {
                "driftd_scans_total" => self
                    .scans
                    .with_label_values(&[get("stack"), get("status")])
                    .inc_by(v as u64),
                "driftd_scans_skipped_total" => self
                    .skipped
                    .with_label_values(&[get("stack")])
                    .inc_by(v as u64),
                "driftd_aws_api_requests_total" => self
                    .api
                    .with_label_values(&[get("service"), get("operation"), get("outcome")])
                    .inc_by(v as u64),
                // Seconds: a float counter (the others count events).
                "driftd_aws_rate_limit_wait_seconds_total" => self
                    .limit_wait
                    .with_label_values(&[get("service"), get("class")])
                    .inc_by(v),
                "driftd_reconcile_actions_total" => self
                    .reconcile
                    .with_label_values(&[get("stack"), get("outcome")])
                    .inc_by(v as u64),
                "driftd_pull_requests_total" => self
                    .prs
                    .with_label_values(&[get("stack"), get("action")])
                    .inc_by(v as u64),
                "driftd_last_successful_scan_timestamp_seconds" => {
                    self.last_success.with_label_values(&[get("stack")]).set(v)
                }
                "driftd_unknown_resources" => {
                    self.unknown.with_label_values(&[get("stack")]).set(v)
                }
                "driftd_oldest_drift_age_seconds" => {
                    self.oldest.with_label_values(&[get("stack")]).set(v)
                }
                "driftd_drifted_resources" => {
                    let labels = [get("stack"), get("type"), get("kind"), get("criticality")];
                    self.drifted.with_label_values(&labels).set(v);
                    drift_series
                        .entry(get("stack").to_string())
                        .or_default()
                        .push(labels.iter().map(|l| l.to_string()).collect());
                }
                "driftd_unmanaged_resources" => {
                    self.unmanaged
                        .with_label_values(&[get("region"), get("type")])
                        .set(v);
                    useries.push(vec![get("region").to_string(), get("type").to_string()]);
                }
                _ => {}
            }
        }
        let mut base = self.duration_base.lock().unwrap_or_else(|e| e.into_inner());
        for h in &carried.histograms {
            let Some(stack) = h.labels.get("stack") else {
                continue;
            };
            if configured(Some(stack)) {
                self.duration.with_label_values(&[stack]);
                base.insert(stack.clone(), h.clone());
            }
        }
    }

    /// The registry's families, with the carried scan-duration totals added.
    fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut families = self.registry.gather();
        let base = self.duration_base.lock().unwrap_or_else(|e| e.into_inner());
        if base.is_empty() {
            return families;
        }
        for mf in families
            .iter_mut()
            .filter(|f| f.name() == "driftd_scan_duration_seconds")
        {
            for m in mf.mut_metric() {
                let stack = m
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "stack")
                    .map(|l| l.value().to_string());
                let Some(b) = stack.and_then(|s| base.get(&s)) else {
                    continue;
                };
                let mut h = m.get_histogram().clone();
                h.set_sample_count(h.get_sample_count() + b.count);
                h.set_sample_sum(h.get_sample_sum() + b.sum);
                let buckets = h
                    .get_bucket()
                    .iter()
                    .map(|bucket| {
                        let mut bucket = bucket.clone();
                        // Same bounds run after run; a bound that changed
                        // between versions takes the nearest lower carried one.
                        let carried = b
                            .buckets
                            .iter()
                            .filter(|(le, _)| *le <= bucket.upper_bound())
                            .map(|(_, n)| *n)
                            .max()
                            .unwrap_or(0);
                        bucket.set_cumulative_count(bucket.cumulative_count() + carried);
                        bucket
                    })
                    .collect();
                h.set_bucket(buckets);
                m.set_histogram(h);
            }
        }
        families
    }

    /// Register another module's collector (e.g. the event consumer's).
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) -> Result<(), String> {
        self.registry.register(c).map_err(|e| e.to_string())
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("utf-8 exposition")
    }
}

/// Metric values carried from one CronJob run to the next.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Carried {
    pub series: Vec<CarriedSeries>,
    /// Scan-duration histograms, as totals.
    #[serde(default)]
    pub histograms: Vec<CarriedHistogram>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct CarriedSeries {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct CarriedHistogram {
    pub labels: BTreeMap<String, String>,
    pub count: u64,
    pub sum: f64,
    /// (upper bound, cumulative count), without +Inf (that is `count`).
    pub buckets: Vec<(f64, u64)>,
}

/// Push the metrics to a Pushgateway (PUT replaces the group's metrics).
pub async fn push(url: &str, job: &str, instance: &str, body: String) -> Result<(), String> {
    let enc = |s: &str| s.replace('/', "%2F");
    let target = format!(
        "{}/metrics/job/{}/instance/{}",
        url.trim_end_matches('/'),
        enc(job),
        enc(instance)
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .put(&target)
        .header("content-type", "text/plain; version=0.0.4")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("push to {target} failed: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("push to {target} failed: HTTP {}", resp.status()))
    }
}

/// The gauges of a Pushgateway group as last pushed (its `/api/v1/metrics`
/// view), as figures to carry: without a history store this is where a
/// CronJob run finds the last complete figures of a stack whose state it
/// cannot load. Counters and histograms are not taken from there (they need
/// `[history]`): the group is replaced whole on each push, and a
/// Pushgateway that restarted without persistence would silently reset them.
pub async fn pushed_gauges(url: &str, job: &str, instance: &str) -> Result<Carried, String> {
    let target = format!("{}/api/v1/metrics", url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(&target)
        .send()
        .await
        .map_err(|e| format!("reading {target} failed: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("reading {target} failed: HTTP {}", resp.status()));
    }
    let text = resp
        .text()
        .await
        .map_err(|e| format!("reading {target} failed: {e}"))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{target}: not the Pushgateway API ({e})"))?;
    let mut out = Carried::default();
    let groups = doc["data"].as_array().cloned().unwrap_or_default();
    let Some(group) = groups.iter().find(|g| {
        g["labels"]["job"].as_str() == Some(job)
            && g["labels"]["instance"].as_str() == Some(instance)
    }) else {
        return Ok(out);
    };
    for name in CARRIED_GAUGES {
        for m in group[*name]["metrics"].as_array().into_iter().flatten() {
            let Some(value) = m["value"].as_str().and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            let labels: BTreeMap<String, String> = m["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "job" && *k != "instance")
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            out.series.push(CarriedSeries {
                name: name.to_string(),
                labels,
                value,
            });
        }
    }
    Ok(out)
}

/// Write the exposition for node-exporter's textfile collector (atomically).
pub async fn write_textfile(path: &std::path::Path, body: &str) -> Result<(), String> {
    crate::history::write_atomic(path, body.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: &str, drifts: serde_json::Value) -> Report {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "driftd_version": "0", "generated_at": "2026-01-01T00:00:00Z",
            "summary": {"stacks": 1, "stacks_failed": 0, "stacks_incomplete": 0, "drifts": 0, "changed": 0,
                        "missing": 0, "unmanaged": 0, "unknown": 0},
            "stacks": [{"name": "app", "status": status, "errors": [], "sources": [],
                        "counts": {"managed": 1, "unsupported": 0, "in_sync": 0, "changed": 1, "missing": 0, "unknown": 0, "ignored": 0},
                        "drifts": drifts, "unknown": []}],
            "unmanaged": []
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn rate_limit_waits_are_counted_by_service_and_class() {
        use driftd_aws::limit::{limiter, Bucket, Class, LimiterKey, Service};
        let m = Metrics::new();
        assert!(m.encode().contains(
            "driftd_aws_rate_limit_wait_seconds_total{class=\"write\",service=\"s3\"} 0"
        ));
        let l = limiter(
            LimiterKey {
                identity: "metrics-test".into(),
                region: "eu-north-1".into(),
                service: Service::Ec2,
                class: Class::Read,
                api: "DescribeInstances".into(),
            },
            Bucket::new(1, 50.0),
        );
        l.acquire().await;
        l.acquire().await; // waits about 20 ms
        m.sync_api_calls(&ApiCalls::new());
        let text = m.encode();
        let line = text
            .lines()
            .find(|l| {
                l.starts_with(
                    "driftd_aws_rate_limit_wait_seconds_total{class=\"read\",service=\"ec2\"}",
                )
            })
            .unwrap();
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(v >= 0.015, "{line}");
    }

    #[test]
    fn an_incomplete_scan_keeps_the_last_drift_figures() {
        let m = Metrics::new();
        let drift = serde_json::json!([{"address": "aws_instance.a", "type": "aws_instance", "id": "i-1",
            "kind": "changed", "attributes": [],
            "decision": {"action": "report_only", "critical": true, "rule": "r", "reason": "x"}}]);
        m.record_report(&report("ok", drift), Duration::from_secs(1));
        let series = "driftd_drifted_resources{criticality=\"critical\",kind=\"changed\",stack=\"app\",type=\"aws_instance\"} 1";
        assert!(m.encode().contains(series));
        m.record_report(
            &report("incomplete", serde_json::json!([])),
            Duration::from_secs(1),
        );
        assert!(
            m.encode().contains(series),
            "kept through an incomplete scan"
        );
        m.record_report(&report("ok", serde_json::json!([])), Duration::from_secs(1));
        assert!(
            !m.encode().contains(series),
            "dropped after a complete scan without it"
        );
    }

    fn with_unmanaged(mut r: Report, status: &str, n: usize) -> Report {
        let drifts: Vec<serde_json::Value> = (0..n)
            .map(|i| serde_json::json!({"type": "aws_instance", "id": format!("i-{i}"), "kind": "unmanaged", "attributes": []}))
            .collect();
        r.unmanaged = serde_json::from_value(serde_json::json!([
            {"region": "us-east-1", "status": status, "drifts": drifts}
        ]))
        .unwrap();
        r
    }

    #[test]
    fn a_complete_unmanaged_scan_has_a_series_for_every_discoverable_type() {
        let m = Metrics::new();
        let ok = report("ok", serde_json::json!([]));
        m.record_report(&with_unmanaged(ok.clone(), "ok", 2), Duration::from_secs(1));
        let text = m.encode();
        for t in driftd_aws::registry::discoverable() {
            let n = if *t == "aws_instance" { 2 } else { 0 };
            let line =
                format!("driftd_unmanaged_resources{{region=\"us-east-1\",type=\"{t}\"}} {n}");
            assert!(text.contains(&line), "{line} missing:\n{text}");
        }
        // An incomplete one creates none.
        let m = Metrics::new();
        m.record_report(&with_unmanaged(ok, "incomplete", 0), Duration::from_secs(1));
        assert!(!m.encode().contains("driftd_unmanaged_resources{"));
    }

    #[test]
    fn type_labels_are_the_registrys_names() {
        for name in driftd_aws::registry::names() {
            assert_eq!(type_label(name), *name);
        }
        assert_eq!(type_label("aws_not_registered"), "other");
        let m = Metrics::new();
        let drift = serde_json::json!([{"address": "aws_not_registered.a", "type": "aws_not_registered", "id": "x",
            "kind": "changed", "attributes": [],
            "decision": {"action": "report_only", "critical": true, "rule": "r", "reason": "x"}}]);
        m.record_report(&report("ok", drift), Duration::from_secs(1));
        let text = m.encode();
        assert!(
            text.contains("driftd_drifted_resources{criticality=\"critical\",kind=\"changed\",stack=\"app\",type=\"other\"} 1"),
            "{text}"
        );
        // A carried series of a type the registry no longer has is dropped.
        let carried = Carried {
            series: vec![CarriedSeries {
                name: "driftd_unmanaged_resources".into(),
                labels: [("region", "us-east-1"), ("type", "aws_gone")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                value: 3.0,
            }],
            ..Default::default()
        };
        let m = Metrics::new();
        m.preload(&carried, &["app"]);
        assert!(!m.encode().contains("aws_gone"), "{}", m.encode());
    }

    #[test]
    fn counters_start_at_zero_for_every_stack_and_status() {
        let m = Metrics::new();
        m.init_stacks(&["app", "network"]);
        let text = m.encode();
        for st in ["app", "network"] {
            for s in SCAN_STATUSES {
                let line = format!("driftd_scans_total{{stack=\"{st}\",status=\"{s}\"}} 0");
                assert!(text.contains(&line), "{line} missing:\n{text}");
            }
            for o in RECONCILE_OUTCOMES {
                let line =
                    format!("driftd_reconcile_actions_total{{outcome=\"{o}\",stack=\"{st}\"}} 0");
                assert!(text.contains(&line), "{line} missing:\n{text}");
            }
            for a in PR_ACTIONS {
                let line = format!("driftd_pull_requests_total{{action=\"{a}\",stack=\"{st}\"}} 0");
                assert!(text.contains(&line), "{line} missing:\n{text}");
            }
            assert!(text.contains(&format!("driftd_scans_skipped_total{{stack=\"{st}\"}} 0")));
            assert!(text.contains(&format!(
                "driftd_scan_duration_seconds_count{{stack=\"{st}\"}} 0"
            )));
        }
        // The first attempt of an operation creates all its outcomes at 0.
        let calls = ApiCalls::new();
        calls.record(
            "ec2",
            "DescribeInstances",
            driftd_aws::calls::Outcome::Success,
        );
        m.sync_api_calls(&calls);
        let text = m.encode();
        for o in API_OUTCOMES {
            let v = if *o == "success" { 1 } else { 0 };
            let line = format!("driftd_aws_api_requests_total{{operation=\"DescribeInstances\",outcome=\"{o}\",service=\"ec2\"}} {v}");
            assert!(text.contains(&line), "{line} missing:\n{text}");
        }
        // A later scan counts on top; the status gauge says what the last one was.
        m.record_report(
            &report("failed", serde_json::json!([])),
            Duration::from_secs(1),
        );
        let text = m.encode();
        assert!(text.contains("driftd_scans_total{stack=\"app\",status=\"failed\"} 1"));
        assert!(text.contains("driftd_last_scan_status{stack=\"app\",status=\"failed\"} 1"));
        assert!(text.contains("driftd_last_scan_status{stack=\"app\",status=\"ok\"} 0"));
    }

    #[test]
    fn an_incomplete_unmanaged_scan_keeps_the_last_unmanaged_figures() {
        let m = Metrics::new();
        let ok = report("ok", serde_json::json!([]));
        m.record_report(&with_unmanaged(ok.clone(), "ok", 2), Duration::from_secs(1));
        let series = "driftd_unmanaged_resources{region=\"us-east-1\",type=\"aws_instance\"} 2";
        assert!(m.encode().contains(series));
        m.record_report(
            &with_unmanaged(report("incomplete", serde_json::json!([])), "incomplete", 0),
            Duration::from_secs(1),
        );
        assert!(
            m.encode().contains(series),
            "kept through an incomplete scan:\n{}",
            m.encode()
        );
        m.record_report(&with_unmanaged(ok, "ok", 1), Duration::from_secs(1));
        assert!(m
            .encode()
            .contains("driftd_unmanaged_resources{region=\"us-east-1\",type=\"aws_instance\"} 1"));
    }

    #[test]
    fn a_cronjob_run_that_cannot_load_a_state_pushes_the_last_complete_figures() {
        let drift = serde_json::json!([{"address": "aws_instance.a", "type": "aws_instance", "id": "i-1",
            "kind": "changed", "attributes": [],
            "decision": {"action": "report_only", "critical": true, "rule": "r", "reason": "x"}}]);
        // Run 1 (a process of its own): a complete scan with critical drift.
        let run1 = Metrics::new();
        run1.init_stacks(&["app"]);
        run1.record_report(
            &with_unmanaged(report("ok", drift), "ok", 1),
            Duration::from_secs(2),
        );
        let carried = run1.carried();
        // Run 2: the state cannot be loaded.
        let run2 = Metrics::new();
        run2.preload(&carried, &["app"]);
        run2.init_stacks(&["app"]);
        run2.record_report(
            &with_unmanaged(report("failed", serde_json::json!([])), "incomplete", 0),
            Duration::from_secs(3),
        );
        let text = run2.encode();
        for line in [
            "driftd_drifted_resources{criticality=\"critical\",kind=\"changed\",stack=\"app\",type=\"aws_instance\"} 1",
            "driftd_unmanaged_resources{region=\"us-east-1\",type=\"aws_instance\"} 1",
            "driftd_scans_total{stack=\"app\",status=\"ok\"} 1",
            "driftd_scans_total{stack=\"app\",status=\"failed\"} 1",
            "driftd_last_scan_status{stack=\"app\",status=\"failed\"} 1",
            // The histogram is carried as totals.
            "driftd_scan_duration_seconds_count{stack=\"app\"} 2",
            "driftd_scan_duration_seconds_sum{stack=\"app\"} 5",
            "driftd_scan_duration_seconds_bucket{stack=\"app\",le=\"1\"} 0",
            "driftd_scan_duration_seconds_bucket{stack=\"app\",le=\"5\"} 2",
            "driftd_scan_duration_seconds_bucket{stack=\"app\",le=\"+Inf\"} 2",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
        assert!(text.contains("driftd_last_successful_scan_timestamp_seconds{stack=\"app\"}"));
        // Run 3: complete again, without the drift: the carried series goes.
        let run3 = Metrics::new();
        run3.preload(&run2.carried(), &["app"]);
        run3.record_report(&report("ok", serde_json::json!([])), Duration::from_secs(1));
        let text = run3.encode();
        assert!(!text.contains("driftd_drifted_resources{"), "{text}");
        assert!(text.contains("driftd_scan_duration_seconds_count{stack=\"app\"} 3"));
        // A stack no longer configured is not carried.
        let run4 = Metrics::new();
        run4.preload(&run3.carried(), &["other"]);
        assert!(!run4.encode().contains("stack=\"app\""));
    }

    #[test]
    fn rate_limit_waits_are_carried_across_runs() {
        // A CronJob run pushes its totals; the next one starts from them, so
        // the pushed counter never goes back (a reset would read as a spike
        // to `rate()`).
        let run1 = Metrics::new();
        run1.limit_wait
            .with_label_values(&["ec2", "read"])
            .inc_by(1.5);
        let run2 = Metrics::new();
        run2.preload(&run1.carried(), &["app"]);
        run2.limit_wait
            .with_label_values(&["ec2", "read"])
            .inc_by(0.25);
        let text = run2.encode();
        assert!(
            text.contains(
                "driftd_aws_rate_limit_wait_seconds_total{class=\"read\",service=\"ec2\"} 1.75"
            ),
            "{text}"
        );
    }

    #[test]
    fn every_family_is_registered() {
        let m = Metrics::new();
        m.scans.with_label_values(&["a", "ok"]).inc();
        m.duration.with_label_values(&["a"]).observe(1.0);
        m.skipped.with_label_values(&["a"]).inc();
        m.api
            .with_label_values(&["ec2", "DescribeInstances", "success"])
            .inc();
        m.reconcile.with_label_values(&["a", "succeeded"]).inc();
        m.prs.with_label_values(&["a", "opened"]).inc();
        m.drifted
            .with_label_values(&["a", "aws_instance", "changed", "critical"])
            .set(1.0);
        m.unmanaged
            .with_label_values(&["us-east-1", "aws_instance"])
            .set(1.0);
        m.unknown.with_label_values(&["a"]).set(0.0);
        m.last_success.with_label_values(&["a"]).set(1.0);
        m.oldest.with_label_values(&["a"]).set(0.0);
        m.last_status.with_label_values(&["a", "ok"]).set(1.0);
        // Carried across runs: counters and last-success timestamps.
        let next = Metrics::new();
        next.preload(&m.carried(), &["a"]);
        next.scans.with_label_values(&["a", "ok"]).inc();
        assert!(next
            .encode()
            .contains("driftd_scans_total{stack=\"a\",status=\"ok\"} 2"));
        assert!(next
            .encode()
            .contains("driftd_last_successful_scan_timestamp_seconds{stack=\"a\"} 1"));
        let text = m.encode();
        for name in METRIC_NAMES {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
        }
    }
}
