"""``ha simulate`` against Pacemaker's scheduler regression corpus, tier by tier.

For every case listed in ``cts-scheduler.in`` (tiers from ``tiers.tsv``), the
Transition Summary our scheduler produces is compared with the ``.summary`` file's,
as (verb, resource, details) tuples with whitespace collapsed. The scheduler is not
finished, so the test is a ratchet: ``scheduler_baseline.json`` records the cases
that passed; every one of them must still pass (a regression fails), and cases that
newly pass are reported so the baseline can be raised
(``HA_RAISE_SCHEDULER_BASELINE=1`` rewrites it). No case is special-cased.

The printed table (``pytest -s``) also counts, per tier, the cases whose lines agree
whole with blanks collapsed, and exactly (crm_simulate's column padding too; the
corpus README notes three expected summaries whose padding a Master→Promoted rename
left two characters off), and — for cases whose summary agrees — those whose
``ha simulate -S`` Revised Cluster Status agrees with the file's too.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from ha.cib.xml import parse
from ha.scheduler import Transition, schedule

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


def expected_lines(name: str) -> list[str]:
    text = (CORPUS / "summary" / f"{name}.summary").read_text()
    lines = []
    for ln in text.split("Transition Summary:\n", 1)[1].splitlines():
        if not ln.startswith("  * "):
            break
        lines.append(ln)
    return lines


def expected(name: str) -> list[Line]:
    return summary_tuples(expected_lines(name))


def transition(name: str) -> Transition:
    root = parse((CORPUS / "xml" / f"{name}.xml").read_bytes(), f"{name}.xml")
    # as crm_simulate: "now" is the CIB's execution-date, else the clock when the
    # summary was made (a date after every date in the inputs will do)
    now = None if root.get("execution-date") else CORPUS_CLOCK
    return schedule(root, now)


def actual_lines(name: str) -> list[str]:
    from ha.scheduler.text import summary_lines

    return summary_lines(transition(name).changes)


def revised_agrees(name: str) -> bool:
    """Whether ``ha simulate -S``'s Revised Cluster Status (the transition run in
    simulation) is the summary file's, blanks collapsed."""
    from ha.scheduler.execute import run_graph
    from ha.scheduler.graph import build_graph
    from ha.scheduler.text import status_lines

    t = transition(name)
    ours = status_lines(run_graph(t.cluster, build_graph(t)).revised)[1:]
    text = (CORPUS / "summary" / f"{name}.summary").read_text()
    theirs = text.split("Revised Cluster Status:\n", 1)[1].splitlines()
    return [x for x in collapsed(ours) if x] == [x for x in collapsed(theirs) if x]


def actual(name: str) -> list[Line]:
    return summary_tuples(actual_lines(name))


def collapsed(lines: list[str]) -> list[str]:
    """Whole lines with every run of blanks made one space."""
    return [" ".join(ln.split()) for ln in lines]


@dataclass(frozen=True)
class Verdict:
    """One case judged three ways: as tuples (the ratchet), as whole lines with blanks
    collapsed, and as exact lines (crm_simulate's column padding too)."""

    tuples: bool
    collapsed: bool = False
    exact: bool = False
    #: -S: the revised status after running the transition agrees too
    revised: bool = False


def judge(name: str) -> Verdict:
    try:
        ours, theirs = actual_lines(name), expected_lines(name)
    except Exception:  # a crash on an unsupported feature is a failing case
        return Verdict(False)
    tuples = summary_tuples(ours) == summary_tuples(theirs)
    try:
        revised = tuples and revised_agrees(name)
    except Exception:
        revised = False
    return Verdict(tuples, collapsed(ours) == collapsed(theirs), ours == theirs, revised)


def passes(name: str) -> bool:
    return verdicts()[name][1].tuples


@cache
def verdicts() -> dict[str, tuple[str, Verdict]]:
    return {name: (tier, judge(name)) for name, tier in sorted(listed_cases().items())}


def results() -> dict[str, tuple[str, bool]]:
    return {name: (tier, v.tuples) for name, (tier, v) in verdicts().items()}


def report(res: dict[str, tuple[str, Verdict]]) -> str:
    """The tier table: cases passing as tuples, as collapsed lines, as exact lines."""
    lines = ["tier  tuples / total      %   collapsed   exact   -S revised"]

    def row(label: str, cases: list[Verdict]) -> str:
        n, ok = len(cases), sum(v.tuples for v in cases)
        return (f"{label:>4}  {ok:>6} / {n:<5}  {100 * ok / n:5.1f}   "
                f"{sum(v.collapsed for v in cases):>9}   {sum(v.exact for v in cases):>5}"
                f"   {sum(v.revised for v in cases):>10}")

    for tier in sorted({t for t, _ in res.values()}):
        lines.append(row(tier, [v for t, v in res.values() if t == tier]))
    lines.append(row("all", [v for _, v in res.values()]))
    return "\n".join(lines)


def test_no_baseline_case_regresses() -> None:
    res = results()
    baseline: dict[str, list[str]] = json.loads(BASELINE.read_text())
    print("\n" + report(verdicts()))
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


def test_the_three_comparisons_differ_only_in_blanks_and_padding() -> None:
    padded = ["  * Start      rsc2    (          node1 )"]
    other = ["  * Start      rsc2    ( node1 )"]
    assert summary_tuples(padded) == summary_tuples(other)
    assert collapsed(padded) == ["* Start rsc2 ( node1 )"] == collapsed(other)
    assert padded != other
    assert summary_tuples(["  * Stop rsc1 ( node1 )  due to node availability"]) == [
        ("Stop", "rsc1", "( node1 ) due to node availability")]
