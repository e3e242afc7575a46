//! The attribution cache, kept in the history store as `@attribution`.
//!
//! Why: LookupEvents is slow (2 calls per second) and a drift is usually
//! seen in many scans. The key is the drift's fingerprint (address, kind,
//! attribute paths and hashed live values): the same drift keeps its event;
//! a new change of the resource changes the live values, hence the key, and
//! is looked up again. Only found events are cached (not "nothing found":
//! CloudTrail may deliver the event minutes later), and only for drifts still
//! present, so the document stays as small as the drift list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ChangedBy;
use crate::history::HistoryStore;
use crate::report::Drift;

pub const DOC: &str = "@attribution";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cache {
    pub schema_version: u32,
    /// Drift key -> the event that explains it.
    pub entries: BTreeMap<String, ChangedBy>,
}

impl Cache {
    pub fn get(&self, key: &str) -> Option<&ChangedBy> {
        self.entries.get(key)
    }
    pub fn insert(&mut self, key: String, c: ChangedBy) {
        self.schema_version = 1;
        self.entries.insert(key, c);
    }
}

/// The cache key of a drift (its history fingerprint plus the resource id).
pub fn key(d: &Drift) -> String {
    format!("{}|{}", crate::history::fingerprint(d), d.id)
}

pub async fn load(store: &HistoryStore) -> Result<Cache, String> {
    store.load_doc(DOC).await
}

pub async fn save(store: &HistoryStore, c: &Cache) -> Result<(), String> {
    store.save_doc(DOC, c).await
}
