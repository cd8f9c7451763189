"""Layer 1 — external connections and networking (seed 000 §3-1, seeds 002, 003, 004)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from findings.models import Layer, Severity

from .base import AccountState, Hit, Res, cfg, rule, truthy
from .ipclass import WORLD, parse, vpc_cidrs

SG = "AWS::EC2::SecurityGroup"
VPC = "AWS::EC2::VPC"
SUBNET = "AWS::EC2::Subnet"
EIP = "AWS::EC2::EIP"
INSTANCE = "AWS::EC2::Instance"
NACL = "AWS::EC2::NetworkAcl"
FLOW_LOG = "AWS::EC2::FlowLog"

ALL_PROTOCOLS = {"-1", "all"}
TCP = {"tcp", "6"}

# Database and cache ports an attacker scans for first.
DB_PORTS = {
    1433: "SQL Server",
    1521: "Oracle",
    3306: "MySQL/Aurora",
    5432: "PostgreSQL",
    5439: "Redshift",
    6379: "Redis",
    11211: "Memcached",
    27017: "MongoDB",
    9042: "Cassandra",
    9200: "Elasticsearch/OpenSearch",
    9300: "Elasticsearch transport",
}


def ingress_rules(state: AccountState) -> Iterator[tuple[Res, dict[str, Any]]]:
    for sg in state.of(SG):
        for r in cfg(sg, "Rules", default=[]) or []:
            if r.get("direction") == "ingress":
                yield sg, r


def covers_tcp_port(r: dict[str, Any], port: int) -> bool:
    """All traffic, or tcp with a range (or no range: all ports) that includes `port`."""
    protocol = str(r.get("protocol", "-1")).lower()
    if protocol in ALL_PROTOCOLS:
        return True
    if protocol not in TCP:
        return False
    low, high = r.get("from_port"), r.get("to_port")
    low = 0 if low is None else int(low)
    high = 65535 if high is None else int(high)
    return low <= port <= high


def port_label(r: dict[str, Any]) -> str:
    protocol = str(r.get("protocol", "-1")).lower()
    if protocol in ALL_PROTOCOLS:
        return "all traffic"
    low, high = r.get("from_port"), r.get("to_port")
    if low is None and high is None:
        return f"{protocol} all ports"
    return f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"


def rule_key(r: dict[str, Any]) -> str:
    """What makes one permission distinct within its group: source, protocol, ports."""
    return (
        f"{r.get('cidr')}|{str(r.get('protocol')).lower()}|{r.get('from_port')}-{r.get('to_port')}"
    )


def _world_open(state: AccountState, ports: dict[int, str], what: str) -> Iterator[Hit]:
    for sg, r in ingress_rules(state):
        if r.get("cidr") not in WORLD:
            continue
        covered = [name for port, name in ports.items() if covers_tcp_port(r, port)]
        if covered:
            yield Hit(
                resource=sg,
                detail=rule_key(r),
                title=f"{what} open to {r['cidr']} ({port_label(r)}) in {sg.label}",
                evidence={"rule": r, "ports": covered, "GroupName": cfg(sg, "GroupName")},
            )


@rule(
    id="sg-ssh-open-to-world",
    title="SSH open to the internet",
    severity=Severity.HIGH,
    layer=Layer.EXTERNAL,
    source="seed 004",
    rationale="Seed 004 scanned every account for security groups allowing tcp/22 from "
    "anywhere and closed them: it is the first door a leaked key or a scanner tries.",
    remediation="Restrict the source to known networks (a bastion, the office, a VPN) or use "
    "SSM Session Manager and remove the rule.",
    types=(SG,),
    prowler="ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22",
)
def sg_ssh_open_to_world(state: AccountState) -> Iterator[Hit]:
    """tcp 22 (or all traffic) from 0.0.0.0/0 or ::/0.

    Same logic as Prowler's check_security_group(any_address=True) (protocol -1 counts; a
    port range covering 22 counts; IPv6 ::/0 counts). Deliberate differences: tcp given
    as protocol number "6" counts too; and Prowler skips groups attached to no network
    interface while we report them, because an unused open group is one attachment away
    from being used.
    """
    return _world_open(state, {22: "SSH"}, "SSH")


@rule(
    id="sg-rdp-open-to-world",
    title="RDP open to the internet",
    severity=Severity.HIGH,
    layer=Layer.EXTERNAL,
    source="seed 004",
    rationale="Like SSH in seed 004: remote desktop from anywhere is a brute-force target.",
    remediation="Restrict tcp/3389 to known networks or use Fleet Manager / a VPN.",
    types=(SG,),
    prowler="ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_3389",
)
def sg_rdp_open_to_world(state: AccountState) -> Iterator[Hit]:
    """tcp 3389 (or all traffic) from the internet; as Prowler, minus the in-use filter."""
    return _world_open(state, {3389: "RDP"}, "RDP")


@rule(
    id="sg-db-port-open-to-world",
    title="Database or cache port open to the internet",
    severity=Severity.HIGH,
    layer=Layer.EXTERNAL,
    source="seed 004",
    rationale="Databases and caches (MySQL, PostgreSQL, Redis, Memcached…) answering the "
    "whole internet: seed 004's sweep of world-open rules, applied to data stores.",
    remediation="Allow the port only from the application's security group.",
    types=(SG,),
    prowler="ec2_securitygroup_allow_ingress_from_internet_to_any_port (per-engine variants)",
)
def sg_db_port_open_to_world(state: AccountState) -> Iterator[Hit]:
    """Any of DB_PORTS (tcp, or all traffic) from 0.0.0.0/0 or ::/0; one hit per rule row."""
    return _world_open(state, DB_PORTS, "Database port")


def unexplained(state: AccountState, cidr: str | None) -> bool:
    """Nobody has explained it: not ours, not a known network, not annotated. An address in
    AWS's ranges is somebody's EC2 instance: still unexplained until someone says whose."""
    return state.networks.classify(cidr) in ("unknown", "aws")


@rule(
    id="sg-rule-unexplained-source",
    title="Security-group rule from an unknown address, with no description",
    severity=Severity.MEDIUM,
    layer=Layer.EXTERNAL,
    source="seed 000 (3-1)",
    rationale="Seed 000: security-group rules hold IP addresses nobody can explain. Find "
    "them and ask the people who know before touching anything.",
    remediation="Ask who owns the address; record the answer in the rule's description "
    "(or an IP annotation), or remove the rule if nobody needs it.",
    types=(SG, VPC, SUBNET, EIP),
)
def sg_rule_unexplained_source(state: AccountState) -> Iterator[Hit]:
    """Ingress from an address the unknown-IP queue holds unexplained, with no description."""
    for sg, r in ingress_rules(state):
        cidr = r.get("cidr")
        if not cidr or (r.get("description") or "").strip():
            continue
        if unexplained(state, cidr):
            yield Hit(
                resource=sg,
                detail=rule_key(r),
                title=f"Unknown source {cidr} ({port_label(r)}) in {sg.label}",
                evidence={"rule": r, "GroupName": cfg(sg, "GroupName")},
            )


# Types that are "external connections" (seed 000 §3-1).
EXTERNAL_TYPES = {
    "AWS::DirectConnect::Connection",
    "AWS::DirectConnect::VirtualInterface",
    "AWS::EC2::NatGateway",
    "AWS::EC2::VPCPeeringConnection",
    "AWS::EC2::CustomerGateway",
    "AWS::EC2::VPNGateway",
    "AWS::EC2::VPNConnection",
    "AWS::EC2::TransitGateway",
    "AWS::EC2::TransitGatewayAttachment",
    "AWS::EC2::InternetGateway",
    EIP,
}
PRODUCTION = re.compile(r"(?<![a-z0-9])(prod|production|prd|honban)(?![a-z])|本番", re.IGNORECASE)
OWNER_KEYS = {"owner", "system", "team", "service", "project", "application", "app", "contact"}


def says_production(res: Res) -> str:
    for text in [res.name, *res.tags.values()]:
        if text and PRODUCTION.search(str(text)):
            return str(text)
    return ""


@rule(
    id="production-named-resource",
    title="Production link nobody documented",
    severity=Severity.MEDIUM,
    layer=Layer.EXTERNAL,
    source="seed 000 (3-1)",
    rationale="Seed 000: an external connection (or any resource with no owner) named "
    "production/honban is live, and deleting it can be unrecoverable. Find out what it "
    "connects before anyone cleans it up.",
    remediation="Find its owner and document it; tag it with Owner/System.",
    types=(),
)
def production_named_resource(state: AccountState) -> Iterator[Hit]:
    """External connections named production; other resources only when no owner tag says
    whose they are (an owned production resource is documented enough)."""
    for res in state.all():
        said = says_production(res)
        if not said:
            continue
        owned = any(k.lower() in OWNER_KEYS for k in res.tags)
        if res.type in EXTERNAL_TYPES or not owned:
            yield Hit(
                resource=res,
                title=f"{res.type.split('::')[-1]} {res.label} says production ({said!r})",
                evidence={"name": res.name, "tags": res.tags},
            )


@rule(
    id="vpc-flow-logs-off",
    title="VPC flow logs are off",
    severity=Severity.MEDIUM,
    layer=Layer.EXTERNAL,
    source="seed 002",
    rationale="Seed 002: flow logs must be enabled beforehand; when traffic is mysteriously "
    "dropped they are the only record of what was accepted or rejected.",
    remediation="Create a flow log for the VPC (to CloudWatch Logs or S3).",
    types=(VPC, FLOW_LOG, INSTANCE),
    prowler="vpc_flow_logs_enabled",
)
def vpc_flow_logs_off(state: AccountState) -> Iterator[Hit]:
    """Every VPC with no flow log pointing at it (relation "logs" or the raw ResourceId).

    Like Prowler's default (which checks only VPCs in use), an untouched default VPC is
    skipped: every region has one and nothing flows through it. Designed VPCs are always
    checked, in use or not, since they were made for something.
    """
    logged = set()
    for fl in state.of(FLOW_LOG):
        logged.update(fl.related("logs"))
        if cfg(fl, "ResourceId"):
            logged.add(cfg(fl, "ResourceId"))
    used_defaults = default_vpc_users(state)
    for vpc in state.of(VPC):
        if vpc.resource_id in logged:
            continue
        if truthy(cfg(vpc, "IsDefault")) and vpc.resource_id not in used_defaults:
            continue
        yield Hit(
            resource=vpc,
            title=f"No flow logs on VPC {vpc.label}",
            evidence={"VpcId": vpc.resource_id, "CidrBlock": cfg(vpc, "CidrBlock")},
        )


@rule(
    id="eip-unassociated",
    title="Elastic IP not associated",
    severity=Severity.LOW,
    layer=Layer.EXTERNAL,
    source="seed 003",
    rationale="Seed 003: other accounts allowed access by Elastic IP; an idle one is billed, "
    "and may still be trusted somewhere else.",
    remediation="Find who allow-lists it before releasing it.",
    types=(EIP,),
    prowler="ec2_elastic_ip_unassigned",
)
def eip_unassociated(state: AccountState) -> Iterator[Hit]:
    """An EIP without AssociationId (as Prowler)."""
    for eip in state.of(EIP):
        if not cfg(eip, "AssociationId"):
            yield Hit(
                resource=eip,
                title=f"Elastic IP {cfg(eip, 'PublicIp') or eip.label} is idle",
                evidence={k: cfg(eip, k) for k in ("PublicIp", "AllocationId", "Domain")},
            )


# Networking every default VPC has; anything else in it means the default VPC is used.
DEFAULT_PLUMBING = {
    SUBNET,
    SG,
    NACL,
    FLOW_LOG,
    "AWS::EC2::RouteTable",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::DHCPOptions",
    "AWS::EC2::NetworkInterface",
}


@rule(
    id="default-vpc-in-use",
    title="Workloads in the default VPC",
    severity=Severity.MEDIUM,
    layer=Layer.EXTERNAL,
    source="seed 000 / 003",
    rationale="The default VPC has public subnets and was never designed; resources in it "
    "were most likely created by hand and are in no document.",
    remediation="Document why they are there; plan a move to a designed VPC.",
    types=(VPC, INSTANCE),
)
def default_vpc_in_use(state: AccountState) -> Iterator[Hit]:
    """A default VPC (IsDefault) that something other than default networking lives in."""
    for vpc_id, found in default_vpc_users(state).items():
        vpc = state.get(VPC, vpc_id)
        if vpc is None:
            continue
        yield Hit(
            resource=vpc,
            title=f"{len(found)} resource(s) in the default VPC {vpc.label}",
            evidence={"resources": sorted(found)[:50]},
        )


def default_vpc_users(state: AccountState) -> dict[str, list[str]]:
    """Default VPC id -> what lives in it besides the networking every default VPC has."""
    defaults = {v.resource_id for v in state.of(VPC) if truthy(cfg(v, "IsDefault"))}
    users: dict[str, list[str]] = defaultdict(list)
    if not defaults:
        return users
    for res in state.all():
        if res.type in DEFAULT_PLUMBING or res.type == VPC:
            continue
        vpc_ids = set(res.related("in-vpc")) | {cfg(res, "VpcId")}
        for vpc_id in vpc_ids & defaults:
            users[vpc_id].append(f"{res.type} {res.resource_id}")
    return users


# Workloads that show a region is in use even when it only has default VPCs (a legacy
# estate built in the default VPC); a leaked key launching instances creates none of them.
WORKLOAD_TYPES = (
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::ElasticLoadBalancing::LoadBalancer",
    "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::ElastiCache::CacheCluster",
    "AWS::OpenSearchService::Domain",
    "AWS::DynamoDB::Table",
    "AWS::Lambda::Function",
    "AWS::ECS::Cluster",
    "AWS::AutoScaling::AutoScalingGroup",
    "AWS::EC2::NatGateway",
    "AWS::EC2::VPNConnection",
    "AWS::EC2::TransitGateway",
)


def used_regions(state: AccountState) -> set[str]:
    """Regions with more than default networking: a designed VPC or a workload."""
    used = {v.region for v in state.of(VPC) if not truthy(cfg(v, "IsDefault"))}
    used |= {r.region for r in state.of(*WORKLOAD_TYPES)}
    return used - {"global"}


@rule(
    id="resources-in-unexpected-region",
    title="Instances in an unexpected region",
    severity=Severity.HIGH,
    layer=Layer.EXTERNAL,
    source="seed 001",
    rationale="Seed 001: a leaked key launched large instances in unused regions within "
    "ten minutes. Instances where the account does not normally run are either forgotten "
    "or not yours.",
    remediation="Check who launched them (CloudTrail) and declare the account's home regions.",
    types=(INSTANCE, VPC, *WORKLOAD_TYPES),
)
def resources_in_unexpected_region(state: AccountState) -> Iterator[Hit]:
    """Instances outside the declared home regions; with none declared, instances in a region
    that has nothing but default networking (no designed VPC, no workload such as a
    database, load balancer or function) while another region is in use. Deliberate: an
    account where no region is in use beyond its instances has no "home" to compare with,
    so nothing fires there rather than everything."""
    home = set(state.settings.home_regions or [])
    declared = bool(home)
    if not declared:
        home = used_regions(state)
        if not home:
            return
    for inst in state.of(INSTANCE):
        if inst.region in home or cfg(inst, "State", "Name") in ("terminated", "shutting-down"):
            continue
        yield Hit(
            resource=inst,
            title=f"Instance {inst.label} in {inst.region}",
            evidence={
                "region": inst.region,
                "home_regions": sorted(home),
                "home_regions_declared": declared,
                "InstanceType": cfg(inst, "InstanceType"),
                "LaunchTime": cfg(inst, "LaunchTime"),
            },
        )


def nacl_entries(nacl: Res) -> list[dict[str, Any]]:
    """Entries as {number, action, egress, cidr, protocol}, from the raw Entries shape
    (documented by DescribeNetworkAcls) or a normalized one a collector adds."""
    out = []
    for e in cfg(nacl, "Entries", default=None) or cfg(nacl, "Rules", default=None) or []:
        egress = e.get("Egress", e.get("egress"))
        if egress is None and "direction" in e:
            egress = e["direction"] == "egress"
        out.append(
            {
                "number": int(e.get("RuleNumber", e.get("rule_number", e.get("number", 0))) or 0),
                "action": str(e.get("RuleAction", e.get("action", ""))).lower(),
                "egress": bool(egress),
                "cidr": e.get("CidrBlock") or e.get("Ipv6CidrBlock") or e.get("cidr"),
                "protocol": str(e.get("Protocol", e.get("protocol", "-1"))),
            }
        )
    return sorted(out, key=lambda e: e["number"])


@rule(
    id="nacl-blocks-intra-vpc",
    title="Network ACL denies traffic between the VPC's own subnets",
    severity=Severity.MEDIUM,
    layer=Layer.EXTERNAL,
    source="seed 002",
    rationale="Seed 002: a network ACL blocked cross-AZ traffic through a transit gateway; "
    "NACLs are stateless and rarely looked at, so such a deny is found last.",
    remediation="Check whether the deny is intended; allow the VPC's own CIDRs above it.",
    types=(NACL, SUBNET, VPC),
)
def nacl_blocks_intra_vpc(state: AccountState) -> Iterator[Hit]:
    """A deny entry (not the default `*` rule 32767) of a NACL in use (associated with a
    subnet) that matches part of another subnet of the same VPC, with no lower-numbered
    all-traffic allow covering that subnet first. Traffic inside one subnet never crosses
    its NACL, so the NACL's own subnets are not counted."""
    subnets: dict[str, list[Res]] = defaultdict(list)
    for subnet in state.of(SUBNET):
        subnets[cfg(subnet, "VpcId") or next(iter(subnet.related("in-vpc")), "")].append(subnet)
    for nacl in state.of(NACL):
        vpc_id = cfg(nacl, "VpcId") or next(iter(nacl.related("in-vpc")), "")
        own = {a.get("SubnetId") for a in cfg(nacl, "Associations", default=[]) or []}
        own |= set(nacl.related("associated-subnet"))
        own.discard(None)
        if not own:
            continue  # associated with no subnet: it filters nothing
        entries = nacl_entries(nacl)
        for entry in entries:
            if entry["action"] != "deny" or entry["number"] >= 32767:
                continue
            denied = parse(entry["cidr"])
            if denied is None:
                continue
            for subnet in subnets.get(vpc_id, []):
                if subnet.resource_id in own:
                    continue
                for cidr in vpc_cidrs(subnet.config):
                    net = parse(cidr)
                    if net is None or net.version != denied.version or not net.overlaps(denied):
                        continue
                    if _allowed_before(entries, entry, net):
                        continue
                    direction = "egress" if entry["egress"] else "ingress"
                    yield Hit(
                        resource=nacl,
                        detail=f"{direction}|{entry['number']}|{subnet.resource_id}",
                        title=f"NACL {nacl.label} rule {entry['number']} denies {direction} "
                        f"{entry['cidr']} (subnet {subnet.label}, "
                        f"{cfg(subnet, 'AvailabilityZone')})",
                        evidence={
                            "entry": entry,
                            "subnet": subnet.resource_id,
                            "subnet_cidr": cidr,
                            "associated_subnets": sorted(own),
                        },
                    )


def _allowed_before(entries: list[dict[str, Any]], deny: dict[str, Any], net: Any) -> bool:
    for e in entries:
        if e["number"] >= deny["number"]:
            return False
        allowed = parse(e["cidr"])
        if (
            e["action"] == "allow"
            and e["egress"] == deny["egress"]
            and e["protocol"] in ("-1", "all")
            and allowed is not None
            and allowed.version == net.version
            and net.subnet_of(allowed)
        ):
            return True
    return False
