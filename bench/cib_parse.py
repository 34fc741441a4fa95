"""Benchmark: reading, checking and writing CIBs (ha.cib.xml, ha.cib.validate).

Prints one JSON object. Over Pacemaker's scheduler regression corpus
(``../shared/pacemaker-scheduler/xml``, or ``--corpus``):

- ``largest``: the largest input (its name, bytes, elements) and the median of
  ``--repeat`` runs of ``parse`` (bytes → tree), ``verify`` (every check, errors and
  warnings) and ``serialise`` (tree → bytes), in milliseconds;
- ``corpus``: the same three steps summed over every file, median of ``--corpus-repeat``
  passes, in seconds, with the number of files and bytes;
- ``crm_verify`` (when ``crm_verify`` is installed, Debian package
  ``pacemaker-cli-utils``): ``crm_verify -x FILE`` on the largest input (median of
  ``--repeat``) and, with ``--crm-verify-corpus``, once over the whole corpus; the time
  of ``crm_verify --version`` (process start-up alone); and the ratio crm_verify time /
  hastack parse+verify time. crm_verify does more than hastack's verify: it starts a
  process, validates against the RelaxNG schema and runs the whole scheduler, so the
  ratio says what a user waits for, not which code is faster.

Usage: ``python bench/cib_parse.py [--repeat 7] [--corpus-repeat 3] [--crm-verify-corpus]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lxml.etree

from ha.cib.validate import verify
from ha.cib.xml import parse, serialise

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "pacemaker-scheduler" / "xml"


def _median_s(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _largest(path: Path, repeat: int) -> dict[str, Any]:
    data = path.read_bytes()
    root = parse(data, path.name)
    parse_s = _median_s(lambda: parse(data, path.name), repeat)
    verify_s = _median_s(lambda: verify(root), repeat)
    serialise_s = _median_s(lambda: serialise(root), repeat)
    issues = verify(root)
    return {
        "file": path.name, "bytes": len(data), "elements": sum(1 for _ in root.iter()),
        "errors": sum(1 for i in issues if i.severity == "error"),
        "warnings": sum(1 for i in issues if i.severity == "warning"),
        "parse_ms": round(parse_s * 1e3, 3), "verify_ms": round(verify_s * 1e3, 3),
        "serialise_ms": round(serialise_s * 1e3, 3),
    }


def _corpus_pass(files: list[tuple[str, bytes]]) -> tuple[float, float, float]:
    parse_s = verify_s = serialise_s = 0.0
    for name, data in files:
        t0 = time.perf_counter()
        root = parse(data, name)
        t1 = time.perf_counter()
        verify(root)
        t2 = time.perf_counter()
        serialise(root)
        t3 = time.perf_counter()
        parse_s, verify_s, serialise_s = parse_s + t1 - t0, verify_s + t2 - t1, serialise_s + t3 - t2
    return parse_s, verify_s, serialise_s


def _corpus(paths: list[Path], repeat: int) -> dict[str, Any]:
    files = [(p.name, p.read_bytes()) for p in paths]
    passes = [_corpus_pass(files) for _ in range(repeat)]
    parse_s, verify_s, serialise_s = (statistics.median(col) for col in zip(*passes, strict=True))
    return {"files": len(files), "bytes": sum(len(d) for _, d in files),
            "parse_s": round(parse_s, 4), "verify_s": round(verify_s, 4),
            "serialise_s": round(serialise_s, 4)}


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _crm_verify(exe: str, largest: Path, paths: list[Path], repeat: int, whole: bool,
                ours: dict[str, Any], corpus: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": subprocess.run([exe, "--version"], capture_output=True, text=True,
                                  check=False).stdout.splitlines()[0],
        "startup_ms": round(_median_s(lambda: _run([exe, "--version"]), repeat) * 1e3, 1),
    }
    largest_s = _median_s(lambda: _run([exe, "-x", str(largest)]), repeat)
    out["largest_ms"] = round(largest_s * 1e3, 1)
    ours_largest_s = (ours["parse_ms"] + ours["verify_ms"]) / 1e3
    out["largest_ratio_crm_verify_over_hastack"] = round(largest_s / ours_largest_s, 1)
    if whole:
        t0 = time.perf_counter()
        for p in paths:
            _run([exe, "-x", str(p)])
        corpus_s = time.perf_counter() - t0
        out["corpus_s"] = round(corpus_s, 2)
        out["corpus_ratio_crm_verify_over_hastack"] = round(
            corpus_s / (corpus["parse_s"] + corpus["verify_s"]), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--corpus-repeat", type=int, default=3)
    ap.add_argument("--crm-verify-corpus", action="store_true",
                    help="also time crm_verify over every corpus file (minutes)")
    args = ap.parse_args()
    paths = sorted(args.corpus.glob("*.xml"))
    if not paths:
        raise SystemExit(f"no corpus at {args.corpus}")
    largest = max(paths, key=lambda p: p.stat().st_size)
    result: dict[str, Any] = {
        "benchmark": "cib_parse", "python": platform.python_version(),
        "lxml": ".".join(map(str, lxml.etree.LXML_VERSION)),
        "libxml2": ".".join(map(str, lxml.etree.LIBXML_VERSION)),
        "repeat": args.repeat, "corpus_repeat": args.corpus_repeat,
    }
    result["largest"] = _largest(largest, args.repeat)
    result["corpus"] = _corpus(paths, args.corpus_repeat)
    exe = shutil.which("crm_verify")
    result["crm_verify"] = (
        _crm_verify(exe, largest, paths, args.repeat, args.crm_verify_corpus,
                    result["largest"], result["corpus"])
        if exe else "not installed (apt-get install pacemaker-cli-utils)")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
