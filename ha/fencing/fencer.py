"""The fencer core: one node's share of fencing, as a sans-IO state machine.

Theory of operation. A client's request (``FenceRequest``) is multicast to process
group ``fencer``; every node records it in its history when it is delivered, in the
agreed order. If an identical operation (same target and action) is still pending, the
new one is merged into it: it is not carried out again, and ends with its result
(Pacemaker merges such duplicates the same way). Otherwise one node carries it out:
the requesting node — unless it is itself the target, then the lowest-numbered other
member of the group. That node:

1. ``prepare`` — reads each candidate device's agent metadata (``action=metadata``,
   cached per agent) and asks whether the device can fence the target, by its
   ``pcmk_host_check`` (static list, the agent's ``list``, its ``status``, or none);
2. plans levels — the target's fencing-topology levels in index order, or, without
   topology, each capable device as a level of its own (priority order); sets the
   operation's total timer (1.2 × the sum of budgets, see ``ha.fencing.plan``);
3. ``run`` — for each device of the current level: waits its fencing delay, runs the
   agent (retrying within the device's timeout, ``pcmk_<action>_retries``); every
   device of a level must succeed, else the next level is tried;
4. multicasts the result; every node records it, and the requesting node replies to
   its client (and to the clients of requests merged into it).

Timer ids: ``total:<op>`` (executor), ``delay:<op>`` (executor), ``client:<op>``
(requesting node: the client stops waiting, the operation stays in the history).
A malformed group message is dropped and counted (``dropped``), never raised.
Self-fencing: with ``no-quorum-policy=suicide`` a node that had quorum and loses it
emits ``SelfFence``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ha.fencing import messages
from ha.fencing.agent import (
    AgentMetadata,
    MetadataError,
    host_argument,
    judge,
    parse_list_output,
    parse_metadata,
)
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
    RunAgent,
    SelfFence,
    SendGroup,
    SetTimer,
    TimerFired,
    Trace,
)
from ha.fencing.history import ACTIONS, FenceOp, History
from ha.fencing.plan import Rng, device_order, fencing_delay_s, total_timeout_s
from ha.fencing.topology import FencingLevel, levels_for, levels_from_cib

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_NOSUCH, EXIT_TIMEOUT = 0, 1, 2, 105, 124
DEFAULT_CLIENT_TIMEOUT_S = 120.0          # stonith_admin's default --timeout
QUERY_TIMEOUT_S = 20.0                    # metadata, list and status queries
DYNAMIC_LIST_TTL_S = 60.0                 # Pacemaker refreshes a dynamic list each minute


@dataclass
class _Exec:
    """An operation this node carries out."""

    op: FenceOp
    candidates: list[str]
    topology: list[FencingLevel]
    queries: dict[int, tuple[str, str]] = field(default_factory=dict)   # call -> (kind, dev/agent)
    capable: dict[str, bool] = field(default_factory=dict)
    levels: list[list[str]] = field(default_factory=list)
    level_i: int = 0
    dev_i: int = 0
    attempt: int = 0
    deadline: float = 0.0
    run_call: int | None = None
    failures: list[str] = field(default_factory=list)
    used: list[str] = field(default_factory=list)


class Fencer:
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
        self.members: tuple[int, ...] = ()
        self.executors: dict[str, int] = {}
        self.execs: dict[str, _Exec] = {}
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
            return [Trace("fence_self", {"node": self.me, "reason": reason}), SelfFence(reason)]
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
        if ev.action not in ACTIONS or not ev.target or "\n" in ev.target:
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
        ex = _Exec(op, candidates, levels)
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

    # ---- carrying an operation out --------------------------------------------------
    def _call(self, ex: _Exec, dev: FenceDevice, action: str, target: str | None,
              timeout_s: float) -> RunAgent:
        """A RunAgent for ``dev`` (the host argument, mapped, when there is a target)."""
        cid = self._next()
        self.calls[cid] = ex.op.id
        md = self.metadata.get(dev.agent)
        arg = host_argument(dev.host_argument, md) if target is not None else None
        params = dev.agent_params()
        if arg and target is not None and arg not in params:
            params[arg] = dev.host_value(target)
        return RunAgent(cid, dev.id, dev.agent, params, dev.action_for(action), target,
                        timeout_s, arg)

    def _query(self, ex: _Exec, kind: str, key: str, dev: FenceDevice,
               target: str | None) -> RunAgent:
        run = self._call(ex, dev, kind, target, QUERY_TIMEOUT_S)
        ex.queries[run.call_id] = (kind, key)
        return run

    def _prepare(self, ex: _Exec, now: float) -> list[Effect]:
        out: list[Effect] = []
        pending = {(k, key) for k, key in ex.queries.values()}
        for dev_id in ex.candidates:
            dev = self.devices[dev_id]
            if dev.agent not in self.metadata:
                if ("metadata", dev.agent) not in pending:
                    pending.add(("metadata", dev.agent))
                    out.append(self._query(ex, "metadata", dev.agent, dev, None))
                continue
            if dev_id in ex.capable:
                continue
            md = self.metadata[dev.agent]
            if md is None:
                ex.capable[dev_id] = False
                continue
            check = dev.host_check_for(md.supports("list"), md.supports("status"))
            target = ex.op.target
            if check == "none":
                ex.capable[dev_id] = True
            elif check == "static-list":
                ex.capable[dev_id] = target in dev.static_targets()
            elif check == "dynamic-list" and dev_id in self.dynamic \
                    and now - self.dynamic[dev_id][0] < DYNAMIC_LIST_TTL_S:
                listed = self.dynamic[dev_id][1]
                ex.capable[dev_id] = target in listed or dev.host_value(target) in listed
            elif (check, dev_id) not in pending:
                kind = "list" if check == "dynamic-list" else "status"
                pending.add((kind, dev_id))
                out.append(self._query(ex, kind, dev_id, dev, None if kind == "list" else target))
        if ex.queries:
            return out
        return out + self._plan(ex, now)

    def _plan(self, ex: _Exec, now: float) -> list[Effect]:
        if ex.topology:
            ex.levels = [list(lv.devices) for lv in ex.topology]
        else:
            able = [self.devices[d] for d in ex.candidates if ex.capable.get(d)]
            ex.levels = [[d.id] for d in device_order(able)]
        if not ex.levels:
            return self._finish(ex, now, "failed", f"no fence device is able to fence "
                                                   f"{ex.op.target}", EXIT_NOSUCH)
        used = [self.devices[d] for lv in ex.levels for d in lv if d in self.devices]
        total = total_timeout_s(used, ex.op.action, self.stonith_timeout_s)
        return [Trace("fence_plan", {"id": ex.op.id, "levels": ex.levels,
                                     "total_timeout_s": round(total, 3)}),
                SetTimer(f"total:{ex.op.id}", now + total), *self._next_device(ex, now)]

    def _next_device(self, ex: _Exec, now: float) -> list[Effect]:
        while ex.level_i < len(ex.levels):
            level = ex.levels[ex.level_i]
            if ex.dev_i >= len(level):
                return self._finish(ex, now, "done", "", EXIT_OK)
            dev_id = level[ex.dev_i]
            if dev_id not in self.devices or not ex.capable.get(dev_id):
                why = "not configured" if dev_id not in self.devices else \
                    f"cannot fence {ex.op.target}"
                ex.failures.append(f"{dev_id}: {why}")
                ex.level_i, ex.dev_i = ex.level_i + 1, 0
                ex.used = []
                continue
            dev = self.devices[dev_id]
            ex.attempt = 0
            ex.deadline = now + dev.timeout_for(ex.op.action, self.stonith_timeout_s)
            delay = fencing_delay_s(dev, ex.op.target, ex.op.action, self.rng)
            if delay > 0:
                ex.deadline += delay
                return [Trace("fence_delay", {"id": ex.op.id, "device": dev_id,
                                              "delay_s": round(delay, 3)}),
                        SetTimer(f"delay:{ex.op.id}", now + delay)]
            return self._run(ex, now)
        return self._finish(ex, now, "failed", "; ".join(ex.failures) or "all levels failed",
                            EXIT_ERROR)

    def _run(self, ex: _Exec, now: float) -> list[Effect]:
        dev = self.devices[ex.levels[ex.level_i][ex.dev_i]]
        ex.attempt += 1
        run = self._call(ex, dev, ex.op.action, ex.op.target, max(ex.deadline - now, 0.0))
        ex.run_call = run.call_id
        return [Trace("fence_exec", {"id": ex.op.id, "device": dev.id, "action": run.action,
                                     "attempt": ex.attempt, "timeout_s": round(run.timeout_s, 3)}),
                run]

    def _on_agent(self, ev: AgentFinished) -> list[Effect]:
        op_id = self.calls.pop(ev.call_id, None)
        ex = self.execs.get(op_id or "")
        if ex is None:
            return []              # the operation ended meanwhile (its total timer fired)
        if ev.call_id == ex.run_call:
            return self._ran(ex, ev)
        kind, key = ex.queries.pop(ev.call_id)
        if kind == "metadata":
            try:
                self.metadata[key] = parse_metadata(ev.stdout) if ev.rc == 0 else None
            except MetadataError:
                self.metadata[key] = None
        elif kind == "list":
            if ev.rc == 0 and not ev.timed_out:
                self.dynamic[key] = (ev.now, parse_list_output(ev.stdout))
            else:
                ex.capable[key] = False
        else:
            ex.capable[key] = judge("status", ev.rc, ev.timed_out)[0]
        return self._prepare(ex, ev.now)

    def _ran(self, ex: _Exec, ev: AgentFinished) -> list[Effect]:
        ex.run_call = None
        dev = self.devices[ex.levels[ex.level_i][ex.dev_i]]
        ok, reason = judge(ex.op.action, ev.rc, ev.timed_out)
        out: list[Effect] = [Trace("fence_agent_result", {
            "id": ex.op.id, "device": dev.id, "rc": ev.rc, "timed_out": ev.timed_out,
            "attempt": ex.attempt, "stderr": ev.stderr[-400:]})]
        if ok:
            ex.used.append(dev.id)
            ex.dev_i += 1
            return out + self._next_device(ex, ev.now)
        if not ev.timed_out and ex.attempt < dev.retries_for(ex.op.action) \
                and ex.deadline > ev.now:
            return out + self._run(ex, ev.now)
        ex.failures.append(f"{dev.id}: {reason}")
        ex.level_i, ex.dev_i = ex.level_i + 1, 0
        ex.used = []               # the next level starts afresh: all of its devices must act
        return out + self._next_device(ex, ev.now)

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

    def _finish(self, ex: _Exec, now: float, state: str, reason: str, code: int,
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
