//! Scan history: when was each drift first seen, and for how many
//! consecutive scans?
//!
//! Why: `first_seen` makes drift age visible (reports, PRs, the oldest-drift
//! metric), and the persistence threshold ("act only on drift seen in N
//! consecutive scans") keeps driftd from fighting an in-flight deploy. The
//! store is a local directory (daemon with a volume) or an `s3://` prefix
//! (CronJobs have no disk that survives). Local writes go to a temporary file
//! that is then renamed, so a crash never leaves a half-written file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_sdk_s3::error::ProvideErrorMetadata;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{HistoryLocation, HistorySettings};
use crate::report::Drift;
use driftd_aws::errors::describe;

/// What the store remembers of one stack.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StackHistory {
    pub schema_version: u32,
    pub updated_at: String,
    /// Drift fingerprint -> sightings.
    pub drifts: BTreeMap<String, Seen>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Seen {
    pub first_seen: String,
    pub last_seen: String,
    /// Consecutive scans that saw it.
    pub count: u32,
}

/// The identity of a drift: same address, kind, attribute paths and live
/// values. Values are hashed: the history file never holds them.
pub fn fingerprint(d: &Drift) -> String {
    let mut h = Sha256::new();
    let mut attrs: Vec<(String, String)> = d
        .attributes
        .iter()
        .map(|a| (a.path.clone(), a.actual.to_string()))
        .collect();
    attrs.sort();
    for (p, v) in &attrs {
        h.update(p.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    let addr = d
        .address
        .clone()
        .unwrap_or_else(|| format!("{}.{}", d.rtype, d.id));
    format!(
        "{addr}|{}|{}",
        d.kind.as_str(),
        &hex::encode(h.finalize())[..16]
    )
}

/// Record this scan's drifts: set `first_seen` and `seen` on each, and return
/// the history to store (drifts no longer seen are forgotten).
pub fn observe(prev: &StackHistory, drifts: &mut [Drift], now: &str) -> StackHistory {
    let mut next = StackHistory {
        schema_version: 1,
        updated_at: now.to_string(),
        drifts: BTreeMap::new(),
    };
    for d in drifts.iter_mut() {
        let fp = fingerprint(d);
        let seen = match prev.drifts.get(&fp) {
            Some(s) => Seen {
                first_seen: s.first_seen.clone(),
                last_seen: now.into(),
                count: s.count.saturating_add(1),
            },
            None => Seen {
                first_seen: now.into(),
                last_seen: now.into(),
                count: 1,
            },
        };
        d.first_seen = Some(seen.first_seen.clone());
        d.seen = Some(seen.count);
        next.drifts.insert(fp, seen);
    }
    next
}

/// Where history is kept.
#[derive(Debug, Clone)]
pub struct HistoryStore {
    location: HistoryLocation,
    s3: Option<aws_sdk_s3::Client>,
}

impl HistoryStore {
    pub async fn open(
        settings: &HistorySettings,
        options: &driftd_aws::ClientOptions,
        calls: &driftd_aws::ApiCalls,
    ) -> Self {
        let s3 = match &settings.location {
            HistoryLocation::S3 { .. } => {
                let target = driftd_aws::Target {
                    region: settings.region.clone(),
                    endpoint_url: settings.endpoint_url.clone(),
                    assume_role_arn: None,
                };
                Some(driftd_aws::Clients::new(&target, options, calls).await.s3)
            }
            HistoryLocation::Local(_) => None,
        };
        Self {
            location: settings.location.clone(),
            s3,
        }
    }

    fn local_path(dir: &std::path::Path, stack: &str) -> PathBuf {
        dir.join(format!("{stack}.json"))
    }

    fn key(prefix: &str, stack: &str) -> String {
        if prefix.is_empty() {
            format!("{stack}.json")
        } else {
            format!("{prefix}/{stack}.json")
        }
    }

    /// Load a stack's history (empty when there is none yet).
    pub async fn load(&self, stack: &str) -> Result<StackHistory, String> {
        self.load_doc(stack)
            .await
            .map_err(|e| format!("{e}; delete it to start over"))
    }

    /// Save a stack's history (atomically for local files).
    pub async fn save(&self, stack: &str, h: &StackHistory) -> Result<(), String> {
        self.save_doc(stack, h).await
    }

    /// Load a JSON document of the store: a stack's history, or a named one
    /// kept beside them (names start with `@`, which stack names cannot).
    /// Absent means the default.
    pub async fn load_doc<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, String> {
        let (bytes, shown) = match (&self.location, &self.s3) {
            (HistoryLocation::Local(dir), _) => {
                let p = Self::local_path(dir, name);
                match tokio::fs::read(&p).await {
                    Ok(b) => (b, p.display().to_string()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
                    Err(e) => return Err(format!("history {}: {e}", p.display())),
                }
            }
            (HistoryLocation::S3 { bucket, prefix }, Some(s3)) => {
                let key = Self::key(prefix, name);
                let shown = format!("s3://{bucket}/{key}");
                match s3.get_object().bucket(bucket).key(&key).send().await {
                    Ok(o) => (
                        o.body
                            .collect()
                            .await
                            .map_err(|e| format!("history {shown}: {e}"))?
                            .into_bytes()
                            .to_vec(),
                        shown,
                    ),
                    Err(e) if e.code() == Some("NoSuchKey") => return Ok(T::default()),
                    Err(e) => return Err(format!("history {shown}: {}", describe(&e))),
                }
            }
            _ => return Err("history: no S3 client".into()),
        };
        serde_json::from_slice(&bytes).map_err(|e| format!("history {shown} is unreadable ({e})"))
    }

    /// Save a JSON document of the store (atomically for local files).
    pub async fn save_doc<T: serde::Serialize>(&self, name: &str, doc: &T) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(doc).map_err(|e| e.to_string())?;
        match (&self.location, &self.s3) {
            (HistoryLocation::Local(dir), _) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("history {}: {e}", dir.display()))?;
                write_atomic(&Self::local_path(dir, name), &bytes).await
            }
            (HistoryLocation::S3 { bucket, prefix }, Some(s3)) => {
                let key = Self::key(prefix, name);
                s3.put_object()
                    .bucket(bucket)
                    .key(&key)
                    .body(bytes.into())
                    .content_type("application/json")
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("history s3://{bucket}/{key}: {}", describe(&e)))
            }
            _ => Err("history: no S3 client".into()),
        }
    }
}

/// Write to `path.tmp`, flush to disk, then rename over `path`.
pub async fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let write = async {
        use tokio::io::AsyncWriteExt;
        let mut f = tokio::fs::File::create(&tmp).await?;
        f.write_all(bytes).await?;
        f.sync_all().await?;
        tokio::fs::rename(&tmp, path).await
    };
    write.await.map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{AttrChange, DriftKind};
    use serde_json::json;

    fn drift(actual: &str) -> Drift {
        Drift {
            address: Some("aws_instance.web".into()),
            rtype: "aws_instance".into(),
            id: "i-1".into(),
            kind: DriftKind::Changed,
            attributes: vec![AttrChange {
                path: "tags.Team".into(),
                expected: json!("web"),
                actual: json!(actual),
            }],
            first_seen: None,
            seen: None,
            decision: None,
            changed_by: None,
            unattributed: None,
        }
    }

    #[tokio::test]
    async fn locks_are_exclusive_and_a_half_written_one_counts_as_held() {
        let dir = std::env::temp_dir().join(format!("driftd-lock-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = HistoryStore::local(&dir);
        let LockResult::Acquired(lock) = store.try_lock("app").await.unwrap() else {
            panic!("first lock")
        };
        assert!(matches!(
            store.try_lock("app").await.unwrap(),
            LockResult::HeldBy { .. }
        ));
        store.unlock(&lock).await;
        // A fresh, unparsable lock file (a writer mid-way) is held, not stale.
        std::fs::write(dir.join("app.lock"), b"").unwrap();
        assert!(matches!(
            store.try_lock("app").await.unwrap(),
            LockResult::HeldBy { .. }
        ));
        // Unlocking someone else's lock leaves it in place.
        store
            .unlock(&StackLock {
                stack: "app".into(),
                token: "not-ours".into(),
            })
            .await;
        assert!(dir.join("app.lock").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn consecutive_sightings_count_and_new_values_restart() {
        let mut d = [drift("ops")];
        let h1 = observe(&StackHistory::default(), &mut d, "t1");
        assert_eq!(d[0].seen, Some(1));
        let h2 = observe(&h1, &mut d, "t2");
        assert_eq!(
            (d[0].seen, d[0].first_seen.as_deref()),
            (Some(2), Some("t1"))
        );
        let mut changed = [drift("sre")];
        observe(&h2, &mut changed, "t3");
        assert_eq!(
            (changed[0].seen, changed[0].first_seen.as_deref()),
            (Some(1), Some("t3"))
        );
        // The history never holds the live value itself.
        assert!(!serde_json::to_string(&h2).unwrap().contains("ops"));
    }
}

/// A run's hold on one stack: while it is held, no other driftd run acts on
/// that stack (reconcile, pull requests, history). Two runs of one stack can
/// happen when a CronJob overlaps a manual run, or two daemons run by mistake.
///
/// Local stores use a lock file created with `O_EXCL`; S3 stores an object
/// written with `If-None-Match: *` (a conditional put: exactly one writer
/// wins). A lock older than [`LOCK_TTL`] belongs to a run that died: it is
/// taken over.
#[derive(Debug, Clone, PartialEq)]
pub struct StackLock {
    pub stack: String,
    token: String,
}

/// After this long a lock is considered abandoned (its run died).
pub const LOCK_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Serialize, Deserialize)]
struct LockBody {
    token: String,
    pid: u32,
    acquired_at: String,
}

/// Who holds a lock, for the report.
#[derive(Debug, Clone, PartialEq)]
pub enum LockResult {
    Acquired(StackLock),
    HeldBy { acquired_at: String },
}

fn lock_token() -> String {
    format!("{}-{}", std::process::id(), rand::random::<u64>())
}

fn stale(acquired_at: &str) -> bool {
    humantime::parse_rfc3339(acquired_at)
        .ok()
        .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > LOCK_TTL)
}

impl HistoryStore {
    /// A store in a local directory (used for locks when no history is configured).
    pub fn local(dir: &std::path::Path) -> Self {
        Self {
            location: HistoryLocation::Local(dir.to_path_buf()),
            s3: None,
        }
    }

    fn lock_key(prefix: &str, stack: &str) -> String {
        if prefix.is_empty() {
            format!("{stack}.lock")
        } else {
            format!("{prefix}/{stack}.lock")
        }
    }

    /// Try to take the lock of a stack (one takeover attempt if stale).
    pub async fn try_lock(&self, stack: &str) -> Result<LockResult, String> {
        for _ in 0..2 {
            let body = LockBody {
                token: lock_token(),
                pid: std::process::id(),
                acquired_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
            };
            let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
            match (&self.location, &self.s3) {
                (HistoryLocation::Local(dir), _) => {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("lock {}: {e}", dir.display()))?;
                    let path = dir.join(format!("{stack}.lock"));
                    // Written whole to a private file, then linked into place:
                    // the lock never exists half-written, and only one link wins.
                    let tmp = dir.join(format!("{stack}.lock.{}.tmp", body.token));
                    std::fs::write(&tmp, &bytes)
                        .map_err(|e| format!("lock {}: {e}", tmp.display()))?;
                    let linked = std::fs::hard_link(&tmp, &path);
                    let _ = std::fs::remove_file(&tmp);
                    match linked {
                        Ok(()) => {
                            return Ok(LockResult::Acquired(StackLock {
                                stack: stack.into(),
                                token: body.token,
                            }))
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(format!("lock {}: {e}", path.display())),
                    }
                    let held = read_lock_file(&path);
                    if !held.as_ref().is_none_or(|h| h.stale) {
                        return Ok(LockResult::HeldBy {
                            acquired_at: held.map(|h| h.acquired_at).unwrap_or_default(),
                        });
                    }
                    // Abandoned: move it aside (one mover wins), check that what
                    // was moved is the abandoned lock, then try again.
                    let aside = dir.join(format!("{stack}.lock.{}.stale", body.token));
                    if std::fs::rename(&path, &aside).is_ok() {
                        let moved = read_lock_file(&aside);
                        if moved.as_ref().is_some_and(|m| !m.stale) {
                            // A fresh lock was taken meanwhile: put it back.
                            let _ = std::fs::hard_link(&aside, &path);
                            let _ = std::fs::remove_file(&aside);
                            return Ok(LockResult::HeldBy {
                                acquired_at: moved.map(|m| m.acquired_at).unwrap_or_default(),
                            });
                        }
                        tracing::warn!(stack, "took over an abandoned lock");
                        let _ = std::fs::remove_file(&aside);
                    }
                }
                (HistoryLocation::S3 { bucket, prefix }, Some(s3)) => {
                    let key = Self::lock_key(prefix, stack);
                    match s3
                        .put_object()
                        .bucket(bucket)
                        .key(&key)
                        .if_none_match("*")
                        .body(bytes.into())
                        .send()
                        .await
                    {
                        Ok(_) => {
                            return Ok(LockResult::Acquired(StackLock {
                                stack: stack.into(),
                                token: body.token,
                            }))
                        }
                        Err(e)
                            if matches!(
                                e.code(),
                                Some("PreconditionFailed") | Some("ConditionalRequestConflict")
                            ) => {}
                        Err(e) => {
                            return Err(format!("lock s3://{bucket}/{key}: {}", describe(&e)))
                        }
                    }
                    let o = match s3.get_object().bucket(bucket).key(&key).send().await {
                        Ok(o) => o,
                        Err(e) if e.code() == Some("NoSuchKey") => continue, // released meanwhile
                        Err(e) => {
                            return Err(format!("lock s3://{bucket}/{key}: {}", describe(&e)))
                        }
                    };
                    let etag = o.e_tag().map(str::to_string);
                    let b = o
                        .body
                        .collect()
                        .await
                        .map_err(|e| e.to_string())?
                        .into_bytes();
                    let held: Option<LockBody> = serde_json::from_slice(&b).ok();
                    let acquired_at = held
                        .as_ref()
                        .map(|h| h.acquired_at.clone())
                        .unwrap_or_default();
                    if !stale(&acquired_at) {
                        return Ok(LockResult::HeldBy { acquired_at });
                    }
                    // Delete exactly the abandoned object (If-Match on its ETag).
                    let mut del = s3.delete_object().bucket(bucket).key(&key);
                    if let Some(etag) = etag {
                        del = del.if_match(etag);
                    }
                    tracing::warn!(stack, since = %acquired_at, "taking over an abandoned lock");
                    del.send()
                        .await
                        .map_err(|e| format!("lock s3://{bucket}/{key}: {}", describe(&e)))?;
                }
                _ => return Err("lock: no S3 client".into()),
            }
        }
        Err(format!(
            "lock of {stack}: could not take over an abandoned lock"
        ))
    }

    /// Release a lock taken by this run (only if it is still ours).
    pub async fn unlock(&self, lock: &StackLock) {
        let result = match (&self.location, &self.s3) {
            (HistoryLocation::Local(dir), _) => {
                let path = dir.join(format!("{}.lock", lock.stack));
                match std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<LockBody>(&b).ok())
                {
                    Some(b) if b.token == lock.token => {
                        std::fs::remove_file(&path).map_err(|e| e.to_string())
                    }
                    _ => Err("the lock is no longer ours (taken over after an hour?)".into()),
                }
            }
            (HistoryLocation::S3 { bucket, prefix }, Some(s3)) => {
                let key = Self::lock_key(prefix, &lock.stack);
                match s3.get_object().bucket(bucket).key(&key).send().await {
                    Ok(o) => {
                        let etag = o.e_tag().map(str::to_string);
                        let b = o
                            .body
                            .collect()
                            .await
                            .map(|b| b.into_bytes())
                            .unwrap_or_default();
                        match serde_json::from_slice::<LockBody>(&b) {
                            Ok(body) if body.token == lock.token => {
                                let mut del = s3.delete_object().bucket(bucket).key(&key);
                                if let Some(etag) = etag {
                                    del = del.if_match(etag);
                                }
                                del.send().await.map(|_| ()).map_err(|e| describe(&e))
                            }
                            _ => {
                                Err("the lock is no longer ours (taken over after an hour?)".into())
                            }
                        }
                    }
                    Err(e) => Err(describe(&e)),
                }
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(stack = %lock.stack, error = %e, "could not release the lock; it expires after an hour");
        }
    }
}

/// A lock file as read by a run that wants it.
struct HeldLock {
    acquired_at: String,
    stale: bool,
}

/// Read a lock file; one that cannot be parsed is judged by its age on disk.
fn read_lock_file(path: &std::path::Path) -> Option<HeldLock> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice::<LockBody>(&bytes) {
        Ok(b) => Some(HeldLock {
            stale: stale(&b.acquired_at),
            acquired_at: b.acquired_at,
        }),
        Err(_) => {
            let age = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            Some(HeldLock {
                acquired_at: "(unreadable lock file)".into(),
                stale: age > LOCK_TTL,
            })
        }
    }
}
