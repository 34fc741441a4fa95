"""Promotable clones on small CIBs: promotion scores, role constraints, role details.

Every expected value here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, nv, op, prim, two_nodes

from ha.scheduler import schedule


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def promotable(meta: str = "") -> str:
    return (f'<clone id="ms"><meta_attributes id="ms-m">{nv("promotable", "true")}{meta}'
            f'</meta_attributes>{prim("S")}</clone>')


def running(promoted: bool = False, call: int = 2) -> str:
    ops = [op("S", "monitor", 7, 1), op("S", "start", 0, call)]
    if promoted:
        ops.append(op("S", "promote", 0, call + 1))
    return history("S", *ops)


def score(value: int) -> str:
    return nv("master-S", str(value))


def transient_cib(lrm1: str, lrm2: str, attrs1: str, attrs2: str, resources: str = "",
                  constraints: str = "") -> etree._Element:
    from test_scheduler_cibs import node_state
    status = (node_state("node1", "1", lrm1, transient=attrs1)
              + node_state("node2", "2", lrm2, transient=attrs2))
    return cib(["node1", "node2"], promotable() + resources, constraints, status)


def test_the_highest_promotion_score_is_promoted_at_startup() -> None:
    root = transient_cib("", "", score(5), score(10))
    # the promotion score draws the first instance to node2 before it is promoted
    assert summary(root) == [("Promote", "S:0", "Stopped -> Promoted node2", ""),
                             ("Start", "S:1", "node1", "")]


def test_without_a_promotion_score_nothing_is_promoted() -> None:
    root = transient_cib(running(), running(), "", "")
    assert summary(root) == []


def test_a_higher_score_elsewhere_moves_the_promoted_role() -> None:
    root = transient_cib(running(promoted=True), running(), score(5), score(10))
    assert summary(root) == [("Demote", "S:0", "Promoted -> Unpromoted node1", ""),
                             ("Promote", "S:1", "Unpromoted -> Promoted node2", "")]


def test_a_location_for_the_promoted_role_adds_to_the_promotion_priority() -> None:
    loc = '<rsc_location id="l" rsc="ms" role="Master" node="node1" score="100"/>'
    root = transient_cib(running(), running(), score(5), score(10), constraints=loc)
    assert summary(root) == [("Promote", "S:0", "Unpromoted -> Promoted node1", "")]


def test_stopping_an_unpromoted_instance_names_its_role() -> None:
    loc = '<rsc_location id="l" rsc="ms" node="node2" score="-INFINITY"/>'
    root = transient_cib(running(), running(), "", "", constraints=loc)
    assert summary(root) == [("Stop", "S:1", "Unpromoted node2", "node availability")]


def test_a_resource_colocated_with_the_promoted_role_follows_it() -> None:
    coloc = ('<rsc_colocation id="c" rsc="IP" with-rsc="ms" with-rsc-role="Master"'
             ' score="INFINITY"/>')
    root = transient_cib(running(), running(), score(5), score(10), prim("IP"), coloc)
    assert summary(root) == [("Promote", "S:1", "Unpromoted -> Promoted node2", ""),
                             ("Start", "IP", "node2", "")]


def test_the_promoted_role_colocated_with_a_resource_goes_where_it_runs() -> None:
    coloc = ('<rsc_colocation id="c" rsc="ms" rsc-role="Master" with-rsc="IP"'
             ' score="INFINITY"/>')
    loc = '<rsc_location id="l" rsc="IP" node="node1" score="100"/>'
    root = transient_cib(running(), running(), score(5), score(10), prim("IP"), coloc + loc)
    assert summary(root) == [("Promote", "S:0", "Unpromoted -> Promoted node1", ""),
                             ("Start", "IP", "node1", "")]


def test_target_role_unpromoted_demotes() -> None:
    root = cib(["node1", "node2"], promotable(nv("target-role", "Slave")), "",
               two_nodes(running(promoted=True), running()))
    assert summary(root) == [("Demote", "S:0", "Promoted -> Unpromoted node1", "")]


def test_promoted_role_kept_apart_still_runs_unpromoted_where_no_other_node_is_left() -> None:
    # ms2 promoted on node1 (score), ms (promoted) may never be with it: S:1 still
    # starts on node1, only its promotion is kept away from there
    ms2 = ('<clone id="ms2"><meta_attributes id="ms2-m"><nvpair id="ms2-p" name="promotable"'
           ' value="true"/></meta_attributes>' + prim("T") + '</clone>')
    coloc = ('<rsc_colocation id="c" rsc="ms" rsc-role="Master" with-rsc="ms2"'
             ' with-rsc-role="Master" score="-INFINITY"/>')
    root = transient_cib("", "", score(5) + nv("master-T", "10"), score(10), ms2, coloc)
    assert summary(root) == [("Promote", "S:0", "Stopped -> Promoted node2", ""),
                             ("Start", "S:1", "node1", ""),
                             ("Promote", "T:0", "Stopped -> Promoted node1", ""),
                             ("Start", "T:1", "node2", "")]


def test_a_promotion_colocated_with_an_unstartable_resource_is_blocked() -> None:
    coloc = ('<rsc_colocation id="c" rsc="ms" rsc-role="Master" with-rsc="IP"'
             ' with-rsc-role="Started" score="INFINITY"/>'
             '<rsc_order id="o-x-ip" first="X" then="IP"/>'
             '<rsc_location id="l" rsc="X" node="node1" score="-INFINITY"/>'
             '<rsc_location id="l2" rsc="X" node="node2" score="-INFINITY"/>')
    root = transient_cib("", "", score(5), score(10), prim("IP") + prim("X"), coloc)
    assert summary(root) == [
        ("Start", "S:0", "node2", ""),
        ("Promote", "S:1", "Stopped -> Promoted node1", "colocation with IP (blocked)"),
        ("Start", "IP", "node1", "unrunnable X start (blocked)")]


def test_a_cloned_group_is_promoted_by_the_sum_of_its_members_scores() -> None:
    from test_scheduler_cibs import node_state
    ms = ('<clone id="msg"><meta_attributes id="msg-m"><nvpair id="msg-p" name="promotable"'
          ' value="true"/></meta_attributes><group id="g">' + prim("A") + prim("B")
          + '</group></clone>')
    status = (node_state("node1", "1", transient=nv("master-A", "5") + nv("master-B", "10"))
              + node_state("node2", "2", transient=nv("master-A", "12")))
    root = cib(["node1", "node2"], ms, "", status)
    assert summary(root) == [("Promote", "A:0", "Stopped -> Promoted node1", ""),
                             ("Promote", "B:0", "Stopped -> Promoted node1", ""),
                             ("Start", "A:1", "node2", ""), ("Start", "B:1", "node2", "")]


def test_an_instance_numbered_fail_count_bans_every_instance_of_an_anonymous_clone() -> None:
    # the promoted instance may not stay on node1: a new instance starts on node2
    # and is promoted there (no instance "moves")
    fails = nv("fail-count-S:0#monitor_10000", "1")
    root = cib(["node1", "node2"], promotable(nv("migration-threshold", "1")), "",
               two_nodes(running(promoted=True)).replace(
                   '<instance_attributes id="ti1">', f'<instance_attributes id="ti1">{fails}'))
    assert summary(root) == [("Stop", "S:0", "Promoted node1", "node availability"),
                             ("Start", "S:1", "node2", "")]


def test_a_failed_instance_is_promoted_after_one_that_did_not_fail() -> None:
    failed = history("S", op("S", "monitor", 7, 1), op("S", "start", 0, 2),
                     op("S", "monitor", 1, 3, interval=10000))
    root = transient_cib(failed, running(), score(5), score(5))
    assert summary(root) == [("Recover", "S:0", "Unpromoted node1", ""),
                             ("Promote", "S:1", "Unpromoted -> Promoted node2", "")]


def test_a_fail_count_without_its_operation_is_not_counted_in_a_recent_cib() -> None:
    # feature set 3.0.13 and later name fail counts fail-count-RSC#OP_INTERVAL only
    fails = nv("fail-count-S", "1")
    root = cib(["node1", "node2"], promotable(nv("migration-threshold", "1")), "",
               two_nodes(running(promoted=True)).replace(
                   '<instance_attributes id="ti1">', f'<instance_attributes id="ti1">{fails}'))
    assert summary(root) == [("Demote", "S:0", "Promoted -> Unpromoted node1", ""),
                             ("Start", "S:1", "node2", "")]


def test_a_lost_fence_ticket_for_the_promoted_role_fences_its_node() -> None:
    ticket = ('<rsc_ticket id="t" rsc="ms" rsc-role="Master" ticket="tA"'
              ' loss-policy="fence"/>')
    root = cib(["node1", "node2"], promotable() + prim("F").replace(
                   'class="ocf" provider="pacemaker" type="Dummy"', 'class="stonith" type="null"'),
               ticket, '<tickets><ticket_state id="tA" granted="false"/></tickets>'
               + two_nodes(running(promoted=True), running()))
    for option in root.iter("nvpair"):
        if option.get("name") == "stonith-enabled":
            option.set("value", "true")
    assert summary(root) == [("Fence", "node1", "reboot", "deadman ticket was lost"),
                             ("Stop", "S:0", "Promoted node1", "node availability"),
                             ("Start", "F", "node2", "")]


def _promotable_with_demote_on_fail() -> str:
    return ('<clone id="ms"><meta_attributes id="ms-m">' + nv("promotable", "true")
            + '</meta_attributes><primitive id="S" class="ocf" provider="pacemaker"'
            ' type="Dummy"><operations><op id="S-mon" name="monitor" interval="10s"'
            ' role="Master" on-fail="demote"/></operations></primitive></clone>')


def test_on_fail_demote_re_promotes_where_the_promoted_monitor_failed() -> None:
    from test_scheduler_cibs import node_state
    failed = history("S", op("S", "monitor", 7, 1), op("S", "start", 0, 2),
                     op("S", "promote", 0, 3)).replace(
        "</lrm_resource>", op("S", "monitor", 7, 4, interval=10000).replace(
            ':0:0f3e', ':8:0f3e') + "</lrm_resource>")
    status = (node_state("node1", "1", failed, transient=score(10))
              + node_state("node2", "2", running(), transient=score(5)))
    root = cib(["node1", "node2"], _promotable_with_demote_on_fail(), "", status)
    root.set("validate-with", "pacemaker-3.4")  # on-fail=demote is 3.4 syntax
    assert summary(root) == [("Re-promote", "S:0", "Promoted node1", "")]


def test_without_quorum_and_policy_demote_the_promoted_instance_is_demoted() -> None:
    root = cib(["node1", "node2"], promotable(), "",
               two_nodes(running(promoted=True), running()),
               props=nv("no-quorum-policy", "demote"))
    root.set("have-quorum", "0")
    assert summary(root) == [("Demote", "S:0", "Promoted -> Unpromoted node1", "")]


def test_the_graph_promotes_after_starting_and_the_run_shows_the_roles() -> None:
    from ha.scheduler.execute import run_graph
    from ha.scheduler.graph import build_graph
    from ha.scheduler.text import render

    root = transient_cib("", "", score(5), score(10))
    t = schedule(root)
    g = build_graph(t)
    by_label = {a.label: a for a in g.actions}
    promote, start = by_label["S:0_promote_0 node2"], by_label["S:0_start_0 node2"]
    assert start.id in promote.inputs
    revised = render(t, run=run_graph(t.cluster, g)).split("Revised Cluster Status:")[1]
    assert "Promoted: [ node2 ]" in revised and "Unpromoted: [ node1 ]" in revised


PROMOTE_THEN_X = '<rsc_order id="o1" first="ms" first-action="promote" then="X" then-action="start"/>'


def _x_running() -> str:
    return history("X", op("X", "monitor", 7, 1), op("X", "start", 0, 2))


def test_nothing_to_promote_keeps_what_is_ordered_after_the_promotion_stopped() -> None:
    root = transient_cib(running() + _x_running(), running(), "", "", prim("X"), PROMOTE_THEN_X)
    assert summary(root) == [("Stop", "X", "node1", "unrunnable ms promoted")]
    root = transient_cib("", "", "", "", prim("X"), PROMOTE_THEN_X)
    assert summary(root)[-1] == ("Start", "X", "node1", "unrunnable ms promoted (blocked)")


def test_a_promotion_with_a_start_or_demote_restarts_what_is_ordered_after_it() -> None:
    moved = transient_cib(running(promoted=True), running() + _x_running(), "", score(5),
                          prim("X"), PROMOTE_THEN_X)
    assert summary(moved)[-1] == ("Restart", "X", "node2", "required ms promoted")
    started = transient_cib(running(), _x_running(), "", score(5), prim("X"), PROMOTE_THEN_X)
    assert summary(started) == [("Promote", "S:1", "Stopped -> Promoted node2", ""),
                                ("Restart", "X", "node2", "required ms promoted")]
    alone = transient_cib(running(), running() + _x_running(), "", score(5), prim("X"),
                          PROMOTE_THEN_X.replace("/>", ' symmetrical="false"/>'))
    assert summary(alone) == [("Promote", "S:1", "Unpromoted -> Promoted node2", "")]


def test_explain_names_the_role_decided_and_the_role_constraints() -> None:
    from ha.scheduler.explain import explain

    loc = '<rsc_location id="l" rsc="ms" role="Master" node="node1" score="100"/>'
    t = schedule(transient_cib(running(), running(), score(5), score(10), constraints=loc))
    lines = explain(t, "S:0")
    assert "  decided: run on node1 as Promoted" in lines
    assert "  promotion priority: 105 (promoted-max 1, promoted-node-max 1)" in lines
    assert "  because: location for the Promoted role: 100 on node1" in lines


def test_a_promoted_instance_that_stops_is_demoted_first_in_the_graph() -> None:
    from ha.scheduler.execute import run_graph
    from ha.scheduler.graph import build_graph

    ban = '<rsc_location id="b" rsc="ms" node="node1" score="-INFINITY"/>'
    t = schedule(cib(["node1", "node2"], promotable(), ban,
                     two_nodes(running(promoted=True), running())))
    g = build_graph(t)
    by_label = {a.label: a for a in g.actions}
    assert by_label["S:0_demote_0 node1"].id in by_label["S:0_stop_0 node1"].inputs
    lines = run_graph(t.cluster, g).lines
    # the instances are named as their histories name them (an anonymous clone: S)
    assert lines.index("Resource action: S               demote on node1") \
        < lines.index("Resource action: S               stop on node1")


def test_a_legacy_master_resource_with_master_max_promotes_as_many() -> None:
    from test_scheduler_cibs import node_state
    ms = ('<master id="ms"><meta_attributes id="ms-m">' + nv("master-max", "2")
          + '</meta_attributes>' + prim("S") + '</master>')
    status = (node_state("node1", "1", running(), transient=score(5))
              + node_state("node2", "2", running(), transient=score(10)))
    root = cib(["node1", "node2"], ms, "", status)
    assert summary(root) == [("Promote", "S:0", "Unpromoted -> Promoted node1", ""),
                             ("Promote", "S:1", "Unpromoted -> Promoted node2", "")]


def test_an_anonymous_clone_is_probed_once_per_node_by_the_instance_placed_there() -> None:
    from ha.scheduler.execute import run_graph
    from ha.scheduler.graph import build_graph

    t = schedule(transient_cib("", "", score(5), score(10)))
    probes = [ln for ln in run_graph(t.cluster, build_graph(t)).lines if "monitor on" in ln]
    assert probes == ["Resource action: S:0             monitor on node2",
                      "Resource action: S:1             monitor on node1"]


def test_the_json_export_names_each_instance_s_roles_now_and_next() -> None:
    from ha.scheduler.export import transition_dict

    t = schedule(transient_cib(running(promoted=True), running(), score(5), score(10)))
    rows = {r["id"]: (r["roles"], r["next_role"]) for r in transition_dict(t)["resources"]}
    assert rows["S:0"] == ({"node1": "Promoted"}, "Unpromoted")
    assert rows["S:1"] == ({"node2": "Unpromoted"}, "Promoted")


def test_role_details_take_every_form_crm_simulate_prints() -> None:
    from ha.scheduler.actions import role_details

    assert role_details("Stopped", "Unpromoted", None, "n1") == "n1"
    assert role_details("Stopped", "Promoted", None, "n1") == "Stopped -> Promoted n1"
    assert role_details("Unpromoted", "Stopped", "n1", None) == "Unpromoted n1"
    assert role_details("Started", "Stopped", "n1", None) == "n1"
    assert role_details("Promoted", "Promoted", "n1", "n1") == "Promoted n1"
    assert role_details("Unpromoted", "Unpromoted", "n1", "n2") == "n1 -> n2 Unpromoted"
    assert role_details("Started", "Started", "n1", "n2") == "n1 -> n2"
    assert role_details("Unpromoted", "Promoted", "n1", "n1") == "Unpromoted -> Promoted n1"
    assert role_details("Promoted", "Unpromoted", "n1", "n2") == "Promoted n1 -> Unpromoted n2"
