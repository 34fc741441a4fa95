"""The transition graph (graph XML, DOT, JSON) and its simulated run (``ha simulate -S``)."""

from __future__ import annotations

import json

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, op, prim

from ha.cli.main import main
from ha.scheduler import schedule
from ha.scheduler.execute import order_of_execution, run_graph
from ha.scheduler.graph import build_graph, graph_dot, graph_xml
from ha.scheduler.text import render

MONITORED = ('<primitive id="A" class="ocf" provider="pacemaker" type="Dummy">'
             '<instance_attributes id="A-i"><nvpair id="A-s" name="state" value="/run/A"/>'
             '</instance_attributes><operations>'
             '<op id="A-start" name="start" interval="0" timeout="40s"/>'
             '<op id="A-mon" name="monitor" interval="10s" timeout="15s"/>'
             '</operations></primitive>')


def cold_cluster() -> etree._Element:
    return cib(["node1", "node2"], MONITORED,
               status=node_state("node1", "1") + node_state("node2", "2"))


def test_graph_actions_carry_what_the_executor_needs() -> None:
    g = build_graph(schedule(cold_cluster()))
    by_label = {a.label: a for a in g.actions}
    start = by_label["A_start_0 node1"]
    assert start.kind == "rsc_op" and start.timeout_ms == 40_000
    assert start.params == {"state": "/run/A"}
    assert start.agent == ("ocf", "pacemaker", "Dummy")
    mon = by_label["A_monitor_10000 node1"]
    assert (mon.interval_ms, mon.timeout_ms, mon.meta["name"]) == (10_000, 15_000, "monitor")
    probe = by_label["A_monitor_0 node2"]
    assert probe.meta["op_target_rc"] == "7" and probe.timeout_ms == 20_000
    # the start waits for both probes; the monitor for the start
    assert set(start.inputs) == {by_label["A_monitor_0 node1"].id, probe.id}
    assert mon.inputs == [start.id]


def test_op_defaults_timeout_applies_when_the_op_has_none() -> None:
    root = cib(["node1"], prim("B"), status=node_state("node1", "1"))
    conf = root.find("configuration")
    assert conf is not None
    conf.append(etree.fromstring('<op_defaults><meta_attributes id="od">'
                                 '<nvpair id="od-t" name="timeout" value="90s"/>'
                                 '</meta_attributes></op_defaults>'))
    g = build_graph(schedule(root))
    assert {a.timeout_ms for a in g.actions} == {90_000}


def test_graph_xml_has_a_synapse_per_action_with_its_triggers() -> None:
    g = build_graph(schedule(cold_cluster()))
    root = etree.fromstring(graph_xml(g))
    assert root.tag == "transition_graph" and root.get("transition_id") == "0"
    synapses = root.findall("synapse")
    assert len(synapses) == len(g.actions)
    start = next(s for s in synapses
                 if s.find("action_set/rsc_op").get("operation_key") == "A_start_0")
    op_el = start.find("action_set/rsc_op")
    assert op_el.get("on_node") == "node1"
    assert op_el.find("primitive").get("type") == "Dummy"
    attrs = op_el.find("attributes")
    assert attrs.get("CRM_meta_timeout") == "40000" and attrs.get("state") == "/run/A"
    triggers = [t.find("rsc_op").get("operation_key") for t in start.findall("inputs/trigger")]
    assert sorted(triggers) == ["A_monitor_0", "A_monitor_0"]


def test_dot_draws_every_action_and_edge() -> None:
    g = build_graph(schedule(cold_cluster()))
    dot = graph_dot(g)
    assert dot.lstrip().startswith('digraph "g" {') and dot.rstrip().endswith("}")
    assert '"A_monitor_0 node2" -> "A_start_0 node1" [ style = bold]' in dot
    assert dot.count("->") == len(g.edges)


def test_fencing_comes_before_recovery_and_implies_the_stop() -> None:
    status = (node_state("node1", "1") +
              node_state("node2", "2", history("A", op("A", "start")), online=False))
    # fencing needs a device: without one, nothing is fenced and nothing is managed
    device = '<primitive id="fence" class="stonith" type="fence_dummy"/>'
    root = cib(["node1", "node2"], device + prim("A"), status=status)
    crm = root.find("configuration/crm_config/cluster_property_set")
    assert crm is not None
    for nvp in crm.findall("nvpair"):
        if nvp.get("name") == "stonith-enabled":
            nvp.set("value", "true")
    t = schedule(root)
    assert any(c.verb == "Fence" and c.resource == "node2" for c in t.changes)
    g = build_graph(t)
    fence = next(a for a in g.actions if a.kind == "crm_event")
    assert (fence.operation, fence.node, fence.key) == ("stonith", "node2",
                                                        "stonith-node2-reboot")
    start = next(a for a in g.actions if a.label == "A_start_0 node1")
    assert fence.id in start.inputs
    stop = next(a for a in g.actions if a.operation == "stop")
    assert stop.kind == "pseudo_event" and fence.id in stop.inputs
    run = run_graph(t.cluster, g)
    assert "Fencing node2 (reboot)" in run.lines
    assert run.revised.resource("A").running == {"node1": "Started"}
    node2 = run.revised.node("node2")
    assert node2 is not None and not node2.online and not node2.unclean


def test_simulated_run_fires_in_waves_and_revises_the_status() -> None:
    t = schedule(cold_cluster())
    g = build_graph(t)
    fired, stuck = order_of_execution(g)
    assert not stuck
    tasks = [a.label for a in fired]
    assert tasks.index("A_monitor_0 node2") < tasks.index("A_start_0 node1") \
        < tasks.index("A_monitor_10000 node1")
    run = run_graph(t.cluster, g)
    assert run.revised.resource("A").running == {"node1": "Started"}
    assert t.cluster.resource("A").running == {}  # the input is left as it was
    text = render(t, run=run)
    assert "Executing Cluster Transition:\n  * Resource action: A               monitor on node1" \
        in text
    assert "  * Resource action: A               monitor=10000 on node1" in text
    assert text.split("Revised Cluster Status:\n")[1].count("Started node1") == 1


def test_an_ordering_cycle_is_reported_not_run() -> None:
    t = schedule(cold_cluster())
    g = build_graph(t)
    a, b = g.actions[0], g.actions[1]
    a.inputs.append(b.id)
    b.inputs.append(a.id)
    fired, stuck = order_of_execution(g)
    assert {x.id for x in stuck} >= {a.id, b.id}
    assert not {x.id for x in fired} & {a.id, b.id}


def test_cli_simulate_S_G_D_and_json(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cib.xml"
    path.write_bytes(etree.tostring(cold_cluster()))
    gx, dot = tmp_path / "g.xml", tmp_path / "g.dot"
    assert main(["simulate", "-x", str(path), "-S", "-G", str(gx), "-D", str(dot)]) == 0
    out = capsys.readouterr().out
    assert "Executing Cluster Transition:" in out and "Revised Cluster Status:" in out
    assert etree.fromstring(gx.read_bytes()).tag == "transition_graph"
    assert "->" in dot.read_text()
    assert main(["simulate", "-x", str(path), "-S", "--output-as", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["executed"][-1] == "A_monitor_10000 node1"
    assert any(a["operation"] == "start" and a["timeout_ms"] == 40_000
               for a in data["graph"]["actions"])
    bad = tmp_path / "no" / "g.xml"
    assert main(["simulate", "-x", str(path), "-G", str(bad)]) == 1
    assert "g.xml" in capsys.readouterr().err


def test_what_the_summary_stops_the_graph_stops_and_starts_nothing_of() -> None:
    running = node_state("node1", "1", history("A", op("A", "start")))
    root = cib(["node1", "node2"], MONITORED, status=running + node_state("node2", "2"))
    root.set("have-quorum", "0")  # no-quorum-policy stop (the default): A stops
    t = schedule(root)
    assert [(c.verb, c.resource, c.reason) for c in t.changes] == [
        ("Stop", "A", "no quorum")]
    g = build_graph(t)
    assert [a.label for a in g.actions if a.kind == "rsc_op" and a.operation != "monitor"] \
        == ["A_stop_0 node1"]
    assert not [a for a in g.actions if a.interval_ms]
    assert run_graph(t.cluster, g).revised.resource("A").running == {}
