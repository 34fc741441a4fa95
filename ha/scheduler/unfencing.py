"""Unfencing: nodes a fencing device must turn back on ("Fence (on)") before resources
that need it may be probed or started there.

Unfencing is in use when some resource's meta attributes (or ``rsc_defaults``) say
``provides=unfencing`` or ``requires=unfencing``. Then every probe and start of a
fencing device, and of a resource that requires unfencing (with stonith enabled,
every resource but the fencing devices, unless its ``requires`` says otherwise), is
ordered after the unfencing of its node; a node that was never unfenced (its
``#node-unfenced`` attribute absent or 0) is unfenced "required by RSC monitor"
(the first probe that needs it) or "required by RSC start" — if it is online,
clean, not shutting down, and fencing is possible. A node where an unfencing device's
agent or parameters changed is unfenced again ("Device definition changed",
"Device parameters changed"). Device changes are considered first, then probes,
node by node, then starts; the Fence (on) lines are listed newest first, after any
fencing decided from the status and before nodes fenced for never being seen. What
requires unfencing and stays on a node being unfenced restarts after it ("due to
required stonith").
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from ha.scheduler.model import Cluster, Node, Resource


def unfencing_enabled(root: etree._Element) -> bool:
    """Some resource provides or requires unfencing."""
    sets = list(root.iterfind("configuration/resources//meta_attributes"))
    sets += root.findall("configuration/rsc_defaults/meta_attributes")
    return any((nv.get("name"), (nv.get("value") or "").lower())
               in (("provides", "unfencing"), ("requires", "unfencing"))
               for s in sets for nv in s.iterfind("nvpair"))


def needs_unfencing(cluster: Cluster, rsc: Resource) -> bool:
    """Whether ``rsc``'s probes and starts wait for its node's unfencing."""
    if rsc.cls == "stonith":
        return cluster.unfencing
    requires = rsc.meta.get("requires", "").lower()
    if requires:
        return requires == "unfencing" and cluster.stonith_enabled
    return cluster.unfencing and cluster.stonith_enabled


def _unfenced(node: Node) -> bool:
    return node.attrs.get("#node-unfenced", "0") not in ("0", "")


@dataclass
class Unfence:
    """One node's unfencing: why it is needed, if it is."""

    node: str
    reason: str | None = None


def unfence_ops(cluster: Cluster) -> list[Unfence]:
    """The unfencing actions in the order they are created (probes, then starts)."""
    if not cluster.unfencing:
        return []
    ops: dict[str, Unfence] = {}
    for uname, why in cluster.unfence_triggers:  # devices changed: seen first
        node = cluster.node(uname)
        if node is not None and node.online and not node.unclean and not node.shutdown:
            op = ops.setdefault(uname, Unfence(uname))
            op.reason = op.reason or why

    def order(rsc: Resource, node: Node, task: str) -> None:
        if not needs_unfencing(cluster, rsc):
            return
        op = ops.setdefault(node.uname, Unfence(node.uname))
        if (not _unfenced(node) and op.reason is None and node.online and not node.unclean
                and not node.shutdown):
            op.reason = f"required by {rsc.id} {task}"

    for node in cluster.nodes:
        if not node.online or node.unclean:
            continue
        probed: set[str] = set()
        for rsc in cluster.resources:
            if node.uname in rsc.known_on or rsc.orphan or (rsc.clone or rsc.id) in probed:
                continue
            probed.add(rsc.clone or rsc.id)
            order(rsc, node, "monitor")
    for rsc in cluster.resources:
        dest = cluster.node(rsc.assigned) if rsc.assigned else None
        if dest is not None and rsc.managed and not rsc.blocked:
            order(rsc, dest, "start")
    return list(ops.values())
