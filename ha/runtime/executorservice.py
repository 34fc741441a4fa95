"""The executor in the node daemon: this node's resource actions and what it runs.

The daemon hosts one :class:`ExecutorRunner` (an :class:`ha.executor.Executor` core
named after the node, ``node_uuid`` its node id as Pacemaker's uuid of a Corosync
node, the action limit from ``PCMK_node_action_limit``, and the daemon's JSON-lines
trace). Every action of this node goes through it, so two actions of one resource
never overlap, whoever asked for them.

The service keeps the node's *local resource view* (what pacemaker-controld's LRM
records): the resources its executor has brought up — a successful ``start``,
``migrate_from`` or ``promote`` — in the order they came up, each with what is needed
to stop it again (agent, instance and meta attributes, the configured stop and demote
timeouts); a successful ``stop`` or ``migrate_to`` removes it, a ``demote`` returns it
to Started. A failed stop leaves it listed (it may still run). Recurring monitors are
listed with their last result.

:meth:`ExecutorService.stop_all` is self-fencing's first half (no-quorum-policy=suicide:
the fencer calls it before the process exits): it refuses further requests, cancels
every recurring monitor, then stops the active resources one at a time in reverse
start order (a promoted one is demoted first, as Pacemaker orders demote before stop),
each with its own stop timeout, within an overall budget, and returns one result per
resource.

Control-socket requests:

- ``resource_op`` (``rsc``, ``action``, ``interval_ms``, ``timeout_ms``, ``params``,
  ``meta``, ``cancel``): RSC is looked up in the live CIB replica and the action queued
  on this node's executor; the reply carries the result (rc, status, output). A
  monitor with an interval becomes recurring (the reply has its first result);
  ``cancel`` stops one. Exit codes as ``ha resource op``'s: 2 bad input, 105 no such
  resource or recurring operation;
- ``resource_status``: the active resources and the recurring monitors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lxml import etree

from ha.executor import ActionResult, ExecStatus, Executor, Request, rc_name
from ha.executor.active import ActiveResource, LocalResourceView
from ha.executor.cib_resource import ResourceNotFound, find_resource
from ha.runtime.executor_agents import AgentDirectory
from ha.runtime.executor_runner import ExecutorRunner, default_action_limit
from ha.runtime.tracelog import log

if TYPE_CHECKING:
    from ha.runtime.daemon import NodeDaemon

EXIT_INVALID, EXIT_NOSUCH = 2, 105


def request_from_cib(root: etree._Element, rsc_id: str, action: str, *, interval_ms: int = 0,
                     timeout_ms: int | None = None, params: Mapping[str, str] | None = None,
                     meta: Mapping[str, str] | None = None,
                     start_delay: bool = False) -> tuple[Request, int, int]:
    """The request running ``action`` of ``rsc_id`` as configured in ``root``, and
    that resource's stop and demote timeouts. ``params``/``meta`` override the CIB's;
    a monitor's op-level instance attributes (OCF_CHECK_LEVEL) are added; with
    ``start_delay`` the op's start-delay is kept (for a recurring monitor)."""
    rsc = find_resource(root, rsc_id)
    op = rsc.op(action, interval_ms)
    extra = dict(params or {})
    if op is not None and action == "monitor":
        extra = {**op.params, **extra}
    delay = op.start_delay_ms if start_delay and op is not None else 0
    req = Request(rsc.id, rsc.agent, action, interval_ms=interval_ms,
                  timeout_ms=timeout_ms or rsc.timeout_ms(action, interval_ms),
                  start_delay_ms=delay, params={**rsc.params, **extra},
                  meta={**rsc.meta, **(meta or {})})
    return req, rsc.timeout_ms("stop"), rsc.timeout_ms("demote")


class ExecutorService:
    def __init__(self, daemon: NodeDaemon, agents: AgentDirectory | None = None) -> None:
        self.d = daemon
        self.agents = agents or AgentDirectory()
        self.node = daemon.me.name or f"node{daemon.node_id}"
        core = Executor(self.agents.locate, node=self.node, node_uuid=str(daemon.node_id),
                        action_limit=default_action_limit(), ocf_root=self.agents.ocf_root)
        self.runner = ExecutorRunner(core, trace=self._trace)
        self.runner.listeners.append(self._on_result)
        self.view = LocalResourceView()
        self.monitors: dict[str, ActionResult] = {}       # op key -> last result
        self.stopping = False

    @property
    def active(self) -> dict[str, ActiveResource]:
        """The node's active resources, in the order they came up."""
        return self.view.active

    def _trace(self, now: float, event: str, fields: dict[str, Any]) -> None:
        self.d.trace.write(now, event, fields)

    async def close(self) -> None:
        """Daemon shutdown: agents still running are killed (their process groups);
        resources stay as they are (stopping them is the controller's decision)."""
        await self.runner.close()

    # ---- the local resource view ---------------------------------------------------
    def submit(self, req: Request, stop_timeout_ms: int | None = None,
               demote_timeout_ms: int | None = None) -> tuple[int, asyncio.Future[ActionResult]]:
        """Queue ``req`` on the node's executor; remember how to stop what it starts."""
        call_id, fut = self.runner.submit(req)
        self.view.submitted(call_id, req, stop_timeout_ms, demote_timeout_ms)
        return call_id, fut

    def _on_result(self, res: ActionResult) -> None:
        if res.interval_ms > 0:
            if res.status == ExecStatus.CANCELLED:
                self.monitors.pop(f"{res.rsc_id}_{res.action}_{res.interval_ms}", None)
            else:
                self.monitors[f"{res.rsc_id}_{res.action}_{res.interval_ms}"] = res
            return
        self.view.record(res, time.time())

    # ---- self-fencing ---------------------------------------------------------------
    async def stop_all(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Stop every active resource, last started first, within ``timeout`` seconds
        overall (None: each stop's own timeout only). One result per resource:
        ``stopped`` says whether it is down."""
        self.stopping = True
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        for rec in self.runner.core.recurring():
            self.runner.cancel(rec.rsc_id, rec.action, rec.interval_ms)
        log("EXEC", f"stopping {len(self.active)} active resource(s): "
                    f"{', '.join(reversed(self.active)) or 'none'}", logging.WARNING)
        results: list[dict[str, Any]] = []
        for rsc in self.view.stop_order():
            outcome: dict[str, Any] = {"rsc": rsc.rsc_id, "stopped": False}
            for req in rsc.stop_steps():
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    outcome["error"] = "no time left to stop it"
                    break
                fut = self.submit(req, rsc.stop_timeout_ms, rsc.demote_timeout_ms)[1]
                try:
                    res = await asyncio.wait_for(asyncio.shield(fut), left)
                except TimeoutError:
                    outcome["error"] = f"{req.action} still running when the time was up"
                    break
                outcome.update({k: v for k, v in res.to_dict().items()
                                if k not in ("stdout", "stderr")})
                if res.status != ExecStatus.DONE or res.rc != 0:
                    break
            else:
                outcome["stopped"] = True
            results.append(outcome)
            if not outcome["stopped"]:
                log("EXEC", f"could not stop {rsc.rsc_id}: {outcome}", logging.ERROR)
        self._trace(loop.time(), "executor_stop_all", {"results": results})
        return results

    # ---- control-socket requests ------------------------------------------------------
    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "resource_status":
            return self.status()
        if op == "resource_op":
            return await self.operate(req)
        return {"ok": False, "exit": EXIT_INVALID,
                "error": f"unknown op {op!r} (expected resource_op or resource_status)"}

    def status(self) -> dict[str, Any]:
        core = self.runner.core
        monitors = []
        for rec in core.recurring():
            last = self.monitors.get(rec.key)
            monitors.append({"rsc": rec.rsc_id, "action": rec.action, "key": rec.key,
                             "interval_ms": rec.interval_ms, "timeout_ms": rec.timeout_ms,
                             "last_rc": None if last is None else last.rc,
                             "last_rc_name": None if last is None else rc_name(last.rc),
                             "last_status": None if last is None else last.status_name,
                             "last_exit_reason": "" if last is None else last.exit_reason})
        return {"ok": True, "node": self.node, "stopping": self.stopping,
                "active": [a.to_dict() for a in self.active.values()],
                "recurring": monitors, "running": len(core.running), "queued": len(core.queued()),
                "action_limit": core.action_limit}

    async def operate(self, req: dict[str, Any]) -> dict[str, Any]:
        rsc, action = req.get("rsc"), req.get("action")
        if not isinstance(rsc, str) or not rsc or not isinstance(action, str) or not action:
            return _bad("expected 'rsc' and 'action' (strings)")
        interval = req.get("interval_ms", 0)
        timeout = req.get("timeout_ms")
        if not _count(interval) or not (timeout is None or _count(timeout) and timeout > 0):
            return _bad("interval_ms must be an integer >= 0 and timeout_ms one > 0")
        params, meta = req.get("params") or {}, req.get("meta") or {}
        if not _strings(params) or not _strings(meta):
            return _bad("params and meta must map names to strings")
        if self.stopping:
            return {"ok": False, "exit": 1, "error": "this node is stopping its resources"}
        if req.get("cancel"):
            key = f"{rsc}_{action}_{interval}"
            if key not in {r.key for r in self.runner.core.recurring()}:
                return {"ok": False, "exit": EXIT_NOSUCH,
                        "error": f"no recurring operation {key} on {self.node}"}
            self.runner.cancel(rsc, action, interval)
            return {"ok": True, "cancelled": key}
        root = self.d.cib.replica.root
        try:
            r, stop_ms, demote_ms = request_from_cib(root, rsc, action, interval_ms=interval,
                                                     timeout_ms=timeout, params=params,
                                                     meta=meta, start_delay=interval > 0)
            _, fut = self.submit(r, stop_ms, demote_ms)
        except ResourceNotFound as e:
            return {"ok": False, "exit": EXIT_NOSUCH, "error": str(e)}
        except ValueError as e:                 # a bad CIB value, or the core refused it
            return _bad(str(e))
        res = await fut
        return {"ok": True, "node": self.node, "resource": r.rsc_id, "agent": str(r.agent),
                "timeout_ms": r.timeout_ms, "result": res.to_dict()}


def _bad(msg: str) -> dict[str, Any]:
    return {"ok": False, "exit": EXIT_INVALID, "error": f"resource_op: {msg}"}


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _strings(m: Any) -> bool:
    return isinstance(m, dict) and all(isinstance(k, str) and isinstance(v, str)
                                       for k, v in m.items())
