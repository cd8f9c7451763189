"""`export --kind unknown-ips`: every CIDR the account refers to, classified (PRODUCT.md)."""

from __future__ import annotations

from typing import Any

from inventory.models import Account

from .models import Annotation, IpReference, ObservedCidr


def annotation_data(annotation: Annotation | None) -> dict[str, Any] | None:
    if annotation is None:
        return None
    return {
        "cidr": annotation.cidr,
        "scope": annotation.account.name if annotation.account_id else "all accounts",
        "status": annotation.status,
        "asked_whom": annotation.asked_whom,
        "asked_at": annotation.asked_at.isoformat() if annotation.asked_at else None,
        "owner": annotation.owner,
        "purpose": annotation.purpose,
        "answered_by": annotation.answered_by,
        "evidence": annotation.evidence,
        "decision": annotation.decision,
        "review_on": annotation.review_on.isoformat() if annotation.review_on else None,
    }


# Each reference's keys in the export, and the IpReference field each comes from.
REFERENCE_FIELDS = {
    "resource_type": "resource_type",
    "resource_id": "resource_id_text",
    "region": "region",
    "direction": "direction",
    "protocol": "protocol",
    "from_port": "from_port",
    "to_port": "to_port",
    "description": "description",
    "kind": "kind",
    "action": "action",
    "via": "via",
}
REFERENCE_COLUMNS = tuple(REFERENCE_FIELDS)


def unknown_ips(account: Account) -> list[dict[str, Any]]:
    refs: dict[str, list[dict[str, Any]]] = {}
    rows = (
        IpReference.objects.filter(account=account)
        .order_by("cidr", "resource_type", "resource_id_text", "direction", "from_port", "pk")
        .values_list("cidr", *REFERENCE_FIELDS.values())
    )
    for cidr, *values in rows.iterator(chunk_size=5000):
        refs.setdefault(cidr, []).append(dict(zip(REFERENCE_COLUMNS, values, strict=True)))
    observed = (
        ObservedCidr.objects.filter(account=account)
        .select_related("annotation__account")
        .order_by("version", "cidr")
    )
    return [
        {
            "cidr": row.cidr,
            "classification": row.classification,
            "detail": row.detail,
            "references": refs.get(row.cidr, []),
            "annotation": annotation_data(row.annotation),
        }
        for row in observed.iterator(chunk_size=2000)
    ]


ANNOTATION_COLUMNS = ("status", "owner", "purpose", "answered_by", "evidence", "decision")


def unknown_ips_csv_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CSV form: one row per reference (a CIDR with none still gets a row), the CIDR's
    class and the applied annotation repeated on each, so a spreadsheet can filter and sort
    without unpacking JSON."""
    flat = []
    for row in rows:
        note = row["annotation"] or {}
        head = {"cidr": row["cidr"], "classification": row["classification"]}
        head["detail"] = row["detail"]
        tail = {f"annotation_{key}": note.get(key) or "" for key in ANNOTATION_COLUMNS}
        tail["annotation_cidr"] = note.get("cidr") or ""
        tail["annotation_scope"] = note.get("scope") or ""
        for ref in row["references"] or [{}]:
            flat.append({**head, **{k: ref.get(k) for k in REFERENCE_COLUMNS}, **tail})
    return flat
