"""The simulated world: a virtual clock, an event queue, the network and node faults.

``SimWorld`` drives the very same sans-IO ``TotemNode`` cores as the real daemon. One
integer seed draws everything (network delays and losses, start times, load), so a
run replays byte for byte, trace included. Node faults:

- ``crash``: the node stops; everything volatile is lost (persisted values, such as the
  ring sequence, are kept for ``restart``).
- ``restart``: a new incarnation starts from the persisted values.
- ``pause``: the node stops processing for a while (a stalled VM or a stopped
  process). Datagrams queue up for it; when it resumes it first fires every timer
  that expired meanwhile (stale timers), then reads the queued datagrams.

Observers (checkers) are called with ``(now_us, node, effect)`` for every effect a
node emits; they only observe.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ha.sim.network import Network, NetworkOptions
from ha.totem.config import TotemConfig
from ha.totem.effects import (
    ConfigurationChange,
    Deliver,
    GroupChange,
    GroupMessage,
    Persist,
    QuorumChange,
    Send,
    Trace,
    change_record,
)
from ha.totem.node import TotemNode
from ha.totem.quorum import QuorumConfig

Observer = Callable[[int, int, object], None]

_PACKET, _WAKE, _CALL = 0, 1, 2
INBOX_LIMIT = 4096
"""Datagrams a paused node's socket buffer holds; the rest are dropped, as a kernel would."""


@dataclass
class SimNode:
    node_id: int
    core: TotemNode | None = None
    persisted: dict[str, int] = field(default_factory=dict)
    incarnation: int = 0
    paused_until: int | None = None
    inbox: list[tuple[int, object]] = field(default_factory=list)
    wake_at: int | None = None

    @property
    def alive(self) -> bool:
        return self.core is not None


class SimWorld:
    """A cluster of simulated nodes in virtual time."""

    def __init__(self, nodes: Sequence[int], *, seed: int, totem: TotemConfig | None = None,
                 quorum: QuorumConfig | None = None, network: NetworkOptions | None = None,
                 trace_deliveries: bool = True) -> None:
        if not nodes:
            raise ValueError("a simulated cluster needs at least one node")
        self.seed = seed
        self.rng = random.Random(seed)
        self.node_ids = tuple(sorted(nodes))
        self.totem = totem or TotemConfig(nodes=self.node_ids)
        if not self.totem.nodes:
            raise ValueError("TotemConfig.nodes must list the nodelist")
        self.quorum = quorum or QuorumConfig(votes={n: 1 for n in self.node_ids})
        self.network = Network(self.rng, network)
        self.now_us = 0
        self._queue: list[tuple[int, int, int, int, Any]] = []
        self._seq = 0
        self.nodes = {n: SimNode(n) for n in self.node_ids}
        self.trace: list[str] = []
        self.trace_deliveries = trace_deliveries
        self.observers: list[Observer] = []
        self.events_processed = 0

    # ---- scheduling -----------------------------------------------------------------
    def _push(self, t: int, kind: int, node: int, data: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, kind, node, data))

    def at(self, t_us: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` at virtual time ``t_us`` (a fault, a heal, a load step)."""
        self._push(max(t_us, self.now_us), _CALL, 0, fn)

    def run_until(self, t_us: int) -> None:
        q = self._queue
        nodes = self.nodes
        while q and q[0][0] <= t_us:
            t, _, kind, node, data = heapq.heappop(q)
            self.now_us = t
            self.events_processed += 1
            if kind == _PACKET:
                sn = nodes[node]
                if sn.core is None or data[0] != sn.incarnation:
                    continue
                if sn.paused_until is not None:
                    if len(sn.inbox) < INBOX_LIMIT:
                        sn.inbox.append((data[1], data[2]))
                    continue
                self._apply(sn, sn.core.receive(t, data[2]))
            elif kind == _WAKE:
                sn = nodes[node]
                if sn.core is None or sn.wake_at != t or data != sn.incarnation:
                    continue
                if sn.paused_until is not None:
                    continue
                sn.wake_at = None
                self._apply(sn, sn.core.tick(t))
            else:
                data()
        if t_us > self.now_us:
            self.now_us = t_us

    def run_for(self, d_us: int) -> None:
        self.run_until(self.now_us + d_us)

    # ---- nodes ----------------------------------------------------------------------
    def start(self, node: int | None = None, stagger_us: int = 0) -> None:
        """Start one node, or every node (each after a random delay up to stagger)."""
        targets = [node] if node is not None else list(self.node_ids)
        for n in targets:
            delay = self.rng.randint(0, stagger_us) if stagger_us else 0
            self.at(self.now_us + delay, partial(self._boot, n))

    def _boot(self, n: int) -> None:
        sn = self.nodes[n]
        if sn.core is not None:
            return
        sn.incarnation += 1
        sn.core = TotemNode(n, self.totem, self.quorum, sn.persisted.get("ring_seq", 0))
        sn.paused_until = None
        sn.inbox = []
        sn.wake_at = None
        self._trace(n, "node_start", {"incarnation": sn.incarnation})
        self._apply(sn, sn.core.start(self.now_us))

    def crash(self, n: int) -> None:
        sn = self.nodes[n]
        if sn.core is None:
            return
        sn.core = None
        sn.inbox = []
        sn.paused_until = None
        sn.wake_at = None
        self._trace(n, "node_crash", {})
        self._notify(n, ("crash",))

    def restart(self, n: int) -> None:
        self._boot(n)

    def pause(self, n: int, duration_us: int) -> None:
        sn = self.nodes[n]
        if sn.core is None or sn.paused_until is not None:
            return
        sn.paused_until = self.now_us + duration_us
        self._trace(n, "node_pause", {"duration_ms": duration_us / 1000})
        inc = sn.incarnation
        self.at(sn.paused_until, partial(self._resume, n, inc))

    def resume(self, n: int) -> None:
        """Resume a paused node now (before its pause would have ended by itself)."""
        sn = self.nodes[n]
        self._resume(n, sn.incarnation)

    def _resume(self, n: int, incarnation: int) -> None:
        sn = self.nodes[n]
        if sn.core is None or sn.incarnation != incarnation or sn.paused_until is None:
            return
        sn.paused_until = None
        self._trace(n, "node_resume", {"queued": len(sn.inbox)})
        inbox, sn.inbox = sn.inbox, []
        sn.wake_at = None
        self._apply(sn, sn.core.tick(self.now_us))
        for _, msg in inbox:
            if sn.core is None or sn.paused_until is not None:
                break
            self._apply(sn, sn.core.receive(self.now_us, msg))

    def alive(self, n: int) -> bool:
        return self.nodes[n].core is not None

    def core(self, n: int) -> TotemNode:
        c = self.nodes[n].core
        if c is None:
            raise LookupError(f"node {n} is not running")
        return c

    # ---- application requests -------------------------------------------------------
    def submit(self, n: int, payload: bytes, safe: bool = False) -> bool:
        sn = self.nodes[n]
        if sn.core is None or sn.paused_until is not None:
            return False
        self._notify(n, ("submit", payload, safe))
        self._apply(sn, sn.core.mcast(self.now_us, payload, safe))
        return True

    def join(self, n: int, group: str) -> None:
        sn = self.nodes[n]
        if sn.core is not None and sn.paused_until is None:
            self._apply(sn, sn.core.join(self.now_us, group))

    def send(self, n: int, group: str, data: bytes, safe: bool = False) -> None:
        sn = self.nodes[n]
        if sn.core is not None and sn.paused_until is None:
            self._apply(sn, sn.core.send(self.now_us, group, data, safe))

    # ---- effects --------------------------------------------------------------------
    def _apply(self, sn: SimNode, effects: list[Any]) -> None:
        n = sn.node_id
        now = self.now_us
        for e in effects:
            if type(e) is Send:
                inc_of = self.nodes
                targets = self.node_ids if e.dest is None else (e.dest,)
                for dst in targets:
                    if dst == n and e.dest is None:
                        continue
                    if dst not in inc_of:
                        continue
                    for d in self.network.delays(n, dst):
                        self._push(now + d, _PACKET, dst, (inc_of[dst].incarnation, n, e.msg))
            elif type(e) is Trace:
                self._trace(n, e.event, e.fields)
            elif type(e) is Persist:
                sn.persisted[e.key] = e.value
            else:
                self._notify(n, e)
                if type(e) is Deliver:
                    if self.trace_deliveries:
                        self._trace(n, "deliver", {"sender": e.sender, "ring_id": list(e.ring_id),
                                                   "seq": e.seq, "safe": e.safe,
                                                   "payload": e.payload.decode(errors="replace")})
                elif type(e) is ConfigurationChange or type(e) is GroupChange:
                    self._trace(n, *change_record(e))
                elif type(e) is GroupMessage and self.trace_deliveries:
                    self._trace(n, "group_message", {"group": e.group, "sender": e.sender,
                                                     "payload": e.payload.decode(errors="replace")})
                elif type(e) is QuorumChange:
                    pass  # traced by the core itself
        core = sn.core
        if core is not None:
            deadline = core.next_deadline()
            if deadline is not None and deadline != sn.wake_at:
                wake = max(deadline, now)
                sn.wake_at = wake
                self._push(wake, _WAKE, n, sn.incarnation)

    def _notify(self, n: int, e: object) -> None:
        for obs in self.observers:
            obs(self.now_us, n, e)

    def record(self, n: int, event: str, fields: dict[str, Any]) -> None:
        """Add a trace record for node ``n`` at the current virtual time (what hosts
        of other cores in this world — executor, fencer — trace through)."""
        self._trace(n, event, fields)

    def _trace(self, n: int, event: str, fields: dict[str, Any]) -> None:
        rec = {"t_ms": self.now_us / 1000, "node": n, "event": event}
        rec.update(fields)
        self.trace.append(json.dumps(rec, sort_keys=True, separators=(",", ":")))
        self._notify(n, ("trace", event, fields))
