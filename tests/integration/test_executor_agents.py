"""The executor with real agents: Debian's resource-agents (Dummy, anything, Delay,
IPaddr2 in a network namespace), pacemaker's Stateful (promotable), an LSB init
script, and the project's own agent that hangs ignoring SIGTERM — timeouts and
failures provoked for real, never simulated.

Orphaned daemons (anything's process, the LSB service) are reparented to this
process (``PR_SET_CHILD_SUBREAPER``) so that the test can reap what it kills: a
container's init may leave zombies, which ``kill -0`` still reports as running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ha.executor import ActionResult, ExecStatus, Executor, Request, ResourceAgent, TraceOptions
from ha.executor.environment import clone_meta, migrate_meta, notify_meta
from ha.executor.metadata import parse_metadata
from ha.runtime.executor_agents import AgentDirectory
from ha.runtime.executor_runner import ExecutorRunner

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "agents"
OCF_DIR = Path("/usr/lib/ocf/resource.d")

pytestmark = pytest.mark.skipif(not (OCF_DIR / "heartbeat" / "Dummy").exists(),
                                reason="Debian's resource-agents is not installed "
                                       "(/usr/lib/ocf/resource.d/heartbeat/Dummy)")

DUMMY = ResourceAgent.parse("ocf:heartbeat:Dummy")
ANYTHING = ResourceAgent.parse("ocf:heartbeat:anything")
STUBBORN = ResourceAgent.parse("ocf:hastack:Stubborn")
LSB_DEMO = ResourceAgent.parse("lsb:hastack-demo")


def directory() -> AgentDirectory:
    return AgentDirectory(ra_path=[str(DATA / "ocf"), str(OCF_DIR)], lsb_dirs=[str(DATA / "lsb")])


class Bench:
    """A runner on its own event loop, with every trace record kept."""

    def __init__(self, *, action_limit: int = 0, kill_grace_ms: int = 300,
                 trace: TraceOptions | None = None, env: dict[str, str] | None = None
                 ) -> None:
        self.loop = asyncio.new_event_loop()
        self.traces: list[tuple[str, dict[str, Any]]] = []
        self.pgids: dict[int, int] = {}
        d = directory()
        core = Executor(d.locate, node="n1", action_limit=action_limit,
                        kill_grace_ms=kill_grace_ms, trace=trace or TraceOptions())
        self.runner = ExecutorRunner(core, trace=self._trace,
                                     base_env={**os.environ, **(env or {})})

    def _trace(self, now: float, event: str, fields: dict[str, Any]) -> None:
        self.traces.append((event, fields))
        if event == "executor_timeout":
            self.pgids[fields["call"]] = self.runner.pids[fields["call"]]

    def run(self, rsc: str, agent: ResourceAgent, action: str, **kw: Any) -> ActionResult:
        return self.loop.run_until_complete(self.runner.run(Request(rsc, agent, action, **kw)))

    def gather(self, reqs: list[Request]) -> list[ActionResult]:
        async def go() -> list[ActionResult]:
            return list(await asyncio.gather(*(self.runner.submit(r)[1] for r in reqs)))
        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.runner.close())
        self.loop.close()


@pytest.fixture
def bench() -> Iterator[Bench]:
    b = Bench()
    yield b
    b.close()


@pytest.fixture
def subreaper() -> Iterator[None]:
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_child_subreaper = 36
    libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)
    yield
    libc.prctl(pr_set_child_subreaper, 0, 0, 0, 0)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def wait_until(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``pred`` until it holds (True) or ``timeout`` s pass (False)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def kill_and_reap(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def group_members(pgid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                    out.append(int(p.name))
    return out


# ---- ocf:heartbeat:Dummy -------------------------------------------------------------
def test_dummy_probe_start_monitor_stop(bench: Bench, tmp_path: Path) -> None:
    state = tmp_path / "d1.state"
    params = {"state": str(state)}
    assert bench.run("d1", DUMMY, "monitor", params=params).rc == 7     # probe: stopped
    start = bench.run("d1", DUMMY, "start", params=params)
    assert (start.rc, start.status) == (0, ExecStatus.DONE)
    assert state.exists()
    assert bench.run("d1", DUMMY, "monitor", params=params).rc == 0
    assert bench.run("d1", DUMMY, "stop", params=params).rc == 0
    assert not state.exists()
    assert bench.run("d1", DUMMY, "monitor", params=params).rc == 7
    unimplemented = bench.run("d1", DUMMY, "promote", params=params)
    assert unimplemented.rc == 3 and "usage" in unimplemented.stdout     # output captured


def test_dummy_reload_migrate_validate_and_meta_data(bench: Bench, tmp_path: Path) -> None:
    params = {"state": str(tmp_path / "m.state")}
    meta = migrate_meta("n1", "n2")
    assert bench.run("m", DUMMY, "start", params=params).rc == 0
    assert bench.run("m", DUMMY, "reload", params=params).rc == 0
    assert bench.run("m", DUMMY, "validate-all", params=params).rc == 0
    assert bench.run("m", DUMMY, "migrate_to", params=params, meta=meta).rc == 0
    assert bench.run("m", DUMMY, "migrate_from", params=params, meta=meta).rc == 0
    assert bench.run("m", DUMMY, "monitor", params=params).rc == 0
    assert bench.run("m", DUMMY, "stop", params=params).rc == 0
    md = parse_metadata(bench.run("m", DUMMY, "meta-data").stdout, "Dummy")
    assert md.name == "Dummy" and md.parameter("state") is not None
    assert {"migrate_to", "migrate_from", "reload"} <= {a.name for a in md.actions}


def test_dummy_recurring_monitor_sees_the_state_file_go(bench: Bench, tmp_path: Path) -> None:
    state = tmp_path / "rec.state"
    params = {"state": str(state)}
    assert bench.run("rec", DUMMY, "start", params=params).rc == 0
    seen: list[ActionResult] = []
    done: asyncio.Future[None] = bench.loop.create_future()

    def listener(res: ActionResult) -> None:
        if res.interval_ms:
            seen.append(res)
            if len(seen) == 2:
                state.unlink()
            if res.rc == 7 and not done.done():
                done.set_result(None)

    bench.runner.listeners.append(listener)
    bench.runner.submit(Request("rec", DUMMY, "monitor", interval_ms=100, params=params))
    bench.loop.run_until_complete(asyncio.wait_for(done, 30))
    assert [r.rc for r in seen[:2]] == [0, 0]
    assert seen[-1].rc == 7 and seen[-1].rc_changed and not seen[1].rc_changed
    stop = bench.run("rec", DUMMY, "stop", params=params)         # cancels the monitor
    assert stop.rc == 0
    assert bench.runner.core.recurring() == []
    assert any(r.status == ExecStatus.CANCELLED for r in seen)


def test_trace_ra_writes_the_agent_shell_trace(tmp_path: Path) -> None:
    b = Bench(trace=TraceOptions(True, trace_dir=str(tmp_path / "trace")))
    try:
        assert b.run("tr", DUMMY, "start", params={"state": str(tmp_path / "s")}).rc == 0
    finally:
        b.close()
    files = list((tmp_path / "trace" / "Dummy").glob("tr.start.*"))
    assert len(files) == 1 and "dummy_start" in files[0].read_text()


def test_trace_ra_as_a_resource_parameter_passes_through(bench: Bench, tmp_path: Path) -> None:
    params = {"state": str(tmp_path / "s"), "trace_ra": "1", "trace_dir": str(tmp_path / "t")}
    assert bench.run("tp", DUMMY, "start", params=params).rc == 0
    assert len(list((tmp_path / "t" / "Dummy").glob("tp.start.*"))) == 1


# ---- ocf:heartbeat:anything ----------------------------------------------------------
# anything runs its command through `su - USER` (root by default): it needs root
needs_root = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="ocf:heartbeat:anything runs "
                                 "its command with su, which needs root")]


@pytest.mark.usefixtures("subreaper")
@needs_root[0]
@needs_root[1]
def test_anything_runs_a_real_process_and_notices_its_death(bench: Bench, tmp_path: Path) -> None:
    params = {"binfile": "/bin/sleep", "cmdline_options": "1000",
              "pidfile": str(tmp_path / "any.pid")}
    assert bench.run("any", ANYTHING, "start", params=params).rc == 0
    pid = int((tmp_path / "any.pid").read_text())
    # the pid file names the process the agent started under nohup, which then execs
    # the binary: wait for the exec before looking at what runs
    assert wait_until(lambda: not alive(pid) or _cmdline(pid).startswith(b"/bin/sleep"))
    assert alive(pid) and _cmdline(pid).startswith(b"/bin/sleep")
    assert bench.run("any", ANYTHING, "monitor", params=params).rc == 0
    kill_and_reap(pid)
    # a pid file left by a dead process: anything reports a failure (1), not a clean
    # stop — the process died under it; after the stop it is cleanly not running (7)
    dead = bench.run("any", ANYTHING, "monitor", params=params)
    assert (dead.rc, dead.rc_name) == (1, "error")
    assert bench.run("any", ANYTHING, "stop", params=params).rc == 0
    stopped = bench.run("any", ANYTHING, "monitor", params=params)
    assert (stopped.rc, stopped.rc_name) == (7, "not running")


@needs_root[0]
@needs_root[1]
def test_failures_provoked_for_real(bench: Bench) -> None:
    missing = bench.run("a", ANYTHING, "validate-all", params={"binfile": "/nonexistent/bin"})
    assert (missing.rc, missing.rc_name) == (5, "not installed")
    assert "does not exist" in missing.stderr
    ip = ResourceAgent.parse("ocf:heartbeat:IPaddr2")
    if (OCF_DIR / "heartbeat" / "IPaddr2").exists():
        unconfigured = bench.run("ip", ip, "start")
        assert unconfigured.rc == 6 and "mandatory" in unconfigured.exit_reason
    nowhere = bench.run("d", DUMMY, "start", params={"state": "/proc/no/such/dir/state"})
    assert nowhere.rc == 1 and "cannot touch" in nowhere.stderr
    absent = bench.run("x", ResourceAgent.parse("ocf:heartbeat:NoSuchAgent"), "start")
    assert (absent.rc, absent.status) == (5, ExecStatus.NOT_INSTALLED)
    crashed = bench.run("s", STUBBORN, "start", params={"crash": "1"})
    assert (crashed.rc, crashed.status) == (1, ExecStatus.ERROR)


# ---- timeouts ------------------------------------------------------------------------
@pytest.mark.usefixtures("subreaper")
def test_timeout_kills_the_whole_process_group(bench: Bench, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    res = bench.run("stub", STUBBORN, "start", timeout_ms=1000, params={"pidfile": str(pids)})
    assert (res.status, res.status_name, res.rc) == (ExecStatus.TIMEOUT, "Timed Out", 1)
    assert "hanging in start" in res.stdout and "stubborn stderr" in res.stderr
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 3                     # the agent, its child, its grandchild
    for pid in recorded:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    assert [p for p in recorded if alive(p)] == []
    (call,) = bench.pgids
    assert group_members(bench.pgids[call]) == []
    events = [e for e, _ in bench.traces]
    assert events.index("executor_timeout") < events.index("executor_result")


def test_delay_agent_timeout_and_the_resource_queue(bench: Bench) -> None:
    delay = ResourceAgent.parse("ocf:heartbeat:Delay")
    slow, after = bench.gather([
        Request("dl", delay, "start", timeout_ms=800, params={"startdelay": "30"}),
        Request("dl", delay, "stop", params={"startdelay": "0", "stopdelay": "0"}),
    ])
    assert slow.status == ExecStatus.TIMEOUT
    assert after.status == ExecStatus.DONE and after.started_at >= slow.finished_at


def test_node_action_limit_with_real_agents(tmp_path: Path) -> None:
    b = Bench(action_limit=1)
    try:
        reqs = [Request(f"d{i}", DUMMY, "start", params={"state": str(tmp_path / f"{i}")})
                for i in range(4)]
        assert [r.rc for r in b.gather(reqs)] == [0, 0, 0, 0]
    finally:
        b.close()
    running, peak = 0, 0
    for event, _ in b.traces:
        running += {"executor_run": 1, "executor_result": -1}.get(event, 0)
        peak = max(peak, running)
    assert peak == 1


# ---- promotable: ocf:pacemaker:Stateful ------------------------------------------------
@pytest.mark.skipif(not (OCF_DIR / "pacemaker" / "Stateful").exists(),
                    reason="pacemaker-resource-agents (ocf:pacemaker:Stateful) is not installed")
def test_stateful_promote_demote_notify(bench: Bench, tmp_path: Path) -> None:
    stateful = ResourceAgent.parse("ocf:pacemaker:Stateful")
    meta = clone_meta(instance=0, clone_max=2, notify=True, promotable=True)
    kw: dict[str, Any] = {"params": {"state": str(tmp_path / "st.state")}, "meta": meta}

    def rc(action: str, **extra: Any) -> int:
        return bench.run("st:0", stateful, action, **{**kw, **extra}).rc

    assert rc("monitor") == 7
    assert rc("start") == 0
    assert rc("monitor") == 0                                  # unpromoted
    note = notify_meta("pre", "promote", {"promote": [("st:0", "n1")],
                                          "active": [("st:0", "n1")]}, all_unames=["n1"])
    assert rc("notify", meta={**meta, **note}) == 0
    assert rc("promote") == 0
    assert rc("monitor") == 8                                  # running promoted
    assert rc("demote") == 0
    assert rc("monitor") == 0
    assert rc("stop") == 0
    assert rc("monitor") == 7


# ---- LSB -----------------------------------------------------------------------------
@pytest.mark.usefixtures("subreaper")
def test_lsb_init_script(tmp_path: Path) -> None:
    b = Bench(env={"HASTACK_DEMO_DIR": str(tmp_path)})
    try:
        assert b.run("svc", LSB_DEMO, "monitor").rc == 7       # status 3 → not running
        start = b.run("svc", LSB_DEMO, "start")
        assert start.rc == 0 and "Starting" in start.stdout
        assert b.run("svc", LSB_DEMO, "monitor").rc == 0
        kill_and_reap(int((tmp_path / "hastack-demo.pid").read_text()))
        assert b.run("svc", LSB_DEMO, "status").rc == 7        # status 1 (dead, pid file)
        assert b.run("svc", LSB_DEMO, "stop").rc == 0
        assert b.run("svc", LSB_DEMO, "monitor").rc == 7
    finally:
        b.close()
    argv = [f["argv"] for e, f in b.traces if e == "executor_run"]
    assert argv[0][1] == "status"                              # monitor runs "status"


# ---- IPaddr2 in a network namespace ----------------------------------------------------
NETNS_SCRIPT = """
import asyncio, json, subprocess, sys
from ha.executor import Executor, Request, ResourceAgent
from ha.runtime.executor_agents import AgentDirectory
from ha.runtime.executor_runner import ExecutorRunner
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
# a veth pair (every kernel with namespaces has veth; not every one has "dummy")
subprocess.run(["ip", "link", "add", "hadummy0", "type", "veth", "peer", "name", "hapeer0"],
               check=True)
for dev in ("hadummy0", "hapeer0"):
    subprocess.run(["ip", "link", "set", dev, "up"], check=True)
IP = ResourceAgent.parse("ocf:heartbeat:IPaddr2")
params = {"ip": "192.0.2.10", "cidr_netmask": "24", "nic": "hadummy0"}

def addrs():
    return subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", "hadummy0"],
                          capture_output=True, text=True).stdout

async def main():
    d = AgentDirectory()
    runner = ExecutorRunner(Executor(d.locate, node="n1"))
    out = []
    for action in ("monitor", "validate-all", "start", "monitor", "stop", "monitor"):
        res = await runner.run(Request("vip", IP, action, params=params))
        out.append({"action": action, "rc": res.rc, "has_ip": "192.0.2.10/24" in addrs(),
                    "stderr": res.stderr[-500:]})
    await runner.close()
    print(json.dumps(out))
asyncio.run(main())
"""


@pytest.mark.root
@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0, reason="IPaddr2 in a network namespace needs root")
@pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("ip") is None,
                    reason="needs unshare (util-linux) and ip (iproute2)")
@pytest.mark.skipif(not (OCF_DIR / "heartbeat" / "IPaddr2").exists(),
                    reason="ocf:heartbeat:IPaddr2 is not installed")
def test_ipaddr2_in_a_network_namespace() -> None:
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {probe.stderr.decode().strip()}")
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", NETNS_SCRIPT],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(proc.stdout.strip().splitlines()[-1])
    got = [(s["action"], s["rc"], s["has_ip"]) for s in steps]
    assert got == [("monitor", 7, False), ("validate-all", 0, False), ("start", 0, True),
                   ("monitor", 0, True), ("stop", 0, False), ("monitor", 7, False)], steps
