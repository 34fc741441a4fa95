"""Scenarios: a YAML file that says what cluster, which faults in which order, which checks.

::

    name: kill_one_of_three
    description: node 3 is killed and restarted; {1,2} keep quorum
    cluster:
      nodes: 3
      totem: {token: 1000}            # corosync.conf totem options
      quorum: {two_node: 1}           # corosync.conf quorum options
    steps:
      - wait: {ring: all, quorate: all, within: 30s}
      - kill: 3
      - wait: {ring: [1, 2], quorate: [1, 2], within: 20s}
      - restart: 3
      - wait: {ring: all, within: 20s}
    checks: [membership_agreement, one_quorate_partition, delivery_order,
             {convergence: {within: 20s}}]

Steps (one action each): ``wait`` (``ring``, ``quorate``, ``inquorate``: ``all``,
``live`` or nodes; ``within``), ``sleep``, ``kill``, ``restart``, ``pause`` (a node, or
``{node, for}`` to resume after a while), ``resume``, ``kill_daemon``, ``start_daemon``,
``partition`` (``"1,2|3,4,5"``, ``halves``, ``majority_ring``, ``bridge``), ``isolate``,
``oneway`` (``"1>2"``), ``loss`` (``{node|link, percent}``), ``netem`` (``{node, delay,
jitter, duplicate, reorder}``), ``heal`` (``all``, ``partition`` or ``loss``), ``load``
(``{senders, rate, duration, size}``), ``for_each`` (``{nodes, steps}``, ``{node}`` in
the inner steps stands for each node in turn, ``{others}`` for the rest).

Durations: ``500ms``, ``2s``, ``1.5s``, a bare number of seconds, or ``2xtoken`` (a
multiple of the cluster's token timeout, coefficient included). Every error names the
file, the step (``steps[3]``) and the key that is wrong.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.faults import FaultError, check_percent, groups_grudges, parse_groups, parse_nodes

ACTIONS = ("wait", "sleep", "kill", "restart", "pause", "resume", "kill_daemon", "start_daemon",
           "partition", "isolate", "oneway", "loss", "netem", "heal", "load", "for_each")
CHECKS = {
    "membership_agreement": "every node that installs a ring id installs the same members",
    "one_quorate_partition": "at most one quorate partition at any instant",
    "convergence": "after the last heal, every live node is in one ring within the bound",
    "delivery_order": "messages are delivered in one order within each configuration",
}
PARTITION_SHAPES = ("halves", "majority_ring", "bridge")


class ScenarioError(ValueError):
    """The scenario is malformed; the message names the file, the step and the key."""


@dataclass
class Step:
    index: str            # "3" or "5.2" (for_each expansions)
    action: str
    args: Any
    text: str


@dataclass
class Check:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    description: str
    file: str
    nodes: list[int]
    totem: dict[str, Any]
    quorum: dict[str, Any]
    steps: list[Step]
    checks: list[Check]
    source: str = ""

    def token_timeout_ms(self) -> float:
        token = float(self.totem.get("token", 3000))
        coeff = float(self.totem.get("token_coefficient", 650))
        return token + max(0, len(self.nodes) - 2) * coeff

    @property
    def two_node(self) -> bool:
        return str(self.quorum.get("two_node", "0")) in ("1", "yes", "on", "true", "True")


_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|x\s*token|\*\s*token)?\s*$")


def duration_ms(value: Any, token_ms: float, where: str) -> float:
    """A duration in ms from ``500ms``, ``2s``, ``1m``, ``3`` (seconds) or ``2xtoken``."""
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        return float(value) * 1000
    m = _DUR.match(str(value))
    if not m:
        raise ScenarioError(f"{where}: expected a duration such as 500ms, 2s or 2xtoken, "
                            f"got {value!r}")
    n = float(m.group(1))
    unit = (m.group(2) or "s").replace(" ", "")
    return n * {"ms": 1.0, "s": 1000.0, "m": 60000.0}.get(unit, token_ms)


class _Ctx:
    def __init__(self, file: str, nodes: list[int], token_ms: float) -> None:
        self.file, self.nodes, self.token_ms = file, nodes, token_ms

    def err(self, where: str, msg: str) -> ScenarioError:
        return ScenarioError(f"{self.file}: {where}: {msg}")

    def nodes_of(self, v: Any, where: str, allow_live: bool = False) -> Any:
        if allow_live and v == "live":
            return "live"
        try:
            return parse_nodes(v, self.nodes, where)
        except FaultError as e:
            raise ScenarioError(f"{self.file}: {e}") from None

    def node(self, v: Any, where: str) -> int:
        ns = self.nodes_of(v, where)
        if len(ns) != 1:
            raise self.err(where, f"expected one node, got {v!r}")
        return int(ns[0])

    def dur(self, v: Any, where: str) -> float:
        try:
            return duration_ms(v, self.token_ms, where)
        except ScenarioError as e:
            raise ScenarioError(f"{self.file}: {e}") from None

    def pct(self, v: Any, where: str) -> float:
        try:
            return check_percent(v, where)
        except FaultError as e:
            raise ScenarioError(f"{self.file}: {e}") from None


def _keys(ctx: _Ctx, where: str, d: Any, allowed: set[str], required: set[str] = frozenset()  # type: ignore[assignment]
          ) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ctx.err(where, f"expected a mapping with {', '.join(sorted(allowed))}, got {d!r}")
    unknown = set(d) - allowed
    if unknown:
        raise ctx.err(where, f"unknown key {sorted(unknown)[0]!r} (expected one of "
                             f"{', '.join(sorted(allowed))})")
    missing = required - set(d)
    if missing:
        raise ctx.err(where, f"missing key {sorted(missing)[0]!r}")
    return d


def _fmt(ns: Any) -> str:
    return ns if isinstance(ns, str) else ",".join(map(str, ns))


def _step(ctx: _Ctx, index: str, raw: Any) -> list[Step]:
    where = f"steps[{index}]"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ctx.err(where, f"expected one action such as `kill: 3` (one of {', '.join(ACTIONS)}), "
                             f"got {raw!r}")
    (action, v), = raw.items()
    if action not in ACTIONS:
        raise ctx.err(where, f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
    w = f"{where}.{action}"
    if action == "for_each":
        d = _keys(ctx, w, v, {"nodes", "steps"}, {"steps"})
        ns = ctx.nodes_of(d.get("nodes", "all"), f"{w}.nodes")
        if not isinstance(d["steps"], list) or not d["steps"]:
            raise ctx.err(f"{w}.steps", "expected a non-empty list of steps")
        out: list[Step] = []
        for n in ns:
            for j, inner in enumerate(d["steps"]):
                out += _step(ctx, f"{index}.{n}.{j}", _subst(inner, n, [m for m in ns if m != n]
                                                             or ctx.nodes))
        return out
    if action == "wait":
        d = _keys(ctx, w, v, {"ring", "quorate", "inquorate", "within"}, {"within"})
        if not set(d) - {"within"}:
            raise ctx.err(w, "expected at least one of ring, quorate, inquorate")
        args: Any = {k: ctx.nodes_of(d[k], f"{w}.{k}", allow_live=True)
                     for k in ("ring", "quorate", "inquorate") if k in d}
        args["within_ms"] = ctx.dur(d["within"], f"{w}.within")
        text = "wait " + " ".join(f"{k} {_fmt(args[k])}" for k in ("ring", "quorate", "inquorate")
                                  if k in args) + f" within {d['within']}"
        return [Step(index, action, args, text)]
    if action == "sleep":
        ms = ctx.dur(v, w)
        return [Step(index, action, {"ms": ms}, f"sleep {v}")]
    if action in ("kill", "restart", "resume", "kill_daemon", "start_daemon", "isolate"):
        n = ctx.node(v, w)
        return [Step(index, action, {"node": n}, f"{action} n{n}")]
    if action == "pause":
        if isinstance(v, dict):
            d = _keys(ctx, w, v, {"node", "for"}, {"node"})
            n = ctx.node(d["node"], f"{w}.node")
            args = {"node": n, "for_ms": ctx.dur(d["for"], f"{w}.for") if "for" in d else None}
            text = f"pause n{n}" + (f" for {d['for']}" if "for" in d else "")
            return [Step(index, action, args, text)]
        n = ctx.node(v, w)
        return [Step(index, action, {"node": n, "for_ms": None}, f"pause n{n}")]
    if action == "partition":
        if isinstance(v, str) and v in PARTITION_SHAPES:
            return [Step(index, action, {"shape": v}, f"partition {v}")]
        if isinstance(v, dict):
            d = _keys(ctx, w, v, {"groups"}, {"groups"})
            v = d["groups"]
        try:
            groups = parse_groups(v, ctx.nodes)
            groups_grudges(groups, ctx.nodes)
        except (FaultError, TypeError) as e:
            raise ctx.err(w, f"expected groups such as \"1,2|3,4,5\" or one of "
                             f"{', '.join(PARTITION_SHAPES)}: {e}") from None
        text = "partition " + "|".join(_fmt(g) for g in groups)
        return [Step(index, action, {"groups": groups}, text)]
    if action == "oneway":
        src, _, dst = str(v).partition(">")
        a, b = ctx.nodes_of(src, w), ctx.nodes_of(dst, w)
        if not dst or set(a) & set(b):
            raise ctx.err(w, f"expected SRC>DST such as \"1>2\", got {v!r}")
        return [Step(index, action, {"src": a, "dst": b}, f"oneway {_fmt(a)}>{_fmt(b)}")]
    if action == "loss":
        d = _keys(ctx, w, v, {"node", "link", "percent"}, {"percent"})
        if ("node" in d) == ("link" in d):
            raise ctx.err(w, "expected exactly one of node, link")
        p = ctx.pct(d["percent"], f"{w}.percent")
        if "node" in d:
            n = ctx.node(d["node"], f"{w}.node")
            return [Step(index, action, {"node": n, "percent": p}, f"loss n{n} {p:g}%")]
        link = ctx.nodes_of(d["link"], f"{w}.link")
        if len(link) != 2:
            raise ctx.err(f"{w}.link", f"expected two nodes, got {d['link']!r}")
        a, b = sorted(link)
        return [Step(index, action, {"link": [a, b], "percent": p}, f"loss n{a}<->n{b} {p:g}%")]
    if action == "netem":
        d = _keys(ctx, w, v, {"node", "delay", "jitter", "duplicate", "reorder"}, {"node"})
        n = ctx.node(d["node"], f"{w}.node")
        args = {"node": n, "delay_ms": ctx.dur(d.get("delay", 0), f"{w}.delay"),
                "jitter_ms": ctx.dur(d.get("jitter", 0), f"{w}.jitter"),
                "duplicate": ctx.pct(d.get("duplicate", 0), f"{w}.duplicate"),
                "reorder": ctx.pct(d.get("reorder", 0), f"{w}.reorder")}
        text = f"netem n{n} " + " ".join(f"{k}={d[k]}" for k in ("delay", "jitter", "duplicate",
                                                                  "reorder") if k in d)
        return [Step(index, action, args, text)]
    if action == "heal":
        what = "all" if v in (None, True) else str(v)
        if what not in ("all", "partition", "loss", "netem"):
            raise ctx.err(w, f"expected all, partition, loss or netem, got {v!r}")
        return [Step(index, action, {"what": what}, f"heal {what}")]
    # load
    d = _keys(ctx, w, v, {"senders", "rate", "duration", "size"}, {"senders", "duration"})
    args = {"senders": ctx.nodes_of(d["senders"], f"{w}.senders"),
            "rate": float(d.get("rate", 50)), "duration_ms": ctx.dur(d["duration"], f"{w}.duration"),
            "size": int(d.get("size", 100))}
    if args["rate"] <= 0 or args["size"] < 24:
        raise ctx.err(w, "expected rate > 0 and size >= 24")
    return [Step(index, action, args, f"load from {_fmt(args['senders'])} at {args['rate']:g}/s "
                                      f"for {d['duration']}")]


def _subst(v: Any, n: int, others: list[int]) -> Any:
    """``{node}`` → the node; ``{others}`` → the other nodes of the loop, as "1,3"."""
    if isinstance(v, str):
        if v == "{node}":
            return n
        return v.replace("{node}", str(n)).replace("{others}", ",".join(map(str, others)))
    if isinstance(v, list):
        return [_subst(x, n, others) for x in v]
    if isinstance(v, dict):
        return {k: _subst(x, n, others) for k, x in v.items()}
    return copy.deepcopy(v)


def _checks(ctx: _Ctx, raw: Any) -> list[Check]:
    if raw is None:
        return [Check(name, {"within_ms": 30000.0} if name == "convergence" else {})
                for name in CHECKS]
    if not isinstance(raw, list):
        raise ctx.err("checks", "expected a list of check names")
    out = []
    for i, c in enumerate(raw):
        name, params = (c, {}) if isinstance(c, str) else (next(iter(c)), c[next(iter(c))]) \
            if isinstance(c, dict) and len(c) == 1 else (None, None)
        if name not in CHECKS:
            raise ctx.err(f"checks[{i}]", f"unknown check {c!r} (expected one of {', '.join(CHECKS)})")
        params = dict(params or {})
        if name == "convergence":
            _keys(ctx, f"checks[{i}].convergence", params, {"within"})
            params["within_ms"] = ctx.dur(params.pop("within", "30s"), f"checks[{i}].convergence.within")
        elif params:
            raise ctx.err(f"checks[{i}]", f"{name} takes no parameters")
        out.append(Check(str(name), params))
    return out


def parse(text: str, file: str = "<scenario>") -> Scenario:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ScenarioError(f"{file}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"{file}: expected a mapping with name, cluster, steps, checks")
    boot = _Ctx(file, [], 0)
    _keys(boot, "top level", doc, {"name", "description", "cluster", "steps", "checks"},
          {"cluster", "steps"})
    cl = _keys(boot, "cluster", doc["cluster"], {"nodes", "totem", "quorum"}, {"nodes"})
    n = cl["nodes"]
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 32:
        raise boot.err("cluster.nodes", f"expected a node count in 1..32, got {n!r}")
    for sect in ("totem", "quorum"):
        if not isinstance(cl.get(sect, {}), dict):
            raise boot.err(f"cluster.{sect}", "expected a mapping of corosync.conf options")
    nodes = list(range(1, n + 1))
    sc = Scenario(name=str(doc.get("name") or Path(file).stem),
                  description=str(doc.get("description", "")).strip(), file=file, nodes=nodes,
                  totem=dict(cl.get("totem") or {}), quorum=dict(cl.get("quorum") or {}),
                  steps=[], checks=[], source=text)
    ctx = _Ctx(file, nodes, sc.token_timeout_ms())
    if not isinstance(doc["steps"], list) or not doc["steps"]:
        raise ctx.err("steps", "expected a non-empty list of steps")
    for i, raw in enumerate(doc["steps"]):
        sc.steps += _step(ctx, str(i), raw)
    sc.checks = _checks(ctx, doc.get("checks"))
    return sc


def load(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(f"{p}: cannot read the scenario: {e.strerror}") from None
    return parse(text, str(p))
