from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from .models import Account


class SyncQuerySet(models.QuerySet):
    def active(self) -> SyncQuerySet:
        return self.filter(status__in=("queued", "running", "finalizing"))

    def finished(self) -> SyncQuerySet:
        return self.filter(status__in=("complete", "partial", "failed"))


class ResourceQuerySet(models.QuerySet):
    def for_account(self, account: Account) -> ResourceQuerySet:
        return self.filter(account=account)

    def current(self) -> ResourceQuerySet:
        return self.filter(removed_at__isnull=True)

    def of_type(self, *types: str) -> ResourceQuerySet:
        return self.filter(type__in=types)

    def in_region(self, region: str) -> ResourceQuerySet:
        return self.filter(region=region)
