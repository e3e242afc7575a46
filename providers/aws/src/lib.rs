//! driftd's AWS provider: EC2 and S3 scanners on the official AWS SDK for Rust.
//!
//! - [`schema`]: the compared attributes per type and the state projection;
//! - [`normalize`] and [`policy`]: named normalizers that remove false drift;
//! - [`ec2`] and [`s3`]: batched, paginated live reads;
//! - [`client`]: SDK clients with adaptive retry, endpoint override, assume-role;
//! - [`calls`]: an interceptor that counts every API attempt.

pub mod calls;
pub mod client;
pub mod ec2;
pub mod error_fmt;
pub mod errors;
pub mod normalize;
pub mod policy;
pub mod reconcile;
pub mod s3;
pub mod schema;

use std::collections::BTreeSet;

use driftd_core::{Desired, Inventory, ReadRequest, Reader, TypeRead};

pub use calls::ApiCalls;
pub use client::{ClientOptions, Clients, StaticCredentials, Target};
pub use reconcile::AwsReconciler;
pub use schema::{AwsSchema, InstanceAttributeReads};

use schema::*;

/// Reads one scope (one region of one account/endpoint).
#[derive(Debug, Clone)]
pub struct AwsReader {
    pub clients: Clients,
    pub region: String,
    /// Concurrent per-resource calls (S3 buckets, instance attributes).
    pub concurrency: usize,
}

impl AwsReader {
    pub async fn connect(
        target: &Target,
        options: &ClientOptions,
        calls: &ApiCalls,
        concurrency: usize,
    ) -> Self {
        Self {
            clients: Clients::new(target, options, calls).await,
            region: target.region.clone(),
            concurrency,
        }
    }
}

fn of<'a>(desired: &'a [Desired], types: &[&str]) -> Vec<&'a Desired> {
    desired
        .iter()
        .filter(|d| types.contains(&d.rtype.as_str()))
        .collect()
}

#[async_trait::async_trait]
impl Reader for AwsReader {
    async fn read(&self, request: ReadRequest<'_>) -> Inventory {
        let desired = request.desired;
        let discover = request.discover_unmanaged;
        let ec2 = &self.clients.ec2;
        let instances = of(desired, &[AWS_INSTANCE]);
        let group_ids = ec2::ids_of(&of(desired, &[AWS_SECURITY_GROUP]), AWS_SECURITY_GROUP);
        let rule_res = of(desired, &[AWS_SECURITY_GROUP_RULE]);
        let vpc_rules = of(desired, &[AWS_VPC_SG_INGRESS_RULE, AWS_VPC_SG_EGRESS_RULE]);
        let s3_res = of(
            desired,
            &[
                AWS_S3_BUCKET,
                AWS_S3_BUCKET_VERSIONING,
                AWS_S3_BUCKET_SSE,
                AWS_S3_BUCKET_POLICY,
                AWS_S3_BUCKET_PAB,
            ],
        );
        // Groups are read for the groups themselves and for the groups that
        // standalone `aws_security_group_rule` resources point into.
        let mut read_groups: BTreeSet<String> = group_ids.clone();
        read_groups.extend(
            rule_res
                .iter()
                .filter_map(|d| d.attrs.get("security_group_id").and_then(|v| v.as_str()))
                .map(str::to_string),
        );
        let (inst, groups, vpc, s3) = tokio::join!(
            ec2::read_instances(ec2, &instances, discover, self.concurrency),
            ec2::describe_groups(ec2, &read_groups, discover),
            async {
                if vpc_rules.is_empty() {
                    Ok(Default::default())
                } else {
                    ec2::read_vpc_rules(ec2, &vpc_rules).await
                }
            },
            s3::read_s3(
                &self.clients.s3,
                &self.region,
                &s3_res,
                discover,
                self.concurrency
            ),
        );

        let mut inv = Inventory::default();
        let put = |inv: &mut Inventory, t: &str, r: Result<_, String>| {
            inv.types.insert(
                t.to_string(),
                match r {
                    Ok(m) => TypeRead::Complete(m),
                    Err(e) => TypeRead::Failed(e),
                },
            );
        };
        put(&mut inv, AWS_INSTANCE, inst);
        match groups {
            Ok(groups) => {
                let standalone = standalone_rules(desired);
                let (g, r) = ec2::security_groups_live(&groups, &group_ids, &rule_res, &standalone);
                put(&mut inv, AWS_SECURITY_GROUP, Ok(g));
                put(&mut inv, AWS_SECURITY_GROUP_RULE, Ok(r));
            }
            Err(e) => {
                put(&mut inv, AWS_SECURITY_GROUP, Err(e.clone()));
                put(&mut inv, AWS_SECURITY_GROUP_RULE, Err(e));
            }
        }
        match vpc {
            Ok(m) => {
                let (ing, eg): (
                    std::collections::BTreeMap<_, _>,
                    std::collections::BTreeMap<_, _>,
                ) = m.into_iter().partition(|(id, _)| {
                    vpc_rules
                        .iter()
                        .any(|d| &d.id == id && d.rtype == AWS_VPC_SG_INGRESS_RULE)
                });
                put(&mut inv, AWS_VPC_SG_INGRESS_RULE, Ok(ing));
                put(&mut inv, AWS_VPC_SG_EGRESS_RULE, Ok(eg));
            }
            Err(e) => {
                put(&mut inv, AWS_VPC_SG_INGRESS_RULE, Err(e.clone()));
                put(&mut inv, AWS_VPC_SG_EGRESS_RULE, Err(e));
            }
        }
        match s3 {
            Ok(m) => {
                for (t, live) in m {
                    put(&mut inv, t, Ok(live));
                }
            }
            Err(e) => {
                for t in [
                    AWS_S3_BUCKET,
                    AWS_S3_BUCKET_VERSIONING,
                    AWS_S3_BUCKET_SSE,
                    AWS_S3_BUCKET_POLICY,
                    AWS_S3_BUCKET_PAB,
                ] {
                    put(&mut inv, t, Err(e.clone()));
                }
            }
        }
        inv
    }
}
