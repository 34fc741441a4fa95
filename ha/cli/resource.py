"""``ha resource``: resource agents, as crm_resource shows and runs them.

::

    ha resource agents                       # the standards (crm_resource --list-standards)
    ha resource agents ocf[:PROVIDER] | lsb  # agents (--list-agents)
    ha resource agents --providers [TYPE]    # OCF providers (--list-ocf-providers)
    ha resource describe ocf:heartbeat:Dummy # parameters, actions, defaults (--show-metadata)
    ha resource op RSC ACTION                # through the local daemon's executor
    ha resource op RSC monitor --interval 10s [--cancel]   # a recurring monitor there
    ha resource op RSC ACTION -x CIB.xml     # run one action here (--force-start, ...)
    ha resource op NAME ACTION --agent ocf:heartbeat:Dummy --param state=/tmp/s
    ha resource status                       # the daemon executor's active resources

``op`` looks RSC up in the CIB and runs ACTION with its instance attributes, meta
attributes and configured timeout through an executor (a process group of its own,
killed on timeout). Without ``-x``/``--agent`` the request goes to the local daemon:
RSC is looked up in its live CIB and the action queued on the node's executor, so it
never overlaps another action of RSC, and what it starts is what the node stops when
it fences itself; a monitor with ``--interval`` keeps recurring there (the first
result is printed; ``--cancel`` ends it). With ``-x FILE`` or ``--agent`` the action
runs in this process. ACTION is an agent action or crm_resource's spelling
(force-start, force-stop, force-check, force-promote, force-demote, validate). Its exit
code is the agent's OCF rc, as crm_resource's is; 2 means bad input, 102 no daemon to
ask, 105 no such resource. ``--output-as=json`` prints the result, listing, status or
meta-data as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ha.cli.cluster import _common

EXIT_ERROR, EXIT_INVALID, EXIT_DISCONNECT, EXIT_NOSUCH = 1, 2, 102, 105
CRM_RESOURCE_ACTIONS = {"force-start": "start", "force-stop": "stop", "force-check": "monitor",
                        "force-promote": "promote", "force-demote": "demote",
                        "validate": "validate-all"}


def _fail(code: int, msg: str) -> int:
    print(f"ha resource: {msg}", file=sys.stderr)
    return code


def _agents(args: argparse.Namespace) -> int:
    from ha.executor.agent import STANDARDS
    from ha.runtime.executor_agents import AgentDirectory

    d = AgentDirectory()
    if args.providers:
        names = d.providers(args.spec)
        out: Any = names
    elif args.spec is None:
        names = out = d.standards()
    else:
        standard, _, provider = args.spec.partition(":")
        if standard not in STANDARDS:
            return _fail(EXIT_INVALID, f"{args.spec}: unknown standard (expected one of "
                                       f"{', '.join(STANDARDS)})")
        agents = d.agents(standard, provider or None)
        out = [str(a) for a in agents]
        names = sorted({a.type for a in agents}, key=lambda n: (n.lower(), n))
    if args.output_as == "json":
        print(json.dumps(out, indent=1))
    else:
        for n in names:
            print(n)
    return 0


def _metadata_xml(spec: str) -> tuple[int, str]:
    """(0, XML) or (exit code, error message)."""
    from ha.executor import ActionResult, Executor, Request, ResourceAgent
    from ha.executor.agent import AgentError
    from ha.runtime.executor_agents import AgentDirectory
    from ha.runtime.executor_runner import ExecutorRunner

    try:
        agent = ResourceAgent.parse(spec)
    except AgentError as e:
        return EXIT_INVALID, str(e)
    d = AgentDirectory()
    if d.locate(agent) is None:
        return 5, f"{agent}: agent not found (searched {', '.join(d.ra_path if agent.standard == 'ocf' else d.lsb_dirs)})"
    if agent.standard == "lsb":
        return 0, d.lsb_metadata(agent) or ""

    async def run() -> ActionResult:
        runner = ExecutorRunner(Executor(d.locate, ocf_root=d.ocf_root))
        try:
            return await runner.run(Request(agent.type, agent, "meta-data", timeout_ms=30_000))
        finally:
            await runner.close()

    res = asyncio.run(run())
    if res.rc != 0 or res.status != 0:
        return res.rc or EXIT_ERROR, (f"{agent} meta-data: {res.status_name}, rc {res.rc} "
                                      f"({res.rc_name}) {res.exit_reason}").strip()
    return 0, res.stdout


def _describe(args: argparse.Namespace) -> int:
    from ha.executor.metadata import MetadataError, parse_metadata

    code, xml = _metadata_xml(args.agent)
    if code:
        return _fail(code, xml)
    if args.raw:
        sys.stdout.write(xml if xml.endswith("\n") else xml + "\n")
        return 0
    try:
        md = parse_metadata(xml, args.agent)
    except MetadataError as e:
        return _fail(EXIT_ERROR, str(e))
    if args.output_as == "json":
        print(json.dumps({"agent": args.agent} | md.to_dict(), indent=1))
        return 0
    print(f"{args.agent} - {md.shortdesc}".rstrip(" -"))
    if md.longdesc and md.longdesc != md.shortdesc:
        print(f"\n{md.longdesc}")
    print("\nParameters (* required, [] default):")
    for p in md.parameters:
        flags = "".join(("*" if p.required else "", " unique" if p.unique else "",
                         " reloadable" if p.reloadable else "",
                         " deprecated" if p.deprecated else ""))
        default = f" [{p.default}]" if p.default not in (None, "") else ""
        print(f"  {p.name}{flags} ({p.type}){default}: {p.shortdesc}".rstrip(": "))
    print("\nActions:")
    for a in md.actions:
        parts = [f"timeout={a.timeout_ms / 1000:g}s" if a.timeout_ms else "",
                 f"interval={a.interval_ms / 1000:g}s" if a.interval_ms else "",
                 f"depth={a.depth}" if a.depth is not None else "",
                 f"role={a.role}" if a.role else ""]
        print(f"  {a.name:<14}" + " ".join(p for p in parts if p))
    return 0


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{what} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


def _cib_root(args: argparse.Namespace) -> Any:
    """The CIB file given with -x."""
    from ha.cib.xml import parse

    try:
        data = Path(args.xml_file).read_bytes()
    except OSError as e:
        raise LookupError(f"{args.xml_file}: {e.strerror}") from None
    return parse(data, args.xml_file)


def _op_fields(args: argparse.Namespace) -> tuple[int, int | None, dict[str, str],
                                                   dict[str, str]]:
    """interval_ms, timeout_ms, params and meta from the command line."""
    from ha.cib.schema_data import duration_ms

    params = _pairs(args.param, "--param")
    meta = _pairs(args.meta, "--meta")
    interval = duration_ms(args.interval) if args.interval else 0
    if interval is None:
        raise ValueError(f"--interval {args.interval!r} is not a duration")
    timeout = duration_ms(args.timeout) if args.timeout else None
    if args.timeout and not timeout:
        raise ValueError(f"--timeout {args.timeout!r} is not a positive duration")
    if args.check_level is not None:
        params["OCF_CHECK_LEVEL"] = str(args.check_level)
    return interval, timeout, params, meta


def _request(args: argparse.Namespace, action: str) -> Any:
    from ha.executor import Request, ResourceAgent
    from ha.runtime.executorservice import request_from_cib

    interval, timeout, params, meta = _op_fields(args)
    if args.agent:
        agent = ResourceAgent.parse(args.agent)
        return Request(args.rsc, agent, action, interval_ms=interval,
                       timeout_ms=timeout or 20_000, params=params, meta=meta)
    return request_from_cib(_cib_root(args), args.rsc, action, interval_ms=interval,
                            timeout_ms=timeout, params=params, meta=meta)[0]


def _print_result(args: argparse.Namespace, rsc: str, agent: str, res: dict[str, Any]) -> int:
    """Print an action's result (``ActionResult.to_dict()``) as crm_resource does;
    the exit code is its rc."""
    head = f"Operation {args.action} for {rsc} ({agent})"
    reason = f": {res['exit_reason']}" if res["exit_reason"] else ""
    if res["status"] == 0:
        print(f"{head} returned {res['rc']} ({res['rc_name']}{reason})")
    else:
        print(f"{head} could not be executed ({res['status_name']}{reason})", file=sys.stderr)
    for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        for line in str(res[name]).splitlines():
            print(f" >  {name}: {line}", file=stream)
    return int(res["rc"])


def _op_daemon(args: argparse.Namespace, action: str) -> int:
    """Run the action through the local daemon's executor (queued with the node's
    other actions; a resource it starts is one the node will stop when it self-fences)."""
    from ha.runtime.control import ControlClient, ControlError

    try:
        interval, timeout, params, meta = _op_fields(args)
    except ValueError as e:
        return _fail(EXIT_INVALID, str(e))
    wait = (timeout or 3_600_000) / 1000 + 30.0          # the daemon applies the timeout
    try:
        with ControlClient(args.socket, timeout=wait) as c:
            reply = c.request("resource_op", rsc=args.rsc, action=action, interval_ms=interval,
                              timeout_ms=timeout, params=params, meta=meta,
                              cancel=bool(args.cancel))
    except ControlError as e:
        return _fail(EXIT_DISCONNECT, f"cannot reach the daemon ({e}); give the CIB with "
                                      "-x FILE or run the action with --agent")
    if not reply.get("ok"):
        return _fail(int(reply.get("exit") or EXIT_ERROR), str(reply.get("error")))
    if args.cancel:
        if args.output_as == "json":
            print(json.dumps(reply, indent=1))
        else:
            print(f"Cancelled {reply['cancelled']}")
        return 0
    res = reply["result"]
    if args.output_as == "json":
        print(json.dumps({"resource": reply["resource"], "agent": reply["agent"],
                          "node": reply["node"], "timeout_ms": reply["timeout_ms"]} | res,
                         indent=1))
        return int(res["rc"])
    return _print_result(args, reply["resource"], reply["agent"], res)


def _op(args: argparse.Namespace) -> int:
    from ha.cib.xml import CibError
    from ha.executor import ActionResult, Executor, TraceOptions
    from ha.executor.agent import AgentError
    from ha.executor.cib_resource import ResourceNotFound
    from ha.runtime.executor_agents import AgentDirectory
    from ha.runtime.executor_runner import ExecutorRunner

    action = CRM_RESOURCE_ACTIONS.get(args.action, args.action)
    if not args.xml_file and not args.agent:
        if args.verbose:
            return _fail(EXIT_INVALID, "-V traces a local run: give -x FILE or --agent")
        return _op_daemon(args, action)
    if args.cancel:
        return _fail(EXIT_INVALID, "--cancel stops a recurring monitor of the daemon's "
                                   "executor: drop -x/--agent")
    try:
        req = _request(args, action)
    except ResourceNotFound as e:
        return _fail(EXIT_NOSUCH, str(e))
    except (AgentError, CibError, ValueError, LookupError) as e:
        return _fail(EXIT_INVALID, str(e))
    d = AgentDirectory()
    # -V: the agent traces itself to stderr, as crm_resource -VV sets OCF_TRACE_RA
    trace = TraceOptions(True, trace_file="/dev/stderr") if args.verbose else TraceOptions()

    async def run() -> ActionResult:
        runner = ExecutorRunner(Executor(d.locate, ocf_root=d.ocf_root, action_limit=1,
                                         trace=trace))
        try:
            return await runner.run(req)
        finally:
            await runner.close()

    try:
        res = asyncio.run(run())
    except ValueError as e:                         # the core refused the request
        return _fail(EXIT_INVALID, str(e))
    if args.output_as == "json":
        print(json.dumps({"resource": req.rsc_id, "agent": str(req.agent),
                          "timeout_ms": req.timeout_ms} | res.to_dict(), indent=1))
        return res.rc
    return _print_result(args, req.rsc_id, str(req.agent), res.to_dict())


def _status(args: argparse.Namespace) -> int:
    """What this node's executor has active and its recurring monitors (the LRM view)."""
    from ha.runtime.control import ControlClient, ControlError

    try:
        with ControlClient(args.socket, timeout=30.0) as c:
            reply = c.request("resource_status")
    except ControlError as e:
        return _fail(EXIT_DISCONNECT, str(e))
    if not reply.get("ok"):
        return _fail(int(reply.get("exit") or EXIT_ERROR), str(reply.get("error")))
    if args.output_as == "json":
        print(json.dumps({k: v for k, v in reply.items() if k != "ok"}, indent=1))
        return 0
    state = " (stopping its resources)" if reply["stopping"] else ""
    print(f"Node {reply['node']}{state}: {len(reply['active'])} active resource(s), "
          f"{reply['running']} action(s) running, {reply['queued']} queued")
    for a in reply["active"]:
        print(f"  * {a['rsc']} ({a['agent']}): {a['role']}")
    if reply["recurring"]:
        print("Recurring operations:")
    for m in reply["recurring"]:
        last = ("not run yet" if m["last_rc"] is None else
                f"last rc={m['last_rc']} ({m['last_rc_name']}), {m['last_status']}")
        print(f"  * {m['key']}: interval={m['interval_ms'] / 1000:g}s "
              f"timeout={m['timeout_ms'] / 1000:g}s, {last}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("resource", help="resource agents: list, describe, run an action")
    rsub = r.add_subparsers(dest="resource_cmd", required=True)

    p = rsub.add_parser("agents", help="standards, agents of CLASS[:PROVIDER], or providers")
    _common(p)
    p.add_argument("spec", nargs="?", metavar="CLASS[:PROVIDER]")
    p.add_argument("--providers", action="store_true",
                   help="list OCF providers (of the agent type SPEC, if given)")
    p.set_defaults(func=_agents)

    p = rsub.add_parser("describe", help="an agent's parameters and actions (its meta-data)")
    _common(p)
    p.add_argument("agent", metavar="CLASS:PROVIDER:TYPE")
    p.add_argument("--raw", action="store_true", help="print the meta-data XML as it is")
    p.set_defaults(func=_describe)

    p = rsub.add_parser("op", help="run one action of a resource here (crm_resource --force-*)")
    _common(p)
    p.add_argument("rsc", metavar="RSC")
    p.add_argument("action", metavar="ACTION",
                   help="start, stop, monitor, promote, demote, notify, reload, "
                        "migrate_to, migrate_from, meta-data, validate-all (or force-start, "
                        "force-stop, force-check, force-promote, force-demote, validate)")
    p.add_argument("-x", "--xml-file", help="look RSC up in this CIB instead of the live one")
    p.add_argument("--agent", help="run this agent (CLASS:PROVIDER:TYPE) as RSC, no CIB")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="an instance attribute (overrides the CIB's)")
    p.add_argument("--meta", action="append", default=[], metavar="NAME=VALUE",
                   help="a meta key passed as OCF_RESKEY_CRM_meta_NAME")
    p.add_argument("--timeout", help="action timeout (default: the configured one, else 20s)")
    p.add_argument("--interval", help="the monitor's interval (selects its op config)")
    p.add_argument("--check-level", type=int, help="OCF_CHECK_LEVEL")
    p.add_argument("--cancel", action="store_true",
                   help="cancel the daemon's recurring monitor of that --interval")
    p.add_argument("-V", "--verbose", action="store_true",
                   help="trace the agent (OCF_TRACE_RA=1, trace to stderr; with -x/--agent)")
    p.set_defaults(func=_op)

    p = rsub.add_parser("status", help="what this node's executor has active, its monitors")
    _common(p)
    p.set_defaults(func=_status)
