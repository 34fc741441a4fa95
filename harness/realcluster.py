"""A cluster of real hastack daemons: on loopback, or one per network namespace.

``HastackCluster`` writes a corosync.conf and an authkey, starts ``ha node run`` for
each node (inside a ``NetnsLab`` host when given one, else on 127.0.0.x with a port
of its own), and asks the daemons what they see over their control sockets. Tests
and benchmarks use it; faults come from the lab (nftables in the namespaces).

Everything here waits by polling the daemons' own reports, never by sleeping a
guessed time, and every wait that gives up says what it waited for and what each
node reported last.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from ha.runtime.control import ControlClient, ControlError
from harness.netns import NetnsLab


def free_udp_port(addrs: Sequence[str]) -> int:
    """A UDP port that every address in ``addrs`` can bind right now."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((addrs[0], 0))
            port = int(s.getsockname()[1])
        ok = True
        for a in addrs[1:]:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind((a, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no free UDP port on " + ", ".join(addrs))


def corosync_conf_text(cluster_name: str, addrs: Mapping[int, str], port: int, keyfile: str,
                       totem: Mapping[str, Any], quorum: Mapping[str, Any],
                       names: Mapping[int, str] | None = None) -> str:
    """A Corosync 3 corosync.conf (udpu, votequorum) for nodes ``addrs`` (id → address),
    with ``totem`` and ``quorum`` options as corosync.conf spells them; node ``i`` is
    named ``names[i]`` (default ``node<i>``)."""
    lines = ["totem {", "    version: 2", f"    cluster_name: {cluster_name}",
             "    transport: udpu", f"    keyfile: {keyfile}"]
    lines += [f"    {k}: {v}" for k, v in totem.items()]
    lines += ["    interface {", "        linknumber: 0", f"        mcastport: {port}",
              "    }", "}", "nodelist {"]
    for i in sorted(addrs):
        name = (names or {}).get(i, f"node{i}")
        lines += ["    node {", f"        ring0_addr: {addrs[i]}",
                  f"        nodeid: {i}", f"        name: {name}", "    }"]
    lines += ["}", "quorum {", "    provider: corosync_votequorum"]
    lines += [f"    {k}: {v}" for k, v in quorum.items()]
    lines += ["}", "logging {", "    to_stderr: yes", "    timestamp: on", "}"]
    return "\n".join(lines) + "\n"


class HastackCluster:
    """``n`` hastack nodes; node ids 1..n; ``workdir`` holds configs, logs and traces."""

    def __init__(self, n: int, workdir: str, *, lab: NetnsLab | None = None,
                 token: int | None = 300, token_coefficient: int | None = 0,
                 consensus: int | None = None,
                 totem: Mapping[str, Any] | None = None,
                 quorum: Mapping[str, Any] | None = None, cipher: str = "none",
                 port: int | None = None, trace_deliveries: bool = False) -> None:
        if lab is not None and lab.n < n:
            raise ValueError(f"the lab has {lab.n} hosts, the cluster needs {n}")
        self.n = n
        self.nodes = tuple(range(1, n + 1))
        self.workdir = workdir
        self.lab = lab
        os.makedirs(workdir, exist_ok=True)
        self.addrs = {i: (lab.addr(i) if lab else f"127.0.0.{i}") for i in self.nodes}
        self.port = port or (5405 if lab else free_udp_port(list(self.addrs.values())))
        self.keyfile = os.path.join(workdir, "authkey")
        self.conf = os.path.join(workdir, "corosync.conf")
        self.trace_deliveries = trace_deliveries
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._logs: dict[int, IO[bytes]] = {}
        totem_opts: dict[str, Any] = {}   # None leaves Corosync's default
        for name, value in (("token", token), ("token_coefficient", token_coefficient),
                            ("consensus", consensus)):
            if value is not None:
                totem_opts[name] = value
        totem_opts.update(totem or {})
        if cipher != "none":
            totem_opts.update(crypto_cipher=cipher, crypto_hash="sha256")
        self._write_key()
        self._write_conf(totem_opts, dict(quorum or {}))

    # ---- files ----------------------------------------------------------------------
    def _write_key(self) -> None:
        if os.path.exists(self.keyfile):
            return
        from ha.runtime.keygen import generate_key, write_key

        write_key(self.keyfile, generate_key(256))

    def _write_conf(self, totem: dict[str, Any], quorum: dict[str, Any]) -> None:
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write(corosync_conf_text("hastack-lab", self.addrs, self.port, self.keyfile,
                                        totem, quorum))

    def path(self, i: int, what: str) -> str:
        """Per-node files: ``sock``, ``trace``, ``log``, ``state`` (a directory)."""
        ext = {"sock": "sock", "trace": "jsonl", "log": "log", "state": "d"}[what]
        return os.path.join(self.workdir, f"node{i}.{ext}")

    def trace_records(self, i: int, event: str | None = None) -> list[dict[str, Any]]:
        out = []
        with contextlib.suppress(FileNotFoundError), open(self.path(i, "trace"), "rb") as fh:
            for line in fh:
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
                    if event is None or rec.get("event") == event:
                        out.append(rec)
        return out

    def log_text(self, i: int) -> str:
        try:
            with open(self.path(i, "log"), encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except FileNotFoundError:
            return ""

    # ---- processes ------------------------------------------------------------------
    def command(self, i: int) -> list[str]:
        argv = [sys.executable, "-m", "ha.cli.main", "node", "run", "-c", self.conf,
                "--nodeid", str(i), "--socket", self.path(i, "sock"),
                "--state-dir", self.path(i, "state"), "--trace", self.path(i, "trace")]
        if self.trace_deliveries:
            argv.append("--trace-deliveries")
        return argv

    def start(self) -> None:
        for i in self.nodes:
            self.start_node(i)

    def start_converged(self, timeout: float = 30.0) -> tuple[int, int]:
        """Start every node and wait for one ring of all; returns its ring id."""
        self.start()
        return self.wait_membership(self.nodes, self.nodes, timeout)

    def start_node(self, i: int) -> float:
        """Start node ``i``; returns the wall-clock time just before the exec."""
        if self.running(i):
            raise RuntimeError(f"node {i} is already running")
        log = open(self.path(i, "log"), "ab")  # noqa: SIM115 - closed in close()
        self._logs[i] = log
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        t = time.time()
        if self.lab is not None:
            self.procs[i] = self.lab.spawn(i, self.command(i), stdout=log,
                                           stderr=subprocess.STDOUT, env=env)
        else:
            self.procs[i] = subprocess.Popen(self.command(i), stdout=log,
                                             stderr=subprocess.STDOUT, env=env,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        return t

    def running(self, i: int) -> bool:
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def kill_node(self, i: int, sig: int = signal.SIGKILL) -> float:
        """Signal node ``i`` (SIGKILL by default: no goodbye); returns the time sent."""
        p = self.procs[i]
        t = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=10)
        return t

    def close(self) -> None:
        for p in list(self.procs.values()):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
                p.wait()
        for fh in self._logs.values():
            fh.close()
        self._logs.clear()

    def __enter__(self) -> HastackCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- asking the daemons ---------------------------------------------------------
    def ask(self, i: int, op: str, **fields: Any) -> dict[str, Any]:
        with ControlClient(self.path(i, "sock"), timeout=5.0) as c:
            return c.request(op, **fields)

    def try_ask(self, i: int, op: str) -> dict[str, Any] | None:
        if not self.running(i):
            return None
        try:
            r = self.ask(i, op)
        except (ControlError, OSError, ValueError):
            return None
        return r if r.get("ok") else None

    def members(self, i: int) -> tuple[tuple[int, int], tuple[int, ...]] | None:
        """(ring id, member ids) of node ``i`` when it is OPERATIONAL, else None."""
        r = self.try_ask(i, "membership")
        if r is None or r["state"] != "OPERATIONAL":
            return None
        return tuple(r["ring_id"]), tuple(m["nodeid"] for m in r["members"])

    def wait_cib_synced(self, nodes: Sequence[int] | None = None,
                        timeout: float = 30.0) -> float:
        """Wait until every one of ``nodes`` (default: all) answers a CIB query and is
        not syncing its replica; returns the time it held."""
        return self.wait_for("the CIB synced", lambda: all(
            (r := self.try_ask(i, "cib_query")) is not None and not r.get("syncing")
            for i in (self.nodes if nodes is None else nodes)), timeout)

    def wait_for(self, what: str, pred: Callable[[], bool], timeout: float) -> float:
        """Poll ``pred`` until it holds; returns the time it held. Gives up after
        ``timeout`` s with what was awaited and every node's last report."""
        deadline = time.monotonic() + timeout
        while True:
            if pred():
                return time.time()
            if time.monotonic() >= deadline:
                state = {i: self.members(i) for i in self.nodes}
                raise TimeoutError(f"{what}: not reached in {timeout:g} s; nodes report "
                                   f"(ring id, members): {state}")
            time.sleep(0.02)

    def wait_membership(self, nodes: Sequence[int], members: Sequence[int],
                        timeout: float = 30.0) -> tuple[int, int]:
        """Wait until every node in ``nodes`` is OPERATIONAL on one ring of exactly
        ``members``; returns that ring id."""
        want = tuple(sorted(members))
        seen: dict[int, Any] = {}

        def agreed() -> bool:
            for i in nodes:
                seen[i] = self.members(i)
            views = set(seen.values())
            return len(views) == 1 and None not in views and seen[nodes[0]][1] == want

        self.wait_for(f"nodes {list(nodes)} on one ring of {list(want)}", agreed, timeout)
        return seen[nodes[0]][0]  # type: ignore[no-any-return]
