"""Utilization and placement-strategy: capacities, bans for lack of capacity, balanced
and minimal node order, the assignment order when utilization counts.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim, two_nodes

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


def test_a_clone_instance_stays_only_where_it_still_fits() -> None:
    big = with_util("big", nv("priority", "10"), cpu=2)
    clone = '<clone id="C">' + with_util("R", cpu=1) + "</clone>"
    running = two_nodes(history("R", op("R", "start")), history("R", op("R", "start")))
    root = capacities(cib(["node1", "node2"], big + clone,
                          '<rsc_location id="lb" rsc="big" node="node1" score="100"/>',
                          props=nv("placement-strategy", "utilization"), status=running),
                      node1={"cpu": 2}, node2={"cpu": 2})
    assert summary(root) == [("Start", "big", "node1", ""),
                             ("Stop", "R:0", "node1", "node availability")]


def test_resources_are_ordered_on_scores_with_what_they_are_colocated_with() -> None:
    # B's preference for node1 is cancelled by C's ban there, so B does not go first
    constraints = ('<rsc_location id="la" rsc="A" node="node1" score="-INFINITY"/>'
                   '<rsc_location id="lb" rsc="B" node="node1" score="100"/>'
                   '<rsc_location id="lc" rsc="C" node="node1" score="-INFINITY"/>'
                   '<rsc_colocation id="bc" rsc="B" with-rsc="C" score="INFINITY"/>')
    running = two_nodes(history("A", op("A", "start")) + history("B", op("B", "start")))
    root = capacities(cib(["node1", "node2"], prim("A") + prim("B") + prim("C"), constraints,
                          props=nv("placement-strategy", "balanced"), status=running),
                      node1={"cpu": 2}, node2={"cpu": 2})
    assert [c.resource for c in schedule(root).changes] == ["A", "B", "C"]


def test_what_a_resource_is_colocated_with_is_placed_by_priority() -> None:
    # A's colocation with B comes first, but C has the higher priority: C is placed
    # first and takes node1's capacity, so B fits nowhere
    resources = (prim("A", nv("priority", "3000"))
                 + with_util("B", '<nvpair id="pb" name="priority" value="1000"/>', cpu=2)
                 + with_util("C", '<nvpair id="pc" name="priority" value="2000"/>', cpu=2))
    constraints = ('<rsc_colocation id="ab" rsc="A" with-rsc="B" score="4000"/>'
                   '<rsc_colocation id="ac" rsc="A" with-rsc="C" score="4000"/>')
    root = capacities(cib(["node1", "node2"], resources, constraints,
                          props=nv("placement-strategy", "utilization"), status=two_nodes()),
                      node1={"cpu": 2}, node2={"cpu": 1})
    assert summary(root) == [("Start", "A", "node1", ""), ("Start", "C", "node1", "")]


def test_a_clone_instance_needs_room_for_an_instance_of_a_clone_colocated_with_it() -> None:
    clones = ('<clone id="C1"><meta_attributes id="c1m"><nvpair id="c1x" name="clone-max" value="2"/>'
              '</meta_attributes>' + with_util("R1", cpu=2) + "</clone>"
              '<clone id="C2"><meta_attributes id="c2m"><nvpair id="c2x" name="clone-max" value="2"/>'
              '</meta_attributes>' + with_util("R2", cpu=4) + "</clone>")
    status = two_nodes() + node_state("node3", "3")
    root = capacities(cib(["node1", "node2", "node3"], clones,
                          '<rsc_colocation id="c" rsc="C2" with-rsc="C1" score="INFINITY"/>',
                          props=nv("placement-strategy", "utilization"), status=status),
                      node1={"cpu": 4}, node2={"cpu": 8}, node3={"cpu": 10})
    assert [(c.resource, c.details) for c in schedule(root).changes] == [
        ("R1:0", "node2"), ("R1:1", "node3"), ("R2:0", "node2"), ("R2:1", "node3")]
