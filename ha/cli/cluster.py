"""CLI commands that ask the local daemon: membership, quorum, stats, process groups.

    ha membership            ring id, Totem state, members
    ha quorum                like `corosync-quorumtool -s` (exit 2 when not quorate)
    ha stats                 packets, and every dropped packet by reason
    ha group send G TEXT     a message to process group G, in total order
    ha group listen G        join G and print its changes and messages
    ha bench groups          cpgbench-like load: msgs/s, latency, order hash

Each talks to the daemon over its control socket (``--socket`` or $HASTACK_SOCKET);
each command that shows state takes ``--output-as=json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ha.runtime.control import ControlClient, ControlError

EXIT_NOT_QUORATE = 2   # corosync-quorumtool's code


def _common(p: argparse.ArgumentParser, output: bool = True) -> None:
    p.add_argument("--socket", help="control socket (default $HASTACK_SOCKET or "
                                    "/run/hastack/ha.sock)")
    if output:
        p.add_argument("--output-as", choices=("text", "json"), default="text")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("membership", help="this node's Totem ring and members")
    _common(p)
    p.set_defaults(func=cmd_membership)
    p = sub.add_parser("quorum", help="votequorum status (like corosync-quorumtool -s)")
    _common(p)
    p.set_defaults(func=cmd_quorum)
    p = sub.add_parser("stats", help="packet counters, drops by reason")
    _common(p)
    p.set_defaults(func=cmd_stats)

    g = sub.add_parser("group", help="process groups (like Corosync's CPG)")
    gsub = g.add_subparsers(dest="group_cmd", required=True)
    p = gsub.add_parser("send", help="send a message to a group, in total order")
    p.add_argument("group")
    p.add_argument("message", nargs="+", help="the text to send (words joined by spaces)")
    p.add_argument("--safe", action="store_true", help="safe delivery (all members have it)")
    _common(p, output=False)
    p.set_defaults(func=cmd_group_send)
    p = gsub.add_parser("listen", help="join a group; print its changes and messages")
    p.add_argument("group")
    p.add_argument("--count", type=int, help="stop after this many messages")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")
    _common(p)
    p.set_defaults(func=cmd_group_listen)

    b = sub.add_parser("bench", help="load generators")
    bsub = b.add_subparsers(dest="bench_cmd", required=True)
    p = bsub.add_parser("groups", help="cpgbench-like ordered throughput of process groups")
    p.add_argument("--group", default="bench")
    p.add_argument("--size", type=int, default=100, help="message size in bytes (>= 24)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of sending")
    p.add_argument("--receive-only", action="store_true", help="count, do not send")
    p.add_argument("--rate", type=float, help="limit to this many messages/s")
    p.add_argument("--members", type=int, default=1,
                   help="wait until the group has this many nodes before sending")
    p.add_argument("--senders", type=int, default=0,
                   help="count until END from this many senders (0: until quiet)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="give up waiting for members or END after this many seconds")
    _common(p)
    p.set_defaults(func=cmd_bench_groups)


def _ask(args: argparse.Namespace, op: str, **fields: Any) -> dict[str, Any] | None:
    try:
        with ControlClient(args.socket) as c:
            reply = c.request(op, **fields)
    except ControlError as exc:
        print(f"ha {op}: {exc}", file=sys.stderr)
        return None
    if not reply.get("ok"):
        print(f"ha {op}: {reply.get('error', 'refused')}", file=sys.stderr)
        return None
    return reply


def _ring(r: list[int] | None) -> str:
    return "-" if not r else f"{r[0]:x}.{r[1]:x}"


def _json(obj: dict[str, Any]) -> None:
    obj = {k: v for k, v in obj.items() if k != "ok"}
    print(json.dumps(obj, indent=2, sort_keys=True))


def cmd_membership(args: argparse.Namespace) -> int:
    r = _ask(args, "membership")
    if r is None:
        return 1
    if args.output_as == "json":
        _json(r)
        return 0
    print(f"Cluster name:     {r['cluster_name']}")
    print(f"Node ID:          {r['node_id']}")
    print(f"Ring ID:          {_ring(r['ring_id'])}")
    print(f"State:            {r['state']}")
    print(f"Members:          {len(r['members'])}")
    print()
    print(f"{'Nodeid':>10} {'Address':<16} Name")
    for m in r["members"]:
        local = " (local)" if m["local"] else ""
        print(f"{m['nodeid']:>10} {m['addr']:<16} {m['name'] or '-'}{local}")
    return 0


def cmd_quorum(args: argparse.Namespace) -> int:
    r = _ask(args, "quorum")
    if r is None:
        return 1
    code = 0 if r["quorate"] else EXIT_NOT_QUORATE
    if args.output_as == "json":
        _json(r)
        return code
    print("Quorum information\n------------------")
    print(f"Date:             {time.strftime('%a %b %d %H:%M:%S %Y')}")
    print(f"Quorum provider:  {r['provider']}")
    print(f"Nodes:            {r['nodes']}")
    print(f"Node ID:          {r['node_id']}")
    print(f"Ring ID:          {_ring(r['ring_id'])}")
    print(f"Quorate:          {'Yes' if r['quorate'] else 'No'}")
    print("\nVotequorum information\n----------------------")
    print(f"Expected votes:   {r['expected_votes']}")
    print(f"Highest expected: {r['highest_expected']}")
    print(f"Total votes:      {r['total_votes']}")
    print(f"Quorum:           {r['quorum']}" + ("" if r["quorate"] else " Activity blocked"))
    print(f"Flags:            {' '.join(r['flags'])}")
    print("\nMembership information\n----------------------")
    print(f"{'Nodeid':>10} {'Votes':>10} Name")
    for m in r["members"]:
        local = " (local)" if m["local"] else ""
        print(f"{m['nodeid']:>10} {m['votes']:>10} {m['name'] or m['addr']}{local}")
    return code


def cmd_stats(args: argparse.Namespace) -> int:
    r = _ask(args, "stats")
    if r is None:
        return 1
    if args.output_as == "json":
        _json(r)
        return 0
    print(f"Node ID: {r['node_id']}")
    for section in ("packets", "protocol", "daemon"):
        for k, v in sorted(r[section].items()):
            print(f"{section}.{k}: {v}")
    print(f"dropped total: {r['dropped_total']}")
    for k, v in r["dropped"].items():
        print(f"dropped.{k}: {v}")
    return 0


def cmd_group_send(args: argparse.Namespace) -> int:
    r = _ask(args, "send", group=args.group, data=" ".join(args.message), safe=args.safe)
    return 0 if r is not None else 1


def cmd_group_listen(args: argparse.Namespace) -> int:
    from ha.runtime.loadgen import FNV_OFFSET, fnv1a

    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    seen = 0
    h = FNV_OFFSET
    try:
        with ControlClient(args.socket, timeout=None) as c:
            first = c.request("listen", group=args.group)
            if not first.get("ok"):
                print(f"ha group listen: {first.get('error')}", file=sys.stderr)
                return 1
            if args.output_as == "json":
                print(json.dumps(first), flush=True)
            else:
                print(f"listening on {args.group!r} as node {first['node_id']}; members: "
                      + " ".join(map(str, first["members"])), flush=True)
            while args.count is None or seen < args.count:
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    c.set_timeout(left)
                try:
                    ev = c.read()
                except ControlError:
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    raise
                if ev.get("event") == "message":
                    seen += 1
                    h = fnv1a(h, f"{ev['sender']}:{ev['ring_id'][1]}:{ev['seq']}:{ev['data']}\n"
                              .encode())
                if args.output_as == "json":
                    print(json.dumps(ev), flush=True)
                elif ev.get("event") == "message":
                    print(f"[{_ring(ev['ring_id'])}:{ev['seq']}] node {ev['sender']}: "
                          f"{ev['data']}", flush=True)
                else:
                    print(f"group {ev['group']}: members {' '.join(map(str, ev['members']))}"
                          + (f" joined {' '.join(map(str, ev['joined']))}" if ev["joined"] else "")
                          + (f" left {' '.join(map(str, ev['left']))}" if ev["left"] else ""),
                          flush=True)
    except ControlError as exc:
        print(f"ha group listen: {exc}", file=sys.stderr)
        return 1
    summary = {"event": "summary", "messages": seen, "order_hash": f"{h:016x}"}
    if args.output_as == "json":
        print(json.dumps(summary), flush=True)
    else:
        print(f"{seen} messages, order hash {h:016x}", flush=True)
    return 0


def cmd_bench_groups(args: argparse.Namespace) -> int:
    try:
        with ControlClient(args.socket, timeout=None) as c:
            if args.output_as != "json":
                print(f"ha bench groups: {args.size} B messages for {args.duration:g} s "
                      f"({'receive only' if args.receive_only else 'sending'})...",
                      file=sys.stderr, flush=True)
            fields: dict[str, Any] = {"group": args.group, "size": args.size,
                                      "duration": args.duration, "send": not args.receive_only,
                                      "members": args.members, "senders": args.senders,
                                      "timeout": args.timeout}
            if args.rate is not None:
                fields["rate"] = args.rate
            r = c.request("bench", **fields)
    except ControlError as exc:
        print(f"ha bench groups: {exc}", file=sys.stderr)
        return 1
    if not r.get("ok"):
        print(f"ha bench groups: {r.get('error')}", file=sys.stderr)
        return 1
    if args.output_as == "json":
        print(json.dumps({k: v for k, v in r.items() if k != "ok"}, sort_keys=True))
        return 0
    lat = r["latency_ms"]
    print(f"node {r['node']}: {r['delivered']} delivered ({r['sent']} sent) in "
          f"{r['duration_s']:.2f} s: {r['msgs_per_s']:.0f} msgs/s, "
          f"{r['bytes_per_s'] / 1e6:.2f} MB/s; latency ms p50 {lat['p50']} p90 {lat['p90']} "
          f"p99 {lat['p99']} max {lat['max']}; order hash {r['order_hash']}")
    return 0
