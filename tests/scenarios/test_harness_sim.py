"""Every shipped scenario on the simulator backend: it passes, and its run directory
holds what a run must store."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import checks
from harness.runner import run
from harness.scenario import load, parse

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_passes_on_sim(path: Path, tmp_path: Path) -> None:
    result, run_dir = run(load(path), "sim", seed=1, runs_dir=tmp_path, progress=lambda s: None)
    failed = [s for s in result["steps"] if not s["ok"]] + \
             [v for c in result["checks"] for v in c["violations"]]
    assert result["ok"], failed
    assert {c["name"] for c in result["checks"]} >= {"membership_agreement", "convergence"}
    for name in ("scenario.yaml", "result.json", "junit.xml", "report.html"):
        assert (run_dir / name).stat().st_size > 0
    assert json.loads((run_dir / "result.json").read_text()) == json.loads(json.dumps(result))
    ET.parse(run_dir / "junit.xml")
    for n in result["nodes"]:
        assert (run_dir / result["files"]["traces"][str(n)]).exists()
    assert result["measurements"] and len(result["timeline"]) == len(result["nodes"])


def test_same_seed_same_run(tmp_path: Path) -> None:
    sc = load(SCENARIOS[0])
    a, _ = run(sc, "sim", seed=5, runs_dir=tmp_path / "a", progress=lambda s: None)
    b, _ = run(sc, "sim", seed=5, runs_dir=tmp_path / "b", progress=lambda s: None)
    for k in ("steps", "faults", "timeline", "checks", "measurements"):
        assert a[k] == b[k]


def test_two_node_split_is_a_split_brain_without_the_exemption(tmp_path: Path) -> None:
    """The exemption is what makes two_node pass: the checker does see both halves quorate."""
    path = next(p for p in SCENARIOS if p.stem == "two_node_split")
    _, run_dir = run(load(path), "sim", seed=1, runs_dir=tmp_path, progress=lambda s: None)
    records = []
    for n in (1, 2):
        records += [json.loads(x) for x in (run_dir / f"nodes/n{n}/trace.jsonl").read_text().splitlines()]
    records.sort(key=lambda r: r["t_ms"])
    vs = checks.one_quorate_partition(records)
    assert vs and vs[0]["invariant"] == "one_quorate_partition" and vs[0]["nodes"] == [1, 2]


def test_failed_wait_is_reported_with_each_nodes_view(tmp_path: Path) -> None:
    sc = parse("""
name: impossible
cluster: {nodes: 3, totem: {token: 1000}}
steps:
  - wait: {ring: all, quorate: all, within: 20s}
  - partition: "1|2|3"
  - wait: {ring: [1, 2], within: 5s}
  - kill: 1
""", "impossible.yaml")
    result, run_dir = run(sc, "sim", seed=1, runs_dir=tmp_path, progress=lambda s: None)
    assert not result["ok"]
    failed = result["steps"][-1]
    assert failed["index"] == "2" and not failed["ok"]
    assert "not reached within 5000 ms" in failed["detail"] and "n1: ring" in failed["detail"]
    assert len(result["steps"]) == 3             # the kill after it did not run
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert int(junit.find("testsuite").get("failures")) >= 1  # type: ignore[union-attr]
