"""The fencer in the node daemon: the ``Fencer`` core, real agents, real timers.

The daemon hands this service the events of process group ``fencer`` (messages and
view changes) and quorum changes; the service adds wall-clock time and feeds the core,
and carries its effects out:

- ``RunAgent`` → ``ha.runtime.fence_runner.run_fence_agent`` in a task, whose result
  comes back as ``AgentFinished``;
- ``SetTimer`` / ``CancelTimer`` → ``loop.call_later`` handles (wall-clock times);
- ``SendGroup`` → a safe multicast in group ``fencer``;
- ``ReplyClient`` → wakes the control-socket request waiting for it;
- ``Trace`` → the node's JSON-lines trace;
- ``SelfFence`` → no-quorum-policy=suicide: there is no controller yet, so the node
  asks its executor to stop every resource (the daemon's ``executor`` attribute, an
  ``ExecutorService``: ``stop_all(budget)``), logs, and exits at once (``os._exit(1)``,
  no clean leave: to its peers the node vanishes, as a fenced node would).

The configuration is read from the local CIB replica before each event, when its
version has changed. The random generator (fencing delays) is seeded from the node's
incarnation, so each node draws differently and a run can be replayed from its seed.

Control-socket requests: ``stonith_fence`` (target, action, timeout) waits for the
result; ``stonith_history`` (target); ``stonith_devices`` (devices, levels, problems).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
from typing import TYPE_CHECKING, Any

from ha.cib.versions import version
from ha.fencing import events as ev
from ha.fencing.fencer import EXIT_TIMEOUT, Fencer
from ha.fencing.history import describe
from ha.runtime.fence_runner import run_fence_agent
from ha.runtime.tracelog import log

if TYPE_CHECKING:
    from ha.runtime.daemon import NodeDaemon

GROUP = "fencer"
SELF_FENCE_EXIT = 1
EXECUTOR_STOP_S = 30.0


class FencerService:
    group = GROUP

    def __init__(self, daemon: NodeDaemon) -> None:
        self.d = daemon
        names = {n.nodeid: n.name or f"node{n.nodeid}" for n in daemon.cfg.nodes}
        self.seed = daemon.codec.incarnation ^ daemon.node_id
        self.core = Fencer(daemon.node_id, names, random.Random(self.seed),
                           session=daemon.codec.incarnation & 0xFFFFFFFF)
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.clients: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._cib_version: tuple[int, ...] | None = None
        self._client_ids = itertools.count(1)

    def start(self) -> None:
        self.d.group_consumers.append(self._consume)
        self.d.group_ref(GROUP)

    def close(self) -> None:
        for h in self.timers.values():
            h.cancel()
        self.timers.clear()
        for t in self.tasks:
            t.cancel()

    # ---- events from the daemon -----------------------------------------------------
    def _consume(self, e: Any, now: float) -> None:
        if e.group == GROUP:
            self.feed(ev.GroupDelivered(now, e.sender, e.payload))

    def on_group_change(self, members: tuple[int, ...], joined: tuple[int, ...],
                        left: tuple[int, ...]) -> None:
        self.feed(ev.MembershipChanged(time.time(), members, joined, left))

    def on_quorum(self, quorate: bool) -> None:
        self.feed(ev.QuorumChanged(time.time(), quorate))

    def feed(self, event: ev.Event) -> None:
        self._refresh_config()
        self._do(self.core.step(event))

    def _refresh_config(self) -> None:
        root = self.d.cib.replica.root
        try:
            v = version(root)
        except ValueError:
            return
        if v != self._cib_version:
            self._cib_version = v
            self._do(self.core.step(ev.ConfigChanged(time.time(), root)))

    # ---- effects --------------------------------------------------------------------
    def _do(self, effects: list[ev.Effect]) -> None:
        loop = asyncio.get_running_loop()
        for e in effects:
            if isinstance(e, ev.RunAgent):
                task = loop.create_task(self._run(e))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif isinstance(e, ev.SetTimer):
                old = self.timers.pop(e.timer_id, None)
                if old is not None:
                    old.cancel()
                self.timers[e.timer_id] = loop.call_later(
                    max(e.at - time.time(), 0.0), self._fire, e.timer_id)
            elif isinstance(e, ev.CancelTimer):
                handle = self.timers.pop(e.timer_id, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(e, ev.SendGroup):
                self.d.group_send(GROUP, e.payload, True)
            elif isinstance(e, ev.ReplyClient):
                fut = self.clients.pop(e.client_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(e.reply)
            elif isinstance(e, ev.Trace):
                self.d._trace(e.event, e.fields)
                if e.event in ("fence_result", "fence_self", "fence_config"):
                    log("FENCER", f"{e.event}: {e.fields}")
            elif isinstance(e, ev.SelfFence):
                task = loop.create_task(self._self_fence(e.reason))
                self.tasks.add(task)

    def _fire(self, timer_id: str) -> None:
        self.timers.pop(timer_id, None)
        self.feed(ev.TimerFired(time.time(), timer_id))

    async def _run(self, e: ev.RunAgent) -> None:
        r = await run_fence_agent(e.agent, e.params, e.action, e.target, timeout=e.timeout_s,
                                  host_arg=e.host_arg)
        self.feed(ev.AgentFinished(time.time(), e.call_id, r.rc, r.stdout, r.stderr, r.timed_out))

    async def _self_fence(self, reason: str) -> None:
        log("FENCER", f"self-fencing: {reason}", logging.CRITICAL)
        executor = getattr(self.d, "executor", None)
        stop_all = getattr(executor, "stop_all", None)
        if stop_all is not None:
            try:    # stop_all keeps to its budget; wait_for only guards against a hang
                await asyncio.wait_for(stop_all(EXECUTOR_STOP_S), EXECUTOR_STOP_S + 5.0)
            except Exception as exc:
                log("FENCER", f"stopping the resources failed: {exc!r}", logging.ERROR)
        loop = asyncio.get_running_loop()
        self.d.trace.write(loop.time(), "self_fenced", {"reason": reason})
        self.d.trace.close()
        os._exit(SELF_FENCE_EXIT)

    # ---- control-socket requests ----------------------------------------------------
    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "stonith_fence":
            return await self.fence(str(req.get("target") or ""), str(req.get("action") or "reboot"),
                                    req.get("timeout"))
        if op == "stonith_history":
            target = req.get("target")
            ops = self.core.history.ordered(target if isinstance(target, str) else None)
            return {"ok": True, "node": self.core.me,
                    "history": [o.as_json() | {"text": describe(o)} for o in ops]}
        if op == "stonith_devices":
            self._refresh_config()
            c = self.core
            return {"ok": True, "node": c.me,
                    "devices": [{"id": d.id, "agent": d.agent, "params": d.agent_params(),
                                 "pcmk": {k: v for k, v in d.params.items() if k.startswith("pcmk_")},
                                 "priority": d.priority} for d in c.devices.values()],
                    "levels": [lv.as_json() for lv in c.levels], "problems": c.config_problems,
                    "stonith_timeout_s": c.stonith_timeout_s, "dropped": c.dropped}
        return {"ok": False, "error": f"unknown op {op!r} (expected stonith_fence, "
                                      "stonith_history or stonith_devices)"}

    async def fence(self, target: str, action: str, timeout: Any) -> dict[str, Any]:
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or timeout <= 0):
            return {"ok": False, "exit": 2, "error": "timeout: expected a positive number of seconds"}
        client_id = f"c{next(self._client_ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.clients[client_id] = fut
        self.feed(ev.FenceRequest(time.time(), client_id, target, action,
                                  f"ha-stonith.{os.getpid()}",
                                  float(timeout) if timeout is not None else None))
        try:
            # the core's client timer answers first; this only guards against a lost reply
            return await asyncio.wait_for(fut, (float(timeout) if timeout else 120.0) + 5.0)
        except TimeoutError:
            return {"ok": False, "exit": EXIT_TIMEOUT, "error": "no answer from the fencer"}
        finally:
            self.clients.pop(client_id, None)
