"""The ``ha`` command: one entry point, a subcommand per subsystem.

Exit codes: 0 success, 1 the run found a violation, 2 a usage error (argparse).
"""

from __future__ import annotations

import argparse
import sys

from ha import __version__
from ha.cli import cluster, keygen, node, sim


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ha", description="hastack: a high-availability cluster stack")
    parser.add_argument("--version", action="version", version=f"hastack {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sim.add_parser(sub)
    node.add_parser(sub)
    cluster.add_parser(sub)
    keygen.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
