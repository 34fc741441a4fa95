"""The fencer's messages in process group ``fencer`` (JSON objects, one per message).

- ``{"t": "request", "id", "target", "action", "client", "created"}`` — a node asks
  the cluster to fence ``target``; every node records it, the one chosen carries it out;
- ``{"t": "result", "id", "state", "delegate", "completed", "reason", "devices",
  "exit"}`` — the node that carried it out tells how it ended;
- ``{"t": "history", "ops": [...]}`` — a node's whole history, sent to nodes that join.

Anything else — not JSON, a field missing or of the wrong type, an unknown kind — is
refused with MessageError naming what was wrong; the core drops and counts it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ha.fencing.history import ACTIONS, FenceOp, HistoryError, op_from_json

MAX_MESSAGE = 4 << 20
KINDS = ("request", "result", "history")


class MessageError(ValueError):
    """A peer's message was malformed (a RemoteProtocolError in h11's terms)."""


def encode(kind: str, **fields: Any) -> bytes:
    return json.dumps({"t": kind, **fields}, separators=(",", ":"), sort_keys=True).encode()


def _str(d: dict[str, Any], name: str) -> str:
    v = d.get(name)
    if not isinstance(v, str) or not v or not v.isprintable():
        raise MessageError(f"fencer message: '{name}' must be a one-line, non-empty string")
    return v


def _num(d: dict[str, Any], name: str) -> float:
    v = d.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise MessageError(f"fencer message: '{name}' must be a finite number")
    return float(v)


def decode(payload: bytes) -> dict[str, Any]:
    """A checked message (see the module docstring); MessageError if it is not one."""
    if len(payload) > MAX_MESSAGE:
        raise MessageError(f"fencer message: {len(payload)} bytes (at most {MAX_MESSAGE})")
    try:
        d = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise MessageError(f"fencer message: not JSON ({e})") from None
    if not isinstance(d, dict) or d.get("t") not in KINDS:
        raise MessageError(f"fencer message: expected an object with t in {', '.join(KINDS)}")
    kind = d["t"]
    if kind == "request":
        _str(d, "id"), _str(d, "target"), _str(d, "client"), _num(d, "created")
        if d.get("action") not in ACTIONS:
            raise MessageError(f"fencer message: action {d.get('action')!r} (expected "
                               f"{', '.join(ACTIONS)})")
    elif kind == "result":
        _str(d, "id"), _num(d, "completed")
        if d.get("state") not in ("done", "failed"):
            raise MessageError("fencer message: result state must be done or failed")
        if d.get("delegate") is not None:
            _str(d, "delegate")
        if not isinstance(d.get("reason", ""), str):
            raise MessageError("fencer message: 'reason' must be a string")
        devices = d.get("devices", [])
        if not isinstance(devices, list) or not all(isinstance(x, str) for x in devices):
            raise MessageError("fencer message: 'devices' must be a list of names")
        if isinstance(d.get("exit", 0), bool) or not isinstance(d.get("exit", 0), int):
            raise MessageError("fencer message: 'exit' must be an integer")
    else:
        ops = d.get("ops")
        if not isinstance(ops, list):
            raise MessageError("fencer message: history 'ops' must be a list")
        try:
            d["ops"] = [op_from_json(o) for o in ops]
        except HistoryError as e:
            raise MessageError(str(e)) from None
    return d


def history_message(ops: list[FenceOp]) -> bytes:
    return encode("history", ops=[o.as_json() for o in ops])
