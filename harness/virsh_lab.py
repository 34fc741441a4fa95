"""A hypervisor host for fence_virsh on loopback: sshd plus libvirt's LXC driver.

fence_virsh logs in over SSH and types ``virsh list --all`` / ``domstate`` / ``start`` /
``destroy`` at a shell prompt, so a test needs three real things, all started here as
children of the test and private to it:

- ``libvirtd`` with only the LXC driver loaded (``LIBVIRT_DRIVER_DIR`` pointing at a
  directory holding just ``libvirt_driver_lxc.so``: without its user the QEMU driver
  would abort the daemon's start), listening on sockets in the lab's own directory
  (``unix_sock_dir``), so it never meets a system libvirtd. On a host with the hybrid
  cgroup layout (cgroup2 mounted at ``/sys/fs/cgroup/unified``) libvirt_lxc fails to
  start a container ("Unable to create directory /sys/fs/cgroup/unified"), so the
  daemon runs in a private mount namespace where that one mount is taken away.
- the driver's state and configuration directories (``PRIVATE_DIRS``) bound, in that
  namespace, to directories of the lab, so labs run side by side and leave nothing
  behind in /etc or /run;
- one persistent LXC domain per node whose init is ``sleep infinity`` on the host's
  root filesystem: "power off" is ``virsh destroy`` (the container's processes are
  killed), "power on" is ``virsh start``.
- ``sshd`` on ``127.0.0.1:<port>`` accepting root with a generated key only, whose
  sessions get ``LIBVIRT_DEFAULT_URI`` pointing at that libvirtd (sshd's SetEnv), so
  the agent's bare ``virsh`` talks to the lab.

Needs root (sshd, libvirtd, containers). ``stop`` destroys and undefines the domains,
then stops sshd and libvirtd.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

LXC_DRIVER_DIRS = ("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver",
                   "/usr/lib/aarch64-linux-gnu/libvirt/connection-driver",
                   "/usr/lib64/libvirt/connection-driver", "/usr/lib/libvirt/connection-driver")
HYBRID_CGROUP2 = "/sys/fs/cgroup/unified"
#: the LXC driver's state and configuration directories, fixed for a root libvirtd:
#: each lab binds its own over them, so two labs (pytest -n 2) never share a driver
#: lock or see each other's domains, and no definition is left under /etc
PRIVATE_DIRS = ("/run/libvirt/lxc", "/etc/libvirt/lxc", "/var/lib/libvirt/lxc")
#: fence_virsh's own default ssh_options plus what a throw-away host key needs
SSH_OPTIONS = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "
               "-t '/bin/bash -c \"PS1=\\[EXPECT\\]# /bin/bash --noprofile --norc\"'")


class VirshLabError(RuntimeError):
    """The lab could not be brought up; the message names the missing piece."""


def _lxc_driver() -> str | None:
    for d in LXC_DRIVER_DIRS:
        p = os.path.join(d, "libvirt_driver_lxc.so")
        if os.path.exists(p):
            return p
    return None


def missing() -> list[str]:
    """What this host lacks for the lab (empty when it can run)."""
    out = []
    if os.geteuid() != 0:
        out.append("root")
    for tool in ("libvirtd", "virsh", "ssh", "ssh-keygen", "unshare"):
        if shutil.which(tool) is None:
            out.append(tool)
    if not os.path.exists("/usr/sbin/sshd"):
        out.append("sshd (openssh-server)")
    if _lxc_driver() is None:
        out.append("libvirt's LXC driver (libvirt-daemon-driver-lxc)")
    return out


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _domain_xml(name: str) -> str:
    return (f"<domain type='lxc'><name>{name}</name><memory unit='MiB'>64</memory>"
            "<os><type>exe</type><init>/bin/sleep</init><initarg>infinity</initarg></os>"
            "<devices><console type='pty'/></devices></domain>")


class VirshLab:
    """libvirtd (LXC) and sshd for ``nodes`` domains; a context manager."""

    def __init__(self, workdir: Path, nodes: int = 1) -> None:
        self.dir = Path(workdir)
        tag = uuid.uuid4().hex[:6]
        self.domains = [f"hastack-fence-{tag}-n{i}" for i in range(1, nodes + 1)]
        self.ssh_port = _free_tcp_port()
        self.uri = f"lxc+unix:///?socket={self.dir}/libvirt-sock"
        self._procs: list[subprocess.Popen[bytes]] = []
        self._defined: list[str] = []

    def virsh(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(["virsh", "-c", self.uri, *args], capture_output=True, text=True,
                           timeout=60)
        if check and r.returncode != 0:
            raise VirshLabError(f"virsh {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout.strip()

    def domstate(self, domain: str) -> str:
        return self.virsh("domstate", domain)

    def init_pid(self, domain: str) -> int | None:
        """The host pid of the domain's init (``sleep``), None when it is shut off."""
        for line in self.virsh("list").splitlines():
            f = line.split()
            if len(f) >= 2 and f[1] == domain and f[0].isdigit():
                return int(f[0])
        return None

    def _spawn(self, argv: list[str], log: str, env: dict[str, str] | None = None) -> None:
        with open(self.dir / log, "wb") as out:
            self._procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=subprocess.STDOUT, env=env,
                                                start_new_session=True))

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if any(p.poll() is not None for p in self._procs) or time.monotonic() > deadline:
                logs = " | ".join(f.read_text(errors="replace")[-400:]
                                  for f in self.dir.glob("*.log"))
                self.stop()
                raise VirshLabError(f"virsh lab: {what} did not come up: {logs}")
            time.sleep(0.05)

    def start(self) -> VirshLab:
        lacking = missing()
        if lacking:
            raise VirshLabError(f"virsh lab needs {', '.join(lacking)}")
        if any(c in str(self.dir) for c in " \"'"):
            raise VirshLabError(f"virsh lab: work directory {self.dir} holds a space or quote")
        self.dir.mkdir(parents=True, exist_ok=True)
        drivers = self.dir / "drivers"
        drivers.mkdir(exist_ok=True)
        with contextlib.suppress(FileExistsError):
            (drivers / "libvirt_driver_lxc.so").symlink_to(_lxc_driver() or "")
        (self.dir / "libvirtd.conf").write_text(
            f'unix_sock_dir = "{self.dir}"\n'
            f'log_outputs = "3:file:{self.dir}/libvirtd.log"\n')
        setup = f"umount {HYBRID_CGROUP2} 2>/dev/null; " if os.path.ismount(HYBRID_CGROUP2) else ""
        for shared in PRIVATE_DIRS:
            mine = self.dir / shared.strip("/").replace("/", "-")
            mine.mkdir(exist_ok=True)
            setup += f"mkdir -p {shared} && mount --bind {mine} {shared} && "
        self._spawn(["unshare", "-m", "--propagation", "private", "sh", "-c",
                     f"{setup}exec libvirtd -f {self.dir}/libvirtd.conf "
                     f"-p {self.dir}/libvirtd.pid"], "libvirtd.out",
                    env={**os.environ, "LIBVIRT_DRIVER_DIR": str(drivers)})
        self._wait("libvirtd", lambda: subprocess.run(
            ["virsh", "-c", self.uri, "uri"], capture_output=True).returncode == 0)
        for name in self.domains:
            xml = self.dir / f"{name}.xml"
            xml.write_text(_domain_xml(name))
            self.virsh("define", str(xml))
            self._defined.append(name)
            self.virsh("start", name)
        self._start_sshd()
        return self

    def _start_sshd(self) -> None:
        key = self.dir / "id_ed25519"
        for k in (self.dir / "host_key", key):
            if not k.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)],
                               check=True, capture_output=True)
        auth = self.dir / "authorized_keys"
        auth.write_text((self.dir / "id_ed25519.pub").read_text())
        auth.chmod(0o600)
        Path("/run/sshd").mkdir(exist_ok=True)        # sshd's privilege-separation dir
        (self.dir / "sshd_config").write_text("\n".join([
            f"Port {self.ssh_port}", "ListenAddress 127.0.0.1",
            f"HostKey {self.dir}/host_key", f"AuthorizedKeysFile {auth}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            f"PidFile {self.dir}/sshd.pid", f"SetEnv LIBVIRT_DEFAULT_URI={self.uri}", ""]))
        self._spawn(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.dir / "sshd_config")],
                    "sshd.log")

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.ssh_port)) == 0
        self._wait("sshd", listening)

    def stop(self) -> None:
        for name in self._defined:
            self.virsh("destroy", name, check=False)
            self.virsh("undefine", name, check=False)
        self._defined = []
        for p in reversed(self._procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 15)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()
        self._procs = []

    def __enter__(self) -> VirshLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fence_params(self) -> dict[str, str]:
        """fence_virsh's device parameters (stdin names) to reach this host."""
        return {"ip": "127.0.0.1", "ipport": str(self.ssh_port), "username": "root",
                "identity_file": str(self.dir / "id_ed25519"), "secure": "1",
                "ssh_options": SSH_OPTIONS}
