"""Scenario files: what parses, and errors that name the file, the step and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import ScenarioError, duration_ms, load, parse

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))

BASE = """
name: t
cluster: {nodes: 3, totem: {token: 1000}}
steps:
"""


def steps(text: str) -> list[tuple[str, str, object]]:
    sc = parse(BASE + text, "t.yaml")
    return [(s.index, s.action, s.args) for s in sc.steps]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_parse(path: Path) -> None:
    sc = load(path)
    assert sc.steps and sc.checks
    assert sc.name == path.stem


def test_durations() -> None:
    assert duration_ms("500ms", 1650, "x") == 500
    assert duration_ms("1.5s", 1650, "x") == 1500
    assert duration_ms(2, 1650, "x") == 2000
    assert duration_ms("2xtoken", 1650, "x") == 3300
    assert duration_ms("1m", 1650, "x") == 60000
    with pytest.raises(ScenarioError, match="expected a duration"):
        duration_ms("soon", 1650, "steps[2].within")


def test_token_timeout_includes_the_coefficient() -> None:
    sc = parse(BASE + "  - sleep: 2xtoken\n", "t.yaml")
    assert sc.token_timeout_ms() == 1650
    assert sc.steps[0].args == {"ms": 3300}


def test_actions() -> None:
    got = steps("""
  - wait: {ring: all, quorate: [1, 2], within: 10s}
  - kill: n3
  - partition: "1|2,3"
  - partition: halves
  - oneway: "1>2,3"
  - loss: {link: "3,1", percent: "20%"}
  - pause: {node: 2, for: 2xtoken}
  - heal: partition
  - load: {senders: [1], rate: 10, duration: 2s}
""")
    assert got[0] == ("0", "wait", {"ring": [1, 2, 3], "quorate": [1, 2], "within_ms": 10000.0})
    assert got[1] == ("1", "kill", {"node": 3})
    assert got[2] == ("2", "partition", {"groups": [[1], [2, 3]]})
    assert got[3] == ("3", "partition", {"shape": "halves"})
    assert got[4] == ("4", "oneway", {"src": [1], "dst": [2, 3]})
    assert got[5] == ("5", "loss", {"link": [1, 3], "percent": 20.0})
    assert got[6] == ("6", "pause", {"node": 2, "for_ms": 3300.0})
    assert got[7] == ("7", "heal", {"what": "partition"})
    assert got[8][2]["senders"] == [1]


def test_for_each_expands_node_and_others() -> None:
    got = steps("""
  - for_each:
      nodes: [1, 3]
      steps:
        - isolate: "{node}"
        - wait: {quorate: "{others}", within: 5s}
""")
    assert got == [("0.1.0", "isolate", {"node": 1}),
                   ("0.1.1", "wait", {"quorate": [3], "within_ms": 5000.0}),
                   ("0.3.0", "isolate", {"node": 3}),
                   ("0.3.1", "wait", {"quorate": [1], "within_ms": 5000.0})]


@pytest.mark.parametrize("text, message", [
    ("  - kill: 4\n", "t.yaml: steps[0].kill: node 4 is not in the cluster"),
    ("  - explode: 1\n", "t.yaml: steps[0]: unknown action 'explode'"),
    ("  - wait: {ring: all}\n", "t.yaml: steps[0].wait: missing key 'within'"),
    ("  - wait: {ring: all, within: 1s, color: red}\n", "steps[0].wait: unknown key 'color'"),
    ("  - sleep: 1s\n  - loss: {node: 1, percent: 120}\n", "steps[1].loss.percent: expected a percentage in 0..100"),
    ("  - partition: \"1,2|2,3\"\n", "node 2 is in two groups"),
    ("  - oneway: \"1>1\"\n", "steps[0].oneway: expected SRC>DST"),
    ("  - wait: {ring: all, within: later}\n", "steps[0].wait.within: expected a duration"),
])
def test_errors_name_the_step_and_key(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as ei:
        parse(BASE + text, "t.yaml")
    assert message in str(ei.value)


def test_structural_errors() -> None:
    with pytest.raises(ScenarioError, match="not valid YAML"):
        parse("cluster: [", "bad.yaml")
    with pytest.raises(ScenarioError, match="cluster.nodes: expected a node count"):
        parse("cluster: {nodes: 0}\nsteps: [{sleep: 1}]\n", "bad.yaml")
    with pytest.raises(ScenarioError, match="top level: missing key 'steps'"):
        parse("cluster: {nodes: 2}\n", "bad.yaml")
    with pytest.raises(ScenarioError, match=r"checks\[0\]: unknown check 'liveness'"):
        parse("cluster: {nodes: 2}\nsteps: [{sleep: 1}]\nchecks: [liveness]\n", "bad.yaml")
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load("/nonexistent/x.yaml")
