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
    "driftd_reconcile_actions_total",
    "driftd_pull_requests_total",
    "driftd_oldest_drift_age_seconds",
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
    reconcile: IntCounterVec,
    prs: IntCounterVec,
    oldest: GaugeVec,
    /// Label sets set last time, per stack (to drop series that are gone).
    drift_series: Mutex<HashMap<String, Vec<Vec<String>>>>,
    unmanaged_series: Mutex<Vec<Vec<String>>>,
    /// API call counts already added to the counter.
    api_seen: Mutex<BTreeMap<CallKey, u64>>,
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
            registry: r,
            drift_series: Mutex::default(),
            unmanaged_series: Mutex::default(),
            api_seen: Mutex::default(),
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
                        d.rtype.clone(),
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
        let scanned: Vec<&str> = report
            .unmanaged
            .iter()
            .filter(|s| s.status != crate::report::ScopeStatus::Skipped)
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
        for sc in report
            .unmanaged
            .iter()
            .filter(|s| s.status != crate::report::ScopeStatus::Skipped)
        {
            for d in &sc.drifts {
                *counts
                    .entry((sc.region.clone(), d.rtype.clone()))
                    .or_default() += 1.0;
            }
        }
        for ((region, t), n) in counts {
            self.unmanaged.with_label_values(&[&region, &t]).set(n);
            useries.push(vec![region, t]);
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

    /// Bring the API request counter up to date with the call counter.
    pub fn sync_api_calls(&self, calls: &ApiCalls) {
        let mut seen = self.api_seen.lock().unwrap_or_else(|e| e.into_inner());
        for (key, n) in calls.snapshot() {
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

    /// Counter totals (and last-success timestamps), to carry across runs of
    /// a CronJob: each run is a new process, and a Pushgateway group is
    /// replaced on every push, so without this counters would restart at 0
    /// every run and `increase()` would never see them grow.
    pub fn carried(&self) -> Carried {
        let mut out = Carried::default();
        for mf in self.registry.gather() {
            let name = mf.name().to_string();
            let keep =
                name.ends_with("_total") || name == "driftd_last_successful_scan_timestamp_seconds";
            if !keep {
                continue;
            }
            for m in mf.get_metric() {
                let labels: BTreeMap<String, String> = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name().to_string(), l.value().to_string()))
                    .collect();
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

    /// Start from the totals of earlier runs (see [`Metrics::carried`]).
    pub fn preload(&self, carried: &Carried) {
        for s in &carried.series {
            let get = |k: &str| s.labels.get(k).map(String::as_str).unwrap_or("");
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
                _ => {}
            }
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("utf-8 exposition")
    }
}

/// Metric values carried from one CronJob run to the next.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Carried {
    pub series: Vec<CarriedSeries>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct CarriedSeries {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
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
        // Carried across runs: counters and last-success timestamps.
        let next = Metrics::new();
        next.preload(&m.carried());
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
