"""A simulated cluster with fencing, and one fencing scenario drawn from a seed.

:func:`cluster` builds the pieces — a ``SimWorld`` of Totem nodes, a power switch per
node (``SimFenceDevices``), an executor with simulated agents per node
(``SimExecutor``) and a fencer per node (``FencingSim``) — configured from a CIB that
:func:`fence_cib` writes (stonith primitives, fencing levels, cluster properties).

:func:`run` plays one scenario drawn from ``seed``: 3–5 nodes on a lossy network, each
running a resource; after the ring forms, one node asks to fence another (``off``),
sometimes a second node asks the same at the same time, sometimes the first topology
level's device is broken. It checks what must hold and returns the violations:

- the target is powered off and leaves the membership of every survivor;
- every surviving node holds the same fencing history, in the same order;
- concurrent identical requests are merged (the device acts once);
- every client gets a reply, a success;
- with a broken first level, the second level fenced the node.
``ha sim fencing --seed N`` runs it from the command line.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from ha.executor import Request, ResourceAgent
from ha.sim.agents import SimAgents
from ha.sim.executor import SimExecutor
from ha.sim.fencedevices import DeviceBehaviour, SimFenceDevices
from ha.sim.fencer import FencingSim
from ha.sim.network import NetworkOptions
from ha.sim.world import SimWorld
from ha.totem.config import TotemConfig
from ha.totem.quorum import QuorumConfig

DUMMY = ResourceAgent.parse("ocf:heartbeat:Dummy")


def fence_cib(devices: dict[str, dict[str, str]], levels: Sequence[tuple[str, int, str]] = (),
              properties: dict[str, str] | None = None) -> etree._Element:
    """A CIB with ``devices`` (id → instance attributes, agent ``fence_sim``),
    ``levels`` ((target, index, "dev1,dev2")) and cluster ``properties``."""
    cib = etree.Element("cib", {"admin_epoch": "0", "epoch": "1", "num_updates": "0",
                                "validate-with": "pacemaker-3.9"})
    conf = etree.SubElement(cib, "configuration")
    props = etree.SubElement(etree.SubElement(conf, "crm_config"), "cluster_property_set",
                             id="cib-bootstrap-options")
    for k, v in (properties or {}).items():
        etree.SubElement(props, "nvpair", id=f"opt-{k}", name=k, value=v)
    etree.SubElement(conf, "nodes")
    res = etree.SubElement(conf, "resources")
    for dev_id, params in devices.items():
        prim = etree.SubElement(res, "primitive", {"id": dev_id, "class": "stonith",
                                                   "type": "fence_sim"})
        ia = etree.SubElement(prim, "instance_attributes", id=f"{dev_id}-ia")
        for k, v in params.items():
            etree.SubElement(ia, "nvpair", id=f"{dev_id}-{k}", name=k, value=v)
    etree.SubElement(conf, "constraints")
    topo = etree.SubElement(conf, "fencing-topology")
    for target, index, devs in levels:
        etree.SubElement(topo, "fencing-level", id=f"fl-{target}-{index}", target=target,
                         index=str(index), devices=devs)
    etree.SubElement(cib, "status")
    return cib


@dataclass
class Cluster:
    world: SimWorld
    devices: SimFenceDevices
    fencing: FencingSim
    executors: dict[int, SimExecutor]
    agents: dict[int, SimAgents]

    def name(self, n: int) -> str:
        return self.devices.names[n]

    def members(self, n: int) -> tuple[int, ...]:
        """The fencer group's view at node ``n`` (empty when it is down)."""
        f = self.fencing.fencers.get(n)
        return f.members if f is not None else ()


def cluster(seed: int, n: int, cib: etree._Element, *, two_node: bool = False,
            token_ms: int = 300, network: NetworkOptions | None = None) -> Cluster:
    """``n`` started nodes (``node1``…), each with an executor and a fencer."""
    nodes = tuple(range(1, n + 1))
    world = SimWorld(nodes, seed=seed, network=network,
                     totem=TotemConfig(token=token_ms, token_coefficient=0, nodes=nodes),
                     quorum=QuorumConfig(votes={i: 1 for i in nodes}, two_node=two_node),
                     trace_deliveries=False)
    names = {i: f"node{i}" for i in nodes}
    devices = SimFenceDevices(world, names, random.Random(seed ^ 0x5EED))
    agents = {i: SimAgents(random.Random(seed * 31 + i)) for i in nodes}
    executors = {i: SimExecutor(world, i, agents[i]) for i in nodes}
    fencing = FencingSim(world, cib, devices, executors)
    world.start()
    return Cluster(world, devices, fencing, executors, agents)


def identical_histories(c: Cluster) -> list[str]:
    """Violations of "every live node holds the same history in the same order"."""
    hist = {n: c.fencing.history(n) for n in sorted(c.fencing.fencers)}
    if not hist:
        return ["no live fencer"]
    first_n, first = next(iter(hist.items()))
    return [f"history of node{n} differs from node{first_n}'s: {h} vs {first}"
            for n, h in hist.items() if h != first]


@dataclass
class RunResult:
    seed: int
    summary: dict[str, Any]
    violations: list[str] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def run(seed: int, nodes: int | None = None) -> RunResult:
    """The scenario of the module docstring, drawn from ``seed``."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    n = nodes if nodes is not None else rng.randint(3, 5)
    ids = list(range(1, n + 1))
    target = rng.choice(ids)
    asker = rng.choice([i for i in ids if i != target])
    second = rng.choice([i for i in ids if i not in (target, asker)]) \
        if n > 2 and rng.random() < 0.5 else None
    broken_first = rng.random() < 0.5
    loss = rng.choice([0.0, 0.01, 0.05])
    names = ",".join(f"node{i}" for i in ids)
    devs = {"ipmi": {"pcmk_host_list": names}, "pdu": {"pcmk_host_list": names}}
    levels = [(f"node{target}", 1, "ipmi"), (f"node{target}", 2, "pdu")]
    c = cluster(seed, n, fence_cib(devs, levels), network=NetworkOptions(loss=loss))
    c.devices.set(DeviceBehaviour(duration_ms=rng.randint(100, 2000)))
    if broken_first:
        c.devices.set(DeviceBehaviour(duration_ms=300, rc=1), device="ipmi")
    c.world.run_for(5_000_000)
    for i in ids:
        c.executors[i].submit(Request(f"rsc{i}", DUMMY, "start", timeout_ms=20_000))
    c.world.run_for(1_000_000)
    clients = [cid for cid in (c.fencing.fence(asker, f"node{target}", "off"),
                               c.fencing.fence(second, f"node{target}", "off") if second else None)
               if cid is not None]
    c.world.run_for(60_000_000)
    v: list[str] = []
    survivors = [i for i in ids if i != target and c.world.alive(i)]
    if c.devices.power[target] or c.world.alive(target):
        v.append(f"node{target} was not fenced")
    for i in survivors:
        if target in c.members(i):
            v.append(f"node{target} still in the fencer group at node{i}: {c.members(i)}")
    v += identical_histories(c)
    offs = [e for e in c.devices.log if e[3] == "off" and e[5] == 0]
    if len(offs) != 1:
        v.append(f"expected the device to switch node{target} off once, got {offs}")
    if broken_first and offs and offs[0][2] != "pdu":
        v.append(f"level 1 is broken, level 2 (pdu) should have fenced; got {offs[0][2]}")
    for cid in clients:
        reply = c.fencing.replies.get(cid)
        if reply is None or not reply[2].get("ok"):
            v.append(f"client {cid}: expected a successful reply, got {reply}")
    hist = c.fencing.history(survivors[0]) if survivors else []
    summary = {"seed": seed, "nodes": n, "target": f"node{target}", "asker": f"node{asker}",
               "second": f"node{second}" if second else None, "broken_first_level": broken_first,
               "loss": loss, "fenced": [c.name(i) for i in c.devices.fenced()],
               "history": [{k: h[k] for k in ("id", "state", "merged_into", "devices")}
                           for h in hist],
               "simulated_s": round(c.world.now_us / 1e6, 3),
               "wall_s": round(time.perf_counter() - t0, 3)}
    return RunResult(seed, summary, v, c.world.trace)
