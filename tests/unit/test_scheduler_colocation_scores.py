"""Colocation arithmetic on small CIBs: scaled and nested preferences, node-attribute,
what a clone passes on to its instances.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim, two_nodes

from ha.scheduler import schedule


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def test_colocated_scores_keep_a_positive_node_usable_when_nonnegative() -> None:
    from ha.scheduler.colocated import add_colocated_scores
    from ha.scheduler.unpack import unpack

    cluster = unpack(cib(["node1", "node2"], prim("A") + prim("B"), "", two_nodes()))
    theirs = {"A": {"node1": -1_000_000, "node2": 0}, "B": {"node1": 10, "node2": 10}}
    out = add_colocated_scores(cluster, theirs.__getitem__, "A", {"node1": 75, "node2": 0},
                               1.0, True, True)
    assert out == {"node1": 1, "node2": 0}
    out = add_colocated_scores(cluster, theirs.__getitem__, "B", {"node1": 75, "node2": 0},
                               0.001, False, True)
    assert out == {"node1": 76, "node2": 1}  # a small factor is never rounded away


def test_what_is_colocated_with_a_clone_on_every_node_does_not_draw_its_instances() -> None:
    # a clone with fewer instances than nodes takes D's preference for node2; one on
    # every node does not (its instances are placed as if D were not there)
    def plan(meta: str) -> list[tuple[str, str, str, str]]:
        clone = ('<clone id="C"><meta_attributes id="C-m">' + meta + '</meta_attributes>'
                 + prim("X") + '</clone>')
        cons = ('<rsc_colocation id="c" rsc="D" with-rsc="C" score="100"/>'
                '<rsc_location id="l" rsc="D" node="node2" score="50"/>')
        return summary(cib(["node1", "node2"], clone + prim("D"), cons, two_nodes()))
    assert plan(nv("clone-max", "1")) == [("Start", "X:0", "node2", ""),
                                          ("Start", "D", "node2", "")]
    assert plan("") == [("Start", "X:0", "node1", ""), ("Start", "X:1", "node2", ""),
                        ("Start", "D", "node2", "")]


def test_a_node_attribute_colocation_means_a_node_with_the_same_value() -> None:
    nodes = ["node1", "node2", "node3", "node4"]
    sites = {n: f'<nvpair id="site-{n}" name="site" value="{"a" if i < 2 else "b"}"/>'
             for i, n in enumerate(nodes)}
    cons = ('<rsc_location id="la" rsc="A" node="node3" score="100"/>'
            '<rsc_location id="lb" rsc="B" node="node3" score="-INFINITY"/>'
            '<rsc_colocation id="c" rsc="B" with-rsc="A" node-attribute="site"'
            ' score="INFINITY"/>')
    status = "".join(node_state(n, str(i + 1)) for i, n in enumerate(nodes))
    root = cib(nodes, prim("A") + prim("B"), cons, status, node_attrs=sites)
    assert summary(root) == [("Start", "A", "node3", ""), ("Start", "B", "node4", "")]


def test_a_negative_colocation_weighs_the_dependent_groups_stickiness_in_full() -> None:
    # group1 (dependent, -500) keeps its node; group2 must leave it, as the other
    # members of group1 count at full strength against group2 there
    def grp(gid: str, *members: str) -> str:
        return f'<group id="{gid}">' + "".join(prim(m) for m in members) + "</group>"
    lrm = "".join(history(r, op(r, "start", 0, i + 2)) for i, r in enumerate("ABCD"))
    cons = '<rsc_colocation id="c" rsc="g1" with-rsc="g2" score="-500"/>'
    root = cib(["node1", "node2"], grp("g1", "A", "B") + grp("g2", "C", "D"), cons,
               two_nodes(lrm), rsc_defaults=nv("resource-stickiness", "INFINITY"))
    assert summary(root) == [("Move", "C", "node1 -> node2", ""),
                             ("Move", "D", "node1 -> node2", "")]


def test_a_clone_on_every_node_passes_a_finite_colocation_not_on_to_its_instances() -> None:
    def plan(meta: str) -> list[tuple[str, str, str, str]]:
        clone = ('<clone id="C"><meta_attributes id="C-m">' + meta + '</meta_attributes>'
                 + prim("X") + '</clone>')
        cons = ('<rsc_colocation id="c" rsc="C" with-rsc="D" score="100"/>'
                '<rsc_location id="l" rsc="D" node="node2" score="50"/>')
        return summary(cib(["node1", "node2"], prim("D") + clone, cons, two_nodes()))
    assert plan("") == [("Start", "D", "node2", ""), ("Start", "X:0", "node1", ""),
                        ("Start", "X:1", "node2", "")]
    assert plan(nv("clone-max", "1")) == [("Start", "D", "node2", ""),
                                          ("Start", "X:0", "node2", "")]


def test_an_instance_active_where_it_cannot_stay_is_placed_before_inactive_ones() -> None:
    clone = ('<clone id="C"><meta_attributes id="C-m">' + nv("globally-unique", "true")
             + nv("clone-max", "2") + '</meta_attributes>' + prim("X") + '</clone>')
    lrm = history("X:1", op("X:1", "monitor", 7, 1), op("X:1", "start", 0, 2))
    status = (node_state("node1", "1", lrm, transient=nv("standby", "on"))
              + node_state("node2", "2") + node_state("node3", "3"))
    root = cib(["node1", "node2", "node3"], clone, "", status)
    assert summary(root) == [("Start", "X:0", "node3", ""),
                             ("Move", "X:1", "node1 -> node2", "")]
