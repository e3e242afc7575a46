//! The compute listings (volumes, ENIs, key pairs, launch templates, owned
//! images and snapshots, placement groups, the EBS encryption default,
//! instance states): each call declared once and shared by every type that
//! reads it (see [`super::listing`]). Items carry the AWS fields types need
//! to tell ownership and parents apart (AWS names) and, under `Canonical`,
//! the item's canonical live attributes, built by its type's `live`.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_ec2::Client;
#[cfg(test)]
use driftd_core::Desired;
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::listing::{filter, get, s, DesiredSet, Item, Listing};
use super::{InstanceFacts, SharedInstances};
use crate::resources::ec2::{
    ebs_snapshot, ebs_volume, image, key_pair, launch_template, network_interface, placement_group,
};

fn err<E: std::error::Error + 'static>(op: &str, e: E) -> String {
    format!("{op}: {}", crate::errors::describe(&e))
}

fn item(pairs: &[(&str, Value)], canonical: Map<String, Value>) -> Item {
    let mut m: Item = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    m.insert("Canonical".into(), Value::Object(canonical));
    m
}

/// The canonical live attributes of an item.
pub fn canonical(i: &Item) -> Map<String, Value> {
    match i.get("Canonical") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

// ---- DescribeVolumes (volumes and their attachments) ----

pub static VOLUMES: Listing = Listing {
    operation: "DescribeVolumes",
    filter: "volume-id",
    read: read_volumes,
    enrich: Some(root_volumes),
    from_instances: None,
};

fn read_volumes(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeVolumes",
            describe_volumes,
            "volume-id",
            values,
            volumes,
            volume_item
        )
    })
}

/// A volume as an item.
pub fn volume_item(v: &aws_sdk_ec2::types::Volume) -> Item {
    let attachments: Vec<Value> = v
        .attachments()
        .iter()
        .map(|a| {
            json!({"Device": s(a.device()), "InstanceId": s(a.instance_id()),
                   "State": s(a.state().map(|x| x.as_str()))})
        })
        .collect();
    item(
        &[
            ("VolumeId", s(v.volume_id())),
            ("State", s(v.state().map(|x| x.as_str()))),
            ("Attachments", Value::Array(attachments)),
        ],
        ebs_volume::live(v),
    )
}

/// Volumes no desired resource names but attached to an instance: which
/// were created with their instance (`RootOfInstance`, see
/// [`super::launch_volumes`]) and so are not unmanaged. From the scope's
/// complete instance listing when there is one ([`SharedInstances`]);
/// else (and for instances it does not show, or shows `pending`, whose
/// mappings may not be filled in yet) one `DescribeInstances` filtered by
/// those instances, 200 a call.
fn root_volumes<'a>(
    client: &'a Client,
    items: &'a mut [Item],
    desired: &'a DesiredSet<'a>,
    _concurrency: usize,
    shared: &'a SharedInstances,
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let named: BTreeSet<&str> = desired
            .of_type(ebs_volume::NAME)
            .map(|d| d.id.as_str())
            .chain(
                desired
                    .of_type(crate::resources::ec2::volume_attachment::NAME)
                    .map(|d| super::listing::attr(d, "volume_id")),
            )
            .collect();
        let mut instances: BTreeSet<String> = items
            .iter()
            .filter(|i| !named.contains(get(i, "VolumeId")))
            .flat_map(attachment_instances)
            .collect();
        if instances.is_empty() {
            return Ok(());
        }
        let mut owned: BTreeSet<String> = BTreeSet::new();
        if let Some(facts) = shared.get().await {
            let facts = facts?;
            instances.retain(|i| facts.states.get(i).is_none_or(|s| s == "pending"));
            owned.extend(
                items
                    .iter()
                    .map(|i| get(i, "VolumeId"))
                    .filter(|v| facts.launch_volumes.contains(*v))
                    .map(str::to_string),
            );
        }
        let ids: Vec<String> = instances.into_iter().collect();
        for chunk in ids.chunks(super::FILTER_CHUNK) {
            let mut pages = client
                .describe_instances()
                .filters(filter("instance-id", chunk))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| err("DescribeInstances", e))?;
                for r in page.reservations() {
                    for i in r.instances() {
                        owned.extend(super::launch_volumes(i).map(str::to_string));
                    }
                }
            }
        }
        mark_root_volumes(items, &owned);
        Ok(())
    })
}

fn mark_root_volumes(items: &mut [Item], owned: &BTreeSet<String>) {
    for i in items.iter_mut() {
        if owned.contains(get(i, "VolumeId")) {
            i.insert("RootOfInstance".into(), json!(true));
        }
    }
}

fn attachment_instances(i: &Item) -> Vec<String> {
    i.get("Attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("InstanceId").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

// ---- DescribeNetworkInterfaces (ENIs and their security group attachments) ----

pub static NETWORK_INTERFACES: Listing = Listing {
    operation: "DescribeNetworkInterfaces",
    filter: "network-interface-id",
    read: read_enis,
    enrich: None,
    from_instances: None,
};

fn read_enis(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeNetworkInterfaces",
            describe_network_interfaces,
            "network-interface-id",
            values,
            network_interfaces,
            eni_item
        )
    })
}

/// An ENI as an item.
pub fn eni_item(e: &aws_sdk_ec2::types::NetworkInterface) -> Item {
    let groups: Vec<Value> = e.groups().iter().map(|g| s(g.group_id())).collect();
    item(
        &[
            ("NetworkInterfaceId", s(e.network_interface_id())),
            ("Groups", Value::Array(groups)),
            (
                "ServiceOwner",
                network_interface::service_owner(e).map_or(Value::Null, Value::String),
            ),
        ],
        network_interface::live(e),
    )
}

/// The ENIs NAT gateways use, from a `DescribeNatGateways` listing's items
/// (other listings have none). Real AWS marks them requester-managed; some
/// endpoints (moto) do not, and they are the NAT gateway's all the same.
pub fn nat_gateway_enis(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get("NatGatewayAddresses").and_then(Value::as_array))
        .flatten()
        .filter_map(|a| a.get("NetworkInterfaceId").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Mark listed ENIs that NAT gateways use as owned by the NAT gateway.
pub fn own_nat_gateway_enis(inv: &mut driftd_core::Inventory, enis: &BTreeSet<String>) {
    if enis.is_empty() {
        return;
    }
    if let Some(driftd_core::TypeRead::Complete(m)) = inv.types.get_mut(network_interface::NAME) {
        for (id, l) in m.iter_mut() {
            if enis.contains(id) && l.owned_by_service.is_none() {
                l.owned_by_service = Some("nat_gateway".into());
            }
        }
    }
}

// ---- DescribeKeyPairs (not paginated) ----

pub static KEY_PAIRS: Listing = Listing {
    operation: "DescribeKeyPairs",
    filter: "key-name",
    read: read_key_pairs,
    enrich: None,
    from_instances: None,
};

fn read_key_pairs(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        let mut req = client.describe_key_pairs();
        if let Some(v) = values {
            req = req.filters(filter("key-name", &v));
        }
        let out = req.send().await.map_err(|e| err("DescribeKeyPairs", e))?;
        Ok(out
            .key_pairs()
            .iter()
            .map(|k| item(&[("KeyName", s(k.key_name()))], key_pair::live(k)))
            .collect())
    })
}

// ---- DescribeLaunchTemplates (+ one batched DescribeLaunchTemplateVersions $Latest) ----

pub static LAUNCH_TEMPLATES: Listing = Listing {
    operation: "DescribeLaunchTemplates",
    filter: "launch-template-name",
    read: read_launch_templates,
    enrich: Some(latest_versions),
    from_instances: None,
};

fn read_launch_templates(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        crate::ec2_pages!(
            client,
            "DescribeLaunchTemplates",
            describe_launch_templates,
            "launch-template-name",
            values,
            launch_templates,
            |t: &aws_sdk_ec2::types::LaunchTemplate| {
                let mut i = item(
                    &[
                        ("LaunchTemplateId", s(t.launch_template_id())),
                        (
                            "ServiceOwner",
                            launch_template::service_owner(t).map_or(Value::Null, Value::String),
                        ),
                    ],
                    launch_template::live(t, None),
                );
                i.insert("Template".into(), json!(true));
                i
            }
        )
    })
}

/// The `$Latest` version of every template in one paginated call (no
/// template id: AWS then answers for all of them), merged into the items.
fn latest_versions<'a>(
    client: &'a Client,
    items: &'a mut [Item],
    _desired: &'a DesiredSet<'a>,
    _concurrency: usize,
    _instances: &'a SharedInstances,
) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        if items.is_empty() {
            return Ok(());
        }
        let mut pages = client
            .describe_launch_template_versions()
            .versions("$Latest")
            .into_paginator()
            .send();
        let mut latest = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("DescribeLaunchTemplateVersions", e))?;
            for v in page.launch_template_versions() {
                if let Some(id) = v.launch_template_id() {
                    latest.insert(id.to_string(), v.clone());
                }
            }
        }
        for i in items.iter_mut() {
            let id = get(i, "LaunchTemplateId").to_string();
            if let Some(v) = latest.get(&id) {
                let mut m = canonical(i);
                m.extend(launch_template::version_live(v));
                i.insert("Canonical".into(), Value::Object(m));
            }
        }
        Ok(())
    })
}

// ---- DescribeImages (Owners=[self]) ----

pub static IMAGES: Listing = Listing {
    operation: "DescribeImages",
    filter: "image-id",
    read: read_images,
    enrich: None,
    from_instances: None,
};

fn read_images(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        let mut req = client.describe_images().owners("self");
        if let Some(v) = values {
            req = req.filters(filter("image-id", &v));
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("DescribeImages", e))?;
            for i in page.images() {
                let snaps: Vec<Value> = image::snapshots(i).map(|x| json!(x)).collect();
                out.push(item(
                    &[
                        ("ImageId", s(i.image_id())),
                        ("Snapshots", Value::Array(snaps)),
                        (
                            "ServiceOwner",
                            image::service_owner(i).map_or(Value::Null, Value::String),
                        ),
                    ],
                    image::live(i),
                ));
            }
        }
        Ok(out)
    })
}

// ---- DescribeSnapshots (OwnerIds=[self]) ----

pub static SNAPSHOTS: Listing = Listing {
    operation: "DescribeSnapshots",
    filter: "snapshot-id",
    read: read_snapshots,
    enrich: None,
    from_instances: None,
};

fn read_snapshots(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        let mut req = client.describe_snapshots().owner_ids("self");
        if let Some(v) = values {
            req = req.filters(filter("snapshot-id", &v));
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("DescribeSnapshots", e))?;
            for x in page.snapshots() {
                out.push(item(
                    &[
                        ("SnapshotId", s(x.snapshot_id())),
                        ("OwnerId", s(x.owner_id())),
                        (
                            "ServiceOwner",
                            ebs_snapshot::service_owner(x).map_or(Value::Null, Value::String),
                        ),
                    ],
                    ebs_snapshot::live(x),
                ));
            }
        }
        Ok(out)
    })
}

// ---- DescribePlacementGroups (not paginated) ----

pub static PLACEMENT_GROUPS: Listing = Listing {
    operation: "DescribePlacementGroups",
    filter: "group-name",
    read: read_placement_groups,
    enrich: None,
    from_instances: None,
};

fn read_placement_groups(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        let mut req = client.describe_placement_groups();
        if let Some(v) = values {
            req = req.filters(filter("group-name", &v));
        }
        let out = req
            .send()
            .await
            .map_err(|e| err("DescribePlacementGroups", e))?;
        Ok(out
            .placement_groups()
            .iter()
            .map(|g| {
                item(
                    &[("GroupName", s(g.group_name()))],
                    placement_group::live(g),
                )
            })
            .collect())
    })
}

// ---- GetEbsEncryptionByDefault (one per scope, when the state has it) ----

pub static EBS_ENCRYPTION_BY_DEFAULT: Listing = Listing {
    operation: "GetEbsEncryptionByDefault",
    filter: "",
    read: read_ebs_default,
    enrich: None,
    from_instances: None,
};

fn read_ebs_default(
    client: &Client,
    _values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        let out = client
            .get_ebs_encryption_by_default()
            .send()
            .await
            .map_err(|e| err("GetEbsEncryptionByDefault", e))?;
        Ok(vec![item(
            &[(
                "EbsEncryptionByDefault",
                json!(out.ebs_encryption_by_default().unwrap_or(false)),
            )],
            Map::new(),
        )])
    })
}

// ---- DescribeInstances, for instance states (filtered by instance id) ----

/// From the scope's complete instance listing (`aws_instance`'s, with
/// discovery) when there is one, else its own call filtered by the ids.
pub static INSTANCE_STATES: Listing = Listing {
    operation: "DescribeInstances",
    filter: "instance-id",
    read: read_instance_states,
    enrich: None,
    from_instances: Some(instance_states_from),
};

fn state_item(id: &str, state: &str) -> Item {
    item(
        &[("InstanceId", json!(id)), ("State", json!(state))],
        Map::new(),
    )
}

/// The states of the listed instances among `ids` (all when `None`). One
/// the complete listing does not show is not live (terminated, shutting
/// down, or never there): no item, as its filtered call would give none or
/// a `terminated` one, both missing.
fn instance_states_from(facts: &InstanceFacts, ids: Option<&BTreeSet<String>>) -> Vec<Item> {
    match ids {
        Some(ids) => ids
            .iter()
            .filter_map(|id| facts.states.get(id).map(|s| state_item(id, s)))
            .collect(),
        None => facts
            .states
            .iter()
            .map(|(id, s)| state_item(id, s))
            .collect(),
    }
}

fn read_instance_states(
    client: &Client,
    values: Option<Vec<String>>,
) -> BoxFuture<'_, Result<Vec<Item>, String>> {
    Box::pin(async move {
        let mut req = client.describe_instances();
        if let Some(v) = values {
            req = req.filters(filter("instance-id", &v));
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("DescribeInstances", e))?;
            for r in page.reservations() {
                for i in r.instances() {
                    let state = i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str())
                        .unwrap_or_default();
                    out.push(state_item(i.instance_id().unwrap_or_default(), state));
                }
            }
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::super::listing::plans;
    use super::*;

    fn desired(rtype: &str, id: &str, attrs: Value) -> Desired {
        Desired {
            address: format!("{rtype}.x"),
            rtype: rtype.into(),
            id: id.into(),
            attrs: attrs.as_object().unwrap().clone().into(),
        }
    }

    fn filter_of(d: &[Desired], discover: bool, l: &Listing) -> Option<Option<BTreeSet<String>>> {
        plans(&DesiredSet::new(d), discover)
            .into_iter()
            .find(|p| std::ptr::eq(p.listing, l))
            .map(|p| p.filter)
    }

    /// Calls stay minimal: nothing without state or discovery; filtered by
    /// the parents the state names; volumes shared by volumes and
    /// attachments, ENIs by ENIs and group attachments.
    #[test]
    fn compute_listings_are_planned_once_and_filtered_by_parent() {
        assert!(plans(&DesiredSet::new(&[]), false)
            .iter()
            .all(|p| !p.needed()));
        let d = vec![
            desired("aws_ebs_volume", "vol-1", json!({})),
            desired(
                "aws_volume_attachment",
                "vai-1",
                json!({"volume_id": "vol-2", "device_name": "/dev/sdf", "instance_id": "i-1"}),
            ),
            desired(
                "aws_network_interface_sg_attachment",
                "sg-1_eni-1",
                json!({"security_group_id": "sg-1", "network_interface_id": "eni-1"}),
            ),
            desired("aws_launch_template", "lt-1", json!({"name": "web"})),
            desired(
                "aws_ebs_encryption_by_default",
                "terraform-1",
                json!({"enabled": true}),
            ),
        ];
        let set = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
        assert_eq!(
            filter_of(&d, false, &VOLUMES),
            Some(set(&["vol-1", "vol-2"]))
        );
        assert_eq!(
            filter_of(&d, false, &NETWORK_INTERFACES),
            Some(set(&["eni-1"]))
        );
        assert_eq!(filter_of(&d, false, &LAUNCH_TEMPLATES), Some(set(&["web"])));
        assert_eq!(
            filter_of(&d, false, &EBS_ENCRYPTION_BY_DEFAULT),
            Some(set(&["scope"]))
        );
        assert_eq!(filter_of(&d, false, &KEY_PAIRS), Some(set(&[])));
        // Discovering: discoverable listings in full; placement groups and
        // the singletons only for what the state declares.
        assert_eq!(filter_of(&d, true, &VOLUMES), Some(None));
        assert_eq!(filter_of(&d, true, &KEY_PAIRS), Some(None));
        assert_eq!(filter_of(&d, true, &PLACEMENT_GROUPS), Some(set(&[])));
        assert_eq!(filter_of(&d, true, &INSTANCE_STATES), Some(set(&[])));
        // A template without a name cannot be filtered for: list them all.
        let unnamed = vec![desired("aws_launch_template", "lt-1", json!({"name": ""}))];
        assert_eq!(filter_of(&unnamed, false, &LAUNCH_TEMPLATES), Some(None));
    }

    /// A client whose every call fails at once (a closed loopback port),
    /// and the counter of its attempts: a read that needs no call succeeds,
    /// one that makes its own call fails naming it.
    async fn closed_client() -> (aws_sdk_ec2::Client, crate::ApiCalls) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let calls = crate::ApiCalls::new();
        let target = crate::Target {
            region: "us-east-1".into(),
            endpoint_url: Some(format!("http://127.0.0.1:{port}")),
            assume_role_arn: None,
        };
        let options = crate::ClientOptions {
            max_attempts: 1,
            static_credentials: Some(crate::StaticCredentials {
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
            }),
            ..Default::default()
        };
        let clients = crate::Clients::new(&target, &options, &calls).await;
        (clients.ec2, calls)
    }

    fn describe_instances(calls: &crate::ApiCalls) -> u64 {
        calls
            .by_operation()
            .get("DescribeInstances")
            .copied()
            .unwrap_or(0)
    }

    fn facts(states: &[(&str, &str)], launch: &[&str]) -> super::super::InstanceFacts {
        super::super::InstanceFacts {
            states: states
                .iter()
                .map(|(i, s)| (i.to_string(), s.to_string()))
                .collect(),
            launch_volumes: launch.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn instance_states_plan(ids: &[&str]) -> (Vec<Desired>, super::super::listing::Plan) {
        let d: Vec<Desired> = ids
            .iter()
            .map(|id| {
                desired(
                    crate::resources::ec2::ec2_instance_state::NAME,
                    id,
                    json!({"state": "running"}),
                )
            })
            .collect();
        let plan = plans(&DesiredSet::new(&d), true)
            .into_iter()
            .find(|p| std::ptr::eq(p.listing, &INSTANCE_STATES))
            .unwrap();
        (d, plan)
    }

    /// With the scope's complete instance listing, instance states are its
    /// states (a stopped one stays stopped; one it does not show is not
    /// live: no item, so missing) and no DescribeInstances is made.
    #[tokio::test]
    async fn instance_states_come_from_the_complete_listing_without_a_call() {
        let (client, calls) = closed_client().await;
        let (d, plan) = instance_states_plan(&["i-1", "i-2", "i-gone"]);
        let shared = SharedInstances::ready(Ok(std::sync::Arc::new(facts(
            &[("i-1", "running"), ("i-2", "stopped"), ("i-3", "pending")],
            &[],
        ))));
        let items = plan
            .run(&client, &DesiredSet::new(&d), 4, &shared)
            .await
            .unwrap();
        let live = plan.extract(&items, &DesiredSet::new(&d));
        let (_, states) = &live[0];
        let got: Vec<(&str, &Value)> = states
            .iter()
            .map(|(id, l)| (id.as_str(), &l.attrs["state"]))
            .collect();
        assert_eq!(
            got,
            vec![("i-1", &json!("running")), ("i-2", &json!("stopped"))]
        );
        assert_eq!(describe_instances(&calls), 0, "{:?}", calls.by_operation());
    }

    /// The complete listing failed: instance states fail with its error
    /// (unknown, never empty), without a call of their own.
    #[tokio::test]
    async fn an_error_of_the_complete_listing_is_the_instance_states_error() {
        let (client, calls) = closed_client().await;
        let (d, plan) = instance_states_plan(&["i-1"]);
        let shared = SharedInstances::ready(Err("DescribeInstances: throttled".into()));
        let e = plan
            .run(&client, &DesiredSet::new(&d), 4, &shared)
            .await
            .unwrap_err();
        assert_eq!(e, "DescribeInstances: throttled");
        assert_eq!(describe_instances(&calls), 0);
    }

    /// No complete listing (discovery off, or the instance read dropped):
    /// instance states make their own call, and its failure is theirs.
    #[tokio::test]
    async fn without_the_complete_listing_instance_states_make_their_own_call() {
        let (client, calls) = closed_client().await;
        let (d, plan) = instance_states_plan(&["i-1"]);
        let e = plan
            .run(&client, &DesiredSet::new(&d), 4, &SharedInstances::none())
            .await
            .unwrap_err();
        assert!(e.starts_with("DescribeInstances: "), "{e}");
        assert_eq!(describe_instances(&calls), 1);
    }

    fn volume(id: &str, instance: &str) -> Item {
        json!({"VolumeId": id, "State": "in-use",
               "Attachments": [{"Device": "/dev/sdf", "InstanceId": instance, "State": "attached"}]})
        .as_object()
        .unwrap()
        .clone()
    }

    fn roots(items: &[Item]) -> Vec<&str> {
        items
            .iter()
            .filter(|i| i.get("RootOfInstance") == Some(&json!(true)))
            .map(|i| get(i, "VolumeId"))
            .collect()
    }

    /// With the complete listing, a listed instance's launch volumes are its
    /// own and a volume attached to it later is not, with no call.
    #[tokio::test]
    async fn root_volumes_come_from_the_complete_listing_without_a_call() {
        let (client, calls) = closed_client().await;
        let enrich = VOLUMES.enrich.unwrap();
        let mut items = vec![
            volume("vol-root", "i-1"),
            volume("vol-later", "i-1"),
            volume("vol-data", "i-2"),
        ];
        let shared = SharedInstances::ready(Ok(std::sync::Arc::new(facts(
            &[("i-1", "running"), ("i-2", "stopped")],
            &["vol-root", "vol-data", "vol-of-another"],
        ))));
        enrich(&client, &mut items, &DesiredSet::new(&[]), 4, &shared)
            .await
            .unwrap();
        assert_eq!(roots(&items), vec!["vol-root", "vol-data"]);
        assert_eq!(describe_instances(&calls), 0, "{:?}", calls.by_operation());

        // Its error is the volumes' error.
        let shared = SharedInstances::ready(Err("DescribeInstances: denied".into()));
        let e = enrich(&client, &mut items, &DesiredSet::new(&[]), 4, &shared)
            .await
            .unwrap_err();
        assert_eq!(e, "DescribeInstances: denied");
        assert_eq!(describe_instances(&calls), 0);
    }

    /// An instance the complete listing does not show (launched since, or
    /// shutting down) or shows `pending` (mappings maybe not filled in yet)
    /// is asked about with the filtered call; so is every instance without
    /// the complete listing. Volumes named by the state need no call.
    #[tokio::test]
    async fn root_volumes_of_instances_the_listing_cannot_tell_are_asked_about() {
        let (client, calls) = closed_client().await;
        let enrich = VOLUMES.enrich.unwrap();
        let listed = || {
            SharedInstances::ready(Ok(std::sync::Arc::new(facts(
                &[("i-1", "running"), ("i-new", "pending")],
                &["vol-root"],
            ))))
        };
        let mut n = 0;
        for (vol, instance, shared) in [
            ("vol-x", "i-9", listed()),
            ("vol-y", "i-new", listed()),
            ("vol-z", "i-1", SharedInstances::none()),
        ] {
            let mut items = vec![volume("vol-root", "i-1"), volume(vol, instance)];
            let e = enrich(&client, &mut items, &DesiredSet::new(&[]), 4, &shared)
                .await
                .unwrap_err();
            assert!(e.starts_with("DescribeInstances: "), "{e}");
            n += 1;
            assert_eq!(describe_instances(&calls), n, "{vol}");
        }
        // Named by the state: no question, facts or not.
        let d = vec![desired("aws_ebs_volume", "vol-x", json!({}))];
        let mut items = vec![volume("vol-x", "i-9")];
        enrich(
            &client,
            &mut items,
            &DesiredSet::new(&d),
            4,
            &SharedInstances::none(),
        )
        .await
        .unwrap();
        assert_eq!(describe_instances(&calls), n);
    }

    /// Launch volumes: the root device's, and mappings deleted with the
    /// instance; not a volume attached later (`DeleteOnTermination` false).
    #[test]
    fn launch_volumes_are_the_root_and_the_delete_on_termination_mappings() {
        use aws_sdk_ec2::types::{EbsInstanceBlockDevice, Instance, InstanceBlockDeviceMapping};
        let m = |dev: &str, vol: &str, dot: bool| {
            InstanceBlockDeviceMapping::builder()
                .device_name(dev)
                .ebs(
                    EbsInstanceBlockDevice::builder()
                        .volume_id(vol)
                        .delete_on_termination(dot)
                        .build(),
                )
                .build()
        };
        let i = Instance::builder()
            .instance_id("i-1")
            .root_device_name("/dev/xvda")
            .block_device_mappings(m("/dev/xvda", "vol-root", false))
            .block_device_mappings(m("/dev/sdb", "vol-launch", true))
            .block_device_mappings(m("/dev/sdf", "vol-later", false))
            .build();
        let got: Vec<&str> = super::super::launch_volumes(&i).collect();
        assert_eq!(got, vec!["vol-root", "vol-launch"]);
    }

    /// Recorded: a NAT gateway's ENI as moto lists it (a plain, not
    /// requester-managed interface) is the NAT gateway's, not unmanaged.
    #[test]
    fn enis_of_nat_gateways_are_theirs() {
        let nat: Item = json!({"NatGatewayId": "nat-1", "NatGatewayAddresses": [
            {"AllocationId": "eipalloc-1", "NetworkInterfaceId": "eni-9", "IsPrimary": true}]})
        .as_object()
        .unwrap()
        .clone();
        let enis: BTreeSet<String> = nat_gateway_enis(&[nat]).into_iter().collect();
        let mut inv = driftd_core::Inventory::default();
        let mut m = std::collections::BTreeMap::new();
        for id in ["eni-9", "eni-1"] {
            m.insert(id.to_string(), super::super::listing::live(id, Map::new()));
        }
        inv.types.insert(
            network_interface::NAME.into(),
            driftd_core::TypeRead::Complete(m),
        );
        own_nat_gateway_enis(&mut inv, &enis);
        let Some(driftd_core::TypeRead::Complete(m)) = inv.types.get(network_interface::NAME)
        else {
            panic!()
        };
        assert_eq!(m["eni-9"].owned_by_service.as_deref(), Some("nat_gateway"));
        assert_eq!(m["eni-1"].owned_by_service, None);
    }
}
