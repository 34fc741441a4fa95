"""How long a fencing operation may take, and how long a device waits before it acts.

Timeouts, as Pacemaker's fencer computes them (``daemons/fenced/fenced_remote.c``,
``TIMEOUT_MULTIPLY_FACTOR`` = 1.2):

- the agent itself is given ``pcmk_<action>_timeout`` (default ``stonith-timeout``) and
  is killed when it overruns it (fenced_commands.c: the plain value, no factor);
  a retry (``pcmk_<action>_retries``) gets what is left of that same timeout;
- the whole operation's timer, set in ``request_peer_fencing()`` when the operation is
  first handed to a peer, is 1.2 × ``get_op_total_timeout()``: the sum, over every
  device of every topology level (or the one chosen device), of that device's timeout
  plus its delay (``pcmk_delay_max`` when set, else ``pcmk_delay_base``);
- the per-device timer on the requesting node is likewise 1.2 × the device's timeout
  plus delay, and the peer query timer 1.2 × the base timeout.

hastack runs the plan on one node, so it keeps the first two: the agent's own timeout
and the operation's total of 1.2 × the sum (:func:`total_timeout_s`).

The fencing delay (``pcmk_delay_base``/``pcmk_delay_max``) is applied before ``off``
and ``reboot`` only: base plus a random part such that the sum stays at most the
maximum (Pacemaker's documented rule); the random part comes from the seeded generator
the core was given, so a simulated run replays exactly.
"""

from __future__ import annotations

from typing import Protocol

from ha.fencing.devices import FENCING_ACTIONS, FenceDevice

TIMEOUT_MULTIPLY_FACTOR = 1.2


class Rng(Protocol):
    """The injected, seeded generator (``random.Random(seed)`` satisfies it)."""

    def uniform(self, a: float, b: float) -> float: ...


def device_budget_s(dev: FenceDevice, action: str, stonith_timeout_s: float) -> float:
    """One device's share of the total: its action timeout plus its delay allowance."""
    delay = dev.delay_max_s if dev.delay_max_s > 0 else max(
        [dev.delay_base_s, *dev.delay_base_by_node.values()])
    return dev.timeout_for(action, stonith_timeout_s) + delay


def total_timeout_s(devices: list[FenceDevice], action: str, stonith_timeout_s: float) -> float:
    """1.2 × the sum of the devices' budgets (1.2 × stonith-timeout with none)."""
    total = sum(device_budget_s(d, action, stonith_timeout_s) for d in devices)
    return TIMEOUT_MULTIPLY_FACTOR * (total if total > 0 else stonith_timeout_s)


def fencing_delay_s(dev: FenceDevice, target: str, action: str, rng: Rng) -> float:
    """Seconds to wait before running ``dev`` for ``action`` on ``target``."""
    if action not in FENCING_ACTIONS:
        return 0.0
    base = dev.delay_base_for(target)
    if dev.delay_max_s > base:
        return base + rng.uniform(0.0, dev.delay_max_s - base)
    return base


def device_order(devices: list[FenceDevice]) -> list[FenceDevice]:
    """Devices able to fence a node without topology, tried in this order."""
    return sorted(devices, key=lambda d: (-d.priority, d.id))
