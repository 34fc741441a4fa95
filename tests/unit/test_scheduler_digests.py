"""Configuration changes judged from operation digests: reload, restart, nothing.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, nv, op, prim, two_nodes

from ha.scheduler import schedule
from ha.scheduler.digests import params_digest

NOW = params_digest({"x": "1", "y": "2"})
OLD = params_digest({"x": "0", "y": "2"})


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def started(digest: str, extra: str = "") -> etree._Element:
    start = op("A", "start", digest=digest).replace("/>", f"{extra}/>")
    return cib(["node1", "node2"], prim("A", params=nv("x", "1") + nv("y", "2")),
               status=two_nodes(history("A", start)))


def test_unchanged_parameters_do_nothing() -> None:
    assert summary(started(NOW)) == []


def test_changed_parameters_without_reload_support_restart() -> None:
    assert summary(started(OLD)) == [("Restart", "A", "node1", "resource definition change")]


def test_only_reloadable_parameters_changed_reloads() -> None:
    restart = params_digest({"y": "2"})
    extra = f' op-restart-digest="{restart}" op-force-restart=" y "'
    assert summary(started(OLD, extra)) == [("Reload", "A", "node1", "")]


def test_a_non_reloadable_parameter_changed_restarts() -> None:
    restart = params_digest({"x": "0"})
    extra = f' op-restart-digest="{restart}" op-force-restart=" x "'
    assert summary(started(OLD, extra)) == [
        ("Restart", "A", "node1", "resource definition change")]


def test_a_recurring_monitor_digest_counts_its_timeout() -> None:
    mon_digest = params_digest({"x": "1", "y": "2", "CRM_meta_timeout": "20000"})
    rsc = prim("A", params=nv("x", "1") + nv("y", "2")).replace(
        "</primitive>", '<operations><op id="m" name="monitor" interval="10s"/></operations>'
                        "</primitive>")
    lrm = history("A", op("A", "start", digest=NOW),
                  op("A", "monitor", call=3, interval=10000, digest=mon_digest))
    assert summary(cib(["node1", "node2"], rsc, status=two_nodes(lrm))) == []


def test_a_changed_agent_restarts_it_without_a_reason() -> None:
    lrm = history("A", op("A", "start", digest=NOW)).replace('type="Dummy"', 'type="Stateful"', 1)
    root = cib(["node1", "node2"], prim("A", params=nv("x", "1") + nv("y", "2")),
               status=two_nodes(lrm))
    assert summary(root) == [("Restart", "A", "node1", "")]


def test_a_reload_while_the_start_is_pending_is_a_restart() -> None:
    restart = params_digest({"y": "2"})
    pending = (op("A", "start", digest=OLD).replace('op-status="0"', 'op-status="-1"')
               .replace('call-id="2"', 'call-id="-1"')
               .replace("/>", f' op-restart-digest="{restart}" op-force-restart=" y "/>'))
    root = cib(["node1", "node2"], prim("A", params=nv("x", "1") + nv("y", "2")),
               status=two_nodes(history("A", pending)))
    assert summary(root) == [("Restart", "A", "node1", "")]


def test_a_resource_requiring_nothing_restarts_without_a_reason() -> None:
    # without fencing and with no-quorum-policy=ignore, "requires" defaults to nothing
    root = cib(["node1", "node2"], prim("A", params=nv("x", "1") + nv("y", "2")),
               status=two_nodes(history("A", op("A", "start", digest=OLD))),
               props=nv("no-quorum-policy", "ignore"))
    assert summary(root) == [("Restart", "A", "node1", "")]
