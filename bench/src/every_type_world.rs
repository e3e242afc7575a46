//! One moto world holding every registered type moto 5.1.22 can serve, and
//! the minimal call set of one scan of it.
//!
//! Shared by the `every_type` benchmark binary (`bench/src/bin/every_type.rs`)
//! and the integration test `tests/it/every_type.rs` (both include this file
//! with `#[path]`), so the table in `bench/RESULTS.md` and the test's
//! assertion are about the same world.
//!
//! The world is about calls, not about attributes: every type is seeded for
//! real (so its reads answer with a resource), and its state resource
//! carries the ids and the links its reads are driven by (parents, buckets,
//! declared configurations); attributes not written from the live answer may
//! show as drift, which does not change a call. The minimal set is written
//! by hand from the API, independent of driftd's registry: one listing per
//! `Describe*` per scope (a small world fits one page), one `ListBuckets`,
//! and per managed bucket one `Get*` per configuration its state declares
//! (inline or split, the same call once); plus the reads the API has no
//! batched form of: `DescribeVpcAttribute` per VPC and declared attribute,
//! and the latest versions of all launch templates in one call.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, FlowLogsResourceType, InstanceType, IpPermission,
    IpRange, LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataOptionsRequest,
    LogDestinationType, NewDhcpConfiguration, PortRange, RequestLaunchTemplateData, RuleAction,
    Tag, TrafficType, UserIdGroupPair, VolumeType, VpcEndpointType,
};
use aws_sdk_s3::types::{
    BucketAccelerateStatus, BucketCannedAcl, BucketLifecycleConfiguration, BucketLoggingStatus,
    BucketVersioningStatus, CorsConfiguration, CorsRule, DefaultRetention, DeleteMarkerReplication,
    DeleteMarkerReplicationStatus, Destination, ErrorDocument, IndexDocument,
    InventoryConfiguration, InventoryDestination, InventoryFormat, InventoryFrequency,
    InventoryIncludedObjectVersions, InventoryS3BucketDestination, InventorySchedule,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, LoggingEnabled,
    NotificationConfiguration, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
    ObjectLockRule, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, QueueConfiguration, ReplicationConfiguration, ReplicationRule,
    ReplicationRuleFilter, ReplicationRuleStatus, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag as S3Tag, Tagging, VersioningConfiguration, WebsiteConfiguration,
};
use driftd::aws::Clients;
use serde_json::{json, Value};

/// The scan's one region.
pub const REGION: &str = "us-east-1";
/// moto's account.
pub const ACCOUNT: &str = "123456789012";

/// Registered types the world does not hold, and why: never dropped silently
/// (a test checks that every registered type is in the world or here).
pub const NOT_SEEDED: &[(&str, &str)] = &[
    (
        "aws_placement_group",
        "moto 5.1.22 does not implement CreatePlacementGroup / DescribePlacementGroups (tested with recorded answers)",
    ),
    (
        "aws_s3_bucket_request_payment_configuration",
        "moto 5.1.22 answers GetBucketRequestPayment with an error (the type is unknown, never compared, there)",
    ),
    (
        "aws_s3_bucket_intelligent_tiering_configuration",
        "moto 5.1.22 drops PutBucketIntelligentTieringConfiguration (tested with recorded answers)",
    ),
    (
        "aws_s3_bucket_analytics_configuration",
        "moto 5.1.22 drops PutBucketAnalyticsConfiguration (tested with recorded answers)",
    ),
    (
        "aws_s3_bucket_metric",
        "moto 5.1.22 drops PutBucketMetricsConfiguration (tested with recorded answers)",
    ),
];

/// The API call a type's live data needs, as the API offers it.
#[derive(Debug, Clone, Copy)]
enum Call {
    /// One paginated listing per scope, shared by every type it serves.
    Scope(&'static str),
    /// One call per managed bucket declaring the type.
    PerBucket(&'static str),
    /// One call per resource and per attribute of these its state declares
    /// (the API reads one attribute a call).
    PerAttribute(&'static str, &'static [&'static str]),
}

/// VPC attributes `DescribeVpcs` does not answer.
const VPC_ATTRIBUTES: &[&str] = &["enable_dns_support", "enable_dns_hostnames"];

/// Hand-written from the EC2 and S3 APIs: which call serves each seeded type.
/// `aws_s3_bucket` is special (its inline blocks): see [`minimal`].
const CALLS: &[(&str, Call)] = &[
    ("aws_instance", Call::Scope("DescribeInstances")),
    ("aws_ec2_instance_state", Call::Scope("DescribeInstances")),
    ("aws_security_group", Call::Scope("DescribeSecurityGroups")),
    (
        "aws_security_group_rule",
        Call::Scope("DescribeSecurityGroups"),
    ),
    (
        "aws_vpc_security_group_ingress_rule",
        Call::Scope("DescribeSecurityGroupRules"),
    ),
    (
        "aws_vpc_security_group_egress_rule",
        Call::Scope("DescribeSecurityGroupRules"),
    ),
    ("aws_vpc", Call::Scope("DescribeVpcs")),
    (
        "aws_vpc",
        Call::PerAttribute("DescribeVpcAttribute", VPC_ATTRIBUTES),
    ),
    ("aws_default_vpc", Call::Scope("DescribeVpcs")),
    (
        "aws_default_vpc",
        Call::PerAttribute("DescribeVpcAttribute", VPC_ATTRIBUTES),
    ),
    (
        "aws_vpc_ipv4_cidr_block_association",
        Call::Scope("DescribeVpcs"),
    ),
    (
        "aws_vpc_dhcp_options_association",
        Call::Scope("DescribeVpcs"),
    ),
    ("aws_subnet", Call::Scope("DescribeSubnets")),
    ("aws_default_subnet", Call::Scope("DescribeSubnets")),
    (
        "aws_internet_gateway",
        Call::Scope("DescribeInternetGateways"),
    ),
    ("aws_route_table", Call::Scope("DescribeRouteTables")),
    (
        "aws_default_route_table",
        Call::Scope("DescribeRouteTables"),
    ),
    ("aws_route", Call::Scope("DescribeRouteTables")),
    (
        "aws_route_table_association",
        Call::Scope("DescribeRouteTables"),
    ),
    (
        "aws_main_route_table_association",
        Call::Scope("DescribeRouteTables"),
    ),
    ("aws_nat_gateway", Call::Scope("DescribeNatGateways")),
    ("aws_eip", Call::Scope("DescribeAddresses")),
    ("aws_eip_association", Call::Scope("DescribeAddresses")),
    ("aws_network_acl", Call::Scope("DescribeNetworkAcls")),
    (
        "aws_default_network_acl",
        Call::Scope("DescribeNetworkAcls"),
    ),
    ("aws_network_acl_rule", Call::Scope("DescribeNetworkAcls")),
    (
        "aws_network_acl_association",
        Call::Scope("DescribeNetworkAcls"),
    ),
    ("aws_ebs_volume", Call::Scope("DescribeVolumes")),
    ("aws_volume_attachment", Call::Scope("DescribeVolumes")),
    (
        "aws_network_interface",
        Call::Scope("DescribeNetworkInterfaces"),
    ),
    (
        "aws_network_interface_sg_attachment",
        Call::Scope("DescribeNetworkInterfaces"),
    ),
    ("aws_key_pair", Call::Scope("DescribeKeyPairs")),
    (
        "aws_launch_template",
        Call::Scope("DescribeLaunchTemplates"),
    ),
    // The latest version of every template in one call (`$Latest`, no id).
    (
        "aws_launch_template",
        Call::Scope("DescribeLaunchTemplateVersions"),
    ),
    ("aws_ami", Call::Scope("DescribeImages")),
    ("aws_ebs_snapshot", Call::Scope("DescribeSnapshots")),
    (
        "aws_placement_group",
        Call::Scope("DescribePlacementGroups"),
    ),
    (
        "aws_ebs_encryption_by_default",
        Call::Scope("GetEbsEncryptionByDefault"),
    ),
    (
        "aws_default_security_group",
        Call::Scope("DescribeSecurityGroups"),
    ),
    ("aws_vpc_endpoint", Call::Scope("DescribeVpcEndpoints")),
    (
        "aws_egress_only_internet_gateway",
        Call::Scope("DescribeEgressOnlyInternetGateways"),
    ),
    ("aws_vpc_dhcp_options", Call::Scope("DescribeDhcpOptions")),
    (
        "aws_vpc_peering_connection",
        Call::Scope("DescribeVpcPeeringConnections"),
    ),
    ("aws_flow_log", Call::Scope("DescribeFlowLogs")),
    (
        "aws_s3_bucket_versioning",
        Call::PerBucket("GetBucketVersioning"),
    ),
    (
        "aws_s3_bucket_server_side_encryption_configuration",
        Call::PerBucket("GetBucketEncryption"),
    ),
    (
        "aws_s3_bucket_public_access_block",
        Call::PerBucket("GetPublicAccessBlock"),
    ),
    ("aws_s3_bucket_policy", Call::PerBucket("GetBucketPolicy")),
    (
        "aws_s3_bucket_ownership_controls",
        Call::PerBucket("GetBucketOwnershipControls"),
    ),
    (
        "aws_s3_bucket_accelerate_configuration",
        Call::PerBucket("GetBucketAccelerateConfiguration"),
    ),
    ("aws_s3_bucket_logging", Call::PerBucket("GetBucketLogging")),
    (
        "aws_s3_bucket_cors_configuration",
        Call::PerBucket("GetBucketCors"),
    ),
    (
        "aws_s3_bucket_website_configuration",
        Call::PerBucket("GetBucketWebsite"),
    ),
    ("aws_s3_bucket_acl", Call::PerBucket("GetBucketAcl")),
    (
        "aws_s3_bucket_lifecycle_configuration",
        Call::PerBucket("GetBucketLifecycleConfiguration"),
    ),
    (
        "aws_s3_bucket_notification",
        Call::PerBucket("GetBucketNotificationConfiguration"),
    ),
    (
        "aws_s3_bucket_replication_configuration",
        Call::PerBucket("GetBucketReplication"),
    ),
    (
        "aws_s3_bucket_object_lock_configuration",
        Call::PerBucket("GetObjectLockConfiguration"),
    ),
    (
        "aws_s3_bucket_inventory",
        Call::PerBucket("ListBucketInventoryConfigurations"),
    ),
];

/// Calls driftd makes beyond the minimal set today, per operation, and why
/// (the table shows them as not equal; the test holds driftd to the minimal
/// set plus exactly these, so any other change of a count fails it).
pub const KNOWN_EXCESS: &[(&str, u64, &str)] = &[];

/// The seeded world: its Terraform state and what it holds.
pub struct EveryTypeWorld {
    /// A Terraform v4 state with every seeded resource.
    pub state: Value,
}

impl EveryTypeWorld {
    /// The types the state holds.
    pub fn types(&self) -> BTreeSet<String> {
        resources(&self.state).map(|(t, _)| t.to_string()).collect()
    }

    /// The minimal call set of one scan of this world, per operation.
    pub fn minimal(&self) -> BTreeMap<String, u64> {
        minimal(&self.state)
    }
}

/// (type, attributes) of every resource instance of a state.
fn resources(state: &Value) -> impl Iterator<Item = (&str, &Value)> {
    state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| {
            let t = r["type"].as_str().unwrap_or_default();
            r["instances"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |i| (t, &i["attributes"]))
        })
}

fn declared(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The minimal call set of one scan of `state` (one scope), per operation.
pub fn minimal(state: &Value) -> BTreeMap<String, u64> {
    let mut scope: BTreeSet<&str> = BTreeSet::new();
    let mut per_bucket: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut per_attribute: BTreeMap<&str, u64> = BTreeMap::new();
    for (t, a) in resources(state) {
        let bucket = a["bucket"].as_str().unwrap_or_default().to_string();
        if t == "aws_s3_bucket" {
            scope.insert("ListBuckets");
            per_bucket
                .entry("GetBucketTagging")
                .or_default()
                .insert(bucket.clone());
            for (attr, op) in [
                ("versioning", "GetBucketVersioning"),
                (
                    "server_side_encryption_configuration",
                    "GetBucketEncryption",
                ),
                ("policy", "GetBucketPolicy"),
            ] {
                if declared(&a[attr]) {
                    per_bucket.entry(op).or_default().insert(bucket.clone());
                }
            }
            continue;
        }
        let calls: Vec<Call> = CALLS
            .iter()
            .filter(|(n, _)| *n == t)
            .map(|(_, c)| *c)
            .collect();
        assert!(!calls.is_empty(), "{t}: no call in the minimal set's table");
        for call in calls {
            match call {
                Call::Scope(op) => {
                    scope.insert(op);
                }
                Call::PerBucket(op) => {
                    per_bucket.entry(op).or_default().insert(bucket.clone());
                }
                Call::PerAttribute(op, attrs) => {
                    let n = attrs.iter().filter(|k| declared(&a[**k])).count() as u64;
                    *per_attribute.entry(op).or_default() += n;
                }
            }
        }
    }
    let mut out: BTreeMap<String, u64> = scope.into_iter().map(|op| (op.into(), 1)).collect();
    for (op, n) in per_attribute.into_iter().filter(|(_, n)| *n > 0) {
        out.insert(op.into(), n);
    }
    for (op, buckets) in per_bucket {
        out.insert(op.into(), buckets.len() as u64);
    }
    out
}

/// A Terraform v4 state under construction.
#[derive(Default)]
struct State(Vec<Value>);

impl State {
    fn add(&mut self, rtype: &str, name: &str, attrs: Value) {
        self.0.push(json!({
            "mode": "managed", "type": rtype, "name": name,
            "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
            "instances": [{"schema_version": 0, "attributes": attrs, "sensitive_attributes": []}],
        }));
    }

    fn json(self) -> Value {
        json!({"version": 4, "terraform_version": "1.9.0", "serial": 1,
               "lineage": "every-type", "outputs": {}, "resources": self.0})
    }
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn filter(name: &str, v: &str) -> Filter {
    Filter::builder().name(name).values(v).build()
}

fn yes() -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(true).build()
}

/// A Terraform `tags` map.
fn tags(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    )
}

/// Buckets of the world: `main` holds every split configuration, `inline`
/// the provider-v3 inline blocks, `logs` receives the access logs, `dr` the
/// replicas, `locked` has object lock (moto serves it only on buckets created
/// with it).
pub const BUCKETS: [&str; 5] = [
    "every-type-main",
    "every-type-inline",
    "every-type-logs",
    "every-type-dr",
    "every-type-locked",
];

/// Seed moto with the world (a fresh moto: ids and names are fixed).
pub async fn seed(c: &Clients) -> EveryTypeWorld {
    let mut st = State::default();
    seed_ec2(c, &mut st).await;
    seed_s3(c, &mut st).await;
    EveryTypeWorld { state: st.json() }
}

async fn seed_ec2(c: &Clients, st: &mut State) {
    let ec2 = &c.ec2;
    // Network: a VPC with a subnet, gateway, two route tables, NAT, NACL.
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.30.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(yes())
        .send()
        .await
        .unwrap();
    st.add(
        "aws_vpc",
        "main",
        json!({"id": vpc, "cidr_block": "10.30.0.0/16", "instance_tenancy": "default",
               "enable_dns_support": true, "enable_dns_hostnames": true, "tags": {}}),
    );
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.30.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap()
        .subnet
        .unwrap()
        .subnet_id
        .unwrap();
    st.add(
        "aws_subnet",
        "a",
        json!({"id": subnet, "vpc_id": vpc, "cidr_block": "10.30.1.0/24",
               "availability_zone": "us-east-1a", "map_public_ip_on_launch": false, "tags": {}}),
    );
    let cidr_assoc = ec2
        .associate_vpc_cidr_block()
        .vpc_id(&vpc)
        .cidr_block("10.31.0.0/16")
        .send()
        .await
        .unwrap()
        .cidr_block_association
        .unwrap()
        .association_id
        .unwrap();
    st.add(
        "aws_vpc_ipv4_cidr_block_association",
        "secondary",
        json!({"id": cidr_assoc, "vpc_id": vpc, "cidr_block": "10.31.0.0/16"}),
    );
    let dopt = ec2
        .create_dhcp_options()
        .dhcp_configurations(
            NewDhcpConfiguration::builder()
                .key("domain-name")
                .values("corp.internal")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .dhcp_options
        .unwrap()
        .dhcp_options_id
        .unwrap();
    ec2.associate_dhcp_options()
        .dhcp_options_id(&dopt)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    st.add(
        "aws_vpc_dhcp_options_association",
        "corp",
        json!({"id": format!("{dopt}-{vpc}"), "vpc_id": vpc, "dhcp_options_id": dopt}),
    );
    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway
        .unwrap()
        .internet_gateway_id
        .unwrap();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    st.add(
        "aws_internet_gateway",
        "gw",
        json!({"id": igw, "vpc_id": vpc, "tags": {}}),
    );
    let mut tables = Vec::new();
    for _ in 0..2 {
        tables.push(
            ec2.create_route_table()
                .vpc_id(&vpc)
                .send()
                .await
                .unwrap()
                .route_table
                .unwrap()
                .route_table_id
                .unwrap(),
        );
    }
    let (rtb_pub, rtb_priv) = (tables[0].clone(), tables[1].clone());
    for (rtb, cidr) in [(&rtb_pub, "0.0.0.0/0"), (&rtb_priv, "192.168.0.0/16")] {
        ec2.create_route()
            .route_table_id(rtb)
            .destination_cidr_block(cidr)
            .gateway_id(&igw)
            .send()
            .await
            .unwrap();
    }
    st.add(
        "aws_route_table",
        "public",
        json!({"id": rtb_pub, "vpc_id": vpc, "propagating_vgws": [], "tags": {},
               "route": [{"cidr_block": "0.0.0.0/0", "gateway_id": igw}]}),
    );
    st.add(
        "aws_route",
        "private_peer",
        json!({"id": format!("r-{rtb_priv}1080289494"), "route_table_id": rtb_priv,
               "destination_cidr_block": "192.168.0.0/16", "gateway_id": igw}),
    );
    let assoc = ec2
        .associate_route_table()
        .route_table_id(&rtb_pub)
        .subnet_id(&subnet)
        .send()
        .await
        .unwrap()
        .association_id
        .unwrap();
    st.add(
        "aws_route_table_association",
        "a",
        json!({"id": assoc, "route_table_id": rtb_pub, "subnet_id": subnet, "gateway_id": ""}),
    );
    let main = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", &vpc))
        .filters(filter("association.main", "true"))
        .send()
        .await
        .unwrap()
        .route_tables()[0]
        .clone();
    let main_id = main.route_table_id().unwrap().to_string();
    let main_assoc = main.associations()[0]
        .route_table_association_id()
        .unwrap()
        .to_string();
    st.add(
        "aws_default_route_table",
        "main",
        json!({"id": main_id, "default_route_table_id": main_id, "vpc_id": vpc,
               "route": [], "propagating_vgws": [], "tags": {}}),
    );
    st.add(
        "aws_main_route_table_association",
        "main",
        json!({"id": main_assoc, "vpc_id": vpc, "route_table_id": main_id,
               "original_route_table_id": main_id}),
    );
    let alloc = || async {
        ec2.allocate_address()
            .domain(DomainType::Vpc)
            .send()
            .await
            .unwrap()
            .allocation_id
            .unwrap()
    };
    let eip_nat = alloc().await;
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&subnet)
        .allocation_id(&eip_nat)
        .send()
        .await
        .unwrap()
        .nat_gateway
        .unwrap()
        .nat_gateway_id
        .unwrap();
    st.add(
        "aws_nat_gateway",
        "nat",
        json!({"id": nat, "subnet_id": subnet, "connectivity_type": "public",
               "allocation_id": eip_nat, "tags": {}}),
    );
    st.add(
        "aws_eip",
        "nat",
        json!({"id": eip_nat, "allocation_id": eip_nat, "domain": "vpc", "tags": {}}),
    );
    // Security groups: inline rules, a legacy standalone rule, VPC rules.
    let sg = ec2
        .create_security_group()
        .group_name("web")
        .description("web")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let sg_db = ec2
        .create_security_group()
        .group_name("db")
        .description("db")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let perm = |port: i32, cidr: &str| {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build()
    };
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(perm(443, "0.0.0.0/0"))
        .ip_permissions(perm(22, "10.0.0.0/8"))
        .send()
        .await
        .unwrap();
    st.add(
        "aws_security_group",
        "web",
        json!({"id": sg, "name": "web", "description": "web", "vpc_id": vpc, "tags": {},
               "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443,
                            "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": [],
                            "prefix_list_ids": [], "security_groups": [], "self": false,
                            "description": ""}],
               "egress": []}),
    );
    st.add(
        "aws_security_group_rule",
        "ssh",
        json!({"id": "sgrule-1", "security_group_id": sg, "type": "ingress", "protocol": "tcp",
               "from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8"],
               "ipv6_cidr_blocks": [], "prefix_list_ids": [], "self": false,
               "source_security_group_id": null, "description": ""}),
    );
    let rule_ids = ec2
        .authorize_security_group_ingress()
        .group_id(&sg_db)
        .ip_permissions(perm(5432, "10.30.0.0/16"))
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .iter()
        .filter_map(|r| r.security_group_rule_id().map(str::to_string))
        .collect::<Vec<_>>();
    st.add(
        "aws_security_group",
        "db",
        json!({"id": sg_db, "name": "db", "description": "db", "vpc_id": vpc, "tags": {}}),
    );
    st.add(
        "aws_vpc_security_group_ingress_rule",
        "pg",
        json!({"id": rule_ids.first().cloned().unwrap_or_default(), "security_group_id": sg_db,
               "ip_protocol": "tcp", "from_port": 5432, "to_port": 5432,
               "cidr_ipv4": "10.30.0.0/16", "tags": {}}),
    );
    let egress = ec2
        .describe_security_group_rules()
        .filters(filter("group-id", &sg_db))
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .iter()
        .find(|r| r.is_egress() == Some(true))
        .and_then(|r| r.security_group_rule_id().map(str::to_string))
        .unwrap_or_default();
    st.add(
        "aws_vpc_security_group_egress_rule",
        "all",
        json!({"id": egress, "security_group_id": sg_db, "ip_protocol": "-1",
               "cidr_ipv4": "0.0.0.0/0", "tags": {}}),
    );
    // NACL with one inline and one standalone rule, associated with the subnet.
    let acl = ec2
        .create_network_acl()
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .network_acl
        .unwrap()
        .network_acl_id
        .unwrap();
    for (n, egress) in [(100, false), (200, false)] {
        ec2.create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(n)
            .egress(egress)
            .protocol("6")
            .rule_action(RuleAction::Allow)
            .cidr_block("0.0.0.0/0")
            .port_range(PortRange::builder().from(443).to(443).build())
            .send()
            .await
            .unwrap();
    }
    let acl_assoc = ec2
        .describe_network_acls()
        .filters(filter("association.subnet-id", &subnet))
        .send()
        .await
        .unwrap()
        .network_acls()
        .iter()
        .flat_map(|a| a.associations())
        .find(|a| a.subnet_id() == Some(subnet.as_str()))
        .and_then(|a| a.network_acl_association_id().map(str::to_string))
        .unwrap();
    let acl_assoc = ec2
        .replace_network_acl_association()
        .association_id(acl_assoc)
        .network_acl_id(&acl)
        .send()
        .await
        .unwrap()
        .new_association_id
        .unwrap_or_default();
    st.add(
        "aws_network_acl",
        "private",
        json!({"id": acl, "vpc_id": vpc, "tags": {}, "subnet_ids": [subnet],
               "ingress": [{"rule_no": 100, "action": "allow", "protocol": "6",
                            "cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "",
                            "from_port": 443, "to_port": 443, "icmp_type": 0, "icmp_code": 0}],
               "egress": []}),
    );
    st.add(
        "aws_network_acl_rule",
        "https_200",
        json!({"id": "nacl-1", "network_acl_id": acl, "rule_number": 200, "egress": false,
               "protocol": "6", "rule_action": "allow", "cidr_block": "0.0.0.0/0",
               "from_port": 443, "to_port": 443}),
    );
    st.add(
        "aws_network_acl_association",
        "private",
        json!({"id": acl_assoc, "network_acl_id": acl, "subnet_id": subnet}),
    );
    // The defaults of moto's default VPC, adopted.
    let dv = ec2
        .describe_vpcs()
        .filters(filter("is-default", "true"))
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .clone();
    let dv_id = dv.vpc_id().unwrap().to_string();
    st.add(
        "aws_default_vpc",
        "default",
        json!({"id": dv_id, "cidr_block": dv.cidr_block(), "tags": {}}),
    );
    let ds = ec2
        .describe_subnets()
        .filters(filter("vpc-id", &dv_id))
        .filters(filter("availability-zone", "us-east-1a"))
        .send()
        .await
        .unwrap()
        .subnets()[0]
        .clone();
    st.add(
        "aws_default_subnet",
        "a",
        json!({"id": ds.subnet_id(), "availability_zone": "us-east-1a", "vpc_id": dv_id,
               "cidr_block": ds.cidr_block(), "tags": {}}),
    );
    let dacl = ec2
        .describe_network_acls()
        .filters(filter("vpc-id", &dv_id))
        .filters(filter("default", "true"))
        .send()
        .await
        .unwrap()
        .network_acls()[0]
        .network_acl_id()
        .unwrap()
        .to_string();
    st.add(
        "aws_default_network_acl",
        "default",
        json!({"id": dacl, "default_network_acl_id": dacl, "tags": {}}),
    );
    // Compute: an instance with its state, a volume attached to it, an
    // image and a snapshot of it, an ENI with a second group, a key pair, a
    // launch template, EBS encryption by default.
    let instance = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::T3Micro)
        .subnet_id(&subnet)
        .security_group_ids(&sg)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    st.add(
        "aws_instance",
        "web",
        json!({"id": instance, "ami": "ami-12c6146b", "instance_type": "t3.micro",
               "subnet_id": subnet, "vpc_security_group_ids": [sg], "tags": {},
               "monitoring": false, "disable_api_termination": false}),
    );
    st.add(
        "aws_ec2_instance_state",
        "web",
        json!({"id": instance, "instance_id": instance, "state": "running", "force": false}),
    );
    let vol = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(10)
        .volume_type(VolumeType::Gp3)
        .send()
        .await
        .unwrap()
        .volume_id
        .unwrap();
    ec2.attach_volume()
        .volume_id(&vol)
        .instance_id(&instance)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    st.add(
        "aws_ebs_volume",
        "data",
        json!({"id": vol, "availability_zone": "us-east-1a", "size": 10, "type": "gp3",
               "encrypted": false, "tags": {}}),
    );
    st.add(
        "aws_volume_attachment",
        "data",
        json!({"id": "vai-1", "volume_id": vol, "instance_id": instance,
               "device_name": "/dev/sdf"}),
    );
    let snap = ec2
        .create_snapshot()
        .volume_id(&vol)
        .send()
        .await
        .unwrap()
        .snapshot_id
        .unwrap();
    st.add(
        "aws_ebs_snapshot",
        "data",
        json!({"id": snap, "volume_id": vol, "encrypted": false, "tags": {}}),
    );
    let ami = ec2
        .create_image()
        .instance_id(&instance)
        .name("golden")
        .send()
        .await
        .unwrap()
        .image_id
        .unwrap();
    st.add(
        "aws_ami",
        "golden",
        json!({"id": ami, "name": "golden", "tags": {}}),
    );
    let eni = ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .description("app")
        .groups(&sg)
        .send()
        .await
        .unwrap()
        .network_interface
        .unwrap()
        .network_interface_id
        .unwrap();
    ec2.modify_network_interface_attribute()
        .network_interface_id(&eni)
        .groups(&sg)
        .groups(&sg_db)
        .send()
        .await
        .unwrap();
    st.add(
        "aws_network_interface",
        "app",
        json!({"id": eni, "subnet_id": subnet, "description": "app",
               "security_groups": [sg], "source_dest_check": true, "tags": {}}),
    );
    st.add(
        "aws_network_interface_sg_attachment",
        "db",
        json!({"id": format!("{sg_db}_{eni}"), "security_group_id": sg_db,
               "network_interface_id": eni}),
    );
    let eip_web = alloc().await;
    let eip_assoc = ec2
        .associate_address()
        .allocation_id(&eip_web)
        .network_interface_id(&eni)
        .send()
        .await
        .unwrap()
        .association_id
        .unwrap();
    st.add(
        "aws_eip",
        "web",
        json!({"id": eip_web, "allocation_id": eip_web, "domain": "vpc", "tags": {}}),
    );
    st.add(
        "aws_eip_association",
        "web",
        json!({"id": eip_assoc, "allocation_id": eip_web, "network_interface_id": eni}),
    );
    let key = ec2
        .create_key_pair()
        .key_name("deploy")
        .send()
        .await
        .unwrap();
    st.add(
        "aws_key_pair",
        "deploy",
        json!({"id": "deploy", "key_name": "deploy", "key_pair_id": key.key_pair_id(),
               "fingerprint": key.key_fingerprint(), "tags": {}}),
    );
    let lt = ec2
        .create_launch_template()
        .launch_template_name("web")
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .instance_type(InstanceType::T3Micro)
                .metadata_options(
                    LaunchTemplateInstanceMetadataOptionsRequest::builder()
                        .http_tokens(LaunchTemplateHttpTokensState::Required)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .launch_template
        .unwrap()
        .launch_template_id
        .unwrap();
    st.add(
        "aws_launch_template",
        "web",
        json!({"id": lt, "name": "web", "image_id": "ami-12c6146b",
               "instance_type": "t3.micro", "tags": {}}),
    );
    ec2.enable_ebs_encryption_by_default().send().await.unwrap();
    st.add(
        "aws_ebs_encryption_by_default",
        "on",
        json!({"id": "terraform-20260101000000000000000001", "enabled": true}),
    );
    seed_net2(c, st, &vpc, &dv_id, &rtb_pub, &dopt).await;
    ec2.create_tags()
        .resources(&vpc)
        .tags(tag("Name", "every-type"))
        .send()
        .await
        .unwrap();
}

/// The adopted default group of `vpc`, a gateway endpoint on `rtb`, an
/// egress-only gateway, the DHCP options `dopt` (already associated), a
/// peering to the default VPC and a flow log of `vpc`, each written the way
/// the provider writes it after apply (as `tests/it/coverage_net2.rs` does).
async fn seed_net2(c: &Clients, st: &mut State, vpc: &str, peer: &str, rtb: &str, dopt: &str) {
    let ec2 = &c.ec2;
    // aws_default_security_group: every rule revoked, the declared ones added.
    let default = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc))
        .filters(filter("group-name", "default"))
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    let sg = default.group_id().unwrap().to_string();
    ec2.revoke_security_group_egress()
        .group_id(&sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("-1")
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(&sg).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.authorize_security_group_egress()
        .group_id(&sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    // The self-referencing ingress is written `self = true`, as the provider does.
    st.add(
        "aws_default_security_group",
        "default",
        json!({"id": sg, "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{sg}"),
               "name": "default", "name_prefix": "",
               "description": default.description(), "vpc_id": vpc, "owner_id": ACCOUNT,
               "revoke_rules_on_delete": false, "tags": {}, "tags_all": {},
               "ingress": [{"protocol": "-1", "from_port": 0, "to_port": 0, "self": true,
                            "cidr_blocks": [], "ipv6_cidr_blocks": [], "prefix_list_ids": [],
                            "security_groups": [], "description": ""}],
               "egress": [{"protocol": "tcp", "from_port": 443, "to_port": 443,
                           "self": false, "cidr_blocks": ["10.0.0.0/8"],
                           "ipv6_cidr_blocks": [], "prefix_list_ids": [],
                           "security_groups": [], "description": ""}]}),
    );
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}/*"}}]}}"#,
        BUCKETS[0]
    );
    let endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(vpc)
        .service_name(format!("com.amazonaws.{REGION}.s3"))
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .route_table_ids(rtb)
        .policy_document(&policy)
        .send()
        .await
        .unwrap()
        .vpc_endpoint
        .unwrap();
    let endpoint_id = endpoint.vpc_endpoint_id().unwrap().to_string();
    st.add(
        "aws_vpc_endpoint",
        "s3",
        json!({"id": endpoint_id,
            "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-endpoint/{endpoint_id}"),
            "auto_accept": null, "cidr_blocks": [], "dns_entry": [], "dns_options": [],
            "ip_address_type": "", "network_interface_ids": [], "owner_id": ACCOUNT,
            "policy": endpoint.policy_document(), "prefix_list_id": "",
            "private_dns_enabled": endpoint.private_dns_enabled(), "requester_managed": false,
            "route_table_ids": [rtb], "security_group_ids": [],
            "service_name": format!("com.amazonaws.{REGION}.s3"), "state": "available",
            "subnet_configuration": [], "subnet_ids": [], "tags": {}, "tags_all": {},
            "timeouts": null, "vpc_endpoint_type": "Gateway", "vpc_id": vpc}),
    );
    let eigw = ec2
        .create_egress_only_internet_gateway()
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .egress_only_internet_gateway
        .unwrap()
        .egress_only_internet_gateway_id
        .unwrap();
    st.add(
        "aws_egress_only_internet_gateway",
        "v6",
        json!({"id": eigw, "vpc_id": vpc, "tags": {}, "tags_all": {}}),
    );
    st.add(
        "aws_vpc_dhcp_options",
        "corp",
        json!({"id": dopt, "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:dhcp-options/{dopt}"),
               "domain_name": "corp.internal", "domain_name_servers": [],
               "ipv6_address_preferred_lease_time": "", "netbios_name_servers": [],
               "netbios_node_type": "", "ntp_servers": [], "owner_id": ACCOUNT,
               "tags": {}, "tags_all": {}}),
    );
    let pcx = ec2
        .create_vpc_peering_connection()
        .vpc_id(vpc)
        .peer_vpc_id(peer)
        .send()
        .await
        .unwrap()
        .vpc_peering_connection
        .unwrap()
        .vpc_peering_connection_id
        .unwrap();
    ec2.accept_vpc_peering_connection()
        .vpc_peering_connection_id(&pcx)
        .send()
        .await
        .unwrap();
    st.add(
        "aws_vpc_peering_connection",
        "to_default",
        json!({"id": pcx, "accept_status": "active", "accepter": [], "requester": [],
               "auto_accept": null, "peer_owner_id": ACCOUNT, "peer_region": REGION,
               "peer_vpc_id": peer, "vpc_id": vpc, "tags": {}, "tags_all": {},
               "timeouts": null}),
    );
    let role = format!("arn:aws:iam::{ACCOUNT}:role/flow-logs");
    let flow_log = ec2
        .create_flow_logs()
        .resource_ids(vpc)
        .resource_type(FlowLogsResourceType::Vpc)
        .traffic_type(TrafficType::All)
        .log_destination_type(LogDestinationType::CloudWatchLogs)
        .log_group_name("vpc-flows")
        .deliver_logs_permission_arn(&role)
        .max_aggregation_interval(60)
        .send()
        .await
        .unwrap()
        .flow_log_ids()[0]
        .clone();
    let f = ec2
        .describe_flow_logs()
        .flow_log_ids(&flow_log)
        .send()
        .await
        .unwrap()
        .flow_logs()[0]
        .clone();
    st.add(
        "aws_flow_log",
        "vpc",
        json!({"id": flow_log,
            "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/{flow_log}"),
            "deliver_cross_account_role": "", "destination_options": [], "eni_id": "",
            "iam_role_arn": role, "log_destination": f.log_destination().unwrap_or_default(),
            "log_destination_type": "cloud-watch-logs", "log_format": f.log_format(),
            "log_group_name": "vpc-flows", "max_aggregation_interval": 60, "subnet_id": "",
            "tags": {}, "tags_all": {}, "traffic_type": "ALL",
            "transit_gateway_attachment_id": "", "transit_gateway_id": "", "vpc_id": vpc}),
    );
}

async fn seed_s3(c: &Clients, st: &mut State) {
    let s3 = &c.s3;
    let [main, inline, logs, dr, locked] = BUCKETS;
    for b in [main, inline, dr] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    // moto fails PutBucketLogging onto a target whose policy allows "*":
    // the target allows log delivery by ACL instead.
    s3.create_bucket()
        .bucket(logs)
        .acl(BucketCannedAcl::from("log-delivery-write"))
        .send()
        .await
        .unwrap();
    s3.create_bucket()
        .bucket(locked)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let versioning = |b: &'static str| {
        s3.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
    };
    for b in [main, inline, dr] {
        versioning(b).await.unwrap();
    }
    let team = || {
        Tagging::builder()
            .tag_set(S3Tag::builder().key("Team").value("data").build().unwrap())
            .build()
            .unwrap()
    };
    for b in BUCKETS {
        s3.put_bucket_tagging()
            .bucket(b)
            .tagging(team())
            .send()
            .await
            .unwrap();
        st.add(
            "aws_s3_bucket",
            b,
            json!({"id": b, "bucket": b, "tags": tags(&[("Team", "data")]),
                   "versioning": [], "server_side_encryption_configuration": [],
                   "policy": ""}),
        );
    }
    // The provider-v3 inline blocks of `inline`: versioning, encryption, policy.
    let sse = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap();
    for b in [main, inline] {
        s3.put_bucket_encryption()
            .bucket(b)
            .server_side_encryption_configuration(sse.clone())
            .send()
            .await
            .unwrap();
    }
    let policy = |b: &str| {
        json!({"Version": "2012-10-17", "Statement": [{"Sid": "deny-http", "Effect": "Deny",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "s3:*",
            "Resource": format!("arn:aws:s3:::{b}/*"),
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
        .to_string()
    };
    for b in [main, inline] {
        s3.put_bucket_policy()
            .bucket(b)
            .policy(policy(b))
            .send()
            .await
            .unwrap();
    }
    let sse_state = json!([{"rule": [{"apply_server_side_encryption_by_default":
        [{"sse_algorithm": "AES256", "kms_master_key_id": ""}], "bucket_key_enabled": false}]}]);
    // Replace the plain `inline` bucket with its inline blocks.
    let last =
        st.0.iter_mut()
            .find(|r| r["name"] == inline)
            .expect("the inline bucket");
    last["instances"][0]["attributes"] = json!({"id": inline, "bucket": inline,
        "tags": tags(&[("Team", "data")]),
        "versioning": [{"enabled": true, "mfa_delete": false}],
        "server_side_encryption_configuration": sse_state, "policy": policy(inline)});
    // Every split configuration on `main`.
    let add = |st: &mut State, rtype: &str, attrs: Value| {
        let mut attrs = attrs;
        attrs["bucket"] = json!(main);
        if attrs.get("id").is_none() {
            attrs["id"] = json!(main);
        }
        st.add(rtype, "main", attrs);
    };
    add(
        st,
        "aws_s3_bucket_versioning",
        json!({"versioning_configuration": [{"status": "Enabled", "mfa_delete": ""}]}),
    );
    add(
        st,
        "aws_s3_bucket_server_side_encryption_configuration",
        json!({"rule": [{"apply_server_side_encryption_by_default":
            [{"sse_algorithm": "AES256", "kms_master_key_id": ""}], "bucket_key_enabled": false}]}),
    );
    add(st, "aws_s3_bucket_policy", json!({"policy": policy(main)}));
    s3.put_public_access_block()
        .bucket(main)
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
    add(
        st,
        "aws_s3_bucket_public_access_block",
        json!({"block_public_acls": true, "block_public_policy": true,
               "ignore_public_acls": true, "restrict_public_buckets": true}),
    );
    s3.put_bucket_ownership_controls()
        .bucket(main)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerPreferred)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    add(
        st,
        "aws_s3_bucket_ownership_controls",
        json!({"rule": [{"object_ownership": "BucketOwnerPreferred"}]}),
    );
    s3.put_bucket_accelerate_configuration()
        .bucket(main)
        .accelerate_configuration(
            aws_sdk_s3::types::AccelerateConfiguration::builder()
                .status(BucketAccelerateStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    add(
        st,
        "aws_s3_bucket_accelerate_configuration",
        json!({"status": "Enabled", "expected_bucket_owner": ""}),
    );
    s3.put_bucket_logging()
        .bucket(main)
        .bucket_logging_status(
            BucketLoggingStatus::builder()
                .logging_enabled(
                    LoggingEnabled::builder()
                        .target_bucket(logs)
                        .target_prefix("main/")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    add(
        st,
        "aws_s3_bucket_logging",
        json!({"target_bucket": logs, "target_prefix": "main/", "target_grant": [],
               "target_object_key_format": []}),
    );
    s3.put_bucket_cors()
        .bucket(main)
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(
                    CorsRule::builder()
                        .id("web")
                        .allowed_methods("GET")
                        .allowed_origins("https://example.com")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    add(
        st,
        "aws_s3_bucket_cors_configuration",
        json!({"cors_rule": [{"id": "web", "allowed_methods": ["GET"],
               "allowed_origins": ["https://example.com"], "allowed_headers": [],
               "expose_headers": [], "max_age_seconds": 0}]}),
    );
    s3.put_bucket_website()
        .bucket(main)
        .website_configuration(
            WebsiteConfiguration::builder()
                .index_document(
                    IndexDocument::builder()
                        .suffix("index.html")
                        .build()
                        .unwrap(),
                )
                .error_document(ErrorDocument::builder().key("error.html").build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    add(
        st,
        "aws_s3_bucket_website_configuration",
        json!({"index_document": [{"suffix": "index.html"}],
               "error_document": [{"key": "error.html"}], "redirect_all_requests_to": [],
               "routing_rule": []}),
    );
    add(
        st,
        "aws_s3_bucket_acl",
        json!({"id": format!("{main},private"), "acl": "private"}),
    );
    s3.put_bucket_lifecycle_configuration()
        .bucket(main)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("expire-tmp")
                        .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
                        .expiration(LifecycleExpiration::builder().days(7).build())
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    add(
        st,
        "aws_s3_bucket_lifecycle_configuration",
        json!({"rule": [{"id": "expire-tmp", "status": "Enabled",
               "filter": [{"prefix": "tmp/"}], "expiration": [{"days": 7}]}]}),
    );
    let queue = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:events");
    s3.put_bucket_notification_configuration()
        .bucket(main)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .id("q1")
                        .queue_arn(&queue)
                        .events(aws_sdk_s3::types::Event::from("s3:ObjectCreated:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    add(
        st,
        "aws_s3_bucket_notification",
        json!({"queue": [{"id": "q1", "queue_arn": queue, "events": ["s3:ObjectCreated:*"],
               "filter_prefix": "", "filter_suffix": ""}], "topic": [], "lambda_function": [],
               "eventbridge": false}),
    );
    let role = format!("arn:aws:iam::{ACCOUNT}:role/replication");
    s3.put_bucket_replication()
        .bucket(main)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role(&role)
                .rules(
                    ReplicationRule::builder()
                        .id("to-dr")
                        .priority(1)
                        .filter(ReplicationRuleFilter::builder().prefix("").build())
                        .status(ReplicationRuleStatus::Enabled)
                        .delete_marker_replication(
                            DeleteMarkerReplication::builder()
                                .status(DeleteMarkerReplicationStatus::Disabled)
                                .build(),
                        )
                        .destination(
                            Destination::builder()
                                .bucket(format!("arn:aws:s3:::{dr}"))
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
        .await
        .unwrap();
    add(
        st,
        "aws_s3_bucket_replication_configuration",
        json!({"role": role, "rule": [{"id": "to-dr", "priority": 1, "status": "Enabled",
               "filter": [{"prefix": ""}], "delete_marker_replication": [{"status": "Disabled"}],
               "destination": [{"bucket": format!("arn:aws:s3:::{dr}")}]}]}),
    );
    s3.put_bucket_inventory_configuration()
        .bucket(main)
        .id("weekly")
        .inventory_configuration(
            InventoryConfiguration::builder()
                .id("weekly")
                .is_enabled(true)
                .included_object_versions(InventoryIncludedObjectVersions::Current)
                .schedule(
                    InventorySchedule::builder()
                        .frequency(InventoryFrequency::Weekly)
                        .build()
                        .unwrap(),
                )
                .destination(
                    InventoryDestination::builder()
                        .s3_bucket_destination(
                            InventoryS3BucketDestination::builder()
                                .bucket(format!("arn:aws:s3:::{logs}"))
                                .format(InventoryFormat::Csv)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    add(
        st,
        "aws_s3_bucket_inventory",
        json!({"id": format!("{main}:weekly"), "name": "weekly", "enabled": true,
               "included_object_versions": "Current",
               "schedule": [{"frequency": "Weekly"}],
               "destination": [{"bucket": [{"bucket_arn": format!("arn:aws:s3:::{logs}"),
                                            "format": "CSV"}]}]}),
    );
    // Object lock on the bucket created with it.
    s3.put_object_lock_configuration()
        .bucket(locked)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Governance)
                                .days(30)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    st.add(
        "aws_s3_bucket_object_lock_configuration",
        "locked",
        json!({"id": locked, "bucket": locked, "object_lock_enabled": "Enabled",
               "rule": [{"default_retention": [{"mode": "GOVERNANCE", "days": 30, "years": 0}]}]}),
    );
}

/// The driftd config of one scan of the world (state `every-type.tfstate`
/// next to it), unmanaged detection on (the default).
pub fn config(endpoint: &str) -> String {
    format!(
        r#"[scan]
concurrency = 4
max_attempts = 1

[[stacks]]
name = "every-type"
state = "every-type.tfstate"
regions = ["{REGION}"]
endpoint_url = "{endpoint}"
"#
    )
}

/// One row of the call table: operation, driftd's calls, the minimal set's.
pub struct Row {
    pub operation: String,
    pub driftd: u64,
    pub minimal: u64,
}

/// driftd's calls per operation next to the minimal set's, every operation
/// of either.
pub fn table(driftd: &BTreeMap<String, u64>, minimal: &BTreeMap<String, u64>) -> Vec<Row> {
    let ops: BTreeSet<&String> = driftd.keys().chain(minimal.keys()).collect();
    ops.into_iter()
        .map(|op| Row {
            operation: op.clone(),
            driftd: driftd.get(op).copied().unwrap_or(0),
            minimal: minimal.get(op).copied().unwrap_or(0),
        })
        .collect()
}

impl Row {
    /// The calls beyond the minimal set known today ([`KNOWN_EXCESS`]).
    pub fn known_excess(&self) -> u64 {
        KNOWN_EXCESS
            .iter()
            .find(|(op, _, _)| *op == self.operation)
            .map_or(0, |(_, n, _)| *n)
    }

    /// driftd makes the minimal calls plus exactly the known excess.
    pub fn as_known(&self) -> bool {
        self.driftd == self.minimal + self.known_excess()
    }
}

/// The call table as Markdown.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| operation | minimal | driftd | |\n|---|---:|---:|---|\n");
    for r in rows {
        let verdict = if r.driftd == r.minimal {
            "equal".to_string()
        } else if r.as_known() {
            format!("not equal (+{}, known: see below)", r.known_excess())
        } else {
            "NOT EQUAL".to_string()
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {verdict} |\n",
            r.operation, r.minimal, r.driftd
        ));
    }
    let (m, d): (u64, u64) = rows
        .iter()
        .fold((0, 0), |(m, d), r| (m + r.minimal, d + r.driftd));
    out.push_str(&format!(
        "| **total** | **{m}** | **{d}** | {} |\n",
        if m == d { "equal" } else { "not equal" }
    ));
    for (op, n, why) in KNOWN_EXCESS {
        out.push_str(&format!("\nKnown: `{op}` +{n}: {why}.\n"));
    }
    out
}
