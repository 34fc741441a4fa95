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


def test_keep_leaves_the_cluster_up_and_says_how_to_reach_it(docker_ready: None,
                                                             tmp_path: Path) -> None:
    from harness.docker_cluster import DockerCluster, clusters, down_by_label
    from harness.scenario import parse

    sc = parse("""
name: keepme
cluster: {nodes: 2, totem: {token: 1000}}
steps:
  - wait: {ring: all, within: 60s}
""", "keepme.yaml")
    result, _ = run(sc, "docker", seed=1, runs_dir=tmp_path, keep="always", progress=print)
    name = next(c["name"] for c in clusters() if c["name"].startswith("run-keepme"))
    try:
        assert f"ha-harness status --name {name}" in result["kept"]
        c = DockerCluster.attach(name)
        assert c.running(1) and c.running(2)
    finally:
        down_by_label(name)


def _cli(*args: str, check: bool = True) -> Any:
    import subprocess
    import sys

    cp = subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                        text=True, timeout=180)
    if check:
        assert cp.returncode == 0, (args, cp.stdout, cp.stderr)
    return cp


def test_cli_up_break_heal_down(docker_ready: None, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASTACK_HARNESS_DIR", str(tmp_path))
    name = f"cli{tmp_path.name[-6:].replace('_', '')}"
    try:
        up = _cli("up", "--nodes", "3", "--name", name)
        assert "3 nodes quorate" in up.stdout
        from harness.docker_cluster import clusters
        # made by a command, not by this test: no session's orphan reaping removes it
        assert [c["ephemeral"] for c in clusters() if c["name"] == name] == [False]
        st = json.loads(_cli("status", "--name", name, "--output-as", "json").stdout)
        assert [r["quorate"] for r in st["nodes"]] == [True, True, True]
        q = _cli("exec", "--name", name, "n1", "--", "ha", "quorum")
        assert "Quorate" in q.stdout            # and exit 0: quorate
        _cli("fault", "--name", name, "isolate", "3")
        # the isolated node loses quorum: `ha quorum` exits 2 there
        import time
        deadline = time.monotonic() + 30
        while _cli("exec", "--name", name, "n3", "--", "ha", "quorum", check=False).returncode != 2:
            assert time.monotonic() < deadline, "n3 never lost quorum"
            time.sleep(0.5)
        st = json.loads(_cli("status", "--name", name, "--output-as", "json").stdout)
        assert any("n3" in line for line in st["faults"])
        bad = _cli("fault", "--name", name, "partition", "1,2|2,3", check=False)
        assert bad.returncode == 2 and "node 2 is in two groups" in bad.stderr
        _cli("heal", "--name", name)
        deadline = time.monotonic() + 30
        while _cli("exec", "--name", name, "n3", "--", "ha", "quorum", check=False).returncode != 0:
            assert time.monotonic() < deadline, "n3 never regained quorum"
            time.sleep(0.5)
        assert "A new membership" in _cli("logs", "--name", name, "n1").stdout
    finally:
        gone = _cli("down", "--name", name, check=False)
    assert f"{name}-n1" in gone.stdout
    from harness.docker_cluster import clusters
    assert not [c for c in clusters() if c["name"] == name]
