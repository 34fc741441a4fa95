"""The Docker backend: the scenario's cluster as containers, in real time.

Trace records come from each node's trace file (bind-mounted, so they survive a killed
container); their wall-clock ``ts`` is put on the run's clock. What a node cannot
write itself — that its container was SIGKILLed or frozen, or its daemon killed — the
backend writes as records of its own (``node_crash``, ``node_pause``, ``node_resume``).
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

from harness.backends import Backend, Unsupported
from harness.faults import NetFaults, load


def netem_on(c: Any, n: int, delay_ms: float, jitter_ms: float, duplicate: float,
             reorder: float) -> str:
    """tc netem on node ``n``'s eth0, or remove it when everything is zero."""
    if not (delay_ms or jitter_ms or duplicate or reorder):
        c.exec(n, ["tc", "qdisc", "del", "dev", "eth0", "root"])
        return ""
    argv = ["tc", "qdisc", "replace", "dev", "eth0", "root", "netem"]
    if delay_ms or jitter_ms:
        argv += ["delay", f"{delay_ms}ms", f"{jitter_ms}ms"]
    if reorder:
        argv += ["reorder", f"{reorder}%"]
    if duplicate:
        argv += ["duplicate", f"{duplicate}%"]
    cp = c.exec(n, argv)
    if cp.returncode != 0:
        err = (cp.stderr or cp.stdout).strip()
        if "qdisc kind is unknown" in err or "No such file" in err or "not found" in err.lower():
            raise Unsupported(f"netem (delay, jitter, reordering, duplication) is not supported on "
                              f"this kernel: `{' '.join(argv)}` in n{n} said: {err}")
        raise Unsupported(f"netem on n{n} failed: `{' '.join(argv)}`: {err}")
    return ""


class DockerBackend(Backend):
    name = "docker"
    poll_ms = 200.0

    def __init__(self, scenario: Any, seed: int, run_dir: Path) -> None:
        from harness.docker_cluster import DockerCluster

        self.nodes = list(scenario.nodes)
        self.seed = seed
        name = f"run-{scenario.name[:20].replace('_', '-')}-{int(time.time() * 1000) % 10**8}"
        self.cluster = DockerCluster(name, len(self.nodes), workdir=run_dir / "cluster",
                                     totem=scenario.totem, quorum=scenario.quorum,
                                     trace_deliveries=True, ephemeral=True)
        self.t0 = time.time()
        self._offsets = {n: 0 for n in self.nodes}
        self._partial = {n: b"" for n in self.nodes}
        self._own: list[dict[str, Any]] = []
        self._faults = NetFaults()
        self._up: set[int] = set(self.nodes)

    def start(self) -> None:
        self.t0 = time.time()
        self.cluster.up(wait_quorum=False, timeout=120.0)

    def now_ms(self) -> float:
        return (time.time() - self.t0) * 1000

    def advance(self, ms: float) -> None:
        time.sleep(max(0.0, ms) / 1000)

    def _mark(self, n: int, event: str, t_ms: float) -> None:
        self._own.append({"t_ms": round(t_ms, 3), "node": n, "event": event, "by": "harness"})

    def new_records(self) -> list[dict[str, Any]]:
        out, self._own = self._own, []
        for n in self.nodes:
            path = self.cluster.trace_path(n)
            try:
                with open(path, "rb") as fh:
                    fh.seek(self._offsets[n])
                    chunk = fh.read()
            except FileNotFoundError:
                continue
            self._offsets[n] += len(chunk)
            data = self._partial[n] + chunk
            lines = data.split(b"\n")
            self._partial[n] = lines.pop()
            for line in lines:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                rec["t_ms"] = round((float(rec.get("ts", self.t0)) - self.t0) * 1000, 3)
                rec["node"] = n
                out.append(rec)
        out.sort(key=lambda r: r["t_ms"])
        return out

    def kill(self, n: int) -> None:
        t = self.now_ms()
        self.cluster.kill(n)
        self._up.discard(n)
        self._mark(n, "node_crash", t)

    def restart(self, n: int) -> None:
        self.cluster.restart(n)
        self._up.add(n)
        self._load_faults(n)

    def pause(self, n: int) -> None:
        t = self.now_ms()
        self.cluster.pause(n)
        self._up.discard(n)
        self._mark(n, "node_pause", t)

    def resume(self, n: int) -> None:
        t = self.now_ms()
        self.cluster.resume(n)
        self._up.add(n)
        self._mark(n, "node_resume", t)
        self._load_faults(n)

    def kill_daemon(self, n: int) -> None:
        t = self.now_ms()
        self.cluster.kill_daemon(n)
        self._mark(n, "node_crash", t)

    def start_daemon(self, n: int) -> None:
        self.cluster.start_daemon(n)

    def _load_faults(self, *hosts: int) -> None:
        load(self.cluster.nft, self._faults, {m: self.cluster.addr(m) for m in self.nodes}, hosts)

    def set_faults(self, faults: NetFaults) -> None:
        self._faults = faults.copy()
        self._load_faults(*sorted(self._up))

    def netem(self, n: int, delay_ms: float, jitter_ms: float, duplicate: float,
              reorder: float) -> str:
        return netem_on(self.cluster, n, delay_ms, jitter_ms, duplicate, reorder)

    def load(self, senders: list[int], rate: float, duration_ms: float, size: int) -> None:
        k = len(senders)
        for n in senders:
            argv = ["ha", "bench", "groups", "--group", "load", "--members", str(k),
                    "--senders", str(k), "--duration", f"{duration_ms / 1000:.3f}",
                    "--rate", f"{rate:g}", "--size", str(size),
                    "--timeout", f"{duration_ms / 1000 + 60:.0f}"]
            sh = f"nohup {shlex.join(argv)} >>/var/log/hastack/load.log 2>&1 &"
            self.cluster.exec(n, ["sh", "-c", sh])

    def files(self, run_dir: Path) -> dict[str, Any]:
        traces: dict[str, str] = {}
        logs: dict[str, str] = {}
        for n in self.nodes:
            for path, into in ((self.cluster.trace_path(n), traces),
                               (self.cluster.log_path(n), logs)):
                p = Path(path)
                if p.exists():
                    into[str(n)] = str(p.relative_to(run_dir)) if p.is_relative_to(run_dir) else str(p)
        return {"traces": traces, "logs": logs}

    def close(self, keep: bool = False) -> str | None:
        if keep:
            c = self.cluster.name
            return (f"cluster {c} kept: ha-harness status --name {c}; "
                    f"ha-harness exec --name {c} n1 -- ha quorum; ha-harness down --name {c}")
        self.cluster.down()
        return None
