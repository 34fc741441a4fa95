"""A lab of N hosts in Linux network namespaces, for integration tests and benchmarks.

Each lab owns one namespace that holds a bridge (``br0``) and one namespace per host.
Host *i* (1..n) has a veth ``eth0`` with address ``10.<a>.<b>.i/24`` whose peer ``h<i>``
is a port of the bridge. The bridge lives in its own namespace, not the root one, so the
machine's network is never touched, and two labs are apart even when their subnets are
equal; the subnet is configurable all the same so that addresses read unambiguously in
logs. Namespace names carry the pid and a per-process sequence number, so parallel
pytest workers never clash.

Faults are kept as one ``harness.faults.NetFaults`` and rendered per host as the
Docker harness renders them (``table inet ha_fault`` inside the host's own namespace,
loaded atomically):

- ``isolate(i)``: drop everything in and out except loopback;
- ``partition(groups)``: every host drops traffic from hosts outside its group;
- ``loss(i, pct)``: drop ``pct`` % of packets in and out on ``eth0`` (``numgen random``;
  this kernel has no netem qdisc);
- ``heal(i)``: host ``i`` drops nothing any more (or every host, without ``i``).

``close()`` kills every process group it spawned and everything else still running in
the lab's namespaces, then deletes the namespaces (their veths go with them); it is
safe after a partial setup and safe to call twice.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import IO, Any

from harness.faults import FaultError, NetFaults, groups_grudges
from harness.faults import load as load_faults

_SEQ = itertools.count(1)
DEV = "eth0"

_File = int | IO[Any] | None


def _signal_group(p: subprocess.Popen[bytes], sig: int) -> None:
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


class LabError(RuntimeError):
    """A lab operation failed; the message carries the command and its stderr."""


class NetnsLab:
    """N hosts on one bridge, each in its own network namespace (a context manager)."""

    def __init__(self, n: int, prefix: str = "ha", subnet: int | None = None,
                 net: str = "10.77") -> None:
        if not 1 <= n <= 250:
            raise ValueError(f"n must be in 1..250, got {n}")
        seq = next(_SEQ)
        self.n = n
        self.name = f"{prefix}{os.getpid()}x{seq}"
        octet = subnet if subnet is not None else (os.getpid() + seq) % 250 + 1
        if not 0 <= octet <= 255:
            raise ValueError(f"subnet (third octet) must be in 0..255, got {octet}")
        self.subnet = f"{net}.{octet}"
        self.bridge_ns = f"{self.name}-br"
        self._created: list[str] = []
        self._procs: dict[int, list[subprocess.Popen[bytes]]] = {i: [] for i in self.hosts}
        self.faults = NetFaults()
        self._closed = False
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    # -- topology ---------------------------------------------------------------------

    @property
    def hosts(self) -> range:
        return range(1, self.n + 1)

    def ns(self, i: int) -> str:
        """The namespace name of host ``i``."""
        self._check_host(i)
        return f"{self.name}-h{i}"

    def addr(self, i: int) -> str:
        """The IPv4 address of host ``i`` on the lab's bridge."""
        self._check_host(i)
        return f"{self.subnet}.{i}"

    def _check_host(self, i: int) -> None:
        if i not in self.hosts:
            raise ValueError(f"no host {i} in a lab of {self.n}")

    def _add_ns(self, name: str) -> None:
        self._must(_ip("netns", "add", name, check=False), f"ip netns add {name}")
        self._created.append(name)

    def _setup(self) -> None:
        br = self.bridge_ns
        self._add_ns(br)
        self._ipn(br, "link", "add", "br0", "type", "bridge")
        self._ipn(br, "link", "set", "br0", "up")
        self._ipn(br, "link", "set", "lo", "up")
        for i in self.hosts:
            ns = self.ns(i)
            self._add_ns(ns)
            self._ipn(br, "link", "add", f"h{i}", "type", "veth", "peer", "name", DEV,
                      "netns", ns)
            self._ipn(br, "link", "set", f"h{i}", "master", "br0", "up")
            self._ipn(ns, "addr", "add", f"{self.addr(i)}/24", "dev", DEV)
            self._ipn(ns, "link", "set", DEV, "up")
            self._ipn(ns, "link", "set", "lo", "up")

    def _ipn(self, ns: str, *args: str) -> None:
        self._must(_ip("-n", ns, *args, check=False), f"ip -n {ns} {' '.join(args)}")

    @staticmethod
    def _must(cp: subprocess.CompletedProcess[str], what: str) -> None:
        if cp.returncode != 0:
            raise LabError(f"{what}: exit {cp.returncode}: {cp.stderr.strip()}")

    # -- processes --------------------------------------------------------------------

    def command(self, i: int, argv: Sequence[str],
                mounts: Mapping[str, str] | None = None) -> list[str]:
        """The argv that runs ``argv`` inside host ``i``'s namespace.

        ``mounts`` maps a mount point to ``"tmpfs"`` (a fresh, empty tmpfs) or to a
        directory to bind there; the program then runs under ``unshare --mount`` with
        private propagation, so several daemons that insist on ``/run/x.pid`` or
        ``/var/lib/x`` can share the host's filesystem. Shorter paths mount first.
        """
        cmd = ["ip", "netns", "exec", self.ns(i)]
        if not mounts:
            return [*cmd, *argv]
        steps = ["set -e"]
        for target in sorted(mounts, key=lambda p: (p.count("/"), p)):
            source = mounts[target]
            q = shlex.quote(target)
            steps.append(f"mkdir -p {q}")
            if source == "tmpfs":
                steps.append(f"mount -t tmpfs -o mode=0755 tmpfs {q}")
            else:
                steps.append(f"mount --bind {shlex.quote(source)} {q}")
        steps.append('exec "$@"')
        return [*cmd, "unshare", "--mount", "--propagation", "private",
                "sh", "-c", "; ".join(steps), "sh", *argv]

    def spawn(self, i: int, argv: Sequence[str], *, stdout: _File = None,
              stderr: _File = None, stdin: _File = subprocess.DEVNULL,
              env: Mapping[str, str] | None = None, cwd: str | None = None,
              mounts: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` on host ``i`` in a new process group; ``kill``/``close`` end it.

        ``ip netns exec``, ``unshare`` and ``sh`` all exec, so the Popen's pid is the
        program's own pid (a SIGKILL reaches the program, not a wrapper).
        """
        p = subprocess.Popen(self.command(i, argv, mounts), stdin=stdin, stdout=stdout,
                             stderr=stderr, env=None if env is None else dict(env),
                             cwd=cwd, start_new_session=True)
        self._procs[i].append(p)
        return p

    def run(self, i: int, argv: Sequence[str], *, timeout: float | None = 60.0,
            check: bool = False, input: str | None = None,
            env: Mapping[str, str] | None = None, cwd: str | None = None,
            mounts: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on host ``i`` to completion, capturing text stdout and stderr."""
        return subprocess.run(self.command(i, argv, mounts), capture_output=True, text=True,
                              timeout=timeout, check=check, input=input,
                              env=None if env is None else dict(env), cwd=cwd)

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process group of everything spawned on host ``i``."""
        self._check_host(i)
        for p in self._procs[i]:
            _signal_group(p, sig)

    def processes(self, i: int) -> list[subprocess.Popen[bytes]]:
        """What was spawned on host ``i`` (running or not)."""
        self._check_host(i)
        return list(self._procs[i])

    # -- faults -----------------------------------------------------------------------

    def _nft(self, i: int, script: str) -> None:
        cp = self.run(i, ["nft", "-f", "-"], input=script, timeout=30.0)
        self._must(cp, f"nft on host {i}:\n{script}")

    def _apply(self, hosts: Iterable[int]) -> None:
        """Load the faults in force on ``hosts`` (one atomic nftables file each)."""
        load_faults(self._nft, self.faults, {h: self.addr(h) for h in self.hosts}, hosts, DEV)

    def isolate(self, i: int) -> None:
        """Host ``i`` drops every packet in and out, except on loopback."""
        self._check_host(i)
        self.faults.isolated.add(i)
        self._apply([i])

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Each host drops traffic from the hosts outside its group (grudges, as
        harness.faults renders them). Replaces an earlier partition; a host named in no
        group is cut off from all."""
        try:
            self.faults.grudges = groups_grudges(groups, list(self.hosts))
        except FaultError as e:
            raise ValueError(str(e).replace("partition: node", "host")) from None
        self._apply(self.hosts)

    def loss(self, i: int, percent: float) -> None:
        """Drop ``percent`` % of packets in and out on host ``i``'s ``eth0`` (0 removes)."""
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be in 0..100, got {percent}")
        self._check_host(i)
        if percent:
            self.faults.node_loss[i] = percent
        else:
            self.faults.node_loss.pop(i, None)
        self._apply([i])

    def heal(self, i: int | None = None) -> None:
        """Remove every fault rule from host ``i`` (what it drops), or from all hosts."""
        if i is None:
            self.faults.heal("all")
            self._apply(self.hosts)
            return
        self._check_host(i)
        self.faults.isolated.discard(i)
        self.faults.node_loss.pop(i, None)
        self.faults.grudges = {(a, b) for a, b in self.faults.grudges if b != i}
        self._apply([i])

    # -- teardown ---------------------------------------------------------------------

    def close(self) -> None:
        """Kill all spawned processes (and stragglers), delete namespaces and links."""
        if self._closed:
            return
        self._closed = True
        procs = [p for ps in self._procs.values() for p in ps]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p in procs:
                _signal_group(p, sig)
            deadline = time.monotonic() + 2.0
            while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
                time.sleep(0.02)
        for ns in reversed(self._created):
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _ip("netns", "del", ns, check=False)
        self._created.clear()

    def __enter__(self) -> NetnsLab:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @staticmethod
    @functools.cache
    def unavailable() -> str | None:
        """Why no lab can run on this machine, or None when one can."""
        if os.geteuid() != 0:
            return "network namespaces need root"
        for tool in ("ip", "nft", "unshare"):
            if shutil.which(tool) is None:
                return f"`{tool}` is not installed"
        probe = f"haprobe{os.getpid()}"
        cp = _ip("netns", "add", probe, check=False)
        if cp.returncode != 0:
            return f"`ip netns add` fails: {cp.stderr.strip()}"
        try:
            nft = subprocess.run(["ip", "netns", "exec", probe, "nft", "list", "tables"],
                                 capture_output=True, text=True, check=False)
            if nft.returncode != 0:
                return f"nftables does not work in a namespace: {nft.stderr.strip()}"
        finally:
            _ip("netns", "del", probe, check=False)
        return None


def namespaces(prefix: str) -> list[str]:
    """Network namespaces whose names start with ``prefix`` (e.g. ``lab.name + "-"``)."""
    out = _ip("netns", "list", check=False).stdout
    names = [ln.split()[0] for ln in out.splitlines() if ln.split()]
    return [n for n in names if n.startswith(prefix)]
