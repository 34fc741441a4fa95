"""The transition graph: the actions the controller will execute, with everything it
needs to run each one, and the orderings between them.

``build_graph(transition)`` turns the scheduler's actions and edges into
``GraphAction``s — resource operations (``rsc_op``) with their timeout, interval,
instance parameters and ``CRM_meta_*`` keys as the executor passes them to an agent,
fencing operations (``crm_event``, operation ``stonith``) for every node the
transition fences, and pseudo-events (``pseudo_event``) for stops that fencing
implies (a fenced node runs nothing afterwards, so its stops are not executed but
confirmed by the fencing). Each action's inputs are the actions that must complete
before it may start.

Two renderings: ``graph_xml`` writes Pacemaker's transition-graph XML (the
``transition_graph``/``synapse``/``action_set``/``inputs``/``trigger`` layout that
``crm_simulate -G`` writes and the controller's ``te_graph`` reads), and
``graph_dot`` the DOT that ``crm_simulate -D`` writes (bold green for actions that
will run, dashed for pseudo-events, edges from first to then). Synapse order and
action ids are ours, not Pacemaker's: the graph is equivalent, not byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ha.scheduler.model import Cluster, Transition

DEFAULT_TIMEOUT_MS = 20_000
OCF_NOT_RUNNING = 7


@dataclass
class GraphAction:
    """One action of the transition graph."""

    id: int
    kind: str  # "rsc_op", "crm_event" (fencing) or "pseudo_event"
    operation: str
    key: str  # Pacemaker's operation key: rsc_start_0, rsc_monitor_10000, …
    node: str | None = None
    node_uuid: str | None = None
    resource: str | None = None
    agent: tuple[str, str | None, str] | None = None  # class, provider, type
    interval_ms: int = 0
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    params: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    inputs: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The name crm_simulate gives it in DOT output and its run log."""
        return f"{self.key} {self.node}" if self.node and self.kind != "pseudo_event" \
            else self.key

    def attributes(self) -> dict[str, str]:
        """Instance parameters and ``CRM_meta_*`` keys, as the graph's <attributes>."""
        out = dict(self.params)
        out.update({f"CRM_meta_{k}": v for k, v in self.meta.items()})
        return out


@dataclass
class TransitionGraph:
    """Actions in id order; ``options`` are the graph's global attributes."""

    actions: list[GraphAction]
    options: dict[str, str]

    def action(self, aid: int) -> GraphAction:
        return next(a for a in self.actions if a.id == aid)

    @property
    def edges(self) -> list[tuple[int, int]]:
        return [(i, a.id) for a in self.actions for i in a.inputs]


def _timeout_ms(cluster: Cluster, rid: str, task: str, interval_ms: int) -> int:
    """The op's timeout: its own, else op_defaults', else 20 s (Pacemaker's default)."""
    from ha.cib.schema_data import duration_ms

    rsc = cluster.resource(rid)
    if rsc is not None:
        for op in rsc.ops:
            if op.name == task and op.interval_ms == interval_ms and op.timeout_ms:
                return op.timeout_ms
    default = cluster.op_defaults.get("timeout")
    parsed = duration_ms(default) if default else None
    return parsed or DEFAULT_TIMEOUT_MS


def _rsc_meta(cluster: Cluster, rid: str, node: str, node_uuid: str, task: str,
              interval_ms: int, timeout_ms: int) -> dict[str, str]:
    meta = {"on_node": node, "on_node_uuid": node_uuid, "timeout": str(timeout_ms)}
    if interval_ms:
        meta["interval"] = str(interval_ms)
        meta["name"] = task
    if task == "monitor" and interval_ms == 0:
        meta["op_target_rc"] = str(OCF_NOT_RUNNING)  # a probe expects "not running"
    rsc = cluster.resource(rid)
    clone = cluster.clones.get(rsc.clone or "") if rsc is not None else None
    if clone is not None:
        meta.update({"clone": rid.rsplit(":", 1)[-1], "clone_max": str(len(clone.instances)),
                     "clone_node_max": str(clone.node_max),
                     "globally_unique": "true" if clone.unique else "false",
                     "notify": rsc.meta.get("notify", "false") if rsc else "false"})
        if clone.promotable:
            meta["promoted_max"] = rsc.meta.get("promoted-max", "1") if rsc else "1"
    return meta


def build_graph(t: Transition) -> TransitionGraph:
    """The transition's actions with their parameters, fencing added, and inputs."""
    cl = t.cluster
    uuid = {n.uname: n.id for n in cl.nodes}
    fence_changes = [c for c in t.changes if c.verb == "Fence"]
    fenced = {c.resource for c in fence_changes if c.details != "on"}
    # what the summary shows "(blocked)" is not runnable: the blocked start or stop and
    # what would follow it on that resource (promote, recurring monitors) are left out
    blocked = {c.resource for c in t.changes
               if c.reason.endswith("(blocked)") or c.details.endswith("blocked")}
    # a resource the summary only stops (no quorum, a ticket, a ban) runs nowhere after
    # the transition: no start, promote or monitor of it, and a stop where it runs
    stops = {c.resource: c.details.split()[-1] for c in t.changes
             if c.verb == "Stop" and c.resource not in blocked and c.details}
    stops = {r: n for r, n in stops.items()
             if not any(c.resource == r and c.verb != "Stop" for c in t.changes)}
    actions: dict[int, GraphAction] = {}
    for a in t.actions:
        probe = a.task == "monitor" and a.interval_ms == 0
        if a.resource in blocked and not probe:
            continue
        if a.resource in stops and not probe and a.task not in ("stop", "demote"):
            continue
        rsc = cl.resource(a.resource)
        key = f"{a.resource}_{a.task}_{a.interval_ms}"
        if a.node in fenced and a.task in ("stop", "demote"):
            actions[a.id] = GraphAction(a.id, "pseudo_event", a.task, key, resource=a.resource)
            continue
        timeout = _timeout_ms(cl, a.resource, a.task, a.interval_ms)
        actions[a.id] = GraphAction(
            a.id, "rsc_op", a.task, key, a.node, uuid.get(a.node, a.node), a.resource,
            (rsc.cls, rsc.provider, rsc.type) if rsc is not None else None, a.interval_ms,
            timeout, dict(rsc.params) if rsc is not None else {},
            _rsc_meta(cl, a.resource, a.node, uuid.get(a.node, a.node), a.task,
                      a.interval_ms, timeout))
    # ids after every scheduled action's, so no edge of a left-out action finds them
    next_id = max((a.id for a in t.actions), default=-1) + 1
    for rid, node in stops.items():
        if any(a.resource == rid and a.operation == "stop" and a.node == node
               for a in actions.values()):
            continue
        rsc = cl.resource(rid)
        timeout = _timeout_ms(cl, rid, "stop", 0)
        actions[next_id] = GraphAction(
            next_id, "rsc_op", "stop", f"{rid}_stop_0", node, uuid.get(node, node), rid,
            (rsc.cls, rsc.provider, rsc.type) if rsc is not None else None, 0, timeout,
            dict(rsc.params) if rsc is not None else {},
            _rsc_meta(cl, rid, node, uuid.get(node, node), "stop", 0, timeout))
        next_id += 1
    for f, then in t.edges:
        if f in actions and then in actions and f not in actions[then].inputs:
            actions[then].inputs.append(f)
    stonith_timeout = cl.options.get("stonith-timeout", "60s")
    next_id = max([*actions, *(a.id for a in t.actions)], default=-1) + 1
    for c in fence_changes:
        fence = GraphAction(next_id, "crm_event", "stonith", f"stonith-{c.resource}-{c.details}",
                            c.resource, uuid.get(c.resource, c.resource),
                            meta={"on_node": c.resource,
                                  "on_node_uuid": uuid.get(c.resource, c.resource),
                                  "stonith_action": c.details})
        next_id += 1
        if c.details == "on":  # unfencing: what probes or starts there waits for it
            for ga in actions.values():
                if ga.kind == "rsc_op" and ga.node == c.resource \
                        and ga.operation in ("start", "monitor") and not ga.interval_ms:
                    ga.inputs.append(fence.id)
            actions[fence.id] = fence
            continue
        # nothing that ran there is trusted stopped, and nothing is recovered, until
        # the node is fenced
        for ga in actions.values():
            if ga.kind == "pseudo_event" or (ga.operation in ("start", "promote")
                                             and ga.kind == "rsc_op"):
                ga.inputs.append(fence.id)
        actions[fence.id] = fence
    options = {"cluster-delay": cl.options.get("cluster-delay", "60s"),
               "stonith-timeout": stonith_timeout,
               "failed-stop-offset": "INFINITY", "failed-start-offset": "INFINITY",
               "transition_id": "0"}
    return TransitionGraph(sorted(actions.values(), key=lambda a: a.id), options)


def _event(parent: etree._Element, a: GraphAction, full: bool) -> etree._Element:
    el = etree.SubElement(parent, a.kind, id=str(a.id), operation=a.operation,
                          operation_key=a.key)
    if a.node is not None and a.kind != "pseudo_event":
        el.set("on_node", a.node)
        el.set("on_node_uuid", a.node_uuid or a.node)
    if not full:
        return el
    if a.agent is not None:
        cls, provider, rtype = a.agent
        rid = a.resource or ""
        # an anonymous clone's instances share the primitive's id; long-id names one
        prim = etree.SubElement(el, "primitive", id=rid.split(":")[0] if ":" in rid else rid)
        if ":" in rid:
            prim.set("long-id", rid)
        prim.set("class", cls)
        if provider:
            prim.set("provider", provider)
        prim.set("type", rtype)
    attrs = a.attributes()
    if a.kind == "rsc_op" or a.kind == "pseudo_event":
        attrs.setdefault("CRM_meta_timeout", str(a.timeout_ms))
    etree.SubElement(el, "attributes", {k: attrs[k] for k in sorted(attrs)})
    return el


def graph_xml(g: TransitionGraph) -> str:
    """Pacemaker's transition-graph XML: one synapse per action with its triggers."""
    root = etree.Element("transition_graph", g.options)
    by_id = {a.id: a for a in g.actions}
    for n, a in enumerate(g.actions):
        synapse = etree.SubElement(root, "synapse", id=str(n))
        _event(etree.SubElement(synapse, "action_set"), a, full=True)
        inputs = etree.SubElement(synapse, "inputs")
        for i in a.inputs:
            _event(etree.SubElement(inputs, "trigger"), by_id[i], full=False)
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def graph_dot(g: TransitionGraph) -> str:
    """The graph in DOT, as ``crm_simulate -D`` draws it."""
    lines = [' digraph "g" {']
    for a in g.actions:
        style = 'style=dashed color="blue" fontcolor="orange"' if a.kind == "pseudo_event" \
            else 'style=bold color="green" fontcolor="black"'
        lines.append(f'"{a.label}" [ {style}]')
    by_id = {a.id: a for a in g.actions}
    for a in g.actions:
        for i in a.inputs:
            lines.append(f'"{by_id[i].label}" -> "{a.label}" [ style = bold]')
    lines.append("}")
    return "\n".join(lines) + "\n"
