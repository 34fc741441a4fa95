"""Colocation arithmetic: adding a colocated resource's node scores to another's
(Pacemaker's ``pcmk__add_colocated_node_scores``), as placement and a promotable
clone's promotion order use it, and which nodes a colocation's ``node-attribute``
makes alike.

For each node the other resource's score there (-INFINITY where the node cannot run
resources) is scaled by the colocation's factor, rounded, and never rounded away to
0; a negative factor does not turn a negative score into a preference. With
``nonnegative``, a sum that would turn a positive node negative marks the node, which
ends up at 1, and one that would turn a 0 negative leaves it at 0. If any node is
still usable, what is colocated with the other resource is added in turn, at its
own colocation's strength with the sign of the first factor; if none is and
``active`` is set, the whole addition is dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from ha.scheduler.model import INFINITY, Cluster, add_scores

_MARK = INFINITY * -100  # a positive node a negative sum would have made negative


def scaled(factor: float, score: int) -> int:
    """``factor`` times ``score``, rounded half away from zero, never rounded to 0."""
    value = factor * score
    rounded = int(value - 0.5) if value < 0 else int(value + 0.5)
    if rounded == 0 and score != 0:
        return 1 if factor > 0 else -1 if factor < 0 else 0
    return rounded


def add_colocated_scores(cluster: Cluster, scores_of: Callable[[str], dict[str, int]],
                         rid: str, weights: dict[str, int], factor: float,
                         nonnegative: bool, active: bool,
                         seen: frozenset[str] = frozenset()) -> dict[str, int]:
    """``weights`` plus ``factor`` times the node scores of ``rid`` (and, in turn,
    of what is colocated with ``rid``)."""
    if rid in seen:
        return weights
    seen = seen | {rid}
    rid = cluster.members(rid)[0] if rid in cluster.groups else rid
    theirs = scores_of(rid)
    work = dict(weights)
    for uname, mine in weights.items():
        node = cluster.node(uname)
        score = theirs.get(uname, -INFINITY)
        if node is None or not node.can_run or score <= -INFINITY:
            score = -INFINITY
        if (factor < 0 and score < 0) or mine == _MARK:
            continue
        new = add_scores(scaled(factor, score), mine)
        if nonnegative and new < 0 and mine > 0:
            work[uname] = _MARK
        elif not (nonnegative and new < 0 and mine == 0):
            work[uname] = new
    usable = any(w >= 0 and w != _MARK and (n := cluster.node(u)) is not None and n.can_run
                 for u, w in work.items())
    if usable:
        sign = -1.0 if factor < 0 else 1.0
        for c in cluster.colocations:
            if c.primary == rid and c.dependent not in seen:
                work = add_colocated_scores(cluster, scores_of, c.dependent, work,
                                            sign * c.score / INFINITY, nonnegative, True, seen)
    elif active:
        return weights
    if nonnegative:
        work = {u: (1 if w == _MARK else w) for u, w in work.items()}
    return work


def alike(cluster: Cluster, where: set[str], attribute: str | None) -> set[str]:
    """The nodes that count as "with" nodes ``where``: those same nodes, or (for a
    colocation's node-attribute) every node with the same value of it (compared
    without case)."""
    if attribute is None:
        return where
    values = {v.lower() for u in where if (n := cluster.node(u)) is not None
              and (v := n.attrs.get(attribute)) is not None}
    return {n.uname for n in cluster.nodes
            if (v := n.attrs.get(attribute)) is not None and v.lower() in values}


def best_alike(cluster: Cluster, scores: dict[str, int], attribute: str) -> dict[str, int]:
    """For each node, the best score among the nodes that can run resources and share
    its value of ``attribute`` (-INFINITY if none)."""
    best: dict[str, int] = {}
    for n in cluster.nodes:
        value = n.attrs.get(attribute)
        if value is None or not n.can_run or n.uname not in scores:
            continue
        best[value.lower()] = max(best.get(value.lower(), -INFINITY), scores[n.uname])
    return {n.uname: best.get(value.lower(), -INFINITY)
            if (value := n.attrs.get(attribute)) is not None else -INFINITY
            for n in cluster.nodes}
