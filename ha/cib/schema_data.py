"""What a CIB configuration may contain: the tables ``validate`` checks against.

Facts from Pacemaker's RelaxNG schema (``xml/*.rng``, the pacemaker-3.x family that
Pacemaker 2.x writes, including the legacy ``master`` element) and from its option
tables ("Pacemaker Explained"). One table per question, so a check and its data
cannot drift apart:

- ``ELEMENTS``: per configuration element, its attributes (name → value type), the
  child elements it may hold, and the attributes it always needs.
- value types are strings (``ID``, ``IDREF``, ``TEXT``, ``SCORE``, ``INTEGER``,
  ``NONNEG``, ``POSITIVE``, ``XSD_BOOL``, ``DURATION``) or a tuple of allowed values.
  ``XSD_BOOL`` is the schema's boolean (true/false/1/0) used by XML attributes;
  nvpair values use Pacemaker's own booleans (``PCMK_BOOL``: also yes/no/on/off/y/n,
  any case).
- ``RESOURCE_META``, ``OP_OPTIONS``, ``CLUSTER_OPTIONS``: known nvpair names and the
  type of their values; an unknown name is left alone (agents and users add their own).

The status section is not here: Pacemaker's schema leaves it free-form.

And how values are read, as Pacemaker reads them: ``duration_ms``, ``is_pcmk_true``,
``value_problem`` (re-exported by ``validate`` for other modules).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ha.cib.xml import Severity

ValueType = str | tuple[str, ...]

ID, IDREF, TEXT = "id", "idref", "text"
SCORE, INTEGER, NONNEG, POSITIVE = "score", "integer", "nonnegative integer", "positive integer"
XSD_BOOL, PCMK_BOOL, DURATION, PORT = "xsd boolean", "boolean", "duration", "port"
NVSCORE = "nvpair score"  # a score in an nvpair value: also Pacemaker's red/yellow/green

CLASSES = ("ocf", "lsb", "service", "stonith", "systemd")  # what hastack runs
ROLES = ("Stopped", "Started", "Promoted", "Unpromoted", "Master", "Slave")
LEGACY_ROLES = {"Master": "Promoted", "Slave": "Unpromoted"}
CONSTRAINT_ACTIONS = ("start", "promote", "demote", "stop")
ORDER_KINDS = ("Optional", "Mandatory", "Serialize")
ON_FAIL = ("ignore", "block", "demote", "stop", "restart", "standby", "fence",
           "restart-container")
#: Actions Pacemaker and its agents know (OCF, LSB, systemd, fence agents).
OP_NAMES = ("start", "stop", "monitor", "promote", "demote", "notify", "migrate_to",
            "migrate_from", "reload", "reload-agent", "meta-data", "validate-all",
            "status", "methods", "on", "off", "reboot", "list")
PCMK_TRUE = ("true", "on", "yes", "y", "1")
PCMK_FALSE = ("false", "off", "no", "n", "0")
XSD_TRUE_FALSE = ("true", "false", "1", "0")

_NVSET: dict[str, ValueType] = {"id": ID, "id-ref": IDREF, "score": SCORE}
_RULE: dict[str, ValueType] = {"id": ID, "id-ref": IDREF, "boolean-op": ("and", "or"),
                               "role": TEXT, "score": SCORE, "score-attribute": TEXT}
_DATE_FIELDS: dict[str, ValueType] = {
    "id": ID, **{k: TEXT for k in ("years", "months", "weeks", "days", "hours", "minutes",
                                     "seconds", "monthdays", "weekdays", "yearsdays",
                                     "yeardays", "weekyears", "moon")}}
_CONTAINER: dict[str, ValueType] = {
    "image": TEXT, "replicas": INTEGER, "replicas-per-host": INTEGER, "masters": INTEGER,
    "promoted-max": INTEGER, "run-command": TEXT, "network": TEXT, "options": TEXT}
_PRIMITIVE: dict[str, ValueType] = {"id": ID, "class": CLASSES, "provider": TEXT,
                                    "type": TEXT, "template": IDREF, "description": TEXT}
NVSETS = ("cluster_property_set", "meta_attributes", "instance_attributes", "utilization")
_NVSET_CHILDREN = ("nvpair", "rule")
_RULE_CHILDREN = ("expression", "date_expression", "rule", "rsc_expression", "op_expression")
_RESOURCE_EXTRA = ("instance_attributes", "meta_attributes")
_SECTIONS = ("crm_config", "nodes", "resources", "constraints", "rsc_defaults", "op_defaults",
             "fencing-topology", "acls", "tags", "alerts")
_SELECT = ("select_attributes", "select_fencing", "select_nodes", "select_resources")
_BUNDLE_PARTS = ("docker", "rkt", "podman", "network", "storage", "primitive")


@dataclass(frozen=True)
class ElementSpec:
    """An element's attributes (name → type), allowed children, always-needed attributes,
    and the children it may hold only one of."""

    attributes: Mapping[str, ValueType]
    children: tuple[str, ...] = ()
    required: tuple[str, ...] = field(default=())
    once: tuple[str, ...] = ()  # children that may appear at most once


ELEMENTS: dict[str, ElementSpec] = {
    "cib": ElementSpec({
        "validate-with": TEXT, "admin_epoch": NONNEG, "epoch": NONNEG, "num_updates": NONNEG,
        "crm_feature_set": TEXT, "remote-tls-port": NONNEG, "remote-clear-port": NONNEG,
        "have-quorum": XSD_BOOL, "dc-uuid": TEXT, "cib-last-written": TEXT,
        "no-quorum-panic": XSD_BOOL, "update-origin": TEXT, "update-client": TEXT,
        "update-user": TEXT, "execution-date": TEXT},
        ("configuration", "status"), ("validate-with", "admin_epoch", "epoch", "num_updates"),
        ("configuration", "status")),
    "configuration": ElementSpec({}, _SECTIONS, once=_SECTIONS),
    "crm_config": ElementSpec({}, ("cluster_property_set",)),
    **{name: ElementSpec(_NVSET, _NVSET_CHILDREN, once=("rule",)) for name in NVSETS},
    "nvpair": ElementSpec({"id": ID, "id-ref": IDREF, "name": TEXT, "value": TEXT}),
    "rule": ElementSpec(_RULE, _RULE_CHILDREN),
    "expression": ElementSpec({
        "id": ID, "attribute": TEXT, "value": TEXT,
        "operation": ("lt", "gt", "lte", "gte", "eq", "ne", "defined", "not_defined"),
        "type": ("string", "integer", "number", "version"),
        "value-source": ("literal", "param", "meta")}, (), ("id", "attribute", "operation")),
    "date_expression": ElementSpec({"id": ID, "operation": ("in_range", "gt", "lt", "date_spec"),
                                    "start": TEXT, "end": TEXT},
                                   ("duration", "date_spec"), ("id", "operation"),
                                   ("duration", "date_spec")),
    "date_spec": ElementSpec(_DATE_FIELDS, (), ("id",)),
    "duration": ElementSpec(_DATE_FIELDS, (), ("id",)),
    "rsc_expression": ElementSpec({"id": ID, "class": TEXT, "provider": TEXT, "type": TEXT},
                                  (), ("id",)),
    "op_expression": ElementSpec({"id": ID, "name": TEXT, "interval": DURATION}, (),
                                 ("id", "name")),
    "nodes": ElementSpec({}, ("node",)),
    "node": ElementSpec({"id": TEXT, "uname": TEXT, "type": ("member", "remote", "ping"),
                         "description": TEXT, "score": SCORE},
                        ("instance_attributes", "utilization"), ("id", "uname")),
    "resources": ElementSpec({}, ("primitive", "template", "group", "clone", "master",
                                  "bundle")),
    "primitive": ElementSpec(_PRIMITIVE, (*_RESOURCE_EXTRA, "utilization", "operations"),
                             ("id",), ("operations",)),
    "template": ElementSpec({k: v for k, v in _PRIMITIVE.items() if k != "template"},
                            (*_RESOURCE_EXTRA, "utilization", "operations"),
                            ("id", "class", "type"), ("operations",)),
    "group": ElementSpec({"id": ID, "description": TEXT}, (*_RESOURCE_EXTRA, "primitive"),
                         ("id",)),
    "clone": ElementSpec({"id": ID, "description": TEXT},
                         (*_RESOURCE_EXTRA, "primitive", "group"), ("id",)),
    "master": ElementSpec({"id": ID, "description": TEXT},
                          (*_RESOURCE_EXTRA, "primitive", "group"), ("id",)),
    "bundle": ElementSpec({"id": ID, "description": TEXT},
                          (*_RESOURCE_EXTRA, *_BUNDLE_PARTS), ("id",), _BUNDLE_PARTS),
    "docker": ElementSpec(_CONTAINER, (), ("image",)),
    "rkt": ElementSpec(_CONTAINER, (), ("image",)),
    "podman": ElementSpec(_CONTAINER, (), ("image",)),
    "network": ElementSpec({"ip-range-start": TEXT, "control-port": INTEGER,
                            "host-interface": TEXT, "host-netmask": INTEGER,
                            "add-host": XSD_BOOL}, ("port-mapping",)),
    "port-mapping": ElementSpec({"id": ID, "port": INTEGER, "internal-port": INTEGER,
                                 "range": TEXT}, (), ("id",)),
    "storage": ElementSpec({}, ("storage-mapping",)),
    "storage-mapping": ElementSpec({"id": ID, "source-dir": TEXT, "source-dir-root": TEXT,
                                    "target-dir": TEXT, "options": TEXT}, (),
                                   ("id", "target-dir")),
    "operations": ElementSpec({"id": ID, "id-ref": IDREF}, ("op",)),
    "op": ElementSpec({
        "id": ID, "name": TEXT, "interval": DURATION, "description": TEXT,
        "start-delay": DURATION, "interval-origin": TEXT, "timeout": DURATION,
        "enabled": XSD_BOOL, "record-pending": XSD_BOOL, "role": ROLES, "on-fail": ON_FAIL},
        _RESOURCE_EXTRA, ("id", "name", "interval")),
    "constraints": ElementSpec({}, ("rsc_location", "rsc_colocation", "rsc_order",
                                    "rsc_ticket")),
    "rsc_location": ElementSpec({
        "id": ID, "rsc": IDREF, "rsc-pattern": TEXT, "role": ROLES, "score": SCORE,
        "node": TEXT, "resource-discovery": ("always", "never", "exclusive")},
        ("resource_set", "rule", "lifetime"), ("id",), ("lifetime",)),
    "rsc_colocation": ElementSpec({
        "id": ID, "score": SCORE, "influence": TEXT, "rsc": IDREF, "with-rsc": IDREF,
        "node-attribute": TEXT, "rsc-role": ROLES, "with-rsc-role": ROLES},
        ("resource_set", "lifetime"), ("id",), ("lifetime",)),
    "rsc_order": ElementSpec({
        "id": ID, "symmetrical": XSD_BOOL, "require-all": XSD_BOOL, "score": SCORE,
        "kind": ORDER_KINDS, "first": IDREF, "then": IDREF,
        "first-action": CONSTRAINT_ACTIONS, "then-action": CONSTRAINT_ACTIONS},
        ("resource_set", "lifetime"), ("id",), ("lifetime",)),
    "rsc_ticket": ElementSpec({"id": ID, "rsc": IDREF, "rsc-role": ROLES, "ticket": TEXT,
                               "loss-policy": ("stop", "demote", "fence", "freeze")},
                              ("resource_set",), ("id", "ticket")),
    "resource_set": ElementSpec({
        "id": ID, "id-ref": IDREF, "sequential": XSD_BOOL, "require-all": XSD_BOOL,
        "ordering": ("group", "listed"), "action": CONSTRAINT_ACTIONS, "role": ROLES,
        "score": SCORE, "kind": ORDER_KINDS}, ("resource_ref",)),
    "resource_ref": ElementSpec({"id": IDREF}, (), ("id",)),
    "lifetime": ElementSpec({}, ("rule",)),
    "rsc_defaults": ElementSpec({}, ("meta_attributes",)),
    "op_defaults": ElementSpec({}, ("meta_attributes",)),
    "fencing-topology": ElementSpec({}, ("fencing-level",)),
    "fencing-level": ElementSpec({
        "id": ID, "target": TEXT, "target-pattern": TEXT, "target-attribute": TEXT,
        "target-value": TEXT, "index": POSITIVE, "devices": TEXT}, (),
        ("id", "index", "devices")),
    "acls": ElementSpec({}, ("acl_target", "acl_group", "acl_role")),
    "acl_target": ElementSpec({"id": TEXT, "name": TEXT}, ("role",), ("id",)),
    "acl_group": ElementSpec({"id": ID, "name": TEXT}, ("role",), ("id",)),
    "role": ElementSpec({"id": IDREF}, (), ("id",)),
    "acl_role": ElementSpec({"id": ID, "description": TEXT}, ("acl_permission",), ("id",)),
    "acl_permission": ElementSpec({
        "id": ID, "kind": ("read", "write", "deny"), "xpath": TEXT, "reference": IDREF,
        "object-type": TEXT, "attribute": TEXT, "description": TEXT}, (), ("id", "kind")),
    "tags": ElementSpec({}, ("tag",)),
    "tag": ElementSpec({"id": ID}, ("obj_ref",), ("id",)),
    "obj_ref": ElementSpec({"id": TEXT}, (), ("id",)),
    "alerts": ElementSpec({}, ("alert",)),
    "alert": ElementSpec({"id": ID, "description": TEXT, "path": TEXT},
                         (*_RESOURCE_EXTRA, "select", "recipient"), ("id", "path"),
                         ("select",)),
    "select": ElementSpec({}, _SELECT, once=_SELECT),
    "select_attributes": ElementSpec({}, ("attribute",)),
    "attribute": ElementSpec({"id": ID, "name": TEXT}, (), ("id", "name")),
    "select_fencing": ElementSpec({}),
    "select_nodes": ElementSpec({}),
    "select_resources": ElementSpec({}),
    "recipient": ElementSpec({"id": ID, "description": TEXT, "value": TEXT},
                             _RESOURCE_EXTRA, ("id", "value")),
}

#: Sections Pacemaker's schema requires in every configuration.
REQUIRED_SECTIONS = ("crm_config", "nodes", "resources", "constraints")
RESOURCE_TAGS = ("primitive", "group", "clone", "master", "bundle")

#: Resource meta-attributes (primitive, group, clone, master, bundle, template,
#: rsc_defaults) and the type of their values.
RESOURCE_META: dict[str, ValueType] = {
    "priority": NVSCORE, "critical": PCMK_BOOL, "target-role": ("default", *ROLES),
    "is-managed": PCMK_BOOL, "maintenance": PCMK_BOOL, "resource-stickiness": NVSCORE,
    "requires": ("nothing", "quorum", "fencing", "unfencing"),
    "migration-threshold": NVSCORE, "failure-timeout": DURATION,
    "multiple-active": ("block", "stop_only", "stop_start", "stop_unexpected"),
    "allow-migrate": PCMK_BOOL, "allow-unhealthy-nodes": PCMK_BOOL,
    "globally-unique": PCMK_BOOL, "notify": PCMK_BOOL, "ordered": PCMK_BOOL,
    "interleave": PCMK_BOOL, "promotable": PCMK_BOOL, "clone-max": NONNEG,
    "clone-node-max": NONNEG, "clone-min": NONNEG, "promoted-max": NONNEG,
    "promoted-node-max": NONNEG, "master-max": NONNEG, "master-node-max": NONNEG,
    "remote-port": PORT, "remote-connect-timeout": DURATION, "remote-allow-migrate": PCMK_BOOL,
}
#: Operation options: attributes of <op>, or nvpairs in an op's meta_attributes or in
#: op_defaults.
OP_OPTIONS: dict[str, ValueType] = {
    "interval": DURATION, "timeout": DURATION, "start-delay": DURATION,
    "on-fail": ON_FAIL, "enabled": PCMK_BOOL, "record-pending": PCMK_BOOL, "role": ROLES,
}
#: Cluster options (nvpairs of cluster_property_set), from Pacemaker's option table.
CLUSTER_OPTIONS: dict[str, ValueType] = {
    **{name: DURATION for name in (
        "dc-deadtime", "cluster-recheck-interval", "election-timeout", "shutdown-escalation",
        "join-integration-timeout", "join-finalization-timeout", "transition-delay",
        "shutdown-lock-limit", "stonith-timeout", "fencing-timeout", "priority-fencing-delay",
        "node-pending-timeout", "cluster-delay")},
    **{name: PCMK_BOOL for name in (
        "shutdown-lock", "enable-acl", "symmetric-cluster", "maintenance-mode",
        "start-failure-is-fatal", "enable-startup-probes", "fence-remote-without-quorum",
        "stonith-enabled", "fencing-enabled", "have-watchdog", "concurrent-fencing",
        "startup-fencing", "stop-all-resources", "stop-orphan-resources",
        "stop-orphan-actions")},
    **{name: INTEGER for name in (
        "node-action-limit", "batch-limit", "migration-limit", "pe-error-series-max",
        "pe-warn-series-max", "pe-input-series-max")},
    "cluster-ipc-limit": NONNEG,
    **{name: NVSCORE for name in (
        "stonith-max-attempts", "fencing-max-attempts", "node-health-base",
        "node-health-green", "node-health-yellow", "node-health-red")},
    "no-quorum-policy": ("stop", "freeze", "ignore", "demote", "fence", "suicide"),
    "stonith-action": ("reboot", "off", "poweroff"),
    "fencing-action": ("reboot", "off", "poweroff"),
    "fence-reaction": ("stop", "panic"),
    "node-health-strategy": ("none", "migrate-on-red", "only-green", "progressive", "custom"),
    "placement-strategy": ("default", "utilization", "minimal", "balanced"),
}
#: Cluster option names the 3.x schema no longer accepts, and their replacements.
LEGACY_CLUSTER_OPTIONS: dict[str, str] = {
    "cluster_recheck_interval": "cluster-recheck-interval", "dc_deadtime": "dc-deadtime",
    "default-action-timeout": "timeout in op_defaults",
    "default_action_timeout": "timeout in op_defaults",
    "default-migration-threshold": "migration-threshold in rsc_defaults",
    "default_migration_threshold": "migration-threshold in rsc_defaults",
    "default-resource-failure-stickiness": "migration-threshold in rsc_defaults",
    "default_resource_failure_stickiness": "migration-threshold in rsc_defaults",
    "default-resource-stickiness": "resource-stickiness in rsc_defaults",
    "default_resource_stickiness": "resource-stickiness in rsc_defaults",
    "election_timeout": "election-timeout", "expected-quorum-votes": "corosync's votequorum",
    "is-managed-default": "is-managed in rsc_defaults",
    "is_managed_default": "is-managed in rsc_defaults",
    "no_quorum_policy": "no-quorum-policy", "notification-agent": "alerts",
    "notification-recipient": "alerts", "remove_after_stop": "(nothing: removed)",
    "shutdown_escalation": "shutdown-escalation", "startup_fencing": "startup-fencing",
    "stonith_action": "stonith-action", "stonith_enabled": "stonith-enabled",
    "stop_orphan_actions": "stop-orphan-actions",
    "stop_orphan_resources": "stop-orphan-resources",
    "symmetric_cluster": "symmetric-cluster",
    "transition_idle_timeout": "(nothing: removed)",
}
#: Cluster stacks the 3.x schema refuses as cluster-infrastructure ("" = no value).
LEGACY_STACKS = ("", "heartbeat", "openais", "classic openais",
                 "classic openais (with plugin)", "cman")
#: Meta-attributes Pacemaker still reads but has deprecated, and what to use instead.
DEPRECATED_META: dict[str, str] = {
    "restart-type": "Pacemaker ignores it; remove it",
}


# -- reading values as Pacemaker reads them --------------------------------------------

_NCNAME = re.compile(r"[^\W\d][\w.\-]*")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_LEADING_INTEGER = re.compile(r"\s*[+-]?\d+")
_DURATION = re.compile(r"\s*(\d+)(?:\.\d*)?\s*([a-zA-Z]*)\s*")
_UNITS_MS = {"ms": 1.0, "msec": 1.0, "us": 0.001, "usec": 0.001, "s": 1000.0, "sec": 1000.0,
             "m": 60_000.0, "min": 60_000.0, "h": 3_600_000.0, "hr": 3_600_000.0, "": 1000.0}
# Pacemaker's ISO 8601 durations: P, then amounts with designators in any order, T
# switching M from months to minutes (so its P40S is 40 s, as it is in Pacemaker).
_ISO_DURATION = re.compile(r"P(?:T|\d+[YMWDHS])*\d+[YMWDHS](?:T|\d+[YMWDHS])*")
_ISO_ITEM = re.compile(r"(\d+)([YMWDHS])|T")
_ISO_SECONDS = {"Y": 365 * 86400, "W": 7 * 86400, "D": 86400, "H": 3600, "S": 1}


def duration_ms(value: str) -> int | None:
    """Milliseconds in a Pacemaker duration (``10``, ``10s``, ``500ms``, ``5min``, ``PT1M``),
    or None if Pacemaker would not read it as one.

    As Pacemaker reads it: a bare number is seconds, a fraction is cut off, units match
    by prefix (``10seconds`` is 10 s), an ISO 8601 month counts 30 days, a year 365.
    """
    if value.startswith("P"):
        if not _ISO_DURATION.fullmatch(value):
            return None
        seconds, in_time = 0, False
        for m in _ISO_ITEM.finditer(value):
            if m.group(0) == "T":
                in_time = True
                continue
            n, unit = int(m.group(1)), m.group(2)
            if unit == "M":
                seconds += n * (60 if in_time else 30 * 86400)
            else:
                seconds += n * _ISO_SECONDS[unit]
        return seconds * 1000
    plain = _DURATION.fullmatch(value)
    if plain is None:
        return None
    unit = _unit(plain.group(2))
    return None if unit is None else int(int(plain.group(1)) * _UNITS_MS[unit])


def _unit(text: str) -> str | None:
    """The unit Pacemaker reads ``text`` as (it matches by prefix), or None."""
    low = text.lower()
    if low in _UNITS_MS:
        return low
    for prefix in ("s", "ms", "us", "m", "h"):
        if low.startswith(prefix):
            return prefix
    return None


def is_pcmk_true(value: str | None) -> bool:
    """Pacemaker's reading of a boolean: true, on, yes, y, 1 (any case)."""
    return value is not None and value.strip().lower() in PCMK_TRUE


def value_problem(vtype: ValueType, value: str, *, nvpair: bool = False,
                  ) -> tuple[Severity, str] | None:
    """What is wrong with ``value`` as a ``vtype`` (severity, message), or None.

    ``nvpair``: the value is an nvpair's, whose enumerations Pacemaker compares
    without regard to case (XML attributes are checked as the schema does, exactly).
    """
    got = f"got '{value}'"
    if isinstance(vtype, tuple):
        if value in vtype or (nvpair and value.lower() in (v.lower() for v in vtype)):
            return None
        return "error", f"expected one of {', '.join(vtype)}, {got}"
    if vtype in (ID, IDREF):
        if _NCNAME.fullmatch(value):
            return None
        return "error", ("expected an id (a letter or '_', then letters, digits, '-', '.' "
                         f"or '_'), {got}")
    if vtype in (SCORE, NVSCORE):
        return _score_problem(vtype, value)
    if vtype in (INTEGER, NONNEG, POSITIVE, PORT):
        n = int(value) if _INTEGER.fullmatch(value) else None
        low = {INTEGER: None, NONNEG: 0, POSITIVE: 1, PORT: 0}[vtype]
        if n is not None and (low is None or n >= low) and (vtype != PORT or n <= 65535):
            return None
        what = "a port (0-65535)" if vtype == PORT else "an integer" if low is None \
            else f"a {vtype}"
        return "error", f"expected {what}, {got}"
    if vtype == XSD_BOOL and value.strip() not in XSD_TRUE_FALSE:
        return "error", f"expected true, false, 1 or 0, {got}"
    if vtype == PCMK_BOOL and value.strip().lower() not in PCMK_TRUE + PCMK_FALSE:
        return "error", f"expected a boolean (true/false, yes/no, on/off, y/n, 1/0), {got}"
    if vtype == DURATION:
        return _duration_problem(value)
    return None


def _score_problem(vtype: ValueType, value: str) -> tuple[Severity, str] | None:
    if value in ("INFINITY", "+INFINITY", "-INFINITY") or _INTEGER.fullmatch(value):
        return None
    if vtype == NVSCORE:
        if value.lower() in ("red", "yellow", "green"):  # node-health aliases
            return None
        lead = _LEADING_INTEGER.match(value)
        if lead:  # Pacemaker reads the integer and ignores what follows
            return "warning", f"read as the score {int(lead.group(0))}, got '{value}'"
    return "error", ("expected a score (an integer, INFINITY, +INFINITY or -INFINITY), "
                     f"got '{value}'")


def _duration_problem(value: str) -> tuple[Severity, str] | None:
    if duration_ms(value) is None:
        return "error", ("expected a duration (a number of seconds, a number with unit "
                         f"ms, us, s, m or h, or ISO 8601 such as PT30S), got '{value}'")
    m = _DURATION.fullmatch(value)
    if m is not None and m.group(2).lower() not in _UNITS_MS:
        return "warning", (f"unit '{m.group(2)}' is read by its prefix as "
                           f"'{_unit(m.group(2))}'; write ms, us, s, m, min, h or hr")
    return None
