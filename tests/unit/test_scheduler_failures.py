"""Failures in the operation history: recovery, on-fail, hard errors, migration-threshold.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -R``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim, two_nodes

from ha.scheduler import schedule


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def test_failed_start_without_fail_count_recovers_in_place() -> None:
    root = cib(["node1", "node2"], prim("A"), status=two_nodes(history("A", op("A", "start", rc=1))))
    assert summary(root) == [("Recover", "A", "node1", "")]


def test_failed_recurring_monitor_recovers_in_place() -> None:
    lrm = history("A", op("A", "start", call=2), op("A", "monitor", rc=7, call=3, interval=10000))
    assert summary(cib(["node1", "node2"], prim("A"), status=two_nodes(lrm))) == [
        ("Recover", "A", "node1", "")]


def test_fail_count_at_migration_threshold_moves_it_away() -> None:
    lrm = history("A", op("A", "start", call=2), op("A", "monitor", rc=7, call=3, interval=10000))
    status = (node_state("node1", "1", lrm, transient=nv("fail-count-A#monitor_10000", "3"))
              + node_state("node2", "2"))
    root = cib(["node1", "node2"], prim("A", nv("migration-threshold", "3")), status=status)
    assert summary(root) == [("Recover", "A", "node1 -> node2", "")]


def test_on_fail_stop_stops_it() -> None:
    rsc = prim("A").replace("</primitive>", '<operations><op id="s" name="start" interval="0"'
                                            ' on-fail="stop"/></operations></primitive>')
    root = cib(["node1", "node2"], rsc, status=two_nodes(history("A", op("A", "start", rc=1))))
    assert summary(root) == [("Stop", "A", "node1", "node availability")]


def test_probe_finding_it_not_installed_bans_that_node_only() -> None:
    status = two_nodes(history("A", op("A", "monitor", rc=5, call=1)),
                       history("A", op("A", "monitor", rc=7, call=1)))
    root = cib(["node1", "node2"], prim("A"), status=status)
    assert summary(root) == [("Start", "A", "node2", "")]


def test_history_on_a_departed_node_is_ignored() -> None:
    status = (node_state("node1", "1", history("A", op("A", "start")), online=False)
              + node_state("node2", "2"))
    root = cib(["node1", "node2"], prim("A"), status=status)
    assert summary(root) == [("Start", "A", "node2", "")]
