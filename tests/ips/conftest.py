"""Shared by the unknown-IP tests: teammates with a role, and resource rows stored as a
collector would have stored them (for shapes moto or AWS will not build)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from catchup.roles import Role, set_role
from inventory.collectors import content_hash
from inventory.models import Account, Resource

HOME = "ap-northeast-1"


@pytest.fixture
def make_user(db):
    def make(username: str, role: Role = Role.EDITOR):
        user = get_user_model().objects.create_user(username, password="pw-for-tests-only")
        set_role(user, role)
        return user

    return make


def stored(account: Account, type_: str, ident: str, config: Any) -> Resource:
    """A current resource row in the home region, as a collector would have stored it."""
    now = timezone.now()
    doc = {"type": type_, "id": ident, "region": HOME, "config": config}
    return Resource.objects.create(
        account=account,
        region=HOME,
        type=type_,
        resource_id=ident,
        scope=f"test:{HOME}",
        config=config,
        content_hash=content_hash(doc),
        first_seen_at=now,
        changed_at=now,
    )
