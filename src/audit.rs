//! The audit log: one JSON line per reconcile action, append-only.
//!
//! Why JSON lines: every automated change must be traceable after the fact
//! with `jq` or a log shipper. Each action is written twice: `started` before
//! the call (its `outcome` is `pending`), then its outcome, so a crash mid-way
//! still leaves a trace. For whole-document writes `before` is the complete
//! previous document (sensitive values masked), so an operator can put it
//! back. Each line is one `write` on a file opened for appending, then synced.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::report::ActionRecord;

#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    stack: &'a str,
    /// `started`, then one of the action outcomes.
    event: &'a str,
    /// The action's fields (`outcome` replaced by `pending` on `started`).
    #[serde(flatten)]
    action: serde_json::Value,
}

impl AuditLog {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one outcome line; `event` is the outcome.
    pub fn append(&self, stack: &str, event: &str, action: &ActionRecord) -> Result<(), String> {
        self.write(stack, event, action, None)
    }

    /// Append the `started` line of an action about to be made: its
    /// `outcome` is `pending` (never an outcome word such as `skipped`).
    pub fn started(&self, stack: &str, action: &ActionRecord) -> Result<(), String> {
        self.write(stack, "started", action, Some("pending"))
    }

    fn write(
        &self,
        stack: &str,
        event: &str,
        action: &ActionRecord,
        outcome: Option<&str>,
    ) -> Result<(), String> {
        let mut action = serde_json::to_value(action).map_err(|e| e.to_string())?;
        if let Some(o) = outcome {
            action["outcome"] = serde_json::Value::String(o.into());
        }
        let line = Line {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            stack,
            event,
            action,
        };
        let mut text = serde_json::to_string(&line).map_err(|e| e.to_string())?;
        text.push('\n');
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("audit log {}: {e}", dir.display()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("audit log {}: {e}", self.path.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| format!("audit log {}: {e}", self.path.display()))
    }
}
