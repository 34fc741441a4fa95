"""The seed sweep: random fault schedules of 3-7 nodes, 60 simulated seconds each.

Every schedule is drawn from its seed (cluster size, token, quorum options, load and
faults: partitions, packet loss, crashes with restart, pauses), checked for every
safety invariant during the faults, then healed and required to converge (liveness).
CI runs 1,000 seeds; ``HASTACK_SWEEP_SEEDS`` and ``HASTACK_SWEEP_START`` change how
many and from where (or run ``ha sim sweep --seeds 1000000`` off CI).
"""

from __future__ import annotations

import os

import pytest

from ha.sim import chaos

SEEDS = int(os.environ.get("HASTACK_SWEEP_SEEDS", "1000"))
START = int(os.environ.get("HASTACK_SWEEP_START", "0"))
CHUNK = 10
DURATION_MS = 60_000


def _chunks() -> list[range]:
    return [range(s, min(s + CHUNK, START + SEEDS)) for s in range(START, START + SEEDS, CHUNK)]


@pytest.mark.slow
@pytest.mark.parametrize("seeds", _chunks(), ids=lambda r: f"seeds{r.start}-{r.stop - 1}")
def test_random_fault_schedules_hold_every_invariant(seeds: range) -> None:
    failures = []
    for seed in seeds:
        p = chaos.plan(seed, duration_ms=DURATION_MS, faults=chaos.DEFAULT_FAULTS)
        assert 3 <= len(p.nodes) <= 7
        r = chaos.run(p)
        assert r.summary["simulated_s"] >= DURATION_MS / 1000
        if not r.ok:
            failures.append(f"seed {seed}: {(r.violations + r.liveness)[0]}\n"
                            f"  replay: ha sim totem --seed {seed} --duration {DURATION_MS}ms "
                            f"--faults {','.join(chaos.DEFAULT_FAULTS)}")
    assert not failures, "\n".join(failures)
