"""What goes into the executor core and what comes out of it.

Events (in): :class:`Request` (run an action), :class:`AgentExited` (the agent process
ended, with its exit code and output), :class:`AgentFailedToRun` (it could not be
started at all), :class:`CancelRecurring`. Time passes through ``Executor.tick(now)``.

Effects (out): :class:`RunAgent` (spawn this argv with this environment in a new
session, i.e. its own process group), :class:`KillAgent` (signal that call's whole
process group), :class:`ActionResult` (an action finished: rc and execution status,
as Pacemaker's executor reports it to the controller) and :class:`Trace`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ha.executor.agent import ResourceAgent
from ha.executor.codes import exec_status_name, rc_name
from ha.executor.environment import DEFAULT_TIMEOUT_MS


class ExecutorError(ValueError):
    """A caller asked for something the executor cannot do (a bad request)."""


@dataclass(frozen=True)
class Request:
    """Run ``action`` of resource ``rsc_id`` (with agent ``agent``).

    ``params`` are the instance attributes; ``meta`` the meta keys without their
    ``CRM_meta_`` prefix (``clone_max``, ``notify_type``, ...). A ``monitor`` with
    ``interval_ms`` > 0 is recurring: it runs after ``start_delay_ms``, then again
    ``interval_ms`` after each result, until cancelled or the resource is stopped. A
    ``monitor`` with interval 0 is a probe."""

    rsc_id: str
    agent: ResourceAgent
    action: str
    interval_ms: int = 0
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    start_delay_ms: int = 0
    params: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)
    user_data: str = ""          # opaque to the executor, returned with each result

    @property
    def key(self) -> str:
        """Pacemaker's operation key: ``RSC_ACTION_INTERVAL``."""
        return f"{self.rsc_id}_{self.action}_{self.interval_ms}"


@dataclass(frozen=True)
class AgentExited:
    call_id: int
    exit_code: int               # negative: killed by that signal
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class AgentFailedToRun:
    """The agent could not be executed (missing, not executable, fork failed)."""

    call_id: int
    reason: str
    missing: bool = False        # the file is absent or not executable: not installed


@dataclass(frozen=True)
class CancelRecurring:
    rsc_id: str
    action: str
    interval_ms: int


Event = Request | AgentExited | AgentFailedToRun | CancelRecurring


@dataclass(frozen=True)
class RunAgent:
    call_id: int
    rsc_id: str
    action: str
    argv: tuple[str, ...]
    env: Mapping[str, str]       # the agent's own variables; the runner adds PATH etc.
    timeout_ms: int


@dataclass(frozen=True)
class KillAgent:
    call_id: int
    signal: str                  # "SIGTERM" then "SIGKILL", to the whole process group


@dataclass(frozen=True)
class ActionResult:
    call_id: int
    rsc_id: str
    action: str
    interval_ms: int
    rc: int                      # OCF exit code (LSB codes already mapped)
    status: int                  # execution status (op-status), ExecStatus
    exit_reason: str = ""
    stdout: str = ""
    stderr: str = ""
    queued_at: float = 0.0       # times in the caller's clock, seconds
    started_at: float = 0.0
    finished_at: float = 0.0
    rc_changed: bool = True      # a recurring monitor's rc differs from its last
    user_data: str = ""

    @property
    def rc_name(self) -> str:
        return rc_name(self.rc)

    @property
    def status_name(self) -> str:
        return exec_status_name(self.status)

    @property
    def exec_ms(self) -> int:
        return round((self.finished_at - self.started_at) * 1000)

    @property
    def queue_ms(self) -> int:
        return round((self.started_at - self.queued_at) * 1000)

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "rsc": self.rsc_id, "action": self.action,
                "interval_ms": self.interval_ms, "rc": self.rc, "rc_name": self.rc_name,
                "status": self.status, "status_name": self.status_name,
                "exit_reason": self.exit_reason, "exec_ms": self.exec_ms,
                "queue_ms": self.queue_ms, "stdout": self.stdout, "stderr": self.stderr}


@dataclass(frozen=True)
class Trace:
    event: str
    fields: dict[str, Any] = field(default_factory=dict)


Effect = RunAgent | KillAgent | ActionResult | Trace
