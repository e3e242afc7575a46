//! A replay world, generated from a seed: instances, security groups,
//! buckets, VPCs, subnets and route tables; the Terraform state for the
//! managed part; and a known drift, so the expected report is exact at any
//! size. The server ([`super::server`]) and the launcher build the same world
//! from the same [`Spec`] (generation is deterministic and takes well under a
//! second at 100k instances).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const AMI: &str = "ami-0abcdef1234567890";
pub const ZONES: &[(&str, &str)] = &[
    ("us-east-1a", "use1-az1"),
    ("us-east-1b", "use1-az2"),
    ("us-east-1c", "use1-az4"),
    ("us-east-1d", "use1-az6"),
];
const TYPES: &[&str] = &["t3.micro", "t3.small", "m5.large", "c5.xlarge"];
/// Instances per reservation (a `RunInstances` of 10).
pub const PER_RESERVATION: usize = 10;
/// Subnets per VPC (one per zone), each with its own route table.
pub const SUBNETS_PER_VPC: usize = 4;
/// Unmanaged resources of each of instances, groups, buckets.
pub const UNMANAGED_EACH: usize = 3;
const DRIFT_INSTANCES: usize = 5;
const DRIFT_GROUPS: usize = 3;
const DRIFT_BUCKETS: usize = 2;
const TERMINATED: usize = 2;

/// What to generate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Spec {
    pub seed: u64,
    /// Managed instances (the state's; unmanaged ones come on top).
    pub instances: usize,
    pub groups: usize,
    pub buckets: usize,
    pub vpcs: usize,
}

impl Spec {
    /// The proportional world of the issue: groups 10%, buckets 2% of the
    /// instances, one VPC (4 subnets, 4 route tables) per 1,000 instances.
    pub fn proportional(instances: usize, seed: u64) -> Self {
        Self {
            seed,
            instances,
            groups: (instances / 10).max(1),
            buckets: (instances / 50).max(1),
            vpcs: (instances / 1000).max(1),
        }
    }

    /// Managed resources in the state (every `aws_*` instance counted).
    pub fn managed_resources(&self) -> usize {
        let subnets = self.vpcs * SUBNETS_PER_VPC;
        // vpc + subnet + route table + route table association
        self.instances + self.groups + self.buckets + self.vpcs + 3 * subnets
    }
}

/// splitmix64: a bijection, so distinct inputs give distinct ids.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hex17(kind: u64, seed: u64, i: usize) -> String {
    // 17 hex digits like AWS; the top digit from the kind keeps id spaces apart.
    format!(
        "{:x}{:016x}",
        kind & 0xf,
        mix(seed.wrapping_mul(1_000_003) ^ (kind << 56) ^ i as u64)
    )
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub reservation: usize,
    pub launch_index: usize,
    pub itype: &'static str,
    pub subnet: usize,
    pub group: usize,
    pub ip: String,
    pub volume: String,
    pub eni: String,
    pub name: String,
    /// Live value of the `bench` tag.
    pub bench_tag: &'static str,
    pub terminated: bool,
    pub managed: bool,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub vpc: usize,
    pub port: u16,
    pub ingress_rule: String,
    pub egress_rule: String,
    pub bench_tag: &'static str,
    pub managed: bool,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    pub versioned: bool,
    pub bench_tag: &'static str,
    pub managed: bool,
}

#[derive(Debug, Clone)]
pub struct Vpc {
    pub id: String,
    pub cidr: String,
    pub assoc: String,
    pub bench_tag: &'static str,
}

#[derive(Debug, Clone)]
pub struct Subnet {
    pub id: String,
    pub vpc: usize,
    pub zone: usize,
    pub cidr: String,
    pub route_table: String,
    pub rt_assoc: String,
    pub bench_tag: &'static str,
}

/// The world: everything the replay endpoint serves.
#[derive(Debug, Clone)]
pub struct World {
    pub spec: Spec,
    /// Managed first, then the unmanaged ones; in reservation order.
    pub instances: Vec<Instance>,
    pub groups: Vec<Group>,
    pub buckets: Vec<Bucket>,
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    /// Instance id -> index in `instances`.
    pub instance_index: std::collections::HashMap<String, usize>,
}

/// The drift a correct scan reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Expected {
    pub changed: Vec<String>,
    pub missing: Vec<String>,
    pub unmanaged: usize,
}

fn spread(len: usize, n: usize, offset: usize) -> Vec<usize> {
    let n = n.min(len);
    (0..n)
        .map(|k| (k * len / n.max(1) + offset) % len)
        .collect()
}

impl World {
    pub fn generate(spec: &Spec) -> World {
        let s = spec.seed;
        let vpcs: Vec<Vpc> = (0..spec.vpcs.max(1))
            .map(|v| Vpc {
                id: format!("vpc-{}", hex17(1, s, v)),
                cidr: format!("10.{}.{}.0/22", v / 64, (v % 64) * 4),
                assoc: format!("vpc-cidr-assoc-{}", hex17(2, s, v)),
                bench_tag: "driftd",
            })
            .collect();
        let subnets: Vec<Subnet> = (0..vpcs.len() * SUBNETS_PER_VPC)
            .map(|n| {
                let v = n / SUBNETS_PER_VPC;
                let z = n % SUBNETS_PER_VPC;
                Subnet {
                    id: format!("subnet-{}", hex17(3, s, n)),
                    vpc: v,
                    zone: z,
                    cidr: format!("10.{}.{}.0/24", v / 64, (v % 64) * 4 + z),
                    route_table: format!("rtb-{}", hex17(4, s, n)),
                    rt_assoc: format!("rtbassoc-{}", hex17(5, s, n)),
                    bench_tag: "driftd",
                }
            })
            .collect();
        let n_groups = spec.groups.max(1);
        let groups: Vec<Group> = (0..n_groups + UNMANAGED_EACH)
            .map(|g| Group {
                id: format!("sg-{}", hex17(6, s, g)),
                name: if g < n_groups {
                    format!("bench-sg-{g}")
                } else {
                    format!("bench-unmanaged-sg-{g}")
                },
                vpc: g % vpcs.len(),
                port: 1000 + (g % 60000) as u16,
                ingress_rule: format!("sgr-{}", hex17(7, s, g)),
                egress_rule: format!("sgr-{}", hex17(8, s, g)),
                bench_tag: if g < n_groups { "driftd" } else { "unmanaged" },
                managed: g < n_groups,
            })
            .collect();
        let n_inst = spec.instances.max(1);
        let instances: Vec<Instance> = (0..n_inst + UNMANAGED_EACH)
            .map(|i| {
                let subnet = i % subnets.len();
                // Groups in the instance's VPC (group g lives in VPC g % vpcs).
                let vpc = subnets[subnet].vpc;
                let mut group = (i / vpcs.len()) % n_groups;
                group = group - group % vpcs.len() + vpc;
                if group >= n_groups {
                    group = vpc % n_groups;
                }
                let host = i / subnets.len() + 4;
                let sn = &subnets[subnet];
                let base = sn.cidr.trim_end_matches(".0/24");
                Instance {
                    id: format!("i-{}", hex17(9, s, i)),
                    reservation: i / PER_RESERVATION,
                    launch_index: i % PER_RESERVATION,
                    itype: TYPES[(mix(s ^ i as u64) % TYPES.len() as u64) as usize],
                    subnet,
                    group,
                    ip: format!("{base}.{}", host % 250 + 4),
                    volume: format!("vol-{}", hex17(10, s, i)),
                    eni: format!("eni-{}", hex17(11, s, i)),
                    name: format!("bench-{i}"),
                    bench_tag: if i < n_inst { "driftd" } else { "unmanaged" },
                    terminated: false,
                    managed: i < n_inst,
                }
            })
            .collect();
        let n_buckets = spec.buckets.max(1);
        let buckets: Vec<Bucket> = (0..n_buckets + UNMANAGED_EACH)
            .map(|b| Bucket {
                name: if b < n_buckets {
                    format!("driftd-bench-{b:06}-{:04x}", mix(s ^ b as u64) & 0xffff)
                } else {
                    format!("driftd-bench-unmanaged-{b:06}")
                },
                versioned: b % 5 == 0,
                bench_tag: if b < n_buckets { "driftd" } else { "unmanaged" },
                managed: b < n_buckets,
            })
            .collect();
        let mut w = World {
            spec: spec.clone(),
            instances,
            groups,
            buckets,
            vpcs,
            subnets,
            instance_index: Default::default(),
        };
        w.instance_index = w
            .instances
            .iter()
            .enumerate()
            .map(|(i, x)| (x.id.clone(), i))
            .collect();
        // The drift, applied to the live side only.
        let drift_i = spread(n_inst, DRIFT_INSTANCES, 0);
        for &i in &drift_i {
            w.instances[i].bench_tag = "drifted";
        }
        for i in spread(n_inst, TERMINATED, 1) {
            if !drift_i.contains(&i) {
                w.instances[i].terminated = true;
            }
        }
        for g in spread(n_groups, DRIFT_GROUPS, 0) {
            w.groups[g].bench_tag = "drifted";
        }
        for b in spread(n_buckets, DRIFT_BUCKETS, 0) {
            w.buckets[b].bench_tag = "drifted";
        }
        w.vpcs[0].bench_tag = "drifted";
        let last = w.subnets.len() - 1;
        w.subnets[last].bench_tag = "drifted";
        w
    }

    pub fn expected(&self) -> Expected {
        let mut changed: Vec<String> = Vec::new();
        changed.extend(
            self.instances
                .iter()
                .filter(|i| i.managed && i.bench_tag == "drifted")
                .map(|i| i.id.clone()),
        );
        changed.extend(
            self.groups
                .iter()
                .filter(|g| g.managed && g.bench_tag == "drifted")
                .map(|g| g.id.clone()),
        );
        changed.extend(
            self.buckets
                .iter()
                .filter(|b| b.managed && b.bench_tag == "drifted")
                .map(|b| b.name.clone()),
        );
        changed.extend(
            self.vpcs
                .iter()
                .filter(|v| v.bench_tag == "drifted")
                .map(|v| v.id.clone()),
        );
        changed.extend(
            self.subnets
                .iter()
                .filter(|s| s.bench_tag == "drifted")
                .map(|s| s.id.clone()),
        );
        Expected {
            changed,
            missing: self
                .instances
                .iter()
                .filter(|i| i.managed && i.terminated)
                .map(|i| i.id.clone())
                .collect(),
            unmanaged: 3 * UNMANAGED_EACH,
        }
    }

    pub fn zone(&self, subnet: usize) -> (&'static str, &'static str) {
        ZONES[self.subnets[subnet].zone % ZONES.len()]
    }

    pub fn managed_instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(|i| i.managed)
    }

    pub fn managed_buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.buckets.iter().filter(|b| b.managed)
    }

    /// The Terraform state (v4) of the managed part, as Terraform wrote it
    /// before the drift.
    pub fn state(&self) -> Value {
        let tags = |name: &str| json!({"Name": name, "bench": "driftd"});
        let instances: Vec<Value> = self
            .managed_instances()
            .map(|i| {
                let t = tags(&i.name);
                json!({
                    "id": i.id,
                    "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{}", i.id),
                    "instance_type": i.itype,
                    "ami": AMI,
                    "tags": t, "tags_all": t,
                    "vpc_security_group_ids": [self.groups[i.group].id],
                    "subnet_id": self.subnets[i.subnet].id,
                    "monitoring": false,
                    "source_dest_check": true,
                    "ebs_optimized": false,
                    "iam_instance_profile": "",
                    "key_name": "",
                    "disable_api_termination": false,
                    "metadata_options": [{
                        "http_endpoint": "enabled",
                        "http_tokens": "required",
                        "http_put_response_hop_limit": 2,
                        "instance_metadata_tags": "disabled",
                    }],
                })
            })
            .collect();
        let rule = |cidr: &str, from: u16, to: u16, proto: &str| {
            json!([{
                "cidr_blocks": [cidr], "ipv6_cidr_blocks": [], "prefix_list_ids": [],
                "security_groups": [], "self": false, "from_port": from, "to_port": to,
                "protocol": proto, "description": "",
            }])
        };
        let groups: Vec<Value> = self
            .groups
            .iter()
            .filter(|g| g.managed)
            .map(|g| {
                let t = tags(&g.name);
                json!({
                    "id": g.id,
                    "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{}", g.id),
                    "name": g.name,
                    "description": "bench group",
                    "vpc_id": self.vpcs[g.vpc].id,
                    "owner_id": ACCOUNT,
                    "tags": t, "tags_all": t,
                    "ingress": rule("10.0.0.0/8", g.port, g.port, "tcp"),
                    "egress": rule("0.0.0.0/0", 0, 0, "-1"),
                    "revoke_rules_on_delete": false,
                })
            })
            .collect();
        let buckets: Vec<Value> = self
            .managed_buckets()
            .map(|b| {
                let t = tags(&b.name);
                json!({
                    "id": b.name, "bucket": b.name,
                    "arn": format!("arn:aws:s3:::{}", b.name),
                    "region": REGION,
                    "tags": t, "tags_all": t,
                    "versioning": [{"enabled": b.versioned, "mfa_delete": false}],
                    "server_side_encryption_configuration": [],
                    "policy": "",
                    "force_destroy": false,
                })
            })
            .collect();
        let vpcs: Vec<Value> = self
            .vpcs
            .iter()
            .enumerate()
            .map(|(n, v)| {
                let t = tags(&format!("bench-vpc-{n}"));
                json!({
                    "id": v.id, "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{}", v.id),
                    "cidr_block": v.cidr, "instance_tenancy": "default",
                    "enable_dns_support": true, "enable_dns_hostnames": true,
                    "enable_network_address_usage_metrics": false,
                    "assign_generated_ipv6_cidr_block": false, "ipv6_cidr_block": "",
                    "ipv6_association_id": "", "ipv6_ipam_pool_id": "", "ipv6_netmask_length": 0,
                    "ipv4_ipam_pool_id": null, "ipv4_netmask_length": null,
                    "dhcp_options_id": "dopt-0bench", "owner_id": ACCOUNT,
                    "tags": t, "tags_all": t,
                })
            })
            .collect();
        let subnets: Vec<Value> = self
            .subnets
            .iter()
            .enumerate()
            .map(|(n, s)| {
                let t = tags(&format!("bench-subnet-{n}"));
                let (az, azid) = self.zone(n);
                json!({
                    "id": s.id, "vpc_id": self.vpcs[s.vpc].id, "cidr_block": s.cidr,
                    "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{}", s.id),
                    "availability_zone": az, "availability_zone_id": azid,
                    "map_public_ip_on_launch": false,
                    "assign_ipv6_address_on_creation": false, "ipv6_cidr_block": "",
                    "ipv6_cidr_block_association_id": "", "ipv6_native": false,
                    "enable_dns64": false, "enable_lni_at_device_index": 0,
                    "enable_resource_name_dns_a_record_on_launch": false,
                    "enable_resource_name_dns_aaaa_record_on_launch": false,
                    "private_dns_hostname_type_on_launch": "ip-name",
                    "map_customer_owned_ip_on_launch": false, "customer_owned_ipv4_pool": "",
                    "outpost_arn": "", "owner_id": ACCOUNT, "tags": t, "tags_all": t,
                })
            })
            .collect();
        let tables: Vec<Value> = self
            .subnets
            .iter()
            .enumerate()
            .map(|(n, s)| {
                let t = tags(&format!("bench-rtb-{n}"));
                json!({
                    "id": s.route_table, "vpc_id": self.vpcs[s.vpc].id, "owner_id": ACCOUNT,
                    "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:route-table/{}", s.route_table),
                    "propagating_vgws": [], "route": [], "tags": t, "tags_all": t,
                })
            })
            .collect();
        let assocs: Vec<Value> = self
            .subnets
            .iter()
            .map(|s| {
                json!({"id": s.rt_assoc, "route_table_id": s.route_table,
                       "subnet_id": s.id, "gateway_id": ""})
            })
            .collect();
        json!({
            "version": 4,
            "terraform_version": "1.6.6",
            "serial": 1,
            "lineage": "bench-replay",
            "outputs": {},
            "resources": [
                resource("aws_vpc", "vpc", vpcs),
                resource("aws_subnet", "subnet", subnets),
                resource("aws_route_table", "rtb", tables),
                resource("aws_route_table_association", "rtb", assocs),
                resource("aws_security_group", "group", groups),
                resource("aws_instance", "fleet", instances),
                resource("aws_s3_bucket", "bucket", buckets),
            ],
        })
    }
}

/// A state's bytes with the key order Terraform writes (`mode`, `type`,
/// `name`, `provider`, then `instances`; serde_json's map would sort
/// `instances` first), so the parser sees each resource's type before its
/// instances, as it does on a real state.
pub fn terraform_bytes(state: &Value) -> Vec<u8> {
    fn object(out: &mut Vec<u8>, m: &Map<String, Value>, first: &[&str]) {
        out.push(b'{');
        let rest = m.keys().filter(|k| !first.contains(&k.as_str()));
        let keys: Vec<&str> = first
            .iter()
            .copied()
            .filter(|k| m.contains_key(*k))
            .chain(rest.map(String::as_str))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, k).expect("a key serializes");
            out.push(b':');
            match (*k, &m[*k]) {
                ("resources", Value::Array(rs)) => {
                    out.push(b'[');
                    for (j, r) in rs.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        match r {
                            Value::Object(r) => object(
                                out,
                                r,
                                &["module", "mode", "type", "name", "provider", "instances"],
                            ),
                            other => serde_json::to_writer(&mut *out, other).expect("serializes"),
                        }
                    }
                    out.push(b']');
                }
                (_, v) => serde_json::to_writer(&mut *out, v).expect("a value serializes"),
            }
        }
        out.push(b'}');
    }
    let mut out = Vec::new();
    match state {
        Value::Object(m) => object(
            &mut out,
            m,
            &[
                "version",
                "terraform_version",
                "serial",
                "lineage",
                "outputs",
                "resources",
            ],
        ),
        other => serde_json::to_writer(&mut out, other).expect("serializes"),
    }
    out
}

fn resource(rtype: &str, name: &str, attrs: Vec<Value>) -> Value {
    let instances: Vec<Value> = attrs
        .into_iter()
        .enumerate()
        .map(|(i, a)| json!({"index_key": i, "schema_version": 1, "attributes": a}))
        .collect();
    let mut m = Map::new();
    m.insert("mode".into(), json!("managed"));
    m.insert("type".into(), json!(rtype));
    m.insert("name".into(), json!(name));
    m.insert(
        "provider".into(),
        json!("provider[\"registry.terraform.io/hashicorp/aws\"]"),
    );
    m.insert("instances".into(), Value::Array(instances));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_the_drift_is_exact() {
        let w = World::generate(&Spec::proportional(2000, 7));
        let mut ids: Vec<&str> = w.instances.iter().map(|i| i.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), w.instances.len());
        let e = w.expected();
        assert_eq!(e.changed.len(), 5 + 3 + 2 + 1 + 1);
        assert_eq!(e.missing.len(), 2);
        // The state is written in Terraform's key order, and reads back.
        let bytes = terraform_bytes(&w.state());
        let text = String::from_utf8(bytes.clone()).unwrap();
        let r = text.find("\"resources\":[{").unwrap();
        assert!(text[r..].starts_with("\"resources\":[{\"mode\":\"managed\",\"type\":"));
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), w.state());
        // Same spec, same world.
        let w2 = World::generate(&Spec::proportional(2000, 7));
        assert_eq!(w2.instances[1234].id, w.instances[1234].id);
        // Instances use a group of their own VPC.
        for i in &w.instances {
            assert_eq!(w.groups[i.group].vpc, w.subnets[i.subnet].vpc);
        }
    }
}
