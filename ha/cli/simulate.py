"""``ha simulate``: run the scheduler on a CIB file, as ``crm_simulate -x FILE -R`` does.

::

    ha simulate -x FILE.xml            # current cluster status + Transition Summary
    ha simulate -x FILE.xml -s         # ... with the allocation scores
    ha simulate -x FILE.xml --output-as json
    ha explain RESOURCE -x FILE.xml    # why it is where it is, or stopped

Offline: it reads the file and talks to no daemon. Exit codes as Pacemaker's tools:
0 ok, 1 error (the file cannot be read), 2 invalid input (not a CIB), 105 no such
resource.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ha.cib.xml import CibError, parse
from ha.scheduler import schedule
from ha.scheduler.explain import explain
from ha.scheduler.export import transition_dict
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
    return schedule(root)


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


def _simulate(args: argparse.Namespace) -> int:
    transition = _load(args, "simulate")
    if isinstance(transition, int):
        return transition
    if args.output_as == "json":
        print(json.dumps(transition_dict(transition), indent=1))
    else:
        sys.stdout.write(render(transition, show_scores=args.show_scores))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="run the scheduler on a CIB file (crm_simulate -R)")
    p.add_argument("--xml-file", "-x", required=True, help="the CIB (configuration + status)")
    p.add_argument("--show-scores", "-s", action="store_true", help="print allocation scores")
    p.add_argument("--run", "-R", action="store_true",
                   help="accepted for crm_simulate compatibility (always done)")
    p.add_argument("--output-as", choices=("text", "json"), default="text")
    p.set_defaults(func=_simulate)
    e = sub.add_parser("explain", help="why a resource is where it is, or stopped")
    e.add_argument("resource")
    e.add_argument("--xml-file", "-x", required=True, help="the CIB (configuration + status)")
    e.set_defaults(func=_explain)
