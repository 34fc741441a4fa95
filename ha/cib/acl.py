"""Pacemaker ACLs: what a user may read from the CIB, and whether a change may be written.

Who is restricted (Pacemaker Explained, "Access Control Lists"; cib_utils.c
``cib_acl_enabled``; ``pcmk__is_privileged``): nobody while the cluster property
``enable-acl`` is false (its default), never ``root`` nor the cluster user ``hacluster``.
Anyone else gets what the roles of the ``acl_target`` naming them and of each
``acl_group`` they are in grant, and nothing by default.

Theory of operation (lib/common/acl.c ``pcmk__check_acl``, ``is_mode_allowed``). Each
``acl_permission`` selects elements by XPath (``reference``, ``object-type`` and
``attribute`` are made into one) and marks them with its kind. Access to an element is
decided by the first element, walking from it up to ``<cib>``, whose marks decide:

    marks on the element        read                 write
    any deny                    refused              refused    (deny beats write,
    write, no deny              allowed              allowed     write beats read)
    read only                   allowed              walk on to the parent
    none                        walk on to the parent
    walked past <cib>           refused              refused    (default deny)

So a permission covers the subtree of what it selects, a deeper mark beats a shallower
one, and the order of permissions does not matter. Pacemaker's one asymmetry is kept:
a ``read`` mark does not take away ``write`` inherited from an ancestor.

Reading (``xml_acl_filtered_copy``): an unreadable element keeps only its ``id``, and
stays only around readable descendants. Writing (``pcmk__xml_mark_changes``,
``pcmk__apply_creation_acl``): old and new trees are compared, children paired by name
and ``id``; each created, deleted or changed attribute needs write on its element, each
created or deleted element write on itself, except created "scaffolding" (no attribute
but ``id``, outside ``<acls>``). What the CIB manager stamps on ``<cib>`` after the check
(``cib-last-written``, ``update-*``) is ignored; versions are not: check, then bump.

Deliberately stricter than Pacemaker, where it is inconsistent:
- permissions are evaluated on the unfiltered CIB (Pacemaker re-runs each deny XPath on
  the copy it is filtering, so one testing an attribute already stripped can miss);
- a changed element needs write in the old tree and in the new one (no renaming an
  element into a grant or out of a deny); a deletion needs write on all of the deleted
  subtree, not only its top; moving an element among its siblings needs write on it;
- a malformed permission of this user refuses the whole Acl (AclError) instead of being
  skipped, as skipping a deny widens access; an empty user name is a ValueError;
- comments and text inside unreadable elements are removed.
Left out: rules on ``cluster_property_set`` (sets are read as they are, the one with id
``cib-bootstrap-options`` first) and Pacemaker Remote's implicit user.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

Kind = Literal["read", "write", "deny"]
Mode = Literal["read", "write"]
_Element = etree._Element
Marks = dict[_Element, list["Permission"]]
Exempt = Callable[[_Element], bool]
Pair = tuple[_Element, _Element, int]

CLUSTER_USER = "hacluster"  # CRM_DAEMON_USER in a stock Pacemaker build
BOOTSTRAP_SET = "cib-bootstrap-options"
# Stamped on <cib> by the CIB manager after the ACL check (digest.c pcmk__xa_filterable).
BOOKKEEPING_ATTRIBUTES = frozenset(
    {"crm-debug-origin", "cib-last-written", "update-origin", "update-client", "update-user"}
)
_KINDS: tuple[Kind, ...] = ("read", "write", "deny")
# pacemaker-1.2 syntax: <read|write|deny> elements (acls-1.2.rng) next to acl_permission.
_PERMISSION_TAGS = ("acl_permission", *_KINDS)
_TRUE = frozenset({"true", "on", "yes", "y", "1"})  # crm_str_to_boolean
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


class AclError(ValueError):
    """A permission this user depends on is malformed (names the acl_permission)."""


@dataclass(frozen=True)
class Denial:
    """One refused access: what (``change``), where (``path``, ``attribute``), why."""

    change: str  # read, create, delete, modify, move, write
    path: str  # Pacemaker's element XPath: /cib/configuration/resources/primitive[@id='x']
    attribute: str | None
    reason: str

    def __str__(self) -> str:
        attr = f"[@{self.attribute}]" if self.attribute is not None else ""
        return f"{self.change} {self.path}{attr}: {self.reason}"


class AclDenied(PermissionError):
    """The user may not read or write what was asked; ``denials`` lists every refusal."""

    def __init__(self, user: str, mode: Mode, denials: Sequence[Denial]) -> None:
        self.user = user
        self.mode = mode
        self.denials = list(denials)
        more = f" (and {len(denials) - 1} more)" if len(denials) > 1 else ""
        super().__init__(f"ACLs deny user '{user}' {mode} access: {denials[0]}{more}")


@dataclass(frozen=True)
class Permission:
    """One ``acl_permission``: its kind and the XPath that selects what it covers."""

    id: str
    kind: Kind
    xpath: str  # as configured, or as built from reference / object-type (for messages)
    compiled: etree.XPath = field(compare=False, repr=False)
    reference: str | None = None  # bound to $ref, so an id cannot inject XPath

    def elements(self, root: _Element) -> list[_Element]:
        """The elements this permission marks in the tree of ``root``."""
        if self.xpath.strip() == "/":  # the document node stands for its root element
            return [root]
        try:
            found = self.compiled(root, ref=self.reference or "")
        except etree.XPathError as err:
            raise AclError(f"acl_permission '{self.id}': xpath {self.xpath!r}: {err}") from err
        if not isinstance(found, list):
            return []  # a number, string or boolean selects nothing
        elements = (_element_of(item) for item in found)
        return [e for e in elements if e is not None]

    def describe(self) -> str:
        return f"acl_permission '{self.id}' ({self.kind} {self.xpath})"


def _element_of(item: object) -> _Element | None:
    """The element a match stands for: an attribute or text stands for its element
    (documented in Pacemaker Explained: the permission applies to the whole element)."""
    if isinstance(item, _Element):
        return item if isinstance(item.tag, str) else item.getparent()
    if isinstance(item, etree._ElementUnicodeResult):
        owner = item.getparent()
        return owner.getparent() if item.is_tail and owner is not None else owner
    return None


@dataclass(frozen=True)
class Acl:
    """The permissions that apply to one user; build with :meth:`for_user`."""

    user: str
    permissions: tuple[Permission, ...]

    @classmethod
    def for_user(
        cls,
        cib_root: _Element,
        user: str,
        groups: Sequence[str] = (),
        *,
        cluster_user: str = CLUSTER_USER,
    ) -> Acl | None:
        """The user's ACL from the CIB as it is (before any change), or None when the
        user is unrestricted. ``groups``: every Unix group the user is a member of."""
        if not user:
            raise ValueError("an ACL user name is required (got an empty one)")
        if user in ("root", cluster_user) or not acls_enabled(cib_root):
            return None
        acls = cib_root.find("configuration/acls")
        found = _unpack(acls, user, frozenset(groups)) if acls is not None else []
        return cls(user, tuple(found))

    def marks(self, root: _Element) -> Marks:
        """Every element of ``root``'s tree that some permission selects, with them."""
        marks: Marks = {}
        for permission in self.permissions:
            for element in permission.elements(root):
                marks.setdefault(element, []).append(permission)
        return marks

    def refusal(self, marks: Marks, element: _Element, mode: Mode) -> str | None:
        """Why ``element`` may not be accessed in ``mode``, or None when it may."""
        if not self.permissions:
            return f"no acl_target or acl_group gives user '{self.user}' any permission"
        read_only: str | None = None  # the nearest read-only grant, to say so
        node: _Element | None = element
        while node is not None:
            at_node = marks.get(node, [])
            deny = next((p for p in at_node if p.kind == "deny"), None)
            if deny is not None:
                where = "" if node is element else f" on {element_path(node)}"
                return f"denied by {deny.describe()}{where}"
            if any(p.kind == "write" or p.kind == mode for p in at_node):
                return None
            read = next((p for p in at_node if p.kind == "read"), None)
            if read is not None and read_only is None:
                read_only = f"{read.describe()} on {element_path(node)}"
            node = node.getparent()
        if read_only is not None:
            return f"only read is granted, by {read_only}; nothing grants {mode}"
        return f"no acl_permission grants {mode} (default deny)"


def acls_enabled(cib_root: _Element) -> bool:
    """The cluster property ``enable-acl`` (false when unset or not a boolean)."""
    sets = cib_root.findall("configuration/crm_config/cluster_property_set")
    sets.sort(key=lambda s: s.get("id") != BOOTSTRAP_SET)  # Pacemaker reads it first
    for property_set in sets:
        for nvpair in property_set.iterchildren("nvpair"):
            if nvpair.get("name") == "enable-acl":
                return (nvpair.get("value") or "").lower() in _TRUE
    return False


def _unpack(acls: _Element, user: str, groups: frozenset[str]) -> list[Permission]:
    """The permissions of every target naming ``user`` and every group in ``groups``,
    through their ``role`` references (lib/common/acl.c ``pcmk__unpack_acls``)."""
    roles: dict[str, _Element] = {}
    for role in acls.iterchildren("acl_role"):
        roles.setdefault(role.get("id", ""), role)  # a duplicate id: the first one counts
    found: list[Permission] = []
    for holder in acls:
        name = holder.get("name") or holder.get("id")  # name (since 2.1.5) over id
        if holder.tag in ("acl_target", "acl_user"):  # acl_user: pacemaker-1.2
            applies = name == user
        elif holder.tag == "acl_group":  # groups: since Pacemaker 2.1.5
            applies = name in groups
        else:
            continue
        if not applies:
            continue
        for child in holder:
            members = [child]  # a permission held directly: still honoured
            if child.tag in ("role", "role_ref"):  # role_ref: pacemaker-1.2
                referred = roles.get(child.get("id", ""))
                members = list(referred) if referred is not None else []  # dangling: none
            found.extend(_permission(m) for m in members if m.tag in _PERMISSION_TAGS)
    return found


def _permission(element: _Element) -> Permission:
    """Build one permission; pacemaker-1.2 ``<read|write|deny tag ref xpath attribute>``
    is read as upgrade-1.3-0.xsl would rewrite it."""
    legacy = element.tag != "acl_permission"
    pid = element.get("id") or "(without id)"
    kind = element.tag if legacy else element.get("kind")
    if kind not in _KINDS:
        raise AclError(f"acl_permission '{pid}': kind {kind!r} is not read, write or deny")
    xpath = element.get("xpath")
    ref = element.get("ref" if legacy else "reference")
    tag = element.get("tag" if legacy else "object-type")
    attr = element.get("attribute")
    if legacy and xpath is None and ref is not None:
        tag = attr = None  # the upgrade keeps only the reference
    for name in (tag, attr):
        if name is not None and not _NAME.match(name):
            raise AclError(f"acl_permission '{pid}': {name!r} is not an element or attribute name")
    if xpath is not None:  # an xpath wins over everything else, as in create_acl()
        if legacy and attr is not None:
            xpath = f"{xpath}[@{attr}]"
        return _compile(pid, kind, xpath, xpath, None)
    if ref is None and tag is None:
        raise AclError(f"acl_permission '{pid}': needs one of xpath, reference, object-type")
    # As create_acl() builds it: //TAG[@id='REF' and @ATTR], with * for a missing TAG.
    tests = (["@id=$ref"] if ref is not None else []) + ([f"@{attr}"] if attr else [])
    expr = f"//{tag or '*'}" + (f"[{' and '.join(tests)}]" if tests else "")
    return _compile(pid, kind, expr.replace("$ref", f"'{ref}'"), expr, ref)


def _compile(pid: str, kind: Kind, shown: str, expr: str, ref: str | None) -> Permission:
    try:
        compiled = etree.XPath(expr)
    except etree.XPathError as err:
        raise AclError(f"acl_permission '{pid}': xpath {shown!r} is not valid: {err}") from err
    return Permission(pid, kind, shown, compiled, ref)


def element_path(element: _Element) -> str:
    """Pacemaker's XPath of an element: /cib/configuration/resources/primitive[@id='x']."""
    steps: list[str] = []
    node: _Element | None = element
    while node is not None:
        eid = node.get("id")
        steps.append(f"{node.tag}[@id='{eid}']" if eid is not None else str(node.tag))
        node = node.getparent()
    return "/" + "/".join(reversed(steps))


def filter_read(acl: Acl | None, root: _Element) -> _Element:
    """A copy of the CIB holding only what the user may read (unreadable elements kept
    as bare ``id`` scaffolding around readable ones). AclDenied when nothing is."""
    filtered = copy.deepcopy(root)
    if acl is None:
        return filtered
    marks = acl.marks(filtered)
    reason = acl.refusal(marks, filtered, "read")
    if not _prune(filtered, marks, inherited=False):
        assert reason is not None, "a readable root is never pruned"
        raise AclDenied(acl.user, "read", [Denial("read", element_path(root), None, reason)])
    return filtered


def _prune(element: _Element, marks: Marks, inherited: bool) -> bool:
    """Strip what is unreadable under ``element``; whether anything of it remains."""
    kinds = {p.kind for p in marks.get(element, [])}
    readable = "deny" not in kinds and (bool(kinds) or inherited)
    if not readable:
        for name in [n for n in element.attrib if n != "id"]:
            del element.attrib[name]
        element.text = None
    kept = False
    for child in list(element):
        if not isinstance(child.tag, str):  # a comment or processing instruction
            if not readable:
                element.remove(child)
        elif _prune(child, marks, readable):
            kept = True
        else:
            element.remove(child)
    return readable or kept


def write_denials(acl: Acl | None, old_root: _Element, new_root: _Element) -> list[Denial]:
    """Every change from ``old_root`` to ``new_root`` the user may not write."""
    if acl is None:
        return []
    check = _WriteCheck(acl, old_root, new_root)
    check.compare(old_root, new_root)
    return check.denials


def check_write(acl: Acl | None, old_root: _Element, new_root: _Element) -> None:
    """Raise AclDenied (naming user, element, attribute and reason) unless the user may
    turn ``old_root`` into ``new_root``; build ``acl`` from ``old_root``."""
    denials = write_denials(acl, old_root, new_root)
    if acl is not None and denials:
        raise AclDenied(acl.user, "write", denials)


def check_xpath_write(acl: Acl | None, root: _Element, xpath: str) -> None:
    """Raise AclDenied unless the user may write every element ``xpath`` selects (a
    delete or modify addressed by XPath); a malformed ``xpath`` is a ValueError."""
    if acl is None:
        return
    try:
        selector = etree.XPath(xpath)
    except etree.XPathError as err:
        raise ValueError(f"xpath {xpath!r} is not valid: {err}") from err
    targets = Permission("(request)", "write", xpath, selector).elements(root)
    marks = acl.marks(root)
    denials = [
        Denial("write", element_path(e), None, reason)
        for e in targets
        if (reason := acl.refusal(marks, e, "write")) is not None
    ]
    if denials:
        raise AclDenied(acl.user, "write", denials)


class _WriteCheck:
    """Walks old and new trees together, collecting a Denial for each refused change."""

    def __init__(self, acl: Acl, old_root: _Element, new_root: _Element) -> None:
        self.acl = acl
        self.old_marks = acl.marks(old_root)
        self.new_marks = acl.marks(new_root)
        self.denials: list[Denial] = []

    def element(self, old: _Element, new: _Element, change: str, attr: str | None) -> None:
        reason = self.acl.refusal(self.old_marks, old, "write") or self.acl.refusal(
            self.new_marks, new, "write"
        )
        if reason is not None:
            self.denials.append(Denial(change, element_path(new), attr, reason))

    def subtree(self, top: _Element, marks: Marks, change: str, exempt: Exempt) -> None:
        """Report the first element of a created or deleted subtree that is refused."""
        for element in top.iter():
            if not isinstance(element.tag, str) or exempt(element):
                continue
            reason = self.acl.refusal(marks, element, "write")
            if reason is not None:
                self.denials.append(Denial(change, element_path(element), None, reason))
                return

    def compare(self, old: _Element, new: _Element) -> None:
        if old.tag != new.tag:  # only roots: children are paired by name
            self.element(old, new, "modify", None)
        for name in sorted({str(n) for n in old.attrib} | {str(n) for n in new.attrib}):
            before, after = old.get(name), new.get(name)
            if before == after or name in BOOKKEEPING_ATTRIBUTES:
                continue
            change = "create" if before is None else "delete" if after is None else "modify"
            self.element(old, new, change, name)
        pairs, deleted, created = _pair_children(old, new)
        for gone in deleted:
            self.subtree(gone, self.old_marks, "delete", lambda _: False)
        for made in created:
            self.subtree(made, self.new_marks, "create", _scaffolding)
        by_new_position = sorted(range(len(pairs)), key=lambda i: pairs[i][2])
        for rank, i in enumerate(by_new_position):
            if rank != i:
                self.element(pairs[i][0], pairs[i][1], "move", None)
        for old_child, new_child, _ in pairs:
            self.compare(old_child, new_child)


def _pair_children(
    old: _Element, new: _Element
) -> tuple[list[Pair], list[_Element], list[_Element]]:
    """Children paired by name and id, first come first paired (Pacemaker's
    find_matching_children): (pairs in old order with new position, deleted, created)."""
    new_children = [c for c in new if isinstance(c.tag, str)]
    waiting: dict[tuple[str, str | None], list[int]] = {}
    for position, child in enumerate(new_children):
        waiting.setdefault((str(child.tag), child.get("id")), []).append(position)
    pairs: list[Pair] = []
    deleted: list[_Element] = []
    for child in old:
        if not isinstance(child.tag, str):
            continue
        positions = waiting.get((child.tag, child.get("id")))
        if positions:
            position = positions.pop(0)
            pairs.append((child, new_children[position], position))
        else:
            deleted.append(child)
    paired = {p for _, _, p in pairs}
    created = [c for p, c in enumerate(new_children) if p not in paired]
    return pairs, deleted, created


def _scaffolding(element: _Element) -> bool:
    """A created element with no attribute but ``id``, outside ``<acls>``: implicitly
    allowed so that a permitted element can be created inside it (``implicitly_allowed``)."""
    if set(element.attrib) - {"id"}:
        return False
    return not any(a.tag == "acls" for a in element.iterancestors())
