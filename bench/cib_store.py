"""Benchmark: ha.cib.store.CibStore.save and load. Prints one JSON object.

For a CIB of about 100 KB and one of about 1 MB (primitives with instance attributes
and a monitor op, as Pacemaker writes them), saves per second in steady state (10
backups kept, so each save also archives the previous CIB and prunes the oldest), with
``fsync=True`` (the daemon's setting: two file fsyncs and one directory fsync per save)
and ``fsync=False`` (the same protocol without durability against power loss), to show
what the fsyncs cost. Also loads per second (read, MD5, well-formedness check). Each
figure is the median of ``--runs`` runs of ``--saves`` operations, on a fresh store
in ``--dir`` (default: a temporary directory; the disk under it is what is measured).

Usage: ``python bench/cib_store.py [--runs 5] [--saves 20] [--dir PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ha.cib.store import CibStore  # noqa: E402  (after the path above)


def cib_bytes(target_bytes: int, epoch: int) -> bytes:
    one = ('<primitive id="r{n}" class="ocf" provider="heartbeat" type="Dummy">'
           '<instance_attributes id="r{n}-ia"><nvpair id="r{n}-ia-s" name="state" '
           'value="/run/resource-{n}.state"/></instance_attributes><operations>'
           '<op id="r{n}-mon" name="monitor" interval="10s" timeout="20s"/></operations>'
           '</primitive>')
    count = max(1, target_bytes // len(one.format(n=10000)))
    resources = "".join(one.format(n=n) for n in range(count))
    return (f'<cib crm_feature_set="3.19.0" validate-with="pacemaker-3.9" epoch="{epoch}" '
            f'num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/>'
            f'<resources>{resources}</resources><constraints/></configuration></cib>'
            ).encode()


def per_second(run: list[float], count: int) -> float:
    return count / statistics.median(run)


def measure(base: Path, size: int, fsync: bool, runs: int, saves: int) -> dict[str, float]:
    cibs = [cib_bytes(size, epoch) for epoch in range(saves)]
    save_s, load_s = [], []
    for r in range(runs):
        store = CibStore(base / f"{size}-{fsync}-{r}", 10, fsync=fsync)
        for cib in cibs[:11]:  # steady state: ten backups already there
            store.save(cib)
        t0 = time.perf_counter()
        for cib in cibs:
            store.save(cib)
        save_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(saves):
            store.load()
        load_s.append(time.perf_counter() - t0)
    return {"cib_bytes": len(cibs[0]),
            "saves_per_s": round(per_second(save_s, saves), 1),
            "ms_per_save": round(1000 * statistics.median(save_s) / saves, 2),
            "loads_per_s": round(per_second(load_s, saves), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--saves", type=int, default=20)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="cib-bench-") as tmp:
        base = Path(tmp)
        figures: dict[str, dict[str, float]] = {}
        for label, size in (("100KB", 100_000), ("1MB", 1_000_000)):
            for fsync in (True, False):
                key = f"{label}_{'fsync' if fsync else 'no_fsync'}"
                figures[key] = measure(base, size, fsync, args.runs, args.saves)
        device = os.stat(tmp).st_dev
    print(json.dumps({
        "benchmark": "cib_store",
        "runs": args.runs, "saves_per_run": args.saves, "backups_kept": 10,
        "directory_device": f"{os.major(device)}:{os.minor(device)}",
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "figures": figures,
    }, indent=2))


if __name__ == "__main__":
    main()
