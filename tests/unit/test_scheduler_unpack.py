"""Stage 1, unpack: node state and each resource's state from its operation history."""

from __future__ import annotations

from test_scheduler_cibs import (
    DIGEST_NO_PARAMS,
    cib,
    history,
    node_state,
    nv,
    op,
    prim,
    two_nodes,
)

from ha.scheduler.status import params_digest
from ha.scheduler.unpack import unpack


def test_online_offline_and_standby_nodes() -> None:
    root = cib(["node1", "node2", "node3"],
               status=node_state("node1", "1") + node_state("node2", "2", online=False),
               node_attrs={"node3": nv("standby", "on")})
    nodes = {n.uname: n for n in unpack(root).nodes}
    assert nodes["node1"].online and nodes["node1"].can_run
    assert not nodes["node2"].online  # node_state says it left
    assert not nodes["node3"].online  # no node_state at all
    assert nodes["node3"].standby


def test_nodes_are_in_natural_name_order() -> None:
    root = cib(["node10", "node2", "Node1"])
    assert [n.uname for n in unpack(root).nodes] == ["Node1", "node2", "node10"]


def test_history_replayed_in_call_id_order() -> None:
    # start (call 2) then stop (call 3) listed out of order: it is stopped
    stopped = history("A", op("A", "stop", call=3), op("A", "start", call=2))
    running = history("A", op("A", "monitor", rc=7, call=1), op("A", "start", call=2))
    root = cib(["node1", "node2"], prim("A"), status=two_nodes(stopped, running))
    (rsc,) = unpack(root).resources
    assert rsc.running == {"node2": "Started"}
    assert rsc.known_on == {"node1", "node2"}


def test_probe_results_not_running_running_and_promoted() -> None:
    root = cib(["node1", "node2"], prim("A"),
               status=two_nodes(history("A", op("A", "monitor", rc=7)),
                                history("A", op("A", "monitor", rc=8))))
    (rsc,) = unpack(root).resources
    assert rsc.running == {"node2": "Promoted"}


def test_failed_start_marks_the_resource_failed_there() -> None:
    root = cib(["node1", "node2"], prim("A"),
               status=two_nodes(history("A", op("A", "start", rc=1))))
    (rsc,) = unpack(root).resources
    assert rsc.failed == {"node1": True} and "node1" in rsc.running


def test_op_digest_is_md5_of_the_sorted_parameters() -> None:
    assert params_digest({}) == DIGEST_NO_PARAMS
    # the digests Pacemaker recorded for fake=foo, passwd=whatever (corpus:
    # restart-with-extra-op-params)
    assert params_digest({"passwd": "whatever", "fake": "foo"}) == \
        "457016173e548c394dcf3896e3066412"


def test_changed_parameters_are_detected_on_the_active_node() -> None:
    root = cib(["node1", "node2"], prim("A", params=nv("fake", "bar")),
               status=two_nodes(history("A", op("A", "start"))))
    (rsc,) = unpack(root).resources
    assert rsc.changed_on == {"node1"}


def test_meta_attributes_fall_back_to_rsc_defaults() -> None:
    root = cib(["node1"], prim("A") + prim("B", nv("resource-stickiness", "5")),
               rsc_defaults=nv("resource-stickiness", "100"))
    sticky = {r.id: r.stickiness for r in unpack(root).resources}
    assert sticky == {"A": 100, "B": 5}
