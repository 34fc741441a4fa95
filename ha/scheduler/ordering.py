"""What mandatory orderings do to the resources they order (``rsc_order``, kind Mandatory).

For ``first then`` (start → start, and a promotable clone's promote → start, where
"can start" is "has an instance to be promoted" and "starts" is "promotes one"):

- if ``first`` cannot start (it was assigned nowhere, or its own start is unrunnable),
  ``then`` cannot start either: it stops where it runs ("due to unrunnable first
  start") if the ordering is symmetrical, or its start is shown blocked; when
  ``then`` was to stay where it runs and ``first`` runs now (so must stop, which
  makes its start mandatory first), the reason is "required first start";
- if ``first`` starts (or restarts) while ``then`` stays where it runs, ``then`` must
  restart after it ("due to required first start").

- a clone as ``first`` can start when any instance can; for what is not a clone it
  "starts" only through an instance placed on that one's node; a cloned group has
  started when an instance's last member can; with clone-min or require-all=false
  a "one-or-more" pseudo-action stands between (optional: it never restarts);
- between clones whose ``then`` has interleave=true, each instance follows first's
  instance on its own node (none there: it may not run at all);
- an INFINITY colocation blocks its dependent as soon as the primary cannot start
  ("due to colocation with"), before the primary's orderings give their reasons.

Both spread along chains of orderings, so they are applied until nothing changes.
"""

from __future__ import annotations

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.model import INFINITY, Cluster, Ordering, Resource


def starts(rsc: Resource) -> bool:
    """Whether the transition will start ``rsc`` somewhere."""
    if not rsc.managed or rsc.blocked or rsc.unrunnable is not None \
            or rsc.assigned is None:
        return False
    if rsc.migrating:  # a migration's start does not make what follows it restart
        return False
    dest = rsc.assigned
    return (dest not in rsc.running or len(rsc.running) > 1 or rsc.failed.get(dest, False)
            or dest in rsc.changed_on or dest in rsc.restart_on or rsc.required is not None)


def _can_start(rsc: Resource) -> bool:
    if not rsc.managed:
        return bool(rsc.running)  # left as it is: fine where it runs
    if rsc.blocked:
        return False
    return rsc.unrunnable is None and rsc.assigned is not None


def _start_required(first: Resource, collective: bool) -> bool:
    """Whether ``first``'s start is a mandatory action although it cannot run: it runs
    now and must stop, and a stop makes its own start mandatory. A clone's or group's
    start is mandatory through its members' that were placed (the others have none)."""
    if not first.running or not first.managed or first.blocked:
        return False
    return not collective or first.assigned is not None


def apply_mandatory_orders(cluster: Cluster) -> None:
    """Apply mandatory start orderings until nothing changes; a clone as ``first`` can
    start when any instance can, a clone as ``then`` is every instance."""
    changed = True
    while changed:
        changed = _block_colocated(cluster)
        for o in cluster.orderings:
            promoting = (o.first_action, o.then_action) == ("promote", "start") \
                and o.first in cluster.clones and cluster.clones[o.first].promotable
            if o.kind not in ("Mandatory", "Optional") or not promoting \
                    and (o.first_action, o.then_action) != ("start", "start"):
                continue
            firsts = _completions(cluster, o.first)
            thens = [r for m in [*cluster.members(o.then), *o.then_also]
                     if (r := cluster.resource(m))]
            if o.kind == "Optional":
                # restart-type=restart (deprecated) on then: an optional ordering
                # still restarts it when first starts, but never blocks it
                thens = [t for t in thens if t.meta.get("restart-type") == "restart"]
            if _interleaved(cluster, o) and not promoting:
                changed |= _order_instances(cluster, o, firsts, thens)
                continue
            if not firsts:
                continue
            runnable = any(_can_start(f) for f in firsts)
            # a clone's start is also mandatory through an instance placed but
            # unable to start (it must stop, which makes its own start mandatory)
            starters = [f for f in firsts if starts(f) or (
                f.clone is not None and f.unrunnable is not None and f.running
                and f.assigned is not None)]
            if promoting:  # the clone's promotion: possible, and forcing a restart
                runnable = any(f.next_role == "Promoted" for f in firsts)
                restarter = promotion_restarts(o, firsts)
                starters = [restarter] if restarter is not None else []
            if o.any_of:  # a pseudo-action: optional, so it never requires a restart
                able = sum(any(_can_start(r) for m in cluster.members(x)
                               if (r := cluster.resource(m))) for x in o.any_of)
                runnable, starters = able >= o.min_any, []
            # a clone's start is mandatory for what is not a clone only through its
            # instances on the node that one is placed on
            per_node = o.first in cluster.clones and o.then not in cluster.clones \
                and not promoting
            for then in thens:
                if not then.managed or then.blocked:
                    continue
                here = [f for f in firsts if not per_node or f.assigned == then.assigned]
                starting = next((f for f in starters if f in here), None)
                if not runnable:
                    if o.kind == "Optional":
                        continue
                    if then.running and not o.symmetrical and then.assigned is not None \
                            and then.assigned in then.running and not starts(then):
                        continue  # only the start is ordered: what stays keeps running
                    if then.assigned is None and then.running:
                        continue  # it stops anyway, for want of a node
                    if then.unrunnable is None:
                        stays = (then.assigned is not None and not then.migrating
                                 and not starts(then))
                        required = stays and not o.any_of and not promoting and any(
                            _start_required(f, bool(o.first_label)) for f in here)
                        then.unrunnable = o.first_event
                        then.unrunnable_verb = "required" if required else "unrunnable"
                        if required and _second_member(cluster, firsts[0], then) \
                                and firsts[0].unrunnable_verb == "required":
                            # the first member's stop, mandatory from the start, made
                            # this one's stop mandatory before its start was blocked
                            then.unrunnable = f"{firsts[0].id} stop"
                        _block_colocated(cluster)  # before anything ordered after it
                        changed = True
                elif starting is not None and then.required is None \
                        and then.unrunnable is None and then.assigned is not None \
                        and then.assigned in then.running:
                    then.required = o.first_label or f"{starting.id} start"
                    changed = True



def apply_restart_type_stops(cluster: Cluster) -> None:
    """A stop-then-stop ordering whose ``then`` has restart-type=restart (deprecated)
    makes ``then`` restart wherever it stays when ``first`` stops, even when the
    ordering is optional."""
    for o in cluster.orderings:
        if (o.first_action, o.then_action) != ("stop", "stop"):
            continue
        firsts = [r for m in cluster.members(o.first) if (r := cluster.resource(m))]
        if not any(f.managed and f.running and (f.assigned not in f.running or starts(f))
                   for f in firsts):
            continue
        for then in (r for m in cluster.members(o.then) if (r := cluster.resource(m))):
            if then.meta.get("restart-type") == "restart" and then.managed \
                    and then.assigned is not None and then.assigned in then.running:
                then.restart_on.add(then.assigned)


def promotes(rsc: Resource) -> bool:
    """Whether the transition will promote ``rsc`` (a promotable clone's instance)."""
    if rsc.next_role != "Promoted" or rsc.assigned is None or not rsc.managed:
        return False
    return rsc.running.get(rsc.assigned) != "Promoted" or starts(rsc)


def _demotes(rsc: Resource) -> bool:
    return any(role == "Promoted" and (uname != rsc.assigned or not promotes(rsc)
                                       and rsc.next_role != "Promoted" or starts(rsc))
               for uname, role in rsc.running.items())


def promotion_restarts(o: Ordering, firsts: list[Resource]) -> Resource | None:
    """The instance whose promotion restarts what a symmetrical promote-then-start
    ordering puts after the clone: only when an instance is promoted while another
    starts or is demoted in the same transition (as crm_simulate decides it; a
    promotion alone does not)."""
    promoted = next((f for f in firsts if promotes(f)), None)
    if promoted is None or not o.symmetrical:
        return None
    if any(starts(f) or _demotes(f) for f in firsts):
        return promoted
    return None


def _interleaved(cluster: Cluster, o: Ordering) -> bool:
    """A start ordering between two clones where ``then`` has interleave=true: each
    of its instances waits only for the instance of ``first`` on its own node."""
    if o.first not in cluster.clones or o.then not in cluster.clones or o.any_of:
        return False
    then = cluster.resource(cluster.clones[o.then].instances[0]) \
        if cluster.clones[o.then].instances else None
    return then is not None and is_pcmk_true(then.meta.get("interleave", "false"))


def _order_instances(cluster: Cluster, o: Ordering, firsts: list[Resource],
                     thens: list[Resource]) -> bool:
    """Interleaved: an instance with no instance of first placed on its node may not
    run there at all (it stops, for no other reason); one whose counterpart cannot
    start cannot start either; one whose counterpart starts restarts after it."""
    changed = False
    for then in thens:
        if not then.managed or then.blocked or then.assigned is None \
                or then.unrunnable is not None:
            continue
        first = next((f for f in firsts
                      if f.assigned == then.assigned and f.unrunnable != ""), None)
        stays = not then.migrating and not starts(then)
        if first is None or not _can_start(first):
            if o.kind != "Mandatory" or (not o.symmetrical and stays
                                         and then.assigned in then.running):
                continue
            then.unrunnable = "" if first is None else f"{first.id} start"
            required = first is not None and stays and _start_required(first, False)
            then.unrunnable_verb = ("" if first is None
                                    else "required" if required else "unrunnable")
            changed = True
            if first is not None:
                _block_colocated(cluster)
        elif starts(first) and then.required is None and stays \
                and then.assigned in then.running:
            then.required = f"{first.id} start"
            changed = True
    return changed


def _block_colocated(cluster: Cluster) -> bool:
    """A primary placed but unable to start (every instance, for a clone) keeps what
    is colocated with it for good (INFINITY) from starting: it stays stopped, or
    stops, "due to colocation with" the primary. This comes before what orderings
    after the primary do, unless the primary was blocked by a group or clone, or the
    ordering pairs clone instances (interleave): then the ordering's reason does."""
    changed, again = False, True
    while again:
        again = False
        for c in cluster.colocations:
            if c.score < INFINITY or c.dependent_role == "Promoted" \
                    or c.primary_role is not None:
                continue
            primaries = [r for m in cluster.members(c.primary) if (r := cluster.resource(m))]
            if not primaries or not all(p.assigned is not None and p.unrunnable is not None
                                        and p.managed for p in primaries):
                continue
            dep = cluster.resource(c.dependent)
            if dep is None or not dep.managed or dep.blocked or dep.assigned is None \
                    or dep.unrunnable is not None:
                continue
            if dep.group is not None and dep.group == primaries[0].group:
                continue  # a group's members follow each other by its ordering instead
            if any(_ordering_first(cluster, o, c.primary, primaries, dep)
                   for o in cluster.orderings):
                continue
            dep.unrunnable, dep.unrunnable_verb = f"colocation with {c.primary}", ""
            again = changed = True
    return changed


def _ordering_first(cluster: Cluster, o: Ordering, primary: str, primaries: list[Resource],
                    dep: Resource) -> bool:
    """Whether ``o`` orders ``dep`` after ``primary`` and gives its reason first."""
    if o.kind != "Mandatory" or (o.first_action, o.then_action) != ("start", "start") \
            or o.first != primary or dep.id not in cluster.members(o.then):
        return False
    if primary in cluster.clones:
        return _interleaved(cluster, o)
    # the primary was blocked by a group's or clone's start ("X running")
    first = primaries[0]
    return first.unrunnable_verb == "unrunnable" and (first.unrunnable or "").endswith(" running")


def _completions(cluster: Cluster, rid: str) -> list[Resource]:
    """What must have started for ``rid`` to count as started: its primitives, or for
    a cloned group each instance's last member (an instance runs when all of it does)."""
    clone = cluster.clones.get(rid)
    if clone is not None and clone.group:
        return [r for m in clone.instances if (first := cluster.resource(m)) is not None
                and first.group and (r := cluster.resource(cluster.groups[first.group][-1]))]
    return [r for m in cluster.members(rid) if (r := cluster.resource(m))]


def _second_member(cluster: Cluster, first: Resource, then: Resource) -> bool:
    """Whether ``then`` follows ``first``, its group's first member, in the group."""
    members = cluster.groups.get(then.group or "", [])
    return len(members) > 1 and members[0] == first.id and members[1] == then.id
