"""crm_simulate's text: the cluster status, allocation scores, Transition Summary.

Summary lines are ``  * VERB(8)   RESOURCE(w)   ( DETAILS(d) )  due to REASON``. As in
crm_simulate, the resource column starts 5 wide and, whenever a longer name comes,
grows to that name's length plus two; the details column is as wide as the widest
details; both are settled over all lines before any is printed.
"""

from __future__ import annotations

from ha.scheduler.execute import SimulatedRun
from ha.scheduler.model import Change, Cluster, Resource, Transition, score_text
from ha.scheduler.unpack import natural_key


def node_lines(cluster: Cluster) -> list[str]:
    lines: list[str] = []
    online: list[str] = []
    offline: list[str] = []
    for node in cluster.nodes:
        active = any(node.uname in r.running for r in cluster.resources)
        if node.unclean:
            state = "online" if node.online else "offline"
            lines.append(f"    * Node {node.uname}: UNCLEAN ({state})")
        elif node.pending:
            lines.append(f"    * Node {node.uname}: pending")
        elif node.online and node.standby:
            extra = " (with active resources)" if active else ""
            lines.append(f"    * Node {node.uname}: standby{extra}")
        elif node.online and node.maintenance:
            lines.append(f"    * Node {node.uname}: maintenance")
        elif node.online:
            online.append(node.uname)
        else:
            offline.append(node.uname)
    if online:
        lines.append(f"    * Online: [ {' '.join(online)} ]")
    if offline:
        lines.append(f"    * OFFLINE: [ {' '.join(offline)} ]")
    return lines


def resource_line(rsc: Resource, indent: str = "    ", name: str | None = None) -> str:
    nodes = list(rsc.running)
    if not nodes:
        state = "Stopped"
    elif len(nodes) == 1:
        role = rsc.running[nodes[0]]
        failed = "FAILED Promoted" if role == "Promoted" else "FAILED"
        state = f"{failed if rsc.failed.get(nodes[0]) else rsc.role} {nodes[0]}"
    else:
        state = f"{rsc.role} [ {' '.join(nodes)} ]"
    if rsc.orphan:
        state = f"ORPHANED {state}"
    flags = []
    if rsc.target_role.lower() == "stopped":
        flags.append("disabled")
    if not rsc.managed:
        flags.append("unmanaged")
    if rsc.blocked:
        flags.append("blocked")
    suffix = f" ({', '.join(flags)})" if flags else ""
    return f"{indent}* {name or rsc.id}\t({rsc.agent}):\t {state}{suffix}"


def clone_lines(cluster: Cluster, cid: str) -> list[str]:
    """A clone as crm_mon shows it: unique instances one by one, anonymous ones as node
    lists by role."""
    clone = cluster.clones[cid]
    instances = [r for i in clone.instances if (r := cluster.resource(i))]
    disabled = bool(instances) and instances[0].target_role.lower() == "stopped"
    unmanaged = bool(instances) and not any(r.managed for r in instances)
    flags = [f for f, on in (("promotable", clone.promotable), ("unique", clone.unique),
                             ("unmanaged", unmanaged), ("disabled", disabled)) if on]
    head = f"    * Clone Set: {cid} [{clone.group or clone.base}]" \
        + (f" ({', '.join(flags)})" if flags else "") + ":"
    if clone.unique and clone.group:  # each instance a group of its members' instances
        lines = [head]
        for first in instances:
            n = first.id.rsplit(":", 1)[-1]
            lines.append(f"      * Resource Group: {clone.group}:{n}:")
            lines += [resource_line(m, "        ") for mid in clone.members
                      if (m := cluster.resource(f"{mid}:{n}")) is not None]
        return lines
    if clone.unique:
        return [head, *(resource_line(r, "      ") for r in instances)]
    by_role: dict[str, list[str]] = {}
    lines = [head]
    running: set[str] = set()
    for r in instances:
        running.update(r.running)
        unmanaged = r.meta.get("is-managed", "true").lower() in ("false", "no", "0", "off")
        if len(r.running) == 1 and (any(r.failed.values()) or unmanaged or r.blocked):
            # an active failed or unmanaged instance is shown by itself
            lines.append(resource_line(r, "      ", r.id.rsplit(":", 1)[0]))
            continue
        for node, role in r.running.items():
            state = "FAILED" if r.failed.get(node) else role
            by_role.setdefault(state, []).append(node)
    target = instances[0].target_role.lower() if instances else ""
    for role in ("Promoted", "Unpromoted", "Started", "FAILED"):
        if role in by_role:
            label = f"{role} (target-role)" if role == "Unpromoted" and target in (
                "unpromoted", "slave") else role
            nodes = sorted(by_role[role], key=natural_key)
            lines.append(f"      * {label}: [ {' '.join(nodes)} ]")
    # inactive instances: listed by the nodes the clone may run on (all, unless the
    # cluster is opt-in; then where it was probed) that run none
    active = sum(len(r.running) > 0 for r in instances)
    symmetric = cluster.options.get("symmetric-cluster", "true").lower() in (
        "true", "yes", "on", "1", "y")
    candidates = [n.uname for n in cluster.nodes] if symmetric else sorted(
        {u for r in instances for u in r.known_on}, key=natural_key)
    stopped = [u for u in candidates if u not in running]
    if stopped and len(instances) > active:
        lines.append(f"      * Stopped{' (disabled)' if disabled else ''}: [ {' '.join(stopped)} ]")
    return lines


def status_lines(cluster: Cluster) -> list[str]:
    lines = ["Current cluster status:", "  * Node List:", *node_lines(cluster), "",
             "  * Full List of Resources:"]
    shown: set[str] = set()
    for rsc in cluster.resources:
        if rsc.clone is not None:
            if rsc.clone not in shown:
                shown.add(rsc.clone)
                lines += clone_lines(cluster, rsc.clone)
        elif rsc.group is None:
            lines.append(resource_line(rsc))
        elif rsc.group not in shown:
            shown.add(rsc.group)
            lines.append(f"    * Resource Group: {rsc.group}:")
            for member in cluster.members(rsc.group):
                m = cluster.resource(member)
                assert m is not None
                lines.append(resource_line(m, "      "))
    if not cluster.resources:
        lines.append("    * No resources")
    return lines


def summary_lines(changes: list[Change]) -> list[str]:
    rsc_width, detail_width = 5, 5
    fences = [f"  * Fence ({c.details}) {c.resource} '{c.reason}'"
              for c in changes if c.verb == "Fence"]
    changes = [c for c in changes if c.verb != "Fence"]
    for c in changes:
        if len(c.resource) > rsc_width:
            rsc_width = len(c.resource) + 2
        detail_width = max(detail_width, len(c.details))
    out = fences
    for c in changes:
        reason = f"  due to {c.reason}" if c.reason else ""
        if c.reason == "(blocked)":  # blocked, for no reason of its own
            reason = "  blocked"
        out.append(f"  * {c.verb:<8}   {c.resource:<{rsc_width}}   "
                   f"( {c.details:>{detail_width}} ){reason}")
    return out


def score_lines(transition: Transition) -> list[str]:
    return [f"pcmk__primitive_assign: {rid} allocation score on {node}: {score_text(score)}"
            for rid, node, score in transition.scores]


def disabled_line(cluster: Cluster) -> list[str]:
    """crm_simulate's preface when some resources are disabled (target-role Stopped)."""
    disabled = sum(r.target_role.lower() == "stopped" for r in cluster.resources)
    if not disabled:
        return []
    return [f"{disabled} of {len(cluster.resources)} resource instances DISABLED and 0 "
            "BLOCKED from further action due to failure", ""]


def render(transition: Transition, *, show_scores: bool = False,
           run: SimulatedRun | None = None) -> str:
    """crm_simulate's report; with ``run`` (``-S``) also the executed actions and the
    revised cluster status."""
    lines = disabled_line(transition.cluster) + status_lines(transition.cluster) + [""]
    if show_scores:
        lines += ["Allocation scores:", *score_lines(transition), ""]
    lines += ["Transition Summary:", *summary_lines(transition.changes)]
    if run is not None:
        lines += ["", "Executing Cluster Transition:", *(f"  * {ln}" for ln in run.lines)]
        if run.stuck:
            lines += ["", "Actions that could not run (an ordering cycle):",
                      *(f"  * {a.label}" for a in run.stuck)]
        revised = status_lines(run.revised)
        lines += ["", "Revised Cluster Status:", *revised[1:]]
    return "\n".join(lines) + "\n"
