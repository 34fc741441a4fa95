"""Clones: one primitive (or a group) run as several instances (``P:0``, ``P:1``, …).

An anonymous clone's history is recorded under the primitive's own id: each node
where it runs is given the instance already active there, else the lowest-numbered
instance not active anywhere, in the order the status section lists the nodes, so
the numbering matches Pacemaker's; history no instance can take (beyond clone-max)
gets an orphan instance, numbered after the rest, that is stopped. A unique clone's
history names the instance. A cloned group's instance ``i`` is the group
``GROUP:i`` of ``MEMBER:i``. Instances already running keep their node within their
fair share when no node scores better; the others are then placed one by one like
primitives, never more than ``clone-node-max`` on a node.
"""

from __future__ import annotations

import copy

from lxml import etree

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.model import Clone, Cluster, Resource, parse_score
from ha.scheduler.nodestate import requires_fencing


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
                  group=group, members=[m.id for m in members] if group else [],
                  proto=[copy(m) for m in members])  # type: ignore[operator]
    if promotable:
        clone.promoted_max = parse_score(meta.get("promoted-max", meta.get("master-max")), 1)
        clone.promoted_node_max = parse_score(
            meta.get("promoted-node-max", meta.get("master-node-max")), 1)
    return clone, instances, groups


def instance_units(cluster: Cluster, clone: Clone, orphans: bool = False
                   ) -> list[list[Resource]]:
    """A clone's instances, each as its primitives (one, or a cloned group's members);
    with ``orphans``, the instances made for surplus history too."""
    count = len(clone.instances) + (clone.orphans if orphans else 0)
    if not clone.group:
        return [[r] for n in range(count) if (r := cluster.resource(f"{clone.base}:{n}"))]
    return [[r for m in cluster.groups.get(f"{clone.group}:{n}", []) if (r := cluster.resource(m))]
            for n in range(count)]


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
    # an instance already active on the node takes it (unless this very history is
    # already active there: a second history is surplus), else the first instance
    # inactive everywhere, else a new orphan instance
    def member(unit: list[Resource]) -> Resource | None:
        return next((r for r in unit if r.id.rsplit(":", 1)[0] == base), None)

    chosen: Resource | None = None
    inactive: Resource | None = None
    surplus = False
    for unit in instance_units(cluster, clone, orphans=True):
        where = {n for r in unit for n in r.running}
        if uname in where:
            found = member(unit)
            if found is not None and found.running:
                surplus = True
            elif found is not None:
                chosen = found
                break
        elif not where and inactive is None and not any(r.blocked for r in unit):
            inactive = member(unit)
    if chosen is None and not surplus:
        chosen = inactive
    node = cluster.node(uname)
    if chosen is not None and node is not None and (not node.online or node.unclean) \
            and not requires_fencing(chosen, cluster.stonith_enabled) \
            and len(clone.instances) != len(cluster.nodes):
        # active on a node that is down, a resource not requiring fencing may run
        # elsewhere meanwhile: that history takes no valid instance number
        chosen = None
    return chosen if chosen is not None else member(_orphan_instance(cluster, clone))


def _orphan_instance(cluster: Cluster, clone: Clone) -> list[Resource]:
    """History no instance can take (more active than clone-max allows) gets an
    instance of its own, numbered after the others, that is to be stopped."""
    n = len(clone.instances) + clone.orphans
    clone.orphans += 1
    unit = []
    for proto in clone.proto:
        inst = copy.deepcopy(proto)
        inst.id, inst.clone, inst.orphan = f"{proto.id}:{n}", clone.id, True
        inst.history_id = proto.id
        if clone.group:
            inst.group = f"{clone.group}:{n}"
            cluster.groups.setdefault(inst.group, []).append(inst.id)
        unit.append(inst)
    siblings = [i for i, r in enumerate(cluster.resources) if r.clone == clone.id]
    for inst in unit:
        inst.top_priority = cluster.resources[siblings[0]].top_priority if siblings else 0
    after = max(siblings, default=-1)
    cluster.resources[after + 1:after + 1] = unit
    return unit
