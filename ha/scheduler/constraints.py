"""Stage 2, unpack constraints: rsc_location (scores and rules), rsc_colocation, rsc_order.

A location rule is evaluated against each node's attributes (``#uname``, ``#id``,
``#kind`` and the node's own and transient attributes), by ``expressions``; when it
matches, its score applies to that node.
"""

from __future__ import annotations

import re

from lxml import etree

from ha.cib.schema_data import is_pcmk_true
from ha.scheduler.expressions import Match, rule_matches, rule_score
from ha.scheduler.model import (
    INFINITY,
    Cluster,
    Colocation,
    Ordering,
    canonical_role,
    parse_score,
)
from ha.scheduler.tickets import unpack_tickets


def _location_targets(el: etree._Element, cluster: Cluster
                      ) -> list[tuple[str, str | None, tuple[str, ...]]]:
    """What an rsc_location constrains, with the role and the pattern's submatches:
    its ``rsc``, every top-level resource whose id ``rsc-pattern`` (a regular
    expression; ``!`` before it: that does not match) matches, or the resources of
    its sets (a set's role, else the constraint's)."""
    rid = el.get("rsc")
    if rid is not None:
        return [(rid, el.get("role"), ())]
    pattern = el.get("rsc-pattern")
    if pattern is not None:
        invert = pattern.startswith("!")
        try:
            regex = re.compile(pattern[1:] if invert else pattern)
        except re.error:
            return []
        top = [r.id for r in cluster.resources if r.group is None and r.clone is None]
        top += [g for g, ms in cluster.groups.items()
                if not any((m := cluster.resource(x)) and m.clone for x in ms)]
        top += list(cluster.clones)
        out: list[tuple[str, str | None, tuple[str, ...]]] = []
        for t in top:
            found = regex.search(t)
            if invert and found is None:
                out.append((t, el.get("role"), ()))
            elif not invert and found is not None:
                groups = (found.group(0), *(g or "" for g in found.groups()))
                out.append((t, el.get("role"), groups))
        return out
    return [(ref.get("id", ""), rset.get("role") or el.get("role"), ())
            for rset in el.iterfind("resource_set") for ref in rset.iterfind("resource_ref")]


def unpack_locations(root: etree._Element, cluster: Cluster) -> None:
    primitives = {p.get("id", ""): p for p in root.iterfind("configuration/resources//primitive")}
    for el in root.findall("configuration/constraints/rsc_location"):
        for rid, role, groups in _location_targets(el, cluster):
            if _known(cluster, rid):
                _locate(cluster, el, rid, role, _match(cluster, rid, groups, primitives))


def _match(cluster: Cluster, rid: str, groups: tuple[str, ...],
           primitives: dict[str, etree._Element]) -> Match:
    """The resource a location constrains, for value-source: a primitive's own
    parameters (as on each node) and meta attributes (a group or clone has no
    parameters)."""
    rsc = cluster.resource(rid)
    if rsc is None:  # a group or clone: its meta attributes are its members' defaults
        first = cluster.resource(cluster.members(rid)[0]) if cluster.members(rid) else None
        return Match({}, dict(first.meta) if first else {}, groups)
    return Match(dict(rsc.params), dict(rsc.meta), groups, primitives.get(rid), cluster.now)


def _locate(cluster: Cluster, el: etree._Element, rid: str, role: str | None,
            match: Match | None = None) -> None:
    # a group is placed by its first member; the rest follow it, and are allowed
    # (score 0) where the constraint names a node, as Pacemaker resets the scores
    # for members after the first
    members = cluster.members(rid)
    for index, member in enumerate(members):
        zero = rid in cluster.groups and index > 0
        if el.get("node") is not None:
            score = 0 if zero else parse_score(el.get("score"))
            _location(cluster, role, member, el.get("node", ""), score)
            continue
        for rule in el.findall("rule"):
            for node in cluster.nodes:
                if rule_matches(rule, node, cluster.now, match):
                    _location(cluster, rule.get("role"), member, node.uname,
                              0 if zero else rule_score(rule, node), rule=True)


def _location(cluster: Cluster, role_text: str | None, rid: str, uname: str,
              score: int, rule: bool = False) -> None:
    """A location score for a role: Promoted adds to the promotion priority there;
    Unpromoted applies to every role (an instance is Unpromoted before Promoted), and
    so does Started on a location's own ``role`` (a rule's Started role, like
    Stopped, matches no resource while it is placed, so never applies)."""
    role = canonical_role(role_text)
    if role == "Promoted":
        cluster.promoted_locations.append((rid, uname, score))
    elif role_text is None or role == "Unpromoted" or (role == "Started" and not rule):
        cluster.locations.append((rid, uname, score))


def _set_members(cluster: Cluster, rset: etree._Element) -> list[str]:
    """A set's resources in order; a template or tag stands for its resources, in
    their place."""
    out: list[str] = []
    for ref in rset.iterfind("resource_ref"):
        rid = ref.get("id", "")
        out += [r for r in _expand(cluster, rid) if _known(cluster, r)]
    return out


def _sequential(rset: etree._Element) -> bool:
    return rset.get("sequential", "true").lower() not in ("false", "no", "0", "off")


def colocation_sets(el: etree._Element, cluster: Cluster) -> None:
    """Colocation sets, as Pacemaker reads them: within a sequential set each member
    is placed with the one before it (a negative score keeps each away from every
    one before it); between consecutive sets, the first member of a set (every
    member, when it is not sequential) is placed with the last member of the next
    set (every member, when that one is not sequential)."""
    cid = el.get("id", "")
    score = parse_score(el.get("score"))
    sets = [(rset, _set_members(cluster, rset)) for rset in el.iterfind("resource_set")]
    for rset, members in sets:
        local = parse_score(rset.get("score"), score)
        role = _set_role(rset)
        if local == 0 or not _sequential(rset):
            continue
        if local > 0 and (rset.get("ordering") or "group").lower() != "group":
            # the old ordering="listed": each member is placed with the one after it
            for dep, prim in zip(members, members[1:], strict=False):
                _colocate(cluster, cid, dep, prim, local, role, role)
            continue
        for i, dep in enumerate(members):
            withs = members[:i] if local < 0 else members[i - 1:i]
            for prim in withs:
                _colocate(cluster, cid, dep, prim, local, role, role)
    if score == 0:
        return
    for (s1, m1), (s2, m2) in zip(sets, sets[1:], strict=False):
        deps = m1[:1] if _sequential(s1) else m1
        prims = m2[-1:] if _sequential(s2) else m2
        for dep in deps:
            for prim in prims:
                _colocate(cluster, cid, dep, prim, score, _set_role(s1), _set_role(s2))


def _expand(cluster: Cluster, rid: str) -> list[str]:
    """A template's or tag's resources; any other resource as itself."""
    if rid in cluster.templates and not (rid in cluster.groups or rid in cluster.clones
                                         or cluster.resource(rid)):
        return cluster.templates[rid]
    return [rid]


def _set_role(rset: etree._Element) -> str | None:
    role = canonical_role(rset.get("role"))
    return None if role in (None, "Started") else role


def _colocate(cluster: Cluster, cid: str, dep: str, prim: str, score: int,
              dep_role: str | None = None, prim_role: str | None = None,
              node_attribute: str | None = None) -> None:
    """``dep`` placed with ``prim``: a group by its first member, a clone (or a
    template's resources) by each instance, with a clone as a whole."""
    # with a group: for good (INFINITY) the whole of it, so its last member; else
    # its first
    primary = prim if prim in cluster.clones else \
        cluster.members(prim)[-1 if score >= INFINITY and prim in cluster.groups else 0]
    several = dep in cluster.clones or dep in cluster.templates
    dependents = cluster.members(dep) if several else cluster.members(dep)[:1]
    if dep in cluster.groups and score >= INFINITY:
        # once a member is unmanaged the group's own colocations no longer carry
        # this one to the members after it: each of those has it too
        members = [r for m in cluster.members(dep) if (r := cluster.resource(m))]
        unmanaged = False
        for member in members[1:]:
            if unmanaged or not members[0].managed:
                dependents.append(member.id)
            unmanaged = unmanaged or not member.managed
    for d in dependents:
        cluster.colocations.append(Colocation(cid, d, primary, score, dep_role, prim_role,
                                              node_attribute))


def order_sets(el: etree._Element, cluster: Cluster) -> None:
    """A sequential order set starts its members one after the other; each set
    (its last member, or all when not sequential) starts before the next set (its
    first member, or all). After a set with require-all=false, each member of the
    next set may start once any member of it can ("one-or-more:SET")."""
    kind = _order_kind(el)
    symmetrical = el.get("symmetrical", "true").lower() not in ("false", "no", "0", "off")
    sets = [(rset, _set_members(cluster, rset)) for rset in el.iterfind("resource_set")]

    def add(first: str, then: str, action: str, then_action: str) -> None:
        label = f"{first} running" if first in cluster.groups or first in cluster.clones else ""
        f = first if first in cluster.clones else cluster.members(first)[-1]
        t, also = _then(cluster, then)
        cluster.orderings.append(Ordering(el.get("id", ""), f, t, action, then_action, kind,
                                          symmetrical, label, then_also=also))

    for rset, members in sets:
        if _sequential(rset):
            act = rset.get("action", "start")
            for before, after in zip(members, members[1:], strict=False):
                add(before, after, act, act)
    for (s1, m1), (s2, m2) in zip(sets, sets[1:], strict=False):
        if _false(s1.get("require-all")) and s1.get("action", "start") in ("start", "promote") \
                and m1:
            for t in m2:
                cluster.orderings.append(Ordering(
                    el.get("id", ""), m1[0], t if t in cluster.clones else cluster.members(t)[0],
                    s1.get("action", "start"), s2.get("action", "start"), kind, symmetrical,
                    f"one-or-more:{s1.get('id', '')}", tuple(m1), 1))
            continue
        firsts = m1[-1:] if _sequential(s1) else m1
        thens = m2[:1] if _sequential(s2) else m2
        for f in firsts:
            for t in thens:
                add(f, t, s1.get("action", "start"), s2.get("action", "start"))


def unpack_colocations(root: etree._Element, cluster: Cluster) -> None:
    for el in root.findall("configuration/constraints/rsc_colocation"):
        if el.find("resource_set") is not None:
            colocation_sets(el, cluster)
            continue
        dep, prim = el.get("rsc"), el.get("with-rsc")
        if dep is None or prim is None:
            continue
        roles = [canonical_role(el.get(a)) for a in ("rsc-role", "with-rsc-role")]
        dep_role, prim_role = (None if r == "Started" else r for r in roles)
        if not _known(cluster, dep) or not _known(cluster, prim):
            continue
        # a template or tag stands for a set of its resources, not sequential: each
        # of them is placed with (or is a primary for) the other side; two of them
        # cannot be colocated (the constraint is ignored)
        if _expand(cluster, dep) != [dep] and _expand(cluster, prim) != [prim]:
            continue
        for d in _expand(cluster, dep):
            for p in _expand(cluster, prim):
                _colocate(cluster, el.get("id", ""), d, p, parse_score(el.get("score")),
                          dep_role, prim_role, el.get("node-attribute"))


def _order_kind(el: etree._Element) -> str:
    """Optional, Serialize, or Mandatory (also for an unknown kind); without a kind, a
    score of 0 means Optional."""
    kind = el.get("kind")
    if kind is None:
        return "Optional" if parse_score(el.get("score"), 1) == 0 else "Mandatory"
    return {"optional": "Optional", "serialize": "Serialize"}.get(kind.lower(), "Mandatory")


def _collective_label(cluster: Cluster, first: str, action: str) -> str:
    """How reasons name a group's or clone's action: by the pseudo-action that
    completes it ("G running", "MS promoted"); "" for a primitive."""
    if first not in cluster.groups and first not in cluster.clones:
        return ""
    clone = cluster.clones.get(first)
    instance = cluster.resource(clone.instances[0]) if clone and clone.instances else None
    if instance is not None and is_pcmk_true(instance.meta.get("notify", "false")):
        return f"{first} notified"  # a clone with notifications completes after them
    done = {"start": "running", "stop": "stopped", "promote": "promoted",
            "demote": "demoted"}.get(action, "running")
    return f"{first} {done}"


def unpack_orderings(root: etree._Element, cluster: Cluster) -> None:
    for el in root.findall("configuration/constraints/rsc_order"):
        if el.find("resource_set") is not None:
            order_sets(el, cluster)
            continue
        first, then = el.get("first"), el.get("then")
        if first is None or then is None or not _known(cluster, first) \
                or not _known(cluster, then):
            continue
        label = _collective_label(cluster, first, el.get("first-action", "start"))
        clone = cluster.clones.get(first)
        need = clone.clone_min if clone is not None else 0
        if clone is not None and not need and _false(el.get("require-all")):
            need = 1  # the deprecated spelling of clone-min=1
        any_of: tuple[str, ...] = ()
        if clone is not None and need and el.get("first-action", "start") in ("start", "promote"):
            label, any_of = f"clone-one-or-more:{el.get('id', '')}", tuple(clone.instances)
        if first not in cluster.clones:
            first = cluster.members(first)[-1]
        kind = _order_kind(el)
        then, also = _then(cluster, then)
        cluster.orderings.append(Ordering(
            el.get("id", ""), first, then, el.get("first-action", "start"),
            el.get("then-action", el.get("first-action", "start")), kind,
            el.get("symmetrical", "true").lower() not in ("false", "no", "0", "off"), label,
            any_of, need if any_of else 0, also))


def _false(value: str | None) -> bool:
    return value is not None and value.lower() in ("false", "no", "0", "off", "n")


def _known(cluster: Cluster, rid: str) -> bool:
    return (rid in cluster.groups or rid in cluster.clones or bool(cluster.templates.get(rid))
            or cluster.resource(rid) is not None)


def group_constraints(cluster: Cluster) -> None:
    """A group's members run together and start in order: each is colocated with, and
    ordered after, the one before it (unless the group says collocated=false, or
    ordered=false)."""
    for gid, members in cluster.groups.items():
        for before, after in zip(members, members[1:], strict=False):
            if _group_meta(cluster, gid, "collocated"):
                cluster.colocations.append(Colocation(f"{gid}:{after}", after, before,
                                                      INFINITY))
            if _group_meta(cluster, gid, "ordered"):
                cluster.orderings.append(Ordering(f"{gid}:{after}", before, after))


def _group_meta(cluster: Cluster, gid: str, name: str) -> bool:
    """A group's boolean meta attribute (its members carry the group's), true unless
    set false."""
    first = cluster.resource(cluster.groups[gid][0]) if cluster.groups.get(gid) else None
    return first is None or not _false(first.meta.get(name))


def _then(cluster: Cluster, then: str) -> tuple[str, tuple[str, ...]]:
    """What an ordering's ``then`` starts: a clone as a whole, a group by its first
    member (the rest follow it); for an unordered group, the other members too."""
    if then in cluster.clones:
        return then, ()
    members = cluster.members(then)
    if then in cluster.groups and not _group_meta(cluster, then, "ordered"):
        return members[0], tuple(members[1:])
    return members[0], ()


def unpack_constraints(root: etree._Element, cluster: Cluster) -> None:
    group_constraints(cluster)
    unpack_tickets(root, cluster, _known)
    unpack_locations(root, cluster)
    unpack_colocations(root, cluster)
    unpack_orderings(root, cluster)
