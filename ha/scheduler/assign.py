"""Stage 3, assign: each resource's score on each node, then the node it will run on.

Rules kept (Pacemaker's, for primitives):

- every node starts at 0 in a symmetric cluster; in an opt-in cluster only nodes a
  location constraint names are allowed;
- location scores add to a node's score; a resource's stickiness adds to the node it
  is active on;
- resources are assigned by priority (highest first), then in configuration order; a
  resource first assigns the resources it is colocated *with*, then takes their
  placement into account (INFINITY: only there; -INFINITY: never there; otherwise the
  score is added there), and the preferences of resources colocated with it are added
  in proportion to the colocation score, unless that would leave no node usable;
- only nodes that are online, not standby, not in maintenance and with a score of 0 or
  more can run a resource; among equal scores the node with fewer resources
  assigned so far wins, then the node the resource is active on, then the node whose
  name sorts first byte by byte (strcmp).
"""

from __future__ import annotations

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.colocated import add_colocated_scores, alike, best_alike, scaled
from ha.scheduler.model import INFINITY, Cluster, Colocation, Resource, add_scores
from ha.scheduler.promotion import RoleChooser
from ha.scheduler.promotion_scores import add_promotion_scores
from ha.scheduler.utilization import Capacity, unit_order


def initial_scores(cluster: Cluster) -> None:
    """Node scores from symmetric-cluster, location constraints and stickiness."""
    symmetric = cluster.options.get("symmetric-cluster", "true").lower() in (
        "true", "yes", "on", "1", "y")
    for rsc in cluster.resources:
        rsc.allowed = {n.uname: 0 for n in cluster.nodes} if symmetric else {}
    for rid, uname, score in cluster.locations:
        located = cluster.resource(rid)
        if located is None or cluster.node(uname) is None:
            continue
        located.allowed[uname] = add_scores(located.allowed.get(uname, 0), score)
    for rsc in cluster.resources:
        for uname in rsc.banned:
            if uname in rsc.allowed:
                rsc.allowed[uname] = -INFINITY
        if len(rsc.running) == 1:
            (uname,) = rsc.running
            # what the cluster may not touch sticks where it is, infinitely
            sticky = rsc.stickiness if rsc.managed and not rsc.blocked else INFINITY
            if uname in rsc.allowed and sticky:
                rsc.allowed[uname] = add_scores(rsc.allowed[uname], sticky)


def _merge(weights: dict[str, int], other: dict[str, int], factor: float,
           positive_only: bool = False) -> dict[str, int]:
    """``weights`` plus ``factor`` times ``other`` on the nodes ``weights`` allows
    (only ``other``'s positive scores when ``positive_only``)."""
    merged = dict(weights)
    for uname, w in weights.items():
        o = other.get(uname)
        if o is None or (positive_only and o < 0):
            continue
        if factor < 0 and o <= -INFINITY:
            continue  # a ban on the dependent is no preference for the primary
        merged[uname] = add_scores(w, scaled(factor, o))
    return merged


def _usable(cluster: Cluster, weights: dict[str, int]) -> bool:
    return any(w >= 0 and (n := cluster.node(u)) is not None and n.can_run
               for u, w in weights.items())


def primary_rank(cluster: Cluster, rid: str) -> tuple[int, int, int, bytes]:
    """Pacemaker's order of a resource's "with" colocations: by the primary's
    priority (highest first), clones before groups before primitives, promotable
    clones first, then the primary's id (byte order)."""
    clone = cluster.clones.get(rid)
    if clone is not None:
        head = cluster.resource(clone.instances[0]) if clone.instances else None
        return (-(head.priority if head else 0), -2, -int(clone.promotable), rid.encode())
    rsc = cluster.resource(rid)
    if rsc is None:
        return (0, 0, 0, rid.encode())
    if rsc.clone is not None:
        return primary_rank(cluster, rsc.clone)
    if rsc.group is not None:
        return (-rsc.priority, -1, 0, rsc.group.encode())
    return (-rsc.priority, 0, 0, rid.encode())


class Assigner:
    """Assigns every resource of a cluster, recording the scores it decided on."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.load: dict[str, int] = {n.uname: 0 for n in cluster.nodes}
        self.done: set[str] = set()
        self.scores: dict[str, dict[str, int]] = {}
        self._combined: dict[str, dict[str, int]] = {}
        #: the scores of resources whose colocations are being applied, as they are
        #: so far (a primary placed meanwhile sees them so)
        self._progress: dict[str, dict[str, int]] = {}
        #: instance -> (scores before, after) each Promoted-role colocation
        self.role_reverts: dict[str, list[tuple[dict[str, int], dict[str, int]]]] = {}
        self.capacity = Capacity(cluster)

    def order(self) -> list[Resource]:
        """The order resources are assigned in (decided once, kept for the summary)."""
        cl = self.cluster
        if cl.assign_order and len(cl.assign_order) == len(cl.resources):
            return [r for rid in cl.assign_order if (r := cl.resource(rid))]
        ranked = sorted(cl.resources, key=lambda r: -r.top_priority)
        if self.capacity.active:
            ranked = unit_order(cl, ranked)
        cl.assign_order = [r.id for r in ranked]
        return ranked

    def run(self) -> None:
        for rsc in self.order():
            self.assign(rsc)

    def assign(self, rsc: Resource) -> None:
        if rsc.id in self.done:
            return
        if rsc.clone is not None and rsc.id in self.cluster.clones[rsc.clone].instances:
            self.assign_clone(rsc.clone)  # a cloned group's other members follow its first
            return
        self.done.add(rsc.id)
        self._place(rsc, self.weights(rsc))

    def weights(self, rsc: Resource) -> dict[str, int]:
        """``rsc``'s node scores once what it is colocated with has been placed."""
        cl = self.cluster
        weights = dict(rsc.allowed)
        mine = sorted((c for c in cl.colocations if c.dependent == rsc.id),
                      key=lambda c: primary_rank(cl, c.primary))
        for c in mine:
            if rsc.clone is not None and 0 < c.score < INFINITY \
                    and not self._all_colocations(rsc.clone):
                continue  # a clone on every node passes on only its bans and musts
            if not self._in_progress(c.primary):
                before = weights
                self._progress[rsc.id] = weights
                weights = self._apply_colocation(rsc, weights, c)
                if c.dependent_role == "Promoted" and weights is not before:
                    # undone if it leaves no node (judged when it is placed)
                    self.role_reverts.setdefault(rsc.id, []).append((before, weights))
        self._progress.pop(rsc.id, None)
        weights = self._merge_dependents(rsc, weights, {rsc.id})
        if rsc.stopping or rsc.fatal:
            weights = {u: -INFINITY for u in weights}
        return weights

    def _apply_colocation(self, rsc: Resource, weights: dict[str, int],
                          c: Colocation) -> dict[str, int]:
        """One colocation of ``rsc`` with an assigned primary. A colocation limited
        to the dependent's role decides its role, not its node, unless it keeps
        them apart; one with a promotable clone's role places it by the instances
        that will have that role."""
        if c.dependent_role is not None and c.score > 0:
            self._placed(c.primary)  # placed first: the role is chosen by it
            return weights
        clone = self.cluster.clones.get(c.primary)
        if c.primary_role is not None and clone is not None and clone.promotable:
            where = alike(self.cluster, self.placed_role(c.primary, c.primary_role), c.node_attribute)
            both_promoted = c.dependent_role == c.primary_role == "Promoted"
            out = dict(weights)
            for u in out:
                if u in where and c.score < INFINITY:
                    out[u] = add_scores(out[u], c.score)
                elif u not in where and c.score >= INFINITY and not both_promoted:
                    out[u] = -INFINITY
            return out
        if c.primary_role is not None and c.score > 0:
            return weights
        where = self._placed(c.primary)
        if clone is not None and c.score >= INFINITY:
            # an instance blocked by a failure (on-fail=block) is nowhere to be with; an
            # interleaved clone goes with a cloned group's whole instance (its last member)
            whole = clone.group and rsc.clone is not None \
                and is_pcmk_true(rsc.meta.get("interleave", "false"))
            lasts = [r for m in clone.instances if (f := self.cluster.resource(m)) is not None
                     and (r := self.cluster.resource(self.cluster.groups[f.group][-1])
                          if whole and f.group else f) is not None]
            for r in lasts:
                self.assign(r)
            where = {r.assigned for r in lasts if r.assigned is not None and not r.blocked}
        return self._apply_primary(weights, alike(self.cluster, where, c.node_attribute), c.score)

    def placed_role(self, rid: str, role: str | None) -> set[str]:
        """Where the instances of clone ``rid`` that will have ``role`` are placed
        (every placed instance when ``role`` is None)."""
        self._placed(rid)
        return {r.assigned for m in self.cluster.members(rid)
                if (r := self.cluster.resource(m)) is not None and r.assigned is not None
                and (role is None or (r.next_role or "Started") == role)}

    def _in_progress(self, rid: str) -> bool:
        """A colocation loop: ``rid`` is being assigned further up, so this
        colocation is ignored (as Pacemaker breaks assignment loops)."""
        return any(m in self.done and m not in self.scores for m in self.cluster.members(rid))

    def _placed(self, rid: str) -> set[str]:
        """Where ``rid`` (a primitive, or every instance of a clone) was placed."""
        found = set()
        for member in self.cluster.members(rid):
            prim = self.cluster.resource(member)
            assert prim is not None
            self.assign(prim)
            if prim.assigned is not None:
                found.add(prim.assigned)
        return found

    def _place(self, rsc: Resource, weights: dict[str, int]) -> None:
        self.scores[rsc.id] = weights
        prefer = None
        if self.capacity.active and rsc.managed and not rsc.blocked:
            unplaced = {r.id for r in self.cluster.resources if r.id not in self.scores}
            weights, prefer = self.capacity.limit(rsc, weights, unplaced)
        rsc.assigned = self._choose(rsc, weights, prefer)
        if rsc.assigned is not None:
            self._took(rsc, rsc.assigned)

    def _took(self, rsc: Resource, uname: str) -> None:
        self.load[uname] += 1
        self.capacity.consume(rsc, uname)

    def assign_clone(self, cid: str) -> None:
        """Instances that run keep their node if they may; the rest are placed in
        instance order, at most ``clone-node-max`` per node."""
        clone = self.cluster.clones[cid]
        instances = [r for i in clone.instances if (r := self.cluster.resource(i))]
        self.done.update(r.id for r in instances)
        per_node: dict[str, int] = {}
        weights = {r.id: self.weights(r) for r in instances}
        # whether a running instance may stay is judged without promotion scores
        # (they apply only where the instance itself runs)
        unpromoted = {rid: dict(w) for rid, w in weights.items()}
        first: dict[str, int] = {}  # instances with a higher promotion score go first
        if clone.promotable:
            first = add_promotion_scores(self.cluster, clone, weights)
        # an instance keeps its node while that node has fewer than its fair share
        # (clone-max over the nodes that can run resources, at least one) and no
        # other node scores better for it; a failed instance does not
        usable = sum(n.can_run for n in self.cluster.nodes)
        fair = max(1, len(instances) // usable) if usable else 1
        for rsc in instances:
            if len(rsc.running) != 1 or not rsc.managed or rsc.blocked:
                continue
            (uname,) = rsc.running
            node = self.cluster.node(uname)
            capped = {u: (-INFINITY if per_node.get(u, 0) >= clone.node_max else score)
                      for u, score in unpromoted[rsc.id].items()}
            if self.capacity.active:  # it stays only where its utilization still fits
                unplaced = {r.id for r in self.cluster.resources if r.id not in self.scores}
                capped, _ = self.capacity.limit(rsc, capped, unplaced)
            w = capped.get(uname, -INFINITY)
            best = max((score for u, score in capped.items()
                        if (n := self.cluster.node(u)) is not None and n.can_run),
                       default=-INFINITY)
            if node is not None and node.can_run and w >= 0 and w >= best \
                    and not rsc.failed.get(uname) and per_node.get(uname, 0) < fair:
                self.scores[rsc.id] = weights[rsc.id]
                rsc.assigned = uname
                self._took(rsc, uname)
                self._rest_of(rsc)
                per_node[uname] = per_node.get(uname, 0) + 1
        def order(r: Resource) -> tuple[bool, int, bool, bool, bool]:
            """Pacemaker's instance order: one active where it may no longer run
            goes after the rest; then a higher promotion score first; then one
            active before one inactive, on a node that can run resources first, one
            that did not fail first."""
            banished = any(r.allowed.get(u, -INFINITY) < 0 for u in r.running)
            usable = any((n := self.cluster.node(u)) is not None and n.can_run
                         for u in r.running)
            return (banished, -first.get(r.id, 0), not r.running, not usable,
                    any(r.failed.values()))

        for rsc in sorted(instances, key=order):
            if rsc.id in self.scores:
                continue
            capped = {u: (-INFINITY if per_node.get(u, 0) >= clone.node_max else score)
                      for u, score in weights[rsc.id].items()}
            if not _usable(self.cluster, capped):
                capped = self._revert_roles(rsc, capped, per_node, clone.node_max)
            self._place(rsc, capped)
            self._rest_of(rsc)
            if rsc.assigned is not None:
                per_node[rsc.assigned] = per_node.get(rsc.assigned, 0) + 1
        if clone.promotable:
            RoleChooser(self.cluster, clone, self.placed_role, self.scores).choose()

    def _rest_of(self, first: Resource) -> None:
        """A cloned group's instance is placed whole before the next one is."""
        for m in self.cluster.groups.get(first.group or "", [])[1:]:
            if (member := self.cluster.resource(m)) is not None:
                self.assign(member)

    def _revert_roles(self, rsc: Resource, capped: dict[str, int], per_node: dict[str, int],
                      node_max: int) -> dict[str, int]:
        """Undo what colocations of the Promoted role took away, as no node is left."""
        out = dict(capped)
        for before, after in self.role_reverts.get(rsc.id, []):
            for u, score in before.items():
                if after.get(u) != score and per_node.get(u, 0) < node_max:
                    out[u] = score
        return out

    def _merge_dependents(self, rsc: Resource, weights: dict[str, int],
                          seen: set[str]) -> dict[str, int]:
        """Add the preferences of what is colocated with ``rsc`` (and, in turn, with
        those), each scaled by its colocation score; a merge leaving no usable node is
        rolled back."""
        cl = self.cluster
        for c in cl.colocations:
            if c.primary not in (rsc.id, rsc.clone) or c.dependent in seen:
                continue
            if c.primary == rsc.clone and c.score >= 0 and not self._all_colocations(rsc.clone):
                continue  # a clone on every node passes only bans on to its instances
            dep = cl.resource(c.dependent)
            assert dep is not None
            if rsc.clone is None and dep.clone is None and c.node_attribute is None:
                # as Pacemaker adds them: what is colocated with the dependent counts
                # at its own strength, with the sign of this colocation
                weights = add_colocated_scores(cl, self._scores_of, dep.id, weights,
                                               c.score / INFINITY, False, True,
                                               frozenset(seen))
                continue
            if dep.id not in self._combined:  # memoised: chains of clones fan out
                self._combined[dep.id] = self._merge_dependents(dep, dict(dep.allowed),
                                                                seen | {dep.id})
            dep_weights = self._combined[dep.id]
            if c.node_attribute is not None:
                dep_weights = best_alike(self.cluster, dep_weights, c.node_attribute)
            # a clone takes only the positive preferences of what depends on it
            merged = _merge(weights, dep_weights, c.score / INFINITY,
                            rsc.clone is not None and c.primary == rsc.clone)
            if _usable(cl, merged):
                weights = merged
        return weights

    def _scores_of(self, rid: str) -> dict[str, int]:
        """A resource's node scores: as assigned, else as configured."""
        if rid in self.scores:
            return self.scores[rid]
        if rid in self._progress:
            return self._progress[rid]
        rsc = self.cluster.resource(rid)
        return rsc.allowed if rsc is not None else {}

    def _all_colocations(self, cid: str) -> bool:
        """Whether a clone's instances take all of its colocations: only when it has
        fewer instances than nodes that can run them (else only the mandatory ones
        and bans of the clone as dependent, and bans from what depends on it)."""
        clone = self.cluster.clones[cid]
        return len(clone.instances) < sum(n.can_run for n in self.cluster.nodes)

    @staticmethod
    def _apply_primary(weights: dict[str, int], where: set[str], score: int) -> dict[str, int]:
        out = dict(weights)
        for u in out:
            if score >= INFINITY:
                if u not in where:
                    out[u] = -INFINITY
            elif u in where:
                out[u] = add_scores(out[u], score)
        return out

    def _choose(self, rsc: Resource, weights: dict[str, int],
                prefer: str | None = None) -> str | None:
        if not rsc.managed or rsc.blocked:
            return next(iter(rsc.running), None)
        candidates = [u for u, w in weights.items()
                      if w >= 0 and (n := self.cluster.node(u)) is not None and n.can_run]
        if not candidates:
            return None
        best = max(weights[u] for u in candidates)
        if prefer in candidates and weights[prefer] >= best:
            return prefer  # the node with the most free capacity (utilization)
        tied = [u for u in candidates if weights[u] == best]
        # Pacemaker's final tie-break is strcmp on the node names (byte order, so
        # "node10" sorts before "node2"), not the natural order nodes are listed in
        if self.capacity.active:
            tie = self.capacity.tie_key(self.load)
            minimal = self.capacity.strategy == "minimal"
            return min(tied, key=lambda u: (tie(u), not minimal and u not in rsc.running,
                                            u.encode()))
        return min(tied, key=lambda u: (self.load[u], u not in rsc.running, u.encode()))


def assign(cluster: Cluster) -> list[tuple[str, str, int]]:
    """Assign every resource; the allocation scores in the order they were decided."""
    initial_scores(cluster)
    a = Assigner(cluster)
    a.run()
    for rsc in cluster.resources:
        rsc.allowed = a.scores.get(rsc.id, rsc.allowed)
    order = [n.uname for n in cluster.nodes]
    return [(rid, u, ws[u]) for rid, ws in a.scores.items()
            for u in sorted(ws, key=lambda u: order.index(u))]
