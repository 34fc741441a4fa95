"""Node health: ``#health-*`` attributes as location scores by node-health-strategy.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, node_state, nv, prim

from ha.scheduler import schedule


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def health_cib(strategy: str, colour: str, meta: str = "", props: str = "") -> etree._Element:
    status = (node_state("node1", "1", transient=nv("#health-disk", colour))
              + node_state("node2", "2"))
    prefer1 = '<rsc_location id="l" rsc="A" node="node1" score="100"/>'
    return cib(["node1", "node2"], prim("A", meta), prefer1, status,
               props=nv("node-health-strategy", strategy) + props)


def test_without_a_strategy_health_is_ignored() -> None:
    assert summary(health_cib("none", "red")) == [("Start", "A", "node1", "")]


def test_migrate_on_red_keeps_resources_off_a_red_node() -> None:
    assert summary(health_cib("migrate-on-red", "red")) == [("Start", "A", "node2", "")]
    assert summary(health_cib("migrate-on-red", "yellow")) == [("Start", "A", "node1", "")]


def test_only_green_keeps_resources_off_a_yellow_node() -> None:
    assert summary(health_cib("only-green", "yellow")) == [("Start", "A", "node2", "")]


def test_progressive_adds_the_colour_score() -> None:
    props = nv("node-health-yellow", "-200")
    assert summary(health_cib("progressive", "yellow", props=props)) == [
        ("Start", "A", "node2", "")]


def test_allow_unhealthy_nodes_ignores_bad_health() -> None:
    root = health_cib("migrate-on-red", "red", meta=nv("allow-unhealthy-nodes", "true"))
    assert summary(root) == [("Start", "A", "node1", "")]
