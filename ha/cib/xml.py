"""The CIB document: Pacemaker's own XML, parsed safely, written back byte-stable.

hastack keeps the CIB as plain lxml elements, exactly as Pacemaker lays it out
(``/cib/configuration/{crm_config,nodes,resources,constraints,...}`` and
``/cib/status``); there is no object model on top. This module owns the document
as a whole: reading it, writing it, finding its sections, and the ``Issue`` /
``CibError`` pair every CIB module uses to say what is wrong and where.

Rules it keeps:

- Parsing is safe for hostile input: no network, no DTD loading, no entity
  expansion, and a document carrying a DOCTYPE is refused outright (a CIB never has
  one; refusing it closes XXE and "billion laughs" at once). libxml2's default
  limits stay on (``huge_tree=False``: tree depth 256, 10 MB per text node), far
  beyond any real CIB (Pacemaker's scheduler corpus tops out under 1 MB).
- Whitespace-only text between elements is dropped as Pacemaker drops it
  (``XML_PARSE_NOBLANKS``); comments and processing instructions are kept. So
  ``parse(serialise(parse(x)))`` equals ``parse(x)`` under ``same_tree``.
- ``serialise`` writes UTF-8 with no XML declaration and no pretty printing, the
  way Pacemaker writes a CIB node.
- Paths in issues are XPath strings in the form Pacemaker's v2 patchsets use:
  ``/cib/configuration/resources/primitive[@id='d1']``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from lxml import etree

Severity = Literal["error", "warning"]

#: The feature set Pacemaker 2.1.5 (schema pacemaker-3.9) writes into a new CIB.
CRM_FEATURE_SET = "3.16.1"

#: Children of ``/cib/configuration`` (Pacemaker's schema lets them come in any order).
CONFIGURATION_SECTIONS = (
    "crm_config", "nodes", "resources", "constraints", "rsc_defaults", "op_defaults",
    "fencing-topology", "acls", "tags", "alerts",
)
#: Sections ``empty()`` creates: the ones Pacemaker's ``createEmptyCib`` creates.
EMPTY_SECTIONS = ("crm_config", "nodes", "resources", "constraints")


@dataclass(frozen=True, kw_only=True)
class Issue:
    """One thing wrong (``error``) or worth knowing (``warning``) about a CIB.

    ``path`` is an XPath to the element (or ``source:line:column`` for a document
    that is not well-formed), ``element`` its tag, ``id`` its id, ``attribute`` the
    attribute at fault (None when the element itself is), ``message`` what was
    expected. ``check`` names the validation check that found it (for summaries).
    """

    path: str
    element: str
    id: str | None
    attribute: str | None
    message: str
    severity: Severity = "error"
    check: str = ""

    def __str__(self) -> str:
        parts = [f"{self.severity}:"]
        if self.element:
            subject = self.element if self.id is None else f"{self.element} '{self.id}'"
            parts.append(f"{subject} ({self.path}):")
        elif self.path:
            parts.append(f"{self.path}:")
        if self.attribute:
            parts.append(f"attribute '{self.attribute}':")
        parts.append(self.message)
        return " ".join(parts)


class CibError(ValueError):
    """A CIB (or a change to one) refused; ``issues`` says every reason.

    ``CibError(issues)`` lists the issues in its message; ``CibError(message, issues)``
    leads with a message of the caller's own.
    """

    def __init__(self, what: str | Iterable[Issue], issues: Iterable[Issue] = ()) -> None:
        if isinstance(what, str):
            self.issues: list[Issue] = list(issues)
            lines = [what, *(f"  {i}" for i in self.issues)]
        else:
            self.issues = list(what)
            n = sum(1 for i in self.issues if i.severity == "error")
            head = f"CIB refused: {n} error{'s' if n != 1 else ''}"
            lines = [head, *(f"  {i}" for i in self.issues)]
        super().__init__("\n".join(lines))


def issue_at(element: etree._Element, message: str, *, attribute: str | None = None,
             severity: Severity = "error", check: str = "") -> Issue:
    """An Issue about ``element`` (its path, tag and id filled in)."""
    return Issue(path=element_path(element), element=str(element.tag), id=element.get("id"),
                 attribute=attribute, message=message, severity=severity, check=check)


def _parser(*, recover_encoding: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_blank_text=True, remove_comments=False, remove_pis=False,
        collect_ids=False, encoding="utf-8" if recover_encoding else None)


_DOCTYPE_IN_PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?(?:\s|<\?.*?\?>|<!--.*?-->)*<!DOCTYPE", re.S)


def _doctype_issue(source: str) -> Issue:
    return Issue(path=f"{source}:1:0", element="", id=None, attribute=None,
                 message="a CIB may not carry a DOCTYPE (DTDs and entities are refused)",
                 check="xml")


def parse(data: bytes | str, source: str = "<cib>") -> etree._Element:
    """The ``<cib>`` root of ``data``; CibError naming ``source:line:column`` if malformed."""
    root = parse_fragment(data, source)
    if root.tag != "cib":
        raise CibError([Issue(path=f"{source}:{root.sourceline or 1}:0", element=str(root.tag),
                              id=root.get("id"), attribute=None,
                              message=f"expected a <cib> root element, got <{root.tag}>",
                              check="xml")])
    return root


def parse_fragment(data: bytes | str, source: str = "<fragment>") -> etree._Element:
    """Any well-formed element (an ``<nvpair>``, a ``<primitive>``, a ``<diff>``...),
    parsed as safely as ``parse`` parses a CIB, with the same error reporting."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if _DOCTYPE_IN_PROLOG.match(raw):  # refused before libxml2 reads any declaration
        raise CibError([_doctype_issue(source)])
    parser = _parser(recover_encoding=isinstance(data, str))
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as e:
        # The parser's own log holds this parse's errors only; the first is the cause.
        entries = list(parser.error_log)
        line, column = (entries[0].line, entries[0].column) if entries else e.position
        reason = entries[0].message if entries else "not well-formed"
        raise CibError([Issue(path=f"{source}:{line}:{column}", element="", id=None,
                              attribute=None, message=f"not well-formed XML: {reason}",
                              check="xml")]) from None
    if root is None:  # lxml gives None for a document with no element at all
        raise CibError([Issue(path=f"{source}:1:0", element="", id=None, attribute=None,
                              message="not well-formed XML: no root element", check="xml")])
    if root.getroottree().docinfo.internalDTD is not None:  # set by any DOCTYPE at all
        raise CibError([_doctype_issue(source)])
    return root


def serialise(element: etree._Element) -> bytes:
    """``element`` as UTF-8 XML: no declaration, no pretty printing, no tail."""
    return etree.tostring(element, encoding="UTF-8", xml_declaration=False, with_tail=False)


def empty(validate_with: str = "pacemaker-3.9", crm_feature_set: str = CRM_FEATURE_SET,
          ) -> etree._Element:
    """A new CIB as Pacemaker creates one (``cibadmin --empty``, epoch 0).

    Sections: crm_config, nodes, resources, constraints and status; the optional
    ones (rsc_defaults, op_defaults, ...) are added on demand by ``ensure_section``.
    """
    root = etree.Element("cib")
    root.set("crm_feature_set", crm_feature_set)
    root.set("validate-with", validate_with)
    root.set("admin_epoch", "0")
    root.set("epoch", "0")
    root.set("num_updates", "0")
    configuration = etree.SubElement(root, "configuration")
    for name in EMPTY_SECTIONS:
        etree.SubElement(configuration, name)
    etree.SubElement(root, "status")
    return root


def _section_path(name: str) -> str:
    if name == "status":
        return "status"
    if name == "configuration":
        return "configuration"
    if name in CONFIGURATION_SECTIONS:
        return f"configuration/{name}"
    known = ", ".join(("configuration", *CONFIGURATION_SECTIONS, "status"))
    raise ValueError(f"unknown CIB section {name!r} (expected one of {known})")


def section(root: etree._Element, name: str) -> etree._Element:
    """The section ``name`` (a configuration section, ``configuration`` or ``status``).

    Creates nothing: KeyError if the CIB lacks it, ValueError for an unknown name.
    """
    rel = _section_path(name)
    found = root.find(rel)
    if found is None:
        raise KeyError(f"this CIB has no <{name}> section (/cib/{rel})")
    return found


def ensure_section(root: etree._Element, name: str) -> etree._Element:
    """The section ``name``, created empty (with ``configuration`` if need be) if absent."""
    rel = _section_path(name)
    found = root.find(rel)
    if found is not None:
        return found
    if name in ("configuration", "status"):
        created = etree.Element(name)
        if name == "configuration":
            root.insert(0, created)
        else:
            root.append(created)
        return created
    return etree.SubElement(ensure_section(root, "configuration"), name)


def find_by_id(root: etree._Element, id_: str, tag: str | None = None) -> etree._Element | None:
    """The first element in the configuration with ``@id == id_`` (and tag ``tag``)."""
    configuration = root.find("configuration") if root.tag == "cib" else root
    if configuration is None:
        return None
    for el in configuration.iter(tag if tag is not None else etree.Element):
        if el.get("id") == id_:
            return el
    return None


def _xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    parts = value.split("'")
    return "concat(" + ", \"'\", ".join(f"'{p}'" for p in parts) + ")"


def element_path(element: etree._Element) -> str:
    """An XPath naming ``element``: ``[@id='...']`` where it has an id, else ``[n]`` when
    siblings share its tag (1-based, as XPath counts)."""
    steps: list[str] = []
    el: etree._Element | None = element
    while el is not None:
        if not isinstance(el.tag, str):  # a comment or processing instruction
            steps.append("comment()")
            el = el.getparent()
            continue
        id_ = el.get("id")
        parent = el.getparent()
        step = str(el.tag)
        if id_ is not None:
            step += f"[@id={_xpath_literal(id_)}]"
        elif parent is not None:
            same = [c for c in parent if c.tag == el.tag]
            if len(same) > 1:
                step += f"[{same.index(el) + 1}]"
        steps.append(step)
        el = parent
    return "/" + "/".join(reversed(steps))


def same_tree(a: etree._Element, b: etree._Element) -> bool:
    """Canonical equality: tag, attributes (any order), text and children in order.

    Text that is None and empty text are the same; comments compare by their text.
    """
    if a.tag != b.tag or (a.text or "") != (b.text or "") or a.attrib != b.attrib:
        return False
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if (x.tail or "") != (y.tail or "") or not same_tree(x, y):
            return False
    return True
