//! driftd's AWS provider: EC2 and S3 scanners on the official AWS SDK for Rust.
//!
//! - [`schema`]: the compared attributes per type and the state projection;
//! - [`normalize`] and [`policy`]: named normalizers that remove false drift;
//! - [`registry`]: the one static list of resource types, each declared in
//!   its own file under [`resources`];
//! - [`services`] ([`ec2`], [`s3`]): batched, paginated live reads, shared by
//!   the types that need them;
//! - [`client`]: SDK clients with bounded retry, timeouts, endpoint override, assume-role;
//! - [`calls`]: an interceptor that counts every API attempt;
//! - [`limit`]: one rate limiter per (account, region, service, read|write, EC2 action) for the process.

pub mod calls;
pub mod client;
pub mod error_fmt;
pub mod errors;
pub mod limit;
pub mod normalize;
pub mod ops;
pub mod policy;
pub mod reconcile;
pub mod registry;
pub mod resources;
pub mod schema;
pub mod services;

pub use services::{ec2, s3};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use driftd_core::{Desired, Inventory, Live, ReadRequest, Reader, TypeRead};

pub use calls::ApiCalls;
pub use client::{ClientOptions, Clients, StaticCredentials, Target};
pub use limit::RateLimits;
pub use reconcile::AwsReconciler;
pub use schema::{AwsSchema, InstanceAttributeReads};

use schema::*;

/// Reads one scope (one region of one account/endpoint).
#[derive(Debug)]
pub struct AwsReader {
    pub clients: Clients,
    pub region: String,
    /// Concurrent per-resource calls (S3 buckets, instance attributes).
    pub concurrency: usize,
    /// When a full instance listing is split by availability zone.
    pub split: ec2::SplitListing,
    /// The scope's full instance listing, when started before its state was
    /// loaded ([`AwsReader::start_instance_listing`]); taken by the read.
    pub early: std::sync::Mutex<Option<ec2::EarlyListing>>,
    /// The scope's VPC listing and its attribute calls, when started before
    /// its state was wholly parsed ([`AwsReader::start_vpc_listing`]).
    pub early_vpcs: std::sync::Mutex<Option<ec2::listing::EarlyListing>>,
}

/// The types a quick first pass over a state looks for, so that a scope
/// that lists in full can start the calls they decide before the state is
/// wholly parsed ([`AwsReader::start_vpc_listing`]).
pub const EARLY_TYPES: &[&str] = &ec2::net::VPC_TYPES;

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
            split: ec2::SplitListing::default(),
            early: Default::default(),
            early_vpcs: Default::default(),
        }
    }

    /// Start the region's full instance listing now, while the scope's state
    /// is still loading ([`ec2::EarlyListing`]), for a read that will
    /// discover unmanaged resources (its `split` set first).
    pub fn start_instance_listing(&self) {
        let listing = ec2::EarlyListing::start(&self.clients.ec2, self.split);
        *self.early.lock().unwrap_or_else(|e| e.into_inner()) = Some(listing);
    }

    /// Start the region's full VPC listing now, with the `DescribeVpcAttribute`
    /// calls that `desired` (the scope's [`EARLY_TYPES`] resources, found by a
    /// first pass over its state) decides, for a read that will discover
    /// unmanaged resources ([`ec2::listing::EarlyListing`]).
    pub fn start_vpc_listing(&self, desired: Vec<Desired>) {
        let listing = ec2::listing::EarlyListing::start(
            &self.clients.ec2,
            &ec2::net::VPCS,
            desired,
            self.concurrency,
        );
        *self.early_vpcs.lock().unwrap_or_else(|e| e.into_inner()) = Some(listing);
    }

    /// Stop the listings started early (the read will not discover after all).
    pub fn drop_instance_listing(&self) {
        self.early.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.early_vpcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// Settle the live resources of `rtype` that a desired resource manages
/// ([`driftd_core::Live::settle`]): in sync, only their id is kept. Their
/// desired forms are read thawed and stay frozen. Unmanaged ones keep their
/// attributes (import pull requests).
fn settle_managed(
    live: &mut std::collections::BTreeMap<String, driftd_core::Live>,
    desired: &[Desired],
    rtype: &str,
) {
    let managed: HashMap<&str, &Desired> = of(desired, &[rtype])
        .into_iter()
        .map(|d| (d.id.as_str(), d))
        .collect();
    for (id, l) in live.iter_mut() {
        if let Some(d) = managed.get(id.as_str()) {
            l.settle(&d.attrs.peek(), |a| crate::schema::shape(rtype, a));
        }
    }
}

fn of<'a>(desired: &'a [Desired], types: &[&str]) -> Vec<&'a Desired> {
    desired
        .iter()
        .filter(|d| types.contains(&d.rtype.as_str()))
        .collect()
}

/// Run one type's read within the deadline: past it, the read is a failure
/// that says so (and the other types keep what they read).
async fn within<T>(
    deadline: Option<tokio::time::Instant>,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match deadline {
        None => fut.await,
        Some(d) => match tokio::time::timeout_at(d, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{what}: not finished by the scan deadline (scan.stack_timeout)"
            )),
        },
    }
}

impl AwsReader {
    /// [`Reader::read`], each type's read bounded by `deadline`.
    pub async fn read_within(
        &self,
        request: ReadRequest<'_>,
        deadline: Option<tokio::time::Instant>,
    ) -> Inventory {
        let desired = request.desired;
        let discover = request.discover_unmanaged;
        let ec2 = &self.clients.ec2;
        let instances = of(desired, &[AWS_INSTANCE]);
        let group_ids = ec2::ids_of(&of(desired, &[AWS_SECURITY_GROUP]), AWS_SECURITY_GROUP);
        // Adopted default groups: read by the same DescribeSecurityGroups,
        // compared as groups, and reported only as aws_default_security_group.
        let default_ids = ec2::ids_of(
            &of(desired, &[AWS_DEFAULT_SECURITY_GROUP]),
            AWS_DEFAULT_SECURITY_GROUP,
        );
        let mut compared_groups = group_ids.clone();
        compared_groups.extend(default_ids.iter().cloned());
        let rule_res = of(desired, &[AWS_SECURITY_GROUP_RULE]);
        let vpc_rules = of(desired, &[AWS_VPC_SG_INGRESS_RULE, AWS_VPC_SG_EGRESS_RULE]);
        // The VPC rules' ids by direction (looked up once a live rule).
        let ids_of_type = |t: &str| -> BTreeSet<&str> {
            vpc_rules
                .iter()
                .filter(|d| d.rtype == t)
                .map(|d| d.id.as_str())
                .collect()
        };
        let (ingress_rules, egress_rules) = (
            ids_of_type(AWS_VPC_SG_INGRESS_RULE),
            ids_of_type(AWS_VPC_SG_EGRESS_RULE),
        );
        let s3_types = registry::names_by(registry::Source::per_bucket);
        let s3_res = of(desired, &s3_types);
        // Groups are read for the groups themselves and for the groups that
        // standalone `aws_security_group_rule` resources point into.
        let mut read_groups: BTreeSet<String> = compared_groups.clone();
        read_groups.extend(
            rule_res
                .iter()
                .filter_map(|d| d.attrs.get("security_group_id").and_then(|v| v.as_str()))
                .map(str::to_string),
        );
        // Shared EC2 listings (`Source::Ec2List`): each needed one once, all
        // at the same time as the instance, group and S3 reads (no second
        // phase waiting for the first).
        let scope = ec2::listing::DesiredSet::new(desired);
        let plans = ec2::listing::plans(&scope, discover);
        // With discovery, the instance read lists every live instance of the
        // scope: the listings that would call DescribeInstances themselves
        // (instance states, the root-volume check of the volumes) wait for
        // the facts of that one listing instead (`ec2::InstanceFacts`).
        // Only when a listing of this scope uses them (at 100,000 instances
        // the facts are a map of 100,000 states).
        let uses_facts = plans
            .iter()
            .any(|p| p.listing.from_instances.is_some() || p.listing.enrich.is_some());
        let (facts_tx, shared) = if discover && uses_facts {
            let (tx, rx) = ec2::SharedInstances::channel();
            (Some(tx), rx)
        } else {
            (None, ec2::SharedInstances::none())
        };
        let shared = &shared;
        let early = self.early.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut early_vpcs = self
            .early_vpcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let early_lists: Vec<Option<ec2::listing::EarlyListing>> = plans
            .iter()
            .map(|p| early_vpcs.take_if(|e| std::ptr::eq(e.listing, p.listing)))
            .collect();
        // An early listing no plan takes stops here (and `Plan::run_from`
        // drops one its plan, filtered after all, does not use).
        drop(early_vpcs);
        // Each listing's types are cut out of it as soon as it is made,
        // while the instance listing (the long pole) goes on.
        let scope = &scope;
        let listings =
            futures::future::join_all(plans.iter().zip(early_lists).map(|(p, e)| async move {
                let items = within(
                    deadline,
                    p.listing.operation,
                    p.run_from(ec2, scope, self.concurrency, shared, e),
                )
                .await?;
                let nat_enis = ec2::compute::nat_gateway_enis(&items);
                Ok::<_, String>((p.extract(&items, scope), nat_enis))
            }));
        // Groups and their rules are assembled as soon as both are read,
        // while the other reads go on (the VPC attribute calls, paced by
        // their bucket, often end last): nothing else waits for them.
        let groups_and_rules = async {
            let (groups, vpc) = tokio::join!(
                within(
                    deadline,
                    "DescribeSecurityGroups",
                    ec2::describe_groups(ec2, &read_groups, discover)
                ),
                within(deadline, "DescribeSecurityGroupRules", async {
                    if vpc_rules.is_empty() {
                        Ok(Default::default())
                    } else {
                        ec2::read_vpc_rules(ec2, &vpc_rules).await
                    }
                })
            );
            let mut inv = Inventory::default();
            match groups {
                Ok(groups) => {
                    // Rules owned by rule resources leave the group's own sets:
                    // by the keys the state gives them, and (for VPC rules, which
                    // have ids) by the keys their live rules have now, so that a
                    // rule changed in place is reported once, on the rule.
                    let mut standalone = standalone_rules(desired);
                    if let Ok(live_rules) = &vpc {
                        for (id, l) in live_rules {
                            let egress = egress_rules.contains(id.as_str());
                            let sg = l
                                .attrs
                                .get("security_group_id")
                                .and_then(|v| v.as_str())
                                .unwrap_or("");
                            if let Some(key) = vpc_rule_key(&l.attrs) {
                                standalone
                                    .entry((sg.to_string(), direction_key(egress)))
                                    .or_default()
                                    .insert(key);
                            }
                        }
                    }
                    let (g, r) = ec2::security_groups_live(
                        &groups,
                        &compared_groups,
                        &rule_res,
                        &standalone,
                    );
                    let (dg, g): (
                        std::collections::BTreeMap<_, _>,
                        std::collections::BTreeMap<_, _>,
                    ) = g.into_iter().partition(|(id, _)| default_ids.contains(id));
                    // Settled in sync now that their sets are final (standalone
                    // rules are out of them): at 10,000 groups their live rule
                    // sets would otherwise be held until the comparison.
                    let mut g = g;
                    settle_managed(&mut g, desired, AWS_SECURITY_GROUP);
                    put_read(&mut inv, AWS_SECURITY_GROUP, Ok(g));
                    put_read(&mut inv, AWS_DEFAULT_SECURITY_GROUP, Ok(dg));
                    put_read(&mut inv, AWS_SECURITY_GROUP_RULE, Ok(r));
                    // Without their VPC rules' live keys, groups those rules point
                    // into cannot be told apart from a rule changed in place:
                    // unknown, rather than false drift.
                    if let Err(e) = &vpc {
                        for d in &vpc_rules {
                            let Some(sg) =
                                d.attrs.get("security_group_id").and_then(|v| v.as_str())
                            else {
                                continue;
                            };
                            if compared_groups.contains(sg) {
                                let t = if default_ids.contains(sg) {
                                    AWS_DEFAULT_SECURITY_GROUP
                                } else {
                                    AWS_SECURITY_GROUP
                                };
                                inv.failed
                                    .entry(t.to_string())
                                    .or_default()
                                    .insert(
                                        sg.to_string(),
                                        format!("the rules of its aws_vpc_security_group_*_rule resources could not be read: {e}"),
                                    );
                            }
                        }
                    }
                }
                Err(e) => {
                    put_read(&mut inv, AWS_SECURITY_GROUP, Err(e.clone()));
                    put_read(&mut inv, AWS_DEFAULT_SECURITY_GROUP, Err(e.clone()));
                    put_read(&mut inv, AWS_SECURITY_GROUP_RULE, Err(e));
                }
            }
            match vpc {
                Ok(m) => {
                    let (ing, eg): (
                        std::collections::BTreeMap<_, _>,
                        std::collections::BTreeMap<_, _>,
                    ) = m
                        .into_iter()
                        .partition(|(id, _)| ingress_rules.contains(id.as_str()));
                    put_read(&mut inv, AWS_VPC_SG_INGRESS_RULE, Ok(ing));
                    put_read(&mut inv, AWS_VPC_SG_EGRESS_RULE, Ok(eg));
                }
                Err(e) => {
                    put_read(&mut inv, AWS_VPC_SG_INGRESS_RULE, Err(e.clone()));
                    put_read(&mut inv, AWS_VPC_SG_EGRESS_RULE, Err(e));
                }
            }
            inv
        };
        let (inst, rules, s3, listed) = tokio::join!(
            within(
                deadline,
                "DescribeInstances",
                ec2::read_instances_from(
                    ec2,
                    &instances,
                    discover,
                    self.concurrency,
                    self.split,
                    facts_tx,
                    early
                )
            ),
            groups_and_rules,
            within(
                deadline,
                "S3",
                s3::read_s3(
                    &self.clients.s3,
                    &self.region,
                    &s3_res,
                    discover,
                    self.concurrency
                )
            ),
            listings,
        );

        let mut inv = Inventory::default();
        let mut nat_enis = std::collections::BTreeSet::new();
        for (p, read) in plans.iter().zip(listed) {
            match read {
                Ok((types, enis)) => {
                    nat_enis.extend(enis);
                    for (t, live) in types {
                        inv.types.insert(t.to_string(), TypeRead::Complete(live));
                    }
                }
                Err(e) => {
                    for t in &p.types {
                        inv.types.insert(
                            t.info.name.to_string(),
                            TypeRead::Failed(driftd_core::ReadError::classify(e.clone())),
                        );
                    }
                }
            }
        }
        ec2::compute::own_nat_gateway_enis(&mut inv, &nat_enis);
        put_read(&mut inv, AWS_INSTANCE, inst);
        inv.types.extend(rules.types);
        for (t, failed) in rules.failed {
            inv.failed.entry(t).or_default().extend(failed);
        }
        match s3 {
            Ok(read) => {
                for (t, live) in read.live {
                    put_read(&mut inv, t, Ok(live));
                }
                // One bucket's failed read: that bucket's resources only.
                let managed: BTreeSet<(&str, &str)> = if read.failed.is_empty() {
                    BTreeSet::new()
                } else {
                    s3_res
                        .iter()
                        .map(|d| (d.id.as_str(), d.rtype.as_str()))
                        .collect()
                };
                for (bucket, reason) in read.failed {
                    for &t in &s3_types {
                        if managed.contains(&(bucket.as_str(), t)) {
                            inv.failed
                                .entry(t.to_string())
                                .or_default()
                                .insert(bucket.clone(), reason.clone());
                        }
                    }
                }
                if !read.gaps.is_empty() {
                    inv.gaps.insert(AWS_S3_BUCKET.to_string(), read.gaps);
                }
            }
            Err(e) => {
                for &t in &s3_types {
                    put_read(&mut inv, t, Err(e.clone()));
                }
            }
        }
        inv
    }
}

/// Put one type's read into an inventory.
fn put_read(inv: &mut Inventory, t: &str, r: Result<BTreeMap<String, Live>, String>) {
    inv.types.insert(
        t.to_string(),
        match r {
            Ok(m) => TypeRead::Complete(m),
            Err(e) => TypeRead::Failed(driftd_core::ReadError::classify(e)),
        },
    );
}

#[async_trait::async_trait]
impl Reader for AwsReader {
    async fn read(&self, request: ReadRequest<'_>) -> Inventory {
        self.read_within(request, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftd_core::{Attrs, Canon, Live};
    use serde_json::json;

    fn attrs(v: serde_json::Value) -> Attrs {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn managed_groups_in_sync_are_settled_and_their_desired_forms_stay_frozen() {
        let want = attrs(
            json!({"name": "web", "tags": {"a": "1"}, "ingress": {"tcp:22-22:cidr:10.0.0.0/8": ""}}),
        );
        let desired: Vec<Desired> = ["sg-sync", "sg-drift"]
            .iter()
            .map(|id| Desired {
                address: format!("aws_security_group.{id}"),
                rtype: AWS_SECURITY_GROUP.into(),
                id: (*id).into(),
                attrs: Canon::frozen(&want),
            })
            .collect();
        let live = |a: Attrs, id: &str| Live {
            id: id.into(),
            attrs: a,
            ..Default::default()
        };
        let mut drifted = want.clone();
        drifted.insert("tags".into(), json!({"a": "2"}));
        let mut g: std::collections::BTreeMap<String, Live> = [
            ("sg-sync".to_string(), live(want.clone(), "sg-sync")),
            ("sg-drift".to_string(), live(drifted.clone(), "sg-drift")),
            (
                "sg-unmanaged".to_string(),
                live(want.clone(), "sg-unmanaged"),
            ),
        ]
        .into();
        settle_managed(&mut g, &desired, AWS_SECURITY_GROUP);
        assert!(g["sg-sync"].attrs.is_empty(), "in sync: its id only");
        assert_eq!(
            g["sg-drift"].attrs, drifted,
            "drifted: every attribute kept"
        );
        assert_eq!(g["sg-unmanaged"].attrs, want, "unmanaged: kept for import");
        assert!(desired.iter().all(|d| d.attrs.is_frozen()));
    }
}
