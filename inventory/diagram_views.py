"""Diagram pages: the topology of an account or one VPC, its exports, and the side panel.

Thin views (STYLE.md): read the input, build the diagram from one query's rows
(inventory.diagram), render it (inventory.diagram_render). The side panel is an htmx
fragment of the panel template; without JavaScript the same URL is a page of its own.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from .diagram import Node, build_diagram
from .diagram_render import render_drawio, render_svg, render_svg_file
from .models import Account, Resource

# A VPC id as AWS writes it; anything else in ?vpc= is ignored, never echoed into a query.
VPC_ID = re.compile(r"^vpc-[0-9a-f]{1,32}$")
PANEL_MAX = 200  # a collapsed node lists at most this many members


def _vpc_param(request: HttpRequest) -> str | None:
    vpc = request.GET.get("vpc", "")
    return vpc if VPC_ID.match(vpc) else None


def _panel_url(account: Account, node: Node) -> str | None:
    if not node.pks:
        return None
    query = urlencode([("pk", pk) for pk in node.pks[:PANEL_MAX]])
    return f"{reverse('inventory:diagram-panel', args=[account.name])}?{query}"


def _href(account: Account, node: Node) -> str | None:
    """A single resource links to its page; a collapsed group to the panel's own page."""
    if node.pk is not None:
        return reverse("inventory:resource", args=[node.pk])
    return _panel_url(account, node)


@require_GET
def account_diagram(request: HttpRequest, name: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    vpc = _vpc_param(request)
    diagram = build_diagram(account, vpc)
    svg = render_svg(
        diagram,
        href_for=lambda n: _href(account, n),
        panel_for=lambda n: _panel_url(account, n),
    )
    query = f"?vpc={vpc}" if vpc else ""
    context = {
        "account": account,
        "diagram": diagram,
        "vpc": vpc,
        # ElementTree escaped every text and attribute while building it.
        "svg": mark_safe(svg),  # noqa: S308
        "node_count": len(diagram.nodes),
        "resource_count": sum(len(n.pks) for n in diagram.nodes),
        "export_svg": reverse("inventory:diagram-export", args=[account.name, "svg"]) + query,
        "export_drawio": reverse("inventory:diagram-export", args=[account.name, "drawio"]) + query,
    }
    return render(request, "inventory/diagram.html", context)


@require_GET
def diagram_export(request: HttpRequest, name: str, fmt: str) -> HttpResponse:
    account = get_object_or_404(Account, name=name)
    vpc = _vpc_param(request)
    diagram = build_diagram(account, vpc)
    stem = f"{account.name}-{vpc}" if vpc else account.name  # slug and vpc id: safe in a header
    if fmt == "svg":
        base = request.build_absolute_uri("/")[:-1]
        body = render_svg_file(
            diagram,
            href_for=lambda n: base + reverse("inventory:resource", args=[n.pk]) if n.pk else None,
        )
        response = HttpResponse(body, content_type="image/svg+xml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{stem}-topology.svg"'
    elif fmt == "drawio":
        response = HttpResponse(
            render_drawio(diagram), content_type="application/xml; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{stem}-topology.drawio"'
    else:
        raise Http404("unknown format")
    return response


def _exposure(resource: Resource, groups: dict[str, Resource]) -> list[dict[str, Any]]:
    """Who may reach this resource: the ingress rules of its security groups."""
    rows = []
    for rel in resource.relations or []:
        if rel.get("kind") != "uses-security-group" or rel.get("id") not in groups:
            continue
        group = groups[rel["id"]]
        for rule in (group.config or {}).get("Rules", []):
            if rule.get("direction") == "ingress":
                source = rule.get("cidr") or rule.get("group") or rule.get("prefix_list") or ""
                rows.append(
                    {
                        "group": group,
                        "rule": rule,
                        "source": source,
                        "note": rule.get("description") or "",
                    }
                )
    return rows


@require_GET
def diagram_panel(request: HttpRequest, name: str) -> HttpResponse:
    """Detail of the clicked node: one resource, or the members of a collapsed group."""
    account = get_object_or_404(Account, name=name)
    pks = [int(p) for p in request.GET.getlist("pk") if p.isdigit()][:PANEL_MAX]
    # Scoped to the account: a pk from another account is simply not found.
    resources = list(
        Resource.objects.for_account(account).filter(pk__in=pks).order_by("name", "resource_id")
    )
    if not resources:
        raise Http404("no such resource in this account")
    context: dict[str, Any] = {"account": account, "resources": resources}
    if len(resources) == 1:
        resource = resources[0]
        group_ids = [
            r.get("id") for r in resource.relations or [] if r.get("kind") == "uses-security-group"
        ]
        groups = {
            g.resource_id: g
            for g in Resource.objects.for_account(account)
            .current()
            .filter(type="AWS::EC2::SecurityGroup", resource_id__in=group_ids)
        }
        context.update(
            resource=resource,
            tags=sorted((resource.tags or {}).items()),
            exposure=_exposure(resource, groups),
            relations=resource.relations or [],
        )
    template = "inventory/diagram_panel.html"
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        template += "#panel"
    return render(request, template, context)
