"""Live migration: moving a resource with ``migrate_to``/``migrate_from`` instead of
stop and start (the Transition Summary's "Migrate").

Pacemaker's rules kept here:

- a resource may migrate when its ``allow-migrate`` meta attribute is true, it is
  managed, not failed and not blocked, active on exactly one node, that node and the
  node it was assigned to are both clean, and it is moving between them (not being
  stopped, not a clone instance, no earlier migration's stop still pending on its
  source); a partial migration (``migration_history``)
  continues when the resource is still to go to its target;
- a migration is given up when something it is ordered after must really stop first:
  for a mandatory, symmetrical ``first then`` ordering, the reverse ordering (stop
  ``then`` before ``first``) makes ``then``'s stop as little migratable as
  ``first``'s. If ``first`` moves or restarts without migrating, ``then``
  moves by stop and start, "due to unrunnable first stop". Inside a group each member
  is ordered after the one before it, so one unmigratable member stops the migration
  of every member after it. When ``then`` is a group or clone, its own stop stands
  between them and its members may still migrate. This spreads along chains until
  nothing changes.
"""

from __future__ import annotations

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.model import Cluster, Ordering, Resource


def can_migrate(cluster: Cluster, rsc: Resource) -> bool:
    """Whether ``rsc`` may move to its assigned node by live migration."""
    allowed = rsc.meta.get("allow-migrate")
    remote = (rsc.cls, rsc.provider, rsc.type) == ("ocf", "pacemaker", "remote") \
        and "container" not in rsc.meta
    if not (is_pcmk_true(allowed) or (allowed is None and remote)) or rsc.clone is not None:
        return False  # a remote node's connection may migrate unless told otherwise
    if not rsc.managed or rsc.blocked or rsc.stopping or rsc.fatal:
        return False
    if any(rsc.failed.values()) or rsc.start_pending or rsc.dangling_migration:
        return False
    if rsc.partial_migration is not None:  # it continues only to the same target
        source, target = rsc.partial_migration
        return (rsc.assigned == target and set(rsc.running) == {source, target}
                and rsc.unrunnable is None)
    if len(rsc.running) != 1:
        return False
    (current,) = rsc.running
    dest = rsc.assigned
    if dest is None or dest == current or rsc.unrunnable is not None:
        return False
    here, there = cluster.node(current), cluster.node(dest)
    return (here is not None and there is not None and not here.unclean
            and not there.unclean and here.online)


def mark_migrations(cluster: Cluster) -> None:
    """Decide which moving resources migrate (before orderings are applied)."""
    for rsc in cluster.resources:
        rsc.migrating = can_migrate(cluster, rsc)


def _stops_without_migrating(rsc: Resource) -> bool:
    """Whether the transition stops ``rsc`` by a real stop and starts it again (it
    moves or restarts without migrating); one that only stops leaves what is ordered
    after it unable to start at all, a matter for the orderings."""
    if not rsc.running or not rsc.managed or rsc.blocked or rsc.migrating:
        return False
    dest = rsc.assigned
    if dest is None or rsc.unrunnable is not None:
        return False
    return (dest not in rsc.running or len(rsc.running) > 1 or rsc.required is not None
            or any(rsc.failed.values()) or bool((rsc.changed_on | rsc.restart_on) & set(rsc.running)))


def _first_name(o: Ordering) -> str:
    """How the reason names ``first`` (a group or clone by its own id)."""
    return o.first_label.split()[0] if o.first_label else o.first


def _then_is_collective(cluster: Cluster, o: Ordering) -> bool:
    """Whether ``then`` was a group or clone (its first member stands for a group;
    orderings inside a group are between members)."""
    if o.then in cluster.clones:
        return True
    then = cluster.resource(o.then)
    if then is None or then.group is None or then.clone is not None:
        return False
    first = cluster.resource(o.first)
    inside = first is not None and first.group == then.group
    return not inside and cluster.groups[then.group][0] == then.id


def block_migrations(cluster: Cluster) -> None:
    """Give up migrations ordered after a real stop (see the module docstring)."""
    changed = True
    while changed:
        changed = False
        for o in cluster.orderings:
            if o.kind != "Mandatory" or not o.symmetrical \
                    or (o.first_action, o.then_action) != ("start", "start"):
                continue
            if _then_is_collective(cluster, o):
                continue  # a group's or clone's own stop stands between them
            firsts = [r for m in cluster.members(o.first) if (r := cluster.resource(m))]
            if not any(_stops_without_migrating(f) for f in firsts):
                continue
            for m in cluster.members(o.then):
                then = cluster.resource(m)
                if then is not None and then.migrating:
                    then.migrating = False
                    then.move_reason = f"unrunnable {_first_name(o)} stop"
                    changed = True
