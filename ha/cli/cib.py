"""``ha cib`` and ``ha property``: the CIB, as cibadmin, crm_diff, crm_verify and
crm_attribute --type crm_config offer it.

::

    ha cib query [--xpath X]                      # the whole CIB, or what X selects
    ha cib replace FILE [--section S]             # a whole CIB (version must not go back) or a section
    ha cib create|modify|delete [--section S] (--xml TEXT | --xml-file FILE)
    ha cib patch FILE                             # a v2 patchset (crm_diff's output)
    ha cib diff A B                               # offline: the patchset turning A into B
    ha cib verify FILE | --live                   # errors and warnings, like crm_verify
    ha property set NAME VALUE | get NAME | unset NAME

Writes need a quorate partition unless ``--force``. XML out by default, ``--output-as
json`` for a JSON envelope. Exit codes as Pacemaker's tools: 0 ok, 1 error, 2 invalid
input, 105 no such object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ha.cli.cluster import _common
from ha.runtime.control import ControlClient, ControlError

EXIT_ERROR, EXIT_INVALID, EXIT_NOSUCH = 1, 2, 105


def _ask(args: argparse.Namespace, req: dict[str, Any]) -> dict[str, Any]:
    """The daemon's reply, or an error reply naming why it could not be asked."""
    op = req.pop("op")
    try:
        with ControlClient(args.socket, timeout=60.0) as c:
            return dict(c.request(op, **req))
    except ControlError as exc:
        return {"ok": False, "error": str(exc)}


def _out(args: argparse.Namespace, reply: dict[str, Any], xml_key: str = "xml") -> int:
    if args.output_as == "json":
        print(json.dumps(reply, indent=1))
        return 0 if reply.get("ok") else int(reply.get("exit", EXIT_ERROR))
    elif reply.get("ok"):
        if reply.get(xml_key):
            sys.stdout.write(reply[xml_key].rstrip("\n") + "\n")
        elif reply.get("detail"):
            print(reply["detail"], file=sys.stderr)
    if not reply.get("ok"):
        if args.output_as != "json":
            print(f"ha cib: {reply.get('error')}", file=sys.stderr)
        return int(reply.get("exit", EXIT_ERROR))
    return 0


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SystemExit(f"ha cib: {path}: {e.strerror}") from None


def _update(args: argparse.Namespace, op: str, xml: str, extra: dict[str, Any] | None = None) -> int:
    cargs: dict[str, Any] = dict(extra or {})
    if getattr(args, "section", None):
        cargs["section"] = args.section
    reply = _ask(args, {"op": "cib_update", "cib_op": op, "args": cargs, "xml": xml,
                        "force": bool(getattr(args, "force", False))})
    return _out(args, reply)


def _query(args: argparse.Namespace) -> int:
    return _out(args, _ask(args, {"op": "cib_query", "xpath": args.xpath}))


def _replace(args: argparse.Namespace) -> int:
    return _update(args, "replace", _read(args.file))


def _fragment_op(args: argparse.Namespace) -> int:
    if (args.xml is None) == (args.xml_file is None):
        print("ha cib: give exactly one of --xml TEXT, --xml-file FILE", file=sys.stderr)
        return EXIT_INVALID
    return _update(args, args.cib_cmd, args.xml if args.xml is not None else _read(args.xml_file))


def _patch(args: argparse.Namespace) -> int:
    return _update(args, "patch", _read(args.file))


def _load_file(path: str) -> Any:
    from ha.cib.xml import CibError, parse

    try:
        return parse(_read(path).encode(), path)
    except CibError as e:
        print(f"ha cib: {e}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID) from None


def _diff(args: argparse.Namespace) -> int:
    from lxml import etree

    from ha.cib.patch import diff

    d = diff(_load_file(args.a), _load_file(args.b))
    sys.stdout.write(etree.tostring(d, pretty_print=True).decode())
    return 0 if len(d.findall("change")) == 0 else 1      # as crm_diff: 1 when they differ


def _verify(args: argparse.Namespace) -> int:
    from ha.cib.validate import verify
    from ha.cib.xml import parse

    if args.live:
        reply = _ask(args, {"op": "cib_query"})
        if not reply.get("ok"):
            return _out(args, reply)
        root = parse(reply["xml"].encode(), "live CIB")
    elif args.file:
        root = _load_file(args.file)
    else:
        print("ha cib verify: give FILE or --live", file=sys.stderr)
        return EXIT_INVALID
    issues = verify(root)
    errors = [i for i in issues if i.severity == "error"]
    if args.output_as == "json":
        print(json.dumps({"ok": not errors, "issues": [{"severity": i.severity, "path": i.path,
                                                        "id": i.id, "attribute": i.attribute,
                                                        "message": i.message} for i in issues]},
                         indent=1))
    else:
        for i in issues:
            print(str(i), file=sys.stderr)
        if errors:
            print(f"Errors found during check: config not valid ({len(errors)} errors)",
                  file=sys.stderr)
    return EXIT_INVALID if errors else 0


def _property(args: argparse.Namespace) -> int:
    if args.prop_cmd == "get":
        reply = _ask(args, {"op": "cib_query", "xpath": "/cib/configuration/crm_config/"
                            f"cluster_property_set/nvpair[@name='{args.name}']"})
        if not reply.get("ok"):
            if args.output_as != "json":
                print(f"ha property: {args.name}: not set", file=sys.stderr)
            return EXIT_NOSUCH
        from ha.cib.xml import parse_fragment

        value = parse_fragment(reply["xml"].encode(), "reply").get("value") \
            if reply["xml"].startswith("<nvpair") else None
        if args.output_as == "json":
            print(json.dumps({"name": args.name, "value": value}))
        else:
            print(value)
        return 0
    value = args.value if args.prop_cmd == "set" else None
    return _update(args, "property", "", {"name": args.name, "value": value})


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("cib", help="the Cluster Information Base (cibadmin-like)")
    csub = c.add_subparsers(dest="cib_cmd", required=True)

    def common(p: argparse.ArgumentParser, write: bool = False) -> argparse.ArgumentParser:
        _common(p)
        if write:
            p.add_argument("--force", action="store_true", help="write without quorum")
            p.add_argument("--section", "-o", help="the section (scope), e.g. resources")
        return p

    p = common(csub.add_parser("query", help="the CIB, or what an XPath selects"))
    p.add_argument("--xpath", "-A")
    p.set_defaults(func=_query)
    p = common(csub.add_parser("replace", help="replace the CIB or a section"), write=True)
    p.add_argument("file")
    p.set_defaults(func=_replace)
    for name, what in (("create", "add an XML fragment to a section"),
                       ("modify", "merge an XML fragment into the element with its id"),
                       ("delete", "delete the element with the fragment's tag and id")):
        p = common(csub.add_parser(name, help=what), write=True)
        p.add_argument("--xml", "-X")
        p.add_argument("--xml-file", "-x")
        p.set_defaults(func=_fragment_op)
    p = common(csub.add_parser("patch", help="apply a v2 patchset (crm_diff output)"), write=True)
    p.add_argument("file")
    p.set_defaults(func=_patch)
    p = common(csub.add_parser("diff", help="offline: the patchset turning A into B"))
    p.add_argument("a")
    p.add_argument("b")
    p.set_defaults(func=_diff)
    p = common(csub.add_parser("verify", help="check a CIB like crm_verify"))
    p.add_argument("file", nargs="?")
    p.add_argument("--live", "-L", action="store_true", help="check the running CIB")
    p.set_defaults(func=_verify)

    pr = sub.add_parser("property", help="cluster properties (crm_config)")
    psub = pr.add_subparsers(dest="prop_cmd", required=True)
    p = common(psub.add_parser("set"), write=True)
    p.add_argument("name")
    p.add_argument("value")
    p.set_defaults(func=_property)
    for name in ("get", "unset"):
        p = common(psub.add_parser(name), write=name == "unset")
        p.add_argument("name")
        p.set_defaults(func=_property)
