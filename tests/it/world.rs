//! Seed a world in moto and write the Terraform state that describes it,
//! the way `terraform apply` would: attributes read back from the live API.

use std::path::{Path, PathBuf};

use aws_sdk_ec2::types::{
    Filter, Instance, InstanceType, IpPermission, IpRange, ResourceType, SecurityGroup, Tag,
    TagSpecification,
};
use aws_sdk_s3::types::{
    BucketVersioningStatus, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tagging, VersioningConfiguration,
};
use driftd::aws::Clients;
use serde_json::{json, Value};

pub const ACCOUNT: &str = "123456789012";

/// A Terraform state file under construction.
#[derive(Default)]
pub struct StateBuilder {
    resources: Vec<Value>,
}

impl StateBuilder {
    pub fn add(
        &mut self,
        module: Option<&str>,
        rtype: &str,
        name: &str,
        index: Option<Value>,
        attrs: Value,
    ) -> &mut Self {
        self.add_sensitive(module, rtype, name, index, attrs, json!([]))
    }

    pub fn add_sensitive(
        &mut self,
        module: Option<&str>,
        rtype: &str,
        name: &str,
        index: Option<Value>,
        attrs: Value,
        sensitive: Value,
    ) -> &mut Self {
        let mut inst =
            json!({"schema_version": 0, "attributes": attrs, "sensitive_attributes": sensitive});
        if let Some(i) = index {
            inst["index_key"] = i;
        }
        // Resources of one block share one entry (count / for_each).
        if let Some(r) = self.resources.iter_mut().find(|r| {
            r["type"] == rtype
                && r["name"] == name
                && r.get("module").and_then(Value::as_str) == module
        }) {
            r["instances"].as_array_mut().unwrap().push(inst);
            return self;
        }
        let mut r = json!({
            "mode": "managed", "type": rtype, "name": name,
            "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
            "instances": [inst],
        });
        if let Some(m) = module {
            r["module"] = json!(m);
        }
        self.resources.push(r);
        self
    }

    pub fn json(&self) -> Value {
        json!({"version": 4, "terraform_version": "1.6.6", "serial": 7, "lineage": "4f1c-test",
               "outputs": {}, "resources": self.resources})
    }

    pub fn write(&self, path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec_pretty(&self.json()).unwrap()).unwrap();
    }
}

pub fn tags_json(tags: &[Tag]) -> Value {
    Value::Object(
        tags.iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    json!(t.value().unwrap_or_default()),
                )
            })
            .collect(),
    )
}

fn ec2_tags(rt: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(
            pairs
                .iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .build()
}

pub fn perm_tcp(port: i32, cidr: &str, desc: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip(cidr).description(desc).build())
        .build()
}

/// Terraform's inline rule blocks for a group's permissions, as the provider writes them.
pub fn rule_blocks(perms: &[IpPermission]) -> Value {
    let mut out = Vec::new();
    for p in perms {
        let proto = p.ip_protocol().unwrap_or("-1");
        let (from, to) = (p.from_port().unwrap_or(0), p.to_port().unwrap_or(0));
        for r in p.ip_ranges() {
            out.push(json!({"cidr_blocks": [r.cidr_ip().unwrap_or_default()], "ipv6_cidr_blocks": [],
                "prefix_list_ids": [], "security_groups": [], "self": false, "protocol": proto,
                "from_port": from, "to_port": to, "description": r.description().unwrap_or_default()}));
        }
        for g in p.user_id_group_pairs() {
            out.push(json!({"cidr_blocks": [], "ipv6_cidr_blocks": [], "prefix_list_ids": [],
                "security_groups": [g.group_id().unwrap_or_default()], "self": false, "protocol": proto,
                "from_port": from, "to_port": to, "description": g.description().unwrap_or_default()}));
        }
    }
    Value::Array(out)
}

pub fn sg_state(g: &SecurityGroup) -> Value {
    let id = g.group_id().unwrap();
    json!({
        "id": id, "arn": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{id}"),
        "name": g.group_name(), "description": g.description(), "vpc_id": g.vpc_id(),
        "tags": tags_json(g.tags()), "tags_all": tags_json(g.tags()),
        "ingress": rule_blocks(g.ip_permissions()), "egress": rule_blocks(g.ip_permissions_egress()),
        "revoke_rules_on_delete": false, "owner_id": ACCOUNT,
    })
}

pub async fn instance_state(c: &Clients, i: &Instance) -> Value {
    let id = i.instance_id().unwrap();
    let mo = i.metadata_options();
    let root = i.root_device_name().unwrap_or_default();
    let vol_id = i
        .block_device_mappings()
        .iter()
        .find(|b| b.device_name() == Some(root))
        .and_then(|b| b.ebs())
        .and_then(|e| e.volume_id())
        .map(str::to_string);
    let mut root_block = json!([]);
    if let Some(v) = vol_id {
        let vols = c
            .ec2
            .describe_volumes()
            .volume_ids(&v)
            .send()
            .await
            .unwrap();
        let vol = &vols.volumes()[0];
        root_block = json!([{"volume_id": v, "volume_size": vol.size(), "volume_type": vol.volume_type().map(|t| t.as_str()),
            "encrypted": vol.encrypted(), "delete_on_termination": true, "device_name": root, "kms_key_id": "", "iops": 0, "tags": {}}]);
    }
    let attr = c
        .ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::DisableApiTermination)
        .send()
        .await
        .unwrap();
    json!({
        "id": id, "arn": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{id}"),
        "ami": i.image_id(), "instance_type": i.instance_type().map(|t| t.as_str()),
        "tags": tags_json(i.tags()), "tags_all": tags_json(i.tags()),
        "vpc_security_group_ids": i.security_groups().iter().filter_map(|g| g.group_id()).collect::<Vec<_>>(),
        "security_groups": [],
        "subnet_id": i.subnet_id(), "monitoring": false, "source_dest_check": i.source_dest_check().unwrap_or(true),
        "ebs_optimized": i.ebs_optimized().unwrap_or(false), "iam_instance_profile": "", "key_name": "",
        "disable_api_termination": attr.disable_api_termination().and_then(|a| a.value()).unwrap_or(false),
        "user_data": "c2VjcmV0LXVzZXItZGF0YQ==",
        "metadata_options": mo.map(|m| json!([{
            "http_endpoint": m.http_endpoint().map(|v| v.as_str()),
            "http_tokens": m.http_tokens().map(|v| v.as_str()),
            "http_put_response_hop_limit": m.http_put_response_hop_limit(),
            "instance_metadata_tags": m.instance_metadata_tags().map(|v| v.as_str()),
        }])).unwrap_or(json!([])),
        "root_block_device": root_block,
        "private_ip": i.private_ip_address(),
    })
}

/// The seeded world.
pub struct World {
    pub vpc: String,
    pub subnet: String,
    pub sg_web: String,
    pub sg_db: String,
    pub instances: Vec<String>,
    pub vpc_rule_id: String,
    pub bucket_v3: String,
    pub bucket_v4: String,
    pub dir: PathBuf,
}

pub const POLICY_PUT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOnly","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"}]}"#;
/// The same policy as Terraform would hold it: other key order, lists, spacing.
pub const POLICY_STATE: &str = r#"{
  "Statement": [
    {"Action": ["s3:GetObject"], "Effect": "Allow", "Principal": {"AWS": "*"},
     "Resource": ["arn:aws:s3:::BUCKET/*"], "Sid": "ReadOnly"}
  ],
  "Version": "2012-10-17"
}"#;

pub async fn run_instance(c: &Clients, subnet: &str, sg: &str, name: &str, itype: &str) -> String {
    let out = c
        .ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::from(itype))
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .security_group_ids(sg)
        .tag_specifications(ec2_tags(
            ResourceType::Instance,
            &[("Name", name), ("Team", "web")],
        ))
        .send()
        .await
        .unwrap();
    out.instances()[0].instance_id().unwrap().to_string()
}

/// Seed: a VPC and subnet; groups `web` (inline rules plus a standalone
/// `aws_security_group_rule`) and `db` (a `aws_vpc_security_group_ingress_rule`);
/// two instances; a provider-v3 bucket with inline blocks and a provider-v4
/// bucket with split resources. Then write `network.tfstate` and `app.tfstate`.
pub async fn seed(c: &Clients, dir: &Path) -> World {
    let ec2 = &c.ec2;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.1.1.0/24")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let mk_sg = |name: &'static str| {
        let vpc = vpc.clone();
        async move {
            ec2.create_security_group()
                .group_name(name)
                .description(format!("{name} tier"))
                .vpc_id(vpc)
                .tag_specifications(ec2_tags(ResourceType::SecurityGroup, &[("Name", name)]))
                .send()
                .await
                .unwrap()
                .group_id()
                .unwrap()
                .to_string()
        }
    };
    let sg_web = mk_sg("web").await;
    let sg_db = mk_sg("db").await;
    ec2.authorize_security_group_ingress()
        .group_id(&sg_web)
        .ip_permissions(perm_tcp(443, "0.0.0.0/0", "https"))
        .send()
        .await
        .unwrap();
    // Managed by a standalone aws_security_group_rule:
    ec2.authorize_security_group_ingress()
        .group_id(&sg_web)
        .ip_permissions(perm_tcp(8080, "10.0.0.0/8", "internal"))
        .send()
        .await
        .unwrap();
    // Managed by an aws_vpc_security_group_ingress_rule:
    let vr = ec2
        .authorize_security_group_ingress()
        .group_id(&sg_db)
        .ip_permissions(perm_tcp(5432, "10.1.0.0/16", "postgres"))
        .send()
        .await
        .unwrap();
    let vpc_rule_id = vr.security_group_rules()[0]
        .security_group_rule_id()
        .unwrap()
        .to_string();

    let mut instances = Vec::new();
    for n in 0..2 {
        instances.push(run_instance(c, &subnet, &sg_web, &format!("web-{n}"), "t3.micro").await);
    }

    let s3 = &c.s3;
    let bucket_v3 = "logs-v3".to_string();
    let bucket_v4 = "assets-v4".to_string();
    for b in [&bucket_v3, &bucket_v4] {
        s3.create_bucket().bucket(b).send().await.unwrap();
        s3.put_bucket_tagging()
            .bucket(b)
            .tagging(
                Tagging::builder()
                    .tag_set(
                        aws_sdk_s3::types::Tag::builder()
                            .key("Owner")
                            .value("platform")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        s3.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        s3.put_bucket_encryption()
            .bucket(b)
            .server_side_encryption_configuration(sse(ServerSideEncryption::Aes256))
            .send()
            .await
            .unwrap();
        s3.put_bucket_policy()
            .bucket(b)
            .policy(POLICY_PUT.replace("BUCKET", b))
            .send()
            .await
            .unwrap();
    }
    s3.put_public_access_block()
        .bucket(&bucket_v4)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let world = World {
        vpc,
        subnet,
        sg_web,
        sg_db,
        instances,
        vpc_rule_id,
        bucket_v3,
        bucket_v4,
        dir: dir.to_path_buf(),
    };
    write_state(c, &world).await;
    world
}

pub fn sse(alg: ServerSideEncryption) -> ServerSideEncryptionConfiguration {
    let mut d = ServerSideEncryptionByDefault::builder().sse_algorithm(alg.clone());
    if alg == ServerSideEncryption::AwsKms {
        d = d.kms_master_key_id("arn:aws:kms:us-east-1:123456789012:key/abc");
    }
    ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(d.build().unwrap())
                .build(),
        )
        .build()
        .unwrap()
}

async fn write_state(c: &Clients, w: &World) {
    let groups = c
        .ec2
        .describe_security_groups()
        .group_ids(&w.sg_web)
        .group_ids(&w.sg_db)
        .send()
        .await
        .unwrap();
    let mut net = StateBuilder::default();
    for g in groups.security_groups() {
        let name = g.group_name().unwrap();
        let mut attrs = sg_state(g);
        if name == "web" {
            // As Terraform writes it when the 8080 rule lives in its own resource
            // (before a refresh folds it into the group).
            attrs["ingress"] = rule_blocks(&[perm_tcp(443, "0.0.0.0/0", "https")]);
        }
        if name == "db" {
            attrs["ingress"] = json!([]);
        }
        net.add(None, "aws_security_group", name, None, attrs);
    }
    net.add(
        None,
        "aws_security_group_rule",
        "web_internal",
        None,
        json!({"id": "sgrule-1234567", "type": "ingress", "security_group_id": w.sg_web, "protocol": "tcp",
               "from_port": 8080, "to_port": 8080, "cidr_blocks": ["10.0.0.0/8"], "ipv6_cidr_blocks": [],
               "prefix_list_ids": [], "self": false, "source_security_group_id": null, "description": "internal"}),
    );
    net.add(
        Some("module.db"),
        "aws_vpc_security_group_ingress_rule",
        "postgres",
        None,
        json!({"id": w.vpc_rule_id, "security_group_rule_id": w.vpc_rule_id, "security_group_id": w.sg_db,
               "ip_protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_ipv4": "10.1.0.0/16",
               "cidr_ipv6": null, "prefix_list_id": null, "referenced_security_group_id": null,
               "description": "postgres", "tags": null, "tags_all": {}}),
    );
    // The VPC and subnet, as the provider writes them (attributes it always sets).
    let vpcs = c.ec2.describe_vpcs().vpc_ids(&w.vpc).send().await.unwrap();
    let v = &vpcs.vpcs()[0];
    net.add(
        None,
        "aws_vpc",
        "main",
        None,
        json!({"id": w.vpc, "arn": format!("arn:aws:ec2:us-east-1:123456789012:vpc/{}", w.vpc),
               "cidr_block": v.cidr_block().unwrap(), "instance_tenancy": "default",
               "ipv6_cidr_block": "", "assign_generated_ipv6_cidr_block": false,
               "tags": {}, "tags_all": {}}),
    );
    let subnets = c
        .ec2
        .describe_subnets()
        .subnet_ids(&w.subnet)
        .send()
        .await
        .unwrap();
    let sn = &subnets.subnets()[0];
    net.add(
        None,
        "aws_subnet",
        "a",
        None,
        json!({"id": w.subnet, "vpc_id": w.vpc, "cidr_block": sn.cidr_block().unwrap(),
               "availability_zone": sn.availability_zone().unwrap(),
               "map_public_ip_on_launch": false, "assign_ipv6_address_on_creation": false,
               "ipv6_cidr_block": "", "tags": null, "tags_all": {}}),
    );
    net.write(&w.dir.join("network.tfstate"));

    let mut app = StateBuilder::default();
    let resp = c
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-id")
                .set_values(Some(w.instances.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut insts: Vec<Instance> = resp
        .reservations()
        .iter()
        .flat_map(|r| r.instances().to_vec())
        .collect();
    insts.sort_by_key(|i| {
        w.instances
            .iter()
            .position(|x| Some(x.as_str()) == i.instance_id())
    });
    for (n, i) in insts.iter().enumerate() {
        let attrs = instance_state(c, i).await;
        app.add_sensitive(
            None,
            "aws_instance",
            "web",
            Some(json!(n)),
            attrs,
            json!([[{"type": "get_attr", "value": "user_data"}]]),
        );
    }
    let b3 = &w.bucket_v3;
    app.add(
        None,
        "aws_s3_bucket",
        "logs",
        None,
        json!({"id": b3, "bucket": b3, "arn": format!("arn:aws:s3:::{b3}"), "region": "us-east-1",
               "acl": "private", "tags": {"Owner": "platform"}, "tags_all": {"Owner": "platform"},
               "versioning": [{"enabled": true, "mfa_delete": false}],
               "server_side_encryption_configuration": [{"rule": [{"apply_server_side_encryption_by_default":
                   [{"sse_algorithm": "AES256", "kms_master_key_id": ""}], "bucket_key_enabled": false}]}],
               "policy": POLICY_STATE.replace("BUCKET", b3)}),
    );
    let b4 = &w.bucket_v4;
    let m = Some("module.assets");
    app.add(
        m,
        "aws_s3_bucket",
        "this",
        None,
        json!({"id": b4, "bucket": b4, "arn": format!("arn:aws:s3:::{b4}"), "region": "us-east-1",
               "tags": {"Owner": "platform"}, "tags_all": {"Owner": "platform"},
               "versioning": [{"enabled": true, "mfa_delete": false}],
               "server_side_encryption_configuration": [{"rule": [{"apply_server_side_encryption_by_default":
                   [{"sse_algorithm": "AES256", "kms_master_key_id": ""}], "bucket_key_enabled": false}]}],
               "policy": ""}),
    );
    app.add(m, "aws_s3_bucket_versioning", "this", None,
        json!({"id": b4, "bucket": b4, "versioning_configuration": [{"status": "Enabled", "mfa_delete": ""}]}));
    app.add(
        m,
        "aws_s3_bucket_server_side_encryption_configuration",
        "this",
        None,
        json!({"id": b4, "bucket": b4, "rule": [{"apply_server_side_encryption_by_default":
            [{"sse_algorithm": "AES256", "kms_master_key_id": ""}], "bucket_key_enabled": false}]}),
    );
    app.add(
        m,
        "aws_s3_bucket_public_access_block",
        "this",
        None,
        json!({"id": b4, "bucket": b4, "block_public_acls": true, "block_public_policy": true,
               "ignore_public_acls": true, "restrict_public_buckets": true}),
    );
    app.add(
        m,
        "aws_s3_bucket_policy",
        "this",
        None,
        json!({"id": b4, "bucket": b4, "policy": POLICY_STATE.replace("BUCKET", b4)}),
    );
    app.write(&w.dir.join("app.tfstate"));
}

/// A config with two stacks (network, app) against `endpoint`.
pub fn config_text(endpoint: &str) -> String {
    format!(
        r#"[scan]
concurrency = 4
max_attempts = 2

[[stacks]]
name = "network"
state = "network.tfstate"
regions = ["us-east-1"]
endpoint_url = "{endpoint}"

[[stacks]]
name = "app"
state = ["app.tfstate"]
regions = ["us-east-1"]
endpoint_url = "{endpoint}"
"#
    )
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("driftd-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Set one tag on an EC2 resource (out-of-band drift in tests).
pub async fn tag_instance(c: &Clients, id: &str, key: &str, value: &str) {
    c.ec2
        .create_tags()
        .resources(id)
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .unwrap();
}

/// One full pipeline run (scan, decide, act) with the test client options.
pub async fn run_pipeline(
    config: &str,
    dir: &Path,
    env: &driftd::env::MapEnv,
    dry_run: bool,
) -> driftd::report::Report {
    let cfg = driftd::config::parse(config, &dir.join("driftd.toml"), env)
        .unwrap_or_else(|e| panic!("{e}"));
    let options = driftd::pipeline::RunOptions {
        scan: driftd::scan::ScanOptions {
            client: crate::moto::client_options(),
            ..Default::default()
        },
        dry_run,
    };
    driftd::pipeline::run(&cfg, &options, &driftd::aws::ApiCalls::new(), env).await
}
