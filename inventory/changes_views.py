"""Change pages: the diff of two syncs, a resource's timeline, and "since I arrived".

Thin function views over `inventory.changes`; each page runs a fixed number of
queries whatever the number of changes (the range is listed from light rows, and
only the shown page's documents are loaded).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from . import changes as ch
from .models import Account, Resource

SINCE_SESSION_KEY = "catchup_since_date"  # the date a user arrived, remembered per session


def _range_context(request: HttpRequest, diff_range: ch.DiffRange) -> dict[str, Any]:
    """The listing of one range: counts, one page of merged changes, partial-sync notices."""
    rows = diff_range.changes()
    found = ch.entries(rows)
    page = ch.paginate_entries(found, request.GET.get("page"), settings.CATCHUP_PAGE_SIZE)
    ch.load(rows, page.object_list)
    return {
        "range": diff_range,
        "counts": ch.counts(found),
        "page": page,
        "partial_syncs": diff_range.partial_syncs(),
    }


@require_GET
def changes(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    syncs = ch.pickable_syncs(account)
    context: dict[str, Any] = {"account": account, "syncs": syncs, "error": ""}
    status = 200
    try:
        diff_range = ch.DiffRange.from_params(account, syncs, request.GET)
    except ch.RangeError as exc:
        context["error"] = str(exc)
        # Bad input is the user's to fix (400); an account with no sync yet is just empty.
        status = 400 if request.GET.get("from") or request.GET.get("to") else 200
    else:
        context.update(_range_context(request, diff_range))
    return render(request, "inventory/changes.html", context, status=status)


@require_GET
def resource_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    resource = get_object_or_404(Resource.objects.select_related("account"), pk=pk)
    history = resource.changes.select_related("sync").order_by("-created_at", "-pk")
    page = Paginator(history, settings.CATCHUP_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "change": change,
            "fields": ch.change_fields(change) if change.kind == ch.CHANGED else [],
            "document": ch.pretty(change.after if change.kind == ch.ADDED else change.before),
        }
        for change in page.object_list
    ]
    context = {"account": resource.account, "resource": resource, "page": page, "rows": rows}
    return render(request, "inventory/resource_timeline.html", context)


@require_GET
def since(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    raw = request.GET.get("date")
    if raw is None:
        raw = request.session.get(SINCE_SESSION_KEY, "")
    context: dict[str, Any] = {
        "account": account,
        "date_text": raw,
        "error": "",
        "today": timezone.localdate(),
    }
    if not raw.strip():
        return render(request, "inventory/since.html", context)
    try:
        date = ch.parse_since(raw)
    except ch.RangeError as exc:
        context["error"] = str(exc)
        return render(request, "inventory/since.html", context, status=400)
    request.session[SINCE_SESSION_KEY] = date.isoformat()
    found = ch.since_range(account, date)
    context.update(date=date, date_text=date.isoformat(), note=found.baseline_note)
    if found.range is not None:
        rows = found.range.changes()
        nets = ch.opening_nets(rows)
        names = ch.group_names(account, ch.referenced_groups(nets))
        context["openings"] = ch.openings(nets, names)
        context.update(_range_context(request, found.range))
    return render(request, "inventory/since.html", context)
