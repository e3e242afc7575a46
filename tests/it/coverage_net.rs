//! EC2 network types against moto: one VPC world built the way Terraform
//! builds it (state written from what the API reads back), then in sync,
//! changed, missing and unmanaged per type.

use std::path::{Path, PathBuf};

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, Tag};
use driftd::aws::Clients;
use driftd::report::Report;
use serde_json::{json, Value};

use crate::moto::Moto;
use crate::scan_moto::{lines, scan_text};
use crate::world::{self, tags_json, StateBuilder, ACCOUNT};

/// Ids of the seeded network.
#[allow(dead_code)]
pub struct Net {
    pub dir: PathBuf,
    pub vpc: String,
    pub subnet_pub: String,
    pub subnet_priv: String,
    pub igw: String,
    pub rtb_pub: String,
    pub rtb_priv: String,
    pub assoc_pub: String,
    pub assoc_priv: String,
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn f(name: &str, v: &str) -> Filter {
    Filter::builder().name(name).values(v).build()
}

pub fn config(endpoint: &str) -> String {
    format!(
        r#"[scan]
concurrency = 4
max_attempts = 2

[[stacks]]
name = "net"
state = "net.tfstate"
regions = ["us-east-1"]
endpoint_url = "{endpoint}"
"#
    )
}

async fn name(c: &Clients, id: &str, n: &str) {
    c.ec2
        .create_tags()
        .resources(id)
        .tags(tag("Name", n))
        .send()
        .await
        .unwrap();
}

/// Create the network as `terraform apply` would.
pub async fn seed(c: &Clients, dir: &Path) -> Net {
    let ec2 = &c.ec2;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    name(c, &vpc, "main").await;
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
    let subnet = |cidr: &'static str, az: &'static str| {
        let vpc = vpc.clone();
        async move {
            ec2.create_subnet()
                .vpc_id(vpc)
                .cidr_block(cidr)
                .availability_zone(az)
                .send()
                .await
                .unwrap()
                .subnet
                .unwrap()
                .subnet_id
                .unwrap()
        }
    };
    let subnet_pub = subnet("10.20.1.0/24", "us-east-1a").await;
    let subnet_priv = subnet("10.20.2.0/24", "us-east-1b").await;
    name(c, &subnet_pub, "public").await;
    ec2.modify_subnet_attribute()
        .subnet_id(&subnet_pub)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
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
    name(c, &igw, "gw").await;
    let table = || async {
        ec2.create_route_table()
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap()
            .route_table
            .unwrap()
            .route_table_id
            .unwrap()
    };
    let rtb_pub = table().await;
    let rtb_priv = table().await;
    name(c, &rtb_pub, "public").await;
    // Inline route on the public table, standalone aws_route on the private one.
    ec2.create_route()
        .route_table_id(&rtb_pub)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
    ec2.create_route()
        .route_table_id(&rtb_priv)
        .destination_cidr_block("192.168.0.0/16")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
    let assoc = |rtb: String, subnet: String| async move {
        ec2.associate_route_table()
            .route_table_id(rtb)
            .subnet_id(subnet)
            .send()
            .await
            .unwrap()
            .association_id
            .unwrap()
    };
    let assoc_pub = assoc(rtb_pub.clone(), subnet_pub.clone()).await;
    let assoc_priv = assoc(rtb_priv.clone(), subnet_priv.clone()).await;
    let n = Net {
        dir: dir.to_path_buf(),
        vpc,
        subnet_pub,
        subnet_priv,
        igw,
        rtb_pub,
        rtb_priv,
        assoc_pub,
        assoc_priv,
    };
    state(c, &n).await.write(&dir.join("net.tfstate"));
    n
}

fn route_obj(r: &aws_sdk_ec2::types::Route) -> Value {
    let s = |v: Option<&str>| json!(v.unwrap_or_default());
    json!({"cidr_block": s(r.destination_cidr_block()),
           "ipv6_cidr_block": s(r.destination_ipv6_cidr_block()),
           "destination_prefix_list_id": s(r.destination_prefix_list_id()),
           "carrier_gateway_id": "", "core_network_arn": "", "egress_only_gateway_id": "",
           "gateway_id": s(r.gateway_id()), "local_gateway_id": "",
           "nat_gateway_id": s(r.nat_gateway_id()), "network_interface_id": "",
           "transit_gateway_id": "", "vpc_endpoint_id": "", "vpc_peering_connection_id": ""})
}

/// The state Terraform writes after apply: each resource's Read of the live API.
pub async fn state(c: &Clients, n: &Net) -> StateBuilder {
    let ec2 = &c.ec2;
    let mut st = StateBuilder::default();
    let v = ec2
        .describe_vpcs()
        .vpc_ids(&n.vpc)
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .clone();
    let tags = tags_json(v.tags());
    st.add(
        None,
        "aws_vpc",
        "main",
        None,
        json!({"id": n.vpc, "arn": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{}", n.vpc),
            "cidr_block": v.cidr_block(), "instance_tenancy": "default",
            "enable_dns_support": true, "enable_dns_hostnames": true,
            "enable_network_address_usage_metrics": false,
            "assign_generated_ipv6_cidr_block": false, "ipv6_cidr_block": "",
            "ipv6_association_id": "", "ipv6_ipam_pool_id": "", "ipv6_netmask_length": 0,
            "ipv4_ipam_pool_id": null, "ipv4_netmask_length": null,
            "dhcp_options_id": v.dhcp_options_id(), "owner_id": ACCOUNT,
            "tags": tags, "tags_all": tags}),
    );
    for (tfname, id) in [("public", &n.subnet_pub), ("private", &n.subnet_priv)] {
        let s = ec2
            .describe_subnets()
            .subnet_ids(id)
            .send()
            .await
            .unwrap()
            .subnets()[0]
            .clone();
        let tags = tags_json(s.tags());
        st.add(
            None,
            "aws_subnet",
            tfname,
            None,
            json!({"id": id, "vpc_id": n.vpc, "cidr_block": s.cidr_block(),
                "availability_zone": s.availability_zone(),
                "availability_zone_id": s.availability_zone_id().unwrap_or_default(),
                "map_public_ip_on_launch": s.map_public_ip_on_launch().unwrap_or(false),
                "assign_ipv6_address_on_creation": false, "ipv6_cidr_block": "",
                "ipv6_cidr_block_association_id": "", "ipv6_native": false,
                "enable_dns64": false, "enable_lni_at_device_index": 0,
                "enable_resource_name_dns_a_record_on_launch": false,
                "enable_resource_name_dns_aaaa_record_on_launch": false,
                "private_dns_hostname_type_on_launch": "ip-name",
                "map_customer_owned_ip_on_launch": false, "customer_owned_ipv4_pool": "",
                "outpost_arn": "", "owner_id": ACCOUNT, "tags": tags, "tags_all": tags}),
        );
    }
    st.add(
        None,
        "aws_internet_gateway",
        "gw",
        None,
        json!({"id": n.igw, "vpc_id": n.vpc, "owner_id": ACCOUNT,
               "tags": {"Name": "gw"}, "tags_all": {"Name": "gw"}}),
    );
    for (tfname, id) in [("public", &n.rtb_pub), ("private", &n.rtb_priv)] {
        let t = ec2
            .describe_route_tables()
            .route_table_ids(id)
            .send()
            .await
            .unwrap()
            .route_tables()[0]
            .clone();
        // The provider's Read: every non-local route, standalone ones included.
        let routes: Vec<Value> = t
            .routes()
            .iter()
            .filter(|r| r.gateway_id() != Some("local"))
            .map(route_obj)
            .collect();
        let tags = tags_json(t.tags());
        st.add(
            None,
            "aws_route_table",
            tfname,
            None,
            json!({"id": id, "vpc_id": n.vpc, "owner_id": ACCOUNT, "propagating_vgws": [],
                   "route": routes, "tags": tags, "tags_all": tags}),
        );
    }
    st.add(
        None,
        "aws_route",
        "private_peer",
        None,
        json!({"id": format!("r-{}1080289494", n.rtb_priv), "route_table_id": n.rtb_priv,
            "destination_cidr_block": "192.168.0.0/16", "destination_ipv6_cidr_block": "",
            "destination_prefix_list_id": "", "gateway_id": n.igw, "nat_gateway_id": "",
            "instance_id": "", "instance_owner_id": "", "network_interface_id": "",
            "transit_gateway_id": "", "vpc_peering_connection_id": "",
            "egress_only_gateway_id": "", "carrier_gateway_id": "", "local_gateway_id": "",
            "core_network_arn": "", "vpc_endpoint_id": "", "origin": "CreateRoute",
            "state": "active"}),
    );
    for (tfname, id, rtb, subnet) in [
        ("public", &n.assoc_pub, &n.rtb_pub, &n.subnet_pub),
        ("private", &n.assoc_priv, &n.rtb_priv, &n.subnet_priv),
    ] {
        st.add(
            None,
            "aws_route_table_association",
            tfname,
            None,
            json!({"id": id, "route_table_id": rtb, "subnet_id": subnet, "gateway_id": ""}),
        );
    }
    st
}

async fn scan(moto: &Moto, n: &Net) -> Report {
    scan_text(&config(&moto.url), &n.dir).await
}

/// The most important test: an untouched network has no drift at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_network_has_no_drift() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let n = seed(&c, &world::temp_dir("net-untouched")).await;
    let r = scan(&moto, &n).await;
    assert_eq!(lines(&r), Vec::<String>::new(), "{}", r.to_text());
    let s = &r.stacks[0];
    assert_eq!(s.counts.unknown, 0, "{}", r.to_text());
    assert_eq!(s.counts.in_sync, s.counts.managed, "{:?}", s.counts);
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_changes_are_reported_exactly() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let n = seed(&c, &world::temp_dir("net-changed")).await;
    let ec2 = &c.ec2;
    ec2.modify_subnet_attribute()
        .subnet_id(&n.subnet_priv)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
    ec2.modify_vpc_attribute()
        .vpc_id(&n.vpc)
        .enable_dns_support(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&n.igw)
        .tags(tag("Owner", "ops"))
        .send()
        .await
        .unwrap();
    // A route added by hand to the public table, the standalone one re-pointed.
    ec2.create_route()
        .route_table_id(&n.rtb_pub)
        .destination_cidr_block("172.16.0.0/12")
        .gateway_id(&n.igw)
        .send()
        .await
        .unwrap();
    let gw2 = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway
        .unwrap()
        .internet_gateway_id
        .unwrap();
    ec2.replace_route()
        .route_table_id(&n.rtb_priv)
        .destination_cidr_block("192.168.0.0/16")
        .gateway_id(&gw2)
        .send()
        .await
        .unwrap();
    let r = scan(&moto, &n).await;
    let want = vec![
        format!(r#"changed aws_internet_gateway.gw tags.Owner: null -> "ops""#),
        format!(
            r#"changed aws_route.private_peer gateway_id: "{}" -> "{gw2}""#,
            n.igw
        ),
        format!(
            r#"changed aws_route_table.public route["172.16.0.0/12"]: null -> {{"gateway_id":"{}"}}"#,
            n.igw
        ),
        r#"changed aws_subnet.private map_public_ip_on_launch: false -> true"#.to_string(),
        r#"changed aws_vpc.main enable_dns_support: true -> false"#.to_string(),
        "unmanaged aws_internet_gateway".to_string(),
    ];
    assert_eq!(lines(&r), want, "{}", r.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_missing_and_unmanaged() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let n = seed(&c, &world::temp_dir("net-missing")).await;
    let ec2 = &c.ec2;
    ec2.disassociate_route_table()
        .association_id(&n.assoc_priv)
        .send()
        .await
        .unwrap();
    ec2.delete_route()
        .route_table_id(&n.rtb_priv)
        .destination_cidr_block("192.168.0.0/16")
        .send()
        .await
        .unwrap();
    // A VPC made by hand with a subnet: its main table is AWS's.
    let other = ec2
        .create_vpc()
        .cidr_block("10.99.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    ec2.create_subnet()
        .vpc_id(&other)
        .cidr_block("10.99.1.0/24")
        .send()
        .await
        .unwrap();
    let _ = f("vpc-id", &other);
    let r = scan(&moto, &n).await;
    assert_eq!(
        lines(&r),
        vec![
            "missing aws_route.private_peer",
            "missing aws_route_table_association.private",
            "unmanaged aws_subnet",
            "unmanaged aws_vpc",
        ],
        "{}",
        r.to_text()
    );
}
