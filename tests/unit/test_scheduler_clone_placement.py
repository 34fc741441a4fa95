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


CLONED_GROUP = ('<clone id="C"><meta_attributes id="C-m"/><group id="G">'
                + prim("A") + prim("B") + "</group></clone>")


def test_a_cloned_group_starts_each_instance_member_by_member() -> None:
    root = cib(["node1", "node2"], CLONED_GROUP,
               status=node_state("node1", "1") + node_state("node2", "2"))
    assert summary(root) == [("Start", "A:0", "node1", ""), ("Start", "B:0", "node1", ""),
                             ("Start", "A:1", "node2", ""), ("Start", "B:1", "node2", "")]


def test_an_anonymous_cloned_group_member_history_belongs_to_the_instance_there() -> None:
    # node2 runs A and B: one instance; node1 only A, which a changed definition
    # restarts, and B after it
    lrm2 = history("A", op("A", "start")) + history("B", op("B", "start", call=3))
    lrm1 = history("A", op("A", "start", digest="0" * 32))
    root = cib(["node1", "node2"], CLONED_GROUP,
               status=node_state("node1", "1", lrm1) + node_state("node2", "2", lrm2))
    assert summary(root) == [("Restart", "A:0", "node1", "resource definition change"),
                             ("Start", "B:0", "node1", "")]


def test_history_beyond_clone_max_is_an_orphan_instance_that_stops() -> None:
    clone = ('<clone id="C"><meta_attributes id="C-m">'
             '<nvpair id="C-max" name="clone-max" value="1"/></meta_attributes>'
             + prim("P") + "</clone>")
    status = (node_state("node1", "1", history("P", op("P", "start")))
              + node_state("node2", "2", history("P", op("P", "start"))))
    root = cib(["node1", "node2"], clone, status=status)
    assert summary(root) == [("Stop", "P:1", "node2", "node availability")]


def test_an_instance_blocked_by_a_failure_is_nothing_to_be_placed_with() -> None:
    clone = ('<clone id="C"><meta_attributes id="C-m"/>'
             '<primitive id="P" class="ocf" provider="pacemaker" type="Dummy">'
             '<operations><op id="P-mon" name="monitor" interval="10s" on-fail="block"/>'
             "</operations></primitive></clone>")
    lrm = (history("P", op("P", "start"), op("P", "monitor", rc=1, call=3, interval=10000))
           + history("B", op("B", "start", call=4)))
    root = cib(["node1"], clone + prim("B"),
               '<rsc_colocation id="col" rsc="B" with-rsc="C" score="INFINITY"/>',
               node_state("node1", "1", lrm))
    assert summary(root) == [("Stop", "B", "node1", "node availability")]


def test_a_member_takes_its_group_parameters_into_its_definition() -> None:
    from ha.scheduler.status import params_digest

    group = ('<group id="G"><instance_attributes id="G-i"><nvpair id="G-x" name="x" '
             'value="1"/></instance_attributes>' + prim("A") + "</group>")
    same = history("A", op("A", "start", digest=params_digest({"x": "1"})))
    root = cib(["node1"], group, status=node_state("node1", "1", same))
    assert summary(root) == []
    changed = history("A", op("A", "start"))  # recorded without the group's parameter
    root = cib(["node1"], group, status=node_state("node1", "1", changed))
    assert summary(root) == [("Restart", "A", "node1", "resource definition change")]


def test_a_cloned_group_runs_only_when_all_of_an_instance_does() -> None:
    off = '<nvpair id="b-tr" name="target-role" value="Stopped"/>'
    clone = ('<clone id="C"><meta_attributes id="C-m"/><group id="G">'
             + prim("A") + prim("B", off) + "</group></clone>")
    root = cib(["node1"], clone + prim("V"),
               '<rsc_colocation id="col" rsc="V" with-rsc="C" score="INFINITY"/>'
               '<rsc_order id="ord" first="C" then="V"/>', status=node_state("node1", "1"))
    assert summary(root) == [("Start", "A:0", "node1", ""),
                             ("Start", "V", "node1", "unrunnable C running (blocked)")]


def test_an_active_instance_is_placed_before_inactive_ones() -> None:
    clone = ('<clone id="C"><meta_attributes id="C-m">'
             '<nvpair id="C-u" name="globally-unique" value="true"/>'
             '<nvpair id="C-max" name="clone-max" value="2"/></meta_attributes>'
             + prim("P") + "</clone>")
    standby = {"node3": '<nvpair id="n3-s" name="standby" value="on"/>'}
    status = (node_state("node1", "1") + node_state("node2", "2")
              + node_state("node3", "3", history("P:1", op("P:1", "start"))))
    root = cib(["node1", "node2", "node3"], clone, status=status, node_attrs=standby)
    assert summary(root) == [("Start", "P:0", "node2", ""),
                             ("Move", "P:1", "node3 -> node1", "")]


def test_a_cloned_group_instance_is_placed_whole_before_the_next() -> None:
    clone = ('<clone id="C"><meta_attributes id="C-m">'
             '<nvpair id="C-u" name="globally-unique" value="true"/>'
             '<nvpair id="C-nm" name="clone-node-max" value="2"/>'
             '<nvpair id="C-max" name="clone-max" value="2"/></meta_attributes>'
             '<group id="G">' + prim("A") + prim("B") + "</group></clone>")
    root = cib(["node1", "node2"], prim("X") + clone,
               '<rsc_location id="l" rsc="X" node="node2" score="10"/>',
               status=node_state("node1", "1") + node_state("node2", "2"))
    assert summary(root) == [("Start", "X", "node2", ""),
                             ("Start", "A:0", "node1", ""), ("Start", "B:0", "node1", ""),
                             ("Start", "A:1", "node2", ""), ("Start", "B:1", "node2", "")]
