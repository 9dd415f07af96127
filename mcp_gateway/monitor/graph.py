"""A provenance lineage drawn as a layered SVG graph: one column per kind of record, in the
order a story reads (person → AI agent → tool call → execution → run → files, decisions beside),
each node a link to its own lineage."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from urllib.parse import quote

from markupsafe import Markup, escape

from mcp_gateway.monitor.charts import colour

COLUMNS = ("person", "agent", "namespace", "call", "decision", "debug", "execution", "workflow", "run", "stf",
           "tf", "sample", "slice", "file")
MAX_PER_COLUMN = 14
BOX_W, BOX_H, GAP_X, GAP_Y = 190, 28, 60, 12


def kind_of(node_id: str) -> str:
    """``controlroom:run/100010`` → ``run``."""
    return node_id.removeprefix("controlroom:").split("/", 1)[0]


def label_of(node_id: str) -> str:
    rest = node_id.removeprefix("controlroom:")
    return rest if len(rest) <= 28 else rest[:12] + "…" + rest[-14:]


def lineage_svg(edges: Sequence[dict[str, str]], focus: str, link: Callable[[str], str]) -> Markup:
    """The graph of ``edges`` (rel, src, dst); ``focus`` outlined; ``link(id)`` is each node's href."""
    nodes = {focus} | {e["src"] for e in edges} | {e["dst"] for e in edges}
    columns: dict[int, list[str]] = defaultdict(list)
    for node in sorted(nodes):
        kind = kind_of(node)
        columns[COLUMNS.index(kind) if kind in COLUMNS else len(COLUMNS)].append(node)
    order = sorted(columns)
    place: dict[str, tuple[float, float]] = {}
    hidden: dict[int, int] = {}
    for x, column in enumerate(order):
        shown = columns[column][:MAX_PER_COLUMN]
        hidden[x] = len(columns[column]) - len(shown)
        for y, node in enumerate(shown):
            place[node] = (10 + x * (BOX_W + GAP_X), 10 + y * (BOX_H + GAP_Y))
    rows = max((len(columns[c][:MAX_PER_COLUMN]) + (1 if hidden[i] else 0) for i, c in enumerate(order)), default=1)
    width = 20 + len(order) * (BOX_W + GAP_X)
    height = 20 + rows * (BOX_H + GAP_Y)
    parts = [f'<svg class="lineage" role="img" aria-label="lineage of {escape(focus)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>']
    for edge in edges:
        if edge["src"] not in place or edge["dst"] not in place:
            continue
        (x1, y1), (x2, y2) = place[edge["src"]], place[edge["dst"]]
        a = (x1 + BOX_W, y1 + BOX_H / 2) if x1 < x2 else (x1, y1 + BOX_H / 2)
        b = (x2, y2 + BOX_H / 2) if x1 < x2 else (x2 + BOX_W, y2 + BOX_H / 2)
        parts.append(f'<line x1="{a[0]:.0f}" y1="{a[1]:.0f}" x2="{b[0]:.0f}" y2="{b[1]:.0f}" stroke="#888" '
                     f'marker-end="url(#arrow)"><title>{escape(edge["src"])} {escape(edge["rel"])} '
                     f'{escape(edge["dst"])}</title></line>')
    for node, (x, y) in place.items():
        stroke = ' stroke="#000" stroke-width="2"' if node == focus else ""
        parts.append(f'<a href="{escape(link(node))}" class="lineage-node" data-id="{escape(node)}">'
                     f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4" fill="{colour(kind_of(node))}"{stroke}/>'
                     f'<text x="{x + 6}" y="{y + 18}" font-size="11" fill="#fff">{escape(label_of(node))}</text>'
                     f'<title>{escape(node)}</title></a>')
    for x, count in hidden.items():
        if count:
            y = 10 + MAX_PER_COLUMN * (BOX_H + GAP_Y)
            parts.append(f'<text x="{10 + x * (BOX_W + GAP_X)}" y="{y + 14}" font-size="11">+{count} more</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def entity_link(ui: str, direction: str) -> Callable[[str], str]:
    return lambda node: f"{ui}/lineage?entity={quote(node, safe='')}&direction={direction}"
