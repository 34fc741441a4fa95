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
               node_count: int, copy: object, group: str = "",
               members: list[Resource] | None = None
               ) -> tuple[Clone, list[Resource], dict[str, list[str]]]:
    """The clone ``el`` of primitive ``base`` and its instances (copies of ``base``);
    for a cloned group (``group`` with ``members``, ``base`` the first), each instance
    is a copy of every member, and the instance groups are returned too."""
    clone_max, node_max = clone_sizes(meta, node_count)
    unique = is_pcmk_true(meta.get("globally-unique", "false"))
    promotable = is_pcmk_true(meta.get("promotable", "false")) or el.tag == "master"
    members = members or [base]
    instances: list[Resource] = []
    groups: dict[str, list[str]] = {}
    for member in members:
        if "resource-stickiness" not in member.meta:
            member.stickiness = 1  # clone instances stay where they run unless told otherwise
    for i in range(max(clone_max, 0)):
        for member in members:
            inst = copy(member)  # type: ignore[operator]
            inst.id = f"{member.id}:{i}"
            inst.clone = el.get("id", "")
            inst.history_id = inst.id if unique else member.id
            if group:
                inst.group = f"{group}:{i}"
                groups.setdefault(inst.group, []).append(inst.id)
            instances.append(inst)
    firsts = [r.id for r in instances if not group or r.id == groups[r.group or ""][0]]
    clone = Clone(el.get("id", ""), base.id, firsts, node_max, unique,
                  promotable, clone_min=max(parse_score(meta.get("clone-min"), 0), 0),
                  group=group, members=[m.id for m in members] if group else [])
    if promotable:
        clone.promoted_max = parse_score(meta.get("promoted-max", meta.get("master-max")), 1)
        clone.promoted_node_max = parse_score(
            meta.get("promoted-node-max", meta.get("master-node-max")), 1)
    return clone, instances, groups


def instance_units(cluster: Cluster, clone: Clone) -> list[list[Resource]]:
    """A clone's instances, each as its primitives (one, or a cloned group's members)."""
    if not clone.group:
        return [[r] for i in clone.instances if (r := cluster.resource(i))]
    return [[r for m in cluster.groups.get(f"{clone.group}:{n}", []) if (r := cluster.resource(m))]
            for n in range(len(clone.instances))]


def siblings(cluster: Cluster, rsc: Resource) -> list[Resource]:
    """The copies of ``rsc``'s primitive in every instance of its anonymous clone."""
    clone = cluster.clones.get(rsc.clone or "")
    if clone is None or clone.unique:
        return [rsc]
    base = rsc.id.rsplit(":", 1)[0]
    return [r for unit in instance_units(cluster, clone) for r in unit
            if r.id.rsplit(":", 1)[0] == base]


def history_owner(cluster: Cluster, lrm_id: str, uname: str, running: bool) -> Resource | None:
    """The resource (or clone instance) a node's ``lrm_resource`` history belongs to."""
    direct = cluster.resource(lrm_id)
    if direct is not None and direct.clone is None:
        return direct
    base = lrm_id.split(":")[0]
    clone = next((c for c in cluster.clones.values()
                  if c.base == base or base in c.members), None)
    if clone is None:
        return direct
    if clone.unique:
        return direct
    # an instance already active on the node takes it, else the first one inactive
    units = instance_units(cluster, clone)
    chosen = next((u for u in units if any(uname in r.running for r in u)), None)
    if chosen is None and not running:
        chosen = units[0] if units else None
    if chosen is None:
        chosen = next((u for u in units if not any(r.running for r in u)), None)
    if chosen is None:
        return None
    return next((r for r in chosen if r.id.rsplit(":", 1)[0] == base), None)
