"""Promotion scores: the ``master-NAME`` node attributes a promotable resource's agent
sets (``crm_master``, ``crm_attribute --promotion``), and where they count.

NAME is the id the instance's history uses (an anonymous clone's primitive id, or the
``rsc:N`` an old history named it by; the primitive id without ``:N`` when no
history names it). A score counts on a node where this instance is active, where no
instance is active but the resource was probed, on every node while the resource is
known nowhere, otherwise only where this instance's state is known; never where it
is not allowed. A cloned group's instance scores the sum of its members' scores.
"""

from __future__ import annotations

from ha.scheduler.clones import instance_units, siblings
from ha.scheduler.model import INFINITY, Clone, Cluster, Resource, add_scores, parse_score


def promotable_instances(cluster: Cluster, clone: Clone) -> list[Resource]:
    """The instances (a cloned group's by its first member)."""
    return [r for i in clone.instances if (r := cluster.resource(i))]


def unit(cluster: Cluster, clone: Clone, rsc: Resource) -> list[Resource]:
    """Every primitive of the instance ``rsc`` stands for (a cloned group's members)."""
    if not clone.group:
        return [rsc]
    return [r for m in cluster.groups.get(rsc.group or "", []) if (r := cluster.resource(m))]


def mark_unpromoted(cluster: Cluster) -> None:
    """A promotable clone's instance that runs but is not promoted is Unpromoted."""
    for clone in cluster.clones.values():
        if not clone.promotable:
            continue
        for members in instance_units(cluster, clone):
            for rsc in members:
                for uname, role in rsc.running.items():
                    if role == "Started":
                        rsc.running[uname] = "Unpromoted"


def _score_applies(cluster: Cluster, clone: Clone, rsc: Resource, uname: str,
                   allowed: dict[str, int]) -> bool:
    if allowed.get(uname, -INFINITY) < 0:
        return False
    if not clone.unique:
        copies = siblings(cluster, rsc)
        active = next((r for r in copies if uname in r.running), None)
        if active is rsc:
            return True
        if active is None and any(uname in r.known_on for r in copies):
            return True
    if not rsc.running and not rsc.own_history:
        return True  # this instance is known nowhere: its scores count everywhere
    return uname in rsc.own_history or uname in rsc.running


def _member_score(cluster: Cluster, clone: Clone, rsc: Resource, uname: str,
                  allowed: dict[str, int]) -> int | None:
    node = cluster.node(uname)
    if node is None or not _score_applies(cluster, clone, rsc, uname, allowed):
        return None
    value = node.attrs.get(f"master-{rsc.clone_name or rsc.id}")
    if value is None and not clone.unique:
        value = node.attrs.get(f"master-{rsc.id.rsplit(':', 1)[0]}")
    return None if value is None else parse_score(value)


def promotion_score(cluster: Cluster, clone: Clone, rsc: Resource, uname: str,
                    allowed: dict[str, int]) -> int | None:
    """The instance's promotion score on node ``uname``; None when none is set."""
    scores = [_member_score(cluster, clone, m, uname, allowed)
              for m in unit(cluster, clone, rsc)]
    if all(x is None for x in scores):
        return None
    return sum(x for x in scores if x is not None)


def add_promotion_scores(cluster: Cluster, clone: Clone,
                         weights: dict[str, dict[str, int]]) -> dict[str, int]:
    """Before placement: a positive promotion score draws the instance to its node.
    Returns each instance's priority for the order of placement: its highest
    promotion score (at least the resource's own priority)."""
    priority: dict[str, int] = {}
    for rsc in promotable_instances(cluster, clone):
        w = weights[rsc.id]
        priority[rsc.id] = rsc.priority
        for uname in list(w):
            node = cluster.node(uname)
            if node is None or not node.can_run:
                continue
            score = promotion_score(cluster, clone, rsc, uname, rsc.allowed) or 0
            if score > 0:
                w[uname] = add_scores(w[uname], score)
            priority[rsc.id] = max(priority[rsc.id], score)
    return priority
