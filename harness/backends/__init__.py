"""Backends: the worlds a scenario runs in — the simulator (virtual time) and Docker.

Both offer the same operations and both report through trace records of one format
(``t_ms`` since the run's start), so the runner, the checkers and the report never ask
which world they are in.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

from harness.faults import NetFaults


class Unsupported(RuntimeError):
    """The backend cannot do this here (e.g. netem on a kernel without sch_netem)."""


class Backend(abc.ABC):
    name: str
    nodes: list[int]
    poll_ms: float = 100.0

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def now_ms(self) -> float: ...

    @abc.abstractmethod
    def advance(self, ms: float) -> None:
        """Let ``ms`` of the world's time pass (virtual or real)."""

    @abc.abstractmethod
    def new_records(self) -> list[dict[str, Any]]:
        """Trace records written since the last call, in time order."""

    @abc.abstractmethod
    def kill(self, n: int) -> None: ...

    @abc.abstractmethod
    def restart(self, n: int) -> None: ...

    @abc.abstractmethod
    def pause(self, n: int) -> None: ...

    @abc.abstractmethod
    def resume(self, n: int) -> None: ...

    def kill_daemon(self, n: int) -> None:
        self.kill(n)

    def start_daemon(self, n: int) -> None:
        self.restart(n)

    @abc.abstractmethod
    def set_faults(self, faults: NetFaults) -> None:
        """Put exactly ``faults`` in force (replacing what was)."""

    @abc.abstractmethod
    def netem(self, n: int, delay_ms: float, jitter_ms: float, duplicate: float,
              reorder: float) -> str:
        """Delay, jitter, duplication, reordering on node ``n``'s traffic (all zero: off);
        returns a note for the step's detail; raises Unsupported where it cannot."""

    @abc.abstractmethod
    def load(self, senders: list[int], rate: float, duration_ms: float, size: int) -> None:
        """Start ordered messages from ``senders`` in the background."""

    @abc.abstractmethod
    def files(self, run_dir: Path) -> dict[str, Any]:
        """Store every node's trace and log under ``run_dir``; their relative paths."""

    @abc.abstractmethod
    def close(self, keep: bool = False) -> str | None:
        """Tear down (unless ``keep``); with ``keep``, how to reach what was kept."""


def make(name: str, scenario: Any, seed: int, run_dir: Path) -> Backend:
    if name == "sim":
        from harness.backends.sim import SimBackend
        return SimBackend(scenario, seed)
    if name == "docker":
        from harness.backends.docker import DockerBackend
        return DockerBackend(scenario, seed, run_dir)
    raise ValueError(f"unknown backend {name!r} (expected sim or docker)")
