"""Carrying out one fencing operation on this node: prepare, plan, run.

The part of the fencer (``ha.fencing.fencer``) that runs on the node chosen to carry an
operation out. Stages:

1. prepare — each candidate device's agent metadata (``action=metadata``, cached per
   agent) and whether it can fence the target, per ``pcmk_host_check``: the static
   list or map, the agent's ``list`` output (cached for a minute, as Pacemaker
   refreshes it; when ``list`` fails, the device is asked ``status`` instead, as
   Pacemaker disables its port-list queries), its ``status`` for the target (0 on or
   2 off: it can), or none;
2. plan — the target's topology levels in index order, or each capable device as a
   level of its own (priority, then id); the total timer (see ``ha.fencing.plan``);
3. run — the devices of the current level one after another, each after its fencing
   delay, retried within its timeout (``pcmk_<action>_retries``; a timeout is not
   retried); every device of a level must succeed, else the next level is tried.

A ``reboot`` through a level of several devices is remapped as Pacemaker does it: every
device ``off``, then every device ``on`` — one device rebooting while another still
powers the node would not fence it. Devices with ``pcmk_reboot_action=off`` or an agent
without ``on`` are left off; a failed ``on`` after a successful ``off`` does not fail
the operation (the node was fenced), it is noted in the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ha.fencing.agent import (
    AgentMetadata,
    MetadataError,
    host_argument,
    judge,
    parse_list_output,
    parse_metadata,
)
from ha.fencing.devices import FenceDevice
from ha.fencing.events import AgentFinished, Effect, RunAgent, SetTimer, Trace
from ha.fencing.history import FenceOp
from ha.fencing.plan import Rng, device_order, fencing_delay_s, total_timeout_s
from ha.fencing.topology import FencingLevel

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_NOSUCH, EXIT_TIMEOUT = 0, 1, 2, 105, 124
QUERY_TIMEOUT_S = 20.0                    # metadata, list and status queries
DYNAMIC_LIST_TTL_S = 60.0                 # Pacemaker refreshes a dynamic list each minute


@dataclass
class Execution:
    """An operation this node carries out."""

    op: FenceOp
    candidates: list[str]
    topology: list[FencingLevel]
    queries: dict[int, tuple[str, str]] = field(default_factory=dict)   # call -> (kind, dev/agent)
    capable: dict[str, bool] = field(default_factory=dict)
    levels: list[list[str]] = field(default_factory=list)
    level_i: int = 0
    dev_i: int = 0
    phase: str | None = None      # a remapped reboot: "off", then "on"
    attempt: int = 0
    deadline: float = 0.0
    run_call: int | None = None
    failures: list[str] = field(default_factory=list)
    used: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        """The action of the current step (the requested one, or the remap's phase)."""
        return self.phase or self.op.action

    def next_level(self) -> None:
        self.level_i, self.dev_i, self.phase = self.level_i + 1, 0, None
        self.used = []             # the next level starts afresh: all of its devices must act


class Executing:
    """The executing half of ``Fencer`` (a mixin: the state lives in the Fencer)."""

    devices: dict[str, FenceDevice]
    metadata: dict[str, AgentMetadata | None]
    dynamic: dict[str, tuple[float, list[str]]]
    list_disabled: set[str]
    calls: dict[int, str]
    execs: dict[str, Execution]
    rng: Rng
    stonith_timeout_s: float

    def _next(self) -> int:
        raise NotImplementedError

    def _finish(self, ex: Execution, now: float, state: str, reason: str, code: int,
                timer_fired: bool = False) -> list[Effect]:
        raise NotImplementedError

    def _call(self, ex: Execution, dev: FenceDevice, action: str, target: str | None,
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

    def _query(self, ex: Execution, kind: str, key: str, dev: FenceDevice,
               target: str | None) -> RunAgent:
        run = self._call(ex, dev, kind, target, QUERY_TIMEOUT_S)
        ex.queries[run.call_id] = (kind, key)
        return run

    def _prepare(self, ex: Execution, now: float) -> list[Effect]:
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
            if check == "dynamic-list" and dev_id in self.list_disabled:
                check = "status"   # its list failed: Pacemaker asks status instead
            target = ex.op.target
            if check == "none":
                ex.capable[dev_id] = True
            elif check == "static-list":
                ex.capable[dev_id] = target in dev.static_targets()
            elif check == "dynamic-list" and dev_id in self.dynamic \
                    and now - self.dynamic[dev_id][0] < DYNAMIC_LIST_TTL_S:
                listed = self.dynamic[dev_id][1]
                ex.capable[dev_id] = target in listed or dev.host_value(target) in listed
            elif (kind := "list" if check == "dynamic-list" else "status", dev_id) not in pending:
                pending.add((kind, dev_id))
                out.append(self._query(ex, kind, dev_id, dev, None if kind == "list" else target))
        if ex.queries:
            return out
        return out + self._plan(ex, now)

    def _plan(self, ex: Execution, now: float) -> list[Effect]:
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
        if ex.op.action == "reboot" and any(len(lv) > 1 for lv in ex.levels):
            total *= 2             # remapped levels run each device twice (off, then on)
        return [Trace("fence_plan", {"id": ex.op.id, "levels": ex.levels,
                                     "total_timeout_s": round(total, 3)}),
                SetTimer(f"total:{ex.op.id}", now + total), *self._next_device(ex, now)]

    def _next_device(self, ex: Execution, now: float) -> list[Effect]:
        while ex.level_i < len(ex.levels):
            level = ex.levels[ex.level_i]
            if ex.dev_i == 0 and ex.phase is None and ex.op.action == "reboot" and len(level) > 1:
                ex.phase = "off"       # Pacemaker's remap: every device off, then every one on
            if ex.dev_i >= len(level):
                if ex.phase == "off":
                    ex.phase, ex.dev_i = "on", 0
                    continue
                return self._finish(ex, now, "done", "; ".join(ex.failures), EXIT_OK)
            dev_id = level[ex.dev_i]
            if dev_id not in self.devices or not ex.capable.get(dev_id):
                why = "not configured" if dev_id not in self.devices else \
                    f"cannot fence {ex.op.target}"
                ex.failures.append(f"{dev_id}: {why}")
                ex.next_level()
                continue
            dev = self.devices[dev_id]
            if ex.phase == "on" and not self._can_turn_on(dev):
                ex.dev_i += 1          # stays off (pcmk_reboot_action=off) or has no "on"
                continue
            ex.attempt = 0
            ex.deadline = now + dev.timeout_for(ex.action, self.stonith_timeout_s)
            delay = fencing_delay_s(dev, ex.op.target, ex.action, self.rng)
            if delay > 0:
                ex.deadline += delay
                return [Trace("fence_delay", {"id": ex.op.id, "device": dev_id,
                                              "delay_s": round(delay, 3)}),
                        SetTimer(f"delay:{ex.op.id}", now + delay)]
            return self._run(ex, now)
        return self._finish(ex, now, "failed", "; ".join(ex.failures) or "all levels failed",
                            EXIT_ERROR)

    def _run(self, ex: Execution, now: float) -> list[Effect]:
        dev = self.devices[ex.levels[ex.level_i][ex.dev_i]]
        ex.attempt += 1
        run = self._call(ex, dev, ex.action, ex.op.target, max(ex.deadline - now, 0.0))
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
                self.list_disabled.add(key)
        else:
            ex.capable[key] = judge("status", ev.rc, ev.timed_out)[0]
        return self._prepare(ex, ev.now)

    def _ran(self, ex: Execution, ev: AgentFinished) -> list[Effect]:
        ex.run_call = None
        dev = self.devices[ex.levels[ex.level_i][ex.dev_i]]
        ok, reason = judge(ex.action, ev.rc, ev.timed_out)
        out: list[Effect] = [Trace("fence_agent_result", {
            "id": ex.op.id, "device": dev.id, "rc": ev.rc, "timed_out": ev.timed_out,
            "attempt": ex.attempt, "stderr": ev.stderr[-400:]})]
        if ok:
            if dev.id not in ex.used:
                ex.used.append(dev.id)
            ex.dev_i += 1
            return out + self._next_device(ex, ev.now)
        if not ev.timed_out and ex.attempt < dev.retries_for(ex.action) \
                and ex.deadline > ev.now:
            return out + self._run(ex, ev.now)
        if ex.phase == "on":
            # the node is off already: a failed "on" does not undo the fencing
            ex.failures.append(f"{dev.id}: on after off: {reason}")
            ex.dev_i += 1
            return out + self._next_device(ex, ev.now)
        ex.failures.append(f"{dev.id}: {reason}")
        ex.next_level()
        return out + self._next_device(ex, ev.now)

    def _can_turn_on(self, dev: FenceDevice) -> bool:
        md = self.metadata.get(dev.agent)
        return dev.action_for("reboot") != "off" and md is not None and md.supports("on")

