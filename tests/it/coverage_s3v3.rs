//! Provider-v3 inline blocks of `aws_s3_bucket` (issue #11): each bucket is
//! configured in moto the way the v3 provider's Create/Update sends it, its
//! state written the way the v3 Read flattens it; then in sync, changed and
//! the block gone live. Its own small world (one stack, unmanaged detection
//! off), not `world::seed`. `request_payer` cannot be served by moto 5.1.22
//! (`?requestPayment` is not routed): its in sync / changed run on recorded
//! answers in `bucket.rs`; here only that an unreadable answer leaves the
//! bucket unknown.

use std::path::{Path, PathBuf};

use aws_sdk_s3::types::{
    AccessControlPolicy, BucketAccelerateStatus, BucketCannedAcl, BucketLifecycleConfiguration,
    BucketLoggingStatus, CorsConfiguration, CorsRule, DefaultRetention, DeleteMarkerReplication,
    DeleteMarkerReplicationStatus, Destination, ErrorDocument, ExpirationStatus, Grant, Grantee,
    IndexDocument, LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator,
    LifecycleRuleFilter, LoggingEnabled, NoncurrentVersionExpiration, ObjectLockConfiguration,
    ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule, Owner, Permission,
    ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus,
    RoutingRule, Tag, Transition, TransitionStorageClass, Type, VersioningConfiguration,
    WebsiteConfiguration,
};
use driftd::aws::{ApiCalls, Clients};
use driftd::env::MapEnv;
use driftd::scan::{self, ScanOptions};
use serde_json::{json, Value};

use crate::moto::Moto;
use crate::scan_moto::lines;
use crate::world::{self, StateBuilder};

const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
const ROLE: &str = "arn:aws:iam::123456789012:role/replication";

fn config(endpoint: &str) -> String {
    format!(
        r#"[scan]
concurrency = 4
max_attempts = 2
unmanaged = false

[[stacks]]
name = "v3"
state = "v3.tfstate"
regions = ["us-east-1"]
endpoint_url = "{endpoint}"
"#
    )
}

/// A v3 `aws_s3_bucket` as the provider's Read writes it for a bucket whose
/// code sets nothing but the name: every block empty, the defaults.
fn v3_bucket(b: &str, extra: Value) -> Value {
    let mut a = json!({"id": b, "bucket": b, "bucket_prefix": null, "arn": format!("arn:aws:s3:::{b}"),
        "region": "us-east-1", "acl": "private", "force_destroy": false, "hosted_zone_id": "Z3AQBSTGFYJSTF",
        "bucket_domain_name": format!("{b}.s3.amazonaws.com"),
        "bucket_regional_domain_name": format!("{b}.s3.amazonaws.com"),
        "tags": {}, "tags_all": {}, "policy": "",
        "versioning": [{"enabled": false, "mfa_delete": false}],
        "server_side_encryption_configuration": [],
        "lifecycle_rule": [], "logging": [], "cors_rule": [], "website": [], "grant": [],
        "website_domain": null, "website_endpoint": null,
        "acceleration_status": "", "request_payer": "BucketOwner",
        "replication_configuration": [], "object_lock_configuration": []});
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

struct World {
    moto: Moto,
    c: Clients,
    dir: PathBuf,
}

impl World {
    async fn start(name: &str) -> World {
        let moto = Moto::start();
        let c = moto.clients().await;
        let dir = world::temp_dir(name);
        World { moto, c, dir }
    }

    fn write(&self, buckets: &[(&str, Value)], extra: &[(&str, &str, Value)]) {
        let mut st = StateBuilder::default();
        for (name, attrs) in buckets {
            st.add(None, "aws_s3_bucket", name, None, attrs.clone());
        }
        for (rtype, name, attrs) in extra {
            st.add(None, rtype, name, None, attrs.clone());
        }
        st.write(&self.dir.join("v3.tfstate"));
    }

    async fn scan(&self, calls: &ApiCalls) -> driftd::report::Report {
        scan_in(&config(&self.moto.url), &self.dir, calls).await
    }

    async fn bucket(&self, b: &str) {
        self.c.s3.create_bucket().bucket(b).send().await.unwrap();
    }
}

async fn scan_in(cfg: &str, dir: &Path, calls: &ApiCalls) -> driftd::report::Report {
    let cfg = driftd::config::parse(cfg, &dir.join("driftd.toml"), &MapEnv::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let options = ScanOptions {
        client: crate::moto::client_options(),
        ..Default::default()
    };
    scan::run(&cfg, &options, calls).await
}

/// The built-in policy's verdict on one drift.
fn critical(d: &driftd::report::Drift) -> bool {
    let settings = driftd::decide::settings::PolicySettings {
        builtin_rules: true,
        ..Default::default()
    };
    driftd::policy::classify(&settings, d, &json!({}), &[]).critical
}

fn ops(calls: &ApiCalls, op: &str) -> u64 {
    calls.by_operation().get(op).copied().unwrap_or(0)
}

fn lifecycle(days: i32) -> BucketLifecycleConfiguration {
    // As v3's resourceBucketLifecycleUpdate sends them: tags -> `And`, else a
    // prefix filter; a generated id kept in state.
    BucketLifecycleConfiguration::builder()
        .rules(
            LifecycleRule::builder()
                .id("expire-logs")
                .status(ExpirationStatus::Enabled)
                .filter(
                    LifecycleRuleFilter::builder()
                        .and(
                            LifecycleRuleAndOperator::builder()
                                .prefix("logs/")
                                .tags(Tag::builder().key("class").value("log").build().unwrap())
                                .build(),
                        )
                        .build(),
                )
                .expiration(LifecycleExpiration::builder().days(days).build())
                .transitions(
                    Transition::builder()
                        .days(30)
                        .storage_class(TransitionStorageClass::StandardIa)
                        .build(),
                )
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(30)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .rules(
            LifecycleRule::builder()
                .id("tf-s3-lifecycle-20240101000000000000000001")
                .status(ExpirationStatus::Disabled)
                .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn lifecycle_state() -> Value {
    json!([
        {"id": "expire-logs", "prefix": "logs/", "tags": {"class": "log"}, "enabled": true,
         "abort_incomplete_multipart_upload_days": 0,
         "expiration": [{"date": "", "days": 90, "expired_object_delete_marker": false}],
         "transition": [{"date": "", "days": 30, "storage_class": "STANDARD_IA"}],
         "noncurrent_version_expiration": [{"days": 30}], "noncurrent_version_transition": []},
        {"id": "tf-s3-lifecycle-20240101000000000000000001", "prefix": "tmp/", "tags": null,
         "enabled": false, "abort_incomplete_multipart_upload_days": 0,
         "expiration": [{"date": "", "days": 1, "expired_object_delete_marker": false}],
         "transition": [], "noncurrent_version_expiration": [], "noncurrent_version_transition": []}
    ])
}

fn cors(origin: &str) -> CorsConfiguration {
    CorsConfiguration::builder()
        .cors_rules(
            CorsRule::builder()
                .allowed_headers("*")
                .allowed_methods("PUT")
                .allowed_methods("GET")
                .allowed_origins(origin)
                .max_age_seconds(3000)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn website(error: &str) -> WebsiteConfiguration {
    WebsiteConfiguration::builder()
        .index_document(
            IndexDocument::builder()
                .suffix("index.html")
                .build()
                .unwrap(),
        )
        .error_document(ErrorDocument::builder().key(error).build().unwrap())
        .routing_rules(
            RoutingRule::builder()
                .condition(
                    aws_sdk_s3::types::Condition::builder()
                        .key_prefix_equals("docs/")
                        .build(),
                )
                .redirect(
                    aws_sdk_s3::types::Redirect::builder()
                        .replace_key_prefix_with("documents/")
                        .build(),
                )
                .build(),
        )
        .build()
}

fn replication(dst: &str, status: ReplicationRuleStatus) -> ReplicationConfiguration {
    // v3 sends a V2 rule (filter, priority) with delete-marker replication
    // Disabled when `delete_marker_replication_status` is unset.
    ReplicationConfiguration::builder()
        .role(ROLE)
        .rules(
            ReplicationRule::builder()
                .id("to-dr")
                .priority(1)
                .filter(ReplicationRuleFilter::builder().prefix("").build())
                .status(status)
                .delete_marker_replication(
                    DeleteMarkerReplication::builder()
                        .status(DeleteMarkerReplicationStatus::Disabled)
                        .build(),
                )
                .destination(
                    Destination::builder()
                        .bucket(format!("arn:aws:s3:::{dst}"))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn object_lock(mode: ObjectLockRetentionMode, days: i32) -> ObjectLockConfiguration {
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(DefaultRetention::builder().mode(mode).days(days).build())
                .build(),
        )
        .build()
}

/// Lifecycle, CORS, website, replication, acceleration and object lock: one
/// bucket each, in sync (no false drift on an untouched bucket, and none on
/// a plain v3 bucket whose blocks are all empty), changed, and gone live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_blocks_in_sync_changed_and_gone() {
    let w = World::start("s3v3-blocks").await;
    let s3 = &w.c.s3;
    for b in [
        "v3-plain",
        "v3-lifecycle",
        "v3-cors",
        "v3-website",
        "v3-repl",
        "v3-repl-dst",
        "v3-accel",
    ] {
        w.bucket(b).await;
    }
    s3.create_bucket()
        .bucket("v3-lock")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("v3-lifecycle")
        .lifecycle_configuration(lifecycle(90))
        .send()
        .await
        .unwrap();
    s3.put_bucket_cors()
        .bucket("v3-cors")
        .cors_configuration(cors("https://a.example"))
        .send()
        .await
        .unwrap();
    s3.put_bucket_website()
        .bucket("v3-website")
        .website_configuration(website("error.html"))
        .send()
        .await
        .unwrap();
    for b in ["v3-repl", "v3-repl-dst"] {
        s3.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    s3.put_bucket_replication()
        .bucket("v3-repl")
        .replication_configuration(replication("v3-repl-dst", ReplicationRuleStatus::Enabled))
        .send()
        .await
        .unwrap();
    s3.put_bucket_accelerate_configuration()
        .bucket("v3-accel")
        .accelerate_configuration(
            aws_sdk_s3::types::AccelerateConfiguration::builder()
                .status(BucketAccelerateStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object_lock_configuration()
        .bucket("v3-lock")
        .object_lock_configuration(object_lock(ObjectLockRetentionMode::Compliance, 30))
        .send()
        .await
        .unwrap();

    let on = json!([{"enabled": true, "mfa_delete": false}]);
    w.write(
        &[
            ("plain", v3_bucket("v3-plain", json!({}))),
            (
                "lifecycle",
                v3_bucket("v3-lifecycle", json!({"lifecycle_rule": lifecycle_state()})),
            ),
            (
                "cors",
                v3_bucket(
                    "v3-cors",
                    json!({"cors_rule": [{"allowed_headers": ["*"], "allowed_methods": ["PUT", "GET"],
                        "allowed_origins": ["https://a.example"], "expose_headers": [],
                        "max_age_seconds": 3000}]}),
                ),
            ),
            (
                "website",
                v3_bucket(
                    "v3-website",
                    json!({"website": [{"index_document": "index.html", "error_document": "error.html",
                        "redirect_all_requests_to": "",
                        "routing_rules": "[{\"Condition\":{\"KeyPrefixEquals\":\"docs/\"},\"Redirect\":{\"ReplaceKeyPrefixWith\":\"documents/\"}}]"}],
                        "website_domain": "s3-website-us-east-1.amazonaws.com",
                        "website_endpoint": "v3-website.s3-website-us-east-1.amazonaws.com"}),
                ),
            ),
            (
                "repl",
                v3_bucket(
                    "v3-repl",
                    json!({"versioning": on, "replication_configuration": [{"role": ROLE, "rules": [
                        {"id": "to-dr", "priority": 1, "status": "Enabled", "prefix": "",
                         "filter": [{"prefix": "", "tags": {}}],
                         "delete_marker_replication_status": "", "source_selection_criteria": [],
                         "destination": [{"bucket": "arn:aws:s3:::v3-repl-dst", "storage_class": "",
                             "replica_kms_key_id": "", "account_id": "",
                             "access_control_translation": [], "replication_time": [],
                             "metrics": []}]}]}]}),
                ),
            ),
            ("repl_dst", v3_bucket("v3-repl-dst", json!({"versioning": on}))),
            (
                "accel",
                v3_bucket("v3-accel", json!({"acceleration_status": "Enabled"})),
            ),
            (
                "lock",
                v3_bucket(
                    "v3-lock",
                    json!({"versioning": on, "object_lock_configuration": [{"object_lock_enabled": "Enabled",
                        "rule": [{"default_retention": [{"mode": "COMPLIANCE", "days": 30, "years": 0}]}]}]}),
                ),
            ),
        ],
        &[],
    );

    let calls = ApiCalls::new();
    let r = w.scan(&calls).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(r.stacks[0].counts.in_sync, 8, "{}", r.to_text());
    // One call per declared block, none for the plain bucket's empty ones.
    for op in [
        "GetBucketLifecycleConfiguration",
        "GetBucketCors",
        "GetBucketWebsite",
        "GetBucketReplication",
        "GetBucketAccelerateConfiguration",
        "GetObjectLockConfiguration",
    ] {
        assert_eq!(ops(&calls, op), 1, "{op}: {:?}", calls.by_operation());
    }
    for op in [
        "GetBucketLogging",
        "GetBucketAcl",
        "GetBucketRequestPayment",
    ] {
        assert_eq!(ops(&calls, op), 0, "{op}: {:?}", calls.by_operation());
    }

    // Changed.
    s3.put_bucket_lifecycle_configuration()
        .bucket("v3-lifecycle")
        .lifecycle_configuration(lifecycle(30))
        .send()
        .await
        .unwrap();
    s3.put_bucket_cors()
        .bucket("v3-cors")
        .cors_configuration(cors("*"))
        .send()
        .await
        .unwrap();
    s3.put_bucket_website()
        .bucket("v3-website")
        .website_configuration(website("404.html"))
        .send()
        .await
        .unwrap();
    s3.put_bucket_replication()
        .bucket("v3-repl")
        .replication_configuration(replication("v3-repl-dst", ReplicationRuleStatus::Disabled))
        .send()
        .await
        .unwrap();
    s3.put_bucket_accelerate_configuration()
        .bucket("v3-accel")
        .accelerate_configuration(
            aws_sdk_s3::types::AccelerateConfiguration::builder()
                .status(BucketAccelerateStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object_lock_configuration()
        .bucket("v3-lock")
        .object_lock_configuration(object_lock(ObjectLockRetentionMode::Governance, 30))
        .send()
        .await
        .unwrap();
    let r = w.scan(&ApiCalls::new()).await;
    let l = lines(&r);
    assert_eq!(l.len(), 6, "{}", r.to_text());
    let has = |prefix: &str, part: &str| {
        assert!(
            l.iter().any(|x| x.starts_with(prefix) && x.contains(part)),
            "{prefix} .. {part}: {l:?}"
        )
    };
    has(
        "changed aws_s3_bucket.accel acceleration_status: \"Enabled\" -> \"Suspended\"",
        "",
    );
    has("changed aws_s3_bucket.cors cors_rule: ", "\"*\"");
    has(
        "changed aws_s3_bucket.lifecycle lifecycle_rule.rule.expire-logs.expiration.days: 90 -> 30",
        "",
    );
    has(
        "changed aws_s3_bucket.lock object_lock_configuration.rule.default_retention.mode: \"COMPLIANCE\" -> \"GOVERNANCE\"",
        "",
    );
    has(
        "changed aws_s3_bucket.repl replication_configuration.rule: ",
        "Disabled",
    );
    has(
        "changed aws_s3_bucket.website website.error_document.key: \"error.html\" -> \"404.html\"",
        "",
    );
    // Classified as the split types: lifecycle expirations, CORS, website,
    // replication and object lock are critical; acceleration is not.
    for d in &r.stacks[0].drifts {
        let who = d.address.clone().unwrap_or_default();
        assert_eq!(critical(d), who != "aws_s3_bucket.accel", "{who}");
    }

    // Gone live (object lock cannot be removed: the bucket's own missing is
    // tested with the split type).
    s3.delete_bucket_lifecycle()
        .bucket("v3-lifecycle")
        .send()
        .await
        .unwrap();
    s3.delete_bucket_cors()
        .bucket("v3-cors")
        .send()
        .await
        .unwrap();
    s3.delete_bucket_website()
        .bucket("v3-website")
        .send()
        .await
        .unwrap();
    s3.delete_bucket_replication()
        .bucket("v3-repl")
        .send()
        .await
        .unwrap();
    let r = w.scan(&ApiCalls::new()).await;
    let l = lines(&r);
    for (who, attr) in [
        ("cors", "cors_rule"),
        ("lifecycle", "lifecycle_rule"),
        ("repl", "replication_configuration"),
        ("website", "website"),
    ] {
        let prefix = format!("changed aws_s3_bucket.{who} {attr}: ");
        assert!(
            l.iter()
                .any(|x| x.starts_with(&prefix) && x.ends_with(" -> null")),
            "{prefix}: {l:?}"
        );
    }
}

/// `logging` and `grant`: in sync, changed, gone; and a v4-style stack where
/// split resources of the same bucket take the blocks over (one report, one
/// call each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_and_grants_in_sync_changed_and_gone() {
    let w = World::start("s3v3-logging-grant").await;
    let s3 = &w.c.s3;
    for b in ["v3-logging", "v3-grant"] {
        w.bucket(b).await;
    }
    s3.create_bucket()
        .bucket("v3-access-logs")
        .acl(BucketCannedAcl::from("log-delivery-write"))
        .send()
        .await
        .unwrap();
    let log_to = |prefix: &str| {
        s3.put_bucket_logging()
            .bucket("v3-logging")
            .bucket_logging_status(
                BucketLoggingStatus::builder()
                    .logging_enabled(
                        LoggingEnabled::builder()
                            .target_bucket("v3-access-logs")
                            .target_prefix(prefix)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
    };
    log_to("logs/").await.unwrap();
    let owner = s3
        .get_bucket_acl()
        .bucket("v3-grant")
        .send()
        .await
        .unwrap()
        .owner()
        .and_then(|o| o.id())
        .unwrap()
        .to_string();
    // v3's resourceBucketGrantsUpdate: the grants with the bucket's owner.
    let grant = |t: Type, who: &str, p: Permission| {
        let g = Grantee::builder().r#type(t.clone());
        let g = if t == Type::Group {
            g.uri(who)
        } else {
            g.id(who)
        };
        Grant::builder()
            .grantee(g.build().unwrap())
            .permission(p)
            .build()
    };
    s3.put_bucket_acl()
        .bucket("v3-grant")
        .access_control_policy(
            AccessControlPolicy::builder()
                .owner(Owner::builder().id(&owner).build())
                .grants(grant(Type::CanonicalUser, &owner, Permission::FullControl))
                .grants(grant(Type::Group, LOG_DELIVERY, Permission::Write))
                .grants(grant(Type::Group, LOG_DELIVERY, Permission::ReadAcp))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let logging_bucket = v3_bucket(
        "v3-logging",
        json!({"logging": [{"target_bucket": "v3-access-logs", "target_prefix": "logs/"}]}),
    );
    let grant_bucket = v3_bucket(
        "v3-grant",
        json!({"acl": null, "grant": [
            {"id": owner, "type": "CanonicalUser", "uri": "", "permissions": ["FULL_CONTROL"]},
            {"id": "", "type": "Group", "uri": LOG_DELIVERY, "permissions": ["READ_ACP", "WRITE"]}]}),
    );
    w.write(
        &[
            ("logging", logging_bucket.clone()),
            ("grant", grant_bucket.clone()),
        ],
        &[],
    );
    let r = w.scan(&ApiCalls::new()).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(r.stacks[0].counts.in_sync, 2, "{}", r.to_text());

    log_to("moved/").await.unwrap();
    s3.put_bucket_acl()
        .bucket("v3-grant")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let r = w.scan(&ApiCalls::new()).await;
    let l = lines(&r);
    assert_eq!(l.len(), 2, "{}", r.to_text());
    assert!(
        l[0].starts_with("changed aws_s3_bucket.grant grant: ")
            && l[0].contains("Group:http://acs.amazonaws.com/groups/global/AllUsers:READ"),
        "{l:?}"
    );
    assert_eq!(
        l[1],
        r#"changed aws_s3_bucket.logging logging.target_prefix: "logs/" -> "moved/""#
    );
    let drift = |a: &str| {
        r.stacks[0]
            .drifts
            .iter()
            .find(|d| d.address.as_deref() == Some(a))
            .unwrap()
    };
    assert!(
        !critical(drift("aws_s3_bucket.logging")),
        "a log prefix is housekeeping"
    );
    assert!(critical(drift("aws_s3_bucket.grant")), "grants open access");

    // Gone: logging off, the ACL back to private (the owner alone).
    s3.put_bucket_logging()
        .bucket("v3-logging")
        .bucket_logging_status(BucketLoggingStatus::builder().build())
        .send()
        .await
        .unwrap();
    s3.put_bucket_acl()
        .bucket("v3-grant")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let r = w.scan(&ApiCalls::new()).await;
    let l = lines(&r);
    assert_eq!(l.len(), 2, "{}", r.to_text());
    assert!(
        l[0].starts_with("changed aws_s3_bucket.grant grant: ")
            && l[0].ends_with(&format!("-> [\"CanonicalUser:{owner}:FULL_CONTROL\"]")),
        "{l:?}"
    );
    assert!(
        l[1].starts_with("changed aws_s3_bucket.logging logging: ") && l[1].ends_with(" -> null"),
        "{l:?}"
    );

    // A v4 stack: the Computed blocks in the bucket's state hold what the
    // split resources manage; the split resources compare them, the bucket
    // does not (one report), and each call is made once.
    log_to("logs/").await.unwrap();
    w.write(
        &[("logging", logging_bucket)],
        &[(
            "aws_s3_bucket_logging",
            "logging",
            json!({"id": "v3-logging", "bucket": "v3-logging", "expected_bucket_owner": "",
                   "target_bucket": "v3-access-logs", "target_prefix": "elsewhere/",
                   "target_grant": [], "target_object_key_format": []}),
        )],
    );
    let calls = ApiCalls::new();
    let r = w.scan(&calls).await;
    assert_eq!(
        lines(&r),
        vec![r#"changed aws_s3_bucket_logging.logging target_prefix: "elsewhere/" -> "logs/""#],
        "{}",
        r.to_text()
    );
    assert_eq!(
        ops(&calls, "GetBucketLogging"),
        1,
        "{:?}",
        calls.by_operation()
    );
}

/// Inline and split users of one bucket configuration in two buckets of the
/// same stack: the call is made once per bucket, never twice for one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lifecycle_call_per_bucket_for_inline_and_split_users() {
    let w = World::start("s3v3-shared-call").await;
    let s3 = &w.c.s3;
    for b in ["v3-lifecycle", "v4-lifecycle"] {
        w.bucket(b).await;
        s3.put_bucket_lifecycle_configuration()
            .bucket(b)
            .lifecycle_configuration(lifecycle(90))
            .send()
            .await
            .unwrap();
    }
    // v3 inline on one bucket; on the other a v4 bucket whose Computed
    // `lifecycle_rule` mirrors the split resource's rules.
    w.write(
        &[
            (
                "v3",
                v3_bucket("v3-lifecycle", json!({"lifecycle_rule": lifecycle_state()})),
            ),
            (
                "v4",
                v3_bucket("v4-lifecycle", json!({"lifecycle_rule": lifecycle_state()})),
            ),
        ],
        &[(
            "aws_s3_bucket_lifecycle_configuration",
            "v4",
            json!({"id": "v4-lifecycle", "bucket": "v4-lifecycle", "expected_bucket_owner": "",
                "rule": [
                  {"id": "expire-logs", "status": "Enabled", "prefix": "",
                   "filter": [{"and": [{"prefix": "logs/", "tags": {"class": "log"},
                               "object_size_greater_than": 0, "object_size_less_than": 0}],
                               "prefix": "", "tag": [], "object_size_greater_than": null,
                               "object_size_less_than": null}],
                   "expiration": [{"date": null, "days": 1, "expired_object_delete_marker": false}],
                   "transition": [{"date": null, "days": 30, "storage_class": "STANDARD_IA"}],
                   "noncurrent_version_expiration": [{"noncurrent_days": 30, "newer_noncurrent_versions": null}],
                   "noncurrent_version_transition": [], "abort_incomplete_multipart_upload": []},
                  {"id": "tf-s3-lifecycle-20240101000000000000000001", "status": "Disabled",
                   "prefix": "", "filter": [{"prefix": "tmp/"}],
                   "expiration": [{"days": 1}], "transition": [],
                   "noncurrent_version_expiration": [], "noncurrent_version_transition": [],
                   "abort_incomplete_multipart_upload": []}]}),
        )],
    );
    let calls = ApiCalls::new();
    let r = w.scan(&calls).await;
    // The split resource's own drift (days 1 in its state), once; the
    // bucket's inline copy of it is not compared.
    assert_eq!(
        lines(&r),
        vec!["changed aws_s3_bucket_lifecycle_configuration.v4 rule.expire-logs.expiration.days: 1 -> 90"],
        "{}",
        r.to_text()
    );
    assert_eq!(
        ops(&calls, "GetBucketLifecycleConfiguration"),
        2,
        "{:?}",
        calls.by_operation()
    );
}

/// moto cannot serve `?requestPayment`: a v3 bucket whose state says
/// `request_payer = "Requester"` is unknown, never drifted or missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_payer_unreadable_in_moto_is_unknown_not_drift() {
    let w = World::start("s3v3-payer").await;
    w.bucket("v3-payer").await;
    w.write(
        &[(
            "payer",
            v3_bucket("v3-payer", json!({"request_payer": "Requester"})),
        )],
        &[],
    );
    let r = w.scan(&ApiCalls::new()).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(r.stacks[0].counts.unknown, 1, "{}", r.to_text());
    assert!(
        r.to_text().contains("GetBucketRequestPayment"),
        "{}",
        r.to_text()
    );
}
