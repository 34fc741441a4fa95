"""What live migrations in the operation history leave behind.

A migration is ``migrate_to`` on the source, ``migrate_from`` on the target, then a
stop on the source. Pacemaker's reading of an interrupted or failed one, after each
node's history was replayed (a successful ``migrate_to`` leaves the source active):

- the source's later start, stop or migration, or the target's (after the
  ``migrate_from``, else after the ``migrate_to``) later non-monitor operation or
  "not running" result make the migration history matter less: with a
  ``migrate_from`` and a newer source operation, or with newer state on both, it is
  ignored;
- ``migrate_to`` and ``migrate_from`` both succeeded: the resource is no longer active
  on the source (a "dangling" migration whose stop is pending);
- ``migrate_from`` failed: the resource is active on the target too, and failed,
  unless the target has newer state -- then it failed on the source;
- no ``migrate_from`` yet: the resource is active on the target too (a partial
  migration, which may continue if it is still to go there) unless the target has
  newer state -- then it failed on the source, unless the source has newer state;
- ``migrate_to`` failed: the resource is also active on the target, unless its state
  there is unknown (a probe will tell) or newer; if the source has been stopped
  since, a copy on the target only assumed from this is restarted.

Operations on different nodes are ordered by ``last-rc-change``, on one node by
call id.
"""

from __future__ import annotations

from lxml import etree

from ha.scheduler.history import STATUS_DONE, STATUS_PENDING, result
from ha.scheduler.model import Cluster, Resource

History = dict[str, list[etree._Element]]


def _int(text: str | None) -> int:
    try:
        return int(text) if text is not None else -1
    except ValueError:
        return -1


def newer(a: etree._Element, b: etree._Element, same_node: bool) -> bool:
    """Whether operation ``a`` happened after ``b`` (Pacemaker's comparison)."""
    ca, cb = _int(a.get("call-id")), _int(b.get("call-id"))
    if same_node and ca >= 0 and cb >= 0 and ca != cb:
        return ca > cb
    if ca >= 0 and cb >= 0:
        last_a, last_b = _int(a.get("last-rc-change")), _int(b.get("last-rc-change"))
        return last_b >= 0 and last_a > last_b
    return ca == -1 and cb != -1


def _find(ops: list[etree._Element], task: str, other: str | None = None,
          rc: int | None = None) -> etree._Element | None:
    """The one ``task`` entry (with ``other`` as its other end), if exactly one."""
    key = "migrate_target" if task == "migrate_to" else "migrate_source"
    found = [o for o in ops if o.get("operation") == task
             and (other is None or o.get(key) == other)]
    if len(found) != 1:
        return None
    if rc is not None:
        code, status = result(found[0])
        if code != rc or status != STATUS_DONE:
            return None
    return found[0]


def _non_monitor_after(ops: list[etree._Element], op: etree._Element, same: bool) -> bool:
    return any(o is not op and o.get("operation") in ("start", "stop", "migrate_to",
                                                      "migrate_from")
               and newer(o, op, same) for o in ops)


def _newer_state(hist: History, uname: str, to_op: etree._Element | None,
                 from_op: etree._Element | None) -> bool:
    """Whether ``uname`` has state newer than the migration (seen from that node)."""
    ref = from_op if from_op is not None else to_op
    assert ref is not None
    same = False
    if uname == ref.get("migrate_target"):
        ref, same = (from_op, True) if from_op is not None else (to_op, False)
    elif uname == ref.get("migrate_source"):
        ref, same = (to_op, True) if to_op is not None else (from_op, False)
    assert ref is not None
    ops = hist.get(uname, [])
    monitor = _find(ops, "monitor", rc=7)
    return _non_monitor_after(ops, ref, same) or (
        monitor is not None and newer(monitor, ref, same))


def _add_running(rsc: Resource, hist: History, uname: str, before: str,
                 failed: bool) -> None:
    """Active on ``uname`` too, listed before ``before`` (it was found active there
    while ``before``'s history was read, before ``before`` itself counted) unless
    ``uname``'s own history, read earlier, had already counted it."""
    rsc.failed[uname] = rsc.failed.get(uname, False) or failed
    nodes = list(hist)
    if uname in rsc.running and uname in nodes and before in nodes \
            and nodes.index(uname) < nodes.index(before):
        return
    role = rsc.running.pop(uname, "Started")
    order = list(rsc.running.items())
    rsc.running.clear()
    for node, node_role in order:
        if node == before:
            rsc.running[uname] = role
        rsc.running[node] = node_role
    rsc.running.setdefault(uname, role)


def _to_success(cluster: Cluster, rsc: Resource, hist: History, op: etree._Element) -> None:
    source, target = op.get("migrate_source", ""), op.get("migrate_target", "")
    src_ops = hist.get(source, [])
    source_newer = _non_monitor_after(src_ops, op, True)
    from_op = _find(hist.get(target, []), "migrate_from", source)
    if source_newer and from_op is not None:
        return
    target_newer = _newer_state(hist, target, op, from_op)
    if source_newer and target_newer:
        return
    tnode, snode = cluster.node(target), cluster.node(source)
    if from_op is not None and result(from_op) == (0, STATUS_DONE):
        rsc.running.pop(source, None)  # dangling: only its stop is left
        rsc.failed.pop(source, None)
        rsc.dangling_migration = True
    elif from_op is not None and result(from_op)[1] != STATUS_PENDING:
        if not target_newer and tnode is not None and tnode.online:
            _add_running(rsc, hist, target, source, failed=True)
        else:
            rsc.failed[source] = True
    elif not target_newer and tnode is not None and tnode.online:
        _add_running(rsc, hist, target, source, failed=False)
        if snode is not None and snode.online:
            rsc.partial_migration = (source, target)
    elif not source_newer:
        rsc.failed[source] = True


def _to_failure(cluster: Cluster, rsc: Resource, hist: History, op: etree._Element) -> None:
    source, target = op.get("migrate_source", ""), op.get("migrate_target", "")
    from_op = _find(hist.get(target, []), "migrate_from", source, rc=0)
    tnode = cluster.node(target)
    if hist.get(target) and not _newer_state(hist, target, op, from_op) \
            and tnode is not None and tnode.online:
        assumed = target not in rsc.running
        _add_running(rsc, hist, target, source, failed=False)
        if assumed and _non_monitor_after(hist.get(source, []), op, True):
            # the source was stopped since: the copy only assumed on the target
            # (its own history does not show it) is restarted there
            rsc.restart_on.add(target)


def _from_failure(cluster: Cluster, rsc: Resource, hist: History, op: etree._Element) -> None:
    source, target = op.get("migrate_source", ""), op.get("migrate_target", "")
    to_op = _find(hist.get(source, []), "migrate_to", target, rc=0)
    snode = cluster.node(source)
    if hist.get(source) and to_op is not None and snode is not None and snode.online \
            and not _newer_state(hist, source, to_op, op):
        _add_running(rsc, hist, source, target, failed=True)


def apply_migration_history(root: etree._Element, cluster: Cluster) -> None:
    """Adjust where resources are active from their migration history."""
    per_rsc: dict[str, History] = {}
    for ns in root.iterfind("status/node_state"):
        uname = ns.get("uname", "")
        for lr in ns.iterfind("lrm/lrm_resources/lrm_resource"):
            per_rsc.setdefault(lr.get("id", ""), {})[uname] = lr.findall("lrm_rsc_op")
    for rid, hist in per_rsc.items():
        if not any(o.get("operation") in ("migrate_to", "migrate_from")
                   for ops in hist.values() for o in ops):
            continue
        rsc = cluster.resource(rid)
        if rsc is None or rsc.clone is not None:
            continue
        for uname, ops in hist.items():
            for op in sorted(ops, key=lambda o: _int(o.get("call-id"))):
                task = op.get("operation")
                code, status = result(op)
                if status == STATUS_PENDING:
                    continue
                if task == "migrate_to" and op.get("migrate_source") == uname:
                    handler = _to_success if code == 0 else _to_failure
                    handler(cluster, rsc, hist, op)
                elif task == "migrate_from" and op.get("migrate_target") == uname \
                        and code != 0:
                    _from_failure(cluster, rsc, hist, op)
