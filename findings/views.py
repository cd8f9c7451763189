"""Finding pages: the filtered list with row and bulk actions, and a finding's detail.

Thin function views: writes go through `findings.actions` (one transaction and one
history row per change); an htmx POST gets the re-rendered row, a plain POST a redirect.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Case, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catchup.roles import Role, has_role, require_role
from inventory.models import Account

from . import actions
from .forms import AccountSettingsForm, ActionForm, FilterForm
from .models import SEVERITY_RANK, AccountSettings, Finding, FindingEvent
from .rules import RULES


def severity_order() -> Case:
    return Case(
        *[When(severity=s, then=Value(rank)) for s, rank in SEVERITY_RANK.items()],
        default=Value(99),
    )


def _fragment(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def _paginate(request: HttpRequest, queryset: QuerySet) -> Page:
    return Paginator(queryset, settings.CATCHUP_PAGE_SIZE).get_page(request.GET.get("page"))


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    # A path only: redirect() would take any other text for a view name (and fail).
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@require_GET
def finding_list(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    # Most severe first, then the most recently seen.
    findings = form.filter(Finding.objects.for_list(), request.user).order_by(
        severity_order(), "-last_seen_at", "-pk"
    )
    template = "findings/list.html"
    if _fragment(request):
        template += "#results"
    return render(
        request,
        template,
        {
            "form": form,
            "page": _paginate(request, findings),
            "action_form": ActionForm(),
            "querystring": request.GET.urlencode(),
        },
    )


@require_http_methods(["GET", "POST"])
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_object_or_404(
        Finding.objects.select_related(
            "account",
            "assignee",
            "stored_resource",
            "first_seen_sync",
            "last_seen_sync",
            "resolved_sync",
        ),
        pk=pk,
    )
    form = ActionForm(initial={"assignee": finding.assignee_id, "due_date": finding.due_date})
    if request.method == "POST":
        if not has_role(request.user, Role.EDITOR):
            raise PermissionDenied("Changing a finding needs the Editor role.")
        form = ActionForm(request.POST)
        if form.is_valid():
            try:
                _apply(form, finding, request.user)
            except ValidationError as exc:
                form.add_error(None, exc)
        if form.is_valid():
            if _fragment(request) and request.POST.get("row"):
                finding = Finding.objects.for_list().get(pk=pk)
                return render(request, "findings/list.html#row", {"finding": finding})
            messages.success(request, "Saved.")
            return redirect(_safe_next(request, finding.get_absolute_url()))
        if _fragment(request) and request.POST.get("row"):
            return HttpResponseBadRequest(" ".join(_errors(form)))
    events = FindingEvent.objects.filter(finding=finding).select_related("actor", "sync")
    return render(
        request,
        "findings/detail.html",
        {
            "finding": finding,
            "rule": RULES.get(finding.rule),
            "evidence": json.dumps(
                finding.evidence, indent=2, sort_keys=True, ensure_ascii=False, default=str
            ),
            "events": events,
            "comments": finding.comments.select_related("author"),
            "form": form,
        },
        status=400 if form.errors else 200,
    )


def _errors(form: ActionForm) -> list[str]:
    return [str(e) for errors in form.errors.values() for e in errors]


def _apply(form: ActionForm, finding: Finding, user: Any) -> None:
    data = form.cleaned_data
    action = data["action"]
    note = data.get("note") or ""
    if action == "acknowledge":
        actions.acknowledge(finding, by=user, note=note)
    elif action == "assign":
        actions.assign(finding, by=user, assignee=data.get("assignee"), note=note)
    elif action == "assign_me":
        actions.assign(finding, by=user, assignee=user, note=note)
    elif action == "set_due_date":
        actions.set_due_date(finding, by=user, due_date=data.get("due_date"))
    elif action == "accept":
        actions.accept_risk(finding, by=user, reason=data["reason"], expires_at=form.expires_at)
    elif action == "false_positive":
        actions.mark_false_positive(
            finding, by=user, reason=data["reason"], expires_at=form.expires_at
        )
    elif action == "reopen":
        actions.reopen(finding, by=user, note=note)
    elif action == "comment":
        actions.comment(finding, by=user, body=data["body"])


@require_POST
@require_role(Role.EDITOR)
def finding_bulk(request: HttpRequest) -> HttpResponse:
    """One action on the checked findings, or on every finding matching the filter."""
    form = ActionForm(request.POST)
    back = _safe_next(request, "/findings/")
    if not form.is_valid() or form.cleaned_data["action"] == "comment":
        for error in _errors(form) or ["Comments are added one finding at a time."]:
            messages.error(request, error)
        return redirect(back)
    if request.POST.get("scope") == "filter":
        selection = FilterForm(request.POST).filter(Finding.objects.all(), request.user)
    else:
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        selection = Finding.objects.filter(pk__in=ids)
    data = form.cleaned_data
    action = data["action"]
    kwargs: dict[str, Any] = {}
    if action == "assign_me":
        action, kwargs = "assign", {"assignee": request.user}
    elif action == "assign":
        kwargs = {"assignee": data.get("assignee")}
    elif action == "set_due_date":
        kwargs = {"due_date": data.get("due_date")}
    elif action in ("accept", "false_positive"):
        kwargs = {"reason": data["reason"], "expires_at": form.expires_at}
    changed, skipped = actions.bulk(selection.only("pk"), action, by=request.user, **kwargs)
    messages.success(
        request,
        f"{changed} finding(s) changed"
        + (f", {skipped} skipped (not applicable)." if skipped else "."),
    )
    return redirect(back)


@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    instance = AccountSettings.for_account(account)
    form = AccountSettingsForm(instance=instance)
    if request.method == "POST":
        if not has_role(request.user, Role.EDITOR):
            raise PermissionDenied("Changing settings needs the Editor role.")
        form = AccountSettingsForm(request.POST, instance=instance)
        if form.is_valid():
            form.save()
            messages.success(request, "Settings saved; they apply from the next sync.")
            return redirect("findings:settings", name=account.name)
    return render(request, "findings/settings.html", {"account": account, "form": form})


@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    return render(request, "findings/rules.html", {"rules": list(RULES.values())})
