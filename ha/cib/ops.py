"""CIB operations, as cibadmin names them: query, replace, create, modify, delete, patch;
plus cluster properties (crm_attribute / ``ha property``) and node_state updates.

``apply(root, op, args, body)`` is a pure, deterministic function: it returns a new tree
(the input is never changed) and how the version moves, or raises CibError/ValueError
naming what was wrong — and then nothing changed. Configuration changes are validated
whole (``validate.check``) before they are accepted.
"""

from __future__ import annotations

import copy
from typing import Any

from lxml import etree

from ha.cib.versions import set_version, version
from ha.cib.xml import (
    CONFIGURATION_SECTIONS,
    CibError,
    empty,
    ensure_section,
    parse,
    parse_fragment,
    serialise,
)

EMPTY = serialise(empty())      # a new CIB, as Pacemaker's cibadmin --empty
CONFIG_SECTIONS = CONFIGURATION_SECTIONS
SECTIONS = ("configuration", *CONFIG_SECTIONS, "status")
UPDATES = ("replace", "create", "modify", "delete", "patch", "property", "node_state")
PROPERTY_SET = "cib-bootstrap-options"

CONFIG, STATUS, AS_IS = "configuration", "status", "as-is"


def _frag(body: bytes, what: str) -> etree._Element:
    if not body.strip():
        raise ValueError(f"{what}: expected an XML fragment")
    return parse_fragment(body, what)


def _section(root: etree._Element, name: str) -> etree._Element:
    """The section ``name``, created empty when the CIB lacks it."""
    return ensure_section(root, name)


def check_request(op: str, args: dict[str, Any], body: bytes) -> None:
    """What can be checked before the update travels (the rest is checked on delivery)."""
    if op not in UPDATES:
        raise ValueError(f"unknown operation {op!r} (expected one of {', '.join(UPDATES)})")
    sec = args.get("section")
    if sec is not None and sec not in SECTIONS:
        raise ValueError(f"unknown section {sec!r} (expected one of {', '.join(SECTIONS)})")
    if op in ("replace", "create", "modify", "delete", "patch"):
        _frag(body, op)
    if op == "property" and not args.get("name"):
        raise ValueError("property: expected a name")


def touches_configuration(op: str, args: dict[str, Any]) -> bool:
    return op != "node_state" and args.get("section") != "status"


def query(root: etree._Element, xpath: str | None = None) -> bytes:
    if not xpath:
        return serialise(root)
    try:
        found = root.xpath(xpath)
    except etree.XPathError as e:
        raise ValueError(f"xpath {xpath!r}: {e}") from None
    if not isinstance(found, list):
        return str(found).encode()
    els = [e for e in found if isinstance(e, etree._Element)]
    if not els:
        raise LookupError(f"xpath {xpath!r}: no such object")
    if len(els) == 1:
        return serialise(els[0])
    wrap = etree.Element("xpath-query")
    for found_el in els:
        wrap.append(copy.deepcopy(found_el))
    return serialise(wrap)


def _by_tag_id(scope: etree._Element, tag: str, id_: str) -> etree._Element | None:
    for e in scope.iter(tag):
        if e.get("id") == id_:
            return e
    return None


def _merge(into: etree._Element, frag: etree._Element) -> None:
    """cibadmin --modify: attributes set on the element; children with an id merged
    into the child with the same tag and id, others appended."""
    for k, v in frag.attrib.items():
        into.set(k, v)
    for child in frag:
        cid = child.get("id")
        match = next((c for c in into if c.tag == child.tag and c.get("id") == cid), None) \
            if cid is not None else None
        if match is None:
            into.append(copy.deepcopy(child))
        else:
            _merge(match, child)


def _in_status(root: etree._Element, e: etree._Element) -> bool:
    status = root.find("status")
    return status is not None and (e is status or status in e.iterancestors())


def apply(root: etree._Element, op: str, args: dict[str, Any],
          body: bytes = b"") -> tuple[etree._Element | None, str]:
    """The new tree and how its version moves (configuration, status or as-is); None
    when nothing changed."""
    new = copy.deepcopy(root)
    kind = CONFIG
    sec = args.get("section")
    if op == "replace":
        kind = _replace(root, new, sec, _frag(body, "replace"))
        if kind == AS_IS:
            new = parse(body, "replace")
            status = root.find("status")
            old_status = new.find("status")
            if old_status is not None:
                new.remove(old_status)
            new.append(copy.deepcopy(status) if status is not None else etree.Element("status"))
    elif op == "create":
        frag = _frag(body, "create")
        target = _section(new, sec or _section_of(frag.tag))
        # the section element itself (``create -o acls`` with ``<acls>…</acls>``): its
        # children are created in the section
        for child in (list(frag) if frag.tag == target.tag else [frag]):
            cid = child.get("id")
            if cid is not None and _by_tag_id(new, child.tag, cid) is not None:
                raise ValueError(f"create: {child.tag} '{cid}' already exists")
            target.append(child)
        kind = STATUS if _in_status(new, target) else CONFIG
    elif op in ("modify", "delete"):
        frag = _frag(body, op)
        fid = frag.get("id")
        if fid is None:
            raise ValueError(f"{op}: the fragment's <{frag.tag}> has no id")
        scope = _section(new, sec) if sec else new
        found = _by_tag_id(scope, frag.tag, fid)
        if found is None:
            raise LookupError(f"{op}: no {frag.tag} with id '{fid}'"
                              + (f" in {sec}" if sec else ""))
        kind = STATUS if _in_status(new, found) else CONFIG
        if op == "modify":
            _merge(found, frag)
        else:
            parent = found.getparent()
            assert parent is not None
            parent.remove(found)
    elif op == "patch":
        from ha.cib.patch import apply as apply_patch

        new = apply_patch(root, _frag(body, "patch"))
        if version(new)[:2] > version(root)[:2]:
            kind = AS_IS                     # the patch carries a newer epoch: kept
        else:                                # else a change is a change: bumped as one
            set_version(new, version(root))
            kind = CONFIG if _config_bytes(new) != _config_bytes(root) else STATUS
    elif op == "property":
        if not _property(new, str(args["name"]), args.get("value")):
            return None, CONFIG
    elif op == "node_state":
        _node_state(new, str(args["node"]), int(args["nodeid"]), bool(args.get("online", True)))
        kind = STATUS
    else:
        raise ValueError(f"unknown operation {op!r}")
    if etree.tostring(new) == etree.tostring(root):
        return None, kind
    if kind != STATUS:
        from ha.cib.validate import check

        check(new)
    return new, kind


def _config_bytes(root: etree._Element) -> bytes:
    c = root.find("configuration")
    return b"" if c is None else etree.tostring(c)


def _section_of(tag: str) -> str:
    return {"primitive": "resources", "group": "resources", "clone": "resources",
            "master": "resources", "bundle": "resources", "template": "resources",
            "rsc_location": "constraints", "rsc_colocation": "constraints",
            "rsc_order": "constraints", "rsc_ticket": "constraints", "node": "nodes",
            "cluster_property_set": "crm_config", "node_state": "status",
            "fencing-level": "fencing-topology", "tag": "tags", "acl_target": "acls",
            "acl_group": "acls", "acl_role": "acls"}.get(tag, tag if tag in SECTIONS
                                                        else "configuration")


def _replace(root: etree._Element, new: etree._Element, sec: str | None,
             frag: etree._Element) -> str:
    if frag.tag == "cib":
        theirs, ours = version(frag), version(root)
        if theirs[:2] < ours[:2]:
            raise CibError(f"replace: the new CIB's version {theirs[0]}.{theirs[1]}.{theirs[2]} "
                           f"is older than the current {ours[0]}.{ours[1]}.{ours[2]}", [])
        return AS_IS if theirs[:2] > ours[:2] else CONFIG
    name = sec or frag.tag
    if name not in SECTIONS or frag.tag != name:
        raise ValueError(f"replace: expected <cib> or a section element <{name}>, got <{frag.tag}>")
    old = _section(new, name)
    parent = old.getparent()
    assert parent is not None
    parent.replace(old, frag)
    return STATUS if name == "status" else CONFIG


def _property(root: etree._Element, name: str, value: Any) -> bool:
    crm = _section(root, "crm_config")
    props = next((s for s in crm.iter("cluster_property_set") if s.get("id") == PROPERTY_SET), None)
    if props is None:
        if value is None:
            return False
        props = etree.SubElement(crm, "cluster_property_set", id=PROPERTY_SET)
    nv = next((n for n in props.iter("nvpair") if n.get("name") == name), None)
    if value is None:
        if nv is None:
            return False
        props.remove(nv)
        return True
    if nv is None:
        etree.SubElement(props, "nvpair", id=f"{PROPERTY_SET}-{name}", name=name, value=str(value))
        return True
    if nv.get("value") == str(value):
        return False
    nv.set("value", str(value))
    return True


def property_value(root: etree._Element, name: str) -> str | None:
    for nv in root.iterfind("configuration/crm_config/cluster_property_set/nvpair"):
        if nv.get("name") == name:
            return nv.get("value")
    return None


def _node_state(root: etree._Element, uname: str, nodeid: int, online: bool) -> None:
    status = _section(root, "status")
    ns = next((n for n in status.iter("node_state") if n.get("id") == str(nodeid)), None)
    if ns is None:
        ns = etree.SubElement(status, "node_state", id=str(nodeid), uname=uname)
    ns.set("uname", uname)
    ns.set("in_ccm", "true" if online else "false")
    ns.set("crmd", "online" if online else "offline")
    ns.set("join", "member" if online else "down")
    ns.set("expected", "member")


def node_offline(root: etree._Element, nodeid: int) -> bool:
    """Mark node ``nodeid`` offline in place; whether anything changed."""
    status = root.find("status")
    if status is None:
        return False
    for ns in status.iter("node_state"):
        if ns.get("id") == str(nodeid) and ns.get("in_ccm") != "false":
            ns.set("in_ccm", "false")
            ns.set("crmd", "offline")
            ns.set("join", "down")
            return True
    return False


def status_node_ids(root: etree._Element) -> list[int]:
    """The node ids of the status section's node_state entries (numeric ids only)."""
    status = root.find("status")
    if status is None:
        return []
    return sorted(int(ns.get("id", "")) for ns in status.iter("node_state")
                  if ns.get("id", "").isdigit())
