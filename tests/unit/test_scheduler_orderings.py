"""Mandatory orderings and the reasons the Transition Summary gives for them.

Every expected value here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import DIGEST_NO_PARAMS, cib, history, node_state, nv, op, prim

from ha.scheduler import schedule

STOPPED = nv("target-role", "Stopped")


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def running(*rids: str) -> str:
    return node_state("node1", "1", "".join(
        history(r, op(r, "start", call=i + 2)) for i, r in enumerate(rids)))


ORDER = '<rsc_order id="ord" first="A" then="B"/>'


def test_then_stops_because_first_start_is_required_when_first_stops() -> None:
    # A runs and must stop: its stop makes its start mandatory before it is unrunnable
    root = cib(["node1"], prim("A", STOPPED) + prim("B"), ORDER, running("A", "B"))
    assert summary(root) == [("Stop", "A", "node1", "node availability"),
                             ("Stop", "B", "node1", "required A start")]


def test_then_stops_because_first_start_is_unrunnable_when_first_is_stopped() -> None:
    root = cib(["node1"], prim("A", STOPPED) + prim("B"), ORDER, running("B"))
    assert summary(root) == [("Stop", "B", "node1", "unrunnable A start")]


def test_a_group_after_an_unrunnable_first_stops_member_after_member() -> None:
    # its first member cannot start; it runs, so must stop, which makes its start
    # mandatory: the next member's start is required by it
    group = '<group id="g"><meta_attributes id="g-m"/>' + prim("B") + prim("C") + "</group>"
    clone = ('<clone id="A-clone"><meta_attributes id="ac-m">' + STOPPED + "</meta_attributes>"
             + prim("A") + "</clone>")
    root = cib(["node1"], clone + group,
               '<rsc_order id="ord" first="A-clone" then="g"/>', running("A", "B", "C"))
    assert summary(root) == [("Stop", "A:0", "node1", "node availability"),
                             ("Stop", "B", "node1", "unrunnable A-clone running"),
                             ("Stop", "C", "node1", "required B start")]


def test_clone_min_orders_then_after_enough_instances() -> None:
    clone = ('<clone id="A-clone"><meta_attributes id="ac-m"><nvpair id="ac-min" '
             'name="clone-min" value="2"/></meta_attributes>' + prim("A") + "</clone>")
    ban = '<rsc_location id="ban" rsc="A-clone" node="node2" score="-INFINITY"/>'
    root = cib(["node1", "node2"], clone + prim("B"),
               ban + '<rsc_order id="ord" first="A-clone" then="B"/>',
               node_state("node1", "1") + node_state("node2", "2"))
    assert summary(root) == [("Start", "A:0", "node1", ""),
                             ("Start", "B", "node2",
                              "unrunnable clone-one-or-more:ord (blocked)")]


def test_after_a_require_all_false_set_one_member_is_enough() -> None:
    sets = ('<rsc_order id="ord"><resource_set id="s1" sequential="false" require-all="false">'
            '<resource_ref id="A"/><resource_ref id="B"/></resource_set>'
            '<resource_set id="s2"><resource_ref id="C"/></resource_set></rsc_order>')
    one = cib(["node1"], prim("A", STOPPED) + prim("B") + prim("C"), sets,
              node_state("node1", "1"))
    assert summary(one) == [("Start", "B", "node1", ""), ("Start", "C", "node1", "")]
    none = cib(["node1"], prim("A", STOPPED) + prim("B", '<nvpair id="b-tr" name="target-role"'
                                                         ' value="Stopped"/>') + prim("C"),
               sets, node_state("node1", "1"))
    assert summary(none) == [("Start", "C", "node1", "unrunnable one-or-more:s1 (blocked)")]


def test_restart_type_restart_makes_an_optional_ordering_restart_then() -> None:
    restart = '<nvpair id="b-rt" name="restart-type" value="restart"/>'
    root = cib(["node1", "node2"], prim("A") + prim("B", restart),
               '<rsc_location id="l" rsc="A" node="node2" score="100"/>'
               '<rsc_location id="l2" rsc="B" node="node1" score="100"/>'
               '<rsc_order id="ord" first="A" then="B" kind="Optional"/>',
               running("A", "B") + node_state("node2", "2"))
    assert summary(root) == [("Move", "A", "node1 -> node2", ""),
                             ("Restart", "B", "node1", "required A start")]


def interleaved_clones() -> str:
    return ('<clone id="A-clone"><meta_attributes id="ac-m"/>' + prim("A") + "</clone>"
            '<clone id="B-clone"><meta_attributes id="bc-m"><nvpair id="bc-i" '
            'name="interleave" value="true"/></meta_attributes>' + prim("B") + "</clone>")


def test_interleaved_instances_restart_only_after_their_own_node_counterpart() -> None:
    a1 = history("A", op("A", "start", digest="0" * 32))  # changed: A restarts on node1
    status = (node_state("node1", "1", a1 + history("B", op("B", "start", call=3)))
              + node_state("node2", "2", history("A", op("A", "start"))
                           + history("B", op("B", "start", call=3))))
    root = cib(["node1", "node2"], interleaved_clones(),
               '<rsc_order id="ord" first="A-clone" then="B-clone"/>', status)
    assert summary(root) == [("Restart", "A:0", "node1", "resource definition change"),
                             ("Restart", "B:0", "node1", "required A:0 start")]


def test_an_interleaved_instance_without_a_counterpart_on_its_node_stops() -> None:
    status = (node_state("node1", "1", history("A", op("A", "start"))
                         + history("B", op("B", "start", call=3)))
              + node_state("node2", "2", history("B", op("B", "start", call=3))))
    root = cib(["node1", "node2"], interleaved_clones(),
               '<rsc_order id="ord" first="A-clone" then="B-clone"/>'
               '<rsc_location id="ban" rsc="A-clone" node="node2" score="-INFINITY"/>', status)
    assert summary(root) == [("Stop", "B:1", "node2", "")]


def test_a_clone_instance_start_blocked_by_an_ordering_is_listed() -> None:
    clone = '<clone id="B-clone"><meta_attributes id="bc-m"/>' + prim("B") + "</clone>"
    root = cib(["node1"], prim("A", STOPPED) + clone,
               '<rsc_order id="ord" first="A" then="B-clone"/>', node_state("node1", "1"))
    assert summary(root) == [("Start", "B:0", "node1", "unrunnable A start (blocked)")]


def test_what_is_colocated_with_a_primary_that_cannot_start_stops_too() -> None:
    # B cannot start (ordered after disabled A); C, colocated with B, stops with it
    root = cib(["node1"], prim("A", STOPPED) + prim("B") + prim("C"),
               '<rsc_order id="ord" first="A" then="B"/>'
               '<rsc_colocation id="col" rsc="C" with-rsc="B" score="INFINITY"/>',
               running("A", "B", "C"))
    assert summary(root) == [("Stop", "A", "node1", "node availability"),
                             ("Stop", "B", "node1", "required A start"),
                             ("Stop", "C", "node1", "colocation with B")]


def test_an_asymmetrical_ordering_blocks_a_then_that_must_move() -> None:
    # B would move off node1 (banned), but A cannot start: B stops
    root = cib(["node1", "node2"], prim("A", STOPPED) + prim("B"),
               '<rsc_order id="ord" first="A" then="B" symmetrical="false"/>'
               '<rsc_location id="ban" rsc="B" node="node1" score="-INFINITY"/>',
               running("B") + node_state("node2", "2"))
    assert summary(root) == [("Stop", "B", "node1", "unrunnable A start")]


def test_an_asymmetrical_ordering_leaves_a_then_that_stays() -> None:
    root = cib(["node1"], prim("A", STOPPED) + prim("B"),
               '<rsc_order id="ord" first="A" then="B" symmetrical="false"/>', running("B"))
    assert summary(root) == []


def test_a_clone_restarts_what_follows_it_only_through_an_instance_on_its_node() -> None:
    clone = '<clone id="A-clone"><meta_attributes id="ac-m"/>' + prim("A") + "</clone>"
    constraints = ('<rsc_order id="ord" first="A-clone" then="B"/>'
                   '<rsc_location id="l" rsc="B" node="node1" score="100"/>')

    def status(changed_on: str) -> str:
        return "".join(node_state(n, n[-1], history("A", op(
            "A", "start", digest="0" * 32 if n == changed_on else DIGEST_NO_PARAMS))
            + (history("B", op("B", "start", call=3)) if n == "node1" else ""))
            for n in ("node1", "node2"))

    elsewhere = cib(["node1", "node2"], clone + prim("B"), constraints, status("node2"))
    assert summary(elsewhere) == [("Restart", "A:1", "node2", "resource definition change")]
    here = cib(["node1", "node2"], clone + prim("B"), constraints, status("node1"))
    assert summary(here) == [("Restart", "A:0", "node1", "resource definition change"),
                             ("Restart", "B", "node1", "required A-clone running")]


def chain(first: str) -> str:
    return "".join(
        f'<rsc_order id="o{t}" first="{f}" then="{t}"/>'
        + (f'<rsc_colocation id="c{t}" rsc="{t}" with-rsc="{f}" score="INFINITY"/>'
           if f != first else "") for f, t in ((first, "P"), ("P", "D"), ("D", "E")))


def test_what_is_placed_with_and_ordered_after_is_blocked_by_the_colocation() -> None:
    root = cib(["node1"], prim("F", STOPPED) + prim("P") + prim("D") + prim("E"),
               chain("F"), running("P", "D", "E"))
    assert summary(root) == [("Stop", "P", "node1", "unrunnable F start"),
                             ("Stop", "D", "node1", "colocation with P"),
                             ("Stop", "E", "node1", "colocation with D")]


def test_after_a_primary_blocked_by_a_clone_the_ordering_reason_comes_first() -> None:
    clone = ('<clone id="F-clone"><meta_attributes id="fc-m">' + STOPPED + "</meta_attributes>"
             + prim("F") + "</clone>")
    root = cib(["node1"], clone + prim("P") + prim("D") + prim("E"),
               chain("F-clone"), running("P", "D", "E"))
    assert summary(root) == [("Stop", "P", "node1", "unrunnable F-clone running"),
                             ("Stop", "D", "node1", "required P start"),
                             ("Stop", "E", "node1", "colocation with D")]


def test_a_group_after_a_first_that_must_stop_names_its_first_member_stop() -> None:
    group = ('<group id="G"><meta_attributes id="g-m"/>' + prim("B") + prim("C") + prim("D")
             + "</group>")
    root = cib(["node1"], prim("Q", STOPPED) + prim("K") + group,
               '<rsc_order id="o1" first="Q" then="K"/><rsc_order id="o2" first="K" then="G"/>',
               running("Q", "K", "B", "C", "D"))
    assert summary(root) == [("Stop", "Q", "node1", "node availability"),
                             ("Stop", "K", "node1", "required Q start"),
                             ("Stop", "B", "node1", "required K start"),
                             ("Stop", "C", "node1", "required B stop"),
                             ("Stop", "D", "node1", "required C start")]


def test_each_member_of_an_unordered_group_waits_for_first_itself() -> None:
    group = ('<group id="g"><meta_attributes id="g-m"><nvpair id="g-o" name="ordered" '
             'value="false"/></meta_attributes>' + prim("B") + prim("C") + "</group>")
    clone = ('<clone id="A-clone"><meta_attributes id="ac-m">' + STOPPED + "</meta_attributes>"
             + prim("A") + "</clone>")
    root = cib(["node1"], clone + group,
               '<rsc_order id="ord" first="A-clone" then="g"/>', running("B", "C"))
    assert summary(root) == [("Stop", "B", "node1", "unrunnable A-clone running"),
                             ("Stop", "C", "node1", "unrunnable A-clone running")]


def test_a_clone_with_notifications_is_named_by_its_notified_action() -> None:
    clone = ('<clone id="A-clone"><meta_attributes id="ac-m"><nvpair id="ac-n" name="notify" '
             'value="true"/></meta_attributes>' + prim("A") + "</clone>")
    lrm = (history("A", op("A", "start", digest="0" * 32))
           + history("B", op("B", "start", call=3)))
    root = cib(["node1"], clone + prim("B"), '<rsc_order id="ord" first="A-clone" then="B"/>',
               node_state("node1", "1", lrm))
    assert summary(root) == [("Restart", "A:0", "node1", "resource definition change"),
                             ("Restart", "B", "node1", "required A-clone notified")]
