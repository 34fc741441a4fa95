"""CIB replication in the simulator under random partitions, loss and crashes.

Invariants (issue: the CIB, section 8):
- replicas that share a configuration hold identical CIBs after each delivered update
  (every replica that delivered the same cib message, and is not in a sync, holds the
  same CIB after it);
- an update acknowledged by a quorate partition is never lost after the heal;
- versions never go backwards on any replica (per incarnation; a restarted node starts
  from its disk copy, which is never older than what it acknowledged);
and after the last heal all replicas converge on one CIB.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from ha.cib.sim import CibSim
from ha.cib.xml import parse
from ha.sim.world import SimWorld
from ha.totem.config import TotemConfig

SEEDS = range(40)


def schedule(seed: int) -> tuple[CibSim, dict[str, tuple[str, str]], list[str]]:
    rng = random.Random(seed)
    n = rng.randint(3, 5)
    nodes = list(range(1, n + 1))
    world = SimWorld(nodes, seed=seed, totem=TotemConfig(token=300, token_coefficient=0,
                                                          nodes=tuple(nodes)))
    cs = CibSim(world)
    world.start()
    world.run_for(3_000_000)
    sent: dict[str, tuple[str, str]] = {}
    log: list[str] = []
    down: set[int] = set()
    k = 0
    for _ in range(120):
        x = rng.random()
        live = [m for m in nodes if m not in down]
        if x < 0.55 and live:
            k += 1
            m = rng.choice(live)
            rid = cs.update(m, "property", {"name": f"p{k}", "value": str(k)})
            if rid is not None:
                sent[rid] = (f"p{k}", str(k))
        elif x < 0.65:
            cut = rng.randint(1, n - 1)
            order = rng.sample(nodes, n)
            world.network.partition([order[:cut], order[cut:]])
            log.append(f"partition {order[:cut]}|{order[cut:]}")
        elif x < 0.75:
            world.network.heal()
            log.append("heal")
        elif x < 0.82 and len(live) > 1:
            m = rng.choice(live)
            world.crash(m)
            down.add(m)
            log.append(f"crash {m}")
        elif x < 0.9 and down:
            m = rng.choice(sorted(down))
            world.restart(m)
            down.discard(m)
            log.append(f"restart {m}")
        else:
            m = rng.choice(nodes)
            world.network.set_node_loss(m, rng.choice([0.05, 0.2]))
            log.append(f"loss {m}")
        world.run_for(rng.randint(20, 600) * 1000)
    world.network.heal()
    for m in sorted(down):
        world.restart(m)
    world.run_for(30_000_000)
    return cs, sent, log


@pytest.mark.parametrize("seed", SEEDS)
def test_cib_replication_invariants(seed: int) -> None:
    cs, sent, log = schedule(seed)
    where = f"seed {seed}: {'; '.join(log[:40])}"
    # identical CIBs after each delivered update, among replicas not in a sync that
    # delivered it in the same configuration (regular, or the same transitional one)
    after: dict[tuple[int, ...], dict[int, bytes]] = defaultdict(dict)
    for h in cs.history:
        if h.key is not None and h.kind == "U" and not h.syncing:
            after[(*h.key, *h.config)][h.node] = h.cib
    for key, by_node in after.items():
        assert len(set(by_node.values())) == 1, \
            f"{where}: replicas {sorted(by_node)} differ after cib message {key}"
    # versions never go backwards within an incarnation
    last: dict[tuple[int, int], tuple[int, int, int]] = {}
    for h in cs.history:
        k = (h.node, h.incarnation)
        if k in last:
            assert h.version >= last[k], \
                f"{where}: node {h.node} went from {last[k]} back to {h.version}"
        last[k] = h.version
    # convergence: every replica holds one CIB, none in a sync
    final = {n: r for n, r in cs.replicas.items()}
    assert len(final) == len(cs.world.node_ids), f"{where}: replicas missing"
    assert not [n for n, r in final.items() if r.syncing], f"{where}: still syncing"
    docs = {n: r.query() for n, r in final.items()}
    assert len(set(docs.values())) == 1, f"{where}: replicas differ after the heal"
    # acknowledged updates survive
    root = parse(next(iter(docs.values())))
    props = {nv.get("name"): nv.get("value") for nv in root.iter("nvpair")}
    acked = [(rid, nv) for rid, nv in sent.items() if rid in cs.replies and cs.replies[rid][1].ok]
    lost = [(rid, name) for rid, (name, value) in acked if props.get(name) != value]
    assert not lost, f"{where}: acknowledged updates lost after the heal: {lost[:5]}"
