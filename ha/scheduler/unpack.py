"""Stage 1, unpack: nodes, cluster options, resources and their current state.

The current state of a resource on a node comes from its operation history
(``lrm_rsc_op``), replayed in call-id order as Pacemaker does: a successful start or
monitor means it runs there, a probe returning 7 (not running) or a successful stop
means it does not, 8 means it runs promoted, anything else is a failure.
"""

from __future__ import annotations

import hashlib
import re

from lxml import etree

from ha.cib.schema_data import duration_ms, is_pcmk_true
from ha.scheduler.model import Cluster, Node, Op, Resource, parse_score

OCF_OK, OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED = 0, 7, 8


def _nvpairs(parent: etree._Element | None, tag: str) -> dict[str, str]:
    """name -> value of every nvpair in ``parent``'s ``tag`` sets (first set wins)."""
    out: dict[str, str] = {}
    if parent is None:
        return out
    for aset in parent.findall(tag):
        for nv in aset.findall("nvpair"):
            name = nv.get("name")
            if name is not None and name not in out:
                out[name] = nv.get("value", "")
    return out


def _truthy(node_state: etree._Element, attr: str, yes: str) -> bool:
    value = node_state.get(attr)
    if value is None:
        return False
    return value == yes or is_pcmk_true(value) or value.isdigit() and int(value) > 0


def unpack_options(root: etree._Element) -> dict[str, str]:
    return _nvpairs(root.find("configuration/crm_config"), "cluster_property_set")


def unpack_nodes(root: etree._Element) -> list[Node]:
    """Cluster nodes from ``nodes`` and their state from ``status/node_state``."""
    nodes: list[Node] = []
    for el in root.findall("configuration/nodes/node"):
        if el.get("type") in ("ping", "remote"):
            continue
        uname = el.get("uname") or el.get("id", "")
        node = Node(id=el.get("id", uname), uname=uname)
        node.attrs.update(_nvpairs(el, "instance_attributes"))
        nodes.append(node)
    nodes.sort(key=lambda n: natural_key(n.uname))
    by_id = {n.id: n for n in nodes}
    for ns in root.findall("status/node_state"):
        node = by_id.get(ns.get("id", "")) or next(
            (n for n in nodes if n.uname == ns.get("uname")), None)
        if node is None:
            continue
        in_ccm = _truthy(ns, "in_ccm", "true")
        crmd = _truthy(ns, "crmd", "online")
        node.online = in_ccm and crmd and ns.get("join") == "member"
        transient = ns.find("transient_attributes")
        node.attrs.update(_nvpairs(transient, "instance_attributes"))
    for node in nodes:
        node.standby = is_pcmk_true(node.attrs.get("standby"))
        node.maintenance = is_pcmk_true(node.attrs.get("maintenance"))
        node.attrs.setdefault("#uname", node.uname)
        node.attrs.setdefault("#id", node.id)
        node.attrs.setdefault("#kind", "cluster")
    return nodes


def natural_key(text: str) -> list[tuple[int, int | str]]:
    """Pacemaker's node-name order: case-insensitive, digit runs compared as numbers."""
    parts = re.findall(r"\d+|\D+", text.lower())
    return [(0, int(p)) if p.isdigit() else (1, p) for p in parts]


def _op(el: etree._Element) -> Op:
    interval = duration_ms(el.get("interval", "0")) or 0
    return Op(name=el.get("name", ""), interval_ms=interval, role=el.get("role"),
              params=_nvpairs(el, "instance_attributes"))


def unpack_resources(root: etree._Element, rsc_defaults: dict[str, str]) -> list[Resource]:
    """Top-level primitives, with meta attributes falling back to ``rsc_defaults``."""
    out: list[Resource] = []
    for el in root.findall("configuration/resources/primitive"):
        meta = dict(rsc_defaults)
        meta.update(_nvpairs(el, "meta_attributes"))
        r = Resource(id=el.get("id", ""), cls=el.get("class", ""),
                     provider=el.get("provider"), type=el.get("type", ""),
                     params=_nvpairs(el, "instance_attributes"), meta=meta,
                     ops=[_op(o) for o in el.findall("operations/op")])
        r.priority = parse_score(meta.get("priority"))
        r.stickiness = parse_score(meta.get("resource-stickiness"))
        r.managed = is_pcmk_true(meta.get("is-managed", "true"))
        r.target_role = meta.get("target-role", "Started")
        out.append(r)
    out.sort(key=lambda r: -r.priority)  # Pacemaker lists and assigns by priority
    return out


def params_digest(params: dict[str, str]) -> str:
    """Pacemaker's op-digest: md5 of the sorted parameters as one XML element."""
    body = "".join(f' {k}="{v}"' for k, v in sorted(params.items()))
    return hashlib.md5(f" <parameters{body}/>\n".encode()).hexdigest()


def _call_id(op: etree._Element) -> int:
    try:
        return int(op.get("call-id", "0"))
    except ValueError:
        return 0


def _replay(rsc: Resource, uname: str, ops: list[etree._Element]) -> None:
    """Replay one node's history of ``rsc`` to its current role there."""
    role: str | None = None
    last_start: etree._Element | None = None
    for op in sorted(ops, key=_call_id):
        task = op.get("operation", "")
        interval = int(op.get("interval", "0") or 0)
        rc = int(op.get("rc-code", "0") or 0)
        status = op.get("op-status", "0")
        if status == "-1":  # pending: it may be running already
            if task in ("start", "migrate_from", "promote", "demote"):
                role = "Started"
            continue
        if task == "stop":
            role = None if rc == OCF_OK else "Started"
            if rc != OCF_OK:
                rsc.failed[uname] = True
        elif rc == OCF_NOT_RUNNING and task == "monitor":
            role = None
        elif rc == OCF_RUNNING_PROMOTED and task in ("monitor", "promote"):
            role = "Promoted"
        elif rc == OCF_OK and status == "0":
            if task in ("start", "migrate_from"):
                role, last_start = "Started", op
            elif task == "promote":
                role = "Promoted"
            elif task == "demote":
                role = "Started"
            elif task == "monitor" and (interval == 0 or role is None):
                role = role or "Started"
        else:
            role = "Started" if task != "monitor" or interval else role or "Started"
            rsc.failed[uname] = True
    if role is not None:
        rsc.running[uname] = role
        if last_start is not None and last_start.get("op-digest"):
            params = dict(rsc.params)
            for op_cfg in rsc.ops:
                if op_cfg.name == "start" and op_cfg.interval_ms == 0:
                    params.update(op_cfg.params)
            if params_digest(params) != last_start.get("op-digest"):
                rsc.changed_on.add(uname)


def unpack_status(root: etree._Element, cluster: Cluster) -> None:
    """Current state of every resource on every node, from the operation history."""
    by_id = {n.id: n for n in cluster.nodes}
    for ns in root.findall("status/node_state"):
        node = by_id.get(ns.get("id", "")) or cluster.node(ns.get("uname", ""))
        if node is None:
            continue
        for lr in ns.findall("lrm/lrm_resources/lrm_resource"):
            rsc = cluster.resource(lr.get("id", ""))
            if rsc is None:
                continue
            ops = lr.findall("lrm_rsc_op")
            if ops:
                rsc.known_on.add(node.uname)
            _replay(rsc, node.uname, ops)


def unpack(root: etree._Element) -> Cluster:
    options = unpack_options(root)
    rsc_defaults = _nvpairs(root.find("configuration/rsc_defaults"), "meta_attributes")
    if "resource-stickiness" not in rsc_defaults and "default-resource-stickiness" in options:
        rsc_defaults["resource-stickiness"] = options["default-resource-stickiness"]
    cluster = Cluster(nodes=unpack_nodes(root), resources=unpack_resources(root, rsc_defaults),
                      options=options, rsc_defaults=rsc_defaults)
    unpack_status(root, cluster)
    return cluster
