"""Fencing topology: the ``fencing-topology`` section's levels, and which apply to a node.

``<fencing-level index="1" target="node1" devices="ipmi1,pdu1"/>`` — a level names
one or more devices; to fence the node the fencer tries its levels in ``index`` order,
and a level succeeds only if *every* device of it succeeds (e.g. both power supplies
of a node switched off); when one fails the next level is tried.

A level selects its nodes by exactly one of: ``target`` (a node name),
``target-pattern`` (a regular expression, searched in the node name as Pacemaker's
regexec does), or ``target-attribute`` with ``target-value`` (a node attribute in the
CIB's ``nodes`` section). As Pacemaker looks a node up: the levels registered for its
name first; otherwise those of the first pattern or attribute (in document order) that
matches it. A node without levels is fenced by any device able to fence it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree


class TopologyError(ValueError):
    """A fencing-level that cannot be used; names the level and the attribute."""


@dataclass(frozen=True)
class FencingLevel:
    id: str
    index: int
    devices: tuple[str, ...]
    target: str | None = None
    target_pattern: str | None = None
    target_attribute: str | None = None
    target_value: str | None = None

    @property
    def key(self) -> str:
        """Which nodes it is for, as ``stonith_admin --list-targets`` would name them."""
        if self.target is not None:
            return self.target
        if self.target_pattern is not None:
            return f"~{self.target_pattern}"
        return f"{self.target_attribute}={self.target_value}"

    def kind(self) -> str:
        if self.target is not None:
            return "target"
        return "pattern" if self.target_pattern is not None else "attribute"

    def matches(self, node: str, attrs: dict[str, dict[str, str]]) -> bool:
        if self.target is not None:
            return node == self.target
        if self.target_pattern is not None:
            return re.search(self.target_pattern, node) is not None
        return attrs.get(node, {}).get(self.target_attribute or "") == self.target_value

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "index": self.index, "devices": list(self.devices),
                "kind": self.kind(), "target": self.key}


def level_from_xml(el: etree._Element) -> FencingLevel:
    lid = el.get("id") or "?"
    try:
        index = int(el.get("index") or "")
    except ValueError:
        raise TopologyError(f"fencing-level '{lid}': index '{el.get('index')}' is not an "
                            "integer") from None
    if not 1 <= index <= 9:
        raise TopologyError(f"fencing-level '{lid}': index {index} (expected 1 to 9)")
    devices = tuple(d for d in (el.get("devices") or "").split(",") if d)
    if not devices:
        raise TopologyError(f"fencing-level '{lid}': no devices")
    target, pattern = el.get("target"), el.get("target-pattern")
    attr, value = el.get("target-attribute"), el.get("target-value")
    given = [x for x in (target, pattern, attr) if x is not None]
    if len(given) != 1 or (attr is not None and value is None):
        raise TopologyError(f"fencing-level '{lid}': expected exactly one of target, "
                            "target-pattern, or target-attribute with target-value")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as e:
            raise TopologyError(f"fencing-level '{lid}': target-pattern '{pattern}': {e}") from None
    return FencingLevel(lid, index, devices, target, pattern, attr, value)


def levels_from_cib(root: etree._Element) -> tuple[list[FencingLevel], list[str]]:
    """Every usable level (document order), and one message per level left out."""
    levels: list[FencingLevel] = []
    problems: list[str] = []
    for el in root.iterfind("configuration/fencing-topology/fencing-level"):
        try:
            levels.append(level_from_xml(el))
        except TopologyError as e:
            problems.append(str(e))
    return levels, problems


def levels_for(node: str, levels: list[FencingLevel],
               attrs: dict[str, dict[str, str]]) -> list[FencingLevel]:
    """The levels that fence ``node``, in index order (empty: no topology for it)."""
    exact = [lv for lv in levels if lv.target == node]
    if exact:
        return sorted(exact, key=lambda lv: lv.index)
    for lv in levels:
        if lv.target is None and lv.matches(node, attrs):
            return sorted((x for x in levels if x.key == lv.key), key=lambda x: x.index)
    return []
