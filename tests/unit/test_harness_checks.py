"""The harness checkers on hand-made traces (each must be able to fail) and the
timeline they are built on."""

from __future__ import annotations

from typing import Any

from harness import checks
from harness.observe import Tracker


def rec(t: float, node: int, event: str, **kw: Any) -> dict[str, Any]:
    return {"t_ms": t, "node": node, "event": event, **kw}


def q(t: float, node: int, ring: list[int], members: list[int], quorate: bool) -> dict[str, Any]:
    return rec(t, node, "quorum", ring_id=ring, members=members, quorate=quorate)


def op(t: float, node: int, ring: list[int], members: list[int]) -> list[dict[str, Any]]:
    return [rec(t, node, "regular", ring_id=ring, members=members),
            rec(t, node, "operational", ring_id=ring, members=members)]


def test_membership_agreement_flags_disagreement_and_absence() -> None:
    ok = [*op(1, 1, [1, 8], [1, 2]), *op(2, 2, [1, 8], [1, 2])]
    assert checks.membership_agreement(ok) == []
    bad = [*op(1, 1, [1, 8], [1, 2]), *op(2, 2, [1, 8], [1, 2, 3]), *op(3, 3, [1, 8], [1, 2])]
    vs = checks.membership_agreement(bad)
    assert [v["nodes"] for v in vs] == [[1, 2], [3]]
    assert "ring 1.8: members [1, 2, 3] at n2, [1, 2] at n1" in vs[0]["detail"]
    assert "without itself" in vs[1]["detail"]


def test_one_quorate_partition_disjoint_only() -> None:
    stale = [q(1, 1, [1, 4], [1, 2, 3], True), q(2, 2, [2, 8], [2, 3], True)]
    assert checks.one_quorate_partition(stale) == []        # overlapping: a stale view
    split = [q(1, 1, [1, 8], [1], True), q(2, 2, [2, 8], [2, 3], True)]
    vs = checks.one_quorate_partition(split)
    assert len(vs) == 1 and vs[0]["t_ms"] == 2 and vs[0]["nodes"] == [1, 2]
    assert "both quorate" in vs[0]["detail"]
    crashed = [q(1, 1, [1, 8], [1], True), rec(1.5, 1, "node_crash"), q(2, 2, [2, 8], [2, 3], True)]
    assert checks.one_quorate_partition(crashed) == []


def test_delivery_order_same_key_same_message_increasing() -> None:
    def d(t: float, n: int, seq: int, payload: str, ring: list[int] | None = None) -> dict[str, Any]:
        return rec(t, n, "deliver", ring_id=ring or [1, 8], seq=seq, sender=1, payload=payload)
    good = [*op(0, 1, [1, 8], [1, 2]), *op(0, 2, [1, 8], [1, 2]),
            d(1, 1, 1, "a"), d(1, 2, 1, "a"), d(2, 1, 2, "b"), d(2, 2, 2, "b")]
    assert checks.delivery_order(good) == []
    swapped = good[:5] + [d(1, 2, 1, "x")]
    assert "is (1, 'x') at n2" in checks.delivery_order(swapped)[0]["detail"]
    backwards = [*op(0, 1, [1, 8], [1]), d(1, 1, 2, "b"), d(2, 1, 1, "a")]
    assert "after message 2" in checks.delivery_order(backwards)[0]["detail"]
    # n1 and n2 move together from 1.8 to 1.12 but n2 missed a message of 1.8
    moved = [*op(0, 1, [1, 8], [1, 2]), *op(0, 2, [1, 8], [1, 2]), d(1, 1, 1, "a"),
             d(1, 2, 1, "a"), d(2, 1, 2, "b"), *op(5, 1, [1, 12], [1, 2]), *op(5, 2, [1, 12], [1, 2])]
    vs = checks.delivery_order(moved)
    assert vs and "moved together from ring 1.8 to 1.c" in vs[0]["detail"]


def test_convergence_bound_and_never() -> None:
    faults = [{"id": 1, "kind": "partition", "label": "p", "nodes": [1, 2],
               "t_start_ms": 10.0, "t_end_ms": 100.0}]
    base = [rec(0, 1, "node_start"), rec(0, 2, "node_start"),
            *op(5, 1, [1, 4], [1, 2]), *op(5, 2, [1, 4], [1, 2]),
            rec(20, 1, "gather", **{"from": "operational"}), *op(40, 1, [1, 8], [1]),
            rec(20, 2, "gather", **{"from": "operational"}), *op(40, 2, [2, 8], [2])]
    merged = sorted(base + [*op(300, 1, [1, 12], [1, 2]), *op(310, 2, [1, 12], [1, 2])],
                    key=lambda r: r["t_ms"])
    assert checks.convergence([1, 2], merged, faults, 1000, within_ms=500) == []
    vs = checks.convergence([1, 2], merged, faults, 1000, within_ms=100)
    assert vs and "took 210 ms" in vs[0]["detail"]
    base.sort(key=lambda r: r["t_ms"])
    vs = checks.convergence([1, 2], base, faults, 1000, within_ms=500)
    assert vs and "never happened" in vs[0]["detail"] and "n1: ring 1.8 [1]" in vs[0]["detail"]
    m = checks.measure([1, 2], merged, faults, 1000)[0]
    assert m["detection_ms"] == 10 and m["new_membership_ms"] == 30 and m["merge_after_heal_ms"] == 210


def test_tracker_timeline_segments() -> None:
    t = Tracker([1])
    for r in [rec(0, 1, "node_start"), *op(10, 1, [1, 4], [1]), q(10, 1, [1, 4], [1], True),
              rec(20, 1, "node_pause"), rec(30, 1, "node_resume"), rec(40, 1, "node_crash")]:
        t.feed(r)
    segs = t.timeline(50)["1"]
    assert [(s["t_start_ms"], s["t_end_ms"], s["state"], s["quorate"]) for s in segs] == [
        (0, 10, "forming", False), (10, 20, "operational", True), (20, 30, "paused", True),
        (30, 40, "operational", True), (40, 50, "down", False)]
