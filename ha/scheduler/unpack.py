"""Stage 1, unpack: cluster options, nodes, resources (primitives, groups, clones,
templates, tags), then their current state (``status.py``, ``history.py``).

Nodes are kept in Pacemaker's order (natural order of their names); whether each is
online, pending or unclean is judged from its ``node_state`` by ``nodestate``. Meta
attributes fall back to the group's or clone's, then to ``rsc_defaults``.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime

from lxml import etree

from ha.cib.schema_data import duration_ms, is_pcmk_true
from ha.scheduler.clones import make_clone
from ha.scheduler.containers import link_containers
from ha.scheduler.model import Clone, Cluster, Node, Op, Resource, parse_score
from ha.scheduler.nodestate import fence_node, has_fencing_device, judge_node_state
from ha.scheduler.promotion_scores import mark_unpromoted
from ha.scheduler.rules import attribute_sets
from ha.scheduler.shutdownlock import apply_shutdown_locks
from ha.scheduler.status import unpack_status
from ha.scheduler.unfencing import unfencing_enabled
from ha.scheduler.utilization import amount


def _nvpairs(parent: etree._Element | None, tag: str, now: datetime | None = None,
             first: str | None = None) -> dict[str, str]:
    """name -> value of the nvpairs in ``parent``'s ``tag`` sets, by score and rules
    (``rules.attribute_sets``)."""
    return attribute_sets(parent, tag, now, first)


def quorate(root: etree._Element) -> bool:
    """Whether the partition this CIB was written in had quorum (``have-quorum``)."""
    return root.get("have-quorum", "true").lower() in ("1", "true", "yes", "on", "y")


def no_quorum_policy(root: etree._Element, options: dict[str, str], stonith: bool) -> str:
    """``no-quorum-policy`` as it applies: ``suicide`` only with stonith, and only once
    the cluster has had quorum (the CIB's ``no-quorum-panic``); anything else
    unknown is ``stop``."""
    policy = options.get("no-quorum-policy", "stop").lower()
    if policy == "suicide":
        panic = root.get("no-quorum-panic", "0")
        if stonith and ((panic.isdigit() and int(panic) != 0) or quorate(root)):
            return policy
        return "stop"
    return policy if policy in ("ignore", "freeze", "demote") else "stop"


def unpack_options(root: etree._Element, now: datetime | None = None) -> dict[str, str]:
    return _nvpairs(root.find("configuration/crm_config"), "cluster_property_set", now,
                    "cib-bootstrap-options")


def unpack_nodes(root: etree._Element, startup_fencing: bool = True,
                 now: datetime | None = None) -> list[Node]:
    """Cluster nodes from ``nodes``, in name order; until its ``node_state`` is seen, a
    node is unclean when ``startup_fencing``."""
    nodes: list[Node] = []
    for el in root.findall("configuration/nodes/node"):
        if el.get("type") in ("ping", "remote"):
            continue
        uname = el.get("uname") or el.get("id") or ""
        node = Node(id=el.get("id") or uname, uname=uname, unclean=startup_fencing,
                    unseen=True)
        node.attrs.update(_nvpairs(el, "instance_attributes", now))
        node.capacity = {k: amount(v) for k, v in _nvpairs(el, "utilization", now).items()}
        nodes.append(node)
    nodes.sort(key=lambda n: natural_key(n.uname))
    return nodes


def unpack_node_states(root: etree._Element, cluster: Cluster) -> None:
    """Each node's transient attributes and state from ``status/node_state``
    (``nodestate``), then its standby, shutdown and maintenance attributes."""
    nodes = cluster.nodes
    by_id = {n.id: n for n in nodes}
    for ns in root.findall("status/node_state"):
        node = by_id.get(ns.get("id", "")) or next(
            (n for n in nodes if n.uname == ns.get("uname")), None)
        if node is None:
            continue
        node.attrs.update(_nvpairs(ns.find("transient_attributes"), "instance_attributes",
                                   cluster.now))
        judge_node_state(cluster, node, ns, cluster.stonith_enabled)
        if not cluster.quorate and node.online and cluster.no_quorum_policy == "suicide":
            fence_node(cluster, node, "cluster does not have quorum")
    for node in nodes:
        if node.pending:
            node.standby = True
        node.standby = node.standby or is_pcmk_true(node.attrs.get("standby"))
        # a node asked to shut down takes no resources and gives its own away
        node.shutdown = node.attrs.get("shutdown", "0") not in ("0", "")
        node.maintenance = is_pcmk_true(node.attrs.get("maintenance"))
        node.attrs.setdefault("#uname", node.uname)
        node.attrs.setdefault("#id", node.id)
        node.attrs.setdefault("#kind", "cluster")
        node.attrs.setdefault("#is_dc", "true" if node.id == root.get("dc-uuid") else "false")


def natural_key(text: str) -> list[tuple[int, int | str]]:
    """Pacemaker's node-name order: case-insensitive, digit runs compared as numbers."""
    parts = re.findall(r"\d+|\D+", text.lower())
    return [(0, int(p)) if p.isdigit() else (1, p) for p in parts]


def _op(el: etree._Element, now: datetime | None) -> Op:
    interval = duration_ms(el.get("interval", "0")) or 0
    timeout = el.get("timeout")
    return Op(name=el.get("name", ""), interval_ms=interval, role=el.get("role"),
              on_fail=el.get("on-fail"), params=_nvpairs(el, "instance_attributes", now),
              timeout_ms=duration_ms(timeout) if timeout is not None else None)


def _primitive(el: etree._Element, meta: dict[str, str],
               templates: dict[str, etree._Element], now: datetime | None = None,
               inherited: dict[str, str] | None = None) -> Resource:
    """A primitive; one made from a ``template`` takes its agent, parameters, meta
    attributes and operations, its own overriding them. ``inherited`` are the
    instance attributes of the group or clone it is in (its own override them)."""
    tmpl = templates.get(el.get("template", ""))
    meta = dict(meta)
    params: dict[str, str] = dict(inherited or {})
    utilization: dict[str, str] = {}
    ops: dict[tuple[str, int], Op] = {}
    for source in (tmpl, el):
        if source is None:
            continue
        meta.update(_nvpairs(source, "meta_attributes", now))
        utilization.update(_nvpairs(source, "utilization", now))
        params.update(_nvpairs(source, "instance_attributes", now))
        for o in source.findall("operations/op"):
            op = _op(o, now)
            ops[(op.name, op.interval_ms)] = op
    base = tmpl if tmpl is not None else el
    r = Resource(id=el.get("id", ""), cls=el.get("class", base.get("class", "")),
                 provider=el.get("provider", base.get("provider")),
                 type=el.get("type", base.get("type", "")),
                 params=params, meta=meta, ops=list(ops.values()),
                 utilization={k: amount(v) for k, v in utilization.items()})
    _apply_meta(r)
    return r


def _apply_meta(r: Resource) -> None:
    """The settings a primitive takes from its meta attributes."""
    meta = r.meta
    r.priority = parse_score(meta.get("priority"))
    r.stickiness = parse_score(meta.get("resource-stickiness"))
    r.managed = (is_pcmk_true(meta.get("is-managed", "true"))
                 and not is_pcmk_true(meta.get("maintenance", "false")))
    r.target_role = meta.get("target-role", "Started")
    threshold = meta.get("migration-threshold")
    if threshold is not None:
        r.migration_threshold = parse_score(threshold)


def _agent_defaults(root: etree._Element, resources: list[Resource],
                    now: datetime | None) -> None:
    """``rsc_defaults`` sets whose rules name a resource agent (``rsc_expression``)
    apply to the primitives of that agent, beneath everything else they have."""
    defaults = root.find("configuration/rsc_defaults")
    if defaults is None or defaults.find(".//rsc_expression") is None:
        return
    general = _nvpairs(defaults, "meta_attributes", now)
    for r in resources:
        extra = attribute_sets(defaults, "meta_attributes", now, agent=(r.cls, r.provider, r.type))
        added = {k: v for k, v in extra.items() if k not in general and k not in r.meta}
        if added:
            r.meta.update(added)
            _apply_meta(r)


def unpack_resources(root: etree._Element, rsc_defaults: dict[str, str], node_count: int,
                     now: datetime | None = None) -> tuple[list[Resource], dict[str, list[str]], dict[str, Clone]]:
    """Primitives, top-level, in groups and as clone instances (a group's or clone's
    meta attributes are its members' defaults), with meta attributes falling back to
    ``rsc_defaults``; and the groups and clones."""
    out: list[Resource] = []
    groups: dict[str, list[str]] = {}
    clones: dict[str, Clone] = {}
    templates = {t.get("id", ""): t for t in root.findall("configuration/resources/template")}
    top_priority: dict[str, int] = {}
    for el in root.findall("configuration/resources/*"):
        if el.tag != "primitive":
            top_meta = dict(rsc_defaults)
            top_meta.update(_nvpairs(el, "meta_attributes", now))
            top_priority[el.get("id", "")] = parse_score(top_meta.get("priority"))
        if el.tag == "primitive":
            out.append(_primitive(el, rsc_defaults, templates, now))
        elif el.tag == "group":
            meta = dict(rsc_defaults)
            meta.update(_nvpairs(el, "meta_attributes", now))
            gid = el.get("id", "")
            groups[gid] = []
            for child in el.findall("primitive"):
                member = _primitive(child, meta, templates, now,
                                    _nvpairs(el, "instance_attributes", now))
                member.group = gid
                groups[gid].append(member.id)
                out.append(member)
        elif el.tag in ("clone", "master") and el.find("primitive") is not None:
            meta = dict(rsc_defaults)
            meta.update(_nvpairs(el, "meta_attributes", now))
            base = _primitive(el.find("primitive"), meta, templates, now,  # type: ignore[arg-type]
                              _nvpairs(el, "instance_attributes", now))
            clone, instances, _ = make_clone(el, meta, base, node_count, copy.deepcopy)
            clones[clone.id] = clone
            out.extend(instances)
        elif el.tag in ("clone", "master") and (inner := el.find("group")) is not None:
            meta = dict(rsc_defaults)
            meta.update(_nvpairs(el, "meta_attributes", now))
            meta.update(_nvpairs(inner, "meta_attributes", now))
            inherited = _nvpairs(el, "instance_attributes", now)
            inherited.update(_nvpairs(inner, "instance_attributes", now))
            members = [_primitive(p, meta, templates, now, inherited)
                       for p in inner.findall("primitive")]
            if not members:
                continue
            clone, instances, inst_groups = make_clone(
                el, meta, members[0], node_count, copy.deepcopy, inner.get("id", ""), members)
            clones[clone.id] = clone
            groups.update(inst_groups)
            out.extend(instances)
    for r in out:
        top = r.clone or r.group
        r.top_priority = r.priority if top is None else top_priority.get(top, 0)
    out.sort(key=lambda r: -r.top_priority)  # Pacemaker lists and assigns by priority
    return out, groups, clones


def _feature_set(text: str | None) -> tuple[int, ...]:
    """A CIB's ``crm_feature_set`` as numbers (none: older than any)."""
    try:
        return tuple(int(p) for p in (text or "").split("."))
    except ValueError:
        return ()


def unpack(root: etree._Element, now: datetime | None = None, *,
           sanitized: bool = True) -> Cluster:
    """Everything the scheduler needs from the CIB, attribute-set rules judged at ``now``
    (``sanitized``: secrets may be masked in it, see ``schedule``)."""
    options = unpack_options(root, now)
    rsc_defaults = _nvpairs(root.find("configuration/rsc_defaults"), "meta_attributes", now)
    if "resource-stickiness" not in rsc_defaults and "default-resource-stickiness" in options:
        rsc_defaults["resource-stickiness"] = options["default-resource-stickiness"]
    stonith = is_pcmk_true(options.get("stonith-enabled", "true"))
    nodes = unpack_nodes(root, stonith and is_pcmk_true(options.get("startup-fencing", "true")),
                         now)
    legacy = _feature_set(root.get("crm_feature_set")) < (3, 0, 13)
    for node in nodes:
        node.legacy_fail_names = legacy
    resources, groups, clones = unpack_resources(root, rsc_defaults, len(nodes), now)
    _agent_defaults(root, resources, now)
    cluster = Cluster(nodes=nodes, resources=resources, options=options,
                      rsc_defaults=rsc_defaults, groups=groups, clones=clones,
                      op_defaults=_nvpairs(root.find("configuration/op_defaults"),
                                           "meta_attributes", now), now=now,
                      stonith_enabled=stonith, quorate=quorate(root),
                      fencing_device=has_fencing_device(root, options),
                      unfencing=unfencing_enabled(root), secrets_masked=sanitized,
                      no_quorum_policy=no_quorum_policy(root, options, stonith))
    unpack_node_states(root, cluster)
    for t in root.findall("configuration/resources/template"):
        cluster.templates[t.get("id", "")] = [
            p.get("id", "") for p in root.iterfind("configuration/resources//primitive")
            if p.get("template") == t.get("id")]
    for tag in root.findall("configuration/tags/tag"):  # a tag names several resources
        cluster.templates[tag.get("id", "")] = [
            m for ref in tag.iterfind("obj_ref") for m in cluster.members(ref.get("id", ""))]
    link_containers(cluster)
    unpack_status(root, cluster)
    mark_unpromoted(cluster)
    apply_shutdown_locks(cluster)
    if is_pcmk_true(options.get("stop-all-resources", "false")):  # run nothing anywhere
        for rsc in cluster.resources:
            rsc.banned |= {n.uname for n in cluster.nodes}
    if stonith and not cluster.fencing_device:  # nothing may be touched without fencing
        for rsc in cluster.resources:
            rsc.managed = False
    return cluster
