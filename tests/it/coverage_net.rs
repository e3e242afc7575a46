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
    pub eip_nat: String,
    pub nat: String,
    pub eni: String,
    pub eip_web: String,
    pub eip_assoc: String,
    pub acl: String,
    pub cidr_assoc: String,
    pub dopt: String,
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
    // NAT gateway on its own EIP; a second EIP associated with an ENI.
    let alloc = || async {
        ec2.allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .send()
            .await
            .unwrap()
            .allocation_id
            .unwrap()
    };
    let eip_nat = alloc().await;
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&subnet_pub)
        .allocation_id(&eip_nat)
        .send()
        .await
        .unwrap()
        .nat_gateway
        .unwrap()
        .nat_gateway_id
        .unwrap();
    name(c, &nat, "nat").await;
    ec2.create_route()
        .route_table_id(&rtb_priv)
        .destination_cidr_block("0.0.0.0/0")
        .nat_gateway_id(&nat)
        .send()
        .await
        .unwrap();
    let eni = ec2
        .create_network_interface()
        .subnet_id(&subnet_pub)
        .send()
        .await
        .unwrap()
        .network_interface
        .unwrap()
        .network_interface_id
        .unwrap();
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
    // A NACL with inline rules, one standalone rule, and the private subnet.
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
    name(c, &acl, "private").await;
    for (n, egress, proto, action, cidr, port) in [
        (100, false, "6", "allow", "0.0.0.0/0", 443),
        (100, true, "-1", "allow", "0.0.0.0/0", 0),
        (200, false, "6", "deny", "10.0.0.0/8", 22),
    ] {
        let mut req = ec2
            .create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(n)
            .egress(egress)
            .protocol(proto)
            .rule_action(aws_sdk_ec2::types::RuleAction::from(action))
            .cidr_block(cidr);
        if port != 0 {
            req = req.port_range(
                aws_sdk_ec2::types::PortRange::builder()
                    .from(port)
                    .to(port)
                    .build(),
            );
        }
        req.send().await.unwrap();
    }
    let current = acl_assoc_of(c, &subnet_priv).await;
    ec2.replace_network_acl_association()
        .association_id(current)
        .network_acl_id(&acl)
        .send()
        .await
        .unwrap();
    let cidr_assoc = ec2
        .associate_vpc_cidr_block()
        .vpc_id(&vpc)
        .cidr_block("10.21.0.0/16")
        .send()
        .await
        .unwrap()
        .cidr_block_association
        .unwrap()
        .association_id
        .unwrap();
    let dopt = ec2
        .create_dhcp_options()
        .dhcp_configurations(
            aws_sdk_ec2::types::NewDhcpConfiguration::builder()
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
    let n = Net {
        cidr_assoc,
        dopt,
        eip_nat,
        nat,
        eni,
        eip_web,
        eip_assoc,
        acl,
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

/// The NACL association of a subnet (every subnet has one).
pub async fn acl_assoc_of(c: &Clients, subnet: &str) -> String {
    let out = c
        .ec2
        .describe_network_acls()
        .filters(f("association.subnet-id", subnet))
        .send()
        .await
        .unwrap();
    out.network_acls()
        .iter()
        .flat_map(|a| a.associations())
        .find(|a| a.subnet_id() == Some(subnet))
        .and_then(|a| a.network_acl_association_id())
        .unwrap()
        .to_string()
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
        "aws_vpc_ipv4_cidr_block_association",
        "secondary",
        None,
        json!({"id": n.cidr_assoc, "vpc_id": n.vpc, "cidr_block": "10.21.0.0/16",
               "ipv4_ipam_pool_id": null, "ipv4_netmask_length": null}),
    );
    // The set itself is Terraform's too (since aws_vpc_dhcp_options is compared).
    st.add(
        None,
        "aws_vpc_dhcp_options",
        "corp",
        None,
        json!({"id": n.dopt,
            "arn": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:dhcp-options/{}", n.dopt),
            "domain_name": "corp.internal", "domain_name_servers": [],
            "ipv6_address_preferred_lease_time": "", "netbios_name_servers": [],
            "netbios_node_type": "", "ntp_servers": [], "owner_id": ACCOUNT,
            "tags": {}, "tags_all": {}}),
    );
    st.add(
        None,
        "aws_vpc_dhcp_options_association",
        "corp",
        None,
        json!({"id": format!("{}-{}", n.dopt, n.vpc), "vpc_id": n.vpc,
               "dhcp_options_id": n.dopt}),
    );
    // The region's default VPC and one default subnet, adopted.
    let dv = ec2
        .describe_vpcs()
        .filters(f("is-default", "true"))
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .clone();
    let dv_id = dv.vpc_id().unwrap();
    st.add(
        None,
        "aws_default_vpc",
        "default",
        None,
        json!({"id": dv_id, "cidr_block": dv.cidr_block(), "instance_tenancy": "default",
            "enable_dns_support": true, "enable_dns_hostnames": true,
            "enable_network_address_usage_metrics": false, "ipv6_cidr_block": "",
            "assign_generated_ipv6_cidr_block": false, "existing_default_vpc": true,
            "force_destroy": false, "dhcp_options_id": dv.dhcp_options_id(),
            "owner_id": ACCOUNT, "tags": {}, "tags_all": {}}),
    );
    let ds = ec2
        .describe_subnets()
        .filters(f("default-for-az", "true"))
        .filters(f("availability-zone", "us-east-1a"))
        .send()
        .await
        .unwrap()
        .subnets()[0]
        .clone();
    st.add(
        None,
        "aws_default_subnet",
        "a",
        None,
        json!({"id": ds.subnet_id(), "availability_zone": "us-east-1a", "vpc_id": dv_id,
            "cidr_block": ds.cidr_block(), "map_public_ip_on_launch": ds.map_public_ip_on_launch(),
            "assign_ipv6_address_on_creation": false, "ipv6_cidr_block": "",
            "enable_dns64": false, "ipv6_native": false, "existing_default_subnet": true,
            "force_destroy": false, "tags": {}, "tags_all": {}}),
    );
    // This VPC's main table and default NACL, adopted; the main association.
    let main = ec2
        .describe_route_tables()
        .filters(f("vpc-id", &n.vpc))
        .filters(f("association.main", "true"))
        .send()
        .await
        .unwrap()
        .route_tables()[0]
        .clone();
    let main_id = main.route_table_id().unwrap();
    st.add(
        None,
        "aws_default_route_table",
        "main",
        None,
        json!({"id": main_id, "default_route_table_id": main_id, "vpc_id": n.vpc,
               "owner_id": ACCOUNT, "propagating_vgws": [], "route": [], "tags": {},
               "tags_all": {}}),
    );
    let main_assoc = main
        .associations()
        .iter()
        .find(|a| a.main() == Some(true))
        .unwrap()
        .route_table_association_id()
        .unwrap();
    st.add(
        None,
        "aws_main_route_table_association",
        "main",
        None,
        json!({"id": main_assoc, "vpc_id": n.vpc, "route_table_id": main_id,
               "original_route_table_id": main_id}),
    );
    let dacl = ec2
        .describe_network_acls()
        .filters(f("vpc-id", &n.vpc))
        .filters(f("default", "true"))
        .send()
        .await
        .unwrap()
        .network_acls()[0]
        .clone();
    let allow = json!({"action": "allow", "cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "",
        "from_port": 0, "to_port": 0, "icmp_code": 0, "icmp_type": 0, "protocol": "-1",
        "rule_no": 100});
    st.add(
        None,
        "aws_default_network_acl",
        "default",
        None,
        json!({"id": dacl.network_acl_id(), "default_network_acl_id": dacl.network_acl_id(),
               "vpc_id": n.vpc, "owner_id": ACCOUNT, "subnet_ids": [n.subnet_pub],
               "ingress": [allow], "egress": [allow], "tags": {}, "tags_all": {}}),
    );
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
    let nat = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(&n.nat)
        .send()
        .await
        .unwrap()
        .nat_gateways()[0]
        .clone();
    let a = &nat.nat_gateway_addresses()[0];
    st.add(
        None,
        "aws_nat_gateway",
        "nat",
        None,
        json!({"id": n.nat, "subnet_id": n.subnet_pub, "connectivity_type": "public",
            "allocation_id": n.eip_nat, "private_ip": a.private_ip(), "public_ip": a.public_ip(),
            "network_interface_id": a.network_interface_id(), "association_id": "",
            "secondary_allocation_ids": [], "secondary_private_ip_addresses": [],
            "secondary_private_ip_address_count": 0,
            "tags": {"Name": "nat"}, "tags_all": {"Name": "nat"}}),
    );
    for (tfname, alloc) in [("nat", &n.eip_nat), ("web", &n.eip_web)] {
        let e = ec2
            .describe_addresses()
            .allocation_ids(alloc)
            .send()
            .await
            .unwrap()
            .addresses()[0]
            .clone();
        st.add(
            None,
            "aws_eip",
            tfname,
            None,
            json!({"id": alloc, "allocation_id": alloc, "domain": "vpc",
                "public_ip": e.public_ip(), "private_ip": e.private_ip_address().unwrap_or_default(),
                "instance": e.instance_id().unwrap_or_default(),
                "network_interface": e.network_interface_id().unwrap_or_default(),
                "association_id": e.association_id().unwrap_or_default(),
                "public_ipv4_pool": "amazon", "network_border_group": "us-east-1",
                "customer_owned_ipv4_pool": "", "address": null, "tags": null, "tags_all": {}}),
        );
        if tfname == "web" {
            st.add(
                None,
                "aws_eip_association",
                "web",
                None,
                json!({"id": n.eip_assoc, "allocation_id": alloc, "instance_id": "",
                    "network_interface_id": n.eni,
                    "private_ip_address": e.private_ip_address().unwrap_or_default(),
                    "public_ip": e.public_ip(), "allow_reassociation": null}),
            );
            // The ENI the address is on is Terraform's too (aws_network_interface).
            let eni = ec2
                .describe_network_interfaces()
                .network_interface_ids(&n.eni)
                .send()
                .await
                .unwrap()
                .network_interfaces()[0]
                .clone();
            let groups: Vec<&str> = eni.groups().iter().filter_map(|g| g.group_id()).collect();
            st.add(
                None,
                "aws_network_interface",
                "web",
                None,
                json!({"id": n.eni, "subnet_id": n.subnet_pub, "description": "",
                    "private_ip": eni.private_ip_address(),
                    "private_ips": [eni.private_ip_address()], "security_groups": groups,
                    "source_dest_check": true, "interface_type": "interface", "attachment": [],
                    "tags": null, "tags_all": {}}),
            );
        }
    }
    let acl = ec2
        .describe_network_acls()
        .network_acl_ids(&n.acl)
        .send()
        .await
        .unwrap()
        .network_acls()[0]
        .clone();
    let entry = |e: &aws_sdk_ec2::types::NetworkAclEntry| {
        let pr = e.port_range();
        json!({"action": e.rule_action().unwrap().as_str(), "cidr_block": e.cidr_block(),
            "ipv6_cidr_block": "", "from_port": pr.and_then(|p| p.from()).unwrap_or(0),
            "to_port": pr.and_then(|p| p.to()).unwrap_or(0), "icmp_code": 0, "icmp_type": 0,
            "protocol": e.protocol(), "rule_no": e.rule_number()})
    };
    let dir = |egress: bool| -> Vec<Value> {
        acl.entries()
            .iter()
            .filter(|e| e.egress() == Some(egress) && e.rule_number() < Some(32767))
            .map(entry)
            .collect()
    };
    st.add(
        None,
        "aws_network_acl",
        "private",
        None,
        json!({"id": n.acl, "vpc_id": n.vpc, "owner_id": ACCOUNT,
            "subnet_ids": [n.subnet_priv], "ingress": dir(false), "egress": dir(true),
            "tags": {"Name": "private"}, "tags_all": {"Name": "private"}}),
    );
    st.add(
        None,
        "aws_network_acl_rule",
        "deny_ssh",
        None,
        json!({"id": "nacl-3190487221", "network_acl_id": n.acl, "rule_number": 200,
            "egress": false, "protocol": "6", "rule_action": "deny", "cidr_block": "10.0.0.0/8",
            "ipv6_cidr_block": "", "from_port": 22, "to_port": 22, "icmp_type": null,
            "icmp_code": null}),
    );
    st.add(
        None,
        "aws_network_acl_association",
        "private",
        None,
        json!({"id": acl_assoc_of(c, &n.subnet_priv).await, "network_acl_id": n.acl,
               "subnet_id": n.subnet_priv}),
    );
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

/// A VPC made by hand (outside Terraform); its id.
async fn vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> String {
    ec2.create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap()
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
    // NACL: an inline rule widened, the subnet moved back to the default NACL.
    ec2.replace_network_acl_entry()
        .network_acl_id(&n.acl)
        .rule_number(100)
        .egress(false)
        .protocol("6")
        .rule_action(aws_sdk_ec2::types::RuleAction::Allow)
        .cidr_block("0.0.0.0/0")
        .port_range(
            aws_sdk_ec2::types::PortRange::builder()
                .from(0)
                .to(65535)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let default_acl = ec2
        .describe_network_acls()
        .filters(f("vpc-id", &n.vpc))
        .filters(f("default", "true"))
        .send()
        .await
        .unwrap()
        .network_acls()[0]
        .network_acl_id()
        .unwrap()
        .to_string();
    ec2.replace_network_acl_association()
        .association_id(acl_assoc_of(&c, &n.subnet_priv).await)
        .network_acl_id(&default_acl)
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&n.nat)
        .resources(&n.eip_nat)
        .tags(tag("Env", "dev"))
        .send()
        .await
        .unwrap();
    let main_rtb = ec2
        .describe_route_tables()
        .filters(f("vpc-id", &n.vpc))
        .filters(f("association.main", "true"))
        .send()
        .await
        .unwrap()
        .route_tables()[0]
        .route_table_id()
        .unwrap()
        .to_string();
    ec2.create_route()
        .route_table_id(&main_rtb)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&n.igw)
        .send()
        .await
        .unwrap();
    let dopt2 = ec2
        .create_dhcp_options()
        .dhcp_configurations(
            aws_sdk_ec2::types::NewDhcpConfiguration::builder()
                .key("domain-name")
                .values("evil.example")
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
        .dhcp_options_id(&dopt2)
        .vpc_id(&n.vpc)
        .send()
        .await
        .unwrap();
    let rule = |port: i64| {
        json!({"action": "allow", "cidr_block": "0.0.0.0/0", "from_port": if port == 443 { 443 } else { 0 },
               "icmp_code": 0, "icmp_type": 0, "ipv6_cidr_block": "", "protocol": "6",
               "to_port": port})
        .to_string()
    };
    let r = scan(&moto, &n).await;
    let mut want = vec![
        r#"changed aws_eip.nat tags.Env: null -> "dev""#.to_string(),
        format!(
            r#"changed aws_default_route_table.main route["0.0.0.0/0"]: null -> {{"gateway_id":"{}"}}"#,
            n.igw
        ),
        format!(r#"changed aws_internet_gateway.gw tags.Owner: null -> "ops""#),
        format!(r#"changed aws_nat_gateway.nat tags.Env: null -> "dev""#),
        format!(
            r#"changed aws_network_acl.private ingress.100: {} -> {}"#,
            rule(443),
            rule(65535)
        ),
        format!(
            r#"changed aws_network_acl_association.private network_acl_id: "{}" -> "{default_acl}""#,
            n.acl
        ),
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
        format!(
            r#"changed aws_vpc_dhcp_options_association.corp dhcp_options_id: "{}" -> "{dopt2}""#,
            n.dopt
        ),
        "unmanaged aws_internet_gateway".to_string(),
        // The set associated by hand.
        "unmanaged aws_vpc_dhcp_options".to_string(),
    ];
    want.sort();
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
    let other = vpc(ec2, "10.99.0.0/16").await;
    ec2.create_subnet()
        .vpc_id(&other)
        .cidr_block("10.99.1.0/24")
        .send()
        .await
        .unwrap();
    ec2.disassociate_address()
        .association_id(&n.eip_assoc)
        .send()
        .await
        .unwrap();
    ec2.delete_network_acl_entry()
        .network_acl_id(&n.acl)
        .rule_number(200)
        .egress(false)
        .send()
        .await
        .unwrap();
    ec2.allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap();
    ec2.create_network_acl()
        .vpc_id(&n.vpc)
        .send()
        .await
        .unwrap();
    ec2.disassociate_vpc_cidr_block()
        .association_id(&n.cidr_assoc)
        .send()
        .await
        .unwrap();
    let r = scan(&moto, &n).await;
    assert_eq!(
        lines(&r),
        vec![
            "missing aws_eip_association.web",
            "missing aws_network_acl_rule.deny_ssh",
            "missing aws_route.private_peer",
            "missing aws_route_table_association.private",
            "missing aws_vpc_ipv4_cidr_block_association.secondary",
            "unmanaged aws_eip",
            "unmanaged aws_network_acl",
            "unmanaged aws_subnet",
            "unmanaged aws_vpc",
        ],
        "{}",
        r.to_text()
    );
}

/// With unmanaged detection a scope starts its `DescribeVpcAttribute` calls
/// from a first pass over its stacks' states, while the full parse goes on
/// (`driftd_aws::AwsReader::start_vpc_listing`); without it they wait for
/// the parse. Both make exactly the calls the state decides (one per VPC and
/// attribute the state sets, across the scope's stacks: a second stack's VPC
/// that sets only `enable_dns_support` costs one) and report the same drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpc_attribute_calls_started_early_are_the_ones_the_state_decides() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let n = seed(&c, &world::temp_dir("net-early")).await;
    let ec2 = &c.ec2;
    ec2.modify_vpc_attribute()
        .vpc_id(&n.vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    // A second stack of the same scope: one VPC, only one attribute in state.
    let other = vpc(ec2, "10.77.0.0/16").await;
    let mut st = StateBuilder::default();
    st.add(
        None,
        "aws_vpc",
        "other",
        None,
        json!({"id": other, "cidr_block": "10.77.0.0/16", "instance_tenancy": "default",
               "enable_dns_support": true, "tags": {}, "tags_all": {}}),
    );
    st.write(&n.dir.join("other.tfstate"));
    let two_stacks = format!(
        "{}\n[[stacks]]\nname = \"other\"\nstate = \"other.tfstate\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n",
        config(&moto.url),
        moto.url
    );
    let mut reports = Vec::new();
    for discover in [true, false] {
        let text = two_stacks.replace("[scan]\n", &format!("[scan]\nunmanaged = {discover}\n"));
        let calls = driftd::aws::ApiCalls::new();
        let r = crate::coverage_net2::scan_counted(&text, &n.dir, &calls, false).await;
        let by = calls.by_operation();
        // main and the adopted default VPC: both attributes; other: one.
        assert_eq!(
            by.get("DescribeVpcAttribute"),
            Some(&5),
            "discover={discover}: {by:?}"
        );
        assert_eq!(
            by.get("DescribeVpcs"),
            Some(&1),
            "discover={discover}: {by:?}"
        );
        let managed: Vec<String> = lines(&r)
            .into_iter()
            .filter(|l| !l.starts_with("unmanaged"))
            .collect();
        assert_eq!(
            managed,
            vec!["changed aws_vpc.main enable_dns_hostnames: true -> false".to_string()],
            "discover={discover}: {}",
            r.to_text()
        );
        assert!(
            r.stacks.iter().all(|s| s.counts.unknown == 0),
            "{}",
            r.to_text()
        );
        reports.push(managed);
    }
    assert_eq!(reports[0], reports[1]);
}
