"""Checkers: they observe a run and judge it; they never act on the system.

Invariants, named as the Totem / EVS literature names them:

- ``no_creation``: every delivered message was submitted by its sender.
- ``no_duplication``: no node delivers a message twice.
- ``agreed_order``: all nodes deliver messages in one total order. Each message is
  identified by (ring, seq) of the ring that ordered it, and ring sequences only grow
  along a node's history, so a node's deliveries must be strictly increasing in that
  key, and one message must have one key everywhere.
- ``membership_agreement``: every node that installs a configuration with a given ring
  id (regular or transitional) installs the same member list, and includes itself.
- ``virtual_synchrony``: two nodes that move together from regular configuration C1 to
  the same next regular configuration C2 (both in the transitional configuration)
  delivered the same messages in C1, and the same messages in the transitional
  configuration between them.
- ``safe_delivery``: a message delivered as safe in configuration C was delivered by
  every member of C that installed a later configuration without crashing.
- ``one_quorate_partition``: at no instant are two disjoint configurations quorate
  (quorum intersection). two_node clusters are exempt by design (both halves stay
  quorate and fencing settles it), as is last_man_standing (which may shrink
  expected votes on one side while the other side restarts with the full count).

Liveness is judged separately (``liveness``): after the last fault heals, all live
nodes form one ring within a stated bound and every message submitted by a node that
did not crash is delivered to all of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ha.totem.effects import ConfigurationChange, Deliver, QuorumChange
from ha.totem.messages import RingId


@dataclass
class Violation:
    invariant: str
    t_ms: float
    nodes: tuple[int, ...]
    detail: str

    def __str__(self) -> str:
        return (f"{self.invariant} violated at t={self.t_ms:.3f} ms on nodes "
                f"{list(self.nodes)}: {self.detail}")


@dataclass
class _Epoch:
    """What one node delivered while in one regular configuration."""

    ring_id: RingId
    members: tuple[int, ...]
    regular: list[bytes] = field(default_factory=list)
    trans_members: tuple[int, ...] | None = None
    trans: list[bytes] = field(default_factory=list)
    next_ring: RingId | None = None
    crashed: bool = False


class Checker:
    """Collects observations from a ``SimWorld`` and checks the invariants."""

    def __init__(self, exempt_quorum: bool = False) -> None:
        self.exempt_quorum = exempt_quorum
        self.violations: list[Violation] = []
        self.submitted: dict[bytes, int] = {}
        self.key_of: dict[bytes, tuple[int, int, int]] = {}
        self.delivered: dict[int, set[bytes]] = defaultdict(set)
        self.last_key: dict[int, tuple[int, int, int]] = {}
        self.config_members: dict[tuple[bool, RingId, RingId | None], tuple[int, ...]] = {}
        self.epochs: dict[int, list[_Epoch]] = defaultdict(list)
        self.safe: list[tuple[int, bytes, RingId, float]] = []
        self.quorate: dict[int, tuple[RingId, tuple[int, ...]]] = {}
        self.counts = {"delivered": 0, "configurations": 0, "quorum_changes": 0}

    def _fail(self, inv: str, now_us: int, nodes: tuple[int, ...], detail: str) -> None:
        if len(self.violations) < 50:
            self.violations.append(Violation(inv, now_us / 1000, nodes, detail))

    # ---- observation ----------------------------------------------------------------
    def observe(self, now_us: int, node: int, e: object) -> None:
        t = type(e)
        if t is Deliver:
            self._on_deliver(now_us, node, e)  # type: ignore[arg-type]
        elif t is ConfigurationChange:
            self._on_config(now_us, node, e)  # type: ignore[arg-type]
        elif t is QuorumChange:
            self._on_quorum(now_us, node, e)  # type: ignore[arg-type]
        elif t is tuple:
            tag = e[0]  # type: ignore[index]
            if tag == "submit":
                self.submitted[e[1]] = node  # type: ignore[index]
            elif tag == "crash":
                self.quorate.pop(node, None)
                self.last_key.pop(node, None)
                if self.epochs[node]:
                    self.epochs[node][-1].crashed = True

    def _on_deliver(self, now_us: int, node: int, d: Deliver) -> None:
        self.counts["delivered"] += 1
        p = d.payload
        key = (d.ring_id[1], d.ring_id[0], d.seq)
        origin = self.submitted.get(p)
        if origin is None or origin != d.sender:
            self._fail("no_creation", now_us, (node,), f"message {p!r} from {d.sender} was never submitted by it")
        if p in self.delivered[node]:
            self._fail("no_duplication", now_us, (node,), f"message {p!r} delivered twice")
        self.delivered[node].add(p)
        known = self.key_of.setdefault(p, key)
        if known != key:
            self._fail("agreed_order", now_us, (node,), f"message {p!r} ordered as {key} here, {known} elsewhere")
        last = self.last_key.get(node)
        if last is not None and key <= last:
            self._fail("agreed_order", now_us, (node,), f"message {p!r} at {key} delivered after {last}")
        self.last_key[node] = key
        ep = self.epochs[node][-1] if self.epochs[node] else None
        if ep is None or ep.crashed:
            self._fail("virtual_synchrony", now_us, (node,), f"message {p!r} delivered outside any configuration")
            return
        if ep.trans_members is None:
            ep.regular.append(p)
            if d.safe:
                self.safe.append((node, p, ep.ring_id, now_us / 1000))
        else:
            ep.trans.append(p)

    def _on_config(self, now_us: int, node: int, c: ConfigurationChange) -> None:
        self.counts["configurations"] += 1
        eps = self.epochs[node]
        # A transitional configuration is shared by the nodes that come from the same
        # old ring; a regular one by every node of the new ring.
        prev = eps[-1].ring_id if (c.transitional and eps and not eps[-1].crashed) else None
        k = (c.transitional, c.ring_id, prev)
        known = self.config_members.setdefault(k, c.members)
        if known != c.members:
            self._fail("membership_agreement", now_us, (node,),
                       f"{'transitional' if c.transitional else 'regular'} configuration {c.ring_id}: "
                       f"members {list(c.members)} here, {list(known)} elsewhere")
        if node not in c.members:
            self._fail("membership_agreement", now_us, (node,), f"configuration {c.ring_id} without itself")
        if c.transitional:
            if eps and not eps[-1].crashed:
                eps[-1].trans_members = c.members
                eps[-1].next_ring = c.ring_id
        else:
            eps.append(_Epoch(c.ring_id, c.members))

    def _on_quorum(self, now_us: int, node: int, q: QuorumChange) -> None:
        self.counts["quorum_changes"] += 1
        if not q.quorate or q.ring_id is None:
            self.quorate.pop(node, None)
            return
        self.quorate[node] = (q.ring_id, q.members)
        if self.exempt_quorum:
            return
        rings = {r: set(m) for r, m in self.quorate.values()}
        mine = set(q.members)
        for r, m in rings.items():
            if r != q.ring_id and not (m & mine):
                holders = tuple(sorted(n for n, (rr, _) in self.quorate.items() if rr in (r, q.ring_id)))
                self._fail("one_quorate_partition", now_us, holders,
                           f"configurations {q.ring_id} {sorted(mine)} and {r} {sorted(m)} both quorate")

    # ---- end-of-run checks ----------------------------------------------------------
    def finish(self) -> list[Violation]:
        self._check_virtual_synchrony()
        self._check_safe()
        return self.violations

    def _check_virtual_synchrony(self) -> None:
        moves: dict[tuple[RingId, RingId], list[tuple[int, _Epoch]]] = defaultdict(list)
        for node, eps in self.epochs.items():
            for i, ep in enumerate(eps[:-1]):
                nxt = eps[i + 1]
                if ep.crashed or ep.next_ring != nxt.ring_id:
                    continue
                moves[(ep.ring_id, nxt.ring_id)].append((node, ep))
        for (c1, c2), group in sorted(moves.items()):
            (n0, e0), rest = group[0], group[1:]
            for n, e in rest:
                if e.regular != e0.regular:
                    a, b = set(e.regular), set(e0.regular)
                    self._fail("virtual_synchrony", 0, (n0, n),
                               f"moving {c1}->{c2}: delivered different messages in {c1} "
                               f"(only at {n}: {sorted(a - b)[:3]}, only at {n0}: {sorted(b - a)[:3]})")
                if e.trans != e0.trans:
                    self._fail("virtual_synchrony", 0, (n0, n),
                               f"moving {c1}->{c2}: delivered different messages in the transitional configuration")
                if e.trans_members != e0.trans_members:
                    self._fail("virtual_synchrony", 0, (n0, n),
                               f"moving {c1}->{c2}: transitional members differ")

    def _check_safe(self) -> None:
        by_node_ring: dict[tuple[int, RingId], _Epoch] = {}
        for node, eps in self.epochs.items():
            for ep in eps:
                by_node_ring[(node, ep.ring_id)] = ep
        for node, p, ring, t_ms in self.safe:
            members = self.config_members.get((False, ring, None), ())
            for q in members:
                other = by_node_ring.get((q, ring))
                if other is None or other.crashed or other.next_ring is None:
                    continue
                if p not in other.regular and p not in other.trans:
                    self._fail("safe_delivery", int(t_ms * 1000), (node, q),
                               f"safe message {p!r} delivered by {node} in {ring} but never by member {q}")

    def summary(self) -> dict[str, Any]:
        return {"violations": [str(v) for v in self.violations], **self.counts,
                "messages_submitted": len(self.submitted)}
