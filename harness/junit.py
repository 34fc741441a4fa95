"""JUnit XML for a harness ``result.json``, for CI test reporting (Jenkins, GitLab).

    write_junit(result, Path("run/junit.xml"))

One ``<testsuite name="hastack.<scenario>">`` holding a testcase per invariant check
(``check:<name>``, failing with ``type="<invariant>"`` and the violations) and per
scenario step (``step:<index> <text>``), the seed and backend as properties and the
measurements in ``<system-out>``. A step whose ``ok`` is null (not reached) is skipped.
Testcase ``time`` is wall-clock seconds: a step's duration on the Docker backend, 0 on
the simulator (whose times are virtual; they are in the failure text instead).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.report import Result, clean, fmt_ms, fmt_t, num, violation_sentence


def _timestamp(value: object) -> str | None:
    """ISO 8601 in UTC without a zone designator, as the JUnit schema wants it."""
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t.isoformat(timespec="seconds")


def _case(suite: ET.Element, classname: str, name: str, time: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=clean(name),
                         time=f"{time:.3f}")


def _check_case(suite: ET.Element, classname: str, c: dict[str, Any]) -> str | None:
    """Add the testcase of check ``c``; return "failure", "skipped" or None."""
    name = str(c.get("name"))
    tc = _case(suite, classname, f"check:{name}")
    if c.get("ok") is True:
        return None
    if c.get("ok") is None:
        ET.SubElement(tc, "skipped", message="check not evaluated")
        return "skipped"
    vs = [v for v in c.get("violations") or [] if isinstance(v, dict)]
    lines = [violation_sentence(name, v) for v in vs] or [f"{name} failed (no violation recorded)"]
    message = lines[0] + (f" (and {len(vs) - 1} more)" if len(vs) > 1 else "")
    failure = ET.SubElement(tc, "failure", message=clean(message),
                            type=clean((vs[0].get("invariant") if vs else None) or name))
    failure.text = clean("\n".join([f"{name}: {c.get('description') or ''}",
                                    f"{len(vs)} violation(s):", *lines]))
    return "failure"


def _step_case(suite: ET.Element, classname: str, s: dict[str, Any], wall: bool) -> str | None:
    t0, t1 = s.get("t_ms"), s.get("t_end_ms")
    time = (num(t1) - num(t0)) / 1000 if wall and t0 is not None and t1 is not None else 0.0
    tc = _case(suite, classname, f"step:{s.get('index')} {s.get('text')}", max(time, 0.0))
    if s.get("ok") is None:
        ET.SubElement(tc, "skipped", message="step not reached")
        return "skipped"
    if s.get("ok") is True:
        return None
    detail = str(s.get("detail") or "step failed")
    failure = ET.SubElement(tc, "failure", message=clean(detail), type="step")
    failure.text = clean(f"step {s.get('index')} ({s.get('action')}): {s.get('text')}\n"
                         f"from t={fmt_t(t0)} to t={fmt_t(t1)}\n{detail}")
    return "failure"


def _measurements(result: Result) -> str:
    lines = [f"scenario {(result.get('scenario') or {}).get('name')} on {result.get('backend')}, "
             f"seed {result.get('seed')}: {'PASS' if result.get('ok') is True else 'FAIL'}",
             "measurements (ms after the fault, or after the heal for the merge):"]
    def ms(value: object) -> str:
        return "n/a" if value is None else f"{fmt_ms(value)} ms"

    for m in result.get("measurements") or []:
        lines.append(f"  fault {m.get('fault_id')} {m.get('fault')} at t={fmt_t(m.get('t_fault_ms'))}: "
                     f"detection {ms(m.get('detection_ms'))}, new membership "
                     f"{ms(m.get('new_membership_ms'))}, merge after heal "
                     f"{ms(m.get('merge_after_heal_ms'))}")
    if len(lines) == 2:
        lines.append("  none")
    return clean("\n".join(lines) + "\n")


def render_junit(result: Result) -> str:
    """The JUnit XML document (UTF-8 declaration included)."""
    scenario = str((result.get("scenario") or {}).get("name") or "unnamed")
    backend = str(result.get("backend") or "unknown")
    classname = clean(f"hastack.{scenario}.{backend}")
    root = ET.Element("testsuites", name="hastack")
    suite = ET.SubElement(root, "testsuite", name=clean(f"hastack.{scenario}"))
    props = ET.SubElement(suite, "properties")
    for key, value in (("seed", result.get("seed")), ("backend", backend),
                       ("scenario_file", (result.get("scenario") or {}).get("file")),
                       ("started_at", result.get("started_at")),
                       ("duration_ms", result.get("duration_ms")), ("ok", result.get("ok"))):
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else clean(value)
            ET.SubElement(props, "property", name=key, value=text)
    outcomes = [_check_case(suite, classname, c) for c in result.get("checks") or []]
    outcomes += [_step_case(suite, classname, s, backend == "docker") for s in result.get("steps") or []]
    ET.SubElement(suite, "system-out").text = _measurements(result)
    counts = {"tests": str(len(outcomes)), "failures": str(outcomes.count("failure")), "errors": "0",
              "skipped": str(outcomes.count("skipped")), "time": f"{num(result.get('wall_s')):.3f}"}
    for element in (root, suite):
        for key, value in counts.items():
            element.set(key, value)
    stamp = _timestamp(result.get("started_at"))
    if stamp:
        suite.set("timestamp", stamp)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(result: Result, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_junit(result), encoding="utf-8")
