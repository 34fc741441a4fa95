"""Utilization and placement-strategy: capacities, bans for lack of capacity, balanced
and minimal node order, the assignment order when utilization counts.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, nv, op, prim, two_nodes

from ha.scheduler import schedule


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def util(owner: str, **values: int) -> str:
    pairs = "".join(f'<nvpair id="{owner}-u-{k}" name="{k}" value="{v}"/>' for k, v in values.items())
    return f'<utilization id="{owner}-u">{pairs}</utilization>'


def with_util(rid: str, meta: str = "", **values: int) -> str:
    return prim(rid, meta).replace("</primitive>", util(rid, **values) + "</primitive>")


def capacities(root: etree._Element, **per_node: dict[str, int]) -> etree._Element:
    for node in root.iterfind("configuration/nodes/node"):
        values = per_node.get(node.get("uname", ""), {})
        node.append(etree.fromstring(util(node.get("uname", ""), **values)))
    return root


def test_default_strategy_ignores_utilization() -> None:
    root = capacities(cib(["node1", "node2"], with_util("A", cpu=4), status=two_nodes()),
                      node1={"cpu": 1}, node2={"cpu": 1})
    assert summary(root) == [("Start", "A", "node1", "")]


def test_a_resource_goes_only_where_it_fits() -> None:
    root = capacities(cib(["node1", "node2"], with_util("A", cpu=2),
                          props=nv("placement-strategy", "utilization"), status=two_nodes()),
                      node1={"cpu": 1}, node2={"cpu": 2})
    assert summary(root) == [("Start", "A", "node2", "")]


def test_no_node_with_capacity_stops_it() -> None:
    root = capacities(cib(["node1", "node2"], with_util("A", cpu=3),
                          props=nv("placement-strategy", "utilization"),
                          status=two_nodes(history("A", op("A", "start")))),
                      node1={"cpu": 2}, node2={"cpu": 2})
    assert summary(root) == [("Stop", "A", "node1", "node availability")]


def test_balanced_prefers_the_node_with_more_free_capacity() -> None:
    root = capacities(cib(["node1", "node2"], with_util("A", cpu=1) + with_util("B", cpu=1),
                          props=nv("placement-strategy", "balanced"), status=two_nodes()),
                      node1={"cpu": 2}, node2={"cpu": 4})
    assert summary(root) == [("Start", "A", "node2", ""), ("Start", "B", "node2", "")]


def test_minimal_fills_the_first_node_by_name() -> None:
    root = capacities(cib(["node1", "node2"], with_util("A", cpu=1) + with_util("B", cpu=1),
                          props=nv("placement-strategy", "minimal"), status=two_nodes()),
                      node1={"cpu": 2}, node2={"cpu": 4})
    assert summary(root) == [("Start", "A", "node1", ""), ("Start", "B", "node1", "")]
