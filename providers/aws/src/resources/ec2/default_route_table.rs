//! `aws_default_route_table`: a VPC's main route table, adopted by
//! Terraform; compared as `aws_route_table` (same route filtering and
//! standalone-route settling) from the shared `DescribeRouteTables`
//! listing. Known by `default_route_table_id`. Not discoverable. No
//! reconciler call.

use driftd_core::registry::{EditorHint, ResourceType};
use driftd_core::Live;

use super::route_table::{canonical, project, settle, ATTRIBUTES, ROUTES_ARE_CRITICAL};
use crate::registry::{AwsType, Source};
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{get, live, own_id, Item};
use crate::services::ec2::net::ROUTE_TABLES;

pub const NAME: &str = "aws_default_route_table";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: ATTRIBUTES,
        discoverable: false,
        needed_from_other_stacks: true,
        whole_set_writes: &[],
        default_rules: &[ROUTES_ARE_CRITICAL],
        editor: &[("route", EditorHint::KeyedBy(super::route_table::ROUTE_KEYS))],
        import: None,
        read_actions: &["ec2:DescribeRouteTables"],
        write_actions: &[],
        project,
        live_id: |r| {
            r.attrs
                .get("default_route_table_id")
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(&r.id)
                .to_string()
        },
    },
    source: Source::Ec2List {
        listing: &ROUTE_TABLES,
        parent: own_id,
        extract,
        settle: Some(settle),
    },
    plan: None,
};

fn extract(i: &Item, desired: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = get(i, "RouteTableId");
    let want = desired.get(NAME, id);
    vec![(id.to_string(), live(id, canonical(i, want, desired)))]
}

#[cfg(test)]
mod tests {
    use super::super::route_table::tests::{desired, item, route};
    use super::*;
    use serde_json::json;

    #[test]
    fn the_main_table_adopted() {
        let d = desired(
            NAME,
            "rtb-m",
            json!({"id": "rtb-m", "default_route_table_id": "rtb-m", "vpc_id": "vpc-1",
                   "route": [], "propagating_vgws": [], "tags_all": {}}),
        );
        let i = item(json!({"RouteTableId": "rtb-m", "VpcId": "vpc-1",
            "Routes": [route("10.0.0.0/16", "local", "CreateRouteTable")],
            "Associations": [{"Main": true}], "PropagatingVgws": [], "Tags": {}}));
        assert_eq!(
            extract(&i, &DesiredSet::new(std::slice::from_ref(&d)))[0]
                .1
                .attrs,
            d.attrs
        );
        let Source::Ec2List {
            extract: as_table, ..
        } = super::super::route_table::TYPE.source
        else {
            unreachable!()
        };
        assert!(as_table(&i, &DesiredSet::new(&[d])).is_empty());
    }
}
