"""Shutdown locks (``shutdown-lock``): a resource active on a node that shuts down
cleanly stays with that node, stopped, instead of moving, until the node comes back
or the lock expires (``shutdown-lock-limit``, none by default).

A lock comes from the history (an ``lrm_resource`` marked ``shutdown-lock`` with the
time the node shut down: expired locks are dropped, and a lock on a resource active
anywhere is cancelled), or is taken now for a resource active on exactly one node
that is shutting down and clean (at the time of its ``shutdown`` attribute). A
locked resource is banned from every other node. Fencing devices, clones and
their instances are never locked.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from ha.cib.schema_data import duration_ms, is_pcmk_true
from ha.scheduler.model import Cluster, Node, Resource


def enabled(cluster: Cluster) -> bool:
    return is_pcmk_true(cluster.options.get("shutdown-lock", "false"))


def _limit_s(cluster: Cluster) -> int:
    text = cluster.options.get("shutdown-lock-limit")
    return (duration_ms(text) or 0) // 1000 if text else 0


def _epoch(now: datetime | None) -> int | None:
    return int(now.timestamp()) if now is not None else None


def lock_from_history(cluster: Cluster, rsc: Resource, node: Node,
                      entry: etree._Element) -> None:
    """Remember the lock an ``lrm_resource`` records, unless it has expired."""
    if not enabled(cluster):
        return
    try:
        since = int(entry.get("shutdown-lock", "0"))
    except ValueError:
        return
    if since == 0:
        return
    now, limit = _epoch(cluster.now), _limit_s(cluster)
    if limit > 0 and now is not None and now > since + limit:
        return  # expired
    rsc.lock_node = node.uname


def apply_shutdown_locks(cluster: Cluster) -> None:
    """Take locks for resources on nodes shutting down; ban locked ones elsewhere."""
    if not enabled(cluster):
        return
    for rsc in cluster.resources:
        if rsc.cls == "stonith" or rsc.clone is not None:
            continue
        if rsc.lock_node is not None:
            if rsc.running:  # already active again: the lock is void
                rsc.lock_node = None
        elif len(rsc.running) == 1:
            (uname,) = rsc.running
            node = cluster.node(uname)
            if node is not None and node.shutdown and not node.unclean:
                rsc.lock_node = uname
        if rsc.lock_node is not None:
            rsc.banned |= {n.uname for n in cluster.nodes if n.uname != rsc.lock_node}
