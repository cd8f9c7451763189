"""Run a Celery task through the broker, or in process when there is none.

Embedded default (no CELERY_BROKER_URL): a task runs in a background thread of
the current process, so a sync started from a page does not block the request
and its progress can be polled. Tests set CATCHUP_TASK_MODE=inline to run
tasks synchronously in the calling thread (inside the test's transaction).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)


def task_mode() -> str:
    mode = getattr(settings, "CATCHUP_TASK_MODE", "")
    if mode:
        return mode
    return "celery" if settings.CELERY_BROKER_URL else "thread"


def enqueue(task: Any, **kwargs: Any) -> None:
    """Send `task(**kwargs)` to a worker (or run it in process)."""
    mode = task_mode()
    if mode == "celery":
        task.apply_async(kwargs=kwargs)
    elif mode == "inline":
        task.run(**kwargs)
    else:
        thread = threading.Thread(
            target=_run_in_thread, args=(task, kwargs), name=f"task-{task.name}", daemon=True
        )
        thread.start()


def _run_in_thread(task: Any, kwargs: dict[str, Any]) -> None:
    close_old_connections()
    try:
        task.run(**kwargs)
    except Exception:  # a background thread has nobody to raise to: log it
        logger.exception("in-process task %s failed", task.name)
    finally:
        connections.close_all()
