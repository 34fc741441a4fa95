"""Grudge shapes and the nftables they become."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from harness.faults import (
    FaultError,
    NetFaults,
    bridge,
    groups_grudges,
    halves,
    majority_ring,
    nft_script,
    oneway,
)

ADDR = {n: f"172.30.9.{10 + n}" for n in range(1, 8)}


def hears(grudges: set[tuple[int, int]], nodes: list[int]) -> dict[int, set[int]]:
    return {d: {s for s in nodes if (s, d) not in grudges} for d in nodes}


def test_groups_symmetric_and_unnamed_nodes_alone() -> None:
    g = groups_grudges([[1, 2], [3]], [1, 2, 3, 4])
    h = hears(g, [1, 2, 3, 4])
    assert h == {1: {1, 2}, 2: {1, 2}, 3: {3}, 4: {4}}


def test_halves_cover_all_nodes_once() -> None:
    a, b = halves([1, 2, 3, 4, 5], random.Random(3))
    assert sorted(a + b) == [1, 2, 3, 4, 5] and len(a) == 3


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
def test_majority_ring_each_sees_a_majority_none_the_same(n: int) -> None:
    nodes = list(range(1, n + 1))
    h = hears(majority_ring(nodes), nodes)
    assert all(len(v) > n // 2 for v in h.values())
    if n >= 5:
        assert len({frozenset(v) for v in h.values()}) == n
    assert all((a in h[b]) == (b in h[a]) for a in nodes for b in nodes)


def test_bridge_middle_node_hears_everyone() -> None:
    nodes = [1, 2, 3, 4, 5]
    h = hears(bridge(nodes), nodes)
    assert h[3] == set(nodes)
    assert h[1] == {1, 2, 3} and h[5] == {3, 4, 5}


def test_oneway_drops_one_direction_only() -> None:
    g = oneway("1>2", [1, 2, 3])
    assert g == {(1, 2)}
    with pytest.raises(FaultError):
        oneway("1>1", [1, 2])
    with pytest.raises(FaultError, match="node 9 is not in the cluster"):
        oneway("1>9", [1, 2])


def test_nft_script_input_drops_and_loss() -> None:
    f = NetFaults(grudges={(1, 2), (3, 2)}, node_loss={2: 12.5}, link_loss={(1, 2): 5})
    s = nft_script(2, f, ADDR)
    assert "ip saddr { 172.30.9.11, 172.30.9.13 } drop" in s
    assert 'iifname "eth0" numgen random mod 10000 < 1250 drop' in s
    assert 'oifname "eth0" numgen random mod 10000 < 1250 drop' in s
    assert "ip saddr 172.30.9.11 numgen random mod 10000 < 500 drop" in s
    healthy = nft_script(1, NetFaults(), ADDR)
    assert "chain" not in healthy and healthy.startswith("add table inet ha_fault\ndelete table")


def test_faults_round_trip_json() -> None:
    f = NetFaults(grudges={(1, 2)}, isolated={3}, node_loss={2: 20.0}, link_loss={(1, 3): 5.0})
    assert NetFaults.from_json(f.to_json()) == f
    f.heal("partition")
    assert not f.grudges and not f.isolated and f.node_loss


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_nft_accepts_the_script() -> None:
    f = NetFaults(grudges={(1, 2)}, isolated={2}, node_loss={2: 20.0}, link_loss={(2, 3): 5.0})
    cp = subprocess.run(["nft", "-c", "-f", "-"], input=nft_script(2, f, ADDR), text=True,
                        capture_output=True, check=False)
    if "Operation not permitted" in cp.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert cp.returncode == 0, cp.stderr
