"""What each node is doing, folded from its trace records (both backends write the same).

Records carry ``t_ms`` (ms since the run's start), ``node`` and ``event``. The events
that matter here: ``node_start``/``start`` (a daemon began: forming), ``gather``,
``commit``, ``recovery`` (forming a ring), ``operational`` (in a ring: ``ring_id``,
``members``), ``quorum`` (``quorate``), ``node_crash``/``stop`` (down), ``node_pause``
and ``node_resume`` (frozen; the Docker backend writes these itself, as it writes
``node_crash`` for a killed container or daemon).

``Tracker`` keeps each node's current view (what a ``wait`` step asks about) and its
timeline: segments of constant (state, ring, members, quorate), the report's lanes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMING = ("gather", "commit", "recovery")
STARTS = ("node_start", "start")
DOWNS = ("node_crash", "stop")


def ring_str(ring: Any) -> str | None:
    """``[1, 12]`` → ``"1.c"`` (as Corosync and ``ha membership`` print ring ids: the
    representative and the sequence number, in hex)."""
    if not ring:
        return None
    return f"{ring[0]:x}.{ring[1]:x}"


@dataclass
class View:
    state: str = "down"                 # down, paused, forming, operational
    ring_id: str | None = None
    members: tuple[int, ...] = ()
    quorate: bool = False
    since_ms: float = 0.0

    def key(self) -> tuple[str, str | None, tuple[int, ...], bool]:
        return (self.state, self.ring_id, self.members, self.quorate)

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "ring_id": self.ring_id, "members": list(self.members),
                "quorate": self.quorate}


@dataclass
class Tracker:
    nodes: list[int]
    views: dict[int, View] = field(default_factory=dict)
    segments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    _before_pause: dict[int, View] = field(default_factory=dict)
    last_ms: float = 0.0

    def __post_init__(self) -> None:
        for n in self.nodes:
            self.views.setdefault(n, View())
            self.segments.setdefault(n, [])

    def feed(self, rec: dict[str, Any]) -> None:
        n = rec.get("node")
        if n not in self.views:
            return
        t = float(rec.get("t_ms", 0.0))
        self.last_ms = max(self.last_ms, t)
        ev = rec.get("event")
        v = self.views[n]
        nv = View(v.state, v.ring_id, v.members, v.quorate, v.since_ms)
        if ev in STARTS:
            nv = View("forming")
        elif ev in DOWNS:
            nv = View("down")
            self._before_pause.pop(n, None)
        elif ev == "node_pause":
            if v.state == "down":
                return
            self._before_pause[n] = v
            nv.state = "paused"
        elif ev == "node_resume":
            if v.state != "paused":
                return
            old = self._before_pause.pop(n, v)
            nv = View(old.state, old.ring_id, old.members, old.quorate)
        elif v.state == "down" or v.state == "paused":
            return           # a record from a node we hold down (trace written late)
        elif ev in FORMING:
            nv.state, nv.ring_id, nv.members = "forming", None, ()
        elif ev == "operational":
            nv.state = "operational"
            nv.ring_id = ring_str(rec.get("ring_id"))
            nv.members = tuple(rec.get("members") or ())
        elif ev == "quorum":
            nv.quorate = bool(rec.get("quorate"))
        else:
            return
        if nv.key() != v.key():
            nv.since_ms = t
            self._close(n, t)
            self.views[n] = nv

    def _close(self, n: int, t: float) -> None:
        v = self.views[n]
        if t > v.since_ms:
            self.segments[n].append({"t_start_ms": v.since_ms, "t_end_ms": t, **v.as_json()})

    def timeline(self, end_ms: float) -> dict[str, list[dict[str, Any]]]:
        """Each node's segments up to ``end_ms`` (the current view closes there)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for n in self.nodes:
            segs = list(self.segments[n])
            v = self.views[n]
            if end_ms > v.since_ms:
                segs.append({"t_start_ms": v.since_ms, "t_end_ms": end_ms, **v.as_json()})
            out[str(n)] = segs
        return out

    # ---- the questions a wait step asks ---------------------------------------------
    def live(self) -> list[int]:
        return [n for n in self.nodes if self.views[n].state not in ("down", "paused")]

    def in_one_ring(self, nodes: list[int]) -> bool:
        """Every listed node operational in one ring whose members are exactly them."""
        if not nodes:
            return True
        vs = [self.views[n] for n in nodes]
        ring = vs[0].ring_id
        want = tuple(sorted(nodes))
        return all(v.state == "operational" and v.ring_id == ring and
                   tuple(sorted(v.members)) == want for v in vs)

    def quorate(self, nodes: list[int]) -> bool:
        return all(self.views[n].state == "operational" and self.views[n].quorate for n in nodes)

    def inquorate(self, nodes: list[int]) -> bool:
        return all(self.views[n].state in ("forming", "operational") and not self.views[n].quorate
                   for n in nodes)

    def describe(self) -> str:
        parts = []
        for n in self.nodes:
            v = self.views[n]
            if v.state == "operational":
                parts.append(f"n{n}: ring {v.ring_id} [{','.join(map(str, v.members))}] "
                             f"{'quorate' if v.quorate else 'inquorate'}")
            else:
                parts.append(f"n{n}: {v.state}")
        return "; ".join(parts)
