"""Groups and clones on small CIBs.

Every expected value here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -R -s``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim, two_nodes

from ha.scheduler import schedule


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def group(gid: str, *members: str, meta: str = "") -> str:
    return (f'<group id="{gid}"><meta_attributes id="{gid}-m">{meta}</meta_attributes>'
            f'{"".join(prim(m) for m in members)}</group>')


def clone(cid: str, base: str, meta: str = "") -> str:
    return (f'<clone id="{cid}"><meta_attributes id="{cid}-m">{meta}</meta_attributes>'
            f'{prim(base)}</clone>')


def test_group_members_start_together_where_the_group_prefers() -> None:
    root = cib(["node1", "node2"], group("g", "A", "B", "C"),
               '<rsc_location id="l" rsc="g" node="node2" score="10"/>', two_nodes())
    assert summary(root) == [("Start", m, "node2", "") for m in ("A", "B", "C")]


def test_group_stickiness_adds_up_on_the_first_member() -> None:
    lrm = history("A", op("A", "start")) + history("B", op("B", "start", call=3))
    root = cib(["node1", "node2"], group("g", "A", "B"),
               '<rsc_location id="l" rsc="g" node="node2" score="150"/>', two_nodes(lrm),
               rsc_defaults=nv("resource-stickiness", "100"))
    scores = {(r, n): s for r, n, s in schedule(root).scores}
    assert scores[("A", "node1")] == 200 and scores[("A", "node2")] == 150
    assert summary(root) == []


def test_a_member_that_cannot_run_stops_the_ones_after_it() -> None:
    root = cib(["node1", "node2"], group("g", "A", "B", "C").replace(
        '<meta_attributes id="B-m">', '<meta_attributes id="B-m">' + nv("target-role", "Stopped")),
        status=two_nodes())
    assert summary(root) == [("Start", "A", "node1", "")]


def test_anonymous_clone_runs_one_instance_per_node() -> None:
    root = cib(["node1", "node2", "node3"], clone("C", "P"),
               status=two_nodes() + node_state("node3", "3"))
    assert summary(root) == [("Start", "P:0", "node1", ""), ("Start", "P:1", "node2", ""),
                             ("Start", "P:2", "node3", "")]


def test_running_instances_keep_their_numbers_and_nodes() -> None:
    # history under the primitive's own id: node2's instance is P:0 (listed first)
    status = node_state("node2", "2", history("P", op("P", "start"))) + node_state("node1", "1")
    root = cib(["node1", "node2"], clone("C", "P", nv("clone-max", "2")), status=status)
    assert summary(root) == [("Start", "P:1", "node1", "")]


def test_clone_max_limits_the_instances() -> None:
    root = cib(["node1", "node2"], clone("C", "P", nv("clone-max", "1")), status=two_nodes())
    assert summary(root) == [("Start", "P:0", "node1", "")]
