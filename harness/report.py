"""The run report: one self-contained HTML page for a harness ``result.json``.

    write_html(result, Path("run/report.html"))

The page works offline (inline CSS and SVG, no script, nothing fetched) and prints on
a light background. Its centre piece is :func:`render_svg`, a timeline with one lane
per node coloured by membership state, fault windows as bands, violations as red
markers and the scenario's steps on a time axis. Every string taken from the result
is escaped: scenario text is user input.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

Result = dict[str, Any]

WIDTH, LEFT, RIGHT = 1100, 64, 30
LANE_H, LANE_GAP, FAULT_ROW_H, STEP_ROW_H = 26, 8, 18, 14
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""
# kind -> (fill, text colour, legend label)
STATES: dict[str, tuple[str, str, str]] = {
    "quorate": ("#3a9d5d", "#ffffff", "operational, quorate"),
    "inquorate": ("#f2a93b", "#3b2a00", "operational, inquorate"),
    "forming": ("url(#hatch)", "#333333", "forming (gather / commit / recovery)"),
    "paused": ("#4a7fd4", "#ffffff", "paused"),
    "down": ("#4a1414", "#ffffff", "down"),
    "unknown": ("#b0b0b0", "#222222", "unknown state"),
}
FAULT_COLOURS = ("#7b3fb3", "#c2185b", "#00838f", "#8d6e63", "#3949ab")
VIOLATION = "#e53935"
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(value: object) -> str:
    """``str(value)`` with the characters XML 1.0 forbids replaced by U+FFFD."""
    return _BAD_CHARS.sub("\ufffd", str(value))


def esc(value: object) -> str:
    """``value`` as HTML/XML text: escaped, characters XML forbids replaced."""
    return html.escape(clean(value), quote=True)


def num(value: object, default: float = 0.0) -> float:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


def fmt_ms(value: object) -> str:
    """A duration in ms with one decimal, or an em dash when missing."""
    return "—" if value is None else f"{num(value):.1f}"


def fmt_t(value: object) -> str:
    """An instant since the scenario start, in seconds with millisecond precision."""
    return "?" if value is None else f"{num(value) / 1000:.3f} s"


def fmt_nodes(nodes: object) -> str:
    return "[" + ", ".join(str(n) for n in nodes) + "]" if isinstance(nodes, list) else "[]"


def violation_sentence(check: str, v: dict[str, Any]) -> str:
    """``INVARIANT violated at t=… on nodes […]: detail`` (plain text, not escaped)."""
    inv = v.get("invariant") or check
    return (f"{inv} violated at t={fmt_t(v.get('t_ms'))} on nodes {fmt_nodes(v.get('nodes'))}: "
            f"{v.get('detail') or 'no detail'}")


def failure_sentences(result: Result) -> list[str]:
    """One sentence per violation of a failed check, per failed check without violations
    and per failed step, in that order (plain text, not escaped)."""
    out: list[str] = []
    for c in result.get("checks") or []:
        if c.get("ok") is False:
            vs = c.get("violations") or []
            out += [violation_sentence(str(c.get("name")), v) for v in vs]
            if not vs:
                out.append(f"{c.get('name')} failed (no violation recorded)")
    for s in result.get("steps") or []:
        if s.get("ok") is False:
            out.append(f"step {s.get('index')} failed at t={fmt_t(s.get('t_ms'))}: "
                       f"{s.get('text')}: {s.get('detail') or 'no detail'}")
    return out


def nice_step(span: float, target: int = 10) -> float:
    """A 1-2-5 step that cuts ``span`` into about ``target`` intervals."""
    raw = max(span, 1e-9) / target
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(float(m * mag) for m in (1, 2, 5, 10) if m * mag >= raw * 0.999)


def tick_label(t: float, step: float) -> str:
    if t == 0:
        return "0"
    if step >= 1000:
        return f"{t / 1000:.{max(0, -math.floor(math.log10(step / 1000)))}f} s"
    return f"{t:.{max(0, -math.floor(math.log10(step)))}f} ms"


def text_w(text: str, size: float) -> float:
    return len(text) * size * 0.6


def state_kind(seg: dict[str, Any]) -> str:
    state = str(seg.get("state", "")).lower()
    if state == "operational":
        return "quorate" if seg.get("quorate") else "inquorate"
    if state in ("forming", "gather", "commit", "recovery"):
        return "forming"
    return state if state in ("paused", "down") else "unknown"


def lanes_of(result: Result) -> list[str]:
    """Node ids (as strings) in lane order: ``nodes`` first, then any other timeline key."""
    lanes = [str(n) for n in result.get("nodes") or []]
    extra = [str(k) for k in result.get("timeline") or {} if str(k) not in lanes]
    return lanes + sorted(extra, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))


def duration_of(result: Result) -> float:
    d = num(result.get("duration_ms"))
    if d > 0:
        return d
    items = [s for ss in (result.get("timeline") or {}).values() for s in ss]
    items += [*(result.get("faults") or []), *(result.get("steps") or [])]
    return max([num(d.get(k)) for d in items for k in ("t_ms", "t_start_ms", "t_end_ms")] + [1.0])


def _rows(spans: list[tuple[float, float]], gap: float = 6) -> list[int]:
    """Greedy row for each (x0, x1) so that spans in one row do not overlap."""
    ends: list[float] = []
    rows = []
    for x0, x1 in spans:
        rows.append(next((i for i, e in enumerate(ends) if e + gap <= x0), len(ends)))
        ends[rows[-1]:rows[-1] + 1] = [x1]
    return rows


def _lane(add: Any, n: str, y: float, segs: list[dict[str, Any]], x: Any, dur: float) -> None:
    """One node's lane: label, background, a segment per state, ring ids and ring changes."""
    plot_w = WIDTH - LEFT - RIGHT
    add(f'<g class="lane" data-node="{esc(n)}"><text x="{LEFT - 10}" y="{y + LANE_H / 2 + 4}" '
        f'text-anchor="end" font-size="12" font-weight="bold" fill="#222">n{esc(n)}</text>'
        f'<rect x="{LEFT}" y="{y}" width="{plot_w}" height="{LANE_H}" fill="#f3f3f3" '
        f'stroke="#cfcfcf" stroke-width="0.5"><title>node {esc(n)}: no data</title></rect>')
    last_ring: object = None
    for seg in segs:
        kind = state_kind(seg)
        fill, ink, _ = STATES[kind]
        x0, ring = x(seg.get("t_start_ms")), seg.get("ring_id")
        t_end = dur if seg.get("t_end_ms") is None else seg.get("t_end_ms")
        w = max(1.0, x(t_end) - x0)
        tip = (f"node {n} · {seg.get('state')} · ring {ring or '—'} · members "
               f"{fmt_nodes(seg.get('members'))} · {'quorate' if seg.get('quorate') else 'inquorate'}"
               f" · {fmt_t(seg.get('t_start_ms'))} – {fmt_t(t_end)}")
        add(f'<rect class="seg {kind}" x="{x0:.2f}" y="{y}" width="{w:.2f}" height="{LANE_H}" '
            f'fill="{fill}"><title>{esc(tip)}</title></rect>')
        label = str(ring) if ring and kind != "forming" else (kind if kind in ("down", "paused") else "")
        if label and text_w(label, 10) + 6 <= w:
            add(f'<text x="{x0 + w / 2:.1f}" y="{y + LANE_H / 2 + 3.5}" text-anchor="middle" '
                f'font-size="10" fill="{ink}" pointer-events="none">{esc(label)}</text>')
        if ring and ring != last_ring:
            add(f'<line class="ring-change" x1="{x0:.2f}" y1="{y - 2}" x2="{x0:.2f}" '
                f'y2="{y + LANE_H + 2}" stroke="#111" stroke-width="1.2"/>')
        last_ring = ring or last_ring
    add("</g>")


def render_svg(result: Result) -> str:
    """The timeline as an inline ``<svg>`` element (also valid standalone SVG)."""
    lanes = lanes_of(result)
    dur = duration_of(result)
    plot_w = WIDTH - LEFT - RIGHT

    def x(t: object) -> float:
        return LEFT + min(max(num(t), 0.0), dur) / dur * plot_w

    faults = list(result.get("faults") or [])
    fx = [(x(f.get("t_start_ms")), dur if f.get("t_end_ms") is None else f.get("t_end_ms"))
          for f in faults]
    flabel_x = [min(x0 + 2, WIDTH - 4 - text_w(str(f.get("label", "")), 11))
                for (x0, _), f in zip(fx, faults, strict=True)]
    fspans = [(min(x0, lx), max(x(t1), lx + text_w(str(f.get("label", "")), 11)))
              for (x0, t1), lx, f in zip(fx, flabel_x, faults, strict=True)]
    frows = _rows(fspans)
    lane_top = 8 + (max(frows, default=-1) + 1) * FAULT_ROW_H + 6
    lane_y = {n: lane_top + i * (LANE_H + LANE_GAP) for i, n in enumerate(lanes)}
    lanes_bottom = lane_top + len(lanes) * (LANE_H + LANE_GAP) - LANE_GAP
    steps = list(result.get("steps") or [])
    sspans = [(x(s.get("t_ms")), max(x(s.get("t_end_ms") or s.get("t_ms")),
                                      x(s.get("t_ms")) + text_w(str(s.get("index")), 9) + 3))
              for s in steps]
    srows = _rows(sspans, gap=3)
    steps_top = lanes_bottom + 10
    axis_y = steps_top + (max(srows, default=0) + 1) * STEP_ROW_H + 6
    out: list[str] = []
    add = out.append
    step = nice_step(dur)
    minor = step / 5 if step / 5 / dur * plot_w >= 8 else step
    ticks = [(i * minor, abs(i * minor / step - round(i * minor / step)) < 1e-6)
             for i in range(int(dur / minor + 1e-9) + 1)]
    for t, major in ticks:  # grid first: it shows in the gaps between lanes
        add(f'<line x1="{x(t):.1f}" y1="{lane_top - 4}" x2="{x(t):.1f}" y2="{axis_y}" '
            f'stroke="{"#d4d4d4" if major else "#ececec"}" stroke-width="1"/>')
    fdraw = []  # bands behind the lanes now (they show in the gaps), the rest over them
    for i, (f, (x0, t1), row) in enumerate(zip(faults, fx, frows, strict=True)):
        colour, is_open = FAULT_COLOURS[i % len(FAULT_COLOURS)], f.get("t_end_ms") is None
        x1, fill = max(x(t1), x0 + 2), f"url(#fade{i})" if is_open else colour
        if is_open:
            add(f'<defs><linearGradient id="fade{i}"><stop offset="0" stop-color="{colour}"/>'
                f'<stop offset="0.7" stop-color="{colour}"/><stop offset="1" stop-color="{colour}" '
                f'stop-opacity="0"/></linearGradient></defs>')
        hit = {str(n) for n in f.get("nodes") or []}
        bands = [(lane_top - 4, lanes_bottom + 4)] if f.get("kind") == "partition" or not (
            hit & set(lanes)) else [(lane_y[n] - 4, lane_y[n] + LANE_H + 4) for n in lanes if n in hit]
        rects = "".join(f'<rect x="{x0:.2f}" y="{y0}" width="{x1 - x0:.2f}" height="{y1 - y0}" '
                        f'fill="{fill}" fill-opacity="OPACITY"/>' for y0, y1 in bands)
        add(f'<g class="fault-band">{rects.replace("OPACITY", "0.35")}</g>')
        fdraw.append((f, colour, is_open, x0, x1, fill, row, rects, max(y1 for _, y1 in bands),
                      flabel_x[i]))
    timeline = {str(k): v for k, v in (result.get("timeline") or {}).items()}
    for n in lanes:
        _lane(add, n, lane_y[n], [s for s in timeline.get(n) or [] if isinstance(s, dict)], x, dur)
    for f, colour, is_open, x0, x1, fill, row, rects, bottom, lx in fdraw:
        tip = (f"fault {f.get('id')}: {f.get('label')} ({f.get('kind')}) on nodes "
               f"{fmt_nodes(f.get('nodes'))}, {fmt_t(f.get('t_start_ms'))} – "
               f"{'still active at the end' if is_open else fmt_t(f.get('t_end_ms'))}")
        by = 8 + row * FAULT_ROW_H + 11
        add(f'<g class="fault" data-fault="{esc(f.get("id"))}"><title>{esc(tip)}</title>'
            + rects.replace("OPACITY", "0.10"))
        for ex in [x0] if is_open else [x0, x1]:
            add(f'<line x1="{ex:.2f}" y1="{by}" x2="{ex:.2f}" y2="{bottom}" stroke="{colour}" '
                f'stroke-width="1.2" stroke-dasharray="4 3"/>')
        add(f'<rect x="{x0:.2f}" y="{by}" width="{x1 - x0:.2f}" height="4" fill="{fill}"/>')
        if is_open:
            add(f'<path d="M{x1 - 8:.2f},{by - 3} L{x1:.2f},{by + 2} L{x1 - 8:.2f},{by + 7} Z" '
                f'fill="{colour}"/>')
        add(f'<text x="{lx:.2f}" y="{by - 3}" font-size="11" font-weight="bold" '
            f'fill="{colour}">{esc(f.get("label", ""))}</text></g>')
    for c in result.get("checks") or []:
        for v in c.get("violations") or []:
            on = [str(n) for n in v.get("nodes") or [] if str(n) in lane_y] or lanes
            vx = x(v.get("t_ms"))
            add(f'<g class="violation"><title>{esc(violation_sentence(str(c.get("name")), v))}</title>')
            for n in on:
                y = lane_y[n]
                add(f'<line x1="{vx:.2f}" y1="{y}" x2="{vx:.2f}" y2="{y + LANE_H}" stroke="{VIOLATION}" '
                    f'stroke-width="2"/><path d="M{vx - 7:.2f},{y - 5} L{vx + 7:.2f},{y - 5} '
                    f'L{vx:.2f},{y + 8} Z" fill="{VIOLATION}" stroke="#fff" stroke-width="1"/>')
            add("</g>")
    for label, ly in [("steps", steps_top + 10)] + ([("faults", 20)] if faults else []):
        add(f'<text x="{LEFT - 10}" y="{ly}" text-anchor="end" font-size="11" fill="#555">'
            f'{label}</text>')
    for s, (s0, _), row in zip(steps, sspans, srows, strict=True):
        ink = VIOLATION if s.get("ok") is False else "#333"
        y, s1 = steps_top + row * STEP_ROW_H, x(s.get("t_end_ms") or s.get("t_ms"))
        tip = (f"step {s.get('index')} · {fmt_t(s.get('t_ms'))} – {fmt_t(s.get('t_end_ms'))} · "
               f"{s.get('text')} · {'FAILED' if s.get('ok') is False else 'ok'}"
               + (f": {s.get('detail')}" if s.get("detail") else ""))
        add(f'<g class="step"><title>{esc(tip)}</title><line x1="{s0:.2f}" y1="{y}" x2="{s0:.2f}" '
            f'y2="{y + 11}" stroke="{ink}" stroke-width="1.5"/>')
        if s1 - s0 >= 1:
            add(f'<line x1="{s0:.2f}" y1="{y + 10}" x2="{s1:.2f}" y2="{y + 10}" stroke="{ink}" '
                f'stroke-width="2" stroke-opacity="0.5"/>')
        add(f'<text x="{s0 + 2:.2f}" y="{y + 8}" font-size="9" fill="{ink}">{esc(s.get("index"))}'
            f'</text></g>')
    add(f'<line x1="{LEFT}" y1="{axis_y}" x2="{LEFT + plot_w}" y2="{axis_y}" stroke="#444"/>')
    for t, major in ticks:
        add(f'<line x1="{x(t):.1f}" y1="{axis_y}" x2="{x(t):.1f}" y2="{axis_y + (6 if major else 3)}" '
            f'stroke="#444"/>')
        if major:
            add(f'<text x="{x(t):.1f}" y="{axis_y + 18}" text-anchor="middle" font-size="11" '
                f'fill="#333">{esc(tick_label(t, step))}</text>')
    legend_y = axis_y + 38
    height = _legend(add, legend_y) + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{WIDTH}" '
            f'height="{height}" viewBox="0 0 {WIDTH} {height}" {FONT} role="img" '
            f'aria-label="timeline of the run">'
            '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e2e2e2"/>'
            '<line x1="0" y1="0" x2="0" y2="6" stroke="#b4b4b4" stroke-width="2.5"/></pattern></defs>'
            f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>' + "".join(out) + "</svg>")


def _legend(add: Any, y: float) -> float:
    """Draw the legend from ``y``; return the y below it."""
    items: list[tuple[str, str]] = [
        (f'<rect width="18" height="11" fill="{f}" stroke="#999" stroke-width="0.5"/>', label)
        for f, _, label in STATES.values() if label != "unknown state"]
    c = FAULT_COLOURS[0]
    items += [
        (f'<rect width="18" height="11" fill="{c}" fill-opacity="0.22"/><line x1="0" y1="0" x2="0" '
         f'y2="11" stroke="{c}" stroke-dasharray="3 2"/>', "fault window"),
        (f'<rect y="4" width="12" height="4" fill="{c}"/><path d="M11,1 L18,6 L11,11 Z" fill="{c}"/>',
         "fault not undone"),
        ('<line x1="9" y1="-1" x2="9" y2="12" stroke="#111" stroke-width="1.2"/>', "new ring"),
        (f'<path d="M3,0 L15,0 L9,11 Z" fill="{VIOLATION}"/>', "invariant violated"),
        ('<line x1="9" y1="0" x2="9" y2="11" stroke="#333" stroke-width="1.5"/>', "step (red: failed)"),
    ]
    cx: float = LEFT
    for swatch, label in items:
        w = 24 + text_w(label, 11) + 18
        if cx + w > WIDTH - RIGHT:
            cx, y = LEFT, y + 20
        add(f'<g transform="translate({cx:.1f},{y})">{swatch}<text x="24" y="10" font-size="11" '
            f'fill="#333">{esc(label)}</text></g>')
        cx += w
    return y + 14


CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;background:#fff;color:#222;
margin:24px auto;max-width:1140px;padding:0 12px;line-height:1.4}
h1{margin:0 0 4px;font-size:24px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
header{display:flex;gap:20px;align-items:flex-start}.desc{margin:2px 0 10px;color:#444}
.badge{font:bold 30px/1 sans-serif;padding:12px 20px;border-radius:6px;color:#fff;letter-spacing:2px}
.pass{background:#2e7d32}.fail{background:#c62828}table.meta th{color:#666;font-weight:normal;font-size:12px}
table.meta th,table.meta td{border:0;background:none;padding:0 18px 0 0}
.summary{border:2px solid #c62828;background:#fff4f4;border-radius:6px;padding:8px 16px;margin-top:16px}
.summary h2{border:0;margin:6px 0;color:#c62828}.summary li{margin:3px 0}
table{border-collapse:collapse;font-size:14px}th{background:#f5f5f5}
th,td{border:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.failed{background:#fff4f4}
.ok{color:#2e7d32;font-weight:bold}.bad{color:#c62828;font-weight:bold}.timeline-box{overflow-x:auto}
svg.timeline{max-width:100%;height:auto}svg .seg:hover{stroke:#000;stroke-width:1.5}
footer{margin-top:32px;color:#888;font-size:12px}
@media print{body{margin:0;max-width:none}.timeline-box,tr{break-inside:avoid}
*{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""


def _table(head: list[str], rows: list[tuple[bool, list[str]]]) -> str:
    """``rows`` are (failed, cells); cells are already-escaped HTML."""
    h = "".join(f"<th>{c}</th>" for c in head)
    body = "".join(('<tr class="failed">' if bad else "<tr>") + "".join(cells) + "</tr>"
                   for bad, cells in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _td(value: object, numeric: bool = False) -> str:
    return f'<td class="n">{esc(value)}</td>' if numeric else f"<td>{esc(value)}</td>"


def _verdict(ok: object) -> str:
    return "<td>not run</td>" if ok is None else (
        '<td class="ok">ok</td>' if ok is True else '<td class="bad">FAILED</td>')


def _file_link(path: object) -> str:
    """A relative link to ``path``; anything else (a URL, ``//host``) is shown, not linked."""
    p = "" if path is None else str(path)
    if not p or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:|^[/\\]{2}", p):
        return f"<code>{esc(p)}</code>" if p else "—"
    return f'<a href="{esc(quote(p, safe="/._-~+"))}">{esc(p)}</a>'


def render_html(result: Result) -> str:
    """The whole report as one HTML document."""
    sc = result.get("scenario") or {}
    ok = result.get("ok") is True
    verdict = "PASS" if ok else "FAIL"
    meta = [("backend", result.get("backend")), ("seed", result.get("seed")),
            ("started at", result.get("started_at")),
            ("wall time", f"{num(result.get('wall_s')):.1f} s"),
            ("scenario time", f"{duration_of(result) / 1000:.3f} s"
             + (" (virtual)" if result.get("backend") == "sim" else "")),
            ("nodes", fmt_nodes(result.get("nodes"))), ("scenario file", sc.get("file"))]
    parts = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{verdict} · {esc(sc.get("name", "?"))}'
        f' · hastack run</title><style>{CSS}</style></head><body>',
        f'<header><div class="badge {verdict.lower()}" id="verdict">{verdict}</div><div>'
        f'<h1>{esc(sc.get("name", "unnamed scenario"))}</h1>'
        f'<p class="desc">{esc(sc.get("description") or "")}</p><table class="meta"><tr>'
        + "".join(f"<th>{k}</th>" for k, _ in meta) + "</tr><tr>"
        + "".join(_td("—" if v is None else v) for _, v in meta) + "</tr></table></div></header>"]
    sentences = failure_sentences(result)
    if sentences:
        parts.append('<section class="summary" id="failures"><h2>'
                     + ("Failures" if ok else "Why it failed") + "</h2><ul>"
                     + "".join(f"<li>{esc(s)}</li>" for s in sentences) + "</ul></section>")
    parts.append(f'<section><h2>Timeline</h2><div class="timeline-box">{render_svg(result)}</div>'
                 "<p><small>Hover a segment, band, marker or step for details. Times are seconds "
                 "since the scenario start (virtual on the simulator backend).</small></p></section>")
    figures = ("detection_ms", "new_membership_ms", "merge_after_heal_ms")
    meas = [(False, [_td(m.get("fault_id"), True), _td(m.get("fault")),
                     _td(fmt_t(m.get("t_fault_ms")), True), *(_td(fmt_ms(m.get(k)), True) for k in figures)])
            for m in result.get("measurements") or []]
    parts.append("<section><h2>Measurements</h2>" + (_table(
        ["fault", "label", "at", "detection (ms)", "new membership (ms)", "merge after heal (ms)"],
        meas) if meas else "<p>No fault was measured.</p>") + "</section>")
    checks = [(c.get("ok") is False, [f"<td><code>{esc(c.get('name'))}</code></td>",
                                      _td(c.get("description") or ""), _verdict(c.get("ok")),
                                      _td(len(c.get("violations") or []), True)])
              for c in result.get("checks") or []]
    parts.append("<section><h2>Checks</h2>" + _table(
        ["check", "description", "result", "violations"], checks) + "</section>")
    steps = [(s.get("ok") is False, [_td(s.get("index"), True), _td(fmt_t(s.get("t_ms")), True),
                                     _td(fmt_t(s.get("t_end_ms")), True), _td(s.get("text")),
                                     _verdict(s.get("ok")), _td(s.get("detail") or "")])
             for s in result.get("steps") or []]
    parts.append("<section><h2>Steps</h2>" + _table(
        ["#", "start", "end", "step", "result", "detail"], steps) + "</section>")
    files = result.get("files") or {}
    traces = {str(k): v for k, v in (files.get("traces") or {}).items()}
    logs = {str(k): v for k, v in (files.get("logs") or {}).items()}
    nodes = lanes_of(result)
    rows = [(False, [_td(f"n{n}"), f"<td>{_file_link(traces.get(n))}</td>",
                     f"<td>{_file_link(logs.get(n))}</td>"])
            for n in nodes + [k for k in {**traces, **logs} if k not in nodes]]
    parts.append(f"<section><h2>Files</h2><p>Scenario: {_file_link(files.get('scenario'))}</p>"
                 + _table(["node", "trace", "log"], rows) + "</section>")
    parts.append("<footer>hastack harness report · paths are relative to this file</footer>"
                 "</body></html>\n")
    return "".join(parts)


def write_html(result: Result, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result), encoding="utf-8")
