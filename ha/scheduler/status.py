"""Stage 1b, unpack status: each resource's state on each node from its history.

Without stonith only online nodes have their history replayed; with it, a resource
found active on a node that is down makes that node unclean ("thought to be active
there"), and a failure whose on-fail is ``fence`` makes its node unclean ("failed
there"). On a node already unclean, failures are not acted on: fencing ends them.
Fail counts (``fail-count-RSC`` and ``fail-count-RSC#op_interval`` node attributes) at or over ``migration-threshold`` ban the node; a history recorded for a
different agent than the one configured has its failures cleared.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.clones import history_owner, siblings
from ha.scheduler.containers import fillers_by_container
from ha.scheduler.digests import config_change, params_digest  # noqa: F401 (re-exported)
from ha.scheduler.expiry import effective_fail_count, op_expiry
from ha.scheduler.history import History
from ha.scheduler.migration_history import apply_migration_history
from ha.scheduler.model import Cluster, Node, Resource, add_scores, parse_score
from ha.scheduler.nodestate import can_fence, fence_node
from ha.scheduler.shutdownlock import enabled as shutdown_locks
from ha.scheduler.shutdownlock import lock_from_history


def fail_count(node: Node, rid: str) -> int:
    """The node's fail count for ``rid``: ``fail-count-RSC`` and ``fail-count-RSC#op_interval``."""
    total = 0
    for name, value in node.attrs.items():
        if name == f"fail-count-{rid}" or name.startswith(f"fail-count-{rid}#"):
            total = add_scores(total, parse_score(value))
    return total


def _clone_siblings(cluster: Cluster, rsc: Resource) -> list[Resource]:
    return siblings(cluster, rsc)


def configured_ids(root: etree._Element) -> set[str]:
    """Every id under ``resources``, every node, and every remote-node name."""
    ids = {el.get("id", "") for el in root.iterfind("configuration/resources//*")}
    ids |= {el.get("id", "") for el in root.iterfind("configuration/nodes/node")}
    ids |= {el.get("uname", "") for el in root.iterfind("configuration/nodes/node")}
    ids |= {nv.get("value", "") for nv in root.iterfind("configuration/resources//nvpair")
            if nv.get("name") == "remote-node"}
    return ids


def _orphan(cluster: Cluster, lr: etree._Element, known: set[str],
            bundles: set[str]) -> Resource | None:
    """A resource the status knows but the configuration no longer has (not a clone's
    surplus instance, not a part of something we do not model yet): it is to be
    stopped wherever it still runs."""
    rid = lr.get("id", "")
    if not rid or rid.split(":")[0] in known or any(rid.startswith(f"{k}-") for k in bundles):
        return None
    if not is_pcmk_true(cluster.options.get("stop-orphan-resources", "true")):
        return None
    rsc = Resource(id=rid, cls=lr.get("class", ""), provider=lr.get("provider"),
                   type=lr.get("type", ""), orphan=True)
    cluster.resources.append(rsc)
    return rsc


def _replay_node(cluster: Cluster, node: Node, lr: etree._Element, stonith: bool,
                 agent_changed: set[tuple[str, str]], known: set[str],
                 bundles: set[str]) -> None:
    ops = lr.findall("lrm_rsc_op")
    rsc = history_owner(cluster, lr.get("id", ""), node.uname, running=True)
    if rsc is None:
        rsc = _orphan(cluster, lr, known, bundles)
        if rsc is None:
            return
    if ops:
        rsc.own_history.add(node.uname)
        for sibling in _clone_siblings(cluster, rsc):
            sibling.known_on.add(node.uname)
    lock_from_history(cluster, rsc, node, lr)
    if not node.online and not stonith and not shutdown_locks(cluster):
        return  # without fencing (or shutdown locks), a node that is down runs nothing
    if (lr.get("class"), lr.get("type")) != (rsc.cls, rsc.type):
        agent_changed.add((rsc.history_id or rsc.id, node.uname))  # failures cleared
        if rsc.cls == "stonith":  # a device that unfences must unfence again
            cluster.unfence_triggers.append((node.uname, "Device definition changed"))
    history = History(rsc, node.uname, stonith)
    history.fenceable = can_fence(cluster, node)
    history.expired = op_expiry(rsc, node, rsc.history_id or rsc.id, cluster.now)
    history.replay(ops)
    if rsc.clone is not None and lr.get("id", "") != rsc.history_id and (
            history.role is not None or (rsc.clone_name is None and node.uname not in rsc.running)):
        rsc.clone_name = lr.get("id", "")  # the name it is known by (an active one wins)
    if history.role is not None:
        rsc.running[node.uname] = history.role
        rsc.failed[node.uname] = history.failed
        # a history is checked for the instance it was found under (an anonymous
        # clone's entry under another instance's number, for that instance)
        same_instance = lr.get("id", "") in (rsc.id, rsc.history_id, rsc.clone_name)
        if same_instance and (node.maintenance or (
                node.online and not node.unclean and not node.standby and not node.shutdown)):
            change = config_change(rsc, ops, cluster.op_defaults, cluster.secrets_masked)
            agent = (lr.get("class"), lr.get("provider"), lr.get("type")) != (
                rsc.cls, rsc.provider, rsc.type)
            rsc.start_pending = rsc.start_pending or history.start_pending or agent
            if change is not None and rsc.cls == "stonith" and not agent:
                cluster.unfence_triggers.append((node.uname, "Device parameters changed" + (
                    " (reload)" if change == "reload" else "")))
            if change == "restart" and not requires_nothing(cluster, rsc):
                rsc.changed_on.add(node.uname)
            elif change == "restart":  # the start's reason is dropped (see below)
                rsc.restart_on.add(node.uname)
            elif agent or (change == "reload" and rsc.start_pending):
                # a changed agent, or a reload while a start is pending: stop, start
                rsc.restart_on.add(node.uname)
            elif change == "reload":
                rsc.reload_on.add(node.uname)
        if not node.online and not node.maintenance and rsc.managed:
            fence_node(cluster, node, f"{rsc.id} is thought to be active there")
    if history.restart_container and not node.unclean and rsc.container is not None:
        container = cluster.resource(rsc.container)
        if container is not None and node.uname in container.running:
            container.restart_on.add(node.uname)
    if node.unclean:  # fencing the node ends the failure
        rsc.on_fail.pop(node.uname, None)
        if history.failed:
            rsc.failure_ignored.add(node.uname)
    elif not history.failed:
        rsc.on_fail.pop(node.uname, None)
    elif rsc.on_fail.get(node.uname) == "fence":
        fence_node(cluster, node, f"{rsc.id} failed there")
    for sibling in _clone_siblings(cluster, rsc):
        sibling.banned |= rsc.banned
        sibling.fatal = sibling.fatal or rsc.fatal


def requires_nothing(cluster: Cluster, rsc: Resource) -> bool:
    """Whether ``rsc`` needs neither quorum nor fencing to start (``requires``, by
    default "nothing" when fencing is disabled and no-quorum-policy is ignore):
    Pacemaker then clears its start's reason, so a restart for a definition change
    is listed without one."""
    value = (rsc.meta.get("requires") or "").lower()
    if value in ("nothing", "quorum", "fencing", "unfencing"):
        return value == "nothing"
    return (rsc.cls != "stonith" and not cluster.stonith_enabled
            and cluster.no_quorum_policy == "ignore")


def _after_history(cluster: Cluster, agent_changed: set[tuple[str, str]]) -> None:
    maintenance = is_pcmk_true(cluster.options.get("maintenance-mode", "false"))
    filled = fillers_by_container(cluster)
    for rsc in cluster.resources:
        if len(rsc.running) > 1 and rsc.meta.get("multiple-active") == "block":
            for member in cluster.members(rsc.group or rsc.id):
                m = cluster.resource(member)
                if m is not None and m.running:
                    m.on_fail[next(iter(m.running))] = "block"
        if maintenance or any((n := cluster.node(u)) is not None and n.maintenance
                              for u in rsc.running):
            rsc.managed = False
        for uname, policy in rsc.on_fail.items():
            node = cluster.node(uname)
            if policy == "standby" and node is not None:
                node.standby = True
        counted = rsc.history_id or rsc.id
        for node in cluster.nodes:
            if (counted, node.uname) in agent_changed:
                continue
            if rsc.migration_threshold > 0 and not rsc.ignored_failure and _fail_count(
                    cluster, node, counted, rsc, filled.get(rsc.id, ())) \
                    >= rsc.migration_threshold:
                rsc.banned.add(node.uname)


def _fail_count(cluster: Cluster, node: Node, counted: str, rsc: Resource,
                its_fillers: Iterable[Resource]) -> int:
    """The fail count migration-threshold judges: a container's includes its fillers'."""
    total = effective_fail_count(node, counted, rsc, cluster.now)
    for filler in its_fillers:
        total = add_scores(total, effective_fail_count(node, filler.history_id or filler.id,
                                                       filler, cluster.now))
    return total


def unpack_status(root: etree._Element, cluster: Cluster) -> None:
    """Current state of every resource on every node, from the operation history."""
    by_id = {n.id: n for n in cluster.nodes}
    stonith = is_pcmk_true(cluster.options.get("stonith-enabled", "true"))
    agent_changed: set[tuple[str, str]] = set()
    known = configured_ids(root)
    bundles = {b.get("id", "") for b in root.iterfind("configuration/resources/bundle")}
    for ns in root.findall("status/node_state"):
        node = by_id.get(ns.get("id", "")) or cluster.node(ns.get("uname", ""))
        if node is None:
            continue
        for lr in ns.findall("lrm/lrm_resources/lrm_resource"):
            _replay_node(cluster, node, lr, stonith, agent_changed, known, bundles)
    apply_migration_history(root, cluster)
    _after_history(cluster, agent_changed)
