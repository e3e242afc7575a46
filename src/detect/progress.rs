//! Progress of a scan, for a person watching it.
//!
//! Why: a scan of a large estate takes minutes on real AWS; a handful of
//! lines says nothing about whether it is stuck, throttled or nearly done.
//! On a terminal a live board shows every scope being read (its stacks, API
//! calls, pages, S3 requests, throttled retries, elapsed); elsewhere (a
//! CronJob's log) the same facts come as plain lines on stderr, at the start
//! and end of each scope and every `DRIFTD_PROGRESS_INTERVAL` seconds (10 by
//! default) while it runs; `--quiet` prints nothing. Never on stdout: the
//! report goes there.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftd_aws::calls::Outcome;
use driftd_aws::ApiCalls;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing (`--quiet`, the daemon).
    Off,
    /// Plain lines on stderr (not a terminal).
    Lines,
    /// A live board on stderr (a terminal).
    Live,
}

struct Row {
    label: String,
    calls: ApiCalls,
    started: Instant,
}

#[derive(Default)]
struct Board {
    rows: BTreeMap<usize, Row>,
    next: usize,
    done: usize,
    total: usize,
    /// Lines of the board currently on screen (live mode).
    drawn: usize,
}

/// The progress of one scan (cheap to clone).
#[derive(Clone)]
pub struct Progress {
    mode: Mode,
    board: Arc<Mutex<Board>>,
    started: Instant,
}

/// The counters of one scope being read.
pub struct ScopeProgress {
    progress: Progress,
    id: usize,
    /// Install on the scope's clients: counts its calls (and the run's).
    pub calls: ApiCalls,
}

fn facts(calls: &ApiCalls) -> String {
    format!(
        "{} calls, {} pages, {} S3 requests, {} throttled retries",
        calls.total(),
        calls.pages(),
        calls.successes_of("s3"),
        calls.count(Outcome::Throttled)
    )
}

impl Progress {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            board: Default::default(),
            started: Instant::now(),
        }
    }

    /// Off, lines or live, from the run's options and stderr.
    pub fn for_run(on: bool, stderr_is_terminal: bool) -> Self {
        Self::new(match (on, stderr_is_terminal) {
            (false, _) => Mode::Off,
            (true, false) => Mode::Lines,
            (true, true) => Mode::Live,
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One line (above the live board).
    pub fn say(&self, msg: &str) {
        match self.mode {
            Mode::Off => {}
            Mode::Lines => eprintln!("driftd: {msg}"),
            Mode::Live => {
                let mut b = self.lock();
                let mut err = std::io::stderr().lock();
                clear(&mut err, b.drawn);
                let _ = writeln!(err, "driftd: {msg}");
                b.drawn = draw(&mut err, &b, self.started);
            }
        }
    }

    /// How many scopes the run reads.
    pub fn expect_scopes(&self, n: usize) {
        self.lock().total = n;
    }

    /// A scope starts being read; `label` names it (region, stacks).
    pub fn scope(&self, label: String, calls: &ApiCalls) -> ScopeProgress {
        self.scope_counting(label, calls.child())
    }

    /// [`Progress::scope`], counting in `calls` (a child of the run's, made
    /// before: calls its scope made before it was shown, an early listing's).
    pub fn scope_counting(&self, label: String, calls: ApiCalls) -> ScopeProgress {
        let id = {
            let mut b = self.lock();
            let id = b.next;
            b.next += 1;
            b.rows.insert(
                id,
                Row {
                    label: label.clone(),
                    calls: calls.clone(),
                    started: Instant::now(),
                },
            );
            id
        };
        if self.mode == Mode::Lines {
            self.say(&format!("reading {label}"));
        } else {
            self.redraw();
        }
        ScopeProgress {
            progress: self.clone(),
            id,
            calls,
        }
    }

    fn redraw(&self) {
        if self.mode != Mode::Live {
            return;
        }
        let mut b = self.lock();
        let mut err = std::io::stderr().lock();
        clear(&mut err, b.drawn);
        b.drawn = draw(&mut err, &b, self.started);
    }

    /// The running scopes' state, one line each.
    pub fn running(&self) -> Vec<String> {
        let b = self.lock();
        b.rows
            .values()
            .map(|r| {
                format!(
                    "{}: {}, {:.1}s",
                    r.label,
                    facts(&r.calls),
                    r.started.elapsed().as_secs_f64()
                )
            })
            .collect()
    }

    /// Keep the display current until the returned guard is dropped: the
    /// live board every 200 ms, a line per running scope every `lines_every`.
    pub fn ticker(&self, lines_every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let every = match self.mode {
            Mode::Off => return None,
            Mode::Lines => lines_every,
            Mode::Live => Duration::from_millis(200),
        };
        let p = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match p.mode {
                    Mode::Live => p.redraw(),
                    _ => {
                        for line in p.running() {
                            p.say(&format!("still reading {line}"));
                        }
                    }
                }
            }
        }))
    }

    /// Remove the live board (before the report is printed).
    pub fn finish(&self) {
        if self.mode == Mode::Live {
            let mut b = self.lock();
            let mut err = std::io::stderr().lock();
            clear(&mut err, b.drawn);
            b.drawn = 0;
        }
    }
}

impl ScopeProgress {
    /// The scope is read: one line with what it took.
    pub fn done(self, resources: usize) {
        let row = {
            let mut b = self.progress.lock();
            b.done += 1;
            b.rows.remove(&self.id)
        };
        if let Some(r) = row {
            self.progress.say(&format!(
                "read {resources} resource(s) in {}: {} ({:.1}s)",
                r.label,
                facts(&r.calls),
                r.started.elapsed().as_secs_f64()
            ));
        }
    }
}

/// Move up over the board and clear it.
fn clear(w: &mut impl Write, lines: usize) {
    for _ in 0..lines {
        let _ = write!(w, "\x1b[1A\x1b[2K");
    }
    let _ = write!(w, "\r");
}

/// Draw the board; the number of lines drawn.
fn draw(w: &mut impl Write, b: &Board, started: Instant) -> usize {
    if b.rows.is_empty() {
        return 0;
    }
    let _ = writeln!(
        w,
        "  scopes {}/{} read, {:.1}s",
        b.done,
        b.total.max(b.done + b.rows.len()),
        started.elapsed().as_secs_f64()
    );
    for r in b.rows.values() {
        let _ = writeln!(
            w,
            "  {} {}: {}, {:.1}s",
            spinner(r.started),
            r.label,
            facts(&r.calls),
            r.started.elapsed().as_secs_f64()
        );
    }
    let _ = w.flush();
    1 + b.rows.len()
}

fn spinner(since: Instant) -> char {
    const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
    FRAMES[(since.elapsed().as_millis() / 200) as usize % 4]
}

/// A scope's label: its region and (up to three of) its stacks.
pub fn label(region: &str, stacks: &[&str]) -> String {
    let mut names: Vec<&str> = stacks.to_vec();
    names.sort_unstable();
    names.dedup();
    let shown = names.iter().take(3).copied().collect::<Vec<_>>().join(", ");
    match names.len() {
        0 => region.to_string(),
        n if n > 3 => format!("{region} (stacks {shown} and {} more)", n - 3),
        1 => format!("{region} (stack {shown})"),
        _ => format!("{region} (stacks {shown})"),
    }
}

/// `DRIFTD_PROGRESS_INTERVAL` (seconds) or 10 s.
pub fn lines_interval(env: Option<String>) -> Duration {
    env.and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.1)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_quiet_and_the_terminal() {
        assert_eq!(Progress::for_run(false, true).mode(), Mode::Off);
        assert_eq!(Progress::for_run(false, false).mode(), Mode::Off);
        assert_eq!(Progress::for_run(true, false).mode(), Mode::Lines);
        assert_eq!(Progress::for_run(true, true).mode(), Mode::Live);
    }

    #[test]
    fn labels_name_the_region_and_a_few_stacks() {
        assert_eq!(label("us-east-1", &[]), "us-east-1");
        assert_eq!(label("us-east-1", &["app", "app"]), "us-east-1 (stack app)");
        assert_eq!(
            label("eu-west-1", &["b", "a", "d", "c", "e"]),
            "eu-west-1 (stacks a, b, c and 2 more)"
        );
    }

    #[test]
    fn a_running_scope_shows_its_own_calls() {
        let all = ApiCalls::new();
        let p = Progress::new(Mode::Off);
        let s = p.scope("us-east-1 (stack app)".into(), &all);
        s.calls.record("EC2", "DescribeInstances", Outcome::Success);
        s.calls
            .record("EC2", "DescribeInstances", Outcome::Throttled);
        all.record("EC2", "DescribeVpcs", Outcome::Success);
        let lines = p.running();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with(
                "us-east-1 (stack app): 2 calls, 1 pages, 0 S3 requests, 1 throttled retries, "
            ),
            "{lines:?}"
        );
        assert_eq!(all.total(), 3);
        s.done(1);
        assert!(p.running().is_empty());
    }

    #[test]
    fn the_board_is_drawn_and_cleared() {
        let b = Board {
            rows: [(
                0,
                Row {
                    label: "us-east-1".into(),
                    calls: ApiCalls::new(),
                    started: Instant::now(),
                },
            )]
            .into(),
            total: 2,
            ..Default::default()
        };
        let mut out = Vec::new();
        assert_eq!(draw(&mut out, &b, Instant::now()), 2);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("scopes 0/2 read"), "{text}");
        assert!(text.contains("us-east-1: 0 calls"), "{text}");
        let mut out = Vec::new();
        clear(&mut out, 2);
        assert_eq!(out, b"\x1b[1A\x1b[2K\x1b[1A\x1b[2K\r");
    }

    #[test]
    fn the_lines_interval_comes_from_the_environment() {
        assert_eq!(lines_interval(None), Duration::from_secs(10));
        assert_eq!(
            lines_interval(Some("0.5".into())),
            Duration::from_millis(500)
        );
        assert_eq!(lines_interval(Some("soon".into())), Duration::from_secs(10));
    }
}
