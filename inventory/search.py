"""Search across every account: ids, names, ARNs, tags, IP addresses and configuration text.

One "document" per resource (name, id, ARN, tags and configuration as text)
is matched with substring tests: each word of the query must appear in it.
On PostgreSQL a pg_trgm GIN index over exactly that expression (migration
0002) makes the test an index scan; SQLite runs the same test as a scan, which
is slower but gives the same answers, so the embedded demo behaves like
production.

An IP address or CIDR typed in the box is matched as a whole JSON value
("10.0.1.5" does not find "10.0.1.50"), so it finds security-group rules,
Elastic IPs and instances' addresses that mention it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTransform

from . import overview
from .models import Relationship, Resource

FILTERS = ("q", "account", "layer", "type", "region", "vpc", "tag")
MAX_WORDS = 8
MAX_QUERY = 200
VPC = "AWS::EC2::VPC"
# Relationships that put a resource inside a VPC.
VPC_KINDS = ("in-vpc", "attached-to-vpc")

# The searched document. The PostgreSQL text must stay identical to the
# expression of the trigram index in migration 0002, or the index is not used.
PG_DOCUMENT = (
    'UPPER("inventory_resource"."name" || \' \' || "inventory_resource"."resource_id" '
    '|| \' \' || "inventory_resource"."arn" || \' \' || ("inventory_resource"."tags")::text '
    '|| \' \' || ("inventory_resource"."config")::text)'
)
SQLITE_DOCUMENT = (
    '"inventory_resource"."name" || \' \' || "inventory_resource"."resource_id" '
    '|| \' \' || "inventory_resource"."arn" || \' \' || "inventory_resource"."tags" '
    '|| \' \' || "inventory_resource"."config"'
)


@dataclass
class Query:
    """The search form's values, all from the query string (so a search bookmarks)."""

    q: str = ""
    account: str = ""
    layer: str = ""
    type: str = ""
    region: str = ""
    vpc: str = ""
    tag: str = ""

    @classmethod
    def from_params(cls, params: Any) -> Query:
        values = {name: (params.get(name) or "").strip()[:MAX_QUERY] for name in FILTERS}
        return cls(**values)

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in FILTERS)

    @property
    def layer_number(self) -> int | None:
        return int(self.layer) if self.layer in {"1", "2", "3", "4"} else None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _document_contains(terms: list[str]) -> Q:
    """The document contains any of `terms` (case-insensitive on ASCII on both databases).

    On PostgreSQL the comparison is `UPPER(document) LIKE '%TERM%'`, the form the
    trigram index answers; SQLite's LIKE is already case-insensitive for ASCII.
    """
    q = Q(pk__in=[])
    for term in terms:
        for variant in overview.json_text_variants(term):
            pattern = f"%{_like_escape(variant.upper() if _pg() else variant)}%"
            q |= Q(_like(pattern))
    return q


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _like(pattern: str) -> RawSQL:
    sql = PG_DOCUMENT if _pg() else SQLITE_DOCUMENT
    # The pattern is a parameter: whatever the user typed is data, never SQL.
    return RawSQL(f"({sql}) LIKE %s ESCAPE '\\'", [pattern], output_field=BooleanField())


def ip_terms(text: str) -> list[str] | None:
    """JSON spellings that mention an IP or CIDR as a whole value; None if `text` is not one."""
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            terms = [f'"{text}"']
            if network.prefixlen == network.max_prefixlen:
                terms.append(f'"{network.network_address}"')
            return terms
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return [f'"{address}"', f'"{address}/']


def words(text: str) -> list[str]:
    return [w for w in text.split() if w][:MAX_WORDS]


def text_q(text: str) -> Q:
    """Every word must appear; a word that is an IP/CIDR must appear as a whole value."""
    q = Q()
    for word in words(text):
        ip = ip_terms(word)
        if ip is not None:
            # Only document tests: one non-indexed branch in this OR would turn the
            # trigram index scan into a scan of every row on PostgreSQL.
            q &= _document_contains(ip)
        else:
            q &= _document_contains([word])
    return q


def tag_q(queryset: QuerySet[Resource], tag: str) -> QuerySet[Resource]:
    key, sep, value = tag.partition("=")
    key = key.strip()
    if sep:
        # KeyTransform takes the key as data (a `tags__<key>` lookup would split
        # keys that contain "__").
        return queryset.alias(tag_value=KeyTransform(key, "tags")).filter(tag_value=value.strip())
    return queryset.filter(tags__has_key=key)


def vpc_q(vpc_id: str) -> Q:
    """The VPC itself and everything whose relations place it in that VPC."""
    inside = Relationship.objects.filter(
        source_id=OuterRef("pk"), kind__in=VPC_KINDS, target_type=VPC, target_id=vpc_id
    )
    return Q(type=VPC, resource_id=vpc_id) | Q(Exists(inside))


def search(query: Query) -> QuerySet[Resource]:
    """Current resources of every account matching every filter, in a stable order."""
    resources = Resource.objects.current().select_related("account")
    if query.account:
        resources = resources.filter(account__name=query.account)
    if query.layer_number:
        resources = resources.filter(overview.layer_q(query.layer_number))
    if query.type:
        resources = resources.filter(type=query.type)
    if query.region:
        resources = resources.filter(region=query.region)
    if query.vpc:
        resources = resources.filter(vpc_q(query.vpc))
    if query.tag:
        resources = tag_q(resources, query.tag)
    if query.q:
        resources = resources.filter(text_q(query.q))
    return resources.order_by("account__name", "type", "name", "resource_id", "pk")
