"""Utilization and ``placement-strategy``: node capacities, resource needs.

Nodes declare capacities (``<utilization>`` of a node), resources what they use (a
primitive's ``<utilization>``). With ``placement-strategy`` other than ``default``
(``utilization``, ``minimal``, ``balanced``), Pacemaker's rules are:

- a node's remaining capacity is its capacity less what the resources assigned to it
  so far in this transition use; an attribute the node does not declare is 0;
- before a resource is placed, the unplaced resources colocated with it at INFINITY
  (in either direction, transitively) are summed with it; if some available node can
  hold them all, the nodes that cannot are banned for it; otherwise only nodes that
  cannot hold the resource alone are banned, and the node with the most free capacity
  is preferred when its score is as good as the best;
- nodes of equal score are ordered, under ``balanced``, by free capacity (the node
  with more of the larger attributes first), then (not under ``minimal``) by how
  many resources they were given, then by name;
- resources are assigned by priority, then by their score on the node they are
  active on, then by their scores on the nodes in that node order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

from ha.scheduler.model import INFINITY, Cluster, Colocation, Node, Resource, add_scores


def strategy(cluster: Cluster) -> str:
    return cluster.options.get("placement-strategy", "default").lower()


def amount(text: str | None) -> int:
    """A utilization value as Pacemaker reads it: an integer, else 0."""
    if text is None:
        return 0
    t = text.strip()
    digits = t[1:] if t[:1] in "+-" else t
    return int(t) if digits.isdigit() else 0


def compare_capacities(a: dict[str, int], b: dict[str, int]) -> int:
    """Negative when ``a`` has more free capacity than ``b``: each attribute where
    one has more counts one for it."""
    result = 0
    for key in list(a) + [k for k in b if k not in a]:
        x, y = a.get(key, 0), b.get(key, 0)
        result += -1 if x > y else 1 if x < y else 0
    return result


def fits(free: dict[str, int], need: dict[str, int]) -> bool:
    return all(v <= free.get(k, 0) for k, v in need.items())


class Capacity:
    """Remaining node capacities while resources are assigned."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.strategy = strategy(cluster)
        self.active = self.strategy != "default"
        self.free = {n.uname: dict(n.capacity) for n in cluster.nodes}
        self._coloc_index: tuple[dict[str, list[tuple[int, Colocation]]],
                                 dict[str, list[tuple[int, Colocation]]]] | None = None

    def consume(self, rsc: Resource, uname: str) -> None:
        free = self.free.setdefault(uname, {})
        for key, value in rsc.utilization.items():
            free[key] = free.get(key, 0) - value

    def _clone_dependents(self, cid: str, seen: list[Resource], done: set[str]) -> None:
        """One instance of each clone colocated with clone ``cid`` at INFINITY (all
        of a cloned group's instance), and so on; what is not a clone is not
        followed from a clone (it may not end up with this instance)."""
        cl = self.cluster
        done.add(cid)
        for c in cl.colocations:
            if c.score < INFINITY or c.primary != cid:
                continue
            dep = cl.resource(c.dependent)
            if dep is None or dep.clone is None or dep.clone in done:
                continue
            for rid in cl.groups.get(dep.group, [dep.id]) if dep.group else [dep.id]:
                r = cl.resource(rid)
                if r is not None and r not in seen:
                    seen.append(r)
            self._clone_dependents(dep.clone, seen, done)

    def _mandatory_colocations(self) -> tuple[dict[str, list[tuple[int, Colocation]]],
                                              dict[str, list[tuple[int, Colocation]]]]:
        """The INFINITY colocations (with their place in the list) by dependent and by
        primary, indexed once: the constraints do not change while assigning."""
        if self._coloc_index is None:
            by_dep: dict[str, list[tuple[int, Colocation]]] = {}
            by_prim: dict[str, list[tuple[int, Colocation]]] = {}
            for i, c in enumerate(self.cluster.colocations):
                if c.score >= INFINITY:
                    by_dep.setdefault(c.dependent, []).append((i, c))
                    if c.primary != c.dependent:
                        by_prim.setdefault(c.primary, []).append((i, c))
            self._coloc_index = (by_dep, by_prim)
        return self._coloc_index

    def colocated(self, rsc: Resource, unplaced: set[str]) -> list[Resource]:
        """``rsc`` and the unplaced resources tied to it by INFINITY colocations (for
        a clone instance, also what is colocated with its clone: other clones by one
        instance each, anything else as itself)."""
        cl = self.cluster
        seen = [rsc]
        todo = [rsc]
        if rsc.clone is not None:
            self._clone_dependents(rsc.clone, seen, set())
        ids = {r.id for r in seen}          # membership by id: Resource equality is slow
        if rsc.clone is not None:
            for c in cl.colocations:
                dep = cl.resource(c.dependent)
                if c.score >= INFINITY and c.primary == rsc.clone and dep is not None \
                        and dep.clone is None and dep.id not in ids:
                    seen.append(dep)
                    ids.add(dep.id)
                    todo.append(dep)
        by_dependent, by_primary = self._mandatory_colocations()
        while todo:
            cur = todo.pop()
            for _, coloc in sorted(by_dependent.get(cur.id, []) + by_primary.get(cur.id, []),
                                   key=lambda ic: ic[0]):
                other: list[str] = []
                if coloc.dependent == cur.id:
                    other = cl.members(coloc.primary) if coloc.primary not in cl.clones else []
                else:
                    other = [coloc.dependent]
                for rid in other:
                    r = cl.resource(rid)
                    if r is not None and r.id not in ids:
                        seen.append(r)
                        ids.add(r.id)
                        todo.append(r)
        return [r for r in seen if r is rsc or r.id in unplaced]

    def limit(self, rsc: Resource, weights: dict[str, int], unplaced: set[str]
              ) -> tuple[dict[str, int], str | None]:
        """Ban the nodes short of capacity; the node to prefer, if any."""
        if not self.active:
            return weights, None
        need: dict[str, int] = {}
        for r in self.colocated(rsc, unplaced):
            for key, value in r.utilization.items():
                need[key] = need.get(key, 0) + value
        available = [u for u, w in weights.items()
                     if w >= 0 and (n := self.cluster.node(u)) is not None and n.can_run]
        order = [n.uname for n in self.cluster.nodes]
        available.sort(key=order.index)
        out = dict(weights)
        if any(fits(self.free.get(u, {}), need) for u in available):
            for u in available:
                if not fits(self.free.get(u, {}), need):
                    out[u] = -INFINITY
            return out, None
        most: str | None = None
        for u in available:
            if most is None or compare_capacities(self.free.get(u, {}),
                                                  self.free.get(most, {})) < 0:
                most = u
        for u in available:
            if not fits(self.free.get(u, {}), rsc.utilization):
                out[u] = -INFINITY
        return out, most

    def tie_key(self, load: dict[str, int]) -> Callable[[str], Any]:
        """The order of nodes of equal score (before the active-node preference)."""
        def cmp(a: str, b: str) -> int:
            if self.strategy == "minimal":
                return 0
            if self.strategy == "balanced":
                c = compare_capacities(self.free.get(a, {}), self.free.get(b, {}))
                if c:
                    return c
            return load[a] - load[b]
        return cmp_to_key(cmp)

    def sorted_nodes(self) -> list[Node]:
        """All nodes in the order resources are compared on: nodes that cannot run
        resources last, the others as equal scores of 0 are."""
        load = {n.uname: 0 for n in self.cluster.nodes}
        key = self.tie_key(load)
        return sorted(self.cluster.nodes,
                      key=lambda n: (not n.can_run, key(n.uname), n.uname.encode()))


def _unit(rsc: Resource) -> str:
    return rsc.clone or rsc.group or rsc.id


def _own_weights(cluster: Cluster, rid: str) -> dict[str, int]:
    """A primitive's node scores, or a clone's own (without its instances'
    stickiness)."""
    if rid in cluster.clones:
        head = cluster.resource(cluster.clones[rid].instances[0]) \
            if cluster.clones[rid].instances else None
        if head is None:
            return {}
        symmetric = cluster.options.get("symmetric-cluster", "true").lower() in (
            "true", "yes", "on", "1", "y")
        weights = {n.uname: 0 for n in cluster.nodes} if symmetric else {}
        for rsc_id, uname, score in cluster.locations:
            if rsc_id == head.id and cluster.node(uname) is not None:
                weights[uname] = add_scores(weights.get(uname, 0), score)
        for uname in head.banned:
            if uname in weights:
                weights[uname] = -INFINITY
        return weights
    rsc = cluster.resource(rid)
    return dict(rsc.allowed) if rsc is not None else {}


def _add_scaled(cluster: Cluster, work: dict[str, int], other: dict[str, int],
                factor: float) -> dict[str, int]:
    """``work`` plus ``factor`` times ``other``'s score on the same node (-INFINITY
    where that node cannot run resources), rounded, never losing a nonzero score; a
    negative factor does not turn a ban into a preference."""
    out = dict(work)
    for uname, current in work.items():
        node = cluster.node(uname)
        score = other.get(uname, -INFINITY) if node is not None and node.can_run else -INFINITY
        if factor < 0 and score < 0:
            continue
        scaled = factor * score
        weight = int(scaled - 0.5) if scaled < 0 else int(scaled + 0.5)
        if weight == 0 and score != 0:
            weight = 1 if factor > 0 else -1 if factor < 0 else 0
        out[uname] = add_scores(weight, current)
    return out


def _colocated_weights(cluster: Cluster, rid: str, work: dict[str, int] | None,
                       factor: float, merging: set[str]) -> dict[str, int]:
    """``rid``'s scores (a primitive or a clone) with those of what it is colocated
    with, each scaled by the colocation's score, in turn (Pacemaker's colocated node
    scores; a group member's colocation with the member before it chains the group)."""
    if rid in merging:
        return work if work is not None else {}
    merging.add(rid)
    own = _own_weights(cluster, rid)
    work = dict(own) if work is None else _add_scaled(cluster, work, own, factor)
    if any(w >= 0 and (n := cluster.node(u)) is not None and n.can_run
           for u, w in work.items()):
        sign = -1.0 if factor < 0 else 1.0
        dependent = cluster.clones[rid].instances[0] if rid in cluster.clones \
            and cluster.clones[rid].instances else rid
        for c in cluster.colocations:
            if c.dependent != dependent:
                continue
            primary = cluster.resource(c.primary)
            other = primary.clone if primary is not None and primary.clone else c.primary
            work = _colocated_weights(cluster, other, work, sign * c.score / INFINITY,
                                      merging)
    merging.discard(rid)
    return work


def unit_order(cluster: Cluster, ranked: list[Resource]) -> list[Resource]:
    """Resources (groups and clones as one) in the order Pacemaker assigns them when
    utilization counts: priority, then the score (with what it is colocated with)
    where active, then the scores in node order."""
    units: dict[str, list[Resource]] = {}
    for rsc in ranked:
        units.setdefault(_unit(rsc), []).append(rsc)
    nodes = [n.uname for n in Capacity(cluster).sorted_nodes()]

    def key(item: tuple[str, list[Resource]]) -> tuple[int, int, tuple[int, ...]]:
        uid, members = item
        # a group counts from its last member, which is colocated with the rest
        start = cluster.groups[uid][-1] if uid in cluster.groups else uid
        weights = _colocated_weights(cluster, start, None, 1.0, set())
        current = next((u for m in members for u in m.running), None)
        here = weights.get(current, -INFINITY) if current is not None else -INFINITY
        return (-members[0].top_priority, -here, tuple(-weights.get(u, -INFINITY) for u in nodes))

    ordered = sorted(units.items(), key=key)
    return [r for _, members in ordered for r in members]
