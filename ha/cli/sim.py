"""``ha sim``: run the membership stack in the deterministic simulator.

``ha sim totem`` plays one random fault schedule drawn from ``--seed`` against a
simulated cluster, checks every invariant, prints a summary, and on a violation
exits 1 and prints the exact command that replays the run. ``ha sim sweep`` runs
many seeds in parallel with progress, for soak testing off CI. ``ha sim fencing``
plays one fencing scenario drawn from ``--seed`` (``ha.sim.fencing_run``): the fencer
cores on simulated nodes fencing one of them through simulated power switches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ha.sim import chaos, fencing_run

EXIT_VIOLATION = 1
EXIT_USAGE = 2

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?\s*$")


def parse_duration_ms(text: str) -> int:
    """'60s', '500ms', '2min', '1h' or a bare number of seconds → milliseconds."""
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"duration {text!r}: expected a number with a unit, e.g. 500ms, 60s, 2min")
    value = float(m.group(1))
    unit = m.group(2) or "s"
    scale = {"ms": 1, "s": 1000, "sec": 1000, "min": 60_000, "m": 60_000, "h": 3_600_000}[unit]
    return int(value * scale)


def _faults(text: str) -> tuple[str, ...]:
    items = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in items if f not in chaos.ALL_FAULTS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"--faults: unknown {', '.join(bad)}; expected some of {','.join(chaos.ALL_FAULTS)}")
    return items


_QUORUM_FLAGS = {"two_node", "wait_for_all", "last_man_standing", "auto_tie_breaker"}


def _quorum(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in (x.strip() for x in text.split(",") if x.strip()):
        if item not in _QUORUM_FLAGS:
            raise argparse.ArgumentTypeError(
                f"--quorum: unknown option {item!r}; expected some of {','.join(sorted(_QUORUM_FLAGS))}")
        out[item] = True
    return out


def add_parser(sub: Any) -> None:
    sim = sub.add_parser("sim", help="run the stack in the deterministic simulator")
    simsub = sim.add_subparsers(dest="sim_cmd", required=True)
    p = simsub.add_parser("totem", help="one random fault schedule against a simulated cluster")
    _common(p)
    p.add_argument("--seed", type=int, default=1, help="the seed that draws everything (default 1)")
    p.add_argument("--trace", metavar="FILE", help="write the JSON-lines trace to FILE")
    p.add_argument("--trace-deliveries", action="store_true", help="include every delivery in the trace")
    p.add_argument("--show-plan", action="store_true", help="print the drawn fault schedule")
    p.set_defaults(func=cmd_totem)
    s = simsub.add_parser("sweep", help="many seeds, in parallel, with progress")
    _common(s)
    s.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    s.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    s.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    s.set_defaults(func=cmd_sweep)
    f = simsub.add_parser("fencing", help="one fencing scenario against simulated nodes")
    f.add_argument("--seed", type=int, default=1, help="the seed that draws everything (default 1)")
    f.add_argument("--nodes", type=int, help="cluster size (default: drawn from the seed, 3-5)")
    f.add_argument("--trace", metavar="FILE", help="write the JSON-lines trace to FILE")
    f.add_argument("--output-as", choices=("text", "json"), default="text")
    f.set_defaults(func=cmd_fencing)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=int, help="cluster size (default: drawn from the seed, 3-7)")
    p.add_argument("--duration", type=parse_duration_ms, default=60_000, metavar="DUR",
                   help="fault phase length, e.g. 60s (default 60s)")
    p.add_argument("--faults", type=_faults, default=chaos.DEFAULT_FAULTS,
                   help=f"comma list from {','.join(chaos.ALL_FAULTS)} (default {','.join(chaos.DEFAULT_FAULTS)})")
    p.add_argument("--token", type=int, metavar="MS", help="totem.token (default: drawn: 300, 1000 or 3000)")
    p.add_argument("--quorum", type=_quorum, metavar="OPTS",
                   help="votequorum options, e.g. wait_for_all,auto_tie_breaker (default: drawn)")
    p.add_argument("--output-as", choices=("text", "json"), default="text")


def _plan_from(args: argparse.Namespace, seed: int) -> chaos.Plan:
    if args.nodes is not None and not 1 <= args.nodes <= 32:
        raise SystemExit(f"ha sim: --nodes {args.nodes}: expected 1 to 32")
    return chaos.plan(seed, nodes=args.nodes, duration_ms=args.duration, faults=args.faults,
                      token_ms=args.token, quorum=args.quorum)


def replay_command(args: argparse.Namespace, seed: int) -> str:
    parts = ["ha sim totem", f"--seed {seed}", f"--duration {args.duration}ms"]
    if args.nodes is not None:
        parts.append(f"--nodes {args.nodes}")
    parts.append(f"--faults {','.join(args.faults)}")
    if args.token is not None:
        parts.append(f"--token {args.token}")
    if args.quorum is not None:
        parts.append(f"--quorum {','.join(sorted(args.quorum)) or ''}")
    return " ".join(parts)


def cmd_totem(args: argparse.Namespace) -> int:
    p = _plan_from(args, args.seed)
    if args.show_plan and args.output_as == "text":
        print(json.dumps(chaos.plan_dict(p), indent=1))
    result = chaos.run(p, trace_deliveries=args.trace_deliveries)
    if args.trace:
        with open(args.trace, "w", encoding="utf-8") as fh:
            fh.write("\n".join(result.trace) + "\n")
    replay = replay_command(args, args.seed)
    if args.output_as == "json":
        print(json.dumps({**result.summary, "ok": result.ok, "liveness": result.liveness,
                          "replay": replay}, sort_keys=True))
    else:
        _print_summary(result, replay)
    return 0 if result.ok else EXIT_VIOLATION


def _print_summary(result: chaos.RunResult, replay: str) -> None:
    s = result.summary
    p = result.plan
    quorum = ",".join(k for k, v in sorted(p.quorum.items()) if v) or "default"
    print(f"seed {p.seed}: {len(p.nodes)} nodes, token {p.token_ms} ms, quorum {quorum}, "
          f"{len(p.faults)} faults over {p.duration_ms / 1000:g} s")
    kinds: dict[str, int] = {}
    for f in p.faults:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    print("  faults:        " + (", ".join(f"{k} ×{n}" for k, n in sorted(kinds.items())) or "none"))
    print(f"  delivered:     {s['delivered']} messages ({s['messages_submitted']} submitted)")
    print(f"  configurations:{s['configurations']:>6}   quorum changes: {s['quorum_changes']}")
    conv = s["converged_after_heal_ms"]
    healed = f"one ring in {conv:.0f} ms" if conv is not None else "NO single ring"
    print(f"  after heal:    {healed}")
    print(f"  simulated:     {s['simulated_s']:.1f} s in {s['wall_s']:.2f} s wall "
          f"({s['simulated_s'] / max(s['wall_s'], 1e-9):.0f}×)")
    if result.ok:
        print("  invariants:    agreed_order no_duplication no_creation membership_agreement "
              "virtual_synchrony safe_delivery one_quorate_partition liveness — all held")
        return
    for v in result.violations + result.liveness:
        print(f"  VIOLATION: {v}")
    print(f"replay: {replay}")


def _sweep_one(job: tuple[argparse.Namespace, int]) -> tuple[int, bool, list[str], float]:
    args, seed = job
    r = chaos.run(_plan_from(args, seed))
    return seed, r.ok, (r.violations + r.liveness)[:3], r.summary["simulated_s"]


def cmd_sweep(args: argparse.Namespace) -> int:
    seeds = range(args.start, args.start + args.seeds)
    failed: list[tuple[int, list[str]]] = []
    simulated = 0.0
    t0 = time.perf_counter()
    done = 0
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for seed, ok, problems, sim_s in pool.map(_sweep_one, [(args, s) for s in seeds], chunksize=4):
            done += 1
            simulated += sim_s
            if not ok:
                failed.append((seed, problems))
                print(f"seed {seed}: VIOLATION {problems[0] if problems else ''}", file=sys.stderr)
                print(f"  replay: {replay_command(args, seed)}", file=sys.stderr)
            if args.output_as == "text" and (done % 10 == 0 or done == len(seeds)):
                rate = done / (time.perf_counter() - t0)
                print(f"\r{done}/{len(seeds)} seeds, {len(failed)} failed, {rate:.1f} seeds/s",
                      end="", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    if args.output_as == "text":
        print(file=sys.stderr)
    summary = {"seeds": len(seeds), "first_seed": args.start, "failed": [s for s, _ in failed],
               "simulated_s": round(simulated, 1), "wall_s": round(wall, 1)}
    print(json.dumps(summary) if args.output_as == "json" else
          f"{len(seeds)} seeds, {len(failed)} with violations; {simulated:.0f} simulated s in {wall:.0f} s")
    return EXIT_VIOLATION if failed else 0


def cmd_fencing(args: argparse.Namespace) -> int:
    if args.nodes is not None and not 3 <= args.nodes <= 32:
        raise SystemExit(f"ha sim fencing: --nodes {args.nodes}: expected 3 to 32")
    r = fencing_run.run(args.seed, args.nodes)
    if args.trace:
        with open(args.trace, "w", encoding="utf-8") as fh:
            fh.write("\n".join(r.trace) + "\n")
    replay = f"ha sim fencing --seed {args.seed}" + (f" --nodes {args.nodes}" if args.nodes else "")
    if args.output_as == "json":
        print(json.dumps({**r.summary, "ok": r.ok, "violations": r.violations, "replay": replay},
                         sort_keys=True))
    else:
        s = r.summary
        print(f"seed {s['seed']}: {s['nodes']} nodes, loss {s['loss']}, {s['asker']} fences "
              f"{s['target']}" + (f" (and {s['second']} at once)" if s["second"] else "")
              + (", first topology level broken" if s["broken_first_level"] else ""))
        for h in s["history"]:
            merged = f" merged into {h['merged_into']}" if h["merged_into"] else ""
            print(f"  {h['id']}: {h['state']}{merged} via {','.join(h['devices']) or '-'}")
        print(f"  fenced: {', '.join(s['fenced']) or 'none'}; simulated {s['simulated_s']:g} s "
              f"in {s['wall_s']:.2f} s wall")
        if r.ok:
            print("  checks: target off, out of every membership, histories agree, "
                  "requests merged, clients answered — all held")
        for v in r.violations:
            print(f"  VIOLATION: {v}")
        if not r.ok:
            print(f"replay: {replay}")
    return 0 if r.ok else EXIT_VIOLATION
