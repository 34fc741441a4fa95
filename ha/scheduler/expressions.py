r"""Rule expressions judged for a node: ``expression`` (node attributes, or with
``value-source`` the constrained resource's parameters or meta attributes),
``date_expression`` and nested ``rule``\ s, as Pacemaker evaluates them in location
rules; and a rule's score (``score`` or ``score-attribute``).

Comparisons follow Pacemaker: by ``type`` (without one, ``lt``/``gt``/``lte``/``gte``
compare as numbers -- decimals if either side has a "." -- and ``eq``/``ne`` as
strings); a number that does not parse makes it a string comparison, and strings
compare case-insensitively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from ha.scheduler.dates import date_expression_matches
from ha.scheduler.model import Node, parse_score

_OPS = {"lt", "gt", "lte", "gte", "eq", "ne", "defined", "not_defined"}


def _compare(op: str, left: str, right: str, vtype: str | None) -> bool:
    """Pacemaker's comparison of an attribute with a value: by ``type`` (without one,
    ``lt``/``gt``/``lte``/``gte`` compare as numbers -- decimals if either has a
    "." -- and ``eq``/``ne`` as strings); a number that does not parse makes it a
    string comparison, and strings compare case-insensitively."""
    kind = (vtype or "").lower()
    if not kind:
        if op in ("lt", "gt", "lte", "gte"):
            kind = "number" if "." in left or "." in right else "integer"
        else:
            kind = "string"
    a: object
    b: object
    if kind == "integer":
        a, b = _leading_int(left), _leading_int(right)
    elif kind == "number":
        a, b = _leading_float(left), _leading_float(right)
    elif kind == "version":
        a, b = _version(left), _version(right)
    else:
        a = b = None
    if a is None or b is None:
        a, b = left.lower(), right.lower()
    return {"lt": a < b, "gt": a > b, "lte": a <= b, "gte": a >= b,  # type: ignore[operator]
            "eq": a == b, "ne": a != b}[op]


_FLOAT_PREFIX = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _leading_float(text: str) -> float | None:
    """A number as strtod reads it: the leading decimal ("2.5kg" is 2.5)."""
    m = _FLOAT_PREFIX.match(text)
    return float(m.group(0)) if m else None


def _leading_int(text: str) -> int | None:
    """An integer as strtoll reads it: the leading digits ("3.6" is 3)."""
    digits = ""
    for i, ch in enumerate(text.strip()):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in text.split("."))


@dataclass(frozen=True)
class Match:
    """What a location rule may refer to besides the node: the constrained
    resource's parameters and meta attributes (``value-source``), and the
    submatches of ``rsc-pattern`` (``%1``… in attribute names)."""

    params: dict[str, str]
    meta: dict[str, str]
    groups: tuple[str, ...] = ()
    #: the primitive's element, for parameters whose sets have rules on the node
    element: etree._Element | None = None
    now: datetime | None = None

    def params_on(self, attrs: dict[str, str]) -> dict[str, str]:
        """The resource's parameters as they are on a node with ``attrs``."""
        if self.element is None:
            return self.params
        from ha.scheduler.rules import attribute_sets
        return attribute_sets(self.element, "instance_attributes", self.now, attrs=attrs)


def _with_submatches(text: str, match: Match | None) -> str:
    if match is None or "%" not in text:
        return text
    return re.sub(r"%(\d)", lambda m: match.groups[int(m.group(1))]
                  if int(m.group(1)) < len(match.groups) else "", text)


def expression_matches(expr: etree._Element, node: Node, match: Match | None = None) -> bool:
    return expression_matches_attrs(expr, node.attrs, match)


def expression_matches_attrs(expr: etree._Element, attrs: dict[str, str],
                             match: Match | None = None) -> bool:
    """An ``expression`` on the attributes of a node; in a location rule its value
    may name a parameter (``value-source="param"``) or meta attribute (``meta``) of
    the resource instead."""
    op = expr.get("operation", "")
    if op not in _OPS:
        return False
    value = attrs.get(_with_submatches(expr.get("attribute", ""), match))
    expected: str | None = expr.get("value", "")
    source = expr.get("value-source", "literal")
    if match is not None and source in ("param", "meta"):
        values = match.params_on(attrs) if source == "param" else match.meta
        expected = values.get(expected or "")
    if op == "defined":
        return value is not None
    if op == "not_defined":
        return value is None
    if value is None:
        return op == "ne" and expected is not None
    if expected is None:
        return op in ("ne", "gt", "gte")
    return _compare(op, value, expected, expr.get("type"))


def rule_matches(rule: etree._Element, node: Node, now: datetime | None = None,
                 match: Match | None = None) -> bool:
    results = []
    for child in rule:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "expression":
            results.append(expression_matches(child, node, match))
        elif child.tag == "rule":
            results.append(rule_matches(child, node, now, match))
        elif child.tag == "date_expression":
            results.append(date_expression_matches(child, now))
        else:  # other expressions are not evaluated yet
            results.append(False)
    if not results:
        return True
    if rule.get("boolean-op", "and") == "or":
        return any(results)
    return all(results)


def rule_score(rule: etree._Element, node: Node) -> int:
    attr = rule.get("score-attribute")
    if attr is not None:
        return parse_score(node.attrs.get(attr))
    return parse_score(rule.get("score"))
