//! S3 configuration types added the registry way (notification, replication,
//! object lock, inventory): in sync, changed, missing against moto. moto
//! 5.1.22 drops intelligent tiering, analytics and metrics Puts, so those
//! three are tested with recorded responses in their type files.

use std::path::Path;

use aws_sdk_s3::types::{
    DefaultRetention, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, Event,
    NotificationConfiguration, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
    ObjectLockRule, QueueConfiguration, ReplicationConfiguration, ReplicationRule,
    ReplicationRuleFilter, ReplicationRuleStatus,
};
use aws_sdk_s3::types::{
    InventoryConfiguration, InventoryDestination, InventoryFormat, InventoryFrequency,
    InventoryIncludedObjectVersions, InventoryOptionalField, InventoryS3BucketDestination,
    InventorySchedule,
};
use driftd::aws::ApiCalls;
use driftd::env::MapEnv;
use driftd::scan::{self, ScanOptions};

use crate::moto::Moto;
use crate::scan_moto::{add_to_state, lines, scan_text};
use crate::world::{self, seed};

fn app_in_sync(r: &driftd::report::Report) -> usize {
    r.stacks
        .iter()
        .find(|s| s.name == "app")
        .unwrap()
        .counts
        .in_sync
}

const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:events";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_notification_in_sync_changed_missing() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("notification");
    let w = seed(&c, &dir).await;
    let put = |events: Vec<Event>| {
        c.s3.put_bucket_notification_configuration()
            .bucket(&w.bucket_v4)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder()
                            .id("q1")
                            .queue_arn(QUEUE)
                            .set_events(Some(events))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
    };
    put(vec![Event::from("s3:ObjectCreated:*")]).await.unwrap();
    // As the provider writes it after apply.
    add_to_state(
        &dir.join("app.tfstate"),
        "aws_s3_bucket_notification",
        "events",
        serde_json::json!({"id": w.bucket_v4, "bucket": w.bucket_v4, "eventbridge": false,
                           "lambda_function": [], "topic": [],
                           "queue": [{"id": "q1", "queue_arn": QUEUE, "events": ["s3:ObjectCreated:*"],
                                      "filter_prefix": "", "filter_suffix": ""}]}),
    );
    let cfg = world::config_text(&moto.url);
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(app_in_sync(&r), 9, "{}", r.to_text());

    put(vec![
        Event::from("s3:ObjectCreated:*"),
        Event::from("s3:ObjectRemoved:*"),
    ])
    .await
    .unwrap();
    let r = scan_text(&cfg, &dir).await;
    let l = lines(&r);
    assert_eq!(l.len(), 1, "{}", r.to_text());
    assert!(
        l[0].starts_with("changed aws_s3_bucket_notification.events queue: ")
            && l[0].contains("s3:ObjectRemoved:*"),
        "{l:?}"
    );

    c.s3.put_bucket_notification_configuration()
        .bucket(&w.bucket_v4)
        .notification_configuration(NotificationConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec!["missing aws_s3_bucket_notification.events"],
        "{}",
        r.to_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_replication_configuration_in_sync_changed_missing() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("replication");
    let w = seed(&c, &dir).await;
    let role = "arn:aws:iam::123456789012:role/replication";
    let put = |status: ReplicationRuleStatus| {
        c.s3.put_bucket_replication()
            .bucket(&w.bucket_v4)
            .replication_configuration(
                ReplicationConfiguration::builder()
                    .role(role)
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
                                    .bucket(format!("arn:aws:s3:::{}", w.bucket_v3))
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
    };
    put(ReplicationRuleStatus::Enabled).await.unwrap();
    // `filter {}` in config: the provider writes an empty filter block.
    add_to_state(
        &dir.join("app.tfstate"),
        "aws_s3_bucket_replication_configuration",
        "dr",
        serde_json::json!({"id": w.bucket_v4, "bucket": w.bucket_v4, "role": role, "token": null,
            "rule": [{"id": "to-dr", "priority": 1, "status": "Enabled", "prefix": "",
                      "filter": [{"prefix": "", "tag": [], "and": []}],
                      "delete_marker_replication": [{"status": "Disabled"}],
                      "existing_object_replication": [], "source_selection_criteria": [],
                      "destination": [{"bucket": format!("arn:aws:s3:::{}", w.bucket_v3),
                                       "account": "", "storage_class": "",
                                       "access_control_translation": [],
                                       "encryption_configuration": [], "metrics": [],
                                       "replication_time": []}]}]}),
    );
    let cfg = world::config_text(&moto.url);
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(app_in_sync(&r), 9, "{}", r.to_text());

    put(ReplicationRuleStatus::Disabled).await.unwrap();
    let r = scan_text(&cfg, &dir).await;
    let l = lines(&r);
    assert_eq!(l.len(), 1, "{}", r.to_text());
    assert!(
        l[0].starts_with("changed aws_s3_bucket_replication_configuration.dr rule: ")
            && l[0].contains("Disabled"),
        "{l:?}"
    );

    c.s3.delete_bucket_replication()
        .bucket(&w.bucket_v4)
        .send()
        .await
        .unwrap();
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec!["missing aws_s3_bucket_replication_configuration.dr"],
        "{}",
        r.to_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_object_lock_configuration_in_sync_changed_missing() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("object-lock");
    seed(&c, &dir).await;
    // moto serves object lock only on buckets created with it.
    let b = "locked-v4";
    c.s3.create_bucket()
        .bucket(b)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let put = |mode: ObjectLockRetentionMode, days: i32| {
        c.s3.put_object_lock_configuration()
            .bucket(b)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder().mode(mode).days(days).build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
    };
    put(ObjectLockRetentionMode::Compliance, 30).await.unwrap();
    let st = dir.join("app.tfstate");
    add_to_state(
        &st,
        "aws_s3_bucket",
        "locked",
        serde_json::json!({"id": b, "bucket": b, "arn": format!("arn:aws:s3:::{b}"),
                           "region": "us-east-1", "object_lock_enabled": true}),
    );
    add_to_state(
        &st,
        "aws_s3_bucket_object_lock_configuration",
        "locked",
        serde_json::json!({"id": b, "bucket": b, "expected_bucket_owner": "",
                           "object_lock_enabled": "Enabled", "token": null,
                           "rule": [{"default_retention": [{"mode": "COMPLIANCE", "days": 30, "years": 0}]}]}),
    );
    let cfg = world::config_text(&moto.url);
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(app_in_sync(&r), 10, "{}", r.to_text());

    put(ObjectLockRetentionMode::Governance, 1).await.unwrap();
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec![
            "changed aws_s3_bucket_object_lock_configuration.locked rule.default_retention.days: 30 -> 1",
            r#"changed aws_s3_bucket_object_lock_configuration.locked rule.default_retention.mode: "COMPLIANCE" -> "GOVERNANCE""#,
        ],
        "{}",
        r.to_text()
    );

    // Object lock cannot be removed from a bucket: missing is the bucket's
    // configuration gone with the bucket.
    let vs = c.s3.list_object_versions().bucket(b).send().await.unwrap();
    assert!(vs.versions().is_empty());
    c.s3.delete_bucket().bucket(b).send().await.unwrap();
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec![
            "missing aws_s3_bucket.locked",
            "missing aws_s3_bucket_object_lock_configuration.locked",
        ],
        "{}",
        r.to_text()
    );
}

fn inventory(id: &str, frequency: InventoryFrequency) -> InventoryConfiguration {
    InventoryConfiguration::builder()
        .id(id)
        .is_enabled(true)
        // moto 5.1.22 answers `All` whatever was put, and a one-element
        // OptionalFields as a string: put what it can echo.
        .included_object_versions(InventoryIncludedObjectVersions::All)
        .optional_fields(InventoryOptionalField::Size)
        .optional_fields(InventoryOptionalField::ETag)
        .schedule(
            InventorySchedule::builder()
                .frequency(frequency)
                .build()
                .unwrap(),
        )
        .destination(
            InventoryDestination::builder()
                .s3_bucket_destination(
                    InventoryS3BucketDestination::builder()
                        .bucket("arn:aws:s3:::logs-v3")
                        .format(InventoryFormat::Csv)
                        .prefix("inventory")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap()
}

/// Two inventories of one bucket: one List call serves both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_inventory_in_sync_changed_missing_one_list_per_bucket() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("inventory");
    let w = seed(&c, &dir).await;
    let put = |id: &'static str, f: InventoryFrequency| {
        c.s3.put_bucket_inventory_configuration()
            .bucket(&w.bucket_v4)
            .id(id)
            .inventory_configuration(inventory(id, f))
            .send()
    };
    put("daily", InventoryFrequency::Daily).await.unwrap();
    put("weekly", InventoryFrequency::Weekly).await.unwrap();
    for (name, freq) in [("daily", "Daily"), ("weekly", "Weekly")] {
        add_to_state(
            &dir.join("app.tfstate"),
            "aws_s3_bucket_inventory",
            name,
            serde_json::json!({"id": format!("{}:{name}", w.bucket_v4), "bucket": w.bucket_v4,
                "name": name, "enabled": true, "included_object_versions": "All",
                "optional_fields": ["Size", "ETag"], "schedule": [{"frequency": freq}], "filter": [],
                "destination": [{"bucket": [{"bucket_arn": "arn:aws:s3:::logs-v3", "format": "CSV",
                    "account_id": "", "prefix": "inventory", "encryption": []}]}]}),
        );
    }
    let cfg = world::config_text(&moto.url);
    let calls = ApiCalls::new();
    let r = scan_counted(&cfg, &dir, &calls).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(app_in_sync(&r), 10, "{}", r.to_text());
    let lists: u64 = calls
        .snapshot()
        .iter()
        .filter(|((_, op, _), _)| op == "ListBucketInventoryConfigurations")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(lists, 1, "{:?}", calls.snapshot());

    put("weekly", InventoryFrequency::Daily).await.unwrap();
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec![r#"changed aws_s3_bucket_inventory.weekly schedule.frequency: "Weekly" -> "Daily""#],
        "{}",
        r.to_text()
    );

    // moto 5.1.22 routes DeleteBucketInventoryConfiguration to DeleteBucket:
    // a configuration the listing lacks is one the state declares but the
    // bucket never had (as after a delete).
    add_to_state(
        &dir.join("app.tfstate"),
        "aws_s3_bucket_inventory",
        "monthly",
        serde_json::json!({"id": format!("{}:monthly", w.bucket_v4), "bucket": w.bucket_v4,
            "name": "monthly", "enabled": true, "included_object_versions": "All",
            "optional_fields": [], "schedule": [{"frequency": "Weekly"}], "filter": [],
            "destination": [{"bucket": [{"bucket_arn": "arn:aws:s3:::logs-v3", "format": "CSV"}]}]}),
    );
    let r = scan_text(&cfg, &dir).await;
    assert_eq!(
        lines(&r),
        vec![
            r#"changed aws_s3_bucket_inventory.weekly schedule.frequency: "Weekly" -> "Daily""#,
            "missing aws_s3_bucket_inventory.monthly",
        ],
        "{}",
        r.to_text()
    );
}

async fn scan_counted(config: &str, dir: &Path, calls: &ApiCalls) -> driftd::report::Report {
    let cfg = driftd::config::parse(config, &dir.join("driftd.toml"), &MapEnv::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let options = ScanOptions {
        client: crate::moto::client_options(),
        ..Default::default()
    };
    scan::run(&cfg, &options, calls).await
}

/// A failed List of one bucket's inventories: its `bucket:name` resources are
/// unknown, never missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_inventory_list_is_unknown_never_missing() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("inventory-faulty");
    let w = seed(&c, &dir).await;
    c.s3.put_bucket_inventory_configuration()
        .bucket(&w.bucket_v4)
        .id("daily")
        .inventory_configuration(inventory("daily", InventoryFrequency::Daily))
        .send()
        .await
        .unwrap();
    add_to_state(
        &dir.join("app.tfstate"),
        "aws_s3_bucket_inventory",
        "daily",
        serde_json::json!({"id": format!("{}:daily", w.bucket_v4), "bucket": w.bucket_v4,
            "name": "daily", "enabled": true, "included_object_versions": "All",
            "optional_fields": ["Size", "ETag"], "schedule": [{"frequency": "Daily"}], "filter": [],
            "destination": [{"bucket": [{"bucket_arn": "arn:aws:s3:::logs-v3", "format": "CSV",
                "account_id": "", "prefix": "inventory", "encryption": []}]}]}),
    );
    let proxy = crate::proxy::FaultProxy::start(&moto.url, vec!["inventory".into()]).await;
    let r = scan_text(&world::config_text(&proxy.url), &dir).await;
    let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
    assert!(
        app.drifts
            .iter()
            .all(|d| d.kind != driftd::report::DriftKind::Missing),
        "{}",
        r.to_text()
    );
    assert!(
        r.to_text().contains("ListBucketInventoryConfigurations"),
        "{}",
        r.to_text()
    );
    assert!(app.counts.unknown >= 1, "{}", r.to_text());
}
