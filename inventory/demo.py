"""The demo's sample estate: a legacy AWS account, built through boto3 against moto.

It is the estate a newcomer inherits in the seed articles (PRODUCT.md): a
production VPC ("honban") with links nobody documented (a peering to a partner
account, a VPN to the old data centre, a transit gateway to the staging VPC),
security groups holding IPs nobody can explain, an RDS with one day of backups
taken during business hours, a lone cron server, CloudTrail in one region only
and an instance in a region nobody uses (seed 001's leaked key).

Only ever call this against moto (in process with `mock_aws`, or a moto server
through `endpoint_url`): it creates resources. Pieces moto 5.2.5 cannot build
are skipped with a comment where they would go.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3

HOME_REGION = "ap-northeast-1"  # Tokyo: where everything runs
GLOBAL_REGION = "us-east-1"  # IAM, CloudFront-era buckets, the old tools account habits
UNUSED_REGION = "sa-east-1"  # nobody works here: the leaked key's crypto miner does
REGIONS = [HOME_REGION, GLOBAL_REGION, UNUSED_REGION]

# The account moto answers as, and the partner on the other side of the peering.
ACCOUNT_ID = "123456789012"
PARTNER_ACCOUNT_ID = "210987654321"

# The role the demo account is read through (the recommended mode), created in
# the estate so the demo looks like a real one; moto accepts any AssumeRole.
READONLY_ROLE_NAME = "CatchupReadOnly"
READONLY_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/{READONLY_ROLE_NAME}"
READONLY_EXTERNAL_ID = "catchup-demo-7f3a9c"

# IPs somebody once typed into security groups, and nobody remembers why.
UNEXPLAINED_IP = "203.0.113.45/32"  # no description at all
OLD_OFFICE_CIDR = "198.51.100.0/24"  # described "old office?"
FLUENTD_SOURCE_IP = "192.0.2.10/32"  # port 24224: somebody's fluentd aggregator
ONPREM_CIDR = "192.168.0.0/16"  # the data centre behind honban-dc-vpn
# The "maintenance" prefix list batch-sg allows SSH from: a vendor and an office range.
VENDOR_CIDR = "192.0.2.64/27"  # the outsourcing vendor's jump hosts
OFFICE_V6_CIDR = "2001:db8:1234::/48"  # head office, IPv6
MONITORING_IP = "13.112.10.20/32"  # inside AWS's ranges: somebody's EC2 (a monitoring SaaS?)
REPORTS_IP = "198.51.100.77/32"  # the only address the reports bucket lets read


def tags(name: str, **extra: str) -> list[dict[str, str]]:
    """AWS tag list with a Name and whatever else the previous team bothered to add."""
    return [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in extra.items()]


def tag_spec(resource_type: str, name: str, **extra: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tags(name, **extra)}]


class _Clients:
    """boto3 clients for one session, all pointed at the same (moto) endpoint."""

    def __init__(self, session: boto3.Session, endpoint_url: str | None) -> None:
        self.session = session
        self.endpoint_url = endpoint_url

    def __call__(self, service: str, region: str = HOME_REGION, session: Any = None) -> Any:
        return (session or self.session).client(
            service, region_name=region, endpoint_url=self.endpoint_url
        )


def build_legacy_estate(session: boto3.Session, endpoint_url: str | None = None) -> dict[str, Any]:
    """Create the sample legacy account; return the notable ids (for tests and the demo)."""
    client = _Clients(session, endpoint_url)
    ids: dict[str, Any] = {"regions": list(REGIONS), "account_id": ACCOUNT_ID}
    _iam(client, ids)
    _network(client, ids)
    _security_groups(client, ids)
    _instances(client, ids)
    _load_balancers(client, ids)
    _databases(client, ids)
    _storage(client, ids)
    _ops(client, ids)
    _unused_region(client, ids)
    return ids


# --- Layer 1: network and external connections ----------------------------------


def _network(client: _Clients, ids: dict[str, Any]) -> None:
    ec2 = client("ec2")
    # Touching the region makes moto create its default VPC, as AWS has in every
    # region: keep its id, nobody deleted it here either.
    default_vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    ids["default_vpc"] = default_vpcs[0]["VpcId"] if default_vpcs else None

    vpc = ec2.create_vpc(
        CidrBlock="10.0.0.0/16", TagSpecifications=tag_spec("vpc", "honban-vpc", Env="prod")
    )["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    ids["vpc"] = vpc

    subnets = {}
    for key, cidr, az, name in (
        ("public_a", "10.0.0.0/24", "ap-northeast-1a", "honban-public-1a"),
        ("public_c", "10.0.1.0/24", "ap-northeast-1c", "honban-public-1c"),
        ("private_a", "10.0.10.0/24", "ap-northeast-1a", "honban-private-1a"),
        ("private_c", "10.0.11.0/24", "ap-northeast-1c", "honban-private-1c"),
    ):
        subnets[key] = ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=cidr,
            AvailabilityZone=az,
            TagSpecifications=tag_spec("subnet", name, Env="prod"),
        )["Subnet"]["SubnetId"]
    ids["subnets"] = subnets

    igw = ec2.create_internet_gateway(TagSpecifications=tag_spec("internet-gateway", "honban-igw"))[
        "InternetGateway"
    ]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ids["internet_gateway"] = igw

    nat_eip = ec2.allocate_address(
        Domain="vpc", TagSpecifications=tag_spec("elastic-ip", "honban-nat-eip")
    )["AllocationId"]
    nat = ec2.create_nat_gateway(
        SubnetId=subnets["public_a"],
        AllocationId=nat_eip,
        TagSpecifications=tag_spec("natgateway", "honban-nat-1a"),
    )["NatGateway"]["NatGatewayId"]
    ids["nat_gateway"] = nat

    # An Elastic IP allocated for a bastion that no longer exists: it still costs
    # money, and a partner's firewall may still allow it (seed 003).
    ids["unassociated_eip"] = ec2.allocate_address(
        Domain="vpc", TagSpecifications=tag_spec("elastic-ip", "old-bastion-eip")
    )["AllocationId"]

    # A partner's VPC in their own account, peered years ago for "a batch
    # integration": named production-peering and mentioned in no document.
    partner = _partner_session(client)
    partner_ec2 = client("ec2", session=partner)
    partner_vpc = partner_ec2.create_vpc(
        CidrBlock="172.20.0.0/16", TagSpecifications=tag_spec("vpc", "partner-shared-vpc")
    )["Vpc"]["VpcId"]
    peering = ec2.create_vpc_peering_connection(
        VpcId=vpc,
        PeerVpcId=partner_vpc,
        PeerOwnerId=PARTNER_ACCOUNT_ID,
        TagSpecifications=tag_spec("vpc-peering-connection", "production-peering", Owner="unknown"),
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    partner_ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=peering)
    ids["partner_vpc"] = partner_vpc
    ids["peering"] = peering

    # The site-to-site VPN to the old data centre (on-premises 192.168.0.0/16).
    cgw = ec2.create_customer_gateway(
        BgpAsn=65010,
        PublicIp="203.0.113.200",
        Type="ipsec.1",
        TagSpecifications=tag_spec("customer-gateway", "honban-dc-cgw", Location="tokyo-dc"),
    )["CustomerGateway"]["CustomerGatewayId"]
    vgw = ec2.create_vpn_gateway(
        Type="ipsec.1", TagSpecifications=tag_spec("vpn-gateway", "honban-vgw")
    )["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpcId=vpc, VpnGatewayId=vgw)
    vpn = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=cgw,
        VpnGatewayId=vgw,
        Options={"StaticRoutesOnly": True},
        TagSpecifications=tag_spec("vpn-connection", "honban-dc-vpn"),
    )["VpnConnection"]["VpnConnectionId"]
    # CreateVpnConnectionRoute (the static 192.168.0.0/16 route on the VPN) is not
    # implemented by moto 5.2.5; the private route table below carries that route.
    ids.update(customer_gateway=cgw, vpn_gateway=vgw, vpn_connection=vpn)

    # The staging VPC, joined to production through a transit gateway (seed 002).
    kensho_vpc = ec2.create_vpc(
        CidrBlock="10.1.0.0/16", TagSpecifications=tag_spec("vpc", "kensho-vpc", Env="stg")
    )["Vpc"]["VpcId"]
    kensho_subnet = ec2.create_subnet(
        VpcId=kensho_vpc,
        CidrBlock="10.1.0.0/24",
        AvailabilityZone="ap-northeast-1a",
        TagSpecifications=tag_spec("subnet", "kensho-private-1a", Env="stg"),
    )["Subnet"]["SubnetId"]
    tgw = ec2.create_transit_gateway(
        Description="honban <-> kensho (and the DC, one day)",
        TagSpecifications=tag_spec("transit-gateway", "honban-tgw"),
    )["TransitGateway"]["TransitGatewayId"]
    attachments = []
    for name, vpc_id, subnet_ids in (
        ("honban-tgw-attach", vpc, [subnets["private_a"], subnets["private_c"]]),
        ("kensho-tgw-attach", kensho_vpc, [kensho_subnet]),
    ):
        attachments.append(
            ec2.create_transit_gateway_vpc_attachment(
                TransitGatewayId=tgw,
                VpcId=vpc_id,
                SubnetIds=subnet_ids,
                TagSpecifications=tag_spec("transit-gateway-attachment", name),
            )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        )
    ids.update(kensho_vpc=kensho_vpc, transit_gateway=tgw, tgw_attachments=attachments)

    # Route tables: public through the IGW; private through the NAT, the
    # peering, the VPN and the transit gateway.
    public_rt = ec2.create_route_table(
        VpcId=vpc, TagSpecifications=tag_spec("route-table", "honban-public-rt")
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    private_rt = ec2.create_route_table(
        VpcId=vpc, TagSpecifications=tag_spec("route-table", "honban-private-rt")
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    ec2.create_route(
        RouteTableId=private_rt,
        DestinationCidrBlock="172.20.0.0/16",
        VpcPeeringConnectionId=peering,
    )
    ec2.create_route(RouteTableId=private_rt, DestinationCidrBlock=ONPREM_CIDR, GatewayId=vgw)
    ec2.create_route(
        RouteTableId=private_rt, DestinationCidrBlock="10.1.0.0/16", TransitGatewayId=tgw
    )
    for key in ("public_a", "public_c"):
        ec2.associate_route_table(RouteTableId=public_rt, SubnetId=subnets[key])
    for key in ("private_a", "private_c"):
        ec2.associate_route_table(RouteTableId=private_rt, SubnetId=subnets[key])
    ids["route_tables"] = {"public": public_rt, "private": private_rt}

    # Seed 002: someone "hardened" the 1c private subnet by denying traffic from
    # the 1a private subnet, which breaks cross-AZ paths through the transit gateway.
    nacl = ec2.create_network_acl(
        VpcId=vpc, TagSpecifications=tag_spec("network-acl", "honban-private-1c-nacl")
    )["NetworkAcl"]["NetworkAclId"]
    for number, egress, cidr, action in (
        (90, False, "10.0.10.0/24", "deny"),  # the other AZ's private subnet
        (100, False, "0.0.0.0/0", "allow"),
        (100, True, "0.0.0.0/0", "allow"),
    ):
        ec2.create_network_acl_entry(
            NetworkAclId=nacl,
            RuleNumber=number,
            Protocol="-1",
            RuleAction=action,
            Egress=egress,
            CidrBlock=cidr,
        )
    current = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnets["private_c"]]}]
    )["NetworkAcls"]
    for acl in current:
        for assoc in acl.get("Associations", []):
            if assoc.get("SubnetId") == subnets["private_c"]:
                ec2.replace_network_acl_association(
                    AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=nacl
                )
    ids["network_acl"] = nacl

    # VPC flow logs were never enabled (seed 002 says they must be, beforehand):
    # nothing to create. Direct Connect: moto has no API for it; skipped.


def _partner_session(client: _Clients) -> boto3.Session:
    """Credentials of the partner account: moto maps an assumed role to its account."""
    creds = client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{PARTNER_ACCOUNT_ID}:role/peering-admin",
        RoleSessionName="catchup-demo-partner",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=HOME_REGION,
    )


def _security_groups(client: _Clients, ids: dict[str, Any]) -> None:
    ec2 = client("ec2")
    vpc = ids["vpc"]

    def group(name: str, description: str, **extra: str) -> str:
        return ec2.create_security_group(
            GroupName=name,
            Description=description,
            VpcId=vpc,
            TagSpecifications=tag_spec("security-group", name, **extra),
        )["GroupId"]

    alb = group("honban-alb-sg", "ALB public", Env="prod")
    web = group("honban-web-sg", "web servers", Env="prod", Role="web")
    app = group("honban-app-sg", "app servers", Env="prod", Role="app")
    db = group("honban-db-sg", "RDS MySQL", Env="prod", Role="db")
    batch = group("batch-sg", "batch01 (cron)", Role="batch")
    cache = group("honban-cache-sg", "redis", Env="prod")

    def allow(group_id: str, *permissions: dict[str, Any]) -> None:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=list(permissions))

    def tcp(port: int, **sources: Any) -> dict[str, Any]:
        return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **sources}

    world = [{"CidrIp": "0.0.0.0/0"}]
    allow(alb, tcp(80, IpRanges=world), tcp(443, IpRanges=world))
    allow(
        web,
        tcp(80, UserIdGroupPairs=[{"GroupId": alb, "Description": "from ALB"}]),
        # SSH from anywhere, IPv4 and IPv6: "temporary, for the migration" (seed 004).
        tcp(
            22,
            IpRanges=[
                {"CidrIp": "0.0.0.0/0", "Description": "temporary"},
                {"CidrIp": UNEXPLAINED_IP},  # no description: whose IP is this?
            ],
            Ipv6Ranges=[{"CidrIpv6": "::/0"}],
        ),
    )
    allow(
        app,
        tcp(8080, UserIdGroupPairs=[{"GroupId": web, "Description": "web -> app"}]),
        # Port 24224 is fluentd's forward protocol: a log flow to follow (seed 000).
        tcp(24224, IpRanges=[{"CidrIp": FLUENTD_SOURCE_IP, "Description": "fluentd"}]),
    )
    allow(
        db,
        tcp(3306, UserIdGroupPairs=[{"GroupId": app, "Description": "app -> db"}]),
        tcp(3306, UserIdGroupPairs=[{"GroupId": batch, "Description": "batch01"}]),
        # MySQL open to the world, "for the data migration in 2016".
        tcp(3306, IpRanges=[{"CidrIp": "0.0.0.0/0", "Description": "migration 2016"}]),
    )
    maintenance = ec2.create_managed_prefix_list(
        PrefixListName="maintenance-sources",
        AddressFamily="IPv4",
        MaxEntries=10,
        Entries=[{"Cidr": VENDOR_CIDR, "Description": "vendor"}],
    )["PrefixList"]["PrefixListId"]
    allow(
        batch,
        tcp(
            22,
            IpRanges=[{"CidrIp": OLD_OFFICE_CIDR, "Description": "old office?"}],
            Ipv6Ranges=[{"CidrIpv6": OFFICE_V6_CIDR, "Description": "HQ v6"}],
            PrefixListIds=[{"PrefixListId": maintenance}],
        ),
    )
    # An agent port opened to one address in AWS's ranges: EC2, but whose?
    allow(app, tcp(10050, IpRanges=[{"CidrIp": MONITORING_IP}]))
    allow(cache, tcp(6379, UserIdGroupPairs=[{"GroupId": app}, {"GroupId": batch}]))
    ids["prefix_list"] = maintenance
    ids["security_groups"] = {
        "alb": alb,
        "web": web,
        "app": app,
        "db": db,
        "batch": batch,
        "cache": cache,
    }


# --- Layer 2: the system path --------------------------------------------------------


def _ami(ec2: Any) -> str:
    """An Amazon Linux 2 image moto knows in the region (AWS would have the team's AMI).

    Filtered by name: moto's unfiltered list holds over a thousand images and
    takes seconds to answer.
    """
    name = [{"Name": "name", "Values": ["amzn2-ami-hvm-*-x86_64-gp2"]}]
    images = ec2.describe_images(Owners=["amazon"], Filters=name)["Images"]
    if not images:
        images = ec2.describe_images(Owners=["amazon"])["Images"]
    return sorted(image["ImageId"] for image in images)[0]


def _instances(client: _Clients, ids: dict[str, Any]) -> None:
    ec2 = client("ec2")
    ami = _ami(ec2)
    subnets, sgs = ids["subnets"], ids["security_groups"]

    def launch(
        name: str,
        instance_type: str,
        subnet: str,
        groups: list[str],
        volume_type: str,
        **extra: str,
    ) -> str:
        return ec2.run_instances(
            ImageId=ami,
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            SubnetId=subnet,
            SecurityGroupIds=groups,
            KeyName="honban-2016",
            BlockDeviceMappings=[
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 50, "VolumeType": volume_type}}
            ],
            TagSpecifications=tag_spec("instance", name, **extra),
        )["Instances"][0]["InstanceId"]

    ec2.create_key_pair(KeyName="honban-2016")
    web = [
        launch(
            f"honban-web{n:02d}",
            "m5.large",
            subnets["private_a" if n % 2 else "private_c"],
            [sgs["web"], sgs["app"]],
            "gp3",
            Role="web",
            Env="prod",
        )
        for n in (1, 2, 3)
    ]
    # The cron server: every nightly job runs here, and only here (seed 000).
    batch01 = launch(
        "batch01",
        "t3.medium",
        subnets["private_a"],
        [sgs["batch"]],
        "gp2",
        Role="batch",
        Env="prod",
    )
    # An old t2 with gp2 volumes: burst credits run out under load (seed 003).
    legacy = launch(
        "honban-admin-old", "t2.small", subnets["public_c"], [sgs["web"]], "gp2", Role="admin"
    )
    ids["instances"] = {"web": web, "batch01": batch01, "legacy_t2": legacy}


def _load_balancers(client: _Clients, ids: dict[str, Any]) -> None:
    subnets, sgs = ids["subnets"], ids["security_groups"]
    elbv2 = client("elbv2")
    alb = elbv2.create_load_balancer(
        Name="honban-alb",
        Subnets=[subnets["public_a"], subnets["public_c"]],
        SecurityGroups=[sgs["alb"]],
        Scheme="internet-facing",
        Type="application",
        Tags=tags("honban-alb", Env="prod"),
    )["LoadBalancers"][0]["LoadBalancerArn"]
    target_group = elbv2.create_target_group(
        Name="honban-web-tg",
        Protocol="HTTP",
        Port=80,
        VpcId=ids["vpc"],
        HealthCheckPath="/healthcheck",
        TargetType="instance",
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(
        TargetGroupArn=target_group, Targets=[{"Id": i} for i in ids["instances"]["web"]]
    )
    elbv2.create_listener(
        LoadBalancerArn=alb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}],
    )
    # A classic ELB from the EC2-Classic days, access logs never turned on (seed 001).
    elb = client("elb")
    elb.create_load_balancer(
        LoadBalancerName="honban-legacy-clb",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
        Subnets=[subnets["public_a"], subnets["public_c"]],
        SecurityGroups=[sgs["alb"]],
        Tags=[{"Key": "Name", "Value": "honban-legacy-clb"}],
    )
    elb.register_instances_with_load_balancer(
        LoadBalancerName="honban-legacy-clb",
        Instances=[{"InstanceId": ids["instances"]["legacy_t2"]}],
    )
    elb.modify_load_balancer_attributes(
        LoadBalancerName="honban-legacy-clb",
        LoadBalancerAttributes={"AccessLog": {"Enabled": False}},
    )
    ids.update(alb=alb, target_group=target_group, classic_elb="honban-legacy-clb")


def _databases(client: _Clients, ids: dict[str, Any]) -> None:
    subnets, sgs = ids["subnets"], ids["security_groups"]
    rds = client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="honban-db-subnet",
        DBSubnetGroupDescription="honban private subnets",
        SubnetIds=[subnets["private_a"], subnets["private_c"]],
    )
    # A parameter group that differs from the design document: "what runs in
    # production is the truth; trace why" (seed 000).
    rds.create_db_parameter_group(
        DBParameterGroupName="honban-mysql57",
        DBParameterGroupFamily="mysql5.7",
        Description="honban tuning (2017)",
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="honban-mysql57",
        Parameters=[
            {"ParameterName": name, "ParameterValue": value, "ApplyMethod": "pending-reboot"}
            for name, value in (
                ("max_connections", "2000"),
                ("slow_query_log", "0"),
                ("long_query_time", "10"),
                ("character_set_server", "utf8"),
                ("time_zone", "Asia/Tokyo"),
            )
        ],
    )
    # One day of backups, taken 12:00-12:30 JST; maintenance on Wednesday
    # 14:00-14:30 JST: both in business hours. Not Multi-AZ.
    rds.create_db_instance(
        DBInstanceIdentifier="honban-db",
        DBInstanceClass="db.m5.large",
        Engine="mysql",
        EngineVersion="5.7.44",
        MasterUsername="admin",
        MasterUserPassword="demo-not-a-secret",
        AllocatedStorage=200,
        StorageType="gp2",
        DBSubnetGroupName="honban-db-subnet",
        VpcSecurityGroupIds=[sgs["db"]],
        DBParameterGroupName="honban-mysql57",
        BackupRetentionPeriod=1,
        PreferredBackupWindow="03:00-03:30",
        PreferredMaintenanceWindow="wed:05:00-wed:05:30",
        MultiAZ=False,
        PubliclyAccessible=False,
        Tags=tags("honban-db", Env="prod", Role="db"),
    )
    ids["rds_instance"] = "honban-db"
    ids["rds_parameter_group"] = "honban-mysql57"

    elasticache = client("elasticache")
    elasticache.create_cache_subnet_group(
        CacheSubnetGroupName="honban-cache-subnet",
        CacheSubnetGroupDescription="honban private subnets",
        SubnetIds=[subnets["private_a"], subnets["private_c"]],
    )
    elasticache.create_cache_cluster(
        CacheClusterId="honban-redis",
        Engine="redis",
        EngineVersion="5.0.6",
        CacheNodeType="cache.t3.medium",
        NumCacheNodes=1,
        CacheSubnetGroupName="honban-cache-subnet",
        SecurityGroupIds=[sgs["cache"]],
        Tags=tags("honban-redis", Env="prod"),
    )
    ids["cache_cluster"] = "honban-redis"

    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName="honban-sessions",
        AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=tags("honban-sessions", Env="prod"),
    )
    ids["dynamodb_table"] = "honban-sessions"
    # OpenSearch/Elasticsearch (the Kibana of seed 000) is left out: moto's
    # domains take no VPC options worth showing, and it adds nothing here.


def _storage(client: _Clients, ids: dict[str, Any]) -> None:
    s3 = client("s3")
    logs = "legacy-demo-honban-logs"
    assets = "legacy-demo-honban-assets"
    s3.create_bucket(Bucket=logs, CreateBucketConfiguration={"LocationConstraint": HOME_REGION})
    s3.put_bucket_acl(Bucket=logs, ACL="log-delivery-write")
    s3.create_bucket(Bucket=assets, CreateBucketConfiguration={"LocationConstraint": HOME_REGION})
    # Public-read ACL: "the images have to be reachable", years before CloudFront.
    s3.put_bucket_acl(Bucket=assets, ACL="public-read")
    s3.put_bucket_logging(
        Bucket=assets,
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": logs, "TargetPrefix": "s3/assets/"}
        },
    )
    s3.put_bucket_tagging(Bucket=assets, Tagging={"TagSet": tags(assets, Env="prod")})
    # Monthly reports: readable only from one address (seed 000: whose?).
    reports = "legacy-demo-honban-reports"
    s3.create_bucket(Bucket=reports, CreateBucketConfiguration={"LocationConstraint": HOME_REGION})
    s3.put_bucket_policy(
        Bucket=reports,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ReportsFromOneAddress",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{reports}/*",
                        "Condition": {"NotIpAddress": {"aws:SourceIp": [REPORTS_IP]}},
                    }
                ],
            }
        ),
    )
    # The old tools bucket someone made in Virginia (us-east-1 takes no constraint).
    old = "legacy-demo-old-tools-us"
    client("s3", GLOBAL_REGION).create_bucket(Bucket=old)
    ids["buckets"] = {"public": assets, "logs": logs, "other_region": old, "reports": reports}


# --- Layer 3: the ops path ------------------------------------------------------------


def _iam(client: _Clients, ids: dict[str, Any]) -> None:
    iam = client("iam", GLOBAL_REGION)
    # The read-only role Catchup assumes (docs/iam/), trusting the ExternalId.
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": READONLY_EXTERNAL_ID}},
            }
        ],
    }
    iam.create_role(RoleName=READONLY_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    # A human user from 2016 with a long-lived key and no MFA (seed 001's leak).
    iam.create_user(UserName="deploy-tanaka", Tags=[{"Key": "Team", "Value": "infra"}])
    key = iam.create_access_key(UserName="deploy-tanaka")["AccessKey"]["AccessKeyId"]
    # The Lambda's role: broad, as it always is.
    lambda_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    lambda_role = iam.create_role(
        RoleName="honban-lambda-role", AssumeRolePolicyDocument=json.dumps(lambda_trust)
    )["Role"]["Arn"]
    ids.update(
        readonly_role=READONLY_ROLE_ARN,
        iam_user="deploy-tanaka",
        access_key=key,
        lambda_role=lambda_role,
    )


def _ops(client: _Clients, ids: dict[str, Any]) -> None:
    # CloudTrail in Tokyo only: the leaked key's instances in sa-east-1 left no
    # trail anyone reads (seed 001 says: all regions).
    trail_bucket = "legacy-demo-cloudtrail"
    s3 = client("s3")
    s3.create_bucket(
        Bucket=trail_bucket, CreateBucketConfiguration={"LocationConstraint": HOME_REGION}
    )
    s3.put_bucket_policy(
        Bucket=trail_bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": ["s3:GetBucketAcl", "s3:PutObject"],
                        "Resource": [
                            f"arn:aws:s3:::{trail_bucket}",
                            f"arn:aws:s3:::{trail_bucket}/*",
                        ],
                    }
                ],
            }
        ),
    )
    cloudtrail = client("cloudtrail")
    cloudtrail.create_trail(
        Name="honban-trail",
        S3BucketName=trail_bucket,
        IsMultiRegionTrail=False,
        IncludeGlobalServiceEvents=True,
    )
    cloudtrail.start_logging(Name="honban-trail")
    ids["trail"] = "honban-trail"
    ids["buckets"]["cloudtrail"] = trail_bucket

    # Application logs kept forever: nobody set a retention (and nobody pays attention).
    logs = client("logs")
    logs.create_log_group(logGroupName="/honban/app", tags={"Env": "prod"})
    logs.create_log_group(logGroupName="/honban/batch01/cron")
    logs.create_log_group(logGroupName="/aws/lambda/honban-image-resize")
    logs.put_retention_policy(logGroupName="/aws/lambda/honban-image-resize", retentionInDays=14)
    ids["log_group_without_retention"] = "/honban/app"

    # The thumbnail Lambda: nobody knows who deploys it.
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    lambda_ = client("lambda")
    lambda_.create_function(
        FunctionName="honban-image-resize",
        Runtime="python3.9",
        Role=ids["lambda_role"],
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
        Description="resize uploaded images (2019)",
        Timeout=30,
        MemorySize=512,
        Tags={"Env": "prod"},
    )
    ids["lambda_function"] = "honban-image-resize"
    # AWS Config recorder, Glacier vaults, SSM inventory, EventBridge: left
    # empty, as they were in the estate (nobody turned Config on).


def _unused_region(client: _Clients, ids: dict[str, Any]) -> None:
    """Seed 001: a leaked key launched big instances in a region nobody uses."""
    ec2 = client("ec2", UNUSED_REGION)
    instance = ec2.run_instances(
        ImageId=_ami(ec2),
        MinCount=1,
        MaxCount=1,
        InstanceType="c5.4xlarge",
        # No Name, no tags: nobody here launched it.
    )["Instances"][0]["InstanceId"]
    ids["unused_region_instance"] = instance
