"""Simulated fence devices: one power switch per simulated node.

The fencer core asks for fence agents to be run (``ha.fencing.events.RunAgent``); in
the simulator :class:`SimFenceDevices` answers them the way fence agents answer
(fence-agents' API: exit status 0 success; ``status`` 0 on, 2 off; ``list`` one plug
per line; ``metadata`` the ``<resource-agent>`` XML) and acts on the simulated world:

- ``off`` opens the target's switch: the node crashes (``SimWorld.crash``: it stops at
  once, its peers see it leave the membership, its resources are down);
- ``on`` closes it: the node boots ``boot_ms`` later (``SimWorld.restart``);
- ``reboot`` is off, then on.

The target is the host argument's value (``plug``, mapped by ``pcmk_host_map``) or
else the target's node name; a plug no switch has is an error (rc 1), as a real
device reports an unknown port. What each device does is configurable per device and
action (:class:`DeviceBehaviour`): how long it takes in virtual milliseconds, a hang
(never returns: the host reports a timeout when the agent's timeout is over, as the
runtime kills an overrunning agent), a forced rc, and failures drawn with a
probability from the seeded generator, and when the command reaches the switch:
``commit_ms`` into the run (default: at its end; the node running the agent must be
alive then — an agent killed with its node never sends it), after which the switch
acts ``switch_ms`` later whatever becomes of the sender. A command sent, then a
sender fenced before the switch acted, is how both nodes of a two-node cluster die
in a fence race: ``pcmk_delay_max`` is there to make that window unlikely.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from ha.fencing.agent import STATUS_OFF, STATUS_ON
from ha.fencing.events import RunAgent
from ha.sim.world import SimWorld

METADATA = ('<?xml version="1.0"?>\n<resource-agent name="{name}" shortdesc="simulated power '
            'switch"><parameters><parameter name="plug"><content type="string"/>'
            '<shortdesc lang="en">the outlet of the node</shortdesc></parameter>'
            '</parameters><actions><action name="on"/><action name="off"/>'
            '<action name="reboot"/><action name="status"/><action name="list"/>'
            '<action name="monitor"/><action name="metadata"/></actions></resource-agent>\n')
EXIT_FAIL = 1


@dataclass(frozen=True)
class DeviceBehaviour:
    duration_ms: int = 200
    hang: bool = False
    rc: int | None = None            # forced exit status (the switch is not touched unless 0)
    fail_p: float = 0.0
    fail_rc: int = EXIT_FAIL
    commit_ms: int | None = None     # when the command reaches the device (None: at the end)
    switch_ms: int = 0               # from then until the switch acts

    def __post_init__(self) -> None:
        for name in ("duration_ms", "switch_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected >= 0, got {getattr(self, name)}")
        if self.commit_ms is not None and not 0 <= self.commit_ms <= self.duration_ms:
            raise ValueError(f"commit_ms: expected 0..duration_ms, got {self.commit_ms}")
        if not 0.0 <= self.fail_p <= 1.0:
            raise ValueError(f"fail_p: expected a probability in [0, 1], got {self.fail_p!r}")


@dataclass
class DeviceOutcome:
    """One agent run: exit after ``duration_us`` (None: hangs) with ``rc``; ``act``
    (logged and) changes the switch, ``switch_us`` after the command was sent at
    ``commit_us`` into the run (None: at its end)."""

    duration_us: int | None
    rc: int
    stdout: str = ""
    stderr: str = ""
    act: Callable[[], None] | None = None
    commit_us: int | None = None
    switch_us: int = 0


@dataclass
class SimFenceDevices:
    """Every node's power switch, and the devices' behaviour."""

    world: SimWorld
    names: dict[int, str]
    rng: random.Random
    default: DeviceBehaviour = field(default_factory=DeviceBehaviour)
    rules: dict[tuple[str, str], DeviceBehaviour] = field(default_factory=dict)
    boot_ms: int = 2000
    power: dict[int, bool] = field(default_factory=dict)
    log: list[tuple[int, int, str, str, str, int]] = field(default_factory=list)
    """(t_us, runner node, device, action, plug, rc) of every fencing command sent."""

    def __post_init__(self) -> None:
        for n in self.world.node_ids:
            self.power.setdefault(n, True)
        self.ids = {name: n for n, name in self.names.items()}

    def set(self, behaviour: DeviceBehaviour, device: str = "*", action: str = "*") -> None:
        self.rules[(device, action)] = behaviour

    def behaviour(self, device: str, action: str) -> DeviceBehaviour:
        for key in ((device, action), (device, "*"), ("*", action), ("*", "*")):
            if key in self.rules:
                return self.rules[key]
        return self.default

    # ---- one agent run --------------------------------------------------------------
    def begin(self, runner: int, run: RunAgent) -> DeviceOutcome:
        b = self.behaviour(run.device, run.action)
        dur = None if b.hang else b.duration_ms * 1000
        if run.action == "metadata":
            return DeviceOutcome(dur, 0, METADATA.format(name=run.agent))
        plug = (run.params.get(run.host_arg) if run.host_arg else None) or run.target
        rc, stdout, stderr, act = self._answer(run, plug)
        if b.rc is not None and b.rc != rc:
            rc, act = b.rc, None
        if b.fail_p and self.rng.random() < b.fail_p:
            rc, act, stderr = b.fail_rc, None, f"{run.device}: injected failure"
        outcome = DeviceOutcome(dur, rc, stdout, stderr, None,
                                None if b.commit_ms is None else b.commit_ms * 1000,
                                b.switch_ms * 1000)
        if act is not None or run.action in ("on", "off", "reboot"):
            def done(act: Callable[[], None] | None = act) -> None:
                self.log.append((self.world.now_us, runner, run.device, run.action,
                                 plug or "", rc))
                if act is not None:
                    act()
            outcome.act = done
        return outcome

    def _answer(self, run: RunAgent, plug: str | None
                ) -> tuple[int, str, str, Callable[[], None] | None]:
        if run.action == "list":
            return 0, "".join(f"{self.names[n]}\n" for n in sorted(self.power)), "", None
        if run.action == "monitor":
            return 0, "", "", None
        node = self.ids.get(plug or "")
        if node is None or node not in self.power:
            return EXIT_FAIL, "", f"{run.device}: no such plug {plug!r}", None
        if run.action == "status":
            return (STATUS_ON if self.power[node] else STATUS_OFF), "", "", None
        if run.action == "off":
            return 0, "", "", partial(self.switch_off, node)
        if run.action == "on":
            return 0, "", "", partial(self.switch_on, node)
        if run.action == "reboot":
            return 0, "", "", partial(self.power_cycle, node)
        return EXIT_FAIL, "", f"{run.device}: action {run.action!r} not supported", None

    # ---- the switches ---------------------------------------------------------------
    def switch_off(self, node: int) -> None:
        if self.power[node]:
            self.power[node] = False
            self.world.record(node, "power_off", {})
        self.world.crash(node)

    def switch_on(self, node: int) -> None:
        if not self.power[node]:
            self.power[node] = True
            self.world.record(node, "power_on", {"boot_ms": self.boot_ms})
            self.world.at(self.world.now_us + self.boot_ms * 1000, partial(self._boot, node))

    def power_cycle(self, node: int) -> None:
        self.switch_off(node)
        self.switch_on(node)

    def _boot(self, node: int) -> None:
        if self.power[node]:
            self.world.restart(node)

    def fenced(self) -> list[int]:
        """Nodes whose switch is open now."""
        return sorted(n for n, on in self.power.items() if not on)
