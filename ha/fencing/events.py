"""What goes into the fencer core and what comes out of it (frozen dataclasses).

Events carry ``now``: wall-clock seconds (the fencing history shows when an operation
was requested and completed, so the runtime passes ``time.time()``; the simulator its
virtual clock). Timers are absolute times on that same clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

# ---- events -------------------------------------------------------------------------


@dataclass(frozen=True)
class FenceRequest:
    """A local client asks to fence ``target`` (stonith_admin --fence/--reboot/--unfence)."""

    now: float
    client_id: str
    target: str
    action: str = "reboot"
    client_name: str = "ha-stonith"
    timeout_s: float | None = None       # the client's wait; None: from stonith-timeout


@dataclass(frozen=True)
class AgentFinished:
    """An agent the core asked to run (``RunAgent``) has ended."""

    now: float
    call_id: int
    rc: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False


@dataclass(frozen=True)
class TimerFired:
    now: float
    timer_id: str


@dataclass(frozen=True)
class GroupDelivered:
    """A message of process group ``fencer``, in agreed order (our own ones too)."""

    now: float
    sender: int
    payload: bytes


@dataclass(frozen=True)
class MembershipChanged:
    """The view of process group ``fencer`` changed."""

    now: float
    members: tuple[int, ...]
    joined: tuple[int, ...] = ()
    left: tuple[int, ...] = ()


@dataclass(frozen=True)
class QuorumChanged:
    now: float
    quorate: bool


@dataclass(frozen=True)
class ConfigChanged:
    """A new CIB (the configuration is read from it: devices, levels, properties)."""

    now: float
    cib: etree._Element = field(compare=False)


Event = (FenceRequest | AgentFinished | TimerFired | GroupDelivered | MembershipChanged
         | QuorumChanged | ConfigChanged)

# ---- effects ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunAgent:
    """Run ``agent`` once (``ha.runtime.fence_runner.run_fence_agent``); report with
    ``AgentFinished(call_id=…)``."""

    call_id: int
    device: str
    agent: str
    params: dict[str, str]
    action: str
    target: str | None
    timeout_s: float
    host_arg: str | None


@dataclass(frozen=True)
class SetTimer:
    timer_id: str
    at: float


@dataclass(frozen=True)
class CancelTimer:
    timer_id: str


@dataclass(frozen=True)
class SendGroup:
    """Multicast ``payload`` to process group ``fencer`` (agreed order)."""

    payload: bytes


@dataclass(frozen=True)
class ReplyClient:
    client_id: str
    reply: dict[str, Any]


@dataclass(frozen=True)
class Trace:
    event: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class SelfFence:
    """no-quorum-policy=suicide and quorum was lost: stop the resources, then exit."""

    reason: str


Effect = RunAgent | SetTimer | CancelTimer | SendGroup | ReplyClient | Trace | SelfFence
