"""CIB operations (cibadmin's create/modify/delete/replace, properties, node_state): pure,
deterministic, and refused whole with the reason named."""

from __future__ import annotations

import pytest

from ha.cib import ops
from ha.cib.versions import version
from ha.cib.xml import CibError, parse, serialise

DUMMY = b'<primitive id="d1" class="ocf" provider="pacemaker" type="Dummy"/>'


def root() -> object:
    return parse(ops.EMPTY)


def test_create_and_refuse_duplicate() -> None:
    r = root()
    new, kind = ops.apply(r, "create", {"section": "resources"}, DUMMY)
    assert kind == ops.CONFIG and new is not None
    assert new.find("configuration/resources/primitive").get("id") == "d1"
    assert r.find("configuration/resources/primitive") is None          # input unchanged
    with pytest.raises(ValueError, match="create: primitive 'd1' already exists"):
        ops.apply(new, "create", {"section": "resources"}, DUMMY)


def test_invalid_configuration_refused_naming_the_attribute() -> None:
    with pytest.raises(CibError, match="primitive 'x'.*attribute 'class'"):
        ops.apply(root(), "create", {"section": "resources"},
                  b'<primitive id="x" class="bogus" type="Dummy"/>')


def test_modify_merges_and_delete_removes() -> None:
    r, _ = ops.apply(root(), "create", {"section": "resources"}, DUMMY)
    r2, _ = ops.apply(r, "modify", {}, b'<primitive id="d1" description="x"><meta_attributes '
                                       b'id="d1-meta"><nvpair id="d1-tr" name="target-role" '
                                       b'value="Stopped"/></meta_attributes></primitive>')
    p = r2.find("configuration/resources/primitive")
    assert p.get("description") == "x" and p.get("type") == "Dummy"
    assert p.find("meta_attributes/nvpair").get("value") == "Stopped"
    r3, _ = ops.apply(r2, "delete", {}, b'<primitive id="d1"/>')
    assert r3.find("configuration/resources/primitive") is None
    with pytest.raises(LookupError, match="delete: no primitive with id 'd1'"):
        ops.apply(r3, "delete", {}, b'<primitive id="d1"/>')


def test_property_set_unset_and_no_change() -> None:
    r, _ = ops.apply(root(), "property", {"name": "stonith-enabled", "value": "false"})
    assert ops.property_value(r, "stonith-enabled") == "false"
    same, _ = ops.apply(r, "property", {"name": "stonith-enabled", "value": "false"})
    assert same is None
    gone, _ = ops.apply(r, "property", {"name": "stonith-enabled", "value": None})
    assert ops.property_value(gone, "stonith-enabled") is None


def test_replace_refuses_an_older_cib() -> None:
    r = root()
    r.set("epoch", "5")
    def at(epoch: int) -> bytes:
        doc = root()
        doc.set("epoch", str(epoch))
        return serialise(doc)
    with pytest.raises(CibError, match="older than the current"):
        ops.apply(r, "replace", {}, at(3))
    new, kind = ops.apply(r, "replace", {}, at(9))
    assert kind == ops.AS_IS and version(new)[1] == 9


def test_node_state_is_status_only() -> None:
    r, kind = ops.apply(root(), "node_state", {"node": "n1", "nodeid": 1, "online": True})
    assert kind == ops.STATUS
    assert r.find("status/node_state").get("crmd") == "online"
    assert ops.node_offline(r, 1) and not ops.node_offline(r, 1)
    assert ops.status_node_ids(r) == [1]


@pytest.mark.parametrize("op, args, body, msg", [
    ("explode", {}, b"", "unknown operation 'explode'"),
    ("create", {"section": "nowhere"}, DUMMY, "unknown section 'nowhere'"),
    ("create", {}, b"", "create: expected an XML fragment"),
    ("property", {}, b"", "property: expected a name"),
])
def test_requests_checked_before_they_travel(op: str, args: dict[str, str], body: bytes,
                                             msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        ops.check_request(op, args, body)


def test_query_xpath() -> None:
    r, _ = ops.apply(root(), "create", {"section": "resources"}, DUMMY)
    assert ops.query(r, "//primitive").startswith(b'<primitive id="d1"')
    with pytest.raises(LookupError, match="no such object"):
        ops.query(r, "//group")
    with pytest.raises(ValueError, match="xpath"):
        ops.query(r, "//[")
