"""``ha-harness``: the laboratory's command.

::

    ha-harness run scenarios/X.yaml [--backend sim|docker] [--seed N] [--runs DIR] [--keep failed]
    ha-harness image build [--force] [--base IMAGE] | image show
    ha-harness up --nodes N [--config FILE] [--name NAME]
    ha-harness status [--name NAME] | exec NODE -- CMD | logs NODE [-f] | down [--name NAME | --all]
    ha-harness fault partition 1,2|3 | halves | majority-ring | bridge
    ha-harness fault isolate N | oneway 1>2 | loss N PCT | loss 1,2 PCT | netem N --delay MS
    ha-harness fault kill N | restart N | pause N | resume N | kill-daemon N | start-daemon N
    ha-harness heal [all|partition|loss]
    ha-harness report RUN_DIR        # re-render report.html and junit.xml from result.json

Exit codes: 0 success, 1 a run whose checks or steps failed, 2 a usage or scenario error,
3 Docker unavailable.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_NAME = "hastack"


def _run(args: argparse.Namespace) -> int:
    from harness.runner import run
    from harness.scenario import ScenarioError, load

    try:
        sc = load(args.scenario)
    except ScenarioError as e:
        print(f"ha-harness: {e}", file=sys.stderr)
        return 2
    if args.backend == "docker":
        from harness.image import build, unavailable

        why = unavailable()
        if why:
            print(f"ha-harness: the docker backend is unavailable: {why}", file=sys.stderr)
            return 3
        build()
    result, run_dir = run(sc, args.backend, args.seed, args.runs, keep=args.keep)
    print(summary(result, str(run_dir)))
    return 0 if result["ok"] else 1


def summary(result: dict[str, Any], run_dir: str) -> str:
    lines = [f"{result['scenario']['name']} on {result['backend']} (seed {result['seed']}): "
             f"{'PASS' if result['ok'] else 'FAIL'} in {result['wall_s']:.1f} s wall, "
             f"{result['duration_ms'] / 1000:.1f} s of cluster time"]
    for s in result["steps"]:
        if not s["ok"]:
            lines.append(f"  step {s['index']} failed: {s['text']}: {s['detail']}")
    for c in result["checks"]:
        lines.append(f"  {c['name']:<22} {'ok' if c['ok'] else 'VIOLATED'}")
        for v in c["violations"][:5]:
            lines.append(f"    {v['invariant']} violated at t={v['t_ms'] / 1000:.3f}s on nodes "
                         f"{v['nodes']}: {v['detail']}")
    def f(m: dict[str, Any], k: str) -> str:
        return "—" if m[k] is None else f"{m[k]:.0f} ms"
    for m in result["measurements"]:
        lines.append(f"  {m['fault']:<28} detection {f(m, 'detection_ms'):>8}  new membership "
                     f"{f(m, 'new_membership_ms'):>8}  merge after heal {f(m, 'merge_after_heal_ms'):>8}")
    lines.append(f"  report: {run_dir}/report.html")
    if result.get("kept"):
        lines.append(f"  kept: {result['kept']}")
    return "\n".join(lines)


def _report(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from harness.runner import write

    d = Path(args.run_dir)
    try:
        result = json.loads((d / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"ha-harness: {d}/result.json: {e}", file=sys.stderr)
        return 2
    write(result, d)
    print(f"{d}/report.html")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ha-harness",
                                description="hastack's laboratory: clusters, faults, scenarios")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a scenario (YAML) in the simulator or in Docker")
    r.add_argument("scenario")
    r.add_argument("--backend", choices=("sim", "docker"), default="sim")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--runs", default="runs", help="where runs are stored (default ./runs)")
    r.add_argument("--keep", choices=("never", "failed", "always"), default="never",
                   help="docker: leave the cluster up after the run")
    r.set_defaults(func=_run)
    rp = sub.add_parser("report", help="re-render a run's report.html and junit.xml")
    rp.add_argument("run_dir")
    rp.set_defaults(func=_report)
    from harness import clustercli, image

    image.add_parser(sub)
    clustercli.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
