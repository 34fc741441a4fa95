"""Benchmark: a real cluster on a network-namespace lab. Prints one JSON object of figures.

Every backend (``--backend corosync`` today; a hastack backend registers itself in
``BACKENDS``) runs one node per lab host (``harness.netns.NetnsLab``) and is measured
by the same code, on the same faults, from the membership reports its nodes write:

- ``kill_to_membership_ms``: SIGKILL of the victim (the last node) until every
  survivor has reported a regular configuration without it;
- ``restart_to_joined_ms``: exec of the victim's daemon until every node has reported
  a configuration with all members;
- ``isolate_to_reformed_ms``: nftables isolation of the victim until it reports itself
  alone and every other node reports the others;
- ``heal_to_merged_ms``: removal of the rules until every node reports all members;
  each for every timing profile (``fast`` = token 300 ms, token_coefficient 0;
  ``default`` = the backend's defaults);
- ``throughput``: agreed-order process-group messages of each size from 1 and from
  all senders (msgs/s delivered per receiver; order hashes must be equal);
- ``loss``: throughput (one sender, node 1) and the number of regular configurations
  each node installed while the last host drops ``--loss-pct`` % of its packets in and
  out, for each of ``--loss-profiles``.

Each figure is repeated ``--repeat`` times and given as min/median/max. Progress goes
to stderr. With two backends (``--backend corosync,hastack`` or ``both``) it also
prints ratios first/second of every median.

Usage: ``python -m bench.realnet --backend corosync [--nodes 3] [--repeat 3] [--quick]``
(root, ``ip``, ``nft``; the Corosync backend needs corosync and libcpg-dev).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench import realnet_corosync, realnet_hastack
from bench.realnet_backend import Backend, BackendFactory, BenchSpec, Timing, bench_result
from harness.netns import NetnsLab

BACKENDS: dict[str, BackendFactory] = {"corosync": realnet_corosync.factory,
                                       "hastack": realnet_hastack.factory}
UNAVAILABLE: dict[str, Callable[[], str | None]] = {"corosync": realnet_corosync.unavailable,
                                                    "hastack": lambda: None}

PROFILES: dict[str, Timing] = {
    "fast": Timing("fast", token_ms=300, token_coefficient_ms=0),
    "default": Timing("default"),
}

Members = tuple[int, ...]


def log(msg: str) -> None:
    print(f"[realnet {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def summary(samples: list[float | None], digits: int = 1) -> dict[str, Any]:
    """min/median/max of the samples that were measured (None = the wait timed out)."""
    got = [s for s in samples if s is not None]
    out: dict[str, Any] = {"n": len(got), "failed": len(samples) - len(got),
                           "samples": [None if s is None else round(s, digits) for s in samples]}
    if got:
        out.update(min=round(min(got), digits), median=round(statistics.median(got), digits),
                   max=round(max(got), digits))
    return out


def wait_reports(backend: Backend, since: float, want: dict[int, Callable[[Members], bool]],
                 timeout_s: float, what: str) -> float | None:
    """Milliseconds from ``since`` until each node in ``want`` reported a matching config."""
    done: dict[int, float] = {}
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for i, ok in want.items():
            if i not in done:
                for ev in backend.membership_events(i):
                    if ev.ts >= since and ok(ev.members):
                        done[i] = ev.ts
                        break
        if len(done) == len(want):
            return (max(done.values()) - since) * 1000.0
        time.sleep(0.02)
    log(f"{what}: timed out after {timeout_s:.0f} s; reported: {done}")
    return None


def converged(backend: Backend, timeout_s: float) -> bool:
    """Wait until every node's latest regular configuration has all the nodes."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        latest = [backend.membership_events(i)[-1:] for i in backend.nodes]
        if all(ev and ev[0].members == backend.nodes for ev in latest):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def cluster(name: str, timing: Timing, args: argparse.Namespace) -> Iterator[Backend]:
    """A fresh lab and a started, converged cluster of the backend; all torn down after."""
    workdir = tempfile.mkdtemp(prefix=f"realnet-{name}-{timing.name}-", dir=args.workdir)
    with NetnsLab(args.nodes, prefix="rn") as lab:
        backend = BACKENDS[name](lab, timing, workdir, args)
        try:
            backend.start()
            if not converged(backend, args.timeout):
                raise RuntimeError(f"{name} ({timing.name}) did not form a full ring; "
                                   f"see {workdir}")
            time.sleep(args.settle)
            yield backend
        finally:
            backend.close()
    if args.keep:
        log(f"work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


_JITTER = random.Random(0)


def pause(args: argparse.Namespace) -> None:
    """Settle, plus a random part: a fault must not land at the same phase of the
    token rotation (or of the merge timer) every time, or the medians of both
    backends carry a phase bias instead of the protocol's behaviour."""
    time.sleep(args.settle + _JITTER.uniform(0, args.jitter))


def membership_cycle(b: Backend, args: argparse.Namespace) -> dict[str, float | None]:
    """kill → new membership, restart → joined, isolate → re-formed, heal → merged."""
    full = b.nodes
    victim = full[-1]
    others = tuple(n for n in full if n != victim)
    out: dict[str, float | None] = {}
    t0 = b.kill_node(victim)
    out["kill_to_membership_ms"] = wait_reports(
        b, t0, {i: (lambda m: victim not in m) for i in others}, args.timeout, "kill")
    pause(args)
    t0 = b.start_node(victim)
    out["restart_to_joined_ms"] = wait_reports(
        b, t0, {i: (lambda m: m == full) for i in full}, args.timeout, "restart")
    pause(args)
    t0 = b.isolate(victim)
    want: dict[int, Callable[[Members], bool]] = {i: (lambda m: m == others) for i in others}
    want[victim] = lambda m: m == (victim,)
    out["isolate_to_reformed_ms"] = wait_reports(b, t0, want, args.timeout, "isolate")
    pause(args)
    t0 = b.heal()
    out["heal_to_merged_ms"] = wait_reports(
        b, t0, {i: (lambda m: m == full) for i in full}, args.timeout, "heal")
    pause(args)
    if not converged(b, args.timeout):
        raise RuntimeError("cluster did not converge after the membership cycle")
    return out


_RUN = iter(range(1, 1 << 30))


def group_run(b: Backend, size: int, senders: int, duration_s: float,
              timeout_s: float) -> dict[int, dict[str, Any]]:
    """One process-group run: nodes 1..senders send, every node receives."""
    group = f"habench{os.getpid()}x{next(_RUN)}"
    n = len(b.nodes)
    order = [i for i in b.nodes if i > senders] + [i for i in b.nodes if i <= senders]
    procs = {i: b.start_bench(i, BenchSpec(group, size, duration_s, send=i <= senders,
                                           senders=senders, members=n, timeout_s=timeout_s))
             for i in order}
    return {i: bench_result(p, duration_s + 2 * timeout_s + 60) for i, p in procs.items()}


def throughput_run(b: Backend, size: int, senders: int,
                   args: argparse.Namespace) -> dict[str, Any]:
    res = group_run(b, size, senders, args.bench_duration, 30.0)
    ok = [r for r in res.values() if "error" not in r]
    rates = [float(r["msgs_per_s"]) for r in ok]
    return {
        "msgs_per_s": statistics.median(rates) if rates else None,
        "bytes_per_s": statistics.median(float(r["bytes_per_s"]) for r in ok) if ok else None,
        "per_receiver_msgs_per_s": {i: r.get("msgs_per_s") for i, r in res.items()},
        "latency_p50_ms": statistics.median(r["latency_ms"]["p50"] for r in ok) if ok else None,
        "latency_p99_ms": statistics.median(r["latency_ms"]["p99"] for r in ok) if ok else None,
        "order_hashes_equal": len(ok) == len(res) and len({r["order_hash"] for r in ok}) == 1,
        "delivered_equal": len(ok) == len(res) and len({r["delivered"] for r in ok}) == 1,
        "delivered": {i: r.get("delivered") for i, r in res.items()},
        "sent": sum(int(r.get("sent", 0)) for r in ok),
        "errors": {i: r for i, r in res.items() if "error" in r},
    }


def loss_run(b: Backend, args: argparse.Namespace, pct: float) -> dict[str, Any]:
    lossy = b.nodes[-1]
    t0 = b.loss(lossy, pct)
    res = group_run(b, args.loss_size, 1, args.loss_duration, 20.0)
    t1 = b.heal()
    changes = {i: sum(1 for ev in b.membership_events(i) if t0 <= ev.ts <= t1)
               for i in b.nodes}
    if not converged(b, args.timeout):
        raise RuntimeError("cluster did not converge after the loss run")
    time.sleep(args.settle)
    sender = res[b.nodes[0]]
    return {"membership_changes": max(changes.values()), "changes_per_node": changes,
            "msgs_per_s": sender.get("msgs_per_s"),
            "per_receiver_msgs_per_s": {i: r.get("msgs_per_s") for i, r in res.items()},
            "timed_out": {i: r.get("timed_out", r.get("error")) for i, r in res.items()}}


def throughput_figures(b: Backend, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"duration_s": args.bench_duration}
    for size in args.sizes:
        for k in sorted({min(k, args.nodes) for k in args.senders}):
            runs = []
            for r in range(args.repeat):
                log(f"{b.name}: throughput {size} B, {k} sender(s), run {r + 1}/{args.repeat}")
                runs.append(throughput_run(b, size, k, args))
                log(f"  {runs[-1]['msgs_per_s']} msgs/s, "
                    f"order hashes equal: {runs[-1]['order_hashes_equal']}")
            out[f"{size}B_{k}sender"] = {
                "msgs_per_s": summary([x["msgs_per_s"] for x in runs], 0),
                "bytes_per_s": summary([x["bytes_per_s"] for x in runs], 0),
                "latency_p50_ms": summary([x["latency_p50_ms"] for x in runs], 2),
                "latency_p99_ms": summary([x["latency_p99_ms"] for x in runs], 2),
                "order_hashes_equal": all(x["order_hashes_equal"] for x in runs),
                "delivered_equal": all(x["delivered_equal"] for x in runs),
                "runs": runs}
    return out


def loss_figures(b: Backend, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pct in args.loss_pct:
        runs = []
        for r in range(args.loss_repeat):
            log(f"{b.name}: {pct:g} % loss on node {b.nodes[-1]} for "
                f"{args.loss_duration} s, run {r + 1}/{args.loss_repeat}")
            runs.append(loss_run(b, args, pct))
            log(f"  {runs[-1]['membership_changes']} membership changes, "
                f"{runs[-1]['msgs_per_s']} msgs/s")
        out[f"{pct:g}pct"] = {
            "loss_pct": pct, "lossy_node": b.nodes[-1], "duration_s": args.loss_duration,
            "size": args.loss_size,
            "membership_changes": summary([x["membership_changes"] for x in runs], 0),
            "msgs_per_s": summary([x["msgs_per_s"] for x in runs], 0),
            "runs": runs}
    return out


def run_backend(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every scenario for one backend: one fresh cluster per timing profile."""
    reason = UNAVAILABLE.get(name, lambda: None)()
    if reason:
        raise SystemExit(f"realnet: backend {name} cannot run here: {reason}")
    out: dict[str, Any] = {"backend": name, "nodes": args.nodes, "repeat": args.repeat,
                           "profiles": {p: vars(PROFILES[p]) for p in PROFILES}}
    wanted = {"membership": args.profiles if "membership" in args.scenarios else [],
              "throughput": [args.throughput_profile] if "throughput" in args.scenarios
              else [],
              "loss": args.loss_profiles if "loss" in args.scenarios else []}
    for pname in PROFILES:
        if not any(pname in ps for ps in wanted.values()):
            continue
        with cluster(name, PROFILES[pname], args) as b:
            out.setdefault("version", b.version())
            if pname in wanted["membership"]:
                cycles: list[dict[str, float | None]] = []
                for r in range(args.repeat):
                    log(f"{name} {pname}: membership cycle {r + 1}/{args.repeat}")
                    cycles.append(membership_cycle(b, args))
                    log(f"  {cycles[-1]}")
                out.setdefault("membership", {})[pname] = {
                    k: summary([c[k] for c in cycles]) for k in cycles[0]}
            if pname in wanted["throughput"]:
                out["throughput"] = {"profile": pname} | throughput_figures(b, args)
            if pname in wanted["loss"]:
                out.setdefault("loss", {})[pname] = loss_figures(b, args)
    return out


def ratios(a: Any, b: Any) -> Any:
    """first/second for every ``median`` found at the same place in both results."""
    if isinstance(a, dict) and isinstance(b, dict):
        if isinstance(a.get("median"), int | float) and isinstance(b.get("median"), int | float):
            return round(a["median"] / b["median"], 3) if b["median"] else None
        sub = {k: ratios(a[k], b[k]) for k in a if k in b and k not in ("runs", "samples")}
        return {k: v for k, v in sub.items() if v not in (None, {})} or None
    return None


def csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda s: [kind(x) for x in s.split(",") if x]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--backend", default="corosync",
                   help=f"one of {sorted(BACKENDS)}, a comma list of two, or 'both'")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--scenarios", type=csv(str), default=["membership", "throughput", "loss"])
    p.add_argument("--profiles", type=csv(str), default=["fast", "default"])
    p.add_argument("--throughput-profile", default="default", choices=sorted(PROFILES))
    p.add_argument("--sizes", type=csv(int), default=[100, 1024])
    p.add_argument("--senders", type=csv(int), default=[1, 3])
    p.add_argument("--bench-duration", type=float, default=10.0)
    p.add_argument("--loss-pct", type=csv(float), default=[5.0],
                   help="loss on the last node, %%: a comma list runs each")
    p.add_argument("--loss-duration", type=float, default=55.0)
    p.add_argument("--loss-size", type=int, default=100)
    p.add_argument("--loss-repeat", type=int, default=1)
    p.add_argument("--loss-profiles", type=csv(str), default=["fast", "default"])
    p.add_argument("--settle", type=float, default=1.0, help="pause between steps, s")
    p.add_argument("--jitter", type=float, default=1.0,
                   help="plus a random pause of up to this many s (seeded), so faults "
                        "land at every phase of the token rotation")
    p.add_argument("--timeout", type=float, default=60.0, help="longest wait for a report, s")
    p.add_argument("--workdir", default=None, help="parent of the per-run work directories")
    p.add_argument("--keep", action="store_true", help="keep configs and logs")
    p.add_argument("--quick", action="store_true",
                   help="repeat 1, 3 s throughput runs, 10 s loss run")
    p.add_argument("--corosync-sched-rr", action="store_true",
                   help="let corosync run SCHED_RR (its own default)")
    args = p.parse_args(argv)
    if args.quick:
        args.repeat, args.bench_duration, args.loss_duration = 1, 3.0, 10.0
    bad = [x for x in [*args.profiles, *args.loss_profiles] if x not in PROFILES]
    if bad:
        p.error(f"unknown profile(s) {bad}; known: {sorted(PROFILES)}")
    names = sorted(BACKENDS) if args.backend == "both" else args.backend.split(",")
    unknown = [x for x in names if x not in BACKENDS]
    if unknown or not 1 <= len(names) <= 2:
        p.error(f"--backend: expected one or two of {sorted(BACKENDS)}, got {args.backend}")
    args.backends = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reason = NetnsLab.unavailable()
    if reason:
        print(f"realnet: cannot build a lab here: {reason}", file=sys.stderr)
        return 2
    machine = {"cpus": os.cpu_count(), "kernel": platform.release(),
               "python": platform.python_version()}
    results = {name: run_backend(name, args) for name in args.backends}
    if len(results) == 1:
        out = next(iter(results.values())) | {"machine": machine}
    else:
        first, second = args.backends
        out = {"machine": machine, "backends": results,
               "ratios": {"of": f"{first}/{second}",
                          "figures": ratios(results[first], results[second])}}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
