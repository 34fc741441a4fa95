"""Scenario scripts with golden traces (``tests/scenarios/*.txt``, see ``ha.sim.script``).

Each script runs in the simulator; its output must equal the part of the file below
``----``. ``HASTACK_REWRITE=1`` regenerates that part instead, except for a script
whose ``expect`` fails: such a file is left untouched and the test fails.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ha.sim.script import ScriptError, check_file, diff, run_script

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.txt"))
REWRITE = os.environ.get("HASTACK_REWRITE", "") not in ("", "0")


def test_scenarios_exist() -> None:
    assert len(FILES) >= 7, f"expected the scenario scripts in {SCENARIOS}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path: Path) -> None:
    outcome, expected = check_file(path, rewrite=REWRITE)
    if outcome.failures:
        pytest.fail(f"{path.name}: expectation(s) failed:\n  " + "\n  ".join(outcome.failures)
                    + "\n" + diff(path, expected, outcome.output), pytrace=False)
    if expected is None:
        pytest.fail(f"{path.name} has no expected output; run with HASTACK_REWRITE=1",
                    pytrace=False)
    if outcome.output != expected:
        pytest.fail(f"{path.name}: output differs from the golden trace "
                    "(HASTACK_REWRITE=1 regenerates it):\n" + diff(path, expected, outcome.output),
                    pytrace=False)


def test_scenario_output_is_deterministic() -> None:
    text = FILES[0].read_text()
    assert run_script(text).output == run_script(text).output


def test_failed_expect_is_reported_and_not_rewritten(tmp_path: Path) -> None:
    script = ("cluster nodes=3 seed=1 token=300 coefficient=0\nstart\nrun 1s\n"
              "kill 3\nrun 2s\nexpect ring 1,2,3\nexpect inquorate 1\n")
    path = tmp_path / "bad.txt"
    path.write_text(script)
    outcome, _ = check_file(path, rewrite=True)
    assert len(outcome.failures) == 2
    assert re.search(r"FAILED: n1 is operational in ring \(1,\d+\) with members 1,2; n2 is",
                     outcome.output)
    assert "n3 is down" in outcome.failures[0]
    assert outcome.failures[1] == "FAILED: n1 is quorate"
    assert path.read_text() == script


@pytest.mark.parametrize(("line", "message"), [
    ("frobnicate 1", "unknown command 'frobnicate'; expected one of:"),
    ("run 2", "expected a duration such as 300ms or 1.5s, got '2'"),
    ("kill 9", "expected a node id of the cluster 1,2,3, got '9'"),
    ("partition 1,2", "expected at least two groups"),
    ("loss 2 lots", "expected a loss such as 30% or 0.3, got 'lots'"),
    ("expect sunshine 1", "expected: expect quorate|inquorate|ring"),
    ("send 1 x unsafe", "expected 'safe' or nothing after the payload"),
])
def test_bad_command_names_file_and_line(line: str, message: str) -> None:
    script = f"cluster nodes=3 seed=1 token=300 coefficient=0\n# comment\n{line}\n"
    with pytest.raises(ScriptError, match=r"^x\.txt:3: ") as exc:
        run_script(script, "x.txt")
    assert message in str(exc.value)


@pytest.mark.parametrize(("line", "message"), [
    ("run 1s", "expected a 'cluster' command first"),
    ("cluster nodes=3 colour=red", "unknown cluster option(s) colour"),
    ("cluster nodes=3 two_node=1", "two_node: expected exactly 2 nodes"),
    ("cluster nodes=3 lms=yes", "lms: expected 0 or 1, got 'yes'"),
])
def test_bad_cluster(line: str, message: str) -> None:
    with pytest.raises(ScriptError, match=r"^s:1: ") as exc:
        run_script(line + "\n", "s")
    assert message in str(exc.value)
