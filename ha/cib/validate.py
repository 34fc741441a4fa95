"""Validation: what hastack accepts in a CIB, each problem named clearly.

``verify(root)`` returns every issue, errors and warnings, as ``crm_verify`` reports
them; ``check(root)`` raises CibError listing every error (the caller then changes
nothing: a CIB is accepted or refused whole).

What is an error and what a warning:

- error: what Pacemaker's schema (pacemaker-3.x, RelaxNG) refuses -- an unknown
  element or attribute, a missing required attribute, an id that is not unique or
  not an id, a reference to nothing, a value outside its type or enumeration -- and
  what ``crm_verify`` reports as a configuration error (an operation defined twice,
  ``on-fail`` not allowed for that action, ``target-role`` Promoted outside a
  promotable clone, an invalid order ``kind`` or colocation ``influence``);
  hastack's own limit too: resource classes it does not run.
- warning: what Pacemaker accepts but works around or deprecates, and what depends
  on the rest of the cluster (a location constraint naming a node not in
  ``<nodes>``; no STONITH resource while ``stonith-enabled`` is not false).

The walk in this module checks each element alone against ``schema_data.ELEMENTS``;
``validate_refs`` checks what spans elements (references, operations of a resource,
fencing devices, cluster-wide settings). The status section is free-form in
Pacemaker's schema and only lightly checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from ha.cib import schema_data as sd
from ha.cib.schema_data import duration_ms, is_pcmk_true, value_problem
from ha.cib.xml import CibError, Issue, Severity, element_path, issue_at

__all__ = ["Context", "check", "duration_ms", "is_pcmk_true", "value_problem", "verify"]

_DEVICES = re.compile(r"[a-zA-Z0-9_.\-]+(,[a-zA-Z0-9_.\-]+)*")
_PORT_RANGE = re.compile(r"[0-9\-]+")
_VALIDATE_WITH = re.compile(r"pacemaker-(\d+\.\d+|next)")

#: The check name an issue about a value of each type is filed under.
_TYPE_CHECK = {sd.ID: "id", sd.IDREF: "id", sd.SCORE: "score", sd.NVSCORE: "score",
               sd.INTEGER: "integer", sd.NONNEG: "integer", sd.POSITIVE: "integer",
               sd.PORT: "integer", sd.XSD_BOOL: "boolean", sd.PCMK_BOOL: "boolean",
               sd.DURATION: "duration"}


def verify(root: etree._Element) -> list[Issue]:
    """Every issue in ``root``, errors and warnings: each element's own (in document
    order), then those across elements."""
    from ha.cib import validate_refs

    ctx = Context(root)
    if root.tag != "cib":
        ctx.report(root, f"expected a <cib> root element, got <{root.tag}>", check="structure")
        return ctx.issues
    _check_element(ctx, root)
    validate_refs.check(ctx)
    return ctx.issues


def check(root: etree._Element) -> None:
    """Raise CibError listing every error in ``root``; warnings do not refuse a CIB."""
    errors = [i for i in verify(root) if i.severity == "error"]
    if errors:
        raise CibError(errors)


@dataclass
class Context:
    """One validation run: the document, what the walk found, and the issues so far."""

    root: etree._Element
    issues: list[Issue] = field(default_factory=list)
    ids: dict[str, etree._Element] = field(default_factory=dict)
    refs: list[tuple[etree._Element, str, str]] = field(default_factory=list)

    def report(self, element: etree._Element, message: str, *, attribute: str | None = None,
               severity: Severity = "error", check: str) -> None:
        self.issues.append(issue_at(element, message, attribute=attribute, severity=severity,
                                    check=check))


def _check_value(ctx: Context, el: etree._Element, attr: str, vtype: sd.ValueType,
                 value: str) -> None:
    problem = value_problem(vtype, value)
    if problem is not None:
        check = "enumeration" if isinstance(vtype, tuple) else _TYPE_CHECK.get(vtype, "value")
        ctx.report(el, problem[1], attribute=attr, severity=problem[0], check=check)


# -- the walk -----------------------------------------------------------------------

def _check_element(ctx: Context, el: etree._Element) -> None:
    spec = sd.ELEMENTS[str(el.tag)]
    for attr, value in el.attrib.items():
        vtype = spec.attributes.get(str(attr))
        if vtype is None:
            known = ", ".join(spec.attributes) or "none"
            ctx.report(el, f"unknown attribute (expected one of: {known})", attribute=str(attr),
                       check="attribute")
            continue
        if vtype != sd.TEXT:
            _check_value(ctx, el, str(attr), vtype, str(value))
        if vtype == sd.ID:
            _note_id(ctx, el, str(value))
        elif vtype == sd.IDREF:
            ctx.refs.append((el, str(attr), str(value)))
    for attr in spec.required:
        if el.get(attr) is None:
            ctx.report(el, "required attribute is missing", attribute=attr, check="structure")
    tags = [c.tag for c in el] if spec.once else []
    for tag in spec.once:
        if tags.count(tag) > 1:
            ctx.report(el, f"<{tag}> may appear only once in <{el.tag}>, found "
                           f"{tags.count(tag)}", check="structure")
    local = _LOCAL_CHECKS.get(str(el.tag))
    if local is not None:
        local(ctx, el)
    if any(t and t.strip() for t in (el.text, *(c.tail for c in el))):
        ctx.report(el, f"text is not allowed in <{el.tag}> (only elements and attributes)",
                   check="structure")
    for child in el:
        if not isinstance(child.tag, str) or (el.tag == "cib" and child.tag == "status"):
            continue  # comments; the status section is free-form
        if child.tag not in spec.children:
            allowed = ", ".join(spec.children) or "no child elements"
            ctx.report(child, f"element <{child.tag}> is not allowed in <{el.tag}> "
                              f"(expected: {allowed})", check="structure")
            continue
        _check_element(ctx, child)


def _note_id(ctx: Context, el: etree._Element, id_: str) -> None:
    first = ctx.ids.setdefault(id_, el)
    if first is not el:
        line = f" (line {first.sourceline})" if first.sourceline else ""
        ctx.report(el, f"id '{id_}' is not unique: also used by {first.tag} at "
                       f"{element_path(first)}{line}", attribute="id", check="id")


def _children(el: etree._Element, *tags: str) -> list[etree._Element]:
    return [c for c in el if c.tag in tags]


def _exactly_one(ctx: Context, el: etree._Element, options: dict[str, bool], what: str) -> None:
    present = [name for name, here in options.items() if here]
    if len(present) != 1:
        got = ", ".join(present) if present else "none"
        ctx.report(el, f"expected exactly one of {what}, got {got}", check="structure")


def _check_cib(ctx: Context, el: etree._Element) -> None:
    vw = el.get("validate-with")
    if vw == "none":
        ctx.report(el, "schema validation is disabled in Pacemaker (validate-with='none'); "
                       "hastack checks the CIB regardless", attribute="validate-with",
                   severity="warning", check="structure")
    elif vw is not None and not _VALIDATE_WITH.fullmatch(vw):
        ctx.report(el, f"expected none or pacemaker-X.Y, got '{vw}'", attribute="validate-with",
                   check="enumeration")
    if el.find("configuration") is None:
        ctx.report(el, "required element <configuration> is missing", check="structure")


def _check_configuration(ctx: Context, el: etree._Element) -> None:
    tags = [str(c.tag) for c in el if isinstance(c.tag, str)]
    for name in sd.REQUIRED_SECTIONS:
        if name not in tags:
            ctx.report(el, f"required section <{name}> is missing", check="structure")


def _check_nvset(ctx: Context, el: etree._Element) -> None:
    if (el.get("id") is None) == (el.get("id-ref") is None):
        ctx.report(el, "expected exactly one of id, id-ref", check="structure")
    elif el.get("id-ref") is not None and len(el):
        ctx.report(el, "an id-ref set may not have contents of its own", check="structure")


def _check_nvpair(ctx: Context, el: etree._Element) -> None:
    if (el.get("id") is None) == (el.get("id-ref") is None):
        ctx.report(el, "expected exactly one of id, id-ref", check="structure")
        return
    name, value = el.get("name"), el.get("value")
    if el.get("id") is not None and name is None:
        ctx.report(el, "required attribute is missing", attribute="name", check="structure")
    if name is None:
        return
    nvset = el.getparent()
    owner = nvset.getparent() if nvset is not None else None
    if nvset is None or owner is None:
        return
    table: dict[str, sd.ValueType] = {}
    if nvset.tag == "cluster_property_set":
        table = sd.CLUSTER_OPTIONS
        if name in sd.LEGACY_CLUSTER_OPTIONS:
            ctx.report(el, f"cluster option '{name}' is no longer supported (use "
                           f"{sd.LEGACY_CLUSTER_OPTIONS[name]})", attribute="name",
                       check="attribute")
        elif name == "cluster-infrastructure" and (value or "") in sd.LEGACY_STACKS:
            ctx.report(el, f"cluster-infrastructure '{value or ''}' is not supported (expected "
                           "corosync)", attribute="value", check="enumeration")
    elif nvset.tag == "meta_attributes" and owner.tag in ("op", "op_defaults"):
        table = sd.OP_OPTIONS
        if name == "requires" and owner.tag == "op":
            ctx.report(el, "'requires' is a resource meta-attribute, not an operation option",
                       attribute="name", check="attribute")
    elif nvset.tag == "meta_attributes" and owner.tag in (*sd.RESOURCE_TAGS, "template",
                                                          "rsc_defaults"):
        table = sd.RESOURCE_META
        if name in sd.DEPRECATED_META:
            ctx.report(el, f"meta-attribute '{name}' is deprecated ("
                           f"{sd.DEPRECATED_META[name]})", attribute="name",
                       severity="warning", check="deprecated")
    vtype = table.get(name)
    if value is not None and value.lower() == "#default":
        ctx.report(el, "the value '#default' is deprecated (remove the nvpair to get the "
                       "default)", attribute="value", severity="warning", check="deprecated")
    elif vtype is not None and value is not None:
        problem = value_problem(vtype, value, nvpair=True)
        if problem is not None:
            check = "enumeration" if isinstance(vtype, tuple) else _TYPE_CHECK.get(vtype, "")
            ctx.report(el, f"{name}: {problem[1]}", attribute="value", severity=problem[0],
                       check=check)


def _check_rule(ctx: Context, el: etree._Element) -> None:
    if (el.get("id") is None) == (el.get("id-ref") is None):
        ctx.report(el, "expected exactly one of id, id-ref", check="structure")
    elif el.get("id") is not None and not _children(el, *sd.ELEMENTS["rule"].children):
        ctx.report(el, "a rule needs at least one expression", check="structure")
    if el.get("score") is not None and el.get("score-attribute") is not None:
        ctx.report(el, "expected at most one of score, score-attribute", check="structure")
    role = el.get("role")
    if role is not None and role.lower() not in (r.lower() for r in sd.ROLES):
        ctx.report(el, f"expected one of {', '.join(sd.ROLES)}, got '{role}'", attribute="role",
                   severity="warning", check="enumeration")


def _check_date_expression(ctx: Context, el: etree._Element) -> None:
    op = el.get("operation")
    needs = {"gt": ("start",), "lt": ("end",)}.get(op or "", ())
    for attr in needs:
        if el.get(attr) is None:
            ctx.report(el, f"operation '{op}' needs '{attr}'", attribute=attr, check="structure")
    if op == "in_range" and el.get("start") is None and el.get("end") is None:
        ctx.report(el, "operation 'in_range' needs 'start' or 'end'", check="structure")
    if op == "date_spec" and el.find("date_spec") is None:
        ctx.report(el, "operation 'date_spec' needs a <date_spec>", check="structure")


def _check_primitive(ctx: Context, el: etree._Element) -> None:
    cls = el.get("class")
    if el.tag == "primitive":
        has_class = cls is not None or el.get("type") is not None
        if has_class == (el.get("template") is not None):
            ctx.report(el, "expected either class and type, or template", check="resource")
            return
        if el.get("template") is not None:
            return
        if el.get("type") is None or cls is None:
            ctx.report(el, "required attribute is missing",
                       attribute="type" if cls is not None else "class", check="structure")
    if cls == "ocf" and el.get("provider") is None:
        ctx.report(el, "class 'ocf' needs a provider", attribute="provider", check="resource")
    elif cls in sd.CLASSES and cls != "ocf" and el.get("provider") is not None:
        ctx.report(el, f"class '{cls}' takes no provider (only ocf does)", attribute="provider",
                   check="resource")


def _check_collective(ctx: Context, el: etree._Element) -> None:
    members = _children(el, "primitive", "group")
    if el.tag == "group" and not members:
        ctx.report(el, "a group needs at least one primitive", check="resource")
    elif el.tag in ("clone", "master") and len(members) != 1:
        ctx.report(el, f"a {el.tag} holds exactly one primitive or group, got {len(members)}",
                   check="resource")
    elif el.tag == "bundle":
        runtimes = [str(c.tag) for c in _children(el, "docker", "rkt", "podman")]
        if len(runtimes) != 1:
            ctx.report(el, f"expected exactly one of docker, rkt, podman, got "
                           f"{', '.join(runtimes) or 'none'}", check="resource")
        if len(members) > 1:
            ctx.report(el, "a bundle holds at most one primitive", check="resource")


def _check_op(ctx: Context, el: etree._Element) -> None:
    if el.get("start-delay") is not None and el.get("interval-origin") is not None:
        ctx.report(el, "expected at most one of start-delay, interval-origin", check="structure")
    name = el.get("name")
    if name is not None and name not in sd.OP_NAMES:
        ctx.report(el, f"unknown action '{name}' (expected one of: "
                       f"{', '.join(sd.OP_NAMES)})", attribute="name", severity="warning",
                   check="operation")


def _check_location(ctx: Context, el: etree._Element) -> None:
    sets, rules = _children(el, "resource_set"), _children(el, "rule")
    _exactly_one(ctx, el, {"rsc": el.get("rsc") is not None,
                           "rsc-pattern": el.get("rsc-pattern") is not None,
                           "resource_set": bool(sets)}, "rsc, rsc-pattern, resource_set")
    node, score = el.get("node"), el.get("score")
    if rules and (node is not None or score is not None):
        ctx.report(el, "expected either node and score, or rules, not both", check="constraint")
    elif not rules and (node is None or score is None):
        missing = "node" if node is None else "score"
        ctx.report(el, f"expected node and score, or rules ({missing} is missing)",
                   attribute=missing, check="constraint")
    _check_lifetime(ctx, el)


def _check_lifetime(ctx: Context, el: etree._Element) -> None:
    if el.find("lifetime") is not None:
        ctx.report(el, "<lifetime> is deprecated (use rules with date expressions)",
                   severity="warning", check="deprecated")


def _check_colocation(ctx: Context, el: etree._Element) -> None:
    _check_pair_or_sets(ctx, el, ("rsc", "with-rsc"))
    influence = el.get("influence")
    if influence is not None:
        problem = value_problem(sd.PCMK_BOOL, influence)
        if problem is not None:
            ctx.report(el, problem[1], attribute="influence", check="boolean")
    _check_lifetime(ctx, el)


def _check_order(ctx: Context, el: etree._Element) -> None:
    _check_pair_or_sets(ctx, el, ("first", "then"))
    if el.get("score") is not None and el.get("kind") is not None:
        ctx.report(el, "expected at most one of score, kind", check="constraint")
    elif el.get("score") is not None:
        ctx.report(el, "score on an order is deprecated (use kind)", attribute="score",
                   severity="warning", check="deprecated")
    if el.get("kind") == "Serialize" and el.get("symmetrical") is not None:
        ctx.report(el, "symmetrical is ignored with kind 'Serialize'", attribute="symmetrical",
                   severity="warning", check="constraint")
    if el.get("require-all") is not None:
        ctx.report(el, "require-all on an order is deprecated (use the clone-min "
                       "meta-attribute)", attribute="require-all", severity="warning",
                   check="deprecated")
    _check_lifetime(ctx, el)


def _check_ticket(ctx: Context, el: etree._Element) -> None:
    _check_pair_or_sets(ctx, el, ("rsc",))


def _check_pair_or_sets(ctx: Context, el: etree._Element, attrs: tuple[str, ...]) -> None:
    sets = _children(el, "resource_set")
    given = [a for a in attrs if el.get(a) is not None]
    if sets and given:
        ctx.report(el, f"expected either {' and '.join(attrs)}, or resource sets, not both",
                   check="constraint")
    elif not sets and len(given) != len(attrs):
        missing = [a for a in attrs if a not in given]
        ctx.report(el, f"expected {' and '.join(attrs)}, or resource sets "
                       f"({', '.join(missing)} missing)", attribute=missing[0],
                   check="constraint")


def _check_resource_set(ctx: Context, el: etree._Element) -> None:
    if (el.get("id") is None) == (el.get("id-ref") is None):
        ctx.report(el, "expected exactly one of id, id-ref", check="structure")
    elif el.get("id") is not None and not _children(el, "resource_ref"):
        ctx.report(el, "a resource set needs at least one resource_ref", check="constraint")
    if el.get("score") is not None and el.get("kind") is not None:
        ctx.report(el, "expected at most one of score, kind", check="constraint")


def _check_fencing_level(ctx: Context, el: etree._Element) -> None:
    attr_pair = el.get("target-attribute") is not None or el.get("target-value") is not None
    _exactly_one(ctx, el, {"target": el.get("target") is not None,
                           "target-pattern": el.get("target-pattern") is not None,
                           "target-attribute": attr_pair},
                 "target, target-pattern, target-attribute with target-value")
    if attr_pair and (el.get("target-attribute") is None or el.get("target-value") is None):
        ctx.report(el, "target-attribute and target-value go together", check="fencing")
    devices = el.get("devices")
    if devices is not None and not _DEVICES.fullmatch(devices):
        ctx.report(el, f"expected a comma-separated list of device ids, got '{devices}'",
                   attribute="devices", check="fencing")


def _check_acl_permission(ctx: Context, el: etree._Element) -> None:
    _exactly_one(ctx, el, {a: el.get(a) is not None
                           for a in ("xpath", "reference", "object-type")},
                 "xpath, reference, object-type")
    if el.get("attribute") is not None and el.get("object-type") is None:
        ctx.report(el, "attribute goes only with object-type", attribute="attribute",
                   check="structure")


def _check_tag(ctx: Context, el: etree._Element) -> None:
    if not _children(el, "obj_ref"):
        ctx.report(el, "a tag needs at least one <obj_ref>", check="structure")


def _check_port_mapping(ctx: Context, el: etree._Element) -> None:
    _exactly_one(ctx, el, {"port": el.get("port") is not None,
                           "range": el.get("range") is not None}, "port, range")
    rng = el.get("range")
    if rng is not None and not _PORT_RANGE.fullmatch(rng):
        ctx.report(el, f"expected a port range such as 8000-8010, got '{rng}'",
                   attribute="range", check="integer")


def _check_storage_mapping(ctx: Context, el: etree._Element) -> None:
    _exactly_one(ctx, el, {"source-dir": el.get("source-dir") is not None,
                           "source-dir-root": el.get("source-dir-root") is not None},
                 "source-dir, source-dir-root")


_LOCAL_CHECKS = {
    "cib": _check_cib, "configuration": _check_configuration,
    **{name: _check_nvset for name in sd.NVSETS},
    "nvpair": _check_nvpair, "rule": _check_rule, "date_expression": _check_date_expression,
    "primitive": _check_primitive, "template": _check_primitive,
    "group": _check_collective, "clone": _check_collective, "master": _check_collective,
    "bundle": _check_collective, "op": _check_op, "rsc_location": _check_location,
    "rsc_colocation": _check_colocation, "rsc_order": _check_order,
    "rsc_ticket": _check_ticket, "resource_set": _check_resource_set,
    "fencing-level": _check_fencing_level, "acl_permission": _check_acl_permission,
    "tag": _check_tag, "port-mapping": _check_port_mapping,
    "storage-mapping": _check_storage_mapping,
}
