"""Unknown-IP pages: the queue with bulk actions, one CIDR's page with its answer form and
history, and the ask helper (a message to paste in the team chat).

Thin function views: writes go through `ips.actions` (one transaction, one history row per
annotation changed). An htmx POST gets the re-rendered fragment, a plain POST a redirect.
The queue reads a constant number of queries whatever the page holds: one grouped query for
the page's CIDRs, one for their per-account rows, one for their references.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, Max, Min, Sum, When, Window
from django.db.models.functions import Coalesce, RowNumber
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from catchup.roles import Role, has_role, require_role
from inventory.models import Account

from . import actions
from .forms import ALL, AnnotationForm, BulkForm, QueueFilterForm, RangeForm
from .models import (
    Annotation,
    AnnotationEvent,
    Classification,
    IpReference,
    LinkAnswer,
    ObservedCidr,
)
from .ports import ALL_PORTS

# Classes only a person's answer explains; the others say what they are themselves.
UNEXPLAINED = (Classification.UNKNOWN, Classification.AWS)
TOP_REFERENCES = 3  # places shown in a queue row; the rest are on the CIDR's page
REFERENCES_SHOWN = 500  # on a CIDR's page; the export has them all
QUESTION = "Whose address is this, and what is it for?"


def _fragment(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def exposure_label(port_count: int) -> str:
    if port_count >= ALL_PORTS:
        return "all ports"
    if port_count == 0:
        return "—"  # a route, gateway or policy: no port to count
    return f"{port_count} port{'s' if port_count != 1 else ''}"


def _short_type(resource_type: str) -> str:
    """AWS::EC2::SecurityGroup -> SecurityGroup: the name people say."""
    return resource_type.rsplit("::", 1)[-1]


def _label(ref: IpReference) -> IpReference:
    """What a row shows of the resource: its short type and its name (or id)."""
    ref.short_type = _short_type(ref.resource_type)
    ref.label = ref.resource_name or ref.resource_id_text
    return ref


def applied_note(annotation: Annotation | None, cidr: str, account: Account | None) -> str:
    """Where the annotation that applied comes from, when it is not this row's own:
    "from 198.51.100.0/24 (every account)". Empty when it is exactly this CIDR and scope."""
    if annotation is None:
        return ""
    same_scope = (annotation.account_id or None) == (account.pk if account else None)
    if annotation.cidr != cidr:
        return f"from {annotation.cidr} ({annotation.scope_label})"
    return "" if same_scope else f"recorded for {annotation.scope_label}"


# --- The queue -------------------------------------------------------------------------


@dataclass
class QueueRow:
    cidr: str
    rank: int
    port_count: int
    reference_count: int
    observed: list[ObservedCidr] = field(default_factory=list)
    references: list[IpReference] = field(default_factory=list)

    @property
    def accounts(self) -> list[str]:
        return [o.account.name for o in self.observed]

    @property
    def classes(self) -> list[tuple[str, str, str]]:
        """(class, label, detail) as seen, without repeats, most urgent first."""
        seen: dict[tuple[str, str], None] = {}
        for o in sorted(self.observed, key=lambda o: o.rank):
            seen.setdefault((o.classification, o.detail), None)
        return [(c, Classification(c).label, d) for c, d in seen]

    @property
    def annotations(self) -> list[Annotation]:
        found: dict[int, Annotation] = {}
        for o in self.observed:
            if o.annotation is not None:
                found.setdefault(o.annotation.pk, o.annotation)
        return list(found.values())

    @property
    def needs_answer(self) -> bool:
        """Somebody should be asked: nothing but a person can explain it."""
        return any(o.classification in UNEXPLAINED for o in self.observed)

    @property
    def hints(self) -> list[str]:
        found: dict[str, None] = {}
        for o in self.observed:
            for hint in o.hints or []:
                found.setdefault(hint, None)
        return list(found)

    @property
    def ports(self) -> str:
        labels: dict[str, None] = {}
        for o in self.observed:
            for label in (o.ports or "").split(", "):
                if label:
                    labels.setdefault(label, None)
        return ", ".join(list(labels)[:6])

    @property
    def exposure(self) -> str:
        return exposure_label(self.port_count)

    @property
    def top_references(self) -> list[IpReference]:
        return self.references[:TOP_REFERENCES]

    @property
    def more_references(self) -> int:
        return max(0, self.reference_count - len(self.references))


SORTS = {
    "exposure": ("rank", "-port_count", "-reference_count", "cidr"),
    "references": ("-reference_count", "-port_count", "cidr"),
    "cidr": ("cidr",),
    "changed": ("-changed", "cidr"),
}


def _queue_context(request: HttpRequest, params: QueryDict) -> dict[str, Any]:
    form = QueueFilterForm(params)
    form.is_valid()
    account = form.chosen_account
    base = ObservedCidr.objects.all()
    matching = form.filter(base)
    # One row per CIDR across accounts, aggregated in SQL so the pager counts CIDRs.
    grouped = (
        matching.values("cidr")
        .annotate(
            rank=Min("rank"),
            port_count=Max("port_count"),
            reference_count=Sum("reference_count"),
            changed=Coalesce(Max("annotation__updated_at"), Max("first_seen_at")),
        )
        .order_by(*SORTS[form.chosen_sort])
    )
    page = Paginator(grouped, settings.CATCHUP_PAGE_SIZE).get_page(params.get("page"))
    rows = {
        g["cidr"]: QueueRow(g["cidr"], g["rank"], g["port_count"], g["reference_count"])
        for g in page.object_list
    }
    if rows:
        observed = matching.filter(cidr__in=list(rows)).select_related(
            "account", "annotation", "annotation__account"
        )
        pairs = set()
        for row in observed.order_by("account__name"):
            rows[row.cidr].observed.append(row)
            pairs.add((row.account_id, row.cidr))
        references = IpReference.objects.filter(cidr__in=list(rows))
        if account is not None:
            references = references.filter(account=account)
        # The first few places of each CIDR only (0.0.0.0/0 can be in thousands of rules):
        # ingress first, security-group rules first among them: what lets the address in
        # is what people ask about.
        first = references.annotate(
            n=Window(
                RowNumber(),
                partition_by=[F("cidr")],
                order_by=[
                    F("direction").desc(),
                    Case(When(kind=IpReference.Kind.SG_RULE, then=0), default=1).asc(),
                    F("resource_name").asc(),
                    F("resource_id_text").asc(),
                    F("pk").asc(),
                ],
            )
        ).filter(n__lte=TOP_REFERENCES)
        for ref in first.select_related("account").order_by("cidr", "n"):
            if (ref.account_id, ref.cidr) in pairs:
                _label(ref)
                rows[ref.cidr].references.append(ref)
    # The class chips: CIDRs per class under the rest of the filter, in one query.
    counts = dict(
        form.filter(base, with_class=False)
        .values_list("classification")
        .annotate(n=Count("cidr", distinct=True))
        .order_by()
    )
    chips = [(c.value, c.label, counts.get(c.value, 0)) for c in Classification]
    chips.append((ALL, "Every class", None))
    chip_params = params.copy()
    chip_params.pop("page", None)
    chip_links = []
    for value, label, n in chips:
        chip_params["classification"] = value
        chip_links.append(
            {
                "value": value,
                "label": label,
                "count": n,
                "url": "?" + chip_params.urlencode(),
                "active": form.chosen_class == value,
            }
        )
    page.object_list = [rows[g["cidr"]] for g in page.object_list]
    for row in page.object_list:
        for annotation in row.annotations:
            annotation.note = applied_note(annotation, row.cidr, account)
    return {
        "form": form,
        "page": page,
        "account": account,
        "chips": chip_links,
        "querystring": params.urlencode(),
        "query_path": reverse("ips:queue") + ("?" + params.urlencode() if params else ""),
        "pending_link_answers": LinkAnswer.objects.filter(status=LinkAnswer.Status.PENDING).count(),
    }


@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    range_form = RangeForm(request.GET) if "range" in request.GET else RangeForm()
    if range_form.is_bound and range_form.is_valid():
        return redirect("ips:cidr", cidr=range_form.cleaned_data["range"])
    params = request.GET.copy()
    params.pop("range", None)
    context = _queue_context(request, params)
    context["range_form"] = range_form
    context["bulk_form"] = BulkForm(initial={"account": context["account"]})
    template = "ips/queue.html"
    if _fragment(request) and not range_form.is_bound:
        template += "#results"
    return render(request, template, context, status=400 if range_form.errors else 200)


@require_POST
@require_role(Role.EDITOR)
def bulk(request: HttpRequest) -> HttpResponse:
    """Mark asked, decide, or write the ask message, for the checked CIDRs."""
    back = _safe_next(request, reverse("ips:queue"))
    form = BulkForm(request.POST)
    notice = ""
    if form.is_valid():
        data = form.cleaned_data
        targets = [actions.Target(cidr, form.scope) for cidr in data["cidrs"]]
        if data["action"] == "message":
            query = [("cidr", c) for c in data["cidrs"]]
            if data.get("account"):
                query.append(("account", data["account"].name))
            url = reverse("ips:ask-message") + "?" + urlencode(query)
            return HttpResponseClientRedirect(url) if _fragment(request) else redirect(url)
        if data["action"] == "link":
            # Someone without an account: the link form, for the checked CIDRs only.
            url = reverse("ips:link-create") + "?" + urlencode([("cidr", c) for c in data["cidrs"]])
            return HttpResponseClientRedirect(url) if _fragment(request) else redirect(url)
        try:
            if data["action"] == "ask":
                changed = actions.ask(targets, data["asked_whom"], actor=request.user)
                verb = f"marked as asked ({data['asked_whom'].strip()})"
            else:
                changed = actions.decide(
                    targets, data["decision"], data.get("review_on"), actor=request.user
                )
                verb = f"decided: {Annotation.Decision(data['decision']).label.lower()}"
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            scope = f" for {form.scope.name} only" if form.scope else ""
            unchanged = len(targets) - len(changed)
            notice = f"{len(changed)} CIDR{'s' if len(changed) != 1 else ''} {verb}{scope}." + (
                f" {unchanged} already were." if unchanged else ""
            )
            if not _fragment(request):
                messages.success(request, notice)
                return redirect(back)
    # Errors, or an htmx success: the queue as it was filtered, with the outcome.
    params = QueryDict(urlsplit(back).query, mutable=True)
    # The pager and chips build their links from the query string: the queue's, not the
    # bulk URL's (empty), so "Next" keeps the filters after an htmx bulk action.
    request.GET = params
    context = _queue_context(request, params)
    context["range_form"] = RangeForm()
    context["notice"] = notice
    context["bulk_form"] = BulkForm(initial={"account": context["account"]}) if notice else form
    context["checked"] = set(request.POST.getlist("cidrs")) if not notice else set()
    if _fragment(request):
        return render(request, "ips/queue.html#results", context)
    return render(request, "ips/queue.html", context, status=400)


# --- One CIDR --------------------------------------------------------------------------


def _supernets(cidr: str) -> list[str]:
    network = ipaddress.ip_network(cidr)
    return [str(network.supernet(new_prefix=p)) for p in range(network.prefixlen + 1)]


def _shown(value: Any, field_name: str = "") -> str:
    """A history value as people read it: dates and times local and to the minute."""
    if value in (None, ""):
        return "—"
    if isinstance(value, str) and len(value) > 10 and value[4] == "-" and "T" in value:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return moment.strftime("%Y-%m-%d %H:%M")
    if field_name == "decision" and value in Annotation.Decision.values:
        return str(Annotation.Decision(value).label)
    return str(value)


def _detail_context(cidr: str, form: AnnotationForm | None, scope: str) -> dict[str, Any]:
    network = ipaddress.ip_network(cidr)
    observed = list(
        ObservedCidr.objects.filter(cidr=cidr)
        .select_related("account", "annotation", "annotation__account")
        .order_by("account__name")
    )
    accounts = [o.account for o in observed]
    used = IpReference.objects.filter(cidr=cidr)
    references = [
        _label(ref)
        for ref in used.select_related("account").order_by(
            "account__name", "-direction", "resource_type", "resource_name", "pk"
        )[:REFERENCES_SHOWN]
    ]
    reference_total = len(references)
    if reference_total == REFERENCES_SHOWN:
        reference_total = used.count()
    covering = list(
        Annotation.objects.filter(cidr__in=_supernets(cidr)).select_related("account", "updated_by")
    )
    covering.sort(key=lambda a: (-ipaddress.ip_network(a.cidr).prefixlen, a.account_id is None))
    for annotation in covering:
        annotation.applies_in = []
    winners: dict[str, Annotation | None] = {}
    by_pk = {a.pk: a for a in covering}
    for o in observed:
        # What the classifier applied (ips/classify.py), not a second reading of its rule.
        winner = by_pk.get(o.annotation_id)
        winners[o.account.name] = winner
        if winner is not None:
            winner.applies_in.append(o.account.name)
        o.note = applied_note(o.annotation, cidr, o.account)
    for annotation in covering:
        if observed and not annotation.applies_in:
            annotation.why_not = (
                "a more specific answer applies"
                if annotation.explains
                else "an answer applies instead"
            )
            if annotation.account_id and annotation.account.name not in winners:
                annotation.why_not = f"{annotation.account.name} does not use this address"
    own = {(a.account.name if a.account_id else ""): a for a in covering if a.cidr == cidr}
    if form is None:
        current = own.get(scope)
        initial = {"scope": scope, "version": AnnotationForm.version_of(scope, current)}
        if current is not None:
            initial.update(
                {
                    f: getattr(current, f)
                    for f in (
                        "asked_whom",
                        "owner",
                        "purpose",
                        "answered_by",
                        "evidence",
                        "decision",
                        "review_on",
                    )
                }
            )
        form = AnnotationForm(initial=initial, accounts=accounts)
    events = list(
        AnnotationEvent.objects.filter(annotation__cidr=cidr)
        .select_related("annotation", "annotation__account")
        .order_by("-at", "-pk")
    )
    for event in events:
        event.rows = [
            (name.replace("_", " "), _shown(before, name), _shown(after, name))
            for name, before, after in event.changes
            if before or after
        ]
    inside: list[ObservedCidr] = []
    # Everything is inside /0: the queue lists that, not this page.
    if 0 < network.prefixlen < network.max_prefixlen:
        inside = [
            o
            for o in ObservedCidr.objects.filter(
                version=network.version, prefixlen__gt=network.prefixlen
            ).select_related("account")
            if ipaddress.ip_network(o.cidr).subnet_of(network)  # type: ignore[arg-type]
        ]
    return {
        "cidr": cidr,
        "network": network,
        "observed": observed,
        "references": references,
        "reference_total": reference_total,
        "covering": covering,
        "own": own,
        "form": form,
        "events": events,
        "inside": inside[:200],
        "inside_count": len(inside),
        "scope": scope,
    }


@require_GET
def cidr_detail(request: HttpRequest, cidr: str) -> HttpResponse:
    scope = request.GET.get("scope", "")
    return render(request, "ips/cidr_detail.html", _detail_context(cidr, None, scope))


@require_http_methods(["POST"])
def annotate(request: HttpRequest, cidr: str) -> HttpResponse:
    """Save the answer form of one CIDR for the chosen scope."""
    if not has_role(request.user, Role.EDITOR):
        raise PermissionDenied("Annotating an address needs the Editor role.")
    accounts = list(Account.objects.filter(observed_cidrs__cidr=cidr).order_by("name").distinct())
    form = AnnotationForm(request.POST, accounts=accounts)
    if form.is_valid():
        account = form.chosen_account
        scope = form.cleaned_data.get("scope") or ""
        current = Annotation.objects.filter(cidr=cidr, account=account).first()
        shown = form.cleaned_data.get("version") or ""  # absent: a post not from the page
        if shown and shown.partition("|")[0] == scope and shown != form.version_of(scope, current):
            messages.error(
                request,
                "Someone changed this answer after you opened the page; nothing was saved. "
                "Here is what is recorded now, with the history below: make your change again.",
            )
            context = _detail_context(cidr, None, scope)
            return render(request, "ips/cidr_detail.html", context, status=409)
        values = form.values()
        try:
            actions.validate(values)
            changed = actions.apply(
                [actions.Target(cidr, account)],
                values,
                actor=request.user,
                source=AnnotationEvent.Source.FORM,
            )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            scope = account.name if account else "every account"
            messages.success(
                request,
                f"Saved for {cidr} ({scope})." if changed else "Nothing changed.",
            )
            url = reverse("ips:cidr", args=[cidr])
            if account:
                url += "?" + urlencode({"scope": account.name})
            return HttpResponseClientRedirect(url) if _fragment(request) else redirect(url)
    context = _detail_context(cidr, form, request.POST.get("scope", ""))
    return render(request, "ips/cidr_detail.html", context, status=400)


# --- The ask helper --------------------------------------------------------------------

# Inside a table cell (never at the start of a line) these are the characters that can
# open a link, image, code span, emphasis, HTML tag, entity or cell.
MARKDOWN_SPECIAL = set("\\`*_{}[]()<>|~&")


def md_escape(text: Any) -> str:
    """AWS-provided or user text as inert Markdown: one line, every character that could
    open a link, code span, emphasis, HTML or table cell escaped."""
    flat = " ".join(str(text or "").split())
    return "".join(f"\\{c}" if c in MARKDOWN_SPECIAL else c for c in flat)


def _plain(text: Any) -> str:
    return " ".join(str(text or "").split())


@dataclass
class AskItem:
    cidr: str
    references: list[IpReference]


def _place(ref: IpReference) -> dict[str, str]:
    name = ref.resource_name if ref.resource_name != ref.resource_id_text else ""
    return {
        "account": ref.account.name,
        "resource": f"{_short_type(ref.resource_type)} "
        + (f"{name} ({ref.resource_id_text})" if name else ref.resource_id_text),
        "direction": ref.direction or ref.get_kind_display().lower(),
        "ports": ref.ports_label,
        "description": ref.description,
    }


def ask_texts(items: list[AskItem]) -> tuple[str, str]:
    """The message in plain text and in Markdown."""
    intro = (
        "Hi! While catching up on our AWS estate I found addresses our rules allow that "
        "nobody has explained yet. Do you know them?"
    )
    plain = [intro, ""]
    md = [intro, ""]
    for n, item in enumerate(items, 1):
        plain.append(f"{n}. {item.cidr}")
        md.append(f"### {n}. `{item.cidr}`")  # canonical: digits, dots, colons
        md.append("")
        if item.references:
            md.append("| Account | Resource | Direction | Ports | Rule description |")
            md.append("|---|---|---|---|---|")
        else:
            plain.append("   - not used by any synced account")
            md.append("Not used by any synced account.")
        for ref in item.references:
            place = _place(ref)
            description = _plain(place["description"])
            plain.append(
                f"   - {place['account']}: {_plain(place['resource'])}, {place['direction']}"
                f" {place['ports']}" + (f" — “{description}”" if description else "")
            )
            md.append(
                "| "
                + " | ".join(
                    md_escape(place[k]) or "—"
                    for k in ("account", "resource", "direction", "ports", "description")
                )
                + " |"
            )
        plain.append(f"   {QUESTION}")
        plain.append("")
        md.append("")
        md.append(f"**{QUESTION}**")
        md.append("")
    return "\n".join(plain).rstrip() + "\n", "\n".join(md).rstrip() + "\n"


@require_GET
def ask_message(request: HttpRequest) -> HttpResponse:
    cidrs, errors = actions.canonical_list(request.GET.getlist("cidr"))
    account = Account.objects.filter(name=request.GET.get("account") or "").first()
    references = IpReference.objects.filter(cidr__in=cidrs).select_related("account")
    if account is not None:
        references = references.filter(account=account)
    by_cidr: dict[str, list[IpReference]] = defaultdict(list)
    for ref in references.order_by("account__name", "-direction", "resource_name", "pk"):
        by_cidr[ref.cidr].append(ref)
    items = [AskItem(cidr, by_cidr.get(cidr, [])) for cidr in cidrs]
    plain, markdown = ask_texts(items) if items else ("", "")
    bulk_form = BulkForm(initial={"action": "ask", "account": account})
    return render(
        request,
        "ips/ask_message.html",
        {
            "items": items,
            "errors": errors,
            "plain": plain,
            "markdown": markdown,
            "account": account,
            "bulk_form": bulk_form,
            "back": reverse("ips:queue")
            + (f"?{urlencode({'account': account.name})}" if account else ""),
        },
        status=400 if errors and not items else 200,
    )
