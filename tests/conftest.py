from __future__ import annotations

import os

import boto3
import pytest
from moto import mock_aws

from inventory import sync as sync_service
from inventory.models import Account

REGION = "ap-northeast-1"


@pytest.fixture(autouse=True)
def _inline_tasks(settings):
    """Tasks run in the test's thread, inside its transaction."""
    settings.CATCHUP_TASK_MODE = "inline"
    settings.AWS_ENDPOINT_URL = ""
    sync_service.forget_sessions()
    yield
    sync_service.forget_sessions()


@pytest.fixture
def aws_credentials(monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def aws(aws_credentials):
    """moto in process; yields a boto3 Session to build the estate with."""
    with mock_aws():
        yield boto3.Session(region_name=REGION)


@pytest.fixture
def make_account(db):
    def make(name: str = "legacy", **fields) -> Account:
        fields.setdefault("regions", [REGION])
        return Account.objects.create(name=name, **fields)

    return make


@pytest.fixture
def run_sync():
    """Request a sync and run it to the end in this thread; returns the finished Sync."""

    def run(account: Account):
        sync = sync_service.request(account, trigger="test")
        sync_service.run(sync.pk)
        sync.refresh_from_db()
        return sync

    return run


def pytest_report_header(config):
    return f"database: {os.environ.get('DATABASE_URL', 'sqlite (default)')}"
