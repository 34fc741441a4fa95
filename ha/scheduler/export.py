"""The transition as data for machines: ``ha simulate --output-as=json``."""

from __future__ import annotations

from typing import Any

from ha.scheduler.actions import next_role
from ha.scheduler.graph import TransitionGraph
from ha.scheduler.model import Transition, score_text


def transition_dict(t: Transition) -> dict[str, Any]:
    """Nodes, resources, allocation scores, summary, actions and ordering edges."""
    cl = t.cluster
    return {
        "nodes": [{"name": n.uname, "id": n.id, "online": n.online, "standby": n.standby,
                   "maintenance": n.maintenance, "unclean": n.unclean} for n in cl.nodes],
        "resources": [{"id": r.id, "agent": r.agent, "role": r.role,
                       "roles": dict(r.running), "next_role": next_role(r),
                       "running_on": list(r.running), "failed_on": sorted(r.failed),
                       "assigned": r.assigned, "managed": r.managed,
                       "target_role": r.target_role} for r in cl.resources],
        "scores": [{"resource": rid, "node": node, "score": score_text(s)}
                   for rid, node, s in t.scores],
        "summary": [{"verb": c.verb, "resource": c.resource, "details": c.details,
                     "reason": c.reason} for c in t.changes],
        "actions": [{"id": a.id, "resource": a.resource, "task": a.task, "node": a.node,
                     "interval_ms": a.interval_ms} for a in t.actions],
        "edges": [{"first": f, "then": n} for f, n in t.edges],
    }


def graph_dict(g: TransitionGraph) -> dict[str, Any]:
    """The transition graph for a controller: every action with what it needs to run
    it (node, operation, interval, timeout, parameters, meta) and its inputs."""
    return {
        "options": g.options,
        "actions": [{"id": a.id, "kind": a.kind, "operation": a.operation, "key": a.key,
                     "node": a.node, "resource": a.resource, "interval_ms": a.interval_ms,
                     "timeout_ms": a.timeout_ms, "params": a.params, "meta": a.meta,
                     "inputs": a.inputs} for a in g.actions],
    }
