"""What changed between syncs: merged per resource, field by field, and what opened up.

The stored `ResourceChange` rows say what ONE sync changed. A person comparing two
syncs (or "since I arrived") wants the net effect over several: a resource added
then changed is simply "added" with its latest document, added then removed never
existed for them, and a field changed twice shows its first "before" against its
last "after". `merge()` folds one resource's rows that way; `DiffRange` pages
through a whole range with a fixed number of queries.

Syncs of an account never overlap (one active sync per account, a database
constraint), so a higher sync pk is a later state: ranges are pk ranges.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils import timezone

from .collectors import COLLECTORS
from .models import Account, Resource, ResourceChange, Sync, SyncTask

ADDED = ResourceChange.Kind.ADDED
REMOVED = ResourceChange.Kind.REMOVED
CHANGED = ResourceChange.Kind.CHANGED

# PRODUCT.md's catch-up layers, in the order a newcomer reads them.
LAYER_NAMES = {1: "External connections", 2: "System path", 3: "Ops path", 4: "Server layer"}

WORLD = {"0.0.0.0/0", "::/0"}
PICKABLE = (Sync.Status.COMPLETE, Sync.Status.PARTIAL)

# Seed 000 layer 1: the links to the outside that nobody may have written down.
ATTACHMENT_TYPES = {
    "AWS::EC2::VPCPeeringConnection": "VPC peering",
    "AWS::EC2::VPNConnection": "VPN connection",
    "AWS::EC2::VPNGateway": "Virtual private gateway",
    "AWS::EC2::CustomerGateway": "Customer gateway",
    "AWS::EC2::TransitGateway": "Transit gateway",
    "AWS::EC2::TransitGatewayAttachment": "Transit gateway attachment",
    "AWS::DirectConnect::Connection": "Direct Connect connection",
    "AWS::DirectConnect::VirtualInterface": "Direct Connect virtual interface",
}
LOAD_BALANCER_TYPES = {
    "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::ElasticLoadBalancing::LoadBalancer",
}
PUBLIC_ENDPOINT_TYPES = LOAD_BALANCER_TYPES | {
    "AWS::EC2::Instance",
    "AWS::EC2::EIP",
    "AWS::CloudFront::Distribution",
    "AWS::S3::Bucket",
    "AWS::RDS::DBInstance",
}
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
EVERYONE_URIS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def layer_of(resource: Resource) -> int:
    """The catch-up layer of the collector that owns the resource (1 when unknown)."""
    collector = COLLECTORS.get(resource.scope.split(":")[0])
    return collector.layer if collector else 1


# --- Documents as flat fields ---------------------------------------------------------


def flatten(doc: dict[str, Any] | None) -> dict[str, Any]:
    """A stored document as the fields `ingest.diff` compares ("name", "config.X"…)."""
    doc = doc or {}
    fields = {key: doc.get(key) for key in ("name", "arn", "tags", "relations")}
    for key, value in (doc.get("config") or {}).items():
        fields[f"config.{key}"] = value
    return fields


def config_of(fields: dict[str, Any]) -> dict[str, Any]:
    return {k[len("config.") :]: v for k, v in fields.items() if k.startswith("config.")}


def _apply(fields: dict[str, Any], after: dict[str, Any]) -> None:
    for key, value in after.items():
        # ingest.diff reads a missing config key as None: a None after-value is a removal.
        if value is None and key.startswith("config."):
            fields.pop(key, None)
        else:
            fields[key] = value


# --- Merging one resource's rows --------------------------------------------------------


@dataclass
class Net:
    """The net effect of a range of syncs on one resource."""

    resource: Resource
    kind: str  # added / removed / changed
    # changed: the differing fields, first before and last after; added: the whole
    # final document in `after`; removed: the whole last document in `before`.
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    sync_ids: list[int] = field(default_factory=list)
    changed_back: bool = False  # changed, then changed back: nothing differs in the end

    @property
    def layer(self) -> int:
        return layer_of(self.resource)

    @property
    def layer_label(self) -> str:
        return f"{self.layer}. {LAYER_NAMES.get(self.layer, '')}"

    @property
    def fields(self) -> list[FieldDiff]:
        if self.kind != CHANGED:
            return []
        keys = sorted(set(self.before) | set(self.after))
        return [field_diff(k, self.before.get(k), self.after.get(k)) for k in keys]

    @property
    def document(self) -> str:
        """The whole document of an added or removed resource, as indented JSON text."""
        fields = self.after if self.kind == ADDED else self.before
        doc = {k: fields.get(k) for k in ("name", "arn", "tags", "relations")}
        doc["config"] = config_of(fields)
        return pretty(doc)


def merge(resource: Resource, rows: list[ResourceChange]) -> Net | None:
    """Fold one resource's change rows (oldest first); None when it nets to nothing."""
    existed = rows[0].kind != ADDED
    first_before: dict[str, Any] = {}
    last_after: dict[str, Any] = {}
    current: dict[str, Any] | None = None  # the whole document, once a row gives it whole
    last_removed: dict[str, Any] = {}

    def step(before: dict[str, Any], after: dict[str, Any]) -> None:
        for key in set(before) | set(after):
            first_before.setdefault(key, before.get(key))
            last_after[key] = after.get(key)

    for row in rows:
        if row.kind == ADDED:
            doc = flatten(row.after)
            if existed and current is None and last_removed:
                # Re-created after a removal in the range: a change from its old self.
                keys = {
                    k for k in set(last_removed) | set(doc) if last_removed.get(k) != doc.get(k)
                }
                step({k: last_removed.get(k) for k in keys}, {k: doc.get(k) for k in keys})
            current = doc
        elif row.kind == REMOVED:
            last_removed = flatten(row.before)
            current = None
        else:
            if existed:
                step(row.before or {}, row.after or {})
            if current is not None:
                _apply(current, row.after or {})

    sync_ids = sorted({row.sync_id for row in rows})
    exists = rows[-1].kind != REMOVED
    if not existed and not exists:
        return None  # came and went between the two syncs
    if not existed:
        return Net(resource, ADDED, after=current or {}, sync_ids=sync_ids)
    if not exists:
        return Net(resource, REMOVED, before=last_removed, sync_ids=sync_ids)
    keys = [k for k in last_after if first_before.get(k) != last_after.get(k)]
    return Net(
        resource,
        CHANGED,
        before={k: first_before.get(k) for k in keys},
        after={k: last_after[k] for k in keys},
        sync_ids=sync_ids,
        changed_back=not keys,
    )


def net_kind(kinds: list[str]) -> str | None:
    """The merged kind from the kinds alone (no documents needed): what lists and counts use."""
    existed, exists = kinds[0] != ADDED, kinds[-1] != REMOVED
    if existed and exists:
        return CHANGED
    if exists:
        return ADDED
    return REMOVED if existed else None


# --- Readable field diffs ---------------------------------------------------------------


@dataclass
class DiffLine:
    op: str  # add / del / mod
    path: str
    before: str = ""
    after: str = ""


@dataclass
class FieldDiff:
    name: str
    lines: list[DiffLine]


def pretty(value: Any) -> str:
    """AWS data as indented JSON text; templates escape it like any other string."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value or '""'  # an empty string, visibly
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def port_text(rule: dict[str, Any]) -> str:
    protocol = str(rule.get("protocol", "-1"))
    if protocol == "-1":
        return "all traffic"
    low, high = rule.get("from_port"), rule.get("to_port")
    if low is None and high is None:
        ports = "all ports"
    elif low == high or high is None:
        ports = str(low)
    else:
        ports = f"{low}-{high}"
    name = {"6": "tcp", "17": "udp", "1": "icmp"}.get(protocol, protocol)
    return f"{name} {ports}"


def source_text(rule: dict[str, Any], group_names: dict[str, str] | None = None) -> str:
    if rule.get("cidr"):
        return str(rule["cidr"])
    if rule.get("prefix_list"):
        return f"prefix list {rule['prefix_list']}"
    if rule.get("group"):
        name = (group_names or {}).get(rule["group"])
        return f"group {rule['group']}" + (f" ({name})" if name else "")
    return "?"


def is_rule(value: Any) -> bool:
    return isinstance(value, dict) and "direction" in value and "protocol" in value


def item_text(value: Any) -> str:
    """One list item in words: security-group rule rows and relations read as sentences."""
    if is_rule(value):
        verb = "from" if value.get("direction") == "ingress" else "to"
        text = f"{value['direction']} {port_text(value)} {verb} {source_text(value)}"
        return text + (f" — {value['description']}" if value.get("description") else "")
    if isinstance(value, dict) and set(value) == {"kind", "type", "id"}:
        return f"{value['kind']} → {value['type']} {value['id']}"
    return _compact(value)


MISSING = object()


def nested_diff(before: Any, after: Any, path: str = "", depth: int = 0) -> list[DiffLine]:
    """Lines saying what differs inside two values: dict keys by path, list items as rows."""
    if before is MISSING or before is None and after is not None and depth:
        return [DiffLine("add", path, after=item_text(after))]
    if after is MISSING or after is None and before is not None and depth:
        return [DiffLine("del", path, before=item_text(before))]
    if isinstance(before, dict) and isinstance(after, dict) and depth < 6:
        lines: list[DiffLine] = []
        for key in sorted(set(before) | set(after), key=str):
            old, new = before.get(key, MISSING), after.get(key, MISSING)
            if old != new:
                sub = f"{path}.{key}" if path else str(key)
                lines += nested_diff(old, new, sub, depth + 1)
        return lines
    if isinstance(before, list) and isinstance(after, list):
        # Rows compared whole (order ignored): for security-group rules, which rule
        # rows appeared and which went away is what a reader wants to see.
        old = Counter(_compact(v) for v in before)
        new = Counter(_compact(v) for v in after)
        lines = []
        for value in before:
            key = _compact(value)
            if old[key] > new[key]:
                old[key] -= 1
                lines.append(DiffLine("del", path, before=item_text(value)))
        old = Counter(_compact(v) for v in before)
        for value in after:
            key = _compact(value)
            if new[key] > old[key]:
                new[key] -= 1
                lines.append(DiffLine("add", path, after=item_text(value)))
        return lines or [DiffLine("mod", path, before="(same items)", after="(new order)")]
    if before is None:
        return [DiffLine("add", path, after=item_text(after))]
    if after is None:
        return [DiffLine("del", path, before=item_text(before))]
    return [DiffLine("mod", path, before=item_text(before), after=item_text(after))]


def field_diff(name: str, before: Any, after: Any) -> FieldDiff:
    return FieldDiff(name, nested_diff(before, after))


def change_fields(change: ResourceChange) -> list[FieldDiff]:
    """One stored "changed" row, field by field (the timeline and the detail page)."""
    before, after = change.before or {}, change.after or {}
    return [field_diff(k, before.get(k), after.get(k)) for k in sorted(set(before) | set(after))]


# --- Ranges of syncs --------------------------------------------------------------------


class RangeError(ValueError):
    """Input that does not name a range of this account's finished syncs, in words."""


def pickable_syncs(account: Account, limit: int = 200) -> list[Sync]:
    """The syncs a range may start or end at: finished with data (complete or partial)."""
    return list(account.syncs.filter(status__in=PICKABLE).order_by("-pk")[:limit])


def _as_int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise RangeError(f"“{value}” is not a sync number.") from None


@dataclass
class DiffRange:
    """The syncs after `start` up to and including `end` (start None: from the beginning)."""

    account: Account
    start: Sync | None
    end: Sync
    swapped: bool = False

    @classmethod
    def from_params(cls, account: Account, syncs: list[Sync], params: dict[str, str]) -> DiffRange:
        """From ?from=&to= (sync pks; from=0 is "before the first sync"); default the last step.

        `syncs` is `pickable_syncs(account)`, newest first.
        """
        if not syncs:
            raise RangeError("No finished sync yet: run one (and another later) to compare.")
        by_pk = {s.pk: s for s in syncs}
        to_pk, from_pk = _as_int(params.get("to")), _as_int(params.get("from"))
        end = syncs[0] if to_pk is None else by_pk.get(to_pk)
        if end is None:
            raise RangeError(f"Sync #{to_pk} is not a finished sync of {account.name}.")
        if from_pk is None:
            # The default: the complete sync before `end`, else the very beginning.
            start = next(
                (s for s in syncs if s.pk < end.pk and s.status == Sync.Status.COMPLETE), None
            )
        elif from_pk == 0:
            start = None
        else:
            start = by_pk.get(from_pk)
            if start is None:
                raise RangeError(f"Sync #{from_pk} is not a finished sync of {account.name}.")
        if start is not None and start.pk == end.pk:
            raise RangeError("Pick two different syncs: a sync does not differ from itself.")
        swapped = start is not None and start.pk > end.pk
        if swapped:
            start, end = end, start
        return cls(account, start, end, swapped)

    def changes(self) -> QuerySet[ResourceChange]:
        rows = ResourceChange.objects.filter(
            sync__account=self.account, sync__status__in=PICKABLE, sync__pk__lte=self.end.pk
        )
        if self.start is not None:
            rows = rows.filter(sync__pk__gt=self.start.pk)
        return rows

    def partial_syncs(self) -> list[Sync]:
        """Partial syncs in the range, each with its failed scopes (one query)."""
        syncs = self.account.syncs.filter(status=Sync.Status.PARTIAL, pk__lte=self.end.pk)
        if self.start is not None:
            syncs = syncs.filter(pk__gt=self.start.pk)
        found = list(syncs.order_by("pk"))
        failed: dict[int, list[str]] = defaultdict(list)
        tasks = SyncTask.objects.filter(sync__in=found, status=SyncTask.Status.FAILED).order_by(
            "region", "collector"
        )
        for task in tasks.values_list("sync_id", "collector", "region") if found else []:
            failed[task[0]].append(f"{task[1]}:{task[2]}")
        for sync in found:
            sync.failed_scopes = failed[sync.pk]
        return found


@dataclass
class Entry:
    """One resource's place in a range listing, before its documents are loaded."""

    resource: Resource
    kind: str
    net: Net | None = None

    @property
    def layer(self) -> int:
        return layer_of(self.resource)

    @property
    def layer_label(self) -> str:
        return f"{self.layer}. {LAYER_NAMES.get(self.layer, '')}"


LIGHT_FIELDS = ("pk", "region", "type", "resource_id", "scope", "name", "removed_at", "account_id")


def entries(rows: QuerySet[ResourceChange]) -> list[Entry]:
    """Every resource the rows touch, with its net kind, in reading order (one light query).

    Only kinds and identities are read here, no documents, so a range of thousands
    of changes lists quickly; `load()` fetches the documents of one page.
    """
    kinds: dict[int, list[str]] = defaultdict(list)
    resources: dict[int, Resource] = {}
    values = rows.order_by("sync_id", "pk").values_list(
        "kind", *(f"resource__{f}" for f in LIGHT_FIELDS)
    )
    for kind, *light in values:
        data = dict(zip(LIGHT_FIELDS, light, strict=True))
        kinds[data["pk"]].append(kind)
        if data["pk"] not in resources:
            resources[data["pk"]] = Resource(**data)
    found = []
    for pk, resource_kinds in kinds.items():
        kind = net_kind(resource_kinds)
        if kind is not None:
            found.append(Entry(resources[pk], kind))
    found.sort(
        key=lambda e: (e.layer, e.resource.type, e.resource.name.lower(), e.resource.resource_id)
    )
    return found


def load(rows: QuerySet[ResourceChange], page_entries: Iterable[Entry]) -> None:
    """Merge the documents of these entries (one query for the whole page)."""
    page_entries = list(page_entries)
    by_pk = {e.resource.pk: e for e in page_entries}
    grouped: dict[int, list[ResourceChange]] = defaultdict(list)
    for row in rows.filter(resource_id__in=list(by_pk)).order_by("sync_id", "pk"):
        grouped[row.resource_id].append(row)
    for pk, entry in by_pk.items():
        if grouped.get(pk):
            entry.net = merge(entry.resource, grouped[pk])


def paginate_entries(found: list[Entry], page: str | None, per_page: int) -> Page:
    return Paginator(found, per_page).get_page(page)


def counts(found: list[Entry]) -> dict[str, int]:
    tally = Counter(e.kind for e in found)
    return {kind: tally.get(kind, 0) for kind in (ADDED, REMOVED, CHANGED)}


# --- Since I arrived ---------------------------------------------------------------------


def parse_since(value: str, today: dt.date | None = None) -> dt.date:
    """A YYYY-MM-DD date not in the future, or RangeError in words."""
    today = today or timezone.localdate()
    try:
        date = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise RangeError(f"“{value}” is not a date: use YYYY-MM-DD, e.g. {today}.") from None
    if date > today:
        raise RangeError(f"{date} is in the future: pick the day you arrived (today is {today}).")
    return date


@dataclass
class SinceRange:
    """The range from the state at a date (the last sync before it) to the latest sync."""

    range: DiffRange | None
    baseline_note: str = ""


def since_range(account: Account, date: dt.date) -> SinceRange:
    start_at = timezone.make_aware(dt.datetime.combine(date, dt.time.min))
    syncs = account.syncs.filter(status__in=PICKABLE, finished_at__isnull=False)
    end = syncs.order_by("-pk").first()
    if end is None:
        return SinceRange(None, "No finished sync yet: run one to see what changes.")
    start = syncs.filter(finished_at__lt=start_at).order_by("-pk").first()
    note = ""
    if start is None:
        # Catchup did not know the estate on that day: its first sync is the
        # earliest state there is. Everything before it would otherwise read as "added".
        start = syncs.order_by("pk").first()
        note = (
            f"Catchup's first sync (#{start.pk}, {timezone.localtime(start.finished_at):%Y-%m-%d})"
            " is after that date: what changed before it is unknown; changes count from it."
        )
    return SinceRange(DiffRange(account, start, end), note)


@dataclass
class Opening:
    """Something that opened up: a new way in, or a new way out to another network."""

    net: Net
    what: str
    detail: str
    world: bool = False

    @property
    def layer(self) -> int:
        return self.net.layer


def _public_reason(type_: str, fields: dict[str, Any]) -> str | None:
    config = config_of(fields)
    if type_ in LOAD_BALANCER_TYPES and config.get("Scheme") == "internet-facing":
        return f"internet-facing load balancer {config.get('DNSName') or ''}".strip()
    if type_ == "AWS::EC2::Instance" and config.get("PublicIpAddress"):
        return f"instance with public IP {config['PublicIpAddress']}"
    if type_ == "AWS::EC2::EIP":
        return f"Elastic IP {config.get('PublicIp') or ''}".strip()
    if type_ == "AWS::CloudFront::Distribution":
        return f"CloudFront distribution {config.get('DomainName') or ''}".strip()
    if type_ == "AWS::RDS::DBInstance" and config.get("PubliclyAccessible"):
        address = (config.get("Endpoint") or {}).get("Address", "")
        return f"publicly accessible database {address}".strip()
    if type_ == "AWS::S3::Bucket":
        if (config.get("PolicyStatus") or {}).get("IsPublic"):
            return "bucket policy makes it public"
        grants = (config.get("Acl") or {}).get("Grants") or []
        if any((g.get("Grantee") or {}).get("URI") in EVERYONE_URIS for g in grants):
            return "bucket ACL grants everyone access"
    return None


def _ingress(rules: Any) -> list[dict[str, Any]]:
    return [r for r in rules or [] if is_rule(r) and r.get("direction") == "ingress"]


def openings(nets: Iterable[Net], group_names: dict[str, str]) -> list[Opening]:
    """New security-group openings, external attachments and public endpoints.

    Layer by layer (seed 000's order); within a layer, world-open ones first.
    """
    found: list[Opening] = []
    for net in nets:
        resource = net.resource
        if net.kind == REMOVED:
            continue
        if resource.type == SECURITY_GROUP:
            if net.kind == ADDED:
                new_rules, what = _ingress(net.after.get("config.Rules")), "New security group"
            elif "config.Rules" in net.after:
                old = {_compact(r) for r in _ingress(net.before.get("config.Rules"))}
                new_rules = [
                    r for r in _ingress(net.after.get("config.Rules")) if _compact(r) not in old
                ]
                what = "New security-group rule"
            else:
                continue
            for rule in new_rules:
                text = f"{port_text(rule)} from {source_text(rule, group_names)}"
                if rule.get("description"):
                    text += f" — {rule['description']}"
                found.append(Opening(net, what, text, world=rule.get("cidr") in WORLD))
        elif resource.type in ATTACHMENT_TYPES and net.kind == ADDED:
            found.append(Opening(net, "New external link", ATTACHMENT_TYPES[resource.type]))
        elif resource.type in PUBLIC_ENDPOINT_TYPES:
            if net.kind == ADDED:
                reason = _public_reason(resource.type, net.after)
            else:
                now = {**flatten(_doc(resource)), **net.after}
                then = {**now, **net.before}
                reason = _public_reason(resource.type, now)
                if reason and _public_reason(resource.type, then):
                    reason = None  # public already before: not a new opening
                if reason and resource.type in ("AWS::EC2::EIP", "AWS::CloudFront::Distribution"):
                    reason = None  # always public; only a new one is news
            if reason:
                found.append(Opening(net, "New public endpoint", reason, world=True))
    order = {"New security-group rule": 0, "New security group": 0}
    found.sort(key=lambda o: (o.layer, not o.world, order.get(o.what, 1)))
    return found


def _doc(resource: Resource) -> dict[str, Any]:
    return {
        "name": resource.name,
        "arn": resource.arn,
        "tags": resource.tags,
        "config": resource.config,
        "relations": resource.relations,
    }


OPENING_TYPES = {SECURITY_GROUP} | set(ATTACHMENT_TYPES) | PUBLIC_ENDPOINT_TYPES


def opening_nets(rows: QuerySet[ResourceChange]) -> list[Net]:
    """The merged changes of the types that can open something up (one query)."""
    grouped: dict[int, list[ResourceChange]] = defaultdict(list)
    resources: dict[int, Resource] = {}
    selected = rows.filter(resource__type__in=OPENING_TYPES).select_related("resource")
    for row in selected.order_by("sync_id", "pk"):
        grouped[row.resource_id].append(row)
        resources[row.resource_id] = row.resource
    nets = [merge(resources[pk], group) for pk, group in grouped.items()]
    return [n for n in nets if n is not None]


def referenced_groups(nets: Iterable[Net]) -> set[str]:
    ids: set[str] = set()
    for net in nets:
        for rule in _ingress(net.after.get("config.Rules")):
            if rule.get("group"):
                ids.add(rule["group"])
    return ids


def group_names(account: Account, ids: set[str]) -> dict[str, str]:
    """Security-group ids to names, for rules that reference other groups (one query)."""
    if not ids:
        return {}
    rows = Resource.objects.filter(account=account, type=SECURITY_GROUP, resource_id__in=ids)
    names = {}
    for rid, name, config in rows.values_list("resource_id", "name", "config"):
        names[rid] = name or (config or {}).get("GroupName", "")
    return names


# --- Resource detail: where it sits, who may reach it, the support-case block ----------
# (Here rather than in views.py because they read security-group rules the same
# way the "since I arrived" openings do.)

SUBNET_KINDS = ("in-subnet", "includes-subnet")


def _zones(config: dict[str, Any]) -> set[str]:
    """Availability zones an AWS description names, whatever the service's shape."""
    zones: set[str] = set()
    for key in ("AvailabilityZone", "SubnetAvailabilityZone"):
        value = config.get(key)
        if isinstance(value, str):
            zones.add(value)
        elif isinstance(value, dict) and value.get("Name"):
            zones.add(str(value["Name"]))
    placement = config.get("Placement")
    if isinstance(placement, dict) and placement.get("AvailabilityZone"):
        zones.add(str(placement["AvailabilityZone"]))
    for zone in config.get("AvailabilityZones") or []:
        if isinstance(zone, str):
            zones.add(zone)
        elif isinstance(zone, dict) and zone.get("ZoneName"):
            zones.add(str(zone["ZoneName"]))
    return zones


def topology(resource: Resource, outgoing: list[dict[str, Any]]) -> dict[str, Any]:
    """Its VPC, subnets and zones, from its edges (already resolved) and its description."""
    vpc = None
    if resource.type == "AWS::EC2::VPC":
        vpc = {"id": resource.resource_id, "target": resource}
    subnets: dict[str, Resource | None] = {}
    if resource.type == "AWS::EC2::Subnet":
        subnets[resource.resource_id] = resource
    for row in outgoing:
        edge = row["edge"]
        if edge.kind == "in-vpc" and vpc is None:
            vpc = {"id": edge.target_id, "target": row["target"]}
        elif edge.kind in SUBNET_KINDS:
            subnets.setdefault(edge.target_id, row["target"])
    config = resource.config or {}
    zones = _zones(config)
    # RDS names its subnets inside the subnet group it describes, not as edges.
    for subnet in (config.get("DBSubnetGroup") or {}).get("Subnets") or []:
        if isinstance(subnet, dict) and subnet.get("SubnetIdentifier"):
            subnets.setdefault(str(subnet["SubnetIdentifier"]), None)
    for target in subnets.values():
        if target is not None:
            zones |= _zones(target.config or {})
    return {
        "vpc": vpc,
        "subnets": [{"id": k, "target": v} for k, v in sorted(subnets.items())],
        "zones": sorted(zones),
    }


def exposure_groups(resource: Resource, outgoing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The security groups that guard it (itself, for a group), before names are resolved."""
    if resource.type == SECURITY_GROUP:
        return [{"id": resource.resource_id, "group": resource}]
    return [
        {"id": row["edge"].target_id, "group": row["target"]}
        for row in outgoing
        if row["edge"].kind == "uses-security-group"
    ]


def exposure(groups: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """Who may reach it on which ports, per group: world-open rules first."""
    result = []
    for item in groups:
        group = item["group"]
        rules = _ingress((group.config or {}).get("Rules")) if group is not None else []
        rows = [
            {
                "ports": port_text(rule),
                "source": source_text(rule, names),
                "group_id": rule.get("group") or "",
                "description": rule.get("description") or "",
                "world": rule.get("cidr") in WORLD,
            }
            for rule in rules
        ]
        rows.sort(key=lambda r: not r["world"])
        result.append(
            {**item, "rules": rows, "world": any(r["world"] for r in rows), "known": bool(group)}
        )
    return result


def exposure_references(groups: list[dict[str, Any]]) -> set[str]:
    ids = set()
    for item in groups:
        if item["group"] is not None:
            for rule in _ingress((item["group"].config or {}).get("Rules")):
                if rule.get("group"):
                    ids.add(rule["group"])
    return ids


def _one_line(value: Any) -> str:
    # AWS names may hold newlines: in a support case they could forge extra lines.
    return " ".join(str(value).split()) or "-"


def support_text(resource: Resource, latest: Sync | None, latest_url: str) -> str:
    """Seed 001's support-case facts as plain text to paste into a ticket."""
    account = resource.account
    account_id = account.aws_account_id or (latest.aws_account_id if latest else "")
    if latest is not None:
        finished = timezone.localtime(latest.finished_at) if latest.finished_at else None
        when = f"{finished:%Y-%m-%d %H:%M %Z}" if finished else "not finished"
        sync_line = f"#{latest.pk} ({latest.status}, {when}) {latest_url}"
    else:
        sync_line = "none yet"
    lines = [
        ("AWS account", account_id or "unknown (not synced yet)"),
        ("Region", resource.region),
        ("Service", resource.service),
        ("Resource type", resource.type),
        ("Resource id", resource.resource_id),
        ("Name", resource.name),
        ("ARN", resource.arn),
        ("Identity used", account.identity_label),
        ("Latest sync", sync_line),
    ]
    width = max(len(label) for label, _ in lines) + 1
    return "\n".join(f"{label + ':':<{width}} {_one_line(value)}" for label, value in lines)
