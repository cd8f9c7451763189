"""The topology diagram: graph, layout, exports, escaping and query count."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import combinations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory import demo
from inventory.diagram import Diagram, build_diagram
from inventory.diagram_render import render_drawio, render_svg, render_svg_file
from inventory.models import Account, Resource

XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'
SVG = "{http://www.w3.org/2000/svg}"


def by_label(diagram: Diagram, text: str):
    matches = [n for n in diagram.nodes if text in n.label]
    assert matches, f"no node labelled {text!r}: {[n.label for n in diagram.nodes]}"
    return matches[0]


def edges(diagram: Diagram, source, target) -> list[str]:
    return [e.label for e in diagram.edges if e.source == source.key and e.target == target.key]


def assert_no_overlap(diagram: Diagram) -> None:
    for a, b in combinations(diagram.nodes, 2):
        apart = a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
        assert apart, f"{a.label} overlaps {b.label}"


def test_it_draws_the_demo_estate_from_the_outside_in(aws, make_account, run_sync):
    ids = demo.build_legacy_estate(aws)
    account = make_account("legacy-demo", regions=demo.REGIONS)
    run_sync(account)
    account.refresh_from_db()

    diagram = build_diagram(account)

    # The user request path: Internet -> igw -> ALB -> the three web servers, collapsed.
    internet = by_label(diagram, "Internet")
    igw = by_label(diagram, "honban-igw")
    alb = by_label(diagram, "honban-alb")
    web = by_label(diagram, "3 × m5.large web")
    assert web.count == 3 and len(web.pks) == 3
    assert "0.0.0.0/0" in edges(diagram, internet, igw)
    assert "HTTP 80" in edges(diagram, igw, alb)
    assert any("honban-web-tg" in label for label in edges(diagram, alb, web))
    # Security groups: ALB -> web on 80, web (app SG) -> the database on 3306, and
    # MySQL open to the whole internet.
    db = by_label(diagram, "honban-db")
    assert "tcp 80" in edges(diagram, alb, web)
    assert "tcp 3306" in edges(diagram, web, db)
    assert "tcp 3306" in edges(diagram, internet, db)
    assert "tcp 8080" in edges(diagram, web, web)  # web SG -> app SG, both on the web servers
    # Port 24224: a fluentd log flow from an IP nobody explained.
    fluentd = [e for e in diagram.edges if e.kind == "fluentd"]
    assert fluentd and fluentd[0].label == "fluentd tcp 24224"
    assert diagram.node(fluentd[0].source).label == demo.FLUENTD_SOURCE_IP
    # The VPN to on-premises, the peering to the partner, the transit gateway to staging.
    onprem = by_label(diagram, "On-premises · honban-dc-cgw")
    assert demo.ONPREM_CIDR in onprem.sublabel
    vpn = by_label(diagram, "honban-dc-vpn")
    vgw = by_label(diagram, "honban-vgw")
    assert edges(diagram, onprem, vpn) == ["IPsec"] and edges(diagram, vpn, vgw) == ["IPsec"]
    partner = by_label(diagram, f"Partner account {demo.PARTNER_ACCOUNT_ID}")
    assert edges(diagram, partner, by_label(diagram, "production-peering")) == ["peering"]
    assert edges(diagram, by_label(diagram, "VPC kensho-vpc"), by_label(diagram, "honban-tgw"))
    # Routes: the private lane sends on-premises traffic to the VPN gateway.
    lane = f"lane:{ids['vpc']}:private"
    assert any(
        e.source == lane and e.target == vgw.key and demo.ONPREM_CIDR in e.labels
        for e in diagram.edges
    )
    # Layers left to right; public and private subnets told apart.
    assert internet.x < igw.x < alb.x < web.x < db.x < by_label(diagram, "honban-trail").x
    assert alb.lane == "public" and web.lane == "private"
    assert "1a, 1c" in web.sublabel
    assert_no_overlap(diagram)

    # Deterministic: the same inventory draws the same SVG.
    assert render_svg(build_diagram(account)) == render_svg(diagram)

    # Exports are well-formed XML with one element per node.
    svg = ET.fromstring(render_svg_file(diagram))
    groups = [g for g in svg.iter(f"{SVG}g") if "node" in g.get("class", "").split()]
    assert len(groups) == len(diagram.nodes)
    drawio = ET.fromstring(render_drawio(diagram))
    vertices = {c.get("id") for c in drawio.iter("mxCell") if c.get("vertex") == "1"}
    assert {n.key for n in diagram.nodes} <= vertices
    assert all("html=1" not in (c.get("style") or "") for c in drawio.iter("mxCell"))
    assert sum(1 for c in drawio.iter("mxCell") if c.get("edge") == "1") == len(diagram.edges)

    # One VPC: its gateways and links stay, the other regions' VPC and S3 go.
    only = build_diagram(account, ids["vpc"])
    labels = {n.label for n in only.nodes}
    assert {"honban-alb", "honban-igw", "honban-dc-vpn", "3 × m5.large web"} <= labels
    assert f"Partner account {demo.PARTNER_ACCOUNT_ID}" in labels
    assert not any(n.type == "AWS::S3::Bucket" for n in only.nodes)
    assert not any(n.band == ids["default_vpc"] or "c5.4xlarge" in n.sublabel for n in only.nodes)
    assert_no_overlap(only)


# --- A synthetic VPC (also used by bench/diagram_bench.py) -----------------------------------


def synthetic_vpc(
    account: Account, instances: int, *, hostile_name: str = "", roles: int = 10
) -> str:
    """A VPC with public/private subnets, SGs, an ALB, DBs and `instances` instances."""
    now = timezone.now()
    vpc = "vpc-0abc"
    rows: list[Resource] = []

    def add(type_: str, ident: str, name: str = "", config=None, relations=(), tags=None) -> None:
        rows.append(
            Resource(
                account=account,
                region="ap-northeast-1",
                type=type_,
                resource_id=ident,
                scope="bench:ap-northeast-1",
                name=name,
                tags=tags or ({"Name": name} if name else {}),
                config=config or {},
                relations=[{"kind": k, "type": t, "id": i} for k, t, i in relations],
                content_hash="x",
                first_seen_at=now,
                changed_at=now,
            )
        )

    add("AWS::EC2::VPC", vpc, "bench-vpc", {"CidrBlock": "10.9.0.0/16"})
    add(
        "AWS::EC2::InternetGateway",
        "igw-0abc",
        "bench-igw",
        {},
        [("attached-to-vpc", "AWS::EC2::VPC", vpc)],
    )
    subnets = []
    for n in range(6):
        public = n < 2
        sid = f"subnet-{n:04x}"
        subnets.append(sid)
        add(
            "AWS::EC2::Subnet",
            sid,
            f"bench-{'public' if public else 'private'}-{n}",
            {
                "VpcId": vpc,
                "AvailabilityZone": f"ap-northeast-1{'ac'[n % 2]}",
                "CidrBlock": f"10.9.{n}.0/24",
            },
        )
    add(
        "AWS::EC2::RouteTable",
        "rtb-pub",
        "public",
        {
            "VpcId": vpc,
            "IsMain": False,
            "RouteTargets": [
                {
                    "destination": "0.0.0.0/0",
                    "target": "igw-0abc",
                    "target_type": "AWS::EC2::InternetGateway",
                }
            ],
        },
        [("associated-subnet", "AWS::EC2::Subnet", s) for s in subnets[:2]],
    )

    def sg(i: str, rules: list) -> None:
        add("AWS::EC2::SecurityGroup", f"sg-{i}", f"sg-{i}", {"VpcId": vpc, "Rules": rules})

    world = {
        "direction": "ingress",
        "protocol": "tcp",
        "from_port": 443,
        "to_port": 443,
        "cidr": "0.0.0.0/0",
    }
    sg("lb", [world])
    for role in range(roles):
        sg(
            f"role{role}",
            [
                {
                    "direction": "ingress",
                    "protocol": "tcp",
                    "from_port": 8080,
                    "to_port": 8080,
                    "group": "sg-lb",
                },
                {
                    "direction": "ingress",
                    "protocol": "tcp",
                    "from_port": 24224,
                    "to_port": 24224,
                    "cidr": f"192.0.2.{role}/32",
                },
            ],
        )
    sg(
        "db",
        [
            {
                "direction": "ingress",
                "protocol": "tcp",
                "from_port": 3306,
                "to_port": 3306,
                "group": f"sg-role{r}",
            }
            for r in range(roles)
        ],
    )
    add(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "arn:lb",
        "bench-alb",
        {
            "Scheme": "internet-facing",
            "Type": "application",
            "Listeners": [{"Protocol": "HTTPS", "Port": 443}],
        },
        [("in-subnet", "AWS::EC2::Subnet", s) for s in subnets[:2]]
        + [
            ("uses-security-group", "AWS::EC2::SecurityGroup", "sg-lb"),
            ("in-vpc", "AWS::EC2::VPC", vpc),
        ],
    )
    for n in range(instances):
        role = n % roles
        name = hostile_name if (hostile_name and n == 0) else f"role{role}-{n:04d}"
        add(
            "AWS::EC2::Instance",
            f"i-{n:08x}",
            name,
            {"InstanceType": "t3.medium", "SubnetId": subnets[2 + n % 4]},
            [
                ("in-subnet", "AWS::EC2::Subnet", subnets[2 + n % 4]),
                ("in-vpc", "AWS::EC2::VPC", vpc),
                ("uses-security-group", "AWS::EC2::SecurityGroup", f"sg-role{role}"),
            ],
            tags={"Name": name, "Role": f"role{role}", "Owner": "javascript:alert(1)"},
        )
    for n in range(max(1, instances // 50)):
        add(
            "AWS::RDS::DBInstance",
            f"db-{n}",
            f"db-{n}",
            {"Engine": "mysql", "DBInstanceClass": "db.r5.large"},
            [
                ("in-subnet", "AWS::EC2::Subnet", subnets[2 + n % 4]),
                ("in-vpc", "AWS::EC2::VPC", vpc),
                ("uses-security-group", "AWS::EC2::SecurityGroup", "sg-db"),
            ],
        )
    Resource.objects.bulk_create(rows, batch_size=500)
    return vpc


@pytest.mark.django_db
def test_the_diagram_page_costs_the_same_queries_for_10_or_200_resources(
    client, make_account, django_user_model
):
    client.force_login(django_user_model.objects.create_user("viewer"))
    counts = []
    for name, size in (("small", 10), ("large", 200)):
        account = make_account(name)
        synthetic_vpc(account, size)
        url = reverse("inventory:diagram", args=[name])
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert "20 × t3.medium role0" in response.content.decode()


@pytest.mark.django_db
def test_a_hostile_name_is_text_in_the_page_and_both_exports(
    client, make_account, django_user_model
):
    client.force_login(django_user_model.objects.create_user("viewer"))
    account = make_account("hostile")
    synthetic_vpc(account, 3, hostile_name=XSS)

    page = client.get(reverse("inventory:diagram", args=["hostile"])).content.decode()
    assert "<script>window" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    svg_response = client.get(reverse("inventory:diagram-export", args=["hostile", "svg"]))
    assert svg_response["Content-Type"].startswith("image/svg+xml")
    assert svg_response["Content-Disposition"].startswith("attachment;")
    svg = ET.fromstring(svg_response.content)
    assert not list(svg.iter(f"{SVG}script")) and not list(svg.iter("script"))
    assert not [e for e in svg.iter() if "onerror" in e.attrib]
    texts = [t.text or "" for t in svg.iter(f"{SVG}title")]
    assert any(XSS in t for t in texts)  # the whole name, as a text value
    drawio_response = client.get(reverse("inventory:diagram-export", args=["hostile", "drawio"]))
    assert drawio_response["Content-Disposition"].endswith('.drawio"')
    drawio = ET.fromstring(drawio_response.content)
    values = [c.get("value") or "" for c in drawio.iter("mxCell")]
    assert any(v.startswith(XSS[:20]) for v in values)
    assert all("html=1" not in (c.get("style") or "") for c in drawio.iter("mxCell"))
    assert not [e for e in drawio.iter() if "onerror" in e.attrib]

    # The side panel shows the tag that looks like a link as text, and the panel is
    # scoped to the account.
    instance = Resource.objects.get(account=account, name=XSS)
    panel_url = reverse("inventory:diagram-panel", args=["hostile"]) + f"?pk={instance.pk}"
    panel = client.get(panel_url, headers={"HX-Request": "true"}).content.decode()
    assert "javascript:alert(1)" in panel and 'href="javascript' not in panel
    assert "&lt;script&gt;" in panel and "<script>window" not in panel
    other = make_account("other")
    assert (
        client.get(
            reverse("inventory:diagram-panel", args=["other"]) + f"?pk={instance.pk}"
        ).status_code
        == 404
    )
    assert other.pk
