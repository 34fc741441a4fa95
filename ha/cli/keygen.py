"""``ha keygen``: create the cluster authkey, as ``corosync-keygen`` does.

``ha keygen [-k FILE] [-s SIZE] [--force]`` writes SIZE random bytes (default 256,
128..4096) to FILE (default /etc/corosync/authkey) with mode 0400. Copy the same file
to every node. Unlike corosync-keygen it will not replace an existing key without
``--force``. Exit codes: 0 written, 1 not written (the message says why), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ha.runtime import keygen

EXIT_FAILED = 1


def _size(text: str) -> int:
    try:
        size = int(text, 10)
    except ValueError:
        size = -1
    if not keygen.KEY_SIZE_MIN <= size <= keygen.KEY_SIZE_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected {keygen.KEY_SIZE_MIN}..{keygen.KEY_SIZE_MAX} bytes "
            f"(corosync-keygen's range)")
    return size


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "keygen", help="create the cluster authkey (like corosync-keygen)",
        description="Write a new cluster authkey of SIZE random bytes, mode 0400; copy the same "
                    "file to every node. An existing key is replaced only with --force. "
                    "Exit status: 0 written, 1 not written (the message says why), 2 usage.")
    p.add_argument("-k", "--key-file", dest="key_file", default=keygen.DEFAULT_KEYFILE,
                   metavar="FILE", help=f"where to write the key (default {keygen.DEFAULT_KEYFILE})")
    p.add_argument("-s", "--size", type=_size, default=keygen.KEY_SIZE_DEFAULT, metavar="SIZE",
                   help=f"key length in bytes, {keygen.KEY_SIZE_MIN}..{keygen.KEY_SIZE_MAX} "
                        f"(default {keygen.KEY_SIZE_DEFAULT})")
    p.add_argument("-f", "--force", action="store_true",
                   help="replace an existing key (every node then needs the new one)")
    # corosync-keygen's -l is a no-op kept for old scripts; accepted here for the same reason.
    p.add_argument("-l", "--less-secure", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_keygen)


def cmd_keygen(args: argparse.Namespace) -> int:
    try:
        keygen.write_key(args.key_file, keygen.generate_key(args.size), force=args.force)
    except ValueError as exc:
        print(f"ha keygen: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote a {args.size}-byte ({args.size * 8}-bit) key to {args.key_file} (mode 0400); "
          f"copy it to every node")
    return 0
