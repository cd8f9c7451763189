"""What each observed CIDR is: internet, own VPC, a known network, annotated, AWS, unknown.

Precedence, first match wins:
1. internet: a /0.
2. own-vpc: inside a VPC or subnet of the same account, or one of its Elastic IPs.
3. known-network: inside a VPC, subnet or Elastic IP of another synced account (seed 003),
   or a CIDR of a VPC peered with this account.
4. annotated: the most specific annotation covering it (an account's own beats one for
   every account at the same prefix length) holds an owner's answer.
5. aws: inside AWS's published ranges. Anyone's EC2 instance is in there, so an answer
   still beats it.
6. unknown: someone must be asked.

`rebuild()` runs after a sync (counts and classes); `reclassify()` after an annotation
changes (classes only, of the CIDRs it covers).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.db import connection, transaction

from inventory.models import Account, Resource

from .models import Annotation, AwsIpRange, AwsIpRangeSet, Classification, IpReference, ObservedCidr
from .ports import hints as port_hints
from .ports import port_count, ports_label

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")

BUNDLED_AWS_RANGES = Path(__file__).parent / "data" / "aws-ip-ranges.json"
# pg_advisory_xact_lock key of the observed-CIDR writers (any constant of this app's own).
LOCK_KEY = 0x1C1DA

RANK = {c.value: i for i, c in enumerate(Classification)}


def serialize() -> None:
    """Wait for, then hold until the transaction ends, the lock every writer of references,
    annotations and classes takes: two syncs finishing at once (or a sync and an answer)
    must not each rebuild from what the other had not committed yet. SQLite serializes
    writers itself."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def parse(cidr: Any) -> Network | None:
    if not isinstance(cidr, str) or not cidr.strip():
        return None
    return _parse(cidr.strip())


@lru_cache(maxsize=65536)  # networks are immutable; a rebuild parses each CIDR many times
def _parse(cidr: str) -> Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


class PrefixIndex(Generic[T]):
    """Longest-prefix match of a network against many: dict lookups, one per prefix length."""

    def __init__(self) -> None:
        self._tables: dict[int, dict[int, dict[int, T]]] = {4: {}, 6: {}}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}

    def add(self, network: Network, value: T, *, replace: bool = False) -> None:
        tables = self._tables[network.version]
        table = tables.get(network.prefixlen)
        if table is None:
            table = tables[network.prefixlen] = {}
            self._lengths[network.version] = sorted(tables, reverse=True)
        key = int(network.network_address) >> (network.max_prefixlen - network.prefixlen)
        if replace or key not in table:
            table[key] = value

    def matches(self, network: Network) -> Iterator[tuple[int, T]]:
        """(prefix length, value) of every entry containing `network`, most specific first."""
        address = int(network.network_address)
        tables = self._tables[network.version]
        for length in self._lengths[network.version]:
            if length > network.prefixlen:
                continue
            value = tables[length].get(address >> (network.max_prefixlen - length))
            if value is not None:
                yield length, value

    def match(self, network: Network) -> tuple[int, T] | None:
        """(prefix length, value) of the most specific entry containing `network`."""
        return next(self.matches(network), None)

    def __len__(self) -> int:
        return sum(len(t) for tables in self._tables.values() for t in tables.values())


@dataclass(frozen=True)
class Verdict:
    classification: str
    detail: str
    annotation_id: int | None


def vpc_cidrs(config: dict[str, Any]) -> list[str]:
    """Every CIDR of a VPC or subnet description (IPv4 and IPv6 associations)."""
    cidrs = [config.get("CidrBlock")]
    cidrs += [a.get("CidrBlock") for a in config.get("CidrBlockAssociationSet") or []]
    cidrs += [a.get("Ipv6CidrBlock") for a in config.get("Ipv6CidrBlockAssociationSet") or []]
    return [c for c in cidrs if isinstance(c, str) and c]


@lru_cache(maxsize=4)
def _aws_index(range_set_id: int | None, loaded_at: Any = None) -> tuple[PrefixIndex[str], str]:
    """AWS's ranges (the newest loaded set, else the bundled copy) and their date.

    Cached by (pk, loaded_at), not the pk alone: a database may hand a pk out again (SQLite
    after a rolled-back load), and a stale cache would classify against the wrong ranges.
    """
    index: PrefixIndex[str] = PrefixIndex()
    if range_set_id is None:
        data = json.loads(BUNDLED_AWS_RANGES.read_text())
        rows = [
            (p.get("ip_prefix") or p.get("ipv6_prefix"), p.get("region", ""), p.get("service", ""))
            for p in data.get("prefixes", []) + data.get("ipv6_prefixes", [])
        ]
        created = data.get("createDate", "")
    else:
        rows = list(
            AwsIpRange.objects.filter(range_set_id=range_set_id).values_list(
                "cidr", "region", "service"
            )
        )
        created = AwsIpRangeSet.objects.get(pk=range_set_id).create_date
    services: dict[Network, list[str]] = defaultdict(list)
    for cidr, region, service in rows:
        network = parse(cidr)
        if network is not None:
            label = " ".join(part for part in (service, region) if part and part != "AMAZON")
            if label and label not in services[network]:
                services[network].append(label)
            services.setdefault(network, [])
    for network, labels in services.items():
        # AWS lists every prefix under "AMAZON" too, which leaves a bare region label:
        # drop it when a service names the same region ("EC2 ap-northeast-1").
        labels = [x for x in labels if not any(o.endswith(f" {x}") for o in labels)]
        index.add(network, ", ".join(labels[:4]) + ("…" if len(labels) > 4 else ""))
    return index, created


def aws_ranges() -> tuple[PrefixIndex[str], str]:
    latest = AwsIpRangeSet.objects.values_list("pk", "loaded_at").first()
    return _aws_index(*latest) if latest else _aws_index(None)


class Classifier:
    def __init__(
        self,
        *,
        own: dict[int, PrefixIndex[str]],
        known: PrefixIndex[tuple[int, str]],
        peered: dict[int, PrefixIndex[str]],
        annotations_global: PrefixIndex[Annotation],
        annotations_by_account: dict[int, PrefixIndex[Annotation]],
        aws: PrefixIndex[str],
    ) -> None:
        self.own = own
        self.known = known
        self.peered = peered
        self.annotations_global = annotations_global
        self.annotations_by_account = annotations_by_account
        self.aws = aws

    @classmethod
    def load(cls) -> Classifier:
        names = dict(Account.objects.values_list("pk", "name"))
        own: dict[int, PrefixIndex[str]] = defaultdict(PrefixIndex)
        known: PrefixIndex[tuple[int, str]] = PrefixIndex()
        peered: dict[int, PrefixIndex[str]] = defaultdict(PrefixIndex)
        current = Resource.objects.current()
        networks = current.of_type("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::EIP")
        rows = networks.values_list("account_id", "type", "resource_id", "name", "config")
        for account_id, type_, ident, name, config in rows.iterator(chunk_size=2000):
            config = config if isinstance(config, dict) else {}
            kind = {"AWS::EC2::VPC": "VPC", "AWS::EC2::Subnet": "subnet"}.get(type_, "Elastic IP")
            cidrs = [config.get("PublicIp")] if kind == "Elastic IP" else vpc_cidrs(config)
            label = f"{kind} {ident}" + (f" ({name})" if name and name != ident else "")
            for network in filter(None, map(parse, cidrs)):
                own[account_id].add(network, label)
                known.add(network, (account_id, f"{label} of account {names.get(account_id)}"))
        peerings = current.of_type("AWS::EC2::VPCPeeringConnection")
        for account_id, ident, config in peerings.values_list(
            "account_id", "resource_id", "config"
        ):
            for side in ("Requester", "Accepter"):
                info = (config or {}).get(side) or {}
                if not isinstance(info, dict):
                    continue
                label = f"VPC {info.get('vpc_id', '')} peered through {ident}"
                for network in filter(None, map(parse, info.get("cidrs") or [])):
                    peered[account_id].add(network, label)
        annotations_global: PrefixIndex[Annotation] = PrefixIndex()
        by_account: dict[int, PrefixIndex[Annotation]] = defaultdict(PrefixIndex)
        for annotation in Annotation.objects.select_related("account"):
            network = parse(annotation.cidr)
            if network is None:
                continue
            index = (
                by_account[annotation.account_id] if annotation.account_id else annotations_global
            )
            index.add(network, annotation)
        aws, _ = aws_ranges()
        return cls(
            own=own,
            known=known,
            peered=peered,
            annotations_global=annotations_global,
            annotations_by_account=by_account,
            aws=aws,
        )

    def annotations_for(self, network: Network, account_id: int) -> list[Annotation]:
        """Every annotation covering the network, most specific first; at the same prefix
        length the account's own before the one for every account."""
        scoped = self.annotations_by_account.get(account_id)
        found = [(length, 0, a) for length, a in scoped.matches(network)] if scoped else []
        found += [(length, 1, a) for length, a in self.annotations_global.matches(network)]
        found.sort(key=lambda item: (-item[0], item[1]))
        return [a for _, _, a in found]

    def classify(self, cidr: str, account_id: int) -> Verdict:
        network = parse(cidr)
        if network is None:
            return Verdict(Classification.UNKNOWN, "not an address", None)
        covering = self.annotations_for(network, account_id)
        # The most specific answer explains it; a closer question alone does not hide a
        # wider answer. Without an answer, the closest annotation shows the status.
        answer = next((a for a in covering if a.explains), None)
        annotation = answer or (covering[0] if covering else None)
        annotation_id = annotation.pk if annotation else None
        if network.prefixlen == 0:
            return Verdict(Classification.INTERNET, "the whole internet", annotation_id)
        own = self.own.get(account_id)
        hit = own.match(network) if own else None
        if hit:
            return Verdict(Classification.OWN_VPC, hit[1], annotation_id)
        known = self.known.match(network)
        if known and known[1][0] != account_id:
            return Verdict(Classification.KNOWN_NETWORK, known[1][1], annotation_id)
        peered = self.peered.get(account_id)
        hit = peered.match(network) if peered else None
        if hit:
            return Verdict(Classification.KNOWN_NETWORK, hit[1], annotation_id)
        if answer is not None:
            detail = answer.owner + (f": {answer.purpose}" if answer.purpose else "")
            return Verdict(Classification.ANNOTATED, detail[:512], annotation_id)
        aws = self.aws.match(network)
        if aws:
            detail = f"AWS {aws[1]}" if aws[1] else "AWS published range"
            return Verdict(Classification.AWS, detail, annotation_id)
        return Verdict(Classification.UNKNOWN, "", annotation_id)


@dataclass
class RebuildStats:
    cidrs: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0


def _aggregate(refs: Iterable[tuple]) -> dict[tuple[int, str], dict[str, Any]]:
    groups: dict[tuple[int, str], dict[str, Any]] = {}
    # A few dozen distinct (protocol, ports) among 100,000 rules: label each once.
    described: dict[tuple, tuple[str, list[str], tuple]] = {}
    for account_id, cidr, direction, protocol, from_port, to_port, kind, action in refs:
        group = groups.get((account_id, cidr))
        if group is None:
            group = groups[(account_id, cidr)] = {
                "refs": 0,
                "ingress": 0,
                "open": [],
                "labels": {},
                "hints": {},
                "kinds": set(),
            }
        group["refs"] += 1
        group["kinds"].add(kind)
        if action != "allow" or not protocol:
            continue
        if direction == "ingress":
            group["ingress"] += 1
        if direction in ("ingress", "egress"):
            ports = (protocol, from_port, to_port)
            group["open"].append(ports)
            if ports not in described:
                order = (-1 if from_port is None else from_port, to_port or 0, protocol)
                described[ports] = (ports_label(*ports), port_hints(*ports), order)
            label, hints, order = described[ports]
            # Ordered by port, not by row order: the database returns references in no
            # fixed order, and the label must not change (and be rewritten) between syncs.
            labels = group["labels"]
            labels[label] = min(labels.get(label, order), order)
            for n, hint in enumerate(hints):
                group["hints"][hint] = min(group["hints"].get(hint, (order, n)), (order, n))
    return groups


def _fields(group: dict[str, Any]) -> dict[str, Any]:
    labels = sorted(group["labels"], key=group["labels"].get)
    ports = ", ".join(labels[:6]) + (f" +{len(labels) - 6}" if len(labels) > 6 else "")
    return {
        "reference_count": group["refs"],
        "ingress_count": group["ingress"],
        "port_count": port_count(group["open"]),
        "ports": ports[:512],
        "hints": sorted(group["hints"], key=group["hints"].get)[:12],
        "kinds": sorted(group["kinds"]),
    }


DERIVED = (
    "classification",
    "rank",
    "detail",
    "annotation_id",
    "reference_count",
    "ingress_count",
    "port_count",
    "ports",
    "hints",
    "kinds",
)


def rebuild(accounts: Iterable[Account] | None = None) -> RebuildStats:
    """Make ObservedCidr match the stored references (all accounts, or some), classified."""
    serialize()
    refs = IpReference.objects.all()
    observed = ObservedCidr.objects.all()
    if accounts is not None:
        ids = [a.pk for a in accounts]
        refs = refs.filter(account_id__in=ids)
        observed = observed.filter(account_id__in=ids)
    groups = _aggregate(
        refs.values_list(
            "account_id", "cidr", "direction", "protocol", "from_port", "to_port", "kind", "action"
        ).iterator(chunk_size=5000)
    )
    classifier = Classifier.load()
    # Only what is compared and written: skipping the timestamps saves parsing 20,000 dates.
    rows = observed.only("pk", "account_id", "cidr", *(f.removesuffix("_id") for f in DERIVED))
    existing = {(o.account_id, o.cidr): o for o in rows.iterator(chunk_size=5000)}
    create, update = [], []
    for (account_id, cidr), group in groups.items():
        verdict = classifier.classify(cidr, account_id)
        network = parse(cidr) or ipaddress.ip_network(cidr)  # stored CIDRs are canonical
        values = {
            "classification": verdict.classification,
            "rank": RANK[verdict.classification],
            "detail": verdict.detail[:512],
            "annotation_id": verdict.annotation_id,
            **_fields(group),
        }
        row = existing.pop((account_id, cidr), None)
        if row is None:
            create.append(
                ObservedCidr(
                    account_id=account_id,
                    cidr=cidr,
                    version=network.version,
                    prefixlen=network.prefixlen,
                    **values,
                )
            )
        elif any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            update.append(row)
    with transaction.atomic():
        if existing:
            gone = [row.pk for row in existing.values()]
            for start in range(0, len(gone), 2000):
                ObservedCidr.objects.filter(pk__in=gone[start : start + 2000]).delete()
        ObservedCidr.objects.bulk_create(create, batch_size=2000)
        ObservedCidr.objects.bulk_update(update, DERIVED, batch_size=1000)
    return RebuildStats(len(groups), len(create), len(update), len(existing))


def reclassify(networks: Iterable[str] | None = None) -> int:
    """Classify again the observed CIDRs inside any of `networks` (all when None): what an
    annotation change or a new copy of AWS's ranges alters. Returns rows changed."""
    serialize()
    targets = None
    if networks is not None:
        targets = [n for n in map(parse, networks) if n is not None]
        if not targets:
            return 0
        if len(targets) > 20:
            targets = None  # an import: one pass over everything is cheaper
    classifier = Classifier.load()
    changed = []
    fields = ("classification", "rank", "detail", "annotation_id")
    rows = ObservedCidr.objects.only("pk", "account_id", "cidr", *fields)
    for row in rows.iterator(chunk_size=5000):
        if targets is not None:
            network = parse(row.cidr) or ipaddress.ip_network(row.cidr)
            if not any(
                network.version == t.version and network.subnet_of(t)  # type: ignore[arg-type]
                for t in targets
            ):
                continue
        verdict = classifier.classify(row.cidr, row.account_id)
        values = {
            "classification": verdict.classification,
            "rank": RANK[verdict.classification],
            "detail": verdict.detail[:512],
            "annotation_id": verdict.annotation_id,
        }
        if any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            changed.append(row)
    ObservedCidr.objects.bulk_update(changed, fields, batch_size=1000)
    return len(changed)
