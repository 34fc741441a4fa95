"""The fencer through real daemons on loopback with Debian's fence_dummy: a device
configured in the CIB, ``ha stonith fence`` through one node, the history the same on
every node; identical concurrent requests merged into one operation; topology levels
edited with ``ha stonith level``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness.realcluster import HastackCluster

pytestmark = pytest.mark.skipif(shutil.which("fence_dummy") is None
                                and not os.path.exists("/usr/sbin/fence_dummy"),
                                reason="fence_dummy not installed (Debian package fence-agents)")


def cli(c: HastackCluster, i: int, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ha.cli.main", *args, "--socket", c.path(i, "sock")],
                          capture_output=True, text=True, timeout=timeout)


def device(rid: str, status_file: str, **extra: str) -> str:
    attrs = {"status_file": status_file, "pcmk_host_list": "node1 node2 node3", **extra}
    nvs = "".join(f'<nvpair id="{rid}-{k}" name="{k}" value="{v}"/>' for k, v in attrs.items())
    return (f'<primitive id="{rid}" class="stonith" type="fence_dummy">'
            f'<instance_attributes id="{rid}-ia">{nvs}</instance_attributes></primitive>')


def history(c: HastackCluster, i: int) -> list[dict[str, Any]]:
    r = cli(c, i, "stonith", "history", "--output-as", "json")
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout)["history"])


def wait_devices(c: HastackCluster, ids: set[str]) -> None:
    def ok() -> bool:
        for i in c.nodes:
            r = cli(c, i, "stonith", "list", "--devices", "--output-as", "json")
            if r.returncode != 0 or {d["id"] for d in json.loads(r.stdout)["devices"]} != ids:
                return False
        return True
    c.wait_for(f"devices {sorted(ids)} on every node", ok, 30)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[HastackCluster]:
    with HastackCluster(3, str(tmp_path), token=300, token_coefficient=0) as c:
        c.start_converged()
        c.wait_cib_synced()
        yield c


def test_fence_through_one_node_history_on_every_node(cluster: HastackCluster,
                                                      tmp_path: Path) -> None:
    c = cluster
    status = tmp_path / "dummy.status"
    status.write_text("on")
    r = cli(c, 1, "cib", "create", "-o", "resources", "--xml", device("fd1", str(status)))
    assert r.returncode == 0, r.stderr
    wait_devices(c, {"fd1"})
    r = cli(c, 2, "stonith", "fence", "node3", "--off", "--output-as", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    op = json.loads(r.stdout)["op"]
    assert op["state"] == "done" and op["delegate"] == "node2" and op["devices"] == ["fd1"]
    # fence_dummy type=file records the power state it was asked for
    assert status.read_text().strip() == "off"
    c.wait_for("the result on every node", lambda: all(
        [h["state"] for h in history(c, i)] == ["done"] for i in c.nodes), 20)
    views = [history(c, i) for i in c.nodes]
    assert all(v == views[0] for v in views)
    text = cli(c, 1, "stonith", "history", "node3")
    assert text.stdout.startswith("off of node3 successful: delegate=node2,"), text.stdout
    # a node nobody can fence: no device lists it → exit 105 as stonith_admin's "no such device"
    r = cli(c, 1, "stonith", "fence", "node9")
    assert r.returncode == 105 and "no fence device" in r.stderr


def test_failing_device_reported_and_next_level_used(cluster: HastackCluster,
                                                     tmp_path: Path) -> None:
    c = cluster
    good = tmp_path / "good.status"
    xml = ("<resources>" + device("bad", str(tmp_path / "bad.status"), type="fail",
                                  power_timeout="1", pcmk_off_retries="1")
           + device("good", str(good)) + "</resources>")
    assert cli(c, 1, "cib", "create", "-o", "resources", "--xml", xml).returncode == 0
    wait_devices(c, {"bad", "good"})
    assert cli(c, 1, "stonith", "level", "add", "1", "node2", "bad").returncode == 0
    assert cli(c, 1, "stonith", "level", "add", "2", "node2", "good").returncode == 0
    bad = cli(c, 1, "stonith", "level", "add", "3", "node2", "nosuch")
    assert bad.returncode != 0 and "device 'nosuch' is not a configured resource" in bad.stderr
    listed = cli(c, 3, "stonith", "level", "list", "node2")
    assert listed.stdout.splitlines() == ["Target: node2", "  Level 1 - bad", "  Level 2 - good"]
    r = cli(c, 1, "stonith", "fence", "node2", "--off", "--output-as", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["op"]["devices"] == ["good"]
    # without level 2 the only level fails: exit 1 and the agent's failure in the reason
    assert cli(c, 1, "stonith", "level", "delete", "2", "node2").returncode == 0
    r = cli(c, 1, "stonith", "fence", "node2", "--off")
    assert r.returncode == 1 and "bad: agent exited with status 1" in r.stderr


def test_identical_concurrent_requests_merged(cluster: HastackCluster, tmp_path: Path) -> None:
    c = cluster
    # a device slow enough that the second request arrives while the first is pending
    xml = device("slow", str(tmp_path / "s.status"), pcmk_delay_base="4s")
    assert cli(c, 1, "cib", "create", "-o", "resources", "--xml", xml).returncode == 0
    wait_devices(c, {"slow"})
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda i: cli(c, i, "stonith", "fence", "node3", "--output-as",
                                           "json"), [1, 2]))
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    ops = [json.loads(r.stdout)["op"] for r in runs]
    merged = [o for o in ops if o["merged_into"]]
    assert len(merged) == 1 and merged[0]["merged_into"] in {o["id"] for o in ops}
    runs_of_agent = [t for i in c.nodes for t in c.trace_records(i, "fence_exec")]
    assert len(runs_of_agent) == 1, runs_of_agent
    for i in c.nodes:
        assert len(history(c, i)) == 2


def test_suicide_node_losing_quorum_exits(cluster: HastackCluster) -> None:
    c = cluster
    assert cli(c, 1, "property", "set", "no-quorum-policy", "suicide").returncode == 0
    c.wait_for("the property on node 1", lambda: 'value="suicide"' in
               (c.try_ask(1, "cib_query") or {}).get("xml", ""), 20)
    c.kill_node(2)
    c.kill_node(3)
    c.wait_for("node 1 to fence itself (exit)", lambda: not c.running(1), 30)
    assert [r["reason"] for r in c.trace_records(1, "self_fenced")] == \
        ["quorum lost with no-quorum-policy=suicide"]
    assert "self-fencing: quorum lost" in c.log_text(1)


def test_restarted_node_gets_the_history(cluster: HastackCluster, tmp_path: Path) -> None:
    c = cluster
    xml = device("fd1", str(tmp_path / "p.status"))
    assert cli(c, 1, "cib", "create", "-o", "resources", "--xml", xml).returncode == 0
    wait_devices(c, {"fd1"})
    assert cli(c, 1, "stonith", "fence", "node2", "--on").returncode == 0
    c.kill_node(3)
    c.start_node(3)

    def restored() -> bool:
        r = c.try_ask(3, "stonith_history")
        return r is not None and [(h["action"], h["target"], h["state"])
                                  for h in r["history"]] == [("on", "node2", "done")]

    c.wait_for("node 3 to have the history again", restored, 30)
    assert history(c, 3) == history(c, 1)
