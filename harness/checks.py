"""Checkers and measurements over a run's trace records; they observe, never act.

Inputs are the merged records of every node (``t_ms`` since the run's start, sorted)
and the run's fault windows. Each checker returns violations, each saying which
invariant, when and on which nodes:

- ``membership_agreement``: every node that installs a regular configuration with a
  given ring id installs the same members, and is one of them;
- ``one_quorate_partition``: at no instant do two configurations with disjoint members
  both have quorate nodes (two_node clusters are exempt: both halves stay quorate by
  design and fencing settles it);
- ``convergence``: once every fault is undone, the live nodes form one ring of exactly
  themselves within the stated bound;
- ``delivery_order``: one message has one place in the order everywhere (same ring,
  same sequence number, same sender), each node delivers in increasing order, and nodes
  that move together from one configuration to the next delivered the same messages in
  it (virtual synchrony).

Measured per fault: detection (fault → the first token loss or gather on a node that
stays up), new membership (fault → every node that stays up has installed a new
configuration), merge after heal (undo → all live nodes in one ring).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from harness.observe import DOWNS, Tracker, ring_str
from harness.scenario import CHECKS, Check

DETECT = ("token_lost", "failed_to_receive")
NODE_FAULTS = ("kill", "pause", "kill_daemon")


def violation(inv: str, t_ms: float, nodes: Iterable[int], detail: str) -> dict[str, Any]:
    return {"invariant": inv, "t_ms": round(t_ms, 3), "nodes": sorted(set(nodes)), "detail": detail}


def membership_agreement(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: dict[str, tuple[tuple[int, ...], int]] = {}
    for r in records:
        if r.get("event") != "regular":
            continue
        ring, members, n = ring_str(r.get("ring_id")), tuple(sorted(r.get("members") or ())), r["node"]
        if ring is None:
            continue
        if n not in members:
            out.append(violation("membership_agreement", r["t_ms"], [n],
                                 f"n{n} installed ring {ring} {list(members)} without itself"))
        known = seen.setdefault(ring, (members, n))
        if known[0] != members:
            out.append(violation("membership_agreement", r["t_ms"], [n, known[1]],
                                 f"ring {ring}: members {list(members)} at n{n}, "
                                 f"{list(known[0])} at n{known[1]}"))
    return out


def one_quorate_partition(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    quorate: dict[int, tuple[str, frozenset[int]]] = {}
    reported: set[tuple[str, str]] = set()
    for r in records:
        ev, n = r.get("event"), r["node"]
        if ev in DOWNS:
            quorate.pop(n, None)
            continue
        if ev != "quorum":
            continue
        ring = ring_str(r.get("ring_id"))
        if not r.get("quorate") or ring is None:
            quorate.pop(n, None)
            continue
        mine = frozenset(r.get("members") or ())
        quorate[n] = (ring, mine)
        for other_ring, other in {v for v in quorate.values()}:
            if other_ring == ring or other & mine:
                continue
            pair = (min(ring, other_ring), max(ring, other_ring))
            if pair in reported:
                continue
            reported.add(pair)
            holders = [m for m, (rr, _) in quorate.items() if rr in (ring, other_ring)]
            out.append(violation("one_quorate_partition", r["t_ms"], holders,
                                 f"rings {ring} {sorted(mine)} and {other_ring} {sorted(other)} "
                                 f"both quorate"))
    return out


def _msg_keys(records: Sequence[dict[str, Any]]) -> Iterable[tuple[dict[str, Any], tuple[Any, ...]]]:
    """(record, key) for each delivery: ``ordered`` records (every message Totem
    delivers, on every node: the daemon with --trace-deliveries), else ``deliver`` ones
    (the simulator's application messages), else ``group_message`` ones (only nodes with
    a member in the group); a Totem message packing several group messages gives each
    its index within the message."""
    within: dict[tuple[int, tuple[int, ...], int], int] = defaultdict(int)
    present = {r.get("event") for r in records}
    kind = next((k for k in ("ordered", "deliver") if k in present), "group_message")
    for r in records:
        if r.get("event") != kind or "seq" not in r or not r.get("ring_id"):
            continue
        ring = tuple(r["ring_id"])
        k = (r["node"], ring, r["seq"])
        idx = within[k]
        within[k] += 1
        yield r, (ring[1], ring[0], r["seq"], idx)


def delivery_order(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ident: dict[tuple[Any, ...], tuple[Any, int]] = {}
    last: dict[int, tuple[Any, ...]] = {}
    epoch: dict[int, str | None] = {}
    got: dict[tuple[int, str | None], list[tuple[Any, ...]]] = defaultdict(list)
    moves: dict[tuple[str | None, str], list[int]] = defaultdict(list)
    keys = dict((id(r), k) for r, k in _msg_keys(records))
    for r in records:
        n, ev = r["node"], r.get("event")
        if ev in DOWNS or ev in ("node_start", "start"):
            epoch.pop(n, None)
            last.pop(n, None)
            continue
        if ev == "regular":
            new = ring_str(r.get("ring_id")) or "?"
            if n in epoch:
                moves[(epoch[n], new)].append(n)
            epoch[n] = new
            continue
        k = keys.get(id(r))
        if k is None:
            continue
        what = (r.get("sender"), r.get("payload", r.get("size")))
        known = ident.setdefault(k, (what, n))
        if known[0] != what:
            out.append(violation("delivery_order", r["t_ms"], [n, known[1]],
                                 f"message {k[2]} of ring {k[1]}.{k[0]} is {what} at n{n}, "
                                 f"{known[0]} at n{known[1]}"))
        if n in last and k <= last[n]:
            out.append(violation("delivery_order", r["t_ms"], [n],
                                 f"n{n} delivered message {k[2]} of ring {k[1]}.{k[0]} after "
                                 f"message {last[n][2]} of ring {last[n][1]}.{last[n][0]}"))
        last[n] = k
        got[(n, epoch.get(n))].append(k)
    for (old, new), group in sorted(moves.items(), key=lambda kv: str(kv[0])):
        if old is None or len(group) < 2:
            continue
        first = group[0]
        for n in group[1:]:
            if got[(n, old)] != got[(first, old)]:
                a, b = set(got[(n, old)]), set(got[(first, old)])
                out.append(violation("delivery_order", 0.0, [first, n],
                                     f"n{first} and n{n} moved together from ring {old} to {new} "
                                     f"but delivered different messages in {old} "
                                     f"({len(a - b)} only at n{n}, {len(b - a)} only at n{first})"))
    return out


def _replay(nodes: list[int], records: Sequence[dict[str, Any]], t_from: float,
            pred: Callable[[Tracker], bool]) -> float | None:
    """The first time at or after ``t_from`` at which ``pred`` holds of the replayed views."""
    tr = Tracker(nodes)
    i = 0
    while i < len(records) and records[i]["t_ms"] <= t_from:
        tr.feed(records[i])
        i += 1
    if pred(tr):
        return t_from
    for r in records[i:]:
        tr.feed(r)
        if pred(tr):
            return float(r["t_ms"])
    return None


def expected_up(nodes: list[int], faults: Sequence[dict[str, Any]], t: float) -> list[int]:
    """The nodes that no kill, pause or daemon kill holds down at ``t``."""
    down = {n for f in faults if f["kind"] in NODE_FAULTS and f["t_start_ms"] <= t
            and (f["t_end_ms"] is None or f["t_end_ms"] > t) for n in f["nodes"]}
    return [n for n in nodes if n not in down]


def _one_ring_of(want: list[int]) -> Callable[[Tracker], bool]:
    return lambda tr: bool(want) and tr.in_one_ring(want)


def convergence(nodes: list[int], records: Sequence[dict[str, Any]], faults: Sequence[dict[str, Any]],
                end_ms: float, within_ms: float) -> list[dict[str, Any]]:
    ends = [f["t_end_ms"] for f in faults if f.get("t_end_ms") is not None]
    starts = [f["t_start_ms"] for f in faults]
    t_heal = max([*ends, *starts], default=0.0)
    want = expected_up(nodes, faults, t_heal)
    t = _replay(nodes, records, t_heal, _one_ring_of(want))
    if t is not None and t - t_heal <= within_ms:
        return []
    tr = Tracker(nodes)
    for r in records:
        if t is not None and r["t_ms"] > t_heal + within_ms:
            break
        tr.feed(r)
    at = t_heal + within_ms if t is not None or end_ms >= t_heal + within_ms else end_ms
    how = (f"took {t - t_heal:.0f} ms" if t is not None else
           "never happened" if end_ms >= t_heal + within_ms else
           f"had not happened when the run ended {end_ms - t_heal:.0f} ms later")
    return [violation("convergence", at, want,
                      f"after the last fault was undone at t={t_heal:.0f} ms, one ring of "
                      f"{','.join(f'n{n}' for n in want)} within {within_ms:.0f} ms {how}; views then: {tr.describe()}")]


def measure(nodes: list[int], records: Sequence[dict[str, Any]], faults: Sequence[dict[str, Any]],
            end_ms: float) -> list[dict[str, Any]]:
    out = []
    for f in faults:
        t0 = f["t_start_ms"]
        nxt = min([g["t_start_ms"] for g in faults if g["t_start_ms"] > t0], default=end_ms)
        hit = set(f["nodes"]) if f["kind"] in NODE_FAULTS else set()
        detect = next((r["t_ms"] for r in records if t0 <= r["t_ms"] <= nxt and r["node"] not in hit
                       and (r.get("event") in DETECT or (r.get("event") == "gather"
                                                         and r.get("from") == "operational"))), None)
        tr = Tracker(nodes)
        for r in records:
            if r["t_ms"] > t0:
                break
            tr.feed(r)
        survivors = [n for n in tr.live() if n not in hit]
        first_regular: dict[int, float] = {}
        for r in records:
            if t0 < r["t_ms"] <= nxt and r.get("event") == "regular" and r["node"] in survivors:
                first_regular.setdefault(r["node"], r["t_ms"])
        new_memb = (max(first_regular.values()) - t0
                    if survivors and len(first_regular) == len(survivors) else None)
        merge = None
        if f.get("t_end_ms") is not None:
            want = expected_up(nodes, faults, f["t_end_ms"])
            t = _replay(nodes, records, f["t_end_ms"], _one_ring_of(want))
            merge = None if t is None else t - f["t_end_ms"]
        out.append({"fault_id": f["id"], "fault": f["label"], "t_fault_ms": round(t0, 3),
                    "detection_ms": None if detect is None else round(detect - t0, 3),
                    "new_membership_ms": None if new_memb is None else round(new_memb, 3),
                    "merge_after_heal_ms": None if merge is None else round(merge, 3)})
    return out


def run_checks(checks: Sequence[Check], nodes: list[int], records: Sequence[dict[str, Any]],
               faults: Sequence[dict[str, Any]], end_ms: float, two_node: bool) -> list[dict[str, Any]]:
    out = []
    for c in checks:
        desc = CHECKS[c.name]
        if c.name == "membership_agreement":
            vs = membership_agreement(records)
        elif c.name == "one_quorate_partition":
            vs = [] if two_node else one_quorate_partition(records)
            if two_node:
                desc += " (exempt: two_node, both halves stay quorate by design)"
        elif c.name == "convergence":
            vs = convergence(nodes, records, faults, end_ms, c.params["within_ms"])
            desc += f" (bound {c.params['within_ms']:.0f} ms)"
        else:
            vs = delivery_order(records)
        out.append({"name": c.name, "ok": not vs, "description": desc, "violations": vs[:50],
                    "violations_total": len(vs)})
    return out
