"""Celery tasks: thin, named, keyword-only, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import sync


@shared_task(name="inventory.run_sync")
def run_sync_task(*, sync_id: int) -> None:
    sync.run(sync_id)


@shared_task(name="inventory.collect")
def collect_task(*, task_id: int) -> None:
    sync.collect(task_id)


@shared_task(name="inventory.finalize_sync")
def finalize_sync_task(*, sync_id: int) -> None:
    sync.finalize(sync_id)


@shared_task(name="inventory.reap_stale_syncs")
def reap_stale_syncs_task() -> None:
    sync.reap_stale()


@shared_task(name="inventory.start_scheduled_syncs")
def start_scheduled_syncs_task() -> None:
    sync.start_scheduled()
