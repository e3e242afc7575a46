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

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{HistoryLocation, HistorySettings};
use crate::report::Drift;

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
        let bytes = match (&self.location, &self.s3) {
            (HistoryLocation::Local(dir), _) => {
                let p = Self::local_path(dir, stack);
                match tokio::fs::read(&p).await {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Ok(StackHistory::default())
                    }
                    Err(e) => return Err(format!("history {}: {e}", p.display())),
                }
            }
            (HistoryLocation::S3 { bucket, prefix }, Some(s3)) => {
                let key = Self::key(prefix, stack);
                match s3.get_object().bucket(bucket).key(&key).send().await {
                    Ok(o) => o
                        .body
                        .collect()
                        .await
                        .map_err(|e| format!("history s3://{bucket}/{key}: {e}"))?
                        .into_bytes()
                        .to_vec(),
                    Err(e) if e.code() == Some("NoSuchKey") => return Ok(StackHistory::default()),
                    Err(e) => {
                        return Err(format!(
                            "history s3://{bucket}/{key}: {}",
                            DisplayErrorContext(e)
                        ))
                    }
                }
            }
            _ => return Err("history: no S3 client".into()),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("history of {stack} is unreadable ({e}); delete it to start over"))
    }

    /// Save a stack's history (atomically for local files).
    pub async fn save(&self, stack: &str, h: &StackHistory) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(h).map_err(|e| e.to_string())?;
        match (&self.location, &self.s3) {
            (HistoryLocation::Local(dir), _) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("history {}: {e}", dir.display()))?;
                write_atomic(&Self::local_path(dir, stack), &bytes).await
            }
            (HistoryLocation::S3 { bucket, prefix }, Some(s3)) => {
                let key = Self::key(prefix, stack);
                s3.put_object()
                    .bucket(bucket)
                    .key(&key)
                    .body(bytes.into())
                    .content_type("application/json")
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("history s3://{bucket}/{key}: {}", DisplayErrorContext(e)))
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
        }
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
