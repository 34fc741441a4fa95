"""Simulated resource agents: a deterministic model of OCF (and LSB) agents.

The executor core (``ha.executor.Executor``) asks for agents to be run (``RunAgent``)
and killed (``KillAgent``); in the simulator nothing is spawned: :class:`SimAgents`
answers each run from a model of the resource it acts on. Each resource is
``stopped``, ``started`` or ``promoted`` (the roles of the OCF API), and an action
returns what a well-behaved agent returns (OCF resource-agent API 1.1):

- ``start`` → started, 0; ``stop`` → stopped, 0 (stopping a stopped resource is a
  success, as the API requires);
- ``monitor`` → 0 running, 7 (OCF_NOT_RUNNING) stopped, 8 (OCF_RUNNING_PROMOTED)
  promoted; an LSB ``status`` → 0 running, 3 stopped (the core maps LSB codes);
- ``promote`` → promoted, 0 (7 when not running); ``demote`` → started, 0;
- ``meta-data`` prints a small ``<resource-agent>``; the rest succeed.

What an action does is configurable per resource, per agent or for every agent
(:class:`Behaviour`, looked up most specific first: resource and action, resource,
agent and action, agent, default): how long it takes in virtual milliseconds, a forced
rc, a hang (the agent never returns: the core's timeout fires and its ``KillAgent``
ends it; an agent may also ignore SIGTERM), and failures injected with a probability
drawn from the seeded generator (the rc then is ``fail_rc``, the state is unchanged).
A killed agent changes nothing: its action did not complete.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ha.executor.agent import ResourceAgent
from ha.executor.codes import OcfRc

STOPPED, STARTED, PROMOTED = "stopped", "started", "promoted"
SIM_ROOT = "/sim"
"""Where simulated agents "live": ``/sim/ocf/PROVIDER/TYPE`` or ``/sim/lsb/TYPE``."""
SIGNALS = {"SIGTERM": 15, "SIGKILL": 9}
LSB_NOT_RUNNING = 3

METADATA = ('<?xml version="1.0"?>\n<resource-agent name="{name}" version="1.0">'
            '<version>1.1</version><shortdesc lang="en">simulated agent</shortdesc>'
            '<parameters/><actions><action name="start" timeout="20s"/>'
            '<action name="stop" timeout="20s"/><action name="monitor" timeout="20s" '
            'interval="10s"/><action name="promote" timeout="20s"/>'
            '<action name="demote" timeout="20s"/><action name="meta-data" timeout="5s"/>'
            '</actions></resource-agent>\n')


@dataclass(frozen=True)
class Behaviour:
    """How an agent's action behaves. ``rc`` None: what the model says."""

    duration_ms: int = 50
    rc: int | None = None
    hang: bool = False               # never returns by itself
    ignore_sigterm: bool = False     # a hung agent that only SIGKILL ends
    fail_p: float = 0.0              # probability of failing with fail_rc
    fail_rc: int = int(OcfRc.ERR_GENERIC)
    stderr: str = ""

    def __post_init__(self) -> None:
        if self.duration_ms < 0:
            raise ValueError(f"duration_ms: expected >= 0, got {self.duration_ms}")
        if not 0.0 <= self.fail_p <= 1.0:
            raise ValueError(f"fail_p: expected a probability in [0, 1], got {self.fail_p!r}")


@dataclass(frozen=True)
class Outcome:
    """What one run will do: exit after ``duration_us`` (None: hangs) with ``rc``, and
    leave the resource in ``state`` when it completes."""

    duration_us: int | None
    rc: int
    state: str
    stdout: str = ""
    stderr: str = ""
    ignore_sigterm: bool = False
    applied: bool = False            # its effect on the resource has been made


def locate_path(agent: ResourceAgent) -> str:
    """The path the simulated executor gives an agent (``locate`` for the core)."""
    return f"{SIM_ROOT}/{agent.standard}/{agent.relpath()}"


def standard_of(path: str) -> str:
    """``ocf`` or ``lsb``, from a path :func:`locate_path` gave."""
    return path[len(SIM_ROOT) + 1:].split("/", 1)[0]


@dataclass
class SimAgents:
    """The agents of one simulated node and the state of its resources."""

    rng: random.Random
    default: Behaviour = field(default_factory=Behaviour)
    rules: dict[tuple[str, str], Behaviour] = field(default_factory=dict)
    installed: set[str] | None = None          # agent specs; None: every agent
    state: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    # ---- configuration --------------------------------------------------------------
    def set(self, behaviour: Behaviour, *, rsc: str | None = None, agent: str | None = None,
            action: str = "*") -> None:
        """Configure ``behaviour`` for a resource or an agent (spec, e.g.
        ``ocf:heartbeat:Dummy``), for one action or all (``*``)."""
        if (rsc is None) == (agent is None):
            raise ValueError("give exactly one of rsc= or agent=")
        key = f"rsc:{rsc}" if rsc is not None else f"agent:{agent}"
        self.rules[(key, action)] = behaviour

    def behaviour(self, rsc: str, agent: str, action: str) -> Behaviour:
        for key in ((f"rsc:{rsc}", action), (f"rsc:{rsc}", "*"),
                    (f"agent:{agent}", action), (f"agent:{agent}", "*")):
            if key in self.rules:
                return self.rules[key]
        return self.default

    def locate(self, agent: ResourceAgent) -> str | None:
        if self.installed is not None and str(agent) not in self.installed:
            return None
        return locate_path(agent)

    # ---- the model ------------------------------------------------------------------
    def begin(self, rsc: str, action: str, argv: tuple[str, ...]) -> Outcome:
        """The outcome of running ``action`` of ``rsc`` (the executor's argv names the
        agent). Draws from the generator only when a failure probability is set."""
        self.runs += 1
        path = argv[0] if argv else ""
        standard = standard_of(path)
        agent = _spec_of(path)
        b = self.behaviour(rsc, agent, action)
        current = self.state.get(rsc, STOPPED)
        rc, state, stdout = self.model(standard, action, current, agent)
        if b.rc is not None:
            rc = b.rc
            state = state if rc == 0 else current
        if b.fail_p and self.rng.random() < b.fail_p:
            rc, state = b.fail_rc, current
        return Outcome(None if b.hang else b.duration_ms * 1000, rc, state, stdout, b.stderr,
                       b.ignore_sigterm)

    @staticmethod
    def model(standard: str, action: str, current: str, agent: str) -> tuple[int, str, str]:
        """(rc, state afterwards, stdout) of a well-behaved agent."""
        running = current != STOPPED
        if action == "start":
            return 0, (current if running else STARTED), ""
        if action == "stop":
            return 0, STOPPED, ""
        if action in ("monitor", "status"):
            if standard == "lsb":
                return (0 if running else LSB_NOT_RUNNING), current, ""
            if current == PROMOTED:
                return int(OcfRc.RUNNING_PROMOTED), current, ""
            return (0 if running else int(OcfRc.NOT_RUNNING)), current, ""
        if action == "promote":
            return (0, PROMOTED, "") if running else (int(OcfRc.NOT_RUNNING), current, "")
        if action == "demote":
            return (0, STARTED, "") if running else (int(OcfRc.NOT_RUNNING), current, "")
        if action == "meta-data":
            return 0, current, METADATA.format(name=agent.rsplit(":", 1)[-1])
        if action in ("migrate_to",):
            return 0, STOPPED, ""
        if action in ("migrate_from",):
            return 0, STARTED, ""
        return 0, current, ""

    def complete(self, rsc: str, outcome: Outcome) -> None:
        """The run ended by itself: its action took effect."""
        if outcome.applied:
            return
        if outcome.state == STOPPED:
            self.state.pop(rsc, None)
        else:
            self.state[rsc] = outcome.state

    def power_off(self) -> None:
        """The node lost power: nothing runs on it any more."""
        self.state.clear()

    def active(self) -> dict[str, str]:
        return dict(sorted(self.state.items()))


def _spec_of(path: str) -> str:
    """``ocf:PROVIDER:TYPE`` or ``lsb:TYPE`` from a simulated agent path."""
    parts = path[len(SIM_ROOT) + 1:].split("/")
    return ":".join(parts)
