from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class IpsConfig(AppConfig):
    name = "ips"
    verbose_name = "Unknown IPs"

    def ready(self) -> None:
        from inventory import exports
        from inventory.signals import sync_finished

        from .exports import unknown_ips, unknown_ips_csv_rows

        exports.EXPORTERS["unknown-ips"] = unknown_ips
        exports.CSV_ROWS["unknown-ips"] = unknown_ips_csv_rows
        # Connected before findings' receiver (INSTALLED_APPS order): the rule on
        # unexplained sources reads the classification this refresh writes.
        sync_finished.connect(on_sync_finished, dispatch_uid="ips.refresh")


def on_sync_finished(sender: Any, sync: Any, **kwargs: Any) -> None:
    """Extract the synced account's addresses and classify every account's again."""
    from .refresh import refresh_after_sync

    if sync.status not in ("complete", "partial"):
        return  # a failed sync changed no resource: nothing to extract
    try:
        refresh_after_sync(sync.account)
    except Exception:  # the sync itself succeeded; this must not look like its failure
        logger.exception("refreshing IP references after sync %s failed", sync.pk)
