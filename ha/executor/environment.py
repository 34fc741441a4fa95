"""The command line and environment of one agent action, as Pacemaker builds them.

An OCF agent is run as ``PATH ACTION`` with:

- ``OCF_RA_VERSION_MAJOR``/``MINOR`` (1, 1), ``OCF_ROOT``, ``OCF_EXIT_REASON_PREFIX``
  (``ocf-exit-reason:``), ``OCF_RESOURCE_INSTANCE`` (the resource id, with its clone
  instance number for a unique clone), ``OCF_RESOURCE_TYPE``, ``OCF_RESOURCE_PROVIDER``;
- each instance attribute as ``OCF_RESKEY_<name>`` (``OCF_CHECK_LEVEL``, an operation
  attribute, stays as it is);
- each meta key as ``OCF_RESKEY_CRM_meta_<key>``, dashes made underscores
  (``crm_meta_name``): always ``interval`` and ``timeout`` in milliseconds and ``name``
  (the operation); ``on_node`` and ``on_node_uuid`` when the node is known; the clone
  keys (``clone``, ``clone_max``, ``clone_node_max``, ``globally_unique``, ``notify``,
  ``promotable``, ``promoted_max``, ``promoted_node_max`` and the older ``master_*``
  names), for ``notify`` the ``notify_*`` keys built by :func:`notify_meta`, and for
  a migration ``migrate_source``/``migrate_target`` (:func:`migrate_meta`);
- ``OCF_TRACE_RA`` (and ``OCF_RESKEY_trace_dir`` or ``OCF_TRACE_FILE``) when tracing is
  asked for: resource-agents' ocf-shellfuncs then writes the shell trace of the run to
  ``<trace_dir>/<type>/<instance>.<action>.<timestamp>``.

An LSB init script is run as ``PATH ACTION`` (``monitor`` becomes ``status``) with no
parameters at all: init scripts take none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ha.executor.agent import ResourceAgent

OCF_ROOT = "/usr/lib/ocf"
OCF_REASON_PREFIX = "ocf-exit-reason:"
OCF_RA_VERSION = ("1", "1")
DEFAULT_TIMEOUT_MS = 20_000        # PCMK_DEFAULT_ACTION_TIMEOUT_MS


@dataclass(frozen=True)
class TraceOptions:
    """OCF_TRACE_RA: ask agents built on ocf-shellfuncs to trace themselves.

    ``trace_dir`` becomes ``OCF_RESKEY_trace_dir`` (the directory under which
    resource-agents writes ``<type>/<instance>.<action>.<timestamp>``); ``trace_file``
    becomes ``OCF_TRACE_FILE`` (an absolute path, or a file descriptor number)."""

    enabled: bool = False
    trace_dir: str | None = None
    trace_file: str | None = None


NO_TRACE = TraceOptions()


def meta_key(name: str) -> str:
    """A meta attribute's agent variable suffix (Pacemaker's ``crm_meta_name``)."""
    return "CRM_meta_" + name.replace("-", "_")


def action_argv(agent: ResourceAgent, path: str, action: str) -> tuple[str, ...]:
    if agent.standard == "lsb" and action == "monitor":
        return (path, "status")
    return (path, action)


def ocf_environment(agent: ResourceAgent, instance: str, action: str, *,
                    params: Mapping[str, str], meta: Mapping[str, str],
                    interval_ms: int, timeout_ms: int,
                    node: str | None = None, node_uuid: str | None = None,
                    ocf_root: str = OCF_ROOT,
                    trace: TraceOptions = NO_TRACE) -> dict[str, str]:
    """The variables an OCF agent gets for ``action`` on resource ``instance``."""
    env = {
        "OCF_RA_VERSION_MAJOR": OCF_RA_VERSION[0],
        "OCF_RA_VERSION_MINOR": OCF_RA_VERSION[1],
        "OCF_ROOT": ocf_root,
        "OCF_EXIT_REASON_PREFIX": OCF_REASON_PREFIX,
        "OCF_RESOURCE_INSTANCE": instance,
        "OCF_RESOURCE_TYPE": agent.type,
    }
    if agent.provider:
        env["OCF_RESOURCE_PROVIDER"] = agent.provider
    for name, value in params.items():
        if name == "OCF_CHECK_LEVEL":
            env[name] = str(value)
        else:
            env[f"OCF_RESKEY_{name}"] = str(value)
    crm_meta: dict[str, str] = {k: str(v) for k, v in meta.items()}
    # the operation's own keys win over anything of the same name in the meta set
    crm_meta.update({"name": action, "interval": str(interval_ms), "timeout": str(timeout_ms)})
    if node is not None:
        crm_meta.setdefault("on_node", node)
    if node_uuid is not None:
        crm_meta.setdefault("on_node_uuid", node_uuid)
    for key, value in crm_meta.items():
        env["OCF_RESKEY_" + meta_key(key)] = value
    if trace.enabled:
        env["OCF_TRACE_RA"] = "1"
        if trace.trace_dir:
            env["OCF_RESKEY_trace_dir"] = trace.trace_dir
        if trace.trace_file:
            env["OCF_TRACE_FILE"] = trace.trace_file
    return env


def clone_meta(*, instance: int, clone_max: int, clone_node_max: int = 1,
               globally_unique: bool = False, notify: bool = False,
               promotable: bool = False, promoted_max: int = 1,
               promoted_node_max: int = 1) -> dict[str, str]:
    """The meta keys Pacemaker gives each action of a clone instance (and, for a
    promotable clone, both the current ``promoted_*`` and the older ``master_*``
    names, since agents in the field read either)."""
    meta = {"clone": str(instance), "clone_max": str(clone_max),
            "clone_node_max": str(clone_node_max),
            "globally_unique": "true" if globally_unique else "false",
            "notify": "true" if notify else "false"}
    if promotable:
        meta.update({"promotable": "true", "promoted_max": str(promoted_max),
                     "promoted_node_max": str(promoted_node_max),
                     "master_max": str(promoted_max),
                     "master_node_max": str(promoted_node_max)})
    return meta


def migrate_meta(source: str, target: str) -> dict[str, str]:
    """The meta keys of ``migrate_to``/``migrate_from``: the node migrated from and to."""
    return {"migrate_source": source, "migrate_target": target}


NOTIFY_TYPES = ("pre", "post")
NOTIFY_OPERATIONS = ("start", "stop", "promote", "demote")
# notify_<set>_resource / notify_<set>_uname pairs, with the older names Pacemaker
# still sets beside promoted/unpromoted
NOTIFY_SETS = ("start", "stop", "promote", "demote", "active", "inactive", "promoted",
               "unpromoted", "master", "slave")


def notify_meta(notify_type: str, operation: str,
                sets: Mapping[str, Iterable[tuple[str, str]]] | None = None,
                *, all_unames: Iterable[str] = (), available_unames: Iterable[str] = (),
                all_hosts: Iterable[str] = ()) -> dict[str, str]:
    """The ``notify_*`` meta keys of a clone notification, as Pacemaker builds them:
    ``notify_type`` (pre/post), ``notify_operation`` and, for each set (start, stop,
    promote, demote, active, inactive, promoted, unpromoted), space-separated lists of
    instance names (``notify_<set>_resource``) and node names (``notify_<set>_uname``)
    from ``(instance, node)`` pairs. The promoted/unpromoted sets are also given under
    their older names master/slave."""
    if notify_type not in NOTIFY_TYPES:
        raise ValueError(f"notify type {notify_type!r}: expected one of {NOTIFY_TYPES}")
    if operation not in NOTIFY_OPERATIONS:
        raise ValueError(f"notify operation {operation!r}: expected one of {NOTIFY_OPERATIONS}")
    given = {k: list(v) for k, v in (sets or {}).items()}
    unknown = set(given) - set(NOTIFY_SETS)
    if unknown:
        raise ValueError(f"unknown notify set(s) {sorted(unknown)}: expected {NOTIFY_SETS}")
    for new, old in (("promoted", "master"), ("unpromoted", "slave")):
        if new in given and old not in given:
            given[old] = given[new]
        elif old in given and new not in given:
            given[new] = given[old]
    meta = {"notify_type": notify_type, "notify_operation": operation,
            "notify_key_type": notify_type, "notify_key_operation": operation}
    for name in NOTIFY_SETS:
        pairs = given.get(name, [])
        meta[f"notify_{name}_resource"] = " ".join(r for r, _ in pairs)
        meta[f"notify_{name}_uname"] = " ".join(n for _, n in pairs)
    del meta["notify_inactive_uname"]          # Pacemaker gives only the resources
    meta["notify_all_uname"] = " ".join(all_unames)
    meta["notify_available_uname"] = " ".join(available_unames)
    if all_hosts:
        meta["notify_all_hosts"] = " ".join(all_hosts)
    return meta
