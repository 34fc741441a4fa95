"""Benchmark: the scheduler (ha.scheduler) side by side with ``crm_simulate -R``.

Prints one JSON object (progress goes to stderr). Inputs:

- synthetic CIBs of ``--sizes`` primitives (``ocf:pacemaker:Dummy`` with a 10 s
  monitor) on 16 nodes, written to a temporary directory, in three situations:
  ``cold`` (a node_state for every node, no operation history: probes and starts),
  ``probed`` (a probe with rc=7, "not running", for every resource on every node:
  starts only) and ``standby`` (every resource running on some node with its start
  and monitor in the history, probes with rc=7 on the other nodes, and one node set
  to standby: the resources there move);
- the five largest corpus inputs (``../shared/pacemaker-scheduler/xml``, or
  ``--corpus``), by file size; skipped with a note when the folder is absent.

Each synthetic CIB is first checked with ``crm_simulate -x F -R`` (it must accept it;
the run also gives crm_simulate's Transition Summary, which ``-Q`` would suppress). For each input: ``ours_ms`` (median of ``--repeat`` in-process runs of
``parse`` + ``schedule``), ``ours_cli_ms`` (median wall time of ``ha simulate -x F``
as a process, like for like with crm_simulate), ``crm_simulate_ms`` (median wall time
of ``crm_simulate -R -Q -x F``), the ratios ours/theirs, and whether the Transition
Summary lines agree (compared as tuples with blanks collapsed; the count of lines that
differ is reported, nothing fails; crm_simulate 2.1.5 prints no summary with ``-Q``,
so the lines to compare come from a run of ``crm_simulate -R -x F``);
``verb_resource_differing`` counts the lines that differ on (``*``, verb, resource)
alone, i.e. disagreements on what to do rather than where. ``growth`` gives the time per resource at each size.

Usage: ``python bench/scheduler.py [--sizes 100,1000,5000] [--repeat 3] [--quick]``.
``--quick``: one run of each, and no ``ha simulate`` process timing.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ha.cib.xml import parse
from ha.scheduler import schedule
from ha.scheduler.text import render

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "pacemaker-scheduler" / "xml"
NODES = 16
SITUATIONS = ("cold", "probed", "standby")
UUID = "5c2b9f4e-1d7a-4c83-9e0b-7a4f6d2e8c11"
EPOCH_TIME = 1764000000  # last-rc-change of the synthetic history
# The parameter digests crm_simulate 2.1.5 itself records (``crm_simulate -S -O``) for a
# Dummy primitive without instance attributes: one for the non-recurring operations,
# one for the 10 s monitor. Without them it restarts everything ("resource definition
# change").
DIGEST = {0: "f2317cad3d54cec5d7d7aa7d0bf35cf8", 10000: "4811cef7f7f94e3a35a70be7916cb2fd"}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- synthetic CIBs ---------------------------------------------------------------

def _op(rsc: str, op: str, interval_ms: int, rc: int, call: int, tkey: int) -> str:
    key = f"{rsc}_{op}_{interval_ms}"
    oid = key if interval_ms else f"{rsc}_last_0"
    expected = 7 if (op == "monitor" and interval_ms == 0) else 0
    tk = f"{tkey}:1:{expected}:{UUID}"
    return (f'            <lrm_rsc_op id="{oid}" operation_key="{key}" operation="{op}" '
            f'crm-debug-origin="do_update_resource" crm_feature_set="3.16.1" '
            f'transition-key="{tk}" transition-magic="0:{rc};{tk}" exit-reason="" '
            f'on_node="{{node}}" call-id="{call}" rc-code="{rc}" op-status="0" '
            f'interval="{interval_ms}" last-rc-change="{EPOCH_TIME}" exec-time="12" '
            f'queue-time="0" op-digest="{DIGEST[interval_ms]}"/>\n')


def synthetic_cib(n: int, situation: str) -> str:
    """A CIB of ``n`` Dummy primitives on 16 nodes in the given situation."""
    nodes = [f"node{i + 1}" for i in range(NODES)]
    rscs = [f"rsc{i + 1}" for i in range(n)]
    out = [
        '<cib validate-with="pacemaker-3.9" crm_feature_set="3.16.1" epoch="10" '
        'num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">\n',
        "  <configuration>\n    <crm_config>\n"
        '      <cluster_property_set id="cib-bootstrap-options">\n'
        '        <nvpair id="opt-stonith-enabled" name="stonith-enabled" value="false"/>\n'
        "      </cluster_property_set>\n    </crm_config>\n    <nodes>\n",
    ]
    for i, node in enumerate(nodes):
        if situation == "standby" and i == 0:
            out.append(f'      <node id="{i + 1}" uname="{node}">\n'
                       f'        <instance_attributes id="{node}-attrs">\n'
                       f'          <nvpair id="{node}-standby" name="standby" value="on"/>\n'
                       "        </instance_attributes>\n      </node>\n")
        else:
            out.append(f'      <node id="{i + 1}" uname="{node}"/>\n')
    out.append("    </nodes>\n    <resources>\n")
    for r in rscs:
        out.append(f'      <primitive id="{r}" class="ocf" provider="pacemaker" type="Dummy">\n'
                   f'        <operations>\n'
                   f'          <op id="{r}-monitor-10s" name="monitor" interval="10s"/>\n'
                   f"        </operations>\n      </primitive>\n")
    out.append("    </resources>\n    <constraints/>\n  </configuration>\n  <status>\n")
    for ni, node in enumerate(nodes):
        out.append(f'    <node_state id="{ni + 1}" uname="{node}" in_ccm="true" crmd="online" '
                   f'crm-debug-origin="do_update_resource" join="member" expected="member">\n')
        if situation != "cold":
            out.append(f'      <lrm id="{ni + 1}">\n        <lrm_resources>\n')
            call = 1
            for ri, r in enumerate(rscs):
                out.append(f'          <lrm_resource id="{r}" class="ocf" provider="pacemaker" '
                           f'type="Dummy">\n')
                if situation == "standby" and ri % NODES == ni:
                    ops = _op(r, "start", 0, 0, call, 3 * ri + 1) + \
                        _op(r, "monitor", 10000, 0, call + 1, 3 * ri + 2)
                    call += 2
                else:
                    ops = _op(r, "monitor", 0, 7, call, 3 * ri)
                    call += 1
                out.append(ops.replace("{node}", node))
                out.append("          </lrm_resource>\n")
            out.append("        </lrm_resources>\n      </lrm>\n")
        out.append("    </node_state>\n")
    out.append("  </status>\n</cib>\n")
    return "".join(out)


# --- measuring --------------------------------------------------------------------

def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 2)


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def summary_lines(text: str) -> list[tuple[str, ...]]:
    """The Transition Summary lines of crm_simulate-like output, as tuples of words."""
    lines = text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == "Transition Summary:")
    except StopIteration:
        return []
    out: list[tuple[str, ...]] = []
    for ln in lines[start + 1:]:
        if not ln.strip():
            if out:
                break
            continue
        if not ln.startswith(" "):
            break
        out.append(tuple(re.sub(r"\s+", " ", ln.strip()).split(" ")))
    return out


def _differing(ours: list[tuple[str, ...]], theirs: list[tuple[str, ...]]) -> int:
    a, b = Counter(ours), Counter(theirs)
    return sum(((a - b) + (b - a)).values())


def measure(path: Path, repeat: int, crm: str | None, cli: bool,
            crm_out: str | None = None) -> dict[str, Any]:
    data = path.read_bytes()
    ours_ms = _median_ms(lambda: schedule(parse(data, path.name)), repeat)
    ours = summary_lines(render(schedule(parse(data, path.name))))
    row: dict[str, Any] = {"bytes": len(data), "ours_ms": ours_ms, "summary_lines": len(ours)}
    if cli:
        cmd = [sys.executable, "-m", "ha.cli.main", "simulate", "-x", str(path)]
        row["ours_cli_ms"] = _median_ms(lambda: _run(cmd), repeat)
    if crm is None:
        return row
    cmd = [crm, "-R", "-Q", "-x", str(path)]
    row["crm_simulate_ms"] = _median_ms(lambda: _run(cmd), repeat)
    if crm_out is None:  # -Q suppresses the summary in 2.1.5: one run without it
        crm_out = _run([crm, "-R", "-x", str(path)]).stdout
    theirs = summary_lines(crm_out)
    row["ratio"] = round(ours_ms / row["crm_simulate_ms"], 3)
    if cli:
        row["cli_ratio"] = round(row["ours_cli_ms"] / row["crm_simulate_ms"], 3)
    row["crm_summary_lines"] = len(theirs)
    row["summary_differing_lines"] = _differing(ours, theirs)
    row["summary_agrees"] = row["summary_differing_lines"] == 0
    # the same lines without their details (nodes): same verbs on the same resources?
    row["verb_resource_differing"] = _differing([t[:3] for t in ours], [t[:3] for t in theirs])
    return row


def _fmt(row: dict[str, Any]) -> str:
    return (f"ours {row['ours_ms']} ms, crm_simulate {row.get('crm_simulate_ms')} ms, "
            f"ratio {row.get('ratio')}, differing {row.get('summary_differing_lines')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sizes", default="100,1000,5000",
                    help="numbers of primitives, comma-separated")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--quick", action="store_true",
                    help="one run of each, no `ha simulate` process timing")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--largest", type=int, default=5, help="how many corpus inputs")
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    cli = not args.quick
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    crm = shutil.which("crm_simulate")
    result: dict[str, Any] = {
        "benchmark": "scheduler", "python": platform.python_version(),
        "machine": platform.machine(), "nodes": NODES, "repeat": repeat, "sizes": sizes,
        "crm_simulate": crm, "notes": [], "synthetic": {}, "corpus": {},
    }
    if crm is None:
        result["notes"].append("crm_simulate not installed: our times only")
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as tmp:
        for n in sizes:
            for sit in SITUATIONS:
                name = f"{sit}-{n}"
                path = Path(tmp) / f"{name}.xml"
                path.write_text(synthetic_cib(n, sit))
                crm_out = None
                if crm is not None:  # -R without -Q: the same check, and it prints the summary
                    check = _run([crm, "-x", str(path), "-R"])
                    crm_out = check.stdout
                    if check.returncode != 0:
                        result["notes"].append(
                            f"{name}: crm_simulate rejected it (rc {check.returncode}): "
                            f"{check.stderr.strip()[:300]}")
                        _log(f"{name}: rejected by crm_simulate")
                        continue
                _log(f"{name}: measuring ({path.stat().st_size} bytes)")
                row = measure(path, repeat, crm, cli, crm_out)
                row.update(resources=n, situation=sit)
                result["synthetic"][name] = row
                _log(f"{name}: {_fmt(row)}")
    if args.corpus.is_dir():
        files = sorted(args.corpus.glob("*.xml"), key=lambda p: p.stat().st_size,
                       reverse=True)[:args.largest]
        for path in files:
            _log(f"{path.name}: measuring")
            row = measure(path, repeat, crm, cli)
            result["corpus"][path.stem] = row
            _log(f"{path.stem}: {_fmt(row)}")
    else:
        result["notes"].append(f"corpus not found at {args.corpus}: corpus inputs skipped")
    growth: dict[str, dict[str, Any]] = {}
    for sit in SITUATIONS:
        per: dict[str, Any] = {}
        for n in sizes:
            row = result["synthetic"].get(f"{sit}-{n}")
            if row is None:
                continue
            per[str(n)] = {"ours_us_per_resource": round(row["ours_ms"] * 1000 / n, 1)}
            if "crm_simulate_ms" in row:
                per[str(n)]["crm_simulate_us_per_resource"] = round(
                    row["crm_simulate_ms"] * 1000 / n, 1)
        growth[sit] = per
    result["growth"] = growth
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
