"""The executor hosted by the node daemon: ``ha resource op`` through the daemon, its
local resource view (``ha resource status``), and self-fencing that stops this node's
resources before the process exits (no-quorum-policy=suicide).

The ``stop_all`` tests drive an ``ExecutorService`` directly, with a test agent that
records each action it runs; the cluster tests run Debian's ocf:heartbeat:Dummy
through three real daemons on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ha.executor import Request, ResourceAgent
from ha.runtime.executor_agents import AgentDirectory
from ha.runtime.executorservice import ExecutorService
from harness.realcluster import HastackCluster

DUMMY = Path("/usr/lib/ocf/resource.d/heartbeat/Dummy")
needs_dummy = pytest.mark.skipif(not DUMMY.exists(),
                                 reason="Debian's resource-agents is not installed")

# An agent that appends "<action> <instance>" to $OCF_RESKEY_log; its stop fails
# (exit 1) when OCF_RESKEY_fail_stop=1 and hangs when OCF_RESKEY_hang_stop=1.
RECORDER = """#!/bin/sh
echo "$1 $OCF_RESOURCE_INSTANCE" >> "$OCF_RESKEY_log"
case "$1" in
  meta-data) echo '<resource-agent name="Recorder"/>'; exit 0 ;;
  stop)
    [ "$OCF_RESKEY_hang_stop" = 1 ] && exec sleep 60
    [ "$OCF_RESKEY_fail_stop" = 1 ] && { echo "ocf-exit-reason:refusing to stop" >&2; exit 1; }
    exit 0 ;;
  start|promote|demote|monitor|validate-all) exit 0 ;;
  *) exit 3 ;;
esac
"""


class _Trace:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def write(self, now: float, event: str, fields: dict[str, Any]) -> None:
        self.records.append((event, fields))


def _service(tmp_path: Path) -> tuple[ExecutorService, _Trace]:
    agent_dir = tmp_path / "ocf" / "test"
    agent_dir.mkdir(parents=True)
    (agent_dir / "Recorder").write_text(RECORDER)
    (agent_dir / "Recorder").chmod(0o755)
    trace = _Trace()
    daemon = SimpleNamespace(me=SimpleNamespace(name="node1"), node_id=1, trace=trace)
    svc = ExecutorService(daemon, AgentDirectory(ra_path=[str(tmp_path / "ocf")]))  # type: ignore[arg-type]
    return svc, trace


def _req(rsc: str, action: str, log: Path, **params: str) -> Request:
    return Request(rsc, ResourceAgent.parse("ocf:test:Recorder"), action, timeout_ms=5000,
                   params={"log": str(log), **params})


def test_stop_all_reverse_start_order_demotes_first_and_cancels_monitors(tmp_path: Path) -> None:
    svc, trace = _service(tmp_path)
    log = tmp_path / "actions.log"

    async def scenario() -> list[dict[str, Any]]:
        try:
            for rsc in ("a", "b", "c"):
                assert (await svc.submit(_req(rsc, "start", log))[1]).rc == 0
            assert (await svc.submit(_req("b", "promote", log), demote_timeout_ms=4000)[1]).rc == 0
            assert (await svc.submit(_req("a", "start", log))[1]).rc == 0   # restarted: now last
            await svc.submit(Request("c", ResourceAgent.parse("ocf:test:Recorder"), "monitor",
                                     interval_ms=60_000, params={"log": str(log)}))[1]
            status = svc.status()
            assert [(a["rsc"], a["role"]) for a in status["active"]] == [
                ("b", "Promoted"), ("c", "Started"), ("a", "Started")]
            assert [m["key"] for m in status["recurring"]] == ["c_monitor_60000"]
            log.write_text("")
            results = await svc.stop_all(30.0)
            refused = await svc.operate({"op": "resource_op", "rsc": "a", "action": "start"})
            assert refused["ok"] is False and "stopping" in refused["error"]
            return results
        finally:
            await svc.close()

    results = asyncio.run(scenario())
    assert [(r["rsc"], r["stopped"], r["action"]) for r in results] == [
        ("a", True, "stop"), ("c", True, "stop"), ("b", True, "stop")]
    assert log.read_text().split("\n")[:-1] == ["stop a", "stop c", "demote b", "stop b"]
    assert svc.active == {} and svc.status()["recurring"] == []
    assert [f["key"] for e, f in trace.records if e == "executor_cancel"] == ["c_monitor_60000"]
    assert [e for e, _ in trace.records][-1] == "executor_stop_all"


def test_stop_all_failed_and_hung_stops_are_reported_and_left_active(tmp_path: Path) -> None:
    svc, _ = _service(tmp_path)
    log = tmp_path / "actions.log"

    async def scenario() -> list[dict[str, Any]]:
        try:
            assert (await svc.submit(_req("hung", "start", log, hang_stop="1"),
                                     stop_timeout_ms=2500)[1]).rc == 0
            assert (await svc.submit(_req("bad", "start", log, fail_stop="1"),
                                     stop_timeout_ms=3000)[1]).rc == 0
            results = await svc.stop_all(1.0)
            while svc.runner.core.running:      # the hung stop runs on to its own timeout
                await asyncio.sleep(0.05)
            return results
        finally:
            await svc.close()

    results = asyncio.run(scenario())
    bad, hung = results
    assert (bad["rsc"], bad["stopped"], bad["rc"], bad["exit_reason"]) == (
        "bad", False, 1, "refusing to stop")
    assert (hung["rsc"], hung["stopped"]) == ("hung", False)
    assert "still running" in hung["error"] or "no time left" in hung["error"]
    assert list(svc.active) == ["hung", "bad"]          # neither is known to be down
    assert svc.active["bad"].stop_timeout_ms == 3000


# ---- through real daemons --------------------------------------------------------------

def cli(c: HastackCluster, i: int, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ha.cli.main", *args, "--socket", c.path(i, "sock")],
                          capture_output=True, text=True, timeout=timeout)


def dummy(rid: str, state: Path) -> str:
    return (f'<primitive id="{rid}" class="ocf" provider="heartbeat" type="Dummy">'
            f'<instance_attributes id="{rid}-ia"><nvpair id="{rid}-s" name="state" '
            f'value="{state}"/></instance_attributes><operations>'
            f'<op id="{rid}-mon" name="monitor" interval="10s" timeout="7s"/>'
            f'<op id="{rid}-stop" name="stop" interval="0" timeout="15s"/>'
            f'</operations></primitive>')


def status(c: HastackCluster, i: int) -> dict[str, Any]:
    r = cli(c, i, "resource", "status", "--output-as", "json")
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[HastackCluster]:
    with HastackCluster(3, str(tmp_path), token=300, token_coefficient=0) as c:
        c.start_converged()
        c.wait_cib_synced()
        yield c


@needs_dummy
def test_op_through_the_daemon_then_suicide_stops_resources(cluster: HastackCluster,
                                                            tmp_path: Path) -> None:
    c = cluster
    s1, s2 = tmp_path / "r1.state", tmp_path / "r2.state"
    xml = "<resources>" + dummy("r1", s1) + dummy("r2", s2) + "</resources>"
    assert cli(c, 1, "cib", "create", "-o", "resources", "--xml", xml).returncode == 0
    c.wait_for("r2 in node 1's CIB", lambda: 'id="r2"' in
               (c.try_ask(1, "cib_query") or {}).get("xml", ""), 20)
    check = cli(c, 1, "resource", "op", "r1", "force-check")
    assert check.returncode == 7 and "returned 7 (not running)" in check.stdout
    start = cli(c, 1, "resource", "op", "r1", "force-start", "--output-as", "json")
    assert start.returncode == 0, start.stderr
    res = json.loads(start.stdout)
    assert (res["node"], res["action"], res["rc"], res["timeout_ms"]) == ("node1", "start", 0, 20000)
    assert s1.exists()
    assert cli(c, 1, "resource", "op", "r2", "start").returncode == 0 and s2.exists()
    mon = cli(c, 1, "resource", "op", "r1", "monitor", "--interval", "10s")
    assert mon.returncode == 0 and "returned 0 (ok)" in mon.stdout, mon.stdout + mon.stderr
    st = status(c, 1)
    assert [(a["rsc"], a["role"], a["stop_timeout_ms"]) for a in st["active"]] == [
        ("r1", "Started", 15000), ("r2", "Started", 15000)]
    assert [(m["key"], m["timeout_ms"], m["last_rc"]) for m in st["recurring"]] == [
        ("r1_monitor_10000", 7000, 0)]
    text = cli(c, 1, "resource", "status").stdout
    assert "* r1 (ocf:heartbeat:Dummy): Started" in text and "r1_monitor_10000" in text
    assert status(c, 2)["active"] == []               # each node's executor is its own

    assert cli(c, 1, "property", "set", "no-quorum-policy", "suicide").returncode == 0
    c.wait_for("the property on node 1", lambda: 'value="suicide"' in
               (c.try_ask(1, "cib_query") or {}).get("xml", ""), 20)
    c.kill_node(2)
    c.kill_node(3)
    c.wait_for("node 1 to fence itself (exit)", lambda: not c.running(1), 60)
    assert c.procs[1].returncode == 1
    assert not s1.exists() and not s2.exists()        # Dummy's stop removed its state file
    (stopped,) = [r["results"] for r in c.trace_records(1, "executor_stop_all")]
    assert [(r["rsc"], r["stopped"]) for r in stopped] == [("r2", True), ("r1", True)]
    events = [r["event"] for r in c.trace_records(1)]
    assert events.index("executor_stop_all") < events.index("self_fenced")
    assert "r1_monitor_10000" in [r["key"] for r in c.trace_records(1, "executor_cancel")]


@needs_dummy
def test_bad_requests_get_exit_codes_and_the_daemon_stays(cluster: HastackCluster,
                                                          tmp_path: Path) -> None:
    c = cluster
    xml = dummy("r1", tmp_path / "r1.state")
    assert cli(c, 1, "cib", "create", "-o", "resources", "--xml", xml).returncode == 0
    c.wait_for("r1 in node 2's CIB", lambda: 'id="r1"' in
               (c.try_ask(2, "cib_query") or {}).get("xml", ""), 20)
    nosuch = cli(c, 2, "resource", "op", "nope", "start")
    assert nosuch.returncode == 105 and "no resource named 'nope'" in nosuch.stderr
    bad = cli(c, 2, "resource", "op", "r1", "frobnicate")
    assert bad.returncode == 2 and "unknown action 'frobnicate'" in bad.stderr
    cancel = cli(c, 2, "resource", "op", "r1", "monitor", "--interval", "10s", "--cancel")
    assert cancel.returncode == 105 and "no recurring operation r1_monitor_10000" in cancel.stderr
    for req in ({"rsc": 5, "action": "start"}, {"rsc": "r1", "action": "start", "params": [1]},
                {"rsc": "r1", "action": "monitor", "interval_ms": -1}):
        reply = c.ask(2, "resource_op", **req)
        assert reply["ok"] is False and reply["exit"] == 2, reply
    assert status(c, 2)["active"] == []
    # a recurring monitor through the daemon, then cancelled there
    assert cli(c, 2, "resource", "op", "r1", "start").returncode == 0
    assert cli(c, 2, "resource", "op", "r1", "monitor", "--interval", "10s").returncode == 0
    assert [m["key"] for m in status(c, 2)["recurring"]] == ["r1_monitor_10000"]
    ok = cli(c, 2, "resource", "op", "r1", "monitor", "--interval", "10s", "--cancel")
    assert ok.returncode == 0 and "Cancelled r1_monitor_10000" in ok.stdout
    assert status(c, 2)["recurring"] == []
    assert cli(c, 2, "resource", "op", "r1", "stop").returncode == 0
    assert status(c, 2)["active"] == [] and not (tmp_path / "r1.state").exists()
    assert os.path.exists(c.path(2, "sock")) and c.running(2)
