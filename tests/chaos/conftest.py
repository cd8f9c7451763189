"""Chaos tests: a file-backed SQLite test database, so threads see real isolation.

pytest-django's default SQLite test database is a shared-cache in-memory one,
where a reader hitting a table another connection is writing gets "table is
locked" instead of its snapshot. A file in WAL mode behaves like production.
(When the whole suite runs, the first test decides the database; the reader
test then skips on an in-memory one rather than measuring the wrong thing.)
"""

from __future__ import annotations

import os
import tempfile

import pytest
from django.conf import settings

from inventory import sync as sync_service
from inventory.collectors import COLLECTORS

EC2_COLLECTORS = ("ec2.vpcs", "ec2.security_groups", "ec2.instances")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3" and not db.get("TEST", {}).get("NAME"):
        path = os.path.join(tempfile.mkdtemp(prefix="catchup-chaos-"), "test.sqlite3")
        db.setdefault("TEST", {})["NAME"] = path


@pytest.fixture
def ec2_only(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Plan only the EC2 collectors the chaos estates use (fast syncs)."""
    import findings.evaluate

    pinned = {key: COLLECTORS[key] for key in EC2_COLLECTORS}
    monkeypatch.setattr(sync_service, "COLLECTORS", pinned)
    monkeypatch.setattr(findings.evaluate, "COLLECTORS", pinned)
    return pinned
