"""ha.cib.validate: each check refuses a crafted bad CIB with a message naming the
element, its id, the attribute and what was expected; good CIBs pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from ha.cib.validate import check, duration_ms, value_problem, verify
from ha.cib.xml import CibError, Issue, empty, parse

GOOD = Path(__file__).parents[1] / "data" / "cib" / "good.xml"
NO_STONITH = ('<cluster_property_set id="opts">'
              '<nvpair id="opts-stonith" name="stonith-enabled" value="false"/>'
              "</cluster_property_set>")
D1 = '<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>'
D2 = '<primitive id="d2" class="ocf" provider="pacemaker" type="Dummy"/>'


def cib(resources: str = D1 + D2, constraints: str = "", crm_config: str = NO_STONITH,
        nodes: str = '<node id="1" uname="node1"/><node id="2" uname="node2"/>',
        more: str = "", root_attrs: str = "") -> str:
    return (f'<cib admin_epoch="0" epoch="1" num_updates="0" validate-with="pacemaker-3.9"'
            f"{root_attrs}><configuration><crm_config>{crm_config}</crm_config>"
            f"<nodes>{nodes}</nodes><resources>{resources}</resources>"
            f"<constraints>{constraints}</constraints>{more}</configuration><status/></cib>")


def issues(text: str, severity: str | None = None) -> list[Issue]:
    found = verify(parse(text))
    return [i for i in found if severity is None or i.severity == severity]


def only(text: str, severity: str = "error") -> Issue:
    found = issues(text, severity)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def only_in(root: etree._Element) -> Issue:
    found = [i for i in verify(root) if i.severity == "error"]
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def what(issue: Issue) -> tuple[str, str | None, str | None, str]:
    return issue.element, issue.id, issue.attribute, issue.message


# -- good input -----------------------------------------------------------------------

def test_a_full_pacemaker_cib_has_no_issues() -> None:
    root = parse(GOOD.read_bytes())
    assert verify(root) == []
    check(root)


def test_the_minimal_cib_passes() -> None:
    assert issues(cib()) == []


def test_an_empty_cib_only_warns_about_fencing() -> None:
    found = verify(empty())
    assert [(i.severity, i.check) for i in found] == [("warning", "stonith")]
    check(empty())


# -- CibError: every error, whole ------------------------------------------------------

def test_check_raises_with_every_error_and_no_warning() -> None:
    text = cib(resources=D1 + D1.replace('class="ocf"', 'class="foo"'),
               constraints='<rsc_order id="o" first="d1" then="zz" kind="Sometimes"/>'
                           '<rsc_location id="l" rsc="d1" node="node9" score="5"/>')
    with pytest.raises(CibError) as info:
        check(parse(text))
    err = info.value
    assert all(i.severity == "error" for i in err.issues)
    assert [i.check for i in err.issues] == ["id", "enumeration", "enumeration", "reference"]
    assert str(err).splitlines()[0] == "CIB refused: 4 errors"
    assert len(str(err).splitlines()) == 5
    assert "node9" not in str(err)  # a warning, not an error


def test_issue_names_element_id_attribute_and_expectation() -> None:
    issue = only(cib(resources=D1.replace('class="ocf" provider="pacemaker"', 'class="foo"')))
    assert str(issue) == (
        "error: primitive 'd1' (/cib/configuration/resources/primitive[@id='d1']): "
        "attribute 'class': expected one of ocf, lsb, service, stonith, systemd, got 'foo'")


# -- structure -------------------------------------------------------------------------

def test_missing_sections() -> None:
    found = issues('<cib admin_epoch="0" epoch="0" num_updates="0" validate-with="pacemaker-3.9">'
                   "<configuration><crm_config/><resources/></configuration></cib>", "error")
    assert [i.message for i in found] == ["required section <nodes> is missing",
                                          "required section <constraints> is missing"]


def test_missing_configuration_and_cib_attributes() -> None:
    found = issues("<cib/>", "error")
    assert [(i.attribute, i.message) for i in found] == [
        ("validate-with", "required attribute is missing"),
        ("admin_epoch", "required attribute is missing"),
        ("epoch", "required attribute is missing"),
        ("num_updates", "required attribute is missing"),
        (None, "required element <configuration> is missing")]


def test_unknown_attribute_names_the_known_ones() -> None:
    issue = only(cib(resources='<primitive id="d1" class="ocf" provider="p" type="D">'
                               '<operations><op id="m" name="monitor" interval="10s" '
                               'timout="20s"/></operations></primitive>'))
    assert (issue.element, issue.id, issue.attribute, issue.check) == (
        "op", "m", "timout", "attribute")
    assert issue.message == (
        "unknown attribute (expected one of: id, name, interval, description, start-delay, "
        "interval-origin, timeout, enabled, record-pending, role, on-fail)")


def test_op_interval_is_required() -> None:
    issue = only(cib(resources='<primitive id="d1" class="ocf" provider="p" type="D">'
                               '<operations><op id="m" name="monitor"/></operations></primitive>'))
    assert what(issue) == ("op", "m", "interval", "required attribute is missing")


def test_unknown_child_element() -> None:
    issue = only(cib(resources=D1 + '<primitve id="x"/>'))
    assert what(issue) == ("primitve", "x", None,
                           "element <primitve> is not allowed in <resources> (expected: "
                           "primitive, template, group, clone, master, bundle)")


def test_an_element_allowed_once() -> None:
    issue = only(cib(resources='<primitive id="d1" class="ocf" provider="p" type="D">'
                               "<operations/><operations/></primitive>"))
    assert what(issue) == ("primitive", "d1", None,
                           "<operations> may appear only once in <primitive>, found 2")


def test_group_and_clone_membership() -> None:
    found = issues(cib(resources='<group id="g"/><clone id="c">' + D1 + D2 + "</clone>"), "error")
    assert [what(i) for i in found] == [
        ("group", "g", None, "a group needs at least one primitive"),
        ("clone", "c", None, "a clone holds exactly one primitive or group, got 2")]


def test_stray_text_is_refused() -> None:
    issue = only(cib(resources=D1.replace("/>", ">oops</primitive>")))
    assert what(issue) == ("primitive", "d1", None,
                           "text is not allowed in <primitive> (only elements and attributes)")


def test_comments_are_fine_anywhere_in_the_configuration() -> None:
    text = cib(resources="<!-- a -->" + D1.replace("/>", "><!-- b --></primitive>") + D2)
    assert issues(text) == []


def test_nvset_needs_id_or_id_ref_not_both() -> None:
    issue = only(cib(resources='<primitive id="d1" class="ocf" provider="p" type="D">'
                               '<meta_attributes id="m1" id-ref="m1"/></primitive>'))
    assert what(issue) == ("meta_attributes", "m1", None, "expected exactly one of id, id-ref")


# -- ids ---------------------------------------------------------------------------------

def test_duplicate_id_names_both() -> None:
    issue = only(cib(resources=D1 + '<primitive id="d1" class="lsb" type="x"/>'))
    assert what(issue) == ("primitive", "d1", "id", "id 'd1' is not unique: also used by "
                           "primitive at /cib/configuration/resources/primitive[@id='d1'] "
                           "(line 1)")
    assert issue.path == "/cib/configuration/resources/primitive[@id='d1']"


def test_duplicate_id_in_a_tree_built_in_memory() -> None:
    root = parse(cib())
    resources = root.find("configuration/resources")
    assert resources is not None
    group = etree.Element("group", id="d2")
    etree.SubElement(group, "primitive", {"id": "d3", "class": "lsb", "type": "x"})
    resources.insert(0, group)
    issue = only_in(root)
    assert issue.message == ("id 'd2' is not unique: also used by group at "
                             "/cib/configuration/resources/group[@id='d2']")


def test_ids_are_unique_across_sections_and_element_kinds() -> None:
    issue = only(cib(constraints='<rsc_location id="d1" rsc="d2" node="node1" score="1"/>'))
    assert (issue.element, issue.attribute, issue.check) == ("rsc_location", "id", "id")


def test_node_ids_and_status_ids_are_not_document_ids() -> None:
    text = cib(nodes='<node id="d1" uname="node1"/>').replace(
        "<status/>", '<status><node_state id="d1" uname="node1"><lrm id="d1"/></node_state>'
                     '<node_state id="2" uname="node2"><lrm id="d1"/></node_state></status>')
    assert issues(text, "error") == []


def test_id_syntax() -> None:
    issue = only(cib(resources='<primitive id="1st" class="lsb" type="x"/>'))
    assert what(issue) == ("primitive", "1st", "id", "expected an id (a letter or '_', then "
                           "letters, digits, '-', '.' or '_'), got '1st'")


# -- references -------------------------------------------------------------------------

@pytest.mark.parametrize("constraint,attribute", [
    ('<rsc_colocation id="c" rsc="d1" with-rsc="zz" score="INFINITY"/>', "with-rsc"),
    ('<rsc_order id="c" first="zz" then="d1"/>', "first"),
    ('<rsc_location id="c" rsc="zz" node="node1" score="1"/>', "rsc"),
    ('<rsc_ticket id="c" rsc="zz" ticket="t"/>', "rsc"),
])
def test_constraint_names_a_missing_resource(constraint: str, attribute: str) -> None:
    issue = only(cib(constraints=constraint))
    assert what(issue) == (issue.element, "c", attribute,
                           "'zz' does not exist in the configuration")
    assert issue.check == "reference"


def test_resource_set_ref_must_exist() -> None:
    issue = only(cib(constraints='<rsc_order id="o"><resource_set id="s">'
                                 '<resource_ref id="d1"/><resource_ref id="zz"/>'
                                 "</resource_set></rsc_order>"))
    assert what(issue) == ("resource_ref", "zz", "id", "'zz' does not exist in the configuration")


def test_constraint_names_something_that_is_not_a_resource() -> None:
    issue = only(cib(resources='<primitive id="d1" class="lsb" type="x">'
                               '<meta_attributes id="d1-meta"/></primitive>' + D2,
                     constraints='<rsc_order id="o" first="d1-meta" then="d2"/>'))
    assert what(issue) == ("rsc_order", "o", "first",
                           "'d1-meta' is a <meta_attributes>, expected a resource, template "
                           "or tag")


def test_template_reference_must_be_a_template() -> None:
    issue = only(cib(resources=D1 + '<primitive id="d3" template="d1"/>'))
    assert what(issue) == ("primitive", "d3", "template",
                           "'d1' is a <primitive>, expected a <template>")


def test_id_ref_must_name_an_element_of_its_own_kind() -> None:
    issue = only(cib(resources='<primitive id="d1" class="lsb" type="x">'
                               '<instance_attributes id="ia"/>'
                               '<meta_attributes id-ref="ia"/></primitive>'))
    assert what(issue) == ("meta_attributes", None, "id-ref",
                           "id-ref 'ia' is a <instance_attributes>, expected a <meta_attributes>")


def test_acl_role_reference() -> None:
    acls = ('<acls><acl_role id="ro"><acl_permission id="p" kind="read" xpath="/cib"/>'
            '</acl_role><acl_target id="alice"><role id="ro"/><role id="d1"/></acl_target>'
            "</acls>")
    issue = only(cib(more=acls))
    assert what(issue) == ("role", "d1", "id", "'d1' is a <primitive>, expected an <acl_role>")


def test_acl_permission_needs_one_selector() -> None:
    acls = ('<acls><acl_role id="ro"><acl_permission id="p" kind="read" xpath="/cib" '
            'reference="d1"/></acl_role></acls>')
    issue = only(cib(more=acls))
    assert what(issue) == ("acl_permission", "p", None,
                           "expected exactly one of xpath, reference, object-type, "
                           "got xpath, reference")


def test_tag_reference_to_nothing_is_a_warning() -> None:
    tags = '<tags><tag id="t"><obj_ref id="d1"/><obj_ref id="gone"/></tag></tags>'
    assert issues(cib(more=tags), "error") == []
    issue = only(cib(more=tags), "warning")
    assert what(issue) == ("obj_ref", "gone", "id", "'gone' does not exist in the configuration")


def test_constraints_may_name_templates_and_tags() -> None:
    text = cib(resources='<template id="t" class="ocf" provider="p" type="D"/>'
                         '<primitive id="d1" template="t"/>' + D2,
               constraints='<rsc_colocation id="c1" rsc="t" with-rsc="d2" score="1"/>'
                           '<rsc_order id="o1" first="tg" then="d2"/>',
               more='<tags><tag id="tg"><obj_ref id="d1"/></tag></tags>')
    assert issues(text) == []


def test_colocating_two_templates_is_an_error() -> None:
    text = cib(resources='<template id="t1" class="lsb" type="a"/>'
                         '<template id="t2" class="lsb" type="b"/>',
               constraints='<rsc_colocation id="c" rsc="t1" with-rsc="t2" score="1"/>')
    issue = only(text)
    assert what(issue) == ("rsc_colocation", "c", None, "a colocation between two templates "
                           "or tags has no meaning (Pacemaker ignores it)")


def test_constraint_on_a_clone_member_is_a_warning() -> None:
    text = cib(resources=f'<clone id="c">{D1}</clone>' + D2,
               constraints='<rsc_colocation id="x" rsc="d2" with-rsc="d1" score="1"/>')
    assert issues(text, "error") == []
    issue = only(text, "warning")
    assert what(issue) == ("rsc_colocation", "x", "with-rsc",
                           "'d1' is inside clone 'c': constrain the clone instead")


def test_location_on_a_node_not_in_nodes_is_a_warning() -> None:
    text = cib(constraints='<rsc_location id="l" rsc="d1" node="node9" score="10"/>')
    assert issues(text, "error") == []
    issue = only(text, "warning")
    assert what(issue) == ("rsc_location", "l", "node", "node 'node9' is not in <nodes> "
                           "(Pacemaker accepts it; the constraint applies if such a node joins)")


def test_location_on_a_remote_node_is_known() -> None:
    text = cib(resources=D1 + '<primitive id="remote1" class="ocf" provider="pacemaker" '
                              'type="remote"/>',
               constraints='<rsc_location id="l" rsc="d1" node="remote1" score="10"/>')
    assert issues(text) == []


# -- constraints --------------------------------------------------------------------------

def test_location_needs_node_and_score_or_rules() -> None:
    issue = only(cib(constraints='<rsc_location id="l" rsc="d1" node="node1"/>'))
    assert what(issue) == ("rsc_location", "l", "score",
                           "expected node and score, or rules (score is missing)")


def test_location_with_both_rsc_and_pattern() -> None:
    issue = only(cib(constraints='<rsc_location id="l" rsc="d1" rsc-pattern="d.*" '
                                 'node="node1" score="1"/>'))
    assert what(issue) == ("rsc_location", "l", None, "expected exactly one of rsc, "
                           "rsc-pattern, resource_set, got rsc, rsc-pattern")


def test_colocation_needs_both_sides() -> None:
    issue = only(cib(constraints='<rsc_colocation id="c" rsc="d1" score="INFINITY"/>'))
    assert what(issue) == ("rsc_colocation", "c", "with-rsc",
                           "expected rsc and with-rsc, or resource sets (with-rsc missing)")


def test_order_kind_and_score_exclusive() -> None:
    issue = only(cib(constraints='<rsc_order id="o" first="d1" then="d2" kind="Optional" '
                                 'score="0"/>'))
    assert what(issue) == ("rsc_order", "o", None, "expected at most one of score, kind")


def test_rule_needs_an_expression() -> None:
    issue = only(cib(constraints='<rsc_location id="l" rsc="d1"><rule id="r" score="5"/>'
                                 "</rsc_location>"))
    assert what(issue) == ("rule", "r", None, "a rule needs at least one expression")


def test_colocation_influence_is_a_boolean() -> None:
    issue = only(cib(constraints='<rsc_colocation id="c" rsc="d1" with-rsc="d2" score="5" '
                                 'influence="sometimes"/>'))
    assert what(issue) == ("rsc_colocation", "c", "influence", "expected a boolean "
                           "(true/false, yes/no, on/off, y/n, 1/0), got 'sometimes'")


# -- scores --------------------------------------------------------------------------------

@pytest.mark.parametrize("score", ["0", "100", "-100", "+5", "INFINITY", "+INFINITY",
                                   "-INFINITY"])
def test_good_scores(score: str) -> None:
    text = cib(constraints=f'<rsc_location id="l" rsc="d1" node="node1" score="{score}"/>')
    assert issues(text) == []


@pytest.mark.parametrize("score", ["infinity", "1.5", "lots", "", "INF"])
def test_bad_scores(score: str) -> None:
    issue = only(cib(constraints=f'<rsc_location id="l" rsc="d1" node="node1" '
                                 f'score="{score}"/>'))
    assert what(issue) == ("rsc_location", "l", "score", "expected a score (an integer, "
                           f"INFINITY, +INFINITY or -INFINITY), got '{score}'")
    assert issue.check == "score"


def test_score_attribute_in_a_rule() -> None:
    text = cib(constraints='<rsc_location id="l" rsc="d1"><rule id="r" score-attribute="w">'
                           '<expression id="e" attribute="w" operation="defined"/></rule>'
                           "</rsc_location>")
    assert issues(text) == []


def test_meta_attribute_score_read_by_its_leading_integer_is_a_warning() -> None:
    text = cib(resources='<primitive id="d1" class="lsb" type="x"><meta_attributes id="m">'
                         '<nvpair id="p" name="priority" value="2.0"/></meta_attributes>'
                         "</primitive>")
    issue = only(text, "warning")
    assert what(issue) == ("nvpair", "p", "value", "priority: read as the score 2, got '2.0'")


# -- durations -----------------------------------------------------------------------------

@pytest.mark.parametrize("value,ms", [
    ("0", 0), ("10", 10_000), ("10s", 10_000), ("10 sec", 10_000), ("500ms", 500),
    ("500msec", 500), ("2500us", 2), ("5min", 300_000), ("5m", 300_000), ("1h", 3_600_000),
    ("1hr", 3_600_000), (" 15S ", 15_000), ("3.7s", 3_000), ("PT10S", 10_000),
    ("PT1M", 60_000), ("P1M", 30 * 86_400_000), ("P1DT2H", 93_600_000), ("P1W", 604_800_000),
    ("P40S", 40_000), ("10seconds", 10_000),
])
def test_durations_as_pacemaker_reads_them(value: str, ms: int) -> None:
    assert duration_ms(value) == ms


@pytest.mark.parametrize("value", ["", "abc", "1d", "-5", "P", "PT", "P1.5D", "10 x", "5s5",
                                   "P1D/P2D"])
def test_not_durations(value: str) -> None:
    assert duration_ms(value) is None


def test_bad_op_timeout_names_the_forms() -> None:
    issue = only(cib(resources='<primitive id="d1" class="lsb" type="x"><operations>'
                               '<op id="m" name="monitor" interval="10s" timeout="1d"/>'
                               "</operations></primitive>"))
    assert what(issue) == ("op", "m", "timeout", "expected a duration (a number of seconds, a "
                           "number with unit ms, us, s, m or h, or ISO 8601 such as PT30S), "
                           "got '1d'")
    assert issue.check == "duration"


def test_a_unit_read_by_prefix_is_a_warning() -> None:
    issue = only(cib(resources='<primitive id="d1" class="lsb" type="x"><operations>'
                               '<op id="m" name="monitor" interval="10seconds"/>'
                               "</operations></primitive>"), "warning")
    assert what(issue) == ("op", "m", "interval", "unit 'seconds' is read by its prefix as "
                           "'s'; write ms, us, s, m, min, h or hr")


def test_duration_cluster_option() -> None:
    issue = only(cib(crm_config=NO_STONITH.replace(
        "</cluster_property_set>",
        '<nvpair id="r" name="cluster-recheck-interval" value="soon"/></cluster_property_set>')))
    assert issue.attribute == "value" and issue.message.startswith(
        "cluster-recheck-interval: expected a duration")


# -- enumerations and booleans ------------------------------------------------------------

@pytest.mark.parametrize("attrs,attribute,expected", [
    ('role="Leader"', "role",
     "expected one of Stopped, Started, Promoted, Unpromoted, Master, Slave, got 'Leader'"),
    ('on-fail="explode"', "on-fail", "expected one of ignore, block, demote, stop, restart, "
                                     "standby, fence, restart-container, got 'explode'"),
    ('enabled="yes"', "enabled", "expected true, false, 1 or 0, got 'yes'"),
])
def test_op_enumerations(attrs: str, attribute: str, expected: str) -> None:
    issue = only(cib(resources='<primitive id="d1" class="lsb" type="x"><operations>'
                               f'<op id="m" name="monitor" interval="10" {attrs}/>'
                               "</operations></primitive>"))
    assert what(issue) == ("op", "m", attribute, expected)


def test_order_kind_enumeration() -> None:
    issue = only(cib(constraints='<rsc_order id="o" first="d1" then="d2" kind="Always"/>'))
    assert what(issue) == ("rsc_order", "o", "kind",
                           "expected one of Optional, Mandatory, Serialize, got 'Always'")


def test_constraint_action_and_role() -> None:
    found = issues(cib(constraints='<rsc_order id="o" first="d1" first-action="monitor" '
                                   'then="d2"/><rsc_colocation id="c" rsc="d1" with-rsc="d2" '
                                   'score="1" rsc-role="Unknown"/>'), "error")
    assert [what(i) for i in found] == [
        ("rsc_order", "o", "first-action", "expected one of start, promote, demote, stop, "
                                           "got 'monitor'"),
        ("rsc_colocation", "c", "rsc-role", "expected one of Stopped, Started, Promoted, "
                                            "Unpromoted, Master, Slave, got 'Unknown'")]


@pytest.mark.parametrize("name,value,expected", [
    ("requires", "always", "requires: expected one of nothing, quorum, fencing, unfencing, "
                           "got 'always'"),
    ("multiple-active", "panic", "multiple-active: expected one of block, stop_only, "
                                 "stop_start, stop_unexpected, got 'panic'"),
    ("is-managed", "maybe", "is-managed: expected a boolean (true/false, yes/no, on/off, y/n, "
                            "1/0), got 'maybe'"),
    ("target-role", "Running", "target-role: expected one of default, Stopped, Started, "
                               "Promoted, Unpromoted, Master, Slave, got 'Running'"),
    ("clone-max", "-1", "clone-max: expected a nonnegative integer, got '-1'"),
    ("failure-timeout", "forever", "failure-timeout: expected a duration (a number of seconds, "
                                   "a number with unit ms, us, s, m or h, or ISO 8601 such as "
                                   "PT30S), got 'forever'"),
])
def test_resource_meta_attributes(name: str, value: str, expected: str) -> None:
    issue = only(cib(resources='<primitive id="d1" class="lsb" type="x"><meta_attributes '
                               f'id="m"><nvpair id="p" name="{name}" value="{value}"/>'
                               "</meta_attributes></primitive>"))
    assert what(issue) == ("nvpair", "p", "value", expected)


@pytest.mark.parametrize("value", ["true", "False", "YES", "no", "on", "Off", "y", "N", "1", "0"])
def test_pacemaker_booleans_in_nvpairs(value: str) -> None:
    text = cib(resources='<primitive id="d1" class="lsb" type="x"><meta_attributes id="m">'
                         f'<nvpair id="p" name="is-managed" value="{value}"/></meta_attributes>'
                         "</primitive>")
    assert issues(text) == []


def test_cluster_option_enumeration_and_legacy_name() -> None:
    found = issues(cib(crm_config=NO_STONITH.replace(
        "</cluster_property_set>",
        '<nvpair id="q" name="no-quorum-policy" value="panic"/>'
        '<nvpair id="s" name="symmetric_cluster" value="true"/></cluster_property_set>')),
        "error")
    assert [what(i) for i in found] == [
        ("nvpair", "q", "value", "no-quorum-policy: expected one of stop, freeze, ignore, "
                                 "demote, fence, suicide, got 'panic'"),
        ("nvpair", "s", "name", "cluster option 'symmetric_cluster' is no longer supported "
                                "(use symmetric-cluster)")]


def test_validate_with() -> None:
    issue = only(cib().replace("pacemaker-3.9", "pcmk-3"))
    assert what(issue) == ("cib", None, "validate-with",
                           "expected none or pacemaker-X.Y, got 'pcmk-3'")


# -- resources ----------------------------------------------------------------------------

def test_ocf_needs_a_provider() -> None:
    issue = only(cib(resources='<primitive id="d1" class="ocf" type="Dummy"/>'))
    assert what(issue) == ("primitive", "d1", "provider", "class 'ocf' needs a provider")


def test_stonith_takes_no_provider() -> None:
    issue = only(cib(resources='<primitive id="f" class="stonith" provider="x" '
                               'type="fence_x"/>'))
    assert what(issue) == ("primitive", "f", "provider",
                           "class 'stonith' takes no provider (only ocf does)")


def test_primitive_needs_class_and_type_or_template() -> None:
    found = issues(cib(resources='<primitive id="a"/><template id="t" class="lsb" type="x"/>'
                                 '<primitive id="b" class="lsb" type="x" template="t"/>'
                                 '<primitive id="c" class="lsb"/>'), "error")
    assert [what(i) for i in found] == [
        ("primitive", "a", None, "expected either class and type, or template"),
        ("primitive", "b", None, "expected either class and type, or template"),
        ("primitive", "c", "type", "required attribute is missing")]


# -- operations ---------------------------------------------------------------------------

def test_an_operation_defined_twice() -> None:
    issue = only(cib(resources='<primitive id="d1" class="lsb" type="x"><operations>'
                               '<op id="m1" name="monitor" interval="10s"/>'
                               '<op id="m2" name="monitor" interval="PT10S" role="Stopped"/>'
                               "</operations></primitive>"))
    assert what(issue) == ("op", "m2", None, "primitive 'd1' already has a 'monitor' operation "
                           "every PT10S (op 'm1'); Pacemaker tells operations apart by name and "
                           "interval, so give each its own interval")


def test_operations_by_id_ref_are_checked_too() -> None:
    text = cib(resources='<primitive id="d1" class="lsb" type="x"><operations id="ops">'
                         '<op id="m1" name="monitor" interval="10"/>'
                         '<op id="m2" name="monitor" interval="10000ms"/></operations>'
                         '</primitive><primitive id="d2" class="lsb" type="x">'
                         '<operations id-ref="ops"/></primitive>')
    found = issues(text, "error")
    assert [(i.id, i.check) for i in found] == [("m2", "operation"), ("m2", "operation")]


@pytest.mark.parametrize("op,expected", [
    ('name="stop" interval="0" on-fail="standby"',
     "on-fail 'standby' is not allowed for stop (expected ignore, block, fence or restart)"),
    ('name="start" interval="0" on-fail="demote"',
     "on-fail 'demote' is allowed only for promote and for recurring monitors of the "
     "Promoted role"),
])
def test_on_fail_must_fit_the_action(op: str, expected: str) -> None:
    issue = only(cib(resources='<primitive id="d1" class="lsb" type="x"><operations>'
                               f'<op id="o" {op}/></operations></primitive>'))
    assert what(issue) == ("op", "o", "on-fail", expected)


def test_unknown_action_is_a_warning() -> None:
    issue = only(cib(resources='<primitive id="d1" class="lsb" type="x"><operations>'
                               '<op id="o" name="montior" interval="5"/></operations>'
                               "</primitive>"), "warning")
    assert (issue.id, issue.attribute) == ("o", "name")
    assert issue.message.startswith("unknown action 'montior' (expected one of: start, stop,")


# -- promotable -----------------------------------------------------------------------------

TARGET_PROMOTED = ('<meta_attributes id="m"><nvpair id="tr" name="target-role" '
                   'value="Promoted"/></meta_attributes>')


def test_target_role_promoted_outside_a_promotable_clone() -> None:
    issue = only(cib(resources=f'<primitive id="d1" class="lsb" type="x">{TARGET_PROMOTED}'
                               "</primitive>"))
    assert what(issue) == ("nvpair", "tr", "value", "target-role 'Promoted' only makes sense "
                           "for promotable clones (primitive 'd1' is not in one)")


@pytest.mark.parametrize("wrapper", [
    '<clone id="c"><meta_attributes id="cm"><nvpair id="cp" name="promotable" value="true"/>'
    "</meta_attributes>{}</clone>",
    '<master id="c">{}</master>',
])
def test_target_role_promoted_inside_a_promotable_clone(wrapper: str) -> None:
    prim = f'<primitive id="d1" class="ocf" provider="p" type="S">{TARGET_PROMOTED}</primitive>'
    assert issues(cib(resources=wrapper.format(prim))) == []


# -- fencing --------------------------------------------------------------------------------

FENCE = '<primitive id="f1" class="stonith" type="fence_ipmilan"/>'


def test_fencing_level_devices_must_be_stonith_resources() -> None:
    topo = ('<fencing-topology><fencing-level id="l1" target="node1" index="1" '
            'devices="f1,d1,nope"/></fencing-topology>')
    found = issues(cib(resources=FENCE + D1 + D2, more=topo), "error")
    assert [what(i) for i in found] == [
        ("fencing-level", "l1", "devices",
         "device 'd1' is not a stonith resource (class 'ocf')"),
        ("fencing-level", "l1", "devices", "device 'nope' is not a configured resource")]


def test_fencing_level_target_and_index() -> None:
    topo = ('<fencing-topology><fencing-level id="l1" index="0" devices="f1"/>'
            "</fencing-topology>")
    found = issues(cib(resources=FENCE, more=topo), "error")
    assert [what(i) for i in found] == [
        ("fencing-level", "l1", "index", "expected a positive integer, got '0'"),
        ("fencing-level", "l1", None, "expected exactly one of target, target-pattern, "
                                      "target-attribute with target-value, got none")]


def test_fencing_level_for_an_unknown_node_is_a_warning() -> None:
    topo = ('<fencing-topology><fencing-level id="l1" target="node7" index="1" devices="f1"/>'
            "</fencing-topology>")
    issue = only(cib(resources=FENCE, more=topo), "warning")
    assert what(issue) == ("fencing-level", "l1", "target", "target 'node7' is not a known node")


def test_no_stonith_while_fencing_enabled_is_a_warning() -> None:
    text = cib(crm_config="")
    assert issues(text, "error") == []
    issue = only(text, "warning")
    assert what(issue) == ("crm_config", None, None, "no STONITH resources defined and "
                           "stonith-enabled is not false (Pacemaker will not start resources; "
                           "configure fencing or set stonith-enabled to false)")
    assert issues(cib(crm_config="", resources=FENCE)) == []
    assert issues(cib()) == []


def test_watchdog_fencing_counts_as_fencing() -> None:
    watchdog = ('<cluster_property_set id="o"><nvpair id="w" name="have-watchdog" '
                'value="true"/></cluster_property_set>')
    assert issues(cib(crm_config=watchdog)) == []


# -- value_problem ---------------------------------------------------------------------------

def test_value_problem_is_none_for_good_values() -> None:
    assert value_problem(("a", "b"), "a") is None
    assert value_problem(("Started",), "started", nvpair=True) is None
    assert value_problem(("Started",), "started") == ("error", "expected one of Started, "
                                                              "got 'started'")
    assert value_problem("port", "65536") == ("error", "expected a port (0-65535), got '65536'")
