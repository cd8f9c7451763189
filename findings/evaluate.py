"""Run every rule after a sync and move findings through their lifecycle.

- A hit with no finding opens one; a hit on a resolved finding reopens it as regressed.
- A finding with no hit resolves only when the sync collected, completely, every scope
  (collector × region) its rule reads in the finding's region. Partial data never
  resolves anything; a failed sync evaluates nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inventory.collectors import COLLECTORS
from inventory.models import Account, Resource, Sync, SyncTask

from .models import AccountSettings, Finding, FindingEvent
from .rules import ACCOUNT_TYPE, RULES, AccountState, Hit, Res, Rule, fingerprint

logger = logging.getLogger(__name__)

# The API prefix collectors use for a CloudFormation service name, where they differ.
SERVICE_ALIASES = {"elasticloadbalancing": "elb", "elasticloadbalancingv2": "elbv2"}

CHUNK = 1000


@dataclass
class EvalStats:
    opened: int = 0
    regressed: int = 0
    resolved: int = 0
    seen: int = 0
    reopened_expired: int = 0
    failed_rules: list[str] = field(default_factory=list)


def load_state(account: Account, *, regions: list[str] | None = None) -> AccountState:
    rows = (
        Resource.objects.for_account(account)
        .current()
        .values_list("pk", "type", "region", "resource_id", "name", "tags", "config", "relations")
    )
    resources = (
        Res(pk, t, region, rid, name or "", tags or {}, config or {}, relations or [])
        for pk, t, region, rid, name, tags, config, relations in rows.iterator(chunk_size=2000)
    )
    settings = AccountSettings.for_account(account)
    return AccountState(account, resources, settings=settings, regions=regions)


def run_rules(state: AccountState) -> tuple[dict[str, tuple[Rule, Hit]], list[str]]:
    """Every rule's hits by fingerprint; a rule that raises is reported, not fatal."""
    hits: dict[str, tuple[Rule, Hit]] = {}
    failed = []
    for rule in RULES.values():
        try:
            for hit in rule(state):
                hits[fingerprint(state.account.pk, rule.id, hit.resource, hit.detail)] = (rule, hit)
        except Exception:  # one broken rule must not stop the others; its findings stay as is
            logger.exception("rule %s failed on account %s", rule.id, state.account)
            failed.append(rule.id)
    return hits, failed


class Coverage:
    """Which (collector, region) scopes a sync collected completely, and which collectors
    feed each resource type."""

    def __init__(self, sync: Sync) -> None:
        self.tasks: dict[str, dict[str, str]] = defaultdict(dict)
        for collector, region, status in sync.tasks.values_list("collector", "region", "status"):
            self.tasks[collector][region] = status
        self.observed: dict[str, set[str]] = defaultdict(set)
        scopes = Resource.objects.for_account(sync.account).values_list("type", "scope").distinct()
        for type_, scope in scopes:
            self.observed[type_].add(scope.split(":", 1)[0])

    def collectors_for(self, type_: str) -> set[str]:
        declared = {c.key for c in COLLECTORS.values() if type_ in getattr(c, "types", ())}
        if not declared:
            parts = type_.split("::")
            service = parts[1].lower() if len(parts) > 2 else ""
            service = SERVICE_ALIASES.get(service, service)
            declared = {
                c.key
                for c in COLLECTORS.values()
                if c.service == service or c.key.split(".", 1)[0] == service
            }
        return declared | self.observed.get(type_, set())

    def complete(self, rule: Rule, finding: Finding) -> bool:
        types = {*rule.types, finding.resource_type} - {ACCOUNT_TYPE}
        if not types:
            return False
        whole_account = rule.account_wide or finding.region == "global"
        for type_ in types:
            collectors = self.collectors_for(type_)
            if not collectors:
                return False  # nobody collects it: absence proves nothing
            for key in collectors:
                by_region = self.tasks.get(key)
                if not by_region:
                    return False  # not part of this sync
                if whole_account or "global" in by_region:
                    statuses = list(by_region.values())
                else:
                    statuses = [by_region.get(finding.region)]
                if any(s != SyncTask.Status.DONE for s in statuses):
                    return False
        return True


def evaluate_sync(sync: Sync) -> EvalStats:
    """Evaluate the account's stored current inventory after `sync` ended.

    Writes are proportionate to what changed: every finding still seen gets one chunked
    UPDATE of its last-seen sync; only findings whose title, evidence or status changed
    are rewritten (so a re-sync of an unchanged estate stays cheap).
    """
    stats = EvalStats()
    if sync.status not in (Sync.Status.COMPLETE, Sync.Status.PARTIAL):
        return stats
    account = sync.account
    state = load_state(account, regions=sync.regions or None)
    hits, stats.failed_rules = run_rules(state)
    coverage = Coverage(sync)
    now = timezone.now()
    with transaction.atomic():
        existing = {f.fingerprint: f for f in Finding.objects.for_account(account)}
        new: list[Finding] = []
        events: list[FindingEvent] = []
        seen: list[int] = []
        rewritten: list[Finding] = []
        resolved: list[int] = []
        for fp, (rule, hit) in hits.items():
            finding = existing.get(fp)
            if finding is None:
                new.append(_new_finding(account, rule, hit, fp, sync, now))
                continue
            stats.seen += 1
            seen.append(finding.pk)
            title = (hit.title or rule.title)[:512]
            evidence = hit.evidence or hit.resource.config
            changed = (
                finding.title != title
                or finding.evidence != evidence
                or finding.stored_resource_id != hit.resource.pk
            )
            finding.title, finding.evidence = title, evidence
            finding.stored_resource_id = hit.resource.pk
            if finding.status == Finding.Status.RESOLVED:
                stats.regressed += 1
                back_to = _status_on_return(finding, now)
                events.append(
                    FindingEvent(
                        finding=finding,
                        kind=FindingEvent.Kind.REGRESSED,
                        sync=sync,
                        before={"status": finding.status},
                        after={"status": back_to, "regressed": True},
                    )
                )
                finding.status = back_to
                finding.resolved_from = ""
                finding.regressed = True
                finding.resolved_sync = None
                finding.resolved_at = None
                changed = True
            if changed:
                finding.updated_at = now  # bulk_update skips auto_now
                rewritten.append(finding)
        for fp, finding in existing.items():
            if fp in hits or finding.status == Finding.Status.RESOLVED:
                continue
            rule = RULES.get(finding.rule)
            if rule is None or rule.id in stats.failed_rules:
                continue  # a retired or broken rule cannot say the condition is gone
            if not coverage.complete(rule, finding):
                continue
            resolved.append(finding.pk)
            events.append(
                FindingEvent(
                    finding=finding,
                    kind=FindingEvent.Kind.RESOLVED,
                    sync=sync,
                    before={"status": finding.status},
                    after={"status": Finding.Status.RESOLVED},
                )
            )
        stats.resolved = len(resolved)
        created = Finding.objects.bulk_create(new, batch_size=CHUNK)
        stats.opened = len(created)
        events += [
            FindingEvent(
                finding=finding,
                kind=FindingEvent.Kind.OPENED,
                sync=sync,
                after={"status": finding.status, "severity": finding.severity},
            )
            for finding in created
        ]
        for chunk in _chunks(seen):
            Finding.objects.filter(pk__in=chunk).update(last_seen_sync=sync, last_seen_at=now)
        Finding.objects.bulk_update(
            rewritten,
            ["title", "evidence", "stored_resource", "status", "regressed", "resolved_sync",
             "resolved_at", "resolved_from", "updated_at"],
            batch_size=200,
        )  # fmt: skip
        for chunk in _chunks(resolved):
            # resolved_from takes the status before this UPDATE (SQL reads old values).
            Finding.objects.filter(pk__in=chunk).update(
                resolved_from=F("status"),
                status=Finding.Status.RESOLVED,
                resolved_sync=sync,
                resolved_at=now,
                updated_at=now,
            )
        FindingEvent.objects.bulk_create(events, batch_size=CHUNK)
    from .actions import reopen_expired

    stats.reopened_expired = reopen_expired()
    return stats


def _status_on_return(finding: Finding, now: datetime) -> str:
    """A resolved finding whose condition is back: open again, unless a person had
    accepted it (or called it a false positive) and that decision has not expired."""
    if finding.resolved_from in Finding.SUPPRESSED and (
        finding.expires_at is None or finding.expires_at > now
    ):
        return finding.resolved_from
    return Finding.Status.OPEN


def _chunks(items: list[int]) -> list[list[int]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def _new_finding(
    account: Account, rule: Rule, hit: Hit, fp: str, sync: Sync, now: datetime
) -> Finding:
    return Finding(
        account=account,
        rule=rule.id,
        fingerprint=fp,
        severity=rule.severity,
        layer=rule.layer,
        title=(hit.title or rule.title)[:512],
        detail=hit.detail[:512],
        resource_type=hit.resource.type,
        resource_id=hit.resource.resource_id[:512],
        region=hit.resource.region,
        stored_resource_id=hit.resource.pk,
        evidence=hit.evidence or hit.resource.config,
        due_date=Finding.default_due_date(rule.severity),
        first_seen_sync=sync,
        last_seen_sync=sync,
        first_seen_at=now,
        last_seen_at=now,
    )
