"""The executor core: one node's resource actions, queued, limited, timed and reported.

Theory of operation. A :class:`Request` becomes a *call* (numbered ``call_id``). A
call waits out its start-delay, then joins the node's queue. The queue is served in
arrival order under two rules, both Pacemaker's:

1. **one action per resource at a time** — a call waits while another call of the
   same resource runs (pacemaker-execd serialises each resource's commands);
2. **a per-node limit** — at most ``action_limit`` agents run at once (the
   controller's ``node-action-limit`` / ``PCMK_node_action_limit``; 0 means no limit).

A started call gets a deadline of ``timeout_ms``. When it passes, the whole process
group is sent SIGTERM, then SIGKILL ``kill_grace_ms`` later, and the result is
reported with execution status 2 "Timed Out" once the agent has exited and the
SIGKILL was sent — so no child of a timed-out agent outlives its report.

A recurring monitor (``interval_ms`` > 0) runs first after its start-delay, then
``interval_ms`` after each result, until :class:`CancelRecurring` or a ``stop`` of its
resource cancels it (reported with status 1 "Cancelled"; one running at that moment
is let finish and reported cancelled). Each result says whether its rc changed.

Lifecycle of a call (the states are the dict/list a call sits in)::

    delayed --(start-delay over)--> queued --(resource idle, slot free)--> running
    running --(agent exited)--> result          running --(deadline)--> timing_out
    timing_out --(exited + SIGKILL sent)--> result "Timed Out"

Time only comes in as ``now`` (seconds, any monotonic origin); where an agent is
found comes from the injected ``locate`` function. No I/O happens here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ha.executor.agent import ResourceAgent
from ha.executor.codes import ExecStatus, OcfRc, lsb_to_ocf, ocf_rc_of
from ha.executor.environment import (
    NO_TRACE,
    OCF_REASON_PREFIX,
    OCF_ROOT,
    TraceOptions,
    action_argv,
    ocf_environment,
)
from ha.executor.events import (
    ActionResult,
    AgentExited,
    AgentFailedToRun,
    CancelRecurring,
    Effect,
    Event,
    ExecutorError,
    KillAgent,
    Request,
    RunAgent,
    Trace,
)

Locate = Callable[[ResourceAgent], "str | None"]
TRACE_OUTPUT_LIMIT = 4096      # characters of agent output kept in each trace record


@dataclass
class _Call:
    call_id: int
    req: Request
    queued_at: float
    ready_at: float                  # when its start-delay is over
    started_at: float | None = None
    deadline: float | None = None
    kill_at: float | None = None     # SIGKILL due (timing out)
    killed: bool = False
    exited: AgentExited | None = None
    cancelled: bool = False


@dataclass
class _Recurring:
    req: Request
    next_due: float | None           # None while an execution is queued or running
    last_rc: int | None = None
    call_id: int | None = None


def exit_reason(stderr: str) -> str:
    """The agent's exit reason: the text after the last ``ocf-exit-reason:`` on stderr,
    to the end of its line (ocf_exit_reason prints it so)."""
    at = stderr.rfind(OCF_REASON_PREFIX)
    if at < 0:
        return ""
    return stderr[at + len(OCF_REASON_PREFIX):].split("\n", 1)[0].strip()


class Executor:
    """Sans-IO executor of one node. ``submit``/``step`` take events, ``tick`` takes
    time; each returns the effects to carry out. ``next_deadline`` says when ``tick``
    must next be called."""

    def __init__(self, locate: Locate, *, node: str | None = None,
                 node_uuid: str | None = None, action_limit: int = 0,
                 kill_grace_ms: int = 1000, ocf_root: str = OCF_ROOT,
                 trace: TraceOptions = NO_TRACE) -> None:
        if action_limit < 0:
            raise ExecutorError(f"action_limit must be >= 0 (0: no limit), got {action_limit}")
        self.locate = locate
        self.node, self.node_uuid = node, node_uuid
        self.action_limit = action_limit
        self.kill_grace_ms = kill_grace_ms
        self.ocf_root = ocf_root
        self.trace_options = trace
        self._next_call = 1
        self._delayed: dict[int, _Call] = {}
        self._queue: list[_Call] = []              # arrival order
        self._running: dict[int, _Call] = {}
        self._busy: dict[str, int] = {}            # rsc -> running call_id
        self._recurring: dict[str, _Recurring] = {}   # op key -> recurring op

    # ---- introspection ---------------------------------------------------------------
    @property
    def running(self) -> list[int]:
        return sorted(self._running)

    def queued(self, rsc_id: str | None = None) -> list[int]:
        calls = list(self._delayed.values()) + self._queue
        return sorted(c.call_id for c in calls if rsc_id is None or c.req.rsc_id == rsc_id)

    def recurring(self) -> list[Request]:
        return [r.req for r in self._recurring.values()]

    def next_deadline(self) -> float | None:
        times = [c.ready_at for c in self._delayed.values()]
        for c in self._running.values():
            if c.kill_at is None and c.deadline is not None:
                times.append(c.deadline)
            elif c.kill_at is not None and not c.killed:
                times.append(c.kill_at)
        times += [r.next_due for r in self._recurring.values() if r.next_due is not None]
        return min(times) if times else None

    # ---- events ----------------------------------------------------------------------
    def step(self, event: Event, now: float) -> list[Effect]:
        if isinstance(event, Request):
            return self.submit(event, now)[1]
        if isinstance(event, AgentExited):
            return self._exited(event, now)
        if isinstance(event, AgentFailedToRun):
            return self._failed_to_run(event, now)
        if isinstance(event, CancelRecurring):
            return self.cancel(event.rsc_id, event.action, event.interval_ms, now)
        raise ExecutorError(f"unknown event {event!r}")

    def submit(self, req: Request, now: float) -> tuple[int, list[Effect]]:
        """Accept ``req``; its call id and the effects (possibly starting it now)."""
        self._check(req)
        out: list[Effect] = []
        if req.action == "stop":
            out += self._cancel_all(req.rsc_id, now, reason="stop")
        if req.interval_ms > 0:
            if req.key in self._recurring:
                out += self._cancel_key(req.key, now, reason="replaced")
            self._recurring[req.key] = _Recurring(req, next_due=None)
        call = self._new_call(req, now, now + req.start_delay_ms / 1000)
        if req.interval_ms > 0:
            self._recurring[req.key].call_id = call.call_id
        out.append(Trace("executor_request", {"call": call.call_id, "rsc": req.rsc_id,
                                              "action": req.action, "interval_ms": req.interval_ms,
                                              "agent": str(req.agent),
                                              "start_delay_ms": req.start_delay_ms}))
        return call.call_id, out + self.tick(now)

    def cancel(self, rsc_id: str, action: str, interval_ms: int, now: float) -> list[Effect]:
        key = f"{rsc_id}_{action}_{interval_ms}"
        if key not in self._recurring:
            return [Trace("executor_cancel_unknown", {"key": key})]
        return self._cancel_key(key, now, reason="cancel") + self.tick(now)

    def tick(self, now: float) -> list[Effect]:
        """Carry time forward: start-delays, recurring intervals, timeouts, the queue."""
        out: list[Effect] = []
        for rec in self._recurring.values():
            if rec.next_due is not None and rec.next_due <= now:
                rec.next_due = None
                rec.call_id = self._new_call(rec.req, now, now).call_id
        for call in sorted(self._delayed.values(), key=lambda c: (c.ready_at, c.call_id)):
            if call.ready_at <= now:
                del self._delayed[call.call_id]
                self._queue.append(call)
        for call in list(self._running.values()):
            out += self._timeouts(call, now)
        out += self._dispatch(now)
        return out

    # ---- internals -------------------------------------------------------------------
    def _check(self, req: Request) -> None:
        if not req.rsc_id:
            raise ExecutorError("a request needs a resource id")
        if req.action not in req.agent.actions():
            raise ExecutorError(f"{req.agent}: unknown action {req.action!r} (expected one of "
                                f"{', '.join(req.agent.actions())})")
        if req.interval_ms < 0 or req.timeout_ms <= 0 or req.start_delay_ms < 0:
            raise ExecutorError(f"{req.key}: interval and start-delay must be >= 0 and the "
                                f"timeout > 0 (got {req.interval_ms}, {req.start_delay_ms}, "
                                f"{req.timeout_ms})")
        if req.interval_ms > 0 and req.action != "monitor":
            raise ExecutorError(f"{req.key}: only monitor may recur")
        if req.action == "notify" and not {"notify_type", "notify_operation"} <= set(req.meta):
            raise ExecutorError(f"{req.key}: a notify needs the notify_type and "
                                "notify_operation meta keys (see notify_meta)")

    def _new_call(self, req: Request, now: float, ready_at: float) -> _Call:
        call = _Call(self._next_call, req, queued_at=now, ready_at=ready_at)
        self._next_call += 1
        self._delayed[call.call_id] = call
        return call

    def _dispatch(self, now: float) -> list[Effect]:
        out: list[Effect] = []
        blocked: set[str] = set()
        for call in list(self._queue):
            rsc = call.req.rsc_id
            if rsc in self._busy or rsc in blocked:
                blocked.add(rsc)             # keep this resource's calls in order
                continue
            if self.action_limit and len(self._running) >= self.action_limit:
                break
            self._queue.remove(call)
            out += self._start(call, now)
        return out

    def _start(self, call: _Call, now: float) -> list[Effect]:
        req = call.req
        call.started_at = now
        path = self.locate(req.agent)
        if path is None:
            return self._finish(call, now, int(OcfRc.ERR_INSTALLED), ExecStatus.NOT_INSTALLED,
                                reason=f"{req.agent}: agent not found")
        if req.agent.standard == "ocf":
            env = ocf_environment(req.agent, req.rsc_id, req.action, params=req.params,
                                  meta=req.meta, interval_ms=req.interval_ms,
                                  timeout_ms=req.timeout_ms, node=self.node,
                                  node_uuid=self.node_uuid, ocf_root=self.ocf_root,
                                  trace=self.trace_options)
        else:
            env = {}
        argv = action_argv(req.agent, path, req.action)
        call.deadline = now + req.timeout_ms / 1000
        self._running[call.call_id] = call
        self._busy[req.rsc_id] = call.call_id
        return [Trace("executor_run", {"call": call.call_id, "rsc": req.rsc_id,
                                       "action": req.action, "interval_ms": req.interval_ms,
                                       "argv": list(argv), "timeout_ms": req.timeout_ms,
                                       "queue_ms": round((now - call.queued_at) * 1000)}),
                RunAgent(call.call_id, req.rsc_id, req.action, argv, env, req.timeout_ms)]

    def _timeouts(self, call: _Call, now: float) -> list[Effect]:
        if call.kill_at is None and call.deadline is not None and now >= call.deadline:
            call.kill_at = now + self.kill_grace_ms / 1000
            return [Trace("executor_timeout", {"call": call.call_id, "rsc": call.req.rsc_id,
                                               "action": call.req.action,
                                               "timeout_ms": call.req.timeout_ms}),
                    KillAgent(call.call_id, "SIGTERM")]
        if call.kill_at is not None and not call.killed and now >= call.kill_at:
            call.killed = True
            out: list[Effect] = [KillAgent(call.call_id, "SIGKILL")]
            if call.exited is not None:
                out += self._finish_timeout(call, now)
            return out
        return []

    def _finish_timeout(self, call: _Call, now: float) -> list[Effect]:
        ex = call.exited
        reason = f"{call.req.action} timed out after {call.req.timeout_ms}ms"
        return self._finish(call, now, int(OcfRc.ERR_GENERIC), ExecStatus.TIMEOUT, reason=reason,
                            stdout=ex.stdout if ex else "", stderr=ex.stderr if ex else "")

    def _exited(self, ev: AgentExited, now: float) -> list[Effect]:
        call = self._running.get(ev.call_id)
        if call is None:
            return [Trace("executor_stray_exit", {"call": ev.call_id})]
        if call.kill_at is not None:            # timing out
            call.exited = ev
            return self._finish_timeout(call, now) if call.killed else []
        req = call.req
        if ev.exit_code < 0:
            return self._finish(call, now, int(OcfRc.ERR_GENERIC), ExecStatus.ERROR,
                                reason=f"killed by signal {-ev.exit_code}",
                                stdout=ev.stdout, stderr=ev.stderr)
        if req.agent.standard == "lsb":
            rc = lsb_to_ocf(req.action, ev.exit_code)
        else:
            rc = ocf_rc_of(ev.exit_code)
        return self._finish(call, now, rc, ExecStatus.DONE, reason=exit_reason(ev.stderr),
                            stdout=ev.stdout, stderr=ev.stderr)

    def _failed_to_run(self, ev: AgentFailedToRun, now: float) -> list[Effect]:
        call = self._running.get(ev.call_id)
        if call is None:
            return [Trace("executor_stray_exit", {"call": ev.call_id})]
        if ev.missing:
            return self._finish(call, now, int(OcfRc.ERR_INSTALLED), ExecStatus.NOT_INSTALLED,
                                reason=ev.reason)
        return self._finish(call, now, int(OcfRc.ERR_GENERIC), ExecStatus.ERROR, reason=ev.reason)

    def _finish(self, call: _Call, now: float, rc: int, status: ExecStatus, *, reason: str = "",
                stdout: str = "", stderr: str = "") -> list[Effect]:
        req = call.req
        self._running.pop(call.call_id, None)
        if self._busy.get(req.rsc_id) == call.call_id:
            del self._busy[req.rsc_id]
        rec = self._recurring.get(req.key) if req.interval_ms > 0 else None
        if rec is not None and rec.call_id != call.call_id:
            rec = None                            # a replaced recurring op's last run
        changed = True
        if call.cancelled:
            status = ExecStatus.CANCELLED
        elif rec is not None:
            changed = rec.last_rc != rc
            rec.last_rc = rc
            rec.next_due = now + req.interval_ms / 1000
            rec.call_id = None
        result = ActionResult(call.call_id, req.rsc_id, req.action, req.interval_ms, rc,
                              int(status), reason, stdout, stderr, call.queued_at,
                              call.started_at if call.started_at is not None else now, now,
                              changed, req.user_data)
        fields = result.to_dict()
        fields["stdout"], fields["stderr"] = stdout[-TRACE_OUTPUT_LIMIT:], stderr[-TRACE_OUTPUT_LIMIT:]
        out: list[Effect] = [Trace("executor_result", fields), result]
        return out + self._dispatch(now)

    def _cancel_all(self, rsc_id: str, now: float, reason: str) -> list[Effect]:
        out: list[Effect] = []
        for key in [k for k, r in self._recurring.items() if r.req.rsc_id == rsc_id]:
            out += self._cancel_key(key, now, reason)
        return out

    def _cancel_key(self, key: str, now: float, reason: str) -> list[Effect]:
        """Forget recurring op ``key``: report it cancelled now if idle or queued; a
        running execution is reported cancelled when it ends."""
        rec = self._recurring.pop(key)
        out: list[Effect] = [Trace("executor_cancel", {"key": key, "reason": reason})]
        waiting = {c.call_id: c for c in list(self._delayed.values()) + self._queue}
        call = waiting.get(rec.call_id) if rec.call_id is not None else None
        if rec.call_id is not None and rec.call_id in self._running:
            self._running[rec.call_id].cancelled = True
            return out
        if call is not None:
            self._delayed.pop(call.call_id, None)
            if call in self._queue:
                self._queue.remove(call)
            call_id = call.call_id
        else:
            call_id = self._next_call
            self._next_call += 1
        req = rec.req
        out.append(ActionResult(call_id, req.rsc_id, req.action, req.interval_ms,
                                int(OcfRc.SUCCESS), int(ExecStatus.CANCELLED), "", "", "",
                                now, now, now, True, req.user_data))
        return out
