//! The network listings: each `Describe*` declared once, shared by every
//! type that reads it (see [`super::listing`]). Items use AWS field names.

use aws_sdk_ec2::types::VpcAttributeName;
use aws_sdk_ec2::Client;
use driftd_core::Desired;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use super::listing::{get, s, tags, Item, Listing};

// ---- DescribeVpcs (+ DescribeVpcAttribute where the state sets enable_dns_*) ----

pub static VPCS: Listing = Listing {
    operation: "DescribeVpcs",
    filter: "vpc-id",
    read: read_vpcs,
    enrich: Some(vpc_attributes),
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
/// desired form compares that attribute (bounded concurrency).
fn vpc_attributes<'a>(
    client: &'a Client,
    items: &'a mut [Item],
    desired: &'a [Desired],
    concurrency: usize,
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let mut calls = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let id = get(item, "VpcId");
            for (attr, field) in VPC_ATTRIBUTES {
                if desired
                    .iter()
                    .any(|d| d.id == id && d.attrs.contains_key(*attr) && is_vpc_type(&d.rtype))
                {
                    calls.push((i, id.to_string(), *field as &'static str));
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

fn is_vpc_type(t: &str) -> bool {
    t == "aws_vpc" || t == "aws_default_vpc"
}
