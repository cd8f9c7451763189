"""What a rule is, what it yields, and the stored inventory it reads."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from findings.models import AccountSettings, Layer, Severity

# The pseudo resource of account-wide findings (no trail at all, no recorder in a region).
ACCOUNT_TYPE = "AWS::::Account"


@dataclass(frozen=True, slots=True)
class Res:
    """A stored resource as a rule sees it: plain data, no ORM."""

    pk: int | None
    type: str
    region: str
    resource_id: str
    name: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    relations: list[dict[str, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.resource_id

    def related(self, kind: str, type_: str | None = None) -> list[str]:
        return [
            r["id"]
            for r in self.relations
            if r.get("kind") == kind and (type_ is None or r.get("type") == type_)
        ]


@dataclass(frozen=True, slots=True)
class Hit:
    """One thing a rule found. `detail` tells two hits on one resource apart (port, CIDR)."""

    resource: Res
    detail: str = ""
    title: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


Evaluate = Callable[["AccountState"], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    """A check from the seeds: metadata plus a pure function over the stored inventory.

    `types` are the resource types the rule reads: a finding resolves only when a
    sync collected every one of them completely in the finding's region.
    `account_wide` rules judge the account as a whole (every region's data).
    """

    id: str
    title: str
    severity: Severity
    layer: Layer
    source: str
    rationale: str
    remediation: str
    types: tuple[str, ...]
    evaluate: Evaluate
    account_wide: bool = False
    prowler: str = ""
    # Templates read a rule's metadata; they must not call it.
    do_not_call_in_templates = True

    def __call__(self, state: AccountState) -> Iterable[Hit]:
        return self.evaluate(state)


def rule(**meta: Any) -> Callable[[Evaluate], Rule]:
    """Decorator: the function's docstring is the rule's long rationale note."""

    def wrap(fn: Evaluate) -> Rule:
        return Rule(evaluate=fn, **meta)

    return wrap


def fingerprint(account_id: int, rule_id: str, res: Res, detail: str) -> str:
    """Stable across syncs: rule, resource identity and the distinguishing detail."""
    material = "\x1f".join(
        [str(account_id), rule_id, res.region, res.type, res.resource_id, detail]
    )
    return hashlib.sha256(material.encode()).hexdigest()


class AccountState:
    """The current stored inventory of one account, loaded once for every rule."""

    def __init__(
        self,
        account: Any,
        resources: Iterable[Res],
        *,
        settings: AccountSettings,
        regions: list[str] | None = None,
        networks: Any = None,
    ) -> None:
        self.account = account
        self.settings = settings
        self._by_type: dict[str, list[Res]] = defaultdict(list)
        self._by_id: dict[tuple[str, str], Res] = {}
        for res in resources:
            self._by_type[res.type].append(res)
            self._by_id[(res.type, res.resource_id)] = res
        self._regions = regions
        self._networks = networks

    def of(self, *types: str) -> list[Res]:
        if len(types) == 1:
            return self._by_type.get(types[0], [])
        return [r for t in types for r in self._by_type.get(t, [])]

    def get(self, type_: str, resource_id: str | None) -> Res | None:
        if not resource_id:
            return None
        return self._by_id.get((type_, resource_id))

    def all(self) -> Iterator[Res]:
        for items in self._by_type.values():
            yield from items

    @property
    def regions(self) -> list[str]:
        """Regions the account is collected in (its latest sync's), else those seen."""
        if self._regions:
            return list(self._regions)
        return sorted({r.region for r in self.all() if r.region != "global"})

    def account_res(self, region: str = "global") -> Res:
        ident = self.account.aws_account_id or self.account.name
        return Res(
            pk=None, type=ACCOUNT_TYPE, region=region, resource_id=ident, name=self.account.name
        )

    @cached_property
    def networks(self) -> Any:
        from findings.rules.ipclass import AccountNetworks

        return self._networks if self._networks is not None else AccountNetworks.load(self.account)


def cfg(res: Res, *path: str, default: Any = None) -> Any:
    """config[path…], tolerant of a missing level (collectors omit what AWS omits)."""
    value: Any = res.config
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def truthy(value: Any) -> bool:
    """AWS says true as True, "true" or "True" depending on the API."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
