from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class FindingsConfig(AppConfig):
    name = "findings"
    verbose_name = "Findings"

    def ready(self) -> None:
        from inventory import exports
        from inventory.signals import sync_finished

        from .exports import findings

        exports.EXPORTERS["findings"] = findings
        sync_finished.connect(on_sync_finished, dispatch_uid="findings.evaluate")


def on_sync_finished(sender: Any, sync: Any, **kwargs: Any) -> None:
    """Evaluate the rules on what the sync left stored (sent after its commit)."""
    from catchup import dispatch

    from .tasks import evaluate_sync_task

    if sync.status not in ("complete", "partial"):
        return  # a failed sync evaluates nothing
    try:
        # Inline in tests and the embedded default's sync thread; a worker task with Celery.
        if dispatch.task_mode() == "celery":
            evaluate_sync_task.apply_async(kwargs={"sync_id": sync.pk})
        else:
            evaluate_sync_task.run(sync_id=sync.pk)
    except Exception:  # the sync itself succeeded; a rule bug must not look like a sync failure
        logger.exception("evaluating findings after sync %s failed", sync.pk)
