//! S3 live reads: buckets and their configuration.
//!
//! Why it looks like this: S3 has no batched read of bucket configuration, so
//! the floor is one `ListBuckets` plus, per managed bucket, one call per
//! configuration the state actually declares (tags, versioning, encryption,
//! policy, public access block, and the provider-v3 inline blocks, each read
//! by its split type's call), run with bounded concurrency. Unmanaged
//! candidates cost one `GetBucketLocation` each, and only when `ListBuckets`
//! does not already say the region. S3 answers "not configured" with an error
//! code; those codes mean *absent*, never *unknown*.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::Client;
use driftd_core::{Desired, Live};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use crate::normalize::tags_from_pairs;
use crate::policy::canonical_policy;
use crate::registry::{self, Source};
use crate::resources::s3::bucket::{Inline, INLINE};
use crate::schema::{
    versioning_status, AWS_S3_BUCKET, AWS_S3_BUCKET_PAB, AWS_S3_BUCKET_POLICY, AWS_S3_BUCKET_SSE,
    AWS_S3_BUCKET_VERSIONING, PAB_FIELDS,
};

/// Error codes S3 uses to say "this bucket has no such configuration".
pub const ABSENT_CODES: &[&str] = &[
    "NoSuchTagSet",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchBucketPolicy",
];

/// What one bucket needs read.
#[derive(Debug, Default, Clone, Copy)]
struct Needs {
    tags: bool,
    versioning: bool,
    sse: bool,
    policy: bool,
    pab: bool,
}

/// What was read of one bucket. `None` in an inner option means "not configured".
#[derive(Debug, Default)]
struct Facts {
    tags: Option<Value>,
    versioning: Option<(Option<String>, Option<String>)>,
    sse: Option<Option<Value>>,
    policy: Option<Option<Value>>,
    pab: Option<Option<Map<String, Value>>>,
    /// Type-declared documents: type -> document (`None`: absent).
    docs: Vec<(&'static str, Option<Map<String, Value>>)>,
    /// Type-declared configuration lists: type -> config id -> document.
    configs: Vec<(&'static str, Configs)>,
}

/// One bucket document's answer.
pub enum Fetch<T> {
    /// The document, as read.
    Present(T),
    /// The bucket has none (an [`ABSENT_CODES`] answer, or the type's own).
    Absent,
    /// The bucket itself is gone (`NoSuchBucket`).
    Gone,
}

/// One bucket's document read: canonical attributes, absent, or the bucket gone.
pub type DocResult = Result<Fetch<Map<String, Value>>, String>;

/// The read function of a [`BucketDoc`].
pub type DocRead = for<'a> fn(&'a Client, &'a str) -> BoxFuture<'a, DocResult>;

/// A per-bucket document a resource type reads with its own call, declared in
/// the type's file (`Source::BucketDoc`). The service calls it once per managed
/// bucket whose state has a resource of that type, with the other reads of
/// that bucket.
#[derive(Debug)]
pub struct BucketDoc {
    /// The API operation (for error messages).
    pub operation: &'static str,
    /// Read one bucket's document, in canonical form.
    pub read: DocRead,
}

/// A bucket's configurations of one type: config id -> canonical document.
pub type Configs = BTreeMap<String, Map<String, Value>>;

/// Several configurations of one type per bucket, keyed by configuration id
/// (inventory, analytics, metrics, intelligent tiering: resource ids
/// `bucket:config-id`), declared in the type's file (`Source::BucketConfigs`).
/// The service makes the type's one paginated `List*Configurations` read per
/// managed bucket whose state has a resource of that type, and it serves every
/// configuration of that bucket; a bucket with none answers an empty map.
#[derive(Debug)]
pub struct BucketConfigs {
    /// The API operation (for error messages).
    pub operation: &'static str,
    /// Read every configuration of one bucket: config id -> canonical document.
    #[allow(clippy::type_complexity)]
    pub read: for<'a> fn(&'a Client, &'a str) -> BoxFuture<'a, Result<Fetch<Configs>, String>>,
}

/// Every page of one bucket's paginated `List*Configurations` call, as
/// [`Configs`]: `call` makes one call from a continuation token, `page` adds
/// a page's configurations and answers (`IsTruncated`,
/// `NextContinuationToken`). The S3 "absent" codes and the call's own
/// `absent` codes mean no configuration (an empty map), `NoSuchBucket` the
/// bucket gone.
pub async fn list_configs<O, E, Fut>(
    operation: &str,
    absent: &[&str],
    mut call: impl FnMut(Option<String>) -> Fut,
    page: impl Fn(&O, &mut Configs) -> (Option<bool>, Option<String>),
) -> Result<Fetch<Configs>, String>
where
    Fut: std::future::Future<
        Output = Result<
            O,
            aws_sdk_s3::error::SdkError<
                E,
                aws_smithy_runtime_api::client::orchestrator::HttpResponse,
            >,
        >,
    >,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut out = Configs::new();
    let mut token: Option<String> = None;
    loop {
        let p = match classify(operation, absent, call(token.take()).await)? {
            Fetch::Present(p) => p,
            Fetch::Absent => return Ok(Fetch::Present(out)),
            Fetch::Gone => return Ok(Fetch::Gone),
        };
        let (truncated, next) = page(&p, &mut out);
        token = next;
        if truncated != Some(true) || token.is_none() {
            return Ok(Fetch::Present(out));
        }
    }
}

/// The bucket of a per-configuration resource id `bucket:config-id` (a bucket
/// name never contains `:`).
pub fn config_bucket(id: &str) -> &str {
    id.split_once(':').map_or(id, |(b, _)| b)
}

/// The bucket a desired resource is read with: its id, or for a
/// [`BucketConfigs`] type the bucket part of its id.
fn bucket_of(d: &Desired) -> &str {
    match registry::get(&d.rtype).map(|t| t.source) {
        Some(Source::BucketConfigs { .. }) => config_bucket(&d.id),
        _ => &d.id,
    }
}

/// The answer to one S3 call as [`Fetch`], or the readable failure.
pub fn classify<T, E>(
    op: &str,
    extra_absent: &[&str],
    r: Result<
        T,
        aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    >,
) -> Result<Fetch<T>, String>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match r {
        Ok(v) => Ok(Fetch::Present(v)),
        Err(e) => match e.code() {
            Some(code) if ABSENT_CODES.contains(&code) || extra_absent.contains(&code) => {
                Ok(Fetch::Absent)
            }
            Some("NoSuchBucket") => Ok(Fetch::Gone),
            _ => Err(format!("{op}: {}", crate::errors::describe(&e))),
        },
    }
}

macro_rules! fetch {
    ($op:literal, $call:expr) => {
        match classify($op, &[], $call.await)? {
            Fetch::Present(v) => Some(v),
            Fetch::Absent => None,
            Fetch::Gone => return Ok(None),
        }
    };
}

/// Read one bucket; `Ok(None)` when it no longer exists.
async fn read_bucket(
    client: &Client,
    bucket: &str,
    needs: Needs,
    docs: &[String],
) -> Result<Option<Facts>, String> {
    let mut f = Facts::default();
    if needs.tags {
        let out = fetch!(
            "GetBucketTagging",
            client.get_bucket_tagging().bucket(bucket).send()
        );
        f.tags = Some(match out {
            Some(o) => tags_from_pairs(o.tag_set().iter().map(|t| (t.key(), t.value()))),
            None => json!({}),
        });
    }
    if needs.versioning {
        let out = fetch!(
            "GetBucketVersioning",
            client.get_bucket_versioning().bucket(bucket).send()
        );
        f.versioning = Some(match out {
            Some(o) => (
                o.status().map(|s| s.as_str().to_string()),
                o.mfa_delete().map(|s| s.as_str().to_string()),
            ),
            None => (None, None),
        });
    }
    if needs.sse {
        let out = fetch!(
            "GetBucketEncryption",
            client.get_bucket_encryption().bucket(bucket).send()
        );
        f.sse = Some(out.and_then(|o| {
            let rule = o
                .server_side_encryption_configuration()?
                .rules()
                .first()?
                .clone();
            let d = rule.apply_server_side_encryption_by_default();
            Some(json!({
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": d.map(|d| d.sse_algorithm().as_str()).unwrap_or_default(),
                    "kms_master_key_id": d.and_then(|d| d.kms_master_key_id()).unwrap_or_default(),
                },
                "bucket_key_enabled": rule.bucket_key_enabled().unwrap_or(false),
            }))
        }));
    }
    if needs.policy {
        let out = fetch!(
            "GetBucketPolicy",
            client.get_bucket_policy().bucket(bucket).send()
        );
        f.policy = Some(out.and_then(|o| o.policy().map(canonical_policy)));
    }
    if needs.pab {
        let out = fetch!(
            "GetPublicAccessBlock",
            client.get_public_access_block().bucket(bucket).send()
        );
        f.pab = Some(out.and_then(|o| {
            let c = o.public_access_block_configuration()?;
            let vals = [
                c.block_public_acls(),
                c.block_public_policy(),
                c.ignore_public_acls(),
                c.restrict_public_buckets(),
            ];
            Some(
                PAB_FIELDS
                    .iter()
                    .zip(vals)
                    .map(|(k, v)| (k.to_string(), json!(v.unwrap_or(false))))
                    .collect(),
            )
        }));
    }
    for t in docs.iter().filter_map(|t| registry::get(t)) {
        let Source::BucketDoc { doc, .. } = t.source else {
            continue;
        };
        match (doc.read)(client, bucket).await? {
            Fetch::Present(v) => f.docs.push((t.info.name, Some(v))),
            Fetch::Absent => f.docs.push((t.info.name, None)),
            Fetch::Gone => return Ok(None),
        }
    }
    for t in docs.iter().filter_map(|t| registry::get(t)) {
        let Source::BucketConfigs { list } = t.source else {
            continue;
        };
        match (list.read)(client, bucket).await? {
            Fetch::Present(v) => f.configs.push((t.info.name, v)),
            Fetch::Absent => f.configs.push((t.info.name, BTreeMap::new())),
            Fetch::Gone => return Ok(None),
        }
    }
    Ok(Some(f))
}

/// Every bucket `ListBuckets` returns, with its region when S3 says it.
async fn list_buckets(client: &Client) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = client
            .list_buckets()
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| format!("ListBuckets: {}", crate::errors::describe(&e)))?;
        for b in resp.buckets() {
            if let Some(name) = b.name() {
                out.push((name.to_string(), b.bucket_region().map(str::to_string)));
            }
        }
        token = resp.continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// `GetBucketLocation`'s answer as a region name (empty means us-east-1, `EU`
/// eu-west-1); `None` when the bucket no longer exists.
async fn bucket_region(client: &Client, bucket: &str) -> Result<Option<String>, String> {
    let out = match client.get_bucket_location().bucket(bucket).send().await {
        Ok(o) => o,
        Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
        Err(e) => {
            return Err(format!(
                "bucket {bucket}: GetBucketLocation: {}",
                crate::errors::describe(&e)
            ))
        }
    };
    Ok(Some(match out.location_constraint().map(|c| c.as_str()) {
        None | Some("") => "us-east-1".into(),
        Some("EU") => "eu-west-1".into(),
        Some(r) => r.to_string(),
    }))
}

/// What one scope's S3 read produced.
#[derive(Debug, Default)]
pub struct S3Read {
    /// Per type, the live resources that were read.
    pub live: BTreeMap<&'static str, BTreeMap<String, Live>>,
    /// Managed buckets whose own reads failed: bucket -> reason. Every S3
    /// resource of such a bucket is unknown; the other buckets are compared.
    pub failed: BTreeMap<String, String>,
    /// Unmanaged candidates that could not be placed in a region (their
    /// `GetBucketLocation` failed): bucket -> reason. Unmanaged detection is
    /// incomplete for those buckets only.
    pub gaps: BTreeMap<String, String>,
}

/// Read all S3 types of one scope. `Err` only when `ListBuckets` fails (every
/// S3 read of the scope depends on it); a failure of one bucket's reads makes
/// only that bucket unknown (see [`S3Read`]).
pub async fn read_s3(
    client: &Client,
    region: &str,
    desired: &[&Desired],
    discover: bool,
    concurrency: usize,
) -> Result<S3Read, String> {
    let mut needs: BTreeMap<String, Needs> = BTreeMap::new();
    let mut docs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Inline blocks of `aws_s3_bucket` read by a split type's call: bucket ->
    // attributes. The call joins the bucket's docs (made once, shared with a
    // split resource of the same bucket).
    let mut inline: BTreeMap<String, Vec<&'static Inline>> = BTreeMap::new();
    for d in desired {
        let n = needs.entry(bucket_of(d).to_string()).or_default();
        if let Some(t) = registry::get(&d.rtype) {
            if matches!(
                t.source,
                Source::BucketDoc { .. } | Source::BucketConfigs { .. }
            ) {
                let v = docs.entry(bucket_of(d).to_string()).or_default();
                if !v.iter().any(|x| x == t.info.name) {
                    v.push(t.info.name.to_string());
                }
            }
        }
        match d.rtype.as_str() {
            AWS_S3_BUCKET => {
                n.tags |= d.attrs.has("tags");
                n.versioning |= d.attrs.has("versioning");
                n.sse |= d.attrs.has("server_side_encryption_configuration");
                n.policy |= d.attrs.has("policy");
                for i in INLINE.iter().filter(|i| d.attrs.has(i.attr)) {
                    let v = docs.entry(d.id.clone()).or_default();
                    if !v.iter().any(|x| x == i.split) {
                        v.push(i.split.to_string());
                    }
                    inline.entry(d.id.clone()).or_default().push(i);
                }
            }
            AWS_S3_BUCKET_VERSIONING => n.versioning = true,
            AWS_S3_BUCKET_SSE => n.sse = true,
            AWS_S3_BUCKET_POLICY => n.policy = true,
            AWS_S3_BUCKET_PAB => n.pab = true,
            _ => {}
        }
    }
    let mut read = S3Read::default();
    for t in registry::names_by(Source::per_bucket) {
        read.live.insert(t, BTreeMap::new());
    }
    if needs.is_empty() && !discover {
        return Ok(read);
    }

    let listed = list_buckets(client).await?;
    let existing: BTreeSet<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();

    // Managed buckets: read what their state declares, bounded concurrency.
    let todo: Vec<(String, Needs, Vec<String>)> = needs
        .iter()
        .filter(|(b, _)| existing.contains(b.as_str()))
        .map(|(b, n)| (b.clone(), *n, docs.get(b).cloned().unwrap_or_default()))
        .collect();
    let results: Vec<(String, Result<Option<Facts>, String>)> = stream::iter(todo)
        .map(|(b, n, docs)| async move {
            let r = read_bucket(client, &b, n, &docs).await;
            (b, r)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut reads: Vec<(String, Option<Facts>)> = Vec::with_capacity(results.len());
    for (b, r) in results {
        match r {
            Ok(f) => reads.push((b, f)),
            Err(e) => {
                let reason = format!("bucket {b}: {e}");
                // Per-configuration resources of that bucket are unknown too.
                for d in desired.iter().filter(|d| d.id != b && bucket_of(d) == b) {
                    read.failed.insert(d.id.clone(), reason.clone());
                }
                read.failed.insert(b, reason);
            }
        }
    }
    let out = &mut read.live;
    let kinds: HashMap<&str, BTreeSet<&str>> = desired.iter().fold(HashMap::new(), |mut m, d| {
        m.entry(d.id.as_str()).or_default().insert(d.rtype.as_str());
        m
    });
    for (bucket, facts) in reads {
        let Some(f) = facts else { continue };
        let has = |t: &str| kinds.get(bucket.as_str()).is_some_and(|k| k.contains(t));
        let live = |attrs: Map<String, Value>| Live {
            id: bucket.clone(),
            attrs,
            ..Default::default()
        };
        if has(AWS_S3_BUCKET) {
            let mut m = Map::new();
            if let Some(t) = &f.tags {
                m.insert("tags".into(), t.clone());
            }
            if let Some((status, mfa)) = &f.versioning {
                m.insert(
                    "versioning".into(),
                    json!({"enabled": status.as_deref() == Some("Enabled"),
                           "mfa_delete": mfa.as_deref() == Some("Enabled")}),
                );
            }
            if let Some(sse) = &f.sse {
                let v = sse
                    .clone()
                    .map(|r| json!({ "rule": r }))
                    .unwrap_or(Value::Null);
                m.insert("server_side_encryption_configuration".into(), v);
            }
            if let Some(p) = &f.policy {
                m.insert("policy".into(), p.clone().unwrap_or(Value::Null));
            }
            for i in inline.get(&bucket).into_iter().flatten() {
                if let Some((_, doc)) = f.docs.iter().find(|(t, _)| *t == i.split) {
                    m.insert(i.attr.into(), (i.live)(doc.as_ref()));
                }
            }
            out.get_mut(AWS_S3_BUCKET)
                .unwrap()
                .insert(bucket.clone(), live(m));
        }
        if has(AWS_S3_BUCKET_VERSIONING) {
            if let Some((status, mfa)) = &f.versioning {
                let mut vc = Map::new();
                vc.insert("status".into(), json!(versioning_status(status.as_deref())));
                vc.insert(
                    "mfa_delete".into(),
                    json!(mfa.as_deref().unwrap_or("Disabled")),
                );
                let mut m = Map::new();
                m.insert("versioning_configuration".into(), Value::Object(vc));
                out.get_mut(AWS_S3_BUCKET_VERSIONING)
                    .unwrap()
                    .insert(bucket.clone(), live(m));
            }
        }
        if let (true, Some(Some(rule))) = (has(AWS_S3_BUCKET_SSE), &f.sse) {
            let mut m = Map::new();
            m.insert("rule".into(), rule.clone());
            out.get_mut(AWS_S3_BUCKET_SSE)
                .unwrap()
                .insert(bucket.clone(), live(m));
        }
        if let (true, Some(Some(p))) = (has(AWS_S3_BUCKET_POLICY), &f.policy) {
            let mut m = Map::new();
            m.insert("policy".into(), p.clone());
            out.get_mut(AWS_S3_BUCKET_POLICY)
                .unwrap()
                .insert(bucket.clone(), live(m));
        }
        if let (true, Some(Some(p))) = (has(AWS_S3_BUCKET_PAB), &f.pab) {
            out.get_mut(AWS_S3_BUCKET_PAB)
                .unwrap()
                .insert(bucket.clone(), live(p.clone()));
        }
        for (t, doc) in &f.docs {
            if let (true, Some(attrs), Some(m)) = (has(t), doc, out.get_mut(t)) {
                m.insert(bucket.clone(), live(attrs.clone()));
            }
        }
        for (t, configs) in &f.configs {
            let Some(m) = out.get_mut(t) else { continue };
            for (config, attrs) in configs {
                let id = format!("{bucket}:{config}");
                if kinds.get(id.as_str()).is_some_and(|k| k.contains(t)) {
                    m.insert(
                        id.clone(),
                        Live {
                            id,
                            attrs: attrs.clone(),
                            ..Default::default()
                        },
                    );
                }
            }
        }
    }

    if discover {
        // Unmanaged candidates: buckets of this region that nothing manages.
        let candidates: Vec<(String, Option<String>)> = listed
            .into_iter()
            .filter(|(b, _)| !needs.contains_key(b))
            .collect();
        let located: Vec<(String, Result<Option<String>, String>)> = stream::iter(candidates)
            .map(|(b, r)| async move {
                let r = match r {
                    Some(r) => Ok(Some(r)),
                    None => bucket_region(client, &b).await,
                };
                (b, r)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let buckets = read.live.get_mut(AWS_S3_BUCKET).unwrap();
        for (b, r) in located {
            let r = match r {
                Ok(Some(r)) => r,
                Ok(None) => continue, // deleted since ListBuckets
                Err(e) => {
                    read.gaps.insert(b, e);
                    continue;
                }
            };
            if r == region {
                buckets.insert(
                    b.clone(),
                    Live {
                        id: b,
                        ..Default::default()
                    },
                );
            }
        }
    }
    Ok(read)
}
