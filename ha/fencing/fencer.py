"""The fencer core: one node's share of fencing, as a sans-IO state machine.

Theory of operation. A client's request (``FenceRequest``) is multicast to process
group ``fencer``; every node records it in its history when it is delivered, in the
agreed order. If an identical operation (same target and action) is still pending, the
new one is merged into it: it is not carried out again, and ends with its result
(Pacemaker merges such duplicates the same way). Otherwise one node carries it out:
the requesting node — unless it is itself the target, then the lowest-numbered other
member of the group. That node carries it out (``ha.fencing.execution``: agent
metadata and host checks, the plan of topology levels with its total timer of 1.2 ×
the sum of the devices' budgets, the devices run with delays and retries) and then
multicasts the result; every node records it, and the requesting node replies to
its client (and to the clients of requests merged into it).

Timer ids: ``total:<op>`` (executor), ``delay:<op>`` (executor), ``client:<op>``
(requesting node: the client stops waiting, the operation stays in the history).
A malformed group message is dropped and counted (``dropped``), never raised.
Self-fencing: with ``no-quorum-policy=suicide`` a node that had quorum and loses it
emits ``SelfFence``.
"""

from __future__ import annotations

from typing import Any

from ha.fencing import messages
from ha.fencing.agent import AgentMetadata
from ha.fencing.devices import (
    FenceDevice,
    cluster_options,
    devices_from_cib,
    node_attributes,
    stonith_timeout_s,
)
from ha.fencing.events import (
    AgentFinished,
    CancelTimer,
    ConfigChanged,
    Effect,
    Event,
    FenceRequest,
    GroupDelivered,
    MembershipChanged,
    QuorumChanged,
    ReplyClient,
    SelfFence,
    SendGroup,
    SetTimer,
    TimerFired,
    Trace,
)
from ha.fencing.execution import (
    EXIT_ERROR,
    EXIT_INVALID,
    EXIT_NOSUCH,
    EXIT_OK,
    EXIT_TIMEOUT,
    Executing,
    Execution,
)
from ha.fencing.history import ACTIONS, FenceOp, History
from ha.fencing.plan import Rng
from ha.fencing.topology import FencingLevel, levels_for, levels_from_cib

__all__ = ["EXIT_ERROR", "EXIT_INVALID", "EXIT_NOSUCH", "EXIT_OK", "EXIT_TIMEOUT", "Fencer"]

DEFAULT_CLIENT_TIMEOUT_S = 120.0          # stonith_admin's default --timeout


class Fencer(Executing):
    """The fencer of node ``node_id`` (``names``: node id → node name)."""

    def __init__(self, node_id: int, names: dict[int, str], rng: Rng, session: int = 0) -> None:
        self.node_id = node_id
        self.names = dict(names)
        self.ids = {n: i for i, n in names.items()}
        self.rng = rng
        self.session = session
        self.history = History()
        self.devices: dict[str, FenceDevice] = {}
        self.levels: list[FencingLevel] = []
        self.node_attrs: dict[str, dict[str, str]] = {}
        self.stonith_timeout_s = 60.0
        self.no_quorum_policy = "stop"
        self.config_problems: list[str] = []
        self.metadata: dict[str, AgentMetadata | None] = {}
        self.dynamic: dict[str, tuple[float, list[str]]] = {}
        self.list_disabled: set[str] = set()
        self.members: tuple[int, ...] = ()
        self.executors: dict[str, int] = {}
        self.execs: dict[str, Execution] = {}
        self.calls: dict[int, str] = {}           # call id -> op id
        self.waiting: dict[str, str] = {}         # op id -> client id (ours)
        self.had_quorum = False
        self.dropped = 0
        self._n = 0

    @property
    def me(self) -> str:
        return self.names.get(self.node_id, f"node{self.node_id}")

    def _next(self) -> int:
        self._n += 1
        return self._n

    # ---- the one entry --------------------------------------------------------------
    def step(self, ev: Event) -> list[Effect]:
        if isinstance(ev, FenceRequest):
            return self._on_request(ev)
        if isinstance(ev, GroupDelivered):
            return self._on_group(ev)
        if isinstance(ev, AgentFinished):
            return self._on_agent(ev)
        if isinstance(ev, TimerFired):
            return self._on_timer(ev)
        if isinstance(ev, MembershipChanged):
            return self._on_membership(ev)
        if isinstance(ev, QuorumChanged):
            return self._on_quorum(ev)
        return self._on_config(ev)

    # ---- configuration, membership, quorum ------------------------------------------
    def _on_config(self, ev: ConfigChanged) -> list[Effect]:
        self.devices, dev_problems = devices_from_cib(ev.cib)
        self.levels, lvl_problems = levels_from_cib(ev.cib)
        self.node_attrs = node_attributes(ev.cib)
        self.stonith_timeout_s = stonith_timeout_s(ev.cib)
        self.no_quorum_policy = cluster_options(ev.cib).get("no-quorum-policy", "stop")
        self.dynamic.clear()
        self.list_disabled.clear()
        problems = dev_problems + lvl_problems
        new = [p for p in problems if p not in self.config_problems]
        self.config_problems = problems
        return [Trace("fence_config", {"devices": sorted(self.devices), "problem": p}) for p in new]

    def _on_quorum(self, ev: QuorumChanged) -> list[Effect]:
        if ev.quorate:
            self.had_quorum = True
            return []
        if self.had_quorum and self.no_quorum_policy == "suicide":
            self.had_quorum = False
            reason = "quorum lost with no-quorum-policy=suicide"
            return [Trace("fence_self", {"node_name": self.me, "reason": reason}), SelfFence(reason)]
        return []

    def _on_membership(self, ev: MembershipChanged) -> list[Effect]:
        self.members = tuple(sorted(ev.members))
        out: list[Effect] = []
        old = [m for m in self.members if m not in ev.joined]
        if ev.joined and old and min(old) == self.node_id and self.history.ops:
            out.append(SendGroup(messages.history_message(self.history.ordered())))
        if ev.left and self.members and min(self.members) == self.node_id:
            for op in self.history.ordered():
                if op.state == "pending" and op.merged_into is None \
                        and self.executors.get(op.id) in ev.left:
                    who = self.names.get(self.executors[op.id], "?")
                    out.append(self._result_msg(op, "failed", ev.now, f"{who}, carrying it out, "
                                                "left the cluster", EXIT_ERROR, []))
        return out

    # ---- requests -------------------------------------------------------------------
    def _on_request(self, ev: FenceRequest) -> list[Effect]:
        if ev.action not in ACTIONS or not ev.target or not ev.target.isprintable():
            return [ReplyClient(ev.client_id, {
                "ok": False, "exit": EXIT_INVALID,
                "error": f"cannot {ev.action} '{ev.target}': expected a node name and one of "
                         f"{', '.join(ACTIONS)}"})]
        op_id = f"{self.node_id}.{self.session:x}.{self._next()}"
        self.waiting[op_id] = ev.client_id
        wait = ev.timeout_s if ev.timeout_s is not None else DEFAULT_CLIENT_TIMEOUT_S
        return [Trace("fence_request", {"id": op_id, "target": ev.target, "action": ev.action,
                                        "client": ev.client_name}),
                SetTimer(f"client:{op_id}", ev.now + wait),
                SendGroup(messages.encode("request", id=op_id, target=ev.target,
                                          action=ev.action, client=ev.client_name,
                                          created=ev.now))]

    def _on_group(self, ev: GroupDelivered) -> list[Effect]:
        try:
            d = messages.decode(ev.payload)
        except messages.MessageError as e:
            self.dropped += 1
            return [Trace("fence_dropped", {"sender": ev.sender, "error": str(e)})]
        if d["t"] == "history":
            changed = self.history.merge(d["ops"])
            return [Trace("fence_history_merged", {"from": ev.sender, "changed": changed})]
        if d["t"] == "request":
            return self._delivered_request(ev, d)
        return self._delivered_result(ev, d)

    def _executor(self, origin: int, target: str) -> int:
        target_id = self.ids.get(target)
        others = [m for m in self.members if m != target_id]
        if origin != target_id or not others:
            return origin
        return min(others)

    def _delivered_request(self, ev: GroupDelivered, d: dict[str, Any]) -> list[Effect]:
        if d["id"] in self.history.ops:
            self.dropped += 1
            return [Trace("fence_dropped", {"sender": ev.sender, "error": f"duplicate id {d['id']}"})]
        op = FenceOp(id=d["id"], target=d["target"], action=d["action"],
                     origin=self.names.get(ev.sender, f"node{ev.sender}"), client=d["client"],
                     created=d["created"])
        first = self.history.pending_like(op.target, op.action)
        self.history.add(op)
        if first is not None:
            op.merged_into = first.id
            return [Trace("fence_merged", {"id": op.id, "into": first.id, "target": op.target,
                                           "action": op.action})]
        executor = self._executor(ev.sender, op.target)
        self.executors[op.id] = executor
        if executor != self.node_id:
            return []
        levels = levels_for(op.target, self.levels, self.node_attrs)
        candidates = sorted({d for lv in levels for d in lv.devices if d in self.devices}) \
            if levels else sorted(self.devices)
        ex = Execution(op, candidates, levels)
        self.execs[op.id] = ex
        return [Trace("fence_exec_start", {"id": op.id, "target": op.target,
                                           "action": op.action, "candidates": candidates,
                                           "levels": [lv.index for lv in levels]}),
                *self._prepare(ex, ev.now)]

    def _delivered_result(self, ev: GroupDelivered, d: dict[str, Any]) -> list[Effect]:
        op = self.history.get(d["id"])
        if op is None or op.state != "pending":
            return []          # a result we already have (or of a request we never saw)
        out: list[Effect] = []
        group = [op] + [o for o in self.history.ordered() if o.merged_into == op.id]
        for o in group:
            o.state, o.completed, o.reason = d["state"], d["completed"], d.get("reason", "")
            o.delegate, o.devices, o.exit = d.get("delegate"), list(d.get("devices", [])), \
                d.get("exit", 0)
            client = self.waiting.pop(o.id, None)
            if client is not None:
                out.append(CancelTimer(f"client:{o.id}"))
                out.append(ReplyClient(client, self._reply(o)))
        out.append(Trace("fence_result", {"id": op.id, "target": op.target, "action": op.action,
                                          "state": op.state, "delegate": op.delegate,
                                          "reason": op.reason, "merged": len(group) - 1}))
        return out

    @staticmethod
    def _reply(op: FenceOp) -> dict[str, Any]:
        r: dict[str, Any] = {"ok": op.state == "done", "exit": op.exit, "op": op.as_json()}
        if op.state != "done":
            r["error"] = f"{op.action} of {op.target} failed: {op.reason}"
        return r

    def _on_timer(self, ev: TimerFired) -> list[Effect]:
        kind, _, op_id = ev.timer_id.partition(":")
        if kind == "client":
            client = self.waiting.pop(op_id, None)
            if client is None:
                return []
            return [ReplyClient(client, {"ok": False, "exit": EXIT_TIMEOUT, "id": op_id,
                                         "error": "timed out waiting for the result (the "
                                                  "operation may still complete)"})]
        ex = self.execs.get(op_id)
        if ex is None:
            return []
        if kind == "delay":
            return self._run(ex, ev.now)
        return self._finish(ex, ev.now, "failed", "timed out (total timeout)", EXIT_TIMEOUT,
                            timer_fired=True)

    def _finish(self, ex: Execution, now: float, state: str, reason: str, code: int,
                timer_fired: bool = False) -> list[Effect]:
        del self.execs[ex.op.id]
        for cid in [c for c, o in self.calls.items() if o == ex.op.id]:
            del self.calls[cid]
        out: list[Effect] = [] if timer_fired else [CancelTimer(f"total:{ex.op.id}")]
        out.append(CancelTimer(f"delay:{ex.op.id}"))
        out.append(self._result_msg(ex.op, state, now, reason, code, ex.used))
        return out

    def _result_msg(self, op: FenceOp, state: str, now: float, reason: str, code: int,
                    used: list[str]) -> SendGroup:
        return SendGroup(messages.encode("result", id=op.id, state=state, delegate=self.me,
                                         completed=now, reason=reason, devices=used, exit=code))
