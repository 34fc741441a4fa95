"""Benchmark: a fence operation through hastack against fence_ipmilan run directly.

Prints one JSON object (progress to stderr). One virtual BMC (harness.bmc: ipmi_sim on
loopback, its chassis power killing and starting a ``sleep`` process) serves every
path, with the device parameters the issue prescribes (lanplus, cipher=3,
power_wait=0). For each operation — ``status``, ``off+on`` (an off then an on, the
node left on), ``reboot`` — and each path, ``--repeat`` runs, interleaved path by path
so that drift in the machine's load falls on all paths alike:

- ``direct``: ``/usr/sbin/fence_ipmilan`` as a child process fed its stdin arguments
  (``key=value`` lines written here, without project code) — the baseline;
- ``runner``: ``ha.runtime.fence_runner.run_fence_agent_sync`` (its own event loop per
  call, stdin built by ``ha.fencing.agent``, the agent in its own process group);
- ``fencer``: a fence request to the fencer core (``ha.fencing.fencer``) hosted in one
  process by ``harness.fencer_host`` — the device read from a CIB, the request
  multicast to (a one-member) process group ``fencer`` and delivered back, the agent
  run by the runner, the result recorded and answered. ``status`` has no fence request,
  so this path measures ``off+on`` (two requests) and ``reboot``. The agent's metadata,
  which the fencer reads once per agent, is read during the warm-up run;
- ``daemon``: the same requests to a one-node hastack daemon (``ha node run`` on
  loopback, Totem token 300 ms) over its control socket (``stonith_fence``, what
  ``ha stonith fence`` sends, without the CLI's own start-up): the device comes from
  the replicated CIB, request and result go through the node's Totem ring as safe
  multicasts in process group ``fencer``.

Reported per operation and path: median, min and max wall time in ms; per operation
``overhead_ms`` = median(path) − median(direct) (the target in issue 7: ≤ 50 ms for a
fence operation through the fencer) and ``overhead_min_ms``, the same from the fastest
runs (on a shared machine the medians carry the other load's noise, ± 10-20 ms).

Usage: ``python bench/fencing.py [--repeat 20] [--out bench/results/fencing-DATE.json]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ha.runtime.fence_runner import run_fence_agent_sync  # noqa: E402
from harness.bmc import ProcessNode, VirtualBMC  # noqa: E402
from harness.fencer_host import FencerHost  # noqa: E402
from harness.realcluster import HastackCluster  # noqa: E402

AGENT = "/usr/sbin/fence_ipmilan"
NODE = "node1"
TIMEOUT_S = 60.0


def _direct(params: dict[str, str], action: str) -> int:
    text = f"action={action}\nnodename={NODE}\n" + "".join(
        f"{k}={v}\n" for k, v in params.items())
    return subprocess.run([AGENT], input=text.encode(), capture_output=True).returncode


def _runner(params: dict[str, str], action: str) -> int:
    return run_fence_agent_sync(AGENT, {**params, "pcmk_host_list": NODE}, action, NODE,
                                timeout=TIMEOUT_S, host_arg="plug").rc


def _ok(action: str, rc: int) -> bool:
    return rc == 0 or (action == "status" and rc == 2)


def _timed(fn: Callable[[], bool]) -> float:
    t0 = time.perf_counter()
    ok = fn()
    ms = (time.perf_counter() - t0) * 1000.0
    if not ok:
        raise RuntimeError("a fence operation failed during the benchmark")
    return ms


def _stats(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 2), "min_ms": round(min(ms), 2),
            "max_ms": round(max(ms), 2), "n": len(ms)}


def _fencer_paths(host: FencerHost) -> dict[str, Callable[[], bool]]:
    def off_on() -> bool:
        return bool(host.fence(NODE, "off")["ok"] and host.fence(NODE, "on")["ok"])

    def reboot() -> bool:
        return bool(host.fence(NODE, "reboot")["ok"])
    return {"off+on": off_on, "reboot": reboot}


def _daemon(tmp: Path, params: dict[str, str]) -> tuple[HastackCluster,
                                                      dict[str, Callable[[], bool]]]:
    c = HastackCluster(1, str(tmp / "cluster"), token=300, token_coefficient=0)
    try:
        c.start_converged()
        c.wait_for("the CIB", lambda: (r := c.try_ask(1, "cib_query")) is not None
                   and not r.get("syncing"), 30)
    except BaseException:
        c.close()
        raise
    attrs = {**params, "pcmk_host_list": NODE}
    nvs = "".join(f'<nvpair id="bmc-{k}" name="{k}" value="{v}"/>' for k, v in attrs.items())
    xml = (f'<primitive id="bmc-{NODE}" class="stonith" type="fence_ipmilan">'
           f'<instance_attributes id="bmc-ia">{nvs}</instance_attributes></primitive>')
    r = subprocess.run([sys.executable, "-m", "ha.cli.main", "cib", "create", "-o", "resources",
                        "--xml", xml, "--socket", c.path(1, "sock")], capture_output=True,
                       text=True)
    if r.returncode != 0:
        c.close()
        raise RuntimeError(f"could not configure the device: {r.stderr}")

    def fence(action: str) -> bool:
        return bool(c.ask(1, "stonith_fence", target=NODE, action=action).get("ok"))
    return c, {"off+on": lambda: fence("off") and fence("on"),
               "reboot": lambda: fence("reboot")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    if not os.access(AGENT, os.X_OK):
        print(f"{AGENT} missing (Debian: fence-agents)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, \
            VirtualBMC(Path(tmp) / "bmc", ProcessNode(("sleep", "1000000")), name=NODE) as bmc:
        params = bmc.fence_params()
        paths: dict[str, dict[str, Callable[[], bool]]] = {
            "direct": {
                "status": lambda: _ok("status", _direct(params, "status")),
                "off+on": lambda: _direct(params, "off") == 0 and _direct(params, "on") == 0,
                "reboot": lambda: _direct(params, "reboot") == 0},
            "runner": {
                "status": lambda: _ok("status", _runner(params, "status")),
                "off+on": lambda: _runner(params, "off") == 0 and _runner(params, "on") == 0,
                "reboot": lambda: _runner(params, "reboot") == 0},
        }
        host = FencerHost.for_device(NODE, "fence_ipmilan", params)
        paths["fencer"] = _fencer_paths(host)
        cluster, paths["daemon"] = _daemon(Path(tmp), params)
        ops = ("status", "off+on", "reboot")
        times: dict[str, dict[str, list[float]]] = {p: {o: [] for o in ops if o in paths[p]}
                                                    for p in paths}
        for fns in paths.values():                       # warm-up (page cache, imports)
            for fn in fns.values():
                _timed(fn)
        for i in range(args.repeat):
            print(f"repetition {i + 1}/{args.repeat}", file=sys.stderr)
            for op in ops:
                for p, fns in paths.items():
                    if op in fns:
                        times[p][op].append(_timed(fns[op]))
        boots = len(bmc.boots())
        host.close()
        cluster.close()
    result: dict[str, Any] = {
        "benchmark": "fencing",
        "date": datetime.date.today().isoformat(),
        "command": "python bench/fencing.py --repeat " + str(args.repeat),
        "host": {"cpus": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
                 "python": platform.python_version(),
                 "fence_agents": _pkg_version("fence-agents"),
                 "openipmi": _pkg_version("openipmi")},
        "device": {k: v for k, v in params.items() if k != "password"},
        "node_boots": boots,
        "operations": {},
        "target_overhead_ms": 50,
    }
    for op in ops:
        entry: dict[str, Any] = {p: _stats(times[p][op]) for p in times if op in times[p]}
        base = entry["direct"]["median_ms"]
        entry["overhead_ms"] = {p: round(entry[p]["median_ms"] - base, 2)
                                for p in entry if p != "direct"}
        # the fastest runs are the least disturbed by the other load on a shared machine
        entry["overhead_min_ms"] = {p: round(entry[p]["min_ms"] - entry["direct"]["min_ms"], 2)
                                    for p in entry if p not in ("direct", "overhead_ms")}
        result["operations"][op] = entry
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


def _pkg_version(pkg: str) -> str | None:
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True,
                       text=True)
    return r.stdout.strip() or None


if __name__ == "__main__":
    sys.exit(main())
