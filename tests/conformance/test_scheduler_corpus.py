"""``ha simulate`` against Pacemaker's scheduler regression corpus, tier by tier.

For every case listed in ``cts-scheduler.in`` (tiers from ``tiers.tsv``), the
Transition Summary our scheduler produces is compared with the ``.summary`` file's,
as (verb, resource, details) tuples with whitespace collapsed. The scheduler is not
finished, so the test is a ratchet: ``scheduler_baseline.json`` records the cases
that passed; every one of them must still pass (a regression fails), and cases that
newly pass are reported so the baseline can be raised
(``HA_RAISE_SCHEDULER_BASELINE=1`` rewrites it). No case is special-cased.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from ha.cib.xml import parse
from ha.scheduler import schedule

CORPUS = Path(__file__).parents[2].parent / "shared" / "pacemaker-scheduler"
BASELINE = Path(__file__).with_name("scheduler_baseline.json")
#: when the expected summaries of inputs without an execution-date were made: the
#: Pacemaker-2.1.5 release (failure-timeouts and date rules are judged against it)
CORPUS_CLOCK = datetime(2022, 11, 24, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not (CORPUS / "tiers.tsv").is_file(),
                                reason=f"Pacemaker scheduler corpus not found at {CORPUS}")

Line = tuple[str, str, str]


def listed_cases() -> dict[str, str]:
    """name -> tier, for the cases ``cts-scheduler.in`` lists."""
    listed = set(re.findall(r'^\s*(?:\[\s*)+"([^"]+)"', (CORPUS / "cts-scheduler.in").read_text(),
                            flags=re.M))
    tiers = {}
    for row in (CORPUS / "tiers.tsv").read_text().splitlines()[1:]:
        name, tier = row.split("\t")[:2]
        if name in listed:
            tiers[name] = tier
    return tiers


def summary_tuples(lines: list[str]) -> list[Line]:
    """Transition Summary lines as (verb, resource, details), whitespace collapsed."""
    out = []
    for line in lines:
        words = line.replace("*", " ", 1).split()
        if len(words) >= 2:
            out.append((words[0], words[1], " ".join(words[2:])))
    return out


def expected(name: str) -> list[Line]:
    text = (CORPUS / "summary" / f"{name}.summary").read_text()
    lines = []
    for ln in text.split("Transition Summary:\n", 1)[1].splitlines():
        if not ln.startswith("  * "):
            break
        lines.append(ln)
    return summary_tuples(lines)


def actual(name: str) -> list[Line]:
    from ha.scheduler.text import summary_lines

    root = parse((CORPUS / "xml" / f"{name}.xml").read_bytes(), f"{name}.xml")
    # as crm_simulate: "now" is the CIB's execution-date, else the clock when the
    # summary was made (a date after every date in the inputs will do)
    now = None if root.get("execution-date") else CORPUS_CLOCK
    return summary_tuples(summary_lines(schedule(root, now).changes))


def passes(name: str) -> bool:
    try:
        return actual(name) == expected(name)
    except Exception:  # a crash on an unsupported feature is a failing case
        return False


@cache
def results() -> dict[str, tuple[str, bool]]:
    return {name: (tier, passes(name)) for name, tier in sorted(listed_cases().items())}


def report(res: dict[str, tuple[str, bool]]) -> str:
    lines = ["tier  pass / total      %"]
    for tier in sorted({t for t, _ in res.values()}):
        cases = [ok for t, ok in res.values() if t == tier]
        lines.append(f"{tier:>4}  {sum(cases):>4} / {len(cases):<5}  {100 * sum(cases) / len(cases):5.1f}")
    total = [ok for _, ok in res.values()]
    lines.append(f" all  {sum(total):>4} / {len(total):<5}  {100 * sum(total) / len(total):5.1f}")
    return "\n".join(lines)


def test_no_baseline_case_regresses() -> None:
    res = results()
    baseline: dict[str, list[str]] = json.loads(BASELINE.read_text())
    print("\n" + report(res))
    passing = {n for n, (_, ok) in res.items() if ok}
    was = {n for names in baseline.values() for n in names}
    new = sorted(passing - was)
    if new:
        print(f"newly passing ({len(new)}), raise the baseline: {' '.join(new)}")
    if os.environ.get("HA_RAISE_SCHEDULER_BASELINE") == "1":
        raised = {t: sorted(n for n, (tt, ok) in res.items() if ok and tt == t)
                  for t in sorted({t for t, _ in res.values()})}
        BASELINE.write_text(json.dumps(raised, indent=1) + "\n")
    regressed = sorted(was - passing)
    assert not regressed, f"cases that passed before fail now: {regressed}"


def test_summary_comparison_collapses_whitespace() -> None:
    a = summary_tuples(["  * Start      rsc2    (          node1 )"])
    assert a == [("Start", "rsc2", "( node1 )")]
