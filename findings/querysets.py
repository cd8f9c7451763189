from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from inventory.models import Account


class FindingQuerySet(models.QuerySet):
    def for_account(self, account: Account) -> FindingQuerySet:
        return self.filter(account=account)

    def active(self) -> FindingQuerySet:
        """Open or acknowledged: still asking for someone's attention."""
        return self.filter(status__in=("open", "acknowledged"))

    def assigned_to(self, user: Any) -> FindingQuerySet:
        return self.filter(assignee=user)

    def overdue(self) -> FindingQuerySet:
        return self.active().filter(due_date__lt=timezone.localdate())

    def expired(self) -> FindingQuerySet:
        """Accepted or false-positive findings whose expiry has passed."""
        return self.filter(
            status__in=("accepted", "false_positive"), expires_at__lte=timezone.now()
        )

    def for_list(self) -> FindingQuerySet:
        """What a list row shows, in a fixed number of queries."""
        return self.select_related("account", "assignee").only(
            "pk",
            "rule",
            "severity",
            "layer",
            "title",
            "detail",
            "status",
            "regressed",
            "due_date",
            "region",
            "resource_type",
            "resource_id",
            "last_seen_at",
            "account__name",
            "assignee__username",
            "assignee__first_name",
            "assignee__last_name",
        )
