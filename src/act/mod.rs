//! Act: everything that changes the world, behind the brakes. Locks (held
//! by a drop guard), reconcile (planned, executed, verified), pull requests,
//! history. Nothing is done for a stack whose scan was incomplete, nor for
//! one another run holds.

pub mod reconcile;
pub mod verify;

use std::collections::BTreeMap;

use tracing::{info, warn};

use crate::config::{Config, ReconcileMode};
use crate::history::{self, HistoryStore, StackHistory, StackLock};
use crate::pr::{self, ProposedDrift};
use crate::report::{DecisionAction, PullRequests, Report, StackStatus};
use crate::scan::ScanOptions;

/// The store that holds a run's locks: the history store, else a local
/// directory next to the audit log, else next to the config file.
pub fn lock_store(config: &Config, history: Option<&HistoryStore>) -> HistoryStore {
    match (history, &config.reconcile.audit_log) {
        (Some(s), _) => s.clone(),
        (None, Some(audit)) => HistoryStore::local(
            &audit
                .parent()
                .map(|p| p.join(".driftd-locks"))
                .unwrap_or_default(),
        ),
        (None, None) => HistoryStore::local(
            &config
                .path
                .parent()
                .map(|p| p.join(".driftd-locks"))
                .unwrap_or_default(),
        ),
    }
}

/// The locks of one run. Released by [`Locks::release`]; if the run is
/// dropped before (a panic, a cancelled future), the drop guard releases
/// them on the runtime in the background.
pub struct Locks {
    store: HistoryStore,
    held: Vec<StackLock>,
    /// Stacks this run may not act on, and why (another run holds them, or
    /// the lock could not be taken).
    pub refused: BTreeMap<String, String>,
}

impl Locks {
    /// Lock, before scanning, every stack this run may act on (reconcile,
    /// pull requests, history): a concurrent run of the same stack must not
    /// act twice, nor act on a scan taken before the other run's changes.
    /// A dry run acts on nothing and takes no lock.
    pub async fn take(
        config: &Config,
        options: &ScanOptions,
        dry_run: bool,
        store: HistoryStore,
    ) -> Self {
        let mut locks = Locks {
            store,
            held: Vec::new(),
            refused: BTreeMap::new(),
        };
        if dry_run {
            return locks;
        }
        for sc in crate::scan::select_stacks(config, options) {
            let acts =
                sc.reconcile != ReconcileMode::Off || sc.code.is_some() || config.history.is_some();
            if !acts {
                continue;
            }
            match locks.store.try_lock(&sc.name).await {
                Ok(history::LockResult::Acquired(l)) => locks.held.push(l),
                Ok(history::LockResult::HeldBy { acquired_at }) => {
                    locks.refused.insert(
                        sc.name.clone(),
                        format!(
                            "another driftd run holds the lock on this stack (since {acquired_at})"
                        ),
                    );
                }
                Err(e) => {
                    locks.refused.insert(
                        sc.name.clone(),
                        format!("cannot take the lock on this stack: {e}"),
                    );
                }
            }
        }
        locks
    }

    /// Release every lock this run took.
    pub async fn release(mut self) {
        for l in std::mem::take(&mut self.held) {
            self.store.unlock(&l).await;
        }
    }
}

impl Drop for Locks {
    fn drop(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        let store = self.store.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    for l in &held {
                        store.unlock(l).await;
                    }
                });
            }
            Err(_) => warn!(
                locks = held.len(),
                "run ended outside a runtime: its locks expire after an hour"
            ),
        }
    }
}

/// History: first_seen and consecutive sightings of each drift. Returns the
/// next history of each complete stack (saved at the end of the run).
pub async fn observe_history(
    store: Option<&HistoryStore>,
    report: &mut Report,
) -> BTreeMap<String, StackHistory> {
    let now = report.generated_at.clone();
    let mut histories = BTreeMap::new();
    for st in report.stacks.iter_mut() {
        let prev = match store {
            Some(s) if st.status != StackStatus::Failed => match s.load(&st.name).await {
                Ok(h) => h,
                Err(e) => {
                    // Without history, persistence cannot be judged: act on nothing.
                    st.errors.push(e);
                    st.status = st.status.max(StackStatus::Incomplete);
                    Default::default()
                }
            },
            _ => Default::default(),
        };
        let next = history::observe(&prev, &mut st.drifts, &now);
        if st.status == StackStatus::Ok {
            histories.insert(st.name.clone(), next);
        }
    }
    histories
}

/// Stacks another run holds: reported, never acted on (no reconcile, no
/// pull request sync, no history).
pub fn hold_back(
    refused: &BTreeMap<String, String>,
    report: &mut Report,
    planned: &mut Vec<reconcile::Planned>,
    histories: &mut BTreeMap<String, StackHistory>,
) {
    for (si, st) in report.stacks.iter_mut().enumerate() {
        let Some(reason) = refused.get(&st.name) else {
            continue;
        };
        warn!(stack = %st.name, %reason, "not acting");
        st.errors.push(reason.clone());
        histories.remove(&st.name);
        for d in st.drifts.iter_mut() {
            if let Some(dec) = d.decision.as_mut().filter(|x| {
                matches!(
                    x.action,
                    DecisionAction::Reconcile | DecisionAction::PullRequest
                )
            }) {
                dec.action = DecisionAction::ReportOnly;
                dec.reason = reason.clone();
            }
        }
        planned.retain(|p| p.stack != si);
        // No pull request sync either (it could close PRs the other run keeps).
        st.status = st.status.max(StackStatus::Incomplete);
    }
}

/// Pull requests: only for complete stacks (an empty proposal closes PRs,
/// which must never happen because a read failed).
pub async fn pull_requests(
    config: &Config,
    dry_run: bool,
    report: &mut Report,
    managed_ids: &crate::detect::ManagedIds,
    unmanaged_live: &BTreeMap<(String, String, String), driftd_core::Live>,
) {
    let (Some(settings), false) = (&config.github, dry_run) else {
        return;
    };
    // Unmanaged resources a stack's import rule maps to it (issue 12).
    let imports = pr::generate::stack_imports(config, report, unmanaged_live);
    for st in report
        .stacks
        .iter_mut()
        .filter(|s| s.status == StackStatus::Ok)
    {
        let Some(stack_cfg) = config.stacks.iter().find(|s| s.name == st.name) else {
            continue;
        };
        let Some(code) = stack_cfg.code.as_ref() else {
            continue;
        };
        let mut code_options = stack_cfg.code_options.clone();
        code_options.managed_ids = managed_ids.stack(&st.name);
        let imported = match imports.get(&st.name) {
            Some(Err(e)) => {
                // Never sync on a partial list: it would close import PRs.
                st.errors.push(format!("pull requests: not synced: {e}"));
                continue;
            }
            Some(Ok(v)) => v.clone(),
            None => vec![],
        };
        let proposals: Vec<ProposedDrift> = st
            .drifts
            .iter()
            .filter(|d| {
                d.decision
                    .as_ref()
                    .is_some_and(|x| x.action == DecisionAction::PullRequest)
            })
            .map(|d| {
                let dec = d.decision.as_ref().expect("filtered");
                ProposedDrift {
                    address: d.address.clone(),
                    rtype: d.rtype.clone(),
                    id: d.id.clone(),
                    kind: d.kind,
                    attributes: d.attributes.clone(),
                    first_seen: d.first_seen.clone(),
                    critical: dec.critical,
                    reason: format!("{} ({})", dec.reason, dec.rule),
                    live: None,
                    changed_by: d.changed_by.clone(),
                }
            })
            .chain(imported)
            .collect();
        match pr::sync_stack_with(settings, &st.name, code, &code_options, &proposals).await {
            Ok(o) => {
                info!(stack = %st.name, opened = o.opened.len(), updated = o.updated.len(), closed = o.closed.len(), "pull requests");
                st.pull_requests = Some(PullRequests {
                    opened: o.opened,
                    updated: o.updated,
                    closed: o.closed,
                    unchanged: o.unchanged,
                    held_back: o.held_back,
                    needs_human: o
                        .needs_human
                        .iter()
                        .map(|n| match &n.attribute {
                            Some(a) => format!("{} {a}: {}", n.resource, n.reason),
                            None => format!("{}: {}", n.resource, n.reason),
                        })
                        .collect(),
                    respected_human_close: o.respected_human_close,
                });
            }
            Err(e) => st.errors.push(format!("pull requests: {e}")),
        }
    }
}

/// History is saved last: only for complete stacks.
pub async fn save_history(
    store: Option<&HistoryStore>,
    dry_run: bool,
    histories: &BTreeMap<String, StackHistory>,
    report: &mut Report,
) {
    let (Some(store), false) = (store, dry_run) else {
        return;
    };
    for (stack, h) in histories {
        if let Err(e) = store.save(stack, h).await {
            if let Some(st) = report.stacks.iter_mut().find(|s| &s.name == stack) {
                st.errors.push(e);
                st.status = st.status.max(StackStatus::Incomplete);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("driftd-act-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    async fn lock(store: &HistoryStore, stack: &str) -> Option<StackLock> {
        match store.try_lock(stack).await.unwrap() {
            history::LockResult::Acquired(l) => Some(l),
            history::LockResult::HeldBy { .. } => None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn locks_are_released_on_release_and_by_the_drop_guard() {
        let store = HistoryStore::local(&dir("locks"));
        // Released explicitly.
        let l = lock(&store, "a").await.unwrap();
        Locks {
            store: store.clone(),
            held: vec![l],
            refused: Default::default(),
        }
        .release()
        .await;
        // Dropped without release (a panic, a cancelled run): the guard unlocks.
        let l = lock(&store, "a").await.expect("released");
        assert!(lock(&store, "a").await.is_none(), "held while locked");
        drop(Locks {
            store: store.clone(),
            held: vec![l],
            refused: Default::default(),
        });
        let mut again = None;
        for _ in 0..100 {
            again = lock(&store, "a").await;
            if again.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(again.is_some(), "the drop guard released the lock");
    }
}
