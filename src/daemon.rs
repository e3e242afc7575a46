//! `driftd daemon`: cron schedules per stack, an HTTP endpoint for metrics,
//! health and the latest reports, config reload and graceful shutdown.
//!
//! Why it is built this way:
//! - one task per schedule; a tick that comes while the previous run of the
//!   same stack still goes is skipped and counted (never two runs at once);
//! - on SIGTERM/SIGINT no new run starts and running ones get the grace
//!   period to finish (a reconcile is never cut by choice); a second signal
//!   exits at once (as kube-rs controllers do);
//! - SIGHUP reloads the config: a config that does not validate is refused
//!   and the old one keeps running, with the reason in the log;
//! - a run stuck in a read that never returns cannot keep the process alive:
//!   at the end of the grace period the daemon exits anyway (exit 1, without
//!   waiting for the stuck task), and `/healthz` fails once a run has lasted
//!   [`WEDGE_INTERVALS`] schedule intervals, so the kubelet restarts the pod;
//! - every counter series of every scheduled stack exists from start-up, at 0.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftd_aws::{ApiCalls, ClientOptions};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{self, Config};
use crate::env::Env;
use crate::metrics::Metrics;
use crate::pipeline::{self, RunOptions};
use crate::report::{Report, ScopeReport, ScopeStatus, StackReport};
use crate::scan::ScanOptions;

/// A run lasting this many intervals of its stack's schedule (at least
/// [`WEDGE_MIN`], at most [`WEDGE_MAX`]) means the scheduler is wedged: every
/// tick of the stack is being skipped. `/healthz` then fails.
pub const WEDGE_INTERVALS: u32 = 10;
/// A slow scan on a tight schedule is not wedged before this.
pub const WEDGE_MIN: Duration = Duration::from_secs(15 * 60);
/// The longest a run may last before `/healthz` fails, whatever the schedule.
pub const WEDGE_MAX: Duration = Duration::from_secs(6 * 3600);
/// Environment variable overriding the limit, in seconds (for every stack).
pub const WEDGE_ENV: &str = "DRIFTD_WEDGED_AFTER_SECONDS";

/// The latest results, for `/reports/latest`: the last report of each stack
/// and the last unmanaged scan of each scope, as one report document.
#[derive(Default)]
pub struct Latest {
    generated_at: Option<String>,
    stacks: BTreeMap<String, StackReport>,
    unmanaged: BTreeMap<(String, Option<String>, Option<String>), ScopeReport>,
}

impl Latest {
    /// Merge a finished run's report.
    pub fn record(&mut self, report: &Report) {
        self.generated_at = Some(report.generated_at.clone());
        for st in &report.stacks {
            self.stacks.insert(st.name.clone(), st.clone());
        }
        for sc in report
            .unmanaged
            .iter()
            .filter(|s| s.status != ScopeStatus::Skipped)
        {
            let key = (
                sc.region.clone(),
                sc.endpoint_url.clone(),
                sc.assume_role_arn.clone(),
            );
            self.unmanaged.insert(key, sc.clone());
        }
    }

    /// The document `driftd scan --output json` prints, over the latest runs;
    /// `None` before the first run has finished.
    pub fn document(&self) -> Option<Report> {
        let generated_at = self.generated_at.clone()?;
        let mut r = Report {
            schema_version: crate::report::SCHEMA_VERSION,
            driftd_version: env!("CARGO_PKG_VERSION").into(),
            generated_at,
            summary: Default::default(),
            stacks: self.stacks.values().cloned().collect(),
            unmanaged: self.unmanaged.values().cloned().collect(),
        };
        r.finish();
        Some(r)
    }
}

/// State shared by the scheduler and the HTTP server.
pub struct Shared {
    pub metrics: Metrics,
    pub calls: ApiCalls,
    /// Latest results, for `/reports/latest`.
    pub latest: Mutex<Latest>,
    /// Stacks with a run in progress, and when it started.
    pub running: Mutex<BTreeMap<String, Instant>>,
    /// Per scheduled stack: how long a run may last before the daemon counts
    /// as wedged (see [`WEDGE_INTERVALS`]).
    pub wedge_after: Mutex<BTreeMap<String, Duration>>,
    pub ready: Mutex<Result<(), String>>,
    /// When the last full (not event-narrowed) run of each stack started:
    /// an event received before it is covered by it (coalesced).
    pub full_started: Mutex<BTreeMap<String, Instant>>,
    /// The events consumer's metrics: registered once, kept across reloads.
    pub events: crate::events::sqs::EventMetrics,
    events_registered: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            metrics: Metrics::new(),
            calls: ApiCalls::new(),
            latest: Mutex::default(),
            running: Mutex::default(),
            wedge_after: Mutex::default(),
            ready: Mutex::new(Err("starting".into())),
            full_started: Mutex::default(),
            events: crate::events::sqs::EventMetrics::new(),
            events_registered: Default::default(),
        })
    }

    /// Register the event metrics (once).
    fn register_events(&self) {
        use std::sync::atomic::Ordering;
        if !self.events_registered.swap(true, Ordering::SeqCst) {
            if let Err(e) = self.events.register(&self.metrics) {
                warn!(error = %e, "event metrics not registered");
            }
        }
    }

    /// Why the scheduler is wedged (a run lasting far longer than its
    /// schedule allows), or `None` when it is healthy.
    pub fn wedged(&self) -> Option<String> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let limits = self.wedge_after.lock().unwrap_or_else(|e| e.into_inner());
        running.iter().find_map(|(stack, started)| {
            let limit = limits.get(stack).copied().unwrap_or(WEDGE_MAX);
            let age = started.elapsed();
            (age > limit).then(|| {
                format!(
                    "the run of stack {stack} has lasted {}s (limit {}s): the scheduler is wedged",
                    age.as_secs(),
                    limit.as_secs()
                )
            })
        })
    }
}

/// How long a run of a stack on `schedule` may last before the daemon counts
/// as wedged: [`WEDGE_INTERVALS`] intervals between ticks (plus the jitter),
/// within [`WEDGE_MIN`]..=[`WEDGE_MAX`]; `override_secs` ([`WEDGE_ENV`])
/// replaces it.
pub fn wedge_limit(
    schedule: &cron::Schedule,
    jitter: Duration,
    override_secs: Option<u64>,
) -> Duration {
    if let Some(s) = override_secs {
        return Duration::from_secs(s);
    }
    let mut ticks = schedule.upcoming(chrono::Utc);
    let interval = match (ticks.next(), ticks.next()) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or(WEDGE_MAX),
        _ => WEDGE_MAX,
    };
    (interval * WEDGE_INTERVALS + jitter).clamp(WEDGE_MIN, WEDGE_MAX)
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let resp = |code: StatusCode, ctype: &str, body: String| {
        Response::builder()
            .status(code)
            .header("content-type", ctype)
            .body(Full::new(Bytes::from(body)))
            .expect("valid response")
    };
    Ok(match req.uri().path() {
        "/metrics" => {
            shared.metrics.sync_api_calls(&shared.calls);
            resp(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                shared.metrics.encode(),
            )
        }
        // Liveness: fails when a run is stuck far beyond its schedule, so the
        // kubelet restarts a daemon that would otherwise skip every tick forever.
        "/healthz" => match shared.wedged() {
            None => resp(StatusCode::OK, "text/plain", "ok\n".into()),
            Some(why) => resp(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("unhealthy: {why}\n"),
            ),
        },
        "/readyz" => match &*shared.ready.lock().unwrap_or_else(|e| e.into_inner()) {
            Ok(()) => resp(StatusCode::OK, "text/plain", "ready\n".into()),
            Err(e) => resp(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {e}\n"),
            ),
        },
        // The same document as `driftd scan --output json`.
        "/reports/latest" => {
            let doc = shared
                .latest
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .document();
            match doc {
                Some(r) => resp(StatusCode::OK, "application/json", r.to_json()),
                None => resp(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "no scheduled scan has finished yet\n".into(),
                ),
            }
        }
        _ => resp(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /healthz, /readyz, /reports/latest\n".into(),
        ),
    })
}

/// Serve HTTP until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let svc = hyper::service::service_fn(move |req| handle(req, shared.clone()));
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
                });
            }
            _ = stop.changed() => return,
        }
    }
}

/// Run one scheduled job (one stack, or all stacks for `[daemon]`-level
/// full scans) unless any of its stacks is already running.
async fn run_job(config: Arc<Config>, stacks: Vec<String>, shared: Arc<Shared>, env: Arc<dyn Env>) {
    run_job_recorded(config, stacks, shared, env, None).await;
}

/// [`run_job`]; true when the run happened and its report was recorded.
/// `narrow`: an event-driven rescan of just the named resources.
async fn run_job_recorded(
    config: Arc<Config>,
    stacks: Vec<String>,
    shared: Arc<Shared>,
    env: Arc<dyn Env>,
    narrow: Option<Arc<crate::events::rescan::Narrow>>,
) -> bool {
    {
        let mut running = shared.running.lock().unwrap_or_else(|e| e.into_inner());
        if stacks.iter().any(|s| running.contains_key(s)) {
            for s in &stacks {
                shared.metrics.scan_skipped(s);
            }
            warn!(stacks = ?stacks, "previous run still in progress: tick skipped");
            return false;
        }
        let now = Instant::now();
        running.extend(stacks.iter().map(|s| (s.clone(), now)));
        if narrow.is_none() {
            let mut full = shared
                .full_started
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            full.extend(stacks.iter().map(|s| (s.clone(), now)));
        }
    }
    // Cleared on every exit path, a panic included: a stack must never stay
    // "running" forever (every later tick would be skipped).
    struct Running(Arc<Shared>, Vec<String>);
    impl Drop for Running {
        fn drop(&mut self) {
            let mut running = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
            for s in &self.1 {
                running.remove(s);
            }
        }
    }
    let _running = Running(shared.clone(), stacks.clone());
    let options = RunOptions {
        scan: ScanOptions {
            only_stacks: stacks.clone(),
            client: ClientOptions {
                max_attempts: config.scan.max_attempts,
                rate_limits: config.scan.rate_limits.clone(),
                ..Default::default()
            },
            narrow: narrow.clone(),
            ..Default::default()
        },
        dry_run: false,
    };
    let started = Instant::now();
    let report: Report = pipeline::run(&config, &options, &shared.calls, env.as_ref()).await;
    shared.metrics.record_report(&report, started.elapsed());
    shared.metrics.sync_api_calls(&shared.calls);
    shared
        .latest
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .record(&report);
    info!(stacks = ?stacks, drifts = report.summary.drifts, elapsed_ms = started.elapsed().as_millis() as u64,
        narrowed_to = narrow.as_ref().map(|n| n.resources.len()), "run finished");
    drop(report);
    // Between scans the daemon keeps the latest reports, not the scan's
    // state, pages and inventories: give those pages back, so that its idle
    // size is not the last scan's peak; and unmap the code it ran (it stays
    // in the page cache for the next scan).
    crate::mem::release();
    crate::mem::release_code();
    true
}

/// The stacks an event batch concerns: those scanning a region it names.
pub fn stacks_for_events(config: &Config, batch: &crate::events::sqs::Batch) -> Vec<String> {
    let regions = batch.by_region();
    config
        .stacks
        .iter()
        .filter(|s| s.regions.iter().any(|r| regions.contains_key(r)))
        .map(|s| s.name.clone())
        .collect()
}

/// `[events]`: long-poll the queue; per burst (deduplicated into its set of
/// named resources), rescan them and then delete the messages:
/// - a stack whose full run started after the burst was received is covered
///   by it (coalesced with the scheduled scans): nothing more to do;
/// - a stack with a complete previous report gets a run narrowed to the
///   named resources, merged into that report ([`crate::events::rescan`]);
/// - any other stack is rescanned in full;
/// - never two runs of a stack at once: a running one is waited for.
///
/// A failed receive backs off. The loop stops when `stop` turns true (a
/// SIGHUP restarts it with the new config, a signal ends it).
async fn events_loop(
    config: Arc<Config>,
    settings: crate::events::EventsSettings,
    shared: Arc<Shared>,
    env: Arc<dyn Env>,
    mut stop: watch::Receiver<bool>,
) {
    let options = ClientOptions {
        max_attempts: config.scan.max_attempts,
        rate_limits: config.scan.rate_limits.clone(),
        ..Default::default()
    };
    shared.register_events();
    let consumer = crate::events::sqs::Consumer::connect(&settings, &options, &shared.calls)
        .await
        .with_metrics(shared.events.clone());
    loop {
        if *stop.borrow() {
            return;
        }
        let batch = tokio::select! {
            b = consumer.next_batch() => b,
            _ = stop.changed() => return,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "events queue: receive failed, retrying in 10 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let received = Instant::now();
        let stacks = stacks_for_events(&config, &batch);
        info!(
            messages = batch.messages,
            resources = batch.resources.len(),
            ?stacks,
            "event burst: rescanning"
        );
        if rescan_burst(&config, &batch, stacks, received, &shared, &env).await {
            shared.events.rescanned.inc_by(batch.resources.len() as u64);
            if let Err(e) = consumer.finish(&batch).await {
                warn!(error = %e, "events queue: delete failed (the messages come back)");
            }
        } else {
            warn!("event burst: rescan not recorded in time: its messages come back");
        }
    }
}

/// How the stacks of a burst (none of them running now) are rescanned.
#[derive(Debug, Default, PartialEq)]
pub struct BurstPlan {
    /// A full run of the stack started after the burst was received: it saw
    /// the changes, nothing more to do (coalesced).
    pub covered: Vec<String>,
    /// A complete previous report exists: rescan just the named resources.
    pub narrowed: Vec<String>,
    /// No complete report to merge into: rescan the stack in full.
    pub full: Vec<String>,
}

/// Decide [`BurstPlan`] from when the stacks' last full runs started and the
/// latest report.
pub fn plan_burst(
    stacks: &[String],
    received: Instant,
    full_started: &BTreeMap<String, Instant>,
    latest: Option<&Report>,
) -> BurstPlan {
    let mut plan = BurstPlan::default();
    for s in stacks {
        let complete = latest.is_some_and(|b| {
            b.stacks
                .iter()
                .any(|x| &x.name == s && x.status == crate::report::StackStatus::Ok)
        });
        if full_started.get(s).is_some_and(|t| *t >= received) {
            plan.covered.push(s.clone());
        } else if complete {
            plan.narrowed.push(s.clone());
        } else {
            plan.full.push(s.clone());
        }
    }
    plan
}

/// Rescan the stacks of a burst (see [`events_loop`]); true once every one
/// of them is recorded (or covered by a full run), false after 10 minutes.
async fn rescan_burst(
    config: &Arc<Config>,
    batch: &crate::events::sqs::Batch,
    mut pending: Vec<String>,
    received: Instant,
    shared: &Arc<Shared>,
    env: &Arc<dyn Env>,
) -> bool {
    for _ in 0..600 {
        if pending.is_empty() {
            return true;
        }
        let busy = {
            let running = shared.running.lock().unwrap_or_else(|e| e.into_inner());
            pending.iter().any(|s| running.contains_key(s))
        };
        if busy {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let base = shared
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .document();
        let plan = {
            let started = shared
                .full_started
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            plan_burst(&pending, received, &started, base.as_ref())
        };
        if !plan.covered.is_empty() {
            info!(stacks = ?plan.covered, "event burst: covered by a full run started after it");
            pending.retain(|s| !plan.covered.contains(s));
        }
        let BurstPlan { narrowed, full, .. } = plan;
        if !narrowed.is_empty() {
            let narrow = Arc::new(crate::events::rescan::Narrow {
                resources: batch.resources.clone(),
                base: base.clone().expect("complete implies a base"),
            });
            shared.events.rescans.with_label_values(&["resource"]).inc();
            if run_job_recorded(
                config.clone(),
                narrowed.clone(),
                shared.clone(),
                env.clone(),
                Some(narrow),
            )
            .await
            {
                pending.retain(|s| !narrowed.contains(s));
            }
        }
        if !full.is_empty() {
            shared.events.rescans.with_label_values(&["stack"]).inc();
            if run_job_recorded(
                config.clone(),
                full.clone(),
                shared.clone(),
                env.clone(),
                None,
            )
            .await
            {
                pending.retain(|s| !full.contains(s));
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    pending.is_empty()
}

/// One schedule loop: sleep to the next tick (+ jitter), start the job.
async fn schedule_loop(
    config: Arc<Config>,
    schedule: cron::Schedule,
    stacks: Vec<String>,
    shared: Arc<Shared>,
    env: Arc<dyn Env>,
    mut stop: watch::Receiver<bool>,
    jobs: Arc<tokio::sync::Mutex<tokio::task::JoinSet<()>>>,
) {
    loop {
        let Some(next) = schedule.upcoming(chrono::Utc).next() else {
            return;
        };
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        let jitter = if config.daemon.jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_millis(
                rand::random::<u64>() % config.daemon.jitter.as_millis().max(1) as u64,
            )
        };
        tokio::select! {
            _ = tokio::time::sleep(wait + jitter) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let job = run_job(config.clone(), stacks.clone(), shared.clone(), env.clone());
        let mut set = jobs.lock().await;
        // Reap finished runs; a panic is logged, the schedule goes on.
        while let Some(done) = set.try_join_next() {
            if let Err(e) = done {
                error!(error = %e, "a scheduled run panicked");
            }
        }
        set.spawn(job);
    }
}

/// Check that credentials resolve for every distinct target (for `/readyz`).
async fn check_credentials(config: &Config) -> Result<(), String> {
    use aws_credential_types::provider::ProvideCredentials;
    let mut seen = BTreeSet::new();
    for s in &config.stacks {
        let t = driftd_aws::Target {
            region: s.regions.first().cloned().unwrap_or_default(),
            endpoint_url: s.endpoint_url.clone(),
            assume_role_arn: s.assume_role_arn.clone(),
        };
        if !seen.insert(t.clone()) {
            continue;
        }
        let sdk = driftd_aws::client::sdk_config(&t, &ClientOptions::default()).await;
        let provider = sdk
            .credentials_provider()
            .ok_or("no AWS credentials provider")?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| format!("stack {}: AWS credentials did not resolve: {e}", s.name))?;
    }
    Ok(())
}

/// Start the schedules of a config; returns the stop sender of its loops.
fn start_schedules(
    config: Arc<Config>,
    shared: &Arc<Shared>,
    env: &Arc<dyn Env>,
    jobs: &Arc<tokio::sync::Mutex<tokio::task::JoinSet<()>>>,
) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    let mut n = 0;
    let wedge_override = env
        .var(WEDGE_ENV)
        .and_then(|v| v.trim().parse::<u64>().ok());
    let scheduled: Vec<&str> = config
        .stacks
        .iter()
        .filter(|s| s.schedule.is_some())
        .map(|s| s.name.as_str())
        .collect();
    // Counters of every scheduled stack exist from the start, at 0: the first
    // failure after a restart is then an increase that alerts see.
    shared.metrics.init_stacks(&scheduled);
    for s in &config.stacks {
        match &s.schedule {
            Some((text, sched)) => {
                info!(stack = %s.name, schedule = %text, "scheduled");
                shared
                    .wedge_after
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(
                        s.name.clone(),
                        wedge_limit(sched, config.daemon.jitter, wedge_override),
                    );
                tokio::spawn(schedule_loop(
                    config.clone(),
                    sched.clone(),
                    vec![s.name.clone()],
                    shared.clone(),
                    env.clone(),
                    rx.clone(),
                    jobs.clone(),
                ));
                n += 1;
            }
            None => {
                warn!(stack = %s.name, "no schedule: this stack is only scanned by `driftd scan`")
            }
        }
    }
    if n == 0 {
        warn!("no stack has a schedule: the daemon serves metrics but scans nothing");
    }
    tx
}

/// Start the events loop of a config (when it has `[events]`); returns the
/// stop sender of the loop.
fn start_events(
    config: Arc<Config>,
    shared: &Arc<Shared>,
    env: &Arc<dyn Env>,
) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    if let Some(ev) = config.events.clone() {
        info!(queue = %ev.queue_url, "consuming change events");
        tokio::spawn(events_loop(config, ev, shared.clone(), env.clone(), rx));
    }
    tx
}

/// Run the daemon until a signal stops it. Returns the process exit code.
pub async fn run(config_path: PathBuf, listen: Option<String>, env: Arc<dyn Env>) -> i32 {
    let config = match config::load(&config_path, env.as_ref()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let addr: SocketAddr = match listen.as_deref().unwrap_or(&config.daemon.listen).parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --listen: {e} (expected address:port such as 0.0.0.0:9090)");
            return 1;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return 1;
        }
    };
    info!(%addr, "serving /metrics, /healthz, /readyz, /reports/latest");
    let shared = Shared::new();
    let (http_stop, http_rx) = watch::channel(false);
    let server = tokio::spawn(serve(listener, shared.clone(), http_rx));

    let ready_config = config.clone();
    let ready_shared = shared.clone();
    tokio::spawn(async move {
        loop {
            let r = check_credentials(&ready_config).await;
            let ok = r.is_ok();
            if let Err(e) = &r {
                warn!(error = %e, "not ready");
            }
            *ready_shared.ready.lock().unwrap_or_else(|e| e.into_inner()) = r;
            if ok {
                return;
            }
            tokio::time::sleep(Duration::from_secs(15)).await;
        }
    });

    let jobs = Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
    let mut config = config;
    let mut schedules = start_schedules(config.clone(), &shared, &env, &jobs);
    let mut events_stop = start_events(config.clone(), &shared, &env);

    #[cfg(unix)]
    let (mut term, mut hup) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).expect("SIGTERM handler"),
            signal(SignalKind::hangup()).expect("SIGHUP handler"),
        )
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                match config::load(&config_path, env.as_ref()) {
                    Ok(c) => {
                        info!("SIGHUP: configuration reloaded");
                        let _ = schedules.send(true);
                        // The events loop too: a burst being rescanned is
                        // finished (and deleted) by the old loop.
                        let _ = events_stop.send(true);
                        config = Arc::new(c);
                        schedules = start_schedules(config.clone(), &shared, &env, &jobs);
                        events_stop = start_events(config.clone(), &shared, &env);
                    }
                    Err(e) => error!("SIGHUP: the new configuration is invalid, keeping the running one:\n{e}"),
                }
            }
        }
    }

    // Drain: no new runs; running ones get the grace period.
    let _ = schedules.send(true);
    let _ = events_stop.send(true);
    let grace = config.daemon.grace_period;
    let running: Vec<String> = shared
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .cloned()
        .collect();
    info!(
        ?running,
        grace_s = grace.as_secs(),
        "shutting down: waiting for running scans"
    );
    let drain = async {
        let mut jobs = jobs.lock().await;
        while jobs.join_next().await.is_some() {}
    };
    let second = async {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
    };
    let code = tokio::select! {
        _ = drain => { info!("all runs finished"); 0 }
        // A run stuck in a read that never returns must not make the daemon
        // unkillable: the caller does not wait for it (see `main`).
        _ = tokio::time::sleep(grace) => { error!(?running, "grace period over: exiting with runs still in progress"); 1 }
        _ = second => { warn!("second signal: exiting now"); 130 }
    };
    let _ = http_stop.send(true);
    let _ = server.await;
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_covered_by_a_later_full_run_else_narrowed_on_a_complete_report() {
        use crate::report::{StackStatus, SCHEMA_VERSION};
        let stack = |name: &str, status: StackStatus| StackReport {
            name: name.into(),
            status,
            errors: vec![],
            sources: vec![],
            counts: Default::default(),
            drifts: vec![],
            unknown: vec![],
            blast_radius: None,
            actions: vec![],
            pull_requests: None,
        };
        let latest = Report {
            schema_version: SCHEMA_VERSION,
            driftd_version: "t".into(),
            generated_at: "2026-12-01T10:00:00Z".into(),
            summary: Default::default(),
            stacks: vec![
                stack("covered", StackStatus::Ok),
                stack("narrow", StackStatus::Ok),
                stack("incomplete", StackStatus::Incomplete),
            ],
            unmanaged: vec![],
        };
        let t0 = Instant::now();
        let received = t0 + Duration::from_secs(10);
        let started = BTreeMap::from([
            ("covered".to_string(), received + Duration::from_secs(1)),
            ("narrow".to_string(), t0),
        ]);
        let names: Vec<String> = ["covered", "narrow", "incomplete", "new"]
            .map(String::from)
            .to_vec();
        let plan = plan_burst(&names, received, &started, Some(&latest));
        assert_eq!(plan.covered, ["covered"]);
        assert_eq!(plan.narrowed, ["narrow"]);
        assert_eq!(plan.full, ["incomplete", "new"]);
        // No report yet (just started): every stack in full.
        let plan = plan_burst(&names[1..], received, &started, None);
        assert_eq!(plan.full, ["narrow", "incomplete", "new"]);
    }

    #[test]
    fn a_run_is_wedged_after_ten_intervals_within_bounds() {
        let every = |expr: &str| crate::config::parse_schedule(expr).unwrap();
        // Every 30 minutes: 5 hours.
        assert_eq!(
            wedge_limit(&every("*/30 * * * *"), Duration::ZERO, None),
            Duration::from_secs(5 * 3600)
        );
        // Every minute: not before 15 minutes (a slow scan is not wedged).
        assert_eq!(
            wedge_limit(&every("* * * * *"), Duration::ZERO, None),
            WEDGE_MIN
        );
        // Daily: at most 6 hours.
        assert_eq!(
            wedge_limit(&every("0 3 * * *"), Duration::ZERO, None),
            WEDGE_MAX
        );
        // The jitter adds to it; the override replaces it.
        assert_eq!(
            wedge_limit(&every("0 * * * *"), Duration::from_secs(60), None),
            Duration::from_secs(10 * 3600 + 60).min(WEDGE_MAX)
        );
        assert_eq!(
            wedge_limit(&every("*/30 * * * *"), Duration::ZERO, Some(7)),
            Duration::from_secs(7)
        );
        let shared = Shared::new();
        assert!(shared.wedged().is_none());
        shared
            .wedge_after
            .lock()
            .unwrap()
            .insert("app".into(), Duration::from_secs(60));
        shared
            .running
            .lock()
            .unwrap()
            .insert("app".into(), Instant::now() - Duration::from_secs(61));
        assert!(shared.wedged().unwrap().contains("stack app"));
    }
}
