"""Real daemons, one per network namespace (veth + bridge), faults by nftables.

What `ha membership` / `ha quorum` report after kill -9 and restart, isolation and
heal, a 2|3 partition of 5, and 20 % packet loss on one node; and that every
configuration delivers one order (the same messages in the same order on every
node that was in it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from ha.runtime.control import ControlClient
from harness.netns import NetnsLab
from harness.realcluster import HastackCluster

pytestmark = [pytest.mark.netns, pytest.mark.root]

_REASON = NetnsLab.unavailable()


def _cluster(n: int, tmp_path: Path, **kw: object) -> Iterator[HastackCluster]:
    if _REASON is not None:
        pytest.skip(_REASON)
    with NetnsLab(n) as lab, HastackCluster(n, str(tmp_path), lab=lab,
                                            **kw) as c:  # type: ignore[arg-type]
        c.start_converged()
        yield c


@pytest.fixture
def three(tmp_path: Path) -> Iterator[HastackCluster]:
    yield from _cluster(3, tmp_path)


@pytest.fixture
def five(tmp_path: Path) -> Iterator[HastackCluster]:
    yield from _cluster(5, tmp_path)


def quorum_cli(c: HastackCluster, i: int) -> tuple[int, dict[str, object]]:
    r = subprocess.run([sys.executable, "-m", "ha.cli.main", "quorum", "--output-as=json",
                        "--socket", c.path(i, "sock")], capture_output=True, text=True,
                       timeout=30)
    return r.returncode, json.loads(r.stdout)


def test_kill9_and_restart(three: HastackCluster) -> None:
    c = three
    c.kill_node(2)
    c.wait_membership([1, 3], [1, 3])
    code, q = quorum_cli(c, 1)
    assert code == 0 and q["quorate"] and q["total_votes"] == 2 and q["quorum"] == 2
    c.start_node(2)
    c.wait_membership(c.nodes, c.nodes)
    code, q = quorum_cli(c, 2)
    assert code == 0 and q["total_votes"] == 3


def test_isolate_and_heal(three: HastackCluster) -> None:
    c = three
    c.lab.isolate(3)  # type: ignore[union-attr]
    c.wait_membership([1, 2], [1, 2])
    c.wait_membership([3], [3])
    code, q = quorum_cli(c, 3)
    assert code == 2 and not q["quorate"], q          # corosync-quorumtool's exit code
    assert quorum_cli(c, 1)[0] == 0
    c.lab.heal()  # type: ignore[union-attr]
    c.wait_membership(c.nodes, c.nodes)
    assert all(quorum_cli(c, i)[0] == 0 for i in c.nodes)


def test_partition_2_3_of_5_quorum_on_the_majority_only(five: HastackCluster) -> None:
    c = five
    c.lab.partition([[1, 2], [3, 4, 5]])  # type: ignore[union-attr]
    c.wait_membership([1, 2], [1, 2])
    c.wait_membership([3, 4, 5], [3, 4, 5])
    for i in (1, 2):
        code, q = quorum_cli(c, i)
        assert code == 2 and not q["quorate"] and q["total_votes"] == 2, q
    for i in (3, 4, 5):
        code, q = quorum_cli(c, i)
        assert code == 0 and q["quorate"] and q["total_votes"] == 3, q
    c.lab.heal()  # type: ignore[union-attr]
    c.wait_membership(c.nodes, c.nodes, timeout=60)
    assert all(quorum_cli(c, i)[0] == 0 for i in c.nodes)


def _per_ring(c: HastackCluster, i: int) -> dict[tuple[int, int], list[tuple[int, int]]]:
    rings: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for rec in c.trace_records(i, "group_message"):
        rings[(rec["ring_id"][0], rec["ring_id"][1])].append((rec["seq"], rec["sender"]))
    return rings


@pytest.fixture
def three_traced(tmp_path: Path) -> Iterator[HastackCluster]:
    yield from _cluster(3, tmp_path, trace_deliveries=True)


def test_20_percent_loss_on_one_node(three_traced: HastackCluster) -> None:
    c = three_traced
    listeners = []
    for i in c.nodes:
        cl = ControlClient(c.path(i, "sock"))
        assert cl.request("listen", group="order")["ok"]
        listeners.append(cl)
    c.wait_for("all in group order", lambda: c.ask(1, "groups")["groups"].get(
        "order") == [1, 2, 3], 30)
    c.lab.loss(3, 20)  # type: ignore[union-attr]
    sent = 0
    end = time.monotonic() + 15
    while time.monotonic() < end:
        for sender in (1, 2):
            if c.ask(sender, "send", group="order", data=f"{sender}:{sent}")["ok"]:
                sent += 1
        time.sleep(0.05)
    c.lab.heal()  # type: ignore[union-attr]
    c.wait_membership(c.nodes, c.nodes, timeout=60)
    # Everything sent reached nodes 1 and 2 (they never lost a packet of their own).
    c.wait_for("all delivered on 1 and 2", lambda: all(
        sum(len(v) for v in _per_ring(c, i).values()) >= sent for i in (1, 2)), 30)
    rings = {i: _per_ring(c, i) for i in c.nodes}
    assert sum(len(v) for v in rings[1].values()) == sent
    # One order per configuration: within a ring, what two nodes delivered is the
    # same sequence, one a prefix of the other (a node that left the ring stops).
    for ring in set().union(*(r.keys() for r in rings.values())):
        seqs = [rings[i].get(ring, []) for i in c.nodes]
        longest = max(seqs, key=len)
        for s in seqs:
            assert s == longest[:len(s)], (ring, seqs)
    regular = {i: len(c.trace_records(i, "regular")) for i in c.nodes}
    print(f"messages {sent}; regular configurations per node {regular}")
    for cl in listeners:
        cl.close()
