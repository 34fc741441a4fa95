"""Pacemaker's v2 patchset: what ``crm_diff`` prints and ``cibadmin --patch`` applies.

Format (Pacemaker's diff schema, xml/api/diff-2.30.rng)::

    <diff format="2">
      <version><source admin_epoch= epoch= num_updates=/><target .../></version>
      <change operation="delete" path="P" [position="N"]/>
      <change operation="create" path="PARENT" position="N"><NEW-ELEMENT .../></change>
      <change operation="modify" path="P">
        <change-list><change-attr name= operation="set|unset" [value=]/>...</change-list>
        <change-result><TAG every attribute after the change/></change-result>
      </change>
      <change operation="move" path="P" position="N"/>
    </diff>

A path names an element from the root, ``/cib/configuration/resources/primitive[@id='d1']``;
a step resolves to the FIRST child with its tag (and id), so a path names an element only
when that is unique among its siblings. Positions count element and comment children.

:func:`apply` keeps Pacemaker's rules, so a patch means the same here and there. Pass 1
resolves every path, in order: a delete removes its element (a comment: ``.../comment``
at its position), a modify replaces all attributes by change-result's (change-list only
describes), a move takes its element to its parent's end for now. Pass 2 puts creates
and moves, sorted by position (stable), before the child now at their position (or last).

:func:`diff` writes what that apply turns into ``new``: deletes first (a parent's comments
last-first, so positions hold), then in document order a modify per changed element, a
create per new child (whole subtree) and a move per kept child out of order. Children pair
by tag and id; the kept order is a longest matching subsequence (difflib). Siblings no
path tells apart (two id-less ones with one tag, say) that changed make their parent be
replaced whole: delete and create. No ``digest`` is written (crm_diff --cib writes one).

Unlike Pacemaker: a delete whose path does not resolve is refused (Pacemaker skips it); a
target equal to the source version is accepted (crm_diff writes those between files); the
result carries the target version. Like Pacemaker: a patch without ``<version>`` applies
to any version and adds one to num_updates; a ``digest`` attribute is checked. Text is no
part of a CIB: blank text is dropped from the result, and diff ignores text.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections import Counter
from dataclasses import dataclass

from lxml import etree

from ha.cib import versions
from ha.cib.versions import VERSION_ATTRIBUTES, Version, canonical, format_version, version

OPERATIONS = ("create", "delete", "modify", "move")

_STEP = re.compile(r"([^\[\]/'\s]+)(?:\[@id='([^']+)'\])?")
_SAFE_TAG = re.compile(r"[^\[\]/'\s]+")
_SAFE_ID = re.compile(r"[^'/\s]+")       # what Pacemaker's path scanner reads back intact


class PatchError(ValueError):
    """A patchset refused: wrong base version, a path that does not resolve, or malformed."""


@dataclass(frozen=True)
class _Change:
    number: int                            # 1-based, among the <change> elements
    op: str
    path: str
    steps: list[tuple[str, str | None]]
    position: int                          # -1 when absent
    element: etree._Element

    def __str__(self) -> str:
        return f"change {self.number} ({self.op} {self.path})"


# ---- nodes and paths ----------------------------------------------------------------

def _is_comment(node: etree._Element) -> bool:
    return isinstance(node, etree._Comment)


def _children(parent: etree._Element) -> list[etree._Element]:
    """Element and comment children: what Pacemaker's positions count."""
    return list(parent.iterchildren(etree.Element, etree.Comment))


def _name(node: etree._Element) -> str:
    return "comment" if _is_comment(node) else str(node.tag)


def _step(node: etree._Element) -> str:
    node_id = node.get("id")
    return str(node.tag) if node_id is None else f"{node.tag}[@id='{node_id}']"


def _parse_path(path: str) -> list[tuple[str, str | None]]:
    if not path.startswith("/") or path == "/":
        raise ValueError(f"path {path!r} does not start with /TAG")
    steps: list[tuple[str, str | None]] = []
    for part in path[1:].split("/"):
        m = _STEP.fullmatch(part)
        if m is None:
            raise ValueError(f"path {path!r}: step {part!r} is not TAG or TAG[@id='ID']")
        steps.append((m.group(1), m.group(2)))
    return steps


class _Finder:
    """Resolves paths as Pacemaker does (the first child with the tag, and the id when one
    is given), through an index per parent of its children by (tag, id) that pass 1 keeps
    up to date as it deletes and moves: a patch of thousands of changes stays linear."""

    def __init__(self) -> None:
        self._index: dict[etree._Element, dict[tuple[str, str], list[etree._Element]]] = {}

    def _by_key(self, parent: etree._Element) -> dict[tuple[str, str], list[etree._Element]]:
        if parent not in self._index:
            index: dict[tuple[str, str], list[etree._Element]] = {}
            self._index[parent] = index
            for kid in _children(parent):
                if kid.get("id") is not None and not _is_comment(kid):
                    index.setdefault((str(kid.tag), str(kid.get("id"))), []).append(kid)
        return self._index[parent]

    def resolve(self, root: etree._Element, change: _Change) -> etree._Element | None:
        """The element a path names (a comment at its last step only at its position)."""
        (tag, node_id), last = change.steps[0], len(change.steps) - 1
        node: etree._Element | None = root
        if root.tag != tag or node_id not in (None, root.get("id")):
            return None
        for depth, (tag, node_id) in enumerate(change.steps[1:], start=1):
            if node is None:
                return None
            if node_id is not None:
                found = self._by_key(node).get((tag, node_id))
                node = found[0] if found else None
                continue
            comment_at = change.position if depth == last and change.op == "delete" else -1
            node = next((kid for index, kid in enumerate(_children(node)) if _name(kid) == tag
                         and (comment_at < 0 or not _is_comment(kid) or index == comment_at)),
                        None)
        return node

    def detach(self, node: etree._Element, *, to_end: bool = False) -> None:
        """Before ``node`` leaves its parent (or, ``to_end``, goes to its parent's end)."""
        index = self._index.get(node.getparent())            # type: ignore[arg-type]
        key = (str(node.tag), str(node.get("id")))
        if index is not None and node in index.get(key, []):
            index[key].remove(node)
            if to_end:
                index[key].append(node)

    def forget(self, parent: etree._Element) -> None:
        self._index.pop(parent, None)


def _attributes(element: etree._Element) -> dict[str, str]:
    return {str(name): str(value) for name, value in element.attrib.items()}


def _strip(node: etree._Element) -> etree._Element:
    """Drop blank text and processing instructions (Pacemaker parses without blanks)."""
    if not _is_comment(node):
        etree.strip_elements(node, etree.ProcessingInstruction, etree.Entity, with_tail=False)
    for n in node.iter():
        if n.text is not None and not n.text.strip() and not _is_comment(n):
            n.text = None
        if n.tail is not None and not n.tail.strip():
            n.tail = None
    node.tail = None
    return node


# ---- reading a patchset ---------------------------------------------------------------

def _int_attr(element: etree._Element, name: str, what: str) -> int:
    value = element.get(name)
    if value is None or not re.fullmatch(r"-?[0-9]+", value):
        raise PatchError(f"malformed patch: {what}: {name}={value!r} is not an integer")
    return int(value)


def _read_version(patchset: etree._Element, which: str) -> Version | None:
    element = patchset.find(f"version/{which}")
    if element is None:
        return None
    missing = [name for name in VERSION_ATTRIBUTES if element.get(name) is None]
    if missing:
        raise PatchError(f"malformed patch: <version><{which}> has no {missing[0]}")
    try:
        a, e, n = (versions.parse_version_field(element, name) for name in VERSION_ATTRIBUTES)
    except ValueError as error:
        raise PatchError(f"malformed patch: <version><{which}>: {error}") from None
    return (a, e, n)


def _payload(change: _Change) -> etree._Element:
    kids = _children(change.element)
    if change.op == "create":
        if len(kids) != 1:
            raise PatchError(f"malformed patch: {change} holds {len(kids)} nodes, not 1")
        return kids[0]
    result = change.element.find("change-result")
    inner = _children(result) if result is not None else []
    if len(inner) != 1 or _is_comment(inner[0]):
        raise PatchError(f"malformed patch: {change} has no <change-result> with one element")
    if inner[0].tag != change.steps[-1][0]:
        raise PatchError(f"malformed patch: {change}: <change-result> holds <{inner[0].tag}>,"
                         f" the path names <{change.steps[-1][0]}>")
    return inner[0]


def _read_changes(patchset: etree._Element) -> list[_Change]:
    if patchset.tag != "diff":
        raise PatchError(f"malformed patch: expected <diff>, got <{patchset.tag}>")
    if patchset.get("format") != "2":
        raise PatchError(f"malformed patch: format={patchset.get('format')!r};"
                         " only format=\"2\" patchsets are understood")
    changes: list[_Change] = []
    for child in _children(patchset):
        if _is_comment(child) or child.tag == "version":
            continue
        if child.tag != "change":
            raise PatchError(f"malformed patch: unexpected <{child.tag}> in <diff>")
        number = len(changes) + 1
        op, path = child.get("operation"), child.get("path")
        if op not in OPERATIONS:
            raise PatchError(f"malformed patch: change {number}: operation={op!r}"
                             f" (expected one of {', '.join(OPERATIONS)})")
        if path is None:
            raise PatchError(f"malformed patch: change {number} ({op}) has no path")
        try:
            steps = _parse_path(path)
        except ValueError as e:
            raise PatchError(f"malformed patch: change {number} ({op}): {e}") from None
        what = f"change {number} ({op} {path})"
        needed = op in ("create", "move")
        position = -1
        if needed or child.get("position") is not None:
            position = _int_attr(child, "position", what)
        if needed and position < 0:
            raise PatchError(f"malformed patch: {what}: negative position {position}")
        change = _Change(number, op, path, steps, position, child)
        if op in ("create", "modify"):
            _payload(change)
        changes.append(change)
    return changes


# ---- apply ----------------------------------------------------------------------------

def apply(root: etree._Element, patchset: etree._Element) -> etree._Element:
    """A new tree: ``root`` with ``patchset`` applied; ``root`` itself is never changed.

    Refused with PatchError when ``root`` is not at the patch's source version, when a
    path does not resolve, or when the patch is malformed; nothing is half-applied.
    """
    changes = _read_changes(patchset)
    try:
        current = version(root)
    except ValueError as e:
        raise PatchError(f"the CIB's own version is unreadable: {e}") from None
    source = _read_version(patchset, "source") or current
    target = _read_version(patchset, "target") or (current[0], current[1], current[2] + 1)
    if versions.newer(source, target):
        raise PatchError(f"malformed patch: target version {format_version(target)} is older"
                         f" than its source version {format_version(source)}")
    if current != source:
        raise PatchError(f"the CIB is at version {format_version(current)} but the patch"
                         f" applies to version {format_version(source)}"
                         f" (it leads to {format_version(target)})")
    work = _strip(copy.deepcopy(root))
    _pass_two(work, _pass_one(work, changes))
    try:
        for field, wanted in zip(VERSION_ATTRIBUTES, target, strict=True):
            if versions.parse_version_field(work, field) != wanted:
                work.set(field, str(wanted))
    except ValueError as e:
        raise PatchError(f"the patched CIB's version is unreadable: {e}") from None
    expected = patchset.get("digest")          # the older form: below feature set 3.0.5
    if expected is not None and expected.lower() not in (versions.filtered_digest(work),
                                                         versions.document_digest(work)):
        raise PatchError(f"the patched CIB's digest is {versions.filtered_digest(work)},"
                         f" the patch expects {expected}")
    return work


def _pass_one(work: etree._Element, changes: list[_Change]) -> list[tuple[_Change, etree._Element]]:
    """Deletes and modifies now; moves to their parent's end; creates and moves for later."""
    finder = _Finder()
    later: list[tuple[_Change, etree._Element]] = []
    for change in changes:
        match = finder.resolve(work, change)
        if match is None:
            raise PatchError(f"{change}: the path does not resolve")
        parent = match.getparent()
        if change.op in ("delete", "move") and parent is None:
            raise PatchError(f"{change}: cannot {change.op} the root element")
        if change.op in ("create", "modify") and _is_comment(match):
            raise PatchError(f"{change}: the path names a comment")
        if change.op == "delete":
            assert parent is not None
            finder.detach(match)
            parent.remove(match)
        elif change.op == "modify":
            if parent is not None and _payload(change).get("id") != match.get("id"):
                finder.forget(parent)
            match.attrib.clear()
            for name, value in _payload(change).attrib.items():
                match.set(name, value)
        else:
            if change.op == "move":
                assert parent is not None
                finder.detach(match, to_end=True)
                parent.append(match)
            later.append((change, match))
    return later


def _pass_two(work: etree._Element, later: list[tuple[_Change, etree._Element]]) -> None:
    """Creates and moves by position. Those under different parents do not interact, so
    each parent's children are arranged as a list once, then set back in one go."""
    by_parent: dict[etree._Element, list[tuple[_Change, etree._Element]]] = {}
    for change, match in sorted(later, key=lambda cm: cm[0].position):
        parent = match if change.op == "create" else match.getparent()
        if parent is None or not (parent is work or work in parent.iterancestors()):
            raise PatchError(f"{change}: a later change deleted what it works on")
        by_parent.setdefault(parent, []).append((change, match))
    for parent, ops in by_parent.items():
        kids = _children(parent)
        for change, match in ops:
            if change.op == "create":
                kids.insert(change.position, _strip(copy.deepcopy(_payload(change))))
                continue
            here = kids.index(match)
            if change.position != here:    # Pacemaker's way: before the child now at p
                p = change.position + 1 if change.position > here else change.position
                before = kids[p] if p < len(kids) else None
                kids.remove(match)
                kids.insert(len(kids) if before is None else kids.index(before), match)
            if kids.index(match) != change.position:
                raise PatchError(f"{change}: the element ends at position"
                                 f" {kids.index(match)}, not {change.position}"
                                 f" ({len(kids)} children)")
        parent[:] = kids


# ---- diff -----------------------------------------------------------------------------

class _Replace(Exception):
    """This element's children cannot be expressed change by change: replace it whole."""


def diff(old: etree._Element, new: etree._Element) -> etree._Element:
    """A v2 patchset that turns ``old`` into ``new`` (source: old's version, target: new's)."""
    if old.tag != new.tag:
        raise ValueError(f"diff: the roots differ (<{old.tag}> and <{new.tag}>)")
    patchset = etree.Element("diff", format="2")
    held = etree.SubElement(patchset, "version")
    for which, tree in (("source", old), ("target", new)):
        etree.SubElement(held, which, dict(zip(VERSION_ATTRIBUTES, map(str, version(tree)),
                                                strict=True)))
    deletes: list[etree._Element] = []
    changes: list[etree._Element] = []
    try:
        _diff_element(old, new, "/" + _step(old), deletes, changes)
    except _Replace:
        raise ValueError(f"diff: the children of <{old.tag}> cannot be told apart by path"
                         " (duplicate tags or ids), and they changed") from None
    patchset.extend(deletes + changes)
    return patchset


def _change(op: str, path: str, position: int | None = None) -> etree._Element:
    element = etree.Element("change", operation=op, path=path)
    if position is not None:
        element.set("position", str(position))
    return element


def _diff_element(old: etree._Element, new: etree._Element, path: str,
                  deletes: list[etree._Element], changes: list[etree._Element]) -> None:
    before, after = _attributes(old), _attributes(new)
    if before != after:
        modify = _change("modify", path)
        listed = etree.SubElement(modify, "change-list")
        for name, value in after.items():
            if before.get(name) != value:
                etree.SubElement(listed, "change-attr", name=name, operation="set", value=value)
        for name in [n for n in before if n not in after]:
            etree.SubElement(listed, "change-attr", name=name, operation="unset")
        etree.SubElement(etree.SubElement(modify, "change-result"), str(new.tag), after)
        changes.append(modify)
    _diff_children(old, new, path, deletes, changes)


def _nameable(kid: etree._Element, tags: Counter[str], keys: Counter[tuple[str, str]]) -> bool:
    """Whether a path names this child: its tag+id unique among its siblings (its tag,
    when it has no id), written with characters Pacemaker's path scanner reads back."""
    if _is_comment(kid) or not _SAFE_TAG.fullmatch(str(kid.tag)):
        return False
    node_id = kid.get("id")
    if node_id is None:
        return tags[str(kid.tag)] == 1
    return bool(_SAFE_ID.fullmatch(node_id)) and keys[(str(kid.tag), node_id)] == 1


def _diff_children(old: etree._Element, new: etree._Element, path: str,
                   deletes: list[etree._Element], changes: list[etree._Element]) -> None:
    okids, nkids = _children(old), _children(new)
    tags = Counter(_name(k) for k in okids)
    keys = Counter((str(k.tag), str(k.get("id"))) for k in okids if not _is_comment(k))
    named = [_nameable(k, tags, keys) for k in okids]
    comments_named = not any(not _is_comment(k) and k.tag == "comment" for k in okids)
    waiting: dict[tuple[str, str | None], list[int]] = {}
    for j, k in enumerate(nkids):
        if not _is_comment(k):
            waiting.setdefault((str(k.tag), k.get("id")), []).append(j)
    back: dict[int, int] = {}                       # new index -> old index it pairs with
    for i, k in enumerate(okids):
        if named[i] and waiting.get((str(k.tag), k.get("id"))):
            back[waiting[(str(k.tag), k.get("id"))].pop(0)] = i
    paired = set(back.values())
    # Tokens equal where a child may stay as it is: a pair, a comment with the same
    # text, or (for children no path names) a subtree with the same canonical form.
    def token(k: etree._Element, i: int | None, gone: bool) -> tuple[str, object]:
        if i is not None:
            return ("gone" if gone else "paired", i)
        return ("comment", k.text or "") if _is_comment(k) else ("same", canonical(k))
    otokens = [token(k, i if named[i] else None, named[i] and i not in paired)
               for i, k in enumerate(okids)]
    ntokens = [token(k, back.get(j), False) for j, k in enumerate(nkids)]
    kept: dict[int, int] = {}                       # new index -> old index, in order
    for a, b, size in difflib.SequenceMatcher(None, otokens, ntokens,
                                              autojunk=False).get_matching_blocks():
        kept.update((b + x, a + x) for x in range(size))
    kept_old = set(kept.values())
    gone: list[etree._Element] = []
    for i, k in enumerate(okids):
        if i in paired or i in kept_old:
            continue
        if not (named[i] or (_is_comment(k) and comments_named)):
            raise _Replace(path)
        gone.append(_change("delete", path + "/" + ("comment" if _is_comment(k) else _step(k)),
                            i if _is_comment(k) else None))
    deletes.extend(reversed(gone))                  # last first: comment positions hold
    for j, k in enumerate(nkids):
        if j not in back:
            if j not in kept:                       # else kept as it is
                changes.append(_created(path, j, k))
            continue
        i = back[j]
        child_path = path + "/" + _step(okids[i])
        marks = len(deletes), len(changes)
        try:
            _diff_element(okids[i], k, child_path, deletes, changes)
            if kept.get(j) != i:
                changes.append(_change("move", child_path, j))
        except _Replace:
            del deletes[marks[0]:], changes[marks[1]:]
            deletes.append(_change("delete", child_path))
            changes.append(_created(path, j, k))


def _created(path: str, position: int, node: etree._Element) -> etree._Element:
    change = _change("create", path, position)
    change.append(_strip(copy.deepcopy(node)))
    return change


# ---- describe -------------------------------------------------------------------------

def describe(patchset: etree._Element) -> list[str]:
    """One line per change, for logs (lenient: a malformed change is described as is)."""
    lines: list[str] = []
    for change in patchset.iterfind("change"):
        op, path = change.get("operation", "?"), change.get("path", "?")
        position = change.get("position")
        if op == "create":
            kid = next(iter(_children(change)), None)
            node_id = None if kid is None else kid.get("id")
            what = ("nothing" if kid is None else "a comment" if _is_comment(kid)
                    else f"<{kid.tag}" + (f" id={node_id}>" if node_id else ">"))
            lines.append(f"create {what} in {path} at position {position}")
        elif op == "modify":
            attrs = [f"set {a.get('name')}={a.get('value')!r}" if a.get("operation") == "set"
                     else f"unset {a.get('name')}" for a in change.iterfind("change-list/change-attr")]
            lines.append(f"modify {path}: " + (", ".join(attrs) or "attributes replaced"))
        elif op == "move":
            lines.append(f"move {path} to position {position}")
        else:
            lines.append(f"{op} {path}" + (f" (position {position})" if position else ""))
    return lines
