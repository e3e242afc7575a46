//! EC2 compute types against moto: in sync, changed, missing and (where
//! discoverable) unmanaged, each on top of the seeded world (whose own
//! instances' root volumes and primary ENIs must never come out unmanaged).
//! `aws_placement_group` is not here: moto 5.1.22 does not implement
//! DescribePlacementGroups (recorded-response unit tests cover it).

use std::path::Path;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, LaunchTemplateHttpTokensState,
    LaunchTemplateInstanceMetadataOptionsRequest, RequestLaunchTemplateData, Tag, VolumeType,
};
use driftd::aws::ApiCalls;
use driftd::env::MapEnv;
use driftd::report::{DriftKind, Report};
use driftd::scan::{self, ScanOptions};
use serde_json::{json, Value};

use crate::moto::Moto;
use crate::proxy::FaultProxy;
use crate::scan_moto::{lines, scan_text};
use crate::world::{self, seed};

const MINE: &[&str] = &[
    "aws_ebs_volume",
    "aws_volume_attachment",
    "aws_network_interface",
    "aws_network_interface_sg_attachment",
    "aws_key_pair",
    "aws_launch_template",
    "aws_ami",
    "aws_ebs_snapshot",
    "aws_placement_group",
    "aws_ebs_encryption_by_default",
    "aws_ec2_instance_state",
];

/// The drift lines of this file's types only (other types have their own tests).
async fn scan(moto: &Moto, dir: &Path) -> Vec<String> {
    mine(&scan_text(&world::config_text(&moto.url), dir).await)
}

fn mine(r: &Report) -> Vec<String> {
    lines(r)
        .into_iter()
        .filter(|l| {
            let who = l.split_whitespace().nth(1).unwrap_or_default();
            MINE.iter()
                .any(|t| who == *t || who.starts_with(&format!("{t}.")))
        })
        .collect()
}

/// A scan with unmanaged detection on or off (through `endpoint`), and the
/// `DescribeInstances` calls it made.
async fn scan_counted(endpoint: &str, dir: &Path, unmanaged: bool) -> (Report, u64) {
    let text = world::config_text(endpoint).replacen(
        "[scan]\n",
        &format!("[scan]\nunmanaged = {unmanaged}\n"),
        1,
    );
    let cfg = driftd::config::parse(&text, &dir.join("driftd.toml"), &MapEnv::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let calls = ApiCalls::new();
    let options = ScanOptions {
        client: crate::moto::client_options(),
        ..Default::default()
    };
    let r = scan::run(&cfg, &options, &calls).await;
    let n = calls
        .by_operation()
        .get("DescribeInstances")
        .copied()
        .unwrap_or(0);
    (r, n)
}

fn add_to_state(dir: &Path, rtype: &str, name: &str, attrs: Value) {
    let path = dir.join("app.tfstate");
    let mut st: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    st["resources"].as_array_mut().unwrap().push(json!({
        "mode": "managed", "type": rtype, "name": name,
        "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
        "instances": [{"schema_version": 0, "attributes": attrs, "sensitive_attributes": []}],
    }));
    std::fs::write(&path, st.to_string()).unwrap();
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_and_attachments() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cmp-volumes");
    let w = seed(&c, &dir).await;
    let ec2 = &c.ec2;
    let az = ec2
        .describe_subnets()
        .subnet_ids(&w.subnet)
        .send()
        .await
        .unwrap()
        .subnets()[0]
        .availability_zone()
        .unwrap()
        .to_string();
    let vol = ec2
        .create_volume()
        .availability_zone(&az)
        .size(10)
        .volume_type(VolumeType::Gp3)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Volume)
                .tags(tag("Name", "data"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vol_id = vol.volume_id().unwrap().to_string();
    let i0 = &w.instances[0];
    ec2.attach_volume()
        .volume_id(&vol_id)
        .instance_id(i0)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    // The state as the provider writes it, from the live volume.
    let v = &ec2
        .describe_volumes()
        .volume_ids(&vol_id)
        .send()
        .await
        .unwrap()
        .volumes()[0]
        .clone();
    add_to_state(
        &dir,
        "aws_ebs_volume",
        "data",
        json!({"id": vol_id, "availability_zone": az, "size": v.size(),
               "type": "gp3", "iops": v.iops().unwrap_or(0), "throughput": v.throughput().unwrap_or(0),
               "encrypted": v.encrypted().unwrap_or(false), "kms_key_id": v.kms_key_id().unwrap_or_default(),
               "snapshot_id": "", "multi_attach_enabled": false, "outpost_arn": "", "final_snapshot": false,
               "tags": {"Name": "data"}, "tags_all": {"Name": "data"}}),
    );
    add_to_state(
        &dir,
        "aws_volume_attachment",
        "data",
        json!({"id": "vai-1234567", "device_name": "/dev/sdf", "instance_id": i0,
               "volume_id": vol_id, "force_detach": null, "skip_destroy": null,
               "stop_instance_before_detaching": null}),
    );
    // In sync; the instances' root volumes are not unmanaged. With unmanaged
    // detection, the one (complete) instance listing also tells which
    // volumes were created with their instance; without it, only the named
    // volumes are listed and none needs asking about.
    for unmanaged in [true, false] {
        let (r, calls) = scan_counted(&moto.url, &dir, unmanaged).await;
        assert_eq!(mine(&r), Vec::<String>::new(), "{}", r.to_text());
        assert_eq!(calls, 1, "DescribeInstances (unmanaged = {unmanaged})");
    }

    // Changed (a tag) and unmanaged (a volume made by hand).
    world::tag_instance(&c, &vol_id, "Name", "scratch").await;
    ec2.create_volume()
        .availability_zone(&az)
        .size(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        scan(&moto, &dir).await,
        vec![
            r#"changed aws_ebs_volume.data tags.Name: "data" -> "scratch""#.to_string(),
            "unmanaged aws_ebs_volume".to_string(),
        ]
    );

    // Detached: the attachment is missing; deleted: the volume too.
    ec2.detach_volume()
        .volume_id(&vol_id)
        .instance_id(i0)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    let got = scan(&moto, &dir).await;
    assert!(
        got.contains(&"missing aws_volume_attachment.data".to_string()),
        "{got:?}"
    );
    ec2.delete_volume().volume_id(&vol_id).send().await.unwrap();
    let got = scan(&moto, &dir).await;
    assert!(
        got.contains(&"missing aws_ebs_volume.data".to_string())
            && got.contains(&"missing aws_volume_attachment.data".to_string()),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_interfaces_and_sg_attachments() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cmp-enis");
    let w = seed(&c, &dir).await;
    let ec2 = &c.ec2;
    let eni = ec2
        .create_network_interface()
        .subnet_id(&w.subnet)
        .description("app")
        .groups(&w.sg_web)
        .send()
        .await
        .unwrap();
    let eni = eni.network_interface().unwrap();
    let eni_id = eni.network_interface_id().unwrap().to_string();
    let ip = eni.private_ip_address().unwrap().to_string();
    // aws_network_interface_sg_attachment adds sg_db.
    ec2.modify_network_interface_attribute()
        .network_interface_id(&eni_id)
        .groups(&w.sg_web)
        .groups(&w.sg_db)
        .send()
        .await
        .unwrap();
    add_to_state(
        &dir,
        "aws_network_interface",
        "app",
        json!({"id": eni_id, "subnet_id": w.subnet, "description": "app", "private_ip": ip,
               "private_ips": [ip], "security_groups": [w.sg_web], "source_dest_check": true,
               "interface_type": "interface", "attachment": [], "tags": {}, "tags_all": {}}),
    );
    add_to_state(
        &dir,
        "aws_network_interface_sg_attachment",
        "db",
        json!({"id": format!("{}_{}", w.sg_db, eni_id), "security_group_id": w.sg_db,
               "network_interface_id": eni_id}),
    );
    // In sync: sg_db is the attachment's; the instances' primary ENIs are theirs.
    assert_eq!(scan(&moto, &dir).await, Vec::<String>::new());

    // Changed: source/dest check off, sg_db removed (reported once, on the
    // attachment); unmanaged: an ENI made by hand.
    ec2.modify_network_interface_attribute()
        .network_interface_id(&eni_id)
        .source_dest_check(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    ec2.modify_network_interface_attribute()
        .network_interface_id(&eni_id)
        .groups(&w.sg_web)
        .send()
        .await
        .unwrap();
    ec2.create_network_interface()
        .subnet_id(&w.subnet)
        .send()
        .await
        .unwrap();
    assert_eq!(
        scan(&moto, &dir).await,
        vec![
            "changed aws_network_interface.app source_dest_check: true -> false".to_string(),
            "missing aws_network_interface_sg_attachment.db".to_string(),
            "unmanaged aws_network_interface".to_string(),
        ]
    );

    // Deleted: the ENI and its attachment are missing.
    ec2.delete_network_interface()
        .network_interface_id(&eni_id)
        .send()
        .await
        .unwrap();
    let got = scan(&moto, &dir).await;
    assert!(
        got.contains(&"missing aws_network_interface.app".to_string())
            && got.contains(&"missing aws_network_interface_sg_attachment.db".to_string()),
        "{got:?}"
    );
}

async fn key_state(c: &driftd::aws::Clients, name: &str) -> Value {
    let k = c
        .ec2
        .describe_key_pairs()
        .key_names(name)
        .send()
        .await
        .unwrap()
        .key_pairs()[0]
        .clone();
    json!({"id": name, "key_name": name, "key_name_prefix": "",
           "public_key": "ssh-rsa AAAA deploy", "key_pair_id": k.key_pair_id(),
           "fingerprint": k.key_fingerprint(), "key_type": k.key_type().map(|t| t.as_str()).unwrap_or("rsa"),
           "tags": null, "tags_all": {}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_pairs() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cmp-keys");
    seed(&c, &dir).await;
    let ec2 = &c.ec2;
    ec2.create_key_pair()
        .key_name("deploy")
        .send()
        .await
        .unwrap();
    add_to_state(
        &dir,
        "aws_key_pair",
        "deploy",
        key_state(&c, "deploy").await,
    );
    assert_eq!(scan(&moto, &dir).await, Vec::<String>::new());

    // Replaced under the same name (another id and fingerprint), plus one by hand.
    ec2.delete_key_pair()
        .key_name("deploy")
        .send()
        .await
        .unwrap();
    ec2.create_key_pair()
        .key_name("deploy")
        .send()
        .await
        .unwrap();
    ec2.create_key_pair()
        .key_name("laptop")
        .send()
        .await
        .unwrap();
    let got = scan(&moto, &dir).await;
    assert!(
        got.iter()
            .any(|l| l.starts_with("changed aws_key_pair.deploy key_pair_id:")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("changed aws_key_pair.deploy fingerprint:")),
        "{got:?}"
    );
    assert!(
        got.contains(&"unmanaged aws_key_pair".to_string()),
        "{got:?}"
    );

    ec2.delete_key_pair()
        .key_name("deploy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        scan(&moto, &dir).await,
        vec![
            "missing aws_key_pair.deploy".to_string(),
            "unmanaged aws_key_pair".to_string()
        ]
    );
}

fn template_data(tokens: LaunchTemplateHttpTokensState) -> RequestLaunchTemplateData {
    RequestLaunchTemplateData::builder()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(tokens)
                .build(),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_templates() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cmp-lt");
    let w = seed(&c, &dir).await;
    let ec2 = &c.ec2;
    let mut data = template_data(LaunchTemplateHttpTokensState::Required);
    data.security_group_ids = Some(vec![w.sg_web.clone()]);
    let lt = ec2
        .create_launch_template()
        .launch_template_name("web")
        .version_description("v1")
        .launch_template_data(data)
        .send()
        .await
        .unwrap();
    let lt_id = lt
        .launch_template()
        .unwrap()
        .launch_template_id()
        .unwrap()
        .to_string();
    add_to_state(
        &dir,
        "aws_launch_template",
        "web",
        json!({"id": lt_id, "name": "web", "name_prefix": "", "description": "v1",
               "default_version": 1, "latest_version": 1, "image_id": "ami-12c6146b",
               "instance_type": "t3.micro", "key_name": "", "user_data": "",
               "vpc_security_group_ids": [w.sg_web], "security_group_names": [],
               "ebs_optimized": "", "iam_instance_profile": [],
               "metadata_options": [{"http_endpoint": "", "http_tokens": "required",
                   "http_put_response_hop_limit": 0, "http_protocol_ipv6": "",
                   "instance_metadata_tags": ""}],
               "tags": {}, "tags_all": {}}),
    );
    assert_eq!(scan(&moto, &dir).await, Vec::<String>::new());

    // A version made by hand re-enables IMDSv1 (the state mirrors $Latest);
    // another template by hand is unmanaged.
    ec2.create_launch_template_version()
        .launch_template_id(&lt_id)
        .version_description("v1")
        .launch_template_data(template_data(LaunchTemplateHttpTokensState::Optional))
        .send()
        .await
        .unwrap();
    ec2.create_launch_template()
        .launch_template_name("by-hand")
        .launch_template_data(template_data(LaunchTemplateHttpTokensState::Optional))
        .send()
        .await
        .unwrap();
    let got = scan(&moto, &dir).await;
    for want in [
        "changed aws_launch_template.web latest_version: 1 -> 2",
        r#"changed aws_launch_template.web metadata_options.http_tokens: "required" -> "optional""#,
        "unmanaged aws_launch_template",
    ] {
        assert!(got.contains(&want.to_string()), "{want}\n{got:?}");
    }

    ec2.delete_launch_template()
        .launch_template_id(&lt_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        scan(&moto, &dir).await,
        vec![
            "missing aws_launch_template.web".to_string(),
            "unmanaged aws_launch_template".to_string()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_and_snapshots() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cmp-images");
    let w = seed(&c, &dir).await;
    let ec2 = &c.ec2;
    let ami = ec2
        .create_image()
        .instance_id(&w.instances[0])
        .name("golden")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    let img = ec2
        .describe_images()
        .image_ids(&ami)
        .send()
        .await
        .unwrap()
        .images()[0]
        .clone();
    add_to_state(
        &dir,
        "aws_ami",
        "golden",
        json!({"id": ami, "name": "golden", "description": img.description().unwrap_or_default(),
               "architecture": img.architecture().map(|a| a.as_str()).unwrap_or_default(),
               "root_device_name": img.root_device_name().unwrap_or_default(),
               "virtualization_type": img.virtualization_type().map(|a| a.as_str()).unwrap_or_default(),
               "imds_support": "", "ena_support": img.ena_support().unwrap_or(false),
               "public": false, "tags": {}, "tags_all": {}}),
    );
    let az = ec2
        .describe_subnets()
        .subnet_ids(&w.subnet)
        .send()
        .await
        .unwrap()
        .subnets()[0]
        .availability_zone()
        .unwrap()
        .to_string();
    let vol = ec2
        .create_volume()
        .availability_zone(&az)
        .size(4)
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_string();
    let snap = ec2
        .create_snapshot()
        .volume_id(&vol)
        .description("nightly")
        .send()
        .await
        .unwrap()
        .snapshot_id()
        .unwrap()
        .to_string();
    add_to_state(
        &dir,
        "aws_ebs_volume",
        "src",
        json!({"id": vol, "availability_zone": az, "size": 4, "type": "gp2", "encrypted": false,
               "tags": {}, "tags_all": {}}),
    );
    add_to_state(
        &dir,
        "aws_ebs_snapshot",
        "nightly",
        json!({"id": snap, "volume_id": vol, "description": "nightly", "encrypted": false,
               "volume_size": 4, "storage_tier": "", "tags": {}, "tags_all": {}}),
    );
    // In sync; moto's ~1,200 snapshots of other owners' images are not ours.
    assert_eq!(scan(&moto, &dir).await, Vec::<String>::new());

    // Changed (tags), unmanaged (a snapshot by hand).
    world::tag_instance(&c, &snap, "Owner", "ops").await;
    world::tag_instance(&c, &ami, "Owner", "ops").await;
    ec2.create_snapshot().volume_id(&vol).send().await.unwrap();
    assert_eq!(
        scan(&moto, &dir).await,
        vec![
            r#"changed aws_ami.golden tags.Owner: null -> "ops""#.to_string(),
            r#"changed aws_ebs_snapshot.nightly tags.Owner: null -> "ops""#.to_string(),
            "unmanaged aws_ebs_snapshot".to_string(),
        ]
    );

    // Deregistered and deleted: missing.
    ec2.deregister_image().image_id(&ami).send().await.unwrap();
    ec2.delete_snapshot()
        .snapshot_id(&snap)
        .send()
        .await
        .unwrap();
    let got = scan(&moto, &dir).await;
    for want in ["missing aws_ami.golden", "missing aws_ebs_snapshot.nightly"] {
        assert!(got.contains(&want.to_string()), "{want}\n{got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebs_encryption_by_default_and_instance_state() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cmp-singletons");
    let w = seed(&c, &dir).await;
    let ec2 = &c.ec2;
    ec2.enable_ebs_encryption_by_default().send().await.unwrap();
    add_to_state(
        &dir,
        "aws_ebs_encryption_by_default",
        "on",
        json!({"id": "terraform-20260101000000000000000001", "enabled": true}),
    );
    let i0 = &w.instances[0];
    add_to_state(
        &dir,
        "aws_ec2_instance_state",
        "web0",
        json!({"id": i0, "instance_id": i0, "state": "running", "force": false}),
    );
    // With unmanaged detection the states come from aws_instance's one
    // complete listing; without it, from their own filtered call.
    let per_mode = [(true, 1), (false, 2)];
    for (unmanaged, want) in per_mode {
        let (r, calls) = scan_counted(&moto.url, &dir, unmanaged).await;
        assert_eq!(mine(&r), Vec::<String>::new(), "{}", r.to_text());
        assert_eq!(calls, want, "DescribeInstances (unmanaged = {unmanaged})");
    }

    ec2.disable_ebs_encryption_by_default()
        .send()
        .await
        .unwrap();
    ec2.stop_instances().instance_ids(i0).send().await.unwrap();
    for (unmanaged, want) in per_mode {
        let (r, calls) = scan_counted(&moto.url, &dir, unmanaged).await;
        assert_eq!(
            mine(&r),
            vec![
                "changed aws_ebs_encryption_by_default.on enabled: true -> false".to_string(),
                r#"changed aws_ec2_instance_state.web0 state: "running" -> "stopped""#.to_string(),
            ],
            "unmanaged = {unmanaged}"
        );
        assert_eq!(calls, want, "DescribeInstances (unmanaged = {unmanaged})");
    }

    ec2.terminate_instances()
        .instance_ids(i0)
        .send()
        .await
        .unwrap();
    for (unmanaged, _) in per_mode {
        let (r, _) = scan_counted(&moto.url, &dir, unmanaged).await;
        let got = mine(&r);
        assert!(
            got.contains(&"missing aws_ec2_instance_state.web0".to_string()),
            "unmanaged = {unmanaged}: {got:?}"
        );
    }
}

/// DescribeInstances failing (after retries): the types that take it from
/// the shared listing are unknown, never missing nor silently in sync, with
/// unmanaged detection (the shared listing's error) and without it (their
/// own call's); a volume the state names needs no instance without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_instance_listing_makes_its_dependents_unknown() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cmp-instances-failed");
    let w = seed(&c, &dir).await;
    let i0 = &w.instances[0];
    add_to_state(
        &dir,
        "aws_ec2_instance_state",
        "web0",
        json!({"id": i0, "instance_id": i0, "state": "running", "force": false}),
    );
    // The root volume of i0, adopted into the state (the world's other
    // instance's root volume stays unnamed: the root-volume check needs it).
    let root = c
        .ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.instance-id")
                .values(i0)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .volumes()[0]
        .volume_id()
        .unwrap()
        .to_string();
    add_to_state(
        &dir,
        "aws_ebs_volume",
        "root",
        json!({"id": root, "availability_zone": "us-east-1a", "size": 8, "type": "gp2",
               "tags": {}, "tags_all": {}}),
    );
    let proxy = FaultProxy::start(&moto.url, vec!["Action=DescribeInstances".into()]).await;
    for unmanaged in [true, false] {
        let (r, _) = scan_counted(&proxy.url, &dir, unmanaged).await;
        let app = r.stacks.iter().find(|s| s.name == "app").unwrap();
        let mut unknown: Vec<&str> = app.unknown.iter().map(|u| u.rtype.as_str()).collect();
        unknown.sort();
        let mut want = vec!["aws_ec2_instance_state", "aws_instance", "aws_instance"];
        if unmanaged {
            want.push("aws_ebs_volume");
            want.sort();
        }
        assert_eq!(unknown, want, "unmanaged = {unmanaged}\n{}", r.to_text());
        for u in &app.unknown {
            assert!(u.reason.contains("DescribeInstances"), "{u:?}");
        }
        assert!(
            app.drifts.iter().all(|d| d.kind != DriftKind::Missing),
            "{}",
            r.to_text()
        );
    }
}

/// An instance launched from an image whose `RootDeviceName` is `/dev/xvda`
/// (moto still attaches the root at `/dev/sda1`, as the demo's world showed):
/// its root volume is its own, never unmanaged; a volume attached to it by
/// hand later is unmanaged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instances_launch_volumes_are_its_own_whatever_the_device_name() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let dir = world::temp_dir("cmp-root-device");
    let w = seed(&c, &dir).await;
    let ec2 = &c.ec2;
    let images = ec2
        .describe_images()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values("amzn2-ami-hvm-*-x86_64-gp2")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let img = images.images().last().expect("moto ships amzn2 images");
    assert_eq!(img.root_device_name(), Some("/dev/xvda"));
    let out = ec2
        .run_instances()
        .image_id(img.image_id().unwrap())
        .min_count(1)
        .max_count(1)
        .subnet_id(&w.subnet)
        .send()
        .await
        .unwrap();
    let inst = out.instances()[0].clone();
    let id = inst.instance_id().unwrap().to_string();
    let live = ec2
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .clone();
    add_to_state(
        &dir,
        "aws_instance",
        "xvda",
        world::instance_state(&c, &live).await,
    );
    let volumes = |r: &driftd::report::Report| {
        lines(r)
            .into_iter()
            .filter(|l| l.starts_with("unmanaged aws_ebs_volume"))
            .count()
    };
    // One DescribeInstances: aws_instance's complete listing also tells
    // which volumes were created with their instance.
    let (r, calls) = scan_counted(&moto.url, &dir, true).await;
    assert_eq!(volumes(&r), 0, "{}", r.to_text());
    assert_eq!(calls, 1);

    let az = inst
        .placement()
        .and_then(|p| p.availability_zone())
        .unwrap()
        .to_string();
    let vol = ec2
        .create_volume()
        .availability_zone(&az)
        .size(1)
        .send()
        .await
        .unwrap();
    ec2.attach_volume()
        .volume_id(vol.volume_id().unwrap())
        .instance_id(&id)
        .device("/dev/sdg")
        .send()
        .await
        .unwrap();
    let (r, calls) = scan_counted(&moto.url, &dir, true).await;
    assert_eq!(volumes(&r), 1, "{}", r.to_text());
    assert_eq!(calls, 1);
}
