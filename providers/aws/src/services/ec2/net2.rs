//! More network listings (endpoints, egress-only gateways, DHCP options,
//! peering connections, flow logs): each `Describe*` declared once, shared
//! by every type that reads it (see [`super::listing`]). Items use AWS field
//! names; a field AWS did not send is `""` (or null where that matters).

use aws_sdk_ec2::Client;
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::listing::{s, tags, Item, Listing};

/// `Some(v)` as JSON, `None` as null (a field AWS did not send).
fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map(Into::into).unwrap_or(Value::Null)
}

// ---- DescribeVpcEndpoints (filtered by VPC) ----

/// Filtered by `vpc-id` (the endpoint's VPC), not by endpoint id: a
/// `VpcEndpointIds` list fails the whole call when one id is gone (AWS
/// answers `InvalidVpcEndpointId.NotFound`), which would make every endpoint
/// unknown instead of one missing; and moto 5.1.22 answers 500 to the
/// `vpc-endpoint-id` filter. Endpoints of a VPC are few.
pub static VPC_ENDPOINTS: Listing = Listing {
    operation: "DescribeVpcEndpoints",
    filter: "vpc-id",
    read: read_endpoints,
    enrich: None,
    from_instances: None,
};

fn read_endpoints(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeVpcEndpoints",
            describe_vpc_endpoints,
            "vpc-id",
            values,
            vpc_endpoints,
            endpoint_item
        )
    })
}

/// A VPC endpoint as an item.
pub fn endpoint_item(v: &aws_sdk_ec2::types::VpcEndpoint) -> Item {
    let mut m = Map::new();
    m.insert("VpcEndpointId".into(), s(v.vpc_endpoint_id()));
    m.insert("VpcId".into(), s(v.vpc_id()));
    m.insert("ServiceName".into(), s(v.service_name()));
    m.insert(
        "VpcEndpointType".into(),
        s(v.vpc_endpoint_type().map(|x| x.as_str())),
    );
    m.insert("State".into(), s(v.state().map(|x| x.as_str())));
    m.insert("PolicyDocument".into(), s(v.policy_document()));
    m.insert("RouteTableIds".into(), json!(v.route_table_ids()));
    m.insert("SubnetIds".into(), json!(v.subnet_ids()));
    let groups: Vec<Value> = v.groups().iter().map(|g| s(g.group_id())).collect();
    m.insert("Groups".into(), Value::Array(groups));
    m.insert("PrivateDnsEnabled".into(), opt(v.private_dns_enabled()));
    m.insert(
        "RequesterManaged".into(),
        json!(v.requester_managed().unwrap_or(false)),
    );
    m.insert("Tags".into(), tags(v.tags()));
    m
}

// ---- DescribeEgressOnlyInternetGateways (unfiltered) ----

/// Listed unfiltered: the call has no id filter (only `tag:*`), and an
/// `EgressOnlyInternetGatewayIds` list fails whole on one gone id. A region
/// has few of them (one per IPv6 VPC).
pub static EGRESS_ONLY_IGWS: Listing = Listing {
    operation: "DescribeEgressOnlyInternetGateways",
    filter: "",
    read: read_eigws,
    enrich: None,
    from_instances: None,
};

fn read_eigws(client: &Client, _: Option<Vec<String>>) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        let mut pages = client
            .describe_egress_only_internet_gateways()
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!(
                    "DescribeEgressOnlyInternetGateways: {}",
                    crate::errors::describe(&e)
                )
            })?;
            out.extend(page.egress_only_internet_gateways().iter().map(eigw_item));
        }
        Ok(out)
    })
}

/// An egress-only internet gateway as an item.
pub fn eigw_item(v: &aws_sdk_ec2::types::EgressOnlyInternetGateway) -> Item {
    let mut m = Map::new();
    m.insert(
        "EgressOnlyInternetGatewayId".into(),
        s(v.egress_only_internet_gateway_id()),
    );
    let att: Vec<Value> = v
        .attachments()
        .iter()
        .map(|a| json!({"VpcId": s(a.vpc_id()), "State": s(a.state().map(|x| x.as_str()))}))
        .collect();
    m.insert("Attachments".into(), Value::Array(att));
    m.insert("Tags".into(), tags(v.tags()));
    m
}

// ---- DescribeDhcpOptions ----

pub static DHCP_OPTIONS: Listing = Listing {
    operation: "DescribeDhcpOptions",
    filter: "dhcp-options-id",
    read: read_dhcp,
    enrich: None,
    from_instances: None,
};

fn read_dhcp(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeDhcpOptions",
            describe_dhcp_options,
            "dhcp-options-id",
            values,
            dhcp_options,
            dhcp_item
        )
    })
}

/// A DHCP options set as an item: `DhcpConfigurations` is a map of key
/// (`domain-name-servers`) to its values, in AWS's order.
pub fn dhcp_item(v: &aws_sdk_ec2::types::DhcpOptions) -> Item {
    let mut m = Map::new();
    m.insert("DhcpOptionsId".into(), s(v.dhcp_options_id()));
    m.insert("OwnerId".into(), s(v.owner_id()));
    let mut conf = Map::new();
    for c in v.dhcp_configurations() {
        let vals: Vec<Value> = c.values().iter().map(|x| s(x.value())).collect();
        conf.insert(c.key().unwrap_or_default().to_string(), Value::Array(vals));
    }
    m.insert("DhcpConfigurations".into(), Value::Object(conf));
    m.insert("Tags".into(), tags(v.tags()));
    m
}

// ---- DescribeVpcPeeringConnections ----

pub static VPC_PEERING_CONNECTIONS: Listing = Listing {
    operation: "DescribeVpcPeeringConnections",
    filter: "vpc-peering-connection-id",
    read: read_peering,
    enrich: None,
    from_instances: None,
};

fn read_peering(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeVpcPeeringConnections",
            describe_vpc_peering_connections,
            "vpc-peering-connection-id",
            values,
            vpc_peering_connections,
            peering_item
        )
    })
}

fn vpc_info(v: Option<&aws_sdk_ec2::types::VpcPeeringConnectionVpcInfo>) -> Value {
    json!({"VpcId": s(v.and_then(|x| x.vpc_id())), "OwnerId": s(v.and_then(|x| x.owner_id())),
           "Region": s(v.and_then(|x| x.region()))})
}

/// A peering connection as an item.
pub fn peering_item(v: &aws_sdk_ec2::types::VpcPeeringConnection) -> Item {
    let mut m = Map::new();
    m.insert(
        "VpcPeeringConnectionId".into(),
        s(v.vpc_peering_connection_id()),
    );
    m.insert("RequesterVpcInfo".into(), vpc_info(v.requester_vpc_info()));
    m.insert("AccepterVpcInfo".into(), vpc_info(v.accepter_vpc_info()));
    m.insert(
        "Status".into(),
        s(v.status().and_then(|x| x.code()).map(|x| x.as_str())),
    );
    m.insert("Tags".into(), tags(v.tags()));
    m
}

// ---- DescribeFlowLogs ----

pub static FLOW_LOGS: Listing = Listing {
    operation: "DescribeFlowLogs",
    filter: "flow-log-id",
    read: read_flow_logs,
    enrich: None,
    from_instances: None,
};

fn read_flow_logs(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeFlowLogs",
            describe_flow_logs,
            filter "flow-log-id",
            values,
            flow_logs,
            flow_log_item
        )
    })
}

/// A flow log as an item.
pub fn flow_log_item(v: &aws_sdk_ec2::types::FlowLog) -> Item {
    let mut m = Map::new();
    m.insert("FlowLogId".into(), s(v.flow_log_id()));
    m.insert("ResourceId".into(), s(v.resource_id()));
    m.insert(
        "TrafficType".into(),
        s(v.traffic_type().map(|x| x.as_str())),
    );
    m.insert(
        "LogDestinationType".into(),
        s(v.log_destination_type().map(|x| x.as_str())),
    );
    m.insert("LogDestination".into(), s(v.log_destination()));
    m.insert("LogGroupName".into(), s(v.log_group_name()));
    m.insert(
        "DeliverLogsPermissionArn".into(),
        s(v.deliver_logs_permission_arn()),
    );
    m.insert(
        "MaxAggregationInterval".into(),
        opt(v.max_aggregation_interval()),
    );
    m.insert("LogFormat".into(), s(v.log_format()));
    m.insert("Tags".into(), tags(v.tags()));
    m
}
