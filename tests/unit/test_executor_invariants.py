"""The executor core's invariants over arbitrary programs of requests, agent exits,
cancellations and the passing of time (Hypothesis):

- ``one_action_per_resource``: never two calls of one resource running at once;
- ``node_action_limit``: never more running than the limit;
- ``every_call_reported_once``: each started call gets exactly one result, and only
  after its process group was sent SIGKILL when it timed out;
- ``drains``: once requests stop and agents answer, the queue empties.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ha.executor import (
    ActionResult,
    AgentExited,
    CancelRecurring,
    Executor,
    KillAgent,
    Request,
    ResourceAgent,
    RunAgent,
)
from ha.executor.events import Effect

DUMMY = ResourceAgent.parse("ocf:heartbeat:Dummy")
RSCS = ["a", "b", "c"]

steps = st.lists(st.one_of(
    st.tuples(st.just("request"), st.sampled_from(RSCS),
              st.sampled_from(["start", "stop", "monitor"]),
              st.sampled_from([0, 0, 3000]), st.sampled_from([0, 1000]),
              st.sampled_from([500, 5000])),
    st.tuples(st.just("exit"), st.integers(0, 5), st.sampled_from([0, 1, 7, -15])),
    st.tuples(st.just("tick"), st.sampled_from([0.1, 0.5, 1.0, 4.0])),
    st.tuples(st.just("cancel"), st.sampled_from(RSCS)),
), max_size=60)


class Observer:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running: dict[int, str] = {}
        self.killed: set[int] = set()
        self.reported: set[int] = set()
        self.started: set[int] = set()

    def see(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, RunAgent):
                assert e.rsc_id not in self.running.values(), "one_action_per_resource"
                self.running[e.call_id] = e.rsc_id
                self.started.add(e.call_id)
                assert not self.limit or len(self.running) <= self.limit, "node_action_limit"
            elif isinstance(e, KillAgent) and e.signal == "SIGKILL":
                self.killed.add(e.call_id)
            elif isinstance(e, ActionResult):
                if e.call_id in self.started:
                    assert e.call_id not in self.reported, "every_call_reported_once"
                    if e.status == 2:
                        assert e.call_id in self.killed, "timed out without SIGKILL"
                self.reported.add(e.call_id)
                self.running.pop(e.call_id, None)


@settings(max_examples=300, deadline=None)
@given(program=steps, limit=st.sampled_from([0, 1, 2]))
def test_executor_invariants(program: list[tuple], limit: int) -> None:  # type: ignore[type-arg]
    ex = Executor(lambda a: "/agent", action_limit=limit, kill_grace_ms=200)
    obs = Observer(limit)
    now = 0.0
    for step in program:
        if step[0] == "request":
            _, rsc, action, interval, delay, timeout = step
            if action != "monitor":
                interval = 0
            _, eff = ex.submit(Request(rsc, DUMMY, action, interval_ms=interval,
                                       start_delay_ms=delay, timeout_ms=timeout), now)
            obs.see(eff)
        elif step[0] == "exit" and obs.running:
            call = sorted(obs.running)[step[1] % len(obs.running)]
            obs.see(ex.step(AgentExited(call, step[2]), now))
        elif step[0] == "tick":
            now += step[1]
            obs.see(ex.tick(now))
        elif step[0] == "cancel":
            obs.see(ex.step(CancelRecurring(step[1], "monitor", 3000), now))
    for rsc in RSCS:                     # stop everything: recurring monitors end
        obs.see(ex.submit(Request(rsc, DUMMY, "stop"), now)[1])
    for _ in range(500):                 # drains: agents answer, time passes
        if not ex.running and not ex.queued():
            break
        for call in list(obs.running):
            obs.see(ex.step(AgentExited(call, 0), now))
        now += 1.0
        obs.see(ex.tick(now))
    assert not ex.running and not ex.queued() and ex.recurring() == [], "drains"
    assert obs.started <= obs.reported
