"""on-fail policies and results that are not failures, and multiply active resources.

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -R``.
"""

from __future__ import annotations

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim, two_nodes

from ha.scheduler import schedule
from ha.scheduler.digests import params_digest


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def with_monitor(rid: str, on_fail: str) -> str:
    return prim(rid).replace("</primitive>", f'<operations><op id="{rid}-mon" name="monitor"'
                             f' interval="10s" on-fail="{on_fail}"/></operations></primitive>')


def test_an_ignored_hard_error_neither_bans_nor_recovers() -> None:
    lrm = history("A", op("A", "start"), op("A", "monitor", rc=5, call=3, interval=10000))
    root = cib(["node1", "node2"], with_monitor("A", "ignore"), status=two_nodes(lrm))
    assert summary(root) == []


def test_an_ignored_missing_agent_is_still_recovered_elsewhere() -> None:
    failed = op("A", "monitor", rc=5, call=3, interval=10000).replace(
        'op-status="0"', 'op-status="7"')
    lrm = history("A", op("A", "start"), failed)
    root = cib(["node1", "node2"], with_monitor("A", "ignore"), status=two_nodes(lrm))
    assert summary(root) == [("Recover", "A", "node1 -> node2", "")]


def test_a_degraded_monitor_is_running() -> None:
    lrm = history("A", op("A", "start"), op("A", "monitor", rc=190, call=3, interval=10000))
    root = cib(["node1", "node2"], with_monitor("A", "restart"), status=two_nodes(lrm))
    assert summary(root) == []


def test_multiply_active_with_a_failure_is_recovered() -> None:
    status = two_nodes(history("A", op("A", "start")),
                       history("A", op("A", "start", rc=1)))
    root = cib(["node1", "node2"], prim("A"), status=status)
    assert summary(root) == [("Recover", "A", "node1", "")]


def test_stop_unexpected_says_it_was_multiply_active() -> None:
    meta = '<nvpair id="ma" name="multiple-active" value="stop_unexpected"/>'
    status = two_nodes(history("A", op("A", "start")),
                       history("A", op("A", "start", rc=1)))
    root = cib(["node1", "node2"], prim("A", meta), status=status)
    assert summary(root) == [("Recover", "A", "node1", "being multiply active")]


def test_a_pending_start_from_a_later_transition_is_the_newest_operation() -> None:
    stop = op("A", "stop", call=3)
    pending = (op("A", "start", call=-1).replace('op-status="0"', 'op-status="-1"')
               .replace("-1:1:0:0f3e", "-1:4:0:0f3e"))
    root = cib(["node1", "node2"], prim("A"),
               status=two_nodes(history("A", op("A", "start"), stop, pending)))
    assert summary(root) == []


def test_an_ignored_failure_lifts_the_migration_threshold() -> None:
    lrm = history("A", op("A", "start"), op("A", "monitor", rc=7, call=3, interval=10000))
    status = (node_state("node1", "1", lrm, transient=nv("fail-count-A", "3"))
              + node_state("node2", "2"))
    rsc = with_monitor("A", "ignore").replace(
        '<meta_attributes id="A-m">', '<meta_attributes id="A-m">'
        + nv("migration-threshold", "2"))
    assert summary(cib(["node1", "node2"], rsc, status=status)) == []


def test_a_change_only_in_masked_secrets_is_no_change() -> None:
    params = nv("a", "1") + '<nvpair id="pw" name="passwd" value="****"/>'
    start = op("A", "start", digest=params_digest({"a": "1", "passwd": "secret"})).replace(
        "/>", f' op-secure-params=" passwd " op-secure-digest="{params_digest({"a": "1"})}"'
        ' crm_feature_set="3.16.0"/>')
    root = cib(["node1", "node2"], prim("A", params=params),
               status=two_nodes(history("A", start)))
    assert summary(root) == []
    # scheduling a live, unmasked CIB (as the schedulerd does): "****" is the secret's
    # value now, a change like any other
    live = schedule(root, sanitized=False)
    assert [(c.verb, c.resource, c.reason) for c in live.changes] == [
        ("Restart", "A", "resource definition change")]


def test_rsc_defaults_with_an_agent_rule_apply_to_that_agent_only() -> None:
    other = prim("B").replace('type="Dummy"', 'type="Stateful"')
    root = cib(["node1"], prim("A") + other, status=node_state("node1", "1"))
    root.set("validate-with", "pacemaker-3.5")  # rsc_expression is 3.5 syntax
    defaults = root.find("configuration/rsc_defaults")
    assert defaults is not None
    defaults.append(etree.fromstring(
        '<meta_attributes id="um"><rule id="um-r" score="INFINITY">'
        '<rsc_expression id="um-e" class="ocf" provider="pacemaker" type="Dummy"/></rule>'
        '<nvpair id="um-n" name="is-managed" value="false"/></meta_attributes>'))
    assert summary(root) == [("Start", "B", "node1", "")]


def test_a_colocation_set_ordered_listed_places_each_member_with_the_next() -> None:
    refs = "".join(f'<resource_ref id="{r}"/>' for r in "ABC")
    coloc = (f'<rsc_colocation id="cs" score="INFINITY"><resource_set id="s" '
             f'ordering="listed">{refs}</resource_set></rsc_colocation>')
    resources = prim("A") + prim("B") + prim("C", nv("target-role", "Stopped"))
    root = cib(["node1"], resources, coloc, status=node_state("node1", "1"))
    assert summary(root) == []


def test_restart_type_restart_restarts_then_when_first_stops() -> None:
    constraints = ('<rsc_location id="ban" rsc="A" node="node1" score="-INFINITY"/>'
                   '<rsc_order id="ord" first="A" first-action="stop" then="B"'
                   ' then-action="stop" kind="Optional"/>')
    resources = prim("A") + prim("B", '<nvpair id="rt" name="restart-type" value="restart"/>')
    status = two_nodes(history("A", op("A", "start")), history("B", op("B", "start")))
    root = cib(["node1", "node2"], resources, constraints, status=status,
               rsc_defaults=nv("resource-stickiness", "100"))
    assert summary(root) == [("Move", "A", "node1 -> node2", ""),
                             ("Restart", "B", "node2", "")]


def test_a_later_success_of_the_failed_monitor_clears_the_failure() -> None:
    ok = op("A", "monitor", call=3, interval=10000).replace(
        "/>", ' last-rc-change="2000"/>')
    failed = op("A", "monitor", rc=1, call=3, interval=10000).replace(
        'id="A_monitor_10000_3"', 'id="A_last_failure_0"').replace(
        "/>", ' last-rc-change="1000"/>')
    lrm = history("A", op("A", "start"), ok, failed)
    root = cib(["node1", "node2"], with_monitor("A", "block"), status=two_nodes(lrm))
    assert summary(root) == []
    stop = cib(["node1", "node2"], with_monitor("A", "stop"), status=two_nodes(lrm))
    assert summary(stop) == [("Stop", "A", "node1", "node availability")]


def test_stop_all_resources_stops_everything() -> None:
    root = cib(["node1", "node2"], prim("A") + prim("B"),
               status=two_nodes(history("A", op("A", "start"))),
               props=nv("stop-all-resources", "true"))
    assert summary(root) == [("Stop", "A", "node1", "node availability")]
