"""Random fault schedules for the Totem simulator, drawn from one seed.

``plan(seed, ...)`` draws a schedule (which faults, when, for how long) and
``run(plan)`` plays it against a simulated cluster under a steady load, with the
checkers attached. The run has two phases, as TigerBeetle's VOPR does it:

1. safety: faults come and go for ``duration``; every invariant is checked all along;
2. liveness: everything heals (crashed nodes restart, the network is whole) and the
   live nodes must form one ring within ``liveness_bound_ms`` and deliver a probe
   message from every node to every node.

Faults: ``partition`` (random groups, symmetric), ``oneway`` (one direction of one
link), ``loss`` (10-40 % on one node), ``crash`` (then restart), ``pause`` (0.5-2.5 ×
token), ``dup`` and ``reorder`` (network-wide, for the whole run).
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from ha.sim.checkers import Checker
from ha.sim.network import NetworkOptions
from ha.sim.world import SimWorld
from ha.totem.config import TotemConfig
from ha.totem.quorum import QuorumConfig

ALL_FAULTS = ("partition", "oneway", "loss", "crash", "pause", "dup", "reorder")
DEFAULT_FAULTS = ("partition", "loss", "crash", "pause")


@dataclass
class Fault:
    kind: str
    start_ms: int
    duration_ms: int
    nodes: list[list[int]]
    amount: float = 0.0


@dataclass
class Plan:
    seed: int
    nodes: list[int]
    duration_ms: int
    token_ms: int
    token_coefficient: int
    quorum: dict[str, Any]
    network: dict[str, Any]
    load_per_s: float
    safe_fraction: float
    faults: list[Fault] = field(default_factory=list)

    @property
    def totem(self) -> TotemConfig:
        return TotemConfig(token=self.token_ms, token_coefficient=self.token_coefficient,
                           nodes=tuple(self.nodes))

    @property
    def liveness_bound_ms(self) -> int:
        t = self.totem
        return 4 * (t.token_timeout_ms + t.consensus_timeout_ms)


def plan(seed: int, *, nodes: int | None = None, duration_ms: int = 60_000,
         faults: tuple[str, ...] = DEFAULT_FAULTS, token_ms: int | None = None,
         quorum: dict[str, Any] | None = None) -> Plan:
    """Draw a fault schedule from ``seed``; given arguments pin what is not drawn."""
    unknown = set(faults) - set(ALL_FAULTS)
    if unknown:
        raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {', '.join(ALL_FAULTS)}")
    rng = random.Random(seed)
    n = nodes if nodes is not None else rng.randint(3, 7)
    ids = list(range(1, n + 1))
    if token_ms is None:
        token_ms, coef = rng.choice([(300, 0), (1000, 200), (3000, 650)])
    else:
        coef = 650 if token_ms >= 3000 else 0
    if quorum is None:
        choices: list[dict[str, Any]] = [{}, {"wait_for_all": True}, {"last_man_standing": True,
                                                                        "wait_for_all": True}]
        if n % 2 == 0:
            # Without wait_for_all a node restarting alone can hold a stale tie-breaker
            # view (see ha/totem/quorum.py); Corosync's documentation pairs them too.
            choices.append({"auto_tie_breaker": True, "wait_for_all": True})
        quorum = rng.choice(choices)
    net: dict[str, Any] = {}
    if "dup" in faults:
        net["duplicate"] = round(rng.uniform(0.01, 0.1), 3)
    if "reorder" in faults:
        net["reorder"] = round(rng.uniform(0.01, 0.1), 3)
    p = Plan(seed, ids, duration_ms, token_ms, coef, quorum, net,
             load_per_s=rng.choice([5.0, 20.0, 50.0]), safe_fraction=0.25)
    kinds = [f for f in faults if f not in ("dup", "reorder")]
    t = 3 * token_ms
    while kinds and t < duration_ms - token_ms:
        kind = rng.choice(kinds)
        dur = rng.randint(token_ms // 2, max(token_ms, min(10_000, 6 * token_ms)))
        if kind == "partition":
            shuffled = rng.sample(ids, n)
            cut = rng.randint(1, n - 1)
            f = Fault(kind, t, dur, [sorted(shuffled[:cut]), sorted(shuffled[cut:])])
        elif kind == "oneway":
            a, b = rng.sample(ids, 2)
            f = Fault(kind, t, dur, [[a], [b]])
        elif kind == "loss":
            f = Fault(kind, t, dur, [[rng.choice(ids)]], round(rng.uniform(0.1, 0.4), 2))
        elif kind == "crash":
            f = Fault(kind, t, dur, [[rng.choice(ids)]])
        else:
            f = Fault(kind, t, int(token_ms * rng.uniform(0.5, 2.5)), [[rng.choice(ids)]])
        p.faults.append(f)
        t += rng.randint(token_ms // 2, 4 * token_ms)
    return p


@dataclass
class RunResult:
    plan: Plan
    violations: list[str]
    liveness: list[str]
    summary: dict[str, Any]
    trace: list[str]

    @property
    def ok(self) -> bool:
        return not self.violations and not self.liveness

    def replay_command(self) -> str:
        return (f"ha sim totem --seed {self.plan.seed} --nodes {len(self.plan.nodes)} "
                f"--duration {self.plan.duration_ms // 1000}s")


def build_world(p: Plan, trace_deliveries: bool = False) -> tuple[SimWorld, Checker]:
    q = dict(p.quorum)
    qc = QuorumConfig(votes={n: 1 for n in p.nodes}, **q)
    world = SimWorld(p.nodes, seed=p.seed, totem=p.totem, quorum=qc,
                     network=NetworkOptions(**p.network), trace_deliveries=trace_deliveries)
    exempt = bool(q.get("two_node") or q.get("last_man_standing"))
    checker = Checker(exempt_quorum=exempt)
    world.observers.append(checker.observe)
    return world, checker


def _schedule_faults(world: SimWorld, p: Plan) -> None:
    net = world.network
    for f in p.faults:
        start, end = f.start_ms * 1000, (f.start_ms + f.duration_ms) * 1000
        first = f.nodes[0][0]
        if f.kind == "partition":
            world.at(start, partial(net.partition, f.nodes))
            world.at(end, partial(_unpartition, world, f.nodes))
        elif f.kind == "oneway":
            link = (first, f.nodes[1][0])
            world.at(start, partial(net.one_way, *link))
            world.at(end, partial(net.grudges.discard, link))
        elif f.kind == "loss":
            world.at(start, partial(net.set_node_loss, first, f.amount))
            world.at(end, partial(net.set_node_loss, first, 0.0))
        elif f.kind == "crash":
            world.at(start, partial(world.crash, first))
            world.at(end, partial(world.restart, first))
        elif f.kind == "pause":
            world.at(start, partial(world.pause, first, f.duration_ms * 1000))


def _unpartition(world: SimWorld, groups: list[list[int]]) -> None:
    a, b = set(groups[0]), set(groups[1])
    world.network.grudges -= {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}


def _schedule_load(world: SimWorld, p: Plan, until_us: int) -> None:
    rng = random.Random(p.seed ^ 0x5EED)
    counter = {n: 0 for n in p.nodes}
    rate = p.load_per_s * len(p.nodes)
    t = 0.0
    while True:
        t += rng.expovariate(rate) * 1e6
        if t >= until_us:
            break
        n = rng.choice(p.nodes)
        safe = rng.random() < p.safe_fraction

        def fire(n: int = n, safe: bool = safe) -> None:
            if world.alive(n):
                counter[n] += 1
                inc = world.nodes[n].incarnation
                world.submit(n, f"{n}.{inc}.{counter[n]}".encode(), safe)

        world.at(int(t), fire)


def run(p: Plan, trace_deliveries: bool = False) -> RunResult:
    """Play a plan: the safety phase, then heal and require convergence."""
    world, checker = build_world(p, trace_deliveries)
    world.start(stagger_us=p.totem.token_timeout_ms * 100)
    end_us = p.duration_ms * 1000
    _schedule_faults(world, p)
    _schedule_load(world, p, end_us)
    wall = time.perf_counter()
    world.run_until(end_us)
    # ---- heal: restart the crashed, resume the paused, mend the network -------------
    world.network.heal()
    for n in p.nodes:
        if not world.alive(n):
            world.restart(n)
    heal_us = world.now_us
    bound_us = p.liveness_bound_ms * 1000
    paused_until = max((sn.paused_until or 0) for sn in world.nodes.values())
    if paused_until > world.now_us:
        world.run_until(paused_until)  # a stalled node is a fault too: heal it first
    heal_us = world.now_us
    deadline = heal_us + bound_us
    converged_at = None
    step = 50_000
    while world.now_us < deadline:
        world.run_for(step)
        cores = [world.nodes[n].core for n in p.nodes]
        if all(c is not None for c in cores):
            rings = {(c.ring_id, c.members, c.state.value) for c in cores if c is not None}
            if len(rings) == 1:
                ring, members, state = next(iter(rings))
                if state == "operational" and members == tuple(p.nodes):
                    converged_at = world.now_us
                    break
    liveness: list[str] = []
    if converged_at is None:
        views = {n: (c.state.value, c.ring_id, c.members) if (c := world.nodes[n].core) else None
                 for n in p.nodes}
        liveness.append(f"liveness: no single ring of all nodes within {p.liveness_bound_ms} ms "
                        f"after heal; views: {views}")
    else:
        probes = {}
        for n in p.nodes:
            payload = f"probe.{n}.{world.nodes[n].incarnation}".encode()
            probes[n] = payload
            world.submit(n, payload, safe=True)
        world.run_for(bound_us)
        for n in p.nodes:
            missing = [pl.decode() for pl in probes.values() if pl not in checker.delivered[n]]
            if missing:
                liveness.append(f"liveness: node {n} did not deliver probes {missing} "
                                f"within {p.liveness_bound_ms} ms of convergence")
    violations = [str(v) for v in checker.finish()]
    wall_s = time.perf_counter() - wall
    summary = checker.summary()
    summary.update({
        "seed": p.seed, "nodes": len(p.nodes), "simulated_s": world.now_us / 1e6,
        "wall_s": round(wall_s, 3), "faults": len(p.faults),
        "converged_after_heal_ms": None if converged_at is None else (converged_at - heal_us) / 1000,
        "events": world.events_processed, "network": dict(world.network.stats),
        "quorum": p.quorum, "token_ms": p.token_ms,
    })
    return RunResult(p, violations, liveness, summary, world.trace)


def plan_dict(p: Plan) -> dict[str, Any]:
    return asdict(p)
