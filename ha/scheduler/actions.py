"""Stages 4 and 5, create actions and apply orderings; and the Transition Summary.

For each resource, compared with where it runs now and where it was assigned:
start, stop, move (stop here, start there), restart (its definition changed, or it
is active on several nodes), recover (it failed); recurring monitors on the node it
will run on; probes (``monitor`` with interval 0) wherever its state is unknown.
"""

from __future__ import annotations

from ha.scheduler.blocked import (
    BLOCKED,
    Situation,
    active_nodes,
    probe_blocked,
    quorum_reason,
    stop_reason,
)
from ha.scheduler.model import Action, Change, Cluster, Resource, canonical_role

CLEAR = Situation()

_ROLED = ("Unpromoted", "Promoted")


def role_details(role: str, next_role: str, origin: str | None, dest: str | None) -> str:
    """crm_simulate's details column: roles are named when the resource has (or
    gets) a role beyond Started."""
    need = role in _ROLED or next_role == "Promoted"
    if origin is None:
        return f"{role} -> {next_role} {dest}" if need else dest or ""
    if dest is None:
        return f"{role} {origin}" if need else origin
    same_role = role == next_role
    if origin == dest:
        if same_role:
            return f"{role} {origin}" if need else origin
        return f"{role} -> {next_role} {origin}"
    if same_role:
        return f"{origin} -> {dest} {role}" if need else f"{origin} -> {dest}"
    return f"{role} {origin} -> {next_role} {dest}"


def next_role(rsc: Resource) -> str:
    """The role ``rsc`` is to have: a promotable instance's chosen role; else Started
    where assigned (a promoted primitive staying put keeps its role)."""
    if rsc.assigned is None:
        return "Stopped"
    if rsc.next_role is not None:
        return rsc.next_role
    if rsc.assigned in rsc.running:
        return rsc.running[rsc.assigned] if rsc.role == "Promoted" else "Started"
    return "Started"


def _details(rsc: Resource, origin: str | None, dest: str | None) -> str:
    role = rsc.running.get(origin, rsc.role) if origin is not None else "Stopped"
    return role_details(role, next_role(rsc) if dest is not None else "Stopped", origin, dest)


def summarise(rsc: Resource, sit: Situation = CLEAR) -> list[Change]:
    """The Transition Summary lines for one resource, given what ``sit`` (nodes down,
    quorum) lets run (``blocked``)."""
    if not rsc.managed or rsc.blocked:
        return []
    current = active_nodes(rsc, sit)
    dest = rsc.assigned
    no_quorum = quorum_reason(rsc, sit)
    if no_quorum is not None and dest is not None:
        if not current:
            if next_role(rsc) == "Promoted":  # the promote, not the start, is listed
                return [Change("Promote", rsc.id, _details(rsc, None, dest), BLOCKED)]
            return [Change("Start", rsc.id, _details(rsc, None, dest), f"{no_quorum} (blocked)")]
        return [Change("Stop", rsc.id, _details(rsc, c, None),
                       stop_reason(no_quorum, c, sit, rsc.id)) for c in current]
    if rsc.unrunnable is not None:
        why = f"{rsc.unrunnable_verb} {rsc.unrunnable}".strip()
        if not current:  # a start it may not even try is not listed
            if dest is None or not why:
                return []
            return [Change("Start", rsc.id, dest, f"{why} (blocked)")]
        return [Change("Stop", rsc.id, _details(rsc, c, None), why) for c in current]
    if not current:
        if not dest:
            return []
        verb = "Promote" if next_role(rsc) == "Promoted" else "Start"
        if verb == "Promote" and rsc.promote_blocked is not None:
            return [Change(verb, rsc.id, _details(rsc, None, dest),
                           f"{rsc.promote_blocked} (blocked)")]
        return [Change(verb, rsc.id, _details(rsc, None, dest),
                       BLOCKED if probe_blocked(rsc, sit) else "")]
    if dest is None:
        return [Change("Stop", rsc.id, _details(rsc, c, None),
                       stop_reason("node availability", c, sit, rsc.id)) for c in current]
    if len(current) == 1 and dest not in current and current[0] in sit.down:
        # its start must wait for a stop that cannot run
        return [Change("Stop", rsc.id, _details(rsc, current[0], None), BLOCKED)]
    waits_for = sit.blocked_by(rsc.id)
    if len(current) == 1 and dest not in current and waits_for is not None:
        return [Change("Stop", rsc.id, _details(rsc, current[0], None),
                       f"unrunnable {waits_for} stop (blocked)")]
    if rsc.migrating and rsc.partial_migration is not None:  # only migrate_from is left
        return [Change("Migrate", rsc.id, _details(rsc, rsc.partial_migration[0], dest))]
    if len(current) > 1:  # multiple-active: stopped everywhere, started on dest
        failed = any(rsc.failed.get(c) and c not in rsc.failure_ignored for c in current)
        verb = "Recover" if failed else "Restart" if dest == current[0] else "Move"
        # a recovery is listed by its stop; with stop_unexpected, stops elsewhere say why
        why = ("being multiply active" if verb == "Recover"
               and rsc.meta.get("multiple-active") == "stop_unexpected" else "")
        return [Change(verb, rsc.id, _details(rsc, current[0], dest), why)]
    origin = current[0]
    failed = rsc.failed.get(origin, False) and origin not in rsc.failure_ignored
    if failed and rsc.on_fail.get(origin) == "demote":  # demoted, not recovered
        failed = False
        if origin == dest and rsc.running[origin] == next_role(rsc) == "Promoted":
            return [Change("Re-promote", rsc.id, _details(rsc, origin, dest))]
    if origin == dest and waits_for is not None and (
            failed or origin in rsc.restart_on or origin in rsc.changed_on
            or rsc.required is not None):
        # a restart whose stop waits for one that cannot run: it can only stop
        before = (rsc.required or "").removesuffix(" start")
        why = (f"required {before} stop" if rsc.required and before in sit.stuck
               else f"unrunnable {waits_for} stop")
        return [Change("Stop", rsc.id, _details(rsc, origin, None), f"{why} (blocked)")]
    if origin == dest:
        if failed:
            return [Change("Recover", rsc.id, _details(rsc, origin, dest))]
        if origin in rsc.restart_on:  # a filler failed: its container restarts
            return [Change("Restart", rsc.id, _details(rsc, origin, dest))]
        if origin in rsc.changed_on:
            return [Change("Restart", rsc.id, _details(rsc, origin, dest),
                           "resource definition change")]
        if rsc.required is not None:
            return [Change("Restart", rsc.id, _details(rsc, origin, dest),
                           f"required {rsc.required}")]
        if origin in rsc.reload_on:  # only reloadable parameters changed
            return [Change("Reload", rsc.id, _details(rsc, origin, dest))]
        role, target = rsc.running[origin], next_role(rsc)
        if role == target:
            return []
        if role == "Promoted":
            return [Change("Demote", rsc.id, _details(rsc, origin, dest))]
        if target == "Promoted":
            why = f"{rsc.promote_blocked} (blocked)" if rsc.promote_blocked else ""
            return [Change("Promote", rsc.id, _details(rsc, origin, dest), why)]
        return []
    if rsc.migrating:
        return [Change("Migrate", rsc.id, _details(rsc, origin, dest))]
    verb = "Recover" if failed else "Move"
    return [Change(verb, rsc.id, _details(rsc, origin, dest), rsc.move_reason)]


class ActionGraph:
    """Actions with ids in creation order, and ordering edges between them."""

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.edges: list[tuple[int, int]] = []
        self._edge_set: set[tuple[int, int]] = set()
        self._by_key: dict[tuple[str, str, str, int], Action] = {}
        #: (resource, task) -> its non-recurring actions, so lookups stay O(1)
        self._by_task: dict[tuple[str, str], list[Action]] = {}

    def add(self, rsc: str, task: str, node: str, interval_ms: int = 0) -> Action:
        key = (rsc, task, node, interval_ms)
        if key not in self._by_key:
            action = Action(len(self.actions), rsc, task, node, interval_ms)
            self.actions.append(action)
            self._by_key[key] = action
            if interval_ms == 0:
                self._by_task.setdefault((rsc, task), []).append(action)
        return self._by_key[key]

    def find(self, rsc: str, task: str) -> list[Action]:
        return list(self._by_task.get((rsc, task), ()))

    def order(self, first: Action, then: Action) -> None:
        edge = (first.id, then.id)
        if edge not in self._edge_set:
            self._edge_set.add(edge)
            self.edges.append(edge)


def _instance_number(cluster: Cluster, rsc: Resource) -> int | None:
    """Which instance of its clone ``rsc`` is (a cloned group's members share it);
    None for one beyond the clone's instances (an orphan)."""
    clone = cluster.clones[rsc.clone or ""]
    if clone.group and rsc.group:
        number = rsc.group.rsplit(":", 1)[1]
        return int(number) if number.isdigit() else None
    return clone.instances.index(rsc.id) if rsc.id in clone.instances else None


def _probes_for_clone(cluster: Cluster, rsc: Resource, uname: str) -> bool:
    """An anonymous clone is probed on a node through one instance: the one placed
    there, else its first instance (any instance would find the same history)."""
    clone = cluster.clones.get(rsc.clone or "")
    if clone is None or clone.unique:
        return True
    number = _instance_number(cluster, rsc)
    if number is None:
        return True
    placed = next((i for i, first in enumerate(clone.instances)
                   if (r := cluster.resource(first)) is not None and r.assigned == uname), 0)
    return number == placed


def create_actions(cluster: Cluster, order: list[Resource]) -> ActionGraph:
    graph = ActionGraph()
    # probes run on members only: not where the node is unclean or not yet joined
    online = [n.uname for n in cluster.nodes if n.online and not n.unclean and not n.pending]
    for rsc in order:
        probes = [graph.add(rsc.id, "monitor", u) for u in online
                  if u not in rsc.known_on and _probes_for_clone(cluster, rsc, u)]
        if not rsc.managed or rsc.blocked:
            continue
        dest = rsc.assigned
        if rsc.unrunnable is not None:
            dest = None  # it cannot start: where it runs, it only stops
        restart = any(c.verb in ("Restart", "Recover") for c in summarise(rsc))
        stops = [graph.add(rsc.id, "stop", u) for u in rsc.running
                 if u != dest or restart or len(rsc.running) > 1]
        if dest is None:
            role_changes(graph, rsc, False, None)  # a promoted instance is demoted first
            continue
        starting = dest not in rsc.running or bool(stops)
        if starting:
            start = graph.add(rsc.id, "start", dest)
            for s in stops + probes:
                graph.order(s, start)
        role_changes(graph, rsc, starting, dest)
        target = next_role(rsc)
        for op in rsc.ops:
            role = canonical_role(op.role)
            if op.name == "monitor" and op.interval_ms and (
                    role == target or (role is None and target != "Promoted")):
                mon = graph.add(rsc.id, "monitor", dest, op.interval_ms)
                for s in graph.find(rsc.id, "start") + graph.find(rsc.id, "promote") \
                        + graph.find(rsc.id, "demote"):
                    graph.order(s, mon)
    return graph


def role_changes(graph: ActionGraph, rsc: Resource, starting: bool, dest: str | None) -> None:
    """Demote where it is promoted and will not stay so (before it stops there);
    promote where it is to be promoted and is not (after it starts, and after any
    demote); a failure recovered by demoting (on-fail=demote) demotes and
    re-promotes in place."""
    target = next_role(rsc) if dest is not None else "Stopped"
    repromote = (dest is not None and rsc.running.get(dest) == "Promoted"
                 and rsc.failed.get(dest, False) and rsc.on_fail.get(dest) == "demote")
    demotes = []
    for uname, role in rsc.running.items():
        if role == "Promoted" and (uname != dest or starting or target != "Promoted"
                                   or repromote):
            demote = graph.add(rsc.id, "demote", uname)
            for stop in graph.find(rsc.id, "stop"):
                if stop.node == uname:
                    graph.order(demote, stop)
            demotes.append(demote)
    if dest is not None and target == "Promoted" and (
            starting or rsc.running.get(dest) != "Promoted" or repromote):
        promote = graph.add(rsc.id, "promote", dest)
        for before in graph.find(rsc.id, "start") + demotes:
            graph.order(before, promote)


def apply_orderings(cluster: Cluster, graph: ActionGraph) -> None:
    """rsc_order: ``first``'s action before ``then``'s (and the reverse for stops)."""
    inverse = {"start": "stop", "promote": "demote", "demote": "promote", "stop": "start"}
    for o in cluster.orderings:
        for f in graph.find(o.first, o.first_action):
            for t in graph.find(o.then, o.then_action):
                graph.order(f, t)
        if o.symmetrical and o.kind != "Serialize":
            for t in graph.find(o.then, inverse.get(o.then_action, o.then_action)):
                for f in graph.find(o.first, inverse.get(o.first_action, o.first_action)):
                    graph.order(t, f)
