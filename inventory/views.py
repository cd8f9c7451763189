"""Inventory pages: accounts, syncs (with live progress) and resources.

Thin function views (STYLE.md): each one reads its input, asks the models or
`inventory.sync` and renders one template; HTMX requests get a fragment of the
same template (django-template-partials' `template.html#partial`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTransform
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from catchup.roles import Role, require_role
from ips.models import Classification, ObservedCidr

from . import audit, aws, errors, overview
from . import changes as changes_service
from . import search as search_service
from . import sync as sync_service
from .forms import AccountForm
from .models import Account, AuditEvent, Relationship, Resource, Sync, SyncTask

# --- Helpers ------------------------------------------------------------------------


def paginate(request: HttpRequest, queryset: QuerySet, per_page: int | None = None) -> Page:
    """One page of `queryset`: a COUNT and a LIMIT query, whatever the row count."""
    paginator = Paginator(queryset, per_page or settings.CATCHUP_PAGE_SIZE)
    return paginator.get_page(request.GET.get("page"))


def is_fragment_request(request: HttpRequest) -> bool:
    """An htmx request that swaps part of the page (a boosted one wants the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def pretty_json(value: Any) -> str:
    """AWS data as indented JSON text; the template escapes it like any other string."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def accounts_with_summary() -> QuerySet[Account]:
    """Accounts with their latest sync and resource count, in one query whatever their size."""
    latest = Sync.objects.filter(account=OuterRef("pk")).order_by("-created_at", "-pk")
    resource_count = (
        Resource.objects.filter(account=OuterRef("pk"), removed_at__isnull=True)
        .order_by()
        .values("account")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Account.objects.annotate(
        last_sync_id=Subquery(latest.values("pk")[:1]),
        last_sync_status=Subquery(latest.values("status")[:1]),
        last_sync_created=Subquery(latest.values("created_at")[:1]),
        last_sync_finished=Subquery(latest.values("finished_at")[:1]),
        resource_total=Subquery(resource_count),
    ).order_by("name")


# --- Home and accounts ----------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Every account by layer, with sums: a fixed number of aggregate queries."""
    accounts = list(accounts_with_summary())
    figures = overview.home_figures(accounts)
    context = {
        "accounts": accounts,
        "figures": figures,
        "rows": list(zip(accounts, figures.rows, strict=True)),
        "layers": overview.BANDS,
        "resource_total": sum(a.resource_total or 0 for a in accounts),
    }
    return render(request, "inventory/home.html", context)


@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    return render(request, "inventory/account_list.html", {"accounts": accounts_with_summary()})


class AccountUIForm(AccountForm):
    """The shared AccountForm with the page's widgets, and the ExternalId never echoed.

    On an existing account the ExternalId field renders empty and a blank answer
    keeps the stored one, so the page never sends the value back to a browser.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["auth_mode"].widget = forms.RadioSelect(choices=Account.AuthMode.choices)
        self.fields["role_arn"].widget.attrs.update(
            placeholder="arn:aws:iam::123456789012:role/CatchupReadOnly", spellcheck="false"
        )
        self.fields["endpoint_url"].widget.attrs["placeholder"] = "http://127.0.0.1:5000"
        self.fields["regions_text"].widget.attrs["placeholder"] = "ap-northeast-1,us-east-1"
        self.fields["external_id"].widget = forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off"}
        )
        self.keeps_external_id = bool(self.instance.pk and self.instance.external_id)
        if self.keeps_external_id:
            self.fields["external_id"].help_text = "Stored. Leave blank to keep it."

    def clean_external_id(self) -> str:
        value = (self.cleaned_data.get("external_id") or "").strip()
        if not value and self.keeps_external_id:
            return self.instance.external_id
        return value


# Form errors on these fields do not stop a connection test: it needs only the
# fields that say how to reach the account.
TEST_IGNORES = {"name", "sync_interval_hours"}


def test_connection(form: AccountUIForm) -> dict[str, Any]:
    """Reach the account described by the (unsaved) form; a dict for the template."""
    form.is_valid()
    blocking = {f: e for f, e in form.errors.items() if f not in TEST_IGNORES}
    if blocking:
        return {"ok": False, "code": "InvalidForm", "message": "Fix the fields marked below first."}
    data = form.cleaned_data
    account = Account(
        auth_mode=data["auth_mode"],
        role_arn=data.get("role_arn", "").strip(),
        external_id=data.get("external_id", "").strip(),
        profile=data.get("profile", "").strip(),
        endpoint_url=data.get("endpoint_url", ""),
    )
    form.apply_credentials(account)
    try:
        session = aws.session_for(account)
        identity = aws.caller_identity(session)
    except Exception as exc:  # every way of failing to reach the account, said in words
        if account.auth_mode == Account.AuthMode.ROLE:
            code, message = errors.assume_role_error(exc, account.role_arn)
        else:
            code, message = errors.describe(exc, operation_hint="GetCallerIdentity")
        return {"ok": False, "code": code, "message": message}
    result: dict[str, Any] = {"ok": True, "identity": identity, "regions": [], "missing": []}
    try:
        result["regions"] = aws.enabled_regions(session)
    except Exception as exc:  # reached the account, but may not list regions: say so
        code, message = errors.describe(exc, operation_hint="DescribeRegions")
        result.update(regions_code=code, regions_message=message)
        return result
    text = data.get("regions_text", "")
    if text and text != "all":
        result["missing"] = [r for r in text.split(",") if r not in result["regions"]]
    return result


def _account_form_page(
    request: HttpRequest, form: AccountUIForm, account: Account | None, **extra: Any
) -> HttpResponse:
    context = {"form": form, "account": account, **extra}
    return render(request, "inventory/account_form.html", context)


@require_http_methods(["GET", "POST"])
@require_role(Role.ADMIN)
def account_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = AccountUIForm(request.POST)
        if form.is_valid():
            with transaction.atomic():
                account = form.save()
                audit.record(
                    actor=request.user,
                    action=AuditEvent.Action.CREATE,
                    obj=account,
                    before=None,
                    after=audit.account_snapshot(account),
                )
            messages.success(request, f"Account {account.name} added. Sync it to read it.")
            return redirect(account)
    else:
        form = AccountUIForm(initial={"auth_mode": Account.AuthMode.ROLE})
    return _account_form_page(request, form, None)


@require_http_methods(["GET", "POST"])
@require_role(Role.ADMIN)
def account_edit(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    if request.method == "POST":
        before = audit.account_snapshot(account)
        form = AccountUIForm(request.POST, instance=account)
        if form.is_valid():
            with transaction.atomic():
                account = form.save()
                audit.record(
                    actor=request.user,
                    action=AuditEvent.Action.UPDATE,
                    obj=account,
                    before=before,
                    after=audit.account_snapshot(account),
                )
            messages.success(request, f"Account {account.name} saved.")
            return redirect(account)
    else:
        form = AccountUIForm(instance=account)
    return _account_form_page(request, form, account)


@require_POST
@require_role(Role.ADMIN)
def account_delete(request: HttpRequest, name: str) -> HttpResponse:
    """Forget an account and everything collected from it (AWS is not touched)."""
    account = get_object_or_404(Account, name=name)
    with transaction.atomic():
        audit.record(
            actor=request.user,
            action=AuditEvent.Action.DELETE,
            obj=account,
            before=audit.account_snapshot(account),
            after=None,
        )
        account.delete()
    messages.success(request, f"Account {name} deleted from Catchup.")
    return redirect("inventory:accounts")


@require_POST
@require_role(Role.ADMIN)
def account_test(request: HttpRequest, name: str | None = None) -> HttpResponse:
    """Test connection: read the form as typed, save nothing, call STS and EC2 (reads only)."""
    account = get_object_or_404(Account, name=name) if name else None
    # An unsaved copy, so the form's validation cannot touch the stored account.
    instance = Account.objects.get(pk=account.pk) if account else Account()
    form = AccountUIForm(request.POST, instance=instance)
    result = test_connection(form)
    if is_fragment_request(request):
        return render(request, "inventory/account_form.html#test-result", {"test": result})
    return _account_form_page(request, form, account, test=result)


@require_GET
def account_detail(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    figures = overview.account_figures(account)
    syncs = list(account.syncs.order_by("-created_at", "-pk")[:10])
    figures.last_sync = syncs[0] if syncs else None
    context = {
        "account": account,
        "figures": figures,
        "resource_total": sum(band.total for band in figures.band_list[:3]),
        "syncs": syncs,
        "active_sync": account.syncs.active().first(),
        "last_complete": account.syncs.filter(status=Sync.Status.COMPLETE)
        .order_by("-finished_at")
        .first(),
        # The account's addresses nobody has explained yet (issue 4): one count query.
        "unknown_ips": ObservedCidr.objects.filter(
            account=account, classification=Classification.UNKNOWN
        ).count(),
    }
    return render(request, "inventory/account_detail.html", context)


@require_POST
@require_role(Role.EDITOR)
def account_sync(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    try:
        sync = sync_service.request(account, by=request.user, trigger="manual")
    except sync_service.SyncAlreadyRunning as running:
        messages.warning(
            request, f"A sync of {account.name} is already running; here is its progress."
        )
        return redirect(running.sync if running.sync else account)
    return redirect(sync)


# --- Syncs ------------------------------------------------------------------------------


@require_GET
def sync_list(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    page = paginate(request, account.syncs.order_by("-created_at", "-pk"))
    return render(request, "inventory/sync_list.html", {"account": account, "page": page})


def _sync_status_context(sync: Sync) -> dict[str, Any]:
    failed = list(sync.tasks.filter(status=SyncTask.Status.FAILED).order_by("region", "collector"))
    return {"sync": sync, "account": sync.account, "failed_tasks": failed}


@require_GET
def sync_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sync = get_object_or_404(Sync.objects.select_related("account", "requested_by"), pk=pk)
    changes = sync.changes.select_related("resource").order_by("kind", "resource__type", "pk")
    context = {**_sync_status_context(sync), "changes": paginate(request, changes)}
    template = "inventory/sync_detail.html"
    if is_fragment_request(request) and request.GET.get("page"):
        template += "#changes"
    return render(request, template, context)


@require_GET
def sync_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The polled progress fragment; 286 (stop polling) once the sync has finished."""
    sync = get_object_or_404(Sync.objects.select_related("account"), pk=pk)
    context = _sync_status_context(sync)
    html = render_to_string("inventory/sync_detail.html#sync-status", context, request)
    if not sync.is_finished:
        return HttpResponse(html)
    # The final state, plus (out of band) the list of what changed, which the
    # page could not show while the sync was running.
    changes = sync.changes.select_related("resource").order_by("kind", "resource__type", "pk")
    html += render_to_string(
        "inventory/sync_detail.html#changes",
        {**context, "changes": paginate(request, changes), "oob": True},
        request,
    )
    return HttpResponseStopPolling(html)


# --- Resources --------------------------------------------------------------------------


def filter_resources(account: Account, params: dict[str, str]) -> QuerySet[Resource]:
    """The resource list's filters, all read from the query string (so pages bookmark)."""
    resources = Resource.objects.for_account(account)
    if not params.get("removed"):
        resources = resources.current()
    if params.get("type"):
        resources = resources.of_type(params["type"])
    if params.get("region"):
        resources = resources.in_region(params["region"])
    tag = params.get("tag", "").strip()
    if tag:
        key, sep, value = tag.partition("=")
        key = key.strip()
        if sep:
            # KeyTransform takes the key as data, so any key text is safe here
            # (a `tags__<key>` lookup would split keys that contain "__").
            resources = resources.alias(tag_value=KeyTransform(key, "tags")).filter(
                tag_value=value.strip()
            )
        else:
            resources = resources.filter(tags__has_key=key)
    q = params.get("q", "").strip()
    if q:
        resources = resources.filter(
            Q(resource_id__icontains=q) | Q(name__icontains=q) | Q(arn__icontains=q)
        )
    # The overview's links: layer=, attention=, server= (issue 3).
    resources = overview.filter_resources(account, resources, params)
    return resources.order_by("type", F("name").asc(), "resource_id")


@require_GET
def resource_list(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    params = {
        k: request.GET.get(k, "")
        for k in ("type", "region", "tag", "q", "removed", *overview.LIST_FILTERS)
    }
    # One query for both filter menus: every (type, region) pair the account has.
    pairs = list(
        Resource.objects.for_account(account).order_by().values_list("type", "region").distinct()
    )
    context = {
        "account": account,
        "params": params,
        "filtered": any(params.values()),
        "types": sorted({t for t, _ in pairs}),
        "regions": sorted({r for _, r in pairs}),
        "page": paginate(request, filter_resources(account, params)),
        "overview_filters": overview.describe_filters(params),
    }
    template = "inventory/resource_list.html"
    if is_fragment_request(request):
        template += "#results"
    return render(request, template, context)


def _outgoing(resource: Resource) -> list[dict[str, Any]]:
    """This resource's edges, each with the target's row when Catchup has collected it."""
    edges = list(resource.relationships.all().order_by("kind", "target_type", "target_id"))
    found: dict[tuple[str, str], Resource] = {}
    if edges:
        candidates = Resource.objects.filter(
            account_id=resource.account_id,
            type__in={e.target_type for e in edges},
            resource_id__in={e.target_id for e in edges},
        ).order_by(F("removed_at").desc(nulls_first=True))
        for target in candidates:
            # A current row wins over a removed one of the same identity elsewhere.
            found.setdefault((target.type, target.resource_id), target)
    return [{"edge": e, "target": found.get((e.target_type, e.target_id))} for e in edges]


RECENT_CHANGES = 5  # on the detail page; the timeline has them all


def _diagram_url(account: Account, vpc_id: str | None) -> str:
    """The topology diagram of the account, focused on a VPC (the diagram may not exist yet)."""
    try:
        base = reverse("inventory:diagram", args=[account.name])
    except NoReverseMatch:
        base = account.get_absolute_url() + "diagram/"
    # The VPC id is AWS data: encoded, never pasted into the URL as is.
    return f"{base}?{urlencode({'vpc': vpc_id})}" if vpc_id else base


@require_GET
def resource_detail(request: HttpRequest, pk: int) -> HttpResponse:
    resource = get_object_or_404(
        Resource.objects.select_related("account", "first_seen_sync", "last_change_sync"), pk=pk
    )
    account = resource.account
    incoming = (
        Relationship.objects.filter(
            account_id=resource.account_id,
            target_type=resource.type,
            target_id=resource.resource_id,
        )
        .select_related("source")
        .order_by("kind", "source__type", "source__resource_id")
    )
    history = resource.changes.select_related("sync").order_by("-created_at", "-pk")
    recent = list(history[: RECENT_CHANGES + 1])  # one more says "there are older ones"
    outgoing = _outgoing(resource)
    where = changes_service.topology(resource, outgoing)
    groups = changes_service.exposure_groups(resource, outgoing)
    names = changes_service.group_names(account, changes_service.exposure_references(groups))
    latest = account.latest_finished_sync()
    latest_url = request.build_absolute_uri(latest.get_absolute_url()) if latest else ""
    context = {
        "account": account,
        "resource": resource,
        "tags": sorted(resource.tags.items()),
        "config_json": pretty_json(resource.config),
        "outgoing": outgoing,
        "incoming": list(incoming),
        "topology": where,
        "diagram_url": _diagram_url(account, where["vpc"]["id"] if where["vpc"] else None),
        "exposure": changes_service.exposure(groups, names),
        "support_text": changes_service.support_text(resource, latest, latest_url),
        "changes": [
            {"change": c, "fields": changes_service.change_fields(c) if c.kind == "changed" else []}
            for c in recent[:RECENT_CHANGES]
        ],
        "more_changes": len(recent) > RECENT_CHANGES,
    }
    return render(request, "inventory/resource_detail.html", context)


# --- Search across accounts ------------------------------------------------------------


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Every account's resources by id, name, ARN, tag, IP or configuration text.

    All filters live in the query string, so a search bookmarks; four queries
    whatever the data (filter menus, count, page).
    """
    query = search_service.Query.from_params(request.GET)
    pairs = list(Resource.objects.current().order_by().values_list("type", "region").distinct())
    context = {
        "query": query,
        "accounts": list(Account.objects.order_by("name").values_list("name", flat=True)),
        "layers": overview.BANDS,
        "types": sorted({t for t, _ in pairs}),
        "regions": sorted({r for _, r in pairs}),
        "page": None if query.is_empty else paginate(request, search_service.search(query)),
    }
    template = "inventory/search.html"
    if is_fragment_request(request):
        template += "#results"
    return render(request, template, context)
