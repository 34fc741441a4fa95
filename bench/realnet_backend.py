"""What the real-network benchmark needs from a cluster backend (Corosync, hastack, ...).

A backend runs one cluster node per host of a ``harness.netns.NetnsLab`` and offers:

- ``start()`` / ``start_node(i)`` / ``kill_node(i)`` (SIGKILL, no goodbye);
- faults ``isolate(i)``, ``heal()``, ``loss(i, pct)``, which ``LabBackend`` implements
  once for every backend with nftables rules in the lab;
- ``membership_events(i)``: every regular configuration node ``i`` has reported, with
  the wall-clock time (``CLOCK_REALTIME`` epoch seconds) at which it was reported;
- ``start_bench(i, spec)``: a process on host ``i`` that joins a process group, sends
  (or only receives) and prints one JSON object of the ``cpgload bench`` schema
  (``delivered``, ``sent``, ``duration_s``, ``msgs_per_s``, ``bytes_per_s``,
  ``latency_ms`` {p50, p90, p99, max}, ``order_hash``, ``first``, ...).

Every method that changes the world returns the wall-clock time it takes as the
start of a measurement, so the measuring layer never guesses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.netns import NetnsLab


@dataclass(frozen=True)
class MembershipEvent:
    """A regular configuration as one node reported it."""

    ts: float
    ring_id: tuple[int, int]
    members: tuple[int, ...]


@dataclass(frozen=True)
class Timing:
    """Totem timeouts for a run; None leaves the backend's default."""

    name: str
    token_ms: int | None = None
    token_coefficient_ms: int | None = None
    consensus_ms: int | None = None


@dataclass(frozen=True)
class BenchSpec:
    """One member of a process-group throughput run (see ``cpgload bench``)."""

    group: str
    size: int
    duration_s: float
    send: bool
    senders: int
    members: int
    rate: float | None = None
    timeout_s: float = 30.0


class Backend(Protocol):
    name: str
    nodes: tuple[int, ...]

    def version(self) -> str: ...
    def start(self) -> None: ...
    def start_node(self, i: int) -> float: ...
    def kill_node(self, i: int) -> float: ...
    def isolate(self, i: int) -> float: ...
    def heal(self) -> float: ...
    def loss(self, i: int, pct: float) -> float: ...
    def membership_events(self, i: int) -> list[MembershipEvent]: ...
    def start_bench(self, i: int, spec: BenchSpec) -> subprocess.Popen[bytes]: ...
    def close(self) -> None: ...


# (lab, timing, workdir, command-line options) -> a backend whose nodes are not started.
BackendFactory = Callable[[NetnsLab, Timing, str, argparse.Namespace], Backend]


class LabBackend:
    """Faults and membership-log reading shared by every backend that runs in a lab.

    Faults return the time just after the rules are committed: the fault is then
    certainly in force, and the few milliseconds nft takes to start are not counted.
    """

    def __init__(self, lab: NetnsLab, workdir: str) -> None:
        self.lab = lab
        self.workdir = workdir
        self.nodes = tuple(lab.hosts)
        self._faulted: set[int] = set()
        self._events: dict[int, list[MembershipEvent]] = {i: [] for i in self.nodes}
        self._offsets: dict[int, int] = dict.fromkeys(self.nodes, 0)

    def host_dir(self, i: int) -> str:
        path = os.path.join(self.workdir, f"h{i}")
        os.makedirs(path, exist_ok=True)
        return path

    def isolate(self, i: int) -> float:
        self.lab.isolate(i)
        self._faulted.add(i)
        return time.time()

    def loss(self, i: int, pct: float) -> float:
        self.lab.loss(i, pct)
        self._faulted.add(i)
        return time.time()

    def heal(self) -> float:
        for i in sorted(self._faulted):
            self.lab.heal(i)
        self._faulted.clear()
        return time.time()

    def membership_log(self, i: int) -> str:
        """The JSON-lines file where node ``i``'s membership watcher writes."""
        return os.path.join(self.host_dir(i), "membership.jsonl")

    def membership_events(self, i: int) -> list[MembershipEvent]:
        """Parse (incrementally) the ``"event": "regular"`` lines of node i's log."""
        try:
            with open(self.membership_log(i), "rb") as f:
                f.seek(self._offsets[i])
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offsets[i] += end
        for line in data[:end].splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and ev.get("event") == "regular":
                rep, seq = ev["ring_id"]
                self._events[i].append(MembershipEvent(
                    float(ev["ts"]), (int(rep), int(seq)),
                    tuple(sorted(int(m) for m in ev["members"]))))
        return list(self._events[i])


def bench_result(proc: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    """Wait for a bench process and return its JSON object (an error dict if none)."""
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return {"error": "timeout", "stderr": err.decode(errors="replace")[-500:]}
    for line in reversed(out.decode(errors="replace").splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "delivered" in obj:
            return obj
    return {"error": f"exit {proc.returncode}, no result",
            "stdout": out.decode(errors="replace")[-500:],
            "stderr": err.decode(errors="replace")[-500:]}
