"""Exports of the latest complete state: one function per kind, JSON-ready rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from .models import Account, Resource

# A CSV cell starting with one of these is run as a formula by spreadsheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def resources(account: Account) -> list[dict[str, Any]]:
    rows = (
        Resource.objects.for_account(account)
        .current()
        .order_by("type", "region", "resource_id")
        .values_list("type", "resource_id", "arn", "region", "name", "tags")
    )
    return [
        {"type": t, "id": rid, "arn": arn, "region": region, "name": name, "tags": tags}
        for t, rid, arn, region, name, tags in rows.iterator(chunk_size=2000)
    ]


EXPORTERS: dict[str, Callable[[Account], list[dict[str, Any]]]] = {"resources": resources}
# For kinds whose JSON rows nest lists (unknown-ips' references): the flat rows a
# spreadsheet wants instead, one per nested item. Other kinds are written as they are.
CSV_ROWS: dict[str, Callable[[list[dict[str, Any]]], list[dict[str, Any]]]] = {}


def neutralize(value: str) -> str:
    """Keep a spreadsheet from running a cell that AWS data made look like a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    return neutralize(json.dumps(value, sort_keys=True, ensure_ascii=False))


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    out = io.StringIO()
    if not rows:
        return ""
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                key: neutralize(value) if isinstance(value, str) else _cell(value)
                for key, value in row.items()
            }
        )
    return out.getvalue()
