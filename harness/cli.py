"""``ha-harness``: the laboratory's command (Docker clusters arrive with the harness issue).

For now it offers the simulator backend only: ``ha-harness run --backend sim`` is
``ha sim totem``.
"""

from __future__ import annotations

import sys

from ha.cli.main import main as ha_main


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: ha-harness run --backend sim [ha sim totem options]\n"
              "The Docker backend is not built yet; the simulator backend runs `ha sim totem`.")
        return 0
    if args[:1] == ["run"]:
        rest = args[1:]
        if "--backend" in rest:
            i = rest.index("--backend")
            backend = rest[i + 1] if i + 1 < len(rest) else ""
            if backend != "sim":
                print(f"ha-harness: backend {backend!r} is not available yet; use --backend sim",
                      file=sys.stderr)
                return 2
            rest = rest[:i] + rest[i + 2:]
        return ha_main(["sim", "totem", *rest])
    print(f"ha-harness: unknown command {args[0]!r}; try ha-harness --help", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
