"""The ``ha`` command: one entry point, a subcommand per subsystem.

Exit codes: 0 success, 1 the run found a violation, 2 a usage error (argparse).

Subcommand modules are imported only when needed: ``ha node run`` must start fast
(a restarted node's time to rejoin counts from its exec), so it does not load the
simulator.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ha import __version__

# module (under ha.cli) → the top-level commands it adds
COMMANDS: dict[str, tuple[str, ...]] = {
    "sim": ("sim",),
    "node": ("node",),
    "cluster": ("membership", "quorum", "stats", "group", "bench"),
    "keygen": ("keygen",),
    "cib": ("cib", "property"),
    "simulate": ("simulate", "explain"),
    "resource": ("resource",),
    "stonith": ("stonith",),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ha", description="hastack: a high-availability cluster stack")
    parser.add_argument("--version", action="version", version=f"hastack {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for module in COMMANDS if only is None else (only,):
        importlib.import_module(f"ha.cli.{module}").add_parser(sub)
    return parser


def _module_for(argv: list[str]) -> str | None:
    first = next((a for a in argv if not a.startswith("-")), None)
    return next((m for m, cmds in COMMANDS.items() if first in cmds), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_module_for(argv)).parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
