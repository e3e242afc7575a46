//! `aws_vpc_peering_connection`: the shared `DescribeVpcPeeringConnections`
//! listing. As the provider reads it: `vpc_id` is the requester's VPC,
//! `peer_vpc_id`/`peer_owner_id`/`peer_region` the accepter's (swapped when
//! the state was written from the accepter's side, as the provider does),
//! `accept_status` the status code. A connection in status
//! `deleted`/`rejected`/`failed`/`expired` is gone (AWS keeps listing it for
//! a while). No reconciler call.

use driftd_core::registry::{AttrSpec, DefaultRule, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Live, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::normalize::{effective_tags, string_or_empty};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{attr, get, live, own_id, Item};
use crate::services::ec2::net2::VPC_PEERING_CONNECTIONS;

pub const NAME: &str = "aws_vpc_peering_connection";

const FIELDS: &[&str] = &[
    "vpc_id",
    "peer_vpc_id",
    "peer_owner_id",
    "peer_region",
    "accept_status",
];

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[
            AttrSpec::new("vpc_id", Shape::Block, true, Fix::No),
            AttrSpec::new("peer_vpc_id", Shape::Block, true, Fix::No),
            AttrSpec::new("peer_owner_id", Shape::Block, true, Fix::No),
            AttrSpec::new("peer_region", Shape::Block, true, Fix::No),
            AttrSpec::new("accept_status", Shape::Block, true, Fix::No),
            AttrSpec::new("tags", Shape::Map, false, Fix::No),
        ],
        discoverable: true,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[DefaultRule {
            name: "vpc-peering",
            attributes: FIELDS,
            kinds: &[],
            critical: true,
        }],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeVpcPeeringConnections"],
        write_actions: &[],
        project,
        live_id: |r| r.id.clone(),
    },
    plan: None,
    source: Source::Ec2List {
        listing: &VPC_PEERING_CONNECTIONS,
        parent: own_id,
        extract,
        settle: None,
    },
};

pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    let a = &r.attrs;
    let mut m = Map::new();
    for k in FIELDS {
        // `peer_region` is absent from older states: compared where present.
        if matches!(a.get(*k), Some(Value::String(_))) {
            m.insert((*k).into(), string_or_empty(a.get(*k)));
        }
    }
    m.insert("tags".into(), effective_tags(a));
    m
}

fn side<'a>(i: &'a Item, which: &str, field: &str) -> &'a str {
    i.get(which)
        .and_then(|v| v.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The live form; `accepter_view`: the state was written by the accepter
/// (its `vpc_id` is the accepter's VPC), as the provider swaps sides then.
pub fn canonical(i: &Item, accepter_view: bool) -> Attrs {
    let (me, peer) = if accepter_view {
        ("AccepterVpcInfo", "RequesterVpcInfo")
    } else {
        ("RequesterVpcInfo", "AccepterVpcInfo")
    };
    let mut m = Map::new();
    m.insert("vpc_id".into(), json!(side(i, me, "VpcId")));
    m.insert("peer_vpc_id".into(), json!(side(i, peer, "VpcId")));
    m.insert("peer_owner_id".into(), json!(side(i, peer, "OwnerId")));
    // The provider always reads the accepter's region.
    m.insert(
        "peer_region".into(),
        json!(side(i, "AccepterVpcInfo", "Region")),
    );
    m.insert("accept_status".into(), json!(get(i, "Status")));
    m.insert(
        "tags".into(),
        i.get("Tags").cloned().unwrap_or_else(|| json!({})),
    );
    m
}

fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    if matches!(
        get(i, "Status"),
        "deleted" | "rejected" | "failed" | "expired"
    ) {
        return vec![];
    }
    let id = get(i, "VpcPeeringConnectionId");
    let accepter_view = desired.of_type(NAME).any(|d| {
        d.id == id
            && attr(d, "vpc_id") == side(i, "AccepterVpcInfo", "VpcId")
            && attr(d, "vpc_id") != side(i, "RequesterVpcInfo", "VpcId")
    });
    vec![(id.to_string(), live(id, canonical(i, accepter_view)))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item};
    use super::*;

    fn recorded(status: &str) -> Item {
        item(json!({"VpcPeeringConnectionId": "pcx-1",
            "RequesterVpcInfo": {"VpcId": "vpc-a", "OwnerId": "111111111111", "Region": "us-east-1"},
            "AccepterVpcInfo": {"VpcId": "vpc-b", "OwnerId": "222222222222", "Region": "eu-west-1"},
            "Status": status, "Tags": {"Name": "a-b"}}))
    }

    fn state() -> Value {
        json!({"id": "pcx-1", "accept_status": "active", "accepter": [], "requester": [],
            "auto_accept": null, "peer_owner_id": "222222222222", "peer_region": "eu-west-1",
            "peer_vpc_id": "vpc-b", "vpc_id": "vpc-a", "tags": {"Name": "a-b"},
            "tags_all": {"Name": "a-b"}, "timeouts": null})
    }

    #[test]
    fn state_and_recorded_answer_agree() {
        let d = desired(NAME, "pcx-1", state());
        let got = extract(
            &recorded("active"),
            &DesiredSet::new(std::slice::from_ref(&d)),
        );
        assert_eq!(got[0].1.attrs, d.attrs);
    }

    #[test]
    fn gone_statuses_are_missing_pending_is_live() {
        for st in ["deleted", "rejected", "failed", "expired"] {
            assert!(
                extract(&recorded(st), &DesiredSet::new(&[])).is_empty(),
                "{st}"
            );
        }
        let l = &extract(&recorded("pending-acceptance"), &DesiredSet::new(&[]))[0]
            .1
            .attrs;
        assert_eq!(l["accept_status"], json!("pending-acceptance"));
    }

    #[test]
    fn a_state_written_by_the_accepter_is_read_from_its_side() {
        let mut s = state();
        s["vpc_id"] = json!("vpc-b");
        s["peer_vpc_id"] = json!("vpc-a");
        s["peer_owner_id"] = json!("111111111111");
        let d = desired(NAME, "pcx-1", s);
        let got = extract(
            &recorded("active"),
            &DesiredSet::new(std::slice::from_ref(&d)),
        );
        assert_eq!(got[0].1.attrs, d.attrs);
    }

    #[test]
    fn the_sdk_item_reads_both_sides() {
        use aws_sdk_ec2::types::{
            VpcPeeringConnection, VpcPeeringConnectionStateReason,
            VpcPeeringConnectionStateReasonCode as Code, VpcPeeringConnectionVpcInfo as Info,
        };
        let p = VpcPeeringConnection::builder()
            .vpc_peering_connection_id("pcx-1")
            .requester_vpc_info(
                Info::builder()
                    .vpc_id("vpc-a")
                    .owner_id("1")
                    .region("us-east-1")
                    .build(),
            )
            .accepter_vpc_info(
                Info::builder()
                    .vpc_id("vpc-b")
                    .owner_id("2")
                    .region("us-east-1")
                    .build(),
            )
            .status(
                VpcPeeringConnectionStateReason::builder()
                    .code(Code::Active)
                    .build(),
            )
            .build();
        let c = canonical(&crate::services::ec2::net2::peering_item(&p), false);
        assert_eq!(c["peer_vpc_id"], json!("vpc-b"));
        assert_eq!(c["accept_status"], json!("active"));
    }
}
