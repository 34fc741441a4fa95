"""Promotable clones: which instances are promoted, after their nodes are chosen.

Pacemaker's rules, as kept here:

- an instance's *promotion score* (``promotion_scores``) is added, when positive, to
  its preference for the node before instances are placed;
- once placed, an instance's priority is its promotion score on its node (-1
  without one: it is promoted only if a constraint says so), -INFINITY when it may
  not be promoted (target-role Unpromoted, or stopped); location constraints for
  the Promoted role and colocations of the Promoted (or Unpromoted) role add to it;
- the clone's node scores (its own, plus the priorities of the instances placed on
  each node, plus the scores of what its Promoted role is colocated with and of what
  is colocated with its Promoted role, see ``colocated``) give the sort order;
  instances are promoted in that order (ties: the one promoted now, the higher
  priority, the active one, the one not failed, the lower instance number) until ``promoted-max``, at
  most ``promoted-node-max`` per node, only with a priority of 0 or more, on a node
  that can run resources; an instance the cluster may not touch stays promoted; a
  cloned group's members take the role chosen for their instance.
"""

from __future__ import annotations

from collections.abc import Callable

from ha.scheduler.colocated import add_colocated_scores
from ha.scheduler.model import INFINITY, Clone, Cluster, Colocation, Resource, add_scores
from ha.scheduler.promotion_scores import promotable_instances, promotion_score, unit


def _roles(members: list[Resource]) -> list[str]:
    """The roles an instance (all its members) has now."""
    return [role for m in members for role in m.running.values()]


def _left_promoted(members: list[Resource]) -> bool:
    """An instance the cluster may not touch (unmanaged, or blocked by a failure)
    keeps its Promoted role."""
    return any((not m.managed or m.blocked) and "Promoted" in m.running.values()
               for m in members)


class RoleChooser:
    """Chooses the instances of one promotable clone to promote (their ``next_role``)."""

    def __init__(self, cluster: Cluster, clone: Clone, placed_role: Callable[[str, str | None], set[str]],
                 final_scores: dict[str, dict[str, int]]) -> None:
        self.cluster, self.clone = cluster, clone
        #: callable(rid, role) -> nodes where rid (a clone) has instances in that role
        self.placed_role = placed_role
        self.final_scores = final_scores

    def choose(self) -> None:
        cluster, clone = self.cluster, self.clone
        instances = promotable_instances(cluster, clone)
        units = {r.id: unit(cluster, clone, r) for r in instances}
        for rsc in instances:
            rsc.promotion = self._priority(rsc)
        clone_weights = self._clone_weights(instances)
        sort_index: dict[str, int] = {}  # instances on one node share its weight
        for rsc in instances:
            if _left_promoted(units[rsc.id]):
                sort_index[rsc.id] = INFINITY
            elif rsc.assigned is None or rsc.promotion < 0:
                sort_index[rsc.id] = rsc.promotion
            else:
                sort_index[rsc.id] = clone_weights.get(rsc.assigned, 0)
        current = {"Promoted": 2, "Unpromoted": 1, "Started": 1}

        def key(r: Resource) -> tuple[int, int, int, int, bool, int]:
            roles = _roles(units[r.id])
            failed = any(m.failed.get(u, False) for m in units[r.id] for u in m.running)
            return (-sort_index[r.id], -max((current.get(v, 0) for v in roles), default=0),
                    -r.promotion, 0 if roles else 1, failed, clone.instances.index(r.id))

        promoted = 0
        per_node: dict[str, int] = {}
        for rsc in sorted(instances, key=key):
            node = cluster.node(rsc.assigned) if rsc.assigned else None
            can = (sort_index[rsc.id] >= 0 and promoted < clone.promoted_max
                   and node is not None and rsc.promotion >= 0 and node.can_run
                   and per_node.get(node.uname, 0) < clone.promoted_node_max)
            if node is not None and any(  # every member of a cloned group must run there
                    m.allowed.get(node.uname, -INFINITY) < 0 or m.stopping or m.fatal
                    for m in units[rsc.id][1:]):
                can = False
            if _left_promoted(units[rsc.id]):
                can = True
            if not can or node is None:
                rsc.next_role = "Unpromoted" if rsc.assigned else "Stopped"
                continue
            if not cluster.quorate and cluster.no_quorum_policy == "freeze" \
                    and "Promoted" not in _roles(units[rsc.id]):
                rsc.next_role = "Unpromoted"  # nothing new is promoted without quorum
                continue
            per_node[node.uname] = per_node.get(node.uname, 0) + 1
            promoted += 1
            rsc.next_role = "Promoted"
        if not cluster.quorate and cluster.no_quorum_policy == "demote":
            for rsc in instances:  # what runs may stay, but only unpromoted
                if _roles(units[rsc.id]) and rsc.next_role == "Promoted":
                    rsc.next_role = "Unpromoted"
        for rsc in instances:  # a cloned group's members take the instance's role
            for member in units[rsc.id][1:]:
                member.next_role = rsc.next_role

    def _clone_weights(self, instances: list[Resource]) -> dict[str, int]:
        """The clone's node scores for promotion: its own, plus each promotable
        instance's priority on its node, plus the node scores of what the Promoted
        role is colocated with, and of what is colocated with the Promoted role."""
        cl = self.cluster
        first = instances[0].id if instances else ""
        merging = frozenset([self.clone.id, *self.clone.instances])  # loops end here
        weights = self._own_weights(instances, merging)
        for rsc in instances:
            if rsc.promotion >= 0 and rsc.assigned in weights:
                weights[rsc.assigned] = add_scores(weights[rsc.assigned], rsc.promotion)
        for c in cl.colocations:
            if c.dependent == first and c.dependent_role == "Promoted":
                weights = add_colocated_scores(cl, self.scores_of, c.primary, weights,
                                               c.score / INFINITY, False, c.score < INFINITY,
                                               merging)
        for c in cl.colocations:
            if c.primary == self.clone.id and c.primary_role == "Promoted" \
                    and self._first_of_its_clone(c.dependent):
                weights = add_colocated_scores(cl, self.scores_of, c.dependent, weights,
                                               c.score / INFINITY, True, True, merging)
        if self.clone.id in cl.no_promotion:
            weights = {u: -INFINITY for u in weights}
        return weights

    def _own_weights(self, instances: list[Resource], merging: frozenset[str]
                     ) -> dict[str, int]:
        """The clone's node scores as it was placed: its location constraints, plus
        (never turning a node negative) the scores of what is colocated with it."""
        cl = self.cluster
        symmetric = cl.options.get("symmetric-cluster", "true").lower() in (
            "true", "yes", "on", "1", "y")
        weights = {n.uname: 0 for n in cl.nodes} if symmetric else {}
        first = instances[0].id if instances else ""
        for rid, uname, score in cl.locations:
            if rid == first and cl.node(uname) is not None:
                weights[uname] = add_scores(weights.get(uname, 0), score)
        for c in cl.colocations:
            if c.primary == self.clone.id and self._first_of_its_clone(c.dependent):
                weights = add_colocated_scores(cl, self.scores_of, c.dependent, weights,
                                               c.score / INFINITY, True, True, merging)
        return weights

    def _first_of_its_clone(self, rid: str) -> bool:
        """A clone colocated with another counts once (as its first instance)."""
        rsc = self.cluster.resource(rid)
        if rsc is None or rsc.clone is None:
            return True
        return self.cluster.clones[rsc.clone].instances[0] == rid

    def scores_of(self, rid: str) -> dict[str, int]:
        """A resource's node scores: as assigned, or as configured if not yet."""
        if rid in self.final_scores:
            return self.final_scores[rid]
        clone = self.cluster.clones.get(rid)
        if clone is not None:  # as its instances were placed
            merged: dict[str, int] = {}
            for inst in clone.instances:
                for u, w in self.final_scores.get(inst, {}).items():
                    merged[u] = max(merged.get(u, -INFINITY), w)
            return merged
        rsc = self.cluster.resource(rid)
        return rsc.allowed if rsc is not None else {}

    def _priority(self, rsc: Resource) -> int:
        """The instance's promotion priority on the node it was placed on."""
        cluster, clone = self.cluster, self.clone
        uname = rsc.assigned
        if uname is None:
            return -INFINITY
        if rsc.target_role.lower() in ("unpromoted", "slave", "stopped"):
            priority = -INFINITY
        else:
            score = promotion_score(cluster, clone, rsc, uname, rsc.allowed)
            priority = -1 if score is None else score
        for rid, node, score in cluster.promoted_locations:
            if rid == rsc.id and node == uname:
                priority = add_scores(priority, score)
        for c in cluster.colocations:
            if c.dependent == rsc.id and c.dependent_role is not None:
                priority = self._colocated_priority(rsc, c, priority)
        return priority

    def _colocated_priority(self, rsc: Resource, c: Colocation, priority: int) -> int:
        """A colocation of the instance's role with something already placed."""
        cl = self.cluster
        if c.primary in cl.clones and c.primary_role is not None:
            where = self.placed_role(c.primary, c.primary_role)
            if rsc.assigned in where:
                return add_scores(priority, c.score)
            return -INFINITY if c.score >= INFINITY else priority
        primary = cl.resource(c.primary)
        if c.primary in cl.clones:
            where = self.placed_role(c.primary, None)
        elif primary is not None and primary.assigned is not None:
            where = {primary.assigned}
        else:
            return priority
        if rsc.assigned not in where:
            if c.score >= INFINITY and c.dependent_role == "Promoted":
                return -INFINITY
            return priority
        if c.primary_role is not None and primary is not None \
                and c.primary_role != (primary.next_role or "Started"):
            return priority
        sign = -1 if c.dependent_role == "Unpromoted" else 1
        return add_scores(priority, sign * c.score)


def block_promotions(cluster: Cluster) -> None:
    """A Promoted role mandatorily colocated with something whose start cannot run
    (every instance's, for a clone) cannot be reached: its promotion is blocked."""
    for c in cluster.colocations:
        if c.score < INFINITY or c.dependent_role != "Promoted":
            continue
        dep = cluster.resource(c.dependent)
        if dep is None or dep.next_role != "Promoted" or "Promoted" in dep.running.values():
            continue
        primaries = [r for m in cluster.members(c.primary) if (r := cluster.resource(m))]
        if primaries and all(r.unrunnable is not None and r.assigned not in r.running
                             for r in primaries):
            dep.promote_blocked = f"colocation with {primaries[0].id}"
