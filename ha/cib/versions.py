"""CIB versions and digests: which copy is newer, and whether two copies hold the same.

A CIB's version is the triple Pacemaker keeps on the ``<cib>`` element, compared in this
order (Pacemaker Explained, "CIB Properties"):

- ``admin_epoch``: changed only by an administrator (never by the cluster), to force one
  copy to win over every other;
- ``epoch``: incremented on every change to the configuration section, which also
  resets ``num_updates`` to 0;
- ``num_updates``: incremented on every change to the status section only.

A missing attribute counts as 0; a value that is not a non-negative integer is refused
(ValueError naming the attribute).

Digests are MD5 (hex), as Pacemaker's, for compatibility with its files and tools:

- :func:`document_digest` is Pacemaker's on-disk digest, the one in ``cib.xml.sig``:
  the MD5 of a space, the compact serialisation of the whole document (attributes in
  document order, comments kept, text left out, Pacemaker's escaping) and a newline.
  ``cibadmin --md5-sum`` prints the same value, so a Pacemaker cib.xml + cib.xml.sig
  pair verifies here. (Pacemaker 2.1 and older escaped ``'``, tab and newline in
  attribute values differently; values holding those digest differently there.)
- :func:`filtered_digest` is the one ``crm_diff --cib`` puts in a patchset's ``digest``
  attribute: the same serialisation without the space and newline, leaving out the
  bookkeeping attributes (cib-last-written, update-origin, update-client, update-user,
  crm-debug-origin).
- :func:`digest` is of the configuration section only, over :func:`canonical`: the
  same form with attributes sorted by name, so it is the same for any two copies that
  hold the same configuration, however their attributes happen to be ordered.

The tie-break between replicas with equal versions (:func:`winner`) is: the lowest
node id among them. Every replica sees the same candidates (they arrive as ordered
messages), so every replica picks the same copy.
"""

from __future__ import annotations

import hashlib
import re

from lxml import etree

Version = tuple[int, int, int]

VERSION_ATTRIBUTES = ("admin_epoch", "epoch", "num_updates")

# Attributes Pacemaker leaves out of a "filtered" digest: they record who wrote last
# and when, not what the CIB says.
FILTERED_ATTRIBUTES = frozenset(
    {"crm-debug-origin", "cib-last-written", "update-origin", "update-client", "update-user"})

_INTEGER = re.compile(r"[0-9]+")


def parse_version_field(element: etree._Element, name: str) -> int:
    """One version attribute of ``element`` as an int (missing: 0)."""
    value = element.get(name)
    if value is None:
        return 0
    if not _INTEGER.fullmatch(value):
        raise ValueError(f"<{element.tag}> attribute {name}={value!r}: "
                         "expected a non-negative integer")
    return int(value)


def version(root: etree._Element) -> Version:
    """(admin_epoch, epoch, num_updates) of a ``<cib>`` root; missing attributes are 0."""
    a, e, n = (parse_version_field(root, name) for name in VERSION_ATTRIBUTES)
    return (a, e, n)


def format_version(v: Version) -> str:
    """A version as Pacemaker logs it: ``admin_epoch.epoch.num_updates``."""
    return f"{v[0]}.{v[1]}.{v[2]}"


def set_version(root: etree._Element, v: Version) -> None:
    """Write ``v`` into the root's version attributes."""
    for name, value in zip(VERSION_ATTRIBUTES, v, strict=True):
        root.set(name, str(value))


def bump(root: etree._Element, *, configuration: bool) -> None:
    """Advance the version after a change, as Pacemaker does.

    A configuration change: epoch + 1 and num_updates = 0. A status-only change:
    num_updates + 1. admin_epoch is never changed here (only a user sets it).
    """
    admin_epoch, epoch, num_updates = version(root)
    if configuration:
        set_version(root, (admin_epoch, epoch + 1, 0))
    else:
        set_version(root, (admin_epoch, epoch, num_updates + 1))


def newer(a: Version, b: Version) -> bool:
    """Whether version ``a`` is newer than ``b`` (admin_epoch, then epoch, then num_updates)."""
    return tuple(a) > tuple(b)


def winner(candidates: list[tuple[int, Version, str]]) -> int:
    """The node id whose copy every replica converges on after a merge or join.

    ``candidates`` are ``(node_id, version, digest)``. The highest version wins; among
    copies with the same highest version, the lowest node id. The digest does not take
    part in the choice: the caller uses it to see which replicas already hold the
    winner's content (same digest) and need no copy.
    """
    if not candidates:
        raise ValueError("winner: no candidates")
    best = max(tuple(v) for _, v, _ in candidates)
    return min(node for node, v, _ in candidates if tuple(v) == best)


# ---- serialisations and digests ----------------------------------------------------

def _escape_attribute(value: str) -> str:
    # Pacemaker's attribute escaping: the XML specials and ASCII control characters
    # (as &#xHH;); everything else, non-ASCII included, as it is.
    out: list[str] = []
    for ch in value:
        if ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == "&":
            out.append("&amp;")
        elif ch == '"':
            out.append("&quot;")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"&#x{ord(ch):02X};")
        else:
            out.append(ch)
    return "".join(out)


def _dump(node: etree._Element, out: list[str], *, sort: bool, filtered: bool) -> None:
    if isinstance(node, etree._Comment):
        out.append(f"<!--{node.text or ''}-->")
        return
    if not isinstance(node.tag, str):           # processing instructions, entities
        return
    items = [(str(name), str(value)) for name, value in node.attrib.items()]
    if sort:
        items.sort()
    out.append("<" + node.tag)
    for name, value in items:
        if not (filtered and name in FILTERED_ATTRIBUTES):
            out.append(f' {name}="{_escape_attribute(value)}"')
    # Text is never part of a CIB (Pacemaker strips it when reading one).
    children = [c for c in node if isinstance(c, etree._Comment) or isinstance(c.tag, str)]
    if not children:
        out.append("/>")
        return
    out.append(">")
    for child in children:
        _dump(child, out, sort=sort, filtered=filtered)
    out.append(f"</{node.tag}>")


def pacemaker_string(element: etree._Element, *, filtered: bool = False) -> str:
    """Pacemaker's compact serialisation (what its digests are computed over)."""
    out: list[str] = []
    _dump(element, out, sort=False, filtered=filtered)
    return "".join(out)


def canonical(element: etree._Element) -> str:
    """The canonical form of a tree: attributes sorted by name, comments kept, text and
    whitespace left out. Two trees are the same CIB content when these are equal."""
    out: list[str] = []
    _dump(element, out, sort=True, filtered=False)
    return "".join(out)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def digest(root: etree._Element) -> str:
    """MD5 (hex) of the canonical form of the configuration section (of "" when absent)."""
    configuration = root.find("configuration")
    return _md5("" if configuration is None else canonical(configuration))


def document_digest(root: etree._Element) -> str:
    """Pacemaker's on-disk digest of a whole document (``cib.xml.sig``, ``cibadmin -5``)."""
    return _md5(" " + pacemaker_string(root) + "\n")


def filtered_digest(root: etree._Element) -> str:
    """The digest ``crm_diff --cib`` writes in a patchset's ``digest`` attribute."""
    return _md5(pacemaker_string(root, filtered=True))
