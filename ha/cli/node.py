"""``ha node run``: the node daemon in the foreground (systemd-friendly).

    ha node run -c /etc/corosync/corosync.conf [--nodeid N] [--socket PATH]
                [--state-dir DIR] [--trace FILE] [--keyfile FILE]

The local node is the nodelist entry whose ring0_addr is an address of this host
(found by binding to it, as Corosync does), unless ``--nodeid`` names it. The daemon
logs to standard error (and to the logging section's logfile), writes a JSON-lines
trace when asked, and serves the CLI on a root-only unix socket. SIGTERM or SIGINT
stops it; with ``NOTIFY_SOCKET`` set it tells systemd READY=1 once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys

from ha.runtime.control import socket_path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = sub.add_parser("node", help="the node daemon")
    nsub = node.add_subparsers(dest="node_cmd", required=True)
    run = nsub.add_parser("run", help="run this node's daemon in the foreground")
    run.add_argument("-c", "--config", default="/etc/corosync/corosync.conf",
                     help="corosync.conf-syntax cluster configuration")
    run.add_argument("--nodeid", type=int, help="this node's nodeid (default: by local address)")
    run.add_argument("--socket", help="control socket path (default $HASTACK_SOCKET or "
                                      "/run/hastack/ha.sock)")
    run.add_argument("--state-dir", default="/var/lib/hastack",
                     help="where the ring sequence and packet incarnation persist")
    run.add_argument("--trace", help="append JSON-lines trace records to this file")
    run.add_argument("--trace-deliveries", action="store_true",
                     help="also trace every process-group message delivered")
    run.add_argument("--keyfile", help="authkey (default: totem.keyfile or /etc/corosync/authkey)")
    run.add_argument("--logfile", help="also log to this file")
    run.add_argument("--debug", action="store_true", help="debug logging")
    run.set_defaults(func=cmd_run)


def _local_node(addrs: dict[int, str]) -> int | None:
    """The nodeid whose address this host can bind to (the first, in nodelist order).
    On loopback (127.0.0.0/8 is all local) that is always the first: use --nodeid."""
    for nid, addr in addrs.items():
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.bind((addr, 0))
            except OSError:
                continue
            return nid
    return None


def cmd_run(args: argparse.Namespace) -> int:
    from ha.runtime.corosync_conf import ConfigError, load, resolve
    from ha.runtime.daemon import NodeDaemon
    from ha.runtime.keygen import read_key
    from ha.runtime.tracelog import log, setup_logging

    try:
        cfg = load(args.config)
    except ConfigError as exc:
        print(f"ha node run: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ha node run: {args.config}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    setup_logging(cfg.logging, logfile=args.logfile, debug=args.debug)
    for w in cfg.warnings:
        log("MAIN", w, 30)
    try:
        addrs = {n.nodeid: resolve(n.ring0_addr, ip_version=cfg.ip_version) for n in cfg.nodes}
    except OSError as exc:
        print(f"ha node run: {args.config}: nodelist: cannot resolve an address: {exc}",
              file=sys.stderr)
        return 2
    nodeid = args.nodeid if args.nodeid is not None else _local_node(addrs)
    if nodeid is None:
        print(f"ha node run: {args.config}: nodelist: no ring0_addr is an address of this "
              "host (use --nodeid to choose one)", file=sys.stderr)
        return 2
    if nodeid not in addrs:
        print(f"ha node run: --nodeid {nodeid}: not in the nodelist of {args.config} "
              f"(nodeids: {' '.join(map(str, addrs))})", file=sys.stderr)
        return 2
    keyfile = args.keyfile or cfg.keyfile
    try:
        key = read_key(keyfile)
    except ValueError as exc:
        print(f"ha node run: {exc} (create one with `ha keygen -k {keyfile}`)", file=sys.stderr)
        return 2
    try:
        daemon = NodeDaemon(cfg, nodeid=nodeid, key=key, state_dir=args.state_dir,
                            socket_path=socket_path(args.socket), trace_path=args.trace,
                            trace_deliveries=args.trace_deliveries)
    except OSError as exc:
        print(f"ha node run: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(daemon.run())
    except OSError as exc:
        print(f"ha node run: {exc.strerror or exc} ({addrs[nodeid]}:{cfg.port})",
              file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            daemon.trace.close()
