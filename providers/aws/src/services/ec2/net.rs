//! The network listings: each `Describe*` declared once, shared by every
//! type that reads it (see [`super::listing`]). Items use AWS field names.

use aws_sdk_ec2::types::VpcAttributeName;
use aws_sdk_ec2::Client;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use super::listing::{get, s, tags, DesiredSet, Item, Listing};

// ---- DescribeVpcs (+ DescribeVpcAttribute where the state sets enable_dns_*) ----

pub static VPCS: Listing = Listing {
    operation: "DescribeVpcs",
    filter: "vpc-id",
    read: read_vpcs,
    enrich: Some(vpc_attributes),
    from_instances: None,
};

fn read_vpcs(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeVpcs",
            describe_vpcs,
            "vpc-id",
            values,
            vpcs,
            vpc_item
        )
    })
}

/// A VPC as an item.
pub fn vpc_item(v: &aws_sdk_ec2::types::Vpc) -> Item {
    let mut m = Map::new();
    m.insert("VpcId".into(), s(v.vpc_id()));
    m.insert("CidrBlock".into(), s(v.cidr_block()));
    m.insert(
        "InstanceTenancy".into(),
        s(v.instance_tenancy().map(|t| t.as_str())),
    );
    m.insert("DhcpOptionsId".into(), s(v.dhcp_options_id()));
    m.insert("IsDefault".into(), json!(v.is_default().unwrap_or(false)));
    m.insert("OwnerId".into(), s(v.owner_id()));
    let cidrs: Vec<Value> = v
        .cidr_block_association_set()
        .iter()
        .map(|a| {
            json!({"AssociationId": s(a.association_id()), "CidrBlock": s(a.cidr_block()),
                   "State": s(a.cidr_block_state().and_then(|x| x.state()).map(|x| x.as_str()))})
        })
        .collect();
    m.insert("CidrBlockAssociationSet".into(), Value::Array(cidrs));
    let v6: Vec<Value> = v
        .ipv6_cidr_block_association_set()
        .iter()
        .map(|a| {
            json!({"AssociationId": s(a.association_id()), "Ipv6CidrBlock": s(a.ipv6_cidr_block()),
                   "State": s(a.ipv6_cidr_block_state().and_then(|x| x.state()).map(|x| x.as_str())),
                   "Ipv6Pool": s(a.ipv6_pool()),
                   "NetworkBorderGroup": s(a.network_border_group())})
        })
        .collect();
    m.insert("Ipv6CidrBlockAssociationSet".into(), Value::Array(v6));
    m.insert("Tags".into(), tags(v.tags()));
    m
}

/// The VPC attributes `DescribeVpcAttribute` reads (one per call), by the
/// state attribute that asks for them.
pub const VPC_ATTRIBUTES: &[(&str, &str)] = &[
    ("enable_dns_support", "EnableDnsSupport"),
    ("enable_dns_hostnames", "EnableDnsHostnames"),
];

/// One `DescribeVpcAttribute` per VPC and attribute, only for VPCs whose
/// desired form compares that attribute (bounded concurrency). Idempotent
/// ([`super::listing::EnrichFn`]): an attribute already read is kept when
/// compared, dropped when not.
fn vpc_attributes<'a>(
    client: &'a Client,
    items: &'a mut [Item],
    desired: &'a DesiredSet<'a>,
    concurrency: usize,
    _instances: &'a super::SharedInstances,
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let mut calls = Vec::new();
        for (i, item) in items.iter_mut().enumerate() {
            let id = get(item, "VpcId").to_string();
            for (attr, field) in VPC_ATTRIBUTES {
                let compared = VPC_TYPES
                    .iter()
                    .flat_map(|t| desired.with_id(t, &id))
                    .any(|d| d.attrs.contains_key(*attr));
                if !compared {
                    item.remove(*field);
                } else if !item.contains_key(*field) {
                    calls.push((i, id.clone(), *field as &'static str));
                }
            }
        }
        let futs: Vec<_> = calls
            .into_iter()
            .map(|(i, id, field)| vpc_attribute(client, i, id, field))
            .collect();
        let got: Vec<(usize, &'static str, bool)> = stream::iter(futs)
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        for (i, field, v) in got {
            items[i].insert(field.into(), json!(v));
        }
        Ok(())
    })
}

async fn vpc_attribute(
    client: &Client,
    i: usize,
    id: String,
    field: &'static str,
) -> Result<(usize, &'static str, bool), String> {
    let name = match field {
        "EnableDnsSupport" => VpcAttributeName::EnableDnsSupport,
        _ => VpcAttributeName::EnableDnsHostnames,
    };
    let out = client
        .describe_vpc_attribute()
        .vpc_id(&id)
        .attribute(name)
        .send()
        .await
        .map_err(|e| format!("DescribeVpcAttribute: {}", crate::errors::describe(&e)))?;
    let v = match field {
        "EnableDnsSupport" => out.enable_dns_support().and_then(|v| v.value()),
        _ => out.enable_dns_hostnames().and_then(|v| v.value()),
    };
    Ok((i, field, v.unwrap_or(false)))
}

/// The types whose desired form may set a VPC attribute.
pub const VPC_TYPES: [&str; 2] = ["aws_vpc", "aws_default_vpc"];

/// `Some(v)` as JSON, `None` as null (an item field AWS did not send).
fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map(Into::into).unwrap_or(Value::Null)
}

// ---- DescribeSubnets ----

pub static SUBNETS: Listing = Listing {
    operation: "DescribeSubnets",
    filter: "subnet-id",
    read: read_subnets,
    enrich: None,
    from_instances: None,
};

fn read_subnets(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeSubnets",
            describe_subnets,
            "subnet-id",
            values,
            subnets,
            subnet_item
        )
    })
}

/// A subnet as an item (fields AWS did not send are null).
pub fn subnet_item(v: &aws_sdk_ec2::types::Subnet) -> Item {
    let mut m = Map::new();
    m.insert("SubnetId".into(), s(v.subnet_id()));
    m.insert("VpcId".into(), s(v.vpc_id()));
    m.insert("CidrBlock".into(), s(v.cidr_block()));
    m.insert("AvailabilityZone".into(), s(v.availability_zone()));
    m.insert("AvailabilityZoneId".into(), s(v.availability_zone_id()));
    m.insert(
        "MapPublicIpOnLaunch".into(),
        opt(v.map_public_ip_on_launch()),
    );
    m.insert(
        "AssignIpv6AddressOnCreation".into(),
        opt(v.assign_ipv6_address_on_creation()),
    );
    m.insert(
        "DefaultForAz".into(),
        json!(v.default_for_az().unwrap_or(false)),
    );
    m.insert("EnableDns64".into(), opt(v.enable_dns64()));
    m.insert("Ipv6Native".into(), opt(v.ipv6_native()));
    let v6 = v
        .ipv6_cidr_block_association_set()
        .iter()
        .find(|a| {
            a.ipv6_cidr_block_state()
                .and_then(|x| x.state())
                .is_some_and(|x| x.as_str() == "associated")
        })
        .and_then(|a| a.ipv6_cidr_block())
        .unwrap_or_default();
    m.insert("Ipv6CidrBlock".into(), json!(v6));
    m.insert("Tags".into(), tags(v.tags()));
    m
}

// ---- DescribeInternetGateways ----

pub static INTERNET_GATEWAYS: Listing = Listing {
    operation: "DescribeInternetGateways",
    filter: "internet-gateway-id",
    read: read_igws,
    enrich: None,
    from_instances: None,
};

fn read_igws(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeInternetGateways",
            describe_internet_gateways,
            "internet-gateway-id",
            values,
            internet_gateways,
            igw_item
        )
    })
}

/// An internet gateway as an item.
pub fn igw_item(v: &aws_sdk_ec2::types::InternetGateway) -> Item {
    let mut m = Map::new();
    m.insert("InternetGatewayId".into(), s(v.internet_gateway_id()));
    m.insert("OwnerId".into(), s(v.owner_id()));
    let att: Vec<Value> = v
        .attachments()
        .iter()
        .map(|a| json!({"VpcId": s(a.vpc_id()), "State": s(a.state().map(|x| x.as_str()))}))
        .collect();
    m.insert("Attachments".into(), Value::Array(att));
    m.insert("Tags".into(), tags(v.tags()));
    m
}

// ---- DescribeRouteTables (route tables, routes, associations) ----

pub static ROUTE_TABLES: Listing = Listing {
    operation: "DescribeRouteTables",
    filter: "route-table-id",
    read: read_route_tables,
    enrich: None,
    from_instances: None,
};

fn read_route_tables(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeRouteTables",
            describe_route_tables,
            "route-table-id",
            values,
            route_tables,
            route_table_item
        )
    })
}

/// A route table as an item: `Routes`, `Associations`, `PropagatingVgws`
/// (null when AWS did not send the element).
pub fn route_table_item(v: &aws_sdk_ec2::types::RouteTable) -> Item {
    let mut m = Map::new();
    m.insert("RouteTableId".into(), s(v.route_table_id()));
    m.insert("VpcId".into(), s(v.vpc_id()));
    m.insert("OwnerId".into(), s(v.owner_id()));
    let routes: Vec<Value> = v
        .routes()
        .iter()
        .map(|r| {
            json!({
                "DestinationCidrBlock": s(r.destination_cidr_block()),
                "DestinationIpv6CidrBlock": s(r.destination_ipv6_cidr_block()),
                "DestinationPrefixListId": s(r.destination_prefix_list_id()),
                "GatewayId": s(r.gateway_id()),
                "NatGatewayId": s(r.nat_gateway_id()),
                "TransitGatewayId": s(r.transit_gateway_id()),
                "VpcPeeringConnectionId": s(r.vpc_peering_connection_id()),
                "EgressOnlyInternetGatewayId": s(r.egress_only_internet_gateway_id()),
                "NetworkInterfaceId": s(r.network_interface_id()),
                "InstanceId": s(r.instance_id()),
                "CarrierGatewayId": s(r.carrier_gateway_id()),
                "LocalGatewayId": s(r.local_gateway_id()),
                "CoreNetworkArn": s(r.core_network_arn()),
                "Origin": s(r.origin().map(|x| x.as_str())),
                "State": s(r.state().map(|x| x.as_str())),
            })
        })
        .collect();
    m.insert("Routes".into(), Value::Array(routes));
    let assoc: Vec<Value> = v
        .associations()
        .iter()
        .map(|a| {
            json!({
                "RouteTableAssociationId": s(a.route_table_association_id()),
                "SubnetId": s(a.subnet_id()),
                "GatewayId": s(a.gateway_id()),
                "Main": a.main().unwrap_or(false),
                "State": s(a.association_state().and_then(|x| x.state()).map(|x| x.as_str())),
            })
        })
        .collect();
    m.insert("Associations".into(), Value::Array(assoc));
    if let Some(p) = v.propagating_vgws.as_ref() {
        let ids: Vec<Value> = p.iter().map(|g| s(g.gateway_id())).collect();
        m.insert("PropagatingVgws".into(), Value::Array(ids));
    }
    m.insert("Tags".into(), tags(v.tags()));
    m
}

// ---- DescribeNatGateways ----

pub static NAT_GATEWAYS: Listing = Listing {
    operation: "DescribeNatGateways",
    filter: "nat-gateway-id",
    read: read_nats,
    enrich: None,
    from_instances: None,
};

fn read_nats(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeNatGateways",
            describe_nat_gateways,
            filter "nat-gateway-id",
            values,
            nat_gateways,
            nat_item
        )
    })
}

/// A NAT gateway as an item.
pub fn nat_item(v: &aws_sdk_ec2::types::NatGateway) -> Item {
    let mut m = Map::new();
    m.insert("NatGatewayId".into(), s(v.nat_gateway_id()));
    m.insert("SubnetId".into(), s(v.subnet_id()));
    m.insert("VpcId".into(), s(v.vpc_id()));
    m.insert("State".into(), s(v.state().map(|x| x.as_str())));
    m.insert(
        "ConnectivityType".into(),
        s(v.connectivity_type().map(|x| x.as_str())),
    );
    let addrs: Vec<Value> = v
        .nat_gateway_addresses()
        .iter()
        .map(|a| {
            json!({"AllocationId": s(a.allocation_id()), "PrivateIp": s(a.private_ip()),
                   "PublicIp": s(a.public_ip()), "NetworkInterfaceId": s(a.network_interface_id()),
                   "IsPrimary": opt(a.is_primary())})
        })
        .collect();
    m.insert("NatGatewayAddresses".into(), Value::Array(addrs));
    m.insert("Tags".into(), tags(v.tags()));
    m
}

// ---- DescribeAddresses (not paginated) ----

pub static ADDRESSES: Listing = Listing {
    operation: "DescribeAddresses",
    filter: "allocation-id",
    read: read_addresses,
    enrich: None,
    from_instances: None,
};

fn read_addresses(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        let mut req = client.describe_addresses();
        if let Some(v) = values {
            req = req.filters(super::listing::filter("allocation-id", &v));
        }
        let out = req
            .send()
            .await
            .map_err(|e| format!("DescribeAddresses: {}", crate::errors::describe(&e)))?;
        Ok(out.addresses().iter().map(address_item).collect())
    })
}

/// An Elastic IP as an item.
pub fn address_item(v: &aws_sdk_ec2::types::Address) -> Item {
    let mut m = Map::new();
    m.insert("AllocationId".into(), s(v.allocation_id()));
    m.insert("AssociationId".into(), s(v.association_id()));
    m.insert("Domain".into(), s(v.domain().map(|x| x.as_str())));
    m.insert("InstanceId".into(), s(v.instance_id()));
    m.insert("NetworkInterfaceId".into(), s(v.network_interface_id()));
    m.insert("PrivateIpAddress".into(), s(v.private_ip_address()));
    m.insert("PublicIp".into(), s(v.public_ip()));
    m.insert("PublicIpv4Pool".into(), opt(v.public_ipv4_pool()));
    m.insert("NetworkBorderGroup".into(), opt(v.network_border_group()));
    m.insert("Tags".into(), tags(v.tags()));
    m
}

// ---- DescribeNetworkAcls (NACLs, their rules and associations) ----

pub static NETWORK_ACLS: Listing = Listing {
    operation: "DescribeNetworkAcls",
    filter: "network-acl-id",
    read: read_nacls,
    enrich: None,
    from_instances: None,
};

fn read_nacls(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeNetworkAcls",
            describe_network_acls,
            "network-acl-id",
            values,
            network_acls,
            nacl_item
        )
    })
}

/// A network ACL as an item (moto leaves out zero ports and ICMP codes:
/// they read as 0).
pub fn nacl_item(v: &aws_sdk_ec2::types::NetworkAcl) -> Item {
    let mut m = Map::new();
    m.insert("NetworkAclId".into(), s(v.network_acl_id()));
    m.insert("VpcId".into(), s(v.vpc_id()));
    m.insert("IsDefault".into(), json!(v.is_default().unwrap_or(false)));
    let entries: Vec<Value> = v
        .entries()
        .iter()
        .map(|e| {
            json!({"RuleNumber": e.rule_number().unwrap_or_default(),
                   "Egress": e.egress().unwrap_or(false), "Protocol": s(e.protocol()),
                   "RuleAction": s(e.rule_action().map(|x| x.as_str())),
                   "CidrBlock": s(e.cidr_block()), "Ipv6CidrBlock": s(e.ipv6_cidr_block()),
                   "From": e.port_range().and_then(|p| p.from()).unwrap_or_default(),
                   "To": e.port_range().and_then(|p| p.to()).unwrap_or_default(),
                   "IcmpType": e.icmp_type_code().and_then(|p| p.r#type()).unwrap_or_default(),
                   "IcmpCode": e.icmp_type_code().and_then(|p| p.code()).unwrap_or_default()})
        })
        .collect();
    m.insert("Entries".into(), Value::Array(entries));
    let assoc: Vec<Value> = v
        .associations()
        .iter()
        .map(|a| {
            json!({"NetworkAclAssociationId": s(a.network_acl_association_id()),
                   "SubnetId": s(a.subnet_id())})
        })
        .collect();
    m.insert("Associations".into(), Value::Array(assoc));
    m.insert("Tags".into(), tags(v.tags()));
    m
}
