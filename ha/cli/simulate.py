"""``ha simulate``: run the scheduler on a CIB file, as ``crm_simulate -x FILE -R`` does.

::

    ha simulate -x FILE.xml            # current cluster status + Transition Summary
    ha simulate -x FILE.xml -s         # ... with the allocation scores
    ha simulate -x FILE.xml -S         # ... then run it in simulation: executed actions
                                       #     and the revised cluster status
    ha simulate -x FILE.xml -G graph.xml -D graph.dot   # the transition graph
    ha simulate -x FILE.xml --output-as json
    ha simulate -x FILE.xml -t 2005-020T12:30   # "now" for date rules, failure-timeout
    ha explain RESOURCE -x FILE.xml    # why it is where it is, or stopped

Offline: it reads the file and talks to no daemon. Exit codes as Pacemaker's tools:
0 ok, 1 error (the file cannot be read), 2 invalid input (not a CIB), 105 no such
resource.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from ha.cib.xml import CibError, parse
from ha.scheduler import schedule
from ha.scheduler.dates import parse_date
from ha.scheduler.execute import run_graph
from ha.scheduler.explain import explain
from ha.scheduler.export import graph_dict, transition_dict
from ha.scheduler.graph import build_graph, graph_dot, graph_xml
from ha.scheduler.model import Transition
from ha.scheduler.text import render

EXIT_ERROR, EXIT_INVALID, EXIT_NOSUCH = 1, 2, 105


def _load(args: argparse.Namespace, tool: str) -> Transition | int:
    """The scheduled transition of the CIB file, or an exit code after saying why not."""
    try:
        data = sys.stdin.buffer.read() if args.xml_file == "-" else Path(args.xml_file).read_bytes()
    except OSError as e:
        print(f"ha {tool}: {args.xml_file}: {e.strerror}", file=sys.stderr)
        return EXIT_ERROR
    try:
        root = parse(data, args.xml_file)
    except CibError as e:
        print(f"ha {tool}: {e}", file=sys.stderr)
        return EXIT_INVALID
    when = getattr(args, "set_datetime", None)
    if when is not None:
        now = parse_date(when)
        if now is None:
            print(f"ha {tool}: --set-datetime: not an ISO 8601 date: {when!r}", file=sys.stderr)
            return EXIT_INVALID
    elif root.get("execution-date"):
        now = None  # the scheduler takes the CIB's own execution-date
    else:
        now = datetime.now(UTC)  # as crm_simulate: the clock
    return schedule(root, now)


def _explain(args: argparse.Namespace) -> int:
    transition = _load(args, "explain")
    if isinstance(transition, int):
        return transition
    lines = explain(transition, args.resource)
    if not lines:
        print(f"ha explain: no resource {args.resource!r} in {args.xml_file}", file=sys.stderr)
        return EXIT_NOSUCH
    print("\n".join(lines))
    return 0


def _write(path: str, text: str) -> bool:
    try:
        Path(path).write_text(text)
    except OSError as e:
        print(f"ha simulate: {path}: {e.strerror}", file=sys.stderr)
        return False
    return True


def _simulate(args: argparse.Namespace) -> int:
    transition = _load(args, "simulate")
    if isinstance(transition, int):
        return transition
    graph = build_graph(transition)
    if args.save_graph and not _write(args.save_graph, graph_xml(graph)):
        return EXIT_ERROR
    if args.save_dotfile and not _write(args.save_dotfile, graph_dot(graph)):
        return EXIT_ERROR
    run = run_graph(transition.cluster, graph) if args.simulate else None
    if args.output_as == "json":
        out = transition_dict(transition)
        out["graph"] = graph_dict(graph)
        if run is not None:
            out["executed"] = [a.label for a in run.executed]
            out["not_executed"] = [a.label for a in run.stuck]
            out["revised"] = transition_dict(replace(transition, cluster=run.revised))["nodes"]
            out["revised_resources"] = transition_dict(
                replace(transition, cluster=run.revised))["resources"]
        print(json.dumps(out, indent=1))
    else:
        sys.stdout.write(render(transition, show_scores=args.show_scores, run=run))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="run the scheduler on a CIB file (crm_simulate -R)")
    p.add_argument("--xml-file", "-x", required=True, help="the CIB (configuration + status)")
    p.add_argument("--show-scores", "-s", action="store_true", help="print allocation scores")
    p.add_argument("--run", "-R", action="store_true",
                   help="accepted for crm_simulate compatibility (always done)")
    p.add_argument("--simulate", "-S", action="store_true",
                   help="also run the transition in simulation: executed actions and "
                        "the revised status")
    p.add_argument("--save-graph", "-G", metavar="FILE",
                   help="write the transition graph as Pacemaker's graph XML")
    p.add_argument("--save-dotfile", "-D", metavar="FILE",
                   help="write the transition graph in DOT")
    p.add_argument("--output-as", choices=("text", "json"), default="text")
    p.add_argument("--set-datetime", "-t", metavar="DATETIME",
                   help="judge date rules and failure-timeout at this ISO 8601 date "
                        "(default: the CIB's execution-date, else now)")
    p.set_defaults(func=_simulate)
    e = sub.add_parser("explain", help="why a resource is where it is, or stopped")
    e.add_argument("resource", help="a primitive, clone instance, group or clone")
    e.add_argument("--xml-file", "-x", required=True, help="the CIB (configuration + status)")
    e.add_argument("--set-datetime", "-t", metavar="DATETIME",
                   help="judge date rules and failure-timeout at this ISO 8601 date "
                        "(default: the CIB's execution-date, else now)")
    e.set_defaults(func=_explain)
