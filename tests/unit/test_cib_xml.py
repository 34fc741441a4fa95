"""ha.cib.xml: the CIB document read safely, written back byte-stable, and named."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from ha.cib.xml import (
    CibError,
    Issue,
    element_path,
    empty,
    ensure_section,
    find_by_id,
    issue_at,
    parse,
    parse_fragment,
    same_tree,
    section,
    serialise,
)

GOOD = Path(__file__).parents[1] / "data" / "cib" / "good.xml"


def _error(data: bytes | str, source: str = "<cib>") -> CibError:
    with pytest.raises(CibError) as info:
        parse(data, source)
    return info.value


# -- Issue and CibError ---------------------------------------------------------------

def test_issue_is_one_line_naming_element_id_attribute_and_expectation() -> None:
    issue = Issue(path="/cib/configuration/resources/primitive[@id='d1']", element="primitive",
                  id="d1", attribute="class",
                  message="expected one of ocf, lsb, service, stonith, systemd, got 'foo'")
    assert str(issue) == (
        "error: primitive 'd1' (/cib/configuration/resources/primitive[@id='d1']): "
        "attribute 'class': expected one of ocf, lsb, service, stonith, systemd, got 'foo'")


def test_issue_without_id_or_attribute() -> None:
    issue = Issue(path="/cib/configuration", element="configuration", id=None, attribute=None,
                  message="required section <nodes> is missing", severity="warning")
    assert str(issue) == ("warning: configuration (/cib/configuration): "
                          "required section <nodes> is missing")


def test_issue_at_fills_path_tag_and_id_from_the_element() -> None:
    root = empty()
    prim = etree.SubElement(section(root, "resources"), "primitive", id="d1")
    issue = issue_at(prim, "bad", attribute="type")
    assert (issue.path, issue.element, issue.id, issue.attribute) == (
        "/cib/configuration/resources/primitive[@id='d1']", "primitive", "d1", "type")


def test_cib_error_lists_every_issue_one_per_line() -> None:
    issues = [Issue(path=f"/cib/x[{n}]", element="x", id=None, attribute=None, message=f"m{n}")
              for n in (1, 2, 3)]
    err = CibError(issues)
    assert isinstance(err, ValueError)
    assert err.issues == issues
    lines = str(err).splitlines()
    assert lines[0] == "CIB refused: 3 errors"
    assert lines[1:] == [f"  error: x (/cib/x[{n}]): m{n}" for n in (1, 2, 3)]


def test_cib_error_with_a_message_of_its_own() -> None:
    err = CibError("replace: the new CIB is older", [])
    assert str(err) == "replace: the new CIB is older"
    assert err.issues == []


# -- parse ----------------------------------------------------------------------------

def test_parse_returns_the_cib_root() -> None:
    root = parse(GOOD.read_bytes(), str(GOOD))
    assert root.tag == "cib"
    assert root.get("validate-with") == "pacemaker-3.9"


def test_parse_accepts_str_and_bytes_alike() -> None:
    text = GOOD.read_text(encoding="utf-8")
    assert same_tree(parse(text), parse(text.encode("utf-8")))


def test_parse_str_with_a_foreign_encoding_declaration() -> None:
    root = parse('<?xml version="1.0" encoding="ISO-8859-1"?><cib a="é"/>')
    assert root.get("a") == "é"


def test_malformed_xml_names_source_line_and_column() -> None:
    err = _error(b"<cib>\n  <configuration>\n</cib>\n", "cib.xml")
    assert len(err.issues) == 1
    issue = err.issues[0]
    assert issue.path == "cib.xml:3:7"
    assert "Opening and ending tag mismatch: configuration line 2 and cib" in issue.message
    assert str(issue).startswith("error: cib.xml:3:7: not well-formed XML: ")


@pytest.mark.parametrize("data", [b"", b"   ", b"<cib", b"<cib></cob>", b"<cib>&nosuch;</cib>",
                                  b"\xff\xfe<cib/>"])
def test_every_malformed_input_is_a_cib_error(data: bytes) -> None:
    err = _error(data, "in")
    assert err.issues[0].path.startswith("in:")
    assert err.issues[0].message.startswith("not well-formed XML")


def test_root_must_be_cib() -> None:
    err = _error(b"<nvpair id='x' name='a' value='b'/>", "frag")
    assert err.issues[0].message == "expected a <cib> root element, got <nvpair>"


def test_parse_fragment_takes_any_element_as_safely() -> None:
    pair = parse_fragment(b'<nvpair id="p" name="a" value="b"/>', "reply")
    assert (pair.tag, pair.get("value")) == ("nvpair", "b")
    with pytest.raises(CibError) as info:
        parse_fragment(b"<nvpair", "reply")
    assert info.value.issues[0].path == "reply:1:8"
    with pytest.raises(CibError, match="DOCTYPE"):
        parse_fragment(BILLION_LAUGHS)


def test_namespaced_cib_is_not_a_cib() -> None:
    err = _error(b"<cib xmlns='urn:x'/>")
    assert "expected a <cib> root element" in err.issues[0].message


def test_a_cib_without_sections_still_parses() -> None:
    root = parse(b"<cib/>")
    with pytest.raises(KeyError):
        section(root, "resources")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE cib [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<cib admin_epoch="0" epoch="0" num_updates="0" validate-with="pacemaker-3.9">&lol9;</cib>
"""


def test_billion_laughs_is_refused_before_any_expansion() -> None:
    err = _error(BILLION_LAUGHS, "laughs.xml")
    assert [i.message for i in err.issues] == [
        "a CIB may not carry a DOCTYPE (DTDs and entities are refused)"]


def test_a_doctype_after_a_comment_is_refused_too() -> None:
    err = _error(b"<!-- hi --><!DOCTYPE cib [<!ENTITY a 'b'>]><cib>&a;</cib>")
    assert "DOCTYPE" in err.issues[0].message


def test_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("TOP-SECRET")
    xxe = (f'<!DOCTYPE cib [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<cib admin_epoch="0" epoch="0" num_updates="0" validate-with="pacemaker-3.9">'
           '<configuration><crm_config/><nodes/><resources/><constraints/></configuration>'
           '<status>&x;</status></cib>').encode()
    err = _error(xxe)
    assert "DOCTYPE" in err.issues[0].message
    assert "TOP-SECRET" not in str(err)


def test_external_dtd_is_refused() -> None:
    err = _error(b'<!DOCTYPE cib SYSTEM "http://example.invalid/cib.dtd"><cib/>')
    assert "DOCTYPE" in err.issues[0].message


# -- serialise and round trip -------------------------------------------------------------

def test_serialise_is_utf8_without_declaration_or_pretty_printing() -> None:
    root = parse("<cib>\n  <configuration a='é'/>\n  <status/>\n</cib>")
    assert serialise(root) == '<cib><configuration a="é"/><status/></cib>'.encode()


def test_round_trip_keeps_comments_and_drops_blank_text() -> None:
    data = b"<cib>\n  <!-- why -->\n  <configuration><crm_config/></configuration>\n</cib>"
    root = parse(data)
    assert serialise(root) == b"<cib><!-- why --><configuration><crm_config/></configuration></cib>"
    assert same_tree(root, parse(serialise(root)))


def test_round_trip_of_a_full_cib_is_stable() -> None:
    root = parse(GOOD.read_bytes())
    once = serialise(root)
    assert same_tree(root, parse(once))
    assert serialise(parse(once)) == once


def test_serialise_a_subtree_has_no_tail() -> None:
    root = parse(GOOD.read_bytes())
    vip = find_by_id(root, "vip")
    assert vip is not None
    assert serialise(vip).startswith(b'<primitive id="vip"')
    assert serialise(vip).endswith(b"</primitive>")


def test_same_tree_ignores_attribute_order_but_not_child_order() -> None:
    assert same_tree(parse('<cib a="1" b="2"/>'), parse('<cib b="2" a="1"/>'))
    assert not same_tree(parse("<cib><x/><y/></cib>"), parse("<cib><y/><x/></cib>"))
    assert not same_tree(parse('<cib a="1"/>'), parse('<cib a="2"/>'))
    assert not same_tree(parse("<cib>t</cib>"), parse("<cib>u</cib>"))


# -- empty, sections, paths ------------------------------------------------------------

def test_empty_is_what_pacemaker_creates() -> None:
    root = empty()
    assert serialise(root) == (
        b'<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" admin_epoch="0" '
        b'epoch="0" num_updates="0"><configuration><crm_config/><nodes/><resources/>'
        b"<constraints/></configuration><status/></cib>")
    assert empty("pacemaker-3.10").get("validate-with") == "pacemaker-3.10"


@pytest.mark.parametrize("name", ["crm_config", "nodes", "resources", "constraints", "status",
                                  "configuration"])
def test_section_finds_what_empty_created(name: str) -> None:
    root = empty()
    found = section(root, name)
    assert found.tag == name


def test_section_creates_nothing_and_says_what_is_missing() -> None:
    root = empty()
    with pytest.raises(KeyError, match=r"no <rsc_defaults> section \(/cib/configuration/rsc_defaults\)"):
        section(root, "rsc_defaults")
    assert root.find("configuration/rsc_defaults") is None


def test_section_refuses_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown CIB section 'resource'"):
        section(empty(), "resource")


def test_ensure_section_creates_once() -> None:
    root = empty()
    made = ensure_section(root, "op_defaults")
    assert made.getparent() is section(root, "configuration")
    assert ensure_section(root, "op_defaults") is made
    bare = parse(b"<cib/>")
    assert ensure_section(bare, "tags").getparent() is section(bare, "configuration")
    assert ensure_section(bare, "status") is section(bare, "status")


def test_find_by_id_searches_the_configuration() -> None:
    root = parse(GOOD.read_bytes())
    found = find_by_id(root, "db-monitor-promoted")
    assert found is not None and found.tag == "op"
    assert find_by_id(root, "vip", "primitive") is not None
    assert find_by_id(root, "vip", "op") is None
    assert find_by_id(root, "no-such-id") is None


def test_element_path_uses_ids_then_positions() -> None:
    root = parse(GOOD.read_bytes())
    op = find_by_id(root, "vip-monitor")
    assert op is not None
    assert element_path(op) == ("/cib/configuration/resources/primitive[@id='vip']"
                                "/operations/op[@id='vip-monitor']")
    ops = op.getparent()
    assert ops is not None and element_path(ops) == (
        "/cib/configuration/resources/primitive[@id='vip']/operations")
    node_states = root.findall("status/node_state")
    assert element_path(node_states[1]) == "/cib/status/node_state[@id='2']"
    bare = parse(b"<cib><a/><a/></cib>")
    assert element_path(bare[1]) == "/cib/a[2]"
    assert bare.xpath(element_path(bare[1])) == [bare[1]]


def test_element_path_quotes_awkward_ids() -> None:
    root = parse("<cib><node id=\"it's\"/></cib>")
    path = element_path(root[0])
    assert path == '/cib/node[@id="it\'s"]'
    assert root.xpath(path) == [root[0]]
