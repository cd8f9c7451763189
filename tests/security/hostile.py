"""1,000 hostile values, generated deterministically, and an estate that carries them.

Each value that could run script sets `window.__xss` to its number, so a page
that executed one says which. Values AWS (and moto) accept go through moto and
a real sync; the rest (10,000-character strings, control characters) are
stored as Resource rows directly, as a collector would have stored them.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from inventory.collectors.base import content_hash
from inventory.models import Account, Resource

REGION = "ap-northeast-1"
COUNT = 1000

SHAPES = [
    "<script>window.__xss={n}</script>",
    '"><img src=x onerror="window.__xss={n}">',
    "'><svg onload=window.__xss={n}>",
    "javascript:window.__xss={n}",
    "JaVaScRiPt:window.__xss={n}//",
    "{{{{ 7*7 }}}} n{n}",
    "{{% debug %}} n{n}",
    "{{% include 'base.html' %}} n{n}",
    "${{7*7}} #{{7*7}} n{n}",
    "=cmd|' /C calc'!A{n}",
    "+{n}+cmd|' /C calc'!A0",
    "-{n}-1+cmd|' /C calc'!A0",
    "@SUM(1+{n})*cmd|' /C calc'!A0",
    "\u202eexe.{n}txt",
    "mojibake Ã©Ã¨ Ã¯Â¿Â½ æ—¥æœ¬ {n} ï¿½",
    "</textarea></title></style><script>window.__xss={n}</script>",
    '<a href="javascript:window.__xss={n}">click</a>',
    "data:text/html,<script>window.__xss={n}</script>",
    '<iframe srcdoc="<script>parent.__xss={n}</script>"></iframe>',
    "`\"'><details open ontoggle=window.__xss={n}>",
    "%3Cscript%3Ewindow.__xss={n}%3C/script%3E",
    '\\"}}; window.__xss={n}; //',
    "');window.__xss={n};//",
    '<div hx-get="/accounts/" hx-trigger="load" hx-on:htmx:load="window.__xss={n}">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss={n}>",
    '<input autofocus onfocus="window.__xss={n}">',
    "&lt;script&gt;window.__xss={n}&lt;/script&gt;",
    '<object data="javascript:window.__xss={n}"></object>',
    "<base href='javascript:window.__xss={n}//'>",
    '"onmouseover="window.__xss={n}" x="',
]
# Only stored directly: moto (like AWS) refuses these in tags and descriptions.
DIRECT_SHAPES = [
    "ctl\x01\x02\x1b[31m\x7f n{n} <script>window.__xss={n}</script>",
    "\t=1+{n}",
    "\r=1+{n}",
    "line\nbreak\r\n{n}<img src=x onerror=window.__xss={n}>",
]


def value(n: int) -> str:
    return SHAPES[n % len(SHAPES)].format(n=n)


def long_value(n: int) -> str:
    """10,000 characters: a hostile head, then filler (stored directly)."""
    head = value(n)
    return (head + " " + "A" * 10_000)[:10_000]


def build_moto_estate(aws: Any, groups: int = 16) -> dict[str, dict[str, str]]:
    """Security groups with 50 hostile tags each, hostile descriptions and rule
    descriptions; returns {group id: {tag key: value}} as created."""
    ec2 = aws.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    n = 0
    created: dict[str, dict[str, str]] = {}

    def take() -> str:
        nonlocal n
        n += 1
        return value(n)

    for g in range(groups):
        description = take()[:255]
        group = ec2.create_security_group(
            GroupName=f"hostile-{g}", Description=description, VpcId=vpc
        )["GroupId"]
        tags = {"Name": take()[:255]}
        for t in range(49):
            # A few hostile keys too (keys are 128 characters at most).
            key = f"t{t:02d}" if t % 10 else f"k{t:02d}" + take()[:100]
            tags[key] = take()[:255]
        ec2.create_tags(Resources=[group], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [
                        {"CidrIp": "0.0.0.0/0", "Description": take()[:255]},
                        *[
                            {"CidrIp": f"203.0.113.{g * 8 + r}/32", "Description": take()[:255]}
                            for r in range(4)
                        ],
                    ],
                }
            ],
        )
        created[group] = tags
    return created


def store_direct(account: Account, start: int, count: int) -> list[Resource]:
    """Rows with the values moto refuses: long strings and control characters."""
    now = timezone.now()
    rows = []
    for i in range(count):
        n = start + i
        tags = {
            "Name": long_value(n),
            "ctl": DIRECT_SHAPES[n % len(DIRECT_SHAPES)].format(n=n),
            "long": long_value(n + 1),
        }
        doc = {
            "type": "AWS::EC2::SecurityGroup",
            "id": f"sg-direct{n:08d}",
            "region": REGION,
            "name": long_value(n)[:1024],
            "tags": tags,
            "config": {
                "GroupId": f"sg-direct{n:08d}",
                "Description": DIRECT_SHAPES[(n + 1) % len(DIRECT_SHAPES)].format(n=n),
            },
        }
        rows.append(
            Resource.objects.create(
                account=account,
                region=REGION,
                type=doc["type"],
                resource_id=doc["id"],
                scope=f"hostile-direct:{REGION}",
                name=doc["name"],
                tags=tags,
                config=doc["config"],
                content_hash=content_hash(doc),
                first_seen_at=now,
                changed_at=now,
            )
        )
    return rows


def hostile_values_placed(created: dict[str, dict[str, str]], direct: int) -> int:
    """How many hostile values the estate carries (the issue asks for 1,000)."""
    per_group = 1 + 50 + 5  # description, tags (Name + 49), rule descriptions
    # Hostile keys are values too (one key in ten).
    keys = sum(1 for tags in created.values() for k in tags if k.startswith("k"))
    return len(created) * per_group + keys + direct * 4
