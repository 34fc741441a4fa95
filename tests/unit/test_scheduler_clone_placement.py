"""Where clone instances go: which running instances keep their node.

Every expected value here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, op, prim

from ha.scheduler import schedule


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def unique_clone(meta: str) -> str:
    return (f'<clone id="C"><meta_attributes id="C-m">{meta}'
            '<nvpair id="C-u" name="globally-unique" value="true"/>'
            '<nvpair id="C-nm" name="clone-node-max" value="2"/>'
            '<nvpair id="C-max" name="clone-max" value="2"/></meta_attributes>'
            + prim("P") + "</clone>")


BOTH_ON_NODE1 = (node_state("node1", "1", history("P:0", op("P:0", "start"))
                            + history("P:1", op("P:1", "start", call=3)))
                 + node_state("node2", "2"))


def test_running_instances_keep_no_more_than_their_fair_share_of_a_node() -> None:
    # two instances over two nodes: one per node, so the second one moves
    root = cib(["node1", "node2"],
               unique_clone('<nvpair id="C-s" name="resource-stickiness" value="0"/>'),
               status=BOTH_ON_NODE1)
    assert summary(root) == [("Move", "P:1", "node1 -> node2", "")]


def test_a_running_instance_leaves_for_a_better_node() -> None:
    # both could stay (clone-node-max 2), but node2 scores better than node1
    root = cib(["node1", "node2"],
               unique_clone('<nvpair id="C-s" name="resource-stickiness" value="0"/>'),
               '<rsc_location id="l" rsc="C" node="node2" score="10"/>', BOTH_ON_NODE1)
    assert summary(root) == [("Move", "P:0", "node1 -> node2", ""),
                             ("Move", "P:1", "node1 -> node2", "")]
