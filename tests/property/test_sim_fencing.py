"""Fencing in the simulator across seeds: the Fencer core on 2–5 simulated nodes.

- ``ha.sim.fencing_run.run(seed)``: a fence request (sometimes two, merged), a lossy
  network, sometimes a broken first topology level; the target is off, out of every
  survivor's membership, the histories agree, each client gets its success;
- the two-node fence race: both halves of a split two-node cluster ask to fence the
  other at once. Without a delay both die (each command reaches the other's switch
  before its sender is shot). With ``pcmk_delay_max`` one node waits a random time
  first, and only one node is fenced — unless the two delays fall within the window
  of the switch's latency, which the test measures from the trace.

Every failure prints the seed and the command that replays it.
"""

from __future__ import annotations

import json

import pytest

from ha.sim import fencing_run
from ha.sim.fencedevices import DeviceBehaviour
from ha.sim.fencing_run import cluster, fence_cib, identical_histories

SEEDS = range(30)
RACE_SEEDS = range(20)
RACE_DURATION_MS, RACE_COMMIT_MS, RACE_SWITCH_MS = 2000, 300, 500


@pytest.mark.parametrize("seed", SEEDS)
def test_fencing_scenario_holds(seed: int) -> None:
    r = fencing_run.run(seed)
    assert r.ok, (f"seed {seed}: {'; '.join(r.violations)}\n{json.dumps(r.summary)}\n"
                  f"replay: ha sim fencing --seed {seed}")


def race(seed: int, delay_max: str | None) -> tuple[list[int], dict[int, float], str]:
    """A split two-node cluster, each side fencing the other: (nodes fenced, each
    node's fencing delay in seconds, where to replay)."""
    params = {"pcmk_host_list": "node1,node2"}
    if delay_max:
        params["pcmk_delay_max"] = delay_max
    c = cluster(seed, 2, fence_cib({"sw": params}), two_node=True)
    c.devices.set(DeviceBehaviour(duration_ms=RACE_DURATION_MS, commit_ms=RACE_COMMIT_MS,
                                  switch_ms=RACE_SWITCH_MS))
    where = (f"seed {seed}; replay: python -m pytest tests/property/test_sim_fencing.py -q "
             f"-k 'race and {seed}'")
    c.world.run_for(5_000_000)
    assert c.members(1) == c.members(2) == (1, 2), f"{where}: the ring did not form"
    c.world.network.partition([[1], [2]])
    c.world.run_for(3_000_000)
    assert c.members(1) == (1,) and c.members(2) == (2,), f"{where}: the split was not seen"
    assert c.fencing.fencers[1].quorate and c.fencing.fencers[2].quorate, \
        f"{where}: two_node keeps both halves quorate"
    c.fencing.fence(1, "node2", "off")
    c.fencing.fence(2, "node1", "off")
    c.world.run_for(60_000_000)
    delays = {int(e["node"]): float(e["delay_s"]) for e in
              (json.loads(x) for x in c.world.trace if '"event":"fence_delay"' in x)}
    return c.devices.fenced(), delays, where


@pytest.mark.parametrize("seed", RACE_SEEDS)
def test_race_without_delay_both_nodes_die(seed: int) -> None:
    fenced, delays, where = race(seed, None)
    assert delays == {}, where
    assert fenced == [1, 2], f"{where}: expected both fenced (no delay), got {fenced}"


@pytest.mark.parametrize("seed", RACE_SEEDS)
def test_race_with_pcmk_delay_max_one_node_survives(seed: int) -> None:
    fenced, delays, where = race(seed, "10s")
    assert fenced, f"{where}: nobody was fenced"
    if len(delays) == 2:
        window = (RACE_COMMIT_MS + RACE_SWITCH_MS) / 1000 + 0.05   # + message latency
        gap = abs(delays[1] - delays[2])
        if gap > window:
            first = min(delays, key=lambda n: delays[n])     # waits less, shoots first
            assert fenced == [3 - first], \
                f"{where}: delays {delays} (gap {gap:.3f}s): expected node{3 - first} fenced, got {fenced}"
    else:                      # one was shot before its own delay was even drawn
        assert len(fenced) == 1, f"{where}: delays {delays}, fenced {fenced}"


def test_race_with_pcmk_delay_max_mostly_one_survivor() -> None:
    outcomes = [len(race(seed, "10s")[0]) for seed in RACE_SEEDS]
    assert outcomes.count(1) >= len(outcomes) * 3 // 4, \
        f"one survivor in only {outcomes.count(1)} of {len(outcomes)} seeds {list(RACE_SEEDS)}"


def test_histories_agree_after_merged_requests_under_loss() -> None:
    for seed in range(5):
        r = fencing_run.run(seed, nodes=5)
        assert r.ok, f"seed {seed}: {r.violations}; replay: ha sim fencing --seed {seed} --nodes 5"


def test_identical_histories_detects_a_difference() -> None:
    c = cluster(3, 3, fence_cib({"sw": {"pcmk_host_list": "node1,node2,node3"}}))
    c.world.run_for(5_000_000)
    c.fencing.fence(1, "node3", "off")
    c.world.run_for(20_000_000)
    assert identical_histories(c) == []
    c.fencing.fencers[2].core.history.ops.clear()
    assert identical_histories(c) != []
