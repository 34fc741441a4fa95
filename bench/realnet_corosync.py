"""The Corosync backend of the real-network benchmark: one corosync per lab host.

Each host gets its own ``corosync.conf`` (totem version 2, transport udpu, crypto
none: Corosync 3 encrypts only on knet, so both sides of the comparison run without
crypto), and runs ``corosync -f`` in its namespace with a private ``/run`` (the pid
lock file ``/var/run/corosync.pid``; ``/var/run`` is a symlink to ``/run`` on Debian)
and its own ``/var/lib/corosync`` (ring id files) and ``/var/log/corosync``, bound
from the run's work directory. libqb's IPC listens on abstract unix sockets, which
belong to the network namespace, so a ``cpgload`` started in the same namespace
reaches that host's corosync and no other; its shared-memory rings in ``/dev/shm``
are named after the server and client pids, so they never clash between hosts.

``system { sched_rr: no; move_to_root_cgroup: no }`` by default: corosync would
otherwise raise itself to SCHED_RR and move into the root cgroup, which on a shared
two-core machine starves everything else (``--corosync-sched-rr`` restores it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from bench.realnet_backend import BenchSpec, LabBackend, Timing
from harness.netns import NetnsLab

SOURCE_DIR = Path(__file__).resolve().parent / "corosync"
WATCH_GROUP = "hawatch"


def unavailable() -> str | None:
    """Why the Corosync backend cannot run here, or None."""
    if shutil.which("corosync") is None:
        return "corosync is not installed (apt-get install corosync)"
    if shutil.which("cc") is None:
        return "no C compiler (cc) to build cpgload"
    if not Path("/usr/include/corosync/cpg.h").exists():
        return "libcpg headers missing (apt-get install libcpg-dev)"
    return None


def build_cpgload() -> str:
    """Build ``bench/corosync/cpgload`` if it is missing or older than its source."""
    binary = SOURCE_DIR / "cpgload"
    source = SOURCE_DIR / "cpgload.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        cp = subprocess.run(["make", "-C", str(SOURCE_DIR), "cpgload"], capture_output=True,
                            text=True, check=False)
        if cp.returncode != 0:
            raise RuntimeError(f"building cpgload failed:\n{cp.stdout}{cp.stderr}")
    return str(binary)


def corosync_conf(lab: NetnsLab, timing: Timing, *, cluster_name: str = "hastack-bench",
                  sched_rr: bool = False) -> str:
    """The corosync.conf every host of the lab shares (nodeid i at lab.addr(i))."""
    totem = ["version: 2", f"cluster_name: {cluster_name}", "transport: udpu",
             "crypto_cipher: none", "crypto_hash: none"]
    if timing.token_ms is not None:
        totem.append(f"token: {timing.token_ms}")
    if timing.token_coefficient_ms is not None:
        totem.append(f"token_coefficient: {timing.token_coefficient_ms}")
    if timing.consensus_ms is not None:
        totem.append(f"consensus: {timing.consensus_ms}")
    nodes = "".join(f"    node {{\n        ring0_addr: {lab.addr(i)}\n        nodeid: {i}\n"
                    f"    }}\n" for i in lab.hosts)
    body = "\n".join(f"    {line}" for line in totem)
    rr = "yes" if sched_rr else "no"
    return (f"totem {{\n{body}\n}}\n\nnodelist {{\n{nodes}}}\n\n"
            "quorum {\n    provider: corosync_votequorum\n}\n\n"
            "logging {\n    to_stderr: yes\n    to_logfile: no\n    to_syslog: no\n"
            "    timestamp: on\n}\n\n"
            f"system {{\n    sched_rr: {rr}\n    move_to_root_cgroup: no\n}}\n")


class CorosyncCluster(LabBackend):
    """Corosync 3 (udpu) on every host of a lab, each watched by ``cpgload watch``."""

    name = "corosync"

    def __init__(self, lab: NetnsLab, timing: Timing, workdir: str, *,
                 sched_rr: bool = False) -> None:
        super().__init__(lab, workdir)
        self.timing = timing
        self.cpgload = build_cpgload()
        self._daemons: dict[int, subprocess.Popen[bytes]] = {}
        self._watchers: dict[int, subprocess.Popen[bytes]] = {}
        self._conf = corosync_conf(lab, timing, sched_rr=sched_rr)

    def version(self) -> str:
        out = subprocess.run(["corosync", "-v"], capture_output=True, text=True,
                             check=False).stdout
        first = out.splitlines()[0] if out else ""
        return first.split("'")[1] if first.count("'") >= 2 else first

    def start(self) -> None:
        for i in self.nodes:
            self.start_node(i)

    def start_node(self, i: int) -> float:
        """Start corosync (and its watcher) on host i; returns the time of the exec."""
        hd = self.host_dir(i)
        for sub in ("lib", "log"):
            os.makedirs(os.path.join(hd, sub), exist_ok=True)
        conf = os.path.join(hd, "corosync.conf")
        with open(conf, "w") as f:
            f.write(self._conf)
        mounts = {"/run": "tmpfs", "/var/lib/corosync": os.path.join(hd, "lib"),
                  "/var/log/corosync": os.path.join(hd, "log")}
        with open(os.path.join(hd, "corosync.log"), "ab") as log, \
                open(self.membership_log(i), "ab") as watch, \
                open(os.path.join(hd, "watch.err"), "ab") as werr:
            t0 = time.time()
            self._daemons[i] = self.lab.spawn(i, ["corosync", "-f", "-c", conf], stdout=log,
                                              stderr=subprocess.STDOUT, mounts=mounts)
            self._watchers[i] = self.lab.spawn(
                i, [self.cpgload, "watch", WATCH_GROUP, "--connect-timeout", "60"],
                stdout=watch, stderr=werr)
        return t0

    def kill_node(self, i: int) -> float:
        """SIGKILL host i's corosync; its watcher is ended once the daemon is gone."""
        daemon = self._daemons.pop(i)
        t0 = time.time()
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        self._forget_shm(daemon.pid)
        watcher = self._watchers.pop(i)
        try:
            watcher.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
        return t0

    @staticmethod
    def _forget_shm(pid: int) -> None:
        """Remove the IPC rings and blackbox a killed corosync leaves in /dev/shm."""
        shm = Path("/dev/shm")
        for path in [*shm.glob(f"qb-{pid}-*"), *shm.glob(f"qb-corosync-{pid}-*")]:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def start_bench(self, i: int, spec: BenchSpec) -> subprocess.Popen[bytes]:
        argv = [self.cpgload, "bench", spec.group, "--size", str(spec.size),
                "--duration", str(spec.duration_s), "--senders", str(spec.senders),
                "--members", str(spec.members), "--timeout", str(spec.timeout_s)]
        if spec.send:
            argv.append("--send")
        if spec.rate:
            argv += ["--rate", str(spec.rate)]
        return self.lab.spawn(i, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def close(self) -> None:
        for p in [*self._watchers.values(), *self._daemons.values()]:
            if p.poll() is None:
                p.terminate()
        for p in [*self._watchers.values(), *self._daemons.values()]:
            try:
                p.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for p in self._daemons.values():
            self._forget_shm(p.pid)
        self._daemons.clear()
        self._watchers.clear()


def factory(lab: NetnsLab, timing: Timing, workdir: str,
            args: argparse.Namespace) -> CorosyncCluster:
    return CorosyncCluster(lab, timing, workdir,
                           sched_rr=bool(getattr(args, "corosync_sched_rr", False)))
