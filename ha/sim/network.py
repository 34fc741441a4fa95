"""The simulated network: latency, loss, duplication, reordering and partitions.

Every decision is drawn from the world's seeded generator, so one seed gives one run.
Options (all per datagram; a link is an ordered pair ``(src, dst)``):

- ``latency_us``: (min, max) one-way delay, uniform; ``link_latency_us`` overrides it
  per link (a slow or distant node).
- ``loss``: probability a datagram is lost on any link; ``node_loss`` adds loss for
  every datagram to or from a node (a bad NIC); ``link_loss`` per link.
- ``duplicate``: probability a datagram arrives twice (the copy later).
- ``reorder``: probability a datagram is held back an extra ``reorder_delay_us``
  (uniform up to it), so that later datagrams overtake it.
- Partitions are *grudges*: ``(src, dst)`` means dst drops everything from src.
  ``partition([[1, 2], [3, 4, 5]])`` is symmetric between the groups; ``one_way``
  drops one direction only; ``isolate`` cuts one node off; ``heal`` removes every
  grudge and all extra loss.

A node's datagrams to itself (a one-node ring passing the token to itself) use the
loopback: no loss, 10 µs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

LOOPBACK_US = 10


@dataclass
class NetworkOptions:
    latency_us: tuple[int, int] = (100, 400)
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay_us: int = 2000
    link_latency_us: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    node_loss: dict[int, float] = field(default_factory=dict)
    link_loss: dict[tuple[int, int], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"network.{name}: expected a probability in [0, 1], got {v!r}")
        lo, hi = self.latency_us
        if not 0 <= lo <= hi:
            raise ValueError(f"network.latency_us: expected 0 <= min <= max, got {self.latency_us!r}")


class Network:
    """Decides the fate of each datagram: a list of arrival delays (empty: lost)."""

    def __init__(self, rng: random.Random, options: NetworkOptions | None = None) -> None:
        self.rng = rng
        self.options = options or NetworkOptions()
        self.grudges: set[tuple[int, int]] = set()
        self.stats = {"sent": 0, "lost": 0, "partitioned": 0, "duplicated": 0, "reordered": 0}

    # ---- faults ---------------------------------------------------------------------
    def partition(self, groups: Iterable[Iterable[int]]) -> None:
        gs = [set(g) for g in groups]
        for i, a in enumerate(gs):
            for j, b in enumerate(gs):
                if i != j:
                    self.grudges |= {(x, y) for x in a for y in b}

    def one_way(self, src: int, dst: int) -> None:
        self.grudges.add((src, dst))

    def isolate(self, node: int, others: Iterable[int]) -> None:
        self.partition([[node], [o for o in others if o != node]])

    def set_node_loss(self, node: int, p: float) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"loss for node {node}: expected a probability in [0, 1], got {p!r}")
        self.options.node_loss[node] = p

    def heal(self) -> None:
        self.grudges.clear()
        self.options.node_loss.clear()
        self.options.link_loss.clear()

    # ---- one datagram ---------------------------------------------------------------
    def delays(self, src: int, dst: int) -> list[int]:
        self.stats["sent"] += 1
        if src == dst:
            return [LOOPBACK_US]
        if (src, dst) in self.grudges:
            self.stats["partitioned"] += 1
            return []
        o = self.options
        rng = self.rng
        p = o.loss
        if o.node_loss:
            p = 1 - (1 - p) * (1 - o.node_loss.get(src, 0.0)) * (1 - o.node_loss.get(dst, 0.0))
        if o.link_loss:
            p = 1 - (1 - p) * (1 - o.link_loss.get((src, dst), 0.0))
        if p and rng.random() < p:
            self.stats["lost"] += 1
            return []
        lo, hi = o.link_latency_us.get((src, dst), o.latency_us) if o.link_latency_us else o.latency_us
        d = lo + int(rng.random() * (hi - lo + 1))
        if o.reorder and rng.random() < o.reorder:
            self.stats["reordered"] += 1
            d += rng.randint(1, o.reorder_delay_us)
        if o.duplicate and rng.random() < o.duplicate:
            self.stats["duplicated"] += 1
            return [d, d + rng.randint(1, max(1, hi))]
        return [d]
