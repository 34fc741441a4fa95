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
"""

from __future__ import annotations

from dataclasses import dataclass

from ha.scheduler.model import Cluster, Resource
from ha.scheduler.nodestate import fenced

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


def situation(cluster: Cluster) -> Situation:
    shot = {n.uname for n in fenced(cluster)}
    down = {n.uname for n in cluster.nodes
            if n.uname not in shot and (not n.online or n.pending)}
    pending = {n.uname for n in cluster.nodes if n.online and n.pending and not n.unclean}
    return Situation(frozenset(down), frozenset(pending),
                     None if cluster.quorate else cluster.no_quorum_policy)


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


def stop_reason(reason: str, node: str, sit: Situation) -> str:
    """A stop's reason, marked blocked when the stop cannot run on ``node``."""
    if node not in sit.down:
        return reason
    return f"{reason} (blocked)" if reason else BLOCKED


def probe_blocked(rsc: Resource, sit: Situation) -> bool:
    """A resource active nowhere waits for probes on pending nodes that cannot run."""
    return not rsc.running and rsc.clone is None and any(
        u not in rsc.known_on for u in sit.pending)
