"""CSV import of answers: teams already keep spreadsheets of "whose IP is this".

All or nothing: `parse` validates every row first and returns every problem (row number,
column, reason); `plan` shows what each row would change; `commit` applies all rows in one
transaction through `ips.actions.apply` (one AnnotationEvent per annotation changed).

Semantics chosen for spreadsheets:
- Row numbers are the spreadsheet's: the header is row 1, the first data row is row 2.
- A column left out of the file, or a cell left empty, leaves the current value as it is:
  an import adds and corrects knowledge, it never erases it (clearing is done in the form).
- Cells that look like formulas ("=…", "+…") are plain text here; our own CSV exports
  prefix such cells with a "'" (inventory.exports.neutralize), which the import removes
  again so that an export round-trips unchanged.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from inventory.exports import FORMULA_PREFIXES, to_csv
from inventory.models import Account

from . import actions
from .models import Annotation, AnnotationEvent, annotation_snapshot

COLUMNS = (
    "cidr",
    "account",
    "owner",
    "purpose",
    "answered_by",
    "evidence",
    "decision",
    "review_on",
    "asked_whom",
)
VALUE_COLUMNS = ("owner", "purpose", "answered_by", "evidence", "decision", "review_on")
LIMITS = {
    "cidr": 64,
    "account": 64,
    "owner": 200,
    "answered_by": 200,
    "asked_whom": 200,
    "purpose": 5000,
    "evidence": 5000,
}
KINDS = ("new", "changed", "unchanged")  # what a row does, in the preview
MAX_BYTES = 1_000_000  # the confirm step carries the file in a signed form field
MAX_ROWS = 5000
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
EXAMPLE = {
    "cidr": "203.0.113.45/32",
    "account": "",
    "owner": "Example Corp (payment vendor)",
    "purpose": "SSH from the vendor's support office",
    "answered_by": "Tanaka (network team)",
    "evidence": "TICKET-1234",
    "decision": "review",
    "review_on": "2027-01-31",
    "asked_whom": "Tanaka",
}


@dataclass(frozen=True)
class RowError:
    row: int | None  # None: the file as a whole
    column: str
    reason: str


@dataclass
class Row:
    number: int
    cidr: str
    account: Account | None
    values: dict[str, Any]

    @property
    def target(self) -> actions.Target:
        return actions.Target(self.cidr, self.account)

    @property
    def scope(self) -> str:
        return self.account.name if self.account else "every account"


@dataclass
class Parsed:
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)


@dataclass
class Change:
    row: Row
    kind: str  # new | changed | unchanged
    changes: list[tuple[str, Any, Any]]


def decode(data: bytes) -> str:
    """UTF-8 text (with or without the BOM Excel writes), or ValueError saying what to do."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"The file is not UTF-8 text (byte 0x{data[exc.start]:02x} at position "
            f"{exc.start}). In Excel choose “CSV UTF-8”; in other tools, save with UTF-8 "
            "encoding."
        ) from exc


def _cell(value: str | None) -> str:
    value = (value or "").strip()
    # Undo inventory.exports.neutralize: "'=x" came from our export, and means "=x".
    if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        value = value[1:]
    return value


def parse(text: str) -> Parsed:
    """Every row validated, against the database as it is now."""
    result = Parsed()
    if len(text.encode()) > MAX_BYTES:
        result.errors.append(
            RowError(None, "", f"The file is larger than {MAX_BYTES // 1000} kB; split it.")
        )
        return result
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        result.errors.append(RowError(None, "", f"Not readable as CSV: {exc}."))
        return result
    if not records or not any(cell.strip() for cell in records[0]):
        result.errors.append(
            RowError(None, "", "The file is empty: it needs a header row and at least one row.")
        )
        return result
    header = [h.strip().lower().lstrip("\ufeff") for h in records[0]]
    errors = result.errors
    for index, name in enumerate(header):
        if name and name not in COLUMNS:
            errors.append(
                RowError(1, name[:40], f"Unknown column; the columns are: {', '.join(COLUMNS)}.")
            )
        elif name and name in header[:index]:
            errors.append(RowError(1, name, "This column appears twice."))
    if "cidr" not in header:
        errors.append(RowError(1, "cidr", "The header has no “cidr” column (it is required)."))
    if errors:
        return result
    body = records[1:]
    if len(body) > MAX_ROWS:
        errors.append(RowError(None, "", f"More than {MAX_ROWS} rows; split the file."))
        return result

    # Two queries whatever the size: the accounts named, the annotations concerned.
    at = header.index("account") if "account" in header else None
    names = {_cell(r[at]) for r in body if at is not None and len(r) > at}
    names = {n for n in names if n and len(n) <= LIMITS["account"]}
    accounts = {a.name: a for a in Account.objects.filter(name__in=names)}

    seen: dict[tuple[str, str], int] = {}
    candidates: list[Row] = []
    for number, record in enumerate(body, start=2):
        if not any(cell.strip() for cell in record):
            continue  # a blank line
        if len(record) > len(header):
            extra = record[len(header) :]
            if any(cell.strip() for cell in extra):
                errors.append(RowError(number, "", "More cells than the header has columns."))
                continue
        cells = {
            name: _cell(record[i]) if i < len(record) else ""
            for i, name in enumerate(header)
            if name
        }
        row_errors = _check_row(number, cells, accounts)
        if row_errors:
            errors.extend(row_errors)
            continue
        cidr = actions.canonical(cells["cidr"])
        account_name = cells.get("account", "")
        key = (cidr, account_name)
        if key in seen:
            errors.append(
                RowError(
                    number,
                    "cidr",
                    f"{cidr} for {account_name or 'every account'} is already in row {seen[key]}.",
                )
            )
            continue
        seen[key] = number
        candidates.append(
            Row(number, cidr, accounts.get(account_name) if account_name else None, _values(cells))
        )
    if not candidates and not errors:
        errors.append(RowError(None, "", "The file has a header but no rows."))
    # Rules that depend on what is stored (owner, review date), for every row that passed
    # the others: one upload lists every problem.
    existing = _existing(candidates)
    for row in candidates:
        current = existing.get((row.cidr, row.account.pk if row.account else None))
        errors.extend(_check_merged(row, current))
    errors.sort(key=lambda e: e.row or 0)
    if not errors:
        result.rows = candidates
    return result


def _check_row(number: int, cells: dict[str, str], accounts: dict[str, Account]) -> list[RowError]:
    errors: list[RowError] = []
    for column, limit in LIMITS.items():
        if len(cells.get(column, "")) > limit:
            errors.append(RowError(number, column, f"At most {limit} characters."))
    if errors:
        return errors
    if not cells.get("cidr"):
        errors.append(RowError(number, "cidr", "The CIDR is required."))
    else:
        try:
            actions.canonical(cells["cidr"])
        except ValidationError as exc:
            errors.append(RowError(number, "cidr", " ".join(exc.messages)))
    account = cells.get("account", "")
    if account and account not in accounts:
        errors.append(
            RowError(
                number, "account", f"No account named “{account}” (leave empty for every account)."
            )
        )
    decision = cells.get("decision", "").lower()
    if decision and decision not in Annotation.Decision.values:
        errors.append(RowError(number, "decision", "Use keep, remove or review (or leave empty)."))
    review_on = cells.get("review_on", "")
    if review_on:
        try:
            if not DATE.fullmatch(review_on):
                raise ValueError
            dt.date.fromisoformat(review_on)
        except ValueError:
            errors.append(RowError(number, "review_on", "A date as YYYY-MM-DD, e.g. 2027-01-31."))
    if not any(cells.get(c) for c in (*VALUE_COLUMNS, "asked_whom")):
        errors.append(
            RowError(number, "owner", "Nothing to record: fill in the owner (or asked_whom).")
        )
    return errors


def _values(cells: dict[str, str]) -> dict[str, Any]:
    """What the row sets: only the cells that are filled in."""
    values: dict[str, Any] = {}
    for column in ("owner", "purpose", "answered_by", "evidence", "asked_whom"):
        if cells.get(column):
            values[column] = cells[column]
    if cells.get("decision"):
        values["decision"] = cells["decision"].lower()
        # Another decision drops a review date; "review" takes the row's own.
        values["review_on"] = None
    if cells.get("review_on"):
        values["review_on"] = dt.date.fromisoformat(cells["review_on"])
    return values


def _existing(rows: Iterable[Row]) -> dict[tuple[str, int | None], Annotation]:
    rows = list(rows)
    found = Annotation.objects.filter(cidr__in={r.cidr for r in rows})
    return {(a.cidr, a.account_id): a for a in found}


def _check_merged(row: Row, current: Annotation | None) -> list[RowError]:
    errors: list[RowError] = []
    values = row.values
    stored = annotation_snapshot(current)
    # Only what the row changes: an exported spreadsheet imports back unchanged even
    # where a decision was recorded before any owner was known.
    sets_answer = any(
        k in values and stored.get(k) != _json(values[k]) and (stored.get(k) or values[k])
        for k in VALUE_COLUMNS
    )
    if sets_answer and not values.get("owner") and not (current and current.owner):
        errors.append(
            RowError(
                row.number,
                "owner",
                "The owner is required (only a row that records asked_whom may leave it empty).",
            )
        )
    decision = values.get("decision", current.decision if current else "")
    review_on = values.get("review_on", current and current.review_on)
    if decision == Annotation.Decision.REVIEW and not review_on:
        errors.append(RowError(row.number, "review_on", "“review” needs a review_on date."))
    if review_on and decision != Annotation.Decision.REVIEW:
        errors.append(
            RowError(row.number, "review_on", "A review_on date goes with the decision “review”.")
        )
    return errors


def _json(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def plan(rows: list[Row]) -> list[Change]:
    """What each row would change, field by field (before → after)."""
    existing = _existing(rows)
    changes = []
    for row in rows:
        current = existing.get((row.cidr, row.account.pk if row.account else None))
        before = annotation_snapshot(current)
        after = dict(before)
        for key, value in row.values.items():
            after[key] = _json(value)
        diff = [
            (key, before.get(key), after[key])
            for key in row.values
            if before.get(key) != after[key] and (before.get(key) or after[key])
        ]
        kind = "new" if current is None else "changed" if diff else "unchanged"
        changes.append(Change(row, kind, diff))
    return changes


def fingerprint(changes: list[Change]) -> list[Any]:
    """A JSON-able summary of a plan: the confirm step checks nothing moved since."""
    return [[c.row.number, c.kind, [list(map(str, d)) for d in c.changes]] for c in changes]


def commit(rows: list[Row], *, actor: Any) -> list[Annotation]:
    """Apply every row, in one transaction: all rows or none."""
    return actions.apply_each(
        ((row.target, row.values) for row in rows), actor=actor, source=AnnotationEvent.Source.CSV
    )


def template_csv() -> str:
    return to_csv([EXAMPLE])


def annotations_csv() -> str:
    """Every annotation in the import's columns: a spreadsheet that imports back unchanged."""
    rows = []
    for a in Annotation.objects.select_related("account").order_by("cidr", "account__name"):
        rows.append(
            {
                "cidr": a.cidr,
                "account": a.account.name if a.account_id else "",
                "owner": a.owner,
                "purpose": a.purpose,
                "answered_by": a.answered_by,
                "evidence": a.evidence,
                "decision": a.decision,
                "review_on": a.review_on.isoformat() if a.review_on else "",
                "asked_whom": a.asked_whom,
            }
        )
    if not rows:
        return ",".join(COLUMNS) + "\r\n"
    return to_csv(rows)
