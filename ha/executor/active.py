"""The node's local resource view: what its executor has brought up, and how to stop it.

What pacemaker-controld's LRM keeps for a node, reduced to what self-fencing needs:
the resources this node's executor has brought up — a successful ``start``,
``migrate_from`` or ``promote`` — in the order they came up (a restart moves one to the
end), each with what is needed to stop it again (agent, instance and meta attributes,
the configured stop and demote timeouts). A successful ``stop`` or ``migrate_to``
removes it; a ``demote`` returns it to Started. A failed or timed-out stop leaves it
listed: it may still run.

Sans-IO, shared by both hosts of the executor (the daemon's
``ha.runtime.executorservice`` and the simulator's ``ha.sim.executor``): they tell it
what they submitted and what came back, with ``now`` from their own clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ha.executor.agent import ResourceAgent
from ha.executor.codes import ExecStatus
from ha.executor.events import ActionResult, Request

BRING_UP = {"start": "Started", "migrate_from": "Started", "promote": "Promoted"}
TAKE_DOWN = ("stop", "migrate_to")


@dataclass
class ActiveResource:
    """A resource this node's executor has brought up, and how to stop it again."""

    rsc_id: str
    agent: ResourceAgent
    params: Mapping[str, str]
    meta: Mapping[str, str]
    stop_timeout_ms: int
    demote_timeout_ms: int
    role: str                       # Started or Promoted
    since: float                    # the host's time of the action that brought it up
    call_id: int

    def stop_steps(self) -> list[Request]:
        """The requests that take it down: demote first when Promoted (Pacemaker
        orders demote before stop), then stop, each with its configured timeout."""
        steps = [("demote", self.demote_timeout_ms)] if self.role == "Promoted" else []
        return [Request(self.rsc_id, self.agent, action, timeout_ms=timeout,
                        params=self.params, meta=self.meta)
                for action, timeout in [*steps, ("stop", self.stop_timeout_ms)]]

    def to_dict(self) -> dict[str, Any]:
        return {"rsc": self.rsc_id, "agent": str(self.agent), "role": self.role,
                "since": round(self.since, 3), "call_id": self.call_id,
                "stop_timeout_ms": self.stop_timeout_ms}


@dataclass(frozen=True)
class _Submitted:
    req: Request
    stop_timeout_ms: int
    demote_timeout_ms: int


class LocalResourceView:
    """The active resources of one node, in the order they came up (see module)."""

    def __init__(self) -> None:
        self.active: dict[str, ActiveResource] = {}
        self._submitted: dict[int, _Submitted] = {}

    def submitted(self, call_id: int, req: Request, stop_timeout_ms: int | None = None,
                  demote_timeout_ms: int | None = None) -> None:
        """``req`` was queued as ``call_id``; the stop and demote timeouts default to
        its own timeout."""
        if req.interval_ms == 0 and (req.action in BRING_UP or req.action in TAKE_DOWN
                                     or req.action == "demote"):
            self._submitted[call_id] = _Submitted(req, stop_timeout_ms or req.timeout_ms,
                                                  demote_timeout_ms or req.timeout_ms)

    def record(self, res: ActionResult, now: float) -> None:
        """Fold one result in: only successful one-shot actions change the view."""
        sub = self._submitted.pop(res.call_id, None)
        if sub is None or res.status != ExecStatus.DONE or res.rc != 0:
            return
        req = sub.req
        if req.action in TAKE_DOWN:
            self.active.pop(req.rsc_id, None)
        elif req.action == "demote":
            if req.rsc_id in self.active:
                self.active[req.rsc_id].role = "Started"
        elif req.action == "promote" and req.rsc_id in self.active:
            self.active[req.rsc_id].role = "Promoted"
        else:
            self.active.pop(req.rsc_id, None)             # a restart counts from now
            self.active[req.rsc_id] = ActiveResource(
                req.rsc_id, req.agent, dict(req.params), dict(req.meta), sub.stop_timeout_ms,
                sub.demote_timeout_ms, BRING_UP[req.action], now, res.call_id)

    def stop_order(self) -> list[ActiveResource]:
        """Last started first: the order self-fencing stops them in."""
        return list(reversed(self.active.values()))

    def clear(self) -> None:
        """The node lost power: nothing runs, nothing is pending."""
        self.active.clear()
        self._submitted.clear()
