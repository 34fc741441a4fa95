"""Network faults as state: grudges, loss, isolation — and the nftables that make them.

A fault set is one value (``NetFaults``) that both backends apply whole: the simulator
copies it into its network, the Docker backend renders one nftables table per node and
loads it atomically (``nft -f`` runs a file as one transaction), so that adding a fault
or healing one never leaves a node half-configured.

Partitions are *grudges*, as Jepsen calls them: a set of ordered pairs ``(src, dst)``,
each meaning "dst drops every packet from src". Dropping on input at the receiver is
enough for every shape, one-way ones included. The shapes, named as Jepsen's nemeses
name them:

- ``halves``: the first ⌈n/2⌉ of the (optionally shuffled) nodes against the rest;
- ``isolate N``: N against everyone else (``isolated`` additionally drops all of N's
  traffic, including to addresses outside the cluster);
- ``majority_ring``: each node sees a majority, no two nodes the same one (a
  non-transitive partition);
- ``bridge``: two halves that only one node in the middle can talk to both of;
- ``groups``: arbitrary groups, ``1,2|3,4,5``;
- ``oneway``: ``1>2`` (2 drops what 1 sends), ``1,2>3,4``.

Loss is per node (every packet in or out on the cluster interface) or per link (both
directions between two nodes), by ``numgen random`` since this kernel has no netem.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

TABLE = "ha_fault"
PRIORITY = -10


class FaultError(ValueError):
    """A fault is malformed or names a node that is not in the cluster."""


@dataclass
class NetFaults:
    """Every network fault in force; empty means a healthy network."""

    grudges: set[tuple[int, int]] = field(default_factory=set)
    isolated: set[int] = field(default_factory=set)
    node_loss: dict[int, float] = field(default_factory=dict)      # node -> percent
    link_loss: dict[tuple[int, int], float] = field(default_factory=dict)  # (a<b) -> percent

    def empty(self) -> bool:
        return not (self.grudges or self.isolated or self.node_loss or self.link_loss)

    def copy(self) -> NetFaults:
        return NetFaults(set(self.grudges), set(self.isolated), dict(self.node_loss),
                         dict(self.link_loss))

    def heal(self, what: str = "all") -> None:
        """Remove the partitions (``partition``), the loss (``loss``) or everything."""
        if what not in ("all", "partition", "loss"):
            raise FaultError(f"heal: expected all, partition or loss, got {what!r}")
        if what in ("all", "partition"):
            self.grudges.clear()
            self.isolated.clear()
        if what in ("all", "loss"):
            self.node_loss.clear()
            self.link_loss.clear()

    def to_json(self) -> dict[str, object]:
        return {"grudges": sorted(map(list, self.grudges)), "isolated": sorted(self.isolated),
                "node_loss": {str(k): v for k, v in sorted(self.node_loss.items())},
                "link_loss": [[a, b, p] for (a, b), p in sorted(self.link_loss.items())]}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> NetFaults:
        f = cls()
        f.grudges = {(int(a), int(b)) for a, b in d.get("grudges", [])}  # type: ignore[attr-defined]
        f.isolated = {int(n) for n in d.get("isolated", [])}  # type: ignore[attr-defined]
        f.node_loss = {int(k): float(v) for k, v in d.get("node_loss", {}).items()}  # type: ignore[attr-defined]
        f.link_loss = {(int(a), int(b)): float(p) for a, b, p in d.get("link_loss", [])}  # type: ignore[attr-defined]
        return f


# ---- shapes -------------------------------------------------------------------------

def parse_nodes(text: str | int | Sequence[int], nodes: Sequence[int], what: str) -> list[int]:
    """``"1,2"``, ``"n1,n2"``, ``2``, ``[1, 2]`` or ``all`` → node ids, each checked."""
    if isinstance(text, int):
        out = [text]
    elif isinstance(text, str):
        if text.strip() == "all":
            return list(nodes)
        out = []
        for part in text.split(","):
            p = part.strip().removeprefix("n")
            if not p.isdigit():
                raise FaultError(f"{what}: {part.strip()!r} is not a node (expected 1, n1 or all)")
            out.append(int(p))
    else:
        out = [int(x) for x in text]
    for n in out:
        if n not in nodes:
            raise FaultError(f"{what}: node {n} is not in the cluster {list(nodes)}")
    if len(set(out)) != len(out):
        raise FaultError(f"{what}: a node is named twice in {out}")
    return out


def groups_grudges(groups: Sequence[Sequence[int]], nodes: Sequence[int]) -> set[tuple[int, int]]:
    """Each node drops traffic from every node outside its group; unnamed nodes are alone."""
    group_of: dict[int, frozenset[int]] = {}
    for g in groups:
        for n in g:
            if n not in nodes:
                raise FaultError(f"partition: node {n} is not in the cluster {list(nodes)}")
            if n in group_of:
                raise FaultError(f"partition: node {n} is in two groups")
            group_of[n] = frozenset(g)
    return {(a, b) for a in nodes for b in nodes
            if a != b and b not in group_of.get(a, frozenset({a}))}


def parse_groups(spec: str | Sequence[Sequence[int]], nodes: Sequence[int]) -> list[list[int]]:
    """``"1,2|3,4,5"`` or ``[[1, 2], [3, 4, 5]]``."""
    if isinstance(spec, str):
        return [parse_nodes(g, nodes, "partition") for g in spec.split("|")]
    return [parse_nodes(list(g), nodes, "partition") for g in spec]


def halves(nodes: Sequence[int], rng: random.Random | None = None) -> list[list[int]]:
    order = list(nodes)
    if rng is not None:
        rng.shuffle(order)
    k = (len(order) + 1) // 2
    return [sorted(order[:k]), sorted(order[k:])]


def majority_ring(nodes: Sequence[int]) -> set[tuple[int, int]]:
    """Node at ring position i hears those within k positions, k = ⌈(majority-1)/2⌉."""
    n = len(nodes)
    if n < 3:
        raise FaultError("majority_ring: needs at least 3 nodes")
    k = -(-(n // 2) // 2)
    order = list(nodes)
    hears: dict[int, set[int]] = {}
    for i, a in enumerate(order):
        hears[a] = {order[(i + d) % n] for d in range(-k, k + 1)}
    return {(b, a) for a in order for b in order if b not in hears[a]}


def bridge(nodes: Sequence[int]) -> set[tuple[int, int]]:
    """Two halves, and the middle node talks to both."""
    n = len(nodes)
    if n < 3:
        raise FaultError("bridge: needs at least 3 nodes")
    order = list(nodes)
    mid = n // 2
    left, right = set(order[:mid]), set(order[mid + 1:])
    return {(a, b) for a in left for b in right} | {(b, a) for a in left for b in right}


def oneway(spec: str, nodes: Sequence[int]) -> set[tuple[int, int]]:
    """``"1>2"``: 2 drops what 1 sends; ``"1,2>3"`` several on each side."""
    if spec.count(">") != 1:
        raise FaultError(f"oneway: expected SRC>DST such as 1>2, got {spec!r}")
    src, dst = (parse_nodes(s, nodes, "oneway") for s in spec.split(">"))
    if set(src) & set(dst):
        raise FaultError(f"oneway: {spec!r} names a node on both sides")
    return {(a, b) for a in src for b in dst}


def check_percent(p: object, what: str) -> float:
    if isinstance(p, str):
        p = p.strip().removesuffix("%")
    try:
        v = float(p)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FaultError(f"{what}: expected a percentage, got {p!r}") from None
    if not 0 <= v <= 100:
        raise FaultError(f"{what}: expected a percentage in 0..100, got {v}")
    return v


# ---- nftables -----------------------------------------------------------------------

def _set(addrs: Iterable[str]) -> str:
    return "{ " + ", ".join(sorted(addrs)) + " }"


def _cut(percent: float) -> str:
    return f"numgen random mod 10000 < {round(percent * 100)}"


def nft_script(node: int, faults: NetFaults, addr: Mapping[int, str], dev: str = "eth0") -> str:
    """The nftables file that puts ``faults`` in force on ``node`` (replacing any earlier
    one): ``table inet ha_fault`` with an input and an output chain, or no table at all
    when nothing applies to this node."""
    rin: list[str] = []
    rout: list[str] = []
    if node in faults.isolated:
        rin.append('iifname != "lo" drop')
        rout.append('oifname != "lo" drop')
    blocked = [addr[s] for (s, d) in faults.grudges if d == node]
    if blocked:
        rin.append(f"ip saddr {_set(blocked)} drop")
    for (a, b), p in sorted(faults.link_loss.items()):
        if node in (a, b) and p > 0:
            peer = addr[b if node == a else a]
            rin.append(f"ip saddr {peer} {_cut(p)} drop")
    p = faults.node_loss.get(node, 0.0)
    if p > 0:
        rin.append(f'iifname "{dev}" {_cut(p)} drop')
        rout.append(f'oifname "{dev}" {_cut(p)} drop')
    lines = [f"add table inet {TABLE}", f"delete table inet {TABLE}"]
    if rin or rout:
        lines.append(f"table inet {TABLE} {{")
        for hook, rules in (("input", rin), ("output", rout)):
            lines.append(f"  chain {hook} {{")
            lines.append(f"    type filter hook {hook} priority {PRIORITY}; policy accept;")
            lines += [f"    {r}" for r in rules]
            lines.append("  }")
        lines.append("}")
    return "\n".join(lines) + "\n"


def load(nft: Callable[[int, str], None], faults: NetFaults, addr: Mapping[int, str],
         hosts: Iterable[int], dev: str = "eth0") -> None:
    """Put ``faults`` in force on each of ``hosts`` with ``nft(host, script)`` (whatever
    runs ``nft -f -`` in that host's namespace: the lab's, a container's)."""
    for h in hosts:
        nft(h, nft_script(h, faults, addr, dev))


def describe(faults: NetFaults) -> list[str]:
    """One line per fault in force, for ``ha-harness status`` and logs."""
    out = []
    if faults.isolated:
        out.append("isolated: " + ", ".join(f"n{n}" for n in sorted(faults.isolated)))
    if faults.grudges:
        by_dst: dict[int, list[int]] = {}
        for s, d in sorted(faults.grudges):
            by_dst.setdefault(d, []).append(s)
        out.append("drops: " + "; ".join(f"n{d} drops from {','.join(f'n{s}' for s in ss)}"
                                         for d, ss in sorted(by_dst.items())))
    for n, p in sorted(faults.node_loss.items()):
        out.append(f"loss: n{n} {p:g}%")
    for (a, b), p in sorted(faults.link_loss.items()):
        out.append(f"loss: n{a}<->n{b} {p:g}%")
    return out
