"""Running a transition graph in simulation: ``ha simulate -S``, as ``crm_simulate -S``.

Every action succeeds. The graph is run as the controller runs one: pass over the
synapses in order and fire each action whose inputs have all completed; what fired
in one pass completes before the next pass (so all probes run, then the starts that
waited for them, as crm_simulate prints them). Passes repeat until nothing is left (an action whose inputs can never complete — a cycle —
is reported, never fired).

The revised cluster is the current one with the effects of what ran: a start (or
migrate_from) leaves the resource running there, a stop (or migrate_to) removes it,
promote and demote change its role, fencing takes the node offline with everything
that ran on it; a node shutting down is told to (``do_shutdown``) once its resources
have stopped, and is still shown online, as crm_simulate shows it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ha.scheduler.graph import GraphAction, TransitionGraph
from ha.scheduler.model import Cluster
from ha.scheduler.promotion_scores import mark_unpromoted


@dataclass
class SimulatedRun:
    """What a simulated run did: the actions in the order they ran, the log lines
    crm_simulate prints for them, actions that never became runnable, the result."""

    executed: list[GraphAction]
    lines: list[str]
    stuck: list[GraphAction]
    revised: Cluster


def _line(a: GraphAction, names: dict[str, str] | None = None) -> str:
    """crm_simulate's line for an action; a clone instance is named as its history
    names it (``names``: instance id -> that name), as the controller is told."""
    if a.kind == "crm_event":
        return f"Fencing {a.node} ({a.meta.get('stonith_action', 'reboot')})"
    if a.kind == "pseudo_event":
        return f"Pseudo action:   {a.key}"
    task = f"{a.operation}={a.interval_ms}" if a.interval_ms else a.operation
    name = (names or {}).get(a.resource or "", a.resource or "")
    return f"Resource action: {name:<15} {task} on {a.node}"


def order_of_execution(g: TransitionGraph) -> tuple[list[GraphAction], list[GraphAction]]:
    """(actions in the order a simulated controller fires them, actions never fired)."""
    done: set[int] = set()
    fired: list[GraphAction] = []
    pending = list(g.actions)
    progress = True
    while pending and progress:
        progress = False
        left: list[GraphAction] = []
        wave: list[GraphAction] = []
        for a in pending:
            (wave if all(i in done for i in a.inputs) else left).append(a)
        # what fired in this pass completes before the next pass looks again
        done.update(a.id for a in wave)
        fired += wave
        progress = bool(wave)
        pending = left
    return fired, pending


def _apply(cluster: Cluster, a: GraphAction) -> None:
    if a.kind == "crm_event" and a.meta.get("stonith_action") == "on":
        unfenced = cluster.node(a.node or "")  # unfencing: the node is let back in
        if unfenced is not None:
            unfenced.attrs["#node-unfenced"] = "1"
        return
    if a.kind == "crm_event":
        fenced = cluster.node(a.node or "")
        if fenced is not None:
            fenced.online = fenced.unclean = False
            fenced.unclean_reason = None
        for each in cluster.resources:
            each.running.pop(a.node or "", None)
            each.failed.pop(a.node or "", None)
        return
    rsc = cluster.resource(a.resource or "")
    if rsc is None or a.node is None or a.kind == "pseudo_event":
        return  # a pseudo-event changes nothing by itself
    node = a.node or ""
    if a.operation in ("start", "migrate_from"):
        rsc.running[node] = "Started"
        rsc.failed[node] = False
    elif a.operation in ("stop", "migrate_to"):
        rsc.running.pop(node, None)
        rsc.failed.pop(node, None)
    elif a.operation == "promote":
        rsc.running[node] = "Promoted"
        rsc.failed[node] = False
    elif a.operation == "demote":
        rsc.running[node] = "Started"
        if rsc.on_fail.get(node) == "demote":  # the failure's recovery is done
            rsc.failed[node] = False


def run_graph(cluster: Cluster, g: TransitionGraph) -> SimulatedRun:
    """Run ``g`` against a copy of ``cluster``; the copy is the revised status."""
    revised = copy.deepcopy(cluster)
    fired, stuck = order_of_execution(g)
    for a in fired:
        _apply(revised, a)
    mark_unpromoted(revised)  # a promotable clone's instance that started is Unpromoted
    # an instance bound to a history is named as that history names it
    names = {r.id: r.clone_name or r.history_id for r in cluster.resources
             if r.clone is not None and (r.clone_name or r.own_history)}
    lines = [_line(a, names) for a in fired]
    for node in revised.nodes:
        if node.shutdown and node.online:  # the controller then stops the node itself
            lines.append(f"Cluster action:  do_shutdown on {node.uname}")
    # resources no longer configured, once stopped, leave the status
    revised.resources = [r for r in revised.resources if not (r.orphan and not r.running)]
    return SimulatedRun(fired, lines, stuck, revised)
