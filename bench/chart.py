"""Draw a side-by-side result of bench/realnet.py as an SVG picture (no dependencies).

    python -m bench.chart result.json -o docs/realnet.svg

One panel per kind of figure — membership latencies per timing profile, ordered
throughput per message size and sender count, behaviour under loss — with a bar per
backend at the median and a whisker from min to max, and the ratio printed beside.
"""

from __future__ import annotations

import argparse
import json
import sys
from html import escape
from typing import Any

COLOURS = ("#3b6fb6", "#d9822b", "#5a9e5a")
ROW_H, BAR_H, LABEL_W, PLOT_W = 38, 13, 300, 420


def _rows(result: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, dict[str, Any]]]]]:
    """(panel, row label, [(backend, summary)]) for every figure both backends have."""
    backends = result["backends"]
    names = list(backends)
    rows: list[tuple[str, str, list[tuple[str, dict[str, Any]]]]] = []

    def add(panel: str, label: str, path: list[str]) -> None:
        got = []
        for n in names:
            node: Any = backends[n]
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(node.get("median"), int | float):
                got.append((n, node))
        if len(got) == len(names):
            rows.append((panel, label, got))

    first = backends[names[0]]
    for prof in first.get("membership", {}):
        for fig in first["membership"][prof]:
            panel = result.get("panel_format", "membership latency, ms ({prof} timing; lower is better)")
            add(panel.format(prof=prof), fig.replace("_ms", "").replace(
                "_to_", " → ").replace("_", " "), ["membership", prof, fig])
    for key, val in first.get("throughput", {}).items():
        if isinstance(val, dict) and "msgs_per_s" in val:
            add("ordered throughput, messages/s delivered per node (higher is better)", key.replace("_", ", "),
                ["throughput", key, "msgs_per_s"])
    for prof, levels in first.get("loss", {}).items():
        for level, fig in levels.items():
            pct = fig.get("loss_pct", level)
            add(f"{pct:g} % loss on one node, {fig.get('duration_s', '?'):g} s ({prof} timing)",
                "membership changes", ["loss", prof, level, "membership_changes"])
            add(f"{pct:g} % loss on one node, {fig.get('duration_s', '?'):g} s ({prof} timing)",
                "messages/s (100 B, 1 sender)", ["loss", prof, level, "msgs_per_s"])
    return rows


def render(result: dict[str, Any]) -> str:
    rows = _rows(result)
    names = list(result["backends"])
    out: list[str] = []
    y = 50
    panel_seen = None
    body: list[str] = []
    for panel, label, got in rows:
        if panel != panel_seen:
            y += 16
            body.append(f'<text x="10" y="{y}" font-weight="bold">{escape(panel)}</text>')
            y += 10
            panel_seen = panel
        top = max(max(s.get("max") or s["median"] for _, s in got), 1e-9)
        body.append(f'<text x="{LABEL_W - 8}" y="{y + ROW_H / 2 + 4}" '
                    f'text-anchor="end">{escape(label)}</text>')
        for k, (name, s) in enumerate(got):
            by = y + 4 + k * (BAR_H + 2)
            w = PLOT_W * s["median"] / top
            colour = COLOURS[names.index(name) % len(COLOURS)]
            body.append(f'<rect x="{LABEL_W}" y="{by}" width="{w:.1f}" height="{BAR_H}" '
                        f'fill="{colour}"/>')
            lo, hi = s.get("min"), s.get("max")
            if isinstance(lo, int | float) and isinstance(hi, int | float):
                x0, x1 = LABEL_W + PLOT_W * lo / top, LABEL_W + PLOT_W * hi / top
                my = by + BAR_H / 2
                body.append(f'<line x1="{x0:.1f}" y1="{my}" x2="{x1:.1f}" y2="{my}" '
                            'stroke="#222" stroke-width="1"/>')
            body.append(f'<text x="{LABEL_W + w + 6:.1f}" y="{by + BAR_H - 2}" '
                        f'font-size="11">{s["median"]:,.0f}</text>')
        if len(got) == 2 and got[1][1]["median"]:
            ratio = got[0][1]["median"] / got[1][1]["median"]
            body.append(f'<text x="{LABEL_W + PLOT_W + 70}" y="{y + ROW_H / 2 + 4}" '
                        f'font-size="12">{ratio:.2f}×</text>')
        y += ROW_H
    height = y + 20
    width = LABEL_W + PLOT_W + 130
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               'font-family="sans-serif" font-size="12">')
    out.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    title = " vs ".join(f"{n} {result['backends'][n].get('version', '')}".strip() for n in names)
    out.append(f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}: '
               f'{result["backends"][names[0]].get("nodes", "?")} nodes, side by side on one machine</text>')
    lx = 10
    for k, n in enumerate(names):
        out.append(f'<rect x="{lx}" y="30" width="12" height="12" fill="{COLOURS[k]}"/>')
        out.append(f'<text x="{lx + 16}" y="40">{escape(n)}</text>')
        lx += 110
    out.append(f'<text x="{lx + 20}" y="40" font-size="11">bar = median, line = min–max; '
               f'ratio = {escape(names[0])} / {escape(names[-1])}</text>')
    out += body
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("result", help="JSON printed by bench/realnet.py with two backends")
    p.add_argument("-o", "--output", default="-", help="SVG file (default: stdout)")
    args = p.parse_args(argv)
    with open(args.result, encoding="utf-8") as fh:
        result = json.load(fh)
    if "backends" not in result:
        print("chart: the result has one backend; run realnet with two", file=sys.stderr)
        return 2
    svg = render(result)
    if args.output == "-":
        sys.stdout.write(svg)
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
