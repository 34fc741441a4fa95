"""The Docker smoke scenario (3 nodes: kill and restart, a partition and heal), run
exactly as `ha-harness run scenarios/smoke.yaml --backend docker` runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.runner import run
from harness.scenario import load

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def docker_ready() -> None:
    from harness.image import build, unavailable

    why = unavailable()
    if why:
        pytest.skip(f"Docker is unavailable: {why}")
    build(progress=lambda s: None)


def test_smoke_scenario_on_docker(docker_ready: None, tmp_path: Path) -> None:
    from harness.docker_cluster import clusters

    result, run_dir = run(load(ROOT / "scenarios/smoke.yaml"), "docker", seed=1,
                          runs_dir=tmp_path, progress=print)
    failed = [s for s in result["steps"] if not s["ok"]] + \
             [v for c in result["checks"] for v in c["violations"]]
    assert result["ok"], failed
    # what a run must store
    for name in ("scenario.yaml", "result.json", "junit.xml", "report.html"):
        assert (run_dir / name).stat().st_size > 0
    for n in result["nodes"]:
        trace = run_dir / result["files"]["traces"][str(n)]
        assert any(json.loads(x)["event"] == "operational" for x in trace.read_text().splitlines())
        assert (run_dir / result["files"]["logs"][str(n)]).stat().st_size > 0
    # each fault measured; kill detection and partition merge happened
    by = {m["fault"]: m for m in result["measurements"]}
    assert by["kill n3"]["new_membership_ms"] is not None
    assert by["partition 1|2,3"]["merge_after_heal_ms"] is not None
    # the down state of the killed node is on its lane
    assert any(s["state"] == "down" for s in result["timeline"]["3"])
    # nothing left behind
    assert not [c for c in clusters() if c["name"].startswith("run-smoke")]


@pytest.mark.ha_cluster(nodes=3, backend="docker", totem={"token": 1000})
def test_fixture_on_docker_isolate_and_pause(docker_ready: None, ha_cluster: Any) -> None:
    ha_cluster.wait(ring="all", quorate="all", within="60s")
    ha_cluster.do({"isolate": 2})
    ha_cluster.wait(ring=[1, 3], quorate=[1, 3], within="20s")
    ha_cluster.wait(inquorate=[2], within="20s")
    ha_cluster.do({"heal": "all"})
    ha_cluster.wait(ring="all", quorate="all", within="30s")
    ha_cluster.do({"pause": {"node": 1, "for": "2xtoken"}})
    ha_cluster.wait(ring="all", quorate="all", within="30s")
    ha_cluster.assert_checks()
