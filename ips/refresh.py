"""After a sync: the account's references from its current inventory, then every class."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import transaction

from inventory.models import Account

from . import classify, extract

logger = logging.getLogger(__name__)


@dataclass
class RefreshStats:
    references: int
    added: int
    removed: int
    cidrs: int
    seconds: float


def refresh_after_sync(account: Account) -> RefreshStats:
    started = time.monotonic()
    with transaction.atomic():  # readers see the old picture or the new one, never half
        classify.serialize()
        refs = extract.extract(account)
        added, removed = extract.store(account, refs)
        # Every account: a new VPC here makes another account's CIDR a known network.
        stats = classify.rebuild()
    seconds = time.monotonic() - started
    logger.info(
        "IP references of %s: %d (+%d -%d), %d CIDRs classified in %.2fs",
        account,
        len(refs),
        added,
        removed,
        stats.cidrs,
        seconds,
    )
    return RefreshStats(len(refs), added, removed, stats.cidrs, seconds)
