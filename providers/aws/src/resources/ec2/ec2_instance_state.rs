//! `aws_ec2_instance_state`: an instance's running/stopped state, from the
//! complete `DescribeInstances` listing `aws_instance` makes with discovery
//! on (`ec2::InstanceFacts`), else from its own call filtered by the
//! instance ids (`compute::INSTANCE_STATES`). Transient states count as
//! where they are heading (`pending` is running, `stopping` stopped); a
//! terminated instance is missing. Non-critical; not discoverable.

use driftd_core::registry::{AttrSpec, Fix, ProjectContext, ResourceType};
use driftd_core::{Attrs, Shape, StateResource};
use serde_json::{json, Map, Value};

use crate::registry::{AwsType, Source};
use crate::services::ec2::compute;
use crate::services::ec2::listing::DesiredSet;
use crate::services::ec2::listing::{self as listing, Item};
use driftd_core::Live;

pub const NAME: &str = "aws_ec2_instance_state";

pub static TYPE: AwsType = AwsType {
    info: ResourceType {
        name: NAME,
        attributes: &[AttrSpec::new("state", Shape::Block, false, Fix::No)],
        discoverable: false,
        needed_from_other_stacks: false,
        whole_set_writes: &[],
        default_rules: &[],
        editor: &[],
        import: None,
        read_actions: &["ec2:DescribeInstances"],
        write_actions: &[],
        project,
        live_id: instance_id,
    },
    source: Source::Ec2List {
        listing: &compute::INSTANCE_STATES,
        parent: listing::own_id,
        extract,
        settle: None,
    },
    plan: None,
};

/// The instance the resource controls (its id is the instance id).
pub fn instance_id(r: &StateResource) -> String {
    r.attrs
        .get("instance_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(&r.id)
        .to_string()
}

/// `pending` is heading to running, `stopping` to stopped.
pub fn settled(state: &str) -> &str {
    match state {
        "pending" => "running",
        "stopping" => "stopped",
        s => s,
    }
}

/// Canonical desired attributes: the settled state.
pub fn project(r: &StateResource, _: &ProjectContext) -> Attrs {
    live(
        r.attrs
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
}

/// Canonical live attributes from an instance's `State.Name`.
pub fn live(state: &str) -> Attrs {
    let mut m = Map::new();
    m.insert("state".into(), json!(settled(state)));
    m
}

/// The instance's state; a terminated (or terminating) instance is missing.
fn extract(i: &Item, _: &DesiredSet<'_>) -> Vec<(String, Live)> {
    let id = listing::get(i, "InstanceId");
    let state = listing::get(i, "State");
    if matches!(state, "terminated" | "shutting-down") {
        return vec![];
    }
    vec![(id.to_string(), listing::live(id, live(state)))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_states_are_settled_on_both_sides() {
        let s = StateResource {
            address: "aws_ec2_instance_state.web".into(),
            rtype: NAME.into(),
            id: "i-1".into(),
            attrs: serde_json::json!({"id": "i-1", "instance_id": "i-1", "state": "running",
                "force": false})
            .as_object()
            .unwrap()
            .clone(),
            sensitive_paths: vec![],
            prepared: None,
        };
        assert_eq!((TYPE.info.live_id)(&s), "i-1");
        let d = project(&s, &ProjectContext::default());
        assert_eq!(d, live("pending"));
        assert_eq!(d, live("running"));
        assert_ne!(d, live("stopping"));
        assert_eq!(live("stopping"), live("stopped"));
    }
}
