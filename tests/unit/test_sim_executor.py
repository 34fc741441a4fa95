"""The executor core in the simulator: SimExecutor + SimAgents in virtual time.

Every failing check names the seed and the command that replays it."""

from __future__ import annotations

import hashlib
import random

import pytest

from ha.executor import ExecStatus, Request, ResourceAgent
from ha.sim.agents import PROMOTED, STARTED, Behaviour, SimAgents
from ha.sim.executor import SimExecutor
from ha.sim.world import SimWorld

DUMMY = ResourceAgent.parse("ocf:heartbeat:Dummy")
STATEFUL = ResourceAgent.parse("ocf:pacemaker:Stateful")
REPLAY = "python -m pytest tests/unit/test_sim_executor.py -q -k"


def node(seed: int = 1, **kw: object) -> tuple[SimWorld, SimExecutor, SimAgents]:
    world = SimWorld([1], seed=seed)
    agents = SimAgents(random.Random(seed))
    world.start()
    world.run_for(1000)
    return world, SimExecutor(world, 1, agents, **kw), agents  # type: ignore[arg-type]


def call(ex: SimExecutor, req: Request) -> int:
    cid = ex.submit(req)
    assert cid is not None, f"{req.key}: refused"
    return cid


def where(seed: int, test: str) -> str:
    return f"seed {seed}; replay: {REPLAY} '{test}'"


def test_start_monitor_stop_follow_the_resource_state() -> None:
    w = where(1, "start_monitor_stop_follow_the_resource_state")
    world, ex, agents = node()
    a = ex.submit(Request("r1", DUMMY, "start", timeout_ms=20_000))
    world.run_for(1_000_000)
    b = ex.submit(Request("r1", DUMMY, "monitor", timeout_ms=20_000))
    world.run_for(1_000_000)
    assert agents.active() == {"r1": STARTED}, w
    c = ex.submit(Request("r1", DUMMY, "stop", timeout_ms=20_000))
    d = ex.submit(Request("r1", DUMMY, "monitor", timeout_ms=20_000))
    world.run_for(1_000_000)
    got = [(r.call_id, r.action, r.rc, r.status) for _, r in ex.results]
    assert got == [(a, "start", 0, 0), (b, "monitor", 0, 0), (c, "stop", 0, 0),
                   (d, "monitor", 7, 0)], w
    assert agents.active() == {} and ex.active == {}, w


def test_one_action_per_resource_at_a_time_others_run_alongside() -> None:
    w = where(1, "one_action_per_resource_at_a_time_others_run_alongside")
    world, ex, agents = node()
    agents.set(Behaviour(duration_ms=500), agent=str(DUMMY))
    t0 = world.now_us
    ids = [call(ex, Request(r, DUMMY, act, timeout_ms=20_000))
           for r, act in (("r1", "start"), ("r1", "monitor"), ("r2", "start"), ("r1", "stop"))]
    world.run_for(5_000_000)
    by = {r.call_id: (t, r) for t, r in ex.results}
    # r1's three actions run one after the other, 500 ms each; r2 alongside the first
    assert [by[i][0] - t0 for i in ids] == [500_000, 1_000_000, 500_000, 1_500_000], w
    assert [by[i][1].queue_ms for i in ids] == [0, 500, 0, 1000], w


def test_action_limit_holds_back_other_resources() -> None:
    w = where(1, "action_limit_holds_back_other_resources")
    world, ex, agents = node(action_limit=1)
    agents.set(Behaviour(duration_ms=300), agent=str(DUMMY))
    t0 = world.now_us
    ids = [call(ex, Request(r, DUMMY, "start", timeout_ms=20_000)) for r in ("a", "b", "c")]
    world.run_for(5_000_000)
    by = {r.call_id: t for t, r in ex.results}
    assert [by[i] - t0 for i in ids] == [300_000, 600_000, 900_000], w


def test_recurring_monitor_runs_each_interval_in_virtual_time() -> None:
    w = where(1, "recurring_monitor_runs_each_interval_in_virtual_time")
    world, ex, agents = node()
    agents.set(Behaviour(duration_ms=100), agent=str(DUMMY))
    ex.submit(Request("r1", DUMMY, "start", timeout_ms=20_000))
    world.run_for(1_000_000)
    t0 = world.now_us
    ex.submit(Request("r1", DUMMY, "monitor", interval_ms=10_000, timeout_ms=20_000))
    world.run_for(35_000_000)
    mons = [(t - t0, r.rc, r.rc_changed) for t, r in ex.results if r.interval_ms == 10_000]
    # first at once, then 10 s after each result (each run takes 100 ms)
    assert mons == [(100_000, 0, True), (10_200_000, 0, False), (20_300_000, 0, False),
                    (30_400_000, 0, False)], w
    # the resource dies behind the executor's back: the next monitor sees it (rc changes)
    agents.state.pop("r1")
    world.run_for(10_000_000)
    last = [r for _, r in ex.results if r.interval_ms == 10_000][-1]
    assert (last.rc, last.rc_changed) == (7, True), w
    # a stop cancels it
    ex.submit(Request("r1", DUMMY, "stop", timeout_ms=20_000))
    world.run_for(1_000_000)
    n = len(ex.results)
    world.run_for(60_000_000)
    assert len(ex.results) == n, w
    assert any(r.status == ExecStatus.CANCELLED for _, r in ex.results), w


@pytest.mark.parametrize("ignore_sigterm", [False, True])
def test_hung_agent_is_timed_out_and_killed(ignore_sigterm: bool) -> None:
    w = where(1, "hung_agent_is_timed_out_and_killed")
    world, ex, agents = node(kill_grace_ms=2000)
    agents.set(Behaviour(hang=True, ignore_sigterm=ignore_sigterm), rsc="r1", action="start")
    t0 = world.now_us
    call = ex.submit(Request("r1", DUMMY, "start", timeout_ms=5_000))
    after = ex.submit(Request("r1", DUMMY, "monitor", timeout_ms=5_000))
    world.run_for(20_000_000)
    res = ex.result_of(call or 0)
    assert res is not None and res.status == ExecStatus.TIMEOUT and res.rc == 1, w
    # reported when SIGKILL was sent: timeout + grace
    t = next(t for t, r in ex.results if r.call_id == call)
    assert t - t0 == 7_000_000, w
    kills = [line for line in world.trace if '"executor_timeout"' in line]
    assert len(kills) == 1, w
    # the killed start changed nothing; the queued monitor ran after it
    nxt = ex.result_of(after or 0)
    assert nxt is not None and nxt.rc == 7 and agents.active() == {}, w


def test_injected_failures_are_drawn_from_the_seed() -> None:
    def run(seed: int) -> list[int]:
        world, ex, agents = node(seed)
        agents.set(Behaviour(fail_p=0.5), agent=str(DUMMY), action="monitor")
        ex.submit(Request("r1", DUMMY, "start", timeout_ms=20_000))
        ex.submit(Request("r1", DUMMY, "monitor", interval_ms=1000, timeout_ms=20_000))
        world.run_for(30_000_000)
        return [r.rc for _, r in ex.results if r.action == "monitor"]

    a, b = run(3), run(3)
    assert a == b, where(3, "injected")
    assert set(a) == {0, 1}, where(3, "injected")


def test_missing_agent_is_not_installed() -> None:
    w = where(1, "missing_agent_is_not_installed")
    world, ex, agents = node()
    agents.installed = {str(DUMMY)}
    call = ex.submit(Request("r9", ResourceAgent.parse("ocf:heartbeat:IPaddr2"), "start"))
    res = ex.result_of(call or 0)
    assert res is not None and (res.rc, res.status) == (5, ExecStatus.NOT_INSTALLED), w


def test_stop_all_demotes_then_stops_last_started_first() -> None:
    w = where(1, "stop_all_demotes_then_stops_last_started_first")
    world, ex, agents = node()
    for r, agent in (("a", DUMMY), ("b", STATEFUL)):
        ex.submit(Request(r, agent, "start", timeout_ms=20_000))
    ex.submit(Request("b", STATEFUL, "promote", timeout_ms=20_000))
    ex.submit(Request("a", DUMMY, "monitor", interval_ms=5000, timeout_ms=20_000))
    world.run_for(1_000_000)
    assert agents.active() == {"a": STARTED, "b": PROMOTED}, w
    out: list[list[dict[str, object]]] = []
    ex.stop_all(30_000, out.append)
    world.run_for(10_000_000)
    assert out and [(o["rsc"], o["stopped"]) for o in out[0]] == [("b", True), ("a", True)], w
    actions = [r.action for _, r in ex.results if r.rsc_id == "b"]
    assert actions[-2:] == ["demote", "stop"], w
    assert agents.active() == {} and ex.core is not None and ex.core.recurring() == [], w


def test_crash_powers_the_resources_off_and_restart_gives_a_fresh_core() -> None:
    w = where(1, "crash_powers_the_resources_off_and_restart_gives_a_fresh_core")
    world, ex, agents = node()
    ex.submit(Request("r1", DUMMY, "start", timeout_ms=20_000))
    ex.submit(Request("r1", DUMMY, "monitor", interval_ms=1000, timeout_ms=20_000))
    world.run_for(2_000_000)
    old = ex.core
    world.crash(1)
    assert ex.core is None and agents.active() == {}, w
    n = len(ex.results)
    world.run_for(5_000_000)
    assert len(ex.results) == n, w          # nothing runs on a dead node
    world.restart(1)
    world.run_for(1000)
    assert ex.core is not None and ex.core is not old and ex.core.recurring() == [], w


def _trace_digest(seed: int) -> str:
    world, ex, agents = node(seed)
    agents.set(Behaviour(duration_ms=70, fail_p=0.2), agent=str(DUMMY))
    agents.set(Behaviour(hang=True), rsc="r3", action="monitor")
    rng = random.Random(seed)
    for r in ("r1", "r2", "r3"):
        ex.submit(Request(r, DUMMY, "start", timeout_ms=3000))
        ex.submit(Request(r, DUMMY, "monitor", interval_ms=rng.choice([500, 1000, 2000]),
                          timeout_ms=3000))
    world.run_for(30_000_000)
    return hashlib.sha256("\n".join(world.trace).encode()).hexdigest()


def test_same_seed_gives_byte_identical_trace() -> None:
    w = where(1, "same_seed_gives_byte_identical_trace")
    assert _trace_digest(11) == _trace_digest(11), where(11, "byte_identical")
    assert _trace_digest(11) != _trace_digest(12), w


def test_a_paused_node_sees_results_and_runs_monitors_only_after_its_pause() -> None:
    world, ex, agents = node()
    agents.set(Behaviour(duration_ms=200), agent=str(DUMMY))
    t0 = world.now_us
    start = call(ex, Request("r1", DUMMY, "start", timeout_ms=20_000))
    world.pause(1, 5_000_000)
    world.run_for(4_000_000)
    assert agents.active() == {"r1": STARTED}, where(1, "paused")   # the agent did its work
    assert ex.results == [], where(1, "paused")                      # the daemon did not hear
    world.run_for(2_000_000)
    t, res = ex.results[0]
    assert (res.call_id, res.rc, t - t0) == (start, 0, 5_000_000), where(1, "paused")


def test_lsb_status_codes_are_mapped_by_the_core() -> None:
    w = where(1, "lsb_status_codes_are_mapped_by_the_core")
    world, ex, agents = node()
    lsb = ResourceAgent.parse("lsb:httpd")
    first = call(ex, Request("web", lsb, "monitor", timeout_ms=20_000))
    call(ex, Request("web", lsb, "start", timeout_ms=20_000))
    second = call(ex, Request("web", lsb, "monitor", timeout_ms=20_000))
    world.run_for(1_000_000)
    a, b = ex.result_of(first), ex.result_of(second)
    assert a is not None and b is not None, w
    assert (a.rc, b.rc) == (7, 0), where(1, "lsb")       # LSB status 3 → OCF not running
