"""Draw bench/scheduler.py's result as an SVG picture (no dependencies).

    python -m bench.scheduler_chart result.json -o docs/scheduler-bench.svg

One row per input (the synthetic CIBs by situation and size, then the corpus
inputs), a bar for hastack (parse + schedule, in process) and one for
``crm_simulate -R``, on a logarithmic time axis, with the ratio printed beside and a
mark where the two Transition Summaries disagree.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from html import escape
from typing import Any

OURS, THEIRS = "#3b6fb6", "#d9822b"
ROW_H, BAR_H, LABEL_W, PLOT_W, RIGHT_W = 34, 12, 290, 440, 110


def rows(result: dict[str, Any]) -> list[tuple[str, float, float | None, bool]]:
    """(label, ours ms, crm_simulate ms, summaries agree) in display order."""
    out = []
    synthetic = result.get("synthetic", {})
    for situation in ("cold", "probed", "standby"):
        for n in sorted(result.get("sizes", [])):
            row = synthetic.get(f"{situation}-{n}")
            if row is not None:
                out.append((f"{situation}, {n:,} resources", row["ours_ms"],
                            row.get("crm_simulate_ms"), bool(row.get("summary_agrees"))))
    for name, row in result.get("corpus", {}).items():
        out.append((f"corpus: {name}", row["ours_ms"], row.get("crm_simulate_ms"),
                    bool(row.get("summary_agrees"))))
    return out


def render(result: dict[str, Any]) -> str:
    data = rows(result)
    values = [v for _, o, t, _ in data for v in (o, t) if v]
    lo = 10 ** math.floor(math.log10(max(min(values), 0.1)))
    hi = 10 ** math.ceil(math.log10(max(values)))

    def x(ms: float) -> float:
        return LABEL_W + PLOT_W * (math.log10(max(ms, lo)) - math.log10(lo)) / (
            math.log10(hi) - math.log10(lo))

    top = 56
    height = top + ROW_H * len(data) + 40
    width = LABEL_W + PLOT_W + RIGHT_W
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           '<text x="10" y="20" font-size="15" font-weight="bold">hastack scheduler vs '
           'crm_simulate -R (median ms, log scale)</text>',
           f'<rect x="10" y="32" width="12" height="10" fill="{OURS}"/>'
           '<text x="26" y="41">hastack (parse + schedule)</text>',
           f'<rect x="210" y="32" width="12" height="10" fill="{THEIRS}"/>'
           '<text x="226" y="41">crm_simulate -R -Q (process)</text>',
           '<text x="420" y="41">✗ = summaries differ</text>']
    decade = lo
    while decade <= hi:
        gx = x(decade)
        svg.append(f'<line x1="{gx:.1f}" y1="{top - 4}" x2="{gx:.1f}" '
                   f'y2="{top + ROW_H * len(data)}" stroke="#ddd"/>')
        label = f"{decade:g} ms" if decade < 1000 else f"{decade / 1000:g} s"
        svg.append(f'<text x="{gx:.1f}" y="{top + ROW_H * len(data) + 16}" '
                   f'text-anchor="middle" fill="#555">{label}</text>')
        decade *= 10
    for i, (label, ours, theirs, agree) in enumerate(data):
        y = top + i * ROW_H
        svg.append(f'<text x="{LABEL_W - 8}" y="{y + BAR_H + 4}" text-anchor="end">'
                   f'{escape(label)}</text>')
        svg.append(f'<rect x="{LABEL_W}" y="{y}" width="{x(ours) - LABEL_W:.1f}" '
                   f'height="{BAR_H}" fill="{OURS}"><title>{ours:g} ms</title></rect>')
        if theirs:
            svg.append(f'<rect x="{LABEL_W}" y="{y + BAR_H + 1}" '
                       f'width="{x(theirs) - LABEL_W:.1f}" height="{BAR_H}" '
                       f'fill="{THEIRS}"><title>{theirs:g} ms</title></rect>')
            mark = "" if agree else " ✗"
            svg.append(f'<text x="{LABEL_W + PLOT_W + 8}" y="{y + BAR_H + 4}">'
                       f'{ours / theirs:.2g}×{mark}</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("result", help="bench/scheduler.py's JSON")
    ap.add_argument("-o", "--output", required=True, help="the SVG file to write")
    args = ap.parse_args(argv)
    try:
        with open(args.result) as f:
            result = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"scheduler_chart: {args.result}: {e}", file=sys.stderr)
        return 1
    if not rows(result):
        print(f"scheduler_chart: {args.result}: no inputs measured", file=sys.stderr)
        return 1
    with open(args.output, "w") as f:
        f.write(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
