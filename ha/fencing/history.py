"""Fencing history: every fencing operation the cluster has seen, the same on every node.

Each node's fencer multicasts its requests and results in process group ``fencer``;
every node applies them in the agreed order, so every node holds the same list. A node
that joins receives the history of the nodes already there (one of them sends it) and
merges it: an operation it does not know is added, a pending one it knows takes the
final state. The list is ordered by the time the operation was requested, then by its
id, so the merged list is the same whatever order copies arrived in.

States, as ``stonith_admin --history`` names them: ``pending``, ``done`` (shown as
successful), ``failed``; an identical request made while one is pending is merged into
it (``merged_into``) and ends with the same state.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

STATES = ("pending", "done", "failed")
MAX_HISTORY = 500            # Pacemaker trims its fencing history at about this size
ACTIONS = ("reboot", "off", "on")


class HistoryError(ValueError):
    """A history record from a peer was not what the protocol says; names the field."""


@dataclass
class FenceOp:
    id: str
    target: str
    action: str
    origin: str                       # node name of the requesting fencer
    client: str
    created: float
    state: str = "pending"
    delegate: str | None = None       # node name that ran the device(s)
    completed: float | None = None
    reason: str = ""
    merged_into: str | None = None
    devices: list[str] = field(default_factory=list)
    exit: int = 0                     # stonith_admin's exit code for this result

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "action": self.action,
                "origin": self.origin, "client": self.client, "created": self.created,
                "state": self.state, "delegate": self.delegate, "completed": self.completed,
                "reason": self.reason, "merged_into": self.merged_into,
                "devices": list(self.devices), "exit": self.exit}


def _field(d: dict[str, Any], name: str, types: type | tuple[type, ...], optional: bool = False) -> Any:
    if name not in d or d[name] is None:
        if optional:
            return None
        raise HistoryError(f"fencing record: missing '{name}'")
    v = d[name]
    if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise HistoryError(f"fencing record: '{name}' has the wrong type")
    if not isinstance(v, types):
        raise HistoryError(f"fencing record: '{name}' has the wrong type "
                           f"({type(v).__name__})")
    return v


def op_from_json(d: Any) -> FenceOp:
    """A FenceOp from a peer's record; HistoryError naming the bad field."""
    if not isinstance(d, dict):
        raise HistoryError("fencing record: expected an object")
    op = FenceOp(
        id=_field(d, "id", str), target=_field(d, "target", str),
        action=_field(d, "action", str), origin=_field(d, "origin", str),
        client=_field(d, "client", str), created=float(_field(d, "created", (int, float))),
        state=_field(d, "state", str), delegate=_field(d, "delegate", str, True),
        completed=_field(d, "completed", (int, float), True),
        reason=_field(d, "reason", str, True) or "",
        merged_into=_field(d, "merged_into", str, True),
        devices=list(_field(d, "devices", list, True) or []),
        exit=int(_field(d, "exit", int, True) or 0))
    if not math.isfinite(op.created) or (op.completed is not None
                                         and not math.isfinite(op.completed)):
        raise HistoryError("fencing record: times must be finite numbers")
    if op.state not in STATES:
        raise HistoryError(f"fencing record: state '{op.state}' (expected {', '.join(STATES)})")
    if op.action not in ACTIONS:
        raise HistoryError(f"fencing record: action '{op.action}'")
    if not all(isinstance(x, str) for x in op.devices):
        raise HistoryError("fencing record: 'devices' must hold names")
    return op


class History:
    """The fencing history of the cluster as this node knows it."""

    def __init__(self) -> None:
        self.ops: dict[str, FenceOp] = {}

    def add(self, op: FenceOp) -> None:
        self.ops[op.id] = op
        self._trim()

    def get(self, op_id: str) -> FenceOp | None:
        return self.ops.get(op_id)

    def pending_like(self, target: str, action: str) -> FenceOp | None:
        """A pending, not merged operation of the same target and action."""
        return next((o for o in self.ordered() if o.state == "pending" and o.merged_into is None
                     and o.target == target and o.action == action), None)

    def merge(self, incoming: list[FenceOp]) -> int:
        """Merge a peer's history; returns how many records changed ours."""
        changed = 0
        for op in incoming:
            mine = self.ops.get(op.id)
            if mine is None or (mine.state == "pending" and op.state != "pending"):
                self.ops[op.id] = op
                changed += 1
        self._trim()
        return changed

    def ordered(self, target: str | None = None) -> list[FenceOp]:
        ops = sorted(self.ops.values(), key=lambda o: (o.created, o.id))
        return [o for o in ops if target is None or o.target == target]

    def _trim(self) -> None:
        if len(self.ops) <= MAX_HISTORY:
            return
        for op in self.ordered():
            if len(self.ops) <= MAX_HISTORY:
                break
            if op.state != "pending":
                del self.ops[op.id]


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f +00:00")


def describe(op: FenceOp) -> str:
    """One line as ``stonith_admin --history`` prints an event."""
    if op.state == "pending":
        return f"{op.action} of {op.target} pending: client={op.client}, origin={op.origin}"
    word = "successful" if op.state == "done" else "failed"
    when_key = "completed" if op.state == "done" else "last-failed"
    parts = [f"delegate={op.delegate}"] if op.delegate else []
    parts += [f"client={op.client}", f"origin={op.origin}"]
    if op.completed is not None:
        parts.append(f"{when_key}='{_when(op.completed)}'")
    line = f"{op.action} of {op.target} {word}: " + ", ".join(parts)
    if op.merged_into:
        line += f" (merged with {op.merged_into})"
    if op.state == "failed" and op.reason:
        line += f" ({op.reason})"
    return line
