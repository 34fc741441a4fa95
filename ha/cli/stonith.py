"""``ha stonith``: fence agents, fence devices, fencing, history and topology levels,
as ``stonith_admin`` and ``pcs stonith`` offer them.

::

    ha stonith list [--devices]              # installed agents (--list-installed) or configured devices
    ha stonith describe AGENT                # the agent's metadata (--metadata)
    ha stonith fence NODE [--off|--on|--reboot] [--timeout S]   # through the local daemon
    ha stonith history [NODE]                # the cluster's fencing history (--history)
    ha stonith level add INDEX TARGET DEVICE[,DEVICE…]   # TARGET: node, regexp%PATTERN, attrib%NAME=VALUE
    ha stonith level delete INDEX [TARGET]
    ha stonith level list [TARGET]

Exit codes as stonith_admin's: 0 success, 1 fencing failed, 2 invalid input, 102 the
daemon cannot be reached (CRM_EX_DISCONNECT), 105 no such object / no device able to
fence the node (CRM_EX_NOSUCH), 124 timed out (CRM_EX_TIMEOUT).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from ha.cli.cluster import _common
from ha.runtime.control import ControlClient, ControlError

EXIT_ERROR, EXIT_INVALID, EXIT_DISCONNECT, EXIT_NOSUCH = 1, 2, 102, 105


def _ask(ns: argparse.Namespace, op: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
    try:
        with ControlClient(ns.socket, timeout=timeout) as c:
            return dict(c.request(op, **fields))
    except ControlError as exc:
        return {"ok": False, "error": str(exc), "exit": EXIT_DISCONNECT}


def _fail(args: argparse.Namespace, reply: dict[str, Any]) -> int:
    code = int(reply.get("exit") or EXIT_ERROR)
    if args.output_as == "json":
        print(json.dumps(reply, indent=1))
    else:
        print(f"ha stonith: {reply.get('error')}", file=sys.stderr)
    return code


def _json(obj: Any) -> None:
    print(json.dumps(obj, indent=1))


# ---- agents ---------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    if args.devices:
        reply = _ask(args, "stonith_devices")
        if not reply.get("ok"):
            return _fail(args, reply)
        if args.output_as == "json":
            _json(reply)
            return 0
        for d in reply["devices"]:
            print(f" {d['id']}\t({d['agent']})")
        print(f"{len(reply['devices'])} fence devices found")
        for p in reply.get("problems", []):
            print(f"warning: {p}", file=sys.stderr)
        return 0
    from ha.runtime.fence_runner import installed_agents

    agents = installed_agents()
    if args.output_as == "json":
        _json({"agents": agents})
    else:
        for a in agents:
            print(f" {a}")
        print(f"{len(agents)} fence devices found")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from ha.fencing.agent import MetadataError, parse_metadata
    from ha.runtime.fence_runner import agent_path, run_fence_agent_sync

    if agent_path(args.agent) is None:
        print(f"ha stonith: {args.agent}: no such fence agent (see ha stonith list)",
              file=sys.stderr)
        return EXIT_NOSUCH
    r = run_fence_agent_sync(args.agent, {}, "metadata", timeout=args.timeout)
    try:
        if r.rc != 0:
            raise MetadataError(f"action=metadata exited with status {r.rc}: {r.stderr.strip()[-200:]}")
        md = parse_metadata(r.stdout)
    except MetadataError as e:
        print(f"ha stonith: {args.agent}: {e}", file=sys.stderr)
        return EXIT_ERROR
    if args.output_as == "json":
        _json(md.as_json())
        return 0
    print(f"{md.name} - {md.shortdesc}")
    if md.longdesc:
        print(f"\n{md.longdesc}")
    print("\nParameters:")
    for p in md.parameters:
        flags = [p.type] + (["required"] if p.required else []) + \
            (["deprecated"] if p.deprecated else [])
        default = f" (default: {p.default})" if p.default not in (None, "") else ""
        print(f"  {p.name} [{', '.join(flags)}]{default}: {p.shortdesc}")
    print(f"\nActions: {' '.join(md.actions)}")
    print(f"Host argument: {md.default_host_argument() or 'none'}")
    return 0


# ---- fencing and history ----------------------------------------------------------------
def cmd_fence(args: argparse.Namespace) -> int:
    action = args.action or "reboot"
    reply = _fence(args, action)
    if not reply.get("ok"):
        return _fail(args, reply)
    if args.output_as == "json":
        _json(reply)
    else:
        from ha.fencing.history import describe, op_from_json

        print(describe(op_from_json(reply["op"])))
    return 0


def _fence(args: argparse.Namespace, action: str) -> dict[str, Any]:
    try:
        with ControlClient(args.socket, timeout=args.timeout + 15.0) as c:
            return dict(c.request("stonith_fence", target=args.node, action=action,
                                  timeout=args.timeout))
    except ControlError as exc:
        return {"ok": False, "error": str(exc), "exit": EXIT_DISCONNECT}


def cmd_history(args: argparse.Namespace) -> int:
    reply = _ask(args, "stonith_history", target=args.node)
    if not reply.get("ok"):
        return _fail(args, reply)
    if args.output_as == "json":
        _json(reply)
        return 0
    for h in reply["history"]:
        print(h["text"])
    return 0


# ---- topology levels ----------------------------------------------------------------------
def _target_attrs(target: str) -> dict[str, str]:
    """pcs's syntax: a node name, ``regexp%PATTERN`` or ``attrib%NAME=VALUE``."""
    if target.startswith("regexp%"):
        return {"target-pattern": target[len("regexp%"):]}
    if target.startswith("attrib%"):
        name, eq, value = target[len("attrib%"):].partition("=")
        if not eq or not name:
            raise ValueError(f"target '{target}': expected attrib%NAME=VALUE")
        return {"target-attribute": name, "target-value": value}
    return {"target": target}


def _levels(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    from ha.fencing.topology import TopologyError, level_from_xml

    reply = _ask(args, "cib_query", xpath="/cib/configuration/fencing-topology")
    if not reply.get("ok"):
        return [], reply
    from lxml import etree

    section = etree.fromstring(reply["xml"].encode())
    out = []
    for el in section.iterfind("fencing-level"):
        try:
            out.append((level_from_xml(el), el))
        except TopologyError as e:
            print(f"warning: {e}", file=sys.stderr)
    return out, reply


def cmd_level(args: argparse.Namespace) -> int:
    from lxml import etree

    if args.level_cmd in ("add", "delete") and not 1 <= args.index <= 9:
        return _fail(args, {"error": f"level index {args.index}: expected 1 to 9", "exit": EXIT_INVALID})
    if args.level_cmd == "add":
        try:
            attrs = _target_attrs(args.target)
        except ValueError as e:
            return _fail(args, {"error": str(e), "exit": EXIT_INVALID})
        devices = ",".join(d for part in args.devices for d in part.split(",") if d)
        slug = re.sub(r"[^\w.-]", "_", next(iter(attrs.values())))
        el = etree.Element("fencing-level", {"id": f"fl-{slug}-{args.index}", **attrs,
                                             "index": str(args.index), "devices": devices})
        reply = _ask(args, "cib_update", cib_op="create",
                     args={"section": "fencing-topology"}, xml=etree.tostring(el).decode(),
                     force=False)
    else:
        levels, reply = _levels(args)
        if not reply.get("ok") and args.level_cmd == "list" and reply.get("exit") == EXIT_NOSUCH:
            levels, reply = [], {"ok": True}
        if not reply.get("ok"):
            return _fail(args, reply)

        def want(lv: Any) -> bool:
            return args.target is None or bool(lv.key == args.target)

        if args.level_cmd == "list":
            chosen = [lv for lv, _ in levels if want(lv)]
            if args.output_as == "json":
                _json({"levels": [lv.as_json() for lv in chosen]})
                return 0
            for key in dict.fromkeys(lv.key for lv in chosen):
                print(f"Target: {key}")
                for lv in sorted((x for x in chosen if x.key == key), key=lambda x: x.index):
                    print(f"  Level {lv.index} - {','.join(lv.devices)}")
            return 0
        doomed = [el for lv, el in levels if lv.index == args.index and want(lv)]
        if not doomed:
            return _fail(args, {"error": f"no fencing level {args.index}"
                                         + (f" for {args.target}" if args.target else ""),
                                "exit": EXIT_NOSUCH})
        section = etree.Element("fencing-topology")
        for _lv, el in levels:
            if el not in doomed:
                section.append(el)
        reply = _ask(args, "cib_update", cib_op="replace", args={"section": "fencing-topology"},
                     xml=etree.tostring(section).decode(), force=False)
    if not reply.get("ok"):
        return _fail(args, reply)
    if args.output_as == "json":
        _json(reply)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("stonith", help="fence agents, devices, fencing and its history "
                                       "(stonith_admin-like)")
    ssub = s.add_subparsers(dest="stonith_cmd", required=True)
    p = ssub.add_parser("list", help="installed fence agents, or --devices the configured ones")
    _common(p)
    p.add_argument("--devices", action="store_true", help="the devices configured in the CIB")
    p.set_defaults(func=cmd_list)
    p = ssub.add_parser("describe", help="a fence agent's parameters and actions")
    _common(p)
    p.add_argument("agent")
    p.add_argument("--timeout", type=float, default=20.0)
    p.set_defaults(func=cmd_describe)
    p = ssub.add_parser("fence", help="fence a node through the cluster (default: reboot)")
    _common(p)
    p.add_argument("node")
    g = p.add_mutually_exclusive_group()
    for a in ("off", "on", "reboot"):
        g.add_argument(f"--{a}", dest="action", action="store_const", const=a)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    p.set_defaults(func=cmd_fence)
    p = ssub.add_parser("history", help="the cluster's fencing history")
    _common(p)
    p.add_argument("node", nargs="?")
    p.set_defaults(func=cmd_history)
    lv = ssub.add_parser("level", help="fencing topology levels")
    lsub = lv.add_subparsers(dest="level_cmd", required=True)
    p = lsub.add_parser("add", help="add a level: INDEX TARGET DEVICE[,DEVICE...]")
    _common(p)
    p.add_argument("index", type=int)
    p.add_argument("target", help="a node, regexp%%PATTERN or attrib%%NAME=VALUE")
    p.add_argument("devices", nargs="+")
    p.set_defaults(func=cmd_level)
    p = lsub.add_parser("delete", help="delete level INDEX (of TARGET, else of every target)")
    _common(p)
    p.add_argument("index", type=int)
    p.add_argument("target", nargs="?")
    p.set_defaults(func=cmd_level)
    p = lsub.add_parser("list", help="the levels (of TARGET)")
    _common(p)
    p.add_argument("target", nargs="?")
    p.set_defaults(func=cmd_level)
