"""CIB replication figures: updates per second through the replicated path on 3 nodes
(simulated and real daemons on loopback), and the time to sync a 1 MB CIB to a node
that joins. Prints one JSON object; progress goes to stderr.

    python -m bench.cib_replication [--updates 2000] [--seconds 10] [--clients 4] [--repeat 3]

- ``sim``: 3 simulated nodes (token 1000 ms); node 1 submits ``--updates`` property
  changes at once; updates/s is in virtual time (the protocol's own ceiling), with the
  wall time it took to simulate.
- ``real``: 3 ``ha node run`` daemons on loopback; ``--clients`` concurrent clients
  each send property changes one after another for ``--seconds`` (each waits for its
  acknowledgement: applied on every replica); updates/s and latency percentiles.
- ``sync_1mb``: nodes 1 and 2 hold a ~1 MB CIB (resources with instance attributes);
  node 3 starts with an empty one; the time from its start until it holds the same CIB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

from ha.cib.sim import CibSim
from ha.sim.world import SimWorld
from ha.totem.config import TotemConfig
from harness.realcluster import HastackCluster


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sim_updates(n: int) -> dict[str, Any]:
    nodes = (1, 2, 3)
    world = SimWorld(nodes, seed=1, totem=TotemConfig(token=1000, nodes=nodes))
    cs = CibSim(world, keep_history=False)
    world.start()
    world.run_for(5_000_000)
    t0, w0 = world.now_us, time.perf_counter()
    rids = [cs.update(1, "property", {"name": f"p{k % 50}", "value": str(k)}) for k in range(n)]
    while not all(r in cs.replies for r in rids) and world.now_us - t0 < 600_000_000:
        world.run_for(10_000)
    acked = [cs.replies[r][0] for r in rids if r in cs.replies and cs.replies[r][1].ok]
    span = (max(acked) - t0) / 1e6 if acked else float("nan")
    return {"updates": n, "acked": len(acked), "virtual_s": round(span, 3),
            "updates_per_s": round(len(acked) / span, 1) if acked else 0.0,
            "wall_s": round(time.perf_counter() - w0, 2)}


def real_updates(seconds: float, clients: int, workdir: str) -> dict[str, Any]:
    from ha.runtime.control import ControlClient

    with HastackCluster(3, workdir) as c:
        c.start_converged()
        c.wait_for("CIB synced", lambda: not (c.try_ask(1, "cib_query") or {"syncing": 1})["syncing"], 30)
        lat: list[float] = []
        errors: list[str] = []
        stop = time.monotonic() + seconds
        lock = threading.Lock()

        def client(k: int) -> None:
            node = 1 + k % 3
            with ControlClient(c.path(node, "sock"), timeout=60) as cc:
                j = 0
                while time.monotonic() < stop:
                    j += 1
                    t = time.perf_counter()
                    r = cc.request("cib_update", cib_op="property",
                                   args={"name": f"bench-{k}", "value": str(j)}, xml="")
                    with lock:
                        (lat.append((time.perf_counter() - t) * 1000) if r.get("ok")
                         else errors.append(str(r.get("error"))))
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        span = time.perf_counter() - t0
        docs = {c.ask(i, "cib_query")["xml"] for i in c.nodes}
    lat.sort()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else float("nan")
    return {"clients": clients, "seconds": round(span, 2), "acked": len(lat),
            "updates_per_s": round(len(lat) / span, 1), "latency_ms": {
                "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
            "errors": len(errors), "replicas_identical": len(docs) == 1}


def big_cib(target: int = 1 << 20) -> str:
    prims = []
    k = 0
    size = 0
    while size < target:
        k += 1
        p = (f'<primitive id="r{k}" class="ocf" provider="heartbeat" type="Dummy">'
             f'<instance_attributes id="r{k}-ia">'
             + "".join(f'<nvpair id="r{k}-a{j}" name="attr{j}" value="value-{k}-{j}"/>'
                       for j in range(8))
             + f'</instance_attributes><operations><op id="r{k}-mon" name="monitor" '
               f'interval="10s" timeout="20s"/></operations></primitive>')
        prims.append(p)
        size += len(p)
    return "<resources>" + "".join(prims) + "</resources>"


def sync_1mb(repeat: int, workdir: str) -> dict[str, Any]:
    samples = []
    body = big_cib()
    for r in range(repeat):
        with HastackCluster(3, f"{workdir}/sync{r}") as c:
            for i in (1, 2):
                c.start_node(i)
            c.wait_membership([1, 2], [1, 2], 30)
            c.wait_for("CIB synced", lambda: not (c.try_ask(1, "cib_query") or {"syncing": 1})["syncing"], 30)
            got = c.ask(1, "cib_update", cib_op="replace", args={"section": "resources"}, xml=body)
            assert got.get("ok"), got
            want = c.ask(2, "cib_query", xpath="/cib/configuration")["xml"]
            t0 = c.start_node(3)

            def synced(c: HastackCluster = c, want: str = want) -> bool:
                q = c.try_ask(3, "cib_query")
                if q is None or q.get("syncing"):
                    return False
                return bool(c.ask(3, "cib_query", xpath="/cib/configuration")["xml"] == want)
            t1 = c.wait_for("node 3 holds the 1 MB CIB", synced, 120)
            samples.append(round((t1 - t0) * 1000, 1))
            log(f"sync_1mb: {samples[-1]} ms")
    return {"cib_bytes": len(body), "samples_ms": samples, "median_ms": statistics.median(samples),
            "note": "from the joining daemon's exec (process start included) to its holding the "
                    "same configuration, polled every few ms"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    out: dict[str, Any] = {}
    log("sim: updates")
    out["sim"] = sim_updates(a.updates)
    with tempfile.TemporaryDirectory() as tmp:
        log("real: updates")
        out["real"] = real_updates(a.seconds, a.clients, f"{tmp}/upd")
        log("real: sync of a 1 MB CIB")
        out["sync_1mb"] = sync_1mb(a.repeat, tmp)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
