"""The executor core of one simulated node, driven in virtual time.

``SimExecutor(world, node, agents)`` hosts the very ``ha.executor.Executor`` core the
daemon hosts (``ha.runtime.executorservice``), with the simulator's clock instead of
the wall clock and :class:`ha.sim.agents.SimAgents` instead of subprocesses:

- time: the core's ``now`` is the world's virtual time in seconds; after every step
  the host asks ``next_deadline()`` and schedules a wake-up (``tick``) at that time;
- ``RunAgent`` → the agent model decides the outcome; its exit is scheduled
  ``duration`` later (``AgentExited``); a hung agent never exits by itself;
- ``KillAgent`` → SIGTERM ends the agent (exit -15) unless it ignores SIGTERM, SIGKILL
  always (-9); the exit reaches the core on the next event, never re-entrantly;
- ``ActionResult`` → ``results`` (with the virtual time), the listeners, and the
  local resource view (``active``: what a successful start/promote brought up, as the
  daemon's executor service keeps it, to stop it again on self-fencing);
- ``Trace`` → the world's JSON-lines trace, so one seed gives one byte-identical trace.

When the world crashes the node, the core and its agents are gone and the node's
resources are down (its power is off); when it starts again, a fresh core starts.
:meth:`stop_all` is self-fencing's first half, as ``ExecutorService.stop_all``:
cancel the recurring monitors, then demote/stop every active resource, last started
first, within a budget of virtual time, then call back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ha.executor import ActionResult, ExecStatus, Executor, Request
from ha.executor.active import ActiveResource, LocalResourceView
from ha.executor.events import AgentExited, KillAgent, RunAgent, Trace
from ha.sim.agents import SIGNALS, Outcome, SimAgents
from ha.sim.world import SimWorld

StopDone = Callable[[list[dict[str, Any]]], None]


@dataclass
class _Run:
    rsc: str
    outcome: Outcome
    token: int


class SimExecutor:
    """One node's executor in the simulator (see the module docstring)."""

    def __init__(self, world: SimWorld, node: int, agents: SimAgents, *,
                 action_limit: int = 0, kill_grace_ms: int = 1000) -> None:
        self.world, self.node, self.agents = world, node, agents
        self.action_limit, self.kill_grace_ms = action_limit, kill_grace_ms
        self.core: Executor | None = None
        self.results: list[tuple[int, ActionResult]] = []
        self.listeners: list[Callable[[ActionResult], None]] = []
        self.view = LocalResourceView()
        self.stopping = False
        self._runs: dict[int, _Run] = {}
        self._token = 0                  # invalidates scheduled exits and wake-ups on a crash
        self._wake_us: int | None = None
        world.observers.append(self._observe)
        if world.alive(node):
            self._boot()

    # ---- requests -------------------------------------------------------------------
    @property
    def active(self) -> dict[str, ActiveResource]:
        """The node's active resources (the local resource view), in the order they
        came up."""
        return self.view.active

    def submit(self, req: Request) -> int | None:
        """Queue ``req``; its call id (None: the node is down or stopping everything)."""
        if self.core is None or (self.stopping and req.action not in ("stop", "demote")):
            return None
        call_id, effects = self.core.submit(req, self._now())
        self.view.submitted(call_id, req)
        self._do(effects)
        return call_id

    def cancel(self, rsc_id: str, action: str, interval_ms: int) -> None:
        if self.core is not None:
            self._do(self.core.cancel(rsc_id, action, interval_ms, self._now()))

    def result_of(self, call_id: int) -> ActionResult | None:
        return next((r for _, r in reversed(self.results) if r.call_id == call_id), None)

    # ---- world events ---------------------------------------------------------------
    def _observe(self, now_us: int, n: int, e: object) -> None:
        if n != self.node or not isinstance(e, tuple):
            return
        if e[0] == "crash":
            self._down()
        elif e[0] == "trace" and e[1] == "node_start":
            self.world.at(now_us, self._boot)

    def _boot(self) -> None:
        if self.core is not None or not self.world.alive(self.node):
            return
        self.core = Executor(self.agents.locate, node=f"node{self.node}",
                             node_uuid=str(self.node), action_limit=self.action_limit,
                             kill_grace_ms=self.kill_grace_ms)
        self.stopping = False

    def _down(self) -> None:
        self.core = None
        self._token += 1
        self._runs.clear()
        self._wake_us = None
        self.view.clear()
        self.agents.power_off()

    def _now(self) -> float:
        return self.world.now_us / 1_000_000

    # ---- effects --------------------------------------------------------------------
    def _do(self, effects: list[Any]) -> None:
        for e in effects:
            if isinstance(e, RunAgent):
                self._run(e)
            elif isinstance(e, KillAgent):
                self._kill(e)
            elif isinstance(e, ActionResult):
                self._result(e)
            elif isinstance(e, Trace):
                self.world.record(self.node, e.event, e.fields)
        self._schedule()

    def _run(self, e: RunAgent) -> None:
        outcome = self.agents.begin(e.rsc_id, e.action, e.argv)
        self._runs[e.call_id] = _Run(e.rsc_id, outcome, self._token)
        if outcome.duration_us is not None:
            self.world.at(self.world.now_us + outcome.duration_us,
                          partial(self._exit, e.call_id, self._token, None))

    def _kill(self, e: KillAgent) -> None:
        run = self._runs.get(e.call_id)
        if run is None or (e.signal == "SIGTERM" and run.outcome.ignore_sigterm):
            return
        self.world.at(self.world.now_us, partial(self._exit, e.call_id, self._token,
                                                 -SIGNALS.get(e.signal, 9)))

    def _paused(self, retry: Callable[[], None]) -> bool:
        """A paused node's daemon runs nothing: ``retry`` when the pause is over (its
        agents, children of the daemon, go on meanwhile)."""
        until = self.world.nodes[self.node].paused_until
        if until is None:
            return False
        self.world.at(until, retry)
        return True

    def _exit(self, call_id: int, token: int, signal_code: int | None) -> None:
        run = self._runs.get(call_id)
        if token != self._token or run is None or self.core is None:
            return
        if signal_code is None and not run.outcome.applied:
            self.agents.complete(run.rsc, run.outcome)   # the agent did its work, paused or not
            run.outcome = replace(run.outcome, applied=True)
        if self._paused(partial(self._exit, call_id, token, signal_code)):
            return
        del self._runs[call_id]
        if signal_code is None:
            ev = AgentExited(call_id, run.outcome.rc, run.outcome.stdout, run.outcome.stderr)
        else:
            ev = AgentExited(call_id, signal_code, "", run.outcome.stderr)
        self._do(self.core.step(ev, self._now()))

    def _result(self, res: ActionResult) -> None:
        self.results.append((self.world.now_us, res))
        self.view.record(res, self._now())
        for fn in list(self.listeners):
            fn(res)

    def _schedule(self) -> None:
        core = self.core
        if core is None:
            return
        deadline = core.next_deadline()
        if deadline is None:
            return
        wake = max(math.ceil(deadline * 1_000_000), self.world.now_us)
        if wake == self.world.now_us and deadline > self._now():
            wake += 1                     # float rounding: never wake before the deadline
        if self._wake_us is not None and self._wake_us <= wake:
            return                        # an earlier wake-up is already scheduled
        self._wake_us = wake
        self.world.at(wake, partial(self._wake, wake, self._token))

    def _wake(self, at_us: int, token: int) -> None:
        if token != self._token or self.core is None or self._wake_us != at_us:
            return
        if self._paused(partial(self._wake, at_us, token)):
            return
        self._wake_us = None
        self._do(self.core.tick(self._now()))

    # ---- self-fencing ---------------------------------------------------------------
    def stop_all(self, budget_ms: int, done: StopDone) -> None:
        """Cancel every recurring monitor, then demote/stop the active resources one
        at a time, last started first, each with the timeout of its start request;
        call ``done`` with one outcome per resource when finished or out of budget."""
        if self.core is None:
            done([])
            return
        self.stopping = True
        for rec in self.core.recurring():
            self.cancel(rec.rsc_id, rec.action, rec.interval_ms)
        todo = self.view.stop_order()
        deadline = self.world.now_us + budget_ms * 1000
        results: list[dict[str, Any]] = []
        self._stop_next(todo, deadline, results, done)

    def _stop_next(self, todo: list[ActiveResource], deadline: int,
                   results: list[dict[str, Any]], done: StopDone) -> None:
        if not todo or self.core is None:
            self.world.record(self.node, "executor_stop_all", {"results": results})
            done(results)
            return
        self._stop_steps(todo[0].stop_steps(), todo, deadline, results, done)

    def _stop_steps(self, steps: list[Request], todo: list[ActiveResource], deadline: int,
                    results: list[dict[str, Any]], done: StopDone) -> None:
        rsc = todo[0].rsc_id
        left_ms = (deadline - self.world.now_us) // 1000
        if left_ms <= 0:
            results.append({"rsc": rsc, "stopped": False, "error": "no time left to stop it"})
            self._stop_next([], deadline, results, done)
            return
        req = steps[0]

        def on_result(res: ActionResult) -> None:
            if res.call_id != call_id:
                return
            if on_result in self.listeners:
                self.listeners.remove(on_result)
            ok = res.status == ExecStatus.DONE and res.rc == 0
            if ok and len(steps) > 1:
                self._stop_steps(steps[1:], todo, deadline, results, done)
                return
            results.append({"rsc": rsc, "stopped": ok, "action": req.action, "rc": res.rc,
                            "status": res.status_name})
            self._stop_next(todo[1:], deadline, results, done)

        call_id = self.submit(replace(req, timeout_ms=min(req.timeout_ms, left_ms)))
        if call_id is None:
            results.append({"rsc": rsc, "stopped": False, "error": "the executor is down"})
            self._stop_next([], deadline, results, done)
            return
        earlier = self.result_of(call_id)       # answered at once (e.g. agent not installed)
        if earlier is not None:
            on_result(earlier)
        else:
            self.listeners.append(on_result)
