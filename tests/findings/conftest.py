from __future__ import annotations

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from catchup.roles import Role, set_role
from findings.evaluate import load_state, run_rules
from findings.models import AccountSettings
from findings.rules import RULES
from inventory.collectors import COLLECTORS
from inventory.collectors.base import content_hash
from inventory.models import Resource, Sync, SyncTask

REGION = "ap-northeast-1"
_ids = itertools.count(1)


@pytest.fixture
def account(make_account):
    return make_account()


def _store(account, doc: dict) -> Resource:
    now = timezone.now()
    return Resource.objects.create(
        account=account,
        region=doc["region"],
        type=doc["type"],
        resource_id=doc["id"],
        scope=doc.get("scope", f"test:{doc['region']}"),
        arn=doc.get("arn", ""),
        name=doc.get("name", ""),
        tags=doc.get("tags", {}),
        config=doc.get("config", {}),
        relations=doc.get("relations", []),
        content_hash=content_hash(doc),
        first_seen_at=now,
        changed_at=now,
    )


@pytest.fixture
def make_resource(account):
    """A stored resource row, for shapes moto cannot build."""

    def make(
        type_: str,
        resource_id: str | None = None,
        *,
        region: str = REGION,
        config: dict | None = None,
        tags: dict | None = None,
        name: str = "",
        relations: list | None = None,
        scope: str | None = None,
        of=None,
    ) -> Resource:
        doc = {
            "type": type_,
            "id": resource_id or f"r-{next(_ids)}",
            "region": region,
            "name": name,
            "tags": tags or {},
            "config": config or {},
            "relations": relations or [],
        }
        if scope:
            doc["scope"] = scope
        return _store(of or account, doc)

    return make


@pytest.fixture
def collect(account):
    """Run real collectors against moto and store what they yield, without a sync."""

    def run(session, *keys: str, region: str = REGION, of=None) -> None:
        for key in keys:
            collector = COLLECTORS[key]
            call_region = collector.home_region if collector.global_ else region
            for record in collector.collect(session, call_region):
                doc = record.to_dict()
                doc["scope"] = f"{key}:{'global' if collector.global_ else region}"
                _store(of or account, doc)

    return run


@pytest.fixture
def hits(account):
    """The hits of one rule on the account's stored inventory."""

    def run(rule_id: str, *, of=None, regions: list[str] | None = None, **settings):
        target = of or account
        if settings:
            AccountSettings.objects.update_or_create(account=target, defaults=settings)
        state = load_state(target, regions=regions)
        found, failed = run_rules(state)
        assert not failed
        return [hit for rule, hit in found.values() if rule.id == rule_id]

    assert set(RULES)  # registry importable
    return run


@pytest.fixture
def make_sync(account):
    """A finished sync whose units (collector, region) ended as given."""

    def make(status: str = "complete", *, units: dict | None = None, regions=None, of=None):
        target = of or account
        now = timezone.now()
        sync = Sync.objects.create(
            account=target,
            status=status,
            finished_at=now,
            started_at=now,
            regions=regions or [REGION],
            trigger="test",
        )
        if units is None:
            units = {}
            for collector in COLLECTORS.values():
                region = "global" if collector.global_ else REGION
                units[(collector.key, region)] = "done"
        SyncTask.objects.bulk_create(
            SyncTask(sync=sync, collector=c, region=r, status=s) for (c, r), s in units.items()
        )
        return sync

    return make


@pytest.fixture
def make_user(db):
    def make(username: str, role: Role = Role.EDITOR, email: str = "") -> object:
        user = get_user_model().objects.create_user(
            username, email=email or f"{username}@example.test", password="pw-for-tests-only"
        )
        set_role(user, role)
        return user

    return make
