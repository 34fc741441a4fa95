"""Unit tests of ha.cib.acl: Pacemaker ACLs over the CIB.

Fixtures in tests/data/cib/acl-*.xml: ``acl-cib.xml`` (alice reads all but status, bob
writes resources, the "ops" group operates, carol edits described primitives),
``acl-precedence.xml`` (one role per precedence rule, after the cases of Pacemaker's
ACL regression test in cts/cts-cli.in) and ``acl-legacy.xml`` (pacemaker-1.2 syntax).

Every read view and every write outcome here was checked against Pacemaker 2.1.5's
``cibadmin`` (CIB_file, CIB_user; a lower crm_feature_set) except the groups, which
need system accounts, and three refusals marked "stricter than Pacemaker" below.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import pytest
from lxml import etree

from ha.cib.acl import (
    Acl,
    AclDenied,
    AclError,
    acls_enabled,
    check_write,
    check_xpath_write,
    filter_read,
    write_denials,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "cib"
PARSER = etree.XMLParser(remove_blank_text=True, remove_comments=True)
NVPAIR = "/cib/configuration/crm_config/cluster_property_set[@id='cib-bootstrap-options']/nvpair"
RESOURCES = "/cib/configuration/resources"


def load(name: str) -> etree._Element:
    return etree.parse(str(DATA / name), PARSER).getroot()


def text(element: etree._Element) -> str:
    return etree.tostring(element, encoding="unicode")


def one(root: etree._Element, xpath: str) -> etree._Element:
    found = root.xpath(xpath)
    assert isinstance(found, list) and len(found) == 1, xpath
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def acl_for(root: etree._Element, user: str, groups: Sequence[str] = ()) -> Acl:
    acl = Acl.for_user(root, user, groups)
    assert acl is not None
    return acl


def edit(root: etree._Element, xpath: str, **attrs: str | None) -> etree._Element:
    """A copy of root with attributes of the element at xpath set (None: removed)."""
    new = copy.deepcopy(root)
    element = one(new, xpath)
    for name, value in attrs.items():
        name = name.replace("_", "-")
        if value is None:
            del element.attrib[name]
        else:
            element.set(name, value)
    return new


def remove(root: etree._Element, xpath: str) -> etree._Element:
    new = copy.deepcopy(root)
    element = one(new, xpath)
    parent = element.getparent()
    assert parent is not None
    parent.remove(element)
    return new


def add(root: etree._Element, xpath: str, child: str) -> etree._Element:
    new = copy.deepcopy(root)
    one(new, xpath).append(etree.fromstring(child, PARSER))
    return new


def refusal(acl: Acl, old: etree._Element, new: etree._Element) -> AclDenied:
    with pytest.raises(AclDenied) as info:
        check_write(acl, old, new)
    return info.value


# --- who is restricted -------------------------------------------------------------


@pytest.mark.parametrize("user", ["root", "hacluster"])
def test_root_and_the_cluster_user_are_never_restricted(user: str) -> None:
    assert Acl.for_user(load("acl-cib.xml"), user, ()) is None


def test_the_cluster_user_name_is_a_parameter() -> None:
    cib = load("acl-cib.xml")
    assert Acl.for_user(cib, "pcmk", (), cluster_user="pcmk") is None
    assert Acl.for_user(cib, "hacluster", (), cluster_user="pcmk") is not None


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("true", True), ("on", True), ("YES", True), ("1", True), ("false", False), ("maybe", False)],
)
def test_enable_acl_is_a_pacemaker_boolean(value: str, enabled: bool) -> None:
    cib = edit(load("acl-cib.xml"), f"{NVPAIR}[@name='enable-acl']", value=value)
    assert acls_enabled(cib) is enabled
    assert (Acl.for_user(cib, "alice", ()) is not None) is enabled


def test_without_enable_acl_everyone_is_unrestricted() -> None:
    cib = remove(load("acl-cib.xml"), f"{NVPAIR}[@name='enable-acl']")
    assert Acl.for_user(cib, "dave", ()) is None
    assert text(filter_read(None, cib)) == text(cib)
    check_write(None, cib, remove(cib, "//status"))


def test_the_bootstrap_property_set_is_read_first() -> None:
    cib = load("acl-cib.xml")
    crm_config = one(cib, "//crm_config")
    crm_config.insert(
        0,
        etree.fromstring(
            '<cluster_property_set id="other"><nvpair id="o" name="enable-acl" value="false"/>'
            "</cluster_property_set>"
        ),
    )
    assert acls_enabled(cib)


def test_an_empty_user_name_is_a_callers_mistake() -> None:
    with pytest.raises(ValueError, match="user name"):
        Acl.for_user(load("acl-cib.xml"), "", ())


# --- default deny ----------------------------------------------------------------


def test_a_user_without_acls_reads_nothing() -> None:
    cib = load("acl-cib.xml")
    with pytest.raises(AclDenied, match="no acl_target or acl_group gives user 'dave'"):
        filter_read(acl_for(cib, "dave"), cib)


def test_a_user_without_acls_writes_nothing() -> None:
    cib = load("acl-cib.xml")
    new = add(cib, RESOURCES, '<primitive id="new" class="ocf" provider="heartbeat" type="Dummy"/>')
    error = refusal(acl_for(cib, "dave"), cib, new)
    assert error.user == "dave"
    assert str(error.denials[0]).startswith(f"create {RESOURCES}/primitive[@id='new']: ")


# --- alice: read everything but status -------------------------------------------


def test_read_filter_removes_the_denied_section_and_nothing_else() -> None:
    cib = load("acl-cib.xml")
    assert text(filter_read(acl_for(cib, "alice"), cib)) == text(remove(cib, "/cib/status"))


def test_read_filter_leaves_its_input_alone() -> None:
    cib = load("acl-cib.xml")
    before = text(cib)
    filter_read(acl_for(cib, "bob"), cib)
    assert text(cib) == before


def test_a_write_under_a_read_only_xpath_is_refused_precisely() -> None:
    cib = load("acl-cib.xml")
    new = edit(cib, f"{NVPAIR}[@name='fencing-enabled']", value="false")
    assert str(refusal(acl_for(cib, "alice"), cib, new)) == (
        "ACLs deny user 'alice' write access: modify "
        "/cib/configuration/crm_config/cluster_property_set[@id='cib-bootstrap-options']"
        "/nvpair[@id='cib-bootstrap-options-fencing-enabled'][@value]: only read is granted, "
        "by acl_permission 'ras-read-cib' (read /cib) on /cib; nothing grants write"
    )


def test_deleting_and_reordering_need_write() -> None:
    cib = load("acl-cib.xml")
    alice = acl_for(cib, "alice")
    [denial] = write_denials(alice, cib, remove(cib, "//primitive[@id='db']"))
    assert (denial.change, denial.path) == ("delete", f"{RESOURCES}/primitive[@id='db']")
    reordered = copy.deepcopy(cib)
    resources = one(reordered, RESOURCES)
    resources.insert(0, one(reordered, "//primitive[@id='db']"))
    # Stricter than Pacemaker, which does not check moves (a group's order is its meaning).
    assert {d.change for d in write_denials(alice, cib, reordered)} == {"move"}
    check_write(acl_for(cib, "bob"), cib, reordered)


def test_bookkeeping_attributes_are_ignored_but_versions_are_not() -> None:
    cib = load("acl-cib.xml")
    alice = acl_for(cib, "alice")
    check_write(alice, cib, edit(cib, "/cib", cib_last_written="now", update_user="alice"))
    [denial] = write_denials(alice, cib, edit(cib, "/cib", epoch="13"))
    assert str(denial).startswith("modify /cib[@epoch]: ")


# --- bob: write resources only ---------------------------------------------------


def test_write_implies_read_and_unreadable_ancestors_are_bare_scaffolding() -> None:
    cib = load("acl-cib.xml")
    expected = etree.fromstring("<cib><configuration/></cib>")
    one(expected, "/cib/configuration").append(copy.deepcopy(one(cib, RESOURCES)))
    assert text(filter_read(acl_for(cib, "bob"), cib)) == text(expected)


def test_write_on_a_section_covers_creating_changing_and_deleting_in_it() -> None:
    cib = load("acl-cib.xml")
    new = edit(cib, "//primitive[@id='web']", type="nginx", description=None)
    new = edit(new, "//nvpair[@id='web-meta-target-role']", value="Stopped")
    new = add(
        new, RESOURCES, '<primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"/>'
    )
    new = remove(new, "//primitive[@id='db']")
    check_write(acl_for(cib, "bob"), cib, new)


def test_every_refused_change_is_listed() -> None:
    cib = load("acl-cib.xml")
    new = edit(cib, "//rsc_location", score="INFINITY")
    new = edit(new, f"{NVPAIR}[@name='cluster-name']", value="prod")
    error = refusal(acl_for(cib, "bob"), cib, new)
    assert [d.path.rsplit("/", 1)[-1] for d in error.denials] == [
        "nvpair[@id='cib-bootstrap-options-cluster-name']",
        "rsc_location[@id='web-prefers-node1']",
    ]
    assert str(error).endswith("(and 1 more)")
    assert "no acl_permission grants write (default deny)" in str(error)


def test_check_xpath_write() -> None:
    cib = load("acl-cib.xml")
    bob = acl_for(cib, "bob")
    check_xpath_write(bob, cib, "//primitive")
    with pytest.raises(AclDenied, match=r"rsc_location\[@id='web-prefers-node1'\]"):
        check_xpath_write(bob, cib, "//rsc_location | //primitive")
    with pytest.raises(ValueError, match="not valid"):
        check_xpath_write(bob, cib, "//[")


# --- groups, reference and object-type ---------------------------------------------


def test_a_group_role_applies_to_its_members_only() -> None:
    cib = load("acl-cib.xml")
    new = edit(cib, "//rsc_location", score="200")
    check_write(acl_for(cib, "erin", ["wheel", "ops"]), cib, new)
    assert acl_for(cib, "erin", ["wheel"]).permissions == ()


def test_object_type_covers_elements_of_that_name_also_new_ones() -> None:
    cib = load("acl-cib.xml")
    erin = acl_for(cib, "erin", ["ops"])
    constraints = "/cib/configuration/constraints"
    check_write(
        erin, cib, add(cib, constraints, '<rsc_location id="db-l" rsc="db" node="n" score="1"/>')
    )
    new = add(cib, constraints, '<rsc_colocation id="c" rsc="db" with-rsc="web" score="1"/>')
    [denial] = write_denials(erin, cib, new)
    assert (denial.change, denial.path) == ("create", f"{constraints}/rsc_colocation[@id='c']")


def test_reference_covers_the_element_with_that_id_and_its_subtree() -> None:
    cib = load("acl-cib.xml")
    erin = acl_for(cib, "erin", ["ops"])
    check_write(erin, cib, edit(cib, "//op[@id='web-monitor-10s']", interval="20s"))
    assert write_denials(erin, cib, edit(cib, "//primitive[@id='db']", type="mysql"))


def test_deny_wins_and_names_the_permission_and_where_it_applies() -> None:
    cib = load("acl-cib.xml")
    new = edit(cib, "//nvpair[@name='password']", value="guessed")
    [denial] = refusal(acl_for(cib, "erin", ["ops"]), cib, new).denials
    assert denial.reason == (
        "denied by acl_permission 'op-deny-fence' (deny //*[@id='fence-ipmi']) "
        f"on {RESOURCES}/primitive[@id='fence-ipmi']"
    )


def test_a_denied_element_without_readable_descendants_disappears() -> None:
    cib = load("acl-cib.xml")
    view = filter_read(acl_for(cib, "erin", ["ops"]), cib)
    assert len(view.attrib) == 0  # <cib> itself is not readable: read is on configuration
    assert view.find("status") is None
    assert [p.get("id") for p in view.iter("primitive")] == ["web", "db"]
    assert text(one(view, "//rsc_order")) == text(one(cib, "//rsc_order"))


def test_user_and_group_permissions_add_up() -> None:
    cib = load("acl-cib.xml")
    new = edit(edit(cib, "//rsc_location", score="5"), "//primitive[@id='db']", type="mysql")
    check_write(acl_for(cib, "bob", ["ops"]), cib, new)


def test_a_reference_is_an_id_not_xpath() -> None:
    cib = load("acl-cib.xml")
    one(cib, "//acl_permission[@id='op-write-web']").set("reference", "x' or @id or 'a'='a")
    erin = acl_for(cib, "erin", ["ops"])
    assert write_denials(erin, cib, edit(cib, "//primitive[@id='db']", type="mysql"))
    assert write_denials(erin, cib, edit(cib, "//primitive[@id='web']", type="nginx"))


# --- attribute qualifier and target name ------------------------------------------


def test_attribute_selects_the_elements_that_carry_it() -> None:
    cib = load("acl-cib.xml")
    carol = acl_for(cib, "carol")
    check_write(carol, cib, edit(cib, "//nvpair[@id='web-meta-target-role']", value="Stopped"))
    assert write_denials(carol, cib, edit(cib, "//primitive[@id='db']", type="mysql"))
    # Giving db a description would bring it under the permission: refused all the same
    # (stricter than Pacemaker, whose section replace judges by the new tree only).
    [denial] = write_denials(carol, cib, edit(cib, "//primitive[@id='db']", description="mine"))
    assert (denial.change, denial.attribute) == ("create", "description")


def test_a_target_name_is_the_user_name_not_its_id() -> None:
    cib = load("acl-cib.xml")
    assert acl_for(cib, "acl-carol").permissions == ()
    assert [p.id for p in acl_for(cib, "carol").permissions] == ["desc-write-described"]


# --- precedence, after Pacemaker's ACL regression cases ------------------------------


def test_deny_on_cib_refuses_everything() -> None:
    cib = load("acl-precedence.xml")
    mallory = acl_for(cib, "mallory")
    with pytest.raises(AclDenied, match="denied by acl_permission 'nothing-deny'"):
        filter_read(mallory, cib)
    assert write_denials(mallory, cib, edit(cib, "//rsc_location", score="1"))


def test_an_observer_writes_only_what_it_is_given() -> None:
    cib = load("acl-precedence.xml")
    olivia = acl_for(cib, "olivia")
    assert text(filter_read(olivia, cib)) == text(cib)
    check_write(olivia, cib, edit(cib, f"{NVPAIR}[@name='fencing-enabled']", value="true"))
    assert write_denials(olivia, cib, edit(cib, f"{NVPAIR}[@name='enable-acl']", value="false"))
    # A new meta_attributes holding only an id is scaffolding for the permitted nvpair.
    meta = (
        '<meta_attributes id="copy-meta">'
        '<nvpair id="copy-meta-target-role" name="target-role" value="Stopped"/></meta_attributes>'
    )
    check_write(olivia, cib, add(cib, "//primitive[@id='app-described']", meta))
    meta = meta.replace("target-role", "is-managed")
    [denial] = write_denials(olivia, cib, add(cib, "//primitive[@id='app-described']", meta))
    assert denial.path.endswith("nvpair[@id='copy-meta-is-managed']")


def test_scaffolding_is_not_implicit_inside_acls() -> None:
    cib = load("acl-precedence.xml")
    olivia = acl_for(cib, "olivia")
    check_write(olivia, cib, add(cib, "/cib/configuration", "<tags/>"))
    [denial] = write_denials(olivia, cib, add(cib, "//acls", '<acl_target id="olivia2"/>'))
    assert denial.change == "create"


def test_write_on_cib_allows_everything() -> None:
    cib = load("acl-precedence.xml")
    check_write(acl_for(cib, "sam"), cib, remove(edit(cib, "/cib", epoch="9"), "//acls"))


def test_a_deeper_write_overrides_a_deny_on_the_root() -> None:
    cib = load("acl-precedence.xml")
    wanda = acl_for(cib, "wanda")
    for change in ({"description": "new"}, {"description": None}, {"type": "Stateful"}):
        check_write(wanda, cib, edit(cib, "//primitive[@id='app-described']", **change))
    assert write_denials(wanda, cib, edit(cib, "//rsc_location", score="1"))
    assert [e.tag for e in filter_read(wanda, cib)] == ["configuration"]


def test_a_deeper_deny_overrides_a_write_on_the_root() -> None:
    cib = load("acl-precedence.xml")
    dora = acl_for(cib, "dora")
    check_write(dora, cib, edit(cib, "//rsc_location", score="1"))
    for change in ({"description": "new"}, {"description": None}, {"type": "Stateful"}):
        assert write_denials(dora, cib, edit(cib, "//primitive[@id='app-described']", **change))


def test_deny_beats_write_on_the_same_element_whatever_the_order() -> None:
    cib = load("acl-precedence.xml")
    [denial] = write_denials(
        acl_for(cib, "trent"), cib, edit(cib, "//primitive[@id='app']", type="X")
    )
    assert "resource-blocker-deny" in denial.reason


@pytest.mark.parametrize("user", ["mia", "max"])
def test_reading_only_meta_attributes_keeps_their_ancestors_ids(user: str) -> None:
    cib = load("acl-precedence.xml")
    assert text(filter_read(acl_for(cib, user), cib)) == (
        '<cib><configuration><resources><primitive id="app"><meta_attributes id="app-meta">'
        '<nvpair id="app-meta-target-role" name="target-role" value="Started"/>'
        "</meta_attributes></primitive></resources></configuration></cib>"
    )


def test_a_read_mark_does_not_take_away_write_inherited_from_an_ancestor() -> None:
    # Pacemaker's pcmk__check_acl walks on past a read-only mark when asked for write.
    cib = load("acl-precedence.xml")
    check_write(acl_for(cib, "quinn"), cib, edit(cib, "//rsc_order", kind="Optional"))


def test_deleting_a_subtree_needs_write_on_all_of_it() -> None:
    # Stricter than Pacemaker, which checks only the top of a deleted subtree.
    cib = load("acl-precedence.xml")
    [denial] = write_denials(acl_for(cib, "quinn"), cib, remove(cib, RESOURCES))
    assert (denial.change, denial.path) == ("delete", f"{RESOURCES}/primitive[@id='app']")


def test_an_xpath_selecting_an_attribute_covers_its_element() -> None:
    cib = load("acl-precedence.xml")
    sasha = acl_for(cib, "sasha")
    assert text(filter_read(sasha, cib)) == text(cib)  # xpath "/" is the root element
    check_write(sasha, cib, edit(cib, "//rsc_location", node="node2"))
    assert write_denials(sasha, cib, edit(cib, "//rsc_order", kind="Optional"))


# --- legacy syntax and malformed permissions ------------------------------------------


def test_pacemaker_1_2_acl_user_role_ref_and_tag_with_attribute() -> None:
    cib = load("acl-legacy.xml")
    lenny = acl_for(cib, "lenny")
    assert text(filter_read(lenny, cib)) == text(cib)
    check_write(lenny, cib, edit(cib, "//rsc_location", score="20"))
    assert write_denials(lenny, cib, edit(cib, "//primitive[@id='svc']", type="X"))


def test_pacemaker_1_2_permissions_held_by_the_user() -> None:
    cib = load("acl-legacy.xml")
    lucy = acl_for(cib, "lucy")
    check_write(lucy, cib, edit(cib, "//primitive[@id='svc']", type="X"))
    assert [p.get("id") for p in filter_read(lucy, cib).iter("primitive")] == ["svc"]


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"kind": "deny", "xpath": "//["}, "is not valid"),
        ({"kind": "refuse", "xpath": "/cib"}, "kind 'refuse'"),
        ({"kind": "deny"}, "needs one of"),
        ({"kind": "deny", "object-type": "primitive | //*"}, "not an element or attribute name"),
        ({"kind": "deny", "xpath": "//*[unknown-function()]"}, "unknown-function"),
    ],
)
def test_a_malformed_permission_refuses_the_whole_acl(attrs: dict[str, str], message: str) -> None:
    cib = load("acl-cib.xml")
    role = one(cib, "//acl_role[@id='read-all-but-status']")
    etree.SubElement(role, "acl_permission", attrib={"id": "bad", **attrs})
    with pytest.raises(AclError, match=message):
        filter_read(acl_for(cib, "alice"), cib)
    filter_read(acl_for(cib, "bob"), cib)  # another user's role: not this user's business
