//! The `driftd` command line. `main` maps outcomes to exit codes, in the
//! style of `terraform plan -detailed-exitcode`: 0 no drift, 2 drift, 1 error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use driftd::aws::{ApiCalls, ClientOptions};
use driftd::config;
use driftd::daemon;
use driftd::env::ProcessEnv;
use driftd::metrics::{self, Metrics};
use driftd::pipeline::{self, RunOptions};
use driftd::scan::ScanOptions;

#[derive(Parser)]
#[command(
    name = "driftd",
    version,
    about = "Drift detection for Terraform on AWS: state vs live EC2 and S3"
)]
struct Cli {
    /// Log format on stderr: text (for terminals) or json (for clusters).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "DRIFTD_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter (tracing syntax), e.g. `info` or `driftd=debug`. The AWS
    /// SDK's and the HTTP stack's own logs stay at `info` or above whatever
    /// the filter says: below that they print raw requests and responses,
    /// sensitive values included (see --unsafe-log-wire).
    #[arg(long, global = true, default_value = "warn", env = "DRIFTD_LOG")]
    log: String,
    /// UNSAFE: let the SDK's and the HTTP stack's debug/trace logs through
    /// (raw request and response bodies and headers: secrets, tag values,
    /// state contents). For debugging against an emulator only.
    #[arg(long, global = true, env = "DRIFTD_UNSAFE_LOG_WIRE",
          action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    unsafe_log_wire: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
    Markdown,
}

#[derive(Subcommand)]
enum Command {
    /// Scan every configured stack once and print a drift report.
    ///
    /// Exit status: 0 no drift, 2 drift found, 1 error (a stack failed or
    /// was incomplete; the report still covers every other stack).
    Scan {
        /// Config file.
        #[arg(long, short, env = "DRIFTD_CONFIG", default_value = "driftd.toml")]
        config: PathBuf,
        /// Report format on stdout.
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
        /// Also write the JSON report to this file.
        #[arg(long)]
        report_file: Option<PathBuf>,
        /// Only these stacks (repeatable).
        #[arg(long = "stack")]
        stacks: Vec<String>,
        /// Report AWS-created resources (default security groups) and
        /// service-owned ones (Auto Scaling instances) as unmanaged too.
        #[arg(long)]
        strict: bool,
        /// Skip unmanaged detection (fewer API calls).
        #[arg(long)]
        no_unmanaged: bool,
        /// No progress lines on stderr.
        #[arg(long, short)]
        quiet: bool,
        /// Print the exact API calls reconcile would make; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Exit 0 when drift is found (for CronJobs, where exit 2 would mark
        /// the Job failed); errors still exit 1.
        #[arg(long)]
        exit_zero_on_drift: bool,
        /// Push metrics to this Pushgateway after the run (a failed push is
        /// logged and does not change the exit code).
        #[arg(long, env = "DRIFTD_PUSHGATEWAY")]
        pushgateway: Option<String>,
        /// Pushgateway job label.
        #[arg(long, default_value = "driftd")]
        push_job: String,
        /// Pushgateway instance label (default: "shard-<index>" or "all"); keep
        /// it stable across runs so each push replaces the last.
        #[arg(long)]
        push_instance: Option<String>,
        /// Write metrics to this file for node-exporter's textfile collector.
        #[arg(long)]
        metrics_textfile: Option<PathBuf>,
        /// This run's shard (default: $JOB_COMPLETION_INDEX of a Kubernetes Indexed Job).
        #[arg(long, env = "JOB_COMPLETION_INDEX")]
        shard_index: Option<u32>,
        /// Number of shards: stacks are split by a stable hash of their name.
        #[arg(long, default_value_t = 1)]
        shard_count: u32,
    },
    /// Run as a daemon: scan each stack on its cron schedule; serve /metrics,
    /// /healthz, /readyz and /reports/latest. SIGHUP reloads the config;
    /// SIGTERM drains (a second signal exits at once).
    Daemon {
        #[arg(long, short, env = "DRIFTD_CONFIG", default_value = "driftd.toml")]
        config: PathBuf,
        /// Listen address (default: [daemon] listen, else 0.0.0.0:9090).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Check a config file and report every error at once.
    ValidateConfig {
        #[arg(long, short, env = "DRIFTD_CONFIG", default_value = "driftd.toml")]
        config: PathBuf,
    },
}

/// Log targets that print what goes over the wire below `info`: the SDK's
/// orchestrator ("transmitting request", "received response" with bodies),
/// request signing (canonical requests), credential and profile loading,
/// and the HTTP, TLS and GitHub client stacks.
const WIRE_TARGETS: &[&str] = &[
    "aws_smithy_",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
    "aws_credential_types",
    "aws_sdk_",
    "hyper",
    "hyper_util",
    "hyper_rustls",
    "h2",
    "http_body",
    "reqwest",
    "rustls",
    "tower",
    "tower_http",
    "octocrab",
];

fn is_wire_target(target: &str) -> bool {
    WIRE_TARGETS.iter().any(|p| {
        if p.ends_with('_') {
            target.starts_with(p)
        } else {
            target == *p
                || target
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with("::"))
        }
    })
}

fn init_logs(format: LogFormat, filter: &str, unsafe_wire: bool) {
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Wire-level targets never go below info, whatever the filter asks,
    // unless the unsafe switch is set.
    let cap = tracing_subscriber::filter::filter_fn(move |m| {
        unsafe_wire || *m.level() <= tracing::Level::INFO || !is_wire_target(m.target())
    });
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(layer.with_filter(filter.and(cap)))
            .init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.json().with_filter(filter.and(cap)))
            .init(),
    }
    if unsafe_wire {
        tracing::warn!("--unsafe-log-wire: SDK wire logs are on; they contain secrets");
    }
}

/// The async runtime, or `None` after saying why it could not start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("error: cannot start the async runtime: {e}"))
        .ok()
}

fn main() -> ExitCode {
    driftd::mem::init();
    let cli = Cli::parse();
    init_logs(cli.log_format, &cli.log, cli.unsafe_log_wire);
    // octocrab and the AWS SDK bring different rustls crypto backends: pick one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let code = match cli.command {
        Command::Daemon { config, listen } => {
            let Some(runtime) = runtime() else {
                return ExitCode::from(1);
            };
            let code =
                runtime.block_on(daemon::run(config, listen, std::sync::Arc::new(ProcessEnv)));
            if code != 0 {
                // Second signal, or the grace period ran out: do not wait for
                // tasks still running (a read blocked forever would otherwise
                // keep the process alive when the runtime is dropped).
                runtime.shutdown_background();
                std::process::exit(code);
            }
            code
        }
        Command::ValidateConfig { config } => match config::load(&config, &ProcessEnv) {
            Ok(c) => {
                println!("{}: ok ({} stack(s))", config.display(), c.stacks.len());
                0
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        },
        Command::Scan {
            config,
            output,
            report_file,
            stacks,
            strict,
            no_unmanaged,
            quiet,
            dry_run,
            exit_zero_on_drift,
            pushgateway,
            push_job,
            push_instance,
            metrics_textfile,
            shard_index,
            shard_count,
        } => {
            if shard_count == 0 || shard_index.is_some_and(|i| i >= shard_count) {
                eprintln!(
                    "error: --shard-index must be below --shard-count (got index {:?} of {shard_count})",
                    shard_index
                );
                return ExitCode::from(1);
            }
            let shard = (shard_count > 1).then(|| (shard_index.unwrap_or(0), shard_count));
            let cfg = match config::load(&config, &ProcessEnv) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            let unknown: Vec<&String> = stacks
                .iter()
                .filter(|s| !cfg.stacks.iter().any(|c| &c.name == *s))
                .collect();
            if !unknown.is_empty() {
                eprintln!(
                    "error: no such stack: {} (configured: {})",
                    unknown
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    cfg.stacks
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return ExitCode::from(1);
            }
            let options = RunOptions {
                scan: ScanOptions {
                    strict,
                    only_stacks: stacks,
                    no_unmanaged,
                    client: ClientOptions {
                        max_attempts: cfg.scan.max_attempts,
                        rate_limits: cfg.scan.rate_limits.clone(),
                        ..Default::default()
                    },
                    progress: !quiet,
                    shard,
                    narrow: None,
                },
                dry_run,
            };
            let Some(runtime) = runtime() else {
                return ExitCode::from(1);
            };
            let calls = ApiCalls::new();
            let started = std::time::Instant::now();
            let report = runtime.block_on(pipeline::run(&cfg, &options, &calls, &ProcessEnv));
            if pushgateway.is_some() || metrics_textfile.is_some() {
                let m = Metrics::new();
                let instance = push_instance.clone().unwrap_or_else(|| match shard {
                    Some((i, _)) => format!("shard-{i}"),
                    None => "all".into(),
                });
                // Counters carry over from earlier runs through the history
                // store, so that increase() works on pushed CronJob metrics.
                let store = cfg.history.as_ref().map(|h| {
                    runtime.block_on(driftd::history::HistoryStore::open(
                        h,
                        &options.scan.client,
                        &ApiCalls::new(),
                    ))
                });
                let doc = format!("@metrics-{instance}");
                let scanned: Vec<String> = driftd::scan::select_stacks(&cfg, &options.scan)
                    .iter()
                    .map(|s| s.name.clone())
                    .collect();
                let mut preloaded = false;
                if let Some(store) = &store {
                    match runtime.block_on(store.load_doc::<metrics::Carried>(&doc)) {
                        Ok(c) => {
                            m.preload(&c, &scanned);
                            preloaded = true;
                        }
                        Err(e) => eprintln!("warning: earlier metric totals: {e}"),
                    }
                }
                if let (false, Some(url)) = (preloaded, &pushgateway) {
                    // No history (or unreadable): the last complete gauges come
                    // from the group as pushed last time; counters restart
                    // (see docs/operations.md#pushgateway).
                    match runtime.block_on(metrics::pushed_gauges(url, &push_job, &instance)) {
                        Ok(c) => m.preload(&c, &scanned),
                        Err(e) => eprintln!("warning: earlier figures: {e}"),
                    }
                }
                // Every counter of every scanned stack exists, at 0 if need be.
                m.init_stacks(&scanned);
                m.record_report(&report, started.elapsed());
                m.sync_api_calls(&calls);
                if let Some(store) = &store {
                    if let Err(e) = runtime.block_on(store.save_doc(&doc, &m.carried())) {
                        eprintln!("warning: saving metric totals: {e}");
                    }
                }
                let body = m.encode();
                if let Some(url) = &pushgateway {
                    if let Err(e) =
                        runtime.block_on(metrics::push(url, &push_job, &instance, body.clone()))
                    {
                        // The scan's result stands; the push is best effort.
                        eprintln!("warning: {e}");
                    }
                }
                if let Some(path) = &metrics_textfile {
                    if let Err(e) = runtime.block_on(metrics::write_textfile(path, &body)) {
                        eprintln!("warning: metrics textfile: {e}");
                    }
                }
            }
            let rendered = match output {
                Output::Text => report.to_text(),
                Output::Json => report.to_json(),
                Output::Markdown => report.to_markdown(),
            };
            let mut code = report.exit_code();
            if exit_zero_on_drift && code == 2 {
                code = 0;
            }
            if let Some(path) = report_file {
                if let Err(e) = std::fs::write(&path, report.to_json()) {
                    eprintln!("error: cannot write the report to {}: {e}", path.display());
                    code = 1;
                }
            }
            let mut out = std::io::stdout().lock();
            if out
                .write_all(rendered.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                code = 1;
            }
            code
        }
    };
    ExitCode::from(code as u8)
}
