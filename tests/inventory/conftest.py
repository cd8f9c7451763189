"""Fixtures for the tests that run a real celery worker subprocess (marked `integration`).

They need PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL): a module
using them skips without those unless CATCHUP_REQUIRE_SERVICES=1 (CI), which
turns the skip into a failure. The worker uses the test database, so they use
`transactional_db`: it must see committed rows.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings

from inventory.models import Sync
from tests.support.moto_server import moto_server, reset_moto

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 90


def services_missing() -> str:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "DATABASE_URL does not point at PostgreSQL"
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        return "CELERY_BROKER_URL does not point at Redis"
    return ""


@pytest.fixture
def celery_mode(settings: Any, transactional_db: None) -> None:
    settings.CATCHUP_TASK_MODE = "celery"


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto_server() as url:
        reset_moto(url)
        yield url


def worker_database_url() -> str:
    """DATABASE_URL of the database this test runs in (pytest-django's test_… copy)."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def purge_broker() -> None:
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def start_worker(celery_mode: None, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen]]:
    """Starts `celery worker` subprocesses on settings.CELERY_BROKER_URL; killed at teardown."""
    purge_broker()
    workers: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "CATCHUP_DATA_DIR": str(tmp_path),
            "SECRET_KEY": "integration-test-only",
            "DJANGO_SETTINGS_MODULE": "catchup.settings",
        }
        log = open(tmp_path / f"worker{len(workers)}.log", "wb")  # noqa: SIM115 - kept open for the worker
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "catchup",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "-Q",
                "celery",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: kill the pool children too
        )
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            kill_worker(worker)
        purge_broker()


def kill_worker(worker: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal the worker's whole process group (main process and pool children)."""
    if worker.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, sig)
    worker.wait(timeout=30)


def wait_finished(sync: Sync, seconds: float = WAIT_SECONDS) -> Sync:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sync.refresh_from_db()
        if sync.is_finished:
            return sync
        time.sleep(0.3)
    raise AssertionError(f"sync #{sync.pk} still {sync.status} after {seconds} s")
