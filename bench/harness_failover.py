"""Failover figures of the harness scenarios, the same files in both worlds side by side.

    python -m bench.harness_failover [--scenarios kill_one_of_three,partition_2_3_of_5]
        [--backends docker,sim] [--repeat 5] [--svg docs/harness-failover.svg]

Runs each scenario ``--repeat`` times per backend (seeds 1..N) and prints one JSON
object: per backend, per scenario, per fault, the detection time, the time to the new
membership and the time to merge after the heal (min, median, max over the runs), and
the ratio docker / sim of the medians. The simulator is the protocol alone in virtual
time; Docker adds real sockets, a real event loop, container start and the kernel, so
the ratio shows what the real world costs over the model. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.runner import run
from harness.scenario import load

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("detection_ms", "new_membership_ms", "merge_after_heal_ms")


def summary(samples: list[float]) -> dict[str, Any]:
    return {"n": len(samples), "samples": samples, "min": min(samples),
            "median": round(statistics.median(samples), 3), "max": max(samples)}


def measure(backend: str, names: list[str], repeat: int, runs: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend, "nodes": "3–5", "membership": {}, "failed_runs": []}
    for name in names:
        sc = load(ROOT / "scenarios" / f"{name}.yaml")
        per: dict[str, dict[str, list[float]]] = {}
        for seed in range(1, repeat + 1):
            print(f"{backend}: {name} seed {seed}/{repeat}", file=sys.stderr, flush=True)
            result, run_dir = run(sc, backend, seed, runs, progress=lambda s: None)
            if not result["ok"]:
                out["failed_runs"].append(str(run_dir))
                continue
            for m in result["measurements"]:
                for fig in FIGURES:
                    if m[fig] is not None:
                        per.setdefault(f"{m['fault']}: {fig}", {}).setdefault(fig, []).append(m[fig])
        out["membership"][name] = {label: summary(v[fig]) for label, v in per.items()
                                   for fig in v}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", default="kill_one_of_three,partition_2_3_of_5,pause_2x_token")
    ap.add_argument("--backends", default="docker,sim")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--runs", help="keep the runs here (default: a temporary directory)")
    ap.add_argument("--svg", help="also draw the figures side by side as an SVG picture")
    a = ap.parse_args(argv)
    names = a.scenarios.split(",")
    backends = a.backends.split(",")
    if "docker" in backends:
        from harness.image import build, unavailable

        why = unavailable()
        if why:
            print(f"docker backend unavailable: {why}", file=sys.stderr)
            return 3
        build(progress=lambda s: print(s, file=sys.stderr))
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(a.runs or tmp)
        result: dict[str, Any] = {
            "machine": {"cpus": __import__("os").cpu_count(), "kernel": platform.release(),
                        "python": platform.python_version()},
            "repeat": a.repeat,
            "panel_format": "scenario {prof}: ms from the fault (or its undo); lower is better",
            "backends": {b: measure(b, names, a.repeat, runs) for b in backends}}
    if len(backends) == 2:
        x, y = (result["backends"][b]["membership"] for b in backends)
        result["ratio"] = {f"{s}: {k}": round(x[s][k]["median"] / y[s][k]["median"], 2)
                           for s in x for k in x[s]
                           if k in y.get(s, {}) and y[s][k]["median"]}
    print(json.dumps(result, indent=1))
    if a.svg:
        from bench.chart import render

        Path(a.svg).write_text(render(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
