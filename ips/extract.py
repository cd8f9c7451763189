"""Every CIDR an account's current inventory refers to, with where it came from.

Reads what the collectors stored (see inventory/collectors/ec2.py, s3.py, opensearch.py):
security-group rules (prefix lists expanded), network ACL entries, route destinations,
customer gateways, peering CIDRs, and IP conditions in S3 bucket and OpenSearch policies.
Only current resources are read: a scope that failed to collect keeps its previous
resources, so its references stay as they were.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from typing import Any

from inventory.models import Account, Resource

from .models import IpReference

Kind = IpReference.Kind

SG = "AWS::EC2::SecurityGroup"
NACL = "AWS::EC2::NetworkAcl"
ROUTE_TABLE = "AWS::EC2::RouteTable"
CUSTOMER_GATEWAY = "AWS::EC2::CustomerGateway"
PEERING = "AWS::EC2::VPCPeeringConnection"
BUCKET = "AWS::S3::Bucket"
OPENSEARCH = "AWS::OpenSearchService::Domain"
PREFIX_LIST = "AWS::EC2::PrefixList"
VPC = "AWS::EC2::VPC"
SOURCE_TYPES = (SG, NACL, ROUTE_TABLE, CUSTOMER_GATEWAY, PEERING, BUCKET, OPENSEARCH)

# AWS's catch-all NACL rule (deny everything else): on every ACL, it explains nothing.
NACL_DEFAULT_RULE = 32767
# Policy condition keys that hold addresses.
IP_CONDITION_KEYS = {"aws:sourceip", "aws:vpcsourceip"}


def normalize(value: Any) -> str | None:
    """A CIDR in canonical form ("10.0.0.5" -> "10.0.0.5/32", host bits cleared); None if
    it is not an address."""
    if not isinstance(value, str) or not value.strip() or "%" in value:
        return None  # an IPv6 zone (fe80::1%eth0) names an interface, not a network
    return _normalize(value.strip())


@lru_cache(maxsize=65536)  # an estate repeats the same few thousand CIDRs in many rules
def _normalize(value: str) -> str | None:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return None


@dataclass(frozen=True)
class Ref:
    resource_pk: int
    resource_type: str
    resource_id: str
    resource_name: str
    region: str
    cidr: str
    kind: str
    direction: str = ""
    protocol: str = ""
    from_port: int | None = None
    to_port: int | None = None
    action: str = "allow"
    description: str = ""
    via: str = ""

    @cached_property  # read several times per reference by extract() and store()
    def key(self) -> str:
        # The fields are plain values: a tuple of them is what dataclasses.astuple() gave,
        # without its deep copies (the slowest part of a sync's IP refresh at 100,000 rules).
        values = tuple(getattr(self, name) for name in _REF_FIELDS)
        raw = json.dumps(values, ensure_ascii=False, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()


_REF_FIELDS = tuple(f.name for f in fields(Ref))


@dataclass(frozen=True)
class Source:
    pk: int
    type: str
    resource_id: str
    name: str
    region: str
    config: dict[str, Any]

    def ref(self, cidr: str, kind: str, **fields: Any) -> Ref:
        return Ref(
            self.pk, self.type, self.resource_id, self.name, self.region, cidr, kind, **fields
        )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def security_group(res: Source, prefix_lists: dict[str, list[dict[str, Any]]]) -> Iterator[Ref]:
    for rule in res.config.get("Rules") or []:
        if not isinstance(rule, dict):
            continue
        fields = {
            "direction": _text(rule.get("direction")),
            "protocol": str(rule.get("protocol", "-1")),
            "from_port": _int(rule.get("from_port")),
            "to_port": _int(rule.get("to_port")),
            "description": _text(rule.get("description")),
        }
        cidr = normalize(rule.get("cidr"))
        if cidr:
            yield res.ref(cidr, Kind.SG_RULE, **fields)
        prefix_list = rule.get("prefix_list")
        for entry in prefix_lists.get(prefix_list, []) if prefix_list else []:
            cidr = normalize(entry.get("Cidr"))
            if cidr:
                entry_text = _text(entry.get("Description"))
                via = f"{prefix_list}: {entry_text}" if entry_text else prefix_list
                yield res.ref(cidr, Kind.SG_RULE, via=via, **fields)


def network_acl(res: Source) -> Iterator[Ref]:
    for rule in res.config.get("Rules") or []:
        if not isinstance(rule, dict) or rule.get("rule_number") == NACL_DEFAULT_RULE:
            continue
        cidr = normalize(rule.get("cidr"))
        if not cidr:
            continue
        action = "deny" if rule.get("action") == "deny" else "allow"
        yield res.ref(
            cidr,
            Kind.NACL_ENTRY,
            direction=_text(rule.get("direction")),
            protocol=str(rule.get("protocol", "-1")),
            from_port=_int(rule.get("from_port")),
            to_port=_int(rule.get("to_port")),
            action=action,
            description=f"rule {rule.get('rule_number')} {action}",
        )


def route_table(res: Source) -> Iterator[Ref]:
    for route in res.config.get("RouteTargets") or []:
        if not isinstance(route, dict):
            continue
        target = _text(route.get("target"))
        cidr = normalize(route.get("destination"))
        if not cidr or target in ("", "local"):
            continue
        yield res.ref(
            cidr,
            Kind.ROUTE,
            direction="egress",
            description=f"route to {target}"
            + (f" ({route['state']})" if route.get("state") else ""),
            via=target,
        )


def customer_gateway(res: Source) -> Iterator[Ref]:
    cidr = normalize(res.config.get("IpAddress"))
    if cidr:
        asn = res.config.get("BgpAsn")
        yield res.ref(
            cidr,
            Kind.CUSTOMER_GATEWAY,
            description="VPN peer address" + (f", BGP ASN {asn}" if asn else ""),
        )


def peering(res: Source, own_vpcs: set[str]) -> Iterator[Ref]:
    """The other side's CIDRs: the networks this peering lets talk to the account's VPC."""
    for role in ("Requester", "Accepter"):
        side = res.config.get(role) or {}
        if not isinstance(side, dict) or side.get("vpc_id") in own_vpcs:
            continue
        owner = _text(side.get("owner_id"))
        for value in side.get("cidrs") or []:
            cidr = normalize(value)
            if cidr:
                yield res.ref(
                    cidr,
                    Kind.PEERING,
                    description=f"{role.lower()} VPC {side.get('vpc_id', '')}"
                    + (f" of account {owner}" if owner else ""),
                    via=_text(side.get("vpc_id")),
                )


def _statements(policy: Any) -> list[dict[str, Any]]:
    if not isinstance(policy, dict):
        return []
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)]


def policy_addresses(policy: Any) -> Iterator[tuple[str, str, str]]:
    """(address, allow|deny, statement label) for every IP condition of a policy document.

    A Deny with NotIpAddress is how "only from these addresses" is written: an allow.
    """
    for number, statement in enumerate(_statements(policy), start=1):
        effect = _text(statement.get("Effect")).lower() or "allow"
        label = _text(statement.get("Sid")) or f"statement {number}"
        conditions = statement.get("Condition") or {}
        if not isinstance(conditions, dict):
            continue
        for operator, block in conditions.items():
            if not isinstance(block, dict):
                continue
            negated = "notipaddress" in str(operator).lower()
            if "ipaddress" not in str(operator).lower():
                continue
            for key, values in block.items():
                if str(key).lower() not in IP_CONDITION_KEYS:
                    continue
                allows = (effect == "allow") != negated
                for value in values if isinstance(values, list) else [values]:
                    cidr = normalize(value)
                    if cidr:
                        where = "unless from here" if negated else "from here"
                        yield (
                            cidr,
                            "allow" if allows else "deny",
                            f"{effect} {label} {where} ({operator})",
                        )


def resource_policy(res: Source, key: str, kind: str) -> Iterator[Ref]:
    for cidr, action, label in policy_addresses(res.config.get(key)):
        yield res.ref(cidr, kind, direction="ingress", action=action, description=label)


def extract(account: Account) -> list[Ref]:
    """Every reference of the account's current inventory, deduplicated."""
    current = Resource.objects.for_account(account).current()
    prefix_lists: dict[str, list[dict[str, Any]]] = {}
    for ident, config in current.of_type(PREFIX_LIST).values_list("resource_id", "config"):
        prefix_lists[ident] = [
            e for e in (config or {}).get("Entries") or [] if isinstance(e, dict)
        ]
    own_vpcs = set(current.of_type(VPC).values_list("resource_id", flat=True))
    rows = current.of_type(*SOURCE_TYPES).values_list(
        "pk", "type", "resource_id", "name", "region", "config"
    )
    refs: dict[str, Ref] = {}
    for pk, type_, ident, name, region, config in rows.iterator(chunk_size=2000):
        res = Source(
            pk, type_, ident, name or "", region, config if isinstance(config, dict) else {}
        )
        for ref in _refs_of(res, prefix_lists, own_vpcs):
            refs.setdefault(ref.key, ref)
    return list(refs.values())


def _refs_of(
    res: Source, prefix_lists: dict[str, list[dict[str, Any]]], own_vpcs: set[str]
) -> Iterable[Ref]:
    if res.type == SG:
        return security_group(res, prefix_lists)
    if res.type == NACL:
        return network_acl(res)
    if res.type == ROUTE_TABLE:
        return route_table(res)
    if res.type == CUSTOMER_GATEWAY:
        return customer_gateway(res)
    if res.type == PEERING:
        return peering(res, own_vpcs)
    if res.type == BUCKET:
        return resource_policy(res, "Policy", Kind.S3_POLICY)
    if res.type == OPENSEARCH:
        return resource_policy(res, "AccessPolicies", Kind.OPENSEARCH_POLICY)
    return ()


def store(account: Account, refs: list[Ref]) -> tuple[int, int]:
    """Make the account's stored references exactly `refs`: (added, removed). Unchanged
    references are not written."""
    wanted = {ref.key: ref for ref in refs}
    existing = dict(IpReference.objects.filter(account=account).values_list("key", "pk"))
    gone = [pk for key, pk in existing.items() if key not in wanted]
    new = [ref for key, ref in wanted.items() if key not in existing]
    for start in range(0, len(gone), 2000):
        IpReference.objects.filter(pk__in=gone[start : start + 2000]).delete()
    IpReference.objects.bulk_create(
        [
            IpReference(
                account=account,
                resource_id=ref.resource_pk,
                resource_type=ref.resource_type,
                resource_id_text=ref.resource_id,
                resource_name=ref.resource_name[:1024],
                region=ref.region,
                cidr=ref.cidr,
                kind=ref.kind,
                direction=ref.direction,
                protocol=ref.protocol[:16],
                from_port=ref.from_port,
                to_port=ref.to_port,
                action=ref.action,
                description=ref.description,
                via=ref.via[:512],
                key=ref.key,
            )
            for ref in new
        ],
        batch_size=2000,
    )
    return len(new), len(gone)


def by_cidr(refs: Iterable[IpReference]) -> dict[str, list[IpReference]]:
    grouped: dict[str, list[IpReference]] = defaultdict(list)
    for ref in refs:
        grouped[ref.cidr].append(ref)
    return grouped
