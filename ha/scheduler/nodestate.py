"""Node state and fencing: which cluster nodes are online, pending or unclean, and which
unclean nodes are fenced.

A node's ``node_state`` is judged as Pacemaker's scheduler judges it:

- with stonith enabled, a node the status section never mentions is unclean when
  ``startup-fencing`` is on (the default): it is fenced because "node is unclean";
- a node in the membership (``in_ccm``) is online; one shutting down is online only
  while its controller (``crmd``) is; a node never seen by the membership, one whose
  join was refused (``banned``), one that left the membership or lost its controller
  while expected up, or whose termination was requested, is unclean, each for its
  own reason; a node up but not (yet) expected or joined is pending (it runs
  nothing);
- without stonith, a node expected up but out of the membership with its controller
  down is unclean too ("peer is unexpectedly down"), though nothing can fence it;
- in a partition without quorum and ``no-quorum-policy=suicide``, every online node
  is fenced because "cluster does not have quorum".

The first reason given for a node is the one its Fence line shows. Fence lines are
listed newest first: those decided from the resource history before those decided
from ``node_state``, and nodes found unclean only at the end (never seen) first of
all, in reverse node order. A node is fenced only when some resource is managed and
fencing is possible: stonith enabled, a fencing device (or ``have-watchdog``), and
quorum, ``no-quorum-policy=ignore``, or the node still in our membership. With
stonith enabled but no fencing device, no resource is managed at all.
"""

from __future__ import annotations

from lxml import etree

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.model import Change, Cluster, Node, Resource
from ha.scheduler.unfencing import needs_unfencing, unfence_ops


def _true(value: str | None) -> bool:
    return value is not None and (is_pcmk_true(value) or value.isdigit() and int(value) > 0)


def _terminating(node: Node) -> bool:
    value = node.attrs.get("terminate")
    if value is None:
        return False
    return is_pcmk_true(value) or (value[:1].isdigit() and value[:1] != "0")


def fence_node(cluster: Cluster, node: Node, reason: str) -> None:
    """Mark ``node`` unclean; the first reason given is kept."""
    if node.unclean:
        return
    node.unclean = True
    node.unclean_reason = reason
    cluster.fence_order.append(node.uname)


def judge_node_state(cluster: Cluster, node: Node, ns: etree._Element, stonith: bool) -> None:
    """Online, pending or unclean, from one ``node_state`` (transient attributes read)."""
    node.unclean, node.unclean_reason, node.unseen = False, None, False
    in_cluster = ns.get("in_ccm")
    in_ccm = _true(in_cluster)
    crmd = ns.get("crmd")
    crmd_online = crmd is not None and (crmd.lower() == "online" or _true(crmd))
    join = (ns.get("join") or "").lower()
    expected = (ns.get("expected") or "down").lower()
    node.shutdown = node.attrs.get("shutdown", "0") not in ("0", "")
    expected_up = not node.shutdown and expected == "member"
    if not stonith:
        if not in_ccm:
            online = False
        elif crmd_online:
            online = join == "member"
        else:
            online = False
            if expected_up:
                fence_node(cluster, node, "peer is unexpectedly down")
        node.online = online
        return
    terminate = _terminating(node)
    online = in_ccm
    if node.shutdown:
        online = crmd_online
    elif in_cluster is None:
        fence_node(cluster, node, "peer has not been seen by the cluster")
    elif join == "banned":
        fence_node(cluster, node, "peer failed Pacemaker membership criteria")
    elif not terminate and expected == "down":
        if in_ccm or crmd_online:
            node.pending = True
    elif terminate and join == "down" and not in_ccm and not crmd_online:
        online = False  # it was just fenced
    elif not in_ccm:
        fence_node(cluster, node, "peer is no longer part of the cluster")
    elif not crmd_online:
        fence_node(cluster, node, "peer process is no longer available")
    elif terminate:
        fence_node(cluster, node, "termination was requested")
    elif join == "member":
        pass
    elif join in ("pending", "down"):
        node.pending = True
    else:
        fence_node(cluster, node, "peer was in an unknown state")
    node.online = online


def has_fencing_device(root: etree._Element, options: dict[str, str]) -> bool:
    """A fencing device is configured (a ``stonith`` primitive anywhere, a template's
    included), or watchdog self-fencing is available (``have-watchdog``)."""
    stonith_templates = {t.get("id") for t in root.iterfind("configuration/resources/template")
                         if t.get("class") == "stonith"}
    return is_pcmk_true(options.get("have-watchdog", "false")) or any(
        p.get("class") == "stonith" or p.get("template") in stonith_templates
        for p in root.iterfind("configuration/resources//primitive"))


def requires_fencing(rsc: Resource, stonith_enabled: bool) -> bool:
    """Whether ``rsc`` requires fencing (``requires``; by default with stonith
    enabled, except for fencing devices, which require quorum)."""
    requires = rsc.meta.get("requires", "").lower()
    if requires in ("fencing", "unfencing"):
        return True
    if requires in ("quorum", "nothing") or rsc.cls == "stonith":
        return False
    return stonith_enabled


def can_fence(cluster: Cluster, node: Node) -> bool:
    """Whether fencing ``node`` is possible in this partition."""
    if not cluster.stonith_enabled or not cluster.fencing_device:
        return False
    if cluster.quorate or cluster.no_quorum_policy == "ignore":
        return True
    return node.online


def fenced(cluster: Cluster) -> list[Node]:
    """The unclean nodes that will be fenced, in the order they were found unclean."""
    if not any(r.managed and not r.blocked for r in cluster.resources):
        return []
    order = list(cluster.fence_order)
    order += [n.uname for n in cluster.nodes if n.unclean and n.uname not in order]
    nodes = [n for u in order if (n := cluster.node(u)) is not None]
    return [n for n in nodes if n.unclean and can_fence(cluster, n)]


def unfence_restarts(cluster: Cluster) -> None:
    """What requires unfencing and stays on a node being unfenced restarts after it."""
    for op in unfence_ops(cluster):
        node = cluster.node(op.node)
        if op.reason is None or node is None or not can_fence(cluster, node):
            continue
        for rsc in cluster.resources:
            if rsc.cls != "stonith" and needs_unfencing(cluster, rsc) and rsc.managed \
                    and rsc.assigned == op.node and op.node in rsc.running \
                    and rsc.required is None:
                rsc.required = "stonith"


def fence_lines(cluster: Cluster) -> list[Change]:
    """The Fence lines, newest first: nodes fenced (``stonith-action``, reboot by
    default) and nodes unfenced ("on", ``unfencing``)."""
    action = cluster.options.get("stonith-action", "reboot")
    action = "off" if action == "poweroff" else action
    shot = fenced(cluster)
    found = [Change("Fence", n.uname, action, n.unclean_reason or "node is unclean")
             for n in shot if n.uname in cluster.fence_order]
    unseen = [Change("Fence", n.uname, action, n.unclean_reason or "node is unclean")
              for n in shot if n.uname not in cluster.fence_order]
    on = [Change("Fence", op.node, "on", op.reason) for op in unfence_ops(cluster)
          if op.reason is not None and (n := cluster.node(op.node)) is not None
          and can_fence(cluster, n)]
    return list(reversed(found + on + unseen))
