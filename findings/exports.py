"""`export NAME --kind findings`: one row per finding, in PRODUCT.md's shape."""

from __future__ import annotations

from typing import Any

from inventory.models import Account

from .models import SEVERITY_RANK, Finding


def findings(account: Account) -> list[dict[str, Any]]:
    rows = (
        Finding.objects.for_account(account)
        .select_related("assignee")
        .order_by("rule", "resource_type", "region", "resource_id", "pk")
    )
    out = [
        {
            "rule": f.rule,
            "severity": f.severity,
            "resource_type": f.resource_type,
            "resource_id": f.resource_id,
            "region": f.region,
            "status": f.status,
            "title": f.title,
            "assignee": f.assignee.get_username() if f.assignee else None,
        }
        for f in rows.iterator(chunk_size=2000)
    ]
    # Most severe first; stable within a severity.
    return sorted(out, key=lambda r: SEVERITY_RANK.get(r["severity"], 99))
