from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# --- Headless Chromium (Playwright's sync API) ---------------------------------
# One browser for the whole session, shared by tests/e2e and tests/security:
# Playwright's sync API cannot be started twice in one thread.

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp/catchup-shots")

# Playwright's sync API runs an event loop in this thread; Django refuses ORM
# calls from a thread with a running loop unless told they are safe here (they
# are: the loop only drives the browser).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CATCHUP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and CATCHUP_REQUIRE_BROWSER=1")
        pytest.skip(f"no Chromium at {CHROMIUM}: browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records console errors and uncaught exceptions on `page.errors`."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on(
        "console",
        lambda msg: (
            page.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.on("pageerror", lambda exc: page.errors.append(f"pageerror: {exc}"))
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def shot(page: Any):
    """Save a full-page screenshot as /tmp/catchup-shots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
