"""The fencer core on simulated nodes: the same ``Fencer`` the daemon hosts
(``ha.runtime.fencerservice``), driven by a ``SimWorld`` in virtual time.

:class:`SimFencer` hosts one node's core for one incarnation of that node. It feeds the
core what the node's simulated Totem delivers — messages and view changes of process
group ``fencer`` (``GroupDelivered``, ``MembershipChanged``), quorum changes
(``QuorumChanged``) — and carries its effects out:

- ``SendGroup`` → a safe multicast in group ``fencer`` from this node;
- ``SetTimer`` / ``CancelTimer`` → wake-ups on the world's virtual clock (the core's
  ``now`` is virtual seconds);
- ``RunAgent`` → :class:`ha.sim.fencedevices.SimFenceDevices`; its command reaches the
  switch at the commit point of the run (if this node still lives), the result comes
  back ``duration`` later as ``AgentFinished``, or ``timed_out`` when the agent's
  timeout is over first (the runtime kills an overrunning agent);
- ``ReplyClient`` → ``replies``; ``Trace`` → the world's trace;
- ``SelfFence`` → the node's :class:`ha.sim.executor.SimExecutor` (when given) stops
  its resources, then the node crashes, as the daemon exits (``self_fenced`` traced).

:class:`FencingSim` attaches a SimFencer to every node of the world: on each start of
a node a new one (new session, its own seeded generator for fencing delays), given
the configuration (a CIB) and joined to group ``fencer``; on a crash it is gone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from lxml import etree

from ha.fencing import events as ev
from ha.fencing.fencer import Fencer
from ha.sim.executor import SimExecutor
from ha.sim.fencedevices import DeviceOutcome, SimFenceDevices
from ha.sim.world import SimWorld
from ha.totem.effects import GroupChange, GroupMessage, QuorumChange

GROUP = "fencer"
SELF_FENCE_STOP_MS = 30_000       # the executor's budget to stop everything, as the daemon's


def _us(seconds: float) -> int:
    return math.ceil(seconds * 1_000_000)


class SimFencer:
    """One incarnation of one node's fencer (see the module docstring)."""

    def __init__(self, sim: FencingSim, node: int, incarnation: int) -> None:
        self.sim, self.world, self.node = sim, sim.world, node
        seed = (sim.world.seed * 1_000_003 + node * 7919 + incarnation) & 0xFFFFFFFF
        self.core = Fencer(node, sim.names, random.Random(seed), session=incarnation)
        self.alive = True
        self.timers: dict[str, int] = {}
        self._timer_seq = 0
        self.members: tuple[int, ...] = ()
        self.quorate = False

    def now(self) -> float:
        return self.world.now_us / 1_000_000

    def feed(self, event: ev.Event) -> None:
        if self.alive:
            self.do(self.core.step(event))

    def do(self, effects: list[ev.Effect]) -> None:
        for e in effects:
            if not self.alive:
                return
            if isinstance(e, ev.SendGroup):
                self.world.send(self.node, GROUP, e.payload, True)
            elif isinstance(e, ev.SetTimer):
                self._timer_seq += 1
                self.timers[e.timer_id] = self._timer_seq
                at = max(_us(e.at), self.world.now_us)
                self.world.at(at, partial(self._fire, e.timer_id, self._timer_seq))
            elif isinstance(e, ev.CancelTimer):
                self.timers.pop(e.timer_id, None)
            elif isinstance(e, ev.RunAgent):
                self._run(e)
            elif isinstance(e, ev.ReplyClient):
                self.sim.replies[e.client_id] = (self.world.now_us, self.node, e.reply)
            elif isinstance(e, ev.Trace):
                self.world.record(self.node, e.event, e.fields)
            elif isinstance(e, ev.SelfFence):
                self._self_fence(e.reason)

    def _paused(self, retry: Any) -> bool:
        """A paused node runs nothing: ``retry`` again when its pause is over."""
        until = self.world.nodes[self.node].paused_until
        if until is None:
            return False
        self.world.at(until, retry)
        return True

    def _fire(self, timer_id: str, seq: int) -> None:
        if self._paused(partial(self._fire, timer_id, seq)):
            return
        if self.alive and self.timers.get(timer_id) == seq:
            del self.timers[timer_id]
            self.feed(ev.TimerFired(self.now(), timer_id))

    def _run(self, run: ev.RunAgent) -> None:
        outcome = self.sim.devices.begin(self.node, run)
        limit = _us(run.timeout_s)
        end = outcome.duration_us
        commit = outcome.commit_us if outcome.commit_us is not None else end
        now = self.world.now_us
        if outcome.act is not None and commit is not None and commit <= limit:
            self.world.at(now + commit, partial(self._commit, outcome))
        if end is None or end > limit:
            self.world.at(now + limit, partial(self._timed_out, run.call_id))
        else:
            self.world.at(now + end, partial(self._finished, run.call_id, outcome))

    def _commit(self, outcome: DeviceOutcome) -> None:
        """The agent sends its command: from now on the switch acts, whatever becomes
        of this node."""
        if not self.alive or outcome.act is None:
            return                       # the agent died with its node
        if self._paused(partial(self._commit, outcome)):
            return
        if outcome.switch_us:
            self.world.at(self.world.now_us + outcome.switch_us, outcome.act)
        else:
            outcome.act()                # may crash any node, this one included

    def _finished(self, call_id: int, outcome: DeviceOutcome) -> None:
        if not self.alive:
            return                       # the agent died with its node
        if self._paused(partial(self._finished, call_id, outcome)):
            return
        self.feed(ev.AgentFinished(self.now(), call_id, outcome.rc, outcome.stdout,
                                   outcome.stderr))

    def _timed_out(self, call_id: int) -> None:
        if self._paused(partial(self._timed_out, call_id)):
            return
        self.feed(ev.AgentFinished(self.now(), call_id, -1, "", "timed out", True))

    def _self_fence(self, reason: str) -> None:
        executor = self.sim.executors.get(self.node)
        node = self.node

        def down(results: list[dict[str, Any]]) -> None:
            self.world.record(node, "self_fenced", {"reason": reason,
                                                    "stopped": [r["rsc"] for r in results
                                                                if r.get("stopped")]})
            self.sim.self_fenced.append((self.world.now_us, node))
            self.world.crash(node)

        if executor is None:
            down([])
        else:
            executor.stop_all(SELF_FENCE_STOP_MS, down)


@dataclass
class FencingSim:
    """A fencer on every node of ``world``, all configured from ``cib``."""

    world: SimWorld
    cib: etree._Element
    devices: SimFenceDevices
    executors: dict[int, SimExecutor] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    fencers: dict[int, SimFencer] = field(default_factory=dict)
    replies: dict[str, tuple[int, int, dict[str, Any]]] = field(default_factory=dict)
    self_fenced: list[tuple[int, int]] = field(default_factory=list)
    incarnation: dict[int, int] = field(default_factory=dict)
    _clients: int = 0

    def __post_init__(self) -> None:
        if not self.names:
            self.names = dict(self.devices.names)
        self.world.observers.append(self._observe)
        for n in self.world.node_ids:
            if self.world.alive(n):
                self._boot(n)

    # ---- clients --------------------------------------------------------------------
    def fence(self, n: int, target: str, action: str = "reboot",
              timeout_s: float | None = None) -> str | None:
        """stonith_admin at node ``n``: the client id whose reply lands in ``replies``
        (None: the node is down)."""
        f = self.fencers.get(n)
        if f is None or self.world.nodes[n].paused_until is not None:
            return None
        self._clients += 1
        cid = f"c{self._clients}"
        f.feed(ev.FenceRequest(f.now(), cid, target, action, f"sim-client.{n}", timeout_s))
        return cid

    def history(self, n: int) -> list[dict[str, Any]]:
        return [op.as_json() for op in self.fencers[n].core.history.ordered()]

    def set_cib(self, cib: etree._Element) -> None:
        self.cib = cib
        for f in self.fencers.values():
            f.feed(ev.ConfigChanged(f.now(), cib))

    # ---- world events ---------------------------------------------------------------
    def _observe(self, now_us: int, n: int, e: object) -> None:
        if isinstance(e, tuple):
            if e[0] == "trace" and e[1] == "node_start":
                self.world.at(now_us, partial(self._boot, n))
            elif e[0] == "crash":
                f = self.fencers.pop(n, None)
                if f is not None:
                    f.alive = False
            return
        f = self.fencers.get(n)
        if f is None:
            return
        now = now_us / 1_000_000
        t = type(e)
        if t is GroupMessage and e.group == GROUP:                     # type: ignore[attr-defined]
            f.feed(ev.GroupDelivered(now, e.sender, e.payload))        # type: ignore[attr-defined]
        elif t is GroupChange and e.group == GROUP:                    # type: ignore[attr-defined]
            f.members = e.members                                      # type: ignore[attr-defined]
            f.feed(ev.MembershipChanged(now, e.members, e.joined, e.left))  # type: ignore[attr-defined]
        elif t is QuorumChange:
            f.quorate = e.quorate                                      # type: ignore[attr-defined]
            f.feed(ev.QuorumChanged(now, e.quorate))                   # type: ignore[attr-defined]

    def _boot(self, n: int) -> None:
        if not self.world.alive(n) or n in self.fencers:
            return
        self.incarnation[n] = self.incarnation.get(n, 0) + 1
        f = SimFencer(self, n, self.incarnation[n])
        self.fencers[n] = f
        f.feed(ev.ConfigChanged(f.now(), self.cib))
        self.world.join(n, GROUP)
