"""Unclean nodes and fencing: why a node is fenced, when it can be, in which order.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -R``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim

from ha.scheduler import schedule
from ha.scheduler.graph import build_graph

FENCE_DEVICE = '<primitive id="fence" class="stonith" type="fence_dummy"/>'


def fencing_cib(nodes: list[str], resources: str = "", status: str = "", props: str = "",
                quorum: bool = True) -> etree._Element:
    """A CIB with stonith enabled and a fencing device."""
    root = cib(nodes, FENCE_DEVICE + resources, status=status, props=props)
    for pair in root.iter("nvpair"):
        if pair.get("name") == "stonith-enabled":
            pair.set("value", "true")
    root.set("have-quorum", "1" if quorum else "0")
    return root


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def fences(root: etree._Element) -> list[tuple[str, str]]:
    return [(c.resource, c.reason) for c in schedule(root).changes if c.verb == "Fence"]


def test_a_node_never_seen_is_fenced_at_startup() -> None:
    root = fencing_cib(["node1", "node2", "node3"], status=node_state("node1", "1"))
    assert fences(root) == [("node3", "node is unclean"), ("node2", "node is unclean")]


def test_startup_fencing_off_trusts_unseen_nodes() -> None:
    root = fencing_cib(["node1", "node2"], status=node_state("node1", "1"),
                       props=nv("startup-fencing", "false"))
    assert fences(root) == []


def test_membership_reasons_and_order() -> None:
    status = (node_state("node1", "1")
              + '<node_state id="2" uname="node2" crmd="offline" join="down"/>'
              + '<node_state id="3" uname="node3" in_ccm="true" crmd="online" join="banned"/>'
              + '<node_state id="4" uname="node4" in_ccm="true" crmd="offline" join="member"'
                ' expected="member"/>')
    root = fencing_cib(["node1", "node2", "node3", "node4"], status=status)
    assert fences(root) == [("node4", "peer process is no longer available"),
                            ("node3", "peer failed Pacemaker membership criteria"),
                            ("node2", "peer has not been seen by the cluster")]


def test_a_node_that_left_with_a_resource_active_is_fenced_and_it_moves() -> None:
    down = ('<node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down"'
            ' expected="down"><lrm id="2"><lrm_resources>'
            + history("A", op("A", "start")) + '</lrm_resources></lrm></node_state>')
    root = fencing_cib(["node1", "node2"], prim("A"), node_state("node1", "1") + down)
    assert summary(root) == [("Fence", "node2", "reboot", "A is thought to be active there"),
                             ("Start", "fence", "node1", ""),
                             ("Move", "A", "node2 -> node1", "")]


def test_on_fail_fence_fences_the_node_and_recovers_elsewhere() -> None:
    rsc = prim("A").replace("</primitive>", '<operations><op id="m" name="monitor"'
                            ' interval="10s" on-fail="fence"/></operations></primitive>')
    lrm = history("A", op("A", "start", call=2), op("A", "monitor", rc=7, call=3, interval=10000))
    root = fencing_cib(["node1", "node2"], rsc, node_state("node1", "1", lrm)
                       + node_state("node2", "2"))
    assert summary(root) == [("Fence", "node1", "reboot", "A failed there"),
                             ("Start", "fence", "node2", ""),
                             ("Recover", "A", "node1 -> node2", "")]


def test_without_quorum_and_policy_suicide_every_online_node_is_fenced() -> None:
    root = fencing_cib(["node1", "node2"], status=node_state("node1", "1") + node_state("node2", "2"),
                       props=nv("no-quorum-policy", "suicide"), quorum=False)
    root.set("no-quorum-panic", "1")
    assert fences(root) == [("node2", "cluster does not have quorum"),
                            ("node1", "cluster does not have quorum")]


def test_without_quorum_an_offline_unclean_node_cannot_be_fenced() -> None:
    root = fencing_cib(["node1", "node2"], status=node_state("node1", "1"), quorum=False,
                       props=nv("no-quorum-policy", "stop"))
    assert fences(root) == []


def test_suicide_needs_the_cluster_to_have_had_quorum() -> None:
    root = fencing_cib(["node1", "node2"], status=node_state("node1", "1") + node_state("node2", "2"),
                       props=nv("no-quorum-policy", "suicide"), quorum=False)
    assert summary(root) == [("Start", "fence", "node1", "no quorum (blocked)")]


def _gone(uname: str, nid: str, lrm: str) -> str:
    """A node that left the membership while expected up, with its history."""
    return (f'<node_state id="{nid}" uname="{uname}" in_ccm="false" join="member"'
            f' expected="member"><lrm id="{nid}"><lrm_resources>{lrm}</lrm_resources></lrm>'
            '</node_state>')


def test_without_quorum_a_resource_on_an_unfenceable_node_is_stopped_blocked() -> None:
    status = _gone("node1", "1", history("A", op("A", "start"))) + node_state("node2", "2")
    root = fencing_cib(["node1", "node2"], prim("A"), status, quorum=False)
    assert summary(root) == [("Start", "fence", "node2", "no quorum (blocked)"),
                             ("Stop", "A", "node1", "no quorum (blocked)")]


def test_with_quorum_freeze_it_cannot_leave_an_unfenceable_node() -> None:
    status = _gone("node1", "1", history("A", op("A", "start"))) + node_state("node2", "2")
    root = fencing_cib(["node1", "node2"], prim("A") + prim("B"), status, quorum=False,
                       props=nv("no-quorum-policy", "freeze"))
    assert summary(root) == [("Start", "fence", "node2", "quorum freeze (blocked)"),
                             ("Stop", "A", "node1", "(blocked)"),
                             ("Start", "B", "node2", "quorum freeze (blocked)")]


def test_requires_nothing_starts_without_quorum() -> None:
    root = fencing_cib(["node1"], prim("A", nv("requires", "nothing")),
                       node_state("node1", "1"), quorum=False)
    assert summary(root) == [("Start", "fence", "node1", "no quorum (blocked)"),
                             ("Start", "A", "node1", "")]


def test_a_start_waits_for_probes_on_a_pending_node() -> None:
    pending = '<node_state id="2" uname="node2" in_ccm="true" crmd="online" join="pending"/>'
    root = fencing_cib(["node1", "node2"], status=node_state("node1", "1") + pending)
    assert summary(root) == [("Start", "fence", "node1", "(blocked)")]


def test_with_stonith_enabled_and_no_device_nothing_is_managed() -> None:
    root = fencing_cib(["node1"], prim("A"), node_state("node1", "1"))
    for device in root.iter("primitive"):
        if device.get("class") == "stonith":
            device.getparent().remove(device)
    assert summary(root) == []


def test_a_stop_waits_for_the_stop_of_a_blocked_group_member() -> None:
    group = ('<group id="g">' + prim("A", nv("target-role", "Stopped")) + prim("B")
             + '</group>')
    lrm = history("A", op("A", "start")) + history("B", op("B", "stop", rc=1, call=3))
    root = cib(["node1"], group, status=node_state("node1", "1", lrm))
    assert summary(root) == [("Stop", "A", "node1", "node availability (blocked)")]


def test_requires_quorum_is_not_multiply_active_for_a_node_being_fenced() -> None:
    lrm = history("B", op("B", "start"))
    failed = lrm + history("A", op("A", "start"), op("A", "stop", rc=1, call=3))
    root = fencing_cib(["node1", "node2"], prim("A") + prim("B", nv("requires", "quorum")),
                       node_state("node1", "1", lrm) + node_state("node2", "2", failed))
    assert summary(root) == [("Fence", "node2", "reboot", "A failed there"),
                             ("Start", "fence", "node1", ""),
                             ("Recover", "A", "node2 -> node1", "")]


def test_a_stop_failed_for_good_where_fencing_is_impossible_blocks_the_resource() -> None:
    lrm = history("A", op("A", "start"), op("A", "stop", rc=5, call=3))
    root = fencing_cib(["node1", "node2"], prim("A"),
                       _gone("node1", "1", lrm) + node_state("node2", "2"), quorum=False)
    assert summary(root) == [("Start", "fence", "node2", "no quorum (blocked)")]


def test_nodes_never_unfenced_are_unfenced_before_the_device_is_probed() -> None:
    root = fencing_cib(["node1", "node2", "node3"], prim("A"),
                       node_state("node1", "1") + node_state("node2", "2")
                       + node_state("node3", "3", transient=nv("#node-unfenced", "1234")))
    device = next(p for p in root.iter("primitive") if p.get("id") == "fence")
    device.append(etree.fromstring('<meta_attributes id="fm">'
                                   '<nvpair id="fp" name="provides" value="unfencing"/>'
                                   '</meta_attributes>'))
    assert summary(root) == [("Fence", "node2", "on", "required by fence monitor"),
                             ("Fence", "node1", "on", "required by fence monitor"),
                             ("Start", "fence", "node1", ""),
                             ("Start", "A", "node2", "")]


def test_a_shutdown_lock_keeps_a_resource_with_its_node() -> None:
    status = (node_state("node1", "1", history("A", op("A", "start")),
                         transient=nv("shutdown", "1578347951"))
              + node_state("node2", "2"))
    root = cib(["node1", "node2"], prim("A"), status=status, props=nv("shutdown-lock", "true"))
    assert summary(root) == [("Stop", "A", "node1", "node availability")]
    unlocked = cib(["node1", "node2"], prim("A"), status=status)
    assert summary(unlocked) == [("Move", "A", "node1 -> node2", "")]


def test_a_clone_not_requiring_fencing_on_a_lost_node_is_an_orphan_instance() -> None:
    clone = ('<clone id="C-clone"><meta_attributes id="cm">'
             '<nvpair id="cmax" name="clone-max" value="2"/></meta_attributes>'
             + prim("C", '<nvpair id="rq" name="requires" value="quorum"/>') + '</clone>')
    lrm = history("C", op("C", "start"))
    status = (_gone("node1", "1", lrm) + node_state("node2", "2", lrm)
              + node_state("node3", "3"))
    root = fencing_cib(["node1", "node2", "node3"], clone, status)
    assert summary(root) == [("Fence", "node1", "reboot", "peer is no longer part of the cluster"),
                             ("Start", "fence", "node2", ""),
                             ("Start", "C:1", "node3", ""),
                             ("Stop", "C:2", "node1", "node availability")]


def test_a_changed_unfencing_device_unfences_again_and_restarts_what_needs_it() -> None:
    unfenced = nv("#node-unfenced", "1234")
    device = ('<lrm_resource id="fence" class="stonith" type="fence_dummy">'
              + op("fence", "start", digest="0" * 32) + '</lrm_resource>')
    status = (node_state("node1", "1", device + history("A", op("A", "start", call=3)),
                         transient=unfenced)
              + node_state("node2", "2", history("A", op("A", "monitor", rc=7, call=1))
                           + history("fence", op("fence", "monitor", rc=7, call=1)),
                           transient=unfenced.replace("nv-#", "nv2-#")))
    root = fencing_cib(["node1", "node2"], prim("A", nv("resource-stickiness", "100")), status)
    device_el = next(p for p in root.iter("primitive") if p.get("id") == "fence")
    device_el.append(etree.fromstring('<meta_attributes id="fm">'
                                      '<nvpair id="fp" name="provides" value="unfencing"/>'
                                      '</meta_attributes>'))
    for h in root.iter("lrm_resource"):
        if h.get("id") == "fence":
            h.attrib.update({"class": "stonith", "type": "fence_dummy"})
            h.attrib.pop("provider", None)
    assert summary(root) == [("Fence", "node1", "on", "Device parameters changed"),
                             ("Restart", "fence", "node1", "resource definition change"),
                             ("Restart", "A", "node1", "required stonith")]


def test_restarts_in_a_group_before_a_blocked_member_can_only_stop_blocked() -> None:
    group = '<group id="g">' + prim("A") + prim("B") + prim("C") + prim("D") + '</group>'
    lrm = (history("A", op("A", "monitor", rc=7, call=1)) + history("B", op("B", "start"))
           + history("C", op("C", "start", call=3))
           + history("D", op("D", "start", call=4), op("D", "stop", rc=1, call=5)))
    root = cib(["node1"], group, status=node_state("node1", "1", lrm))
    assert summary(root) == [("Start", "A", "node1", ""),
                             ("Stop", "B", "node1", "unrunnable C stop (blocked)"),
                             ("Stop", "C", "node1", "required B stop (blocked)")]


def test_an_unfencing_in_the_graph_orders_that_nodes_probes_and_fences_nothing() -> None:
    lrm = history("A", op("A", "start"))
    root = fencing_cib(["node1", "node2"], prim("A", nv("target-role", "Stopped")),
                       node_state("node1", "1", lrm) + node_state("node2", "2"))
    device = next(p for p in root.iter("primitive") if p.get("id") == "fence")
    device.append(etree.fromstring('<meta_attributes id="fm">'
                                   '<nvpair id="fp" name="provides" value="unfencing"/>'
                                   '</meta_attributes>'))
    graph = build_graph(schedule(root))
    unfence = [a for a in graph.actions if a.kind == "crm_event"]
    assert {a.meta["stonith_action"] for a in unfence} == {"on"}
    stop = next(a for a in graph.actions if a.operation == "stop")
    assert stop.kind == "rsc_op"  # a real stop: nothing is fenced
    probe = next(a for a in graph.actions if a.operation == "monitor" and a.node == "node1"
                 and a.resource == "fence")
    assert any(u.id in probe.inputs for u in unfence if u.node == "node1")
