//! The AWS provider's registry: ONE static list of its resource types.
//!
//! Adding a type is one file under `resources/`, its tests, and one line in
//! [`TYPES`]. Everything the engine needs (compared attributes, discovery,
//! default policy, editor hints, IAM actions) comes from the type's
//! [`AwsType::info`]; the provider itself uses [`AwsType::source`] to route
//! the type's live data from the service layer.

use std::sync::LazyLock;

use driftd_core::registry::{Registry, ResourceType};
use driftd_core::{Action, AttrDiff, Desired, NotReconcilable};

use crate::resources::{ec2, s3};

/// A registered AWS type: the engine-facing description, its live source
/// and its reconcile plan.
#[derive(Debug)]
pub struct AwsType {
    pub info: ResourceType,
    pub source: Source,
    /// The typed calls that put a resource of this type back to its state's
    /// values (`None`: report-only, the reconciler refuses the type).
    pub plan: Option<PlanFn>,
}

/// A type's reconcile plan: the calls that repair these differences of one
/// resource (built as [`crate::ops::Op`] values and turned into actions by
/// `reconcile::action`), or why they cannot be repaired safely.
pub type PlanFn = fn(&Desired, &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable>;

/// Which service call provides a type's live data (the service layer makes
/// each call once per scope, or once per parent, for all types sharing it).
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// `DescribeInstances` (+ `DescribeVolumes`, `DescribeInstanceAttribute`).
    Instances,
    /// `DescribeSecurityGroups`.
    SecurityGroups,
    /// Synthesized from the groups `DescribeSecurityGroups` returned.
    GroupPermissions,
    /// `DescribeSecurityGroupRules`, filtered by group.
    SecurityGroupRules,
    /// `ListBuckets` and the bucket's per-bucket `Get*` calls.
    Bucket,
    /// A split configuration of a bucket, read by the per-bucket calls;
    /// `replaces` is the bucket's inline attribute it takes over.
    BucketConfig { replaces: Option<&'static str> },
    /// A split configuration of a bucket with its own per-bucket call,
    /// declared by the type (`replaces` as for [`Source::BucketConfig`]).
    BucketDoc {
        replaces: Option<&'static str>,
        doc: &'static crate::services::s3::BucketDoc,
    },
    /// Several configurations of a bucket (ids `bucket:config-id`), all read
    /// by the type's one per-bucket `List*Configurations` call.
    BucketConfigs {
        list: &'static crate::services::s3::BucketConfigs,
    },
    /// A shared EC2 listing (`services::ec2::listing`), made once per scope
    /// for every type reading it: `parent` gives the filter value a desired
    /// resource needs listed, `extract` cuts the type's live resources out
    /// of one listed item (given the scope's desired resources), `settle`
    /// applies cross-resource ownership to the projection.
    Ec2List {
        listing: &'static crate::services::ec2::listing::Listing,
        parent: crate::services::ec2::listing::ParentFn,
        extract: crate::services::ec2::listing::ExtractFn,
        settle: Option<crate::services::ec2::listing::SettleFn>,
    },
}

impl Source {
    /// Read per bucket: its id is the bucket name and its region the bucket's.
    pub fn per_bucket(self) -> bool {
        matches!(
            self,
            Source::Bucket
                | Source::BucketConfig { .. }
                | Source::BucketDoc { .. }
                | Source::BucketConfigs { .. }
        )
    }

    /// The bucket's inline attribute a split configuration takes over.
    pub fn replaces(self) -> Option<&'static str> {
        match self {
            Source::BucketConfig { replaces } | Source::BucketDoc { replaces, .. } => replaces,
            _ => None,
        }
    }
}

/// Every supported type, in the order the docs list them.
pub static TYPES: &[&AwsType] = &[
    &ec2::instance::TYPE,
    &ec2::security_group::TYPE,
    &ec2::security_group_rule::TYPE,
    &ec2::vpc_security_group_rule::INGRESS,
    &ec2::vpc_security_group_rule::EGRESS,
    &s3::bucket::TYPE,
    &s3::bucket_versioning::TYPE,
    &s3::bucket_server_side_encryption_configuration::TYPE,
    &s3::bucket_public_access_block::TYPE,
    &s3::bucket_policy::TYPE,
    &s3::bucket_ownership_controls::TYPE,
    &s3::bucket_accelerate_configuration::TYPE,
    &s3::bucket_request_payment_configuration::TYPE,
    &s3::bucket_logging::TYPE,
    &s3::bucket_cors_configuration::TYPE,
    &s3::bucket_website_configuration::TYPE,
    &s3::bucket_acl::TYPE,
    &s3::bucket_lifecycle_configuration::TYPE,
    &s3::bucket_notification::TYPE,
    &s3::bucket_replication_configuration::TYPE,
    &s3::bucket_object_lock_configuration::TYPE,
    &s3::bucket_inventory::TYPE,
    &s3::bucket_intelligent_tiering_configuration::TYPE,
    &s3::bucket_analytics_configuration::TYPE,
    &s3::bucket_metric::TYPE,
    &ec2::vpc::TYPE,
    &ec2::subnet::TYPE,
    &ec2::internet_gateway::TYPE,
    &ec2::route_table::TYPE,
    &ec2::route::TYPE,
    &ec2::route_table_association::TYPE,
    &ec2::nat_gateway::TYPE,
    &ec2::eip::TYPE,
    &ec2::network_acl::TYPE,
    &ec2::network_acl_rule::TYPE,
    &ec2::eip_association::TYPE,
    &ec2::main_route_table_association::TYPE,
    &ec2::network_acl_association::TYPE,
    &ec2::ebs_volume::TYPE,
    &ec2::volume_attachment::TYPE,
    &ec2::network_interface::TYPE,
    &ec2::network_interface_sg_attachment::TYPE,
    &ec2::key_pair::TYPE,
    &ec2::launch_template::TYPE,
    &ec2::image::TYPE,
    &ec2::ebs_snapshot::TYPE,
    &ec2::placement_group::TYPE,
    &ec2::ebs_encryption_by_default::TYPE,
    &ec2::ec2_instance_state::TYPE,
    &ec2::default_vpc::TYPE,
    &ec2::default_subnet::TYPE,
    &ec2::default_route_table::TYPE,
    &ec2::default_network_acl::TYPE,
    &ec2::vpc_dhcp_options_association::TYPE,
    &ec2::vpc_ipv4_cidr_block_association::TYPE,
    &ec2::default_security_group::TYPE,
    &ec2::vpc_endpoint::TYPE,
    &ec2::egress_only_internet_gateway::TYPE,
    &ec2::vpc_dhcp_options::TYPE,
    &ec2::vpc_peering_connection::TYPE,
    &ec2::flow_log::TYPE,
];

static INFOS: LazyLock<Vec<&'static ResourceType>> =
    LazyLock::new(|| TYPES.iter().map(|t| &t.info).collect());
static NAMES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| TYPES.iter().map(|t| t.info.name).collect());
static DISCOVERABLE: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    TYPES
        .iter()
        .filter(|t| t.info.discoverable)
        .map(|t| t.info.name)
        .collect()
});

/// The engine's view of [`TYPES`].
pub fn registry() -> Registry {
    Registry(INFOS.as_slice())
}

/// One registered type.
pub fn get(name: &str) -> Option<&'static AwsType> {
    TYPES.iter().copied().find(|t| t.info.name == name)
}

/// Every type name.
pub fn names() -> &'static [&'static str] {
    NAMES.as_slice()
}

/// Types listed in full for unmanaged detection.
pub fn discoverable() -> &'static [&'static str] {
    DISCOVERABLE.as_slice()
}

/// Names of the types a source provides.
pub fn names_by(pred: impl Fn(Source) -> bool) -> Vec<&'static str> {
    TYPES
        .iter()
        .filter(|t| pred(t.source))
        .map(|t| t.info.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftd_core::Shape;

    #[test]
    fn names_are_unique_and_shapes_match_the_comparison_rule() {
        let mut seen = std::collections::BTreeSet::new();
        for t in TYPES {
            assert!(seen.insert(t.info.name), "{} registered twice", t.info.name);
            if matches!(t.source, Source::Ec2List { .. }) {
                continue; // shapes declared by the type (keyed sets are maps)
            }
            for a in t.info.attributes {
                // Keyed sets are maps; documents are leaves.
                let legacy = match a.name {
                    "tags" | "ingress" | "egress" | "rules" => Shape::Map,
                    "policy" => Shape::Leaf,
                    _ => Shape::Block,
                };
                assert_eq!(a.shape, legacy, "{}.{}", t.info.name, a.name);
            }
        }
        assert_eq!(
            discoverable()[..3],
            ["aws_instance", "aws_security_group", "aws_s3_bucket"]
        );
    }

    #[test]
    fn a_type_plans_exactly_when_it_declares_write_actions() {
        for t in TYPES {
            assert_eq!(
                t.plan.is_some(),
                !t.info.write_actions.is_empty(),
                "{}: a reconcile plan goes with the IAM actions it calls",
                t.info.name
            );
        }
        // A type without a plan is report-only: the reconciler refuses it.
        let t = TYPES.iter().find(|t| t.plan.is_none()).unwrap();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let r = crate::AwsReconciler {
            clients: crate::Clients::from_sdk_config(&sdk, true, &crate::ApiCalls::new()),
        };
        let d = Desired {
            address: format!("{}.x", t.info.name),
            rtype: t.info.name.into(),
            id: "x".into(),
            attrs: Default::default(),
        };
        use driftd_core::Reconciler as _;
        assert_eq!(
            r.plan(&d, &[]),
            Err(NotReconcilable::Unsupported(t.info.name.into()))
        );
    }
}
