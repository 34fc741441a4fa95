"""Benchmark: an agent action through the executor against the same agent run directly.

For each case (Dummy's probe, Dummy's start then stop, and the smallest agent there is
— the project's shell agent answering ``validate-all`` at once), ``--reps`` rounds,
each running the same action three ways, interleaved so that machine load hits all
three alike:

- ``direct_subprocess``: ``subprocess.run`` of the agent with the same OCF environment,
  its own session and captured output — what a hand-written script would do;
- ``direct_asyncio``: the same through asyncio's subprocess API, as the runner spawns;
- ``executor``: ``ExecutorRunner.run(Request(...))`` — the sans-IO core (queue, limit,
  timeout timer, environment, rc mapping, trace records) plus the runner.

Figures are medians in milliseconds, the ratio executor/direct and the added time.
``core_only_us`` is the core alone (submit, exit, result; no process) per action.

Usage: ``python bench/executor.py [--reps 50] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ha.executor import (  # noqa: E402  (after the path above)
    AgentExited,
    Executor,
    Request,
    ResourceAgent,
    RunAgent,
)
from ha.executor.environment import action_argv, ocf_environment  # noqa: E402
from ha.runtime.executor_agents import AgentDirectory  # noqa: E402
from ha.runtime.executor_runner import ExecutorRunner, base_environment  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "agents"


def direct_env(req: Request) -> dict[str, str]:
    return {**base_environment(), **ocf_environment(
        req.agent, req.rsc_id, req.action, params=req.params, meta=req.meta,
        interval_ms=req.interval_ms, timeout_ms=req.timeout_ms)}


def run_direct_subprocess(path: str, req: Request) -> None:
    subprocess.run(action_argv(req.agent, path, req.action), env=direct_env(req), cwd="/",
                   stdin=subprocess.DEVNULL, capture_output=True, start_new_session=True,
                   timeout=req.timeout_ms / 1000, check=False)


async def run_direct_asyncio(path: str, req: Request) -> None:
    proc = await asyncio.create_subprocess_exec(
        *action_argv(req.agent, path, req.action), env=direct_env(req), cwd="/",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    await asyncio.wait_for(proc.communicate(), req.timeout_ms / 1000)


def cases(state_dir: str) -> dict[str, list[Request]]:
    dummy = ResourceAgent.parse("ocf:heartbeat:Dummy")
    stubborn = ResourceAgent.parse("ocf:hastack:Stubborn")
    state = {"state": os.path.join(state_dir, "bench.state")}
    return {
        "dummy_probe": [Request("bench", dummy, "monitor", params=state)],
        "dummy_start_stop": [Request("bench", dummy, "start", params=state),
                             Request("bench", dummy, "stop", params=state)],
        "minimal_sh_agent": [Request("bench", stubborn, "validate-all")],
    }


def ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


async def measure(reps: int) -> dict[str, Any]:
    d = AgentDirectory(ra_path=[str(DATA / "ocf"), "/usr/lib/ocf/resource.d"])
    runner = ExecutorRunner(Executor(d.locate, node="bench"))
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, reqs in cases(tmp).items():
            paths = [d.locate(r.agent) for r in reqs]
            if None in paths:
                out[name] = {"skipped": f"{reqs[0].agent} is not installed"}
                continue
            times: dict[str, list[float]] = {"direct_subprocess": [], "direct_asyncio": [],
                                             "executor": []}
            for _ in range(reps):
                t0 = time.perf_counter()
                for path, req in zip(paths, reqs, strict=True):
                    run_direct_subprocess(path or "", req)
                times["direct_subprocess"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                for path, req in zip(paths, reqs, strict=True):
                    await run_direct_asyncio(path or "", req)
                times["direct_asyncio"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                for req in reqs:
                    res = await runner.run(req)
                    assert res.status == 0, res
                times["executor"].append(time.perf_counter() - t0)
            med = {k: ms(v) for k, v in times.items()}
            out[name] = {
                "actions": [r.action for r in reqs],
                "median_ms": med,
                "ratio_vs_subprocess": round(med["executor"] / med["direct_subprocess"], 3),
                "ratio_vs_asyncio": round(med["executor"] / med["direct_asyncio"], 3),
                "added_ms_vs_subprocess": round(med["executor"] - med["direct_subprocess"], 3),
                "added_ms_vs_asyncio": round(med["executor"] - med["direct_asyncio"], 3),
            }
    await runner.close()
    return out


def core_only(actions: int) -> float:
    """Microseconds per action in the sans-IO core alone: submit, agent exit, result."""
    ex = Executor(lambda a: "/bin/true", node="bench")
    agent = ResourceAgent.parse("ocf:heartbeat:Dummy")
    t0 = time.perf_counter()
    for i in range(actions):
        _, effects = ex.submit(Request(f"r{i % 50}", agent, "monitor"), float(i))
        for eff in effects:
            if isinstance(eff, RunAgent):
                ex.step(AgentExited(eff.call_id, 0), float(i))
    return round((time.perf_counter() - t0) / actions * 1e6, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    result = {
        "benchmark": "executor",
        "reps": args.reps,
        "cases": asyncio.run(measure(args.reps)),
        "core_only_us_per_action": core_only(20_000),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "loadavg_1m": round(os.getloadavg()[0], 2)},
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
