"""``ha-harness up/status/exec/logs/down/fault/heal``: a Docker cluster by hand.

The cluster's files live in ``$HASTACK_HARNESS_DIR/<name>`` (default
``/var/tmp/hastack/<name>``): corosync.conf, authkey, each node's trace and log, and
``faults.json``, the network faults in force, so that ``fault`` and ``heal`` compose
across invocations and a restarted node gets its faults back.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.faults import (
    FaultError,
    NetFaults,
    bridge,
    check_percent,
    describe,
    groups_grudges,
    halves,
    load,
    majority_ring,
    oneway,
    parse_groups,
    parse_nodes,
)

DEFAULT_NAME = "hastack"


def base_dir() -> Path:
    return Path(os.environ.get("HASTACK_HARNESS_DIR", "/var/tmp/hastack"))


def _docker_or_exit() -> None:
    from harness.image import unavailable

    why = unavailable()
    if why:
        print(f"ha-harness: Docker is unavailable: {why}", file=sys.stderr)
        raise SystemExit(3)


def _attach(name: str) -> Any:
    from harness.docker_cluster import DockerCluster, DockerError

    _docker_or_exit()
    try:
        return DockerCluster.attach(name)
    except DockerError as e:
        print(f"ha-harness: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _faults_file(c: Any) -> Path:
    return Path(c.workdir) / "faults.json"


def load_faults(c: Any) -> NetFaults:
    try:
        return NetFaults.from_json(json.loads(_faults_file(c).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return NetFaults()


def apply_faults(c: Any, faults: NetFaults) -> list[str]:
    """Load ``faults`` on every running node; save them; the nodes it could not reach."""
    up = [n for n in c.nodes if c.running(n)]
    load(c.nft, faults, {n: c.addr(n) for n in c.nodes}, up)
    skipped = [f"n{n}" for n in c.nodes if n not in up]
    _faults_file(c).write_text(json.dumps(faults.to_json()) + "\n", encoding="utf-8")
    return skipped


def _up(args: argparse.Namespace) -> int:
    from harness.docker_cluster import DockerCluster, DockerError
    from harness.image import build

    _docker_or_exit()
    build()
    workdir = base_dir() / args.name
    # a cluster `ha-harness up` makes lives until `ha-harness down`, even when the
    # command runs under a test (its owner, this process, exits at once)
    c = DockerCluster(args.name, args.nodes, workdir=workdir, config_file=args.config,
                      ephemeral=False)
    t0 = time.monotonic()
    try:
        c.up(timeout=args.timeout)
    except DockerError as e:
        print(f"ha-harness: {e}", file=sys.stderr)
        return 1
    print(f"cluster {args.name}: {args.nodes} nodes quorate in {time.monotonic() - t0:.1f} s "
          f"(files in {workdir})")
    return _status_of(c)


def _status(args: argparse.Namespace) -> int:
    return _status_of(_attach(args.name), args.output_as)


def _status_of(c: Any, output_as: str = "text") -> int:
    rows = c.status()
    faults = describe(load_faults(c))
    if output_as == "json":
        print(json.dumps({"cluster": c.name, "nodes": rows, "faults": faults}, indent=1))
        return 0
    print(f"{'node':<5} {'container':<20} {'addr':<15} {'state':<9} {'daemon':<7} "
          f"{'ring':<8} {'members':<12} quorate")
    for r in rows:
        print(f"n{r['node']:<4} {r['container']:<20} {r['addr']:<15} {r['state']:<9} "
              f"{'up' if r['daemon'] else 'down':<7} {r.get('ring_id') or '-':<8} "
              f"{','.join(map(str, r.get('members') or [])) or '-':<12} "
              f"{'yes' if r.get('quorate') else 'no'}")
    for line in faults:
        print(f"fault: {line}")
    return 0


def _node(c: Any, v: str) -> int:
    return int(parse_nodes(v, c.nodes, "node")[0])


def _exec(args: argparse.Namespace) -> int:
    c = _attach(args.name)
    cmd = args.cmd_argv[1:] if args.cmd_argv[:1] == ["--"] else args.cmd_argv
    if not cmd:
        print("ha-harness exec: give a command after --", file=sys.stderr)
        return 2
    tty = ["-it"] if sys.stdin.isatty() else ["-i"]
    return subprocess.call(["docker", "exec", *tty, c.container_name(_node(c, args.node)), *cmd])


def _logs(args: argparse.Namespace) -> int:
    c = _attach(args.name)
    path = c.log_path(_node(c, args.node))
    if args.follow:
        return subprocess.call(["tail", "-n", "+1", "-F", str(path)])
    try:
        sys.stdout.write(Path(path).read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        print(f"ha-harness: no log yet at {path}", file=sys.stderr)
        return 1
    return 0


def _down(args: argparse.Namespace) -> int:
    from harness.docker_cluster import down_by_label

    _docker_or_exit()
    gone = down_by_label(None if args.all else args.name)
    print("removed: " + (", ".join(gone) if gone else "nothing"))
    return 0


def _fault(args: argparse.Namespace) -> int:
    c = _attach(args.name)
    kind, rest = args.kind, args.args
    try:
        return _fault_in(c, kind, rest, args)
    except FaultError as e:
        print(f"ha-harness fault {kind}: {e}", file=sys.stderr)
        return 2


def _fault_in(c: Any, kind: str, rest: list[str], args: argparse.Namespace) -> int:
    nodes = c.nodes
    node_ops = {"kill": c.kill, "restart": c.restart, "pause": c.pause, "resume": c.resume,
                "kill-daemon": c.kill_daemon, "start-daemon": c.start_daemon}
    if kind in node_ops:
        if len(rest) != 1:
            raise FaultError(f"expected one node, got {rest}")
        n = _node(c, rest[0])
        node_ops[kind](n)
        if kind in ("restart", "resume", "start-daemon"):
            apply_faults(c, load_faults(c))
        print(f"{kind} n{n}: done")
        return 0
    f = load_faults(c)
    if kind == "partition":
        spec = " ".join(rest)
        if spec in ("halves", "majority-ring", "bridge"):
            f.grudges = (groups_grudges(halves(nodes, random.Random(args.seed)), nodes)
                         if spec == "halves" else majority_ring(nodes) if spec == "majority-ring"
                         else bridge(nodes))
        else:
            f.grudges = groups_grudges(parse_groups(spec, nodes), nodes)
    elif kind == "isolate":
        n = _node(c, " ".join(rest))
        f.grudges |= {(n, o) for o in nodes if o != n} | {(o, n) for o in nodes if o != n}
    elif kind == "oneway":
        f.grudges |= oneway(" ".join(rest), nodes)
    elif kind == "loss":
        if len(rest) != 2:
            raise FaultError("expected NODE PERCENT or A,B PERCENT")
        who, p = parse_nodes(rest[0], nodes, "loss"), check_percent(rest[1], "loss")
        if len(who) == 1:
            f.node_loss[who[0]] = p
        elif len(who) == 2:
            f.link_loss[(min(who), max(who))] = p
        else:
            raise FaultError("expected one node or a link of two")
    elif kind == "netem":
        from harness.backends.docker import netem_on

        n = _node(c, rest[0] if rest else "")
        netem_on(c, n, args.delay, args.jitter, args.duplicate, args.reorder)
        return 0
    else:
        raise FaultError(f"unknown fault {kind!r}")
    skipped = apply_faults(c, f)
    for line in describe(f):
        print(f"fault: {line}")
    if skipped:
        print(f"(not running, applied when they are back: {', '.join(skipped)})")
    return 0


def _heal(args: argparse.Namespace) -> int:
    c = _attach(args.name)
    f = load_faults(c)
    f.heal("all" if args.what in ("all", "everything") else args.what)
    if args.what in ("all", "everything"):
        for n in c.nodes:
            st = {r["node"]: r for r in c.status()}[n]
            if st["state"] == "paused":
                c.resume(n)
            elif st["state"] != "running":
                c.restart(n)
            elif not st["daemon"]:
                c.start_daemon(n)
    apply_faults(c, f)
    print("healed: " + args.what)
    return 0


def add_parsers(sub: Any) -> None:
    def named(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--name", default=DEFAULT_NAME, help=f"cluster name (default {DEFAULT_NAME})")
        return p

    p = named(sub.add_parser("up", help="start a Docker cluster and wait for quorum"))
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--config", help="a corosync.conf whose totem and quorum options to use")
    p.add_argument("--timeout", type=float, default=90.0)
    p.set_defaults(func=_up)
    p = named(sub.add_parser("status", help="each node: container, daemon, ring, quorum; faults"))
    p.add_argument("--output-as", choices=("text", "json"), default="text")
    p.set_defaults(func=_status)
    p = named(sub.add_parser("exec", help="run a command in a node: exec n1 -- ha quorum"))
    p.add_argument("node")
    p.add_argument("cmd_argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=_exec)
    p = named(sub.add_parser("logs", help="a node's daemon log"))
    p.add_argument("node")
    p.add_argument("-f", "--follow", action="store_true")
    p.set_defaults(func=_logs)
    p = named(sub.add_parser("down", help="remove a cluster (by label), or --all of them"))
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=_down)
    p = named(sub.add_parser("fault", help="inject a fault: partition, isolate, oneway, loss, "
                                           "netem, kill, restart, pause, resume, kill-daemon, "
                                           "start-daemon"))
    p.add_argument("kind")
    p.add_argument("args", nargs="*")
    p.add_argument("--seed", type=int, default=1, help="halves: which nodes go where")
    p.add_argument("--delay", type=float, default=0.0, help="netem: ms")
    p.add_argument("--jitter", type=float, default=0.0, help="netem: ms")
    p.add_argument("--duplicate", type=float, default=0.0, help="netem: percent")
    p.add_argument("--reorder", type=float, default=0.0, help="netem: percent")
    p.set_defaults(func=_fault)
    p = named(sub.add_parser("heal", help="undo faults: all (default; also resumes paused and "
                                          "restarts killed nodes), partition or loss"))
    p.add_argument("what", nargs="?", default="all", choices=("all", "everything", "partition", "loss"))
    p.set_defaults(func=_heal)
