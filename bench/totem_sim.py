"""Benchmark: the Totem simulator. Prints one JSON object of figures.

- ``sim_speed``: simulated seconds per wall second, 5 nodes, steady load (each node
  submits ``load_per_node`` 100-byte messages per simulated second; 0 = an idle ring,
  whose representative holds the token), default token.
- ``kill_to_membership_ms``: a node is killed (crash, no goodbye); the time until
  every survivor has installed the new regular configuration. At token=300 with
  consensus=360 and at Corosync's defaults, 3 nodes, over several seeds.
- ``ordered_msgs_per_sim_s``: saturated ordered throughput, 100-byte messages, the
  default window_size (50) and max_messages (17), 3 and 5 nodes.

Usage: ``python bench/totem_sim.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from ha.sim.world import SimWorld
from ha.totem.config import TotemConfig
from ha.totem.effects import ConfigurationChange, Deliver
from ha.totem.state import MembState


def _ring_of(w: SimWorld, members: tuple[int, ...]) -> bool:
    cores = [w.core(n) for n in members]
    return (len({c.ring_id for c in cores}) == 1
            and all(c.state is MembState.OPERATIONAL and c.members == members for c in cores))


def sim_speed(load_per_node: float, sim_s: int, seed: int = 1) -> dict[str, float]:
    ids = (1, 2, 3, 4, 5)
    w = SimWorld(ids, seed=seed, totem=TotemConfig(nodes=ids), trace_deliveries=False)
    w.start()
    w.run_for(10_000_000)
    payload = b"x" * 100
    interval_us = int(1e6 / load_per_node) if load_per_node else 0
    counter = [0]

    def load(n: int) -> None:
        counter[0] += 1
        w.submit(n, payload + str(counter[0]).encode())
        w.at(w.now_us + interval_us, lambda: load(n))

    for i, n in enumerate(ids):
        if interval_us:
            w.at(w.now_us + i * interval_us // len(ids), lambda n=n: load(n))
    t0 = time.perf_counter()
    ev0 = w.events_processed
    w.run_for(sim_s * 1_000_000)
    wall = time.perf_counter() - t0
    return {"load_msgs_per_s_per_node": load_per_node, "simulated_s": sim_s,
            "wall_s": round(wall, 3), "speedup": round(sim_s / wall, 1),
            "events_per_wall_s": round((w.events_processed - ev0) / wall)}


def kill_to_membership(token: int, coefficient: int, consensus: int | None,
                       seeds: range) -> dict[str, object]:
    samples = []
    for seed in seeds:
        ids = (1, 2, 3)
        cfg = TotemConfig(token=token, token_coefficient=coefficient, consensus=consensus, nodes=ids)
        w = SimWorld(ids, seed=seed, totem=cfg, trace_deliveries=False)
        installed: dict[int, int] = {}
        killed_at = [0]

        def observe(t: int, n: int, e: object, installed: dict[int, int] = installed,
                    killed_at: list[int] = killed_at) -> None:
            if (isinstance(e, ConfigurationChange) and not e.transitional and killed_at[0]
                    and e.members == (1, 2)):
                installed.setdefault(n, t)

        w.observers.append(observe)
        w.start()
        w.run_for(3 * cfg.token_timeout_ms * 1000)
        assert _ring_of(w, ids), "cluster did not form"
        # kill at a random point of the token's rotation
        w.run_for(w.rng.randint(0, cfg.token_timeout_ms * 1000))
        killed_at[0] = w.now_us
        w.crash(3)
        w.run_for(4 * (cfg.token_timeout_ms + cfg.consensus_timeout_ms) * 1000)
        assert set(installed) == {1, 2}, f"seed {seed}: survivors did not re-form"
        samples.append((max(installed.values()) - killed_at[0]) / 1000)
    cfg = TotemConfig(token=token, token_coefficient=coefficient, consensus=consensus, nodes=(1, 2, 3))
    return {"token_ms": cfg.token_timeout_ms, "consensus_ms": cfg.consensus_timeout_ms,
            "expected_ms": cfg.token_timeout_ms + cfg.consensus_timeout_ms,
            "median_ms": round(statistics.median(samples), 1), "min_ms": round(min(samples), 1),
            "max_ms": round(max(samples), 1), "runs": len(samples)}


def ordered_throughput(nodes: int, sim_s: int, seed: int = 1) -> dict[str, float]:
    ids = tuple(range(1, nodes + 1))
    w = SimWorld(ids, seed=seed, totem=TotemConfig(nodes=ids), trace_deliveries=False)
    delivered = [0]

    def observe(t: int, n: int, e: object) -> None:
        if n == 1 and isinstance(e, Deliver):
            delivered[0] += 1

    w.observers.append(observe)
    w.start()
    w.run_for(5_000_000)
    payload = b"y" * 100

    def top_up() -> None:  # keep every node's send queue non-empty (saturation)
        for n in ids:
            core = w.core(n)
            for _ in range(max(0, 200 - core.srp.backlog)):
                w.submit(n, payload)
        w.at(w.now_us + 5_000, top_up)

    top_up()
    w.run_for(1_000_000)
    start = delivered[0]
    t0 = time.perf_counter()
    w.run_for(sim_s * 1_000_000)
    wall = time.perf_counter() - t0
    return {"nodes": nodes, "msg_bytes": 100, "window_size": 50, "max_messages": 17,
            "msgs_per_sim_s": round((delivered[0] - start) / sim_s),
            "wall_s": round(wall, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer seeds and shorter runs")
    args = ap.parse_args(argv)
    q = args.quick
    print("bench/totem_sim: running…", file=sys.stderr)
    out = {
        "benchmark": "totem_sim",
        "sim_speed": [sim_speed(load, 20 if q else 120) for load in (0.0, 1.0, 10.0, 100.0)],
        "kill_to_membership_ms": {
            "token300_consensus360": kill_to_membership(300, 0, 360, range(5 if q else 30)),
            "defaults": kill_to_membership(3000, 650, None, range(3 if q else 10)),
        },
        "ordered_msgs_per_sim_s": [ordered_throughput(n, 2 if q else 5) for n in (3, 5)],
        "latency_model_us": [100, 400],
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
