//! Verify: re-read a reconciled resource; what was changed must no longer differ.

use driftd_aws::{AwsReader, AwsSchema, Clients};
use driftd_core::{Desired, ReadRequest, Reader, Schema};

use crate::diff::diff;
use crate::scan::Detail;

/// Does a remaining difference belong to what this action changed? An action
/// on a whole resource (`public_access_block`) owns every remaining path.
pub fn still_drifted(paths: &[String], attribute: &str, desired: &Desired) -> bool {
    let whole = !desired
        .attrs
        .contains_key(attribute.split('.').next().unwrap_or(""));
    paths.iter().any(|p| {
        whole
            || p == attribute
            || p.starts_with(&format!("{attribute}."))
            || attribute.starts_with(&format!("{p}."))
    })
}

/// Re-read one resource; the paths (dot-joined) that still differ.
pub async fn verify(
    schema: &AwsSchema,
    detail: &Detail,
    clients: &Clients,
    concurrency: usize,
) -> Result<Vec<String>, String> {
    // The reconciler's clients: same target, no second credential resolution.
    let reader = AwsReader {
        clients: clients.clone(),
        region: detail.target.region.clone(),
        concurrency,
        split: Default::default(),
        early: Default::default(),
        early_vpcs: Default::default(),
    };
    let desired = [detail.desired.clone()];
    let inv = reader
        .read(ReadRequest {
            desired: &desired,
            discover_unmanaged: false,
        })
        .await;
    // `lookup` sees per-resource read failures (one unreadable bucket) as
    // failures, never as "gone".
    match inv.lookup(&detail.desired.rtype, &detail.desired.id) {
        Ok(Some(live)) => Ok(diff(&detail.desired.attrs, &live.attrs, |a| {
            schema.shape(&detail.desired.rtype, a)
        })
        .iter()
        .map(|d| d.path.join("."))
        .collect()),
        Ok(None) => Err("the resource is gone".into()),
        Err(e) => Err(e),
    }
}
