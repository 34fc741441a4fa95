"""Configuration changes from operation digests: restart, reload, or nothing.

The history of an operation records MD5 digests of the parameters it ran with
(``op-digest``; with ``op-restart-digest`` those of the parameters that cannot be
reloaded, named by ``op-force-restart``, when the agent can reload). Pacemaker's
rules, for a resource active on an available node, over the operations since its
last start (start, migrate_from, probe found running, promote — and every
recurring one still configured):

- the parameters are the resource's, plus the operation's own, plus for a recurring
  operation ``CRM_meta_timeout`` (its timeout in ms); the digest is that of
  ``<parameters …/>`` with the names sorted;
- the non-reloadable digest differs: restart (for a one-off operation);
- otherwise, no digest recorded, or the full digest differs: a recurring operation
  is only rescheduled; a one-off one with operation parameters of its own restarts;
  else the resource is reloaded if its agent can (a restart digest was recorded),
  and restarted if not. Restarts are "due to resource definition change";
- a full digest that differs only in secrets (``op-secure-digest`` still matches)
  is no change: simulations read CIBs whose secrets were masked.
"""

from __future__ import annotations

import hashlib

from lxml import etree

from ha.cib.schema_data import duration_ms
from ha.cib.versions import _escape_attribute
from ha.scheduler.model import Op, Resource

DEFAULT_TIMEOUT_MS = 20000


def params_digest(params: dict[str, str]) -> str:
    """Pacemaker's operation digest: md5 of the sorted parameters as one XML element."""
    body = "".join(f' {k}="{_escape_attribute(v)}"' for k, v in sorted(params.items()))
    return hashlib.md5(f" <parameters{body}/>\n".encode()).hexdigest()


def _configured(rsc: Resource, task: str, interval_ms: int) -> Op | None:
    return next((o for o in rsc.ops if o.name == task and o.interval_ms == interval_ms), None)


def _int(text: str | None) -> int:
    try:
        return int(text) if text is not None else 0
    except ValueError:
        return 0


def op_params(rsc: Resource, task: str, interval_ms: int,
              op_defaults: dict[str, str]) -> tuple[dict[str, str], bool]:
    """The parameters an operation's digest covers, and whether it has its own."""
    params = dict(rsc.params)
    cfg = _configured(rsc, task, interval_ms)
    own = bool(cfg and cfg.params)
    if cfg is not None:
        params.update(cfg.params)
    if interval_ms:
        timeout = cfg.timeout_ms if cfg is not None and cfg.timeout_ms is not None else None
        if timeout is None:
            text = op_defaults.get("timeout")
            timeout = duration_ms(text) if text else None
        params["CRM_meta_timeout"] = str(timeout if timeout is not None else DEFAULT_TIMEOUT_MS)
    return params, own


def _since_start(ops: list[etree._Element]) -> list[etree._Element]:
    """The operations from the last start-like one on ([] if stopped since)."""
    ordered = sorted(ops, key=lambda o: _int(o.get("call-id")))
    start = stop = implied_monitor = implied_clone = -1
    for i, op in enumerate(ordered):
        task = op.get("operation")
        if task == "stop" and op.get("op-status", "0") == "0":
            stop = i
        elif task in ("start", "migrate_from"):
            start = i
        elif task == "monitor" and implied_monitor <= stop:
            if op.get("rc-code") in ("0", "8"):
                implied_monitor = i
        elif task in ("promote", "demote"):
            implied_clone = i
    if start == -1:
        start = implied_clone if implied_clone != -1 else implied_monitor
    if start < stop:
        return []
    return ordered[max(start, 0):]


def _version(text: str | None) -> tuple[int, ...]:
    return tuple(_int(p) for p in (text or "0").split("."))


def only_secrets_differ(rsc: Resource, op: etree._Element, params: dict[str, str]) -> bool:
    """The full digest differs but the one without secrets (``op-secure-digest``, over
    the parameters less those ``op-secure-params`` names) matches: in a CIB whose
    secrets were masked, as simulations read, nothing changed. Histories from before
    feature set 3.16.0 left out the timeout and, for fencing devices, the ``pcmk_*``
    parameters."""
    recorded = op.get("op-secure-digest")
    if recorded is None:
        return False
    hidden = set((op.get("op-secure-params") or "").split())
    kept = {k: v for k, v in params.items() if k not in hidden}
    if _version(op.get("crm_feature_set")) < (3, 16, 0):
        kept.pop("CRM_meta_timeout", None)
        if rsc.cls == "stonith":
            kept = {k: v for k, v in kept.items() if not k.startswith("pcmk_")}
    return params_digest(kept) == recorded


def config_change(rsc: Resource, ops: list[etree._Element],
                  op_defaults: dict[str, str], masked: bool = True) -> str | None:
    """"restart", "reload" or None for a resource active where ``ops`` ran;
    ``masked``: the CIB's secrets may be masked (a simulation), so a change only in
    them is none."""
    change: str | None = None
    for op in _since_start(ops):
        task = op.get("operation", "")
        interval = _int(op.get("interval"))
        if not interval and task not in ("monitor", "start", "promote", "migrate_from"):
            continue
        if interval and _configured(rsc, task, interval) is None:
            continue  # an orphaned recurring operation is cancelled
        params, own = op_params(rsc, task, interval, op_defaults)
        restart_digest = op.get("op-restart-digest")
        if restart_digest is not None:
            only = op.get("op-force-restart")
            kept = params if only is None else {
                k: v for k, v in params.items() if f" {k} " in only}
            if params_digest(kept) != restart_digest:
                if not interval:
                    return "restart"
                continue
        recorded = op.get("op-digest")
        if recorded is not None and recorded == params_digest(params):
            continue
        if masked and only_secrets_differ(rsc, op, params):
            continue
        if interval:
            continue  # rescheduled with the new parameters
        if own and recorded is not None:
            return "restart"
        change = "reload" if restart_digest is not None else "restart"
        if change == "restart":
            return change
    return change
