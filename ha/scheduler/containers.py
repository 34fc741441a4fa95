"""Resources run inside a container resource (the ``container`` meta attribute).

A resource naming another primitive as its ``container`` is one of that container's
fillers: it runs where the container runs (colocated with it, INFINITY), starts
after it and stops before it (so a container's restart restarts its fillers, "due
to required CONTAINER start"). A filler's failure is recovered by restarting its
container (on-fail defaults to ``restart-container``; a failed stop is then taken as
done). The fillers' fail counts add to their container's when its
migration-threshold is judged.
"""

from __future__ import annotations

from ha.scheduler.model import Cluster, Colocation, Ordering, Resource


def link_containers(cluster: Cluster) -> None:
    """Resolve each resource's ``container`` meta attribute to a primitive."""
    for rsc in cluster.resources:
        cid = rsc.meta.get("container")
        if cid and cid != rsc.id and cluster.resource(cid) is not None \
                and rsc.clone is None:
            rsc.container = cid


def fillers_by_container(cluster: Cluster) -> dict[str, list[Resource]]:
    """container id -> its fillers, in one pass (a lookup per resource would make
    unpacking quadratic in the number of resources)."""
    out: dict[str, list[Resource]] = {}
    for r in cluster.resources:
        if r.container is not None:
            out.setdefault(r.container, []).append(r)
    return out


def add_container_constraints(cluster: Cluster) -> None:
    """Each filler with its container, after its start and before its stop."""
    for rsc in cluster.resources:
        if rsc.container is None:
            continue
        cluster.colocations.append(Colocation(f"{rsc.id}-with-container", rsc.id,
                                              rsc.container, 1_000_000))
        cluster.orderings.append(Ordering(f"{rsc.id}-after-container", rsc.container,
                                          rsc.id))
