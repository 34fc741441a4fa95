"""The hastack backend of the real-network benchmark: one ``ha node run`` per lab host.

Same lab, same timings, same measurements as the Corosync backend: the daemons are
``harness.realcluster.HastackCluster`` nodes (udpu-style UDP, HMAC-SHA-256 on every
packet, no encryption — Corosync 3 on udpu has none either), their JSON-lines traces
carry the ``regular`` configuration records the measuring layer reads, and
``ha bench groups`` prints the cpgload schema.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.realnet_backend import BenchSpec, LabBackend, Timing
from ha import __version__
from harness.netns import NetnsLab
from harness.realcluster import HastackCluster


class HastackBackend(LabBackend):
    name = "hastack"

    def __init__(self, lab: NetnsLab, timing: Timing, workdir: str) -> None:
        super().__init__(lab, workdir)
        self.cluster = HastackCluster(len(self.nodes), workdir, lab=lab,
                                      token=timing.token_ms,
                                      token_coefficient=timing.token_coefficient_ms,
                                      consensus=timing.consensus_ms)

    def version(self) -> str:
        return __version__

    def start(self) -> None:
        for i in self.nodes:
            self.start_node(i)

    def start_node(self, i: int) -> float:
        return self.cluster.start_node(i)

    def kill_node(self, i: int) -> float:
        return self.cluster.kill_node(i)

    def membership_log(self, i: int) -> str:
        return self.cluster.path(i, "trace")

    def start_bench(self, i: int, spec: BenchSpec) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "ha.cli.main", "bench", "groups",
                "--socket", self.cluster.path(i, "sock"), "--group", spec.group,
                "--size", str(spec.size), "--duration", str(spec.duration_s),
                "--members", str(spec.members), "--senders", str(spec.senders),
                "--timeout", str(spec.timeout_s), "--output-as=json"]
        if not spec.send:
            argv.append("--receive-only")
        if spec.rate:
            argv += ["--rate", str(spec.rate)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def close(self) -> None:
        self.cluster.close()


def factory(lab: NetnsLab, timing: Timing, workdir: str,
            args: argparse.Namespace) -> HastackBackend:
    return HastackBackend(lab, timing, workdir)
