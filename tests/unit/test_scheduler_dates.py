"""Dates: ISO 8601 as the CIB writes it, date expressions in location rules and in
attribute sets, failure-timeout -- all judged against "now" (the ``now`` argument, else
the CIB's execution-date).

Every expected summary here was checked with Pacemaker 2.1.5's ``crm_simulate -x FILE -S``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from lxml import etree
from test_scheduler_cibs import cib, history, node_state, nv, op, prim, two_nodes

from ha.scheduler import schedule
from ha.scheduler.dates import parse_date

T0 = 1_600_000_000  # 2020-09-13 12:26:40 UTC


def summary(root: etree._Element) -> list[tuple[str, str, str, str]]:
    return [(c.verb, c.resource, c.details, c.reason) for c in schedule(root).changes]


def at(root: etree._Element, epoch: int) -> etree._Element:
    root.set("execution-date", str(epoch))
    return root


def test_iso_dates_as_pacemaker_reads_them() -> None:
    assert parse_date("2005-020") == datetime(2005, 1, 20, tzinfo=UTC)
    assert parse_date("2005-020T12:30") == datetime(2005, 1, 20, 12, 30, tzinfo=UTC)
    assert parse_date("2019-09-23 18:00:00 -05:00") == datetime(
        2019, 9, 23, 18, tzinfo=timezone(-timedelta(hours=5)))
    assert parse_date("2009-W01-1") == datetime(2008, 12, 29, tzinfo=UTC)
    assert parse_date("yesterday") is None


def dated_location(expr: str) -> str:
    return ('<rsc_location id="l" rsc="A"><rule id="r" score="100">'
            f'{expr}</rule></rsc_location>'
            '<rsc_location id="l2" rsc="A"><rule id="r2" score="50">'
            '<expression id="e2" attribute="#uname" operation="eq" value="node1"/>'
            '</rule></rsc_location>')


def test_a_date_rule_applies_only_in_its_range() -> None:
    rule = ('<date_expression id="d" operation="in_range" start="2020-09-01" end="2020-10-01"/>'
            '<expression id="e" attribute="#uname" operation="eq" value="node2"/>')
    during = at(cib(["node1", "node2"], prim("A"), dated_location(rule), two_nodes()), T0)
    after = at(cib(["node1", "node2"], prim("A"), dated_location(rule), two_nodes()), T0 + 90 * 86400)
    assert summary(during) == [("Start", "A", "node2", "")]
    assert summary(after) == [("Start", "A", "node1", "")]


def test_now_argument_overrides_execution_date() -> None:
    rule = ('<date_expression id="d" operation="gt" start="2021-01-01"/>'
            '<expression id="e" attribute="#uname" operation="eq" value="node2"/>')
    root = at(cib(["node1", "node2"], prim("A"), dated_location(rule), two_nodes()), T0)
    later = datetime(2022, 1, 1, tzinfo=UTC)
    assert [c.details for c in schedule(root, later).changes] == ["node2"]


def test_a_meta_attribute_set_with_a_date_rule() -> None:
    rsc = prim("A").replace(
        "</primitive>", '<meta_attributes id="m2" score="10">'
        '<rule id="mr" score="INFINITY"><date_expression id="md" operation="lt" end="2020-01-01"/>'
        f'</rule>{nv("target-role", "Stopped")}</meta_attributes></primitive>')
    assert summary(at(cib(["node1", "node2"], rsc, status=two_nodes()), T0)) == [
        ("Start", "A", "node1", "")]


def failed_monitor(timeout: str) -> etree._Element:
    mon = op("A", "monitor", rc=7, call=3, interval=10000).replace(
        "/>", f' last-rc-change="{T0}"/>')
    lrm = history("A", op("A", "start", call=2), mon)
    attrs = nv("fail-count-A#monitor_10000", "1") + nv("last-failure-A#monitor_10000", str(T0))
    status = node_state("node1", "1", lrm, transient=attrs) + node_state("node2", "2")
    meta = nv("migration-threshold", "1") + nv("failure-timeout", timeout)
    return cib(["node1", "node2"], prim("A", meta), status=status)


def test_an_unexpired_failure_moves_it_away() -> None:
    assert summary(at(failed_monitor("60s"), T0 + 30)) == [("Recover", "A", "node1 -> node2", "")]


def test_an_expired_failure_is_forgotten() -> None:
    assert summary(at(failed_monitor("60s"), T0 + 120)) == []


def banned_where(value: str, vtype: str, op: str, node_value: str) -> etree._Element:
    expr = (f'<expression id="e" attribute="v" operation="{op}" value="{value}"'
            + (f' type="{vtype}"' if vtype else "") + "/>")
    ban = f'<rsc_location id="b" rsc="A"><rule id="r" score="-INFINITY">{expr}</rule></rsc_location>'
    root = cib(["node1", "node2"], prim("A"), ban, two_nodes(),
               node_attrs={"node1": nv("v", node_value)})
    root.set("validate-with", "pacemaker-3.7")  # type="integer" came with 3.5
    return root


def test_unparsable_numbers_compare_as_strings() -> None:
    # "as2.0" > "as10.0" as strings: node1 is banned
    assert summary(banned_where("as10.0", "number", "gt", "as2.0")) == [("Start", "A", "node2", "")]
    assert summary(banned_where("as10", "integer", "gt", "as2")) == [("Start", "A", "node2", "")]


def test_untyped_comparisons_are_numeric_and_equality_ignores_case() -> None:
    assert summary(banned_where("10", "", "gt", "9")) == [("Start", "A", "node1", "")]
    assert summary(banned_where("ABC", "", "eq", "abc")) == [("Start", "A", "node2", "")]


def test_value_source_param_compares_with_the_resource_parameter() -> None:
    rule = ('<rsc_location id="l" rsc-pattern="^rsc"><rule id="r" score="INFINITY">'
            '<expression id="e" attribute="rack" operation="eq" value="rack" value-source="param"/>'
            '</rule></rsc_location>')
    root = cib(["node1", "node2"], prim("rsc1", params='<nvpair id="p-rack" name="rack" value="2"/>') + prim("other"), rule,
               two_nodes(), node_attrs={"node1": nv("rack", "1"), "node2": nv("rack", "2")})
    root.set("validate-with", "pacemaker-3.7")
    assert summary(root) == [("Start", "rsc1", "node2", ""), ("Start", "other", "node1", "")]


def test_an_inverted_pattern_constrains_what_it_does_not_match() -> None:
    ban = ('<rsc_location id="l" rsc-pattern="!^rsc"><rule id="r" score="-INFINITY">'
           '<expression id="e" attribute="#uname" operation="eq" value="node1"/>'
           '</rule></rsc_location>')
    root = cib(["node1", "node2"], prim("rsc1") + prim("other"), ban, two_nodes())
    root.set("validate-with", "pacemaker-3.7")
    assert summary(root) == [("Start", "rsc1", "node1", ""), ("Start", "other", "node2", "")]


def test_in_an_opt_in_cluster_a_group_location_allows_every_member() -> None:
    group = f'<group id="G">{prim("A")}{prim("B")}</group>'
    root = cib(["node1", "node2"], group, '<rsc_location id="l" rsc="G" node="node2" score="100"/>',
               two_nodes(), props=nv("symmetric-cluster", "false"))
    assert summary(root) == [("Start", "A", "node2", ""), ("Start", "B", "node2", "")]
