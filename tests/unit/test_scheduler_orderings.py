"""Mandatory orderings and the reasons the Transition Summary gives for them.

Every expected value here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim

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
