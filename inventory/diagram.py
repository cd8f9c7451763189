"""The topology diagram: a graph built from stored inventory, laid out in layers.

Seed 001 asks for a system architecture diagram first; seed 000 reads an estate from the
outside in. So the diagram is laid out left to right in those layers: outside (Internet,
on-premises, partners, IP ranges nobody explained) -> edge (links and gateways) -> entry
(load balancers) -> compute -> data -> ops. Each VPC is a band, split into a public and a
private lane (subnets routed to an internet gateway or not); what lives outside any VPC
(S3, DynamoDB, CloudTrail…) sits in a last band.

Everything here is pure computation over one query's rows, so the page costs the same
number of queries whatever the estate's size, and the same rows always give the same layout
(nodes are sorted by stable keys, never by database order).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .models import Account, Resource

# --- Geometry (SVG user units) -------------------------------------------------------------

NODE_W = 200
NODE_H = 44
COL_PITCH = 290  # node width + a gap wide enough for an edge label
NODE_GAP = 14
MARGIN = 24
BAND_HEAD = 30
LANE_HEAD = 24
LANE_PAD = 12

# Columns, left to right. Gateways sit on the VPC's border; links (VPN, peering, CloudFront)
# just outside it.
OUTSIDE, LINK, GATEWAY, ENTRY, COMPUTE, DATA, OPS = range(7)
COLUMN_TITLES = {
    OUTSIDE: "Outside",
    LINK: "Links",
    GATEWAY: "Gateways",
    ENTRY: "Entry",
    COMPUTE: "Compute",
    DATA: "Data",
    OPS: "Ops",
}

# type -> (layer for colour, column, badge). Types not listed are not drawn as nodes: they
# are folded into edges (target groups, security groups, route tables) or lanes (subnets).
KINDS: dict[str, tuple[str, int, str]] = {
    "AWS::EC2::CustomerGateway": ("outside", OUTSIDE, "CGW"),
    "AWS::DirectConnect::Connection": ("outside", OUTSIDE, "DX"),
    "AWS::CloudFront::Distribution": ("edge", LINK, "CF"),
    "AWS::EC2::VPNConnection": ("edge", LINK, "VPN"),
    "AWS::DirectConnect::VirtualInterface": ("edge", LINK, "VIF"),
    "AWS::EC2::VPCPeeringConnection": ("edge", LINK, "PCX"),
    "AWS::EC2::InternetGateway": ("edge", GATEWAY, "IGW"),
    "AWS::EC2::VPNGateway": ("edge", GATEWAY, "VGW"),
    "AWS::EC2::TransitGateway": ("edge", GATEWAY, "TGW"),
    # A NAT gateway is an edge device that lives in a public subnet: drawn in that lane.
    "AWS::EC2::NatGateway": ("edge", ENTRY, "NAT"),
    "AWS::ElasticLoadBalancing::LoadBalancer": ("entry", ENTRY, "CLB"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("entry", ENTRY, "ELB"),
    "AWS::EC2::Instance": ("compute", COMPUTE, "EC2"),
    "AWS::AutoScaling::AutoScalingGroup": ("compute", COMPUTE, "ASG"),
    "AWS::Lambda::Function": ("compute", COMPUTE, "λ"),
    "AWS::ECS::Service": ("compute", COMPUTE, "ECS"),
    "AWS::RDS::DBCluster": ("data", DATA, "RDS"),
    "AWS::RDS::DBInstance": ("data", DATA, "RDS"),
    "AWS::ElastiCache::ReplicationGroup": ("data", DATA, "EC"),
    "AWS::ElastiCache::CacheCluster": ("data", DATA, "EC"),
    "AWS::OpenSearchService::Domain": ("data", DATA, "OS"),
    "AWS::DynamoDB::Table": ("data", DATA, "DDB"),
    "AWS::S3::Bucket": ("data", DATA, "S3"),
    "AWS::CloudTrail::Trail": ("ops", OPS, "CT"),
    "AWS::Config::ConfigurationRecorder": ("ops", OPS, "CFG"),
    "AWS::Logs::LogGroup": ("ops", OPS, "LOG"),
}
# Rows read but not drawn: they place nodes (subnets, VPCs) or make edges.
SUPPORT_TYPES = (
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::RouteTable",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::TransitGatewayAttachment",
    "AWS::ElasticLoadBalancingV2::TargetGroup",
    "AWS::RDS::DBSubnetGroup",
)
DIAGRAM_TYPES = tuple(KINDS) + SUPPORT_TYPES
TYPE_ORDER = {t: i for i, t in enumerate(KINDS)}

# Port 24224 is fluentd's forward protocol: a log flow to follow (seed 000).
FLUENTD_PORT = 24224
WORLD = {"0.0.0.0/0", "::/0"}
# Beyond this many distinct unexplained IP ranges, the rest share one node.
MAX_CIDR_NODES = 12
# A collapsed node lists at most this many member names in its sub-label.
REGIONAL = "regional"


@dataclass
class Node:
    """One box in the diagram: a resource, alike resources collapsed, or a place outside."""

    key: str
    layer: str
    column: int
    label: str
    sublabel: str = ""
    badge: str = ""
    type: str = ""
    pks: list[int] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    band: str = REGIONAL
    lane: str = ""
    flags: set[str] = field(default_factory=set)
    x: float = 0
    y: float = 0
    w: float = NODE_W
    h: float = NODE_H

    @property
    def count(self) -> int:
        return len(self.members) or 1

    @property
    def pk(self) -> int | None:
        """The resource a click opens; None for places (Internet) and collapsed groups."""
        return self.pks[0] if len(self.pks) == 1 else None


@dataclass
class Edge:
    """Who reaches whom: from a stored relationship, a route or a security-group rule."""

    source: str
    target: str
    kind: str  # relation | route | sg | world | fluentd
    labels: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        labels = self.labels
        text = ", ".join(labels[:4])
        return text + (f" +{len(labels) - 4}" if len(labels) > 4 else "")


@dataclass
class Box:
    """A VPC band, a public/private lane inside it, or the regional band."""

    key: str
    kind: str  # vpc | lane-public | lane-private | lane-vpc | regional
    label: str
    sublabel: str = ""
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0


@dataclass
class Diagram:
    title: str
    nodes: list[Node]
    edges: list[Edge]
    boxes: list[Box]
    columns: list[tuple[int, float, str]]  # (column, x, title) of the columns drawn
    width: float = 0
    height: float = 0
    vpcs: list[tuple[str, str]] = field(default_factory=list)  # (vpc id, label) to filter by

    def node(self, key: str) -> Node | None:
        return next((n for n in self.nodes if n.key == key), None)


# --- Helpers ------------------------------------------------------------------------------


def stable_key(prefix: str, *parts: str) -> str:
    """An id from identities, not database pks: the same estate gives the same SVG."""
    digest = hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()
    return f"{prefix}{digest[:12]}"


def family(name: str) -> str:
    """`honban-web01` -> `honban-web`: the stem alike resources share."""
    return re.sub(r"[-_.]*\d+[a-z]?$", "", name) or name


def role_word(resource: Resource) -> str:
    """The word a person would call a group by: its Role tag, else its name's last part."""
    tags = resource.tags or {}
    for key in ("Role", "role", "Service", "Component"):
        if tags.get(key):
            return str(tags[key])
    stem = family(resource.name or "")
    return re.split(r"[-_]", stem)[-1] if stem else ""


def port_label(rule: dict[str, Any]) -> str:
    protocol = str(rule.get("protocol", "-1"))
    if protocol == "-1":
        return "all traffic"
    low, high = rule.get("from_port"), rule.get("to_port")
    if low is None:
        text = protocol
    elif low == high:
        text = f"{protocol} {low}"
    else:
        text = f"{protocol} {low}-{high}"
    if covers_port(rule, FLUENTD_PORT):
        text = f"fluentd {text}"
    return text


def covers_port(rule: dict[str, Any], port: int) -> bool:
    low, high = rule.get("from_port"), rule.get("to_port")
    if str(rule.get("protocol")) == "-1":
        return False  # "all traffic" is not a statement about fluentd
    return low is not None and high is not None and low <= port <= high


def network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except (TypeError, ValueError):
        return None


def inside(cidr: str, networks: Iterable[str]) -> bool:
    net = network(cidr)
    if net is None:
        return False
    for other in networks:
        outer = network(other)
        if outer is not None and net.version == outer.version and net.subnet_of(outer):
            return True
    return False


def short_az(az: str) -> str:
    """`ap-northeast-1a` -> `1a`: enough to tell zones apart inside one region."""
    match = re.search(r"(\d+[a-z])$", az or "")
    return match.group(1) if match else az


def rels(resource: Resource, kind: str | None = None, type_: str | None = None) -> list[str]:
    return [
        str(r.get("id"))
        for r in resource.relations or []
        if (kind is None or r.get("kind") == kind) and (type_ is None or r.get("type") == type_)
    ]


# --- Building -------------------------------------------------------------------------------


def load_resources(account: Account) -> list[Resource]:
    """The rows the diagram needs, in one query."""
    return list(
        Resource.objects.for_account(account)
        .current()
        .of_type(*DIAGRAM_TYPES)
        .only("pk", "type", "resource_id", "region", "name", "tags", "config", "relations")
        .order_by("type", "region", "resource_id")
    )


class _Builder:
    """Turns rows into nodes and edges; one instance per diagram."""

    def __init__(self, account: Account, rows: list[Resource], vpc: str | None) -> None:
        self.account = account
        self.rows = rows
        self.vpc_filter = vpc
        self.by_id: dict[tuple[str, str], Resource] = {}
        self.of_type: dict[str, list[Resource]] = defaultdict(list)
        for row in rows:
            self.by_id[(row.type, row.resource_id)] = row
            self.of_type[row.type].append(row)
        self.nodes: dict[str, Node] = {}
        self.node_of: dict[tuple[str, str], str] = {}  # resource identity -> node key
        self.edges: dict[tuple[str, str, str], Edge] = {}
        self.own_account = account.aws_account_id or ""

    # -- Where things are -----------------------------------------------------------------

    def index_network(self) -> None:
        self.vpcs = {r.resource_id: r for r in self.of_type["AWS::EC2::VPC"]}
        self.subnets = {r.resource_id: r for r in self.of_type["AWS::EC2::Subnet"]}
        self.sg_vpc = {
            r.resource_id: (r.config or {}).get("VpcId", "")
            for r in self.of_type["AWS::EC2::SecurityGroup"]
        }
        # A subnet is public when its route table (its own, else the VPC's main one) sends
        # traffic to an internet gateway.
        main_table: dict[str, Resource] = {}
        table_of: dict[str, Resource] = {}
        for table in self.of_type["AWS::EC2::RouteTable"]:
            config = table.config or {}
            if config.get("IsMain"):
                main_table[config.get("VpcId", "")] = table
            for subnet in rels(table, "associated-subnet"):
                table_of[subnet] = table
        self.public_subnets: set[str] = set()
        self.routes_of_subnet: dict[str, list[dict[str, Any]]] = {}
        for subnet_id, subnet in self.subnets.items():
            vpc_id = (subnet.config or {}).get("VpcId", "")
            table = table_of.get(subnet_id) or main_table.get(vpc_id)
            routes = (table.config or {}).get("RouteTargets", []) if table else []
            self.routes_of_subnet[subnet_id] = routes
            if any(str(r.get("target", "")).startswith("igw-") for r in routes):
                self.public_subnets.add(subnet_id)
        self.vpc_weight: dict[str, int] = defaultdict(int)
        for row in self.rows:
            if row.type in KINDS:
                for vpc in rels(row, "in-vpc"):
                    self.vpc_weight[vpc] += 1
        self.subnet_groups = {
            r.resource_id: rels(r, "includes-subnet")
            for r in self.of_type["AWS::RDS::DBSubnetGroup"]
        }

    def subnets_of(self, row: Resource) -> list[str]:
        found = rels(row, "in-subnet", "AWS::EC2::Subnet")
        for group in rels(row, "in-subnet-group", "AWS::RDS::DBSubnetGroup"):
            found += self.subnet_groups.get(group, [])
        return sorted({s for s in found if s in self.subnets})

    def vpc_of(self, row: Resource) -> str:
        for vpc in rels(row, "in-vpc") + rels(row, "attached-to-vpc"):
            return vpc
        for subnet in self.subnets_of(row):
            return (self.subnets[subnet].config or {}).get("VpcId", "")
        for sg in rels(row, "uses-security-group"):
            if self.sg_vpc.get(sg):
                return self.sg_vpc[sg]
        if row.type == "AWS::EC2::VPCPeeringConnection":
            local = [v for v in rels(row, "peers-vpc") if v in self.vpcs]
            return sorted(local)[0] if local else ""
        if row.type == "AWS::EC2::VPNConnection":
            for vgw in rels(row, "terminates-at", "AWS::EC2::VPNGateway"):
                gateway = self.by_id.get(("AWS::EC2::VPNGateway", vgw))
                if gateway is not None:
                    return self.vpc_of(gateway)
        if row.type == "AWS::EC2::CustomerGateway":
            for vpn in self.of_type["AWS::EC2::VPNConnection"]:
                if row.resource_id in rels(vpn, "uses-customer-gateway"):
                    return self.vpc_of(vpn)
        if row.type == "AWS::EC2::TransitGateway":
            attached = sorted(
                vpc
                for a in self.of_type["AWS::EC2::TransitGatewayAttachment"]
                if row.resource_id in rels(a, "attached-to-transit-gateway")
                for vpc in rels(a, "attaches", "AWS::EC2::VPC")
                if vpc in self.vpcs
            )
            if self.vpc_filter in attached:
                return self.vpc_filter
            # Drawn next to the attached VPC that holds the most, not an empty one.
            attached.sort(key=lambda v: (-self.vpc_weight.get(v, 0), v))
            return attached[0] if attached else ""
        return ""

    def subnet_words(self, subnet_ids: list[str]) -> str:
        """`honban-private-1a, 1c` style: which subnets and zones a node sits in."""
        zones = sorted(
            {
                short_az((self.subnets[s].config or {}).get("AvailabilityZone", ""))
                for s in subnet_ids
            }
        )
        return ", ".join(z for z in zones if z)

    # -- Nodes ------------------------------------------------------------------------------

    def add_node(self, node: Node, members: list[Resource]) -> None:
        node.pks = sorted(m.pk for m in members)
        node.members = [
            m.display_name for m in sorted(members, key=lambda m: (m.name, m.resource_id))
        ]
        self.nodes[node.key] = node
        for member in members:
            self.node_of[(member.type, member.resource_id)] = node.key

    def place(self, row: Resource) -> tuple[str, str, list[str]]:
        """(band, lane, subnets) of a resource: its VPC and public/private tier."""
        layer, column, _ = KINDS[row.type]
        vpc = self.vpc_of(row)
        if not vpc or column == OPS:
            return REGIONAL, "", []
        subnets = self.subnets_of(row)
        if column < ENTRY:
            return vpc, "", []
        if not subnets:
            return vpc, "vpc", subnets
        lane = "public" if any(s in self.public_subnets for s in subnets) else "private"
        return vpc, lane, subnets

    def build_nodes(self) -> None:
        groups: dict[tuple[str, ...], list[Resource]] = defaultdict(list)
        # RDS instances inside a cluster, and cache nodes of a replication group, are drawn
        # as their cluster.
        clustered = {
            (t, member)
            for t, parent, kind in (
                ("AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "has-member"),
                (
                    "AWS::ElastiCache::CacheCluster",
                    "AWS::ElastiCache::ReplicationGroup",
                    "has-member",
                ),
            )
            for p in self.of_type[parent]
            for member in rels(p, kind)
        }
        for row in self.rows:
            if row.type not in KINDS or (row.type, row.resource_id) in clustered:
                continue
            band, lane, subnets = self.place(row)
            if self.vpc_filter and band != self.vpc_filter:
                continue
            if row.type == "AWS::EC2::Instance":
                config = row.config or {}
                asg = (row.tags or {}).get("aws:autoscaling:groupName", "")
                alike = asg or (row.tags or {}).get("Role", "") or family(row.name or "")
                if alike:
                    key = (row.type, band, lane, config.get("InstanceType", ""), alike, asg)
                else:
                    key = (row.type, row.region, row.resource_id)  # nothing says they are alike
            elif row.type == "AWS::Logs::LogGroup":
                # Log groups come by the hundred: one node per top-level prefix.
                key = (row.type, band, row.region, "/".join(row.resource_id.split("/")[:2]))
            elif row.type == "AWS::Lambda::Function":
                key = (row.type, band, lane, row.region, family(row.resource_id))
            else:
                key = (row.type, row.region, row.resource_id)
            groups[key].append(row)

        for members in groups.values():
            members.sort(key=lambda m: (m.name, m.resource_id))
            first = members[0]
            layer, column, badge = KINDS[first.type]
            band, lane, _ = self.place(first)
            subnets = sorted({s for m in members for s in self.subnets_of(m)})
            identities = [f"{m.type}|{m.region}|{m.resource_id}" for m in members]
            node = Node(
                key=stable_key("n", *identities),
                layer=layer,
                column=column,
                label="",
                badge=badge,
                type=first.type,
                band=band,
                lane=lane,
            )
            node.label, node.sublabel = self.words(first, members, subnets)
            if first.type == "AWS::EC2::NatGateway":
                node.flags.add("edge-device")
            self.add_node(node, members)

    def words(
        self, first: Resource, members: list[Resource], subnets: list[str]
    ) -> tuple[str, str]:
        """Label and sub-label of a node, in the words an ops team uses."""
        config = first.config or {}
        where = self.subnet_words(subnets)
        region = "" if first.region in ("global", self.home_region) else first.region
        extra = [w for w in (where, region) if w]
        if len(members) > 1:
            if first.type == "AWS::EC2::Instance":
                what = (first.tags or {}).get("aws:autoscaling:groupName") or role_word(first)
                label = f"{len(members)} × {config.get('InstanceType', '')} {what}".strip()
            elif first.type == "AWS::Logs::LogGroup":
                prefix = "/".join(first.resource_id.split("/")[:2]) or first.resource_id
                label = f"{len(members)} × log groups {prefix}/…"
            else:
                label = f"{len(members)} × {family(first.display_name)}"
            names = [m.display_name for m in members]
            span = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"
            return label, " · ".join([span, *extra])
        label = first.display_name
        detail = ""
        t = first.type
        if t == "AWS::EC2::Instance":
            detail = config.get("InstanceType", "")
            if not first.name:
                label = first.resource_id
        elif t in (
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "AWS::ElasticLoadBalancing::LoadBalancer",
        ):
            kind = config.get("Type", "classic")
            detail = f"{kind} · {config.get('Scheme', '')}"
        elif t == "AWS::RDS::DBInstance":
            detail = f"{config.get('Engine', '')} {config.get('DBInstanceClass', '')}"
            if config.get("MultiAZ") is False:
                detail += " · single-AZ"
        elif t == "AWS::RDS::DBCluster":
            detail = f"{config.get('Engine', '')} cluster"
        elif t == "AWS::ElastiCache::CacheCluster":
            detail = f"{config.get('Engine', '')} {config.get('CacheNodeType', '')}"
        elif t == "AWS::EC2::CustomerGateway":
            label = f"On-premises · {first.display_name}"
            nets = ", ".join(self.onprem_cidrs) if self.onprem_cidrs else ""
            detail = " · ".join(x for x in (config.get("IpAddress", ""), nets) if x)
        elif t == "AWS::DirectConnect::Connection":
            label = f"On-premises · {first.display_name}"
            detail = f"Direct Connect @ {config.get('location', '')}"
        elif t == "AWS::EC2::VPCPeeringConnection":
            detail = "peering" + (" · cross-account" if config.get("CrossAccount") else "")
        elif t == "AWS::EC2::VPNConnection":
            detail = "site-to-site VPN"
        elif t == "AWS::EC2::NatGateway":
            ips = config.get("PublicIps") or []
            detail = "NAT " + ", ".join(ips[:1])
        elif t == "AWS::Lambda::Function":
            detail = config.get("Runtime", "")
        elif t == "AWS::CloudTrail::Trail":
            detail = "all regions" if config.get("IsMultiRegionTrail") else "this region only"
        if first.name and first.name != first.resource_id and t in ("AWS::EC2::Instance",):
            detail = f"{detail} · {first.resource_id}" if detail else first.resource_id
        return label, " · ".join(x for x in [detail.strip(), *extra] if x)

    def place_node(
        self,
        key: str,
        label: str,
        sublabel: str,
        layer: str,
        badge: str,
        band: str,
        pks: Iterable[int] = (),
        flags: Iterable[str] = (),
    ) -> str:
        """A node for something not in the inventory (Internet, a partner, an IP range)."""
        node = self.nodes.get(key)
        if node is None:
            node = Node(
                key=key,
                layer=layer,
                column=OUTSIDE,
                label=label,
                sublabel=sublabel,
                badge=badge,
                band=band,
                pks=sorted(set(pks)),
            )
            node.flags.update(flags)
            self.nodes[key] = node
        return key

    # -- Edges ------------------------------------------------------------------------------

    def edge(self, source: str | None, target: str | None, kind: str, label: str = "") -> None:
        if not source or not target:
            return
        if source not in self.nodes and not source.startswith("lane:"):
            return
        if target not in self.nodes:
            return
        edge = self.edges.setdefault((source, target, kind), Edge(source, target, kind))
        if label and label not in edge.labels:
            edge.labels.append(label)

    def node_for(self, type_: str, ident: str) -> str | None:
        return self.node_of.get((type_, ident))

    def build_edges(self) -> None:
        internet = self.place_node(
            "internet", "Internet", "0.0.0.0/0, ::/0", "outside", "WWW", self.first_band()
        )
        # Internet -> internet gateways; the gateway -> what is internet-facing behind it.
        for igw in self.of_type["AWS::EC2::InternetGateway"]:
            self.edge(internet, self.node_for(igw.type, igw.resource_id), "relation", "0.0.0.0/0")
        igw_of_vpc = {
            vpc: self.node_for(igw.type, igw.resource_id)
            for igw in self.of_type["AWS::EC2::InternetGateway"]
            for vpc in rels(igw, "attached-to-vpc")
        }
        for distribution in self.of_type["AWS::CloudFront::Distribution"]:
            node = self.node_for(distribution.type, distribution.resource_id)
            self.edge(internet, node, "relation", "HTTPS")
            for rel in distribution.relations or []:
                if rel.get("kind") == "has-origin":
                    self.edge(node, self.node_for(rel["type"], rel["id"]), "relation", "origin")

        # Load balancers: listeners from the gateway, targets through target groups.
        target_groups = {
            r.resource_id: r for r in self.of_type["AWS::ElasticLoadBalancingV2::TargetGroup"]
        }
        for lb in (
            self.of_type["AWS::ElasticLoadBalancingV2::LoadBalancer"]
            + self.of_type["AWS::ElasticLoadBalancing::LoadBalancer"]
        ):
            node = self.node_for(lb.type, lb.resource_id)
            config = lb.config or {}
            if config.get("Scheme") == "internet-facing":
                for port in self.listener_ports(lb):
                    self.edge(igw_of_vpc.get(self.vpc_of(lb)) or internet, node, "relation", port)
            for tg_arn in rels(lb, "has-target-group"):
                group = target_groups.get(tg_arn)
                if group is None:
                    continue
                gconfig = group.config or {}
                protocol, port = gconfig.get("Protocol", ""), gconfig.get("Port", "")
                label = f"{protocol} {port} {group.display_name}".strip()
                for rel in group.relations or []:
                    if rel.get("kind") == "targets":
                        self.edge(node, self.node_for(rel["type"], rel["id"]), "relation", label)
            for instance in rels(lb, "has-instance"):
                ports = [
                    "{} {}".format(
                        d["Listener"].get("InstanceProtocol", ""),
                        d["Listener"].get("InstancePort", ""),
                    )
                    for d in config.get("ListenerDescriptions", [])
                    if d.get("Listener")
                ]
                self.edge(
                    node,
                    self.node_for("AWS::EC2::Instance", instance),
                    "relation",
                    ", ".join(ports),
                )

        # External links: VPN, peering, transit gateway, Direct Connect.
        for vpn in self.of_type["AWS::EC2::VPNConnection"]:
            node = self.node_for(vpn.type, vpn.resource_id)
            for cgw in rels(vpn, "uses-customer-gateway"):
                self.edge(
                    self.node_for("AWS::EC2::CustomerGateway", cgw), node, "relation", "IPsec"
                )
            for rel in vpn.relations or []:
                if rel.get("kind") == "terminates-at":
                    self.edge(node, self.node_for(rel["type"], rel["id"]), "relation", "IPsec")
        for pcx in self.of_type["AWS::EC2::VPCPeeringConnection"]:
            node = self.node_for(pcx.type, pcx.resource_id)
            if node is None:
                continue
            config = pcx.config or {}
            for side in (config.get("Requester") or {}, config.get("Accepter") or {}):
                if side.get("vpc_id") in self.vpcs and side.get("owner_id") in (
                    "",
                    self.own_account,
                ):
                    continue
                partner = self.partner_node(
                    side.get("owner_id", ""),
                    side.get("vpc_id", ""),
                    side.get("cidrs", []),
                    [pcx.pk],
                )
                self.edge(partner, node, "relation", "peering")
        for attachment in self.of_type["AWS::EC2::TransitGatewayAttachment"]:
            for tgw in rels(attachment, "attached-to-transit-gateway"):
                node = self.node_for("AWS::EC2::TransitGateway", tgw)
                config = attachment.config or {}
                for vpc in rels(attachment, "attaches", "AWS::EC2::VPC"):
                    if vpc in self.shown_vpcs:
                        continue  # the lanes' routes show the local side
                    vpc_row = self.vpcs.get(vpc)
                    cidrs = [(vpc_row.config or {}).get("CidrBlock", "")] if vpc_row else []
                    owner = config.get("ResourceOwnerId", "") if config.get("CrossAccount") else ""
                    partner = self.partner_node(owner, vpc, cidrs, [attachment.pk], vpc_row)
                    self.edge(partner, node, "relation", "tgw attachment")
                for rel in attachment.relations or []:
                    if (
                        rel.get("kind") == "attaches"
                        and rel.get("type") == "AWS::EC2::VPNConnection"
                    ):
                        self.edge(self.node_for(rel["type"], rel["id"]), node, "relation", "VPN")
        for vif in self.of_type["AWS::DirectConnect::VirtualInterface"]:
            node = self.node_for(vif.type, vif.resource_id)
            for conn in rels(vif, "on-connection"):
                self.edge(
                    self.node_for("AWS::DirectConnect::Connection", conn),
                    node,
                    "relation",
                    "Direct Connect",
                )
            for rel in vif.relations or []:
                if rel.get("kind") != "on-connection":
                    self.edge(node, self.node_for(rel["type"], rel["id"]), "relation", "BGP")

        # Routes: each lane to the gateways its subnets route to, labelled with destinations.
        for lane_key, subnet_ids in sorted(self.lane_subnets.items()):
            for subnet in sorted(subnet_ids):
                for route in self.routes_of_subnet.get(subnet, []):
                    target_type = route.get("target_type") or ""
                    gateway = self.node_for(target_type, route.get("target", ""))
                    if gateway and gateway not in self.lane_members.get(lane_key, set()):
                        self.edge(lane_key, gateway, "route", route.get("destination", ""))

        # Everything else the collectors related: trails to buckets, replicas, ASGs…
        skip = {
            "in-vpc",
            "in-subnet",
            "uses-security-group",
            "attached-to-vpc",
            "peers-vpc",
            "uses-customer-gateway",
            "terminates-at",
            "has-target-group",
            "has-instance",
            "has-origin",
            "attached-to-transit-gateway",
            "attaches",
            "on-connection",
            "has-member",
            "member-of-cluster",
            "member-of",
            "in-subnet-group",
        }
        for row in self.rows:
            source = self.node_for(row.type, row.resource_id)
            if source is None:
                continue
            for rel in row.relations or []:
                if rel.get("kind") in skip:
                    continue
                target = self.node_for(rel.get("type", ""), rel.get("id", ""))
                if target and target != source:
                    self.edge(source, target, "relation", str(rel.get("kind", "")))

        self.build_security_edges(internet, igw_of_vpc)

    def listener_ports(self, lb: Resource) -> list[str]:
        config = lb.config or {}
        ports = [
            f"{item.get('Protocol', '')} {item.get('Port', '')}"
            for item in config.get("Listeners", [])
        ]
        ports += [
            f"{d['Listener'].get('Protocol', '')} {d['Listener'].get('LoadBalancerPort', '')}"
            for d in config.get("ListenerDescriptions", [])
            if d.get("Listener")
        ]
        return ports or ["internet-facing"]

    def partner_node(
        self,
        owner: str,
        vpc: str,
        cidrs: list[str],
        pks: list[int],
        vpc_row: Resource | None = None,
    ) -> str:
        if owner and owner != self.own_account:
            label = f"Partner account {owner}"
            layer = "outside"
        else:
            name = vpc_row.display_name if vpc_row else vpc
            label = f"VPC {name} (this account)"
            layer = "outside"
        sub = " · ".join(x for x in (vpc, ", ".join(cidrs)) if x)
        self.partner_cidrs.extend(cidrs)
        key = self.place_node(
            stable_key("p", owner, vpc),
            label,
            sub,
            layer,
            "ACCT" if owner else "VPC",
            self.first_band(),
            pks,
        )
        self.cidr_owner.extend((c, key) for c in cidrs)
        return key

    def build_security_edges(self, internet: str, igw_of_vpc: dict[str, str | None]) -> None:
        """Security-group ingress rules as who-may-reach-whom edges between nodes."""
        users: dict[str, set[str]] = defaultdict(set)
        for row in self.rows:
            node = self.node_for(row.type, row.resource_id)
            if node is None:
                continue
            for sg in rels(row, "uses-security-group"):
                users[sg].add(node)
        cidr_nodes = 0
        for sg in sorted(self.of_type["AWS::EC2::SecurityGroup"], key=lambda r: r.resource_id):
            targets = sorted(users.get(sg.resource_id, ()))
            if not targets:
                continue
            for rule in (sg.config or {}).get("Rules", []):
                if rule.get("direction") != "ingress":
                    continue
                label = port_label(rule)
                kind = "fluentd" if covers_port(rule, FLUENTD_PORT) else "sg"
                if rule.get("group"):
                    if rule["group"] == sg.resource_id:
                        continue  # members talking among themselves
                    for source in sorted(users.get(rule["group"], ())):
                        for target in targets:
                            self.edge(source, target, kind, label)
                    continue
                cidr = rule.get("cidr") or rule.get("prefix_list") or ""
                if not cidr:
                    continue
                if cidr in WORLD:
                    for target in targets:
                        node = self.nodes[target]
                        via = igw_of_vpc.get(node.band) if node.lane == "public" else None
                        if ((via or internet), target, "relation") in self.edges:
                            continue  # the listener edge already shows this path
                        self.edge(via or internet, target, "world" if kind == "sg" else kind, label)
                    continue
                source = self.cidr_source(cidr)
                if source is None:
                    if cidr_nodes >= MAX_CIDR_NODES:
                        source = self.place_node(
                            "cidr-other",
                            "Other IP ranges",
                            "more ranges in security groups",
                            "outside",
                            "IP",
                            self.first_band(),
                        )
                        self.nodes[source].members.append(cidr)
                    else:
                        cidr_nodes += 1
                        words = rule.get("description") or "nobody wrote why"
                        source = self.place_node(
                            stable_key("c", cidr),
                            cidr,
                            words,
                            "outside",
                            "IP",
                            self.nodes[targets[0]].band,
                            [sg.pk],
                            {"unknown-ip"},
                        )
                for target in targets:
                    self.edge(source, target, kind, label)

    def cidr_source(self, cidr: str) -> str | None:
        """The known place a CIDR belongs to (on-premises, a partner); None when unknown.

        Ranges inside the estate's own VPCs are not drawn: the lanes already show them.
        """
        for known, key in self.cidr_owner:
            if inside(cidr, [known]):
                return key
        if inside(cidr, self.vpc_cidrs):
            return ""
        return None

    def first_band(self) -> str:
        return self.band_order[0] if self.band_order else REGIONAL

    def build(self) -> Diagram:
        self.home_region = self.account.regions[0] if self.account.regions else ""
        self.index_network()
        self.vpc_cidrs = [(v.config or {}).get("CidrBlock", "") for v in self.vpcs.values()]
        # On-premises networks: what routes send to a VPN gateway (outside the VPCs).
        self.onprem_cidrs = sorted(
            {
                r.get("destination", "")
                for routes in self.routes_of_subnet.values()
                for r in routes
                if str(r.get("target", "")).startswith("vgw-")
                and not inside(r.get("destination", ""), self.vpc_cidrs)
            }
        )
        self.partner_cidrs: list[str] = []
        self.cidr_owner: list[tuple[str, str]] = []
        self.build_nodes()
        bands = {n.band for n in self.nodes.values()}
        self.shown_vpcs = {b for b in bands if b != REGIONAL}
        self.band_order = sorted(
            self.shown_vpcs, key=lambda v: (self.vpcs[v].display_name if v in self.vpcs else v, v)
        )
        if REGIONAL in bands or not self.band_order:
            self.band_order.append(REGIONAL)
        # On-premises: the customer gateways stand for the networks behind them.
        for cgw in self.of_type["AWS::EC2::CustomerGateway"]:
            key = self.node_for(cgw.type, cgw.resource_id)
            if key:
                self.cidr_owner.extend((c, key) for c in self.onprem_cidrs)
        # Bands of outside nodes: next to the VPC they connect to.
        self.lane_subnets: dict[str, set[str]] = defaultdict(set)
        self.lane_members: dict[str, set[str]] = defaultdict(set)
        for node in self.nodes.values():
            if node.lane in ("public", "private"):
                lane = f"lane:{node.band}:{node.lane}"
                for pk_subnets in self.node_subnets(node):
                    self.lane_subnets[lane].add(pk_subnets)
                self.lane_members[lane].add(node.key)
        self.build_edges()
        # Outside nodes sit in the band of the first node they reach.
        for edge in sorted(self.edges.values(), key=lambda e: (e.source, e.target)):
            source = self.nodes.get(edge.source)
            target = self.nodes.get(edge.target)
            if (
                source
                and target
                and source.column == OUTSIDE
                and source.key != "internet"
                and target.band != REGIONAL
            ):
                source.band = target.band
        return layout(self)

    def node_subnets(self, node: Node) -> list[str]:
        found: set[str] = set()
        for (type_, ident), key in self.node_of.items():
            if key == node.key:
                row = self.by_id.get((type_, ident))
                if row is not None:
                    found.update(self.subnets_of(row))
        return sorted(found)


# --- Layout ---------------------------------------------------------------------------------


def layout(builder: _Builder) -> Diagram:
    """Place bands, lanes and nodes on a grid: no two nodes can overlap by construction."""
    nodes = sorted(
        builder.nodes.values(), key=lambda n: (n.column, TYPE_ORDER.get(n.type, -1), n.label, n.key)
    )
    used = sorted({n.column for n in nodes} | {OUTSIDE})
    column_x = {c: MARGIN + i * COL_PITCH for i, c in enumerate(used)}
    right = MARGIN + len(used) * COL_PITCH - (COL_PITCH - NODE_W)
    lane_left = min((column_x[c] for c in used if c >= ENTRY), default=right - NODE_W) - LANE_PAD
    gateway_x = column_x.get(GATEWAY, column_x.get(LINK, lane_left))
    boxes: list[Box] = []
    builder.lane_y = {}
    y = MARGIN + 24  # column titles
    lane_kinds = (
        ("public", "Public subnets"),
        ("private", "Private subnets"),
        ("vpc", "In the VPC, subnet not recorded"),
        ("", ""),
    )
    for band in builder.band_order:
        band_nodes = [n for n in nodes if n.band == band]
        if not band_nodes:
            continue
        top = y
        vpc = builder.vpcs.get(band)
        if band == REGIONAL:
            title, sub = "Regional and global services", "outside any VPC"
        else:
            cfg = vpc.config if vpc else {}
            title = f"VPC {vpc.display_name if vpc else band}"
            sub = " · ".join(
                x
                for x in (
                    band if vpc and vpc.name else "",
                    (cfg or {}).get("CidrBlock", ""),
                    vpc.region if vpc else "",
                )
                if x
            )
        band_box = Box(
            key=f"band:{band}",
            kind="regional" if band == REGIONAL else "vpc",
            label=title,
            sublabel=sub,
        )
        boxes.append(band_box)
        inner_top = y + BAND_HEAD
        # Lanes stack on the right-hand columns.
        lane_y = inner_top
        for lane, lane_title in lane_kinds:
            lane_nodes = [n for n in band_nodes if n.lane == lane and n.column >= ENTRY]
            if not lane_nodes:
                continue
            head = LANE_HEAD if lane else 0
            cell_y = dict.fromkeys(used, lane_y + head + LANE_PAD)
            for node in lane_nodes:
                node.x, node.y = column_x[node.column], cell_y[node.column]
                cell_y[node.column] += NODE_H + NODE_GAP
            bottom = max(cell_y.values()) - NODE_GAP + LANE_PAD
            if lane:
                subnets = sorted(builder.lane_subnets.get(f"lane:{band}:{lane}", set()))
                words = ", ".join(_subnet_words(builder.subnets[s]) for s in subnets)
                builder.lane_y[f"lane:{band}:{lane}"] = (lane_y + bottom) / 2
                boxes.append(
                    Box(
                        key=f"lane:{band}:{lane}",
                        kind=f"lane-{lane}",
                        label=lane_title,
                        sublabel=words,
                        x=lane_left,
                        y=lane_y,
                        w=right - lane_left + LANE_PAD,
                        h=bottom - lane_y,
                    )
                )
            lane_y = bottom + (NODE_GAP if lane else 0)
        # The left-hand columns (outside, links, gateways) stack over the band's height,
        # each node near what it connects to (gateways first, then links, then the outside):
        # fewer crossings, still deterministic (ties by label and key).
        col_y = dict.fromkeys(used, inner_top + LANE_PAD)
        for column in (GATEWAY, LINK, OUTSIDE):
            stack = [n for n in band_nodes if n.column == column]
            stack.sort(key=lambda n, c=column: (_neighbour_y(n, builder, c), n.label, n.key))
            for node in stack:
                node.x, node.y = column_x[node.column], col_y[node.column]
                col_y[node.column] += NODE_H + NODE_GAP
        bottom = max([lane_y, *[v - NODE_GAP + LANE_PAD for v in col_y.values()]])
        box_left = (
            (gateway_x + NODE_W / 2)
            if band != REGIONAL
            else column_x[used[1]] - LANE_PAD
            if len(used) > 1
            else MARGIN
        )
        band_box.x, band_box.y, band_box.w, band_box.h = (
            box_left - LANE_PAD,
            top,
            right - box_left + 3 * LANE_PAD,
            bottom - top + LANE_PAD,
        )
        y = bottom + LANE_PAD + 28
    columns = [(c, column_x[c], COLUMN_TITLES[c]) for c in used]
    vpcs = sorted(
        (
            (v, f"{builder.vpcs[v].display_name} ({v})" if builder.vpcs[v].name else v)
            for v in builder.shown_vpcs
            if v in builder.vpcs
        ),
        key=lambda p: p[1],
    )
    edges = sorted(builder.edges.values(), key=lambda e: (e.kind, e.source, e.target))
    for edge in edges:
        edge.labels.sort()
    title = builder.account.name + (f" · {builder.vpc_filter}" if builder.vpc_filter else "")
    return Diagram(
        title=title,
        nodes=nodes,
        edges=edges,
        boxes=boxes,
        columns=columns,
        width=right + 2 * MARGIN,
        height=y,
        vpcs=vpcs,
    )


def _subnet_words(subnet: Resource) -> str:
    config = subnet.config or {}
    zone = short_az(config.get("AvailabilityZone", ""))
    return f"{subnet.display_name} ({zone} {config.get('CidrBlock', '')})"


def _neighbour_y(node: Node, builder: _Builder, column: int) -> float:
    """Mean height of what a node connects to on its right (already placed)."""
    ys = []
    for (source, target, _), _edge in builder.edges.items():
        other = target if source == node.key else source if target == node.key else None
        if other is None:
            continue
        placed = builder.nodes.get(other)
        if placed is not None and placed.column > column:
            ys.append(placed.y + NODE_H / 2)
        elif other.startswith("lane:") and other in builder.lane_y:
            ys.append(builder.lane_y[other])
    return sum(ys) / len(ys) if ys else float("inf")


def build_diagram(
    account: Account, vpc: str | None = None, rows: list[Resource] | None = None
) -> Diagram:
    """The diagram of an account, or of one of its VPCs (with what connects it outside)."""
    rows = load_resources(account) if rows is None else rows
    return _Builder(account, rows, vpc or None).build()
