"""Run a scenario in a backend: execute its steps, keep the fault windows, judge, store.

``run()`` returns the result dict (the schema ``result.json`` holds; see
harness/report.py) and writes ``runs/<scenario>/<timestamp>-<backend>-s<seed>/``:
``scenario.yaml``, ``result.json``, ``junit.xml``, ``report.html`` and every node's
trace (and log, on Docker). A ``wait`` that times out fails its step, says what each
node reported, and ends the steps (what follows assumed it); the checks still run over
everything recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import checks as chk
from harness.backends import Backend, Unsupported, make
from harness.faults import NetFaults, bridge, groups_grudges, halves, majority_ring
from harness.observe import Tracker
from harness.scenario import Scenario, Step

NET_KINDS = ("partition", "isolate", "oneway")


class Run:
    def __init__(self, sc: Scenario, backend: Backend, seed: int,
                 progress: Callable[[str], None]) -> None:
        self.sc, self.b, self.seed, self.progress = sc, backend, seed, progress
        self.tracker = Tracker(sc.nodes)
        self.records: list[dict[str, Any]] = []
        self.net = NetFaults()
        self.faults: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.started = dt.datetime.now(dt.UTC)
        self.t_step = 0.0         # when the current step began: faults open and close then
        self.wall0 = time.monotonic()

    # ---- bookkeeping ----------------------------------------------------------------
    def pump(self) -> None:
        for r in self.b.new_records():
            self.records.append(r)
            self.tracker.feed(r)

    def open_fault(self, kind: str, label: str, nodes: list[int]) -> None:
        self.faults.append({"id": len(self.faults) + 1, "kind": kind, "label": label,
                            "nodes": sorted(nodes), "t_start_ms": round(self.t_step, 3),
                            "t_end_ms": None})

    def close_faults(self, pred: Callable[[dict[str, Any]], bool]) -> None:
        now = round(self.t_step, 3)
        for f in self.faults:
            if f["t_end_ms"] is None and pred(f):
                f["t_end_ms"] = now

    def _nodes(self, v: Any) -> list[int]:
        return self.tracker.live() if v == "live" else list(v)

    # ---- steps ----------------------------------------------------------------------
    def wait(self, a: dict[str, Any]) -> tuple[bool, str | None]:
        deadline = self.b.now_ms() + a["within_ms"]

        def holds() -> bool:
            t = self.tracker
            return (("ring" not in a or t.in_one_ring(self._nodes(a["ring"]))) and
                    ("quorate" not in a or t.quorate(self._nodes(a["quorate"]))) and
                    ("inquorate" not in a or t.inquorate(self._nodes(a["inquorate"]))))
        self.pump()
        while not holds():
            if self.b.now_ms() >= deadline:
                return False, f"not reached within {a['within_ms']:.0f} ms: {self.tracker.describe()}"
            self.b.advance(self.b.poll_ms)
            self.pump()
        return True, None

    def step(self, s: Step) -> tuple[bool, str | None]:
        a, b = s.args, self.b
        act = s.action
        if act == "wait":
            return self.wait(a)
        if act == "sleep":
            b.advance(a["ms"])
            return True, None
        if act in ("kill", "kill_daemon"):
            (b.kill if act == "kill" else b.kill_daemon)(a["node"])
            self.open_fault(act, s.text, [a["node"]])
        elif act in ("restart", "start_daemon"):
            (b.restart if act == "restart" else b.start_daemon)(a["node"])
            b.set_faults(self.net)
            self.close_faults(lambda f: f["kind"] in ("kill", "kill_daemon") and f["nodes"] == [a["node"]])
        elif act == "pause":
            b.pause(a["node"])
            self.open_fault("pause", s.text, [a["node"]])
            if a["for_ms"] is not None:
                b.advance(a["for_ms"])
                self.pump()
                self.t_step = b.now_ms()
                b.resume(a["node"])
                self.close_faults(lambda f: f["kind"] == "pause" and f["nodes"] == [a["node"]])
        elif act == "resume":
            b.resume(a["node"])
            self.close_faults(lambda f: f["kind"] == "pause" and f["nodes"] == [a["node"]])
        elif act in NET_KINDS:
            return self.netfault(s)
        elif act == "loss":
            if "node" in a:
                self.net.node_loss[a["node"]] = a["percent"]
                nodes = [a["node"]]
            else:
                self.net.link_loss[(a["link"][0], a["link"][1])] = a["percent"]
                nodes = list(a["link"])
            b.set_faults(self.net)
            self.open_fault("loss", s.text, nodes)
        elif act == "netem":
            note = b.netem(a["node"], a["delay_ms"], a["jitter_ms"], a["duplicate"], a["reorder"])
            self.open_fault("netem", s.text, [a["node"]])
            return True, note or None
        elif act == "heal":
            return self.heal(a["what"])
        elif act == "load":
            b.load(a["senders"], a["rate"], a["duration_ms"], a["size"])
        return True, None

    def netfault(self, s: Step) -> tuple[bool, str | None]:
        a, nodes = s.args, self.sc.nodes
        if s.action == "partition":
            if "shape" in a:
                shape = a["shape"]
                g = (groups_grudges(halves(nodes), nodes) if shape == "halves"
                     else majority_ring(nodes) if shape == "majority_ring" else bridge(nodes))
            else:
                g = groups_grudges(a["groups"], nodes)
            self.net.grudges = g
            self.close_faults(lambda f: f["kind"] == "partition")
            hit = nodes
        elif s.action == "isolate":
            n = a["node"]
            self.net.grudges |= {(n, o) for o in nodes if o != n} | {(o, n) for o in nodes if o != n}
            hit = [n]
        else:
            self.net.grudges |= {(x, y) for x in a["src"] for y in a["dst"]}
            hit = [*a["src"], *a["dst"]]
        self.b.set_faults(self.net)
        self.open_fault(s.action, s.text, list(hit))
        return True, None

    def heal(self, what: str) -> tuple[bool, str | None]:
        b = self.b
        if what in ("all", "partition", "loss"):
            self.net.heal(what)
            b.set_faults(self.net)
        kinds = {"all": None, "partition": NET_KINDS, "loss": ("loss",), "netem": ("netem",)}[what]
        if what in ("all", "netem"):
            for f in self.faults:
                if f["kind"] == "netem" and f["t_end_ms"] is None:
                    b.netem(f["nodes"][0], 0, 0, 0, 0)
        if what == "all":
            for f in self.faults:
                if f["t_end_ms"] is not None:
                    continue
                n = f["nodes"][0]
                if f["kind"] == "pause":
                    b.resume(n)
                elif f["kind"] == "kill":
                    b.restart(n)
                elif f["kind"] == "kill_daemon":
                    b.start_daemon(n)
            b.set_faults(self.net)
        self.close_faults(lambda f: kinds is None or f["kind"] in kinds)
        return True, None

    def do(self, s: Step) -> dict[str, Any]:
        """Execute one step and record it; the step's record (``ok``, ``detail``)."""
        t = self.t_step = self.b.now_ms()
        self.progress(f"[{t / 1000:8.2f}s] step {s.index}: {s.text}")
        try:
            good, detail = self.step(s)
        except Unsupported as e:
            good, detail = False, str(e)
        self.pump()
        rec = {"index": s.index, "action": s.action, "text": s.text, "t_ms": round(t, 3),
               "t_end_ms": round(self.b.now_ms(), 3), "ok": good, "detail": detail}
        self.steps.append(rec)
        if not good:
            self.progress(f"           FAILED: {detail}")
        return rec

    def execute(self) -> bool:
        return all(self.do(s)["ok"] for s in self.sc.steps)

    def result(self, end_ms: float, files: dict[str, Any], steps_ok: bool) -> dict[str, Any]:
        sc = self.sc
        records = sorted(self.records, key=lambda x: x["t_ms"])
        checks = chk.run_checks(sc.checks, sc.nodes, records, self.faults, end_ms, sc.two_node)
        tl = Tracker(sc.nodes)
        for rec in records:
            tl.feed(rec)
        return {
            "scenario": {"name": sc.name, "file": sc.file, "description": sc.description},
            "backend": self.b.name, "seed": self.seed,
            "started_at": self.started.isoformat(timespec="seconds"),
            "wall_s": round(time.monotonic() - self.wall0, 3),
            "ok": steps_ok and all(c["ok"] for c in checks),
            "nodes": sc.nodes, "duration_ms": round(end_ms, 3), "steps": self.steps,
            "faults": self.faults, "timeline": tl.timeline(end_ms), "checks": checks,
            "measurements": chk.measure(sc.nodes, records, self.faults, end_ms),
            "files": {"scenario": "scenario.yaml", **files},
        }


def run_dir_for(name: str, source: str, backend_name: str, seed: int,
                runs_dir: str | Path) -> Path:
    """A new ``runs/<name>/<timestamp>-<backend>-s<seed>/`` holding the scenario text."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"
    d = Path(runs_dir) / name / f"{stamp}-{backend_name}-s{seed}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "scenario.yaml").write_text(source, encoding="utf-8")
    return d


def run(sc: Scenario, backend_name: str = "sim", seed: int = 1, runs_dir: str | Path = "runs",
        keep: str = "never", progress: Callable[[str], None] = print) -> tuple[dict[str, Any], Path]:
    """Run ``sc``; ``keep`` is never, failed or always (Docker: leave the cluster up)."""
    run_dir = run_dir_for(sc.name, sc.source, backend_name, seed, runs_dir)
    backend = make(backend_name, sc, seed, run_dir)
    r = Run(sc, backend, seed, progress)
    steps_ok = False
    try:
        progress(f"{sc.name}: {len(sc.nodes)} nodes on {backend_name}, seed {seed}")
        backend.start()
        steps_ok = r.execute()
        r.pump()
        end_ms = backend.now_ms()
        files = backend.files(run_dir)
    finally:
        kept = backend.close(keep=keep == "always" or (keep == "failed" and not steps_ok))
    result = r.result(end_ms, files, steps_ok)
    if kept:
        result["kept"] = kept
    write(result, run_dir)
    return result, run_dir


def write(result: dict[str, Any], run_dir: Path) -> None:
    from harness.junit import write_junit
    from harness.report import write_html

    (run_dir / "result.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    write_junit(result, run_dir / "junit.xml")
    write_html(result, run_dir / "report.html")
