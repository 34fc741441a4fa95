"""Cluster-wide state: unclean nodes and fencing, quorum, orphans.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -R``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim, two_nodes

from ha.scheduler import schedule
from ha.scheduler.text import summary_lines

STONITH = '<primitive id="fence" class="stonith" type="fence_dummy"/>'


def summary(root: etree._Element) -> list[str]:
    return [" ".join(line.split()) for line in summary_lines(schedule(root).changes)]


def _lost_node1(stonith: str) -> etree._Element:
    lost = ('<node_state id="1" uname="node1" in_ccm="false" crmd="offline" join="member"'
            ' expected="member"><lrm id="1"><lrm_resources>'
            f'{history("A", op("A", "start"))}</lrm_resources></lrm></node_state>')
    fence = history("fence", op("fence", "start")).replace(
        'class="ocf" provider="pacemaker" type="Dummy"', 'class="stonith" type="fence_dummy"')
    root = cib(["node1", "node2"], STONITH + prim("A"),
               status=lost + node_state("node2", "2", fence))
    for pair in root.iterfind(".//nvpair[@name='stonith-enabled']"):
        pair.set("value", stonith)
    return root


def test_a_node_that_left_is_fenced_and_its_resources_move() -> None:
    root = _lost_node1("true")
    assert summary(root) == [
        "* Fence (reboot) node1 'peer is no longer part of the cluster'",
        "* Move A ( node1 -> node2 )",
    ]


def test_without_stonith_a_node_that_left_runs_nothing() -> None:
    assert summary(_lost_node1("false")) == ["* Start A ( node2 )"]


def test_no_quorum_policy_stop() -> None:
    root = cib(["node1", "node2"], prim("A") + prim("B"),
               status=two_nodes(history("A", op("A", "start"))),
               props=nv("no-quorum-policy", "stop"))
    root.set("have-quorum", "0")
    assert summary(root) == ["* Stop A ( node1 ) due to no quorum",
                             "* Start B ( node2 ) due to no quorum (blocked)"]


def test_an_orphan_is_stopped() -> None:
    orphan = ('<lrm_resource id="gone" class="ocf" provider="pacemaker" type="Dummy">'
              f'{op("gone", "start")}</lrm_resource>')
    root = cib(["node1", "node2"], prim("A"), status=two_nodes(orphan))
    assert summary(root) == ["* Start A ( node1 )", "* Stop gone ( node1 ) due to node availability"]
