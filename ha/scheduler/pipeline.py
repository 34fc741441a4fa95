"""The scheduler's pipeline: ``schedule(cib, now)``, Pacemaker's stages in order.

unpack (``unpack``, ``status``, ``history``, ``clones``) → unpack constraints
(``constraints``) → assign (``assign``) → mandatory orderings (``ordering``) →
create actions and apply orderings (``actions``) → the Transition Summary.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from ha.scheduler.actions import apply_orderings, create_actions, summarise
from ha.scheduler.assign import Assigner, assign
from ha.scheduler.blocked import situation
from ha.scheduler.constraints import unpack_constraints
from ha.scheduler.containers import add_container_constraints
from ha.scheduler.health import apply_node_health
from ha.scheduler.migration import block_migrations, mark_migrations
from ha.scheduler.model import Transition
from ha.scheduler.nodestate import fence_lines, unfence_restarts
from ha.scheduler.ordering import apply_mandatory_orders, apply_restart_type_stops
from ha.scheduler.promotion import block_promotions
from ha.scheduler.unpack import unpack


def execution_date(cib_root: etree._Element) -> datetime | None:
    """The CIB's ``execution-date`` (seconds since the epoch), as an aware datetime."""
    text = cib_root.get("execution-date", "").strip()
    if not text.isdigit():
        return None
    return datetime.fromtimestamp(int(text), tz=UTC)


def schedule(cib_root: etree._Element, now: datetime | None = None, *,
             sanitized: bool = True) -> Transition:
    """Schedule one CIB: where every resource should run and the actions to get there.

    ``now`` is the date that date rules and failure-timeout are judged against; it is
    never read from a clock. Without it, the CIB's ``execution-date`` is used, as
    crm_simulate does (crm_simulate falls back to its clock; here, without either,
    no date expression holds and no failure expires).

    ``sanitized`` (the default, as crm_simulate runs): the CIB's secret parameters may
    be masked, so a definition change seen only in secrets is not acted on (the
    secure digests decide). A controller scheduling its own live CIB passes False,
    as pacemaker-schedulerd runs: then every parameter change counts.
    """
    cluster = unpack(cib_root, now if now is not None else execution_date(cib_root),
                     sanitized=sanitized)
    unpack_constraints(cib_root, cluster)
    add_container_constraints(cluster)
    apply_node_health(cluster)
    scores = assign(cluster)
    order = Assigner(cluster).order()
    mark_migrations(cluster)
    unfence_restarts(cluster)
    apply_restart_type_stops(cluster)
    apply_mandatory_orders(cluster)
    block_promotions(cluster)
    block_migrations(cluster)
    graph = create_actions(cluster, order)
    apply_orderings(cluster, graph)
    fences = fence_lines(cluster)
    sit = situation(cluster)
    changes = fences + [c for rsc in order for c in summarise(rsc, sit)]
    return Transition(cluster=cluster, changes=changes, actions=graph.actions,
                      edges=graph.edges, scores=scores)
