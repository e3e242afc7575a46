//! More EC2 network types against moto (adopted default security group, VPC
//! endpoint, egress-only gateway, DHCP options, peering, flow log): a world
//! built the way Terraform builds it (state written from what the API reads
//! back), then in sync, changed, missing and unmanaged per type, and the
//! calls each listing costs. Shapes moto cannot serve (interface endpoints,
//! S3 and transit gateway flow logs, the region's AWS-created DHCP set) are
//! unit-tested with recorded responses in the type files.

use std::path::{Path, PathBuf};

use aws_sdk_ec2::types::{
    FlowLogsResourceType, IpPermission, IpRange, LogDestinationType, NewDhcpConfiguration,
    ResourceType, Tag, TagSpecification, TrafficType, UserIdGroupPair, VpcEndpointType,
};
use driftd::aws::{ApiCalls, Clients};
use driftd::env::MapEnv;
use driftd::report::Report;
use driftd::scan::{self, ScanOptions};
use serde_json::json;

use crate::moto::{client_options, Moto};
use crate::scan_moto::lines;
use crate::world::{self, tags_json, StateBuilder, ACCOUNT};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::artifacts/*"}]}"#;
const ROLE: &str = "arn:aws:iam::123456789012:role/flow-logs";

/// The six listings these types read (DescribeSecurityGroups is shared
/// with `aws_security_group`).
const OPS: &[&str] = &[
    "DescribeSecurityGroups",
    "DescribeVpcEndpoints",
    "DescribeEgressOnlyInternetGateways",
    "DescribeDhcpOptions",
    "DescribeVpcPeeringConnections",
    "DescribeFlowLogs",
];

#[allow(dead_code)]
pub struct Net2 {
    dir: PathBuf,
    vpc: String,
    peer_vpc: String,
    rtb: String,
    sg: String,
    endpoint: String,
    eigw: String,
    dopt: String,
    pcx: String,
    flow_log: String,
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn tags_of(rt: ResourceType, k: &str, v: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .tags(tag(k, v))
        .build()
}

fn config(endpoint: &str, unmanaged: bool) -> String {
    format!(
        r#"[scan]
concurrency = 4
max_attempts = 2
unmanaged = {unmanaged}

[[stacks]]
name = "net2"
state = "net2.tfstate"
regions = ["us-east-1"]
endpoint_url = "{endpoint}"
"#
    )
}

async fn vpc(c: &Clients, cidr: &str) -> String {
    c.ec2
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap()
}

async fn default_group(c: &Clients, vpc: &str) -> String {
    let f = |n: &str, v: &str| {
        aws_sdk_ec2::types::Filter::builder()
            .name(n)
            .values(v)
            .build()
    };
    c.ec2
        .describe_security_groups()
        .filters(f("vpc-id", vpc))
        .filters(f("group-name", "default"))
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string()
}

fn allow_all(cidr: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
        .build()
}

/// Create the world as `terraform apply` would.
pub async fn seed(c: &Clients, dir: &Path) -> Net2 {
    let ec2 = &c.ec2;
    let vpc_a = vpc(c, "10.30.0.0/16").await;
    let vpc_b = vpc(c, "10.31.0.0/16").await;
    let rtb = ec2
        .create_route_table()
        .vpc_id(&vpc_a)
        .send()
        .await
        .unwrap()
        .route_table
        .unwrap()
        .route_table_id
        .unwrap();
    // aws_default_security_group: every rule revoked, the declared ones added.
    let sg = default_group(c, &vpc_a).await;
    ec2.revoke_security_group_egress()
        .group_id(&sg)
        .ip_permissions(allow_all("0.0.0.0/0"))
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
        .ip_permissions(world::perm_tcp(443, "10.0.0.0/8", "https out"))
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&sg)
        .tags(tag("Name", "locked"))
        .send()
        .await
        .unwrap();
    let endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc_a)
        .service_name("com.amazonaws.us-east-1.s3")
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .route_table_ids(&rtb)
        .policy_document(POLICY)
        .tag_specifications(tags_of(ResourceType::VpcEndpoint, "Name", "s3"))
        .send()
        .await
        .unwrap()
        .vpc_endpoint
        .unwrap()
        .vpc_endpoint_id
        .unwrap();
    let eigw = ec2
        .create_egress_only_internet_gateway()
        .vpc_id(&vpc_a)
        .tag_specifications(tags_of(
            ResourceType::EgressOnlyInternetGateway,
            "Name",
            "v6",
        ))
        .send()
        .await
        .unwrap()
        .egress_only_internet_gateway
        .unwrap()
        .egress_only_internet_gateway_id
        .unwrap();
    let conf = |k: &str, v: &[&str]| {
        NewDhcpConfiguration::builder()
            .key(k)
            .set_values(Some(v.iter().map(|s| s.to_string()).collect()))
            .build()
    };
    let dopt = ec2
        .create_dhcp_options()
        .dhcp_configurations(conf("domain-name", &["corp.internal"]))
        .dhcp_configurations(conf(
            "domain-name-servers",
            &["10.30.0.2", "AmazonProvidedDNS"],
        ))
        .dhcp_configurations(conf("ntp-servers", &["10.30.0.3"]))
        .dhcp_configurations(conf("netbios-node-type", &["2"]))
        .send()
        .await
        .unwrap()
        .dhcp_options
        .unwrap()
        .dhcp_options_id
        .unwrap();
    ec2.create_tags()
        .resources(&dopt)
        .tags(tag("Name", "corp"))
        .send()
        .await
        .unwrap();
    let pcx = ec2
        .create_vpc_peering_connection()
        .vpc_id(&vpc_a)
        .peer_vpc_id(&vpc_b)
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
    ec2.create_tags()
        .resources(&pcx)
        .tags(tag("Name", "a-b"))
        .send()
        .await
        .unwrap();
    let flow_log = ec2
        .create_flow_logs()
        .resource_ids(&vpc_a)
        .resource_type(FlowLogsResourceType::Vpc)
        .traffic_type(TrafficType::All)
        .log_destination_type(LogDestinationType::CloudWatchLogs)
        .log_group_name("vpc-flows")
        .deliver_logs_permission_arn(ROLE)
        .max_aggregation_interval(60)
        .tag_specifications(tags_of(ResourceType::VpcFlowLog, "Name", "vpc"))
        .send()
        .await
        .unwrap()
        .flow_log_ids()[0]
        .clone();
    let n = Net2 {
        dir: dir.to_path_buf(),
        vpc: vpc_a,
        peer_vpc: vpc_b,
        rtb,
        sg,
        endpoint,
        eigw,
        dopt,
        pcx,
        flow_log,
    };
    state(c, &n).await.write(&dir.join("net2.tfstate"));
    n
}

/// The state Terraform writes after apply: each resource's Read of the live API.
async fn state(c: &Clients, n: &Net2) -> StateBuilder {
    let ec2 = &c.ec2;
    let mut st = StateBuilder::default();
    for (tfname, id, cidr) in [
        ("a", &n.vpc, "10.30.0.0/16"),
        ("b", &n.peer_vpc, "10.31.0.0/16"),
    ] {
        let v = ec2.describe_vpcs().vpc_ids(id).send().await.unwrap().vpcs()[0].clone();
        st.add(
            None,
            "aws_vpc",
            tfname,
            None,
            json!({"id": id, "arn": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{id}"),
                "cidr_block": cidr, "instance_tenancy": "default",
                "enable_dns_support": true, "enable_dns_hostnames": false,
                "enable_network_address_usage_metrics": false,
                "assign_generated_ipv6_cidr_block": false, "ipv6_cidr_block": "",
                "ipv6_association_id": "", "ipv6_ipam_pool_id": "", "ipv6_netmask_length": 0,
                "dhcp_options_id": v.dhcp_options_id(), "owner_id": ACCOUNT,
                "tags": {}, "tags_all": {}}),
        );
    }
    // The provider's Read leaves the gateway endpoint's route out.
    st.add(
        None,
        "aws_route_table",
        "endpoints",
        None,
        json!({"id": n.rtb, "vpc_id": n.vpc, "owner_id": ACCOUNT, "propagating_vgws": [],
               "route": [], "tags": {}, "tags_all": {}}),
    );
    let g = ec2
        .describe_security_groups()
        .group_ids(&n.sg)
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    // Its self-referencing ingress is written `self = true`, as the provider does.
    let mut sg = world::sg_state(&g);
    sg["ingress"] = json!([{"protocol": "-1", "from_port": 0, "to_port": 0, "self": true,
        "cidr_blocks": [], "ipv6_cidr_blocks": [], "prefix_list_ids": [],
        "security_groups": [], "description": ""}]);
    sg["name_prefix"] = json!("");
    st.add(None, "aws_default_security_group", "default", None, sg);
    let e = ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&n.endpoint)
        .send()
        .await
        .unwrap()
        .vpc_endpoints()[0]
        .clone();
    st.add(
        None,
        "aws_vpc_endpoint",
        "s3",
        None,
        json!({"id": n.endpoint,
            "arn": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:vpc-endpoint/{}", n.endpoint),
            "auto_accept": null, "cidr_blocks": [], "dns_entry": [], "dns_options": [],
            "ip_address_type": "", "network_interface_ids": [], "owner_id": ACCOUNT,
            "policy": e.policy_document(), "prefix_list_id": "",
            "private_dns_enabled": e.private_dns_enabled(), "requester_managed": false,
            "route_table_ids": [n.rtb], "security_group_ids": [],
            "service_name": "com.amazonaws.us-east-1.s3", "state": "available",
            "subnet_configuration": [], "subnet_ids": [], "tags": {"Name": "s3"},
            "tags_all": {"Name": "s3"}, "timeouts": null, "vpc_endpoint_type": "Gateway",
            "vpc_id": n.vpc}),
    );
    st.add(
        None,
        "aws_egress_only_internet_gateway",
        "v6",
        None,
        json!({"id": n.eigw, "vpc_id": n.vpc, "tags": {"Name": "v6"},
               "tags_all": {"Name": "v6"}}),
    );
    st.add(
        None,
        "aws_vpc_dhcp_options",
        "corp",
        None,
        json!({"id": n.dopt,
            "arn": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:dhcp-options/{}", n.dopt),
            "domain_name": "corp.internal", "domain_name_servers": ["10.30.0.2", "AmazonProvidedDNS"],
            "ipv6_address_preferred_lease_time": "", "netbios_name_servers": [],
            "netbios_node_type": "2", "ntp_servers": ["10.30.0.3"], "owner_id": ACCOUNT,
            "tags": {"Name": "corp"}, "tags_all": {"Name": "corp"}}),
    );
    st.add(
        None,
        "aws_vpc_peering_connection",
        "a_b",
        None,
        json!({"id": n.pcx, "accept_status": "active", "accepter": [], "requester": [],
            "auto_accept": null, "peer_owner_id": ACCOUNT, "peer_region": "us-east-1",
            "peer_vpc_id": n.peer_vpc, "vpc_id": n.vpc, "tags": {"Name": "a-b"},
            "tags_all": {"Name": "a-b"}, "timeouts": null}),
    );
    let f = ec2
        .describe_flow_logs()
        .flow_log_ids(&n.flow_log)
        .send()
        .await
        .unwrap()
        .flow_logs()[0]
        .clone();
    let tags = tags_json(f.tags());
    st.add(
        None,
        "aws_flow_log",
        "vpc",
        None,
        json!({"id": n.flow_log,
            "arn": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:vpc-flow-log/{}", n.flow_log),
            "deliver_cross_account_role": "", "destination_options": [], "eni_id": "",
            "iam_role_arn": ROLE, "log_destination": f.log_destination().unwrap_or_default(),
            "log_destination_type": "cloud-watch-logs", "log_format": f.log_format(),
            "log_group_name": "vpc-flows", "max_aggregation_interval": 60, "subnet_id": "",
            "tags": tags, "tags_all": tags, "traffic_type": "ALL",
            "transit_gateway_attachment_id": "", "transit_gateway_id": "", "vpc_id": n.vpc}),
    );
    st
}

pub async fn scan_counted(config: &str, dir: &Path, calls: &ApiCalls, strict: bool) -> Report {
    let cfg = driftd::config::parse(config, &dir.join("driftd.toml"), &MapEnv::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let options = ScanOptions {
        client: client_options(),
        strict,
        ..Default::default()
    };
    scan::run(&cfg, &options, calls).await
}

async fn scan(moto: &Moto, n: &Net2) -> Report {
    scan_counted(&config(&moto.url, true), &n.dir, &ApiCalls::new(), false).await
}

fn calls_of(calls: &ApiCalls) -> Vec<(&'static str, u64)> {
    let by = calls.by_operation();
    OPS.iter()
        .map(|op| (*op, by.get(*op).copied().unwrap_or(0)))
        .collect()
}

/// An untouched world has no drift; each listing is made once per scope,
/// with unmanaged detection (unfiltered) and without it (filtered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_network2_has_no_drift_and_one_call_per_listing() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let n = seed(&c, &world::temp_dir("net2-untouched")).await;
    let calls = ApiCalls::new();
    let r = scan_counted(&config(&moto.url, true), &n.dir, &calls, false).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    let s = &r.stacks[0];
    assert_eq!(s.counts.unknown, 0, "{}", r.to_text());
    assert_eq!(s.counts.managed, 9, "{:?}", s.counts);
    assert_eq!(s.counts.in_sync, s.counts.managed, "{:?}", s.counts);
    assert_eq!(r.exit_code(), 0);
    let once: Vec<(&str, u64)> = OPS.iter().map(|op| (*op, 1)).collect();
    assert_eq!(calls_of(&calls), once, "{:?}", calls.by_operation());

    let calls = ApiCalls::new();
    let r = scan_counted(&config(&moto.url, false), &n.dir, &calls, false).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    assert_eq!(calls_of(&calls), once, "{:?}", calls.by_operation());

    // Strict: AWS's own default groups are reported, the adopted one is not
    // (it is aws_default_security_group's, in sync).
    let r = scan_counted(&config(&moto.url, true), &n.dir, &ApiCalls::new(), true).await;
    let groups: Vec<String> = r
        .unmanaged
        .iter()
        .flat_map(|s| &s.drifts)
        .filter(|d| d.rtype == "aws_security_group")
        .map(|d| d.id.clone())
        .collect();
    assert!(groups.len() >= 2, "{}", r.to_text());
    assert!(!groups.contains(&n.sg), "{}", r.to_text());
    assert_eq!(r.stacks[0].counts.in_sync, 9, "{}", r.to_text());

    // Without unmanaged detection and none of these types in state: no call.
    let only_vpcs = world::temp_dir("net2-none");
    let mut st = StateBuilder::default();
    st.add(
        None,
        "aws_vpc",
        "a",
        None,
        json!({"id": n.vpc, "cidr_block": "10.30.0.0/16", "instance_tenancy": "default",
               "tags": {}, "tags_all": {}}),
    );
    st.write(&only_vpcs.join("net2.tfstate"));
    let calls = ApiCalls::new();
    let r = scan_counted(&config(&moto.url, false), &only_vpcs, &calls, false).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    let none: Vec<(&str, u64)> = OPS.iter().map(|op| (*op, 0)).collect();
    assert_eq!(calls_of(&calls), none, "{:?}", calls.by_operation());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network2_changes_are_reported_exactly() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let n = seed(&c, &world::temp_dir("net2-changed")).await;
    let ec2 = &c.ec2;
    // A rule added by hand to the locked-down default group.
    ec2.authorize_security_group_ingress()
        .group_id(&n.sg)
        .ip_permissions(world::perm_tcp(22, "0.0.0.0/0", "ssh"))
        .send()
        .await
        .unwrap();
    // The endpoint policy opened up and its route table removed.
    let open = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
    ec2.modify_vpc_endpoint()
        .vpc_endpoint_id(&n.endpoint)
        .policy_document(open)
        .remove_route_table_ids(&n.rtb)
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&n.eigw)
        .resources(&n.dopt)
        .resources(&n.pcx)
        .resources(&n.flow_log)
        .tags(tag("Owner", "ops"))
        .send()
        .await
        .unwrap();
    // Through the pipeline (dry run): decisions say what is critical.
    let r = world::run_pipeline(&config(&moto.url, true), &n.dir, &MapEnv::default(), true).await;
    let got = lines(&r);
    let policy: Vec<&String> = got
        .iter()
        .filter(|l| l.starts_with("changed aws_vpc_endpoint.s3 policy: "))
        .collect();
    assert_eq!(policy.len(), 1, "{}", r.to_text());
    assert!(
        policy[0].contains(r#""Action":["s3:GetObject"]"#)
            && policy[0].contains(r#"-> {"Statement":[{"Action":["*"]"#),
        "{}",
        policy[0]
    );
    let rest: Vec<&String> = got.iter().filter(|l| !policy.contains(l)).collect();
    let mut want = [
        r#"changed aws_default_security_group.default ingress["tcp:22-22:cidr:0.0.0.0/0"]: null -> "ssh""#.to_string(),
        format!(r#"changed aws_vpc_endpoint.s3 route_table_ids: ["{}"] -> []"#, n.rtb),
        r#"changed aws_egress_only_internet_gateway.v6 tags.Owner: null -> "ops""#.to_string(),
        r#"changed aws_vpc_dhcp_options.corp tags.Owner: null -> "ops""#.to_string(),
        r#"changed aws_vpc_peering_connection.a_b tags.Owner: null -> "ops""#.to_string(),
        r#"changed aws_flow_log.vpc tags.Owner: null -> "ops""#.to_string(),
    ];
    want.sort();
    assert_eq!(rest, want.iter().collect::<Vec<_>>(), "{}", r.to_text());
    // Rules, policy and route tables are critical; tags are not.
    let s = &r.stacks[0];
    let mut critical: Vec<&str> = s
        .drifts
        .iter()
        .filter(|d| d.decision.as_ref().is_some_and(|x| x.critical))
        .map(|d| d.rtype.as_str())
        .collect();
    critical.sort();
    assert_eq!(
        critical,
        ["aws_default_security_group", "aws_vpc_endpoint"],
        "{}",
        r.to_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network2_missing_and_unmanaged() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let n = seed(&c, &world::temp_dir("net2-missing")).await;
    let ec2 = &c.ec2;
    // Gone: the endpoint (moto keeps it listed as `deleted`), the peering
    // (kept as `deleted`), the gateway, the DHCP set and the flow log.
    ec2.delete_vpc_endpoints()
        .vpc_endpoint_ids(&n.endpoint)
        .send()
        .await
        .unwrap();
    ec2.delete_vpc_peering_connection()
        .vpc_peering_connection_id(&n.pcx)
        .send()
        .await
        .unwrap();
    ec2.delete_egress_only_internet_gateway()
        .egress_only_internet_gateway_id(&n.eigw)
        .send()
        .await
        .unwrap();
    ec2.delete_dhcp_options()
        .dhcp_options_id(&n.dopt)
        .send()
        .await
        .unwrap();
    ec2.delete_flow_logs()
        .flow_log_ids(&n.flow_log)
        .send()
        .await
        .unwrap();
    // Made by hand, in the peer VPC.
    ec2.create_vpc_endpoint()
        .vpc_id(&n.peer_vpc)
        .service_name("com.amazonaws.us-east-1.dynamodb")
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .send()
        .await
        .unwrap();
    ec2.create_egress_only_internet_gateway()
        .vpc_id(&n.peer_vpc)
        .send()
        .await
        .unwrap();
    ec2.create_dhcp_options()
        .dhcp_configurations(
            NewDhcpConfiguration::builder()
                .key("domain-name")
                .values("other.example")
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.create_vpc_peering_connection()
        .vpc_id(&n.peer_vpc)
        .peer_vpc_id(&n.vpc)
        .send()
        .await
        .unwrap();
    ec2.create_flow_logs()
        .resource_ids(&n.peer_vpc)
        .resource_type(FlowLogsResourceType::Vpc)
        .traffic_type(TrafficType::Reject)
        .log_destination_type(LogDestinationType::CloudWatchLogs)
        .log_group_name("other")
        .deliver_logs_permission_arn(ROLE)
        .send()
        .await
        .unwrap();
    let r = scan(&moto, &n).await;
    assert_eq!(
        lines(&r),
        vec![
            "missing aws_egress_only_internet_gateway.v6",
            "missing aws_flow_log.vpc",
            "missing aws_vpc_dhcp_options.corp",
            "missing aws_vpc_endpoint.s3",
            "missing aws_vpc_peering_connection.a_b",
            "unmanaged aws_egress_only_internet_gateway",
            "unmanaged aws_flow_log",
            "unmanaged aws_vpc_dhcp_options",
            "unmanaged aws_vpc_endpoint",
            "unmanaged aws_vpc_peering_connection",
        ],
        "{}",
        r.to_text()
    );
}

/// A real provider-written `aws_default_security_group` (driftctl's corpus,
/// an older provider without `tags_all`) projects to what the equivalent
/// DescribeSecurityGroups answer reads as: no false drift on adoption.
#[test]
fn the_corpus_default_group_matches_its_api_answer() {
    use driftd_core::Schema;
    let Ok(dir) = std::env::var("DRIFTD_TFSTATE_CORPUS") else {
        eprintln!("skipped: DRIFTD_TFSTATE_CORPUS is not set");
        return;
    };
    let p = Path::new(&dir).join("aws_vpc_security_group/terraform.tfstate");
    let f = driftd::state::parse(&p.display().to_string(), &std::fs::read(&p).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    let desired = driftd::aws::AwsSchema::default().desired(&f.resources);
    let d = desired
        .iter()
        .find(|d| d.rtype == "aws_default_security_group")
        .expect("the corpus has one");
    let g = aws_sdk_ec2::types::SecurityGroup::builder()
        .group_id(&d.id)
        .group_name("default")
        .description("default VPC security group")
        .vpc_id("vpc-618f6e09")
        .tags(tag("Name", "DEFAULT"))
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("-1")
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(&d.id).build())
                .build(),
        )
        .ip_permissions_egress(allow_all("0.0.0.0/0"))
        .build();
    let ids = std::collections::BTreeSet::from([d.id.clone()]);
    let (live, _) = driftd::aws::ec2::security_groups_live(&[g], &ids, &[], &Default::default());
    assert_eq!(live[&d.id].attrs, d.attrs);
}

/// A standalone rule resource pointing into the adopted default group owns
/// its rule: it leaves the group's set on the state side (the live side is
/// stripped by the same reader code as for `aws_security_group`).
#[test]
fn standalone_rules_leave_the_default_group() {
    use driftd_core::{Schema, StateResource};
    let res = |rtype: &str, id: &str, attrs: serde_json::Value| StateResource {
        address: format!("{rtype}.x"),
        rtype: rtype.into(),
        id: id.into(),
        attrs: attrs.as_object().unwrap().clone(),
        sensitive_paths: vec![],
        prepared: None,
    };
    let sg = res(
        "aws_default_security_group",
        "sg-d",
        json!({"name": "default", "vpc_id": "vpc-1", "egress": [],
               "ingress": [{"protocol": "tcp", "from_port": 22, "to_port": 22,
                            "cidr_blocks": ["10.0.0.0/8"], "self": false}]}),
    );
    let rule = res(
        "aws_vpc_security_group_ingress_rule",
        "sgr-1",
        json!({"security_group_id": "sg-d", "ip_protocol": "tcp", "from_port": 22,
               "to_port": 22, "cidr_ipv4": "10.0.0.0/8"}),
    );
    let d = driftd::aws::AwsSchema::default().desired(&[sg, rule]);
    assert_eq!(d[0].attrs["ingress"], json!({}));
}

/// The PR editor edits an adopted default group's rule blocks with the
/// same keyed matching as `aws_security_group` (the registry's
/// `KeyedBlocks` hint; no type-specific path).
#[test]
fn the_editor_edits_default_group_rule_blocks() {
    use driftd::pr::editor::{self, Files};
    use driftd::pr::ProposedDrift;
    use driftd::report::{AttrChange, DriftKind};
    let tf = r#"resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id

  ingress {
    protocol  = -1
    self      = true
    from_port = 0
    to_port   = 0
  }

  egress {
    description = "https out"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }
}
"#;
    let mut files = Files::new();
    files.insert("main.tf".into(), tf.into());
    let change = |path: &str, e: serde_json::Value, a: serde_json::Value| AttrChange {
        path: path.into(),
        expected: e,
        actual: a,
    };
    let d = ProposedDrift {
        address: Some("aws_default_security_group.default".into()),
        rtype: "aws_default_security_group".into(),
        id: "sg-d".into(),
        kind: DriftKind::Changed,
        attributes: vec![
            change(
                "ingress[\"tcp:22-22:cidr:10.1.0.0/16\"]",
                serde_json::Value::Null,
                json!("ssh"),
            ),
            change(
                "egress[\"tcp:443-443:cidr:10.0.0.0/8\"]",
                json!("https out"),
                serde_json::Value::Null,
            ),
        ],
        first_seen: Some("2024-05-01T10:00:00Z".into()),
        critical: false,
        reason: "rule keep-live".into(),
        live: None,
        changed_by: None,
    };
    let p = editor::plan(&files, "", &[&d]);
    assert!(p.needs_human.is_empty(), "{:#?}", p.needs_human);
    let out = &p.files["main.tf"];
    assert!(!out.contains("egress"), "{out}");
    assert!(
        out.contains("  ingress {\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = [\"10.1.0.0/16\"]\n    description = \"ssh\"\n  }\n"),
        "{out}"
    );
    assert!(out.contains("    self      = true\n"), "{out}");
}
