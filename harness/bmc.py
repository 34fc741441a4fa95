"""A virtual BMC: OpenIPMI's ``ipmi_sim`` on a loopback UDP port whose chassis power
switches a real process or a Docker container, so that ``fence_ipmilan`` fences something.

How the power is wired. ``ipmi_sim`` reads ``chassis_control "<program>"`` from its
lan.conf and, for every Chassis Control and Get Chassis Status request, runs that
program synchronously: ``<program> get power`` must print ``power:1`` or ``power:0``;
``<program> set power 0|1`` and ``set reset 1`` act and print nothing on success. A
power cycle (chassis control 2) is ``set power 0`` followed by ``set power 1`` one
second later, from ipmi_sim's own timer. The program here is a shell script written
per BMC (``power.sh``, run as ``power.sh <node-dir> get|set ...``) that reads the truth
every time it is asked:

- a process node is on while its process is alive and not a zombie; power on starts
  its command in a new session, power off sends SIGKILL to that whole session (a power
  cut, not a shutdown) and returns once the process is gone;
- a container node is on while Docker reports ``State.Running``; power off is
  ``docker kill``, power on ``docker start``.

Each power request is appended to ``power.log`` and each boot of a process node to
``boots`` (one pid per line), so tests can tell that the BMC really acted.

Facts the fence devices must respect (issue 7): use lanplus with ``cipher=3``
(ipmi_sim does not answer cipher-suite discovery, and without it every call stalls
about 10 s), ``power_wait=0``, and always a ``pcmk_host_list``: ``fence_ipmilan``
ignores ``plug``, so a per-node BMC device would otherwise claim every node.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: ASF presence ping (RMCP class 6): ipmi_sim answers it with a pong once it listens.
_RMCP_PING = bytes([0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80, 0x00, 0x00, 0x00])

_SCRIPT_HEAD = r"""#!/bin/sh
# Written by harness.bmc: the chassis power of one node, run by ipmi_sim as
#   power.sh <node-dir> get power | set power 0|1 | set reset 1
dir=$1; op=$2; shift 2
cd "$dir" || exit 1
log() { echo "$(date +%s.%N) $*" >> power.log; }
"""

_PROCESS_POWER = r"""
is_on() {
    pid=$(cat node.pid 2>/dev/null) || return 1
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
    [ -n "$state" ] && [ "$state" != Z ]
}
power_on() {
    is_on && return 0
    setsid /bin/sh -c "exec $(cat command)" </dev/null >>node.log 2>&1 &
    echo $! > node.pid
    echo $! >> boots
}
power_off() {
    is_on || return 0
    kill -KILL -- "-$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null
    n=0
    while is_on; do
        n=$((n + 1)); [ $n -gt 500 ] && { echo "pid $pid survived SIGKILL"; exit 1; }
        sleep 0.01
    done
}
"""

_CONTAINER_POWER = r"""
c=$(cat container)
is_on() { [ "$(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ]; }
power_on() { is_on || docker start "$c" >/dev/null 2>>power.err || { echo "docker start $c failed"; exit 1; }; }
power_off() {
    is_on || return 0
    docker kill "$c" >/dev/null 2>>power.err
    n=0
    while is_on; do
        n=$((n + 1)); [ $n -gt 100 ] && { echo "container $c still running after docker kill"; exit 1; }
        sleep 0.05
    done
}
"""

_SCRIPT_TAIL = r"""
case $op in
get)
    for parm in "$@"; do
        case $parm in
        power) if is_on; then echo power:1; else echo power:0; fi ;;
        boot) echo boot:default ;;
        *) echo "cannot get $parm"; exit 1 ;;
        esac
    done ;;
set)
    while [ $# -ge 2 ]; do
        parm=$1; val=$2; shift 2
        log "set $parm $val"
        case $parm in
        power) if [ "$val" = 1 ]; then power_on; else power_off; fi ;;
        reset) if is_on; then power_off; power_on; fi ;;
        boot|identify|shutdown) ;;
        *) echo "cannot set $parm"; exit 1 ;;
        esac
    done ;;
*) echo "unknown operation $op"; exit 1 ;;
esac
"""


@dataclass(frozen=True)
class ProcessNode:
    """A node that is a local process: ``command`` runs while the power is on."""

    command: tuple[str, ...]


@dataclass(frozen=True)
class ContainerNode:
    """A node that is an existing Docker container, named or by id."""

    container: str


Node = ProcessNode | ContainerNode


class BMCError(RuntimeError):
    """The virtual BMC could not be started (ipmi_sim missing, config refused, no answer)."""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ipmi_sim_path() -> str | None:
    return shutil.which("ipmi_sim")


class VirtualBMC:
    """One ipmi_sim serving one node's chassis on ``127.0.0.1:port`` (lanplus, user
    ``username``/``password`` with admin privilege). Use as a context manager, or
    call ``start`` and ``stop``; ``stop`` also powers a process node off."""

    def __init__(self, workdir: Path, node: Node, *, name: str = "node1",
                 username: str = "admin", password: str = "hastack-bmc",
                 port: int | None = None, powered_on: bool = True) -> None:
        self.dir = Path(workdir)
        self.node = node
        self.name = name
        self.username = username
        self.password = password
        self.port = port or free_udp_port()
        self.powered_on = powered_on
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- the files ipmi_sim reads -------------------------------------------------
    def _lan_conf(self) -> str:
        script = self.dir / "power.sh"
        return "\n".join([
            f'name "{self.name}"',
            "set_working_mc 0x20",
            "  startlan 1",
            f"    addr 127.0.0.1 {self.port}",
            "    priv_limit admin",
            "    allowed_auths_callback md5",
            "    allowed_auths_user md5",
            "    allowed_auths_operator md5",
            "    allowed_auths_admin md5",
            "    guid a123456789abcdefa123456789abcdef",
            "  endlan",
            f'  chassis_control "{script} {self.dir}"',
            f'  user 2 true "{self.username}" "{self.password}" admin 10 md5',
            "",
        ])

    @staticmethod
    def _emu() -> str:
        return "\n".join([
            "mc_setbmc 0x20",
            "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr",
            "sel_enable 0x20 1000 0x0a",
            "mc_enable 0x20",
            "",
        ])

    def _write(self) -> None:
        for what in (self.name, self.username, self.password, str(self.dir)):
            if any(c in what for c in ' "\n') or not what:
                raise BMCError(f"virtual BMC: {what!r} cannot be written into lan.conf "
                               "(empty, or holds a space, quote or newline)")
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "state").mkdir(exist_ok=True)
        (self.dir / "lan.conf").write_text(self._lan_conf())
        (self.dir / "sim.emu").write_text(self._emu())
        if isinstance(self.node, ProcessNode):
            (self.dir / "command").write_text(shlex.join(self.node.command) + "\n")
            body = _PROCESS_POWER
        else:
            (self.dir / "container").write_text(self.node.container + "\n")
            body = _CONTAINER_POWER
        script = self.dir / "power.sh"
        script.write_text(_SCRIPT_HEAD + body + _SCRIPT_TAIL)
        script.chmod(0o755)

    # ---- life cycle ---------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> VirtualBMC:
        exe = ipmi_sim_path()
        if exe is None:
            raise BMCError("virtual BMC: ipmi_sim not found (Debian package openipmi)")
        self._write()
        if self.powered_on:
            self.power("set", "power", "1")
        (self.dir / "power.log").unlink(missing_ok=True)   # the log is of ipmi_sim's requests
        out = open(self.dir / "ipmi_sim.out", "wb")  # noqa: SIM115 - handed to the child
        self._proc = subprocess.Popen(
            [exe, "-n", "-c", str(self.dir / "lan.conf"), "-f", str(self.dir / "sim.emu"),
             "-s", str(self.dir / "state")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while not self._answers_ping():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BMCError(f"virtual BMC {self.name}: ipmi_sim did not come up on "
                               f"127.0.0.1:{self.port}: "
                               + (self.dir / "ipmi_sim.out").read_text(errors="replace")[-800:])
        return self

    def _answers_ping(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(_RMCP_PING, ("127.0.0.1", self.port))
                return len(s.recv(512)) > 0
            except OSError:
                return False

    def stop(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, 9)
            self._proc.wait()
            self._proc = None
        if isinstance(self.node, ProcessNode) and (self.dir / "power.sh").exists():
            self.power("set", "power", "0")

    def __enter__(self) -> VirtualBMC:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what tests look at -------------------------------------------------------
    def power(self, *args: str) -> str:
        """Run the chassis power program as ipmi_sim does (``get power``, ``set power 1``)."""
        r = subprocess.run([str(self.dir / "power.sh"), str(self.dir), *args],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise BMCError(f"virtual BMC {self.name}: power.sh {' '.join(args)} failed: "
                           f"{r.stdout.strip()} {r.stderr.strip()}")
        return r.stdout.strip()

    def is_on(self) -> bool:
        return self.power("get", "power") == "power:1"

    def node_pid(self) -> int | None:
        """The pid of a process node if it is running now, else None."""
        if not isinstance(self.node, ProcessNode) or not self.is_on():
            return None
        return int((self.dir / "node.pid").read_text())

    def boots(self) -> list[int]:
        """Pids of a process node's boots, oldest first."""
        f = self.dir / "boots"
        return [int(x) for x in f.read_text().split()] if f.exists() else []

    def power_log(self) -> list[str]:
        """The power requests ipmi_sim passed on, as ``set power 0`` lines."""
        f = self.dir / "power.log"
        return [ln.split(" ", 1)[1] for ln in f.read_text().splitlines()] if f.exists() else []

    def fence_params(self) -> dict[str, str]:
        """fence_ipmilan's device parameters for this BMC (stdin key=value names)."""
        return {"ip": "127.0.0.1", "ipport": str(self.port), "username": self.username,
                "password": self.password, "lanplus": "1", "cipher": "3", "power_wait": "0"}


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.bmc --container NAME… | --command CMD…``: one BMC per node for
    the lab, until interrupted; prints each node's fence_ipmilan parameters as JSON."""
    import argparse
    import json
    import signal
    import tempfile

    ap = argparse.ArgumentParser(prog="python -m harness.bmc", description=main.__doc__)
    ap.add_argument("--container", action="append", default=[],
                    help="a Docker container to power (repeatable)")
    ap.add_argument("--command", action="append", default=[],
                    help="a command line to run as a node process (repeatable)")
    ap.add_argument("--password", default="hastack-bmc")
    ap.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    args = ap.parse_args(argv)
    nodes: list[Node] = [ContainerNode(c) for c in args.container]
    nodes += [ProcessNode(tuple(shlex.split(c))) for c in args.command]
    if not nodes:
        ap.error("give at least one --container or --command")
    base = args.dir or Path(tempfile.mkdtemp(prefix="hastack-bmc-"))
    bmcs = []
    try:
        for i, node in enumerate(nodes, 1):
            name = node.container if isinstance(node, ContainerNode) else f"node{i}"
            bmcs.append(VirtualBMC(base / f"bmc{i}", node, name=f"bmc{i}",
                                   password=args.password).start())
            print(json.dumps({"node": name, "agent": "fence_ipmilan",
                              "params": {**bmcs[-1].fence_params(), "pcmk_host_list": name}}),
                  flush=True)
        # blocked only now: the children started above must not inherit the mask
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except BMCError as e:
        print(e, flush=True)
        return 1
    finally:
        for b in bmcs:
            b.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
