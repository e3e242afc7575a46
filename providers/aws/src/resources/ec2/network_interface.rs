//! `aws_network_interface`: read with `DescribeNetworkInterfaces` (one
//! listing per scope, shared with `aws_network_interface_sg_attachment`).
//! Security groups an `aws_network_interface_sg_attachment` owns are
//! compared on the attachment, not here (one change, reported once).
//! ENIs created by AWS services (requester-managed, non-`interface` types,
//! attached for another owner) or with their instance (device index 0) are
//! not unmanaged unless strict.

use aws_sdk_ec2::types::NetworkInterface;
use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map};

use super::{ec2_tags, text};
use crate::normalize::{as_bool, effective_tags, string_or_empty, string_set, strings};
use crate::registry::{AwsType, Source};
use crate::services::ec2::compute::{self, canonical};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_network_interface";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("subnet_id", Shape::Block, true, Fix::No),
            AttrSpec::new("description", Shape::Block, false, Fix::No),
            AttrSpec::new("security_groups", Shape::Block, true, Fix::No),
            AttrSpec::new("source_dest_check", Shape::Block, true, Fix::No),
            AttrSpec::new("private_ips", Shape::Block, true, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "network-interface-access",
            attributes: &[
                "subnet_id",
                "security_groups",
                "source_dest_check",
                "private_ips",
            ],
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeNetworkInterfaces"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    source: Source::Ec2List {
        listing: &compute::NETWORK_INTERFACES,
        parent: listing::own_id,
        extract,
        settle: None,
    },
    plan: None,
};

/// Canonical desired attributes of an ENI.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    m.insert("subnet_id".into(), string_or_empty(a.get("subnet_id")));
    m.insert("description".into(), string_or_empty(a.get("description")));
    m.insert(
        "security_groups".into(),
        string_set(strings(a.get("security_groups"))),
    );
    // Default true in the schema: absent means true.
    m.insert(
        "source_dest_check".into(),
        json!(as_bool(a.get("source_dest_check")).unwrap_or(true)),
    );
    let ips = strings(a.get("private_ips"));
    if !ips.is_empty() {
        m.insert("private_ips".into(), string_set(ips));
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

/// Canonical live attributes from one `DescribeNetworkInterfaces` entry.
pub fn live(e: &NetworkInterface) -> Attrs {
    let mut m = Map::new();
    m.insert("subnet_id".into(), text(e.subnet_id()));
    m.insert("description".into(), text(e.description()));
    m.insert(
        "security_groups".into(),
        string_set(e.groups().iter().filter_map(|g| g.group_id())),
    );
    m.insert(
        "source_dest_check".into(),
        json!(e.source_dest_check().unwrap_or(true)),
    );
    m.insert(
        "private_ips".into(),
        string_set(
            e.private_ip_addresses()
                .iter()
                .filter_map(|p| p.private_ip_address())
                .chain(e.private_ip_address()),
        ),
    );
    m.insert("tags".into(), ec2_tags(e.tag_set()));
    m
}

/// Description prefixes of ENIs that AWS services create for themselves.
const SERVICE_DESCRIPTIONS: &[&str] = &[
    "ELB ",
    "AWS Lambda VPC ENI",
    "Interface for NAT Gateway",
    "EFS mount target",
    "RDSNetworkInterface",
    "aws-K8S-",
    "Amazon EKS",
    "arn:aws:ecs:",
    "VPC Endpoint Interface",
    "Network Interface for Transit Gateway",
];

/// Who owns an ENI that Terraform did not create, if not the account's user:
/// `Some(owner)` for service-owned ENIs (requester-managed, a non-`interface`
/// type other than `efa`, attached for a non-account owner such as
/// `amazon-elb`, or a service description). An instance's primary ENI
/// (device index 0) was created with its instance: `Some("instance")`.
pub fn service_owner(e: &NetworkInterface) -> Option<String> {
    if e.requester_managed() == Some(true) {
        return Some(e.requester_id().unwrap_or("requester-managed").to_string());
    }
    if let Some(t) = e.interface_type().map(|t| t.as_str()) {
        if !matches!(t, "interface" | "efa" | "efa-only") {
            return Some(t.to_string());
        }
    }
    if let Some(a) = e.attachment() {
        if let Some(owner) = a.instance_owner_id() {
            if !owner.chars().all(|c| c.is_ascii_digit()) {
                return Some(owner.to_string());
            }
        }
        if a.device_index() == Some(0) && a.instance_id().is_some() {
            return Some("instance".into());
        }
    }
    let d = e.description().unwrap_or_default();
    SERVICE_DESCRIPTIONS
        .iter()
        .find(|p| d.starts_with(**p))
        .map(|p| p.trim().to_string())
}

/// This type's live resources in one listed item. Groups that an
/// `aws_network_interface_sg_attachment` owns are left as the state has them
/// (the attachment reports them).
fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = listing::get(i, "NetworkInterfaceId");
    let mut attrs = canonical(i);
    let owned: Vec<String> = desired
        .of_type(super::network_interface_sg_attachment::NAME)
        .filter(|d| listing::attr(d, "network_interface_id") == id)
        .map(|d| listing::attr(d, "security_group_id").to_string())
        .collect();
    if !owned.is_empty() {
        let want: Vec<String> = desired
            .get(NAME, id)
            .map(|d| {
                strings(d.attrs.get("security_groups"))
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut have: Vec<String> = strings(attrs.get("security_groups"))
            .into_iter()
            .map(str::to_string)
            .filter(|g| !owned.contains(g))
            .collect();
        have.extend(want.into_iter().filter(|g| owned.contains(g)));
        attrs.insert(
            "security_groups".into(),
            string_set(have.iter().map(String::as_str)),
        );
    }
    let mut l = listing::live(id, attrs);
    l.owned_by_service = i
        .get("ServiceOwner")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    // An instance's primary ENI was created with it.
    if l.owned_by_service.as_deref() == Some("instance") {
        l.owned_by_service = None;
        l.auto_created = true;
    }
    vec![(id.to_string(), l)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        GroupIdentifier, NetworkInterfaceAttachment, NetworkInterfacePrivateIpAddress,
        NetworkInterfaceType, Tag,
    };

    /// Recorded provider v5 state and DescribeNetworkInterfaces answer for one ENI.
    #[test]
    fn state_and_recorded_describe_network_interfaces_agree() {
        let s = StateResource {
            address: "aws_network_interface.app".into(),
            rtype: NAME.into(),
            id: "eni-1".into(),
            attrs: json!({"id": "eni-1", "subnet_id": "subnet-1", "description": "app",
                "private_ip": "10.0.1.10", "private_ips": ["10.0.1.10"], "private_ips_count": 0,
                "security_groups": ["sg-2", "sg-1"], "source_dest_check": true,
                "interface_type": "interface", "attachment": [], "ipv6_addresses": [],
                "mac_address": "0a:1b", "owner_id": "123456789012",
                "tags": {"Name": "app"}, "tags_all": {"Name": "app"}})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        let d = project(&s, &ProjectContext::default());
        let e = NetworkInterface::builder()
            .network_interface_id("eni-1")
            .subnet_id("subnet-1")
            .description("app")
            .private_ip_address("10.0.1.10")
            .private_ip_addresses(
                NetworkInterfacePrivateIpAddress::builder()
                    .private_ip_address("10.0.1.10")
                    .primary(true)
                    .build(),
            )
            .groups(GroupIdentifier::builder().group_id("sg-1").build())
            .groups(GroupIdentifier::builder().group_id("sg-2").build())
            .source_dest_check(true)
            .interface_type(NetworkInterfaceType::Interface)
            .requester_managed(false)
            .tag_set(Tag::builder().key("Name").value("app").build())
            .build();
        assert_eq!(d, live(&e));
        assert_eq!(service_owner(&e), None);
    }

    /// Recorded real shapes of service-owned ENIs (moto cannot build them).
    #[test]
    fn service_owned_enis_are_recognised() {
        let nat = NetworkInterface::builder()
            .interface_type(NetworkInterfaceType::NatGateway)
            .requester_managed(true)
            .requester_id("amazon-nat")
            .description("Interface for NAT Gateway nat-0abc")
            .build();
        assert_eq!(service_owner(&nat).as_deref(), Some("amazon-nat"));
        let elb = NetworkInterface::builder()
            .interface_type(NetworkInterfaceType::Interface)
            .requester_managed(false)
            .description("ELB app/web/50dc6c495c0c9188")
            .attachment(
                NetworkInterfaceAttachment::builder()
                    .instance_owner_id("amazon-elb")
                    .device_index(1)
                    .build(),
            )
            .build();
        assert_eq!(service_owner(&elb).as_deref(), Some("amazon-elb"));
        let lambda = NetworkInterface::builder()
            .interface_type(NetworkInterfaceType::Lambda)
            .build();
        assert_eq!(service_owner(&lambda).as_deref(), Some("lambda"));
        let primary = NetworkInterface::builder()
            .interface_type(NetworkInterfaceType::Interface)
            .attachment(
                NetworkInterfaceAttachment::builder()
                    .instance_id("i-1")
                    .instance_owner_id("123456789012")
                    .device_index(0)
                    .build(),
            )
            .build();
        assert_eq!(service_owner(&primary).as_deref(), Some("instance"));
        let secondary = NetworkInterface::builder()
            .interface_type(NetworkInterfaceType::Interface)
            .attachment(
                NetworkInterfaceAttachment::builder()
                    .instance_id("i-1")
                    .instance_owner_id("123456789012")
                    .device_index(1)
                    .build(),
            )
            .build();
        assert_eq!(service_owner(&secondary), None);
    }
}
