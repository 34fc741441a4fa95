"""pytest plugin: the ``ha_cluster`` fixture (a live cluster in the simulator or Docker).

::

    @pytest.mark.ha_cluster(nodes=5, backend="docker", totem={"token": 1000})
    def test_minority_loses_quorum(ha_cluster):
        ha_cluster.wait(ring="all", quorate="all", within="60s")
        ha_cluster.do({"partition": "1,2|3,4,5"})
        ha_cluster.wait(ring=[3, 4, 5], quorate=[3, 4, 5], within="20s")
        ha_cluster.assert_checks()           # every checker over what was recorded

Without the marker: 3 nodes on ``--ha-backend`` (default ``sim``). Steps are the
scenario file's steps, as dicts. The cluster is torn down after the test — on failure
and on Ctrl-C too (a session-end sweep and an atexit hook remove what a fixture could
not); ``--keep-failed`` keeps a failed test's Docker cluster and prints how to reach
it. Each test's run is stored as a scenario run is (report.html, junit.xml) under
``--ha-runs`` (default: the test's tmp_path). Clusters of crashed earlier sessions
are removed when a session starts.
"""

from __future__ import annotations

import atexit
import contextlib
from pathlib import Path
from typing import Any

import pytest

from harness.backends import Backend, make
from harness.checks import run_checks
from harness.runner import Run, run_dir_for, write
from harness.scenario import CHECKS, Check, Scenario, ScenarioError, _Ctx, _step

_LIVE: dict[int, Backend] = {}


class StepFailed(AssertionError):
    """A step of a live cluster failed (a wait ran out, a fault was unsupported)."""


class LiveCluster:
    """A running cluster driven step by step; ``run`` is the runner's engine."""

    def __init__(self, backend: str, nodes: int, run_dir: Path, seed: int = 1,
                 totem: dict[str, Any] | None = None, quorum: dict[str, Any] | None = None,
                 name: str = "pytest") -> None:
        self.sc = Scenario(name=name, description="", file=f"<{name}>",
                           nodes=list(range(1, nodes + 1)), totem=dict(totem or {}),
                           quorum=dict(quorum or {}), steps=[],
                           checks=[Check(c, {"within_ms": 30000.0} if c == "convergence" else {})
                                   for c in CHECKS])
        self.run_dir = run_dir
        self.backend = make(backend, self.sc, seed, run_dir)
        self.run = Run(self.sc, self.backend, seed, progress=lambda s: None)
        self._ctx = _Ctx(self.sc.file, self.sc.nodes, self.sc.token_timeout_ms())
        self._n = 0
        self.closed = False
        _LIVE[id(self)] = self.backend
        self.backend.start()

    @property
    def nodes(self) -> list[int]:
        return self.sc.nodes

    def do(self, step: dict[str, Any]) -> dict[str, Any]:
        """One scenario step, e.g. ``{"kill": 3}``; raises StepFailed when it fails."""
        try:
            (s,) = _step(self._ctx, str(self._n), step)
        except (ScenarioError, ValueError) as e:
            raise StepFailed(str(e)) from None
        self._n += 1
        rec = self.run.do(s)
        if not rec["ok"]:
            raise StepFailed(f"step {s.text}: {rec['detail']}")
        return rec

    def wait(self, **cond: Any) -> dict[str, Any]:
        return self.do({"wait": cond})

    def views(self) -> dict[int, dict[str, Any]]:
        self.run.pump()
        return {n: v.as_json() for n, v in self.run.tracker.views.items()}

    def records(self) -> list[dict[str, Any]]:
        self.run.pump()
        return sorted(self.run.records, key=lambda r: r["t_ms"])

    def checks(self) -> list[dict[str, Any]]:
        return run_checks(self.sc.checks, self.nodes, self.records(), self.run.faults,
                          self.backend.now_ms(), self.sc.two_node)

    def assert_checks(self) -> None:
        bad = [v for c in self.checks() for v in c["violations"]]
        if bad:
            raise AssertionError("; ".join(f"{v['invariant']} violated at t={v['t_ms']:.0f} ms on "
                                           f"nodes {v['nodes']}: {v['detail']}" for v in bad[:5]))

    def close(self, keep: bool = False) -> str | None:
        """Store the run (report, JUnit, traces) and tear the cluster down unless ``keep``."""
        if self.closed:
            return None
        self.closed = True
        _LIVE.pop(id(self), None)
        kept = None
        try:
            self.run.pump()
            end = self.backend.now_ms()
            files = self.backend.files(self.run_dir)
            result = self.run.result(end, files, all(s["ok"] for s in self.run.steps))
            write(result, self.run_dir)
        finally:
            kept = self.backend.close(keep=keep)
        return kept


def _sweep() -> None:
    for key, b in list(_LIVE.items()):
        _LIVE.pop(key, None)
        with contextlib.suppress(Exception):
            b.close(keep=False)


atexit.register(_sweep)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("hastack", "hastack laboratory")
    g.addoption("--ha-backend", default="sim", choices=("sim", "docker"),
                help="backend of ha_cluster when the test does not say (default sim)")
    g.addoption("--ha-runs", default=None, help="store ha_cluster runs here (default tmp_path)")
    g.addoption("--keep-failed", action="store_true",
                help="keep the Docker cluster of a failed test and print how to reach it")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ha_cluster(nodes=3, backend=None, totem=None, quorum=None, "
                                       "seed=1): the ha_cluster fixture's cluster")


def pytest_sessionstart(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return                     # xdist workers: the controller sweeps once
    with contextlib.suppress(Exception):
        from harness.image import unavailable

        if unavailable() is None:
            from harness.docker_cluster import reap_orphans

            reap_orphans()


def pytest_sessionfinish(session: pytest.Session) -> None:
    _sweep()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    setattr(item, f"ha_rep_{rep.when}", rep)
    return rep


@pytest.fixture
def ha_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    m = request.node.get_closest_marker("ha_cluster")
    kw: dict[str, Any] = dict(m.kwargs) if m else {}
    if hasattr(request, "param"):
        kw.update(request.param)
    backend = kw.pop("backend", None) or request.config.getoption("--ha-backend")
    if backend == "docker":
        from harness.image import build, unavailable

        why = unavailable()
        if why:
            pytest.skip(f"Docker is unavailable: {why}")
        build(progress=lambda s: None)
    runs = request.config.getoption("--ha-runs")
    name = request.node.name.replace("[", "-").replace("]", "")[:60]
    run_dir = run_dir_for(name, "", backend, kw.get("seed", 1), runs) if runs else tmp_path
    cluster = LiveCluster(backend, int(kw.pop("nodes", 3)), run_dir, name=name, **kw)
    try:
        yield cluster
    finally:
        rep = getattr(request.node, "ha_rep_call", None)
        failed = rep is None or rep.failed
        keep = failed and backend == "docker" and request.config.getoption("--keep-failed")
        kept = cluster.close(keep=keep)
        if kept:
            tr = request.config.pluginmanager.get_plugin("terminalreporter")
            msg = f"\n{request.node.nodeid}: {kept} (report: {run_dir}/report.html)"
            if tr is not None:
                tr.write_line(msg)
            else:
                print(msg)
