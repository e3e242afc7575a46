#!/usr/bin/env python3
"""Seed the driftd demo world into a moto server.

1. Create a small AWS world in us-east-1: a VPC with a public and an app
   subnet, an internet gateway, a NAT gateway (and its Elastic IP), a public
   and a private route table with their associations, security groups "web"
   and "db", three instances web-0..2 and a data EBS volume attached to web-0,
   buckets demo-logs (with a lifecycle configuration) and demo-assets (whose
   access logs go to demo-logs).
2. Write the Terraform state (format v4) that describes that world as the code
   wants it: OUT/states/network.tfstate and OUT/states/app.tfstate, and the
   driftd config OUT/driftd.toml. Instance attributes are read back from the
   API, so an untouched world has no drift. The Terraform code the world is
   built from (demo/code) is copied to OUT/code: the scan's pull request step
   writes its proposed changes there as patches (local patch mode).
3. Unless --no-drift: change the world out of band, the way people do.
"""

import argparse
import json
import time
import uuid
from pathlib import Path

import boto3

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]'
FALLBACK_AMI = "ami-12c6146b"


# --- Terraform state helpers -------------------------------------------------


def resource(rtype, name, instances, module=None):
    """One state resource; `instances` is a list of (index_key, attributes)."""
    r = {"mode": "managed", "type": rtype, "name": name, "provider": PROVIDER}
    if module:
        r = {"module": module, **r}
    r["instances"] = []
    for key, attrs in instances:
        inst = {"schema_version": 1 if rtype == "aws_instance" else 0}
        if key is not None:
            inst = {"index_key": key, **inst}
        inst.update({"attributes": attrs, "sensitive_attributes": []})
        r["instances"].append(inst)
    return r


def write_state(path, resources, serial):
    state = {
        "version": 4,
        "terraform_version": "1.6.6",
        "serial": serial,
        "lineage": str(uuid.uuid4()),
        "outputs": {},
        "resources": resources,
        "check_results": None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2) + "\n")


def rule(protocol, port, cidrs=(), groups=(), description=""):
    """An inline ingress/egress block as the provider stores it."""
    return {
        "cidr_blocks": list(cidrs),
        "description": description,
        "from_port": port,
        "ipv6_cidr_blocks": [],
        "prefix_list_ids": [],
        "protocol": protocol,
        "security_groups": list(groups),
        "self": False,
        "to_port": port,
    }


def tags(**kv):
    return {"tags": dict(kv), "tags_all": dict(kv)}


# --- the world ---------------------------------------------------------------


def pick_ami(ec2):
    images = ec2.describe_images(
        Owners=["amazon"],
        Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*-x86_64-gp2"]}],
    )["Images"]
    images.sort(key=lambda i: i.get("Name", ""))
    return images[-1]["ImageId"] if images else FALLBACK_AMI


def tag_spec(rtype, **kv):
    return [{"ResourceType": rtype, "Tags": [{"Key": k, "Value": v} for k, v in kv.items()]}]


def create_group(ec2, vpc_id, name, description, **kv):
    return ec2.create_security_group(
        GroupName=name, Description=description, VpcId=vpc_id,
        TagSpecifications=tag_spec("security-group", **kv),
    )["GroupId"]


def run_instance(ec2, ami, subnet, sg, **kv):
    return ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
        SubnetId=subnet, SecurityGroupIds=[sg],
        TagSpecifications=tag_spec("instance", **kv),
    )["Instances"][0]["InstanceId"]


def wait_state(ec2, instance_id, want, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        i = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        if i["State"]["Name"] == want:
            return
        time.sleep(0.2)
    raise SystemExit(f"seed: {instance_id} did not reach {want} in {timeout}s")


ASSETS_POLICY_PUT = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "DenyInsecureTransport",
      "Effect": "Deny",
      "Principal": "*",
      "Action": "s3:*",
      "Resource": ["arn:aws:s3:::demo-assets/*", "arn:aws:s3:::demo-assets"],
      "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    }
  ]
}"""

# The same policy as Terraform's jsonencode() writes it to state: compact,
# keys sorted, lists where S3 was given scalars. driftd compares the meaning.
ASSETS_POLICY_STATE = json.dumps(
    {
        "Statement": [
            {
                "Action": ["s3:*"],
                "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": ["arn:aws:s3:::demo-assets", "arn:aws:s3:::demo-assets/*"],
                "Sid": "DenyInsecureTransport",
            }
        ],
        "Version": "2012-10-17",
    },
    sort_keys=True,
    separators=(",", ":"),
)


def LOGS_LIFECYCLE(days):
    """demo-logs' lifecycle as the API takes it: logs expire after `days`."""
    return {"Rules": [{"ID": "expire-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
                       "Expiration": {"Days": days}}]}


def seed(ec2, s3):
    """Create the world; return the ids the state needs."""
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16",
                         TagSpecifications=tag_spec("vpc", Name="demo"))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24", AvailabilityZone="us-east-1a",
                               TagSpecifications=tag_spec("subnet", Name="demo-a"))["Subnet"]["SubnetId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.0.0/24", AvailabilityZone="us-east-1a",
                               TagSpecifications=tag_spec("subnet", Name="demo-public"))["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway(
        TagSpecifications=tag_spec("internet-gateway", Name="demo"))["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    eip = ec2.allocate_address(Domain="vpc",
                               TagSpecifications=tag_spec("elastic-ip", Name="demo-nat"))["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip,
                                 TagSpecifications=tag_spec("natgateway", Name="demo"))["NatGateway"]["NatGatewayId"]
    rtb_public = ec2.create_route_table(
        VpcId=vpc, TagSpecifications=tag_spec("route-table", Name="public"))["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb_public, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    rtb_private = ec2.create_route_table(
        VpcId=vpc, TagSpecifications=tag_spec("route-table", Name="private"))["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb_private, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    assoc_public = ec2.associate_route_table(RouteTableId=rtb_public, SubnetId=public)["AssociationId"]
    assoc_app = ec2.associate_route_table(RouteTableId=rtb_private, SubnetId=subnet)["AssociationId"]

    web = create_group(ec2, vpc, "web", "web servers", Name="web")
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}]}])
    ec2.revoke_security_group_egress(GroupId=web, IpPermissions=[{
        "IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_egress(GroupId=web, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https out"}]}])

    db = create_group(ec2, vpc, "db", "databases", Name="db")
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": web, "Description": "postgres from web"}]}])

    ami = pick_ami(ec2)
    instances = [run_instance(ec2, ami, subnet, web, Name=f"web-{i}", Team="web") for i in range(3)]
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=20, VolumeType="gp3",
                               TagSpecifications=tag_spec("volume", Name="web-0-data"))["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=instances[0], Device="/dev/sdf")

    s3.create_bucket(Bucket="demo-logs")
    s3.put_bucket_tagging(Bucket="demo-logs", Tagging={"TagSet": [
        {"Key": "Name", "Value": "demo-logs"}, {"Key": "Team", "Value": "platform"}]})
    s3.put_bucket_versioning(Bucket="demo-logs", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket="demo-logs", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})

    s3.put_bucket_acl(Bucket="demo-logs", ACL="log-delivery-write")
    s3.put_bucket_lifecycle_configuration(Bucket="demo-logs", LifecycleConfiguration=LOGS_LIFECYCLE(90))

    s3.create_bucket(Bucket="demo-assets")
    s3.put_bucket_logging(Bucket="demo-assets", BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": "demo-logs", "TargetPrefix": "assets/"}})
    s3.put_bucket_tagging(Bucket="demo-assets", Tagging={"TagSet": [
        {"Key": "Name", "Value": "demo-assets"}, {"Key": "Team", "Value": "web"}]})
    s3.put_bucket_versioning(Bucket="demo-assets", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket="demo-assets", Policy=ASSETS_POLICY_PUT)
    s3.put_public_access_block(Bucket="demo-assets", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})

    return {"vpc": vpc, "subnet": subnet, "public": public, "igw": igw, "eip": eip, "nat": nat,
            "rtb_public": rtb_public, "rtb_private": rtb_private, "assoc_public": assoc_public,
            "assoc_app": assoc_app, "web": web, "db": db, "instances": instances, "volume": volume}


# --- state, from what the code wants (and what the API reports) --------------


def sg_state(ec2, group_id, ingress, egress):
    g = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    kv = {t["Key"]: t["Value"] for t in g.get("Tags", [])}
    return {
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group_id}",
        "description": g["Description"],
        "egress": egress,
        "id": group_id,
        "ingress": ingress,
        "name": g["GroupName"],
        "name_prefix": "",
        "owner_id": ACCOUNT,
        "revoke_rules_on_delete": False,
        **tags(**kv),
        "timeouts": None,
        "vpc_id": g["VpcId"],
    }


def instance_state(ec2, instance_id):
    """aws_instance attributes, read back from the API as `terraform apply` would."""
    i = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    protection = ec2.describe_instance_attribute(
        InstanceId=instance_id, Attribute="disableApiTermination"
    )["DisableApiTermination"].get("Value", False)
    kv = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
    attrs = {
        "ami": i["ImageId"],
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}",
        "availability_zone": i["Placement"]["AvailabilityZone"],
        "disable_api_termination": protection,
        "ebs_optimized": i.get("EbsOptimized", False),
        "iam_instance_profile": "",
        "id": instance_id,
        "instance_state": i["State"]["Name"],
        "instance_type": i["InstanceType"],
        "key_name": i.get("KeyName", ""),
        "monitoring": i.get("Monitoring", {}).get("State") in ("enabled", "pending"),
        "private_ip": i.get("PrivateIpAddress", ""),
        "public_ip": i.get("PublicIpAddress", ""),
        "source_dest_check": i.get("SourceDestCheck", True),
        "subnet_id": i["SubnetId"],
        **tags(**kv),
        "vpc_security_group_ids": sorted(g["GroupId"] for g in i.get("SecurityGroups", [])),
    }
    mo = i.get("MetadataOptions")
    if mo:
        attrs["metadata_options"] = [{
            "http_endpoint": mo.get("HttpEndpoint", ""),
            "http_put_response_hop_limit": mo.get("HttpPutResponseHopLimit", 1),
            "http_tokens": mo.get("HttpTokens", ""),
            "instance_metadata_tags": mo.get("InstanceMetadataTags", ""),
        }]
    return dict(sorted(attrs.items()))


def bucket_base(name, **kv):
    return {
        "arn": f"arn:aws:s3:::{name}",
        "bucket": name,
        "force_destroy": False,
        "id": name,
        "region": REGION,
        **tags(**kv),
    }


def ec2_tags(obj):
    return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}


ROUTE_TARGETS = ("carrier_gateway_id", "core_network_arn", "egress_only_gateway_id",
                 "gateway_id", "local_gateway_id", "nat_gateway_id", "network_interface_id",
                 "transit_gateway_id", "vpc_endpoint_id", "vpc_peering_connection_id")


def route_block(r):
    """One `route` block of aws_route_table as the provider's Read writes it."""
    block = {"cidr_block": r.get("DestinationCidrBlock", ""),
             "ipv6_cidr_block": r.get("DestinationIpv6CidrBlock", ""),
             "destination_prefix_list_id": r.get("DestinationPrefixListId", "")}
    block.update({k: "" for k in ROUTE_TARGETS})
    block["gateway_id"] = r.get("GatewayId", "")
    block["nat_gateway_id"] = r.get("NatGatewayId", "")
    return block


def network_state(ec2, ids):
    """The VPC and what routes its traffic, read back as `terraform apply` would."""
    v = ec2.describe_vpcs(VpcIds=[ids["vpc"]])["Vpcs"][0]
    out = [resource("aws_vpc", "main", [(None, {
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{ids['vpc']}",
        "assign_generated_ipv6_cidr_block": False, "cidr_block": v["CidrBlock"], "id": ids["vpc"],
        "instance_tenancy": "default", "ipv6_cidr_block": "", **tags(**ec2_tags(v))})])]
    for name, sid in (("public", ids["public"]), ("app", ids["subnet"])):
        sn = ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]
        out.append(resource("aws_subnet", name, [(None, {
            "assign_ipv6_address_on_creation": False, "availability_zone": sn["AvailabilityZone"],
            "cidr_block": sn["CidrBlock"], "id": sid, "ipv6_cidr_block": "",
            "map_public_ip_on_launch": sn.get("MapPublicIpOnLaunch", False),
            **tags(**ec2_tags(sn)), "vpc_id": ids["vpc"]})]))
    gw = ec2.describe_internet_gateways(InternetGatewayIds=[ids["igw"]])["InternetGateways"][0]
    out.append(resource("aws_internet_gateway", "main", [(None, {
        "id": ids["igw"], "owner_id": ACCOUNT, **tags(**ec2_tags(gw)), "vpc_id": ids["vpc"]})]))
    e = ec2.describe_addresses(AllocationIds=[ids["eip"]])["Addresses"][0]
    out.append(resource("aws_eip", "nat", [(None, {
        "allocation_id": ids["eip"], "association_id": e.get("AssociationId", ""),
        "domain": "vpc", "id": ids["eip"], "instance": e.get("InstanceId", ""),
        "network_interface": e.get("NetworkInterfaceId", ""),
        "private_ip": e.get("PrivateIpAddress", ""), "public_ip": e["PublicIp"],
        **tags(**ec2_tags(e))})]))
    n = ec2.describe_nat_gateways(NatGatewayIds=[ids["nat"]])["NatGateways"][0]
    a = n["NatGatewayAddresses"][0]
    out.append(resource("aws_nat_gateway", "main", [(None, {
        "allocation_id": ids["eip"], "connectivity_type": "public", "id": ids["nat"],
        "network_interface_id": a.get("NetworkInterfaceId", ""), "private_ip": a.get("PrivateIp", ""),
        "public_ip": a.get("PublicIp", ""), "secondary_allocation_ids": [],
        "subnet_id": ids["public"], **tags(**ec2_tags(n))})]))
    for name in ("public", "private"):
        rid = ids[f"rtb_{name}"]
        t = ec2.describe_route_tables(RouteTableIds=[rid])["RouteTables"][0]
        routes = [route_block(r) for r in t["Routes"] if r.get("GatewayId") != "local"]
        out.append(resource("aws_route_table", name, [(None, {
            "id": rid, "owner_id": ACCOUNT, "propagating_vgws": [], "route": routes,
            **tags(**ec2_tags(t)), "vpc_id": ids["vpc"]})]))
    for name, assoc, rtb, sid in (("public", "assoc_public", "rtb_public", "public"),
                                  ("app", "assoc_app", "rtb_private", "subnet")):
        out.append(resource("aws_route_table_association", name, [(None, {
            "gateway_id": "", "id": ids[assoc], "route_table_id": ids[rtb],
            "subnet_id": ids[sid]})]))
    return out


def volume_state(ec2, ids):
    """The data volume and its attachment to web-0."""
    v = ec2.describe_volumes(VolumeIds=[ids["volume"]])["Volumes"][0]
    return [
        resource("aws_ebs_volume", "data", [(None, {
            "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{ids['volume']}",
            "availability_zone": v["AvailabilityZone"], "encrypted": v.get("Encrypted", False),
            "final_snapshot": False, "id": ids["volume"], "iops": v.get("Iops", 0),
            "kms_key_id": v.get("KmsKeyId", ""), "multi_attach_enabled": False, "outpost_arn": "",
            "size": v["Size"], "snapshot_id": "", **tags(**ec2_tags(v)),
            "throughput": v.get("Throughput", 0), "type": v["VolumeType"]})]),
        resource("aws_volume_attachment", "data", [(None, {
            "device_name": "/dev/sdf", "force_detach": None, "id": "vai-3520170839",
            "instance_id": ids["instances"][0], "skip_destroy": None,
            "stop_instance_before_detaching": None, "volume_id": ids["volume"]})]),
    ]


def write_states(ec2, ids, out):
    web, db = ids["web"], ids["db"]
    network = network_state(ec2, ids) + [
        resource("aws_security_group", "web", [(None, sg_state(
            ec2, web,
            ingress=[rule("tcp", 443, cidrs=["0.0.0.0/0"], description="https")],
            egress=[rule("tcp", 443, cidrs=["0.0.0.0/0"], description="https out")],
        ))]),
        resource("aws_security_group", "db", [(None, sg_state(
            ec2, db,
            ingress=[rule("tcp", 5432, groups=[web], description="postgres from web")],
            egress=[rule("-1", 0, cidrs=["0.0.0.0/0"])],
        ))]),
    ]
    write_state(out / "states" / "network.tfstate", network, serial=7)

    logs = bucket_base("demo-logs", Name="demo-logs", Team="platform")
    logs.update({
        "policy": "",
        "server_side_encryption_configuration": [{"rule": [{
            "apply_server_side_encryption_by_default": [
                {"kms_master_key_id": "", "sse_algorithm": "AES256"}],
            "bucket_key_enabled": False,
        }]}],
        "versioning": [{"enabled": True, "mfa_delete": False}],
    })
    split = {"bucket": "demo-assets", "id": "demo-assets"}
    app = [
        resource("aws_instance", "web",
                 [(n, instance_state(ec2, i)) for n, i in enumerate(ids["instances"])]),
        resource("aws_s3_bucket", "logs", [(None, logs)]),
        resource("aws_s3_bucket", "assets", [(None, bucket_base(
            "demo-assets", Name="demo-assets", Team="web"))], module="module.storage"),
        resource("aws_s3_bucket_policy", "assets", [(None, {
            **split, "policy": ASSETS_POLICY_STATE})], module="module.storage"),
        resource("aws_s3_bucket_public_access_block", "assets", [(None, {
            **split, "block_public_acls": True, "block_public_policy": True,
            "ignore_public_acls": True, "restrict_public_buckets": True})],
            module="module.storage"),
        resource("aws_s3_bucket_versioning", "assets", [(None, {
            **split, "expected_bucket_owner": "", "mfa": None,
            "versioning_configuration": [{"mfa_delete": "", "status": "Enabled"}]})],
            module="module.storage"),
        resource("aws_s3_bucket_logging", "assets", [(None, {
            **split, "expected_bucket_owner": "", "target_bucket": "demo-logs",
            "target_grant": [], "target_object_key_format": [], "target_prefix": "assets/"})],
            module="module.storage"),
        resource("aws_s3_bucket_lifecycle_configuration", "logs", [(None, {
            "bucket": "demo-logs", "expected_bucket_owner": "", "id": "demo-logs",
            "rule": [{"abort_incomplete_multipart_upload": [],
                      "expiration": [{"date": None, "days": 90, "expired_object_delete_marker": False}],
                      "filter": [{"and": [], "object_size_greater_than": None,
                                  "object_size_less_than": None, "prefix": "logs/", "tag": []}],
                      "id": "expire-logs", "noncurrent_version_expiration": [],
                      "noncurrent_version_transition": [], "prefix": "", "status": "Enabled",
                      "transition": []}],
            "transition_default_minimum_object_size": "all_storage_classes_128K"})]),
    ] + volume_state(ec2, ids)
    write_state(out / "states" / "app.tfstate", app, serial=23)


# The Terraform code the world is built from (demo/code), and what the pull
# request step may do with it, per stack: local patch mode (code.path), one
# patch file per branch in OUT/code/<stack>/.driftd-patches. The app stack
# also proposes removals for missing resources and imports unmanaged ones
# that its rules map to it (the hotfix instance, the scratch bucket).
CODE = {
    "network": 'code = { path = "code/network" }\n',
    "app": 'code = { path = "code/app", missing = "remove", '
           'import = [{ tags = { Team = "ops" } }, { name_prefix = "demo-scratch" }] }\n',
}


def write_code(out):
    src = Path(__file__).resolve().parent / "code"
    for f in sorted(src.rglob("*.tf")):
        dst = out / "code" / f.relative_to(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(f.read_text())


def write_config(endpoint, out):
    stacks = "".join(
        f'\n[[stacks]]\nname = "{name}"\nstate = "states/{name}.tfstate"\n'
        f'regions = ["{REGION}"]\nendpoint_url = "{endpoint}"\n'
        # The app stack shows reconcile safely: dry-run prints the exact calls.
        + ('reconcile = "dry_run"\n' if name == "app" else "")
        + CODE[name]
        for name in ("network", "app")
    )
    (out / "driftd.toml").write_text(
        "# Generated by demo/seed.py: the demo world on a local moto server.\n"
        "[scan]\nconcurrency = 8\n\n"
        "[reconcile]\naudit_log = \"audit.jsonl\"\n\n"
        "[history]\nlocation = \"history\"\n" + stacks
    )


# --- out-of-band drift -------------------------------------------------------

# Every change below is also written as the CloudTrail record AWS would keep
# (OUT/cloudtrail-events.json): demo/fake_cloudtrail.py serves them to
# driftd's attribution (LookupEvents), so the report says who changed what.
EVENTS_FILE = "cloudtrail-events.json"


def role(name, session):
    return {"type": "AssumedRole", "principalId": f"AROADEMO:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}", "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": name,
                                                 "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}"}}}


def iam_user(name):
    return {"type": "IAMUser", "userName": name, "accountId": ACCOUNT,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}"}


CONSOLE = "console.amazonaws.com"
CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5 exe/x86_64"


def trail(out, resource, rtype, event_name, who, user_agent, source="ec2", **request):
    """Append the CloudTrail record of one out-of-band change to OUT/EVENTS_FILE."""
    if out is None:
        return
    path = Path(out) / EVENTS_FILE
    events = json.loads(path.read_text()) if path.exists() else []
    events.append({"resource": resource, "type": rtype, "record": {
        "eventVersion": "1.09", "userIdentity": who,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "eventSource": f"{source}.amazonaws.com", "eventName": event_name, "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.7", "userAgent": user_agent, "requestParameters": request,
        "readOnly": False, "eventID": str(uuid.uuid4()), "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": ACCOUNT,
        "sessionCredentialFromConsole": "true" if user_agent == CONSOLE else "false"}})
    path.write_text(json.dumps(events, indent=1))


def drift(ec2, s3, ids, out=None):
    web = ids["web"]
    web1, web2 = ids["instances"][1], ids["instances"][2]
    # Someone opens SSH "just for a minute".
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "debug"}]}])
    trail(out, web, "AWS::EC2::SecurityGroup", "AuthorizeSecurityGroupIngress",
          role("ops-admin", "jane"), CONSOLE, groupId=web)
    # Ownership changed in the console.
    ec2.create_tags(Resources=[web1], Tags=[{"Key": "Team", "Value": "ops"}])
    trail(out, web1, "AWS::EC2::Instance", "CreateTags",
          role("AWSReservedSSO_PowerUser_0123456789abcdef", "alice@example.com"), CONSOLE)
    # A resize during an incident.
    ec2.stop_instances(InstanceIds=[web2])
    wait_state(ec2, web2, "stopped")
    ec2.modify_instance_attribute(InstanceId=web2, InstanceType={"Value": "t3.large"})
    ec2.start_instances(InstanceIds=[web2])
    wait_state(ec2, web2, "running")
    trail(out, web2, "AWS::EC2::Instance", "ModifyInstanceAttribute",
          role("break-glass", "oncall-bob"), CLI, instanceId=web2)
    # A hotfix box nobody wrote down.
    hotfix = run_instance(ec2, ec2.describe_instances(InstanceIds=[web1])["Reservations"][0]
                          ["Instances"][0]["ImageId"], ids["subnet"], web, Name="hotfix", Team="ops")
    trail(out, hotfix, "AWS::EC2::Instance", "RunInstances", role("break-glass", "oncall-bob"), CLI)
    # S3: versioning suspended, public access block removed, a scratch bucket.
    s3.put_bucket_versioning(Bucket="demo-logs", VersioningConfiguration={"Status": "Suspended"})
    trail(out, "demo-logs", "AWS::S3::Bucket", "PutBucketVersioning", iam_user("deploy-bot"), CLI,
          source="s3", bucketName="demo-logs")
    s3.delete_public_access_block(Bucket="demo-assets")
    trail(out, "demo-assets", "AWS::S3::Bucket", "DeleteBucketPublicAccessBlock",
          role("ops-admin", "jane"), CONSOLE, source="s3", bucketName="demo-assets")
    s3.create_bucket(Bucket="demo-scratch")
    trail(out, "demo-scratch", "AWS::S3::Bucket", "CreateBucket", iam_user("deploy-bot"), CLI,
          source="s3", bucketName="demo-scratch")
    # Network: the private subnets' default route moved off the NAT gateway.
    ec2.replace_route(RouteTableId=ids["rtb_private"], DestinationCidrBlock="0.0.0.0/0",
                      GatewayId=ids["igw"])
    trail(out, ids["rtb_private"], "AWS::EC2::RouteTable", "ReplaceRoute",
          role("network-admin", "raj"), CLI, routeTableId=ids["rtb_private"],
          destinationCidrBlock="0.0.0.0/0")
    # The data volume grown during a disk-full page; log retention cut to a week;
    # access logs of demo-assets sent under another prefix.
    ec2.modify_volume(VolumeId=ids["volume"], Size=50)
    trail(out, ids["volume"], "AWS::EC2::Volume", "ModifyVolume",
          role("break-glass", "oncall-bob"), CONSOLE, volumeId=ids["volume"], size=50)
    s3.put_bucket_lifecycle_configuration(Bucket="demo-logs", LifecycleConfiguration=LOGS_LIFECYCLE(7))
    trail(out, "demo-logs", "AWS::S3::Bucket", "PutBucketLifecycle", iam_user("deploy-bot"), CLI,
          source="s3", bucketName="demo-logs")
    s3.put_bucket_logging(Bucket="demo-assets", BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": "demo-logs", "TargetPrefix": "debug/"}})
    trail(out, "demo-assets", "AWS::S3::Bucket", "PutBucketLogging", role("ops-admin", "jane"),
          CONSOLE, source="s3", bucketName="demo-assets")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="moto server URL, e.g. http://127.0.0.1:5000")
    p.add_argument("--out", required=True, type=Path, help="directory for states and driftd.toml")
    p.add_argument("--no-drift", action="store_true", help="leave the world as the state describes it")
    a = p.parse_args()

    session = boto3.session.Session(region_name=REGION)
    ec2 = session.client("ec2", endpoint_url=a.endpoint)
    s3 = session.client("s3", endpoint_url=a.endpoint)

    ids = seed(ec2, s3)
    write_states(ec2, ids, a.out)
    write_code(a.out)
    write_config(a.endpoint, a.out)
    print(f"seed: world created, state written to {a.out}/states")
    if not a.no_drift:
        drift(ec2, s3, ids, a.out)
        print("seed: out-of-band drift applied")


if __name__ == "__main__":
    main()
