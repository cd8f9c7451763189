"""The catch-up layers (PRODUCT.md, seed 000) over the stored inventory.

Which band a resource belongs to comes from the collector that owns it
(`Resource.scope` is "collector:region") and that collector's `layer` in the
registry, so a new collector lands in its band with no list to update here.
Band 4, the server layer, is derived: EC2 instances split by whether SSM can
reach them (what can be inspected without SSH).

Every figure on the overview pages is computed with the same filters the
resource list applies (`attention_q`, `layer_q`, `server_q`), so a number and
the list behind its link always agree. Pages run a fixed number of aggregate
queries whatever the number of accounts or resources.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Count, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone

from findings.models import AccountSettings, Finding, Layer, Severity

from .collectors import COLLECTORS
from .models import Account, Relationship, Resource, Sync

INSTANCE = "AWS::EC2::Instance"
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
SERVER_LAYER = 4
BANDS: list[tuple[int, str]] = [(int(layer), str(layer.label)) for layer in Layer]
BAND_HINTS = {
    1: "What links this account to the outside: deleting one can be unrecoverable.",
    2: "The path a user's request takes: entry, compute, data.",
    3: "How it is operated: functions, schedules, identities, logs, audit.",
    4: "Servers you can inspect without SSH (SSM Session Manager) and those you cannot.",
}

# Layer-1 collectors that are the VPC's own plumbing rather than a link to the
# outside; every other layer-1 collector (new ones included) counts as a link.
INTERNAL_NETWORK_COLLECTORS = frozenset(
    {
        "ec2.vpcs",
        "ec2.subnets",
        "ec2.security_groups",
        "ec2.route_tables",
        "ec2.network_acls",
        "ec2.prefix_lists",
        "ec2.flow_logs",
    }
)

# Networking AWS creates in every region by itself (default VPC and friends):
# their presence in an undeclared region says nothing, so the "outside the
# declared regions" item counts only what somebody actually runs there.
DEFAULT_PLUMBING_TYPES = frozenset(
    {
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::NetworkAcl",
        "AWS::EC2::RouteTable",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::DHCPOptions",
        "AWS::EC2::NetworkInterface",
        "AWS::EC2::FlowLog",
        "AWS::EC2::PrefixList",
    }
)

# Seed 000: a link named production/honban that no document mentions is live.
PRODUCTION_WORDS = ("production", "honban", "本番")
WORLD_CIDRS = ("0.0.0.0/0", "::/0")

ATTENTION_KINDS = {
    "production": "External links named production / honban / 本番",
    "region": "Resources outside the declared regions",
    "world-open": "Security groups open to the world (ingress from 0.0.0.0/0 or ::/0)",
}
SERVER_KINDS = {
    "managed": "EC2 instances managed by SSM (inspect with Session Manager)",
    "unmanaged": "EC2 instances not managed by SSM (SSH, or nothing)",
}


@cache
def collector_layers() -> dict[str, int]:
    """collector key -> band, read once from the registry."""
    return {key: collector.layer for key, collector in COLLECTORS.items()}


def collector_of(scope: str) -> str:
    return scope.split(":", 1)[0]


def layer_of_scope(scope: str) -> int | None:
    """The band of the collector that owns a scope; None for a collector no longer registered."""
    return collector_layers().get(collector_of(scope))


def _scope_prefix_q(collectors: list[str]) -> Q:
    """Resources owned by any of these collectors (scope "key:region"; the colon keeps
    "ec2.vpcs" from matching "ec2.vpc_endpoints"). `startswith` escapes LIKE wildcards."""
    q = Q(pk__in=[])
    for key in sorted(collectors):
        q |= Q(scope__startswith=f"{key}:")
    return q


def layer_q(layer: int) -> Q:
    """Resources of one band. Band 4 is the EC2 instances, whose SSM split it shows."""
    if layer == SERVER_LAYER:
        return Q(type=INSTANCE)
    return _scope_prefix_q([k for k, band in collector_layers().items() if band == layer])


def external_link_q() -> Q:
    keys = [k for k, band in collector_layers().items() if band == 1]  # every layer-1 collector…
    return _scope_prefix_q([k for k in keys if k not in INTERNAL_NETWORK_COLLECTORS])


def json_text_variants(term: str) -> list[str]:
    """The ways `term` can appear in JSON stored as text.

    SQLite keeps JSONField values as Python's json.dumps output, which escapes
    non-ASCII (本番 -> \\u672c\\u756a); PostgreSQL's jsonb::text does not. Searching
    both spellings gives the same answer on both databases.
    """
    escaped = json.dumps(term)[1:-1]
    return [term] if escaped == term else [term, escaped]


def text_mentions_q(field_name: str, term: str) -> Q:
    """`field_name` (already text) contains `term`, case-insensitively, in any JSON spelling."""
    q = Q(pk__in=[])
    for variant in json_text_variants(term):
        q |= Q(**{f"{field_name}__icontains": variant})
    return q


def with_text_fields(queryset: QuerySet[Resource]) -> QuerySet[Resource]:
    """Alias `tags_text` and `config_text`: the JSON columns as text, for substring filters."""
    return queryset.alias(
        tags_text=Cast("tags", TextField()), config_text=Cast("config", TextField())
    )


def production_q() -> Q:
    """Name, tag key or tag value says production / honban / 本番 (any case)."""
    q = Q(pk__in=[])
    for word in PRODUCTION_WORDS:
        q |= Q(name__icontains=word) | text_mentions_q("tags_text", word)
    return q


def world_open_sql() -> RawSQL:
    """True for a security group with an ingress rule from the whole internet.

    Reads the normalized `config["Rules"]` rows the collector stores. A JSON path
    query on each database, because a text match cannot tell ingress from the
    egress 0.0.0.0/0 rule every group has.
    """
    table = connection.ops.quote_name(Resource._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"jsonb_path_exists({table}.config, "
            '\'$.Rules[*] ? (@.direction == "ingress" && '
            '(@.cidr == "0.0.0.0/0" || @.cidr == "::/0"))\')'
        )
        return RawSQL(sql, [], output_field=BooleanField())
    sql = (
        f"EXISTS (SELECT 1 FROM json_each({table}.config, '$.Rules') AS rule "
        "WHERE json_extract(rule.value, '$.direction') = 'ingress' "
        "AND json_extract(rule.value, '$.cidr') IN (%s, %s))"
    )
    return RawSQL(sql, list(WORLD_CIDRS), output_field=BooleanField())


def world_open_q() -> Q:
    return Q(type=SECURITY_GROUP) & Q(world_open_sql())


def ssm_managed() -> Exists:
    """The instance has a current SSM managed instance pointing at it ("manages")."""
    return Exists(
        Relationship.objects.filter(
            account_id=OuterRef("account_id"),
            kind="manages",
            target_type=INSTANCE,
            target_id=OuterRef("resource_id"),
            source__removed_at__isnull=True,
        )
    )


def server_q(kind: str) -> Q:
    if kind == "managed":
        return Q(type=INSTANCE) & Q(ssm_managed())
    if kind == "unmanaged":
        return Q(type=INSTANCE) & ~Q(ssm_managed())
    return Q()


def declared_regions(account: Account, settings: AccountSettings | None) -> list[str] | None:
    """The regions the account is meant to run in: the findings' home regions when an
    admin set them, else the regions the account is configured to sync; None when it
    syncs every region and declares nothing (then no region is "outside")."""
    if settings is not None and settings.home_regions:
        return list(settings.home_regions)
    if account.all_regions or not account.regions:
        return None
    return list(account.regions)


def outside_regions_q(declared: list[str] | None) -> Q:
    if declared is None:
        return Q(pk__in=[])
    return ~Q(region__in=[*declared, "global"]) & ~Q(type__in=DEFAULT_PLUMBING_TYPES)


def is_outside(region: str, type_: str, declared: list[str] | None) -> bool:
    """The Python twin of `outside_regions_q`, for rows already grouped."""
    return (
        declared is not None
        and region not in declared
        and region != "global"
        and type_ not in DEFAULT_PLUMBING_TYPES
    )


def attention_q(kind: str, declared: list[str] | None) -> Q:
    """The resource list's `attention=` filter; unknown kinds match nothing."""
    if kind == "production":
        return external_link_q() & production_q()
    if kind == "region":
        return outside_regions_q(declared)
    if kind == "world-open":
        return world_open_q()
    return Q(pk__in=[])


# --- The figures ------------------------------------------------------------------------


@dataclass
class Band:
    layer: int
    label: str
    hint: str
    total: int = 0
    types: dict[str, int] = field(default_factory=dict)
    # Band 4 only: {"managed": n, "unmanaged": n}.
    servers: dict[str, int] = field(default_factory=dict)

    @property
    def type_rows(self) -> list[tuple[str, int]]:
        return sorted(self.types.items())


@dataclass
class AccountFigures:
    account: Account
    bands: dict[int, Band]
    attention: dict[str, int]
    outside_by_region: dict[str, int]
    findings: dict[str, int]
    declared: list[str] | None
    last_sync: Sync | None = None

    @property
    def band_list(self) -> list[Band]:
        return [self.bands[layer] for layer, _ in BANDS]

    @property
    def findings_total(self) -> int:
        return sum(self.findings.values())

    @property
    def attention_rows(self) -> list[tuple[str, str, int]]:
        return [
            (kind, label, self.attention.get(kind, 0)) for kind, label in ATTENTION_KINDS.items()
        ]

    @property
    def attention_total(self) -> int:
        return sum(self.attention.values())

    @property
    def findings_rows(self) -> list[tuple[str, str, int]]:
        return [(s.value, str(s.label), self.findings.get(s.value, 0)) for s in Severity]

    @property
    def last_sync_age(self) -> Any:
        if self.last_sync is None:
            return None
        return timezone.now() - (self.last_sync.finished_at or self.last_sync.created_at)


def _empty_bands() -> dict[int, Band]:
    return {layer: Band(layer, label, BAND_HINTS[layer]) for layer, label in BANDS}


def _figures_for(
    accounts: list[Account], account_ids: list[int] | None
) -> dict[int, AccountFigures]:
    """Figures for `accounts` (all accounts when account_ids is None) in five queries."""
    current = Resource.objects.current()
    if account_ids is not None:
        current = current.filter(account_id__in=account_ids)
    settings_by_account = {
        s.account_id: s
        for s in AccountSettings.objects.filter(
            **({"account_id__in": account_ids} if account_ids is not None else {})
        )
    }
    figures = {
        a.pk: AccountFigures(
            account=a,
            bands=_empty_bands(),
            attention=dict.fromkeys(ATTENTION_KINDS, 0),
            outside_by_region=defaultdict(int),
            findings={},
            declared=declared_regions(a, settings_by_account.get(a.pk)),
        )
        for a in accounts
    }

    # 1. Counts per (account, type, scope, region): the bands and the region item.
    grouped = (
        current.order_by()
        .values_list("account_id", "type", "scope", "region")
        .annotate(n=Count("pk"))
    )
    for account_id, type_, scope, region, n in grouped:
        fig = figures.get(account_id)
        if fig is None:
            continue
        layer = layer_of_scope(scope)
        if layer is not None:
            band = fig.bands[layer]
            band.total += n
            band.types[type_] = band.types.get(type_, 0) + n
        if type_ == INSTANCE:  # band 4 (layer_q(4)): every instance, split below
            fig.bands[SERVER_LAYER].total += n
        if is_outside(region, type_, fig.declared):
            fig.attention["region"] += n
            fig.outside_by_region[region] += n

    # 2. The items that need a JSON or relationship test, as conditional counts.
    per_account = (
        with_text_fields(current)
        .filter(Q(type=SECURITY_GROUP) | external_link_q())  # only rows these can match
        .order_by()
        .values("account_id")
        .annotate(
            production=Count("pk", filter=external_link_q() & production_q()),
            world_open=Count("pk", filter=world_open_q()),
        )
    )
    for row in per_account:
        fig = figures.get(row["account_id"])
        if fig is None:
            continue
        fig.attention["production"] = row["production"]
        fig.attention["world-open"] = row["world_open"]

    # 3. SSM-managed instances, counted from the few "manages" edges: testing every
    # instance for an edge (what the list's filter does for one account) is what
    # made this page slow at 100,000 resources.
    managed_edges = Relationship.objects.filter(
        kind="manages", target_type=INSTANCE, source__removed_at__isnull=True
    ).filter(
        Exists(
            Resource.objects.current().filter(
                account_id=OuterRef("account_id"), type=INSTANCE, resource_id=OuterRef("target_id")
            )
        )
    )
    if account_ids is not None:
        managed_edges = managed_edges.filter(account_id__in=account_ids)
    managed = dict(
        managed_edges.order_by()
        .values("account_id")
        .annotate(n=Count("target_id", distinct=True))
        .values_list("account_id", "n")
    )
    for account_id, fig in figures.items():
        server_band = fig.bands[SERVER_LAYER]
        instances = server_band.total
        server_band.servers = {
            "managed": managed.get(account_id, 0),
            "unmanaged": instances - managed.get(account_id, 0),
        }

    # 4. Findings still asking for attention, by severity.
    findings = Finding.objects.active()
    if account_ids is not None:
        findings = findings.filter(account_id__in=account_ids)
    for account_id, severity, n in (
        findings.order_by().values_list("account_id", "severity").annotate(n=Count("pk"))
    ):
        if account_id in figures:
            figures[account_id].findings[severity] = n
    for fig in figures.values():
        fig.outside_by_region = dict(sorted(fig.outside_by_region.items()))
    return figures


def account_figures(account: Account) -> AccountFigures:
    """One account's overview; the caller adds the last sync it already loads."""
    return _figures_for([account], [account.pk])[account.pk]


@dataclass
class HomeFigures:
    rows: list[AccountFigures]
    total_bands: dict[int, Band]
    total_attention: dict[str, int]
    total_findings: dict[str, int]

    @property
    def total_band_list(self) -> list[Band]:
        return [self.total_bands[layer] for layer, _ in BANDS]

    @property
    def total_findings_rows(self) -> list[tuple[str, str, int]]:
        return [(s.value, str(s.label), self.total_findings.get(s.value, 0)) for s in Severity]


def home_figures(accounts: list[Account]) -> HomeFigures:
    """Every account's bands, items and findings, and their sums (constant queries)."""
    by_pk = _figures_for(accounts, None)
    rows = [by_pk[a.pk] for a in accounts]
    totals = _empty_bands()
    attention = dict.fromkeys(ATTENTION_KINDS, 0)
    findings: dict[str, int] = {}
    for fig in rows:
        for layer, band in fig.bands.items():
            totals[layer].total += band.total
            for kind, n in band.servers.items():
                totals[layer].servers[kind] = totals[layer].servers.get(kind, 0) + n
        for kind, n in fig.attention.items():
            attention[kind] += n
        for severity, n in fig.findings.items():
            findings[severity] = findings.get(severity, 0) + n
    return HomeFigures(rows, totals, attention, findings)


# --- The resource list's overview filters -----------------------------------------------

LIST_FILTERS = ("layer", "attention", "server")


def filter_resources(
    account: Account, resources: QuerySet[Resource], params: dict[str, str]
) -> QuerySet[Resource]:
    """Apply `layer=`, `attention=` and `server=` from the query string.

    Adds at most one query (the account's settings, for `attention=region`), so
    the list's query count stays the same whatever the data.
    """
    layer = params.get("layer", "")
    if layer in {"1", "2", "3", "4"}:
        resources = resources.filter(layer_q(int(layer)))
    kind = params.get("attention", "")
    if kind:
        declared = None
        if kind == "region":
            settings = AccountSettings.objects.filter(account=account).first()
            declared = declared_regions(account, settings)
        resources = with_text_fields(resources).filter(attention_q(kind, declared))
    server = params.get("server", "")
    if server:
        resources = resources.filter(server_q(server) if server in SERVER_KINDS else Q(pk__in=[]))
    return resources


def describe_filters(params: dict[str, str]) -> list[tuple[str, str, str]]:
    """(parameter, value, words) for each overview filter in use, shown above the list."""
    shown = []
    layer = params.get("layer", "")
    if layer:
        labels = dict(BANDS)
        words = f"Layer {layer}: {labels[int(layer)]}" if layer in {"1", "2", "3", "4"} else ""
        shown.append(("layer", layer, words or "Unknown layer"))
    kind = params.get("attention", "")
    if kind:
        shown.append(("attention", kind, ATTENTION_KINDS.get(kind, "Unknown filter")))
    server = params.get("server", "")
    if server:
        shown.append(("server", server, SERVER_KINDS.get(server, "Unknown filter")))
    return shown
