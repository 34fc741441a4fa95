"""Stage 3, assign: scores and placement on small CIBs.

Every expected value here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -R -s``
on the same CIB.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, nv, op, prim, two_nodes

from ha.scheduler import schedule
from ha.scheduler.model import INFINITY, add_scores, parse_score

LOC_NODE1_50 = '<rsc_location id="l" rsc="A" node="node1" score="50"/>'
A_ON_NODE2 = two_nodes("", history("A", op("A", "start")))


def scores(root: etree._Element) -> dict[tuple[str, str], int]:
    return {(r, n): s for r, n, s in schedule(root).scores}


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def test_score_arithmetic_minus_infinity_wins() -> None:
    assert add_scores(INFINITY, -INFINITY) == -INFINITY
    assert add_scores(INFINITY, 5) == INFINITY
    assert add_scores(999_999, 999_999) == INFINITY
    assert parse_score("-INFINITY") == -INFINITY and parse_score("+INFINITY") == INFINITY
    assert parse_score("1.0") == 1


def test_stickiness_keeps_a_resource_against_a_weaker_preference() -> None:
    root = cib(["node1", "node2"], prim("A"), LOC_NODE1_50, A_ON_NODE2,
               rsc_defaults=nv("resource-stickiness", "100"))
    assert scores(root) == {("A", "node1"): 50, ("A", "node2"): 100}
    assert summary(root) == []


def test_without_stickiness_it_moves_to_the_preferred_node() -> None:
    root = cib(["node1", "node2"], prim("A"), LOC_NODE1_50, A_ON_NODE2)
    assert summary(root) == [("Move", "A", "node2 -> node1", "")]


def test_opt_in_cluster_only_allows_nodes_a_constraint_names() -> None:
    root = cib(["node1", "node2"], prim("A") + prim("B"),
               '<rsc_location id="l" rsc="A" node="node2" score="10"/>', two_nodes(),
               props=nv("symmetric-cluster", "false"))
    assert scores(root) == {("A", "node2"): 10}
    assert summary(root) == [("Start", "A", "node2", "")]


def test_location_rule_on_uname() -> None:
    rule = ('<rsc_location id="l" rsc="A"><rule id="r" score="-INFINITY"><expression id="e"'
            ' attribute="#uname" operation="eq" value="node1"/></rule></rsc_location>')
    root = cib(["node1", "node2"], prim("A"), rule, two_nodes())
    assert scores(root) == {("A", "node1"): -INFINITY, ("A", "node2"): 0}
    assert summary(root) == [("Start", "A", "node2", "")]


def test_target_role_stopped_bans_every_node() -> None:
    root = cib(["node1", "node2"], prim("A", nv("target-role", "Stopped")),
               status=two_nodes(history("A", op("A", "start"))))
    assert set(scores(root).values()) == {-INFINITY}
    assert summary(root) == [("Stop", "A", "node1", "node availability")]


def test_standby_node_gives_its_resources_away() -> None:
    root = cib(["node1", "node2"], prim("A"), status=two_nodes(history("A", op("A", "start"))),
               node_attrs={"node1": nv("standby", "on")})
    assert summary(root) == [("Move", "A", "node1 -> node2", "")]


def test_infinite_colocation_follows_the_primary() -> None:
    cons = ('<rsc_location id="l" rsc="A" node="node2" score="20"/>'
            '<rsc_colocation id="c" rsc="B" with-rsc="A" score="INFINITY"/>')
    root = cib(["node1", "node2"], prim("A") + prim("B"), cons, two_nodes())
    assert scores(root) == {("A", "node1"): 0, ("A", "node2"): 20,
                            ("B", "node1"): -INFINITY, ("B", "node2"): 0}
    assert summary(root) == [("Start", "A", "node2", ""), ("Start", "B", "node2", "")]


def test_equal_scores_spread_resources_over_nodes() -> None:
    root = cib(["node1", "node2"], prim("A") + prim("B") + prim("C"), status=two_nodes())
    assert [c.details for c in schedule(root).changes] == ["node1", "node2", "node1"]


def test_changed_definition_restarts_in_place() -> None:
    root = cib(["node1", "node2"], prim("A", params=nv("fake", "bar")),
               status=two_nodes(history("A", op("A", "start"))))
    assert summary(root) == [("Restart", "A", "node1", "resource definition change")]
