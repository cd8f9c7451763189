"""Answers from outside the forms: CSV import, and question links for people without an account.

- /ips/import/: upload or paste a CSV → every row validated → errors (nothing imported) or
  a preview → Confirm applies all rows in one transaction (ips.imports).
- /ips/links/: question links (create, copy URL, revoke) and the review of their answers.
- /ask/<token>/: the one public page (outside the login wall, catchup/middleware.py): the
  outsider sees only the link's CIDRs and answers them; nothing counts until reviewed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catchup.roles import Role, has_role, require_role

from . import imports, links
from .models import Annotation, IpReference, LinkAnswer, QuestionLink

IMPORT_SALT = "ips.csv-import"
IMPORT_MAX_AGE = 3600  # a preview older than an hour is uploaded again
REFERENCES_SHOWN = 20  # per CIDR on the public page


# --- CSV import -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_role(Role.EDITOR)
def import_answers(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"columns": imports.COLUMNS, "max_kb": imports.MAX_BYTES // 1000}
    if request.method == "GET":
        return render(request, "ips/import.html", context)
    if "payload" in request.POST:
        return _confirm(request, context)
    upload = request.FILES.get("file")
    text = request.POST.get("text", "")
    if upload is not None:
        if upload.size > imports.MAX_BYTES:
            return _errors(request, context, f"The file is larger than {context['max_kb']} kB.")
        try:
            text = imports.decode(upload.read())
        except ValueError as exc:
            return _errors(request, context, str(exc))
    if not text.strip():
        return _errors(request, context, "Choose a CSV file or paste its text.")
    parsed = imports.parse(text)
    if not parsed.ok:
        return render(request, "ips/import.html", {**context, "errors": parsed.errors}, status=400)
    plan = imports.plan(parsed.rows)
    payload = signing.dumps(
        {"csv": text, "user": request.user.pk, "plan": imports.fingerprint(plan)},
        salt=IMPORT_SALT,
        compress=True,
    )
    return render(request, "ips/import.html", {**context, **_preview(plan), "payload": payload})


def _preview(plan: list[imports.Change]) -> dict[str, Any]:
    return {
        "plan": plan,
        "counts": {
            kind: sum(c.kind == kind for c in plan) for kind in ("new", "changed", "unchanged")
        },
    }


def _errors(request: HttpRequest, context: dict[str, Any], reason: str) -> HttpResponse:
    errors = [imports.RowError(None, "", reason)]
    return render(request, "ips/import.html", {**context, "errors": errors}, status=400)


def _confirm(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    try:
        payload = signing.loads(request.POST["payload"], salt=IMPORT_SALT, max_age=IMPORT_MAX_AGE)
    except signing.BadSignature:
        return _errors(request, context, "This preview has expired or was altered; upload again.")
    if payload.get("user") != request.user.pk:
        return _errors(request, context, "This preview was made by someone else; upload again.")
    # Validated again: an account may have been deleted since the preview.
    parsed = imports.parse(payload["csv"])
    if not parsed.ok:
        return render(request, "ips/import.html", {**context, "errors": parsed.errors}, status=400)
    plan = imports.plan(parsed.rows)
    if imports.fingerprint(plan) != payload["plan"]:
        messages.warning(
            request, "Annotations changed since this preview: check the changes again."
        )
        return render(
            request,
            "ips/import.html",
            {**context, **_preview(plan), "payload": request.POST["payload"]},
            status=409,
        )
    try:
        changed = imports.commit(parsed.rows, actor=request.user)
    except ValidationError as exc:  # a concurrent edit made a row invalid: nothing applied
        return _errors(request, context, " ".join(exc.messages))
    messages.success(
        request,
        f"Imported {len(parsed.rows)} row{'s' if len(parsed.rows) != 1 else ''}: "
        f"{len(changed)} annotation{'s' if len(changed) != 1 else ''} changed.",
    )
    return redirect("ips:import")


def _csv_response(body: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def import_template(request: HttpRequest) -> HttpResponse:
    return _csv_response(imports.template_csv(), "catchup-ip-answers-template.csv")


@require_GET
def annotations_csv(request: HttpRequest) -> HttpResponse:
    return _csv_response(imports.annotations_csv(), "catchup-ip-annotations.csv")


# --- Question links: create, list, revoke, review -------------------------------------


@require_http_methods(["GET", "POST"])
@require_role(Role.EDITOR)
def link_create(request: HttpRequest) -> HttpResponse:
    """The queue's bulk form posts its checked `cidr` values here: show the form for them;
    this page's own form (with a recipient) creates the link."""
    data = request.POST if request.method == "POST" else request.GET
    # `cidr` or `cidrs`, repeated (checkboxes) or one per line (this page's textarea).
    cidrs = [c for value in [*data.getlist("cidr"), *data.getlist("cidrs")] for c in value.split()]
    form = {
        "cidrs": "\n".join(dict.fromkeys(c.strip() for c in cidrs if c.strip())),
        "recipient": data.get("recipient", ""),
        "contact": data.get("contact", ""),
        "message": data.get("message", ""),
        "expiry_days": data.get("expiry_days", links.DEFAULT_EXPIRY_DAYS),
    }
    context = {"form": form, "errors": {}, "expiry": links.EXPIRY_DAYS, "limits": links.LIMITS}
    if request.method == "GET" or "recipient" not in request.POST:
        return render(request, "ips/link_create.html", context)
    try:
        days = int(form["expiry_days"])
    except (TypeError, ValueError):
        days = 0
    try:
        link = links.create(
            form["cidrs"].split(),
            recipient=form["recipient"],
            contact=form["contact"],
            message=form["message"],
            expiry_days=days,
            by=request.user,
        )
    except ValidationError as exc:
        context["errors"] = exc.message_dict
        return render(request, "ips/link_create.html", context, status=400)
    messages.success(request, f"Question link for {link.recipient} created. Copy it below.")
    return redirect(f"{reverse('ips:links')}?created={link.pk}#link-{link.pk}")


@require_GET
def link_list(request: HttpRequest) -> HttpResponse:
    can_edit = has_role(request.user, Role.EDITOR)
    queryset = (
        QuestionLink.objects.select_related("created_by", "revoked_by")
        .annotate(
            answer_count=Count("answers"),
            pending_count=Count("answers", filter=Q(answers__status=LinkAnswer.Status.PENDING)),
        )
        .order_by("-created_at", "-pk")
    )
    page = Paginator(queryset, settings.CATCHUP_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {"link": link, "url": _public_url(request, link) if can_edit else ""}
        for link in page.object_list
    ]
    pending = list(
        LinkAnswer.objects.filter(status=LinkAnswer.Status.PENDING)
        .select_related("link")
        .order_by("submitted_at", "pk")[:200]
    )
    current = {
        a.cidr: a
        for a in Annotation.objects.filter(cidr__in={p.cidr for p in pending}, account=None)
    }
    for answer in pending:
        answer.current = current.get(answer.cidr)
    # Right after creation: the URL, prominently, to copy and send.
    created = request.GET.get("created", "")
    created_link = None
    if can_edit and created.isdigit():
        created_link = QuestionLink.objects.filter(pk=int(created), revoked_at=None).first()
    return render(
        request,
        "ips/links.html",
        {
            "page": page,
            "rows": rows,
            "pending": pending,
            "created": created_link.pk if created_link else None,
            "created_link": created_link,
            "created_url": _public_url(request, created_link) if created_link else "",
        },
    )


def _public_url(request: HttpRequest, link: QuestionLink) -> str:
    return request.build_absolute_uri(reverse("question-link", args=[links.token_for(link)]))


@require_POST
@require_role(Role.EDITOR)
def link_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(QuestionLink, pk=pk)
    links.revoke(link, by=request.user)
    messages.success(
        request,
        f"The link for {link.recipient} is revoked: its URL opens nothing now, and its "
        "answers still awaiting review are rejected.",
    )
    return redirect("ips:links")


@require_POST
@require_role(Role.EDITOR)
def link_answer_review(request: HttpRequest, pk: int) -> HttpResponse:
    answer = get_object_or_404(LinkAnswer.objects.select_related("link"), pk=pk)
    decision = request.POST.get("decision")
    try:
        if decision == "accept":
            links.accept(answer, by=request.user)
            messages.success(
                request,
                f"Accepted: {answer.cidr} is owned by {answer.owner}, "
                f"as answered by {answer.link.recipient}.",
            )
        elif decision == "reject":
            links.reject(answer, by=request.user)
            messages.success(request, f"Rejected the answer for {answer.cidr}.")
        else:
            messages.error(request, "Choose accept or reject.")
    except links.AlreadyReviewed:
        messages.warning(request, "This answer has already been reviewed.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("ips:links")


# --- The public page ------------------------------------------------------------------


def _public(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    response = render(request, "ips/link_answer_public.html", context, status=status)
    # The URL holds the token: no Referer to other sites, no search engine, no cache …
    # ("same-origin", not "no-referrer": with no-referrer browsers post the form with
    # "Origin: null", which Django's CSRF check rightly refuses.)
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    # … and no "Not Found: /ask/<token>/" line in the logs (django.request logs every 4xx
    # with its path unless the response says it was logged already).
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def link_answer_public(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = links.resolve(token)
    except links.LinkError as exc:
        status = 404 if exc.reason == "invalid" else 410
        return _public(request, {"problem": exc.reason, "link": exc.link}, status=status)
    form_errors: dict[str, dict[str, list[str]]] = {}
    posted: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        cidr = request.POST.get("cidr", "")
        if cidr not in link.cidrs:
            return _public(request, {"problem": "foreign-cidr", "link": link}, status=400)
        posted = {k: request.POST.get(k, "") for k in ("cidr", "owner", "purpose", "evidence")}
        try:
            links.submit(
                link,
                cidr,
                owner=posted["owner"],
                purpose=posted["purpose"],
                evidence=posted["evidence"],
            )
        except links.TooManyAnswers:
            return _public(request, {"problem": "too-many", "link": link}, status=429)
        except ValidationError as exc:
            form_errors[cidr] = exc.message_dict
            status = 400
        else:
            return redirect(f"{request.path}?sent=1")
    return _public(
        request,
        {
            "link": link,
            "items": _items(link, form_errors, posted),
            "sent": request.GET.get("sent") == "1",
            "limits": links.ANSWER_LIMITS,
        },
        status=status,
    )


def _items(
    link: QuestionLink, form_errors: dict[str, dict[str, list[str]]], posted: dict[str, str]
) -> list[dict[str, Any]]:
    """Each CIDR of the link with where it is used: three queries, whatever the estate."""
    refs = (
        IpReference.objects.filter(cidr__in=link.cidrs)
        .annotate(
            n=Window(
                RowNumber(),
                partition_by=[F("cidr")],
                order_by=[F("resource_type").asc(), F("resource_id_text").asc(), F("pk").asc()],
            )
        )
        .filter(n__lte=REFERENCES_SHOWN)
        .order_by("cidr", "n")
    )
    shown: dict[str, list[IpReference]] = {}
    for ref in refs:
        shown.setdefault(ref.cidr, []).append(ref)
    totals = dict(
        IpReference.objects.filter(cidr__in=link.cidrs)
        .values("cidr")
        .annotate(n=Count("pk"))
        .values_list("cidr", "n")
    )
    answered = set(link.answers.values_list("cidr", flat=True))
    return [
        {
            "cidr": cidr,
            "refs": shown.get(cidr, []),
            "more": totals.get(cidr, 0) - len(shown.get(cidr, [])),
            "answered": cidr in answered,
            "errors": form_errors.get(cidr, {}),
            "values": posted if posted.get("cidr") == cidr else {},
        }
        for cidr in link.cidrs
    ]
