"""The diagram as SVG (inline in the page, or a standalone file) and as a draw.io file.

Both are built with ElementTree, which escapes every text and attribute value: labels are
AWS data (names, tags, descriptions) and hostile by assumption. The inline SVG carries no
style attribute and no script (the CSP forbids both): classes, styled by static/diagram.css.
The draw.io file never sets `html=1`, so diagrams.net shows labels as plain text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from .diagram import NODE_H, Diagram, Edge, Node

SVG_NS = "http://www.w3.org/2000/svg"
LABEL_MAX = 22
SUBLABEL_MAX = 29
EDGE_LABEL_H = 13
CHAR_W = 5.6  # average width of a character of the 10px edge-label font

UrlFor = Callable[[Node], str | None]


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt(value: float) -> str:
    """Coordinates as short, stable text (the same layout prints the same SVG)."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _rect(node_or_box: object) -> tuple[float, float, float, float]:
    return node_or_box.x, node_or_box.y, node_or_box.w, node_or_box.h  # type: ignore[attr-defined]


def _path(*points: tuple[float, float]) -> str:
    """A cubic Bézier path from its four points."""
    (a, b), (c, d), (e, f), (g, h) = points
    return f"M{fmt(a)},{fmt(b)} C{fmt(c)},{fmt(d)} {fmt(e)},{fmt(f)} {fmt(g)},{fmt(h)}"


def _bezier(p0: float, p1: float, p2: float, p3: float, t: float) -> float:
    u = 1 - t
    return u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3


def edge_geometry(
    edge: Edge, rects: dict[str, tuple[float, float, float, float]]
) -> tuple[str, float, float] | None:
    """The path of an edge and where its label goes (in the gap before the target)."""
    if edge.source not in rects or edge.target not in rects:
        return None
    sx, sy, sw, sh = rects[edge.source]
    tx, ty, tw, th = rects[edge.target]
    if edge.source == edge.target:
        # Members of one node reaching each other: a loop on its right side.
        x, y = sx + sw, sy + sh / 2
        d = _path((x, y - 8), (x + 34, y - 26), (x + 34, y + 26), (x, y + 8))
        return d, x + 30, y
    if edge.source.startswith("lane:"):
        # A lane's routes leave from its left border, at the height of the target.
        x0, y0 = sx, min(max(ty + th / 2, sy + 10), sy + sh - 10)
    else:
        x0, y0 = (sx + sw, sy + sh / 2) if tx > sx else (sx, sy + sh / 2)
    if tx > x0:
        x3, y3 = tx, ty + th / 2
    elif tx + tw < x0:
        x3, y3 = tx + tw, ty + th / 2
    else:  # same column: bulge out to the right
        x0, x3, y3 = sx + sw, tx + tw, ty + th / 2
        bulge = max(x0, x3) + 40
        d = _path((x0, y0), (bulge, y0), (bulge, y3), (x3, y3))
        return d, bulge - 10, (y0 + y3) / 2
    dx = abs(x3 - x0) / 2
    sign = 1 if x3 > x0 else -1
    c1, c2 = x0 + sign * dx, x3 - sign * dx
    d = f"M{fmt(x0)},{fmt(y0)} C{fmt(c1)},{fmt(y0)} {fmt(c2)},{fmt(y3)} {fmt(x3)},{fmt(y3)}"
    # The label sits 40 units before the target end, where the gap between columns is.
    want = x3 - sign * 46
    lo, hi = 0.0, 1.0
    for _ in range(24):
        mid = (lo + hi) / 2
        if (_bezier(x0, c1, c2, x3, mid) - want) * sign < 0:
            lo = mid
        else:
            hi = mid
    return d, want, _bezier(y0, y0, y3, y3, lo)


class _LabelSpace:
    """Edge-label boxes already placed, bucketed on a grid so each check looks nearby only."""

    CELL = 64

    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}

    def _keys(self, box: tuple[float, float, float, float]) -> list[tuple[int, int]]:
        x, y, w, h = box
        c = self.CELL
        return [
            (i, j)
            for i in range(int(x // c), int((x + w) // c) + 1)
            for j in range(int(y // c), int((y + h) // c) + 1)
        ]

    def free(self, box: tuple[float, float, float, float]) -> bool:
        x, y, w, h = box
        for key in self._keys(box):
            for o in self.cells.get(key, ()):
                if x < o[0] + o[2] and o[0] < x + w and y < o[1] + o[3] and o[1] < y + h:
                    return False
        return True

    def take(self, box: tuple[float, float, float, float]) -> None:
        for key in self._keys(box):
            self.cells.setdefault(key, []).append(box)


def _place_label(x: float, y: float, width: float, taken: _LabelSpace) -> tuple[float, float]:
    """Move a label down until it overlaps no label already placed (greedy, deterministic)."""
    for _ in range(12):
        box = (x - width / 2, y - EDGE_LABEL_H / 2, width, EDGE_LABEL_H)
        if taken.free(box):
            break
        y += EDGE_LABEL_H + 1
    taken.take((x - width / 2, y - EDGE_LABEL_H / 2, width, EDGE_LABEL_H))
    return x, y


def build_svg(
    diagram: Diagram,
    *,
    standalone: bool,
    href_for: UrlFor | None = None,
    panel_for: UrlFor | None = None,
) -> ET.Element:
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": f"0 0 {fmt(diagram.width)} {fmt(diagram.height)}",
            "width": fmt(diagram.width),
            "height": fmt(diagram.height),
            "class": "topology",
            "role": "img",
            "aria-label": f"Topology of {diagram.title}",
        },
    )
    if standalone:
        style = ET.SubElement(root, "style")
        style.text = _stylesheet()
    title = ET.SubElement(root, "title")
    title.text = f"Catchup topology: {diagram.title}"
    defs = ET.SubElement(root, "defs")
    for name in ("arrow", "arrow-world", "arrow-fluentd", "arrow-route"):
        marker = ET.SubElement(
            defs,
            "marker",
            {
                "id": name,
                "class": f"marker {name}",
                "viewBox": "0 0 10 10",
                "refX": "9",
                "refY": "5",
                "markerWidth": "7",
                "markerHeight": "7",
                "orient": "auto-start-reverse",
            },
        )
        ET.SubElement(marker, "path", {"d": "M0,0 L10,5 L0,10 z"})

    for _column, x, text in diagram.columns:
        heading = ET.SubElement(root, "text", {"x": fmt(x), "y": "26", "class": "column-title"})
        heading.text = text

    boxes = ET.SubElement(root, "g", {"class": "boxes"})
    for box in diagram.boxes:
        g = ET.SubElement(
            boxes, "g", {"class": f"box box-{box.kind}", "id": box.key.replace(":", "-")}
        )
        ET.SubElement(
            g,
            "rect",
            {
                "x": fmt(box.x),
                "y": fmt(box.y),
                "width": fmt(box.w),
                "height": fmt(box.h),
                "rx": "6",
            },
        )
        label = ET.SubElement(
            g, "text", {"x": fmt(box.x + 8), "y": fmt(box.y + 16), "class": "box-label"}
        )
        label.text = box.label
        if box.sublabel:
            sub = ET.SubElement(label, "tspan", {"class": "box-sublabel", "dx": "8"})
            sub.text = clip(box.sublabel, 160)

    rects = {n.key: _rect(n) for n in diagram.nodes}
    rects.update({b.key: _rect(b) for b in diagram.boxes})
    edges = ET.SubElement(root, "g", {"class": "edges"})
    labels = ET.SubElement(root, "g", {"class": "edge-labels"})
    taken = _LabelSpace()
    for edge in diagram.edges:
        geometry = edge_geometry(edge, rects)
        if geometry is None:
            continue
        d, lx, ly = geometry
        marker = {"world": "arrow-world", "fluentd": "arrow-fluentd", "route": "arrow-route"}.get(
            edge.kind, "arrow"
        )
        path = ET.SubElement(
            edges,
            "path",
            {
                "d": d,
                "class": f"edge edge-{edge.kind}",
                "marker-end": f"url(#{marker})",
                "data-source": edge.source,
                "data-target": edge.target,
            },
        )
        tip = ET.SubElement(path, "title")
        tip.text = edge.label
        if edge.label:
            text = clip(edge.label, 40)
            width = len(text) * CHAR_W + 6
            lx, ly = _place_label(lx, ly, width, taken)
            g = ET.SubElement(labels, "g", {"class": f"edge-label edge-label-{edge.kind}"})
            ET.SubElement(
                g,
                "rect",
                {
                    "x": fmt(lx - width / 2),
                    "y": fmt(ly - EDGE_LABEL_H / 2),
                    "width": fmt(width),
                    "height": fmt(EDGE_LABEL_H),
                    "rx": "3",
                },
            )
            t = ET.SubElement(g, "text", {"x": fmt(lx), "y": fmt(ly + 3.5)})
            t.text = text

    layer = ET.SubElement(root, "g", {"class": "nodes"})
    for node in diagram.nodes:
        parent = layer
        href = href_for(node) if href_for else None
        if href:
            attrs = {"href": href, "class": "node-link"}
            panel = panel_for(node) if panel_for else None
            if panel:
                attrs.update(
                    {"hx-get": panel, "hx-target": "#diagram-panel", "hx-swap": "innerHTML"}
                )
            parent = ET.SubElement(layer, "a", attrs)
        flags = " ".join(f"node-{f}" for f in sorted(node.flags))
        g = ET.SubElement(
            parent,
            "g",
            {
                "class": f"node layer-{node.layer} {flags}".strip()
                + (" node-group" if node.count > 1 else ""),
                "id": node.key,
                "data-x": fmt(node.x),
                "data-y": fmt(node.y),
                "data-w": fmt(node.w),
                "data-h": fmt(node.h),
            },
        )
        tip = ET.SubElement(g, "title")
        tip.text = "\n".join([node.label, node.sublabel, *node.members[:20]]).strip()
        ET.SubElement(
            g,
            "rect",
            {
                "x": fmt(node.x),
                "y": fmt(node.y),
                "width": fmt(node.w),
                "height": fmt(node.h),
                "rx": "5",
                "class": "node-box",
            },
        )
        ET.SubElement(
            g,
            "rect",
            {
                "x": fmt(node.x),
                "y": fmt(node.y),
                "width": "34",
                "height": fmt(node.h),
                "rx": "5",
                "class": "node-badge",
            },
        )
        badge = ET.SubElement(
            g,
            "text",
            {"x": fmt(node.x + 17), "y": fmt(node.y + NODE_H / 2 + 4), "class": "node-badge-text"},
        )
        badge.text = node.badge
        label = ET.SubElement(
            g, "text", {"x": fmt(node.x + 40), "y": fmt(node.y + 18), "class": "node-label"}
        )
        label.text = clip(node.label, LABEL_MAX)
        if node.sublabel:
            sub = ET.SubElement(
                g, "text", {"x": fmt(node.x + 40), "y": fmt(node.y + 34), "class": "node-sublabel"}
            )
            sub.text = clip(node.sublabel, SUBLABEL_MAX)
    return root


def _stylesheet() -> str:
    """static/diagram.css, embedded in a downloaded SVG (a file, not a page under our CSP)."""
    path = Path(settings.BASE_DIR) / "static" / "diagram.css"
    try:
        css = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    # Only the SVG part: the page's panel and toolbar rules mean nothing in a file.
    return css.split("/* --- page --- */")[0]


def render_svg(
    diagram: Diagram, *, href_for: UrlFor | None = None, panel_for: UrlFor | None = None
) -> str:
    """The inline SVG for the page (no <style>, no script: classes only)."""
    element = build_svg(diagram, standalone=False, href_for=href_for, panel_for=panel_for)
    return ET.tostring(element, encoding="unicode", short_empty_elements=True)


def render_svg_file(diagram: Diagram, *, href_for: UrlFor | None = None) -> str:
    """A standalone SVG file with its stylesheet embedded."""
    element = build_svg(diagram, standalone=True, href_for=href_for)
    body = ET.tostring(element, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body


# --- draw.io ------------------------------------------------------------------------------

DRAWIO_STYLES = {
    "outside": "fillColor=#f2f4f7;strokeColor=#667085;",
    "edge": "fillColor=#fff3d6;strokeColor=#8a5a00;",
    "entry": "fillColor=#e3ecfc;strokeColor=#1e50b3;",
    "compute": "fillColor=#e4f5ea;strokeColor=#157a3c;",
    "data": "fillColor=#f3e8fd;strokeColor=#6b2fb3;",
    "ops": "fillColor=#eef0f3;strokeColor=#475467;",
}
DRAWIO_BOX_STYLES = {
    "vpc": "fillColor=none;strokeColor=#1e50b3;dashed=0;",
    "regional": "fillColor=none;strokeColor=#98a2b3;dashed=1;",
    "lane-public": "fillColor=#f0f9f3;strokeColor=#a6d8b8;",
    "lane-private": "fillColor=#f3f6fb;strokeColor=#b5c6e6;",
    "lane-vpc": "fillColor=#f8f8f8;strokeColor=#d0d5dd;",
}
EDGE_STYLES = {
    "world": "strokeColor=#b42318;",
    "fluentd": "strokeColor=#6b2fb3;dashed=1;",
    "route": "strokeColor=#98a2b3;dashed=1;",
    "sg": "strokeColor=#1e50b3;",
    "relation": "strokeColor=#475467;",
}


def render_drawio(diagram: Diagram) -> str:
    """A diagrams.net file: one page, vertices and edges at the layout's positions.

    Labels are plain text values (no `html=1` in any style), so a name such as
    `<img onerror=…>` shows as those characters in diagrams.net.
    """
    mxfile = ET.Element("mxfile", {"host": "Catchup", "type": "device"})
    page = ET.SubElement(mxfile, "diagram", {"id": "topology", "name": clip(diagram.title, 60)})
    model = ET.SubElement(
        page,
        "mxGraphModel",
        {
            "dx": "0",
            "dy": "0",
            "grid": "0",
            "gridSize": "10",
            "page": "0",
            "pageWidth": fmt(diagram.width),
            "pageHeight": fmt(diagram.height),
        },
    )
    root = ET.SubElement(model, "root")
    ET.SubElement(root, "mxCell", {"id": "0"})
    ET.SubElement(root, "mxCell", {"id": "1", "parent": "0"})

    def vertex(
        cell_id: str, value: str, style: str, x: float, y: float, w: float, h: float
    ) -> None:
        cell = ET.SubElement(
            root,
            "mxCell",
            {"id": cell_id, "value": value, "style": style, "vertex": "1", "parent": "1"},
        )
        ET.SubElement(
            cell,
            "mxGeometry",
            {"x": fmt(x), "y": fmt(y), "width": fmt(w), "height": fmt(h), "as": "geometry"},
        )

    for box in diagram.boxes:
        style = "rounded=1;arcSize=2;verticalAlign=top;align=left;spacingLeft=8;whiteSpace=wrap;"
        value = box.label + (f" · {box.sublabel}" if box.sublabel else "")
        vertex(
            box.key.replace(":", "-"),
            value,
            style + DRAWIO_BOX_STYLES.get(box.kind, ""),
            box.x,
            box.y,
            box.w,
            box.h,
        )
    for node in diagram.nodes:
        style = (
            "rounded=1;whiteSpace=wrap;align=left;spacingLeft=6;fontSize=11;"
            + DRAWIO_STYLES.get(node.layer, "")
        )
        value = node.label + (f"\n{node.sublabel}" if node.sublabel else "")
        vertex(node.key, value, style, node.x, node.y, node.w, node.h)
    known = {n.key for n in diagram.nodes} | {b.key for b in diagram.boxes}
    for index, edge in enumerate(diagram.edges):
        if edge.source not in known or edge.target not in known:
            continue
        style = (
            "edgeStyle=orthogonalEdgeStyle;rounded=1;endArrow=block;fontSize=10;"
            + EDGE_STYLES.get(edge.kind, "")
        )
        cell = ET.SubElement(
            root,
            "mxCell",
            {
                "id": f"e{index}",
                "value": edge.label,
                "style": style,
                "edge": "1",
                "parent": "1",
                "source": edge.source.replace(":", "-")
                if edge.source.startswith("lane:")
                else edge.source,
                "target": edge.target,
            },
        )
        ET.SubElement(cell, "mxGeometry", {"relative": "1", "as": "geometry"})
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(mxfile, encoding="unicode")
