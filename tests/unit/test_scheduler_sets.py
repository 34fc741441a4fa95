"""Resource sets, tags and templates in location and colocation constraints.

Every expected value here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, op, prim

from ha.scheduler import schedule

NODES = node_state("node1", "1") + node_state("node2", "2")


def starts(root: etree._Element) -> dict[str, str]:
    return {c.resource: c.details for c in schedule(root).changes if c.verb == "Start"}


def test_a_location_applies_to_each_resource_of_its_set_and_tags() -> None:
    tags = "<tags><tag id=\"t\"><obj_ref id=\"B\"/></tag></tags>"
    loc = ('<rsc_location id="l" node="node2" score="100"><resource_set id="s">'
           '<resource_ref id="A"/><resource_ref id="t"/></resource_set></rsc_location>')
    root = cib(["node1", "node2"], prim("A") + prim("B") + prim("C"), loc, NODES)
    root.find("configuration").append(etree.fromstring(tags))
    assert starts(root) == {"A": "node2", "B": "node2", "C": "node1"}


def test_a_location_rsc_pattern_matches_resource_ids() -> None:
    loc = '<rsc_location id="l" rsc-pattern="^web" node="node2" score="100"/>'
    root = cib(["node1", "node2"], prim("web1") + prim("web2") + prim("db"), loc, NODES)
    assert starts(root) == {"web1": "node2", "web2": "node2", "db": "node1"}


def test_a_set_is_placed_with_the_last_member_of_the_next_set() -> None:
    # C (first of the first set) goes with B (last of the second), placed by its location
    coloc = ('<rsc_colocation id="c" score="INFINITY">'
             '<resource_set id="s1"><resource_ref id="C"/></resource_set>'
             '<resource_set id="s2"><resource_ref id="A"/><resource_ref id="B"/>'
             '</resource_set></rsc_colocation>'
             '<rsc_location id="l" rsc="B" node="node2" score="100"/>')
    root = cib(["node1", "node2"], prim("A") + prim("B") + prim("C"), coloc, NODES)
    assert starts(root) == {"A": "node2", "B": "node2", "C": "node2"}


def test_a_template_in_a_set_stands_for_its_resources() -> None:
    resources = ('<template id="T" class="ocf" provider="pacemaker" type="Dummy"/>'
                 '<primitive id="t1" template="T"/><primitive id="t2" template="T"/>'
                 + prim("A"))
    coloc = ('<rsc_colocation id="c" score="INFINITY"><resource_set id="s">'
             '<resource_ref id="A"/><resource_ref id="T"/></resource_set></rsc_colocation>'
             '<rsc_location id="l" rsc="A" node="node2" score="100"/>')
    root = cib(["node1", "node2"], resources, coloc, NODES)
    assert starts(root) == {"A": "node2", "t1": "node2", "t2": "node2"}


TEMPLATES = ('<template id="T" class="ocf" provider="pacemaker" type="Dummy"/>'
             '<template id="U" class="ocf" provider="pacemaker" type="Dummy"/>'
             '<primitive id="t1" template="T"/><primitive id="t2" template="T"/>'
             '<primitive id="u1" template="U"/>')


def test_a_template_placed_with_a_resource_places_each_of_its_resources() -> None:
    coloc = ('<rsc_colocation id="c" rsc="T" with-rsc="u1" rsc-role="Started" '
             'score="INFINITY"/><rsc_location id="l" rsc="u1" node="node2" score="100"/>')
    root = cib(["node1", "node2"], TEMPLATES, coloc, NODES)
    assert starts(root) == {"t1": "node2", "t2": "node2", "u1": "node2"}


def test_two_templates_cannot_be_colocated() -> None:
    coloc = ('<rsc_colocation id="c" rsc="T" with-rsc="U" score="INFINITY"/>'
             '<rsc_location id="l" rsc="u1" node="node2" score="100"/>')
    root = cib(["node1", "node2"], TEMPLATES, coloc, NODES)
    assert starts(root) == {"t1": "node1", "t2": "node2", "u1": "node2"}


def test_for_good_with_a_group_is_with_its_last_member() -> None:
    group = ('<group id="G"><meta_attributes id="G-m"/>' + prim("A")
             + prim("B", '<nvpair id="b-tr" name="target-role" value="Stopped"/>') + "</group>")
    root = cib(["node1", "node2"], group + prim("C"),
               '<rsc_colocation id="c" rsc="C" with-rsc="G" score="INFINITY"/>', NODES)
    assert starts(root) == {"A": "node1"}
    root = cib(["node1", "node2"], group + prim("C"),
               '<rsc_colocation id="c" rsc="C" with-rsc="G" score="100"/>', NODES)
    assert starts(root) == {"A": "node1", "C": "node1"}


def test_resources_are_listed_by_the_priority_of_their_top_level_resource() -> None:
    group = ('<group id="G"><meta_attributes id="G-m"/>'
             + prim("A", '<nvpair id="a-p" name="priority" value="10"/>') + "</group>")
    root = cib(["node1"], group + prim("B", '<nvpair id="b-p" name="priority" value="5"/>'),
               status=node_state("node1", "1"))
    assert [c.resource for c in schedule(root).changes] == ["B", "A"]


def test_a_listed_colocation_set_places_each_member_with_the_next() -> None:
    coloc = ('<rsc_colocation id="c" score="INFINITY"><resource_set id="s" ordering="listed">'
             '<resource_ref id="A"/><resource_ref id="B"/><resource_ref id="C"/>'
             '</resource_set></rsc_colocation>')
    off = '<nvpair id="c-tr" name="target-role" value="Stopped"/>'
    root = cib(["node1", "node2"], prim("A") + prim("B") + prim("C", off), coloc, NODES)
    assert starts(root) == {}


def test_after_an_unmanaged_member_each_member_keeps_the_group_colocation() -> None:
    unmanaged = '<nvpair id="a-m" name="is-managed" value="false"/>'
    group = ('<group id="G"><meta_attributes id="G-m"/>' + prim("A", unmanaged) + prim("B")
             + prim("C") + "</group>")
    off = '<nvpair id="x-tr" name="target-role" value="Stopped"/>'
    root = cib(["node1", "node2"], group + prim("X", off),
               '<rsc_colocation id="c" rsc="G" with-rsc="X" score="INFINITY"/>',
               node_state("node1", "1", history("A", op("A", "start")))
               + node_state("node2", "2"))
    assert starts(root) == {}


def test_primaries_placed_in_turn_see_what_the_dependent_has_learnt_so_far() -> None:
    # A goes with each of B, C, D: B is placed first, and the others follow A there
    coloc = "".join(f'<rsc_colocation id="c{p}" rsc="A" with-rsc="{p}" score="INFINITY"/>'
                    for p in "BCD")
    root = cib(["node1", "node2"], prim("A") + prim("B") + prim("C") + prim("D"), coloc, NODES)
    assert starts(root) == {"A": "node1", "B": "node1", "C": "node1", "D": "node1"}
