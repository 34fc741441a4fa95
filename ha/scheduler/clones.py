"""Clones: one primitive run as several instances (``P:0``, ``P:1``, …).

An anonymous clone's history is recorded under the primitive's own id: each node
where it runs is given the lowest-numbered instance not yet running anywhere, in the
order the status section lists the nodes, so the numbering matches Pacemaker's. A
unique clone's history names the instance. Instances already running keep their
node when they may stay there; the others are then placed one by one like
primitives, never more than ``clone-node-max`` on a node.
"""

from __future__ import annotations

from lxml import etree

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.model import Clone, Cluster, Resource, parse_score


def clone_sizes(meta: dict[str, str], node_count: int) -> tuple[int, int]:
    """(clone-max, clone-node-max), with Pacemaker's defaults: one per node."""
    clone_max = meta.get("clone-max", meta.get("globally-unique-max"))
    node_max = meta.get("clone-node-max")
    return (parse_score(clone_max, node_count) if clone_max is not None else node_count,
            parse_score(node_max, 1) if node_max is not None else 1)


def make_clone(el: etree._Element, meta: dict[str, str], base: Resource,
               node_count: int, copy: object) -> tuple[Clone, list[Resource]]:
    """The clone ``el`` of primitive ``base`` and its instances (copies of ``base``)."""
    clone_max, node_max = clone_sizes(meta, node_count)
    unique = is_pcmk_true(meta.get("globally-unique", "false"))
    promotable = is_pcmk_true(meta.get("promotable", "false")) or el.tag == "master"
    instances: list[Resource] = []
    if "resource-stickiness" not in meta:
        base.stickiness = 1  # a clone's instances stay where they run unless told otherwise
    for i in range(max(clone_max, 0)):
        inst = copy(base)  # type: ignore[operator]
        inst.id = f"{base.id}:{i}"
        inst.clone = el.get("id", "")
        inst.history_id = inst.id if unique else base.id
        instances.append(inst)
    clone = Clone(el.get("id", ""), base.id, [i.id for i in instances], node_max, unique,
                  promotable, clone_min=max(parse_score(meta.get("clone-min"), 0), 0))
    if promotable:
        clone.promoted_max = parse_score(meta.get("promoted-max", meta.get("master-max")), 1)
        clone.promoted_node_max = parse_score(
            meta.get("promoted-node-max", meta.get("master-node-max")), 1)
    return clone, instances


def history_owner(cluster: Cluster, lrm_id: str, uname: str, running: bool) -> Resource | None:
    """The resource (or clone instance) a node's ``lrm_resource`` history belongs to."""
    direct = cluster.resource(lrm_id)
    if direct is not None and direct.clone is None:
        return direct
    base = lrm_id.split(":")[0]
    clone = next((c for c in cluster.clones.values() if c.base == base), None)
    if clone is None:
        return direct
    if clone.unique:
        return direct
    instances = [cluster.resource(i) for i in clone.instances]
    for inst in instances:
        if inst is not None and uname in inst.running:
            return inst
    if not running:
        return instances[0] if instances else None
    return next((i for i in instances if i is not None and not i.running), None)
