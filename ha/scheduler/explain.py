"""Why a resource is where it is (or stopped), in words: ``ha explain RESOURCE``.

Built from what the scheduler decided, never from a second computation: the final
scores, the constraints that name the resource, its failures and bans, and the
transition's lines for it.
"""

from __future__ import annotations

from ha.scheduler.model import Transition, score_text


def explain(t: Transition, rid: str) -> list[str]:
    """Sentences about ``rid`` — a primitive or clone instance; a group or clone is
    explained member by member (instance by instance) — empty if unknown."""
    cl = t.cluster
    rsc = cl.resource(rid)
    if rsc is None:
        parts = cl.groups.get(rid) or (cl.clones[rid].instances if rid in cl.clones else [])
        cloned_group = cl.clones.get(rid)
        if cloned_group is not None and cloned_group.group:
            parts = [f"{m}:{i.rsplit(':', 1)[-1]}" for i in cloned_group.instances
                     for m in cloned_group.members]
        kind = "group" if rid in cl.groups else "clone"
        out = [f"{rid} ({kind} of {len(parts)})"] if parts else []
        for part in parts:
            out += ["", *explain(t, part)]
        return out
    out = [f"{rid} ({rsc.agent})"]
    where = ", ".join(f"{role} on {node}" for node, role in rsc.running.items())
    out.append(f"  now: {where or 'stopped'}")
    decided = f"run on {rsc.assigned}" if rsc.assigned else "stay stopped"
    clone = cl.clones.get(rsc.clone or "")
    if rsc.assigned and clone is not None and clone.promotable:
        decided += f" as {rsc.next_role or 'Unpromoted'}"
    out.append(f"  decided: {decided}")
    if rsc.assigned and clone is not None and clone.promotable:
        out.append(f"  promotion priority: {score_text(rsc.promotion)} (promoted-max "
                   f"{clone.promoted_max}, promoted-node-max {clone.promoted_node_max})")
    scores = [(node, score) for r, node, score in t.scores if r == rid]
    if scores:
        out.append("  scores: " + ", ".join(f"{n} {score_text(s)}" for n, s in scores))
    reasons = _reasons(t, rid)
    out += [f"  because: {r}" for r in reasons]
    for c in t.changes:
        if c.resource == rid:
            due = f" due to {c.reason}" if c.reason else ""
            out.append(f"  action: {c.verb} ({c.details}){due}")
    return out


def _reasons(t: Transition, rid: str) -> list[str]:
    cl = t.cluster
    rsc = cl.resource(rid)
    assert rsc is not None
    why: list[str] = []
    if not rsc.managed:
        why.append("it is unmanaged (is-managed=false or maintenance): left as it is")
    if rsc.target_role.lower() == "stopped":
        why.append("target-role is Stopped")
    if rsc.orphan:
        why.append("it is no longer configured (orphan)")
    if rsc.fatal:
        why.append("a fatal error or a lost ticket keeps it from running anywhere")
    for node, policy in rsc.on_fail.items():
        why.append(f"it failed on {node} (on-fail={policy})")
    for node in sorted(rsc.banned):
        why.append(f"banned from {node} (hard error or fail count at migration-threshold)")
    if rsc.stickiness and rsc.running:
        why.append(f"resource-stickiness {rsc.stickiness} holds it where it runs")
    for r, node, score in cl.locations:
        if r == rid:
            why.append(f"location: {score_text(score)} on {node}")
    for r, node, score in cl.promoted_locations:
        if r == rid:
            why.append(f"location for the Promoted role: {score_text(score)} on {node}")
    for c in cl.colocations:
        mine = f" in the {c.dependent_role} role" if c.dependent_role else ""
        theirs = f" ({c.primary_role})" if c.primary_role else ""
        if c.dependent == rid:
            why.append(f"colocated{mine} with {c.primary}{theirs} ({score_text(c.score)},"
                       f" {c.id})")
        elif c.primary in (rid, rsc.clone):
            role = f" with its {c.primary_role} role" if c.primary_role else ""
            why.append(f"{c.dependent} is colocated{role} ({score_text(c.score)}, {c.id})")
    for o in cl.orderings:
        if rid in cl.members(o.then):
            why.append(f"starts after {o.first} ({o.kind}, {o.id})")
    if rsc.unrunnable is not None:
        why.append(f"it must wait for {rsc.unrunnable}, which cannot happen")
    if rsc.required:
        why.append(f"it must restart after {rsc.required}")
    for member in cl.nodes:
        if not member.can_run and member.uname in rsc.allowed:
            state = ("unclean" if member.unclean else "standby" if member.standby
                     else "in maintenance" if member.maintenance else "offline")
            why.append(f"{member.uname} cannot run resources ({state})")
    return why
