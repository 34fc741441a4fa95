"""Validation across elements: references, a resource's operations, constraint targets,
fencing devices and the cluster-wide settings they depend on.

``validate.verify`` walks each element alone first and hands over what it collected
(every id and every reference); the checks here need the whole configuration:

- a reference names an existing id of the right kind: an ``id-ref`` an element of
  its own tag (as Pacemaker resolves them), a constraint's rsc/with-rsc/first/then
  and a set's ``resource_ref`` a resource, template or tag, ``template`` a template,
  an ACL role reference an ``acl_role``;
- a resource defines each recurring operation (name and interval) once; ``on-fail``
  fits its action; ``target-role`` Promoted/Unpromoted only inside promotable clones;
- fencing levels name STONITH resources; location constraints name known nodes
  (a warning: Pacemaker accepts nodes that have not joined yet);
- crm_verify's cluster-wide warnings: no STONITH resource while ``stonith-enabled``
  is not false, ``requires=fencing`` with fencing disabled, ``startup-fencing=false``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ha.cib import schema_data as sd
from ha.cib.validate import Context, duration_ms, is_pcmk_true

_CONSTRAINT_REFS = {"rsc_location": ("rsc",), "rsc_colocation": ("rsc", "with-rsc"),
                    "rsc_order": ("first", "then"), "rsc_ticket": ("rsc",),
                    "resource_ref": ("id",)}
_PROMOTED_ROLES = ("promoted", "master", "unpromoted", "slave")


@dataclass
class _Cluster:
    """What the cross-element checks need to know about the whole configuration."""

    properties: dict[str, str] = field(default_factory=dict)
    node_names: set[str] = field(default_factory=set)
    node_ids: set[str] = field(default_factory=set)

    @property
    def fencing_enabled(self) -> bool:
        value = self.properties.get("stonith-enabled", self.properties.get("fencing-enabled"))
        return value is None or is_pcmk_true(value)


def check(ctx: Context) -> None:
    """Add to ``ctx.issues`` every cross-element issue in ``ctx.root``."""
    configuration = ctx.root.find("configuration")
    if configuration is None:
        return
    cluster = _cluster(configuration)
    _check_references(ctx)
    _check_operations(ctx, configuration, cluster)
    _check_resource_meta(ctx, configuration, cluster)
    _check_locations(ctx, configuration, cluster)
    _check_tags(ctx, configuration, cluster)
    _check_fencing(ctx, configuration, cluster)
    _check_cluster(ctx, configuration, cluster)
    _check_status(ctx)


def _unconditional_nvpairs(nvset: etree._Element) -> list[etree._Element]:
    if nvset.find("rule") is not None:
        return []
    return [p for p in nvset.iterchildren("nvpair") if p.get("name") is not None]


def _cluster(configuration: etree._Element) -> _Cluster:
    cluster = _Cluster()
    sets = list(configuration.iterfind("crm_config/cluster_property_set"))
    sets.sort(key=lambda s: s.get("id") != "cib-bootstrap-options")  # Pacemaker reads it first
    for nvset in sets:
        for pair in _unconditional_nvpairs(nvset):
            cluster.properties.setdefault(str(pair.get("name")), pair.get("value") or "")
    for node in configuration.iterfind("nodes/node"):
        cluster.node_names.update(v for v in (node.get("uname"), node.get("id")) if v)
        cluster.node_ids.add(node.get("id") or "")
    for prim in configuration.iter("primitive"):
        if (prim.get("provider"), prim.get("type")) == ("pacemaker", "remote"):
            cluster.node_names.add(prim.get("id") or "")
        for pair in prim.iterfind("meta_attributes/nvpair[@name='remote-node']"):
            cluster.node_names.add(pair.get("value") or "")
    return cluster


def _enclosing(el: etree._Element, tags: tuple[str, ...]) -> etree._Element | None:
    for ancestor in el.iterancestors(*tags):
        return ancestor
    return None


def _check_references(ctx: Context) -> None:
    for el, attr, value in ctx.refs:
        target = ctx.ids.get(value)
        if target is None:
            ctx.report(el, f"'{value}' does not exist in the configuration", attribute=attr,
                       check="reference")
        elif attr == "id-ref":
            if target.tag != el.tag:
                ctx.report(el, f"id-ref '{value}' is a <{target.tag}>, expected a <{el.tag}>",
                           attribute=attr, check="reference")
        elif attr == "template":
            if target.tag != "template":
                ctx.report(el, f"'{value}' is a <{target.tag}>, expected a <template>",
                           attribute=attr, check="reference")
        elif el.tag == "role":
            if target.tag != "acl_role":
                ctx.report(el, f"'{value}' is a <{target.tag}>, expected an <acl_role>",
                           attribute=attr, check="reference")
        elif attr in _CONSTRAINT_REFS.get(str(el.tag), ()):
            _check_constraint_target(ctx, el, attr, value, target)
    for el in ctx.root.iterfind("configuration/constraints/rsc_colocation"):
        kinds = [ctx.ids.get(el.get(a) or "") for a in ("rsc", "with-rsc")]
        if all(k is not None and k.tag in ("template", "tag") for k in kinds):
            ctx.report(el, "a colocation between two templates or tags has no meaning "
                           "(Pacemaker ignores it)", check="constraint")


def _check_constraint_target(ctx: Context, el: etree._Element, attr: str, value: str,
                             target: etree._Element) -> None:
    if target.tag not in (*sd.RESOURCE_TAGS, "template", "tag"):
        ctx.report(el, f"'{value}' is a <{target.tag}>, expected a resource, template or tag",
                   attribute=attr, check="reference")
        return
    outer = _enclosing(target, ("clone", "master", "bundle"))
    if outer is not None:
        ctx.report(el, f"'{value}' is inside {outer.tag} '{outer.get('id')}': constrain the "
                       f"{outer.tag} instead", attribute=attr, severity="warning",
                   check="reference")


def _operations(ctx: Context, rsc: etree._Element) -> list[etree._Element]:
    ops = rsc.find("operations")
    if ops is None:
        return []
    ref = ops.get("id-ref")
    if ref is not None:
        target = ctx.ids.get(ref)
        ops = target if target is not None and target.tag == "operations" else None
    return [] if ops is None else list(ops.iterchildren("op"))


def _op_option(op: etree._Element, name: str) -> str | None:
    if op.get(name) is not None:
        return op.get(name)
    for nvset in op.iterchildren("meta_attributes"):
        for pair in _unconditional_nvpairs(nvset):
            if pair.get("name") == name:
                return pair.get("value")
    return None


def _check_operations(ctx: Context, configuration: etree._Element, cluster: _Cluster) -> None:
    for rsc in (*configuration.iter("primitive"), *configuration.iter("template")):
        seen: dict[tuple[str, int], etree._Element] = {}
        for op in _operations(ctx, rsc):
            name, interval = op.get("name") or "", op.get("interval") or "0"
            interval_ms = duration_ms(interval) or 0
            first = seen.setdefault((name, interval_ms), op) if interval_ms else op
            if first is not op:
                ctx.report(op, f"{rsc.tag} '{rsc.get('id')}' already has a '{name}' operation "
                               f"every {interval} (op '{first.get('id')}'); Pacemaker tells "
                               f"operations apart by name and interval, so give each its own "
                               f"interval", check="operation")
            _check_on_fail(ctx, op, name, interval_ms, cluster)


def _check_on_fail(ctx: Context, op: etree._Element, name: str, interval_ms: int,
                   cluster: _Cluster) -> None:
    on_fail = (_op_option(op, "on-fail") or "").lower()
    if not on_fail:
        return
    role = (_op_option(op, "role") or "").lower()
    if name == "stop" and on_fail in ("standby", "demote", "stop"):
        ctx.report(op, f"on-fail '{on_fail}' is not allowed for stop (expected ignore, block, "
                       "fence or restart)", attribute="on-fail", check="operation")
    elif on_fail == "demote" and name != "promote" and not (
            name == "monitor" and interval_ms and role in ("promoted", "master")):
        ctx.report(op, "on-fail 'demote' is allowed only for promote and for recurring "
                       "monitors of the Promoted role", attribute="on-fail", check="operation")
    elif on_fail == "fence" and not cluster.fencing_enabled:
        ctx.report(op, "on-fail 'fence' acts as 'stop' while stonith-enabled is false",
                   attribute="on-fail", severity="warning", check="stonith")


def _is_promotable(rsc: etree._Element) -> bool:
    top = rsc
    for ancestor in rsc.iterancestors(*sd.RESOURCE_TAGS):
        top = ancestor
    if top.tag == "master":
        return True
    if top.tag == "clone":
        return any(p.get("name") == "promotable" and is_pcmk_true(p.get("value"))
                   for p in top.iterfind("meta_attributes/nvpair"))
    if top.tag == "bundle":
        return any(int(c.get(a) or "0") > 0 if (c.get(a) or "0").isdigit() else False
                   for c in top for a in ("promoted-max", "masters"))
    return False


def _check_resource_meta(ctx: Context, configuration: etree._Element,
                         cluster: _Cluster) -> None:
    resources = configuration.find("resources")
    for rsc in resources.iter(*sd.RESOURCE_TAGS) if resources is not None else ():
        for pair in rsc.iterfind("meta_attributes/nvpair"):
            name, value = pair.get("name"), (pair.get("value") or "")
            if name == "target-role" and value.lower() in _PROMOTED_ROLES \
                    and not _is_promotable(rsc):
                ctx.report(pair, f"target-role '{value}' only makes sense for promotable clones "
                                 f"({rsc.tag} '{rsc.get('id')}' is not in one)",
                           attribute="value", check="resource")
            elif name == "target-role" and value.lower() == "default":
                ctx.report(pair, "target-role 'default' is deprecated (leave it unset)",
                           attribute="value", severity="warning", check="deprecated")
            elif name in ("ordered", "collocated") and rsc.tag == "group":
                ctx.report(pair, f"the group meta-attribute '{name}' is deprecated (use a "
                                 "resource set)", attribute="name", severity="warning",
                           check="deprecated")
            elif name == "requires" and value.lower() in ("fencing", "unfencing") \
                    and not cluster.fencing_enabled:
                ctx.report(pair, f"requires '{value}' acts as 'quorum' while stonith-enabled "
                                 "is false", attribute="value", severity="warning",
                           check="stonith")
            elif name == "globally-unique" and is_pcmk_true(value) and rsc.tag == "clone" \
                    and any(p.get("class") == "lsb" for p in rsc.iter("primitive")):
                ctx.report(pair, "lsb resources can only be anonymous clones; "
                                 "globally-unique is ignored", attribute="value",
                           severity="warning", check="resource")


def _check_locations(ctx: Context, configuration: etree._Element, cluster: _Cluster) -> None:
    bundles = [b.get("id") or "" for b in configuration.iter("bundle")]
    for loc in configuration.iterfind("constraints/rsc_location[@node]"):
        node = loc.get("node") or ""
        if node in cluster.node_names or any(
                node.startswith(f"{b}-") and node[len(b) + 1:].isdigit() for b in bundles):
            continue
        ctx.report(loc, f"node '{node}' is not in <nodes> (Pacemaker accepts it; the "
                        "constraint applies if such a node joins)", attribute="node",
                   severity="warning", check="reference")


def _check_tags(ctx: Context, configuration: etree._Element, cluster: _Cluster) -> None:
    for ref in configuration.iterfind("tags/tag/obj_ref"):
        id_ = ref.get("id") or ""
        if id_ not in ctx.ids and id_ not in cluster.node_ids:
            ctx.report(ref, f"'{id_}' does not exist in the configuration", attribute="id",
                       severity="warning", check="reference")


def _check_fencing(ctx: Context, configuration: etree._Element, cluster: _Cluster) -> None:
    seen: dict[tuple[str, str], etree._Element] = {}
    for level in configuration.iterfind("fencing-topology/fencing-level"):
        for device in (level.get("devices") or "").split(","):
            target = ctx.ids.get(device)
            if not device:
                continue
            if target is None or target.tag != "primitive":
                ctx.report(level, f"device '{device}' is not a configured resource",
                           attribute="devices", check="fencing")
            elif _resource_class(ctx, target) != "stonith":
                ctx.report(level, f"device '{device}' is not a stonith resource (class "
                                  f"'{_resource_class(ctx, target)}')", attribute="devices",
                           check="fencing")
        node = level.get("target")
        if node is not None and node not in cluster.node_names:
            ctx.report(level, f"target '{node}' is not a known node", attribute="target",
                       severity="warning", check="fencing")
        who = node or level.get("target-pattern") or (
            f"{level.get('target-attribute')}={level.get('target-value')}")
        first = seen.setdefault((who, level.get("index") or ""), level)
        if first is not level:
            ctx.report(level, f"'{who}' already has a fencing level {level.get('index')} "
                              f"('{first.get('id')}')", attribute="index",
                       severity="warning", check="fencing")


def _resource_class(ctx: Context, prim: etree._Element) -> str | None:
    template = ctx.ids.get(prim.get("template") or "")
    return prim.get("class") or (template.get("class") if template is not None else None)


def _check_cluster(ctx: Context, configuration: etree._Element, cluster: _Cluster) -> None:
    crm_config = configuration.find("crm_config")
    where = crm_config if crm_config is not None else configuration
    # A stonith resource, or watchdog (SBD) self-fencing, gives Pacemaker a way to fence.
    has_stonith = is_pcmk_true(cluster.properties.get("have-watchdog")) or any(
        (_resource_class(ctx, p) or "").lower() == "stonith"
        for p in configuration.iterfind("resources//primitive"))
    if not has_stonith and cluster.fencing_enabled:
        ctx.report(where,
                   "no STONITH resources defined and stonith-enabled is not false "
                   "(Pacemaker will not start resources; configure fencing or set "
                   "stonith-enabled to false)", severity="warning", check="stonith")
    startup = cluster.properties.get("startup-fencing")
    if startup is not None and not is_pcmk_true(startup):
        ctx.report(where,
                   "startup-fencing is false: nodes never seen are assumed down without "
                   "being fenced", severity="warning", check="stonith")


def _check_status(ctx: Context) -> None:
    for state in ctx.root.iterfind("status/node_state"):
        for attr in ("id", "uname"):
            if state.get(attr) is None:
                ctx.report(state, f"node_state without {attr} is ignored", attribute=attr,
                           severity="warning", check="status")
