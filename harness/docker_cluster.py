"""A hastack cluster in Docker: one container per node on a bridge network of its own.

Node ``i`` is container ``<name>-n<i>`` (hostname ``n<i>``) at ``172.30.X.(10+i)`` on
network ``hastack-<name>`` (an unused /24 of 172.30.0.0/16). PID 1 is tini; the daemon
is started with ``docker exec -d`` so that it can be killed and started again without
ending the container. The host workdir holds ``corosync.conf``, ``authkey`` (both
bind-mounted read-only into ``/etc/corosync``) and ``n<i>/`` (bind-mounted on
``/var/log/hastack``: ``trace.jsonl`` and ``ha.log`` outlive a killed container).

corosync.conf is written for the containers (udpu, nodelist of their addresses, names
``n<i>``); with ``config_file``, that file's totem and quorum options, cluster_name and
mcastport are used (transport becomes udpu, its nodelist is replaced).

Every container and the network carry labels (``io.hastack.cluster``, ``.owner-pid``,
``.workdir``, ``.node``, ...), so a cluster can be found again (``attach``), listed
(``clusters``) and removed (``down_by_label``) from any process. Waits poll the
daemons' own reports, never a guessed sleep.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.docker_exec import DockerError, exec_in
from harness.docker_labels import L, clusters, down_by_label, reap_orphans
from harness.docker_labels import api as _api
from harness.docker_labels import not_found as _not_found
from harness.image import image_ref

__all__ = ["DockerCluster", "DockerError", "clusters", "down_by_label", "reap_orphans"]

SUBNETS = "172.30.0.0/16"
CONF, KEY = "/etc/corosync/corosync.conf", "/etc/corosync/authkey"
LOGDIR = "/var/log/hastack"
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}")


def _ring(r: Sequence[int] | None) -> str | None:
    return None if not r else f"{r[0]:x}.{r[1]:x}"


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class DockerCluster:
    """``n`` hastack nodes (ids 1..n) in containers; ``up()`` creates, ``down()`` removes."""

    def __init__(self, name: str, n: int, *, workdir: str | Path, image: str | None = None,
                 totem: Mapping[str, Any] | None = None, quorum: Mapping[str, Any] | None = None,
                 config_file: str | Path | None = None, trace_deliveries: bool = True,
                 ephemeral: bool | None = None) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"cluster name {name!r}: expected letters, digits, '_.-' "
                             "(up to 41, starting with a letter or digit)")
        if not 1 <= n <= 200:
            raise ValueError(f"n must be in 1..200, got {n}")
        self.name = name
        self.nodes = list(range(1, n + 1))
        self.workdir = Path(workdir).absolute()
        self.image = image or image_ref()
        self.totem = dict(totem or {})
        self.quorum = dict(quorum or {})
        self.config_file = Path(config_file) if config_file else None
        self.trace_deliveries = trace_deliveries
        # ephemeral: removed by reap_orphans() once its owner is gone (tests and runs);
        # by default, clusters made under pytest are ephemeral.
        self.ephemeral = ("PYTEST_CURRENT_TEST" in os.environ) if ephemeral is None else ephemeral
        self.network = f"hastack-{name}"
        self.subnet: ipaddress.IPv4Network | None = None

    # ---- finding an existing cluster ------------------------------------------------
    @classmethod
    def attach(cls, name: str) -> DockerCluster:
        """The cluster ``name`` as its labels describe it; DockerError when there is none."""
        found = _api().containers(all=True, filters={"label": f"{L}cluster={name}"})
        if not found:
            raise DockerError(f"no hastack cluster named {name!r} (ha-harness status lists them)")
        labels = found[0]["Labels"]
        c = cls(name, int(labels[f"{L}n"]), workdir=labels[f"{L}workdir"],
                image=found[0]["Image"], trace_deliveries=labels.get(f"{L}trace-deliveries") == "1",
                ephemeral=labels.get(f"{L}ephemeral") == "1")
        c.subnet = ipaddress.IPv4Network(labels[f"{L}subnet"])
        return c

    def _labels(self, node: int | None = None) -> dict[str, str]:
        out = {f"{L}cluster": self.name, f"{L}owner-pid": str(os.getpid()),
               f"{L}workdir": str(self.workdir), f"{L}n": str(len(self.nodes)),
               f"{L}subnet": str(self.subnet), f"{L}ephemeral": "1" if self.ephemeral else "0",
               f"{L}trace-deliveries": "1" if self.trace_deliveries else "0"}
        if node is not None:
            out[f"{L}node"] = str(node)
        return out

    # ---- names and paths ------------------------------------------------------------
    def container_name(self, i: int) -> str:
        return f"{self.name}-n{i}"

    def addr(self, i: int) -> str:
        if self.subnet is None:
            raise DockerError(f"cluster {self.name}: not up (no network yet)")
        return str(self.subnet.network_address + 10 + i)

    def node_dir(self, i: int) -> Path:
        return self.workdir / f"n{i}"

    def trace_path(self, i: int) -> Path:
        return self.node_dir(i) / "trace.jsonl"

    def log_path(self, i: int) -> Path:
        return self.node_dir(i) / "ha.log"

    # ---- creating and removing ------------------------------------------------------
    def up(self, *, timeout: float = 60.0, wait_quorum: bool = True) -> None:
        """Create the network and containers, start every daemon and (by default) wait
        until all nodes are one quorate ring. Anything half-made is removed on failure
        or interruption."""
        deadline = time.monotonic() + timeout
        api = _api()
        if api.containers(all=True, filters={"label": f"{L}cluster={self.name}"}):
            raise DockerError(f"cluster {self.name} exists already (ha-harness down --name "
                              f"{self.name} removes it)")
        try:
            api.inspect_image(self.image)
        except Exception as exc:
            raise DockerError(f"image {self.image} not found: build it with `ha-harness image "
                              f"build` ({exc})") from None
        try:
            self._create_network(api)
            self._write_files()
            for i in self.nodes:
                self._create_node(api, i)
            for i in self.nodes:
                api.start(self.container_name(i))
                self.start_daemon(i)
            if wait_quorum:
                self._wait_quorum(self.nodes, max(1.0, deadline - time.monotonic()), True)
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise

    def _create_network(self, api: Any) -> None:
        used = [ipaddress.IPv4Network(cfg["Subnet"]) for net in api.networks()
                for cfg in ((net.get("IPAM") or {}).get("Config") or [])
                if "." in cfg.get("Subnet", "")]
        from docker.types import IPAMConfig, IPAMPool

        errors = []
        for subnet in ipaddress.IPv4Network(SUBNETS).subnets(new_prefix=24):
            if any(subnet.overlaps(u) for u in used):
                continue
            self.subnet = subnet
            ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet),
                                                     gateway=str(subnet.network_address + 1))])
            try:
                api.create_network(self.network, driver="bridge", ipam=ipam,
                                   labels=self._labels(), check_duplicate=True)
                return
            except Exception as exc:      # taken meanwhile by another creator: next one
                errors.append(f"{subnet}: {exc}")
                if len(errors) > 5:
                    break
        raise DockerError(f"cluster {self.name}: no free /24 in {SUBNETS} for its network: "
                          + "; ".join(errors or ["all in use"]))

    def _write_files(self) -> None:
        from ha.runtime.keygen import generate_key, write_key

        self.workdir.mkdir(parents=True, exist_ok=True)
        key = self.workdir / "authkey"
        if not key.exists():
            write_key(str(key), generate_key(256))
        (self.workdir / "corosync.conf").write_text(self._conf_text(), encoding="utf-8")
        for i in self.nodes:
            self.node_dir(i).mkdir(exist_ok=True)
            for old in (self.trace_path(i), self.log_path(i)):   # a fresh cluster's files
                old.unlink(missing_ok=True)

    def _conf_text(self) -> str:
        from harness.realcluster import corosync_conf_text

        addrs = {i: self.addr(i) for i in self.nodes}
        names = {i: f"n{i}" for i in self.nodes}
        if self.config_file is None:
            return corosync_conf_text(self.name, addrs, 5405, KEY, self.totem, self.quorum, names)
        totem, quorum, cluster_name, port = _sections_of(self.config_file)
        return corosync_conf_text(cluster_name or self.name, addrs, port, KEY,
                                  {**totem, **self.totem}, {**quorum, **self.quorum}, names)

    def _create_node(self, api: Any, i: int) -> None:
        binds = {str(self.node_dir(i)): {"bind": LOGDIR, "mode": "rw"},
                 str(self.workdir / "corosync.conf"): {"bind": CONF, "mode": "ro"},
                 str(self.workdir / "authkey"): {"bind": KEY, "mode": "ro"}}
        host = api.create_host_config(binds=binds, cap_add=["NET_ADMIN"],
                                      network_mode=self.network)
        net = api.create_networking_config({self.network: api.create_endpoint_config(
            ipv4_address=self.addr(i), aliases=[f"n{i}"])})
        api.create_container(self.image, name=self.container_name(i), hostname=f"n{i}",
                             labels=self._labels(i), host_config=host, networking_config=net,
                             detach=True)

    def down(self) -> None:
        """Remove this cluster's containers and network (found by label); safe twice."""
        down_by_label(self.name)

    # ---- node state -----------------------------------------------------------------
    def _state(self, i: int) -> dict[str, Any] | None:
        try:
            return _api().inspect_container(self.container_name(i))["State"]  # type: ignore[no-any-return]
        except DockerError:
            raise
        except Exception as exc:
            if _not_found(exc):
                return None
            raise DockerError(f"n{i}: docker inspect: {exc}") from None

    def running(self, i: int) -> bool:
        """The container runs and is not paused."""
        s = self._state(i)
        return bool(s and s.get("Running") and not s.get("Paused"))

    def daemon_running(self, i: int) -> bool:
        """An ``ha node run`` process exists in node ``i`` (paused counts as running)."""
        s = self._state(i)
        if not (s and s.get("Running")):
            return False
        try:
            top = _api().top(self.container_name(i))
        except Exception:
            return False
        col = top["Titles"].index("CMD")
        return any(" node run " in f" {p[col]} " for p in top.get("Processes") or [])

    def exec(self, i: int, argv: Sequence[str], *, timeout: float = 30.0,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in node ``i``; DockerError when it cannot start or times out."""
        return exec_in(_api(), self.container_name(i), f"n{i}", argv, timeout=timeout,
                       input=input)

    def ask(self, i: int, op: str) -> dict[str, Any] | None:
        """``ha <op> --output-as json`` in node ``i`` (membership, quorum, stats); None
        when the container is down or paused or the daemon does not answer."""
        if op not in ("membership", "quorum", "stats"):
            raise ValueError(f"ask: op must be membership, quorum or stats, got {op!r}")
        if not self.running(i):
            return None
        try:
            r = self.exec(i, ["ha", op, "--output-as", "json"], timeout=10.0)
        except DockerError:
            return None
        if r.returncode not in (0, 2):    # 2: `ha quorum` when not quorate
            return None
        try:
            out = json.loads(r.stdout)
        except ValueError:
            return None
        return out if isinstance(out, dict) else None

    def status(self) -> list[dict[str, Any]]:
        """Per node: node, container, addr, state, daemon, ring_id, members, quorate."""
        rows = []
        for i in self.nodes:
            s = self._state(i)
            state = "missing" if s is None else ("paused" if s.get("Paused") else s["Status"])
            q = self.ask(i, "quorum") if state == "running" else None
            rows.append({"node": i, "container": self.container_name(i), "addr": self.addr(i),
                         "state": state, "daemon": self.daemon_running(i),
                         "ring_id": _ring(q["ring_id"]) if q else None,
                         "members": [m["nodeid"] for m in q["members"]] if q else None,
                         "quorate": bool(q["quorate"]) if q else None})
        return rows

    # ---- faults ---------------------------------------------------------------------
    def kill(self, i: int) -> None:
        """SIGKILL the container (its daemon with it; no goodbye on the wire)."""
        self._call(i, "kill", lambda api, c: api.kill(c, signal="SIGKILL"))

    def restart(self, i: int) -> None:
        """Start the container again (when it is not running), then its daemon."""
        s = self._state(i)
        if not (s and s.get("Running")):
            self._call(i, "start", lambda api, c: api.start(c))
        self.start_daemon(i)

    def pause(self, i: int) -> None:
        """Freeze every process of node ``i`` (cgroup freezer)."""
        self._call(i, "pause", lambda api, c: api.pause(c))

    def resume(self, i: int) -> None:
        self._call(i, "unpause", lambda api, c: api.unpause(c))

    def kill_daemon(self, i: int, timeout: float = 10.0) -> None:
        """SIGKILL the ``ha node run`` process only; returns once it is gone."""
        self.exec(i, ["pkill", "-KILL", "-f", "ha node run "])
        self._poll(f"n{i}: daemon gone after SIGKILL", lambda: not self.daemon_running(i), timeout)

    def start_daemon(self, i: int) -> None:
        """Start ``ha node run`` in node ``i`` (detached; stdout and stderr go to ha.log).
        Does nothing when it runs already."""
        if self.daemon_running(i):
            return
        argv = ["ha", "node", "run", "-c", CONF, "--nodeid", str(i), "--state-dir",
                "/var/lib/hastack", "--trace", f"{LOGDIR}/trace.jsonl"]
        if self.trace_deliveries:
            argv.append("--trace-deliveries")
        sh = f"exec {shlex.join(argv)} >>{LOGDIR}/ha.log 2>&1"
        self._call(i, "exec -d ha node run", lambda api, c: api.exec_start(
            api.exec_create(c, ["sh", "-c", sh])["Id"], detach=True))

    def nft(self, i: int, script: str) -> None:
        """Load an nftables script (``nft -f -``) in node ``i``'s network namespace."""
        r = self.exec(i, ["nft", "-f", "-"], input=script)
        if r.returncode != 0:
            raise DockerError(f"n{i}: nft -f - failed (exit {r.returncode}): "
                              f"{(r.stderr or r.stdout).strip()}\n--- script ---\n{script}")

    def _call(self, i: int, what: str, fn: Callable[[Any, str], Any]) -> None:
        try:
            fn(_api(), self.container_name(i))
        except DockerError:
            raise
        except Exception as exc:
            raise DockerError(f"n{i}: docker {what} {self.container_name(i)}: "
                              f"{getattr(exc, 'explanation', None) or exc}") from None

    # ---- waiting --------------------------------------------------------------------
    def _poll(self, what: str, pred: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() >= deadline:
                raise DockerError(f"{what}: not reached in {timeout:g} s")
            time.sleep(0.1)

    def wait_quorum(self, nodes: Sequence[int] | None = None, timeout: float = 60.0) -> None:
        """Wait until every node in ``nodes`` (default: all) reports one quorate ring of
        exactly ``nodes``; DockerError with what each node reported when it does not."""
        self._wait_quorum(nodes or self.nodes, timeout, False)

    def _wait_quorum(self, nodes: Sequence[int], timeout: float, daemons: bool) -> None:
        """``daemons``: fail at once when a daemon of ``nodes`` has exited (at start)."""
        want = sorted(nodes)
        seen: dict[int, dict[str, Any] | None] = {}

        def agreed() -> bool:
            for i in want:
                seen[i] = self.ask(i, "quorum")
            rings = {_ring(q["ring_id"]) if q else None for q in seen.values()}
            return len(rings) == 1 and all(
                q and q["quorate"] and sorted(m["nodeid"] for m in q["members"]) == want
                for q in seen.values())

        deadline = time.monotonic() + timeout
        while not agreed():
            dead = [i for i in want if daemons and seen[i] is None and not self.daemon_running(i)]
            if dead or time.monotonic() >= deadline:
                why = (f"the daemon of {', '.join(f'n{i}' for i in dead)} exited" if dead
                       else f"not one quorate ring in {timeout:.1f} s")
                raise DockerError(f"cluster {self.name}: nodes {want}: {why}; nodes report:\n"
                                  + self._report(seen))
            time.sleep(0.2)

    def _report(self, seen: Mapping[int, dict[str, Any] | None]) -> str:
        lines = []
        for i, q in seen.items():
            if q:
                lines.append(f"  n{i}: ring {_ring(q['ring_id'])} members "
                             f"{[m['nodeid'] for m in q['members']]} quorate {q['quorate']}")
                continue
            s = self._state(i)
            state = "missing" if s is None else ("paused" if s.get("Paused") else s["Status"])
            lines.append(f"  n{i}: no answer (container {state}, daemon "
                         f"{'running' if self.daemon_running(i) else 'not running'}); "
                         f"{self.log_path(i)} ends:\n    "
                         + _tail(self.log_path(i)).replace("\n", "\n    "))
        return "\n".join(lines)


def _sections_of(path: Path) -> tuple[dict[str, str], dict[str, str], str | None, int]:
    """A config file's totem and quorum options, cluster_name and mcastport. Its nodelist
    and other sections are not used; the cluster writes its own (the containers')."""
    from ha.runtime.corosync_conf import ConfigError, parse
    from ha.runtime.corosync_syntax import parse_sections

    text = path.read_text(encoding="utf-8")
    try:
        parse(text, str(path))                        # refuse a bad file, naming the line
        root = parse_sections(text, str(path))
    except ConfigError as exc:
        raise DockerError(f"{exc}") from None
    totem: dict[str, str] = {}
    quorum: dict[str, str] = {}
    name, port = None, 5405
    for sec in root.sections:
        if sec.name == "totem":
            for it in sec.items:
                if it.key == "cluster_name":
                    name = it.value
                elif it.key not in ("version", "transport", "keyfile"):
                    totem[it.key] = it.value
            for sub in sec.sections:
                for it in sub.items:
                    if sub.name == "interface" and it.key == "mcastport":
                        port = int(it.value)
        elif sec.name == "quorum":
            quorum.update((it.key, it.value) for it in sec.items if it.key != "provider")
    return totem, quorum, name, port
