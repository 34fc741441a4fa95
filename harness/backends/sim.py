"""The simulator backend: the scenario's cluster as a seeded ``SimWorld``, in virtual time.

The cluster's corosync.conf is rendered and parsed exactly as a real node would parse
it, so a scenario's ``totem`` and ``quorum`` options mean the same in both worlds.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from ha.runtime.corosync_conf import parse
from ha.sim.network import NetworkOptions
from ha.sim.world import SimWorld
from harness.backends import Backend
from harness.faults import NetFaults
from harness.realcluster import corosync_conf_text


def cluster_config(scenario: Any) -> Any:
    """The ClusterConfig a node of this scenario's cluster would read."""
    addrs = {n: f"10.0.0.{n}" for n in scenario.nodes}
    text = corosync_conf_text(scenario.name[:30] or "sim", addrs, 5405, "/dev/null",
                              scenario.totem, scenario.quorum)
    return parse(text, f"{scenario.file} (cluster)")


class SimBackend(Backend):
    name = "sim"
    poll_ms = 10.0

    def __init__(self, scenario: Any, seed: int) -> None:
        cfg = cluster_config(scenario)
        self.nodes = list(scenario.nodes)
        self.net = NetworkOptions()
        self.world = SimWorld(self.nodes, seed=seed, totem=cfg.totem, quorum=cfg.quorum,
                              network=self.net, trace_deliveries=True)
        self._seen = 0
        self._load_seq = 0

    def start(self) -> None:
        self.world.start()

    def now_ms(self) -> float:
        return self.world.now_us / 1000

    def advance(self, ms: float) -> None:
        self.world.run_for(max(1, int(ms * 1000)))

    def new_records(self) -> list[dict[str, Any]]:
        new = self.world.trace[self._seen:]
        self._seen = len(self.world.trace)
        return [json.loads(line) for line in new]

    def kill(self, n: int) -> None:
        self.world.crash(n)

    def restart(self, n: int) -> None:
        self.world.restart(n)

    def pause(self, n: int) -> None:
        self.world.pause(n, 10**15)

    def resume(self, n: int) -> None:
        self.world.resume(n)

    def set_faults(self, faults: NetFaults) -> None:
        net = self.world.network
        net.grudges = set(faults.grudges)
        for i in faults.isolated:
            net.grudges |= {(i, o) for o in self.nodes if o != i}
            net.grudges |= {(o, i) for o in self.nodes if o != i}
        self.net.node_loss.clear()
        self.net.node_loss.update({n: p / 100 for n, p in faults.node_loss.items()})
        self.net.link_loss.clear()
        for (a, b), p in faults.link_loss.items():
            self.net.link_loss[(a, b)] = self.net.link_loss[(b, a)] = p / 100

    def netem(self, n: int, delay_ms: float, jitter_ms: float, duplicate: float,
              reorder: float) -> str:
        links = {(n, o) for o in self.nodes if o != n} | {(o, n) for o in self.nodes if o != n}
        for link in links:
            self.net.link_latency_us.pop(link, None)
        if delay_ms or jitter_ms:
            lo = max(0, int((delay_ms - jitter_ms) * 1000))
            hi = int((delay_ms + jitter_ms) * 1000)
            for link in links:
                self.net.link_latency_us[link] = (lo, hi)
        self.net.duplicate = duplicate / 100
        self.net.reorder = reorder / 100
        if duplicate or reorder:
            return "the simulator duplicates and reorders on every link, not only this node's"
        return ""

    def load(self, senders: list[int], rate: float, duration_ms: float, size: int) -> None:
        w = self.world
        period_us = int(1_000_000 / rate)
        t0 = w.now_us
        count = int(duration_ms * 1000 // period_us)
        for k in range(count):
            for s in senders:
                self._load_seq += 1
                payload = f"load-{s}-{self._load_seq}".encode().ljust(size, b".")
                w.at(t0 + k * period_us, partial(self._submit, s, payload))

    def _submit(self, n: int, payload: bytes) -> None:
        if self.world.alive(n) and self.world.nodes[n].paused_until is None:
            self.world.submit(n, payload)

    def files(self, run_dir: Path) -> dict[str, Any]:
        traces = {}
        by_node: dict[int, list[str]] = {n: [] for n in self.nodes}
        for line in self.world.trace:
            by_node[json.loads(line)["node"]].append(line)
        for n, lines in by_node.items():
            d = run_dir / "nodes" / f"n{n}"
            d.mkdir(parents=True, exist_ok=True)
            (d / "trace.jsonl").write_text("".join(x + "\n" for x in lines), encoding="utf-8")
            traces[str(n)] = f"nodes/n{n}/trace.jsonl"
        return {"traces": traces, "logs": {}}

    def close(self, keep: bool = False) -> str | None:
        return None
