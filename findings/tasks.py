"""Celery tasks of the findings app: thin, named, keyword-only, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="findings.reopen_expired")
def reopen_expired_task() -> int:
    from .actions import reopen_expired

    return reopen_expired()


@shared_task(name="findings.evaluate_sync")
def evaluate_sync_task(*, sync_id: int) -> None:
    from inventory.models import Sync

    from .evaluate import evaluate_sync

    sync = Sync.objects.select_related("account").filter(pk=sync_id).first()
    if sync is not None:
        evaluate_sync(sync)
