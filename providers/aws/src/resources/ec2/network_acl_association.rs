//! `aws_network_acl_association`: which NACL a subnet is on, from the
//! shared `DescribeNetworkAcls` listing. Known by its subnet (the
//! `aclassoc-` id changes on every replace), so a subnet moved back to the
//! default NACL shows as a changed `network_acl_id`; the listing is then
//! unfiltered (one call). Not discoverable (every subnet has an
//! association). No reconciler call.

use driftd_core::registry::{AttrSpec, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use super::network_acl::RULES_ARE_CRITICAL;
use crate::normalize::string_or_empty;
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, Item};
use crate::services::ec2::net::NETWORK_ACLS;

pub const NAME: &str = "aws_network_acl_association";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("network_acl_id", Shape::Block, true, Fix::No),
            AttrSpec::new("subnet_id", Shape::Block, true, Fix::No),
        ],
        discoverable: false,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[RULES_ARE_CRITICAL],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeNetworkAcls"],
        write_actions: &[],
        project,
        live_id: |r| {
            r.attrs
                .get("subnet_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        },
    },
    source: Source::Ec2List {
        listing: &NETWORK_ACLS,
        parent: |_| None,
        extract,
        settle: None,
    },
    plan: None,
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let mut m = Map::new();
    for k in ["network_acl_id", "subnet_id"] {
        m.insert(k.into(), string_or_empty(r.attrs.get(k)));
    }
    m
}

fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let acl = get(i, "NetworkAclId");
    i.get("Associations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|a| {
            let subnet = get(a, "SubnetId");
            let mut m = Map::new();
            m.insert("network_acl_id".into(), json!(acl));
            m.insert("subnet_id".into(), json!(subnet));
            (subnet.to_string(), live(subnet, m))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    #[test]
    fn known_by_subnet() {
        let d = desired(
            NAME,
            "aclassoc-1",
            json!({"id": "aclassoc-1", "network_acl_id": "acl-1", "subnet_id": "subnet-1"}),
        );
        assert_eq!(d.id, "subnet-1");
        let i = item(json!({"NetworkAclId": "acl-default", "Associations": [
            {"NetworkAclAssociationId": "aclassoc-9", "SubnetId": "subnet-1"}]}));
        let got = extract(&i, &DesiredSet::new(&[]));
        assert_eq!(got[0].0, "subnet-1");
        assert_eq!(got[0].1.attrs["network_acl_id"], json!("acl-default"));
        assert_ne!(got[0].1.attrs, d.attrs);
    }
}
