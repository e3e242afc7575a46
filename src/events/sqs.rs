//! Long-polling the events queue, coalescing bursts, deleting after the rescan.
//!
//! One cycle ([`Consumer::next_batch`]): long-poll (`WaitTimeSeconds`) until a
//! message arrives, then keep receiving (1 s long polls) until the queue is
//! empty or `batch_window` has passed; the resource ids of all those messages
//! form one deduplicated [`Batch`]. The caller rescans, records the report,
//! then calls [`Consumer::finish`], which deletes the batch's messages.
//! Unparsable (poison) messages are never deleted: each receive raises their
//! `ApproximateReceiveCount`, and the queue's redrive policy moves them to
//! the dead-letter queue after `maxReceiveCount` (= `events.max_receives`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};
use tracing::{info, warn};

use super::{parse_event, EventsSettings, NotAChange};
use driftd_aws::errors::describe;

/// The consumer's metrics.
#[derive(Clone)]
pub struct EventMetrics {
    /// `driftd_events_received_total{outcome}`: `change`, `irrelevant`, `poison`.
    pub received: IntCounterVec,
    /// `driftd_event_to_report_seconds`: from the API call (event time) to the recorded rescan.
    pub to_report: Histogram,
    /// `driftd_events_lag_seconds`: age of the oldest message of the last batch when received.
    pub lag: IntGauge,
    /// `driftd_events_poison_messages`: poison messages in the last batch.
    pub poison: IntGauge,
    /// `driftd_event_rescans_total{mode}`: runs started for event bursts,
    /// `resource` (narrowed to the named resources) or `stack` (in full:
    /// no complete previous report to merge into).
    pub rescans: IntCounterVec,
    /// `driftd_event_rescanned_resources_total`: distinct resources named by
    /// a burst whose rescan was recorded (a burst of 1,000 events for 10
    /// resources adds 10).
    pub rescanned: IntCounter,
}

impl Default for EventMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl EventMetrics {
    pub fn new() -> Self {
        Self {
            received: IntCounterVec::new(
                Opts::new(
                    "driftd_events_received_total",
                    "Messages received from the events queue, by outcome (change, irrelevant, poison).",
                ),
                &["outcome"],
            )
            .expect("valid metric"),
            to_report: Histogram::with_opts(
                HistogramOpts::new(
                    "driftd_event_to_report_seconds",
                    "From an AWS API call (CloudTrail event time) to the recorded rescan report.",
                )
                .buckets(vec![1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]),
            )
            .expect("valid metric"),
            lag: IntGauge::new(
                "driftd_events_lag_seconds",
                "Age of the oldest message of the last batch when it was received.",
            )
            .expect("valid metric"),
            poison: IntGauge::new(
                "driftd_events_poison_messages",
                "Unparsable messages in the last batch (left for the dead-letter queue).",
            )
            .expect("valid metric"),
            rescans: IntCounterVec::new(
                Opts::new(
                    "driftd_event_rescans_total",
                    "Runs started for event bursts, by mode (resource: narrowed to the named resources; stack: in full).",
                ),
                &["mode"],
            )
            .expect("valid metric"),
            rescanned: IntCounter::new(
                "driftd_event_rescanned_resources_total",
                "Distinct resources named by event bursts whose rescan was recorded.",
            )
            .expect("valid metric"),
        }
    }

    pub fn register(&self, m: &crate::metrics::Metrics) -> Result<(), String> {
        m.register(Box::new(self.received.clone()))?;
        m.register(Box::new(self.to_report.clone()))?;
        m.register(Box::new(self.lag.clone()))?;
        m.register(Box::new(self.poison.clone()))?;
        m.register(Box::new(self.rescans.clone()))?;
        m.register(Box::new(self.rescanned.clone()))?;
        // Every series exists from start-up, at 0.
        for o in ["change", "irrelevant", "poison"] {
            self.received.with_label_values(&[o]);
        }
        for mode in ["resource", "stack"] {
            self.rescans.with_label_values(&[mode]);
        }
        Ok(())
    }
}

/// The metric families of the events consumer (exported by the daemon with
/// `[events]` only, besides [`crate::metrics::METRIC_NAMES`]).
pub const EVENT_METRIC_NAMES: &[&str] = &[
    "driftd_events_received_total",
    "driftd_event_to_report_seconds",
    "driftd_events_lag_seconds",
    "driftd_events_poison_messages",
    "driftd_event_rescans_total",
    "driftd_event_rescanned_resources_total",
];

/// A poison message, as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Poison {
    pub message_id: String,
    pub receive_count: u32,
    pub reason: String,
    /// At or past `max_receives`: the redrive policy moves it to the DLQ.
    pub dead_lettered: bool,
}

/// One coalesced burst.
#[derive(Debug, Default)]
pub struct Batch {
    /// (region, resource id), deduplicated.
    pub resources: BTreeSet<(String, String)>,
    /// Messages received (all outcomes).
    pub messages: usize,
    pub poison: Vec<Poison>,
    /// Earliest API-call time of the changes (for the event-to-report histogram).
    pub earliest_event: Option<SystemTime>,
    /// Age of its oldest message when received (`driftd_events_lag_seconds`).
    pub lag: Duration,
    /// Receipt handles to delete once the rescan is recorded.
    receipts: BTreeMap<String, String>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.messages == 0
    }
    /// Resource ids by region.
    pub fn by_region(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (r, id) in &self.resources {
            m.entry(r.clone()).or_default().insert(id.clone());
        }
        m
    }
}

pub struct Consumer {
    client: aws_sdk_sqs::Client,
    settings: EventsSettings,
    pub metrics: EventMetrics,
}

fn parse_time(t: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| UNIX_EPOCH + Duration::from_millis(d.timestamp_millis().max(0) as u64))
}

impl Consumer {
    pub async fn connect(
        settings: &EventsSettings,
        options: &driftd_aws::ClientOptions,
        calls: &driftd_aws::ApiCalls,
    ) -> Self {
        let target = driftd_aws::Target {
            region: settings.region.clone(),
            endpoint_url: settings.endpoint_url.clone(),
            assume_role_arn: None,
        };
        let sdk = driftd_aws::client::sdk_config(&target, options).await;
        let conf = aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build();
        Self {
            client: aws_sdk_sqs::Client::from_conf(conf),
            settings: settings.clone(),
            metrics: EventMetrics::new(),
        }
    }

    /// Use these (already registered) metrics: they outlive a consumer
    /// restarted by a config reload.
    pub fn with_metrics(mut self, metrics: EventMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Receive up to 10 messages, waiting up to `wait` seconds.
    async fn receive_into(&self, batch: &mut Batch, wait: i32) -> Result<usize, String> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.settings.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| format!("SQS ReceiveMessage: {}", describe(&e)))?;
        let msgs = out.messages();
        let now = SystemTime::now();
        for m in msgs {
            batch.messages += 1;
            let id = m.message_id().unwrap_or_default().to_string();
            let attrs = m.attributes();
            let count: u32 = attrs
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            if let Some(sent) = attrs
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse::<u64>().ok())
            {
                let age = now
                    .duration_since(UNIX_EPOCH + Duration::from_millis(sent))
                    .unwrap_or_default();
                batch.lag = batch.lag.max(age);
            }
            let Some(receipt) = m.receipt_handle() else {
                continue;
            };
            match parse_event(m.body().unwrap_or_default()) {
                Ok(ev) => {
                    self.metrics.received.with_label_values(&["change"]).inc();
                    for r in &ev.resource_ids {
                        batch.resources.insert((ev.region.clone(), r.clone()));
                    }
                    if let Some(t) = ev.event_time.as_deref().and_then(parse_time) {
                        batch.earliest_event =
                            Some(batch.earliest_event.map_or(t, |e: SystemTime| e.min(t)));
                    }
                    batch.receipts.insert(id, receipt.to_string());
                }
                Err(NotAChange::Irrelevant(_)) => {
                    self.metrics
                        .received
                        .with_label_values(&["irrelevant"])
                        .inc();
                    batch.receipts.insert(id, receipt.to_string());
                }
                Err(NotAChange::Malformed(reason)) => {
                    self.metrics.received.with_label_values(&["poison"]).inc();
                    let dead_lettered = count >= self.settings.max_receives;
                    warn!(message_id = %id, receive_count = count, max_receives = self.settings.max_receives,
                        %reason, "poison message in the events queue: not deleted (the redrive policy dead-letters it)");
                    batch.poison.push(Poison {
                        message_id: id,
                        receive_count: count,
                        reason,
                        dead_lettered,
                    });
                    // Back off before it is seen again: `poison_backoff` per
                    // receive, at most 15 min.
                    let backoff = (self.settings.poison_backoff.as_secs() as i32)
                        .saturating_mul(count as i32)
                        .min(900);
                    let _ = self
                        .client
                        .change_message_visibility()
                        .queue_url(&self.settings.queue_url)
                        .receipt_handle(receipt)
                        .visibility_timeout(backoff)
                        .send()
                        .await;
                }
            }
        }
        Ok(msgs.len())
    }

    /// Wait for the next burst and collect it (see the module doc). An empty
    /// batch means the long poll ended with no message.
    pub async fn next_batch(&self) -> Result<Batch, String> {
        let mut batch = Batch::default();
        if self
            .receive_into(&mut batch, self.settings.wait_seconds)
            .await?
            == 0
        {
            return Ok(batch);
        }
        let until = tokio::time::Instant::now() + self.settings.batch_window;
        // A 1 s long poll, not a short one: a short poll samples only some
        // of SQS's servers and can answer empty while messages remain
        // (splitting a burst); an empty long poll means the queue is drained.
        while tokio::time::Instant::now() < until {
            if self.receive_into(&mut batch, 1).await? == 0 {
                break;
            }
        }
        self.metrics.poison.set(batch.poison.len() as i64);
        self.metrics.lag.set(batch.lag.as_secs() as i64);
        Ok(batch)
    }

    /// The rescan of `batch` is recorded: delete its messages (not the
    /// poison ones) and observe the event-to-report time.
    pub async fn finish(&self, batch: &Batch) -> Result<usize, String> {
        if let Some(t) = batch.earliest_event {
            let s = SystemTime::now().duration_since(t).unwrap_or_default();
            self.metrics.to_report.observe(s.as_secs_f64());
        }
        let entries: Vec<(String, String)> = batch
            .receipts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut deleted = 0;
        for chunk in entries.chunks(10) {
            let mut req = self
                .client
                .delete_message_batch()
                .queue_url(&self.settings.queue_url);
            for (i, (_, receipt)) in chunk.iter().enumerate() {
                req = req.entries(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .receipt_handle(receipt)
                        .build()
                        .map_err(|e| e.to_string())?,
                );
            }
            let out = req
                .send()
                .await
                .map_err(|e| format!("SQS DeleteMessageBatch: {}", describe(&e)))?;
            deleted += out.successful().len();
            if !out.failed().is_empty() {
                warn!(
                    failed = out.failed().len(),
                    "some event messages were not deleted: they will be received again"
                );
            }
        }
        info!(
            messages = batch.messages,
            resources = batch.resources.len(),
            deleted,
            "event batch recorded"
        );
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_metrics_are_registered_once_with_every_series_at_zero() {
        let m = crate::metrics::Metrics::new();
        let ev = EventMetrics::new();
        ev.register(&m).unwrap();
        assert!(ev.register(&m).is_err(), "a second registration is refused");
        let text = m.encode();
        for name in EVENT_METRIC_NAMES {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}:\n{text}");
        }
        for series in [
            "driftd_events_received_total{outcome=\"poison\"} 0",
            "driftd_event_rescans_total{mode=\"resource\"} 0",
            "driftd_event_rescans_total{mode=\"stack\"} 0",
            "driftd_event_to_report_seconds_count 0",
        ] {
            assert!(text.contains(series), "{series}:\n{text}");
        }
    }
}
