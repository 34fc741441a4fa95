"""Attribute sets with rules (``instance_attributes``, ``meta_attributes``,
``utilization``, ``cluster_property_set``), as Pacemaker unpacks them.

The sets of one kind under an element are taken by ``score`` (highest first; a set
named by ``first`` always first; equal scores last set first, as Pacemaker collects
them in reverse), a set given by
``id-ref`` standing for the set it names. A set counts when it has no ``rule`` or
any of its rules holds; the first set giving a name wins, and the value
``#default`` drops what an earlier set gave. Rules here hold by their
``date_expression``\\ s (judged against "now"), nested rules and ``boolean-op``;
an ``expression`` on a node attribute cannot hold where no node is concerned.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from ha.scheduler.dates import date_expression_matches
from ha.scheduler.expressions import expression_matches_attrs
from ha.scheduler.model import parse_score


def rule_holds(rule: etree._Element, now: datetime | None,
               attrs: dict[str, str] | None = None,
               agent: tuple[str, str | None, str] | None = None) -> bool:
    """A rule without a node (``attrs`` None) or with a node's attributes; an
    ``rsc_expression`` holds for a resource ``agent`` (class, provider, type) that
    has every one it names."""
    results = []
    for child in rule:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "rule":
            ok = rule_holds(child, now, attrs, agent)
        elif child.tag == "date_expression":
            ok = date_expression_matches(child, now)
        elif child.tag == "rsc_expression":
            ok = agent is not None and all(
                child.get(key) is None or child.get(key) == value
                for key, value in zip(("class", "provider", "type"), agent, strict=True))
        elif child.tag == "expression":
            ok = attrs is not None and expression_matches_attrs(child, attrs)
        else:
            ok = False
        results.append(ok)
    if (rule.get("boolean-op") or "and").lower() == "or":
        return any(results)
    return all(results)


def _resolve(el: etree._Element) -> etree._Element:
    ref = el.get("id-ref")
    if ref is None:
        return el
    found = el.getroottree().getroot().xpath("//*[@id=$ref]", ref=ref)
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return found[0]
    return el


def attribute_sets(parent: etree._Element | None, tag: str, now: datetime | None,
                   first: str | None = None, attrs: dict[str, str] | None = None,
                   agent: tuple[str, str | None, str] | None = None) -> dict[str, str]:
    """name -> value from ``parent``'s ``tag`` sets, by Pacemaker's rules above."""
    out: dict[str, str] = {}
    if parent is None:
        return out
    sets = [_resolve(s) for s in parent.findall(tag)]
    ranked = sorted(enumerate(sets), key=lambda p: (
        p[1].get("id") != first if first else False, -parse_score(p[1].get("score")), -p[0]))
    for _, aset in ranked:
        rules = aset.findall("rule")
        if rules and not any(rule_holds(r, now, attrs, agent) for r in rules):
            continue
        for nv in aset.findall("nvpair"):
            nv = _resolve(nv) if nv.get("name") is None else nv
            name, value = nv.get("name"), nv.get("value")
            if name is None or value is None:
                continue
            if value.lower() == "#default":
                out.pop(name, None)
            elif name not in out:
                out[name] = value
    return out
