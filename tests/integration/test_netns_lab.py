"""NetnsLab: hosts reach each other, and faults cut and restore exactly what they say."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator

import pytest

from harness.netns import LabError, NetnsLab, namespaces

pytestmark = [
    pytest.mark.netns,
    pytest.mark.root,
    pytest.mark.skipif(NetnsLab.unavailable() is not None,
                       reason=str(NetnsLab.unavailable())),
]

# Counts UDP datagrams arriving on port 9999 until 1 s passes without one.
RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
print("ready", flush=True)
s.settimeout(5.0)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
        s.settimeout(1.0)
except OSError:
    pass
print(n, flush=True)
"""

# One ICMP echo request over a raw socket (no `ping` binary needed); exit 0 on a reply.
PING = """
import os, select, socket, struct, sys
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
ident = os.getpid() & 0xFFFF
body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"hastack-lab-probe!"
pkt = body[:2] + struct.pack("!H", csum(body)) + body[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(pkt, (sys.argv[1], 0))
while select.select([s], [], [], 1.0)[0]:
    data = s.recv(2048)
    icmp = data[(data[0] & 0x0F) * 4:]
    if icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
        sys.exit(0)
sys.exit(1)
"""

SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for k in range(int(sys.argv[2])):
    s.sendto(b"x" * 64, (sys.argv[1], 9999))
    if k % 50 == 0:
        time.sleep(0.001)
"""


@pytest.fixture
def lab() -> Iterator[NetnsLab]:
    with NetnsLab(3, prefix="hat") as lab:
        yield lab


def reaches(lab: NetnsLab, src: int, dst: int) -> bool:
    return lab.run(src, [sys.executable, "-c", PING, lab.addr(dst)], timeout=10).returncode == 0


def test_hosts_ping_each_other(lab: NetnsLab) -> None:
    assert all(reaches(lab, a, b) for a in lab.hosts for b in lab.hosts if a != b)


def test_isolate_blocks_and_heal_restores(lab: NetnsLab) -> None:
    lab.isolate(2)
    assert not reaches(lab, 1, 2)
    assert not reaches(lab, 2, 3)
    assert reaches(lab, 1, 3)
    assert lab.run(2, [sys.executable, "-c", PING, "127.0.0.1"]).returncode == 0
    lab.heal(2)
    assert reaches(lab, 1, 2) and reaches(lab, 2, 3)


def test_partition_is_per_group(lab: NetnsLab) -> None:
    lab.partition([[1, 2], [3]])
    assert reaches(lab, 1, 2) and reaches(lab, 2, 1)
    assert not reaches(lab, 1, 3) and not reaches(lab, 3, 2)
    lab.heal()
    assert reaches(lab, 1, 3) and reaches(lab, 3, 2)


def test_loss_drops_about_the_percentage(lab: NetnsLab) -> None:
    lab.loss(1, 50)
    rx = lab.spawn(1, [sys.executable, "-c", RECEIVER], stdout=-1)
    assert rx.stdout is not None
    assert rx.stdout.readline().strip() == b"ready"
    lab.run(2, [sys.executable, "-c", SENDER, lab.addr(1), "1000"], check=True)
    received = int(rx.communicate(timeout=30)[0].strip())
    assert 350 <= received <= 650


def test_spawn_runs_with_private_mounts(lab: NetnsLab) -> None:
    cp = lab.run(1, ["sh", "-c", "touch /run/lab-probe && ls /run"], mounts={"/run": "tmpfs"},
                 check=True)
    assert cp.stdout.split() == ["lab-probe"]


def test_close_leaves_no_namespaces() -> None:
    lab = NetnsLab(2, prefix="hat")
    lab.spawn(1, ["sleep", "60"])
    assert len(namespaces(f"{lab.name}-")) == 3
    lab.close()
    assert namespaces(f"{lab.name}-") == []
    assert all(p.poll() is not None for p in lab.processes(1))


def test_kill_ends_what_was_spawned_on_that_host(lab: NetnsLab) -> None:
    on1 = lab.spawn(1, ["sleep", "60"])
    on2 = lab.spawn(2, ["sleep", "60"])
    lab.kill(1, signal.SIGKILL)
    assert on1.wait(timeout=10) == -signal.SIGKILL
    assert on2.poll() is None


def test_failed_setup_leaves_no_namespaces() -> None:
    class BrokenLab(NetnsLab):
        def _setup(self) -> None:
            self._add_ns(self.bridge_ns)
            raise LabError("setup fails half-way")

    with pytest.raises(LabError):
        BrokenLab(2, prefix="hatbroken")
    assert namespaces(f"hatbroken{os.getpid()}") == []
