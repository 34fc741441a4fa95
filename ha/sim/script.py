"""Scenario scripts for the simulator, with golden traces (after etcd raft's testdata).

One command per line, ``#`` comments. Below a line ``----`` the file keeps the expected
output: each command echoed, then what it produced, indented: the membership-level
trace (node_*, gather, commit, token_lost, failed_to_receive, transitional, regular,
operational, quorum; times in virtual ms), ``status`` tables and ``expect`` results.

    cluster nodes=3 seed=1 token=300 coefficient=0 [consensus=MS] [two_node=1]
            [wait_for_all=0|1] [lms=1 lms_window=MS] [atb=lowest|highest|3,1]
    start [N] | run 1.5s (us, ms, s) | kill N | restart N | pause N 600ms
    partition 1,2|3,4,5 | isolate N | oneway 1>2 (2 drops 1's datagrams) | heal
    loss N 30%                 # loss on every datagram to or from node N
    send N payload [safe]      # an application message multicast by node N
    status                     # state ring members quorate votes expected quorum flags
    expect quorate 1,2 | expect inquorate 3
    expect ring 1,2,3          # all listed nodes operational in one ring of exactly them
    expect delivered N [1,2]   # each listed (default: running) node delivered exactly N
                               # app messages in this incarnation, all in one order

A failed ``expect`` prints ``FAILED`` and is reported, and a file is never rewritten
to hold one. ``HASTACK_REWRITE=1 pytest tests/unit/test_scenarios.py`` or ``python -m
ha.sim.script --rewrite FILE...`` regenerates the expected output.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

from ha.sim.world import SimWorld
from ha.totem.config import TotemConfig
from ha.totem.effects import Deliver
from ha.totem.quorum import QuorumConfig

SEPARATOR = "----"
SHOWN = ("node_start", "node_crash", "node_pause", "node_resume", "gather", "commit",
         "token_lost", "failed_to_receive", "transitional", "regular", "operational",
         "quorum", "dropped")
_UNITS = {"us": 1, "ms": 1000, "s": 1_000_000}


class ScriptError(ValueError):
    """A command is unknown or malformed; the message names the file and line."""


class Outcome(NamedTuple):
    output: str
    failures: list[str]


def _ids(v: list[int] | tuple[int, ...]) -> str:
    return ",".join(map(str, v)) or "-"


def _ring(v: list[int] | tuple[int, ...] | None) -> str:
    return f"({v[0]},{v[1]})" if v else "-"


_KEYS = ("incarnation", "duration_ms", "queued", "from", "reason", "error", "ring_id", "members",
         "proc", "failed", "left", "joined")


def format_event(rec: dict[str, Any]) -> str:
    """One trace record as a compact line: ``  2301.442 n2 regular ring=(1,12) ...``."""
    parts = [f"{rec['t_ms']:9.3f}", f"n{rec['node']}", rec["event"]]
    if rec["event"] == "quorum":
        parts += [f"ring={_ring(rec['ring_id'])}", f"members={_ids(rec['members'])}",
                  "quorate" if rec["quorate"] else "inquorate",
                  f"votes={rec['total_votes']}/{rec['expected_votes']}",
                  f"quorum={rec['quorum']}", f"flags={','.join(rec['flags']) or '-'}"]
        return "  " + " ".join(parts)
    parts += [_field(k, rec[k]) for k in _KEYS
              if rec.get(k) is not None and (rec[k] or k not in ("failed", "left", "joined"))]
    return "  " + " ".join(parts)


def _field(k: str, v: Any) -> str:
    if k == "ring_id":
        return f"ring={_ring(v)}"
    if k == "duration_ms":
        return f"for={v:g}ms"
    if isinstance(v, list):
        return f"{k}={_ids(v)}"
    return f"{k}={json.dumps(v) if k in ('reason', 'error') else v}"


def parse_duration(s: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(us|ms|s)", s)
    if not m:
        raise ValueError(f"expected a duration such as 300ms or 1.5s, got {s!r}")
    us = Decimal(m.group(1)) * _UNITS[m.group(2)]
    if us != us.to_integral_value():
        raise ValueError(f"duration {s!r} is not a whole number of microseconds")
    return int(us)


def parse_loss(s: str) -> float:
    try:
        return float(Decimal(s[:-1]) / 100 if s.endswith("%") else Decimal(s))
    except InvalidOperation:
        raise ValueError(f"expected a loss such as 30% or 0.3, got {s!r}") from None


def parse_ids(s: str) -> list[int]:
    if not re.fullmatch(r"\d+(,\d+)*", s):
        raise ValueError(f"expected node ids such as 1,2,3, got {s!r}")
    return [int(x) for x in s.split(",")]


USAGE = {
    "cluster": (1, 99, "cluster nodes=N [seed=S token=MS coefficient=MS ...]"),
    "start": (0, 1, "start [node]"), "run": (1, 1, "run <duration>"),
    "kill": (1, 1, "kill <node>"), "restart": (1, 1, "restart <node>"),
    "pause": (2, 2, "pause <node> <duration>"), "partition": (1, 1, "partition 1,2|3,4,5"),
    "isolate": (1, 1, "isolate <node>"), "oneway": (1, 1, "oneway <src>><dst>"),
    "loss": (2, 2, "loss <node> <percent>%"), "heal": (0, 0, "heal"),
    "send": (2, 3, "send <node> <payload> [safe]"), "status": (0, 0, "status"),
    "expect": (2, 3, "expect quorate|inquorate|ring <nodes> | expect delivered <count> [nodes]"),
}
CLUSTER_KEYS = ("nodes", "seed", "token", "coefficient", "consensus", "two_node", "wait_for_all",
                "lms", "lms_window", "atb")


class Runner:
    """Runs the commands of one script against a fresh ``SimWorld``."""

    def __init__(self) -> None:
        self.world: SimWorld | None = None
        self.out: list[str] = []
        self.failures: list[str] = []
        self.delivered: dict[int, list[bytes]] = {}

    @property
    def w(self) -> SimWorld:
        if self.world is None:
            raise ValueError("expected a 'cluster' command first")
        return self.world

    def node(self, s: str) -> int:
        n = int(s) if s.isdigit() else -1
        if n not in self.w.nodes:
            raise ValueError(f"expected a node id of the cluster {_ids(self.w.node_ids)}, got {s!r}")
        return n

    def nodes(self, s: str) -> list[int]:
        return [self.node(str(n)) for n in parse_ids(s)]

    def _observe(self, now_us: int, n: int, e: object) -> None:
        if type(e) is Deliver:
            self.delivered.setdefault(n, []).append(e.payload)
        elif isinstance(e, tuple) and e[:2] == ("trace", "node_start"):
            self.delivered[n] = []

    def execute(self, line: str) -> None:
        cmd, *args = line.split()
        if cmd not in USAGE:
            raise ValueError(f"unknown command {cmd!r}; expected one of: {', '.join(USAGE)}")
        lo, hi, usage = USAGE[cmd]
        if not lo <= len(args) <= hi:
            raise ValueError(f"expected: {usage}")
        mark = len(self.world.trace) if self.world is not None else 0
        self.out.append(line)
        w = self.w if cmd != "cluster" else None
        simple: dict[str, Callable[[], None]] = {} if w is None else {
            "start": lambda: w.start(self.node(args[0]) if args else None),
            "run": lambda: w.run_for(parse_duration(args[0])),
            "kill": lambda: w.crash(self.node(args[0])),
            "restart": lambda: w.restart(self.node(args[0])),
            "pause": lambda: w.pause(self.node(args[0]), parse_duration(args[1])),
            "isolate": lambda: w.network.isolate(self.node(args[0]), w.node_ids),
            "loss": lambda: w.network.set_node_loss(self.node(args[0]), parse_loss(args[1])),
            "heal": w.network.heal}
        if cmd in simple:
            simple[cmd]()
        else:
            getattr(self, "cmd_" + cmd)(args)
        for raw in self.world.trace[mark:] if self.world is not None else []:
            rec = json.loads(raw)
            if rec["event"] in SHOWN:
                self.out.append(format_event(rec))

    def cmd_cluster(self, args: list[str]) -> None:
        if self.world is not None:
            raise ValueError("the cluster is already defined")
        kv = dict(a.partition("=")[::2] for a in args)
        if bad := [a for a in args if not re.fullmatch(r"[a-z_]+=\S+", a)]:
            raise ValueError(f"expected key=value, got {bad[0]!r}")
        if unknown := sorted(set(kv) - set(CLUSTER_KEYS)):
            raise ValueError(f"unknown cluster option(s) {', '.join(unknown)}; expected: "
                             + ", ".join(CLUSTER_KEYS))
        if "nodes" not in kv:
            raise ValueError("expected nodes=N or nodes=1,2,3")
        for k, v in kv.items():
            if k in ("seed", "token", "coefficient", "consensus", "lms_window") and not v.isdigit():
                raise ValueError(f"{k}: expected a non-negative integer, got {v!r}")
            if k in ("two_node", "wait_for_all", "lms") and v not in ("0", "1"):
                raise ValueError(f"{k}: expected 0 or 1, got {v!r}")
        num = {k: int(v) for k, v in kv.items() if v.isdigit()}
        ids = parse_ids(kv["nodes"])
        ids = list(range(1, ids[0] + 1)) if len(ids) == 1 else ids
        atb = kv.get("atb")
        totem = TotemConfig(token=num.get("token", 3000),
                            token_coefficient=num.get("coefficient", 650),
                            consensus=num.get("consensus"), nodes=tuple(ids))
        quorum = QuorumConfig(
            votes={n: 1 for n in ids}, two_node=kv.get("two_node") == "1",
            wait_for_all=None if "wait_for_all" not in kv else kv["wait_for_all"] == "1",
            last_man_standing=kv.get("lms") == "1",
            last_man_standing_window_ms=num.get("lms_window", 10000),
            auto_tie_breaker=atb is not None,
            auto_tie_breaker_node=("lowest" if atb is None else atb if atb in ("lowest", "highest")
                                   else tuple(parse_ids(atb))))
        self.world = SimWorld(ids, seed=num.get("seed", 1), totem=totem, quorum=quorum,
                              trace_deliveries=False)
        self.world.observers.append(self._observe)

    def cmd_partition(self, args: list[str]) -> None:
        groups = [self.nodes(g) for g in args[0].split("|")]
        if len(groups) < 2:
            raise ValueError(f"expected at least two groups separated by '|', got {args[0]!r}")
        self.w.network.partition(groups)

    def cmd_oneway(self, args: list[str]) -> None:
        src, gt, dst = args[0].partition(">")
        if not gt:
            raise ValueError(f"expected src>dst such as 1>2, got {args[0]!r}")
        self.w.network.one_way(self.node(src), self.node(dst))

    def cmd_send(self, args: list[str]) -> None:
        if args[2:] not in ([], ["safe"]):
            raise ValueError(f"expected 'safe' or nothing after the payload, got {args[2]!r}")
        n = self.node(args[0])
        if not self.w.submit(n, args[1].encode(), safe=len(args) == 3):
            self.out.append(f"  not sent: node {n} is down or paused")

    def cmd_status(self, args: list[str]) -> None:
        rows = [["node", "state", "ring", "members", "quorate", "votes", "expected", "quorum",
                 "flags"]]
        for n, sn in self.w.nodes.items():
            c = sn.core
            if c is None:
                rows.append([f"n{n}", "down"])
                continue
            q = c.quorum_state
            state = c.state.value + ("(paused)" if sn.paused_until is not None else "")
            rows.append([f"n{n}", state, _ring(c.ring_id), _ids(c.members),
                         "yes" if q.quorate else "no", str(q.total_votes), str(q.expected_votes),
                         str(q.quorum), ",".join(q.flags) or "-"])
        widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(rows[0]))]
        for r in rows:
            self.out.append("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())

    def cmd_expect(self, args: list[str]) -> None:
        what = args[0]
        if what == "delivered":
            if not args[1].isdigit():
                raise ValueError(f"expected a message count, got {args[1]!r}")
            problems = self._check_delivered(int(args[1]), args[2] if len(args) == 3 else None)
        elif what in ("quorate", "inquorate", "ring") and len(args) == 2:
            problems = self._check(what, self.nodes(args[1]))
        else:
            raise ValueError(f"expected: {USAGE['expect'][2]}")
        if problems:
            self.failures.append("FAILED: " + "; ".join(problems))
        self.out.append("  " + (self.failures[-1] if problems else "ok"))

    def _check(self, what: str, ids: list[int]) -> list[str]:
        w, problems = self.w, []
        for n in ids:
            if not w.alive(n):
                problems.append(f"n{n} is down")
                continue
            c = w.core(n)
            if what != "ring" and c.quorum_state.quorate != (what == "quorate"):
                problems.append(f"n{n} is {'quorate' if c.quorum_state.quorate else 'inquorate'}")
            elif what == "ring" and (c.state.value != "operational"
                                     or sorted(c.members) != sorted(ids)):
                problems.append(f"n{n} is {c.state.value} in ring {_ring(c.ring_id)} "
                                f"with members {_ids(c.members)}")
        if what == "ring" and not problems and len({w.core(n).ring_id for n in ids}) > 1:
            problems.append("ring ids differ: " + " ".join(
                f"n{n}={_ring(w.core(n).ring_id)}" for n in ids))
        return problems

    def _check_delivered(self, count: int, which: str | None) -> list[str]:
        ids = self.nodes(which) if which else [n for n in self.w.node_ids if self.w.alive(n)]
        got = {n: self.delivered.get(n, []) for n in ids}
        problems = [f"n{n} delivered {len(got[n])}" for n in ids if len(got[n]) != count]
        if not problems and len({tuple(v) for v in got.values()}) > 1:
            problems.append("delivery orders differ: " + " ".join(
                f"n{n}=" + ",".join(p.decode(errors="replace") for p in v) for n, v in got.items()))
        return problems


def run_script(text: str, name: str = "<script>") -> Outcome:
    """Run the command part of a script (up to ``----``); return output and failures."""
    r = Runner()
    for lineno, raw in enumerate(text.splitlines(), 1):
        if raw.strip() == SEPARATOR:
            break
        line = raw.split("#", 1)[0].strip()
        if line:
            try:
                r.execute(line)
            except ValueError as exc:
                raise ScriptError(f"{name}:{lineno}: {line!r}: {exc}") from exc
    return Outcome("\n".join(r.out) + "\n", r.failures)


def split_golden(text: str) -> tuple[str, str | None]:
    """The command part (with its trailing newline) and the expected output, if any."""
    m = re.search(rf"^{SEPARATOR}[ \t]*$\n?", text, re.MULTILINE)
    if m:
        return text[:m.start()], text[m.end():]
    return text if text.endswith("\n") or not text else text + "\n", None


def check_file(path: Path, rewrite: bool = False) -> tuple[Outcome, str | None]:
    """Run a script file; with ``rewrite`` (and no failed expect) store its output."""
    commands, expected = split_golden(path.read_text())
    outcome = run_script(commands, str(path))
    if rewrite and not outcome.failures:
        path.write_text(commands + SEPARATOR + "\n" + outcome.output)
        expected = outcome.output
    return outcome, expected


def diff(path: Path, expected: str | None, actual: str) -> str:
    return "".join(difflib.unified_diff((expected or "").splitlines(keepends=True),
                                        actual.splitlines(keepends=True),
                                        f"{path} (expected)", f"{path} (actual)"))


def main(argv: list[str]) -> int:
    rewrite = "--rewrite" in argv
    files = [a for a in argv if a != "--rewrite"]
    if not files:
        print("usage: python -m ha.sim.script [--rewrite] FILE...", file=sys.stderr)
        return 2
    status = 0
    for f in files:
        try:
            outcome, expected = check_file(Path(f), rewrite)
        except ScriptError as exc:
            print(exc, file=sys.stderr)
            return 2
        bad = bool(outcome.failures) or outcome.output != expected
        status |= bad
        print("".join(f"{f}: {x}\n" for x in outcome.failures)
              + (diff(Path(f), expected, outcome.output) if bad
                 else f"{f}: {'written' if rewrite else 'ok'}"))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
