"""A primitive's definition read from a CIB, for running one of its actions by hand.

``crm_resource --force-start RSC`` runs the agent of RSC with its instance attributes,
its meta attributes (as ``CRM_meta_*``) and the timeout the cluster would use. This
module finds that primitive — at top level, in a group, as the child of a clone or
promotable clone (named by the clone's id, by the primitive's, or as an instance
``RSC:N``), or made from a ``template`` — and gathers:

- instance attributes (the template's, overridden by the primitive's);
- meta attributes: ``rsc_defaults``, then the enclosing group's or clone's, then the
  primitive's own;
- the operation's timeout: the matching ``op`` (for a probe with no interval-0
  monitor configured, the monitor with the shortest interval, as Pacemaker picks it),
  its ``timeout`` attribute or meta attribute, else ``op_defaults``, else 20 s.

A set of nvpairs whose name repeats keeps the first, as Pacemaker does for sets of
equal score; sets guarded by rules are read without evaluating them (a stated limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ha.cib.schema_data import duration_ms
from ha.executor.agent import ResourceAgent
from ha.executor.environment import DEFAULT_TIMEOUT_MS
from ha.scheduler.rules import attribute_sets


class ResourceNotFound(LookupError):
    """No primitive of that id in the CIB."""


@dataclass(frozen=True)
class OpConfig:
    name: str
    interval_ms: int
    timeout_ms: int | None
    start_delay_ms: int
    role: str | None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceDefinition:
    id: str                       # the name to run it as (an instance keeps its :N)
    agent: ResourceAgent
    params: dict[str, str]
    meta: dict[str, str]
    ops: tuple[OpConfig, ...]
    default_timeout_ms: int = DEFAULT_TIMEOUT_MS
    parent: str | None = None     # the enclosing group or clone

    def op(self, action: str, interval_ms: int = 0) -> OpConfig | None:
        found = next((o for o in self.ops if o.name == action and o.interval_ms == interval_ms),
                     None)
        if found is None and action == "monitor" and interval_ms == 0:
            monitors = sorted((o for o in self.ops if o.name == "monitor"),
                              key=lambda o: o.interval_ms)
            found = monitors[0] if monitors else None
        return found

    def timeout_ms(self, action: str, interval_ms: int = 0) -> int:
        op = self.op(action, interval_ms)
        if op is not None and op.timeout_ms:
            return op.timeout_ms
        return self.default_timeout_ms


def _nvpairs(parent: etree._Element | None, tag: str) -> dict[str, str]:
    """name -> value of ``parent``'s ``tag`` sets as Pacemaker reads them (the
    scheduler's reader: sets by score, rules, id-refs, ``#default``)."""
    return attribute_sets(parent, tag, None)


def _duration(text: str | None, where: str) -> int | None:
    if text is None or text == "":
        return None
    ms = duration_ms(text.strip())
    if ms is None:
        raise ValueError(f"{where}: {text!r} is not a duration")
    return ms


def _op(el: etree._Element) -> OpConfig:
    where = f"op {el.get('id') or el.get('name')}"
    meta = _nvpairs(el, "meta_attributes")
    return OpConfig(name=el.get("name", ""),
                    interval_ms=_duration(el.get("interval", "0"), where) or 0,
                    timeout_ms=_duration(el.get("timeout", meta.get("timeout")), where),
                    start_delay_ms=_duration(el.get("start-delay", meta.get("start-delay")),
                                             where) or 0,
                    role=el.get("role"), params=_nvpairs(el, "instance_attributes"))


def _locate(root: etree._Element, rsc_id: str) -> tuple[etree._Element, etree._Element | None]:
    """The primitive named ``rsc_id`` (or the one a clone of that id wraps) and its
    enclosing group or clone."""
    resources = root.find("configuration/resources")
    if resources is None:
        raise ResourceNotFound("the CIB has no configuration/resources section")
    for el in resources.iter("primitive", "group", "clone", "master"):
        if el.get("id") != rsc_id:
            continue
        if el.tag == "primitive":
            parent = el.getparent()
            return el, parent if parent is not None and parent.tag != "resources" else None
        if el.tag == "group":
            raise ResourceNotFound(f"{rsc_id} is a group: run an action of one of its members")
        child = el.find("primitive")
        if child is None:
            raise ResourceNotFound(f"clone {rsc_id} wraps a group: name one of its members")
        return child, el
    raise ResourceNotFound(f"no resource named {rsc_id!r} in the CIB")


def find_resource(root: etree._Element, rsc_id: str) -> ResourceDefinition:
    """The definition of ``rsc_id`` (a primitive, a clone, or a clone instance ``id:N``)."""
    base_id, _, instance = rsc_id.partition(":")
    el, parent = _locate(root, base_id if instance.isdigit() else rsc_id)
    templates = {t.get("id", ""): t for t in root.findall("configuration/resources/template")}
    tmpl = templates.get(el.get("template", ""))
    if el.get("template") and tmpl is None:
        raise ResourceNotFound(f"{el.get('id')}: template {el.get('template')!r} not found")
    params: dict[str, str] = {}
    meta = _nvpairs(root.find("configuration/rsc_defaults"), "meta_attributes")
    if parent is not None:
        grandparent = parent.getparent()
        if parent.tag == "group" and grandparent is not None and grandparent.tag in (
                "clone", "master"):
            meta.update(_nvpairs(grandparent, "meta_attributes"))
        meta.update(_nvpairs(parent, "meta_attributes"))
    ops: dict[tuple[str, int], OpConfig] = {}
    for source in (tmpl, el):
        if source is None:
            continue
        params.update(_nvpairs(source, "instance_attributes"))
        meta.update(_nvpairs(source, "meta_attributes"))
        for o in source.findall("operations/op"):
            op = _op(o)
            ops[(op.name, op.interval_ms)] = op
    base = tmpl if tmpl is not None else el
    agent = ResourceAgent.of(el.get("class", base.get("class")),
                             el.get("provider", base.get("provider")),
                             el.get("type", base.get("type")))
    op_defaults = _nvpairs(root.find("configuration/op_defaults"), "meta_attributes")
    default_timeout = _duration(op_defaults.get("timeout"), "op_defaults timeout")
    name = rsc_id if instance.isdigit() else el.get("id", rsc_id)
    return ResourceDefinition(id=name, agent=agent, params=params, meta=meta,
                              ops=tuple(ops.values()),
                              default_timeout_ms=default_timeout or DEFAULT_TIMEOUT_MS,
                              parent=parent.get("id") if parent is not None else None)
