"""When a resource's start or stop cannot run, and why (the "(blocked)" summary lines).

- A stop cannot run on a node that is down (or not yet a member) unless fencing that
  node implies the stop; a resource that must leave such a node cannot start
  elsewhere either (its start waits for the stop), so it shows as a blocked stop.
- Without quorum a start needs what ``no-quorum-policy`` allows: ``stop`` (the
  default) blocks every start "due to no quorum", so what runs is stopped; ``freeze``
  blocks starts of inactive resources ("quorum freeze"), leaving active ones alone;
  ``demote`` lets promotable instances stay and acts as ``stop`` for the rest;
  ``ignore`` blocks nothing. A resource with ``requires=nothing`` needs no quorum;
  fencing devices need it like any other resource.
- A resource never run that must first be probed on a node that is up but pending
  cannot start until that probe can run: its start is blocked (no reason given).
- A stop ordered after the stop of a blocked resource (on-fail=block, an
  unrecoverable stop, multiple-active=block) that is active cannot run either: a
  group member before a blocked one, the ``first`` of a mandatory symmetrical
  ordering whose ``then`` is blocked, the ``then`` of a mandatory stop-then-stop
  ordering whose ``first`` is blocked — and so on along the chain, for those that
  must stop or restart. A restart that cannot stop is shown as a blocked stop "due
  to required P stop" when its restart came from P's, else "due to unrunnable N
  stop" for the stop N it waits for.
- A resource that does not require fencing (``requires`` quorum or nothing; fencing
  devices by default) is not held to be active on nodes that are unclean or down
  when it is active on a clean one too: it is not multiply active for that.
"""

from __future__ import annotations

from dataclasses import dataclass

from ha.scheduler.model import Cluster, Resource
from ha.scheduler.nodestate import fenced, requires_fencing
from ha.scheduler.ordering import starts

#: the reason of a summary line blocked for no stated reason ("  blocked")
BLOCKED = "(blocked)"


@dataclass(frozen=True)
class Situation:
    """What the cluster's state allows this transition."""

    #: nodes where a stop cannot run: down (or pending) and not fenced
    down: frozenset[str] = frozenset()
    #: online nodes not yet members: probes there cannot run
    pending: frozenset[str] = frozenset()
    #: the no-quorum-policy in force, or None with quorum
    no_quorum: str | None = None
    #: (resource, resource whose stop cannot run and must come before its stop)
    stop_after_blocked: tuple[tuple[str, str], ...] = ()
    #: resources that must stop and cannot (or are blocked)
    stuck: frozenset[str] = frozenset()
    #: nodes that are down or unclean
    unhappy: frozenset[str] = frozenset()
    #: stonith-enabled (resources then require fencing by default)
    stonith: bool = False

    def blocked_by(self, rid: str) -> str | None:
        """The resource whose unrunnable stop ``rid``'s stop waits for, if any."""
        return next((b for r, b in self.stop_after_blocked if r == rid), None)


def situation(cluster: Cluster) -> Situation:
    shot = {n.uname for n in fenced(cluster)}
    down = {n.uname for n in cluster.nodes
            if n.uname not in shot and (not n.online or n.pending)}
    pending = {n.uname for n in cluster.nodes if n.online and n.pending and not n.unclean}
    unhappy = {n.uname for n in cluster.nodes if not n.online or n.unclean}
    pairs, stuck = _stops_after_blocked(cluster)
    return Situation(frozenset(down), frozenset(pending),
                     None if cluster.quorate else cluster.no_quorum_policy,
                     tuple(pairs), frozenset(stuck), frozenset(unhappy),
                     cluster.stonith_enabled)


def _stops_after_blocked(cluster: Cluster) -> tuple[list[tuple[str, str]], set[str]]:
    """(resource, resource) pairs: the first's stop must wait for the second's, which
    cannot run — the second is blocked, or is itself stopping after such a stop."""
    waits: list[tuple[str, str]] = []
    for o in cluster.orderings:
        if o.kind != "Mandatory":
            continue
        actions = (o.first_action, o.then_action)
        if actions == ("start", "start") and o.symmetrical:  # then's stop before first's
            waits += [(f, t) for t in cluster.members(o.then) for f in cluster.members(o.first)
                      if f != t]
        elif actions == ("stop", "stop"):
            waits += [(t, f) for f in cluster.members(o.first) for t in cluster.members(o.then)
                      if t != f]
    stuck = {r.id for r in cluster.resources if r.blocked and r.running}
    pairs: list[tuple[str, str]] = []
    changed = True
    while changed:
        changed = False
        for x, y in waits:
            if y not in stuck or any(p == x for p, _ in pairs):
                continue
            pairs.append((x, y))
            changed = True
            rsc = cluster.resource(x)
            if rsc is not None and rsc.managed and not rsc.blocked and rsc.running and (
                    rsc.assigned is None or starts(rsc)):
                stuck.add(x)  # it must stop too, and cannot: what waits for it cannot
    return pairs, stuck


def needs_fencing(rsc: Resource, sit: Situation) -> bool:
    return requires_fencing(rsc, sit.stonith)


def active_nodes(rsc: Resource, sit: Situation) -> list[str]:
    """Where ``rsc`` counts as active: a resource not requiring fencing is not held
    active on unhappy nodes when it is active on a happy one."""
    nodes = list(rsc.running)
    if len(nodes) > 1 and not needs_fencing(rsc, sit):
        happy = [u for u in nodes if u not in sit.unhappy]
        if happy:
            return happy
    return nodes


def quorum_reason(rsc: Resource, sit: Situation) -> str | None:
    """Why ``rsc``'s start cannot run for want of quorum, or None."""
    policy = sit.no_quorum
    if policy in (None, "ignore") or rsc.meta.get("requires", "").lower() == "nothing":
        return None
    if policy == "freeze":
        return None if rsc.running else "quorum freeze"
    if policy == "demote" and rsc.role in ("Promoted", "Unpromoted"):
        return None
    return "no quorum"


def stop_reason(reason: str, node: str, sit: Situation, rid: str = "") -> str:
    """A stop's reason, marked blocked when the stop cannot run on ``node`` (or must
    wait for a blocked resource's)."""
    if node not in sit.down and sit.blocked_by(rid) is None:
        return reason
    return f"{reason} (blocked)" if reason else BLOCKED


def probe_blocked(rsc: Resource, sit: Situation) -> bool:
    """A resource active nowhere waits for probes on pending nodes that cannot run."""
    return not rsc.running and rsc.clone is None and any(
        u not in rsc.known_on for u in sit.pending)
